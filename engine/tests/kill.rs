//! `wb-engine run` killed with SIGKILL while it drains a backlog into
//! SQLite, three times, and started again each time: the target converges
//! to what Redis holds, nothing is left pending, and the append job's rows
//! are each there exactly once (an upsert hides a replayed batch; an append
//! does not).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wb_tests::workload::{self, EVENTS_JOB, JOBS};
use wb_tests::{
    guests, pending_count, redis, sqlite_rows, unread_count, Flavor, Rng, Server, ServerOptions,
    TargetDb, TempDir, TextRow,
};

/// Keys per type the random writes touch.
const KEYS: u64 = 200;
/// Events written per round, each to its own key, once.
const EVENTS: usize = 1000;
const ROUNDS: usize = 3;

/// Starts the engine on the project in `dir`, its log appended to
/// `dir/engine.log`.
fn engine(dir: &Path, server: &Server) -> Child {
    let log = File::options()
        .create(true)
        .append(true)
        .open(dir.join("engine.log"))
        .expect("open the engine log");
    Command::new(env!("CARGO_BIN_EXE_wb-engine"))
        .arg("run")
        .arg("--dir")
        .arg(dir)
        .arg("--mapper")
        .arg(guests::build("sdk/mapper-component"))
        .env("WB_REDIS_URL", server.url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("wb-engine starts")
}

/// A Valkey, a project of `jobs` writing into a SQLite file, and the
/// engine running on it with its jobs registered.
struct Started {
    server: Server,
    con: redis::Connection,
    dir: TempDir,
    db: std::path::PathBuf,
    child: Child,
}

fn start(name: &str, jobs: &[(&str, &str)], read_batch_size: usize) -> Started {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    let dir = TempDir::new(name);
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create the SQLite file")
        .execute_batch(workload::DDL)
        .expect("create the tables");
    workload::write_project(
        dir.path(),
        "    type: sqlite\n    path: target.db\n",
        jobs,
        read_batch_size,
    );
    let child = engine(dir.path(), &server);
    let registered = wb_tests::wait_until(Duration::from_secs(60), || {
        let streams: Vec<String> = redis::cmd("WB.STREAMS").query(&mut con).unwrap_or_default();
        streams.len() == jobs.len()
    });
    assert!(
        registered,
        "the engine did not register its jobs:\n{}",
        log(dir.path())
    );
    Started {
        server,
        con,
        dir,
        db,
        child,
    }
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("engine.log")).unwrap_or_default()
}

/// Entries the engine has not finished: unread or read and unacknowledged.
fn unfinished(con: &mut redis::Connection) -> usize {
    [JOBS[0].0, EVENTS_JOB.0]
        .iter()
        .map(|job| {
            let stream = workload::stream(job);
            unread_count(con, &stream) + pending_count(con, &stream) as usize
        })
        .sum()
}

fn event_count(db: &Path) -> usize {
    sqlite_rows(db, "SELECT count(*) FROM events")[0][0]
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn write_events(con: &mut redis::Connection, range: std::ops::Range<usize>) {
    let mut pipe = redis::pipe();
    for n in range {
        pipe.cmd("HSET")
            .arg(format!("ev:{n}"))
            .arg("kind")
            .arg(["click", "view", "buy"][n % 3])
            .arg("amount")
            .arg(n * 7)
            .ignore();
    }
    let _: () = pipe.query(con).expect("HSET events");
}

fn event_row(n: usize) -> TextRow {
    vec![
        Some(n.to_string()),
        Some(["click", "view", "buy"][n % 3].to_owned()),
        Some((n * 7).to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_killed_mid_drain_loses_nothing_and_appends_once() {
    let Started {
        server,
        mut con,
        dir,
        db,
        mut child,
    } = start("kill", &[JOBS[0], EVENTS_JOB], 100);

    let mut rng = Rng(0x0c0f_fee5);
    // Entries read but not acknowledged when the engine died, per round.
    let mut in_flight = Vec::new();
    for round in 0..ROUNDS {
        workload::random_burst(&mut con, &mut rng, 3000, KEYS);
        write_events(&mut con, round * EVENTS..(round + 1) * EVENTS);
        // Kill it once it is writing this round's events, with more to go.
        let draining = wb_tests::wait_until(Duration::from_secs(120), || {
            event_count(&db) > round * EVENTS
        });
        assert!(draining, "round {round}: no progress:\n{}", log(dir.path()));
        let left = unfinished(&mut con);
        child.kill().expect("SIGKILL the engine");
        let _ = child.wait();
        in_flight.push(
            [JOBS[0].0, EVENTS_JOB.0]
                .iter()
                .map(|job| pending_count(&mut con, &workload::stream(job)))
                .sum::<i64>(),
        );
        assert!(
            left > 0,
            "round {round}: the engine had already drained everything"
        );
        child = engine(dir.path(), &server);
    }

    // A kill between two batches leaves nothing pending; at least one of
    // them must have hit a batch between its read and its acknowledgement.
    assert!(
        in_flight.iter().any(|&n| n > 0),
        "no kill landed inside a batch: {in_flight:?}"
    );
    workload::settle_expiries(&mut con, KEYS);
    let want = workload::expected(&mut con);
    let target = TargetDb::Sqlite(db.clone());
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let got = workload::actual(&target).await;
        if got["customers"] == want["customers"] && unfinished(&mut con) == 0 {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let only = |t: &workload::Tables| -> workload::Tables {
                t.iter()
                    .filter(|(name, _)| **name == "customers")
                    .map(|(k, v)| (*k, v.clone()))
                    .collect()
            };
            panic!(
                "the target did not converge ({} entries unfinished):\n{}\nengine log:\n{}",
                unfinished(&mut con),
                workload::difference(&only(&want), &only(&got)),
                log(dir.path())
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!want["customers"].is_empty());

    let mut events = workload::events(&target).await;
    events.dedup();
    let mut want_events: Vec<TextRow> = (0..ROUNDS * EVENTS).map(event_row).collect();
    want_events.sort();
    let got_events = workload::events(&target).await;
    assert_eq!(
        got_events.len(),
        events.len(),
        "some events were appended more than once"
    );
    assert_eq!(got_events, want_events, "every event exactly once");

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wb-engine exits");
    eprintln!("entries in flight at each kill: {in_flight:?}");
    assert!(
        status.success(),
        "wb-engine did not stop cleanly:\n{}",
        log(dir.path())
    );
}

/// Entries of the four-type jobs' streams not finished yet.
fn unfinished_all(con: &mut redis::Connection) -> usize {
    JOBS.iter()
        .map(|(job, _)| {
            let stream = workload::stream(job);
            unread_count(con, &stream) + pending_count(con, &stream) as usize
        })
        .sum()
}

/// The fault suite's kill scenario (see tests/tests/faults.rs): random
/// operations over the four types in ten bursts (50,000 in all by default,
/// `WB_KILL_OPS` to change; about ten seconds in a debug build on two
/// cores once the compile cache holds the mapper, minutes without it), the
/// engine killed with SIGKILL at a random moment of each drain and started
/// again. The
/// target must then equal Redis row for row, with nothing pending and
/// nothing dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_killed_ten_times_during_a_four_type_workload_converges() {
    const KILLS: usize = 10;
    let total: usize = std::env::var("WB_KILL_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let per_round = total / KILLS;
    let seed = 0xfa17_0006;
    let started = Instant::now();
    let Started {
        server,
        mut con,
        dir,
        db,
        mut child,
    } = start("kills", &JOBS, 200);

    let mut rng = Rng(seed);
    let mut ops = 0;
    let mut in_flight = Vec::new();
    for round in 0..KILLS {
        workload::random_burst(&mut con, &mut rng, per_round, KEYS);
        ops += per_round;
        let after_burst = unfinished_all(&mut con);
        // Kill it at a random moment of this burst's drain: once a random
        // share of the burst (none to three quarters) is finished. Timed by
        // the clock instead, most kills would land after the drain: with
        // its compiled mapper cached, the engine drains a burst in well
        // under a second.
        let kill_below = after_burst - after_burst * rng.below(75) as usize / 100;
        let draining = wb_tests::wait_until(Duration::from_secs(120), || {
            unfinished_all(&mut con) < kill_below
        });
        assert!(draining, "round {round}: no progress:\n{}", log(dir.path()));
        child.kill().expect("SIGKILL the engine");
        let _ = child.wait();
        in_flight.push(
            JOBS.iter()
                .map(|(job, _)| pending_count(&mut con, &workload::stream(job)))
                .sum::<i64>(),
        );
        child = engine(dir.path(), &server);
    }
    assert!(
        in_flight.iter().any(|&n| n > 0),
        "no kill landed inside a batch: {in_flight:?}"
    );
    workload::settle_expiries(&mut con, KEYS);
    let target = TargetDb::Sqlite(db.clone());
    let last_start = Instant::now();
    let converged = workload::converge(&target, &mut con, Duration::from_secs(180)).await;
    let drained = wb_tests::wait_until(Duration::from_secs(30), || unfinished_all(&mut con) == 0);
    let recovery = last_start.elapsed();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wb-engine exits");
    let want = converged.unwrap_or_else(|e| {
        panic!(
            "{e}\n(seed {seed:#x}, kills {KILLS})\nengine log:\n{}",
            log(dir.path())
        )
    });
    assert!(drained, "entries left unfinished:\n{}", log(dir.path()));
    let dead: usize = JOBS
        .iter()
        .map(|(job, _)| wb_tests::read_stream(&mut con, &format!("wb:{{0}}:dlq:{job}"), None).len())
        .sum();
    assert_eq!(dead, 0, "dead letters after the kills");
    assert!(
        status.success(),
        "wb-engine did not stop cleanly:\n{}",
        log(dir.path())
    );
    println!(
        "SIGKILL (seed {seed:#x}): {ops} operations, {KILLS} kills, entries in flight at each \
         kill {in_flight:?}, {} rows compared, {dead} dead letters, converged {recovery:.1?} \
         after the last start, {:.1?} in all",
        want.values().map(Vec::len).sum::<usize>(),
        started.elapsed()
    );
}
