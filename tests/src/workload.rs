//! The four kinds of keys wb captures (hash, JSON, set, sorted set) as one
//! set of jobs: their YAML, the target tables, random writes to them, and
//! the rows Redis says the target must hold, read key by key.
//!
//! Keys are `h:N` (hash → `customers`), `j:N` (JSON → `orders`, its
//! `lines` array normalised into `order_lines`), `s:N` (set → `tags`) and
//! `z:N` (sorted set → `scores`). One append job, `events` (hashes `ev:N`
//! → `events`, insert only), serves the exactly-once tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::{Rng, TargetDb, TextRow};

/// The tables, in one dialect both targets accept (SQLite takes each type's
/// affinity from its name: TEXT, BIGINT → INTEGER, DOUBLE → REAL).
pub const DDL: &str = "
CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, city TEXT, visits BIGINT);
CREATE TABLE orders (id TEXT PRIMARY KEY, customer TEXT, status TEXT, qty BIGINT);
CREATE TABLE order_lines (order_id TEXT NOT NULL, sku TEXT, n BIGINT);
CREATE INDEX order_lines_order ON order_lines (order_id);
CREATE TABLE tags (id TEXT NOT NULL, member TEXT NOT NULL);
CREATE INDEX tags_id ON tags (id);
CREATE TABLE scores (id TEXT NOT NULL, member TEXT NOT NULL, score DOUBLE PRECISION);
CREATE INDEX scores_id ON scores (id);
CREATE TABLE events (ev_id TEXT, kind TEXT, amount BIGINT);
";

/// Every table the jobs write.
pub const TABLES: [&str; 6] = [
    "customers",
    "orders",
    "order_lines",
    "tags",
    "scores",
    "events",
];

/// The tables whose rows follow Redis's current state (all but `events`).
const MIRRORED: [(&str, &str); 5] = [
    (
        "customers",
        "SELECT id, name, city, visits FROM customers ORDER BY id",
    ),
    (
        "orders",
        "SELECT id, customer, status, qty FROM orders ORDER BY id",
    ),
    (
        "order_lines",
        "SELECT order_id, sku, n FROM order_lines ORDER BY order_id, sku, n",
    ),
    ("tags", "SELECT id, member FROM tags ORDER BY id, member"),
    (
        "scores",
        "SELECT id, member, score FROM scores ORDER BY id, member",
    ),
];

/// The jobs of the four types, by name, as job files; they write to the
/// connection `target`.
pub const JOBS: [(&str, &str); 4] = [
    (
        "customers",
        r#"source:
  redis:
    key_pattern: "h:*"
output:
  - uses: relational.write
    with:
      connection: target
      table: customers
      keys:
        - id: key_part(1)
      mapping:
        - name
        - city
        - visits
"#,
    ),
    (
        "orders",
        r#"source:
  redis:
    key_pattern: "j:*"
output:
  - uses: relational.write
    with:
      connection: target
      table: orders
      keys:
        - id: key_part(1)
      mapping: [customer, status, qty]
  - uses: relational.write
    with:
      connection: target
      table: order_lines
      foreach: "line: lines[]"
      keys:
        - order_id: key_part(1)
      mapping:
        - sku: line.sku
        - n: line.n
"#,
    ),
    (
        "tags",
        r#"source:
  redis:
    key_pattern: "s:*"
output:
  - uses: relational.write
    with:
      connection: target
      table: tags
      keys:
        - id: key_part(1)
      mapping: [member]
"#,
    ),
    (
        "scores",
        r#"source:
  redis:
    key_pattern: "z:*"
output:
  - uses: relational.write
    with:
      connection: target
      table: scores
      keys:
        - id: key_part(1)
      mapping: [member, score]
"#,
    ),
];

/// The append job: every captured change of `ev:N` becomes one new row.
pub const EVENTS_JOB: (&str, &str) = (
    "events",
    r#"source:
  redis:
    key_pattern: "ev:*"
output:
  - uses: relational.write
    with:
      connection: target
      table: events
      load_strategy: append
      mapping:
        - ev_id: key_part(1)
        - kind
        - amount
"#,
);

/// The change stream of job `name` on a standalone server.
pub fn stream(job: &str) -> String {
    format!("wb:{{0}}:changes:{job}")
}

/// A project directory for `wb-engine run`: `config.yaml` with the given
/// `target` connection block (indented under `target:`) and one job file
/// per job.
pub fn write_project(dir: &Path, connection: &str, jobs: &[(&str, &str)], read_batch_size: usize) {
    let jobs_dir = dir.join("jobs");
    std::fs::create_dir_all(&jobs_dir).expect("create the jobs directory");
    let config = format!(
        "connections:\n  target:\n{connection}applier:\n  read_batch_size: {read_batch_size}\n  on_failed_retry_interval: 1\n"
    );
    std::fs::write(dir.join("config.yaml"), config).expect("write config.yaml");
    for (name, yaml) in jobs {
        std::fs::write(jobs_dir.join(format!("{name}.yaml")), yaml).expect("write a job file");
    }
}

/// Rows per table.
pub type Tables = BTreeMap<&'static str, Vec<TextRow>>;

/// What the mirrored tables must hold for the keys in Redis now: every key
/// read back (HGETALL, JSON.GET, SMEMBERS, ZRANGE WITHSCORES) and mapped
/// as the jobs say. Rows are sorted.
pub fn expected(con: &mut redis::Connection) -> Tables {
    let mut tables: Tables = MIRRORED.iter().map(|(t, _)| (*t, Vec::new())).collect();
    for key in keys(con, "h:*") {
        let fields: BTreeMap<String, String> = query(con, redis::cmd("HGETALL").arg(&key));
        if fields.is_empty() {
            continue;
        }
        push(
            &mut tables,
            "customers",
            vec![
                Some(id(&key)),
                fields.get("name").cloned(),
                fields.get("city").cloned(),
                fields.get("visits").cloned(),
            ],
        );
    }
    for key in keys(con, "j:*") {
        let doc: Option<String> = query(con, redis::cmd("JSON.GET").arg(&key));
        let Some(doc) = doc else { continue };
        let doc: serde_json::Value = serde_json::from_str(&doc)
            .unwrap_or_else(|e| panic!("{key} holds invalid JSON ({e}): {doc}"));
        push(
            &mut tables,
            "orders",
            vec![
                Some(id(&key)),
                json_text(&doc["customer"]),
                json_text(&doc["status"]),
                json_text(&doc["qty"]),
            ],
        );
        for line in doc["lines"].as_array().into_iter().flatten() {
            push(
                &mut tables,
                "order_lines",
                vec![
                    Some(id(&key)),
                    json_text(&line["sku"]),
                    json_text(&line["n"]),
                ],
            );
        }
    }
    for key in keys(con, "s:*") {
        let members: Vec<String> = query(con, redis::cmd("SMEMBERS").arg(&key));
        for member in members {
            push(&mut tables, "tags", vec![Some(id(&key)), Some(member)]);
        }
    }
    for key in keys(con, "z:*") {
        let entries: Vec<(String, f64)> = query(
            con,
            redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES"),
        );
        for (member, score) in entries {
            push(
                &mut tables,
                "scores",
                vec![Some(id(&key)), Some(member), Some(score.to_string())],
            );
        }
    }
    for rows in tables.values_mut() {
        rows.sort();
    }
    tables
}

/// What the mirrored tables of `target` hold, each sorted as [`expected`]
/// sorts (the databases' collations may order text differently).
pub async fn actual(target: &TargetDb) -> Tables {
    let mut tables = Tables::new();
    for (table, sql) in MIRRORED {
        let mut rows = target.rows(sql).await;
        rows.sort();
        tables.insert(table, rows);
    }
    tables
}

/// The rows of the append table `events`: `(ev_id, kind, amount)`, sorted.
pub async fn events(target: &TargetDb) -> Vec<TextRow> {
    let mut rows = target
        .rows("SELECT ev_id, kind, amount FROM events ORDER BY ev_id")
        .await;
    rows.sort();
    rows
}

/// Waits until the mirrored tables of `db` equal what Redis holds now
/// (read once, at the start); `Err` with the difference after `timeout`.
pub async fn converge(
    db: &TargetDb,
    con: &mut redis::Connection,
    timeout: Duration,
) -> Result<Tables, String> {
    let want = expected(con);
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let got = actual(db).await;
        if got == want {
            return Ok(want);
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "{} never matched Redis within {timeout:?}:\n{}",
                db.label(),
                difference(&want, &got)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A readable account of where `got` differs from `want`: row counts, and
/// the first rows missing and unexpected in each table.
pub fn difference(want: &Tables, got: &Tables) -> String {
    let mut out = String::new();
    for (table, want_rows) in want {
        let empty = Vec::new();
        let got_rows = got.get(table).unwrap_or(&empty);
        if want_rows == got_rows {
            continue;
        }
        let missing = multiset_minus(want_rows, got_rows);
        let extra = multiset_minus(got_rows, want_rows);
        let _ = writeln!(
            out,
            "{table}: {} rows expected, {} found; {} missing, {} unexpected",
            want_rows.len(),
            got_rows.len(),
            missing.len(),
            extra.len()
        );
        for row in missing.iter().take(8) {
            let _ = writeln!(out, "  missing    {row:?}");
        }
        for row in extra.iter().take(8) {
            let _ = writeln!(out, "  unexpected {row:?}");
        }
    }
    out
}

/// The rows of `a` not matched one for one in `b` (both sorted).
fn multiset_minus(a: &[TextRow], b: &[TextRow]) -> Vec<TextRow> {
    let mut out = Vec::new();
    let mut j = 0;
    for row in a {
        while j < b.len() && b[j] < *row {
            j += 1;
        }
        if j < b.len() && b[j] == *row {
            j += 1;
        } else {
            out.push(row.clone());
        }
    }
    out
}

fn keys(con: &mut redis::Connection, pattern: &str) -> Vec<String> {
    query(con, redis::cmd("KEYS").arg(pattern))
}

fn query<T: redis::FromRedisValue>(con: &mut redis::Connection, cmd: &redis::Cmd) -> T {
    cmd.query(con).unwrap_or_else(|e| {
        panic!(
            "{:?}: {e}",
            String::from_utf8_lossy(&cmd.get_packed_command())
        )
    })
}

fn push(tables: &mut Tables, table: &'static str, row: TextRow) {
    tables.entry(table).or_default().push(row);
}

/// The id column of a key: the part after the prefix (`key_part(1)`).
fn id(key: &str) -> String {
    key.split(':').nth(1).unwrap_or_default().to_owned()
}

/// A JSON value as the mapper writes it into a text or number column:
/// strings unquoted, numbers as written, null and absent as NULL.
fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// An owned word of a command.
fn s(word: &str) -> String {
    word.to_owned()
}

const NAMES: [&str; 7] = ["Ada", "Bob", "Zoë", "O'Brien", "李雷", "a b", ""];
const CITIES: [&str; 4] = ["London", "Oslo", "Paris", "São Paulo"];
const SKUS: [&str; 5] = ["apple", "pear", "fig", "kiwi", "ünï"];
const MEMBERS: [&str; 10] = [
    "red", "green", "blue", "cyan", "plum", "jade", "rust", "teal", "żółw", "x y",
];

/// Seeded random writes to `keys` keys of each of the four types: creates,
/// updates, field and member removals, array element removals, deletes,
/// renames, expiries in a few milliseconds, and now and then several of
/// them in one MULTI/EXEC. Returns how many commands ran.
pub fn random_writes(con: &mut redis::Connection, rng: &mut Rng, count: usize, keys: u64) -> usize {
    let mut done = 0;
    while done < count {
        if rng.below(25) == 0 {
            // A transaction of commands that cannot fail on a missing key.
            let mut pipe = redis::pipe();
            pipe.atomic();
            let n = 2 + rng.below(3) as usize;
            for _ in 0..n {
                pipe.add_command(to_cmd(&safe_command(rng, keys))).ignore();
            }
            let _: () = pipe
                .query(con)
                .unwrap_or_else(|e| panic!("MULTI/EXEC failed: {e}"));
            done += n;
        } else {
            let args = random_command(rng, keys);
            run(con, &args);
            done += 1;
        }
    }
    done
}

/// `count` random commands that cannot fail, sent in one pipeline (not a
/// transaction): a burst that reaches the server faster than any engine
/// drains it, so a worker stopped right after it is stopped mid-stream.
pub fn random_burst(con: &mut redis::Connection, rng: &mut Rng, count: usize, keys: u64) {
    let mut pipe = redis::pipe();
    for _ in 0..count {
        pipe.add_command(to_cmd(&safe_command(rng, keys))).ignore();
    }
    let _: () = pipe
        .query(con)
        .unwrap_or_else(|e| panic!("a burst of {count} commands failed: {e}"));
}

/// A random command that does not fail on a missing key.
fn safe_command(rng: &mut Rng, keys: u64) -> Vec<String> {
    loop {
        let args = random_command(rng, keys);
        if !may_miss(&args) {
            return args;
        }
    }
}

fn to_cmd(args: &[String]) -> redis::Cmd {
    let mut c = redis::cmd(&args[0]);
    for a in &args[1..] {
        c.arg(a);
    }
    c
}

/// Runs one generated command; an error is allowed only where the command
/// needs a key that may have been deleted or may have expired just now.
fn run(con: &mut redis::Connection, args: &[String]) {
    let reply: redis::RedisResult<redis::Value> = to_cmd(args).query(con);
    if let Err(e) = reply {
        let text = e.to_string().to_lowercase();
        let missing = text.contains("no such key")
            || text.contains("doesn't exist")
            || text.contains("does not exist")
            || text.contains("created at the root");
        assert!(may_miss(args) && missing, "{}: {e}", args.join(" "));
    }
}

/// Commands that fail when their key is missing.
fn may_miss(args: &[String]) -> bool {
    args[0] == "RENAME"
        || (args[0].starts_with("JSON.") && !(args[0] == "JSON.SET" && args[2] == "$"))
}

fn random_command(rng: &mut Rng, keys: u64) -> Vec<String> {
    let kind = rng.pick(&["h", "j", "s", "z"]);
    let key = format!("{kind}:{}", rng.below(keys));
    let other = format!("{kind}:{}", rng.below(keys));
    let op = rng.below(12);
    let words: Vec<String> = match op {
        9 => vec!["DEL".into(), key],
        10 => vec!["PEXPIRE".into(), key, (1 + rng.below(40)).to_string()],
        11 => vec!["RENAME".into(), key, other],
        _ => match kind {
            "h" => hash_command(rng, key, op),
            "j" => json_command(rng, key, op),
            "s" => set_command(rng, key, other, op),
            _ => zset_command(rng, key, op),
        },
    };
    words
}

fn hash_command(rng: &mut Rng, key: String, op: u64) -> Vec<String> {
    match op {
        0..=3 => vec![
            s("HSET"),
            key,
            s("name"),
            s(rng.pick(&NAMES)),
            s("city"),
            s(rng.pick(&CITIES)),
            s("visits"),
            rng.below(100).to_string(),
        ],
        4 => vec![s("HSET"), key, s("name"), s(rng.pick(&NAMES))],
        5 => vec![s("HDEL"), key, s("city")],
        6 => vec![
            s("HINCRBY"),
            key,
            s("visits"),
            (1 + rng.below(5)).to_string(),
        ],
        7 => vec![s("HDEL"), key, s("name"), s("city"), s("visits")],
        // A field that expires on its own (hash field TTLs, Valkey 9 and
        // Redis 7.4+): captured as `hexpired`, and `del` with the last one.
        _ if rng.below(3) == 0 => vec![
            s("HPEXPIRE"),
            key,
            (1 + rng.below(40)).to_string(),
            s("FIELDS"),
            s("1"),
            s(rng.pick(&["name", "city", "visits"])),
        ],
        _ => vec![s("HSETNX"), key, s("city"), s(rng.pick(&CITIES))],
    }
}

fn json_command(rng: &mut Rng, key: String, op: u64) -> Vec<String> {
    let line = |rng: &mut Rng| {
        format!(
            r#"{{"sku":{},"n":{}}}"#,
            serde_json::Value::from(rng.pick(&SKUS)),
            1 + rng.below(9)
        )
    };
    match op {
        0..=2 => {
            let lines: Vec<String> = (0..rng.below(4)).map(|_| line(rng)).collect();
            let status = if rng.below(3) == 0 {
                String::new()
            } else {
                format!(r#""status":"{}","#, rng.pick(&["new", "paid", "sent"]))
            };
            let doc = format!(
                r#"{{"customer":{},{status}"qty":{},"lines":[{}]}}"#,
                serde_json::Value::from(rng.pick(&NAMES)),
                rng.below(50),
                lines.join(",")
            );
            vec![s("JSON.SET"), key, s("$"), doc]
        }
        3 => vec![s("JSON.SET"), key, s("$.status"), s(r#""paid""#)],
        4 => vec![s("JSON.DEL"), key, s("$.status")],
        5 => vec![s("JSON.ARRAPPEND"), key, s("$.lines"), line(rng)],
        6 => vec![s("JSON.DEL"), key, s("$.lines[0]")],
        7 => vec![s("JSON.ARRPOP"), key, s("$.lines")],
        // The whole array gone: the key's child rows go with it.
        _ if rng.below(4) == 0 => vec![s("JSON.DEL"), key, s("$.lines")],
        _ => vec![
            s("JSON.NUMINCRBY"),
            key,
            s("$.qty"),
            (1 + rng.below(3)).to_string(),
        ],
    }
}

fn set_command(rng: &mut Rng, key: String, other: String, op: u64) -> Vec<String> {
    match op {
        0..=3 => {
            let mut words = vec![s("SADD"), key];
            for _ in 0..=rng.below(3) {
                words.push(s(rng.pick(&MEMBERS)));
            }
            words
        }
        4 | 5 => vec![s("SREM"), key, s(rng.pick(&MEMBERS)), s(rng.pick(&MEMBERS))],
        6 => vec![s("SPOP"), key],
        7 => vec![s("SMOVE"), key, other, s(rng.pick(&MEMBERS))],
        _ => vec![s("SADD"), key, s(rng.pick(&MEMBERS))],
    }
}

fn zset_command(rng: &mut Rng, key: String, op: u64) -> Vec<String> {
    // Quarters: exact in binary, so Redis, SQLite and PostgreSQL all print
    // the same digits.
    let score = |rng: &mut Rng| (rng.below(400) as f64 / 4.0 - 20.0).to_string();
    match op {
        0..=3 => vec![s("ZADD"), key, score(rng), s(rng.pick(&MEMBERS))],
        4 => vec![s("ZINCRBY"), key, s("0.5"), s(rng.pick(&MEMBERS))],
        5 => vec![s("ZREM"), key, s(rng.pick(&MEMBERS))],
        6 => vec![s("ZPOPMIN"), key],
        7 => vec![s("ZREMRANGEBYSCORE"), key, s("-inf"), s("-15")],
        _ => vec![
            s("ZADD"),
            key,
            score(rng),
            s(rng.pick(&MEMBERS)),
            score(rng),
            s(rng.pick(&MEMBERS)),
        ],
    }
}

/// Waits until no key of the four types and no hash field has a time to
/// live left (see [`settle_ttls`]). After it the state in Redis no longer
/// changes by itself.
pub fn settle_expiries(con: &mut redis::Connection, keys: u64) {
    let all: Vec<String> = ["h", "j", "s", "z"]
        .iter()
        .flat_map(|kind| (0..keys).map(move |n| format!("{kind}:{n}")))
        .collect();
    let hashes: Vec<String> = (0..keys).map(|n| format!("h:{n}")).collect();
    settle_ttls(con, &all, &hashes, &["name", "city", "visits"]);
}

/// Waits until none of `keys` and none of `fields` of `hashes` has a time
/// to live left, reading every key so that the server expires the due ones
/// now (each expiry is captured) rather than at its leisure. Hash fields
/// are not removed by a read: a field past its time is hidden at once but
/// removed (and its removal captured) only by the server's active expiry,
/// so this also waits until every hash's HLEN, which still counts such
/// fields, equals the fields a read returns.
pub fn settle_ttls(
    con: &mut redis::Connection,
    keys: &[String],
    hashes: &[String],
    fields: &[&str],
) {
    std::thread::sleep(Duration::from_millis(60));
    for _ in 0..250 {
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("PTTL").arg(key);
        }
        let ttls: Vec<i64> = pipe.query(con).expect("PTTL of every key");
        let mut pipe = redis::pipe();
        for hash in hashes {
            pipe.cmd("HPTTL")
                .arg(hash)
                .arg("FIELDS")
                .arg(fields.len())
                .arg(fields);
            pipe.cmd("HLEN").arg(hash);
            pipe.cmd("HKEYS").arg(hash);
        }
        let hashes: Vec<(Vec<i64>, usize, Vec<String>)> = pipe
            .query(con)
            .expect("HPTTL, HLEN and HKEYS of every hash");
        let fields_settled = hashes
            .iter()
            .all(|(ttls, len, visible)| ttls.iter().all(|&t| t < 0) && *len == visible.len());
        if fields_settled && ttls.iter().all(|&t| t < 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("keys or hash fields still have a time to live, or expired fields are not removed, after 5 s");
}
