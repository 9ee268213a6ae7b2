//! Sink errors, classified from SQLSTATE codes and driver error kinds.

use std::fmt;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a failure means for the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The target is unreachable or asked us to try again: retry the batch.
    Transient,
    /// One record does not fit the target: reject that change, keep going.
    Record,
    /// The target does not match the job (missing table, column, key,
    /// privilege): retrying will not help until someone fixes it.
    Configuration,
    /// Anything else: stop and report.
    Fatal,
}

impl ErrorClass {
    /// Classifies a PostgreSQL SQLSTATE code by its class and, where the
    /// class is mixed, by the exact code.
    pub fn from_sqlstate(code: &str) -> Self {
        match code {
            // Serialization failure, deadlock, statement completion unknown.
            "40001" | "40P01" | "40003" => return ErrorClass::Transient,
            // Admin/crash shutdown, cannot connect now.
            "57P01" | "57P02" | "57P03" => return ErrorClass::Transient,
            // Undefined table/column/object, permission denied, no unique
            // constraint matching ON CONFLICT, undefined function.
            "42P01" | "42703" | "42501" | "42P10" | "42704" | "3F000" => {
                return ErrorClass::Configuration
            }
            _ => {}
        }
        // Cardinality violation: one statement touched a row twice. Keys
        // are deduplicated per statement, but two spellings of one value
        // of a server-cast type ("1.5" and "1.50" as numeric) only meet on
        // the server. Splitting the batch separates them, so it is handled
        // like a record error.
        if code == "21000" {
            return ErrorClass::Record;
        }
        match code.get(..2) {
            // Connection exception; insufficient resources (53300 too many
            // connections, 53100 disk full); lock not available.
            Some("08") | Some("53") | Some("55") => ErrorClass::Transient,
            Some("22") | Some("23") => ErrorClass::Record,
            Some("42") => ErrorClass::Configuration,
            _ => ErrorClass::Fatal,
        }
    }
}

/// Why one change was rejected: names the table, the key, and where known
/// the column and value at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error(
        "table {table}, key {key}: column {column}: value {value} does not convert to {expected}"
    )]
    Conversion {
        table: String,
        key: String,
        column: String,
        value: String,
        expected: String,
    },
    #[error("table {table}, key {key}: the target refused the row ({code}): {message}{}", column.as_ref().map(|c| format!(" (column {c})")).unwrap_or_default())]
    Refused {
        table: String,
        key: String,
        column: Option<String>,
        code: String,
        message: String,
    },
}

/// A failure that kept a batch from committing.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot reach the target: {0}")]
    Connection(#[source] BoxError),
    #[error("table {table} does not exist on the target")]
    UnknownTable { table: String },
    #[error("table {table} has no column {column}")]
    UnknownColumn { table: String, column: String },
    #[error("table {table} has no primary key or unique index on ({columns})")]
    NoUniqueKey { table: String, columns: String },
    #[error("table {table}: a {kind} op has no key columns")]
    NoKey { table: String, kind: &'static str },
    /// An error the target reported, with its code.
    #[error("{context}: the target failed ({code}): {source}")]
    Database {
        class: ErrorClass,
        code: String,
        context: String,
        #[source]
        source: BoxError,
    },
}

impl SinkError {
    /// What the pipeline should do about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            SinkError::Connection(_) => ErrorClass::Transient,
            SinkError::UnknownTable { .. }
            | SinkError::UnknownColumn { .. }
            | SinkError::NoUniqueKey { .. }
            | SinkError::NoKey { .. } => ErrorClass::Configuration,
            SinkError::Database { class, .. } => *class,
        }
    }

    /// Whether the same batch may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// Whether the target's schema or rights do not match the job.
    pub fn is_configuration(&self) -> bool {
        self.class() == ErrorClass::Configuration
    }

    /// Whether a table the job names is missing or lacks what the job
    /// needs (a column, a unique key), as opposed to the database as a
    /// whole refusing the sink.
    pub fn is_table_mismatch(&self) -> bool {
        matches!(
            self,
            SinkError::UnknownTable { .. }
                | SinkError::UnknownColumn { .. }
                | SinkError::NoUniqueKey { .. }
        )
    }

    /// The SQLSTATE (PostgreSQL) or result code name (SQLite), if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            SinkError::Database { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Renders key columns as `(a=1, b='x')` for reasons and logs.
pub(crate) fn render_key(key: &[wb_abi::Column<'_>]) -> String {
    let mut out = String::from("(");
    for (i, c) in key.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&c.name);
        out.push('=');
        out.push_str(&render_cell(&c.value));
    }
    out.push(')');
    out
}

/// A short, readable rendering of a cell (long values are cut).
pub(crate) fn render_cell(cell: &wb_abi::Cell<'_>) -> String {
    use wb_abi::Cell;
    let text = match cell {
        Cell::Null => return "NULL".to_string(),
        Cell::Bool(b) => return b.to_string(),
        Cell::Integer(i) => return i.to_string(),
        Cell::Float(f) => return f.to_string(),
        Cell::Text(t) => format!("{:?}", t.as_ref()),
        Cell::Json(j) => format!("json {:?}", j.as_ref()),
        Cell::Bytes(b) => format!("{} bytes", b.len()),
    };
    Shorten(&text).to_string()
}

struct Shorten<'a>(&'a str);

impl fmt::Display for Shorten<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 120;
        if self.0.len() <= MAX {
            return f.write_str(self.0);
        }
        write!(f, "{}...", &self.0[..self.0.floor_char_boundary(MAX)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_classify_by_code_not_text() {
        for code in ["08006", "08001", "40001", "40P01", "57P01", "53300"] {
            assert_eq!(
                ErrorClass::from_sqlstate(code),
                ErrorClass::Transient,
                "{code}"
            );
        }
        for code in [
            "22P02", "22001", "22003", "23505", "23502", "23503", "23514",
        ] {
            assert_eq!(
                ErrorClass::from_sqlstate(code),
                ErrorClass::Record,
                "{code}"
            );
        }
        for code in ["42P01", "42703", "42501", "42P10"] {
            assert_eq!(
                ErrorClass::from_sqlstate(code),
                ErrorClass::Configuration,
                "{code}"
            );
        }
        assert_eq!(ErrorClass::from_sqlstate("XX000"), ErrorClass::Fatal);
    }
}
