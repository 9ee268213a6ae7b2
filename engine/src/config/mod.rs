//! Job files (`jobs/*.yaml`): parsing, validation and compiling the
//! declarative outputs into the stock mapper's spec.
//!
//! Started with issue 3; `config.yaml` (connections, applier) is not parsed
//! yet.

mod error;
mod job;

pub use error::ConfigError;
pub use job::{
    ColumnSpec, Job, LoadStrategy, Output, RedisSource, RelationalWrite, Source, TransformStep,
    WasmStep,
};
