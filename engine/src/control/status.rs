//! A job's status on one shard, kept in Redis so that `wb-engine status`
//! works from any machine that reaches the server.
//!
//! The hash `wb:{TAG}:status:JOB` holds the engine's counters (updated by
//! the acknowledging stage after each batch, in one pipelined round trip),
//! its state and the pause flag set by `wb-engine pause`. The stream's
//! length, pending count and lag are read from the stream itself.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionLike;
use redis::Value;

use crate::source::{SourceError, StreamId, GROUP};

use super::naming::JobStream;

/// Fields of the status hash.
pub mod field {
    /// Stream entries read and acknowledged.
    pub const READ: &str = "read";
    /// Changes whose rows the target committed.
    pub const WRITTEN: &str = "written";
    /// Changes skipped because the target already had them.
    pub const SKIPPED: &str = "skipped";
    /// Changes sent to the dead-letter queue.
    pub const REJECTED: &str = "rejected";
    /// Row operations the target committed, by kind: upserts (inserted or
    /// updated: the target does not say which), deletes (of a row, or of
    /// a key's child rows before they are written again) and appends.
    pub const ROWS_UPSERTED: &str = "rows_upserted";
    pub const ROWS_DELETED: &str = "rows_deleted";
    pub const ROWS_APPENDED: &str = "rows_appended";
    pub const BATCHES: &str = "batches";
    /// When the last batch was acknowledged (ms since the epoch).
    pub const LAST_BATCH: &str = "last_batch_ms";
    /// `running`, `retrying: REASON`, `held: REASON`, `error: MESSAGE` or
    /// `stopped`.
    pub const STATE: &str = "state";
    /// When the engine last wrote the hash (ms since the epoch).
    pub const UPDATED: &str = "updated_ms";
    /// Present (`1`) while the job is paused.
    pub const PAUSED: &str = "paused";
}

/// The state the engine reports while it processes batches.
pub const RUNNING: &str = "running";

/// Milliseconds since the epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The counts of one acknowledged batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub read: u64,
    pub written: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub rows: RowCounts,
}

/// Row operations a target committed, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub upserted: u64,
    pub deleted: u64,
    pub appended: u64,
}

/// Adds one batch's counts to `stream`'s status and marks it running, in
/// one round trip over `con`.
pub async fn record_batch<C: ConnectionLike>(
    con: &mut C,
    stream: &JobStream,
    counts: BatchCounts,
) -> Result<(), SourceError> {
    let key = stream.status();
    let now = now_ms();
    let mut pipe = redis::pipe();
    for (name, by) in [
        (field::READ, counts.read),
        (field::WRITTEN, counts.written),
        (field::SKIPPED, counts.skipped),
        (field::REJECTED, counts.rejected),
        (field::ROWS_UPSERTED, counts.rows.upserted),
        (field::ROWS_DELETED, counts.rows.deleted),
        (field::ROWS_APPENDED, counts.rows.appended),
        (field::BATCHES, 1),
    ] {
        pipe.cmd("HINCRBY").arg(&key).arg(name).arg(by).ignore();
    }
    pipe.cmd("HSET")
        .arg(&key)
        .arg(field::LAST_BATCH)
        .arg(now)
        .arg(field::UPDATED)
        .arg(now)
        .arg(field::STATE)
        .arg(RUNNING)
        .ignore();
    let () = pipe.query_async(con).await?;
    Ok(())
}

/// Sets the state of each of `streams` (e.g. `retrying: REASON`).
pub async fn set_state<C: ConnectionLike>(
    con: &mut C,
    streams: &[JobStream],
    state: &str,
) -> Result<(), SourceError> {
    if streams.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut pipe = redis::pipe();
    for stream in streams {
        pipe.cmd("HSET")
            .arg(stream.status())
            .arg(field::STATE)
            .arg(state)
            .arg(field::UPDATED)
            .arg(now)
            .ignore();
    }
    let () = pipe.query_async(con).await?;
    Ok(())
}

/// Pauses (`true`) or resumes `stream`'s job on its shard.
pub async fn set_paused<C: ConnectionLike>(
    con: &mut C,
    stream: &JobStream,
    paused: bool,
) -> Result<(), SourceError> {
    let mut cmd = redis::cmd(if paused { "HSET" } else { "HDEL" });
    cmd.arg(stream.status()).arg(field::PAUSED);
    if paused {
        cmd.arg(1);
    }
    let _: Value = cmd.query_async(con).await?;
    Ok(())
}

/// Which of `streams` are paused, in one round trip.
pub async fn paused<C: ConnectionLike>(
    con: &mut C,
    streams: &[JobStream],
) -> Result<Vec<bool>, SourceError> {
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for stream in streams {
        pipe.cmd("HEXISTS").arg(stream.status()).arg(field::PAUSED);
    }
    let flags: Vec<bool> = pipe.query_async(con).await?;
    Ok(flags)
}

/// A job's status on one shard, as `wb-engine status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobStatus {
    /// `paused`, the engine's last state, or `idle` when no engine has
    /// reported yet.
    pub state: String,
    pub paused: bool,
    /// Entries in the change stream (pending and not yet read).
    pub length: u64,
    /// Entries read but not yet acknowledged.
    pub pending: u64,
    /// Age of the oldest change not yet acknowledged, in ms; 0 when caught
    /// up.
    pub lag_ms: u64,
    pub read: u64,
    pub written: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub rows: RowCounts,
    pub batches: u64,
    pub last_batch_ms: Option<u64>,
    pub updated_ms: Option<u64>,
}

/// Reads `stream`'s status over `con`, in at most three round trips.
pub async fn read<C: ConnectionLike>(
    con: &mut C,
    stream: &JobStream,
) -> Result<JobStatus, SourceError> {
    let name = stream.stream();
    let (hash, length): (HashMap<String, String>, u64) = redis::pipe()
        .cmd("HGETALL")
        .arg(stream.status())
        .cmd("XLEN")
        .arg(&name)
        .query_async(con)
        .await?;
    let mut pending_count = 0;
    let mut oldest = None;
    if length > 0 {
        let groups: Value = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&name)
            .query_async(con)
            .await?;
        // The oldest change not yet acknowledged: the oldest pending entry,
        // else the first entry after the group's last-delivered id (the
        // first entry at all when no engine has created the group yet).
        let (pending, unread): (Value, Value) = match last_delivered(&groups) {
            Some(delivered) => {
                redis::pipe()
                    .cmd("XPENDING")
                    .arg(&name)
                    .arg(GROUP)
                    .cmd("XRANGE")
                    .arg(&name)
                    .arg(format!("({delivered}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(con)
                    .await?
            }
            None => {
                let first: Value = redis::cmd("XRANGE")
                    .arg(&name)
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(con)
                    .await?;
                (Value::Nil, first)
            }
        };
        let (count, oldest_pending) = pending_summary(&pending);
        pending_count = count;
        oldest = [oldest_pending, first_entry_id(&unread)]
            .into_iter()
            .flatten()
            .min();
    }
    let number = |field: &str| {
        hash.get(field)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let paused = hash.contains_key(field::PAUSED);
    let state = if paused {
        "paused".to_owned()
    } else {
        hash.get(field::STATE)
            .cloned()
            .unwrap_or_else(|| "idle".to_owned())
    };
    Ok(JobStatus {
        state,
        paused,
        length,
        pending: pending_count,
        lag_ms: oldest.map_or(0, |id| now_ms().saturating_sub(id.ms)),
        read: number(field::READ),
        written: number(field::WRITTEN),
        skipped: number(field::SKIPPED),
        rejected: number(field::REJECTED),
        rows: RowCounts {
            upserted: number(field::ROWS_UPSERTED),
            deleted: number(field::ROWS_DELETED),
            appended: number(field::ROWS_APPENDED),
        },
        batches: number(field::BATCHES),
        last_batch_ms: hash.get(field::LAST_BATCH).and_then(|v| v.parse().ok()),
        updated_ms: hash.get(field::UPDATED).and_then(|v| v.parse().ok()),
    })
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// XPENDING's summary: `[count, min-id, max-id, consumers]`.
fn pending_summary(reply: &Value) -> (u64, Option<StreamId>) {
    let Value::Array(parts) = reply else {
        return (0, None);
    };
    let count = match parts.first() {
        Some(Value::Int(n)) => *n as u64,
        _ => 0,
    };
    let oldest = parts
        .get(1)
        .and_then(text)
        .and_then(|id| id.parse::<StreamId>().ok());
    (count, oldest)
}

/// The `last-delivered-id` of wb's group in an XINFO GROUPS reply.
fn last_delivered(reply: &Value) -> Option<StreamId> {
    let Value::Array(groups) = reply else {
        return None;
    };
    for group in groups {
        let pairs: Vec<(String, &Value)> = match group {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|pair| Some((text(pair.first()?)?, pair.get(1)?)))
                .collect(),
            Value::Map(items) => items
                .iter()
                .filter_map(|(k, v)| Some((text(k)?, v)))
                .collect(),
            _ => continue,
        };
        let is_ours = pairs
            .iter()
            .any(|(k, v)| k == "name" && text(v).as_deref() == Some(GROUP));
        if is_ours {
            return pairs
                .iter()
                .find(|(k, _)| k == "last-delivered-id")
                .and_then(|(_, v)| text(v))
                .and_then(|id| id.parse().ok());
        }
    }
    None
}

/// The id of the first entry of an XRANGE reply.
fn first_entry_id(reply: &Value) -> Option<StreamId> {
    let Value::Array(entries) = reply else {
        return None;
    };
    let Value::Array(entry) = entries.first()? else {
        return None;
    };
    text(entry.first()?)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_the_pending_summary_and_the_groups_last_delivered_id() {
        let pending = Value::Array(vec![
            Value::Int(3),
            bulk("5-0"),
            bulk("9-1"),
            Value::Array(vec![]),
        ]);
        let (count, oldest) = pending_summary(&pending);
        assert_eq!(count, 3);
        assert_eq!(oldest.map(|id| id.ms), Some(5));
        assert_eq!(pending_summary(&Value::Nil), (0, None));
        let groups = Value::Array(vec![
            Value::Array(vec![
                bulk("name"),
                bulk("other"),
                bulk("last-delivered-id"),
                bulk("1-0"),
            ]),
            Value::Array(vec![
                bulk("name"),
                bulk(GROUP),
                bulk("last-delivered-id"),
                bulk("7-2"),
            ]),
        ]);
        assert_eq!(last_delivered(&groups).map(|id| id.ms), Some(7));
        let range = Value::Array(vec![Value::Array(vec![bulk("12-0"), Value::Array(vec![])])]);
        assert_eq!(first_entry_id(&range).map(|id| id.ms), Some(12));
        assert_eq!(first_entry_id(&Value::Array(vec![])), None);
    }
}
