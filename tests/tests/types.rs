//! Each of the four kinds of keys end to end, step by step: a real server
//! with the capture module and RedisJSON, the jobs of `wb_tests::workload`
//! compiled from YAML into the stock mapper, a shard worker, and a real
//! target. After every step the target must hold exactly the rows written
//! out here, and those must be what Redis holds, read key by key.
//!
//! Valkey writes to SQLite and Redis 8 to PostgreSQL, so each server and
//! each target is covered once.

mod common;

use std::time::{Duration, Instant};

use common::{settings, Kind, Running, Target};
use wb_tests::workload::{self, Tables, JOBS};
use wb_tests::{cmd, pending_count, redis, Flavor, Server, ServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_end_to_end_on_valkey_into_sqlite() {
    every_type_end_to_end(Flavor::Valkey, Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_end_to_end_on_redis8_into_postgres() {
    every_type_end_to_end(Flavor::Redis8, Kind::Postgres).await;
}

/// Rows of one table from `&[Option<&str>]` literals.
fn rows(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    let mut out: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| c.map(str::to_owned)).collect())
        .collect();
    out.sort();
    out
}

fn tables(
    customers: &[&[Option<&str>]],
    orders: &[&[Option<&str>]],
    order_lines: &[&[Option<&str>]],
    tags: &[&[Option<&str>]],
    scores: &[&[Option<&str>]],
) -> Tables {
    [
        ("customers", rows(customers)),
        ("orders", rows(orders)),
        ("order_lines", rows(order_lines)),
        ("tags", rows(tags)),
        ("scores", rows(scores)),
    ]
    .into_iter()
    .collect()
}

/// Waits until the target holds `want`, and checks that `want` is also what
/// Redis holds now.
async fn expect(step: &str, target: &Target, con: &mut redis::Connection, want: Tables) {
    assert_eq!(
        workload::expected(con),
        want,
        "{step}: the test's expectation disagrees with Redis"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = workload::actual(&target.db).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{step}: {} does not hold the expected rows:\n{}",
            target.db.label(),
            workload::difference(&want, &got)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_type_end_to_end(flavor: Flavor, kind: Kind) {
    let server = Server::start(ServerOptions::new(flavor));
    let mut con = server.connection();
    common::register(&mut con, &JOBS);
    let target = Target::create(kind).await;
    let worker = Running::start(&server.url(), &JOBS, target.sink().await, settings());
    let c = &mut con;
    let s = Some;
    const N: Option<&str> = None;

    // Creates.
    cmd(
        c,
        &[
            "HSET", "h:1", "name", "Ada", "city", "London", "visits", "3",
        ],
    );
    cmd(c, &["HSET", "h:2", "name", "Bob"]);
    cmd(
        c,
        &[
            "JSON.SET",
            "j:1",
            "$",
            r#"{"customer":"Ada","status":"new","qty":2,"lines":[{"sku":"apple","n":1},{"sku":"pear","n":2},{"sku":"fig","n":3}]}"#,
        ],
    );
    cmd(c, &["SADD", "s:1", "red", "green", "blue"]);
    cmd(c, &["ZADD", "z:1", "1", "a", "2.5", "b"]);
    expect(
        "creates",
        &target,
        c,
        tables(
            &[
                &[s("1"), s("Ada"), s("London"), s("3")],
                &[s("2"), s("Bob"), N, N],
            ],
            &[&[s("1"), s("Ada"), s("new"), s("2")]],
            &[
                &[s("1"), s("apple"), s("1")],
                &[s("1"), s("pear"), s("2")],
                &[s("1"), s("fig"), s("3")],
            ],
            &[
                &[s("1"), s("red")],
                &[s("1"), s("green")],
                &[s("1"), s("blue")],
            ],
            &[&[s("1"), s("a"), s("1")], &[s("1"), s("b"), s("2.5")]],
        ),
    )
    .await;

    // Updates, a removed field, a removed array element, changed members.
    cmd(c, &["HSET", "h:1", "city", "Paris"]);
    cmd(c, &["HINCRBY", "h:1", "visits", "2"]);
    cmd(c, &["HDEL", "h:1", "city"]);
    cmd(c, &["JSON.DEL", "j:1", "$.lines[1]"]);
    cmd(c, &["JSON.SET", "j:1", "$.status", r#""paid""#]);
    cmd(c, &["JSON.NUMINCRBY", "j:1", "$.qty", "1"]);
    cmd(
        c,
        &[
            "JSON.ARRAPPEND",
            "j:1",
            "$.lines",
            r#"{"sku":"kiwi","n":4}"#,
        ],
    );
    cmd(c, &["SREM", "s:1", "green"]);
    cmd(c, &["SADD", "s:1", "plum"]);
    cmd(c, &["ZINCRBY", "z:1", "1", "a"]);
    cmd(c, &["ZREM", "z:1", "b"]);
    cmd(c, &["ZADD", "z:1", "-1.25", "c"]);
    expect(
        "updates",
        &target,
        c,
        tables(
            &[&[s("1"), s("Ada"), N, s("5")], &[s("2"), s("Bob"), N, N]],
            &[&[s("1"), s("Ada"), s("paid"), s("3")]],
            &[
                &[s("1"), s("apple"), s("1")],
                &[s("1"), s("fig"), s("3")],
                &[s("1"), s("kiwi"), s("4")],
            ],
            &[
                &[s("1"), s("red")],
                &[s("1"), s("plum")],
                &[s("1"), s("blue")],
            ],
            &[&[s("1"), s("a"), s("2")], &[s("1"), s("c"), s("-1.25")]],
        ),
    )
    .await;

    // Deletes: the last field, DEL, the last members, a rename (the old
    // key's rows go, the new key's come), and expiries.
    cmd(c, &["HDEL", "h:2", "name"]);
    cmd(c, &["DEL", "z:1"]);
    cmd(c, &["RENAME", "j:1", "j:7"]);
    cmd(c, &["SREM", "s:1", "red", "plum", "blue"]);
    cmd(c, &["HSET", "h:3", "name", "Cy"]);
    cmd(c, &["PEXPIRE", "h:3", "20"]);
    cmd(
        c,
        &[
            "JSON.SET",
            "j:2",
            "$",
            r#"{"customer":"Eve","qty":1,"lines":[{"sku":"fig","n":1}]}"#,
        ],
    );
    cmd(c, &["PEXPIRE", "j:2", "20"]);
    cmd(c, &["SADD", "s:3", "teal"]);
    cmd(c, &["PEXPIRE", "s:3", "20"]);
    // Hash fields with a time to live of their own: one field goes, and a
    // hash whose only field expires goes altogether.
    cmd(c, &["HSET", "h:5", "name", "Eve", "city", "Rome"]);
    cmd(c, &["HPEXPIRE", "h:5", "20", "FIELDS", "1", "city"]);
    cmd(c, &["HSET", "h:6", "name", "Fay"]);
    cmd(c, &["HPEXPIRE", "h:6", "20", "FIELDS", "1", "name"]);
    // Reading a key past its time expires it now (captured as `expired`).
    std::thread::sleep(Duration::from_millis(40));
    for key in ["h:3", "j:2", "s:3"] {
        let exists: i64 = redis::cmd("EXISTS").arg(key).query(c).expect("EXISTS");
        assert_eq!(exists, 0, "{key} should have expired");
    }
    expect(
        "deletes",
        &target,
        c,
        tables(
            &[&[s("1"), s("Ada"), N, s("5")], &[s("5"), s("Eve"), N, N]],
            &[&[s("7"), s("Ada"), s("paid"), s("3")]],
            &[
                &[s("7"), s("apple"), s("1")],
                &[s("7"), s("fig"), s("3")],
                &[s("7"), s("kiwi"), s("4")],
            ],
            &[],
            &[],
        ),
    )
    .await;

    // One transaction touching every type.
    let _: () = redis::pipe()
        .atomic()
        .cmd("HSET")
        .arg(&["h:4", "name", "Di", "city", "Oslo"])
        .ignore()
        .cmd("DEL")
        .arg("h:1")
        .ignore()
        .cmd("SADD")
        .arg(&["s:4", "a", "b"])
        .ignore()
        .cmd("ZADD")
        .arg(&["z:4", "3", "m"])
        .ignore()
        .cmd("JSON.SET")
        .arg(&["j:4", "$", r#"{"customer":"Di","qty":1,"lines":[]}"#])
        .ignore()
        .cmd("JSON.DEL")
        .arg(&["j:7", "$.lines[0]"])
        .ignore()
        .query(c)
        .expect("MULTI/EXEC");
    expect(
        "MULTI/EXEC",
        &target,
        c,
        tables(
            &[&[s("4"), s("Di"), s("Oslo"), N], &[s("5"), s("Eve"), N, N]],
            &[
                &[s("4"), s("Di"), N, s("1")],
                &[s("7"), s("Ada"), s("paid"), s("3")],
            ],
            &[&[s("7"), s("fig"), s("3")], &[s("7"), s("kiwi"), s("4")]],
            &[&[s("4"), s("a")], &[s("4"), s("b")]],
            &[&[s("4"), s("m"), s("3")]],
        ),
    )
    .await;

    // The whole array removed: the parent row stays, its children go.
    cmd(c, &["JSON.DEL", "j:7", "$.lines"]);
    expect(
        "array removed",
        &target,
        c,
        tables(
            &[&[s("4"), s("Di"), s("Oslo"), N], &[s("5"), s("Eve"), N, N]],
            &[
                &[s("4"), s("Di"), N, s("1")],
                &[s("7"), s("Ada"), s("paid"), s("3")],
            ],
            &[],
            &[&[s("4"), s("a")], &[s("4"), s("b")]],
            &[&[s("4"), s("m"), s("3")]],
        ),
    )
    .await;

    // A flush empties every table; keys written after it in the same batch
    // (MULTI/EXEC makes it one) are there again.
    cmd(c, &["MULTI"]);
    cmd(c, &["HSET", "h:9", "name", "Flo"]);
    cmd(c, &["FLUSHALL"]);
    cmd(c, &["HSET", "h:8", "name", "Gus"]);
    cmd(c, &["SADD", "s:8", "x"]);
    cmd(c, &["EXEC"]);
    expect(
        "flushed",
        &target,
        c,
        tables(
            &[&[s("8"), s("Gus"), N, N]],
            &[],
            &[],
            &[&[s("8"), s("x")]],
            &[],
        ),
    )
    .await;
    cmd(c, &["FLUSHDB"]);
    expect("flushed again", &target, c, tables(&[], &[], &[], &[], &[])).await;

    let stats = worker.stop().await.expect("the worker stops cleanly");
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
    for (job, _) in JOBS {
        let stream = workload::stream(job);
        assert_eq!(pending_count(c, &stream), 0, "{stream} has pending entries");
        let dlq: i64 = redis::cmd("XLEN")
            .arg(format!("wb:{{0}}:dlq:{job}"))
            .query(c)
            .expect("XLEN");
        assert_eq!(dlq, 0, "dead letters of {job}");
    }
}
