//! Configuration files: `config.yaml` (connections, applier) and job files
//! (`jobs/*.yaml`, whose declarative outputs compile into the stock
//! mapper's spec). Errors name the file, line and field.

mod env;
mod error;
mod job;
mod settings;
mod suggest;

pub use env::{EnvError, EnvString};
pub use settings::{Applier, Connection, ConnectionKind, ErrorHandling, PortValue, Settings};

pub use error::ConfigError;
pub use job::{
    ColumnSpec, Job, LoadStrategy, Output, RedisSource, RelationalWrite, Source, TransformStep,
    WasmStep,
};
