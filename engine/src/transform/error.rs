//! Errors of the transform stage.

use thiserror::Error;

/// Why a component could not be loaded, or why a batch or one change failed.
///
/// The record-level variants (`Rejected`, `Trap`, `DeadlineExceeded`,
/// `MemoryLimit`, `Malformed`) are attached to single changes in a
/// [`BatchOutput`](super::BatchOutput); the others fail a load or a whole
/// batch.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TransformError {
    /// The engine could not be configured.
    #[error("cannot set up the Wasm engine: {0}")]
    Engine(String),
    /// The bytes are not a valid component.
    #[error("component {job} is not valid: {reason}")]
    Compile { job: String, reason: String },
    /// The component imports something the engine does not provide or
    /// does not implement the `wb:transform` world.
    #[error("component {job} cannot be linked: {reason}")]
    Link { job: String, reason: String },
    /// The guest refused its params.
    #[error("component {job} rejected its params: {reason}")]
    Init { job: String, reason: String },
    /// Instantiating or initialising failed in a way no single change
    /// caused (a trap inside `init`, say).
    #[error("component {job} failed to start: {reason}")]
    Instantiate { job: String, reason: String },
    /// The guest could not decode the batch the engine sent: the guest and
    /// the engine disagree on the packed layout.
    #[error("component {job} could not read the batch: {reason}")]
    Protocol { job: String, reason: String },

    /// The guest returned an error for this change.
    #[error("rejected by the transform: {0}")]
    Rejected(String),
    /// The guest trapped on this change (a panic, say).
    #[error("the transform trapped: {0}")]
    Trap(String),
    /// The guest ran past the deadline on this change.
    #[error("the transform ran longer than {millis} ms")]
    DeadlineExceeded { millis: u64 },
    /// The guest tried to grow its memory past the cap on this change.
    #[error("the transform needed more than {bytes} bytes of memory")]
    MemoryLimit { bytes: usize },
    /// The guest's result for this change did not follow the layout.
    #[error("the transform returned a malformed result: {0}")]
    Malformed(String),
}

impl TransformError {
    /// True when the error belongs to one change (it goes to the dead-letter
    /// queue) rather than to the component or the batch.
    pub fn is_record_error(&self) -> bool {
        matches!(
            self,
            TransformError::Rejected(_)
                | TransformError::Trap(_)
                | TransformError::DeadlineExceeded { .. }
                | TransformError::MemoryLimit { .. }
                | TransformError::Malformed(_)
        )
    }

    /// Transforms are deterministic: retrying the same input gives the same
    /// failure, so nothing here is worth a retry.
    pub fn is_transient(&self) -> bool {
        false
    }
}
