//! `wb-engine run`: a project directory, a real Valkey with the capture
//! module, a SQLite target.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use wb_tests::redis;
use wb_tests::{guests, workspace_root, Flavor, Server, ServerOptions, TempDir};

use crate::{mapper, wait_for_jobs, Engine};

fn engine(project: &Path, server: &Server, db: &Path) -> Engine {
    Engine::start(
        project,
        &server.url(),
        &[("WB_SQLITE_PATH", db.as_os_str())],
    )
}

fn rows(db: &Path) -> Vec<(String, Option<String>, Option<String>)> {
    let db = rusqlite::Connection::open(db).expect("open");
    let mut stmt = db
        .prepare("SELECT user_id, first_name, email FROM users ORDER BY user_id")
        .expect("select");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn run_writes_the_quickstart_job_into_sqlite_and_stops_on_sigterm() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    let dir = TempDir::new("cli");
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create db")
        .execute_batch("CREATE TABLE users (user_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT)")
        .expect("create table");
    let project = workspace_root().join("jobs/quickstart");
    let child = engine(&project, &server, &db);
    // The engine registers the job; wait for it before writing.
    wait_for_jobs(&mut con, &["users"]);
    let _: () = redis::cmd("HSET")
        .arg("user:1")
        .arg(&[
            "first_name",
            "Ann",
            "last_name",
            "Lee",
            "email",
            "Ann@Example.COM",
        ])
        .query(&mut con)
        .expect("HSET");
    let _: () = redis::cmd("HSET")
        .arg("user:2")
        .arg(&["first_name", "Bob"])
        .query(&mut con)
        .expect("HSET");
    let _: () = redis::cmd("HSET")
        .arg("order:9")
        .arg(&["total", "3"])
        .query(&mut con)
        .expect("HSET");
    let want = vec![
        (
            "1".to_owned(),
            Some("Ann".to_owned()),
            Some("ann@example.com".to_owned()),
        ),
        ("2".to_owned(), Some("Bob".to_owned()), None),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows(&db) != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _: () = redis::cmd("DEL")
        .arg("user:2")
        .query(&mut con)
        .expect("DEL");
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows(&db) != want[..1] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, log) = child.stop();
    assert_eq!(rows(&db), want[..1], "engine log:\n{log}");
    assert!(ok, "wb-engine did not exit 0 on SIGTERM:\n{log}");
    assert!(log.contains("stopped"), "{log}");
}

/// Redis down when the engine starts: it waits (and says so), registers
/// its job once the server is up, and writes its changes.
#[test]
fn run_waits_for_a_redis_that_is_down_at_start() {
    let mut server = Server::start(ServerOptions::new(Flavor::Valkey));
    server.kill();
    let dir = TempDir::new("cli-redis-down");
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create db")
        .execute_batch("CREATE TABLE users (user_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT)")
        .expect("create table");
    let child = engine(&workspace_root().join("jobs/quickstart"), &server, &db);
    let waiting = wb_tests::wait_until(Duration::from_secs(30), || {
        child
            .log()
            .contains("Redis cannot be reached; waiting for it")
    });
    assert!(
        waiting,
        "the engine does not say it waits:\n{}",
        child.log()
    );
    server.restart();
    let mut con = server.connection();
    wait_for_jobs(&mut con, &["users"]);
    wb_tests::cmd(&mut con, &["HSET", "user:7", "first_name", "Gus"]);
    let landed = wb_tests::wait_until(Duration::from_secs(30), || rows(&db).len() == 1);
    let (ok, log) = child.stop();
    assert!(landed, "the change did not land:\n{log}");
    assert_eq!(rows(&db), [("7".to_owned(), Some("Gus".to_owned()), None)]);
    assert!(ok, "wb-engine did not exit 0 on SIGTERM:\n{log}");
}

#[test]
fn run_names_the_file_and_field_of_a_bad_project() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let dir = TempDir::new("cli-bad");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("mkdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "connections:\n  target:\n    type: sqlite\n    path: x.db\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("jobs/users.yaml"),
        "source:\n  redis:\n    key_pattern: 'user:*'\noutput:\n  - uses: relational.write\n    with:\n      connection: elsewhere\n      table: users\n      keys: [id]\n      mapping: [name]\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_wb-engine"))
        .arg("run")
        .arg("--dir")
        .arg(dir.path())
        .env("WB_REDIS_URL", server.url())
        .output()
        .expect("wb-engine runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("users.yaml")
            && stderr.contains("'elsewhere'")
            && stderr.contains("target"),
        "{stderr}"
    );
}

#[test]
fn run_runs_a_job_whose_wasm_step_writes_the_rows() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    let dir = TempDir::new("cli-wasm");
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create db")
        .execute_batch(
            "CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, email TEXT, \
             email_domain TEXT, phone TEXT, vip BOOLEAN)",
        )
        .expect("create table");
    std::fs::create_dir_all(dir.path().join("jobs/components")).expect("mkdir");
    // The component path is relative to the job file.
    std::fs::copy(
        guests::build("jobs/mask-pii"),
        dir.path().join("jobs/components/mask.wasm"),
    )
    .expect("copy the component");
    std::fs::write(
        dir.path().join("config.yaml"),
        "connections:\n  target:\n    type: sqlite\n    path: ${WB_SQLITE_PATH}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("jobs/customers.yaml"),
        "source:\n  redis:\n    key_pattern: 'customer:*'\ntransform:\n  - uses: wasm\n    with:\n      component: components/mask.wasm\n      params: {mask: email}\n",
    )
    .expect("write");
    let child = engine(dir.path(), &server, &db);
    wait_for_jobs(&mut con, &["customers"]);
    for (key, fields) in [
        (
            "customer:1",
            &[
                "name",
                "Ada",
                "email",
                "ada@example.com",
                "phone",
                "555 1234",
                "spend",
                "2000",
            ][..],
        ),
        ("customer:2", &["name", "Bob"][..]),
    ] {
        let _: () = redis::cmd("HSET")
            .arg(key)
            .arg(fields)
            .query(&mut con)
            .expect("HSET");
    }
    let _: () = redis::cmd("DEL")
        .arg("customer:2")
        .query(&mut con)
        .expect("DEL");
    type Row = (String, String, String, String, bool);
    let rows = || -> Vec<Row> {
        let db = rusqlite::Connection::open(&db).expect("open");
        let mut stmt = db
            .prepare("SELECT id, name, email, phone, vip FROM customers ORDER BY id")
            .expect("select");
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    };
    // Only email is masked (the job's params), the phone is kept.
    let want: Vec<Row> = vec![(
        "1".into(),
        "Ada".into(),
        "a***@example.com".into(),
        "555 1234".into(),
        true,
    )];
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows() != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, log) = child.stop();
    assert_eq!(rows(), want, "engine log:\n{log}");
    assert!(ok, "wb-engine did not exit 0 on SIGTERM:\n{log}");
}

/// Jobs writing to two connections (SQLite and PostgreSQL): one worker per
/// connection, each job's rows in its own database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_each_job_to_its_own_connection() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    let dir = TempDir::new("cli-two");
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create db")
        .execute_batch("CREATE TABLE users (user_id TEXT PRIMARY KEY, name TEXT)")
        .expect("create table");
    let pg = wb_tests::PgSchema::create(
        "cli_two",
        "CREATE TABLE orders (order_id int8 PRIMARY KEY, total numeric)",
    )
    .await;
    std::fs::create_dir_all(dir.path().join("jobs")).expect("mkdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        // Each connection keeps its offsets in a table of its own choosing
        // (the schema test has a PostgreSQL job named `orders` too).
        format!(
            "connections:\n  lite:\n    type: sqlite\n    path: ${{WB_SQLITE_PATH}}\n    \
             offsets_table: lite_offsets\n  \
             pg:\n    type: postgresql\n    host: 127.0.0.1\n    port: 5432\n    database: test\n    \
             user: postgres\n    offsets_table: {}.my_offsets\n",
            pg.name
        ),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("jobs/users.yaml"),
        "source: {redis: {key_pattern: 'user:*'}}\noutput:\n  - uses: relational.write\n    with:\n      \
         connection: lite\n      table: users\n      keys: [{user_id: key_part(1)}]\n      mapping: [name]\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("jobs/orders.yaml"),
        format!(
            "source: {{redis: {{key_pattern: 'order:*'}}}}\noutput:\n  - uses: relational.write\n    with:\n      \
             connection: pg\n      schema: {}\n      table: orders\n      keys: [{{order_id: key_part(1)}}]\n      mapping: [total]\n",
            pg.name
        ),
    )
    .expect("write");
    let child = engine(dir.path(), &server, &db);
    wait_for_jobs(&mut con, &["users", "orders"]);
    for (key, field, value) in [
        ("user:1", "name", "Ann"),
        ("order:7", "total", "12.50"),
        ("user:2", "name", "Bob"),
        ("order:8", "total", "3"),
    ] {
        let _: () = redis::cmd("HSET")
            .arg(key)
            .arg(field)
            .arg(value)
            .query(&mut con)
            .expect("HSET");
    }
    let users = || wb_tests::sqlite_rows(&db, "SELECT user_id, name FROM users ORDER BY 1");
    let want_users = vec![
        vec![Some("1".to_owned()), Some("Ann".to_owned())],
        vec![Some("2".to_owned()), Some("Bob".to_owned())],
    ];
    let want_orders = vec![
        vec![Some("7".to_owned()), Some("12.50".to_owned())],
        vec![Some("8".to_owned()), Some("3".to_owned())],
    ];
    let orders_sql = "SELECT order_id, total FROM orders ORDER BY 1";
    let deadline = Instant::now() + Duration::from_secs(30);
    while (users() != want_users || pg.rows(orders_sql).await != want_orders)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, log) = child.stop();
    assert_eq!(users(), want_users, "engine log:\n{log}");
    assert_eq!(pg.rows(orders_sql).await, want_orders, "engine log:\n{log}");
    assert!(ok, "wb-engine did not exit 0 on SIGTERM:\n{log}");
    // The offsets landed in the tables the connections name, at each
    // stream's last entry.
    // (The entries themselves are trimmed once acknowledged.)
    let mut last_id = |job: &str| {
        let info: std::collections::HashMap<String, redis::Value> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(format!("wb:{{0}}:changes:{job}"))
            .query(&mut con)
            .expect("XINFO STREAM");
        redis::from_redis_value::<String>(&info["last-generated-id"]).expect("an entry ID")
    };
    let (users_last, orders_last) = (last_id("users"), last_id("orders"));
    assert_eq!(
        wb_tests::sqlite_rows(&db, "SELECT job, last_id FROM lite_offsets"),
        [vec![Some("users".to_owned()), Some(users_last)]]
    );
    let offsets = format!("SELECT job, last_id FROM {}.my_offsets", pg.name);
    assert_eq!(
        pg.rows(&offsets).await,
        [vec![Some("orders".to_owned()), Some(orders_last)]]
    );
}

/// Runs `wb-engine run` on `project` until it exits, which it must do with
/// code 1; its stderr.
fn run_failing(project: &Path, server: &Server) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_wb-engine"))
        .arg("run")
        .arg("--dir")
        .arg(project)
        .arg("--mapper")
        .arg(mapper())
        .env("WB_REDIS_URL", server.url())
        .output()
        .expect("wb-engine runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    stderr
}

/// A job whose outputs name two connections would need one transaction
/// across two databases: refused, naming the job and the connections.
#[test]
fn run_refuses_a_job_that_spans_two_connections() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let dir = TempDir::new("cli-span");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("mkdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "connections:\n  a: {type: sqlite, path: a.db}\n  b: {type: sqlite, path: b.db}\n",
    )
    .expect("write");
    let output = |connection: &str| {
        format!(
            "  - uses: relational.write\n    with: {{connection: {connection}, table: users, \
             keys: [{{id: key_part(1)}}], mapping: [name]}}\n"
        )
    };
    std::fs::write(
        dir.path().join("jobs/users.yaml"),
        format!(
            "source: {{redis: {{key_pattern: 'user:*'}}}}\noutput:\n{}{}",
            output("a"),
            output("b")
        ),
    )
    .expect("write");
    let stderr = run_failing(dir.path(), &server);
    assert!(
        stderr.contains("job 'users' writes to several connections (a, b)"),
        "{stderr}"
    );
}

/// An offsets table in a schema the database lacks: the engine stops with
/// the server's own words, naming the schema (not the driver's bare
/// "db error").
#[test]
fn run_stops_with_the_servers_message_when_the_offsets_schema_is_missing() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let dir = TempDir::new("cli-offsets-schema");
    let schema = wb_tests::unique_name("wb_no_such_schema");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("mkdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        format!(
            "connections:\n  pg:\n    type: postgresql\n    host: 127.0.0.1\n    port: 5432\n    \
             database: test\n    user: postgres\n    offsets_table: {schema}.wb_offsets\n"
        ),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("jobs/users.yaml"),
        "source: {redis: {key_pattern: 'user:*'}}\noutput:\n  - uses: relational.write\n    \
         with: {connection: pg, table: users, keys: [{id: key_part(1)}], mapping: [name]}\n",
    )
    .expect("write");
    let stderr = run_failing(dir.path(), &server);
    assert!(
        stderr.contains(&format!(
            "creating the offsets table: the target failed (3F000): schema \"{schema}\" does not exist"
        )),
        "{stderr}"
    );
}

#[test]
fn run_runs_wasm_steps_before_declarative_outputs() {
    let server = Server::start(ServerOptions::new(Flavor::Valkey));
    let mut con = server.connection();
    let dir = TempDir::new("cli-step");
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .expect("create db")
        .execute_batch(
            "CREATE TABLE contacts (id TEXT PRIMARY KEY, name TEXT, email TEXT, \
             email_domain TEXT, phone TEXT)",
        )
        .expect("create table");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("mkdir");
    std::fs::write(
        dir.path().join("config.yaml"),
        "connections:\n  target:\n    type: sqlite\n    path: ${WB_SQLITE_PATH}\n",
    )
    .expect("write");
    // The example job, pointed at the test build of its step.
    let job = crate::test::normalize_contacts_job(&dir.path().join("jobs"));
    std::fs::rename(&job, dir.path().join("jobs/contacts.yaml")).expect("rename");
    let child = engine(dir.path(), &server, &db);
    wait_for_jobs(&mut con, &["contacts"]);
    for (key, fields) in [
        (
            "contact:1",
            &[
                "name",
                "Ada",
                "email",
                " Ada@Example.COM",
                "phone",
                "+1 (555) 010-2000",
            ][..],
        ),
        ("contact:2", &["name", "Bob", "email", "bob@x.org"][..]),
        ("contact:3", &["name", "QA", "email", "qa@example.test"][..]),
        ("contact:4", &["name", "Eve", "email", "eve"][..]),
    ] {
        let _: () = redis::cmd("HSET")
            .arg(key)
            .arg(fields)
            .query(&mut con)
            .expect("HSET");
    }
    let _: () = redis::cmd("DEL")
        .arg("contact:2")
        .query(&mut con)
        .expect("DEL");
    type Row = (String, String, String, String, Option<String>);
    let rows = || -> Vec<Row> {
        let db = rusqlite::Connection::open(&db).expect("open");
        let mut stmt = db
            .prepare("SELECT id, name, email, email_domain, phone FROM contacts ORDER BY id")
            .expect("select");
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    };
    // contact:1 normalised, contact:2 deleted (the delete went past the
    // step), contact:3 dropped by the step, contact:4 dead-lettered.
    let want: Vec<Row> = vec![(
        "1".into(),
        "Ada".into(),
        "ada@example.com".into(),
        "example.com".into(),
        Some("+15550102000".into()),
    )];
    let dlq = || -> Vec<redis::Value> {
        redis::cmd("XRANGE")
            .arg("wb:{0}:dlq:contacts")
            .arg("-")
            .arg("+")
            .query(&mut server.connection())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while (rows() != want || dlq().is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, log) = child.stop();
    assert_eq!(rows(), want, "engine log:\n{log}");
    let dead = format!("{:?}", dlq());
    assert!(
        dead.contains("contact:4") && dead.contains("is not an email address"),
        "{dead}"
    );
    assert!(ok, "wb-engine did not exit 0 on SIGTERM:\n{log}");
}
