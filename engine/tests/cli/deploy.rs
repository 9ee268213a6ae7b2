//! `wb-engine deploy` and `wb-engine run` without `--dir`: the deployment
//! stored in Redis, an engine that waits for it, runs it and follows each
//! new deploy while changes keep coming (nothing lost, nothing appended
//! twice), a deployment that cannot run on the engine's machine refused
//! while the running one goes on, a password in clear refused, a deploy
//! cut off before registering mended by deploying again, and a server
//! without the capture module refused before anything is stored.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wb_tests::{redis, sqlite_rows, Flavor, Server, ServerOptions, TempDir};

use crate::{stderr, stdout, wb, Engine};

const DEPLOYMENT: &str = "wb:{0}:deployment";

fn items_job(mapping: &str) -> String {
    format!(
        "source: {{redis: {{key_pattern: 'item:*'}}}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: items\n      keys: [{{id: key_part(1)}}]\n      mapping: {mapping}\n"
    )
}

const EVENTS_JOB: &str = "source: {redis: {key_pattern: 'ev:*'}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: events\n      keys: [{id: key_part(1)}]\n      mapping: [kind]\n      load_strategy: append\n";

/// A project writing into the SQLite file `db` (an absolute path: an
/// engine running a deployment takes relative ones from its working
/// directory), with the jobs given.
fn project(dir: &Path, path: &str, jobs: &[(&str, &str)]) {
    let jobs_dir = dir.join("jobs");
    let _ = std::fs::remove_dir_all(&jobs_dir);
    std::fs::create_dir_all(&jobs_dir).expect("create jobs/");
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "connections:\n  target:\n    type: sqlite\n    path: {path}\napplier:\n  read_batch_size: 100\n  on_failed_retry_interval: 1\n"
        ),
    )
    .expect("write config.yaml");
    for (name, yaml) in jobs {
        std::fs::write(jobs_dir.join(format!("{name}.yaml")), yaml).expect("write a job");
    }
}

fn deploy(dir: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["deploy", "--dir", dir.to_str().expect("a UTF-8 path")];
    args.extend(extra);
    wb(&args, &[("WB_REDIS_URL", url)])
}

fn count(db: &Path, sql: &str) -> usize {
    sqlite_rows(db, sql)[0][0]
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn wait(what: &str, timeout: Duration, mut check: impl FnMut() -> bool, log: impl Fn() -> String) {
    assert!(
        wb_tests::wait_until(timeout, &mut check),
        "timed out waiting for {what}\n{}",
        log()
    );
}

fn registered(con: &mut redis::Connection) -> Vec<String> {
    let jobs: Vec<(String, redis::Value, redis::Value, redis::Value)> =
        redis::cmd("WB.JOB.LIST").query(con).expect("WB.JOB.LIST");
    let mut names: Vec<String> = jobs.into_iter().map(|j| j.0).collect();
    names.sort();
    names
}

/// Writes `item:N` and `ev:N` from 0 up, a few at a time, until told to
/// stop; returns how many of each it wrote.
fn writer(url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let client = redis::Client::open(url).expect("Redis URL");
        let mut con = client.get_connection().expect("connect");
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut pipe = redis::pipe();
            for k in n..n + 20 {
                pipe.cmd("HSET")
                    .arg(format!("item:{k}"))
                    .arg("name")
                    .arg(format!("item {k}"))
                    .ignore();
                pipe.cmd("HSET")
                    .arg(format!("ev:{k}"))
                    .arg("kind")
                    .arg(["click", "view"][k % 2])
                    .ignore();
            }
            let () = pipe.query(&mut con).expect("HSET");
            n += 20;
            std::thread::sleep(Duration::from_millis(10));
        }
        n
    })
}

#[test]
fn deploy_then_run_follows_each_deploy_under_load_and_loses_nothing() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let url = server.url();
    let mut con = server.connection();
    let dir = TempDir::new("deploy");
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create the SQLite file")
        .execute_batch(
            "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, shout TEXT);
             CREATE TABLE events (id TEXT, kind TEXT)",
        )
        .expect("create the tables");
    let path = db.to_str().expect("a UTF-8 path");
    project(
        dir.path(),
        path,
        &[("items", &items_job("[name]")), ("events", EVENTS_JOB)],
    );

    // A dry run stores nothing and registers nothing.
    let out = deploy(dir.path(), &url, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("dry run: would deploy 2 jobs to ")
            && stdout(&out).contains("as version 1"),
        "{}",
        stdout(&out)
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg(DEPLOYMENT)
        .query(&mut con)
        .expect("EXISTS");
    assert_eq!(exists, 0, "a dry run stored a deployment");
    assert!(registered(&mut con).is_empty());

    // An engine started before anything is deployed waits for it.
    let engine = Engine::start_deployed(&url, &[]);
    wait(
        "the engine to wait for a deploy",
        Duration::from_secs(30),
        || engine.log().contains("nothing deployed yet"),
        || engine.log(),
    );
    let out = deploy(dir.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.starts_with("deployed version 1 to "), "{said}");
    assert!(said.contains("items") && said.contains("added"), "{said}");
    assert_eq!(registered(&mut con), ["events", "items"]);

    let stop = Arc::new(AtomicBool::new(false));
    let writing = writer(url.clone(), Arc::clone(&stop));
    wait(
        "rows from version 1",
        Duration::from_secs(60),
        || count(&db, "SELECT count(*) FROM items") > 100,
        || engine.log(),
    );

    // Version 2 under load: items gain a column, events are unchanged.
    project(
        dir.path(),
        path,
        &[
            ("items", &items_job("[name, {shout: upper(name)}]")),
            ("events", EVENTS_JOB),
        ],
    );
    let out = deploy(dir.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.starts_with("deployed version 2 "), "{said}");
    let line = |job: &str| -> String {
        said.lines()
            .find(|l| l.trim_start().starts_with(job))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("items").contains("changed"), "{said}");
    assert!(line("events").contains("unchanged"), "{said}");
    wait(
        "the engine on version 2",
        Duration::from_secs(60),
        || engine.log().contains("moving to a new deployment"),
        || engine.log(),
    );
    let started = Instant::now();
    wait(
        "rows of version 2",
        Duration::from_secs(60),
        || count(&db, "SELECT count(*) FROM items WHERE shout IS NOT NULL") > 100,
        || engine.log(),
    );
    let upgraded_in = started.elapsed();

    // Version 3 cannot run on the engine's machine (a variable it lacks):
    // refused, and version 2 goes on.
    std::fs::write(
        dir.path().join("config.yaml"),
        "connections:\n  target:\n    type: sqlite\n    path: ${WB_TEST_DEPLOY_NOT_SET}\n",
    )
    .expect("write config.yaml");
    let out = deploy(dir.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    wait(
        "version 3 refused",
        Duration::from_secs(60),
        || engine.log().contains("cannot run on this machine"),
        || engine.log(),
    );
    let before = count(&db, "SELECT count(*) FROM items");
    wait(
        "version 2 writing on",
        Duration::from_secs(60),
        || count(&db, "SELECT count(*) FROM items") > before + 100,
        || engine.log(),
    );
    stop.store(true, Ordering::Relaxed);
    let written = writing.join().expect("the writer");

    // Every item and every event there, each event once.
    wait(
        "every change written",
        Duration::from_secs(120),
        || {
            count(&db, "SELECT count(*) FROM items") == written
                && count(&db, "SELECT count(*) FROM events") >= written
        },
        || engine.log(),
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM events"),
        written,
        "events appended twice"
    );
    assert_eq!(count(&db, "SELECT count(DISTINCT id) FROM events"), written);
    assert_eq!(
        sqlite_rows(&db, "SELECT name FROM items WHERE id = '7'"),
        [[Some("item 7".to_owned())]]
    );
    // Status from Redis: the counts of the runs of versions 1 and 2 (they
    // are stored just after each batch's commit, so waited for).
    let events_status = || {
        let out = wb(&["status", "events", "--json"], &[("WB_REDIS_URL", &url)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        rows[0].clone()
    };
    wait(
        "the status to count every change",
        Duration::from_secs(10),
        || events_status()["read"] == written,
        || engine.log(),
    );
    let events = &events_status();
    assert_eq!(events["state"], "running", "{events}");
    assert_eq!(events["read"], written, "{events}");
    assert_eq!(events["written"], written, "{events}");
    assert_eq!(events["rejected"], 0, "{events}");
    assert_eq!(events["pending"], 0, "{events}");
    for job in ["items", "events"] {
        let dead: usize = redis::cmd("XLEN")
            .arg(format!("wb:{{0}}:dlq:{job}"))
            .query(&mut con)
            .expect("XLEN");
        assert_eq!(dead, 0, "dead letters of {job}");
    }

    // Version 4: events removed (the capture module stops recording
    // them), items shout in lower case.
    project(
        dir.path(),
        path,
        &[("items", &items_job("[name, {shout: lower(name)}]"))],
    );
    let out = deploy(dir.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("removed"), "{}", stdout(&out));
    assert_eq!(registered(&mut con), ["items"]);
    wait(
        "the engine on version 4",
        Duration::from_secs(60),
        // Changes written before the move still go through version 2.
        || engine.log().contains("running the deployment version=4"),
        || engine.log(),
    );
    wb_tests::cmd(&mut con, &["HSET", "item:last", "name", "Last One"]);
    wait(
        "a row of version 4",
        Duration::from_secs(60),
        || {
            sqlite_rows(&db, "SELECT shout FROM items WHERE id = 'last'")
                == [[Some("last one".to_owned())]]
        },
        || {
            format!(
                "{}\nrow: {:?}\nstatus: {}",
                engine.log(),
                sqlite_rows(&db, "SELECT shout FROM items WHERE id = 'last'"),
                stdout(&wb(
                    &["status", "items", "--json"],
                    &[("WB_REDIS_URL", &url)]
                ))
            )
        },
    );
    let (stopped, log) = engine.stop();
    assert!(stopped, "{log}");
    println!(
        "deploy under load: {written} items and {written} events written across 4 deploys, \
         version 2's rows {upgraded_in:.1?} after the engine moved"
    );
}

#[test]
fn deploy_refuses_a_password_in_clear_and_stores_nothing() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let url = server.url();
    let mut con = server.connection();
    let dir = TempDir::new("deploy-secret");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("create jobs/");
    std::fs::write(
        dir.path().join("config.yaml"),
        "connections:\n  target:\n    type: postgresql\n    host: 127.0.0.1\n    database: test\n    user: postgres\n    password: hunter2-in-clear\n",
    )
    .expect("write config.yaml");
    std::fs::write(dir.path().join("jobs/items.yaml"), items_job("[name]")).expect("write a job");
    let out = deploy(dir.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("config.yaml:7: connections.target.password:") && err.contains("${ENV_VAR}"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(DEPLOYMENT)
        .query(&mut con)
        .expect("EXISTS");
    assert_eq!(exists, 0);

    // With a reference instead, it deploys, and the reference (never its
    // value) is what Redis holds.
    std::fs::write(
        dir.path().join("config.yaml"),
        "connections:\n  target:\n    type: postgresql\n    host: 127.0.0.1\n    database: test\n    user: postgres\n    password: ${WB_TEST_DEPLOY_PASSWORD}\n",
    )
    .expect("write config.yaml");
    let out = wb(
        &["deploy", "--dir", dir.path().to_str().expect("UTF-8")],
        &[
            ("WB_REDIS_URL", &url),
            ("WB_TEST_DEPLOY_PASSWORD", "hunter3-secret"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let config: String = redis::cmd("HGET")
        .arg(DEPLOYMENT)
        .arg("config")
        .query(&mut con)
        .expect("HGET");
    assert!(config.contains("${WB_TEST_DEPLOY_PASSWORD}"), "{config}");
    let everything: Vec<Vec<u8>> = redis::cmd("HVALS")
        .arg(DEPLOYMENT)
        .query(&mut con)
        .expect("HVALS");
    assert!(
        !everything
            .iter()
            .any(|v| v.windows(6).any(|w| w == b"hunter")),
        "a secret went into Redis"
    );
    assert!(!stdout(&out).contains("hunter3"));

    // The same again stores nothing new.
    let out = wb(
        &["deploy", "--dir", dir.path().to_str().expect("UTF-8")],
        &[("WB_REDIS_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("nothing changed: version 1 stays deployed"),
        "{}",
        stdout(&out)
    );

    // A deploy cut off after storing, before registering (the job gone from
    // the capture module): the same deploy again registers it.
    let _: i64 = redis::cmd("WB.JOB.DEL")
        .arg("items")
        .query(&mut con)
        .expect("WB.JOB.DEL");
    assert!(registered(&mut con).is_empty());
    let out = deploy(dir.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("nothing changed"),
        "{}",
        stdout(&out)
    );
    assert_eq!(registered(&mut con), vec!["items".to_owned()]);
}

#[test]
fn deploy_to_a_server_without_the_capture_module_stores_nothing() {
    let server = Server::start(ServerOptions {
        capture: false,
        ..ServerOptions::new(Flavor::Valkey)
    });
    let url = server.url();
    let mut con = server.connection();
    let dir = TempDir::new("deploy-no-module");
    let db = dir.path().join("target.db");
    project(
        dir.path(),
        db.to_str().expect("a UTF-8 path"),
        &[("items", &items_job("[name]"))],
    );
    let out = deploy(dir.path(), &url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("the capture module is not loaded"), "{err}");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(DEPLOYMENT)
        .query(&mut con)
        .expect("EXISTS");
    assert_eq!(exists, 0, "a deployment was stored: {err}");
}
