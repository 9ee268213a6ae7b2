//! Mapping one change through a spec.

use std::borrow::Cow;

use wb_abi::{json_array_items, json_path, Cell, Change, Column as Cell_, RowOp, Value};

use crate::expr::{Item, Scope, Step};
use crate::logic::truthy;
use crate::spec::{Column, LoadStrategy, Output, Spec};

/// The row ops for `change`, per output:
///
/// - a hash or JSON document: an upsert (for `append`, an insert; for
///   `replace`, a delete by the key columns followed by an insert, so the
///   columns the mapping leaves out go back to their defaults) of the
///   mapped row;
/// - a set or sorted set: its rows as a whole, one per member, with
///   `member` and `score` as fields: a delete of every row matching the key
///   columns, then an insert per member (for `append`, only the inserts);
/// - with `foreach`, the same for each element of a JSON array;
/// - a key that is gone: a delete by the key columns, which removes the
///   child rows of a set too (nothing for `append`);
/// - a flush (every key gone): every row of each output table deleted
///   (nothing for `append`).
///
/// Transform steps (rename, remove, add, map) are applied lazily: an
/// expression that reads a field walks back through them.
///
/// A key column without a value rejects the change: the row could not be
/// found again. A record that fails a `filter` step produces nothing; a key
/// that is gone is never filtered, so its rows are always deleted.
pub fn apply<'a>(spec: &'a Spec, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
    if change.is_flush() {
        return Ok(empty_tables(spec));
    }
    if !passes_filters(spec, change)? {
        return Ok(Vec::new());
    }
    let mut ops = Vec::with_capacity(spec.outputs.len());
    for output in &spec.outputs {
        let conn = output.connection.as_str();
        let table = output.table.as_str();
        let deletes = output.strategy.deletes();
        let items = child_items(output, change)?;
        match items {
            Some(items) => {
                // Key columns identify the parent key; they must not depend
                // on the member, or the old children could not be found.
                let keys = keys(spec, &output.keys, change, None, table)?;
                if deletes {
                    ops.push(RowOp {
                        key: keys.clone(),
                        ..RowOp::delete_matching(conn, table)
                    });
                }
                for item in items {
                    ops.push(RowOp {
                        key: keys.clone(),
                        values: cells(spec, &output.values, change, Some(item))?,
                        ..RowOp::insert(conn, table)
                    });
                }
            }
            None if change.is_missing() => {
                if deletes {
                    ops.push(RowOp {
                        key: keys(spec, &output.keys, change, None, table)?,
                        ..RowOp::delete(conn, table)
                    });
                }
            }
            None => {
                let key = keys(spec, &output.keys, change, None, table)?;
                let values = cells(spec, &output.values, change, None)?;
                let op = match output.strategy {
                    LoadStrategy::Upsert => RowOp::upsert(conn, table),
                    LoadStrategy::Append => RowOp::insert(conn, table),
                    LoadStrategy::Replace => {
                        ops.push(RowOp {
                            key: key.clone(),
                            ..RowOp::delete(conn, table)
                        });
                        RowOp::insert(conn, table)
                    }
                };
                ops.push(RowOp { key, values, ..op });
            }
        }
    }
    Ok(ops)
}

/// After a flush every key of the job is gone: a delete-matching with no
/// columns (every row) for each output table, except `append` outputs,
/// whose rows are a history rather than a copy of Redis.
fn empty_tables(spec: &Spec) -> Vec<RowOp<'_>> {
    spec.outputs
        .iter()
        .filter(|output| output.strategy.deletes())
        .map(|output| RowOp::delete_matching(&output.connection, &output.table))
        .collect()
}

/// Whether every filter step holds, each seeing the record as the steps
/// before it left it.
fn passes_filters<'a>(spec: &'a Spec, change: &Change<'a>) -> Result<bool, String> {
    if change.is_missing() {
        return Ok(true);
    }
    let scope = Scope::new(change, None, &spec.steps);
    for (index, step) in spec.steps.iter().enumerate() {
        if let Step::Filter { expr } = step {
            if !truthy(&expr.value(&scope, index, None)?)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The items an output builds one row each from: set members, or the
/// elements of the `foreach` array; `None` for a one-row output.
fn child_items<'a>(
    output: &'a Output,
    change: &Change<'a>,
) -> Result<Option<Vec<Item<'a>>>, String> {
    if let Some(foreach) = &output.foreach {
        let doc = match &change.value {
            Value::Json(doc) => *doc,
            // A gone key deletes its children by key.
            Value::Missing => return Ok(None),
            _ => return Err(format!("foreach over {} needs a JSON value", foreach.path)),
        };
        let elements = match json_path(doc, &foreach.path).map_err(|e| e.to_string())? {
            None | Some("null") => Vec::new(),
            Some(array) => json_array_items(array).map_err(|e| format!("{}: {e}", foreach.path))?,
        };
        return Ok(Some(
            elements
                .into_iter()
                .map(|json| Item::Element {
                    alias: foreach.alias.as_str(),
                    json,
                })
                .collect(),
        ));
    }
    Ok(match &change.value {
        Value::Set(members) => Some(
            members
                .iter()
                .map(|member| Item::Member {
                    member,
                    score: None,
                })
                .collect(),
        ),
        Value::SortedSet(members) => Some(
            members
                .iter()
                .map(|(member, score)| Item::Member {
                    member,
                    score: Some(score),
                })
                .collect(),
        ),
        _ => None,
    })
}

/// The key columns, none of which may be empty.
fn keys<'a>(
    spec: &'a Spec,
    columns: &'a [Column],
    change: &Change<'a>,
    item: Option<Item<'a>>,
    table: &str,
) -> Result<Vec<Cell_<'a>>, String> {
    let keys = cells(spec, columns, change, item)?;
    if let Some(empty) = keys.iter().find(|c| c.value == Cell::Null) {
        return Err(format!(
            "key column {} of {table} has no value in {}",
            empty.name,
            String::from_utf8_lossy(change.key)
        ));
    }
    Ok(keys)
}

fn cells<'a>(
    spec: &'a Spec,
    columns: &'a [Column],
    change: &Change<'a>,
    item: Option<Item<'a>>,
) -> Result<Vec<Cell_<'a>>, String> {
    let scope = Scope::new(change, item, &spec.steps);
    // A plain loop: measurably cheaper per column than collecting an
    // iterator of results, and this runs for every column of every row.
    let mut out = Vec::with_capacity(columns.len());
    for column in columns {
        out.push(Cell_ {
            name: Cow::Borrowed(column.name.as_str()),
            value: column.expr.eval(&scope, spec.steps.len())?,
        });
    }
    Ok(out)
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
    fn a_flush_empties_every_table_but_append_ones() {
        let flush = ChangeData {
            key: Vec::new(),
            event: "flush".into(),
            ..change("", ValueData::Missing)
        };
        run(flush, |ops| {
            let ops = ops.unwrap();
            assert_eq!(ops.len(), 1, "{ops:?}");
            assert_eq!(ops[0].kind, OpKind::DeleteMatching);
            assert_eq!(ops[0].target.table, "users");
            assert!(ops[0].key.is_empty(), "matches every row");
        });
        // A key that happens to be empty is an ordinary change, not a flush.
        let hash = ValueData::Hash(vec![(b"name".to_vec(), b"Ada".to_vec())]);
        run(change("", hash), |ops| {
            let err = ops.expect_err("an empty key is no flush: its key column has no value");
            assert!(err.contains("id"), "{err}");
        });
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
    fn functions_compute_derived_columns() {
        let spec = Spec::parse(
            "output t users upsert\n\
             key id key_part(1)\n\
             value email lower(email)\n\
             value full_name concat([first, ' ', last])\n\
             value initials concat(left(first, 1), left(last, 1))\n",
        )
        .unwrap();
        let buf = encode_changes(&[change(
            "user:1",
            ValueData::Hash(vec![
                (b"email".to_vec(), b"Ada@Example.COM".to_vec()),
                (b"first".to_vec(), b"Ada".to_vec()),
                (b"last".to_vec(), b"Lovelace".to_vec()),
            ]),
        )]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let ops = apply(&spec, &change).unwrap();
        let values: Vec<_> = ops[0].values.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Cell::from("ada@example.com"),
                Cell::from("Ada Lovelace"),
                Cell::from("AL"),
            ]
        );
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
    fn a_set_replaces_its_child_rows_as_a_whole() {
        let spec = Spec::parse(
            "output target user_tags upsert\n\
             key user_id key_part(1)\n\
             value tag member\n",
        )
        .unwrap();
        let buf = encode_changes(&[change(
            "tags:7",
            ValueData::Set(vec![b"red".to_vec(), b"blue".to_vec()]),
        )]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let ops = apply(&spec, &change).unwrap();
        let kinds: Vec<_> = ops.iter().map(|op| op.kind).collect();
        assert_eq!(
            kinds,
            vec![OpKind::DeleteMatching, OpKind::Insert, OpKind::Insert]
        );
        assert_eq!(ops[0].key[0].value, Cell::from("7"));
        assert!(ops[0].values.is_empty());
        assert_eq!(ops[2].key[0].value, Cell::from("7"));
        assert_eq!(ops[2].values[0].value, Cell::from("blue"));
    }

    #[test]
    fn a_sorted_set_gives_members_and_scores() {
        let spec = Spec::parse(
            "output target ranks append\n\
             value board key_part(1)\n\
             value player member\n\
             value points score\n",
        )
        .unwrap();
        let buf = encode_changes(&[change(
            "board:9",
            ValueData::SortedSet(vec![(b"ada".to_vec(), 12.5)]),
        )]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let ops = apply(&spec, &change).unwrap();
        assert_eq!(ops.len(), 1, "append does not delete");
        let values: Vec<_> = ops[0].values.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            values,
            vec![Cell::from("9"), Cell::from("ada"), Cell::Float(12.5)]
        );
    }

    #[test]
    fn set_rows_name_only_member_and_score() {
        let spec = Spec::parse("output t s upsert\nkey id key_part(1)\nvalue x name\n").unwrap();
        let buf = encode_changes(&[change("s:1", ValueData::Set(vec![b"a".to_vec()]))]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let err = apply(&spec, &change).unwrap_err();
        assert!(err.contains("use member or score"), "{err}");
    }

    #[test]
    fn foreach_normalises_a_json_array_into_child_rows() {
        let spec = Spec::parse(
            "output target user_addresses upsert\n\
             foreach addr addresses\n\
             key user_id key_part(1)\n\
             value addr_id addr.id\n\
             value city upper(addr.city)\n\
             value owner name\n",
        )
        .unwrap();
        let doc = r#"{"name":"Ada","addresses":[{"id":1,"city":"London"},{"id":2,"city":"Oslo"}]}"#;
        let buf = encode_changes(&[
            change("user:7", ValueData::Json(doc.into())),
            change("user:8", ValueData::Missing),
            change("user:9", ValueData::Json(r#"{"name":"Bo"}"#.into())),
        ]);
        let changes: Vec<_> = BatchReader::new(&buf)
            .unwrap()
            .map(Result::unwrap)
            .collect();

        let ops = apply(&spec, &changes[0]).unwrap();
        let kinds: Vec<_> = ops.iter().map(|op| op.kind).collect();
        assert_eq!(
            kinds,
            vec![OpKind::DeleteMatching, OpKind::Insert, OpKind::Insert]
        );
        let second: Vec<_> = ops[2].values.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            second,
            vec![Cell::Integer(2), Cell::from("OSLO"), Cell::from("Ada")]
        );

        let gone = apply(&spec, &changes[1]).unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].kind, OpKind::Delete);

        // No array: the old children go, no new ones come.
        let none = apply(&spec, &changes[2]).unwrap();
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].kind, OpKind::DeleteMatching);
    }

    #[test]
    fn steps_rename_remove_and_add_fields_in_order() {
        let spec = Spec::parse(
            "rename fname first_name\n\
             remove password\n\
             add full_name concat([first_name, ' ', last])\n\
             rename full_name display\n\
             output t users upsert\n\
             key id key_part(1)\n\
             value first_name first_name\n\
             value fname fname\n\
             value password password\n\
             value display display\n\
             value full_name full_name\n",
        )
        .unwrap();
        let buf = encode_changes(&[change(
            "user:1",
            ValueData::Hash(vec![
                (b"fname".to_vec(), b"Ada".to_vec()),
                (b"last".to_vec(), b"Lovelace".to_vec()),
                (b"password".to_vec(), b"hunter2".to_vec()),
            ]),
        )]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let ops = apply(&spec, &change).unwrap();
        let values: Vec<_> = ops[0]
            .values
            .iter()
            .map(|c| (c.name.as_ref(), c.value.clone()))
            .collect();
        assert_eq!(
            values,
            vec![
                ("first_name", Cell::from("Ada")),
                ("fname", Cell::Null),
                ("password", Cell::Null),
                ("display", Cell::from("Ada Lovelace")),
                ("full_name", Cell::Null),
            ]
        );
    }

    #[test]
    fn filters_skip_records_but_never_deletes() {
        let spec = Spec::parse(
            "rename lvl level\n\
             filter level >= `3` && status != 'banned'\n\
             output t users upsert\n\
             key id key_part(1)\n\
             value level level\n",
        )
        .unwrap();
        let user = |id: &str, level: &str, status: &str| {
            change(
                &format!("user:{id}"),
                ValueData::Hash(vec![
                    (b"lvl".to_vec(), level.as_bytes().to_vec()),
                    (b"status".to_vec(), status.as_bytes().to_vec()),
                ]),
            )
        };
        let buf = encode_changes(&[
            user("1", "5", "ok"),
            user("2", "2", "ok"),
            user("3", "9", "banned"),
            change("user:4", ValueData::Missing),
        ]);
        let changes: Vec<_> = BatchReader::new(&buf)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let counts: Vec<_> = changes
            .iter()
            .map(|c| apply(&spec, c).unwrap().len())
            .collect();
        assert_eq!(counts, vec![1, 0, 0, 1]);
        assert_eq!(apply(&spec, &changes[3]).unwrap()[0].kind, OpKind::Delete);
    }

    #[test]
    fn replace_deletes_then_inserts_the_row() {
        let spec = Spec::parse(
            "output t users replace\n\
             key id key_part(1)\n\
             value name name\n",
        )
        .unwrap();
        let buf = encode_changes(&[
            change(
                "user:7",
                ValueData::Hash(vec![(b"name".to_vec(), b"Ada".to_vec())]),
            ),
            change("user:8", ValueData::Missing),
        ]);
        let changes: Vec<_> = BatchReader::new(&buf)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let ops = apply(&spec, &changes[0]).unwrap();
        let kinds: Vec<_> = ops.iter().map(|op| op.kind).collect();
        assert_eq!(kinds, vec![OpKind::Delete, OpKind::Insert]);
        assert_eq!(ops[0].key[0].value, Cell::from("7"));
        assert!(ops[0].values.is_empty());
        assert_eq!(ops[1].key[0].value, Cell::from("7"));
        assert_eq!(ops[1].values[0].value, Cell::from("Ada"));
        let gone = apply(&spec, &changes[1]).unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].kind, OpKind::Delete);
    }

    #[test]
    fn a_map_step_replaces_the_record() {
        let spec = Spec::parse(
            "rename fname first\n\
             map {name: concat([first, ' ', last]), tags: split(tags, ','), first: first}\n\
             add n_tags length(tags)\n\
             filter n_tags > `0`\n\
             output t users upsert\n\
             key id key_part(1)\n\
             value name name\n\
             value last last\n\
             value tag tags[1]\n\
             value n_tags n_tags\n\
             value all to_string(@)\n",
        )
        .unwrap();
        let hash = |tags: &str| {
            ValueData::Hash(vec![
                (b"fname".to_vec(), b"Ada".to_vec()),
                (b"last".to_vec(), b"Lovelace".to_vec()),
                (b"tags".to_vec(), tags.as_bytes().to_vec()),
            ])
        };
        let buf = encode_changes(&[change("user:1", hash("x,y")), change("user:2", hash(""))]);
        let changes: Vec<_> = BatchReader::new(&buf)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let ops = apply(&spec, &changes[0]).unwrap();
        let values: Vec<_> = ops[0].values.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Cell::from("Ada Lovelace"),
                // Not in the map's result: gone.
                Cell::Null,
                Cell::from("y"),
                Cell::Integer(2),
                Cell::from(
                    "{\"name\":\"Ada Lovelace\",\"tags\":[\"x\",\"y\"],\"first\":\"Ada\",\"n_tags\":2}"
                ),
            ]
        );
        // split('', ',') is [''], one tag: kept.
        assert_eq!(apply(&spec, &changes[1]).unwrap().len(), 1);
    }

    #[test]
    fn columns_in_any_order_find_their_fields() {
        let spec = Spec::parse(
            "output t users upsert\n\
             key id key_part(1)\n\
             value c c\n\
             value a a\n\
             value missing missing\n\
             value b b\n\
             value c2 c\n",
        )
        .unwrap();
        let hash = ValueData::Hash(vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), vec![0xff]),
            (b"c".to_vec(), b"3".to_vec()),
        ]);
        let buf = encode_changes(&[change("user:1", hash)]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let ops = apply(&spec, &change).unwrap();
        let values: Vec<_> = ops[0].values.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Cell::from("3"),
                Cell::from("1"),
                Cell::Null,
                Cell::Bytes(vec![0xff].into()),
                Cell::from("3"),
            ]
        );
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
