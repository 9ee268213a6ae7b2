//! `wb-engine run`: builds a shard worker from a project directory
//! (`config.yaml` and `jobs/*.yaml`, loaded and checked by
//! [`crate::project::Project`]) and runs it until stopped.
//!
//! Each job becomes the same bundle `wb-engine compile` would write
//! ([`crate::bundle::JobPlan::bundle`]): declarative jobs run the stock
//! mapper with their compiled spec, jobs with a `wasm` step run their own
//! component with its params. Today it runs standalone servers (one shard)
//! with all jobs writing to one connection; several target connections and
//! cluster discovery are refused with an error that says so.

mod launch;
mod target;

pub use launch::{default_mapper_path, run};
pub use target::{target_connection, TargetError};
