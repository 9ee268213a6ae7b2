//! `wb-engine backfill`: the keys that existed before a job was registered
//! are enqueued as changes into the job's stream, so the running engine
//! writes them like any other change (reading each key's value when it
//! processes it).
//!
//! One shard at a time: `SCAN` with the job's pattern walks the shard's
//! keys, each batch's types are read with `TYPE` (keys of types wb does not
//! map are skipped), and the batch's changes (event `backfill`) go into the
//! job's stream in one transaction together with the SCAN cursor, kept in
//! `wb:{TAG}:backfill:JOB` on the same shard. A backfill that is stopped or
//! killed resumes from that cursor; SCAN's guarantee (every key present for
//! the whole scan is returned at least once) holds across the pause. A key
//! returned twice is enqueued twice, which is harmless: changes carry the
//! key, not the value. Keys written during the backfill are captured by the
//! module anyway, since the job is registered first.
//!
//! Progress is estimated from the cursor: SCAN walks the hash table's
//! buckets in reverse-binary order, so the cursor's bits reversed, read as
//! a fraction, are the share of the table walked so far, and that share of
//! `DBSIZE` is about how many keys were looked at.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::enqueue::{add_changes, BACKFILL_EVENT};
use super::error::ControlError;
use super::shard::{RegisteredJob, Shard};
use crate::source::{key_kinds, KeyKind};

/// How a backfill runs.
#[derive(Clone, Debug)]
pub struct BackfillOptions {
    /// `SCAN ... COUNT`: how many keys the server looks at per call.
    pub scan_count: usize,
    /// Pause while the job's stream holds this many entries or more, so a
    /// large keyspace does not pile up in Redis faster than the engine
    /// writes it; 0 never pauses.
    pub max_backlog: usize,
    /// Forget an interrupted backfill's cursor and start from the
    /// beginning.
    pub restart: bool,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            scan_count: 1000,
            max_backlog: 100_000,
            restart: false,
        }
    }
}

/// Where a backfill of one job on one shard is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Whether this run resumed an interrupted one.
    pub resumed: bool,
    /// Share of the keyspace walked, estimated from the cursor (0 to 1).
    pub fraction: f64,
    /// `fraction` when this run started.
    pub fraction_at_start: f64,
    /// Keys in the database when this run started (`DBSIZE`).
    pub total: u64,
    /// Keys that matched the pattern, over all runs.
    pub matched: u64,
    /// Changes enqueued, over all runs.
    pub enqueued: u64,
    /// Matching keys skipped: of a type wb does not map, gone, or wb's own.
    pub skipped: u64,
    /// Time spent by this run.
    pub elapsed: Duration,
    /// Set while paused: the entries in the job's stream.
    pub waiting: Option<usize>,
    /// The walk is complete.
    pub done: bool,
}

impl Progress {
    /// About how many keys have been looked at.
    pub fn scanned(&self) -> u64 {
        (self.fraction * self.total as f64).round() as u64
    }

    /// Keys looked at per second in this run.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        (self.fraction - self.fraction_at_start).max(0.0) * self.total as f64 / secs
    }

    /// The time left at this run's rate, once there is a rate.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        if self.done {
            return Some(Duration::ZERO);
        }
        if rate <= 0.0 {
            return None;
        }
        let left = (1.0 - self.fraction).max(0.0) * self.total as f64;
        Some(Duration::from_secs_f64(left / rate))
    }
}

/// How a backfill ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// Every key was looked at; the saved cursor is gone.
    Complete,
    /// Stopped on request; the cursor is saved and the next run resumes.
    Interrupted,
}

/// The share of the keyspace a SCAN cursor has walked (see the module's
/// documentation); 0 for a new scan.
pub fn cursor_fraction(cursor: u64) -> f64 {
    cursor.reverse_bits() as f64 / 2f64.powi(64)
}

/// Enqueues every existing key of `job` on `shard` (see the module's
/// documentation), calling `report` after each batch and while paused,
/// until the walk is complete or `stop` turns true.
pub async fn backfill_shard(
    shard: &mut Shard,
    job: &RegisteredJob,
    options: &BackfillOptions,
    stop: &mut watch::Receiver<bool>,
    report: &mut dyn FnMut(&Progress),
) -> Result<(Finish, Progress), ControlError> {
    let url = shard.url().to_owned();
    let fail = |e: redis::RedisError| ControlError::redis(&url, e);
    let state_key = job.stream.backfill_state();
    let stream = job.stream.stream();
    let con = shard.connection();
    if options.restart {
        let () = redis::cmd("DEL")
            .arg(&state_key)
            .query_async(con)
            .await
            .map_err(fail)?;
    }
    let state: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(&state_key)
        .query_async(con)
        .await
        .map_err(fail)?;
    let number = |name: &str| -> u64 {
        state
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    if let Some(before) = state.get("pattern") {
        if *before != job.pattern {
            return Err(ControlError::PatternChanged {
                job: job.name.clone(),
                before: String::from_utf8_lossy(before).into_owned(),
                now: String::from_utf8_lossy(&job.pattern).into_owned(),
            });
        }
    }
    let mut cursor = number("cursor");
    let total: u64 = redis::cmd("DBSIZE").query_async(con).await.map_err(fail)?;
    let started = Instant::now();
    let mut progress = Progress {
        resumed: !state.is_empty(),
        fraction: cursor_fraction(cursor),
        fraction_at_start: cursor_fraction(cursor),
        total,
        matched: number("matched"),
        enqueued: number("enqueued"),
        skipped: number("skipped"),
        ..Progress::default()
    };
    report(&progress);
    loop {
        if *stop.borrow() {
            progress.elapsed = started.elapsed();
            return Ok((Finish::Interrupted, progress));
        }
        if options.max_backlog > 0 {
            loop {
                let backlog: usize = redis::cmd("XLEN")
                    .arg(&stream)
                    .query_async(con)
                    .await
                    .map_err(fail)?;
                if backlog < options.max_backlog {
                    progress.waiting = None;
                    break;
                }
                progress.waiting = Some(backlog);
                progress.elapsed = started.elapsed();
                report(&progress);
                let _ = tokio::time::timeout(Duration::from_millis(250), stop.changed()).await;
                if *stop.borrow() {
                    return Ok((Finish::Interrupted, progress));
                }
            }
        }
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&job.pattern)
            .arg("COUNT")
            .arg(options.scan_count)
            .query_async(con)
            .await
            .map_err(fail)?;
        let kinds = key_kinds(con, &keys)
            .await
            .map_err(|e| ControlError::redis(&url, e))?;
        let wanted: Vec<(&[u8], &KeyKind)> = keys
            .iter()
            .zip(&kinds)
            .filter(|(key, kind)| is_wanted(key, kind))
            .map(|(key, kind)| (key.as_slice(), kind))
            .collect();
        progress.matched += keys.len() as u64;
        progress.enqueued += wanted.len() as u64;
        progress.skipped += (keys.len() - wanted.len()) as u64;
        let mut pipe = redis::pipe();
        pipe.atomic();
        add_changes(&mut pipe, &stream, BACKFILL_EVENT, wanted);
        if next == 0 {
            pipe.cmd("DEL").arg(&state_key).ignore();
        } else {
            pipe.cmd("HSET")
                .arg(&state_key)
                .arg("cursor")
                .arg(next)
                .arg("pattern")
                .arg(&job.pattern)
                .arg("matched")
                .arg(progress.matched)
                .arg("enqueued")
                .arg(progress.enqueued)
                .arg("skipped")
                .arg(progress.skipped)
                .ignore();
        }
        pipe.query_async::<()>(con).await.map_err(fail)?;
        cursor = next;
        progress.elapsed = started.elapsed();
        if cursor == 0 {
            progress.fraction = 1.0;
            progress.done = true;
            report(&progress);
            return Ok((Finish::Complete, progress));
        }
        // Only an estimate: a rehash may move the cursor back a little.
        progress.fraction = progress.fraction.max(cursor_fraction(cursor));
        report(&progress);
    }
}

/// Whether a key SCAN found becomes a change: one of the types wb maps,
/// still there, and not one of wb's own keys (`wb:...`, which the capture
/// module never records either).
fn is_wanted(key: &[u8], kind: &KeyKind) -> bool {
    kind.is_mapped() && *kind != KeyKind::None && !key.starts_with(b"wb:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mapped_types_outside_wbs_own_keys_are_enqueued() {
        assert!(is_wanted(b"user:1", &KeyKind::Hash));
        assert!(is_wanted(b"doc:1", &KeyKind::Json));
        assert!(!is_wanted(b"user:1", &KeyKind::None));
        assert!(!is_wanted(b"user:1", &KeyKind::Other("string".into())));
        assert!(!is_wanted(b"wb:{0}:backfill:users", &KeyKind::Hash));
    }

    #[test]
    fn the_cursor_reversed_is_the_share_walked() {
        assert_eq!(cursor_fraction(0), 0.0);
        // A table of 8 buckets walks 0, 4, 2, 6, 1, 5, 3, 7: after the
        // first bucket the cursor is 4 (binary 100), reversed 0.001 = 1/8.
        assert_eq!(cursor_fraction(4), 1.0 / 8.0);
        assert_eq!(cursor_fraction(2), 2.0 / 8.0);
        assert_eq!(cursor_fraction(6), 3.0 / 8.0);
        assert_eq!(cursor_fraction(1), 4.0 / 8.0);
        assert_eq!(cursor_fraction(7), 7.0 / 8.0);
    }

    #[test]
    fn rate_and_eta_come_from_this_run() {
        let progress = Progress {
            fraction: 0.5,
            fraction_at_start: 0.25,
            total: 1000,
            elapsed: Duration::from_secs(5),
            ..Progress::default()
        };
        assert_eq!(progress.scanned(), 500);
        assert_eq!(progress.rate(), 50.0);
        assert_eq!(progress.eta(), Some(Duration::from_secs(10)));
        assert_eq!(Progress::default().eta(), None);
    }
}
