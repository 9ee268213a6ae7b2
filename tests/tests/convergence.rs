//! Convergence: a seeded random workload of 20,000 commands over 2,000 keys
//! of all four types (creates, updates, field, member and array element
//! removals, deletes, renames, key and hash-field expiries, MULTI/EXEC),
//! with the worker stopped in the middle of a backlog and started again.
//! Once the engine has caught up, every target table must equal what Redis
//! holds, row for row, with nothing pending and nothing dead-lettered.

mod common;

use std::time::{Duration, Instant};

use common::{settings, Kind, Running, Target};
use wb_tests::workload::{self, JOBS};
use wb_tests::{pending_count, redis, unread_count, Flavor, Rng, Server, ServerOptions};

/// Keys per type: 4 × 500 = 2,000 keys.
const KEYS: u64 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_workload_converges_in_sqlite_across_a_stop_and_restart() {
    converges(Flavor::Valkey, Kind::Sqlite, 0x5eed_0001).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_workload_converges_in_postgres_across_a_stop_and_restart() {
    converges(Flavor::Redis8, Kind::Postgres, 0x5eed_0002).await;
}

/// Entries of the job streams the engine has not read yet.
fn backlog(con: &mut redis::Connection) -> usize {
    JOBS.iter()
        .map(|(job, _)| unread_count(con, &workload::stream(job)))
        .sum()
}

fn pending(con: &mut redis::Connection) -> i64 {
    JOBS.iter()
        .map(|(job, _)| pending_count(con, &workload::stream(job)))
        .sum()
}

async fn converges(flavor: Flavor, kind: Kind, seed: u64) {
    let started = Instant::now();
    let server = Server::start(ServerOptions::new(flavor));
    let mut con = server.connection();
    common::register(&mut con, &JOBS);
    let target = Target::create(kind).await;
    let mut rng = Rng(seed);
    let mut commands = 0;

    // Writes while the first worker runs, then a burst, and a stop request
    // right after it: the worker finishes its batch in flight and leaves
    // the rest of the burst in the streams.
    let first = Running::start(&server.url(), &JOBS, target.sink().await, settings());
    commands += workload::random_writes(&mut con, &mut rng, 6_000, KEYS);
    // On a busy machine the worker may not have started reading yet: the
    // stop must come while it is working.
    let unread = backlog(&mut con);
    let working = wb_tests::wait_until(Duration::from_secs(60), || {
        unread == 0 || backlog(&mut con) < unread
    });
    assert!(working, "the first worker read nothing in 60 s");
    workload::random_burst(&mut con, &mut rng, 3_000, KEYS);
    commands += 3_000;
    let stats = first.stop().await.expect("the first worker stops cleanly");
    assert!(stats.entries > 0, "the first worker did nothing: {stats:?}");
    let left = backlog(&mut con);
    assert!(left > 0, "the worker was not stopped mid-stream: {stats:?}");
    assert_eq!(
        pending(&mut con),
        0,
        "a graceful stop leaves nothing pending"
    );

    // Changes made while no engine runs wait in the streams.
    commands += workload::random_writes(&mut con, &mut rng, 3_000, KEYS);
    let second = Running::start(&server.url(), &JOBS, target.sink().await, settings());
    commands += workload::random_writes(&mut con, &mut rng, 8_000, KEYS);
    assert!(commands >= 20_000, "{commands}");
    workload::settle_expiries(&mut con, KEYS);

    let converged = target.converge(&mut con, Duration::from_secs(150)).await;
    // The tables can match before the last entries are read: an entry whose
    // key's value was already fetched for an earlier one changes nothing.
    let caught_up = common::drained(&mut con, &JOBS, Duration::from_secs(30)).await;
    let stats = second
        .stop()
        .await
        .expect("the second worker stops cleanly");
    let want = converged.unwrap_or_else(|e| panic!("{e}\n(seed {seed:#x}, {stats:?})"));
    assert!(caught_up, "entries left unfinished: {stats:?}");
    // After the stop, too: nothing changed, nothing pending, nothing left.
    assert_eq!(workload::actual(&target.db).await, want);
    for (table, rows) in &want {
        assert!(!rows.is_empty(), "the workload left {table} empty");
    }
    assert_eq!(pending(&mut con), 0, "entries left pending");
    assert_eq!(backlog(&mut con), 0, "entries left unprocessed");
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
    for (job, _) in JOBS {
        let dlq: i64 = redis::cmd("XLEN")
            .arg(format!("wb:{{0}}:dlq:{job}"))
            .query(&mut con)
            .expect("XLEN");
        assert_eq!(dlq, 0, "dead letters of {job}");
    }
    eprintln!(
        "{kind:?}: {commands} commands, {} rows, {left} entries left at the stop, {:?}",
        want.values().map(Vec::len).sum::<usize>(),
        started.elapsed()
    );
}
