//! Fault injection: faults on servers the test starts itself (its own
//! PostgreSQL cluster from initdb/pg_ctl, its own Valkey), never on the
//! machine's shared services. Each scenario is seeded, bounded in time,
//! asserts that nothing is lost and prints its figures (`--nocapture`).
//!
//! - PostgreSQL stopped under load and started again: the worker retries,
//!   catches up, the target equals Redis row for row, nothing dead-lettered.
//! - 1% of changes carry a value the target rejects: exactly those keys are
//!   dead-lettered, with reasons; everything else is committed.
//! - The same key updated, deleted and recreated in one MULTI ends in its
//!   final state.
//! - Redis (appendonly) restarted under the four-type workload.
//! - A replica promoted (REPLICAOF NO ONE) while the worker runs against
//!   it: every change replicated before the promotion is written.
//! - A transform that traps, one that loops forever and one that exhausts
//!   its memory, each on specific keys: only those keys are dead-lettered,
//!   and the worker's pace afterwards is what it was before.
//!
//! The SIGKILL scenario needs the engine binary and lives with the other
//! kill test in `engine/tests/kill.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{drained, settings, unfinished, Running};
use wb_engine::sink::postgres::{PgConfig, PgSink};
use wb_engine::transform::{Limits, WasmHost};
use wb_tests::pg_cluster::OwnPostgres;
use wb_tests::workload::{self, JOBS};
use wb_tests::{
    guests, pending_count, read_stream, redis, Flavor, PgSchema, Rng, Server, ServerOptions,
    TargetDb, TextRow,
};

/// Keys per type the random writes touch.
const KEYS: u64 = 300;

/// A PostgreSQL sink on `schema`, as `wb-engine run` opens one.
async fn pg_sink(schema: &PgSchema, tables: &[&str]) -> PgSink {
    let mut config = PgConfig::new(format!(
        "{} application_name={}",
        schema.conninfo(),
        schema.name
    ));
    config.schema = schema.name.clone();
    config.offsets_schema = schema.name.clone();
    PgSink::connect(config, tables)
        .await
        .expect("PostgreSQL sink")
}

fn pending(con: &mut redis::Connection, jobs: &[(&str, &str)]) -> i64 {
    jobs.iter()
        .map(|(job, _)| pending_count(con, &workload::stream(job)))
        .sum()
}

fn dlq_stream(job: &str) -> String {
    format!("wb:{{0}}:dlq:{job}")
}

/// Dead letters of `jobs`, in all.
fn dlq_count(con: &mut redis::Connection, jobs: &[(&str, &str)]) -> usize {
    jobs.iter()
        .map(|(job, _)| read_stream(con, &dlq_stream(job), None).len())
        .sum()
}

fn rows_in(tables: &workload::Tables) -> usize {
    tables.values().map(Vec::len).sum()
}

// ---------------------------------------------------------------------------
// 1. PostgreSQL stopped under load.

/// How long the cluster stays down.
const OUTAGE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_and_started_again_loses_nothing() {
    let seed = 0xfa17_0001;
    let started = Instant::now();
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    common::register(&mut con, &JOBS);
    let mut pg = OwnPostgres::start();
    let mut schema = PgSchema::create_on(&pg.conninfo(), "wb_faults", workload::DDL).await;
    let worker = Running::start(
        &server.url(),
        &JOBS,
        pg_sink(&schema, &workload::TABLES).await,
        settings(),
    );
    let mut rng = Rng(seed);
    let mut ops = workload::random_writes(&mut con, &mut rng, 3_000, KEYS);
    let deadline = Instant::now() + Duration::from_secs(60);
    while schema
        .rows("SELECT id FROM customers LIMIT 1")
        .await
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the worker wrote nothing in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Down under load: the writes go on while the target is gone.
    let down = Instant::now();
    pg.stop();
    ops += workload::random_writes(&mut con, &mut rng, 4_000, KEYS);
    if let Some(rest) = OUTAGE.checked_sub(down.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let outage = down.elapsed();
    let backlog = unfinished(&mut con, &JOBS);
    assert!(backlog > 0, "the outage left no backlog to catch up on");
    pg.start_again();
    let restarted = Instant::now();
    ops += workload::random_writes(&mut con, &mut rng, 2_000, KEYS);
    workload::settle_expiries(&mut con, KEYS);

    schema.reconnect().await;
    let db = TargetDb::Postgres(schema);
    let converged = workload::converge(&db, &mut con, Duration::from_secs(90)).await;
    let caught_up = drained(&mut con, &JOBS, Duration::from_secs(30)).await;
    let recovery = restarted.elapsed();
    let stats = worker.stop().await.expect("the worker stops cleanly");
    let want = converged.unwrap_or_else(|e| panic!("{e}\n(seed {seed:#x}, {stats:?})"));
    assert!(caught_up, "entries left unfinished: {stats:?}");
    assert_eq!(workload::actual(&db).await, want, "changed after the stop");
    assert_eq!(pending(&mut con, &JOBS), 0, "entries left pending");
    assert!(stats.retries > 0, "the outage was not noticed: {stats:?}");
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
    let dead = dlq_count(&mut con, &JOBS);
    assert_eq!(dead, 0, "dead letters after an outage");
    println!(
        "postgres outage (seed {seed:#x}): {ops} operations, 1 stop of {outage:.1?}, \
         {backlog} entries unfinished at the restart, {} retries, {} rows compared, \
         {dead} dead letters, caught up {recovery:.1?} after the restart, {:.1?} in all",
        stats.retries,
        rows_in(&want),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 2. Values the target rejects.

const ITEMS_DDL: &str = "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, \
                         qty BIGINT CHECK (qty >= 0));";

const ITEMS_JOB: (&str, &str) = (
    "items",
    r#"source:
  redis:
    key_pattern: "item:*"
output:
  - uses: relational.write
    with:
      connection: target
      table: items
      keys:
        - id: key_part(1)
      mapping:
        - name
        - qty
"#,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_values_go_to_the_dlq_and_the_rest_is_committed() {
    const ITEMS: usize = 3_000;
    let seed = 0xfa17_0002;
    let started = Instant::now();
    let jobs = [ITEMS_JOB];
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    common::register(&mut con, &jobs);
    let schema = PgSchema::create("wb_faults", ITEMS_DDL).await;
    let worker = Running::start(
        &server.url(),
        &jobs,
        pg_sink(&schema, &["items"]).await,
        settings(),
    );

    // About 1% of the keys get a value PostgreSQL refuses: half break the
    // CHECK constraint, half are not numbers.
    let mut rng = Rng(seed);
    let mut bad: BTreeMap<String, &str> = BTreeMap::new();
    let mut good: BTreeMap<String, (String, String)> = BTreeMap::new();
    for chunk in (0..ITEMS).collect::<Vec<_>>().chunks(100) {
        let mut pipe = redis::pipe();
        for &n in chunk {
            let id = n.to_string();
            let name = format!("item {n}");
            let qty = if rng.below(100) == 0 {
                let value = if bad.len().is_multiple_of(2) {
                    "-5"
                } else {
                    "lots"
                };
                bad.insert(id.clone(), value);
                value.to_owned()
            } else {
                let qty = rng.below(1000).to_string();
                good.insert(id.clone(), (name.clone(), qty.clone()));
                qty
            };
            pipe.cmd("HSET")
                .arg(format!("item:{n}"))
                .arg("name")
                .arg(&name)
                .arg("qty")
                .arg(qty)
                .ignore();
        }
        let _: () = pipe.query(&mut con).expect("HSET items");
    }
    assert!(
        bad.len() >= 10,
        "the seed chose too few bad values: {}",
        bad.len()
    );

    let caught_up = drained(&mut con, &jobs, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    let stats = worker.stop().await.expect("the worker stops cleanly");
    assert!(
        caught_up,
        "the stream blocked: {} entries unfinished; {stats:?}",
        unfinished(&mut con, &jobs)
    );
    assert_eq!(pending(&mut con, &jobs), 0, "entries left pending");

    let letters = read_stream(&mut con, &dlq_stream(ITEMS_JOB.0), None);
    let mut dead: BTreeSet<String> = BTreeSet::new();
    for letter in &letters {
        let key = String::from_utf8_lossy(letter.field("key").unwrap_or_default()).into_owned();
        let reason = String::from_utf8_lossy(letter.field("reason").unwrap_or_default());
        let id = key.trim_start_matches("item:").to_owned();
        assert!(
            bad.contains_key(&id),
            "{key} is dead-lettered but its value was fine: {reason}"
        );
        assert!(
            reason.contains("qty"),
            "the reason for {key} (qty {:?}) does not name the column: {reason}",
            bad[&id]
        );
        assert!(dead.insert(id), "{key} dead-lettered twice");
    }
    let want_dead: BTreeSet<String> = bad.keys().cloned().collect();
    assert_eq!(dead, want_dead, "exactly the bad keys are dead-lettered");
    assert_eq!(stats.dead_letters as usize, bad.len(), "{stats:?}");

    let mut want: Vec<TextRow> = good
        .iter()
        .map(|(id, (name, qty))| vec![Some(id.clone()), Some(name.clone()), Some(qty.clone())])
        .collect();
    want.sort();
    let mut got = schema.rows("SELECT id, name, qty FROM items").await;
    got.sort();
    assert_eq!(got.len(), want.len(), "rows committed");
    assert_eq!(got, want, "every good change committed as written");
    println!(
        "rejected values (seed {seed:#x}): {ITEMS} operations, {} bad values injected, \
         {} rows compared, {} dead letters, {} retries, drained in {elapsed:.1?}",
        bad.len(),
        got.len(),
        letters.len(),
        stats.retries
    );
}

// ---------------------------------------------------------------------------
// 3. Update, delete and recreate in one batch.

/// The commands of one MULTI for key number `n` of each type: an update,
/// a delete and a recreate (even `n`), or an update and a delete (odd `n`).
fn churn(pipe: &mut redis::Pipeline, n: u64) -> usize {
    let again = n.is_multiple_of(2);
    let h = format!("h:{n}");
    pipe.cmd("HSET").arg(&h).arg("name").arg("updated").ignore();
    pipe.cmd("DEL").arg(&h).ignore();
    if again {
        pipe.cmd("HSET")
            .arg(&h)
            .arg("name")
            .arg(format!("final {n}"))
            .arg("visits")
            .arg(n)
            .ignore();
    }
    let j = format!("j:{n}");
    pipe.cmd("JSON.SET")
        .arg(&j)
        .arg("$.status")
        .arg("\"updated\"")
        .ignore();
    pipe.cmd("DEL").arg(&j).ignore();
    if again {
        let doc = format!(
            r#"{{"customer":"c{n}","status":"final","qty":{n},"lines":[{{"sku":"s{n}","n":1}}]}}"#
        );
        pipe.cmd("JSON.SET").arg(&j).arg("$").arg(doc).ignore();
    }
    let s = format!("s:{n}");
    pipe.cmd("SADD").arg(&s).arg("updated").ignore();
    pipe.cmd("DEL").arg(&s).ignore();
    if again {
        pipe.cmd("SADD").arg(&s).arg("final").arg(n).ignore();
    }
    let z = format!("z:{n}");
    pipe.cmd("ZADD").arg(&z).arg(1).arg("updated").ignore();
    pipe.cmd("DEL").arg(&z).ignore();
    if again {
        pipe.cmd("ZADD").arg(&z).arg(n).arg("final").ignore();
    }
    if again {
        12
    } else {
        8
    }
}

/// Creates key `n` of each type.
fn create(pipe: &mut redis::Pipeline, n: u64) {
    pipe.cmd("HSET")
        .arg(format!("h:{n}"))
        .arg("name")
        .arg(format!("first {n}"))
        .arg("city")
        .arg("x")
        .ignore();
    let doc = format!(
        r#"{{"customer":"c{n}","status":"new","qty":1,"lines":[{{"sku":"a","n":2}},{{"sku":"b","n":3}}]}}"#
    );
    pipe.cmd("JSON.SET")
        .arg(format!("j:{n}"))
        .arg("$")
        .arg(doc)
        .ignore();
    pipe.cmd("SADD")
        .arg(format!("s:{n}"))
        .arg("a")
        .arg("b")
        .ignore();
    pipe.cmd("ZADD")
        .arg(format!("z:{n}"))
        .arg(1)
        .arg("a")
        .arg(2)
        .arg("b")
        .ignore();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_delete_recreate_in_one_batch_ends_in_the_final_state() {
    const N: u64 = 200;
    let started = Instant::now();
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    common::register(&mut con, &JOBS);
    let schema = PgSchema::create("wb_faults", workload::DDL).await;
    let sink = pg_sink(&schema, &workload::TABLES).await;
    let db = TargetDb::Postgres(schema);
    let big = wb_engine::pipeline::WorkerSettings {
        read_batch_size: 1000,
        ..settings()
    };
    let worker = Running::start(&server.url(), &JOBS, sink, big);
    let mut pipe = redis::pipe();
    for n in 0..N {
        create(&mut pipe, n);
    }
    let _: () = pipe.query(&mut con).expect("create the keys");
    let first = workload::converge(&db, &mut con, Duration::from_secs(60)).await;
    first.unwrap_or_else(|e| panic!("the first state: {e}"));

    // Each key's churn in one MULTI, so its commands are contiguous in
    // each stream and land in one batch.
    let mut ops = 0;
    for n in 0..N {
        let mut pipe = redis::pipe();
        pipe.atomic();
        ops += churn(&mut pipe, n);
        let _: () = pipe.query(&mut con).expect("MULTI/EXEC");
    }
    let converged = workload::converge(&db, &mut con, Duration::from_secs(60)).await;
    let stats = worker.stop().await.expect("the worker stops cleanly");
    let want = converged.unwrap_or_else(|e| panic!("{e}\n({stats:?})"));
    assert_eq!(want["customers"].len() as u64, N / 2, "recreated hashes");
    assert_eq!(
        want["tags"].len() as u64,
        N,
        "two members per recreated set"
    );
    assert!(
        want["customers"]
            .iter()
            .all(|row| row[1].as_deref().is_some_and(|n| n.starts_with("final"))),
        "a recreated key is not in its final state"
    );
    assert_eq!(pending(&mut con, &JOBS), 0);
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
    println!(
        "update/delete/recreate: {} keys churned in {N} MULTIs of {ops} commands in all, \
         {} rows compared, {} dead letters, {} batches, {:.1?}",
        4 * N,
        rows_in(&want),
        dlq_count(&mut con, &JOBS),
        stats.batches,
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 4. Redis restarted under the four-type workload.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_under_load_loses_nothing() {
    let seed = 0xfa17_0004;
    let started = Instant::now();
    let mut server = Server::start(ServerOptions::new(Flavor::Valkey).appendonly());
    let mut con = server.connection();
    common::register(&mut con, &JOBS);
    let schema = PgSchema::create("wb_faults", workload::DDL).await;
    let sink = pg_sink(&schema, &workload::TABLES).await;
    let db = TargetDb::Postgres(schema);
    let worker = Running::start(&server.url(), &JOBS, sink, settings());
    let mut rng = Rng(seed);
    let mut ops = 0;
    let restarts = 2;
    for _ in 0..restarts {
        ops += workload::random_writes(&mut con, &mut rng, 3_000, KEYS);
        // SHUTDOWN (the AOF keeps data, streams and the job table) and
        // start again on the same port, the worker mid-stream.
        drop(con);
        server.restart();
        con = server.connection();
    }
    let restarted = Instant::now();
    ops += workload::random_writes(&mut con, &mut rng, 3_000, KEYS);
    workload::settle_expiries(&mut con, KEYS);
    let converged = workload::converge(&db, &mut con, Duration::from_secs(90)).await;
    let caught_up = drained(&mut con, &JOBS, Duration::from_secs(30)).await;
    let recovery = restarted.elapsed();
    let stats = worker.stop().await.expect("the worker stops cleanly");
    let want = converged.unwrap_or_else(|e| panic!("{e}\n(seed {seed:#x}, {stats:?})"));
    assert!(caught_up, "entries left unfinished: {stats:?}");
    assert_eq!(pending(&mut con, &JOBS), 0);
    assert!(
        stats.retries > 0,
        "the restarts were not noticed: {stats:?}"
    );
    let dead = dlq_count(&mut con, &JOBS);
    assert_eq!(dead, 0, "dead letters after a Redis restart");
    println!(
        "redis restart (seed {seed:#x}): {ops} operations, {restarts} restarts, {} retries, \
         {} rows compared, {dead} dead letters, caught up {recovery:.1?} after the last \
         restart, {:.1?} in all",
        stats.retries,
        rows_in(&want),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 5. A replica promoted to primary while the engine runs against it.

/// Entries in every job stream, counted with XLEN.
fn stream_entries(con: &mut redis::Connection) -> usize {
    JOBS.iter()
        .map(|(job, _)| {
            redis::cmd("XLEN")
                .arg(workload::stream(job))
                .query::<usize>(con)
                .expect("XLEN")
        })
        .sum()
}

/// Waits until the replica holds every entry the primary's streams hold and
/// the primary has captured nothing new for a while, and returns that count.
/// One WAIT is not enough: a hash field past its time to live may be
/// reclaimed by the primary's active expiry after the workload's last
/// command (a read of its TTL already reports it gone), and the capture of
/// that removal lands in the stream after the WAIT.
fn replication_settled(
    primary: &mut redis::Connection,
    replica: &mut redis::Connection,
    timeout: Duration,
) -> usize {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        let on_primary = stream_entries(primary);
        let synced: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(5_000)
            .query(primary)
            .expect("WAIT");
        let on_replica = stream_entries(replica);
        if synced == 1 && on_replica == on_primary && last == Some(on_primary) {
            return on_primary;
        }
        assert!(
            Instant::now() < deadline,
            "replication did not settle: {on_primary} entries on the primary, \
             {on_replica} on the replica, WAIT answered {synced}"
        );
        last = Some(on_primary);
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_replica_delivers_what_was_replicated_before() {
    let seed = 0xfa17_0005;
    let started = Instant::now();
    let mut primary = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut options = ServerOptions::new(Flavor::Valkey);
    options.args.extend([
        "--replicaof".to_owned(),
        "127.0.0.1".to_owned(),
        primary.port.to_string(),
    ]);
    let replica = Server::start(options);
    let mut con = primary.connection();
    common::register(&mut con, &JOBS);
    let schema = PgSchema::create("wb_faults", workload::DDL).await;
    let sink = pg_sink(&schema, &workload::TABLES).await;
    let db = TargetDb::Postgres(schema);
    // The engine runs against the replica, which refuses its writes (group
    // creation, acknowledgements) until it is promoted.
    let worker = Running::start(&replica.url(), &JOBS, sink, settings());
    let mut rng = Rng(seed);
    let ops = workload::random_writes(&mut con, &mut rng, 4_000, KEYS);
    workload::settle_expiries(&mut con, KEYS);
    let mut rcon = replica.connection();
    let replicated = replication_settled(&mut con, &mut rcon, Duration::from_secs(20));
    assert!(replicated > 0, "nothing captured on the primary");
    // Nothing was read or acknowledged yet: the replica refuses XREADGROUP.
    assert_eq!(unfinished(&mut rcon, &JOBS), replicated);
    // The primary fails; the replica is promoted.
    drop(con);
    primary.kill();
    let promoted = Instant::now();
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut rcon)
        .expect("REPLICAOF NO ONE");
    // The entries are not counted again here: once promoted, the engine may
    // already have written, acknowledged and trimmed some (`MINID ~` drops
    // whole stream nodes of 100 entries). What the replica held was counted
    // before the primary died; the convergence below shows it all landed.

    let converged = workload::converge(&db, &mut rcon, Duration::from_secs(90)).await;
    let caught_up = drained(&mut rcon, &JOBS, Duration::from_secs(30)).await;
    let recovery = promoted.elapsed();
    let stats = worker.stop().await.expect("the worker stops cleanly");
    let want = converged.unwrap_or_else(|e| panic!("{e}\n(seed {seed:#x}, {stats:?})"));
    assert!(caught_up, "entries left unfinished: {stats:?}");
    assert_eq!(pending(&mut rcon, &JOBS), 0);
    let dead = dlq_count(&mut rcon, &JOBS);
    assert_eq!(dead, 0, "dead letters after the promotion");
    println!(
        "replica promotion (seed {seed:#x}): {ops} operations, {replicated} entries replicated, \
         {} retries, {} rows compared, {dead} dead letters, caught up {recovery:.1?} after \
         the promotion, {:.1?} in all",
        stats.retries,
        rows_in(&want),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 6. A transform that traps, loops or exhausts its memory on some keys.

/// The test guest (`engine/tests/guests/misbehave`): `user:<id>` hashes to
/// `users` rows; it panics on `trap:*`, never returns on `loop:*` and
/// allocates without bound on `oom:*`.
const MISBEHAVE: &str = "engine/tests/guests/misbehave";

/// Writes `count` hashes `user:<from..>` in pipelines of 100.
fn write_users(con: &mut redis::Connection, from: usize, count: usize) {
    for chunk in (from..from + count).collect::<Vec<_>>().chunks(100) {
        let mut pipe = redis::pipe();
        for n in chunk {
            pipe.cmd("HSET")
                .arg(format!("user:{n}"))
                .arg("name")
                .arg(format!("user {n}"))
                .ignore();
        }
        let _: () = pipe.query(con).expect("HSET users");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_that_traps_loops_or_exhausts_memory_rejects_only_those_keys() {
    const USERS: usize = 3_000;
    const JOB: &str = "misbehave";
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    let _: String = redis::cmd("WB.JOB.SET")
        .arg(JOB)
        .arg("*:*")
        .query(&mut con)
        .expect("WB.JOB.SET");
    let jobs = [(JOB, "")];
    let schema = PgSchema::create(
        "wb_faults",
        "CREATE TABLE users (id text PRIMARY KEY, name text, event text)",
    )
    .await;
    let deadline = Duration::from_millis(100);
    let memory_bytes = 32 << 20;
    let transform = WasmHost::new()
        .expect("wasm host")
        .load_file(
            JOB,
            &guests::build(MISBEHAVE),
            Vec::new(),
            Limits {
                memory_bytes,
                deadline,
                wall_clock: false,
            },
        )
        .expect("the guest loads");
    let worker = Running::with_transforms(
        &server.url(),
        [(JOB.to_owned(), transform)].into(),
        pg_sink(&schema, &["users"]).await,
        settings(),
    );

    // A clean run, for the worker's pace; then the same with the bad keys
    // among the users; then clean again.
    let mut paces = Vec::new();
    let bad: BTreeMap<String, &str> = [
        ("trap:1", "told to trap on trap:1"),
        ("trap:2", "told to trap on trap:2"),
        ("loop:1", "ran longer than 100 ms"),
        ("loop:2", "ran longer than 100 ms"),
        ("oom:1", "more than 33554432 bytes of memory"),
        ("oom:2", "more than 33554432 bytes of memory"),
    ]
    .into_iter()
    .map(|(k, why)| (k.to_owned(), why))
    .collect();
    for round in 0..3 {
        let started = Instant::now();
        if round == 1 {
            write_users(&mut con, USERS, USERS / 2);
            for key in bad.keys() {
                wb_tests::cmd(&mut con, &["HSET", key, "name", "bad"]);
            }
            write_users(&mut con, USERS + USERS / 2, USERS / 2);
        } else {
            write_users(&mut con, round * USERS, USERS);
        }
        let caught_up = drained(&mut con, &jobs, Duration::from_secs(120)).await;
        assert!(
            caught_up,
            "round {round}: the stream blocked ({} entries unfinished)",
            unfinished(&mut con, &jobs)
        );
        paces.push(USERS as f64 / started.elapsed().as_secs_f64());
    }
    let stats = worker.stop().await.expect("the worker stops cleanly");
    assert_eq!(pending(&mut con, &jobs), 0, "entries left pending");

    let letters = read_stream(&mut con, &dlq_stream(JOB), None);
    let mut dead = BTreeMap::new();
    for letter in &letters {
        let key = String::from_utf8_lossy(letter.field("key").unwrap_or_default()).into_owned();
        let reason = String::from_utf8_lossy(letter.field("reason").unwrap_or_default());
        let stage = String::from_utf8_lossy(letter.field("stage").unwrap_or_default());
        assert_eq!(stage, "transform", "{key}: {reason}");
        let Some(why) = bad.get(&key) else {
            panic!("{key} is dead-lettered but the guest maps it: {reason}");
        };
        assert!(
            reason.contains(why),
            "{key}: the reason does not say {why:?}: {reason}"
        );
        assert!(
            dead.insert(key, reason.into_owned()).is_none(),
            "dead-lettered twice"
        );
    }
    assert_eq!(
        dead.keys().collect::<Vec<_>>(),
        bad.keys().collect::<Vec<_>>(),
        "exactly the misbehaving keys are dead-lettered"
    );
    let rows = schema.rows("SELECT count(*) FROM users").await;
    assert_eq!(
        rows,
        [vec![Some((3 * USERS).to_string())]],
        "users committed"
    );
    assert_eq!(
        schema
            .rows("SELECT name FROM users WHERE id = '4567'")
            .await,
        [vec![Some("user 4567".to_owned())]]
    );
    println!(
        "misbehaving transform: {} changes, {} trapping, looping or exhausting memory \
         ({deadline:?} deadline, {} MiB cap), {} dead letters, {} rows compared; \
         changes/s before {:.0}, with the bad keys {:.0}, after {:.0}; {} batches",
        3 * USERS + bad.len(),
        bad.len(),
        memory_bytes >> 20,
        letters.len(),
        3 * USERS,
        paces[0],
        paces[1],
        paces[2],
        stats.batches
    );
}
