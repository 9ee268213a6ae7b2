//! `wb-engine run`: builds shard workers from a [`Deployment`] and runs
//! them until stopped. The deployment is built from a project directory
//! (`config.yaml` and `jobs/*.yaml`, loaded and checked by
//! [`crate::project::Project`]), or read from Redis, where `wb-engine
//! deploy` stored it, and followed from one version to the next
//! ([`run_deployed`]).
//!
//! Each job becomes the same bundle `wb-engine compile` would write
//! ([`crate::bundle::JobPlan::bundle`]): declarative jobs run the stock
//! mapper with their compiled spec, jobs with a `wasm` step run their own
//! component with its params. Jobs are grouped by the connection they write
//! to ([`targets`]), and each group gets a worker of its own: its own target
//! connection and transactions, reading only its jobs' streams. Today it
//! runs standalone servers (one shard); cluster discovery is not built.

mod deployment;
mod follow;
mod launch;
mod target;

pub use deployment::{Deployment, DeploymentError};
pub use follow::{run_deployed, POLL};
pub use launch::{default_mapper_path, prepare, run, Prepared};
pub use target::{targets, TargetError, TargetJobs};
