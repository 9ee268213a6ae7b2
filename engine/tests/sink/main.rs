//! The sink stage against a real PostgreSQL (127.0.0.1:5432, or
//! `WB_TEST_PG`) and real SQLite files in temporary directories.
//!
//! Each PostgreSQL test works in its own schema, dropped when the test ends
//! (passing or not), so tests run in parallel with each other and with
//! other suites on the same server.

mod postgres;
mod sqlite;

use wb_engine::sink::{Batch, Cell, RowOp, StreamOffset, TaggedOp};

/// A name no other test (in this run or a parallel one) uses.
pub use wb_tests::unique_name as unique;

/// A batch whose op `i` comes from change `changes[i]`.
pub fn batch(ops: Vec<(usize, RowOp<'static>)>) -> Batch<'static> {
    Batch {
        ops: ops
            .into_iter()
            .map(|(change, op)| TaggedOp { change, op })
            .collect(),
        offsets: Vec::new(),
    }
}

pub fn offset(job: &str, shard: &str, last_id: &str) -> StreamOffset {
    StreamOffset {
        job: job.into(),
        shard: shard.into(),
        last_id: last_id.into(),
    }
}

pub fn text(s: &str) -> Cell<'static> {
    Cell::Text(s.to_string().into())
}
