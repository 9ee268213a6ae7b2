//! Conversions between the engine's values and the WIT types, and the
//! typed batch call, `transform`, which the pipeline never uses (it is an
//! order of magnitude slower than `transform-packed`; see wit/README.md).
//! It exists to check that a component's two calls agree, which a component
//! written without the wb SDK has to get right by hand. The `step` world is
//! typed only and uses the same conversions.

use std::borrow::Cow;

use wb_abi::{Cell, ChangeData, Column, OpKind, RowOp, Target, ValueData};

use super::bindings::wb::transform::types as wit;
use super::error::TransformError;
use super::host::WasmTransform;

impl WasmTransform {
    /// Runs the batch through the component's typed `transform` call in one
    /// fresh instance. There is no splitting: any trap fails the batch.
    pub fn run_typed(
        &self,
        changes: &[ChangeData],
    ) -> Result<Vec<Result<Vec<RowOp<'static>>, String>>, TransformError> {
        let typed: Vec<wit::Change> = changes.iter().map(wit_change).collect();
        let results = self.call_typed(&typed)?;
        if results.len() != changes.len() {
            return Err(TransformError::Malformed(format!(
                "{} results for {} changes",
                results.len(),
                changes.len()
            )));
        }
        Ok(results
            .into_iter()
            .map(|result| result.map(|ops| ops.into_iter().map(row_op).collect()))
            .collect())
    }
}

pub(crate) fn wit_change(change: &ChangeData) -> wit::Change {
    wit::Change {
        key: change.key.clone(),
        event: change.event.clone(),
        stream_id: change.stream_id.clone(),
        value: match &change.value {
            ValueData::Missing => wit::Value::Missing,
            ValueData::Hash(pairs) => wit::Value::Hash(pairs.clone()),
            ValueData::Json(text) => wit::Value::Json(text.clone()),
            ValueData::Set(members) => wit::Value::Set(members.clone()),
            ValueData::SortedSet(members) => wit::Value::SortedSet(members.clone()),
        },
    }
}

/// A value a step returned, as the engine holds it.
pub(crate) fn value_data(value: wit::Value) -> ValueData {
    match value {
        wit::Value::Missing => ValueData::Missing,
        wit::Value::Hash(pairs) => ValueData::Hash(pairs),
        wit::Value::Json(text) => ValueData::Json(text),
        wit::Value::Set(members) => ValueData::Set(members),
        wit::Value::SortedSet(members) => ValueData::SortedSet(members),
    }
}

fn row_op(op: wit::RowOp) -> RowOp<'static> {
    RowOp {
        kind: match op.kind {
            wit::OpKind::Upsert => OpKind::Upsert,
            wit::OpKind::Delete => OpKind::Delete,
            wit::OpKind::DeleteMatching => OpKind::DeleteMatching,
            wit::OpKind::Insert => OpKind::Insert,
        },
        target: Target {
            connection: Cow::Owned(op.target.connection),
            table: Cow::Owned(op.target.table),
        },
        key: op.key.into_iter().map(column).collect(),
        values: op.values.into_iter().map(column).collect(),
    }
}

fn column(column: wit::Column) -> Column<'static> {
    Column {
        name: Cow::Owned(column.name),
        value: match column.value {
            wit::Cell::Null => Cell::Null,
            wit::Cell::Boolean(b) => Cell::Bool(b),
            wit::Cell::Integer(i) => Cell::Integer(i),
            wit::Cell::Float(f) => Cell::Float(f),
            wit::Cell::Text(t) => Cell::Text(Cow::Owned(t)),
            wit::Cell::Bytes(b) => Cell::Bytes(Cow::Owned(b)),
            wit::Cell::Json(j) => Cell::Json(Cow::Owned(j)),
        },
    }
}
