//! The dead-letter queue: a stream per job and shard holding the changes
//! that could not be written, with the reason, so one bad record never
//! blocks the rest and none is lost without a trace.
//!
//! Each entry of `wb:{TAG}:dlq:JOB` has the fields `key` (binary-safe),
//! `event`, `stream_id` (the change's entry in the job stream), `stage`
//! (`capture`, `fetch`, `transform` or `write`), `reason`, `time` (ms since
//! the epoch) and, for the write stage, `row` (the row op the target
//! refused). The stream keeps the newest `dlq_max_messages` entries.
//!
//! `wb-engine dlq` reads them ([`list`]), sends their keys through the job
//! again ([`replay`]: a change per key into the job's stream, which the
//! running engine processes like any other, reading the key's value as it
//! is then) and empties the stream ([`purge`]).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionLike;
use wb_abi::RowOp;

use super::enqueue::{add_changes, REPLAY_EVENT};
use super::entries::{range, Direction, RawEntry};
use super::naming::JobStream;
use crate::source::{key_kinds, SourceError, StreamId};

/// Where in the pipeline a change was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The stream entry itself was not what the capture module writes.
    Capture,
    /// Reading the key's value.
    Fetch,
    /// The transform rejected the change, trapped, ran out of time or memory.
    Transform,
    /// The target refused the row (a value that does not fit, a constraint).
    Write,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Capture => "capture",
            Stage::Fetch => "fetch",
            Stage::Transform => "transform",
            Stage::Write => "write",
        }
    }

    /// The stage named `name` (as [`Stage::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Stage> {
        [Stage::Capture, Stage::Fetch, Stage::Transform, Stage::Write]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One rejected change.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub key: Vec<u8>,
    pub event: String,
    /// The ID of the change's entry in the job stream.
    pub stream_id: String,
    pub stage: Stage,
    pub reason: String,
    /// The offending row, as text, when the target refused one.
    pub row: Option<String>,
}

/// The `row` field of a write-stage dead letter: the row op the target
/// refused, as `wb-engine test` shows row ops
/// (`upsert users on target key {id: "7"} values {name: "..."}`).
pub fn row_text(op: &RowOp<'_>) -> String {
    crate::cases::render_op(op, true)
}

/// Appends `letters` to the dead-letter stream `dlq`, keeping the newest
/// `max_messages` (exactly: dead letters are few, so exact trimming costs
/// little). With `max_messages` 0 (`error_handling: ignore`) nothing is
/// kept: each letter is logged and dropped.
pub async fn push<C: ConnectionLike>(
    con: &mut C,
    dlq: &str,
    max_messages: usize,
    letters: &[DeadLetter],
) -> Result<(), SourceError> {
    if max_messages == 0 {
        for letter in letters {
            tracing::warn!(
                key = %String::from_utf8_lossy(&letter.key),
                event = %letter.event,
                stream_id = %letter.stream_id,
                stage = letter.stage.as_str(),
                reason = %letter.reason,
                "record dropped (error_handling: ignore)"
            );
        }
        return Ok(());
    }
    if letters.is_empty() {
        return Ok(());
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut pipe = redis::pipe();
    for letter in letters {
        pipe.cmd("XADD")
            .arg(dlq)
            .arg("MAXLEN")
            .arg("=")
            .arg(max_messages)
            .arg("*")
            .arg("key")
            .arg(&letter.key)
            .arg("event")
            .arg(&letter.event)
            .arg("stream_id")
            .arg(&letter.stream_id)
            .arg("stage")
            .arg(letter.stage.as_str())
            .arg("reason")
            .arg(&letter.reason)
            .arg("time")
            .arg(now_ms);
        if let Some(row) = &letter.row {
            pipe.arg("row").arg(row);
        }
        pipe.ignore();
    }
    pipe.query_async::<()>(con).await?;
    Ok(())
}

/// A dead letter as stored, with its entry's id in the dead-letter stream.
/// Fields are kept as written (an unknown stage is shown, not refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLetter {
    /// The entry's id in the dead-letter stream.
    pub id: StreamId,
    /// When it was dead-lettered, in ms since the epoch.
    pub time_ms: Option<u64>,
    pub key: Vec<u8>,
    pub event: String,
    /// The change's entry in the job stream.
    pub stream_id: String,
    pub stage: String,
    pub reason: String,
    pub row: Option<String>,
}

impl StoredLetter {
    fn from_entry(entry: RawEntry) -> StoredLetter {
        let text = |name: &str| entry.text(name).unwrap_or_default();
        StoredLetter {
            id: entry.id,
            time_ms: entry.text("time").and_then(|t| t.parse().ok()),
            key: entry.field("key").map(<[u8]>::to_vec).unwrap_or_default(),
            event: text("event"),
            stream_id: text("stream_id"),
            stage: text("stage"),
            reason: text("reason"),
            row: entry.text("row"),
        }
    }
}

/// The dead letters in `dlq`, oldest first, at most `count` (all when
/// `None`).
pub async fn list<C: ConnectionLike>(
    con: &mut C,
    dlq: &str,
    count: Option<usize>,
) -> Result<Vec<StoredLetter>, SourceError> {
    let entries = range(con, dlq, Direction::Forward, "-", "+", count).await?;
    Ok(entries.into_iter().map(StoredLetter::from_entry).collect())
}

/// The dead-letter streams of job `job` on the server behind `con`, found
/// by name (`wb:{*}:dlq:JOB`): for a job that is no longer registered.
pub async fn find<C: ConnectionLike>(con: &mut C, job: &str) -> Result<Vec<String>, SourceError> {
    // Job names are A-Z a-z 0-9 _ - . only: nothing to escape in a glob.
    let pattern = format!("wb:{{*}}:dlq:{job}");
    let mut found = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .arg("TYPE")
            .arg("stream")
            .query_async(con)
            .await?;
        found.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// How many dead letters `dlq` holds.
pub async fn length<C: ConnectionLike>(con: &mut C, dlq: &str) -> Result<usize, SourceError> {
    Ok(redis::cmd("XLEN").arg(dlq).query_async(con).await?)
}

/// Empties `dlq`; returns how many dead letters it held.
pub async fn purge<C: ConnectionLike>(con: &mut C, dlq: &str) -> Result<usize, SourceError> {
    let (held, _deleted): (usize, usize) = redis::pipe()
        .atomic()
        .cmd("XLEN")
        .arg(dlq)
        .cmd("DEL")
        .arg(dlq)
        .query_async(con)
        .await?;
    Ok(held)
}

/// What [`replay`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Distinct keys sent through the job again.
    pub keys: usize,
    /// Dead letters removed (several may name one key).
    pub entries: usize,
    /// Dead letters without a key (malformed stream entries), left in place.
    pub without_key: usize,
    /// Ids asked for that the dead-letter stream does not hold.
    pub not_found: Vec<StreamId>,
}

/// Dead letters handled per transaction.
const REPLAY_PAGE: usize = 500;

/// Sends the keys of `job`'s dead letters through the job again: for each
/// key, a change (event `replay`, the key's type now) goes into the job's
/// change stream, and the dead letters of those keys are removed, in one
/// transaction per page (both keys live on the job's shard). The running
/// engine then reads each key's current value and writes it, or
/// dead-letters it again with the reason if it still fails.
///
/// `ids` picks dead letters by id; `None` replays all of them that exist
/// when the replay starts (not those that replayed changes bring back).
pub async fn replay<C: ConnectionLike>(
    con: &mut C,
    job: &JobStream,
    ids: Option<&[StreamId]>,
) -> Result<Replayed, SourceError> {
    let dlq = job.dead_letters();
    let mut out = Replayed::default();
    match ids {
        Some(ids) => {
            for chunk in ids.chunks(REPLAY_PAGE) {
                let mut page = Vec::with_capacity(chunk.len());
                for id in chunk {
                    let id_text = id.to_string();
                    let found =
                        range(con, &dlq, Direction::Forward, &id_text, &id_text, Some(1)).await?;
                    match found.into_iter().next() {
                        Some(entry) => page.push(entry),
                        None => out.not_found.push(*id),
                    }
                }
                replay_page(con, job, page, &mut out).await?;
            }
        }
        None => {
            let newest = range(con, &dlq, Direction::Backward, "-", "+", Some(1))
                .await?
                .first()
                .map(|e| e.id);
            let Some(newest) = newest else {
                return Ok(out);
            };
            let mut start = "-".to_owned();
            loop {
                let page = range(
                    con,
                    &dlq,
                    Direction::Forward,
                    &start,
                    &newest.to_string(),
                    Some(REPLAY_PAGE),
                )
                .await?;
                let Some(last) = page.last().map(|e| e.id) else {
                    break;
                };
                replay_page(con, job, page, &mut out).await?;
                start = format!("({last}");
            }
        }
    }
    Ok(out)
}

/// Replays one page of dead letters in one transaction.
async fn replay_page<C: ConnectionLike>(
    con: &mut C,
    job: &JobStream,
    page: Vec<RawEntry>,
    out: &mut Replayed,
) -> Result<(), SourceError> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut ids: Vec<String> = Vec::new();
    for entry in &page {
        match entry.field("key") {
            Some(key) if !key.is_empty() => {
                if seen.insert(key.to_vec()) {
                    keys.push(key.to_vec());
                }
                ids.push(entry.id.to_string());
            }
            _ => out.without_key += 1,
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let kinds = key_kinds(con, &keys).await?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    add_changes(
        &mut pipe,
        &job.stream(),
        REPLAY_EVENT,
        keys.iter().map(Vec::as_slice).zip(&kinds),
    );
    pipe.cmd("XDEL").arg(job.dead_letters()).arg(&ids).ignore();
    pipe.query_async::<()>(con).await?;
    out.keys += keys.len();
    out.entries += ids.len();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_round_trip_their_names() {
        for stage in [Stage::Capture, Stage::Fetch, Stage::Transform, Stage::Write] {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(Stage::parse("sink"), None);
    }

    #[test]
    fn a_stored_letter_reads_every_field() {
        let entry = RawEntry {
            id: StreamId { ms: 5, seq: 1 },
            fields: [
                ("key", "user:7"),
                ("event", "hset"),
                ("stream_id", "4-0"),
                ("stage", "write"),
                ("reason", "too long"),
                ("time", "1700000000000"),
                ("row", "upsert users on target key {id: \"7\"}"),
            ]
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        };
        let letter = StoredLetter::from_entry(entry);
        assert_eq!(letter.key, b"user:7");
        assert_eq!(letter.stage, "write");
        assert_eq!(letter.time_ms, Some(1_700_000_000_000));
        assert_eq!(letter.stream_id, "4-0");
        assert!(letter.row.is_some_and(|r| r.starts_with("upsert users")));
    }
}
