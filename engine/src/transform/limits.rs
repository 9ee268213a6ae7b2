//! Resource limits for guests, and the one capability a guest may be
//! granted: the time of day.

use std::time::Duration;

/// How much a guest may use while it transforms one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Cap on the guest's linear memory, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call into the guest (init, or one batch).
    pub deadline: Duration,
    /// Whether the guest reads the real time of day (WASI's wall clock).
    /// Off by default: the clock reads 1970-01-01, so a component's output
    /// cannot depend on when it runs. Bundles of the stock mapper turn it on
    /// (its `time_delta_days` and `time_delta_seconds` need it). The
    /// monotonic clock is frozen either way.
    pub wall_clock: bool,
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
            wall_clock: false,
        }
    }
}
