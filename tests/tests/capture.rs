//! The capture module against real servers: Valkey 9.1 and Redis 8.2, each
//! with RedisJSON loaded, and Debian's Redis 7.0, which it must refuse.

use std::time::Duration;

use wb_tests::redis::{self, Connection};
use wb_tests::{cmd, read_stream, wait_until, Entry, Flavor, Server, ServerOptions};

/// Runs each listed scenario once per supported server.
macro_rules! on_both_servers {
    ($($scenario:ident),* $(,)?) => {
        mod valkey {
            $(#[test] fn $scenario() { super::$scenario(wb_tests::Flavor::Valkey) })*
        }
        mod redis8 {
            $(#[test] fn $scenario() { super::$scenario(wb_tests::Flavor::Redis8) })*
        }
    };
}

on_both_servers!(
    hash_commands,
    generic_commands,
    expiry,
    eviction,
    set_commands,
    sorted_set_commands,
    json_commands,
    transactions_and_scripts,
    flush,
    patterns_exclusions_and_overlaps,
    job_commands,
    binary_keys,
    replica_holds_the_same_entries,
    appendonly_restart_keeps_streams_and_jobs,
    rdb_restart_keeps_jobs,
    blocked_reader_is_woken,
    cluster_streams_live_on_their_shard,
);

const USERS: &str = "wb:{0}:changes:users";

fn set_job(con: &mut Connection, name: &str, pattern: &str, excluded: &[&str]) -> String {
    let mut c = redis::cmd("WB.JOB.SET");
    c.arg(name).arg(pattern);
    if !excluded.is_empty() {
        c.arg("EXCLUDE").arg(excluded);
    }
    c.query(con)
        .unwrap_or_else(|e| panic!("WB.JOB.SET {name}: {e}"))
}

/// Reads a stream from where the last call left off.
struct Tail {
    stream: String,
    last: Option<String>,
}

impl Tail {
    fn new(stream: &str) -> Tail {
        Tail {
            stream: stream.to_owned(),
            last: None,
        }
    }

    fn next(&mut self, con: &mut Connection) -> Vec<(String, String, String)> {
        let entries = read_stream(con, &self.stream, self.last.as_deref());
        if let Some(e) = entries.last() {
            self.last = Some(e.id.clone());
        }
        entries.iter().map(Entry::change).collect()
    }

    /// Runs `command` and asserts it recorded exactly `expected`.
    fn expect(&mut self, con: &mut Connection, command: &[&str], expected: &[(&str, &str, &str)]) {
        cmd(con, command);
        let got = self.next(con);
        let want: Vec<(String, String, String)> = expected
            .iter()
            .map(|(k, e, t)| (k.to_string(), e.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, want, "after `{}`", command.join(" "));
    }
}

fn server(flavor: Flavor) -> (Server, Connection) {
    let server = Server::start(ServerOptions::new(flavor));
    let con = server.connection();
    (server, con)
}

fn hash_commands(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    assert_eq!(set_job(&mut con, "users", "user:*", &[]), USERS);
    let mut t = Tail::new(USERS);
    t.expect(
        &mut con,
        &["HSET", "user:1", "name", "ann", "age", "30"],
        &[("user:1", "hset", "hash")],
    );
    t.expect(
        &mut con,
        &["HSETNX", "user:1", "city", "Oslo"],
        &[("user:1", "hset", "hash")],
    );
    // HSETNX on an existing field changes nothing and records nothing.
    t.expect(&mut con, &["HSETNX", "user:1", "city", "Rome"], &[]);
    t.expect(
        &mut con,
        &["HINCRBY", "user:1", "age", "1"],
        &[("user:1", "hincrby", "hash")],
    );
    t.expect(
        &mut con,
        &["HDEL", "user:1", "city", "age"],
        &[("user:1", "hdel", "hash")],
    );
    t.expect(
        &mut con,
        &["HDEL", "user:1", "name"],
        &[("user:1", "hdel", "hash"), ("user:1", "del", "none")],
    );
}

fn generic_commands(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let mut t = Tail::new(USERS);
    cmd(&mut con, &["HSET", "user:1", "a", "1"]);
    cmd(&mut con, &["HSET", "user:2", "a", "1"]);
    t.next(&mut con);
    t.expect(&mut con, &["DEL", "user:1"], &[("user:1", "del", "none")]);
    t.expect(
        &mut con,
        &["UNLINK", "user:2"],
        &[("user:2", "del", "none")],
    );
    cmd(&mut con, &["HSET", "user:3", "a", "1"]);
    t.next(&mut con);
    t.expect(
        &mut con,
        &["RENAME", "user:3", "user:4"],
        &[
            ("user:3", "rename_from", "none"),
            ("user:4", "rename_to", "hash"),
        ],
    );
    // Renamed out of the pattern: only the old name is tracked.
    t.expect(
        &mut con,
        &["RENAME", "user:4", "other:4"],
        &[("user:4", "rename_from", "none")],
    );
    t.expect(&mut con, &["EXPIRE", "other:4", "100"], &[]);
    cmd(&mut con, &["SADD", "user:5", "x"]);
    t.next(&mut con);
    t.expect(
        &mut con,
        &["EXPIRE", "user:5", "100"],
        &[("user:5", "expire", "set")],
    );
}

fn expiry(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let mut t = Tail::new(USERS);
    t.expect(
        &mut con,
        &["HSET", "user:1", "a", "1"],
        &[("user:1", "hset", "hash")],
    );
    t.expect(
        &mut con,
        // Long enough that active expiry cannot remove it before the
        // entry of PEXPIRE is read back, even on a loaded machine.
        &["PEXPIRE", "user:1", "300"],
        &[("user:1", "expire", "hash")],
    );
    // The server's active expiry deletes it without any client touching it.
    let mut seen = Vec::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            seen.extend(t.next(&mut con));
            !seen.is_empty()
        }),
        "no entry for the expiry within 5 s"
    );
    assert_eq!(
        seen,
        vec![("user:1".into(), "expired".into(), "none".into())]
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg("user:1")
        .query(&mut con)
        .expect("EXISTS");
    assert_eq!(exists, 0);
}

fn eviction(flavor: Flavor) {
    // Only keys with a TTL may be evicted, so wb's own streams (which have
    // none) are safe; the server warns about allkeys-* policies.
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let used: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut con)
        .expect("INFO");
    let used: u64 = used
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    cmd(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "volatile-random"],
    );
    cmd(
        &mut con,
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            &(used + 2_000_000).to_string(),
        ],
    );
    let value = "x".repeat(1000);
    let mut written = 0;
    for i in 0..20_000 {
        let key = format!("user:{i}");
        let ok: redis::RedisResult<()> = redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg("v")
            .arg(&value)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(3600)
            .query(&mut con);
        if ok.is_err() {
            break;
        }
        written += 1;
        if i % 100 == 99 {
            let stats: String = redis::cmd("INFO")
                .arg("stats")
                .query(&mut con)
                .expect("INFO");
            if !stats.contains("evicted_keys:0\r") {
                break;
            }
        }
    }
    cmd(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);
    let entries: Vec<_> = read_stream(&mut con, USERS, None)
        .iter()
        .map(Entry::change)
        .collect();
    let evicted: Vec<_> = entries.iter().filter(|(_, e, _)| e == "evicted").collect();
    assert!(
        !evicted.is_empty(),
        "no evicted entries after {written} writes"
    );
    assert!(evicted
        .iter()
        .all(|(k, _, t)| k.starts_with("user:") && t == "none"));
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&evicted[0].0)
        .query(&mut con)
        .expect("EXISTS");
    assert_eq!(exists, 0, "the evicted key is gone");
}

#[test]
fn warns_when_eviction_may_remove_its_streams() {
    let server =
        Server::start(ServerOptions::new(Flavor::Valkey).arg("maxmemory-policy", "allkeys-lru"));
    assert!(
        server
            .log()
            .contains("maxmemory-policy allkeys-lru can evict wb's change streams"),
        "no warning at load:\n{}",
        server.log()
    );
    let mut con = server.connection();
    cmd(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
    );
    cmd(
        &mut con,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
    );
    assert!(
        wait_until(Duration::from_secs(2), || server
            .log()
            .contains("maxmemory-policy allkeys-random can evict")),
        "no warning after CONFIG SET"
    );
}

fn set_commands(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let mut t = Tail::new(USERS);
    t.expect(
        &mut con,
        &["SADD", "user:s", "a", "b", "c"],
        &[("user:s", "sadd", "set")],
    );
    t.expect(
        &mut con,
        &["SREM", "user:s", "a"],
        &[("user:s", "srem", "set")],
    );
    t.expect(&mut con, &["SPOP", "user:s"], &[("user:s", "spop", "set")]);
    t.expect(
        &mut con,
        &["SADD", "user:s", "d"],
        &[("user:s", "sadd", "set")],
    );
    t.expect(
        &mut con,
        &["SMOVE", "user:s", "user:t", "d"],
        &[("user:s", "srem", "set"), ("user:t", "sadd", "set")],
    );
    // Popping the last member deletes the key.
    t.expect(
        &mut con,
        &["SPOP", "user:s"],
        &[("user:s", "spop", "set"), ("user:s", "del", "none")],
    );
}

fn sorted_set_commands(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let mut t = Tail::new(USERS);
    t.expect(
        &mut con,
        &["ZADD", "user:z", "1", "a", "2", "b", "3", "c"],
        &[("user:z", "zadd", "zset")],
    );
    t.expect(
        &mut con,
        &["ZREM", "user:z", "a"],
        &[("user:z", "zrem", "zset")],
    );
    t.expect(
        &mut con,
        &["ZINCRBY", "user:z", "5", "b"],
        &[("user:z", "zincr", "zset")],
    );
    t.expect(
        &mut con,
        &["ZPOPMIN", "user:z"],
        &[("user:z", "zpopmin", "zset")],
    );
    t.expect(
        &mut con,
        &["ZPOPMIN", "user:z"],
        &[("user:z", "zpopmin", "zset"), ("user:z", "del", "none")],
    );
}

fn json_commands(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let mut t = Tail::new(USERS);
    t.expect(
        &mut con,
        &[
            "JSON.SET",
            "user:j",
            "$",
            r#"{"name":"ann","n":1,"tags":["a"]}"#,
        ],
        &[("user:j", "json.set", "json")],
    );
    t.expect(
        &mut con,
        &["JSON.ARRAPPEND", "user:j", "$.tags", r#""b""#],
        &[("user:j", "json.arrappend", "json")],
    );
    t.expect(
        &mut con,
        &["JSON.NUMINCRBY", "user:j", "$.n", "2"],
        &[("user:j", "json.numincrby", "json")],
    );
    t.expect(
        &mut con,
        &["JSON.DEL", "user:j", "$.name"],
        &[("user:j", "json.del", "json")],
    );
    t.expect(
        &mut con,
        &["EXPIRE", "user:j", "100"],
        &[("user:j", "expire", "json")],
    );
    t.expect(
        &mut con,
        &["JSON.DEL", "user:j", "$"],
        &[("user:j", "json.del", "json")],
    );
}

fn transactions_and_scripts(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let mut t = Tail::new(USERS);
    let _: () = redis::pipe()
        .atomic()
        .cmd("HSET")
        .arg("user:1")
        .arg("a")
        .arg("1")
        .cmd("SADD")
        .arg("user:2")
        .arg("m")
        .cmd("HSET")
        .arg("other:1")
        .arg("a")
        .arg("1")
        .cmd("DEL")
        .arg("user:1")
        .query(&mut con)
        .expect("MULTI/EXEC");
    assert_eq!(
        t.next(&mut con),
        vec![
            ("user:1".into(), "hset".into(), "hash".into()),
            ("user:2".into(), "sadd".into(), "set".into()),
            ("user:1".into(), "del".into(), "none".into()),
        ]
    );
    let _: redis::Value = redis::cmd("EVAL")
        .arg("redis.call('HSET', KEYS[1], 'f', 'v'); redis.call('ZADD', KEYS[2], 1, 'm'); return 1")
        .arg(2)
        .arg("user:3")
        .arg("user:4")
        .query(&mut con)
        .expect("EVAL");
    assert_eq!(
        t.next(&mut con),
        vec![
            ("user:3".into(), "hset".into(), "hash".into()),
            ("user:4".into(), "zadd".into(), "zset".into()),
        ]
    );
}

fn flush(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    set_job(&mut con, "users", "user:*", &[]);
    let orders = set_job(&mut con, "orders", "order:*", &[]);
    cmd(&mut con, &["HSET", "user:1", "a", "1"]);
    cmd(&mut con, &["FLUSHALL"]);
    // The flush removed the streams too; each job's stream now starts with
    // the flush, which tells the engine that every key is gone.
    for stream in [USERS, orders.as_str()] {
        let entries: Vec<_> = read_stream(&mut con, stream, None)
            .iter()
            .map(Entry::change)
            .collect();
        assert_eq!(
            entries,
            vec![(String::new(), "flush".into(), "none".into())],
            "{stream}"
        );
    }
    cmd(&mut con, &["HSET", "user:2", "a", "1"]);
    cmd(&mut con, &["FLUSHDB"]);
    let entries: Vec<_> = read_stream(&mut con, USERS, None)
        .iter()
        .map(Entry::change)
        .collect();
    assert_eq!(
        entries,
        vec![(String::new(), "flush".into(), "none".into())]
    );
    // The job table is not data: it survives the flush.
    let streams: Vec<String> = redis::cmd("WB.STREAMS")
        .query(&mut con)
        .expect("WB.STREAMS");
    assert_eq!(streams.len(), 2);
}

fn patterns_exclusions_and_overlaps(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    let users = set_job(&mut con, "users", "user:[0-9]*", &["hdel", "expire"]);
    let all = set_job(&mut con, "all", "*", &[]);
    let mut u = Tail::new(&users);
    let mut a = Tail::new(&all);
    cmd(&mut con, &["HSET", "user:1", "a", "1", "b", "2"]);
    cmd(&mut con, &["HSET", "user:x", "a", "1"]);
    cmd(&mut con, &["HDEL", "user:1", "a"]);
    cmd(&mut con, &["EXPIRE", "user:1", "100"]);
    cmd(&mut con, &["SET", "user:2", "plain string"]);
    assert_eq!(
        u.next(&mut con),
        vec![("user:1".into(), "hset".into(), "hash".into())]
    );
    assert_eq!(
        a.next(&mut con),
        vec![
            ("user:1".into(), "hset".into(), "hash".into()),
            ("user:x".into(), "hset".into(), "hash".into()),
            ("user:1".into(), "hdel".into(), "hash".into()),
            ("user:1".into(), "expire".into(), "hash".into()),
        ],
        "the catch-all job sees everything but its own streams and string writes"
    );
    // Replacing a job changes its pattern at once.
    set_job(&mut con, "users", "user:x", &[]);
    cmd(&mut con, &["HSET", "user:1", "c", "3"]);
    cmd(&mut con, &["HSET", "user:x", "c", "3"]);
    assert_eq!(
        u.next(&mut con),
        vec![("user:x".into(), "hset".into(), "hash".into())]
    );
    // A removed job records nothing more; its stream stays for the engine.
    let removed: i64 = redis::cmd("WB.JOB.DEL")
        .arg("users")
        .query(&mut con)
        .expect("WB.JOB.DEL");
    assert_eq!(removed, 1);
    cmd(&mut con, &["HSET", "user:x", "d", "4"]);
    assert!(u.next(&mut con).is_empty());
}

fn job_commands(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    let mut err = |args: &[&str]| -> String {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        match c.query::<redis::Value>(&mut con) {
            Ok(v) => panic!("`{}` succeeded with {v:?}", args.join(" ")),
            Err(e) => e.to_string(),
        }
    };
    assert!(err(&["WB.JOB.SET", "bad name", "*"]).contains("invalid job name"));
    assert!(err(&["WB.JOB.SET", "ok", ""]).contains("invalid key pattern"));
    assert!(err(&["WB.JOB.SET", "ok", "*", "EXCLUDE"]).contains("at least one event"));
    assert!(err(&["WB.JOB.SET", "ok", "*", "NOPE", "x"]).contains("expected EXCLUDE"));
    assert!(err(&["WB.JOB.SET", "ok"])
        .to_lowercase()
        .contains("wrong number of arguments"));
    set_job(&mut con, "b", "b:*", &["HDEL", "json.del"]);
    set_job(&mut con, "a", "a:*", &[]);
    let list: Vec<(String, Vec<u8>, Vec<String>, String)> = redis::cmd("WB.JOB.LIST")
        .query(&mut con)
        .expect("WB.JOB.LIST");
    assert_eq!(
        list,
        vec![
            (
                "a".into(),
                b"a:*".to_vec(),
                vec![],
                "wb:{0}:changes:a".into()
            ),
            (
                "b".into(),
                b"b:*".to_vec(),
                vec!["hdel".into(), "json.del".into()],
                "wb:{0}:changes:b".into()
            ),
        ]
    );
    let removed: i64 = redis::cmd("WB.JOB.DEL")
        .arg("nope")
        .query(&mut con)
        .expect("WB.JOB.DEL");
    assert_eq!(removed, 0);
    let streams: Vec<String> = redis::cmd("WB.STREAMS")
        .query(&mut con)
        .expect("WB.STREAMS");
    assert_eq!(streams, vec!["wb:{0}:changes:a", "wb:{0}:changes:b"]);
}

fn binary_keys(flavor: Flavor) {
    let (_server, mut con) = server(flavor);
    let stream: String = redis::cmd("WB.JOB.SET")
        .arg("bin")
        .arg(b"bin:\x00*".as_slice())
        .query(&mut con)
        .expect("WB.JOB.SET with a binary pattern");
    let key: &[u8] = b"bin:\x00\xff\xfe\n\"end";
    let _: () = redis::cmd("HSET")
        .arg(key)
        .arg("f")
        .arg(b"\x00\x01".as_slice())
        .query(&mut con)
        .expect("HSET");
    let _: () = redis::cmd("HSET")
        .arg(b"bin:x".as_slice())
        .arg("f")
        .arg("v")
        .query(&mut con)
        .expect("HSET");
    let entries = read_stream(&mut con, &stream, None);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].field("key"), Some(key));
}

fn replica_holds_the_same_entries(flavor: Flavor) {
    let primary = Server::start(ServerOptions::new(flavor));
    let replica = Server::start(ServerOptions::new(flavor));
    let mut p = primary.connection();
    let mut r = replica.connection();
    // A job set before the replica attaches reaches it with the full sync,
    // one set after it through the replication stream.
    set_job(&mut p, "users", "user:*", &[]);
    cmd(&mut p, &["HSET", "user:0", "a", "1"]);
    cmd(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &primary.port.to_string()],
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut r)
                .unwrap_or_default();
            info.contains("master_link_status:up")
        }),
        "replica did not sync"
    );
    let orders = set_job(&mut p, "orders", "order:*", &[]);
    let mut expected_users = 1; // user:0, before the replica attached
    for i in 1..=200 {
        let key = format!("user:{i}");
        cmd(&mut p, &["HSET", &key, "n", &i.to_string()]);
        expected_users += 1;
        if i % 10 == 0 {
            cmd(&mut p, &["DEL", &key]);
            expected_users += 1;
        }
        if i % 7 == 0 {
            let _: () = redis::pipe()
                .atomic()
                .cmd("SADD")
                .arg(format!("order:{i}"))
                .arg("x")
                .cmd("HDEL")
                .arg(&key)
                .arg("n")
                .query(&mut p)
                .expect("MULTI/EXEC");
            // Removing the only field records hdel and del; a deleted key, nothing.
            if i % 10 != 0 {
                expected_users += 2;
            }
        }
    }
    let offset = |con: &mut Connection, field: &str| -> i64 {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(con)
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    };
    let target = offset(&mut p, "master_repl_offset:");
    assert!(
        wait_until(Duration::from_secs(10), || offset(
            &mut r,
            "slave_repl_offset:"
        ) >= target),
        "replica did not catch up"
    );
    for stream in [USERS, orders.as_str()] {
        let on_primary = read_stream(&mut p, stream, None);
        let on_replica = read_stream(&mut r, stream, None);
        assert!(
            on_primary.len() > 20,
            "{stream}: {} entries",
            on_primary.len()
        );
        assert_eq!(on_primary, on_replica, "{stream} differs on the replica");
    }
    let jobs_p: redis::Value = redis::cmd("WB.JOB.LIST").query(&mut p).expect("list");
    let jobs_r: redis::Value = redis::cmd("WB.JOB.LIST").query(&mut r).expect("list");
    assert_eq!(jobs_p, jobs_r);
    // The replica records nothing itself: its only entries are the primary's.
    let (users_len, orders_len): (usize, usize) = (
        read_stream(&mut p, USERS, None).len(),
        read_stream(&mut p, &orders, None).len(),
    );
    assert_eq!(users_len, expected_users);
    assert_eq!(orders_len, 28);
}

fn appendonly_restart_keeps_streams_and_jobs(flavor: Flavor) {
    let mut server = Server::start(ServerOptions::new(flavor).appendonly());
    let mut con = server.connection();
    set_job(&mut con, "users", "user:*", &["hdel"]);
    set_job(&mut con, "gone", "gone:*", &[]);
    let _: i64 = redis::cmd("WB.JOB.DEL")
        .arg("gone")
        .query(&mut con)
        .expect("WB.JOB.DEL");
    for i in 0..50 {
        cmd(&mut con, &["HSET", &format!("user:{i}"), "a", "1"]);
    }
    // Rewrite the AOF halfway, so both its RDB base and its command tail matter.
    cmd(&mut con, &["BGREWRITEAOF"]);
    assert!(wait_until(Duration::from_secs(10), || {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut con)
            .unwrap_or_default();
        info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")
    }));
    set_job(&mut con, "orders", "order:*", &[]);
    for i in 0..30 {
        cmd(&mut con, &["SADD", &format!("order:{i}"), "m"]);
    }
    let users_before = read_stream(&mut con, USERS, None);
    let orders_before = read_stream(&mut con, "wb:{0}:changes:orders", None);
    let jobs_before: redis::Value = redis::cmd("WB.JOB.LIST").query(&mut con).expect("list");
    drop(con);

    server.restart();
    let mut con = server.connection();
    assert_eq!(read_stream(&mut con, USERS, None), users_before);
    assert_eq!(
        read_stream(&mut con, "wb:{0}:changes:orders", None),
        orders_before
    );
    let jobs_after: redis::Value = redis::cmd("WB.JOB.LIST").query(&mut con).expect("list");
    assert_eq!(jobs_after, jobs_before);
    // Replaying the AOF recorded nothing twice, and capture goes on.
    assert_eq!(users_before.len(), 50);
    let mut t = Tail::new(USERS);
    t.next(&mut con);
    t.expect(
        &mut con,
        &["HSET", "user:new", "a", "1"],
        &[("user:new", "hset", "hash")],
    );
    t.expect(&mut con, &["HDEL", "user:new", "zz"], &[]);
}

fn rdb_restart_keeps_jobs(flavor: Flavor) {
    let mut server = Server::start(ServerOptions::new(flavor));
    let mut con = server.connection();
    set_job(&mut con, "users", "user:*", &["expire"]);
    cmd(&mut con, &["HSET", "user:1", "a", "1"]);
    cmd(&mut con, &["SAVE"]);
    drop(con);
    server.restart();
    let mut con = server.connection();
    let list: Vec<(String, Vec<u8>, Vec<String>, String)> = redis::cmd("WB.JOB.LIST")
        .query(&mut con)
        .expect("WB.JOB.LIST");
    assert_eq!(
        list,
        vec![(
            "users".into(),
            b"user:*".to_vec(),
            vec!["expire".into()],
            USERS.into()
        )]
    );
    assert_eq!(read_stream(&mut con, USERS, None).len(), 1);
    let mut t = Tail::new(USERS);
    t.next(&mut con);
    t.expect(
        &mut con,
        &["HSET", "user:2", "a", "1"],
        &[("user:2", "hset", "hash")],
    );
}

fn blocked_reader_is_woken(flavor: Flavor) {
    let server = Server::start(ServerOptions::new(flavor));
    let mut con = server.connection();
    set_job(&mut con, "users", "user:*", &[]);
    cmd(&mut con, &["HSET", "user:0", "a", "1"]);
    cmd(&mut con, &["XGROUP", "CREATE", USERS, "engine", "$"]);
    let url = server.url();
    let reader = std::thread::spawn(move || {
        let mut con = redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("connect");
        let started = std::time::Instant::now();
        let reply: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("engine")
            .arg("c1")
            .arg("COUNT")
            .arg(10)
            .arg("BLOCK")
            .arg(5000)
            .arg("STREAMS")
            .arg(USERS)
            .arg(">")
            .query(&mut con)
            .expect("XREADGROUP");
        (reply, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    cmd(&mut con, &["HSET", "user:1", "a", "1"]);
    let (reply, waited) = reader.join().expect("reader thread");
    assert!(
        !matches!(reply, redis::Value::Nil),
        "the blocked reader got nothing"
    );
    assert!(
        waited < Duration::from_secs(4),
        "woken only by its timeout ({waited:?})"
    );
}

/// The slot of `key`, as the server computes it.
fn key_slot(con: &mut Connection, key: &str) -> i64 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(con)
        .expect("CLUSTER KEYSLOT")
}

fn cluster_streams_live_on_their_shard(flavor: Flavor) {
    let nodes: Vec<Server> = (0..3)
        .map(|_| Server::start(ServerOptions::new(flavor).arg("cluster-enabled", "yes")))
        .collect();
    let mut cons: Vec<Connection> = nodes.iter().map(Server::connection).collect();
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (con, (lo, hi)) in cons.iter_mut().zip(ranges) {
        cmd(
            con,
            &["CLUSTER", "ADDSLOTSRANGE", &lo.to_string(), &hi.to_string()],
        );
    }
    for node in &nodes[1..] {
        cmd(
            &mut cons[0],
            &["CLUSTER", "MEET", "127.0.0.1", &node.port.to_string()],
        );
    }
    for con in cons.iter_mut() {
        assert!(
            wait_until(Duration::from_secs(20), || {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(con)
                    .unwrap_or_default();
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
            }),
            "cluster did not form"
        );
    }
    // Each shard's stream hashes to a slot that shard owns.
    let mut streams = Vec::new();
    for (con, (lo, hi)) in cons.iter_mut().zip(ranges) {
        let stream = set_job(con, "users", "user:*", &[]);
        let slot = key_slot(con, &stream);
        assert!(
            (lo..=hi).contains(&slot),
            "{stream} hashes to slot {slot}, outside {lo}-{hi}"
        );
        streams.push(stream);
    }
    assert!(streams[0] != streams[1] && streams[1] != streams[2] && streams[0] != streams[2]);
    // Every write lands in the stream of the shard that holds the key.
    let mut expected = [0usize; 3];
    for i in 0..60 {
        let key = format!("user:{i}");
        let slot = key_slot(&mut cons[0], &key);
        let shard = ranges
            .iter()
            .position(|(lo, hi)| (*lo..=*hi).contains(&slot))
            .expect("a shard");
        cmd(&mut cons[shard], &["HSET", &key, "n", "1"]);
        expected[shard] += 1;
    }
    for shard in 0..3 {
        let entries = read_stream(&mut cons[shard], &streams[shard], None);
        assert_eq!(entries.len(), expected[shard], "shard {shard}");
    }
    // Move the slot of shard 0's tag (emptied first) to shard 1: shard 0
    // picks a tag in a slot it still owns.
    let first = streams[0].clone();
    let tag_slot = key_slot(&mut cons[0], &first);
    cmd(&mut cons[0], &["DEL", &first]);
    let keys_left: i64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(tag_slot)
        .query(&mut cons[0])
        .expect("COUNTKEYSINSLOT");
    assert_eq!(keys_left, 0, "slot {tag_slot} still holds keys");
    let target: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut cons[1])
        .expect("MYID");
    for con in cons.iter_mut() {
        cmd(
            con,
            &["CLUSTER", "SETSLOT", &tag_slot.to_string(), "NODE", &target],
        );
    }
    let mut moved = String::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let names: Vec<String> = redis::cmd("WB.STREAMS")
                .query(&mut cons[0])
                .unwrap_or_default();
            moved = names.into_iter().next().unwrap_or_default();
            !moved.is_empty() && moved != first
        }),
        "shard 0 kept the tag of a slot it gave away"
    );
    let slot = key_slot(&mut cons[0], &moved);
    assert!(
        slot <= 5460 && slot != tag_slot,
        "{moved} hashes to slot {slot}"
    );
    let key = (0..1000)
        .map(|i| format!("user:{i}"))
        .find(|k| {
            let s = key_slot(&mut cons[0], k);
            s <= 5460 && s != tag_slot
        })
        .expect("a key on shard 0");
    cmd(&mut cons[0], &["HSET", &key, "n", "2"]);
    let entries = read_stream(&mut cons[0], &moved, None);
    assert_eq!(
        entries.last().map(Entry::change),
        Some((key, "hset".into(), "hash".into()))
    );
}

#[test]
fn refuses_redis_7_0_with_a_clear_message() {
    let err = match Server::try_start(ServerOptions {
        json: false,
        ..ServerOptions::new(Flavor::Redis70)
    }) {
        Ok(_) => panic!("Redis 7.0 loaded the capture module"),
        Err(e) => e.log,
    };
    assert!(
        err.contains("wb-capture: refusing to load")
            && err.contains("Redis 7.0")
            && err.contains("Redis 7.2+ or Valkey 8+"),
        "log does not explain the refusal:\n{err}"
    );
}
