//! Mapping one change through a spec.

use std::borrow::Cow;

use wb_abi::{Cell, Change, Column as Cell_, RowOp};

use crate::spec::{Column, LoadStrategy, Spec};

/// The row ops for `change`: for each output, an upsert or insert of the
/// mapped row, or (for a key that is gone) a delete by the key columns.
/// A key column without a value rejects the change: the row could not be
/// found again.
pub fn apply<'a>(spec: &'a Spec, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
    let mut ops = Vec::with_capacity(spec.outputs.len());
    for output in &spec.outputs {
        let conn = output.connection.as_str();
        let table = output.table.as_str();
        let missing = change.is_missing();
        let keys = cells(&output.keys, change)?;
        if let Some(empty) = keys.iter().find(|c| c.value == Cell::Null) {
            return Err(format!(
                "key column {} of {table} has no value in {}",
                empty.name,
                String::from_utf8_lossy(change.key)
            ));
        }
        let op = match (output.strategy, missing) {
            (LoadStrategy::Upsert, true) => RowOp::delete(conn, table),
            (LoadStrategy::Upsert, false) => RowOp::upsert(conn, table),
            (LoadStrategy::Append, true) => continue,
            (LoadStrategy::Append, false) => RowOp::insert(conn, table),
        };
        let values = if missing {
            Vec::new()
        } else {
            cells(&output.values, change)?
        };
        ops.push(RowOp {
            key: keys,
            values,
            ..op
        });
    }
    Ok(ops)
}

fn cells<'a>(columns: &'a [Column], change: &Change<'a>) -> Result<Vec<Cell_<'a>>, String> {
    columns
        .iter()
        .map(|column| {
            Ok(Cell_ {
                name: Cow::Borrowed(column.name.as_str()),
                value: column.expr.eval(change)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_abi::{encode_changes, BatchReader, ChangeData, OpKind, ValueData};

    fn spec() -> Spec {
        Spec::parse(
            "output target users upsert\n\
             key id key_part(1)\n\
             value name name\n\
             value city address.city\n\
             value age age\n\
             output target audit append\n\
             value id key_part(1)\n",
        )
        .unwrap()
    }

    fn run(change: ChangeData, f: impl FnOnce(Result<Vec<RowOp<'_>>, String>)) {
        let buf = encode_changes(&[change]);
        let spec = spec();
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        f(apply(&spec, &change));
    }

    fn change(key: &str, value: ValueData) -> ChangeData {
        ChangeData {
            key: key.as_bytes().to_vec(),
            event: "hset".into(),
            stream_id: "1-0".into(),
            value,
        }
    }

    #[test]
    fn maps_a_hash_to_an_upsert_and_an_append() {
        let hash = ValueData::Hash(vec![(b"name".to_vec(), b"Ada".to_vec())]);
        run(change("user:7", hash), |ops| {
            let ops = ops.unwrap();
            assert_eq!(ops[0].kind, OpKind::Upsert);
            assert_eq!(ops[0].key[0].value, Cell::from("7"));
            assert_eq!(ops[0].values[0].value, Cell::from("Ada"));
            // Absent fields are NULL.
            assert_eq!(ops[0].values[1].value, Cell::Null);
            assert_eq!(ops[1].kind, OpKind::Insert);
            assert_eq!(ops[1].target.table, "audit");
        });
    }

    #[test]
    fn maps_json_paths_to_typed_cells() {
        let doc = ValueData::Json(r#"{"name":"Ada","age":36,"address":{"city":"London"}}"#.into());
        run(change("user:7", doc), |ops| {
            let values: Vec<_> = ops.unwrap()[0]
                .values
                .iter()
                .map(|c| c.value.clone())
                .collect();
            assert_eq!(
                values,
                vec![Cell::from("Ada"), Cell::from("London"), Cell::Integer(36)]
            );
        });
    }

    #[test]
    fn a_missing_key_deletes_by_key_and_skips_appends() {
        run(change("user:7", ValueData::Missing), |ops| {
            let ops = ops.unwrap();
            assert_eq!(ops.len(), 1);
            assert_eq!(ops[0].kind, OpKind::Delete);
            assert_eq!(ops[0].key[0].value, Cell::from("7"));
            assert!(ops[0].values.is_empty());
        });
    }

    #[test]
    fn a_key_without_a_value_rejects_the_change() {
        run(change("user", ValueData::Missing), |ops| {
            assert_eq!(
                ops.unwrap_err(),
                "key column id of users has no value in user"
            );
        });
    }
}
