//! Changes that wb-engine itself writes into a job's change stream, in the
//! capture module's format (`key`, `event`, `type`; see
//! [`crate::source::Captured`]), so the running engine processes them like
//! any captured change: it reads the key's current value and writes it.
//!
//! `backfill` writes one for each key that existed before the job, `dlq
//! replay` one for each dead-lettered key.

use crate::source::KeyKind;

/// The event of a change enqueued by `wb-engine backfill`.
pub const BACKFILL_EVENT: &str = "backfill";
/// The event of a change enqueued by `wb-engine dlq replay`.
pub const REPLAY_EVENT: &str = "replay";

/// Adds `XADD stream * key K event EVENT type T` to `pipe` for each
/// `(K, T)` of `changes`, replies ignored.
pub fn add_changes<'a>(
    pipe: &mut redis::Pipeline,
    stream: &str,
    event: &str,
    changes: impl IntoIterator<Item = (&'a [u8], &'a KeyKind)>,
) {
    for (key, kind) in changes {
        pipe.cmd("XADD")
            .arg(stream)
            .arg("*")
            .arg("key")
            .arg(key)
            .arg("event")
            .arg(event)
            .arg("type")
            .arg(kind.label())
            .ignore();
    }
}
