//! A crash between the target's COMMIT and the acknowledgement in Redis.
//!
//! The sink below forwards each batch to the real sink, which commits it
//! (rows and stream offset in one transaction), and then fails the way a
//! dying engine would: the worker stops with the batch committed but its
//! entries still pending. A fresh worker on the plain sink must then
//! recognise those entries by the stored offset and acknowledge them
//! without writing again: with the append strategy every change is in the
//! target exactly once. (`engine/tests/kill.rs` does the same with the
//! real binary and SIGKILL.)

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{settings, Kind, Running, Target};
use wb_engine::pipeline::WorkerSettings;
use wb_engine::sink::{Batch, ErrorClass, Report, Sent, Sink, SinkError, Staged};
use wb_tests::workload::{self, EVENTS_JOB, JOBS};
use wb_tests::{
    pending_count, read_stream, redis, unread_count, Flavor, Rng, Server, ServerOptions, TextRow,
};

const CRASH: &str = "simulated crash between commit and acknowledge";

/// Commits `commits_before_crash` batches normally, then commits one more
/// and reports a fatal error for it. Batches a sink stages (PostgreSQL)
/// crash the same way once their staged transaction has committed, so the
/// writer's own path is the one tested.
struct CrashAfterCommit<S> {
    inner: S,
    commits_before_crash: Arc<AtomicUsize>,
}

fn crash() -> SinkError {
    SinkError::Database {
        class: ErrorClass::Fatal,
        code: "TEST".into(),
        context: "crash test".into(),
        source: CRASH.into(),
    }
}

/// Counts down one commit; true when the crash is due.
fn crash_due(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_err()
}

impl<S: Sink + Send> Sink for CrashAfterCommit<S> {
    async fn write(&mut self, batch: &Batch<'_>) -> Result<Report, SinkError> {
        let report = self.inner.write(batch).await?;
        if crash_due(&self.commits_before_crash) {
            return Err(crash());
        }
        Ok(report)
    }

    async fn stage(&mut self, batch: &Batch<'_>) -> Result<Option<Staged>, SinkError> {
        let Some(staged) = self.inner.stage(batch).await? else {
            return Ok(None);
        };
        let left = Arc::clone(&self.commits_before_crash);
        Ok(Some(Box::pin(async move {
            match staged.await? {
                Sent::Committed(_) if crash_due(&left) => Err(crash()),
                sent => Ok(sent),
            }
        })))
    }

    async fn stored_offset(&mut self, job: &str, shard: &str) -> Result<Option<String>, SinkError> {
        self.inner.stored_offset(job, shard).await
    }

    fn forget_schema(&mut self) {
        self.inner.forget_schema();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_writes_each_change_once_across_a_crash_after_commit_in_sqlite() {
    append_exactly_once(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_writes_each_change_once_across_a_crash_after_commit_in_postgres() {
    append_exactly_once(Kind::Postgres).await;
}

/// Event `n`'s fields.
fn event(n: usize) -> (&'static str, usize) {
    (["click", "view", "buy"][n % 3], n * 7)
}

/// The row event `n` must become: `(ev_id, kind, amount)`.
fn event_row(n: usize) -> TextRow {
    let (kind, amount) = event(n);
    vec![
        Some(n.to_string()),
        Some(kind.to_owned()),
        Some(amount.to_string()),
    ]
}

/// Writes events `range`, each to a key of its own and once, so each is
/// one change and must be one row.
fn write_events(con: &mut redis::Connection, range: std::ops::Range<usize>) {
    let mut pipe = redis::pipe();
    for n in range {
        let (kind, amount) = event(n);
        pipe.cmd("HSET")
            .arg(format!("ev:{n}"))
            .arg("kind")
            .arg(kind)
            .arg("amount")
            .arg(amount)
            .ignore();
    }
    let _: () = pipe.query(con).expect("HSET events");
}

/// The keys of the entries pending in `stream`.
fn pending_keys(con: &mut redis::Connection, stream: &str) -> Vec<String> {
    type Pending = (String, String, i64, i64);
    let pending: Vec<Pending> = redis::cmd("XPENDING")
        .arg(stream)
        .arg("wb")
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query(con)
        .expect("XPENDING");
    let keys: HashMap<String, String> = read_stream(con, stream, None)
        .into_iter()
        .map(|e| {
            let key = e.change().0;
            (e.id, key)
        })
        .collect();
    pending
        .into_iter()
        .map(|(id, ..)| {
            keys.get(&id)
                .cloned()
                .unwrap_or_else(|| panic!("pending entry {id} is not in {stream}"))
        })
        .collect()
}

async fn append_exactly_once(kind: Kind) {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    common::register(&mut con, &[EVENTS_JOB]);
    let stream = workload::stream(EVENTS_JOB.0);
    let target = Target::create(kind).await;
    write_events(&mut con, 0..1000);

    let crashing = CrashAfterCommit {
        inner: target.sink().await,
        commits_before_crash: Arc::new(AtomicUsize::new(2)),
    };
    let small = WorkerSettings {
        read_batch_size: 100,
        ..settings()
    };
    let worker = Running::start(&server.url(), &[EVENTS_JOB], crashing, small);
    let err = worker
        .ended(Duration::from_secs(60))
        .await
        .expect_err("the crash stops the worker");
    assert!(err.to_string().contains(CRASH), "{err}");

    // The crashed batch is committed but not acknowledged.
    let rows = workload::events(&target.db).await;
    let written: BTreeSet<String> = rows.iter().filter_map(|r| r[0].clone()).collect();
    assert_eq!(written.len(), rows.len(), "an event written twice already");
    assert!(
        rows.len() < 1000,
        "the crash came too late: {} rows",
        rows.len()
    );
    let pending = pending_keys(&mut con, &stream);
    let committed_but_pending = pending
        .iter()
        .filter(|key| written.contains(key.trim_start_matches("ev:")))
        .count();
    assert!(
        committed_but_pending > 0,
        "no pending entry is in the target: {} pending, {} rows",
        pending.len(),
        rows.len()
    );

    // A fresh worker on the plain sink, with more events arriving.
    let worker = Running::start(
        &server.url(),
        &[EVENTS_JOB],
        target.sink().await,
        settings(),
    );
    write_events(&mut con, 1000..1500);
    let deadline = Instant::now() + Duration::from_secs(60);
    while unread_count(&mut con, &stream) > 0 || pending_count(&mut con, &stream) > 0 {
        assert!(Instant::now() < deadline, "the stream was not drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = worker.stop().await.expect("the worker stops cleanly");
    assert!(
        stats.skipped as usize >= committed_but_pending,
        "the committed entries were not skipped: {stats:?}"
    );

    let want: Vec<TextRow> = {
        let mut rows: Vec<TextRow> = (0..1500).map(event_row).collect();
        rows.sort();
        rows
    };
    let got = workload::events(&target.db).await;
    let mut seen = HashMap::new();
    for row in &got {
        *seen.entry(row[0].clone()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "events written more than once: {twice:?}");
    assert_eq!(got, want, "every event exactly once, as written");
    assert_eq!(pending_count(&mut con, &stream), 0);
}

/// The PostgreSQL target drops the worker's connection in the middle of a
/// drain (as a server restart, a failover or a network cut does). The
/// failure is transient, so the worker must retry, on a new connection, and
/// converge with every appended change there once.
/// (The sink connects again when it finds its connection gone; before it
/// did, the worker retried forever on the dead client.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_recovers_when_postgres_drops_its_connection() {
    let jobs = [JOBS[0], EVENTS_JOB];
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    common::register(&mut con, &jobs);
    let target = Target::create(Kind::Postgres).await;

    let small = WorkerSettings {
        read_batch_size: 100,
        ..settings()
    };
    let worker = Running::start(&server.url(), &jobs, target.sink().await, small);
    let mut rng = Rng(0xd0_0d1e);
    workload::random_burst(&mut con, &mut rng, 2000, 200);
    write_events(&mut con, 0..1000);
    let deadline = Instant::now() + Duration::from_secs(60);
    while workload::events(&target.db).await.is_empty() {
        assert!(Instant::now() < deadline, "the worker wrote nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = target.sink_pids().await;
    let killed = target.kill_sink_connections().await;
    assert!(killed > 0, "no sink connection to end");
    write_events(&mut con, 1000..1500);
    workload::random_burst(&mut con, &mut rng, 1000, 200);
    // Every expiry is captured before the drain is waited for: one captured
    // later would not reach the stopped worker.
    workload::settle_expiries(&mut con, 200);

    // Retries back off to at most half a second here: a worker that
    // reconnects is done in a few seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::unfinished(&mut con, &jobs) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = common::unfinished(&mut con, &jobs);
    let after = target.sink_pids().await;
    let stats = worker.stop().await;
    assert_eq!(
        left, 0,
        "the worker did not recover from the lost connection in 30 s: {left} entries unfinished; {stats:?}"
    );
    let stats = stats.expect("the worker stops cleanly");
    // The sink notices the lost connection either as a failed write (a
    // retry) or, between batches, as a closed client it replaces before
    // writing; either way its connection now is a new one.
    assert!(
        !after.is_empty() && after.iter().all(|pid| !before.contains(pid)),
        "the sink still uses a connection from before the kill: before {before:?}, \
         after {after:?}; {stats:?}"
    );
    let mut want: Vec<TextRow> = (0..1500).map(event_row).collect();
    want.sort();
    assert_eq!(
        workload::events(&target.db).await,
        want,
        "every event exactly once"
    );
    let expected = workload::expected(&mut con);
    let got = workload::actual(&target.db).await;
    assert_eq!(got["customers"], expected["customers"]);
}
