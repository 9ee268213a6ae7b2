//! Cases as the engine's data: the change a case describes and the row ops
//! it expects.

use serde_yaml::{Mapping, Value};

use crate::transform::{Cell, ChangeData, Column, OpKind, RowOp, ValueData};

use super::file::{Case, CaseValue, ExpectedOp};

/// The change `case` describes; `stream_id` stands in for the stream
/// entry's id. Errors name the field at fault.
pub(crate) fn change(case: &Case, stream_id: String) -> Result<ChangeData, String> {
    let (value, event) = match &case.value {
        CaseValue::Missing => (ValueData::Missing, "del"),
        CaseValue::Hash(fields) => {
            let pairs = fields
                .iter()
                .map(|(field, value)| {
                    let field = scalar_text(field).map_err(|e| format!("value.hash: {e}"))?;
                    let value =
                        scalar_text(value).map_err(|e| format!("value.hash.{field}: {e}"))?;
                    Ok((field.into_bytes(), value.into_bytes()))
                })
                .collect::<Result<_, String>>()?;
            (ValueData::Hash(pairs), "hset")
        }
        CaseValue::Json(document) => (ValueData::Json(json_text(document)?), "json.set"),
        CaseValue::Set(members) => {
            let members = members
                .iter()
                .map(|m| scalar_text(m).map(String::into_bytes))
                .collect::<Result<_, String>>()
                .map_err(|e| format!("value.set: {e}"))?;
            (ValueData::Set(members), "sadd")
        }
        CaseValue::SortedSet(scores) => {
            let members = scores
                .iter()
                .map(|(member, score)| {
                    let member =
                        scalar_text(member).map_err(|e| format!("value.sorted_set: {e}"))?;
                    let score = match score {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        format!("value.sorted_set.{member}: the score is not a number")
                    })?;
                    Ok((member.into_bytes(), score))
                })
                .collect::<Result<_, String>>()?;
            (ValueData::SortedSet(members), "zadd")
        }
    };
    Ok(ChangeData {
        key: case.key.clone().into_bytes(),
        event: case.event.clone().unwrap_or_else(|| event.to_string()),
        stream_id,
        value,
    })
}

/// The expected ops as row ops (column order as written). A missing
/// `connection` is left empty: the comparison ignores it then.
pub(crate) fn expected_ops(ops: &[ExpectedOp]) -> Result<Vec<RowOp<'static>>, String> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let (kind, table) = match (&op.upsert, &op.delete, &op.delete_matching, &op.insert) {
                (Some(t), ..) => (OpKind::Upsert, t),
                (_, Some(t), ..) => (OpKind::Delete, t),
                (_, _, Some(t), _) => (OpKind::DeleteMatching, t),
                (.., Some(t)) => (OpKind::Insert, t),
                _ => return Err(format!("expect[{i}]: names no op kind")),
            };
            let mut row = RowOp::new(
                kind,
                op.connection.clone().unwrap_or_default(),
                table.clone(),
            );
            row.key = columns(&op.key).map_err(|e| format!("expect[{i}].key.{e}"))?;
            row.values = columns(&op.values).map_err(|e| format!("expect[{i}].values.{e}"))?;
            Ok(row)
        })
        .collect()
}

fn columns(map: &Mapping) -> Result<Vec<Column<'static>>, String> {
    map.iter()
        .map(|(name, value)| {
            let name = scalar_text(name)?;
            let value = cell(value).map_err(|e| format!("{name}: {e}"))?;
            Ok(Column {
                name: name.into(),
                value,
            })
        })
        .collect()
}

/// A cell from YAML: null, a boolean, an integer, a float, text, or
/// `{json: ...}` (JSON text or a YAML value written as JSON) and
/// `{bytes: "hex"}`.
fn cell(value: &Value) -> Result<Cell<'static>, String> {
    Ok(match value {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cell::Integer(i),
            None => Cell::Float(n.as_f64().ok_or("not a number a cell can hold")?),
        },
        Value::String(s) => Cell::Text(s.clone().into()),
        Value::Mapping(map) if map.len() == 1 => {
            let (tag, inner) = map.iter().next().ok_or("an empty map")?;
            match tag.as_str() {
                Some("json") => Cell::Json(json_text(inner)?.into()),
                Some("bytes") => Cell::Bytes(hex_bytes(inner)?.into()),
                _ => return Err("a map cell is {json: ...} or {bytes: hex}".into()),
            }
        }
        _ => {
            return Err(
                "a cell is null, a boolean, a number, text, {json: ...} or {bytes: hex}".into(),
            )
        }
    })
}

/// JSON text as written, or a YAML value turned into JSON.
fn json_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        other => serde_json::to_string(other).map_err(|e| format!("not expressible as JSON: {e}")),
    }
}

fn hex_bytes(value: &Value) -> Result<Vec<u8>, String> {
    let text = value.as_str().ok_or("bytes are written as hex text")?;
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{text:?} has an odd number of hex digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("{text:?} is not hex"))
        })
        .collect()
}

/// The text of a scalar, as Redis would hold it.
fn scalar_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err("expected text, a number or a boolean".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(yaml: &str) -> Case {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn values_become_changes_with_default_events() {
        let hash = change(
            &case("{key: \"user:1\", value: {hash: {name: Ann, age: 42}}, expect: []}"),
            "0-1".into(),
        )
        .unwrap();
        assert_eq!(hash.event, "hset");
        assert_eq!(
            hash.value,
            ValueData::Hash(vec![
                (b"name".to_vec(), b"Ann".to_vec()),
                (b"age".to_vec(), b"42".to_vec())
            ])
        );
        let gone = change(&case("{key: k, value: missing, expect: []}"), "0-2".into()).unwrap();
        assert_eq!(
            (gone.event.as_str(), gone.value),
            ("del", ValueData::Missing)
        );
        let json = change(
            &case("{key: k, event: json.merge, value: {json: {a: [1, 2]}}, expect: []}"),
            "0-3".into(),
        )
        .unwrap();
        assert_eq!(json.event, "json.merge");
        assert_eq!(json.value, ValueData::Json("{\"a\":[1,2]}".into()));
        let zset = change(
            &case("{key: k, value: {zset: {a: 1.5, b: \"2\"}}, expect: []}"),
            "0-4".into(),
        )
        .unwrap();
        assert_eq!(
            zset.value,
            ValueData::SortedSet(vec![(b"a".to_vec(), 1.5), (b"b".to_vec(), 2.0)])
        );
        let err = change(
            &case("{key: k, value: {zset: {a: x}}, expect: []}"),
            "0-5".into(),
        )
        .unwrap_err();
        assert!(err.contains("value.sorted_set.a"), "{err}");
    }

    #[test]
    fn expected_cells_keep_their_types() {
        let c = case(
            "{key: k, value: missing, expect: [{upsert: t, key: {id: \"1\"}, values: {n: 1, f: 1.5, b: true, z: null, j: {json: {a: 1}}, x: {bytes: \"00ff\"}}}]}",
        );
        let ops = expected_ops(c.expect.as_ref().unwrap()).unwrap();
        let cells: Vec<Cell<'_>> = ops[0].values.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            cells,
            vec![
                Cell::Integer(1),
                Cell::Float(1.5),
                Cell::Bool(true),
                Cell::Null,
                Cell::Json("{\"a\":1}".into()),
                Cell::Bytes(vec![0, 255].into()),
            ]
        );
        assert_eq!(ops[0].key[0].value, Cell::Text("1".into()));
        let bad = case("{key: k, value: missing, expect: [{delete: t, key: {id: [1]}}]}");
        let err = expected_ops(bad.expect.as_ref().unwrap()).unwrap_err();
        assert!(err.starts_with("expect[0].key.id:"), "{err}");
    }
}
