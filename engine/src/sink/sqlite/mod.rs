//! SQLite sink: one connection, one transaction per batch, cached prepared
//! statements run once per op in batch order (SQLite runs in-process, so a
//! statement per row costs no round trip, and order needs no planning).

mod convert;
mod schema;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension};
use wb_abi::OpKind;

use self::convert::convert;
use self::schema::TableInfo;
use super::error::{render_cell, render_key};
use super::{quote_ident, Batch, ErrorClass, RecordError, Rejection, Report, SinkError, TaggedOp};

/// Where and how a SQLite sink writes.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    pub path: PathBuf,
    /// Name of the offsets table, created if missing.
    pub offsets_table: String,
    /// How long to wait for another writer's lock before giving up (the
    /// give-up is a transient error).
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            offsets_table: "wb_offsets".into(),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A SQLite target.
pub struct SqliteSink {
    conn: Connection,
    offsets: String,
    tables: HashMap<String, TableInfo>,
}

/// One op, resolved and converted.
struct Prepared {
    sql: String,
    values: Vec<Value>,
}

/// Maps a SQLite error to a [`SinkError`] by its result code.
pub(crate) fn sqlite_error(e: rusqlite::Error, context: impl Into<String>) -> SinkError {
    let (class, code) = match &e {
        rusqlite::Error::SqliteFailure(f, _) => {
            let class = match f.code {
                ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig => {
                    ErrorClass::Record
                }
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::OutOfMemory => ErrorClass::Transient,
                ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::NotADatabase
                | ErrorCode::AuthorizationForStatementDenied => ErrorClass::Configuration,
                _ => ErrorClass::Fatal,
            };
            (class, format!("{:?}/{}", f.code, f.extended_code))
        }
        _ => (ErrorClass::Fatal, String::new()),
    };
    SinkError::Database {
        class,
        code,
        context: context.into(),
        source: Box::new(e),
    }
}

impl SqliteSink {
    /// Opens (or creates) the database file, creates the offsets table if
    /// missing, and reads `tables`.
    pub fn open(config: SqliteConfig, tables: &[&str]) -> Result<Self, SinkError> {
        let conn = Connection::open(&config.path).map_err(|e| {
            sqlite_error(e, format!("opening the database {}", config.path.display()))
        })?;
        conn.busy_timeout(config.busy_timeout)
            .map_err(|e| sqlite_error(e, "setting the busy timeout"))?;
        // One cached statement per table and op shape; the default of 16
        // would churn with a few tables of several shapes each.
        conn.set_prepared_statement_cache_capacity(128);
        // WAL lets readers (the application, `wb-engine trace`) look while
        // a batch is being written.
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(|e| sqlite_error(e, "switching to WAL"))?;
        let offsets = quote_ident(&config.offsets_table);
        // Only create when missing: an existing table needs no write lock,
        // so a sink starts even while another writer holds it.
        let exists = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [&config.offsets_table],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| sqlite_error(e, "looking for the offsets table"))?
            .is_some();
        if !exists {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {offsets} (job TEXT NOT NULL, shard TEXT NOT NULL, \
             last_id TEXT NOT NULL, updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             PRIMARY KEY (job, shard))"
            ))
            .map_err(|e| sqlite_error(e, "creating the offsets table"))?;
        }
        let mut sink = SqliteSink {
            conn,
            offsets,
            tables: HashMap::new(),
        };
        for name in tables {
            sink.table(name)?;
        }
        Ok(sink)
    }

    fn table(&mut self, name: &str) -> Result<&TableInfo, SinkError> {
        if !self.tables.contains_key(name) {
            let info = schema::load(&self.conn, name)?;
            self.tables.insert(name.to_string(), info);
        }
        self.tables
            .get(name)
            .ok_or_else(|| SinkError::UnknownTable {
                table: name.to_string(),
            })
    }

    fn prepare_change(
        &self,
        ops: &[&TaggedOp<'_>],
    ) -> Result<Result<Vec<Prepared>, RecordError>, SinkError> {
        let mut out = Vec::with_capacity(ops.len());
        for tagged in ops {
            let op = &tagged.op;
            let table = self.tables.get(op.target.table.as_ref()).ok_or_else(|| {
                SinkError::UnknownTable {
                    table: op.target.table.to_string(),
                }
            })?;
            let (key_cols, val_cols) = table.keys.resolve(op)?;
            let with_values = matches!(op.kind, OpKind::Upsert | OpKind::Insert);
            let mut values = Vec::with_capacity(op.key.len() + op.values.len());
            let cells = op.key.iter().zip(&key_cols);
            let cells: Box<dyn Iterator<Item = (&wb_abi::Column<'_>, &usize)>> = if with_values {
                Box::new(cells.chain(op.values.iter().zip(&val_cols)))
            } else {
                Box::new(cells)
            };
            for (c, &i) in cells {
                let info = &table.columns[i];
                match convert(&c.value, info) {
                    Ok(v) => values.push(v),
                    Err(_) => {
                        return Ok(Err(RecordError::Conversion {
                            table: table.name.clone(),
                            key: render_key(&op.key),
                            column: info.name.clone(),
                            value: render_cell(&c.value),
                            expected: format!("{} ({:?} affinity)", info.declared, info.affinity),
                        }))
                    }
                }
            }
            out.push(Prepared {
                sql: sql(table, op.kind, &key_cols, &val_cols),
                values,
            });
        }
        Ok(Ok(out))
    }

    fn run(&self, changes: &[(usize, Vec<Prepared>, String, String)]) -> Result<(), SinkError> {
        for (_, ops, table, _) in changes {
            for op in ops {
                let mut st = self
                    .conn
                    .prepare_cached(&op.sql)
                    .map_err(|e| sqlite_error(e, format!("preparing a statement on {table}")))?;
                st.execute(rusqlite::params_from_iter(op.values.iter()))
                    .map_err(|e| sqlite_error(e, format!("writing to {table}")))?;
            }
        }
        Ok(())
    }

    fn simple(&self, sql: &str) -> Result<(), SinkError> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| sqlite_error(e, format!("running {sql}")))
    }

    fn write_in_tx(
        &self,
        good: Vec<(usize, Vec<Prepared>, String, String)>,
        rejected: &mut Vec<Rejection>,
        batch: &Batch<'_>,
    ) -> Result<(), SinkError> {
        // Savepoints around ranges of changes; a record error splits the
        // range in halves until the culprit is alone.
        let mut pending = VecDeque::new();
        if !good.is_empty() {
            pending.push_back(good);
        }
        while let Some(range) = pending.pop_front() {
            self.simple("SAVEPOINT wb_try")?;
            match self.run(&range) {
                Ok(()) => self.simple("RELEASE wb_try")?,
                Err(e) if e.class() == ErrorClass::Record => {
                    self.simple("ROLLBACK TO wb_try; RELEASE wb_try")?;
                    if range.len() == 1 {
                        let (change, _, table, key) = &range[0];
                        rejected.push(Rejection {
                            change: *change,
                            reason: RecordError::Refused {
                                table: table.clone(),
                                key: key.clone(),
                                column: None,
                                code: e.code().unwrap_or_default().to_string(),
                                message: match &e {
                                    SinkError::Database { source, .. } => source.to_string(),
                                    other => other.to_string(),
                                },
                            },
                        });
                    } else {
                        let mut first = range;
                        let second = first.split_off(first.len() / 2);
                        pending.push_front(second);
                        pending.push_front(first);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let write = format!(
            "INSERT INTO {} (job, shard, last_id) VALUES (?1, ?2, ?3) \
             ON CONFLICT (job, shard) DO UPDATE SET last_id = excluded.last_id, updated_at = CURRENT_TIMESTAMP",
            self.offsets
        );
        for o in &batch.offsets {
            let mut st = self
                .conn
                .prepare_cached(&write)
                .map_err(|e| sqlite_error(e, "preparing the offsets update"))?;
            st.execute([&o.job, &o.shard, &o.last_id])
                .map_err(|e| sqlite_error(e, "storing the offset"))?;
        }
        Ok(())
    }

    /// Writes a batch; see [`super::Sink::write`].
    pub fn write_batch(&mut self, batch: &Batch<'_>) -> Result<Report, SinkError> {
        for tagged in &batch.ops {
            self.table(&tagged.op.target.table)?;
        }
        let mut rejected = Vec::new();
        let mut good = Vec::new();
        for (change, ops) in batch.by_change() {
            let (table, key) = ops
                .first()
                .map(|t| (t.op.target.table.to_string(), render_key(&t.op.key)))
                .unwrap_or_default();
            match self.prepare_change(&ops)? {
                Ok(prepared) => good.push((change, prepared, table, key)),
                Err(reason) => rejected.push(Rejection { change, reason }),
            }
        }
        // IMMEDIATE takes the write lock up front, so a busy database shows
        // up as a transient error before any work is done.
        self.simple("BEGIN IMMEDIATE")?;
        match self.write_in_tx(good, &mut rejected, batch) {
            Ok(()) => self.simple("COMMIT")?,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        rejected.sort_by_key(|r| r.change);
        Ok(Report::from_parts(batch.changes(), rejected))
    }

    /// See [`super::Sink::stored_offset`].
    pub fn read_offset(&self, job: &str, shard: &str) -> Result<Option<String>, SinkError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT last_id FROM {} WHERE job = ?1 AND shard = ?2",
                    self.offsets
                ),
                [job, shard],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sqlite_error(e, "reading the stored offset"))
    }
}

fn sql(table: &TableInfo, kind: OpKind, key_cols: &[usize], val_cols: &[usize]) -> String {
    let name = |c: &usize| quote_ident(&table.columns[*c].name);
    let list = |cols: &[usize]| cols.iter().map(name).collect::<Vec<_>>().join(", ");
    match kind {
        // Matching no columns: every row (a flush).
        OpKind::DeleteMatching if key_cols.is_empty() => format!("DELETE FROM {}", table.quoted),
        OpKind::Delete | OpKind::DeleteMatching => {
            let cond = key_cols
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} = ?{}", name(c), i + 1))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!("DELETE FROM {} WHERE {cond}", table.quoted)
        }
        OpKind::Upsert | OpKind::Insert => {
            let all: Vec<usize> = key_cols.iter().chain(val_cols).copied().collect();
            let marks = (1..=all.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut s = format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                table.quoted,
                list(&all)
            );
            if kind == OpKind::Upsert {
                s.push_str(&format!(" ON CONFLICT ({}) DO ", list(key_cols)));
                if val_cols.is_empty() {
                    s.push_str("NOTHING");
                } else {
                    let sets = val_cols
                        .iter()
                        .map(|c| format!("{n} = excluded.{n}", n = name(c)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    s.push_str("UPDATE SET ");
                    s.push_str(&sets);
                }
            }
            s
        }
    }
}

impl super::Sink for SqliteSink {
    // SQLite works in-process and synchronously; a batch takes milliseconds,
    // so it runs on the caller's task rather than a blocking thread.
    async fn write(&mut self, batch: &Batch<'_>) -> Result<Report, SinkError> {
        self.write_batch(batch)
    }

    async fn stored_offset(&mut self, job: &str, shard: &str) -> Result<Option<String>, SinkError> {
        self.read_offset(job, shard)
    }

    /// Tables are read again as batches name them; cached statements are
    /// prepared again.
    fn forget_schema(&mut self) {
        self.tables.clear();
        self.conn.flush_prepared_statement_cache();
    }
}
