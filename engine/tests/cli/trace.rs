//! `wb-engine trace`: the next unprocessed changes of a job (or one key's
//! latest change) and the row ops the job makes of them, with nothing
//! taken, written or acknowledged.

use std::path::Path;
use std::time::Duration;

use wb_tests::workload::write_project;
use wb_tests::{read_stream, redis, shared_server, sqlite_rows, TempDir};

use crate::{stderr, stdout, wait_for_jobs, wb, Engine};

const JOB: &str = "source: {redis: {key_pattern: 'tr:*'}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: tracers\n      keys: [{id: key_part(1)}]\n      mapping: [name, {email: lower(email)}]\n";

fn trace(dir: &Path, url: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["trace", "tracers", "--dir", dir.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let output = wb(&args, &[("WB_REDIS_URL", url)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    (stdout(&output), stderr(&output))
}

/// The lines of `out` from the one starting with `id` to the next entry.
fn block<'a>(out: &'a str, id: &str) -> Vec<&'a str> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with(id));
    let mut block: Vec<&str> = lines.next().into_iter().collect();
    block.extend(lines.take_while(|l| l.starts_with("  ")));
    block
}

#[test]
fn trace_shows_the_next_changes_and_their_row_ops_without_taking_them() {
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let dir = TempDir::new("trace");
    write_project(
        dir.path(),
        "    type: sqlite\n    path: target.db\n",
        &[("tracers", JOB)],
        100,
    );
    // Registered as `run` registers it, but no engine runs yet.
    let _: String = redis::cmd("WB.JOB.SET")
        .arg("tracers")
        .arg("tr:*")
        .query(&mut con)
        .expect("WB.JOB.SET");
    let stream = "wb:{0}:changes:tracers";
    for args in [
        &["HSET", "tr:1", "name", "Ann", "email", "Ann@Example.COM"][..],
        &["HSET", "tr:2", "name", "Bob"][..],
        &["HSET", "tr:1", "email", "ANN@NEW.ORG"][..],
        &["DEL", "tr:2"][..],
        &["HSET", "tr:3", "name", "Cy"][..],
    ] {
        wb_tests::cmd(&mut con, args);
    }
    let before = read_stream(&mut con, stream, None);
    assert_eq!(before.len(), 5);
    let id = |n: usize| before[n].id.clone();

    let (out, _) = trace(dir.path(), &url, &["--count", "4"]);
    assert!(
        out.starts_with(&format!(
            "job tracers: the next 4 unprocessed changes in {stream} (5 entries; the engine has not read it yet)"
        )),
        "{out}"
    );
    // tr:1's first change is superseded by its later one, which carries
    // the value as it is now; tr:2 is gone, so its rows are deleted.
    assert_eq!(
        block(&out, &id(0)),
        [
            format!("{}  hset  tr:1  (hash)", id(0)).as_str(),
            &format!(
                "  superseded by {}: a batch reads each key once, for its latest change",
                id(2)
            ),
        ]
    );
    assert_eq!(
        block(&out, &id(2)),
        [
            format!("{}  hset  tr:1  (hash)", id(2)).as_str(),
            "  value  hash {name: \"Ann\", email: \"ANN@NEW.ORG\"}",
            "  upsert tracers on target key {id: \"1\"} values {email: \"ann@new.org\", name: \"Ann\"}",
        ]
    );
    assert_eq!(
        block(&out, &id(3)),
        [
            format!("{}  del  tr:2  (none)", id(3)).as_str(),
            "  value  missing (the key is gone)",
            "  delete tracers on target key {id: \"2\"}",
        ]
    );
    assert!(!out.contains(&id(4)), "only 4 were asked for:\n{out}");

    // One key: its latest change.
    let (out, _) = trace(dir.path(), &url, &["--key", "tr:1"]);
    assert!(
        out.starts_with(&format!(
            "job tracers, key tr:1: its latest change in {stream}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}  hset  tr:1  (hash)", id(2))),
        "{out}"
    );
    // A key with no change: what a change to it would make now.
    let (out, _) = trace(dir.path(), &url, &["--key", "tr:9"]);
    assert!(out.contains("no change of it in"), "{out}");
    assert!(
        out.contains("now  trace  tr:9  (none)\n  value  missing (the key is gone)\n  delete tracers on target key {id: \"9\"}"),
        "{out}"
    );

    // Nothing was taken: the stream is as it was, and no consumer group
    // (the engine's) was created.
    assert_eq!(read_stream(&mut con, stream, None), before);
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query(&mut con)
        .expect("XINFO GROUPS");
    assert!(groups.is_empty(), "{groups:?}");

    // Entries an engine has read but not acknowledged (in flight, or left
    // by an engine that stopped) come first, marked, and stay pending.
    wb_tests::cmd(&mut con, &["XGROUP", "CREATE", stream, "wb", "0"]);
    wb_tests::cmd(
        &mut con,
        &[
            "XREADGROUP",
            "GROUP",
            "wb",
            "wb-engine",
            "COUNT",
            "2",
            "STREAMS",
            stream,
            ">",
        ],
    );
    let (out, _) = trace(dir.path(), &url, &["--count", "3"]);
    assert!(
        out.starts_with(&format!(
            "job tracers: the next 3 unprocessed changes in {stream} (5 entries; 2 read by the engine and not acknowledged yet)"
        )),
        "{out}"
    );
    let read = "  [read by the engine, not acknowledged yet]";
    assert!(
        out.contains(&format!("{}  hset  tr:1  (hash){read}\n", id(0))),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}  hset  tr:2  (hash){read}\n", id(1))),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}  hset  tr:1  (hash)\n", id(2))),
        "{out}"
    );
    assert_eq!(wb_tests::pending_count(&mut con, stream), 2);
    assert_eq!(read_stream(&mut con, stream, None), before);

    // Once the engine has processed them, nothing is left to trace.
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create the SQLite file")
        .execute_batch("CREATE TABLE tracers (id TEXT PRIMARY KEY, name TEXT, email TEXT)")
        .expect("create the table");
    let engine = Engine::start(dir.path(), &url, &[]);
    wait_for_jobs(&mut con, &["tracers"]);
    let done = wb_tests::wait_until(Duration::from_secs(30), || {
        sqlite_rows(&db, "SELECT id FROM tracers ORDER BY id").len() == 2
            && wb_tests::unread_count(&mut con, stream) == 0
            && wb_tests::pending_count(&mut con, stream) == 0
    });
    let (out, _) = trace(dir.path(), &url, &[]);
    let (ok, log) = engine.stop();
    assert!(done && ok, "{log}");
    assert!(
        out.starts_with("job tracers: no unprocessed changes in"),
        "{out}"
    );
}

#[test]
fn trace_of_a_job_that_is_not_registered_says_how_to_register_it() {
    let server = shared_server();
    let dir = TempDir::new("trace-unregistered");
    write_project(
        dir.path(),
        "    type: sqlite\n    path: target.db\n",
        &[("tracers", JOB)],
        100,
    );
    let url = server.url();
    // The project's job is named tracers; nothing registers it on this
    // server under another name, so ask for a job that is not registered.
    std::fs::rename(
        dir.path().join("jobs/tracers.yaml"),
        dir.path().join("jobs/untraced.yaml"),
    )
    .expect("rename");
    let output = wb(
        &[
            "trace",
            "untraced",
            "--dir",
            dir.path().to_str().expect("utf-8"),
        ],
        &[("WB_REDIS_URL", url.as_str())],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("job 'untraced' is not registered with the capture module")
            && err.contains("`wb-engine run --dir PROJECT` registers"),
        "{err}"
    );
    // A job that is not in the project is named with the project's jobs.
    let output = wb(
        &[
            "trace",
            "untrace",
            "--dir",
            dir.path().to_str().expect("utf-8"),
        ],
        &[("WB_REDIS_URL", url.as_str())],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("has no job 'untrace' (its jobs: untraced) (did you mean 'untraced'?)"),
        "{}",
        stderr(&output)
    );
}
