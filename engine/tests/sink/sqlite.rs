//! SQLite sink against real database files.

use std::path::PathBuf;

use rusqlite::Connection;
use wb_engine::sink::sqlite::{SqliteConfig, SqliteSink};
use wb_engine::sink::{Cell, RecordError, RowOp, Sink, SinkError};

use crate::{batch, offset, replaced, text, unique};

/// A database file in a directory of its own, removed when the test ends.
struct File {
    dir: PathBuf,
    path: PathBuf,
}

impl File {
    fn new(ddl: &str) -> File {
        let dir = std::env::temp_dir().join(unique("wb_sink_sqlite"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("target.db");
        Connection::open(&path)
            .and_then(|c| c.execute_batch(ddl))
            .expect("schema created");
        File { dir, path }
    }

    fn sink(&self, tables: &[&str]) -> SqliteSink {
        SqliteSink::open(SqliteConfig::new(&self.path), tables).expect("sink opens")
    }

    /// Rows of `sql`, each value rendered with its storage class.
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let conn = Connection::open(&self.path).expect("open");
        let mut st = conn.prepare(sql).expect("prepare");
        let n = st.column_count();
        st.query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "null".to_string(),
                        rusqlite::types::ValueRef::Integer(v) => format!("i:{v}"),
                        rusqlite::types::ValueRef::Real(v) => format!("r:{v}"),
                        rusqlite::types::ValueRef::Text(v) => {
                            format!("t:{}", String::from_utf8_lossy(v))
                        }
                        rusqlite::types::ValueRef::Blob(v) => format!("b:{v:?}"),
                    })
                })
                .collect()
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const USERS: &str =
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, extra TEXT);";

#[tokio::test]
async fn upserts_updates_deletes_children_and_inserts() {
    let f = File::new(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, extra TEXT);
         CREATE TABLE addr (user_id INTEGER, addr_id TEXT, city TEXT, PRIMARY KEY (user_id, addr_id));
         CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
         INSERT INTO addr VALUES (1, 'a', 'Oslo'), (1, 'b', 'Rome'), (2, 'a', 'Lima');",
    );
    let mut sink = f.sink(&["users", "addr"]);
    let up = |id: i64, name: &str| {
        RowOp::upsert("t", "users")
            .key("id", id)
            .value("name", text(name))
            .value("age", text("30"))
    };
    sink.write(&batch(vec![
        (0, up(1, "ann")),
        (1, up(2, "bob")),
        (2, up(3, "cy")),
    ]))
    .await
    .expect("first batch");
    let report = sink
        .write(&batch(vec![
            (0, up(2, "bobby")),
            (1, RowOp::delete("t", "users").key("id", 3i64)),
            (2, RowOp::delete_matching("t", "addr").key("user_id", 1i64)),
            (
                2,
                RowOp::upsert("t", "addr")
                    .key("user_id", 1i64)
                    .key("addr_id", text("c"))
                    .value("city", text("Kyiv")),
            ),
            (3, RowOp::insert("t", "events").value("what", text("x"))),
            (4, RowOp::insert("t", "events").value("what", text("x"))),
        ]))
        .await
        .expect("second batch");
    assert_eq!(report.delivered, vec![0, 1, 2, 3, 4]);
    assert_eq!(
        f.rows("SELECT id, name, age FROM users ORDER BY id"),
        vec![vec!["i:1", "t:ann", "i:30"], vec!["i:2", "t:bobby", "i:30"]]
    );
    assert_eq!(
        f.rows("SELECT user_id, addr_id, city FROM addr ORDER BY 1, 2"),
        vec![vec!["i:1", "t:c", "t:Kyiv"], vec!["i:2", "t:a", "t:Lima"]]
    );
    assert_eq!(f.rows("SELECT count(*) FROM events"), vec![vec!["i:2"]]);
}

#[tokio::test]
async fn one_batch_keeps_the_order_of_ops_per_key() {
    let f = File::new(&format!(
        "{USERS} INSERT INTO users VALUES (2, 'old', 1, 'keep?'), (3, 'gone', 1, NULL);"
    ));
    let mut sink = f.sink(&["users"]);
    let up = |id: i64, name: &str| {
        RowOp::upsert("t", "users")
            .key("id", id)
            .value("name", text(name))
    };
    let del = |id: i64| RowOp::delete("t", "users").key("id", id);
    sink.write(&batch(vec![
        (0, up(1, "first")),
        (1, up(1, "second")),
        (2, del(2)),
        (3, up(2, "reborn")),
        (4, up(3, "briefly")),
        (5, del(3)),
    ]))
    .await
    .expect("batch");
    assert_eq!(
        f.rows("SELECT id, name, extra FROM users ORDER BY id"),
        vec![
            vec!["i:1", "t:second", "null"],
            vec!["i:2", "t:reborn", "null"]
        ]
    );
}

#[tokio::test]
async fn affinity_conversion_and_bad_rows_rejected_while_the_rest_commits() {
    let f = File::new(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER, r REAL, t TEXT NOT NULL, d DECIMAL(10,2), flag BOOLEAN, at DATETIME, b BLOB,
                         CHECK (n >= 0));",
    );
    let mut sink = f.sink(&["m"]);
    let row = |id: i64, n: &str| {
        RowOp::upsert("t", "m")
            .key("id", id)
            .value("n", text(n))
            .value("r", text("2.5"))
            .value("t", Cell::Integer(5))
            .value("d", text("12.50"))
            .value("flag", text("true"))
            .value("at", text("2024-01-01 10:00:00"))
            .value("b", Cell::Bytes(vec![1u8, 2].into()))
    };
    let mut b = batch(vec![
        (0, row(0, "10")),
        (1, row(1, "ten")), // does not convert
        (2, row(2, "-1")),  // CHECK fails in SQLite
        (
            3,
            RowOp::upsert("t", "m")
                .key("id", 3i64)
                .value("t", Cell::Null),
        ), // NOT NULL fails
        (4, row(4, "7")),
    ]);
    b.offsets.push(offset("job", "main", "9-0"));
    let report = sink.write(&b).await.expect("batch commits");
    assert_eq!(report.delivered, vec![0, 4]);
    let rejected: Vec<usize> = report.rejected.iter().map(|r| r.change).collect();
    assert_eq!(rejected, vec![1, 2, 3]);
    match &report.rejected[0].reason {
        RecordError::Conversion {
            table,
            key,
            column,
            value,
            ..
        } => {
            assert_eq!(
                (
                    table.as_str(),
                    key.as_str(),
                    column.as_str(),
                    value.as_str()
                ),
                ("m", "(id=1)", "n", "\"ten\"")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        matches!(&report.rejected[1].reason, RecordError::Refused { key, .. } if key == "(id=2)")
    );
    assert_eq!(
        f.rows("SELECT id, n, r, t, d, flag, at, b FROM m ORDER BY id"),
        vec![
            vec![
                "i:0",
                "i:10",
                "r:2.5",
                "t:5",
                "r:12.5",
                "i:1",
                "t:2024-01-01 10:00:00",
                "b:[1, 2]"
            ],
            vec![
                "i:4",
                "i:7",
                "r:2.5",
                "t:5",
                "r:12.5",
                "i:1",
                "t:2024-01-01 10:00:00",
                "b:[1, 2]"
            ],
        ]
    );
    assert_eq!(
        sink.stored_offset("job", "main").await.expect("read"),
        Some("9-0".into())
    );
}

#[tokio::test]
async fn missing_tables_and_columns_are_configuration_errors() {
    let f = File::new(USERS);
    assert!(matches!(
        SqliteSink::open(SqliteConfig::new(&f.path), &["nope"]),
        Err(SinkError::UnknownTable { table }) if table == "nope"
    ));
    let mut sink = f.sink(&["users"]);
    let err = sink
        .write(&batch(vec![(
            0,
            RowOp::upsert("t", "users")
                .key("id", 1i64)
                .value("nickname", text("x")),
        )]))
        .await
        .expect_err("unknown column");
    assert!(err.is_configuration());
    assert!(
        matches!(err, SinkError::UnknownColumn { table, column } if table == "users" && column == "nickname")
    );
}

#[tokio::test]
async fn offsets_commit_with_the_rows_or_not_at_all() {
    let f = File::new(USERS);
    let mut sink = f.sink(&["users"]);
    let mut b = batch(vec![(0, RowOp::upsert("t", "users").key("id", 1i64))]);
    b.offsets.push(offset("job", "main", "1-0"));
    sink.write(&b).await.expect("first batch");
    // Another writer holds the write lock: the batch fails as transient and
    // nothing of it lands.
    let other = Connection::open(&f.path).expect("open");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let mut fast = SqliteConfig::new(&f.path);
    fast.busy_timeout = std::time::Duration::from_millis(50);
    let mut blocked = SqliteSink::open(fast, &["users"]);
    // Opening may itself be refused while locked (creating the offsets
    // table needs the lock only if missing; it exists, so it opens).
    let blocked = blocked.as_mut().expect("opens while locked");
    let mut b = batch(vec![(0, RowOp::upsert("t", "users").key("id", 2i64))]);
    b.offsets.push(offset("job", "main", "2-0"));
    let err = blocked.write(&b).await.expect_err("locked");
    assert!(err.is_transient(), "{err}");
    other.execute_batch("ROLLBACK").expect("unlock");
    assert_eq!(
        sink.stored_offset("job", "main").await.expect("read"),
        Some("1-0".into())
    );
    // A failure after rows were written inside the transaction: the offsets
    // table is gone, so storing the offset fails; the row must go too.
    other
        .execute_batch("ALTER TABLE wb_offsets RENAME TO wb_offsets_away")
        .expect("rename");
    let err = sink.write(&b).await.expect_err("offset write fails");
    assert!(!err.is_transient());
    other
        .execute_batch("ALTER TABLE wb_offsets_away RENAME TO wb_offsets")
        .expect("rename back");
    assert_eq!(f.rows("SELECT id FROM users"), vec![vec!["i:1"]]);
    assert_eq!(
        sink.stored_offset("job", "main").await.expect("read"),
        Some("1-0".into())
    );
    sink.write(&b).await.expect("retry");
    assert_eq!(
        sink.stored_offset("job", "main").await.expect("read"),
        Some("2-0".into())
    );
}

#[tokio::test]
async fn sql_in_names_keys_and_values_is_only_data() {
    let f = File::new(
        "CREATE TABLE \"odd \"\"t\"\"; --\" (\"select\" TEXT PRIMARY KEY, \"x'y\" TEXT);",
    );
    let table = "odd \"t\"; --";
    let mut sink = f.sink(&[table]);
    let key = "'); DROP TABLE users; --";
    let value = "\" OR 1=1; ?1 \\ '";
    sink.write(&batch(vec![(
        0,
        RowOp::upsert("t", table)
            .key("select", text(key))
            .value("x'y", text(value)),
    )]))
    .await
    .expect("batch");
    assert_eq!(
        f.rows("SELECT \"select\", \"x'y\" FROM \"odd \"\"t\"\"; --\""),
        vec![vec![format!("t:{key}"), format!("t:{value}")]]
    );
}

#[tokio::test]
async fn replace_resets_the_columns_the_mapping_leaves_out() {
    let f = File::new(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, extra TEXT DEFAULT 'd');",
    );
    let mut sink = f.sink(&["users"]);
    sink.write(&batch(vec![(
        0,
        RowOp::upsert("t", "users")
            .key("id", 1i64)
            .value("name", text("ann"))
            .value("age", 30i64)
            .value("extra", text("x")),
    )]))
    .await
    .expect("first batch");
    // Two replaces of the same key and one of a new key in one batch: the
    // delete and insert of each run in order, the last one wins.
    let mut ops = replaced(0, 1, "bob");
    ops.extend(replaced(1, 2, "cy"));
    ops.extend(replaced(2, 1, "dee"));
    let report = sink.write(&batch(ops)).await.expect("replace batch");
    assert_eq!(report.delivered, vec![0, 1, 2]);
    assert_eq!(
        f.rows("SELECT id, name, age, extra FROM users ORDER BY id"),
        vec![
            vec!["i:1", "t:dee", "null", "t:d"],
            vec!["i:2", "t:cy", "null", "t:d"],
        ]
    );
}
