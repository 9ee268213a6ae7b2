//! `wb-engine status`, `pause`, `resume` and `jobs`: the engine's counters
//! in Redis after a run, a paused job's changes gathering in its stream
//! while another job on the same worker goes on, the catch-up on resume,
//! and the capture module's job table listed, described and edited.

use std::time::{Duration, Instant};

use serde_json::Value;
use wb_tests::pg_cluster::OwnPostgres;
use wb_tests::workload::write_project;
use wb_tests::{redis, shared_server, PgSchema, TempDir, TextRow};

use crate::{stderr, stdout, wait_for_jobs, wb, Engine};

fn run(url: &str, args: &[&str]) -> std::process::Output {
    wb(args, &[("WB_REDIS_URL", url)])
}

/// `wb-engine status JOB --json`: the job's one row.
fn status(url: &str, job: &str) -> Value {
    let output = run(url, &["status", job, "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&output)).expect("a JSON array");
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().expect("one row")
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn job(pattern: &str, schema: &str, table: &str) -> String {
    format!(
        "source: {{redis: {{key_pattern: '{pattern}'}}}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      schema: {schema}\n      table: {table}\n      keys: [{{id: key_part(1)}}]\n      mapping: [name]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_a_run_and_pause_holds_writes_until_resume() {
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let pg = PgSchema::create(
        "cli_status",
        "CREATE TABLE held (id text PRIMARY KEY, name varchar(5));
         CREATE TABLE other (id text PRIMARY KEY, name text)",
    )
    .await;
    let dir = TempDir::new("status");
    let held = job("sth:*", &pg.name, "held");
    let other = job("sto:*", &pg.name, "other");
    write_project(
        dir.path(),
        "    type: postgresql\n    host: 127.0.0.1\n    port: 5432\n    database: test\n    user: postgres\n",
        &[("stheld", &held), ("stother", &other)],
        100,
    );
    let engine = Engine::start(dir.path(), &url, &[]);
    wait_for_jobs(&mut con, &["stheld", "stother"]);
    for (key, name) in [("sth:1", "Ann"), ("sth:2", "Bob"), ("sth:3", "Bartholomew")] {
        wb_tests::cmd(&mut con, &["HSET", key, "name", name]);
    }
    let held_rows = "SELECT id, name FROM held ORDER BY id";
    let other_rows = "SELECT id, name FROM other ORDER BY id";
    let row =
        |id: &str, name: &str| -> TextRow { vec![Some(id.to_owned()), Some(name.to_owned())] };
    wait_for(
        "3 changes read",
        async || status(&url, "stheld")["read"] == 3,
        || engine.log(),
    )
    .await;
    assert_eq!(pg.rows(held_rows).await, [row("1", "Ann"), row("2", "Bob")]);
    let s = status(&url, "stheld");
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["written"], 2, "{s}");
    assert_eq!(s["rejected"], 1, "{s}");
    // The rejected change's row is not counted.
    assert_eq!(s["rows_upserted"], 2, "{s}");
    assert_eq!(s["rows_deleted"], 0, "{s}");
    assert_eq!(s["pending"], 0, "{s}");
    assert_eq!(s["lag_ms"], 0, "{s}");
    assert_eq!(s["shard"], "0", "{s}");
    assert_eq!(s["stream"], "wb:{0}:changes:stheld", "{s}");
    assert!(s["batches"].as_u64().is_some_and(|b| b >= 1), "{s}");
    assert!(
        s["last_batch_ms"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "{s}"
    );
    assert_eq!(s["rate"], Value::Null, "{s}");
    // The table, with a header and a line per job.
    let output = run(&url, &["status", "stheld", "stother"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("JOB  "), "{out}");
    let held_line: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        held_line,
        [
            "stheld",
            "0",
            "running",
            &s["length"].to_string(),
            "0",
            "0s",
            "3",
            "2",
            "1",
            &s["batches"].to_string(),
            "-"
        ],
        "{out}"
    );

    // Paused: its changes gather in the stream; the other job goes on.
    let output = run(&url, &["pause", "stheld"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("paused job 'stheld'"),
        "{}",
        stdout(&output)
    );
    assert_eq!(status(&url, "stheld")["state"], "paused");
    // The worker looks at the flag at most every 500 ms, and says when it
    // has seen it.
    wait_for(
        "the worker to see the pause",
        async || {
            engine
                .log()
                .lines()
                .any(|line| line.contains("job paused") && line.contains("stheld"))
        },
        || engine.log(),
    )
    .await;
    let length_before = status(&url, "stheld")["length"].as_u64().expect("length");
    wb_tests::cmd(&mut con, &["HSET", "sth:4", "name", "Dee"]);
    wb_tests::cmd(&mut con, &["HSET", "sto:1", "name", "Eve"]);
    wait_for(
        "the other job's row",
        async || pg.rows(other_rows).await == [row("1", "Eve")],
        || engine.log(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        pg.rows(held_rows).await,
        [row("1", "Ann"), row("2", "Bob")],
        "a paused job wrote"
    );
    let s = status(&url, "stheld");
    assert_eq!(s["state"], "paused", "{s}");
    assert_eq!(s["paused"], true, "{s}");
    assert_eq!(s["read"], 3, "{s}");
    assert_eq!(s["length"].as_u64(), Some(length_before + 1), "{s}");
    assert!(s["lag_ms"].as_u64().is_some_and(|l| l > 0), "{s}");

    // Resumed: it catches up.
    let output = run(&url, &["resume", "stheld"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    wait_for(
        "the held row",
        async || pg.rows(held_rows).await.len() == 3,
        || engine.log(),
    )
    .await;
    assert_eq!(pg.rows(held_rows).await[2], row("4", "Dee"));
    let log = engine.log();
    assert!(
        log.lines()
            .any(|line| line.contains("job resumed") && line.contains("stheld")),
        "the resume is not in the log:\n{log}"
    );
    wait_for(
        "4 changes read",
        async || status(&url, "stheld")["read"] == 4,
        || engine.log(),
    )
    .await;
    let s = status(&url, "stheld");
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["pending"], 0, "{s}");
    assert_eq!(s["lag_ms"], 0, "{s}");

    let (stopped, log) = engine.stop();
    assert!(stopped, "{log}");
    assert_eq!(status(&url, "stheld")["state"], "stopped");

    // A job nobody registered: an error that names those that are.
    let output = run(&url, &["status", "no-such-job"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("job 'no-such-job' is not registered"),
        "{}",
        stderr(&output)
    );
    let output = run(&url, &["pause", "no-such-job"]);
    assert_eq!(output.status.code(), Some(1));
}

/// A job whose target does not match it (its table missing, then a column)
/// is held: its changes stay pending, none is dead-lettered, its status
/// says why, and the other job on the same worker goes on. Once the target
/// is fixed, it catches up by itself, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_table_is_missing_is_held_until_it_is_created() {
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let pg = PgSchema::create(
        "cli_held",
        "CREATE TABLE other (id text PRIMARY KEY, name text)",
    )
    .await;
    let dir = TempDir::new("held");
    let late = job("hl:*", &pg.name, "late");
    let other = job("ho:*", &pg.name, "other");
    write_project(
        dir.path(),
        "    type: postgresql\n    host: 127.0.0.1\n    port: 5432\n    database: test\n    user: postgres\n",
        &[("hlate", &late), ("hother", &other)],
        100,
    );
    let engine = Engine::start(dir.path(), &url, &[]);
    wait_for_jobs(&mut con, &["hlate", "hother"]);
    for n in 1..=50 {
        wb_tests::cmd(
            &mut con,
            &["HSET", &format!("hl:{n}"), "name", &format!("L{n}")],
        );
    }
    let late_state = async || {
        status(&url, "hlate")["state"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    wait_for(
        "the job held",
        async || late_state().await.starts_with("held: "),
        || engine.log(),
    )
    .await;
    let state = late_state().await;
    assert!(
        state.contains("late") && state.contains("does not exist"),
        "{state}"
    );
    assert!(
        engine.log().contains("holding the job"),
        "the log says nothing of the held job:\n{}",
        engine.log()
    );
    // The other job goes on meanwhile.
    wb_tests::cmd(&mut con, &["HSET", "ho:1", "name", "Eve"]);
    let row =
        |id: &str, name: &str| -> TextRow { vec![Some(id.to_owned()), Some(name.to_owned())] };
    let other_rows = "SELECT id, name FROM other ORDER BY id";
    wait_for(
        "the other job's row",
        async || pg.rows(other_rows).await == [row("1", "Eve")],
        || engine.log(),
    )
    .await;
    assert_eq!(status(&url, "hother")["state"], "running");

    // The table, but without the job's column: still held, for that.
    pg.client
        .batch_execute("CREATE TABLE late (id text PRIMARY KEY)")
        .await
        .expect("CREATE TABLE late");
    wait_for(
        "the job held for its missing column",
        async || late_state().await.contains("no column name"),
        || engine.log(),
    )
    .await;
    let s = status(&url, "hlate");
    assert_eq!(s["written"], Value::from(0), "{s}");
    assert!(s["pending"].as_u64().is_some_and(|p| p > 0), "{s}");
    let dead = wb_tests::read_stream(&mut con, "wb:{0}:dlq:hlate", None);
    assert!(
        dead.is_empty(),
        "changes dead-lettered for a target fault: {dead:?}"
    );

    // Fixed: it catches up, every change once, nothing dead-lettered.
    pg.client
        .batch_execute("ALTER TABLE late ADD COLUMN name text")
        .await
        .expect("ALTER TABLE late");
    let late_rows = "SELECT count(*) FROM late";
    wait_for(
        "the held job's 50 rows",
        async || pg.rows(late_rows).await == [vec![Some("50".to_owned())]],
        || engine.log(),
    )
    .await;
    wait_for(
        "the held job running",
        async || late_state().await == "running",
        || engine.log(),
    )
    .await;
    let s = status(&url, "hlate");
    assert_eq!(s["pending"], 0, "{s}");
    assert_eq!(s["rejected"], 0, "{s}");
    assert_eq!(s["read"], 50, "{s}");
    assert_eq!(
        pg.rows("SELECT name FROM late WHERE id = '17'").await,
        [vec![Some("L17".to_owned())]]
    );
    assert!(wb_tests::read_stream(&mut con, "wb:{0}:dlq:hlate", None).is_empty());
    let (stopped, log) = engine.stop();
    assert!(stopped, "{log}");
}

/// A target that is down when the engine starts is waited for (the job's
/// status says so) and written to once it is up; the password, given
/// through the environment, appears nowhere in the log or the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_at_start_is_waited_for_and_no_secret_is_shown() {
    const SECRET: &str = "s3cret-pw-94127";
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let mut pg = OwnPostgres::start();
    let (client, connection) = tokio_postgres::connect(&pg.conninfo(), tokio_postgres::NoTls)
        .await
        .expect("connect to the test's own PostgreSQL");
    tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE down (id text PRIMARY KEY, name text)")
        .await
        .expect("CREATE TABLE down");
    drop(client);
    pg.stop();

    let dir = TempDir::new("down");
    write_project(
        dir.path(),
        &format!(
            "    type: postgresql\n    host: 127.0.0.1\n    port: {}\n    database: postgres\n    user: postgres\n    password: ${{WB_TEST_DOWN_PASSWORD}}\n",
            pg.port
        ),
        &[("hdown", &job("hd:*", "public", "down"))],
        100,
    );
    let engine = Engine::start(
        dir.path(),
        &url,
        &[("WB_TEST_DOWN_PASSWORD", std::ffi::OsStr::new(SECRET))],
    );
    wait_for_jobs(&mut con, &["hdown"]);
    for n in 1..=20 {
        wb_tests::cmd(
            &mut con,
            &["HSET", &format!("hd:{n}"), "name", &format!("D{n}")],
        );
    }
    let state = async || {
        status(&url, "hdown")["state"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    wait_for(
        "the job waiting for its target",
        async || {
            state()
                .await
                .starts_with("retrying: connecting to the target")
        },
        || engine.log(),
    )
    .await;
    let waiting = run(&url, &["status", "hdown", "--json"]);
    assert!(
        engine.log().contains("the target cannot be reached"),
        "{}",
        engine.log()
    );

    pg.start_again();
    let (client, connection) = tokio_postgres::connect(&pg.conninfo(), tokio_postgres::NoTls)
        .await
        .expect("connect again");
    tokio::spawn(connection);
    wait_for(
        "the 20 rows",
        async || {
            let count: i64 = client
                .query_one("SELECT count(*) FROM down", &[])
                .await
                .map_or(0, |row| row.get(0));
            count == 20
        },
        || engine.log(),
    )
    .await;
    wait_for(
        "the job running",
        async || state().await == "running",
        || engine.log(),
    )
    .await;
    let running = run(&url, &["status", "hdown"]);
    let (stopped, log) = engine.stop();
    assert!(stopped, "{log}");
    for (what, text) in [
        ("the engine's log", log),
        ("status while waiting", stdout(&waiting)),
        ("status once running", stdout(&running)),
    ] {
        assert!(!text.is_empty(), "{what} is empty");
        assert!(!text.contains(SECRET), "{what} shows the password:\n{text}");
    }
}

#[test]
fn jobs_lists_describes_and_removes_what_the_capture_module_tracks() {
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let dir = TempDir::new("jobs");
    write_project(
        dir.path(),
        "    type: sqlite\n    path: target.db\n",
        &[
            ("jobslisted", "source: {redis: {key_pattern: 'jl:*'}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: listed\n      keys: [{id: key_part(1)}]\n      mapping: [name]\n"),
            ("jobsfileonly", "source: {redis: {key_pattern: 'jf:*'}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: fileonly\n      keys: [{id: key_part(1)}]\n      mapping: [name]\n"),
        ],
        100,
    );
    let _: String = redis::cmd("WB.JOB.SET")
        .arg("jobslisted")
        .arg("jl:*")
        .arg("EXCLUDE")
        .arg("expired")
        .query(&mut con)
        .expect("WB.JOB.SET");
    let dir_arg = dir.path().to_str().expect("utf-8");

    let output = run(&url, &["jobs", "list", "--json", "--dir", dir_arg]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let jobs: Vec<Value> = serde_json::from_str(&stdout(&output)).expect("a JSON array");
    let listed = jobs
        .iter()
        .find(|j| j["name"] == "jobslisted")
        .expect("jobslisted listed");
    assert_eq!(listed["pattern"], "jl:*");
    assert_eq!(listed["excluded"], serde_json::json!(["expired"]));
    assert_eq!(listed["stream"], "wb:{0}:changes:jobslisted");
    assert_eq!(listed["registered"], true);
    assert_eq!(listed["state"], "idle");
    assert!(listed["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("jobslisted.yaml")));
    let file_only = jobs
        .iter()
        .find(|j| j["name"] == "jobsfileonly")
        .expect("jobsfileonly listed");
    assert_eq!(file_only["registered"], false);
    let output = run(&url, &["jobs", "list"]);
    assert!(
        stdout(&output).contains("jobslisted  jl:*  wb:{0}:changes:jobslisted  idle\n"),
        "{}",
        stdout(&output)
    );

    // status --live: a sample a second, rates from the second on, until
    // SIGINT.
    let mut live = std::process::Command::new(env!("CARGO_BIN_EXE_wb-engine"))
        .args(["status", "jobslisted", "--live", "--json"])
        .env("WB_REDIS_URL", &url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wb-engine status --live starts");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        live.stdout.take().expect("its stdout"),
    ));
    let mut sample = || -> Value {
        let line = lines.next().expect("a sample").expect("a line");
        let rows: Vec<Value> = serde_json::from_str(&line).expect("a JSON array per line");
        rows.into_iter().next().expect("one row")
    };
    let first = sample();
    let second = sample();
    assert_eq!(first["rate"], Value::Null, "{first}");
    assert_eq!(second["rate"], 0.0, "{second}");
    assert_eq!(second["state"], "idle", "{second}");
    let _ = std::process::Command::new("kill")
        .arg("-INT")
        .arg(live.id().to_string())
        .status();
    assert!(live.wait().expect("it exits").success());

    let output = run(&url, &["jobs", "describe", "jobslisted", "--dir", dir_arg]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    for line in [
        "job: jobslisted",
        "source pattern: jl:*",
        "output: listed (connection target)",
        "registered pattern: jl:*",
        "excluded events: expired",
        "stream: wb:{0}:changes:jobslisted (0 entries, 0 pending)",
        "state: idle",
    ] {
        assert!(out.lines().any(|l| l == line), "no line {line:?} in\n{out}");
    }
    let output = run(
        &url,
        &["jobs", "describe", "jobsfileonly", "--dir", dir_arg],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("registered: no"),
        "{}",
        stdout(&output)
    );

    let output = run(&url, &["jobs", "remove", "jobslisted"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let jobs: Vec<(String, redis::Value, redis::Value, redis::Value)> = redis::cmd("WB.JOB.LIST")
        .query(&mut con)
        .expect("WB.JOB.LIST");
    assert!(jobs.iter().all(|(name, ..)| name != "jobslisted"));
    // Removed, its keys' changes are no longer recorded.
    wb_tests::cmd(&mut con, &["HSET", "jl:1", "name", "Ann"]);
    let length: usize = redis::cmd("XLEN")
        .arg("wb:{0}:changes:jobslisted")
        .query(&mut con)
        .expect("XLEN");
    assert_eq!(length, 0);
    let output = run(&url, &["jobs", "remove", "jobslisted"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("job 'jobslisted' is not registered"),
        "{}",
        stderr(&output)
    );
    let output = run(&url, &["jobs", "describe", "jobslisted"]);
    assert_eq!(output.status.code(), Some(1));
}
