//! The pipeline: joins the stages for one job on one shard. A batch of
//! stream entries is coalesced by key, its values read, transformed into row
//! operations, written to the target in one transaction with the stream
//! offset, rejected changes dead-lettered, and only then acknowledged.
//!
//! [`ShardWorker`] runs every job stream of one shard that way, with
//! retries, until it is told to stop. Not built yet: `wb-engine run`, which
//! builds the workers from the configuration.

mod batch;
mod error;
mod hold;
mod status;
mod worker;

pub use batch::{
    commit, finish, prepare, write, BatchOutcome, JobRunner, PreparedBatch, StageTimings,
    WrittenBatch,
};
pub use error::PipelineError;
pub use worker::{ShardWorker, WorkerSettings, WorkerStats};
