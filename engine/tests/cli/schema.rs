//! `wb-engine schema`: the statements it prints create the tables that the
//! engine then writes into, for every kind of job (a row per hash, JSON
//! with a normalised array, set members, sorted-set members with scores,
//! an append history), in SQLite and in PostgreSQL.

use std::path::Path;
use std::time::Duration;

use wb_tests::workload::{self, EVENTS_JOB, JOBS};
use wb_tests::{redis, Flavor, PgSchema, Rng, Server, ServerOptions, TargetDb, TempDir, TextRow};

use crate::{stderr, stdout, wait_for_jobs, wb, Engine};

/// Keys per type the random writes touch.
const KEYS: u64 = 100;
/// Append events written, one per key.
const EVENTS: usize = 50;

fn schema(dir: &Path, job: &str, extra: &[&str]) -> String {
    let mut args = vec!["schema", job, "--dir", dir.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let output = wb(&args, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "schema {job}: {}",
        stderr(&output)
    );
    stdout(&output)
}

fn all_jobs() -> Vec<(&'static str, &'static str)> {
    JOBS.iter().copied().chain([EVENTS_JOB]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_creates_the_sqlite_tables_each_kind_of_job_writes_into() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let dir = TempDir::new("schema-lite");
    let jobs = all_jobs();
    workload::write_project(
        dir.path(),
        "    type: sqlite\n    path: target.db\n",
        &jobs,
        500,
    );
    let mut ddl = String::new();
    for (job, _) in &jobs {
        ddl.push_str(&schema(dir.path(), job, &[]));
    }
    for expected in [
        "CREATE TABLE \"customers\" (\n    \"id\" TEXT NOT NULL,\n    \"name\" TEXT,",
        "PRIMARY KEY (\"id\")",
        "CREATE INDEX \"order_lines_order_id_idx\" ON \"order_lines\" (\"order_id\");",
        "CREATE INDEX \"tags_id_idx\" ON \"tags\" (\"id\");",
        "\"score\" REAL\n);",
        "-- events (connection 'target', SQLite): load_strategy append",
    ] {
        assert!(ddl.contains(expected), "{expected:?} not in:\n{ddl}");
    }
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create the SQLite file")
        .execute_batch(&ddl)
        .unwrap_or_else(|e| panic!("the statements do not run: {e}\n{ddl}"));
    exercise(&server, dir.path(), TargetDb::Sqlite(db), 0x5c4e_0001).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_creates_the_postgres_tables_each_kind_of_job_writes_into() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let dir = TempDir::new("schema-pg");
    let pg = PgSchema::create("cli_schema", "").await;
    let with_schema: Vec<(&str, String)> = all_jobs()
        .into_iter()
        .map(|(name, yaml)| {
            let yaml = yaml.replace(
                "      table: ",
                &format!("      schema: {}\n      table: ", pg.name),
            );
            (name, yaml)
        })
        .collect();
    let jobs: Vec<(&str, &str)> = with_schema.iter().map(|(n, y)| (*n, y.as_str())).collect();
    workload::write_project(
        dir.path(),
        "    type: postgresql\n    host: 127.0.0.1\n    port: 5432\n    database: test\n    user: postgres\n",
        &jobs,
        500,
    );
    let mut ddl = String::new();
    for (job, _) in &jobs {
        ddl.push_str(&schema(dir.path(), job, &[]));
    }
    let qualified = format!("\"{}\".\"scores\"", pg.name);
    for expected in [
        format!(
            "CREATE TABLE \"{}\".\"customers\" (\n    \"id\" text NOT NULL,",
            pg.name
        ),
        format!("CREATE INDEX \"scores_id_idx\" ON {qualified} (\"id\");"),
        "\"score\" double precision\n);".to_owned(),
    ] {
        assert!(ddl.contains(&expected), "{expected:?} not in:\n{ddl}");
    }
    pg.client
        .batch_execute(&ddl)
        .await
        .unwrap_or_else(|e| panic!("the statements do not run: {e}\n{ddl}"));
    exercise(&server, dir.path(), TargetDb::Postgres(pg), 0x5c4e_0002).await;
}

/// Runs the engine on the project while a random workload and some events
/// are written, and checks every table against Redis, with nothing
/// dead-lettered (every value fits its column).
async fn exercise(server: &Server, project: &Path, db: TargetDb, seed: u64) {
    let mut con = server.connection();
    let engine = Engine::start(project, &server.url(), &[]);
    let names: Vec<&str> = all_jobs().iter().map(|(n, _)| *n).collect();
    wait_for_jobs(&mut con, &names);
    let mut rng = Rng(seed);
    workload::random_writes(&mut con, &mut rng, 3000, KEYS);
    workload::settle_expiries(&mut con, KEYS);
    let mut pipe = redis::pipe();
    for n in 0..EVENTS {
        pipe.cmd("HSET")
            .arg(format!("ev:{n}"))
            .arg("kind")
            .arg("click")
            .arg("amount")
            .arg(n)
            .ignore();
    }
    let _: () = pipe.query(&mut con).expect("HSET events");
    let converged = workload::converge(&db, &mut con, Duration::from_secs(90)).await;
    let want_events: Vec<TextRow> = {
        let mut rows: Vec<TextRow> = (0..EVENTS)
            .map(|n| {
                vec![
                    Some(n.to_string()),
                    Some("click".to_owned()),
                    Some(n.to_string()),
                ]
            })
            .collect();
        rows.sort();
        rows
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while workload::events(&db).await != want_events && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, log) = engine.stop();
    converged.unwrap_or_else(|e| panic!("{e}\nengine log:\n{log}"));
    assert_eq!(workload::events(&db).await, want_events, "{log}");
    for (job, _) in all_jobs() {
        let dead: usize = redis::cmd("XLEN")
            .arg(format!("wb:{{0}}:dlq:{job}"))
            .query(&mut con)
            .expect("XLEN");
        assert_eq!(dead, 0, "dead letters of {job}:\n{log}");
    }
    assert!(ok, "wb-engine did not exit 0 on SIGTERM:\n{log}");
}
