//! The pipeline: joins the stages for one job on one shard. A batch of
//! stream entries is coalesced by key, its values read, transformed into row
//! operations, written to the target in one transaction with the stream
//! offset, rejected changes dead-lettered, and only then acknowledged.
//!
//! [`ShardWorker`] runs every job stream of one shard that way, with
//! retries, until it is told to stop; [`connect_sink`] waits for its target
//! to be reachable first. `wb-engine run` (`crate::run`) builds the workers
//! from the configuration.

mod backoff;
mod batch;
mod connect;
mod error;
mod hold;
mod reading;
mod status;
mod worker;
mod writer;

pub use backoff::{wait_unless_stopped, Backoff};
pub use batch::{
    commit, finish, prepare, write, BatchOutcome, JobRunner, PreparedBatch, StageTimings,
    WrittenBatch,
};
pub use connect::{connect_sink, TargetConnection};
pub use error::PipelineError;
pub use worker::{ShardWorker, WorkerSettings, WorkerStats};
