//! What `export!` expands to call: the component's exports implemented once
//! for any [`Transform`].

use std::sync::OnceLock;

use wb_abi::{encode_changes, run_batch, Cell, ChangeData, OpKind, ResultReader, RowOp, ValueData};

use crate::bindings::wb::transform::types as wit;
use crate::{Params, Transform};

const NOT_INITIALISED: &str = "the engine called transform before init";

pub fn init<T: Transform>(
    state: &OnceLock<T>,
    params: Vec<(String, String)>,
) -> Result<(), String> {
    let transform = T::init(&Params::new(params))?;
    state
        .set(transform)
        .map_err(|_| "init was called twice on one instance".to_string())
}

pub fn transform_packed<T: Transform>(
    state: &OnceLock<T>,
    input: &[u8],
) -> Result<Vec<u8>, String> {
    let transform = state.get().ok_or(NOT_INITIALISED)?;
    run_batch(input, |change| transform.map(change)).map_err(|e| e.to_string())
}

/// The typed call goes through the packed path so both give identical
/// results by construction; it is the slow path and only exists for hosts
/// that prefer typed values.
pub fn transform_typed<T: Transform>(
    state: &'static OnceLock<T>,
    changes: Vec<wit::Change>,
) -> Vec<Result<Vec<wit::RowOp>, String>> {
    let count = changes.len();
    let data: Vec<ChangeData> = changes.into_iter().map(change_data).collect();
    let output = match transform_packed(state, &encode_changes(&data)) {
        Ok(output) => output,
        Err(reason) => return vec![Err(reason); count],
    };
    let reader = match ResultReader::new(&output) {
        Ok(reader) => reader,
        Err(e) => return vec![Err(e.to_string()); count],
    };
    reader
        .map(|entry| match entry {
            Ok(Ok(ops)) => Ok(ops.iter().map(wit_row_op).collect()),
            Ok(Err(reason)) => Err(reason.to_string()),
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

fn change_data(change: wit::Change) -> ChangeData {
    ChangeData {
        key: change.key,
        event: change.event,
        stream_id: change.stream_id,
        value: match change.value {
            wit::Value::Missing => ValueData::Missing,
            wit::Value::Hash(pairs) => ValueData::Hash(pairs),
            wit::Value::Json(text) => ValueData::Json(text),
            wit::Value::Set(members) => ValueData::Set(members),
            wit::Value::SortedSet(members) => ValueData::SortedSet(members),
        },
    }
}

fn wit_row_op(op: &RowOp<'_>) -> wit::RowOp {
    let columns = |cols: &[wb_abi::Column<'_>]| {
        cols.iter()
            .map(|c| wit::Column {
                name: c.name.to_string(),
                value: wit_cell(&c.value),
            })
            .collect()
    };
    wit::RowOp {
        kind: match op.kind {
            OpKind::Upsert => wit::OpKind::Upsert,
            OpKind::Delete => wit::OpKind::Delete,
            OpKind::DeleteMatching => wit::OpKind::DeleteMatching,
            OpKind::Insert => wit::OpKind::Insert,
        },
        target: wit::Target {
            connection: op.target.connection.to_string(),
            table: op.target.table.to_string(),
        },
        key: columns(&op.key),
        values: columns(&op.values),
    }
}

fn wit_cell(cell: &Cell<'_>) -> wit::Cell {
    match cell {
        Cell::Null => wit::Cell::Null,
        Cell::Bool(b) => wit::Cell::Boolean(*b),
        Cell::Integer(i) => wit::Cell::Integer(*i),
        Cell::Float(f) => wit::Cell::Float(*f),
        Cell::Text(t) => wit::Cell::Text(t.to_string()),
        Cell::Bytes(b) => wit::Cell::Bytes(b.to_vec()),
        Cell::Json(j) => wit::Cell::Json(j.to_string()),
    }
}
