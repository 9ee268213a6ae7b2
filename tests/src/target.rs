//! The relational side of the tests: a PostgreSQL schema of a test's own,
//! and the rows of a query read back as text from PostgreSQL or SQLite, so
//! that one expected table serves both targets.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// One row, every column as the target prints it (`None` for NULL).
pub type TextRow = Vec<Option<String>>;

/// The PostgreSQL the tests use: `WB_TEST_PG`, or the local server.
pub fn pg_conninfo() -> String {
    std::env::var("WB_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

/// A name no other test (in this run or a parallel one) uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A schema of one test's own, dropped with everything in it when the value
/// is dropped (passing or panicking), so tests run in parallel with each
/// other and with other suites on the same server.
pub struct PgSchema {
    pub name: String,
    /// A connection whose `search_path` is the schema.
    pub client: Client,
    conninfo: String,
}

impl PgSchema {
    /// Creates a schema named after `prefix` and runs `ddl` in it.
    pub async fn create(prefix: &str, ddl: &str) -> PgSchema {
        PgSchema::create_on(&pg_conninfo(), prefix, ddl).await
    }

    /// As [`PgSchema::create`], on the server at `conninfo`.
    pub async fn create_on(conninfo: &str, prefix: &str, ddl: &str) -> PgSchema {
        let name = unique_name(prefix);
        let (client, conn) = tokio_postgres::connect(conninfo, NoTls)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {conninfo}: {e}"));
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "CREATE SCHEMA \"{name}\"; SET search_path TO \"{name}\"; {ddl}"
            ))
            .await
            .unwrap_or_else(|e| panic!("test schema {name}: {e}"));
        PgSchema {
            name,
            client,
            conninfo: conninfo.to_owned(),
        }
    }

    /// The server's connection string.
    pub fn conninfo(&self) -> &str {
        &self.conninfo
    }

    /// Replaces the test's connection (after a server restart ended it).
    pub async fn reconnect(&mut self) {
        let (client, conn) = tokio_postgres::connect(&self.conninfo, NoTls)
            .await
            .unwrap_or_else(|e| panic!("reconnect to {}: {e}", self.conninfo));
        tokio::spawn(conn);
        client
            .batch_execute(&format!("SET search_path TO \"{}\"", self.name))
            .await
            .unwrap_or_else(|e| panic!("SET search_path: {e}"));
        self.client = client;
    }

    /// The rows of `sql`, as PostgreSQL prints them.
    pub async fn rows(&self, sql: &str) -> Vec<TextRow> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                }
                _ => None,
            })
            .collect()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let conninfo = self.conninfo.clone();
        // Drop may run inside the test's runtime, which cannot be blocked
        // on, or after it is gone: a thread with a runtime of its own does
        // the clean-up.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok((client, conn)) = tokio_postgres::connect(&conninfo, NoTls).await {
                        tokio::spawn(conn);
                        let _ = client
                            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// The rows of `sql` in the SQLite file at `path`, printed as PostgreSQL
/// prints the same values (integers and floats in their shortest form).
pub fn sqlite_rows(path: &Path, sql: &str) -> Vec<TextRow> {
    use rusqlite::types::ValueRef;
    let db =
        rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut stmt = db.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let width = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..width)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => None,
                        ValueRef::Integer(n) => Some(n.to_string()),
                        ValueRef::Real(f) => Some(f.to_string()),
                        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(b) => Some(format!("{b:02x?}")),
                    })
                })
                .collect::<Result<TextRow, rusqlite::Error>>()
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A target database to read back: a SQLite file or a PostgreSQL schema.
pub enum TargetDb {
    Sqlite(PathBuf),
    Postgres(PgSchema),
}

impl TargetDb {
    /// The rows of `sql` as text (see [`sqlite_rows`]).
    pub async fn rows(&self, sql: &str) -> Vec<TextRow> {
        match self {
            TargetDb::Sqlite(path) => sqlite_rows(path, sql),
            TargetDb::Postgres(schema) => schema.rows(sql).await,
        }
    }

    /// A short name for messages.
    pub fn label(&self) -> &'static str {
        match self {
            TargetDb::Sqlite(_) => "SQLite",
            TargetDb::Postgres(_) => "PostgreSQL",
        }
    }
}
