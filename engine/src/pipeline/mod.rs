//! The pipeline: joins the stages for one job on one shard. A batch of
//! stream entries is coalesced by key, its values read, transformed into row
//! operations, written to the target in one transaction with the stream
//! offset, rejected changes dead-lettered, and only then acknowledged.
//!
//! Not built yet: the worker loop that reads every job stream of a shard
//! with retries and backoff, and `wb-engine run`.

mod batch;
mod error;

pub use batch::{BatchOutcome, JobRunner};
pub use error::PipelineError;
