//! PostgreSQL sink against a real server.

use wb_engine::sink::postgres::{PgConfig, PgSink};
use wb_engine::sink::{Cell, ErrorClass, RecordError, RowOp, Sink, SinkError};
use wb_tests::{pg_conninfo as conninfo, PgSchema, TextRow};

use crate::{batch, offset, replaced, text, unique};

/// A schema of its own for one test (the harness's [`PgSchema`], dropped
/// when the test ends) and a sink configured for it.
struct Db(PgSchema);

impl Db {
    async fn new(ddl: &str) -> Db {
        Db(PgSchema::create("wb_sink", ddl).await)
    }

    fn schema(&self) -> &str {
        &self.0.name
    }

    fn client(&self) -> &tokio_postgres::Client {
        &self.0.client
    }

    fn config(&self) -> PgConfig {
        let mut c = PgConfig::new(conninfo());
        c.schema = self.schema().to_owned();
        c.offsets_schema = self.schema().to_owned();
        c
    }

    async fn sink(&self, tables: &[&str]) -> PgSink {
        PgSink::connect(self.config(), tables)
            .await
            .expect("sink connects")
    }

    /// Rows of `sql` as text, for comparing.
    async fn rows(&self, sql: &str) -> Vec<TextRow> {
        self.0.rows(sql).await
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

const USERS: &str = "CREATE TABLE users (id int8 PRIMARY KEY, name text, age int4, extra text);";

#[tokio::test]
async fn upserts_update_and_delete() {
    let db = Db::new(USERS).await;
    let mut sink = db.sink(&["users"]).await;
    let up = |id: i64, name: &str, age: i64| {
        RowOp::upsert("t", "users")
            .key("id", id)
            .value("name", text(name))
            .value("age", age)
    };
    let report = sink
        .write(&batch(vec![
            (0, up(1, "ann", 30)),
            (1, up(2, "bob", 40)),
            (2, up(3, "cy", 50)),
        ]))
        .await
        .expect("first batch commits");
    assert_eq!(report.delivered, vec![0, 1, 2]);
    let report = sink
        .write(&batch(vec![
            (0, up(2, "bobby", 41)),
            (1, RowOp::delete("t", "users").key("id", 3i64)),
        ]))
        .await
        .expect("second batch commits");
    assert!(report.rejected.is_empty());
    assert_eq!(
        db.rows("SELECT id, name, age FROM users ORDER BY id").await,
        vec![
            vec![s("1"), s("ann"), s("30")],
            vec![s("2"), s("bobby"), s("41")]
        ]
    );
}

#[tokio::test]
async fn delete_matching_replaces_children_and_inserts_append() {
    let db = Db::new(
        "CREATE TABLE addr (user_id int8, addr_id text, city text, PRIMARY KEY (user_id, addr_id));
         CREATE TABLE events (seq bigserial PRIMARY KEY, user_id int8, what text);
         INSERT INTO addr VALUES (1, 'a', 'Oslo'), (1, 'b', 'Rome'), (2, 'a', 'Lima');",
    )
    .await;
    let mut sink = db.sink(&["addr", "events"]).await;
    let child = |a: &str, city: &str| {
        RowOp::upsert("t", "addr")
            .key("user_id", 1i64)
            .key("addr_id", text(a))
            .value("city", text(city))
    };
    let ev = |what: &str| {
        RowOp::insert("t", "events")
            .value("user_id", 1i64)
            .value("what", text(what))
    };
    sink.write(&batch(vec![
        (0, RowOp::delete_matching("t", "addr").key("user_id", 1i64)),
        (0, child("a", "Oslo")),
        (0, child("c", "Kyiv")),
        (0, ev("x")),
        (1, ev("y")),
        (1, ev("y")),
    ]))
    .await
    .expect("batch commits");
    assert_eq!(
        db.rows("SELECT user_id, addr_id, city FROM addr ORDER BY 1, 2")
            .await,
        vec![
            vec![s("1"), s("a"), s("Oslo")],
            vec![s("1"), s("c"), s("Kyiv")],
            vec![s("2"), s("a"), s("Lima")]
        ]
    );
    assert_eq!(
        db.rows("SELECT what FROM events ORDER BY seq").await,
        vec![vec![s("x")], vec![s("y")], vec![s("y")]]
    );
}

#[tokio::test]
async fn one_batch_keeps_the_order_of_ops_per_key() {
    let db = Db::new(&format!(
        "{USERS} INSERT INTO users VALUES (2, 'old', 1, 'keep?'), (3, 'gone', 1, NULL);"
    ))
    .await;
    let mut sink = db.sink(&["users"]).await;
    let up = |id: i64, name: &str| {
        RowOp::upsert("t", "users")
            .key("id", id)
            .value("name", text(name))
    };
    let del = |id: i64| RowOp::delete("t", "users").key("id", id);
    let report = sink
        .write(&batch(vec![
            (0, up(1, "first")),
            (1, up(1, "second")), // same key twice in one statement: last wins
            (2, del(2)),
            (3, up(2, "reborn")), // delete then upsert: the row is rebuilt
            (4, up(3, "briefly")),
            (5, del(3)), // upsert then delete: ends deleted
        ]))
        .await
        .expect("batch commits");
    assert_eq!(report.delivered, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(
        db.rows("SELECT id, name, extra FROM users ORDER BY id")
            .await,
        vec![
            vec![s("1"), s("second"), None],
            vec![s("2"), s("reborn"), None]
        ]
    );
}

#[tokio::test]
async fn cells_convert_to_column_types() {
    let db = Db::new(
        "CREATE TABLE typed (id int4 PRIMARY KEY, small int2, big int8, f4 float4, f8 float8, num numeric(10,2),
           flag bool, doc json, docb jsonb, raw bytea, at timestamp, atz timestamptz, day date, v varchar(10), u uuid);",
    )
    .await;
    let mut sink = db.sink(&["typed"]).await;
    let op = RowOp::upsert("t", "typed")
        .key("id", text("7"))
        .value("small", text("-3"))
        .value("big", text("9000000000"))
        .value("f4", text("1.5"))
        .value("f8", Cell::Integer(2))
        .value("num", text("12.345"))
        .value("flag", text("yes"))
        .value("doc", Cell::Json("{\"a\": [1, 2]}".into()))
        .value("docb", text("{\"b\": true}"))
        .value("raw", Cell::Bytes(vec![0u8, 255, 10].into()))
        .value("at", text("2024-03-01 12:30:00.5"))
        .value("atz", text("2024-03-01T12:30:00+02:00"))
        .value("day", text("2024-02-29"))
        .value("v", Cell::Integer(42))
        .value("u", text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    let report = sink
        .write(&batch(vec![(0, op)]))
        .await
        .expect("batch commits");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let rows = db
        .rows(
            "SET TIME ZONE 'UTC'; SELECT id, small, big, f4, f8, num, flag, doc, docb, encode(raw, 'hex'), at, atz, day, v, u FROM typed",
        )
        .await;
    assert_eq!(
        rows,
        vec![vec![
            s("7"),
            s("-3"),
            s("9000000000"),
            s("1.5"),
            s("2"),
            s("12.35"),
            s("t"),
            s("{\"a\": [1, 2]}"),
            s("{\"b\": true}"),
            s("00ff0a"),
            s("2024-03-01 12:30:00.5"),
            s("2024-03-01 10:30:00+00"),
            s("2024-02-29"),
            s("42"),
            s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ]]
    );
}

#[tokio::test]
async fn a_bad_value_is_rejected_with_its_reason_and_the_rest_commits() {
    let db = Db::new("CREATE TABLE users (id int8 PRIMARY KEY, name text NOT NULL, age int4, born date, code varchar(3));").await;
    let mut sink = db.sink(&["users"]).await;
    let up = |id: i64| {
        RowOp::upsert("t", "users")
            .key("id", id)
            .value("name", text("n"))
    };
    let mut ops = Vec::new();
    for i in 0..10 {
        ops.push((i as usize, up(i).value("age", text("20"))));
    }
    // Caught before sending: a value that does not convert.
    ops[3].1 = up(3).value("age", text("abc"));
    ops[4].1 = up(4).value("born", text("2023-02-30"));
    // Caught by the server: NOT NULL and a too-long varchar, found by
    // splitting the batch.
    ops[6].1 = RowOp::upsert("t", "users")
        .key("id", 6i64)
        .value("name", Cell::Null);
    ops[8].1 = up(8).value("code", text("toolong"));
    let mut b = batch(ops);
    b.offsets.push(offset("job", "shard0", "5-0"));
    let report = sink
        .write(&b)
        .await
        .expect("batch commits around the bad rows");
    assert_eq!(report.delivered, vec![0, 1, 2, 5, 7, 9]);
    let reasons: Vec<(usize, &RecordError)> = report
        .rejected
        .iter()
        .map(|r| (r.change, &r.reason))
        .collect();
    assert_eq!(reasons.len(), 4);
    match reasons[0] {
        (
            3,
            RecordError::Conversion {
                table,
                key,
                column,
                value,
                expected,
            },
        ) => {
            assert_eq!(
                (table.as_str(), key.as_str(), column.as_str()),
                ("users", "(id=3)", "age")
            );
            assert_eq!((value.as_str(), expected.as_str()), ("\"abc\"", "integer"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(reasons[1], (4, RecordError::Conversion { column, .. }) if column == "born"));
    match reasons[2] {
        (
            6,
            RecordError::Refused {
                table,
                key,
                column,
                code,
                ..
            },
        ) => {
            assert_eq!(
                (table.as_str(), key.as_str(), code.as_str()),
                ("users", "(id=6)", "23502")
            );
            assert_eq!(column.as_deref(), Some("name"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(reasons[3], (8, RecordError::Refused { code, .. }) if code == "22001"));
    assert!(report.rejected[0]
        .reason
        .to_string()
        .contains("column age: value \"abc\""));
    assert_eq!(
        db.rows("SELECT id FROM users ORDER BY id").await,
        [0, 1, 2, 5, 7, 9]
            .iter()
            .map(|i| vec![Some(i.to_string())])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        sink.stored_offset("job", "shard0")
            .await
            .expect("offset read"),
        Some("5-0".into())
    );
}

#[tokio::test]
async fn missing_tables_and_columns_are_configuration_errors() {
    let db = Db::new(USERS).await;
    match PgSink::connect(db.config(), &["nope"]).await {
        Err(e @ SinkError::UnknownTable { .. }) => {
            assert!(e.is_configuration() && !e.is_transient());
            assert!(e.to_string().contains("nope"));
        }
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("a missing table was accepted"),
    }
    let mut sink = db.sink(&["users"]).await;
    let err = sink
        .write(&batch(vec![(
            0,
            RowOp::upsert("t", "users")
                .key("id", 1i64)
                .value("nickname", text("x")),
        )]))
        .await
        .expect_err("an unknown column fails the batch");
    assert!(
        matches!(&err, SinkError::UnknownColumn { table, column } if table == "users" && column == "nickname")
    );
    assert_eq!(err.class(), ErrorClass::Configuration);
    let err = sink
        .write(&batch(vec![(
            0,
            RowOp::upsert("t", "users").key("name", text("x")),
        )]))
        .await
        .expect_err("an upsert on a non-unique key fails the batch");
    assert!(matches!(err, SinkError::NoUniqueKey { .. }));
    // Privileges taken away after start: the server's 42501.
    db.client()
        .batch_execute("CREATE ROLE wb_sink_ro NOLOGIN")
        .await
        .ok();
    let mut cfg = db.config();
    cfg.conninfo = format!("{} options='-c role=wb_sink_ro'", conninfo());
    db.client()
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA \"{0}\" TO wb_sink_ro; GRANT SELECT ON ALL TABLES IN SCHEMA \"{0}\" TO wb_sink_ro",
            db.schema()
        ))
        .await
        .expect("grants");
    let mut ro = PgSink::connect(cfg, &["users"])
        .await
        .expect("read-only sink connects");
    let err = ro
        .write(&batch(vec![(
            0,
            RowOp::upsert("t", "users").key("id", 1i64),
        )]))
        .await
        .expect_err("no insert privilege");
    assert_eq!(err.code(), Some("42501"));
    assert!(err.is_configuration());
    db.client()
        .batch_execute(&format!("REVOKE ALL ON SCHEMA \"{0}\" FROM wb_sink_ro; REVOKE ALL ON ALL TABLES IN SCHEMA \"{0}\" FROM wb_sink_ro", db.schema()))
        .await
        .ok();
}

#[tokio::test]
async fn offsets_commit_with_the_rows_or_not_at_all() {
    let db = Db::new(&format!(
        "{USERS}
         CREATE TABLE audit (id int8 PRIMARY KEY, note text);
         CREATE FUNCTION refuse() RETURNS trigger AS $$
           BEGIN IF NEW.note = 'boom' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '55P03'; END IF; RETURN NEW; END
         $$ LANGUAGE plpgsql;
         CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION refuse();"
    ))
    .await;
    let mut sink = db.sink(&["users", "audit"]).await;
    assert_eq!(sink.stored_offset("job", "s0").await.expect("read"), None);
    let mut b = batch(vec![(
        0,
        RowOp::upsert("t", "users")
            .key("id", 1i64)
            .value("name", text("a")),
    )]);
    b.offsets.push(offset("job", "s0", "100-0"));
    sink.write(&b).await.expect("first batch");
    assert_eq!(
        sink.stored_offset("job", "s0").await.expect("read"),
        Some("100-0".into())
    );

    // The users row is written by the first statement, then the audit row
    // fails with a lock-not-available error (transient): nothing stays.
    let mut b = batch(vec![
        (
            0,
            RowOp::upsert("t", "users")
                .key("id", 2i64)
                .value("name", text("b")),
        ),
        (
            1,
            RowOp::upsert("t", "audit")
                .key("id", 1i64)
                .value("note", text("boom")),
        ),
    ]);
    b.offsets.push(offset("job", "s0", "200-0"));
    let err = sink.write(&b).await.expect_err("second batch fails");
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.code(), Some("55P03"));
    assert_eq!(
        sink.stored_offset("job", "s0").await.expect("read"),
        Some("100-0".into())
    );
    assert_eq!(db.rows("SELECT id FROM users").await, vec![vec![s("1")]]);
    // The sink is usable after a failed batch.
    b.ops.truncate(1);
    sink.write(&b).await.expect("retried batch");
    assert_eq!(
        sink.stored_offset("job", "s0").await.expect("read"),
        Some("200-0".into())
    );
    assert_eq!(db.rows("SELECT id FROM users ORDER BY id").await.len(), 2);
}

#[tokio::test]
async fn sql_in_names_keys_and_values_is_only_data() {
    let db = Db::new(
        "CREATE TABLE \"odd \"\"table\"\"; --\" (\"select\" text PRIMARY KEY, \"x'y\" text);",
    )
    .await;
    let table = "odd \"table\"; --";
    let mut sink = db.sink(&[table]).await;
    let key = "'); DROP TABLE users; --";
    let value = "\" OR 1=1; $1 $$ \\ '";
    sink.write(&batch(vec![(
        0,
        RowOp::upsert("t", table)
            .key("select", text(key))
            .value("x'y", text(value)),
    )]))
    .await
    .expect("batch commits");
    let rows = db
        .rows("SELECT \"select\", \"x'y\" FROM \"odd \"\"table\"\"; --\"")
        .await;
    assert_eq!(rows, vec![vec![s(key), s(value)]]);
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    let mut cfg =
        PgConfig::new("host=127.0.0.1 port=1 user=postgres dbname=test connect_timeout=2");
    cfg.schema = "public".into();
    match PgSink::connect(cfg, &[]).await {
        Err(e) => assert!(e.is_transient(), "{e}"),
        Ok(_) => panic!("connected to port 1"),
    }
}

#[tokio::test]
async fn a_connection_killed_by_the_server_is_transient_and_replaced() {
    let db = Db::new(USERS).await;
    let app = unique("wb_sink_kill");
    let mut cfg = db.config();
    cfg.conninfo = format!("{} application_name={app}", conninfo());
    let mut sink = PgSink::connect(cfg, &["users"])
        .await
        .expect("sink connects");
    let pids = format!("SELECT pid::text FROM pg_stat_activity WHERE application_name = '{app}'");
    let before = db.rows(&pids).await;
    let killed = db
        .rows(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}'"
        ))
        .await;
    assert_eq!(killed, vec![vec![s("t")]]);
    // The server's goodbye (57P01) and the socket closing may reach the
    // client before the next write (the sink then connects again first) or
    // during it (the write fails as a transient error, and a later one
    // connects again). Either way the row lands, on a new connection.
    let mut failures = Vec::new();
    for _ in 0..50 {
        let written = sink
            .write(&batch(vec![(
                0,
                RowOp::upsert("t", "users").key("id", 1i64),
            )]))
            .await;
        match written {
            Ok(report) => {
                assert_eq!(report.delivered, vec![0]);
                break;
            }
            Err(e) => {
                assert!(e.is_transient(), "{e}");
                failures.push(e.to_string());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    assert_eq!(
        db.rows("SELECT id FROM users").await,
        vec![vec![s("1")]],
        "{failures:?}"
    );
    let after = db.rows(&pids).await;
    assert!(
        after.len() == 1 && !before.contains(&after[0]),
        "before {before:?}, after {after:?}"
    );
}

#[tokio::test]
async fn keys_of_server_cast_types_match_on_delete_and_key_only_upserts_insert_once() {
    let db = Db::new(
        "CREATE TABLE tags (id uuid, amount numeric(8,2), label text, PRIMARY KEY (id, amount));
         CREATE TABLE seen (k text PRIMARY KEY);",
    )
    .await;
    let mut sink = db.sink(&["tags", "seen"]).await;
    let id = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let tag = |amount: &str| {
        RowOp::upsert("t", "tags")
            .key("id", text(id))
            .key("amount", text(amount))
    };
    sink.write(&batch(vec![
        (0, tag("1.50").value("label", text("a"))),
        (1, tag("2").value("label", text("b"))),
        (2, RowOp::upsert("t", "seen").key("k", text("x"))),
        (3, RowOp::upsert("t", "seen").key("k", text("x"))),
    ]))
    .await
    .expect("first batch");
    // "1.5" is the same numeric key as "1.50": the cast makes them match.
    sink.write(&batch(vec![
        (
            0,
            RowOp::delete("t", "tags")
                .key("id", text(id))
                .key("amount", text("1.5")),
        ),
        (1, RowOp::upsert("t", "seen").key("k", text("x"))),
    ]))
    .await
    .expect("second batch");
    assert_eq!(
        db.rows("SELECT amount, label FROM tags").await,
        vec![vec![s("2.00"), s("b")]]
    );
    assert_eq!(db.rows("SELECT k FROM seen").await, vec![vec![s("x")]]);
    // Two spellings of one numeric key in one batch meet only on the
    // server; the batch is split and both apply in order, the last winning.
    let report = sink
        .write(&batch(vec![
            (0, tag("3.0").value("label", text("first"))),
            (1, tag("3.00").value("label", text("second"))),
        ]))
        .await
        .expect("third batch");
    assert_eq!(report.delivered, vec![0, 1]);
    assert!(report.rejected.is_empty());
    assert_eq!(
        db.rows("SELECT label FROM tags WHERE amount = 3").await,
        vec![vec![s("second")]]
    );
}

#[tokio::test]
async fn replace_resets_the_columns_the_mapping_leaves_out() {
    let db = Db::new(
        "CREATE TABLE users (id int8 PRIMARY KEY, name text, age int4, extra text DEFAULT 'd');",
    )
    .await;
    let mut sink = db.sink(&["users"]).await;
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
        db.rows("SELECT id, name, age, extra FROM users ORDER BY id")
            .await,
        vec![
            vec![s("1"), s("dee"), None, s("d")],
            vec![s("2"), s("cy"), None, s("d")],
        ]
    );
}
