//! Turning a batch's converted ops into multi-row statements without
//! changing what the batch means.
//!
//! Per table, ops are cut into segments in which this order is safe:
//! delete-matching, then deletes, then upserts, then inserts. A later op of
//! an earlier kind (a delete-matching after an upsert, say) starts a new
//! segment. Inside a segment, deletes and upserts are reduced per key: the
//! last one wins, and a delete followed by an upsert of the same key keeps
//! the delete too, so the row is rebuilt from the upsert alone.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use wb_abi::OpKind;

use super::convert::PgValue;

/// One row op with its cells converted and its columns resolved.
#[derive(Clone, Debug)]
pub struct Prepared<'a> {
    /// The change the op came from (read by the planner's tests, kept for
    /// logging which change a statement carried).
    #[allow(dead_code)]
    pub change: usize,
    pub kind: OpKind,
    pub table: usize,
    pub key_cols: Vec<usize>,
    pub key: Vec<PgValue<'a>>,
    pub val_cols: Vec<usize>,
    pub vals: Vec<PgValue<'a>>,
}

/// The shape of a statement: everything its SQL text depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub table: usize,
    pub kind: OpKind,
    pub key_cols: Vec<usize>,
    pub val_cols: Vec<usize>,
}

/// One statement to run: its shape and its rows, in order.
#[derive(Debug)]
pub struct Group<'p, 'a> {
    pub shape: Shape,
    pub rows: Vec<&'p Prepared<'a>>,
}

fn rank(kind: OpKind) -> u8 {
    match kind {
        OpKind::DeleteMatching => 0,
        OpKind::Delete | OpKind::Upsert => 1,
        OpKind::Insert => 2,
    }
}

/// Statements for `ops` (in batch order), in the order to run them.
pub fn plan<'p, 'a>(ops: &[&'p Prepared<'a>]) -> Vec<Group<'p, 'a>> {
    // Tables in order of first appearance, each with its ops in order.
    let mut tables: Vec<(usize, Vec<&'p Prepared<'a>>)> = Vec::new();
    for op in ops {
        match tables.iter_mut().find(|(t, _)| *t == op.table) {
            Some((_, list)) => list.push(op),
            None => tables.push((op.table, vec![*op])),
        }
    }
    let mut out = Vec::new();
    for (_, list) in tables {
        let mut start = 0;
        let mut top = 0;
        for (i, op) in list.iter().enumerate() {
            let r = rank(op.kind);
            if r < top {
                segment(&list[start..i], &mut out);
                start = i;
            }
            top = if start == i { r } else { top.max(r) };
        }
        segment(&list[start..], &mut out);
    }
    out
}

/// Adds `row` to the group of its shape (`kind`, the row's table and key
/// columns, and its value columns if `with_values`), keeping groups in
/// first-seen order. A shape is built only for a new group: rows of one
/// shape are the common case, and comparing costs no allocation.
fn push<'p, 'a>(
    groups: &mut Vec<Group<'p, 'a>>,
    kind: OpKind,
    with_values: bool,
    row: &'p Prepared<'a>,
) {
    let val_cols: &[usize] = if with_values { &row.val_cols } else { &[] };
    let same = |s: &Shape| {
        s.table == row.table
            && s.kind == kind
            && s.key_cols == row.key_cols
            && s.val_cols == val_cols
    };
    match groups.iter_mut().find(|g| same(&g.shape)) {
        Some(g) => g.rows.push(row),
        None => groups.push(Group {
            shape: Shape {
                table: row.table,
                kind,
                key_cols: row.key_cols.clone(),
                val_cols: val_cols.to_vec(),
            },
            rows: vec![row],
        }),
    }
}

struct Keyed<'p, 'a> {
    last: &'p Prepared<'a>,
    /// The delete that came before the last upsert, if any.
    deleted_first: Option<&'p Prepared<'a>>,
}

fn segment<'p, 'a>(ops: &[&'p Prepared<'a>], out: &mut Vec<Group<'p, 'a>>) {
    let mut matching = Vec::new();
    let mut inserts = Vec::new();
    // Keyed rows in order of first appearance, found by their identity.
    let mut keyed: Vec<Keyed<'p, 'a>> = Vec::new();
    let mut by_identity: HashMap<Vec<u8>, usize, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(ops.len(), Default::default());
    for op in ops {
        match op.kind {
            OpKind::DeleteMatching => push(&mut matching, op.kind, false, op),
            OpKind::Insert => push(&mut inserts, op.kind, true, op),
            OpKind::Delete | OpKind::Upsert => match by_identity.entry(identity(op)) {
                Entry::Occupied(at) => {
                    let k = &mut keyed[*at.get()];
                    if op.kind == OpKind::Upsert && k.last.kind == OpKind::Delete {
                        k.deleted_first = Some(k.last);
                    }
                    k.last = op;
                }
                Entry::Vacant(slot) => {
                    slot.insert(keyed.len());
                    keyed.push(Keyed {
                        last: op,
                        deleted_first: None,
                    });
                }
            },
        }
    }
    let mut deletes = Vec::new();
    let mut upserts = Vec::new();
    for k in &keyed {
        if let Some(d) = k.deleted_first {
            push(&mut deletes, OpKind::Delete, false, d);
        }
        match k.last.kind {
            OpKind::Delete => push(&mut deletes, OpKind::Delete, false, k.last),
            _ => push(&mut upserts, OpKind::Upsert, true, k.last),
        }
    }
    out.extend(matching);
    out.extend(deletes);
    out.extend(upserts);
    out.extend(inserts);
}

/// The identity of a keyed row: its key columns and their values.
fn identity(op: &Prepared<'_>) -> Vec<u8> {
    let mut id = Vec::with_capacity(16 * op.key.len());
    for (col, value) in op.key_cols.iter().zip(&op.key) {
        id.extend_from_slice(&(*col as u64).to_le_bytes());
        value.key_bytes(&mut id);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(change: usize, kind: OpKind, key: i64, val: i64) -> Prepared<'static> {
        Prepared {
            change,
            kind,
            table: 0,
            key_cols: vec![0],
            key: vec![PgValue::Int8(key)],
            val_cols: if kind == OpKind::Delete {
                vec![]
            } else {
                vec![1]
            },
            vals: if kind == OpKind::Delete {
                vec![]
            } else {
                vec![PgValue::Int8(val)]
            },
        }
    }

    fn summary(groups: &[Group<'_, '_>]) -> Vec<(OpKind, Vec<usize>)> {
        groups
            .iter()
            .map(|g| (g.shape.kind, g.rows.iter().map(|r| r.change).collect()))
            .collect()
    }

    #[test]
    fn last_op_per_key_wins_and_delete_then_upsert_keeps_both() {
        let ops = [
            op(0, OpKind::Upsert, 1, 10),
            op(1, OpKind::Upsert, 1, 11),
            op(2, OpKind::Delete, 2, 0),
            op(3, OpKind::Upsert, 2, 20),
            op(4, OpKind::Upsert, 3, 30),
            op(5, OpKind::Delete, 3, 0),
        ];
        let refs: Vec<&Prepared<'_>> = ops.iter().collect();
        assert_eq!(
            summary(&plan(&refs)),
            vec![(OpKind::Delete, vec![2, 5]), (OpKind::Upsert, vec![1, 3])]
        );
    }

    #[test]
    fn delete_matching_after_an_upsert_starts_a_new_segment() {
        let mut dm = op(1, OpKind::DeleteMatching, 1, 0);
        dm.val_cols.clear();
        dm.vals.clear();
        let ops = [
            op(0, OpKind::Upsert, 1, 10),
            dm,
            op(2, OpKind::Insert, 1, 12),
        ];
        let refs: Vec<&Prepared<'_>> = ops.iter().collect();
        assert_eq!(
            summary(&plan(&refs)),
            vec![
                (OpKind::Upsert, vec![0]),
                (OpKind::DeleteMatching, vec![1]),
                (OpKind::Insert, vec![2])
            ]
        );
    }
}
