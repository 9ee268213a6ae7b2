//! `wb-engine run`: builds a shard worker from a project directory
//! (`config.yaml` and `jobs/*.yaml`) and runs it until stopped.
//!
//! Today it runs standalone servers (one shard) and jobs written in the
//! declarative language (`output:` blocks), all writing to one connection;
//! jobs whose transform is a `wasm` step, several target connections and
//! cluster discovery are refused with an error that says so.

mod launch;
mod project;

pub use launch::{default_mapper_path, run};
pub use project::{Project, ProjectError, RunnableJob};
