//! `wb-engine backfill`: 50,000 keys written before their job was
//! registered all land in the target through the running engine, across a
//! backfill stopped (SIGTERM) and one killed (SIGKILL) midway, each run
//! again resuming from the saved SCAN cursor; keys of types wb does not
//! map are skipped.

use std::process::{Command, Stdio};
use std::time::Duration;

use wb_tests::workload::write_project;
use wb_tests::{redis, shared_server, sqlite_rows, TempDir};

use crate::{stderr, stdout, wait_for_jobs, wb, Engine};

const KEYS: usize = 50_000;
const STATE: &str = "wb:{0}:backfill:legacy";
const STREAM: &str = "wb:{0}:changes:legacy";

fn count(db: &std::path::Path) -> usize {
    sqlite_rows(db, "SELECT count(*) FROM legacy")[0][0]
        .as_deref()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn state(con: &mut redis::Connection) -> std::collections::HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg(STATE)
        .query(con)
        .expect("HGETALL")
}

#[test]
fn backfill_lands_every_existing_key_and_resumes_after_being_killed() {
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let dir = TempDir::new("backfill");
    write_project(
        dir.path(),
        "    type: sqlite\n    path: target.db\n",
        &[(
            "legacy",
            "source: {redis: {key_pattern: 'bf:*'}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: legacy\n      keys: [{id: key_part(1)}]\n      mapping: [name, n]\n",
        )],
        1000,
    );
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create the SQLite file")
        .execute_batch("CREATE TABLE legacy (id TEXT PRIMARY KEY, name TEXT, n INTEGER)")
        .expect("create the table");
    // The keys exist before the job does: nothing records them.
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(5000) {
        let mut pipe = redis::pipe();
        for n in chunk {
            pipe.cmd("HSET")
                .arg(format!("bf:{n}"))
                .arg("name")
                .arg(format!("user {n}"))
                .arg("n")
                .arg(n)
                .ignore();
        }
        let _: () = pipe.query(&mut con).expect("HSET");
    }
    // A key of a type wb does not map: skipped, not dead-lettered.
    wb_tests::cmd(&mut con, &["SET", "bf:string", "x"]);

    // Not registered yet: backfill says how to register it.
    let output = wb(&["backfill", "legacy"], &[("WB_REDIS_URL", url.as_str())]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("job 'legacy' is not registered with the capture module"),
        "{}",
        stderr(&output)
    );
    // Registered as `run` registers it, with no engine running yet: each
    // backfill below pauses once its --max-backlog changes wait.
    let _: String = redis::cmd("WB.JOB.SET")
        .arg("legacy")
        .arg("bf:*")
        .query(&mut con)
        .expect("WB.JOB.SET");
    // Stopped with SIGTERM while paused: it says how to resume, exit 130.
    let (status, progress) = paused_then(&url, dir.path(), "10000", "-TERM");
    assert_eq!(status.code(), Some(130), "{progress}");
    assert!(
        progress.contains("backfill legacy: ~") && progress.contains("keys looked at"),
        "{progress}"
    );
    assert!(
        progress.contains("interrupted after ")
            && progress.contains("run the same command again to resume (its position is kept in wb:{0}:backfill:legacy)"),
        "{progress}"
    );
    let after_term: usize = state(&mut con)["enqueued"].parse().expect("a count");
    // Run again, it resumes; killed (SIGKILL) while paused further on.
    let (_, progress) = paused_then(&url, dir.path(), "20000", "-KILL");
    assert!(
        progress.contains("backfill legacy: (resumed) ~"),
        "{progress}"
    );
    let saved = state(&mut con);
    let enqueued: usize = saved["enqueued"].parse().expect("a count");
    assert_ne!(saved["cursor"], "0", "{saved:?}");
    assert!(
        (20_000..KEYS).contains(&enqueued) && enqueued > after_term,
        "{saved:?}"
    );
    // The changes and the cursor were saved together.
    let queued: usize = redis::cmd("XLEN")
        .arg(STREAM)
        .query(&mut con)
        .expect("XLEN");
    assert_eq!(queued, enqueued);

    // With the engine running, the backfill resumes and completes.
    let engine = Engine::start(dir.path(), &url, &[]);
    wait_for_jobs(&mut con, &["legacy"]);
    let output = wb(
        &["backfill", "legacy", "--max-backlog", "10000"],
        &[("WB_REDIS_URL", url.as_str())],
    );
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{err}\n{}", engine.log());
    assert!(err.contains("backfill legacy: (resumed) ~"), "{err}");
    assert!(
        out.starts_with("backfill legacy: complete in ") && out.contains(" skipped"),
        "{out}"
    );
    assert!(
        state(&mut con).is_empty(),
        "the saved cursor is gone when done"
    );
    let landed = wb_tests::wait_until(Duration::from_secs(120), || count(&db) == KEYS);
    let dead: usize = redis::cmd("XLEN")
        .arg("wb:{0}:dlq:legacy")
        .query(&mut con)
        .expect("XLEN");
    let (ok, log) = engine.stop();
    assert!(landed, "{} of {KEYS} rows\n{log}", count(&db));
    assert_eq!(dead, 0, "{log}");
    assert!(ok, "{log}");
    assert_eq!(
        sqlite_rows(&db, "SELECT id, name, n FROM legacy WHERE id = '31415'"),
        [[
            Some("31415".to_owned()),
            Some("user 31415".to_owned()),
            Some("31415".to_owned())
        ]]
    );
}

/// Runs `backfill legacy --max-backlog BACKLOG` until it pauses (no engine
/// runs, so the stream fills up), then sends it `signal`; its exit status
/// and stderr.
fn paused_then(
    url: &str,
    dir: &std::path::Path,
    backlog: &str,
    signal: &str,
) -> (std::process::ExitStatus, String) {
    let log = dir.join(format!("backfill{backlog}.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wb-engine"))
        .args([
            "backfill",
            "legacy",
            "--max-backlog",
            backlog,
            "--scan-count",
            "500",
        ])
        .env("WB_REDIS_URL", url)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("wb-engine starts");
    let paused = wb_tests::wait_until(Duration::from_secs(60), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("paused: the job's stream holds"))
    });
    let _ = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wb-engine exits");
    let progress = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(paused, "{progress}");
    (status, progress)
}
