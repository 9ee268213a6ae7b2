//! `wb-engine dlq`: a value the target refuses lands in the job's
//! dead-letter stream with its reason and row; `list` shows it, `replay`
//! sends it through the running engine again once the table is fixed, and
//! `purge` empties the queue. The stream keeps the newest
//! `dlq_max_messages`.

use std::time::Duration;

use wb_engine::control::dlq::{self, DeadLetter, Stage};
use wb_tests::workload::write_project;
use wb_tests::{redis, shared_server, PgSchema, TempDir, TextRow};

use crate::{stderr, stdout, wait_for_jobs, wb, Engine};

const DLQ: &str = "wb:{0}:dlq:people";

fn dlq_cmd(url: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["dlq"];
    all.extend_from_slice(args);
    wb(&all, &[("WB_REDIS_URL", url)])
}

fn xlen(con: &mut redis::Connection, key: &str) -> usize {
    redis::cmd("XLEN").arg(key).query(con).expect("XLEN")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_value_is_dead_lettered_and_replays_once_the_table_is_fixed() {
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let pg = PgSchema::create(
        "cli_dlq",
        "CREATE TABLE people (id text PRIMARY KEY, name varchar(5))",
    )
    .await;
    let dir = TempDir::new("dlq");
    let job = format!(
        "source: {{redis: {{key_pattern: 'dlqp:*'}}}}\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      schema: {}\n      table: people\n      keys: [{{id: key_part(1)}}]\n      mapping: [name]\n",
        pg.name
    );
    write_project(
        dir.path(),
        "    type: postgresql\n    host: 127.0.0.1\n    port: 5432\n    database: test\n    user: postgres\n",
        &[("people", &job)],
        100,
    );
    let engine = Engine::start(dir.path(), &url, &[]);
    wait_for_jobs(&mut con, &["people"]);
    for (key, name) in [
        ("dlqp:1", "Ann"),
        ("dlqp:2", "Bartholomew"),
        ("dlqp:3", "Maximilian"),
    ] {
        wb_tests::cmd(&mut con, &["HSET", key, "name", name]);
    }
    let rows_sql = "SELECT id, name FROM people ORDER BY id";
    let row =
        |id: &str, name: &str| -> TextRow { vec![Some(id.to_owned()), Some(name.to_owned())] };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while (pg.rows(rows_sql).await != [row("1", "Ann")] || xlen(&mut con, DLQ) < 2)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        pg.rows(rows_sql).await,
        [row("1", "Ann")],
        "{}",
        engine.log()
    );
    assert_eq!(xlen(&mut con, DLQ), 2, "{}", engine.log());

    // list: each dead letter with its stage, reason and row.
    let output = dlq_cmd(&url, &["list", "people"]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        out.starts_with(&format!("{DLQ}: 2 dead letters\n")),
        "{out}"
    );
    assert!(out.contains("  write  dlqp:2 (hset, change "), "{out}");
    assert!(
        out.contains("    reason: ")
            && out.contains("value too long for type character varying(5)"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "    row:    upsert {}.people on target key {{id: \"2\"}} values {{name: \"Bartholomew\"}}",
            pg.name
        )),
        "{out}"
    );
    let output = dlq_cmd(&url, &["list", "people", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let letters: Vec<serde_json::Value> =
        serde_json::from_str(&stdout(&output)).expect("a JSON array");
    assert_eq!(letters.len(), 2);
    let first = &letters[0];
    assert_eq!(first["key"], "dlqp:2");
    assert_eq!(first["event"], "hset");
    assert_eq!(first["stage"], "write");
    assert_eq!(first["dlq"], DLQ);
    assert!(first["reason"]
        .as_str()
        .is_some_and(|r| r.contains("too long")));
    assert!(first["time"]
        .as_u64()
        .is_some_and(|t| t > 1_600_000_000_000));
    assert!(first["stream_id"].as_str().is_some_and(|s| s.contains('-')));
    assert!(first["row"]
        .as_str()
        .is_some_and(|r| r.contains("Bartholomew")));
    assert_eq!(letters[1]["key"], "dlqp:3");

    // Fixed (a wider column), the replayed key lands.
    pg.client
        .batch_execute("ALTER TABLE people ALTER COLUMN name TYPE varchar(50)")
        .await
        .expect("ALTER TABLE");
    let id = first["id"].as_str().expect("an id");
    let output = dlq_cmd(&url, &["replay", "people", "--id", id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with(
            "job people: 1 key sent through the job again (1 dead letter removed from"
        ),
        "{}",
        stdout(&output)
    );
    let want = [row("1", "Ann"), row("2", "Bartholomew")];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pg.rows(rows_sql).await != want && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pg.rows(rows_sql).await, want, "{}", engine.log());
    // Only the replayed dead letter is gone.
    let output = dlq_cmd(&url, &["list", "people"]);
    let out = stdout(&output);
    assert!(out.starts_with(&format!("{DLQ}: 1 dead letter\n")), "{out}");
    assert!(out.contains("dlqp:3") && !out.contains("dlqp:2"), "{out}");

    // An id that is not there is an error naming it.
    let output = dlq_cmd(&url, &["replay", "people", "--id", "1-1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no dead letter with id 1-1 in wb:{0}:dlq:people"),
        "{}",
        stderr(&output)
    );

    // purge empties it; the purged key never lands.
    let output = dlq_cmd(&url, &["purge", "people"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{DLQ}: 1 dead letter removed\n"));
    assert_eq!(xlen(&mut con, DLQ), 0);
    let output = dlq_cmd(&url, &["list", "people"]);
    assert_eq!(stdout(&output), format!("{DLQ}: no dead letters\n"));
    let (ok, log) = engine.stop();
    assert!(ok, "{log}");
    assert_eq!(pg.rows(rows_sql).await, want);

    // A job nobody registered: the message says how jobs get registered.
    let output = dlq_cmd(&url, &["list", "nobody"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("job 'nobody' is not registered with the capture module"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_every_key_once_and_keeps_keyless_letters() {
    let server = shared_server();
    let url = server.url();
    let mut con = server.connection();
    let _: String = redis::cmd("WB.JOB.SET")
        .arg("replays")
        .arg("rp:*")
        .query(&mut con)
        .expect("WB.JOB.SET");
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut async_con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let letter = |key: &str, stage: Stage| DeadLetter {
        key: key.as_bytes().to_vec(),
        event: "hset".to_owned(),
        stream_id: "1-1".to_owned(),
        stage,
        reason: "a reason".to_owned(),
        row: None,
    };
    wb_tests::cmd(&mut con, &["HSET", "rp:1", "a", "1"]);
    wb_tests::cmd(&mut con, &["SADD", "rp:2", "m"]);
    let letters = [
        letter("rp:1", Stage::Write),
        letter("rp:2", Stage::Transform),
        letter("rp:1", Stage::Fetch),
        letter("", Stage::Capture),
        letter("rp:gone", Stage::Write),
    ];
    dlq::push(&mut async_con, "wb:{0}:dlq:replays", 100, &letters)
        .await
        .expect("push");
    let stream = "wb:{0}:changes:replays";
    let before = wb_tests::read_stream(&mut con, stream, None).len();
    let output = dlq_cmd(&url, &["replay", "replays"]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        out.starts_with("job replays: 3 keys sent through the job again (4 dead letters removed"),
        "{out}"
    );
    assert!(out.contains("1 dead letter without a key"), "{out}");
    // One change per key, typed as the key is now: what the engine reads.
    let changes: Vec<(String, String, String)> = wb_tests::read_stream(&mut con, stream, None)
        [before..]
        .iter()
        .map(|e| e.change())
        .collect();
    let own = |k: &str, t: &str| (k.to_owned(), "replay".to_owned(), t.to_owned());
    assert_eq!(
        changes,
        [
            own("rp:1", "hash"),
            own("rp:2", "set"),
            own("rp:gone", "none")
        ]
    );
    assert_eq!(xlen(&mut con, "wb:{0}:dlq:replays"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_stream_keeps_the_newest_dlq_max_messages() {
    let server = shared_server();
    let client = redis::Client::open(server.url()).expect("url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let letters: Vec<DeadLetter> = (0..250)
        .map(|n| DeadLetter {
            key: format!("cap:{n}").into_bytes(),
            event: "hset".to_owned(),
            stream_id: format!("1-{n}"),
            stage: Stage::Write,
            reason: "too long".to_owned(),
            row: Some("upsert t".to_owned()),
        })
        .collect();
    let key = "wb:{0}:dlq:capped";
    dlq::push(&mut con, key, 120, &letters[..200])
        .await
        .expect("push");
    dlq::push(&mut con, key, 120, &letters[200..])
        .await
        .expect("push");
    let kept = dlq::list(&mut con, key, None).await.expect("list");
    assert_eq!(kept.len(), 120);
    assert_eq!(kept[0].key, b"cap:130");
    assert_eq!(kept[119].key, b"cap:249");
    assert_eq!(kept[0].stage, "write");
    // error_handling: ignore keeps none.
    dlq::push(&mut con, "wb:{0}:dlq:ignored", 0, &letters[..3])
        .await
        .expect("push");
    assert_eq!(
        dlq::length(&mut con, "wb:{0}:dlq:ignored")
            .await
            .expect("XLEN"),
        0
    );
}
