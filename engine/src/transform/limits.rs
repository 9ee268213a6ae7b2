//! Resource limits for guests.

use std::time::Duration;

/// How much a guest may use while it transforms one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Cap on the guest's linear memory, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call into the guest (init, or one batch).
    pub deadline: Duration,
}

/// 64 MiB: ample for mapping a batch of a few thousand changes, small
/// enough that a runaway guest cannot hurt the engine.
pub fn default_memory_bytes() -> usize {
    64 << 20
}

/// One second: a batch normally takes well under a millisecond per
/// thousand changes, so this only stops guests that are stuck.
pub fn default_deadline() -> Duration {
    Duration::from_secs(1)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: default_memory_bytes(),
            deadline: default_deadline(),
        }
    }
}
