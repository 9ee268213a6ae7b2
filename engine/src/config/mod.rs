//! Configuration files: `config.yaml` (connections, applier) and job files
//! (`jobs/*.yaml`, whose declarative outputs compile into the stock
//! mapper's spec). Errors name the file, line and field.

mod check;
mod env;
mod error;
mod job;
mod settings;
mod suggest;

pub use check::unknown_connections;
pub use env::{EnvError, EnvString};
pub use settings::{Applier, Connection, ConnectionKind, ErrorHandling, PortValue, Settings};
pub use suggest::closest as closest_name;

pub use error::ConfigError;
pub(crate) use job::nth_line_of;
pub use job::{
    ColumnSpec, Job, LoadStrategy, Output, RedisSource, RelationalWrite, Source, TransformStep,
    WasmOutput, WasmStep,
};
