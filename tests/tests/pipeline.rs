//! One job end to end on real parts: Valkey with the capture module, the
//! source stage, the stock mapper component in the Wasm host, and the SQLite
//! and PostgreSQL sinks; batches processed through `JobRunner`.

use std::time::Duration;

use wb_engine::control::JobStream;
use wb_engine::pipeline::JobRunner;
use wb_engine::sink::postgres::{PgConfig, PgSink};
use wb_engine::sink::sqlite::{SqliteConfig, SqliteSink};
use wb_engine::sink::Sink;
use wb_engine::source::{ShardReader, StreamId};
use wb_engine::transform::{Limits, WasmHost, WasmTransform};
use wb_tests::redis::{self, Connection};
use wb_tests::{
    cmd, guests, pending_count, pg_conninfo, read_stream, Flavor, PgSchema, Rng, Server,
    ServerOptions, TargetDb, TempDir, TextRow,
};

const USERS: &str = "wb:{0}:changes:users";
const BLOCK: Duration = Duration::from_millis(200);
const SPEC: &str = "output target users upsert
key user_id key_part(1)
value first_name fname
value age age
";

fn mapper() -> WasmTransform {
    mapper_with("users", SPEC)
}

/// The stock mapper component for `job`, compiled from `spec`.
fn mapper_with(job: &str, spec: &str) -> WasmTransform {
    let path = guests::build("sdk/mapper-component");
    let host = WasmHost::new().expect("wasm host");
    host.load_file(
        job,
        &path,
        vec![("spec".into(), spec.into())],
        Limits::default(),
    )
    .expect("the mapper loads")
}

/// A PostgreSQL schema of its own holding `ddl`'s tables, and a sink
/// configuration that writes there, its offsets too.
async fn pg_target(prefix: &str, ddl: &str) -> (PgConfig, TargetDb) {
    let schema = PgSchema::create(prefix, ddl).await;
    let mut config = PgConfig::new(pg_conninfo());
    config.schema = schema.name.clone();
    config.offsets_schema = schema.name.clone();
    (config, TargetDb::Postgres(schema))
}

fn sqlite_target(dir: &TempDir) -> (SqliteSink, TargetDb) {
    let path = dir.path().join("target.db");
    rusqlite::Connection::open(&path)
        .expect("open sqlite")
        .execute_batch(
            "CREATE TABLE users (user_id TEXT PRIMARY KEY, first_name TEXT, age INTEGER);",
        )
        .expect("create table");
    let sink = SqliteSink::open(SqliteConfig::new(&path), &["users"]).expect("sink");
    (sink, TargetDb::Sqlite(path))
}

const USERS_ROWS: &str = "SELECT user_id, first_name, age FROM users ORDER BY user_id";

/// A row of `users` as the targets print it.
fn row(id: &str, first_name: Option<&str>, age: Option<i64>) -> TextRow {
    vec![
        Some(id.to_owned()),
        first_name.map(str::to_owned),
        age.map(|a| a.to_string()),
    ]
}

async fn stored_offset(target: &TargetDb, job: &str) -> Option<String> {
    target
        .rows(&format!(
            "SELECT last_id FROM wb_offsets WHERE job = '{job}'"
        ))
        .await
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
}

/// Asks a worker to stop and returns its totals; it must stop cleanly.
async fn stop_worker(
    stop: &tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<
        Result<wb_engine::pipeline::WorkerStats, wb_engine::pipeline::PipelineError>,
    >,
) -> wb_engine::pipeline::WorkerStats {
    stop.send(true).expect("stop the worker");
    worker
        .await
        .expect("join")
        .expect("the worker stops cleanly")
}

async fn postgres_target() -> (PgSink, TargetDb) {
    let (config, target) = pg_target(
        "wb_pipeline",
        "CREATE TABLE users (user_id text PRIMARY KEY, first_name text, age bigint);",
    )
    .await;
    let sink = PgSink::connect(config, &["users"]).await.expect("sink");
    (sink, target)
}

#[tokio::test(flavor = "current_thread")]
async fn changes_flow_from_redis_into_sqlite_and_bad_ones_are_dead_lettered() {
    let dir = TempDir::new("pipeline");
    let (mut sink, target) = sqlite_target(&dir);
    changes_flow_and_bad_ones_are_dead_lettered(&mut sink, &target).await;
}

#[tokio::test(flavor = "current_thread")]
async fn changes_flow_from_redis_into_postgres_and_bad_ones_are_dead_lettered() {
    let (mut sink, target) = postgres_target().await;
    changes_flow_and_bad_ones_are_dead_lettered(&mut sink, &target).await;
}

async fn changes_flow_and_bad_ones_are_dead_lettered<S: Sink>(sink: &mut S, target: &TargetDb) {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    cmd(&mut con, &["WB.JOB.SET", "users", "user:*"]);
    let transform = mapper();
    let mut reader = ShardReader::connect(&server.url()).await.expect("connect");
    reader.ensure_group(USERS).await.expect("group");
    let mut runner = JobRunner {
        stream: JobStream::parse(USERS).expect("job stream"),
        transform: &transform,
        sink,
        dlq_max: 1000,
        committed: None,
    };

    cmd(&mut con, &["HSET", "user:1", "fname", "Ada", "age", "36"]);
    cmd(&mut con, &["HSET", "user:2", "fname", "Bob", "age", "41"]);
    cmd(&mut con, &["HSET", "user:1", "fname", "Ada L."]);
    cmd(
        &mut con,
        &["HSET", "user:3", "fname", "Cy", "age", "not a number"],
    );
    cmd(&mut con, &["HSET", "user:4", "fname", "Di"]);
    let read = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read")
        .remove(0);
    let outcome = runner.process(&mut reader, read).await.expect("batch");
    assert_eq!(outcome.entries, 5);
    assert_eq!(outcome.delivered, 3, "{outcome:?}");
    assert_eq!(outcome.dead_letters.len(), 1);
    assert_eq!(outcome.dead_letters[0].key, b"user:3");
    assert_eq!(
        target.rows(USERS_ROWS).await,
        vec![
            row("1", Some("Ada L."), Some(36)),
            row("2", Some("Bob"), Some(41)),
            row("4", Some("Di"), None),
        ]
    );
    let dlq = read_stream(&mut con, "wb:{0}:dlq:users", None);
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].field("stage"), Some(b"write".as_slice()));
    let reason = String::from_utf8_lossy(dlq[0].field("reason").unwrap_or_default()).into_owned();
    assert!(
        reason.contains("age") && reason.contains("not a number"),
        "{reason}"
    );

    // Deletes and a fix: the bad key corrected, another deleted.
    cmd(&mut con, &["DEL", "user:2"]);
    cmd(&mut con, &["HSET", "user:3", "age", "29"]);
    let read = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read")
        .remove(0);
    let last = read.entries.last().map(|e| e.id.to_string());
    let outcome = runner.process(&mut reader, read).await.expect("batch");
    assert!(outcome.dead_letters.is_empty(), "{outcome:?}");
    assert_eq!(
        target.rows(USERS_ROWS).await,
        vec![
            row("1", Some("Ada L."), Some(36)),
            row("3", Some("Cy"), Some(29)),
            row("4", Some("Di"), None),
        ]
    );
    // Everything acknowledged and trimmed; the stored offset is the last entry.
    assert!(reader
        .read_pending(USERS, 100)
        .await
        .expect("pending")
        .entries
        .is_empty());
    assert!(
        read_stream(&mut con, USERS, None).is_empty(),
        "acknowledged entries trimmed"
    );
    assert_eq!(stored_offset(target, "users").await, last);
}

#[tokio::test(flavor = "current_thread")]
async fn entries_the_target_already_has_are_acknowledged_without_writing() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    cmd(&mut con, &["WB.JOB.SET", "users", "user:*"]);
    let dir = TempDir::new("pipeline-skip");
    let (mut sink, target) = sqlite_target(&dir);
    let transform = mapper();
    let mut reader = ShardReader::connect(&server.url()).await.expect("connect");
    reader.ensure_group(USERS).await.expect("group");
    cmd(&mut con, &["HSET", "user:1", "fname", "Ada"]);
    cmd(&mut con, &["HSET", "user:2", "fname", "Bob"]);
    let read = reader
        .read_new(&[USERS.to_owned()], 100, BLOCK)
        .await
        .expect("read")
        .remove(0);
    // As after a crash between the target's commit and the acknowledgement:
    // the target's offset already covers user:1's entry.
    let first: StreamId = read.entries[0].id;
    let mut runner = JobRunner {
        stream: JobStream::parse(USERS).expect("job stream"),
        transform: &transform,
        sink: &mut sink,
        dlq_max: 1000,
        committed: Some(first),
    };
    let outcome = runner.process(&mut reader, read).await.expect("batch");
    assert_eq!(outcome.skipped, 1);
    assert_eq!(outcome.delivered, 1);
    assert_eq!(
        target.rows(USERS_ROWS).await,
        vec![row("2", Some("Bob"), None)]
    );
    assert!(reader
        .read_pending(USERS, 100)
        .await
        .expect("pending")
        .entries
        .is_empty());
}

/// What the target should hold for the keys `user:*` in Redis now.
fn expected_rows(con: &mut Connection) -> Vec<TextRow> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("user:*").query(con).expect("KEYS");
    let mut rows: Vec<TextRow> = keys
        .iter()
        .map(|key| {
            let fields: std::collections::HashMap<String, String> =
                redis::cmd("HGETALL").arg(key).query(con).expect("HGETALL");
            row(
                key.trim_start_matches("user:"),
                fields.get("fname").map(String::as_str),
                fields.get("age").and_then(|a| a.parse().ok()),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Random writes to 300 hash keys: sets, field removals, deletes, expiries.
fn random_writes(con: &mut Connection, rng: &mut Rng, count: usize) {
    for _ in 0..count {
        let key = format!("user:{}", rng.below(300));
        match rng.below(10) {
            0 => cmd(con, &["DEL", &key]),
            1 => cmd(con, &["HDEL", &key, "age"]),
            2 => cmd(con, &["PEXPIRE", &key, &(1 + rng.below(50)).to_string()]),
            _ => cmd(
                con,
                &[
                    "HSET",
                    &key,
                    "fname",
                    &format!("n{}", rng.below(1000)),
                    "age",
                    &rng.below(100).to_string(),
                ],
            ),
        };
    }
}

/// Waits until no `user:*` key has a time to live left: once the state in
/// Redis no longer changes by itself, a target that matches it will go on
/// matching it.
fn settle_user_expiries(con: &mut Connection) {
    let keys: Vec<String> = (0..300).map(|n| format!("user:{n}")).collect();
    wb_tests::workload::settle_ttls(con, &keys, &[], &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_converges_and_survives_a_stop_and_restart() {
    use wb_engine::pipeline::{ShardWorker, WorkerSettings};

    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    cmd(&mut con, &["WB.JOB.SET", "users", "user:*"]);
    let dir = TempDir::new("worker");
    let path = dir.path().join("target.db");
    let (_sink, target) = sqlite_target(&dir);
    let worker = |stop| {
        let worker = ShardWorker {
            url: server.url(),
            jobs: std::sync::Arc::new([("users".to_owned(), mapper())].into_iter().collect()),
            sink: SqliteSink::open(SqliteConfig::new(&path), &["users"]).expect("sink"),
            settings: WorkerSettings {
                read_batch_size: 200,
                block: Duration::from_millis(100),
                ..WorkerSettings::default()
            },
        };
        tokio::spawn(worker.run(stop))
    };
    let mut rng = Rng(0x5eed_2026);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = worker(stopped);
    random_writes(&mut con, &mut rng, 3000);
    let stats = stop_worker(&stop, first).await;
    assert!(stats.entries > 0, "{stats:?}");

    // Changes made while no engine runs wait in the stream.
    random_writes(&mut con, &mut rng, 2000);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let second = worker(stopped);
    random_writes(&mut con, &mut rng, 2000);
    settle_user_expiries(&mut con);

    let mut last = Vec::new();
    let mut converged = false;
    for _ in 0..300 {
        let want = expected_rows(&mut con);
        last = target.rows(USERS_ROWS).await;
        if last == want {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = stop_worker(&stop, second).await;
    let want = expected_rows(&mut con);
    assert!(
        converged,
        "target never matched Redis: {} rows vs {} expected",
        last.len(),
        want.len()
    );
    assert_eq!(
        target.rows(USERS_ROWS).await,
        want,
        "target equals Redis after the stop"
    );
    assert!(!want.is_empty());
    assert_eq!(stats.dead_letters, 0);
    let dlq: usize = redis::cmd("XLEN")
        .arg("wb:{0}:dlq:users")
        .query(&mut con)
        .expect("XLEN");
    assert_eq!(dlq, 0);
    assert_eq!(pending_count(&mut con, USERS), 0, "entries left pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_out_a_redis_restart() {
    use wb_engine::pipeline::{ShardWorker, WorkerSettings};

    let mut server = Server::start(ServerOptions::new(Flavor::Valkey).appendonly());
    let mut con = server.connection();
    cmd(&mut con, &["WB.JOB.SET", "users", "user:*"]);
    let dir = TempDir::new("worker-restart");
    let path = dir.path().join("target.db");
    let (_sink, target) = sqlite_target(&dir);
    let worker = ShardWorker {
        url: server.url(),
        jobs: std::sync::Arc::new([("users".to_owned(), mapper())].into_iter().collect()),
        sink: SqliteSink::open(SqliteConfig::new(&path), &["users"]).expect("sink"),
        settings: WorkerSettings {
            read_batch_size: 200,
            block: Duration::from_millis(100),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            ..WorkerSettings::default()
        },
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let mut rng = Rng(0x000f_eed7);
    random_writes(&mut con, &mut rng, 1000);
    drop(con);
    // SHUTDOWN (the AOF keeps data, streams and the job table) and start
    // again on the same port: the worker's connection breaks meanwhile.
    server.restart();
    let mut con = server.connection();
    random_writes(&mut con, &mut rng, 1000);
    settle_user_expiries(&mut con);

    let mut converged = false;
    for _ in 0..300 {
        if target.rows(USERS_ROWS).await == expected_rows(&mut con) {
            converged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = stop_worker(&stop, running).await;
    assert!(
        converged,
        "target never matched Redis after the restart: {stats:?}"
    );
    assert_eq!(target.rows(USERS_ROWS).await, expected_rows(&mut con));
    assert!(stats.retries > 0, "the restart was not noticed: {stats:?}");
    assert_eq!(stats.dead_letters, 0);
}

/// A PostgreSQL worker stages each batch while the one before it is in
/// flight. When the target refuses a value, the refused batch is written
/// again without its culprit before anything of the next batch is sent:
/// appended rows keep stream order, each lands once, and the stored offset
/// ends at the last entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_written_again_before_the_next_one_is_sent() {
    use wb_engine::pipeline::{ShardWorker, WorkerSettings};

    const EVENTS: &str = "wb:{0}:changes:events";
    const TOTAL: usize = 2000;
    // The target refuses every seq with this remainder (a CHECK constraint,
    // SQLSTATE 23514: a record error found only by the server).
    let refused = |seq: usize| seq % 37 == 5;
    let (config, target) = pg_target(
        "wb_pipeline_order",
        "CREATE TABLE events (id bigserial PRIMARY KEY, \
         seq bigint NOT NULL CHECK (seq % 37 <> 5));",
    )
    .await;

    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    cmd(&mut con, &["WB.JOB.SET", "events", "event:*"]);
    // Written before the worker starts, so that batches queue up and each
    // is staged while the one before it is in flight.
    for seq in 0..TOTAL {
        cmd(
            &mut con,
            &["HSET", &format!("event:{seq}"), "n", &seq.to_string()],
        );
    }
    let last_id = read_stream(&mut con, EVENTS, None)
        .last()
        .map(|e| e.id.clone())
        .expect("entries");

    let transform = mapper_with("events", "output target events append\nvalue seq n\n");
    let worker = ShardWorker {
        url: server.url(),
        jobs: std::sync::Arc::new([("events".to_owned(), transform)].into_iter().collect()),
        sink: PgSink::connect(config, &["events"]).await.expect("sink"),
        settings: WorkerSettings {
            read_batch_size: 100,
            block: Duration::from_millis(100),
            ..WorkerSettings::default()
        },
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let mut stored = None;
    for _ in 0..300 {
        stored = stored_offset(&target, "events").await;
        if stored.as_deref() == Some(last_id.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = stop_worker(&stop, running).await;
    assert_eq!(stored.as_deref(), Some(last_id.as_str()), "{stats:?}");

    let landed: Vec<usize> = target
        .rows("SELECT seq FROM events ORDER BY id")
        .await
        .into_iter()
        .map(|r| r[0].as_deref().and_then(|s| s.parse().ok()).expect("a seq"))
        .collect();
    let want: Vec<usize> = (0..TOTAL).filter(|&s| !refused(s)).collect();
    assert_eq!(landed.len(), want.len(), "each kept event lands once");
    assert_eq!(landed, want, "appended rows keep stream order");
    let dlq = read_stream(&mut con, "wb:{0}:dlq:events", None);
    let letters: Vec<String> = dlq
        .iter()
        .map(|e| String::from_utf8_lossy(e.field("key").unwrap_or_default()).into_owned())
        .collect();
    let want_letters: Vec<String> = (0..TOTAL)
        .filter(|&s| refused(s))
        .map(|s| format!("event:{s}"))
        .collect();
    assert_eq!(
        letters, want_letters,
        "exactly the refused events dead-lettered, in order"
    );
    let reason = String::from_utf8_lossy(dlq[0].field("reason").unwrap_or_default()).into_owned();
    assert!(reason.contains("23514"), "{reason}");
    assert_eq!(stats.dead_letters as usize, want_letters.len());
    assert_eq!(pending_count(&mut con, EVENTS), 0, "entries left pending");
}

/// A job whose target table lacks a column is found out while its batch is
/// staged, with another job's batch still in flight (its table locked by
/// another session, so its transaction waits). The batch in flight still
/// lands, once, before the session ends for the hold; the held job keeps its
/// entries pending, dead-letters nothing, and catches up once the column is
/// added. The other job goes on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_while_staging_lets_the_batch_in_flight_land_once() {
    use wb_engine::pipeline::{ShardWorker, WorkerSettings};

    const EVENTS: &str = "wb:{0}:changes:events";
    const ORDERS: &str = "wb:{0}:changes:orders";
    let (config, target) = pg_target(
        "wb_pipeline_held",
        "CREATE TABLE events (id bigserial PRIMARY KEY, seq bigint NOT NULL);
         CREATE TABLE orders (id text PRIMARY KEY);",
    )
    .await;

    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    cmd(&mut con, &["WB.JOB.SET", "events", "event:*"]);
    cmd(&mut con, &["WB.JOB.SET", "orders", "order:*"]);
    let jobs = [
        (
            "events".to_owned(),
            mapper_with("events", "output target events append\nvalue seq n\n"),
        ),
        (
            "orders".to_owned(),
            mapper_with(
                "orders",
                "output target orders upsert\nkey id key_part(1)\nvalue total t\n",
            ),
        ),
    ];
    let worker = ShardWorker {
        url: server.url(),
        jobs: std::sync::Arc::new(jobs.into_iter().collect()),
        sink: PgSink::connect(config, &["events", "orders"])
            .await
            .expect("sink"),
        settings: WorkerSettings {
            read_batch_size: 100,
            block: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..WorkerSettings::default()
        },
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    // In MULTI/EXEC, so that one read takes them all: one batch.
    let write_events = |con: &mut Connection, seqs: std::ops::Range<usize>| {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for seq in seqs {
            pipe.cmd("HSET")
                .arg(format!("event:{seq}"))
                .arg("n")
                .arg(seq)
                .ignore();
        }
        let () = pipe.query(con).expect("HSET events");
    };
    let events_landed = async || {
        target
            .rows("SELECT seq FROM events ORDER BY id")
            .await
            .into_iter()
            .map(|r| r[0].as_deref().and_then(|s| s.parse().ok()).expect("a seq"))
            .collect::<Vec<usize>>()
    };
    // A first event, so the events statements are prepared before the lock.
    write_events(&mut con, 0..1);
    for _ in 0..300 {
        if events_landed().await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(events_landed().await, [0], "the first event");

    // Another session locks `events` against writes (SHARE: reads go on):
    // the next events batch, once sent, waits in flight.
    let (locker, locker_conn) = tokio_postgres::connect(&pg_conninfo(), tokio_postgres::NoTls)
        .await
        .expect("a second PostgreSQL session");
    tokio::spawn(locker_conn);
    let TargetDb::Postgres(schema) = &target else {
        unreachable!("a PostgreSQL target")
    };
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{}\".events IN SHARE MODE",
            schema.name
        ))
        .await
        .expect("lock events");
    write_events(&mut con, 1..50);
    let mut rcon = server.connection();
    assert!(
        wb_tests::wait_until(Duration::from_secs(15), || pending_count(&mut rcon, EVENTS)
            == 49),
        "the events batch was not read"
    );
    // The orders batch is read, prepared and handed to the writer, which
    // stages it (and finds the column missing) while events are in flight.
    let mut pipe = redis::pipe();
    pipe.atomic();
    for n in 0..10 {
        pipe.cmd("HSET")
            .arg(format!("order:{n}"))
            .arg("t")
            .arg(n)
            .ignore();
    }
    let () = pipe.query(&mut con).expect("HSET orders");
    assert!(
        wb_tests::wait_until(Duration::from_secs(15), || pending_count(&mut rcon, ORDERS)
            == 10),
        "the orders batch was not read"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        events_landed().await,
        [0],
        "events written through the lock"
    );
    locker.batch_execute("COMMIT").await.expect("unlock events");

    // Events go on while orders are held; each event lands once.
    write_events(&mut con, 50..80);
    for _ in 0..300 {
        if events_landed().await.len() >= 80 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        events_landed().await,
        (0..80).collect::<Vec<_>>(),
        "every event once, in order"
    );
    let state: Option<String> = redis::cmd("HGET")
        .arg("wb:{0}:status:orders")
        .arg("state")
        .query(&mut con)
        .expect("HGET state");
    let state = state.unwrap_or_default();
    assert!(
        state.starts_with("held: ") && state.contains("total"),
        "orders not held for the missing column: {state:?}"
    );
    assert_eq!(pending_count(&mut con, ORDERS), 10, "held entries pending");
    assert!(read_stream(&mut con, "wb:{0}:dlq:orders", None).is_empty());

    // The column is added: orders catch up by themselves.
    target
        .rows("ALTER TABLE orders ADD COLUMN total text")
        .await;
    let orders_sql = "SELECT id, total FROM orders ORDER BY id";
    let want: Vec<TextRow> = (0..10)
        .map(|n| vec![Some(n.to_string()), Some(n.to_string())])
        .collect();
    for _ in 0..300 {
        if target.rows(orders_sql).await == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = stop_worker(&stop, running).await;
    assert_eq!(target.rows(orders_sql).await, want, "{stats:?}");
    assert!(stats.holds > 0, "{stats:?}");
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
    assert_eq!(events_landed().await, (0..80).collect::<Vec<_>>());
    assert_eq!(pending_count(&mut con, EVENTS), 0);
    assert_eq!(pending_count(&mut con, ORDERS), 0);
}
