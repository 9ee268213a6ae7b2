//! `wb-engine schema`: the CREATE TABLE statements for a job's target
//! tables, derived from its `output:` blocks, in the dialect of each
//! output's connection (PostgreSQL or SQLite).
//!
//! - Columns are the output's `keys` then its `mapping`, in order. A
//!   column is `text` unless its expression says what it makes: a
//!   comparison or `contains(...)` a boolean, `length(...)` or a number
//!   literal an integer, `to_number(...)` a number, `json_parse(...)`,
//!   arrays and objects JSON (`jsonb`), `uuid()` a uuid, a sorted set's
//!   `score` a double; a field added by an `add_field` block takes its
//!   expression's type.
//! - A table of one row per key (`upsert`, `replace`) gets its key columns
//!   as primary key, which upserts need.
//! - A table of child rows (a `foreach` output, or the members of a set or
//!   sorted set: an output whose mapping reads `member` or `score`) gets no
//!   primary key, since a key has several rows, and an index on the key
//!   columns, by which its rows are replaced.
//! - An `append` table is a history: no primary key.
//!
//! PostgreSQL tables without a `schema:` are created in `public`, where the
//! engine looks for them. SQLite has no schemas: the engine names such a
//! table `schema.table`, and so does the statement.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use wb_mapper::{Expr, Func, LoadStrategy, Spec, Step};

use crate::bundle::JobPlan;
use crate::config::{ConfigError, ConnectionKind, Output, Settings};
use crate::sink::quote_ident;

/// A SQL dialect `schema` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgresql,
    Sqlite,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgresql => "PostgreSQL",
            Dialect::Sqlite => "SQLite",
        }
    }
}

/// Why no statements can be derived.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "{}: job '{job}' makes its rows in its own wasm component, so the job file does not \
         say which columns its tables have: write their CREATE TABLE statements by hand",
        file.display()
    )]
    CustomComponent { job: String, file: PathBuf },
    #[error(
        "connection '{connection}' is MySQL/MariaDB, which wb cannot write to yet, so there is \
         no MySQL dialect; pass --dialect postgresql or --dialect sqlite to print another"
    )]
    Mysql { connection: String },
    #[error("{0}")]
    Config(#[from] ConfigError),
}

/// A column's SQL type, by what the mapping makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    Text,
    BigInt,
    Double,
    Numeric,
    Boolean,
    Json,
    Uuid,
}

impl SqlType {
    pub fn sql(self, dialect: Dialect) -> &'static str {
        match (dialect, self) {
            (Dialect::Postgresql, SqlType::Text) => "text",
            (Dialect::Postgresql, SqlType::BigInt) => "bigint",
            (Dialect::Postgresql, SqlType::Double) => "double precision",
            (Dialect::Postgresql, SqlType::Numeric) => "numeric",
            (Dialect::Postgresql, SqlType::Boolean) => "boolean",
            (Dialect::Postgresql, SqlType::Json) => "jsonb",
            (Dialect::Postgresql, SqlType::Uuid) => "uuid",
            (Dialect::Sqlite, SqlType::Text | SqlType::Json | SqlType::Uuid) => "TEXT",
            (Dialect::Sqlite, SqlType::BigInt) => "INTEGER",
            (Dialect::Sqlite, SqlType::Double) => "REAL",
            (Dialect::Sqlite, SqlType::Numeric) => "NUMERIC",
            (Dialect::Sqlite, SqlType::Boolean) => "BOOLEAN",
        }
    }
}

/// What a table's rows are, which decides its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// One row per Redis key: the key columns are the primary key.
    Rows,
    /// Several rows per key (a `foreach` array, a set's members), replaced
    /// as a whole: an index on the key columns.
    Children,
    /// `append`: every change adds a row.
    History,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub ty: SqlType,
    /// Key columns are never null (the mapper rejects a change without one).
    pub not_null: bool,
}

/// One target table as the job writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub connection: String,
    pub schema: Option<String>,
    pub table: String,
    pub kind: TableKind,
    /// Why the table is of its kind, for the statement's comment.
    pub why: String,
    pub columns: Vec<ColumnDef>,
    pub keys: Vec<String>,
}

impl TableDef {
    /// The table's quoted name in `dialect`.
    fn quoted(&self, dialect: Dialect) -> String {
        match (dialect, &self.schema) {
            (Dialect::Postgresql, schema) => format!(
                "{}.{}",
                quote_ident(schema.as_deref().unwrap_or("public")),
                quote_ident(&self.table)
            ),
            (Dialect::Sqlite, Some(schema)) => quote_ident(&format!("{schema}.{}", self.table)),
            (Dialect::Sqlite, None) => quote_ident(&self.table),
        }
    }

    /// The table as the job names it.
    pub fn display_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// The tables `job` writes, in output order (outputs to one table merged).
pub fn tables(job: &JobPlan) -> Result<Vec<TableDef>, SchemaError> {
    if job.job.output.is_empty() {
        return Err(SchemaError::CustomComponent {
            job: job.name.clone(),
            file: job.file.clone(),
        });
    }
    let spec: Spec = job.job.to_mapper_spec(&job.file, &job.text)?;
    let added: BTreeMap<&str, &Expr> = spec
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Add { field, expr } => Some((field.as_str(), expr)),
            _ => None,
        })
        .collect();
    let mut tables: Vec<TableDef> = Vec::new();
    for (Output::RelationalWrite(write), output) in job.job.output.iter().zip(&spec.outputs) {
        let members = output
            .values
            .iter()
            .any(|c| reads_field(&c.expr, &["member", "score"]));
        let (kind, why) = if let Some(foreach) = &output.foreach {
            (
                TableKind::Children,
                format!(
                    "one row per element of {}[], replaced as a whole",
                    foreach.path
                ),
            )
        } else if output.strategy == LoadStrategy::Append {
            (
                TableKind::History,
                "load_strategy append: a row per change".to_owned(),
            )
        } else if members {
            (
                TableKind::Children,
                "one row per member of a set or sorted set (the mapping reads member/score), \
                 replaced as a whole"
                    .to_owned(),
            )
        } else {
            (TableKind::Rows, "one row per key".to_owned())
        };
        let mut columns: Vec<ColumnDef> = Vec::new();
        for (column, not_null) in output
            .keys
            .iter()
            .map(|c| (c, true))
            .chain(output.values.iter().map(|c| (c, false)))
        {
            if columns.iter().any(|c| c.name == column.name) {
                continue;
            }
            let ty = match &column.expr {
                Expr::Field(field) if members && field == "score" => SqlType::Double,
                Expr::Field(field) => added
                    .get(field.as_str())
                    .map_or(SqlType::Text, |expr| type_of(expr)),
                expr => type_of(expr),
            };
            columns.push(ColumnDef {
                name: column.name.clone(),
                ty,
                not_null,
            });
        }
        let keys: Vec<String> = output.keys.iter().map(|c| c.name.clone()).collect();
        let existing = tables
            .iter_mut()
            .find(|t| t.table == write.table && t.schema == write.schema);
        match existing {
            Some(table) => {
                for column in columns {
                    if !table.columns.iter().any(|c| c.name == column.name) {
                        table.columns.push(column);
                    }
                }
            }
            None => tables.push(TableDef {
                connection: write.connection.clone(),
                schema: write.schema.clone(),
                table: write.table.clone(),
                kind,
                why,
                columns,
                keys,
            }),
        }
    }
    Ok(tables)
}

/// The dialect of connection `name` in `settings`.
pub fn dialect_of(settings: &Settings, name: &str) -> Result<Dialect, SchemaError> {
    // Outputs were checked against config.yaml when the project loaded.
    match settings.connections.get(name).map(|c| c.kind) {
        Some(ConnectionKind::Postgresql) => Ok(Dialect::Postgresql),
        Some(ConnectionKind::Sqlite) | None => Ok(Dialect::Sqlite),
        Some(ConnectionKind::Mysql) => Err(SchemaError::Mysql {
            connection: name.to_owned(),
        }),
    }
}

/// The statements for `job`'s tables, each in its connection's dialect
/// (or in `dialect` for all), with a comment saying what each table is.
pub fn statements(
    job: &JobPlan,
    settings: &Settings,
    dialect: Option<Dialect>,
    if_not_exists: bool,
) -> Result<String, SchemaError> {
    let tables = tables(job)?;
    let mut out = format!(
        "-- Tables of job '{}' ({}), from `wb-engine schema`.\n\
         -- Columns are text unless the mapping's expression makes another type; adjust\n\
         -- types and constraints as you need. The engine creates its own offsets table.\n",
        job.name,
        job.file.display()
    );
    for table in &tables {
        let dialect = match dialect {
            Some(dialect) => dialect,
            None => dialect_of(settings, &table.connection)?,
        };
        out.push('\n');
        out.push_str(&create_table(table, dialect, if_not_exists));
    }
    Ok(out)
}

/// One table's statements in `dialect`.
pub fn create_table(table: &TableDef, dialect: Dialect, if_not_exists: bool) -> String {
    let quoted = table.quoted(dialect);
    let exists = if if_not_exists { "IF NOT EXISTS " } else { "" };
    let mut out = format!(
        "-- {} (connection '{}', {}): {}\n",
        table.display_name(),
        table.connection,
        dialect.name(),
        table.why
    );
    let _ = writeln!(out, "CREATE TABLE {exists}{quoted} (");
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            format!(
                "    {} {}{}",
                quote_ident(&c.name),
                c.ty.sql(dialect),
                if c.not_null { " NOT NULL" } else { "" }
            )
        })
        .collect();
    let key_list = table
        .keys
        .iter()
        .map(|k| quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    if table.kind == TableKind::Rows && !table.keys.is_empty() {
        lines.push(format!("    PRIMARY KEY ({key_list})"));
    }
    out.push_str(&lines.join(",\n"));
    out.push_str("\n);\n");
    if table.kind == TableKind::Children && !table.keys.is_empty() {
        let index = format!("{}_{}_idx", table.table, table.keys.join("_"));
        // PostgreSQL truncates names to 63 bytes; do it here, on a char
        // boundary, so the statement says what gets created.
        let end = index.floor_char_boundary(63);
        let _ = writeln!(
            out,
            "CREATE INDEX {exists}{} ON {quoted} ({key_list});",
            quote_ident(&index[..end])
        );
    }
    out
}

/// The type of what `expr` makes, when its shape says; text otherwise.
pub fn type_of(expr: &Expr) -> SqlType {
    match expr {
        Expr::Compare(..) | Expr::And(_) | Expr::Or(_) | Expr::Not(_) => SqlType::Boolean,
        Expr::Number(_) => SqlType::BigInt,
        Expr::Json(text) => match text.trim() {
            "true" | "false" => SqlType::Boolean,
            t if t.starts_with(['[', '{']) => SqlType::Json,
            t if t.parse::<f64>().is_ok() => SqlType::Numeric,
            _ => SqlType::Text,
        },
        Expr::List(_) | Expr::Hash(_) | Expr::Project { .. } => SqlType::Json,
        Expr::Pipe(_, rhs) => type_of(rhs),
        Expr::Call(func, _) => match func {
            Func::Contains | Func::StartsWith | Func::EndsWith | Func::In => SqlType::Boolean,
            Func::Length | Func::TimeDeltaDays | Func::TimeDeltaSeconds => SqlType::BigInt,
            Func::ToNumber | Func::Abs | Func::Ceil | Func::Floor | Func::Sum | Func::Avg => {
                SqlType::Numeric
            }
            Func::JsonParse
            | Func::Keys
            | Func::Values
            | Func::Split
            | Func::ToEntries
            | Func::FromEntries
            | Func::FilterEntries
            | Func::Sort
            | Func::SortBy
            | Func::Merge
            | Func::ToArray
            | Func::Map => SqlType::Json,
            Func::Uuid => SqlType::Uuid,
            _ => SqlType::Text,
        },
        _ => SqlType::Text,
    }
}

/// Whether `expr` reads one of the record's top-level fields `names`
/// (not a path inside another value).
fn reads_field(expr: &Expr, names: &[&str]) -> bool {
    let reads = |e: &Expr| reads_field(e, names);
    match expr {
        Expr::Field(path) => names.contains(&path.as_str()),
        // The right-hand sides read inside the left-hand side's value.
        Expr::Sub(lhs, _) | Expr::Pipe(lhs, _) | Expr::Index(lhs, _) => reads(lhs),
        Expr::Project { lhs, .. } => reads(lhs),
        Expr::List(items) | Expr::And(items) | Expr::Or(items) | Expr::Call(_, items) => {
            items.iter().any(reads)
        }
        Expr::Hash(entries) => entries.iter().any(|(_, e)| reads(e)),
        Expr::Compare(a, _, b) => reads(a) || reads(b),
        Expr::Not(e) => reads(e),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn plan(text: &str) -> JobPlan {
        JobPlan::parse(Path::new("jobs/users.yaml"), text.to_owned()).expect("a valid job")
    }

    const USERS: &str = "source: {redis: {key_pattern: 'user:*'}}\n\
        transform:\n  - uses: add_field\n    with: {field: adult, expression: 'age >= `18`'}\n\
        output:\n  - uses: relational.write\n    with:\n      connection: target\n      table: users\n      \
        keys: [{user_id: key_part(1)}]\n      mapping: [name, adult, {visits: to_number(visits)}, \
        {tags: \"split(tags, ',')\"}, {id: uuid()}, {n: length(name)}]\n";

    #[test]
    fn a_row_per_key_table_has_typed_columns_and_its_keys_as_primary_key() {
        let tables = tables(&plan(USERS)).expect("tables");
        assert_eq!(tables.len(), 1);
        let sql = create_table(&tables[0], Dialect::Postgresql, false);
        assert_eq!(
            sql,
            "-- users (connection 'target', PostgreSQL): one row per key\n\
             CREATE TABLE \"public\".\"users\" (\n    \"user_id\" text NOT NULL,\n    \
             \"name\" text,\n    \"adult\" boolean,\n    \"visits\" numeric,\n    \
             \"tags\" jsonb,\n    \"id\" uuid,\n    \"n\" bigint,\n    \
             PRIMARY KEY (\"user_id\")\n);\n"
        );
        let sql = create_table(&tables[0], Dialect::Sqlite, true);
        assert!(
            sql.contains("CREATE TABLE IF NOT EXISTS \"users\" (\n    \"user_id\" TEXT NOT NULL,"),
            "{sql}"
        );
        assert!(
            sql.contains("\"adult\" BOOLEAN,") && sql.contains("\"tags\" TEXT,"),
            "{sql}"
        );
    }

    #[test]
    fn child_rows_and_histories_have_no_primary_key() {
        let text = "source: {redis: {key_pattern: 'z:*'}}\noutput:\n\
            \x20 - uses: relational.write\n    with: {connection: t, schema: app, table: scores, keys: [{id: key_part(1)}], mapping: [member, score]}\n\
            \x20 - uses: relational.write\n    with: {connection: t, table: lines, foreach: 'l: lines[]', keys: [{order_id: key_part(1)}], mapping: [{sku: l.sku}]}\n\
            \x20 - uses: relational.write\n    with: {connection: t, table: log, load_strategy: append, mapping: [{id: key_part(1)}, kind]}\n";
        let tables = tables(&plan(text)).expect("tables");
        let kinds: Vec<TableKind> = tables.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [TableKind::Children, TableKind::Children, TableKind::History]
        );
        let scores = create_table(&tables[0], Dialect::Postgresql, false);
        assert!(
            scores.contains("\"score\" double precision\n);"),
            "{scores}"
        );
        assert!(!scores.contains("PRIMARY KEY"), "{scores}");
        assert!(
            scores.ends_with("CREATE INDEX \"scores_id_idx\" ON \"app\".\"scores\" (\"id\");\n"),
            "{scores}"
        );
        let lite = create_table(&tables[0], Dialect::Sqlite, false);
        assert!(lite.contains("CREATE TABLE \"app.scores\" ("), "{lite}");
        let log = create_table(&tables[2], Dialect::Sqlite, false);
        assert!(
            !log.contains("PRIMARY KEY") && !log.contains("INDEX"),
            "{log}"
        );
    }

    #[test]
    fn a_custom_component_job_has_no_columns_to_derive() {
        let text = "source: {redis: {key_pattern: 'c:*'}}\ntransform:\n  - uses: wasm\n    with: {component: ./c.wasm}\n";
        let err = tables(&plan(text)).expect_err("no outputs");
        assert!(err.to_string().contains("by hand"), "{err}");
    }

    #[test]
    fn each_connection_has_its_dialect_and_mysql_none() {
        let settings: Settings = serde_yaml::from_str(
            "connections:\n  pg: {type: postgres}\n  lite: {type: sqlite, path: x.db}\n  my: {type: mysql}\n",
        )
        .expect("settings");
        assert_eq!(dialect_of(&settings, "pg").ok(), Some(Dialect::Postgresql));
        assert_eq!(dialect_of(&settings, "lite").ok(), Some(Dialect::Sqlite));
        let err = dialect_of(&settings, "my").expect_err("no MySQL dialect");
        assert!(
            err.to_string()
                .starts_with("connection 'my' is MySQL/MariaDB, which wb cannot write to yet"),
            "{err}"
        );
    }

    #[test]
    fn expressions_type_their_columns() {
        let ty = |text: &str| type_of(&Expr::parse(text).expect("parses"));
        assert_eq!(ty("name"), SqlType::Text);
        assert_eq!(ty("lower(email)"), SqlType::Text);
        assert_eq!(ty("a == 'x'"), SqlType::Boolean);
        assert_eq!(ty("contains(tags, 'x')"), SqlType::Boolean);
        assert_eq!(ty("`true`"), SqlType::Boolean);
        assert_eq!(ty("`1.5`"), SqlType::Numeric);
        assert_eq!(ty("items[*].id"), SqlType::Json);
        assert_eq!(ty("{a: a}"), SqlType::Json);
        assert_eq!(ty("tags | length(@)"), SqlType::BigInt);
        assert_eq!(ty("time_delta_days(created)"), SqlType::BigInt);
    }
}
