//! PostgreSQL sink: one connection, one transaction per batch, multi-row
//! statements that unnest one bound array per column.

mod convert;
mod plan;
mod schema;
mod statements;

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::Arc;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use self::convert::{convert, PgValue};
use self::plan::Prepared;
use self::schema::TableInfo;
use super::error::{render_cell, render_key};
use super::{
    quote_ident, split_table, Batch, ErrorClass, RecordError, Rejection, Report, Sent, SinkError,
    Staged, StreamOffset, TaggedOp,
};

/// One change's ops, converted: the change's index and its ops.
type ChangeOps<'b> = (usize, Vec<Prepared<'b>>);

/// One statement of a pipelined transaction.
type Step<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SinkError>> + Send + 'a>>;

/// Where and how a PostgreSQL sink writes.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// libpq-style connection string, e.g. `host=127.0.0.1 user=postgres dbname=app`.
    pub conninfo: String,
    /// Schema of tables that row ops name without one.
    pub schema: String,
    /// Schema of the offsets table.
    pub offsets_schema: String,
    /// Name of the offsets table, created if missing.
    pub offsets_table: String,
}

impl PgConfig {
    /// Defaults: schema `public`, offsets in `public.wb_offsets`.
    pub fn new(conninfo: impl Into<String>) -> Self {
        PgConfig {
            conninfo: conninfo.into(),
            schema: "public".into(),
            offsets_schema: "public".into(),
            offsets_table: "wb_offsets".into(),
        }
    }
}

/// A PostgreSQL target.
pub struct PgSink {
    /// Shared with the staged transactions in flight.
    client: Arc<Client>,
    config: PgConfig,
    tables: Vec<TableInfo>,
    by_name: HashMap<String, usize>,
    statements: HashMap<String, Statement>,
    offsets_write: Statement,
    offsets_read: Statement,
}

/// An error the PostgreSQL server reported, shown in the server's words
/// (message, detail, hint on one line): the driver's own text for any of
/// them is only "db error".
#[derive(Debug)]
pub(crate) struct ServerError(tokio_postgres::Error);

impl ServerError {
    pub(crate) fn db(&self) -> Option<&tokio_postgres::error::DbError> {
        self.0.as_db_error()
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(db) = self.db() else {
            return self.0.fmt(f);
        };
        f.write_str(db.message())?;
        if let Some(detail) = db.detail() {
            write!(f, " ({detail})")?;
        }
        if let Some(hint) = db.hint() {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

// No source: the text above already says all the driver's error holds.
impl std::error::Error for ServerError {}

/// Maps a driver error to a [`SinkError`], classifying by SQLSTATE and, for
/// errors without one, by whether the connection is gone.
pub(crate) fn pg_error(e: tokio_postgres::Error, context: impl Into<String>) -> SinkError {
    if let Some(code) = e.code() {
        let code = code.code().to_string();
        return SinkError::Database {
            class: ErrorClass::from_sqlstate(&code),
            code,
            context: context.into(),
            source: Box::new(ServerError(e)),
        };
    }
    let io = e.source().is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        return SinkError::Connection(Box::new(e));
    }
    SinkError::Database {
        class: ErrorClass::Fatal,
        code: String::new(),
        context: context.into(),
        source: Box::new(e),
    }
}

impl PgSink {
    /// Connects, creates the offsets table if missing, and reads `tables`
    /// (as row ops name them) from the catalog. Tables not listed are read
    /// when a batch first names them.
    pub async fn connect(config: PgConfig, tables: &[&str]) -> Result<Self, SinkError> {
        let (client, connection) = tokio_postgres::connect(&config.conninfo, NoTls)
            .await
            .map_err(|e| match e.code() {
                Some(_) => pg_error(e, "connecting"),
                None => SinkError::Connection(Box::new(e)),
            })?;
        // The connection object does the I/O; it ends when the client drops.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        let offsets = format!(
            "{}.{}",
            quote_ident(&config.offsets_schema),
            quote_ident(&config.offsets_table)
        );
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {offsets} (job text NOT NULL, shard text NOT NULL, \
             last_id text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), \
             PRIMARY KEY (job, shard))"
        );
        // Only create when missing, so a sink without CREATE rights on the
        // schema still starts against an existing table.
        let exists: Option<String> = client
            .query_one("SELECT to_regclass($1)::text", &[&offsets])
            .await
            .map_err(|e| pg_error(e, "looking for the offsets table"))?
            .get(0);
        let created = match exists {
            Some(_) => Ok(()),
            None => client.batch_execute(&create).await,
        };
        if let Err(e) = created {
            // Two sinks starting at once can race on IF NOT EXISTS; the
            // loser sees a duplicate, and the table is there either way.
            let dup = e
                .code()
                .is_some_and(|c| matches!(c.code(), "23505" | "42P07"));
            if !dup {
                return Err(pg_error(e, "creating the offsets table"));
            }
        }
        let offsets_write = client
            .prepare(&format!(
                "INSERT INTO {offsets} (job, shard, last_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (job, shard) DO UPDATE SET last_id = EXCLUDED.last_id, updated_at = now()"
            ))
            .await
            .map_err(|e| pg_error(e, "preparing the offsets update"))?;
        let offsets_read = client
            .prepare(&format!(
                "SELECT last_id FROM {offsets} WHERE job = $1 AND shard = $2"
            ))
            .await
            .map_err(|e| pg_error(e, "preparing the offsets read"))?;
        let mut sink = PgSink {
            client: Arc::new(client),
            config,
            tables: Vec::new(),
            by_name: HashMap::new(),
            statements: HashMap::new(),
            offsets_write,
            offsets_read,
        };
        for name in tables {
            sink.table(name).await?;
        }
        Ok(sink)
    }

    /// Whether the connection is gone. The next write or offset read
    /// connects anew.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Replaces a connection that is gone (the server restarted, failed
    /// over, or ended the session) with a new one, re-reading the tables
    /// known so far. Prepared statements belong to a connection, so they go
    /// with it. A failed connect is a connection error: transient, retried.
    async fn reconnect_if_closed(&mut self) -> Result<(), SinkError> {
        if !self.client.is_closed() {
            return Ok(());
        }
        tracing::info!("the PostgreSQL connection is gone; connecting again");
        let tables: Vec<String> = self.by_name.keys().cloned().collect();
        let names: Vec<&str> = tables.iter().map(String::as_str).collect();
        *self = PgSink::connect(self.config.clone(), &names).await?;
        Ok(())
    }

    async fn table(&mut self, name: &str) -> Result<usize, SinkError> {
        if let Some(&at) = self.by_name.get(name) {
            return Ok(at);
        }
        let (schema, table) = split_table(name, &self.config.schema);
        let info = schema::load(&*self.client, name, schema, table).await?;
        self.tables.push(info);
        self.by_name.insert(name.to_string(), self.tables.len() - 1);
        Ok(self.tables.len() - 1)
    }

    /// Resolves and converts one change's ops. `Ok(Err(_))` is a record
    /// error (a value that does not convert); `Err` is a configuration error.
    fn prepare_change<'b>(
        &self,
        ops: &[&'b TaggedOp<'_>],
    ) -> Result<Result<Vec<Prepared<'b>>, RecordError>, SinkError> {
        let mut out = Vec::with_capacity(ops.len());
        for tagged in ops {
            let tagged: &'b TaggedOp<'_> = tagged;
            let op = &tagged.op;
            let table_at = self
                .by_name
                .get(op.target.table.as_ref())
                .copied()
                .ok_or_else(|| SinkError::UnknownTable {
                    table: op.target.table.to_string(),
                })?;
            let table = &self.tables[table_at];
            let (key_cols, val_cols) = table.keys.resolve(op)?;
            let conv = |cols: &'b [wb_abi::Column<'_>],
                        idx: &[usize]|
             -> Result<Vec<PgValue<'b>>, RecordError> {
                cols.iter()
                    .zip(idx)
                    .map(|(c, &i)| {
                        let info = &table.columns[i];
                        convert(&c.value, &info.wire).map_err(|_| RecordError::Conversion {
                            table: table.name.clone(),
                            key: render_key(&op.key),
                            column: info.name.clone(),
                            value: render_cell(&c.value),
                            expected: info.type_name.clone(),
                        })
                    })
                    .collect()
            };
            let key = match conv(&op.key, &key_cols) {
                Ok(k) => k,
                Err(r) => return Ok(Err(r)),
            };
            let vals = match conv(&op.values, &val_cols) {
                Ok(v) => v,
                Err(r) => return Ok(Err(r)),
            };
            out.push(Prepared {
                change: tagged.change,
                kind: op.kind,
                table: table_at,
                key_cols,
                key,
                val_cols,
                vals,
            });
        }
        Ok(Ok(out))
    }

    async fn statement(&mut self, shape: &plan::Shape) -> Result<Statement, SinkError> {
        let table = &self.tables[shape.table];
        let sql = statements::sql(table, shape);
        if let Some(st) = self.statements.get(&sql) {
            return Ok(st.clone());
        }
        let st = self
            .client
            .prepare(&sql)
            .await
            .map_err(|e| pg_error(e, format!("preparing a statement on {}", table.name)))?;
        self.statements.insert(sql, st.clone());
        Ok(st)
    }

    /// Runs the statements for `changes` inside `tx`.
    async fn run(&mut self, changes: &[(usize, Vec<Prepared<'_>>)]) -> Result<(), SinkError> {
        let ops: Vec<&Prepared<'_>> = changes.iter().flat_map(|(_, ops)| ops.iter()).collect();
        for group in plan::plan(&ops) {
            let statement = self.statement(&group.shape).await?;
            let arrays = statements::params(&group);
            self.execute_group(&statement, &group, &arrays).await?;
        }
        Ok(())
    }

    /// Writes `changes` under savepoints; a record error splits the failing
    /// range in halves until the culprit is alone, then rejects it.
    async fn write_isolating(
        &mut self,
        changes: Vec<(usize, Vec<Prepared<'_>>)>,
        rejected: &mut Vec<Rejection>,
    ) -> Result<(), SinkError> {
        let mut pending: std::collections::VecDeque<Vec<(usize, Vec<Prepared<'_>>)>> =
            std::collections::VecDeque::new();
        // Called after the whole range failed once: start with its halves.
        if changes.len() > 1 {
            let mut first = changes;
            let second = first.split_off(first.len() / 2);
            pending.push_back(first);
            pending.push_back(second);
        } else if !changes.is_empty() {
            pending.push_back(changes);
        }
        while let Some(range) = pending.pop_front() {
            self.simple("SAVEPOINT wb_try").await?;
            match self.run(&range).await {
                Ok(()) => self.simple("RELEASE SAVEPOINT wb_try").await?,
                Err(e) if e.class() == ErrorClass::Record => {
                    self.simple("ROLLBACK TO SAVEPOINT wb_try; RELEASE SAVEPOINT wb_try")
                        .await?;
                    if range.len() == 1 {
                        let (change, ops) = &range[0];
                        rejected.push(Rejection {
                            change: *change,
                            reason: self.refused(ops, &e),
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
        Ok(())
    }

    /// After the whole batch failed on a record error `first`: isolates
    /// the culprit changes and writes the rest with the offsets, inside a
    /// transaction the caller opened.
    async fn write_isolated(
        &mut self,
        good: Vec<(usize, Vec<Prepared<'_>>)>,
        first: SinkError,
        rejected: &mut Vec<Rejection>,
        offsets: &[StreamOffset],
    ) -> Result<(), SinkError> {
        if let [(change, ops)] = good.as_slice() {
            rejected.push(Rejection {
                change: *change,
                reason: self.refused(ops, &first),
            });
        } else {
            self.write_isolating(good, rejected).await?;
        }
        for offset in offsets {
            self.store_offset(offset).await?;
        }
        Ok(())
    }

    async fn execute_group(
        &self,
        statement: &Statement,
        group: &plan::Group<'_, '_>,
        arrays: &[Vec<&PgValue<'_>>],
    ) -> Result<(), SinkError> {
        let params: Vec<&(dyn ToSql + Sync)> =
            arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        let table = &self.tables[group.shape.table].name;
        execute(&self.client, statement, &params, table).await
    }

    async fn store_offset(&self, offset: &StreamOffset) -> Result<(), SinkError> {
        store_offset(&self.client, &self.offsets_write, offset).await
    }

    async fn simple(&self, sql: &str) -> Result<(), SinkError> {
        simple(&self.client, sql).await
    }

    /// Resolves and converts every change of `batch`; the changes with a
    /// value that does not convert are rejected. Every table the batch
    /// names must have been read.
    fn prepare_batch<'b>(
        &self,
        batch: &'b Batch<'_>,
    ) -> Result<(Vec<ChangeOps<'b>>, Vec<Rejection>), SinkError> {
        let mut rejected = Vec::new();
        let mut good = Vec::new();
        for (change, ops) in batch.by_change() {
            match self.prepare_change(&ops)? {
                Ok(prepared) => good.push((change, prepared)),
                Err(reason) => rejected.push(Rejection { change, reason }),
            }
        }
        Ok((good, rejected))
    }

    /// Connects again if the connection is gone, and reads every table
    /// `batch` names that is not known yet.
    async fn ready_for(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.reconnect_if_closed().await?;
        for tagged in &batch.ops {
            self.table(&tagged.op.target.table).await?;
        }
        Ok(())
    }

    /// Converts, plans and encodes `batch` into a transaction that owns
    /// everything it sends: see [`super::Sink::stage`].
    async fn stage_batch(&mut self, batch: &Batch<'_>) -> Result<Staged, SinkError> {
        self.ready_for(batch).await?;
        let (good, rejected) = self.prepare_batch(batch)?;
        let ops: Vec<&Prepared<'_>> = good.iter().flat_map(|(_, ops)| ops.iter()).collect();
        let groups = plan::plan(&ops);
        let mut steps = Vec::with_capacity(groups.len());
        for group in &groups {
            let statement = self.statement(&group.shape).await?;
            let table = self.tables[group.shape.table].name.clone();
            let params = encode(&statement, &statements::params(group), &table)?;
            steps.push(EncodedStatement {
                statement,
                params,
                table,
            });
        }
        let transaction = Transaction {
            client: Arc::clone(&self.client),
            steps,
            offsets_write: self.offsets_write.clone(),
            offsets: batch.offsets.clone(),
        };
        let changes = batch.changes();
        Ok(Box::pin(async move {
            Ok(match transaction.run().await? {
                None => Sent::Committed(Report::from_parts(changes, rejected)),
                Some(first) => Sent::Refused(first),
            })
        }))
    }

    /// Writes `batch` with each change the target refuses rejected, after
    /// the whole batch failed on `first`, in a transaction of its own.
    async fn isolate_batch(
        &mut self,
        batch: &Batch<'_>,
        first: SinkError,
    ) -> Result<Report, SinkError> {
        self.ready_for(batch).await?;
        let (good, mut rejected) = self.prepare_batch(batch)?;
        self.simple("BEGIN").await?;
        let outcome = self
            .write_isolated(good, first, &mut rejected, &batch.offsets)
            .await;
        match outcome {
            Ok(()) => self.simple("COMMIT").await?,
            Err(e) => {
                // Best effort: if the connection is gone the server rolls
                // back by itself.
                let _ = self.client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        }
        rejected.sort_by_key(|r| r.change);
        Ok(Report::from_parts(batch.changes(), rejected))
    }

    /// The reason for a change the target refused on its own.
    fn refused(&self, ops: &[Prepared<'_>], e: &SinkError) -> RecordError {
        let db = match e {
            SinkError::Database { source, .. } => source
                .downcast_ref::<ServerError>()
                .and_then(ServerError::db),
            _ => None,
        };
        let first = ops.first();
        let table = db
            .and_then(|d| d.table().map(str::to_string))
            .or_else(|| first.map(|op| self.tables[op.table].name.clone()))
            .unwrap_or_default();
        let key = first
            .map(|op| {
                let t = &self.tables[op.table];
                let parts: Vec<String> = op
                    .key_cols
                    .iter()
                    .zip(&op.key)
                    .map(|(&c, v)| format!("{}={}", t.columns[c].name, show(v)))
                    .collect();
                format!("({})", parts.join(", "))
            })
            .unwrap_or_default();
        let mut message = db
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        if let Some(detail) = db.and_then(|d| d.detail()) {
            message.push_str(": ");
            message.push_str(detail);
        }
        RecordError::Refused {
            table,
            key,
            column: db.and_then(|d| d.column().map(str::to_string)),
            code: e.code().unwrap_or_default().to_string(),
            message,
        }
    }
}

/// A key value as reasons show it: the same spelling as a cell's.
fn show(v: &PgValue<'_>) -> String {
    match v {
        PgValue::Null => "NULL".into(),
        PgValue::Bool(b) => b.to_string(),
        PgValue::Int2(i) => i.to_string(),
        PgValue::Int4(i) => i.to_string(),
        PgValue::Int8(i) => i.to_string(),
        PgValue::Float4(f) => f.to_string(),
        PgValue::Float8(f) => f.to_string(),
        PgValue::Text(s) | PgValue::Json(s) => format!("{s:?}"),
        PgValue::Bytes(b) => format!("{} bytes", b.len()),
        PgValue::Timestamp(t) => t.to_string(),
        PgValue::Timestamptz(t) => t.to_rfc3339(),
        PgValue::Date(d) => d.to_string(),
    }
}

impl super::Sink for PgSink {
    async fn write(&mut self, batch: &Batch<'_>) -> Result<Report, SinkError> {
        match self.stage_batch(batch).await?.await? {
            Sent::Committed(report) => Ok(report),
            Sent::Refused(first) => self.isolate_batch(batch, first).await,
        }
    }

    async fn stage(&mut self, batch: &Batch<'_>) -> Result<Option<Staged>, SinkError> {
        self.stage_batch(batch).await.map(Some)
    }

    async fn isolate(&mut self, batch: &Batch<'_>, first: SinkError) -> Result<Report, SinkError> {
        self.isolate_batch(batch, first).await
    }

    async fn stored_offset(&mut self, job: &str, shard: &str) -> Result<Option<String>, SinkError> {
        self.reconnect_if_closed().await?;
        let row = self
            .client
            .query_opt(&self.offsets_read, &[&job, &shard])
            .await
            .map_err(|e| pg_error(e, "reading the stored offset"))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Tables are read from the catalog again as batches name them, and
    /// their statements prepared again.
    fn forget_schema(&mut self) {
        self.tables.clear();
        self.by_name.clear();
        self.statements.clear();
    }
}

/// A parameter encoded ahead of sending, in its statement's binary form.
#[derive(Debug)]
struct Encoded(BytesMut);

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    // Encoded for this very statement's parameter types.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Encodes one array per bound column for `statement`, so that sending it
/// later is a copy.
fn encode(
    statement: &Statement,
    arrays: &[Vec<&PgValue<'_>>],
    table: &str,
) -> Result<Vec<Encoded>, SinkError> {
    statement
        .params()
        .iter()
        .zip(arrays)
        .map(|(ty, array)| {
            let mut buf = BytesMut::new();
            array
                .to_sql_checked(ty, &mut buf)
                .map_err(|source| SinkError::Database {
                    class: ErrorClass::Fatal,
                    code: String::new(),
                    context: format!("encoding values for {table}"),
                    source,
                })?;
            Ok(Encoded(buf))
        })
        .collect()
}

/// One statement of a staged transaction.
struct EncodedStatement {
    statement: Statement,
    params: Vec<Encoded>,
    /// The table it writes, for error messages.
    table: String,
}

/// A batch's transaction, owning all it sends.
struct Transaction {
    client: Arc<Client>,
    steps: Vec<EncodedStatement>,
    offsets_write: Statement,
    offsets: Vec<StreamOffset>,
}

impl Transaction {
    /// Sends BEGIN, every statement, the offsets and COMMIT before reading
    /// the first reply: one round trip for the whole batch. A record error
    /// rolls the transaction back (the COMMIT then ends a failed
    /// transaction) and is returned as `Ok(Some(_))`, for the caller to
    /// isolate its culprit.
    async fn run(self) -> Result<Option<SinkError>, SinkError> {
        let client = &*self.client;
        let mut steps: Vec<Step<'_>> =
            Vec::with_capacity(self.steps.len() + self.offsets.len() + 2);
        steps.push(Box::pin(simple(client, "BEGIN")));
        for step in &self.steps {
            steps.push(Box::pin(async move {
                let params: Vec<&(dyn ToSql + Sync)> = step
                    .params
                    .iter()
                    .map(|p| p as &(dyn ToSql + Sync))
                    .collect();
                execute(client, &step.statement, &params, &step.table).await
            }));
        }
        for offset in &self.offsets {
            steps.push(Box::pin(store_offset(client, &self.offsets_write, offset)));
        }
        steps.push(Box::pin(simple(client, "COMMIT")));
        // Polled in order, so the statements go out in order; the first
        // error is the cause, those after it (25P02, the transaction is
        // aborted) its consequence.
        for result in futures_util::future::join_all(steps).await {
            match result {
                Ok(()) => {}
                Err(e) if e.class() == ErrorClass::Record => return Ok(Some(e)),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

async fn execute(
    client: &Client,
    statement: &Statement,
    params: &[&(dyn ToSql + Sync)],
    table: &str,
) -> Result<(), SinkError> {
    client
        .execute(statement, params)
        .await
        .map(drop)
        .map_err(|e| pg_error(e, format!("writing to {table}")))
}

async fn store_offset(
    client: &Client,
    offsets_write: &Statement,
    offset: &StreamOffset,
) -> Result<(), SinkError> {
    client
        .execute(
            offsets_write,
            &[&offset.job, &offset.shard, &offset.last_id],
        )
        .await
        .map(drop)
        .map_err(|e| pg_error(e, "storing the offset"))
}

async fn simple(client: &Client, sql: &str) -> Result<(), SinkError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| pg_error(e, format!("running {sql}")))
}
