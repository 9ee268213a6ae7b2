//! Errors that stop a batch as a whole.

use crate::sink::SinkError;
use crate::source::SourceError;
use crate::transform::TransformError;

/// Why a batch was not completed. Its entries stay pending in the stream and
/// are read again: nothing is lost, and nothing is acknowledged early.
///
/// The stage's error is part of the message and not a `source`, so that a
/// report of the whole chain (`{:#}`) says it once.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("reading from Redis: {0}")]
    Source(SourceError),
    #[error("transforming: {0}")]
    Transform(TransformError),
    #[error("writing to the target: {0}")]
    Sink(SinkError),
    /// The target does not match the job (a missing table or column, a
    /// missing privilege): the job is held, its entries pending, until the
    /// target is fixed; the worker's other jobs go on.
    #[error("job '{job}' does not match its target: {error}")]
    Misconfigured { job: String, error: SinkError },
    /// A stream of a job the worker was not given (streams are filtered by
    /// job when a session starts, so this is a bug).
    #[error("no transform for job '{0}'")]
    UnknownJob(String),
    /// None of the worker's jobs has a stream on the shard yet (on a
    /// replica, the job table may not have arrived): looked for again.
    #[error("no job of this worker has a stream on the shard yet")]
    NoStreams,
}

impl PipelineError {
    /// Whether the same batch may succeed later without anyone changing
    /// anything (a connection, a timeout, a failover).
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Source(e) => e.is_transient(),
            PipelineError::Transform(e) => e.is_transient(),
            PipelineError::Sink(e) => e.is_transient(),
            PipelineError::Misconfigured { .. } => false,
            PipelineError::UnknownJob(_) => false,
            PipelineError::NoStreams => true,
        }
    }
}

impl From<SourceError> for PipelineError {
    fn from(e: SourceError) -> Self {
        PipelineError::Source(e)
    }
}

impl From<TransformError> for PipelineError {
    fn from(e: TransformError) -> Self {
        PipelineError::Transform(e)
    }
}

impl From<SinkError> for PipelineError {
    fn from(e: SinkError) -> Self {
        PipelineError::Sink(e)
    }
}
