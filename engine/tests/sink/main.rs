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

/// The ops the stock mapper gives a hash `user:<id>` with field `name`
/// under `load_strategy: replace` (a delete by key, then an insert), tagged
/// with change `change`.
pub fn replaced(change: usize, id: i64, name: &str) -> Vec<(usize, RowOp<'static>)> {
    let spec =
        wb_mapper::Spec::parse("output t users replace\nkey id key_part(1)\nvalue name name\n")
            .expect("the spec parses");
    let buf = wb_abi::encode_changes(&[wb_abi::ChangeData {
        key: format!("user:{id}").into_bytes(),
        event: "hset".into(),
        stream_id: "1-0".into(),
        value: wb_abi::ValueData::Hash(vec![(b"name".to_vec(), name.as_bytes().to_vec())]),
    }]);
    let change_view = wb_abi::BatchReader::new(&buf)
        .expect("batch")
        .next()
        .expect("one change")
        .expect("decodes");
    let ops = wb_mapper::apply(&spec, &change_view).expect("maps");
    let kinds: Vec<_> = ops.iter().map(|op| op.kind).collect();
    assert_eq!(kinds, vec![wb_abi::OpKind::Delete, wb_abi::OpKind::Insert]);
    ops.into_iter()
        .map(|op| (change, op.into_owned()))
        .collect()
}
