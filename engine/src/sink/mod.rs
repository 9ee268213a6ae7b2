//! The sink stage: writes one batch of row operations to a relational
//! target in one transaction and reports, per change, delivered or rejected.
//!
//! Batching is not decided here: the pipeline hands a sink a [`Batch`]
//! (ordered row ops, each tagged with the change it came from, plus the
//! stream offsets the batch covers) and the sink writes all of it, the
//! offsets included, atomically. A change whose values do not fit the target
//! is rejected with a reason and the rest of the batch still commits.

mod batch;
mod error;
pub mod postgres;
pub mod sqlite;
mod table;

pub use batch::{Batch, Rejection, Report, StreamOffset, TaggedOp};
pub use error::{ErrorClass, RecordError, SinkError};
pub use wb_abi::{Cell, Column, OpKind, RowOp, Target};

use std::future::Future;
use std::pin::Pin;

/// A batch's transaction, converted and encoded but not yet sent: nothing
/// reaches the target until it is first polled. It owns everything it
/// needs, so the sink can stage the next batch while this one runs.
pub type Staged = Pin<Box<dyn Future<Output = Result<Sent, SinkError>> + Send + 'static>>;

/// How a staged transaction ended.
#[derive(Debug)]
pub enum Sent {
    /// Committed: the report says which changes were delivered.
    Committed(Report),
    /// The target refused a value (a record error) and nothing was
    /// written: [`Sink::isolate`] writes the batch again without the
    /// culprit.
    Refused(SinkError),
}

/// A relational target that writes whole batches.
pub trait Sink {
    /// Writes `batch` in one transaction together with its offsets.
    ///
    /// `Ok` means the transaction committed: every change in the batch is
    /// delivered except those listed as rejected. `Err` means nothing was
    /// written (the offsets included); [`SinkError::is_transient`] says
    /// whether retrying the same batch may succeed.
    fn write(
        &mut self,
        batch: &Batch<'_>,
    ) -> impl Future<Output = Result<Report, SinkError>> + Send;

    /// The last stream id committed for `job` on `shard`, if any: entries at
    /// or below it were written and must be skipped after a restart.
    fn stored_offset(
        &mut self,
        job: &str,
        shard: &str,
    ) -> impl Future<Output = Result<Option<String>, SinkError>> + Send;

    /// Stages `batch`'s transaction (reading the target's schema and
    /// preparing statements as needed, converting and encoding every value)
    /// without writing anything. `None` means the sink writes only through
    /// [`Sink::write`]. The caller polls the staged transaction only after
    /// the previous batch's has ended, so batches commit in order; a
    /// [`Sent::Refused`] outcome is followed by [`Sink::isolate`] before
    /// the next one is sent.
    fn stage(
        &mut self,
        batch: &Batch<'_>,
    ) -> impl Future<Output = Result<Option<Staged>, SinkError>> + Send {
        let _ = batch;
        async { Ok(None) }
    }

    /// Writes `batch` again after its staged transaction was refused with
    /// `first`, rejecting the changes the target refuses and committing the
    /// rest with the offsets.
    fn isolate(
        &mut self,
        batch: &Batch<'_>,
        first: SinkError,
    ) -> impl Future<Output = Result<Report, SinkError>> + Send {
        let _ = first;
        self.write(batch)
    }

    /// Forgets what the sink read of the target's schema, so that the next
    /// write reads it again: after a configuration error, the target may
    /// have been fixed since (a table created, a column added).
    fn forget_schema(&mut self);
}

/// Splits "schema.table" into its parts; a bare name uses `default_schema`.
pub(crate) fn split_table<'a>(name: &'a str, default_schema: &'a str) -> (&'a str, &'a str) {
    match name.split_once('.') {
        Some((schema, table)) if !schema.is_empty() && !table.is_empty() => (schema, table),
        _ => (default_schema, name),
    }
}

/// Quotes an identifier for SQL (PostgreSQL and SQLite alike): doubled
/// inner quotes, so any name is taken as a name and never as SQL.
pub(crate) fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_inner_quotes() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(
            quote_ident("a\"; drop table x; --"),
            "\"a\"\"; drop table x; --\""
        );
    }

    #[test]
    fn tables_split_on_the_first_dot() {
        assert_eq!(split_table("users", "public"), ("public", "users"));
        assert_eq!(split_table("crm.users", "public"), ("crm", "users"));
        assert_eq!(split_table(".users", "public"), ("public", ".users"));
    }
}
