//! Keeping panics out of Redis.
//!
//! A Rust panic that unwinds into the server's C frames aborts the whole
//! process, taking the user's data with it. Every entry point Redis calls
//! runs its body through [`guarded`], which turns a panic into a log line and
//! a fallback value.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; if it panics, logs which entry point did and returns `fallback`.
pub fn guarded<R>(entry_point: &str, fallback: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            redis_module::logging::log_warning(format!(
                "wb-capture: internal error in {entry_point} (recovered): {reason}"
            ));
            fallback
        }
    }
}
