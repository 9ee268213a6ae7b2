//! SQL text for each statement shape, and its parameters.
//!
//! Every statement binds one array per column and unnests them, so the SQL
//! text (and the prepared statement) depends only on the shape, never on
//! the number of rows: one prepare per shape for the life of the sink.
//! Identifiers are quoted; values are only ever bound.

use std::fmt::Write;

use wb_abi::OpKind;

use super::convert::PgValue;
use super::plan::{Group, Shape};
use super::schema::TableInfo;
use crate::sink::quote_ident;

/// The columns a statement of `shape` binds, in parameter order.
pub fn bound_columns(shape: &Shape) -> Vec<usize> {
    match shape.kind {
        OpKind::Delete | OpKind::DeleteMatching => shape.key_cols.clone(),
        OpKind::Upsert | OpKind::Insert => {
            let mut cols = shape.key_cols.clone();
            cols.extend(&shape.val_cols);
            cols
        }
    }
}

/// `SELECT`-list expression and `UNNEST` argument list for `cols`.
fn unnest(table: &TableInfo, cols: &[usize]) -> (Vec<String>, String) {
    let mut exprs = Vec::with_capacity(cols.len());
    let mut from = String::from("UNNEST(");
    for (i, &c) in cols.iter().enumerate() {
        let wire = &table.columns[c].wire;
        if i > 0 {
            from.push_str(", ");
        }
        let _ = write!(from, "${}::{}", i + 1, wire.array_type());
        exprs.push(match wire.cast() {
            Some(ty) => format!("u.v{i}::{ty}"),
            None => format!("u.v{i}"),
        });
    }
    from.push_str(") AS u(");
    for i in 0..cols.len() {
        if i > 0 {
            from.push_str(", ");
        }
        let _ = write!(from, "v{i}");
    }
    from.push(')');
    (exprs, from)
}

fn names(table: &TableInfo, cols: &[usize]) -> String {
    cols.iter()
        .map(|&c| quote_ident(&table.columns[c].name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SQL text of a statement of `shape` on `table`.
pub fn sql(table: &TableInfo, shape: &Shape) -> String {
    let cols = bound_columns(shape);
    let (exprs, from) = unnest(table, &cols);
    match shape.kind {
        // Matching no columns: every row (a flush).
        OpKind::DeleteMatching if cols.is_empty() => format!("DELETE FROM {}", table.qualified),
        OpKind::Delete | OpKind::DeleteMatching => {
            let cond = cols
                .iter()
                .zip(&exprs)
                .map(|(&c, e)| format!("t.{} = {e}", quote_ident(&table.columns[c].name)))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!(
                "DELETE FROM {} AS t USING {from} WHERE {cond}",
                table.qualified
            )
        }
        OpKind::Insert => format!(
            "INSERT INTO {} ({}) SELECT {} FROM {from}",
            table.qualified,
            names(table, &cols),
            exprs.join(", ")
        ),
        OpKind::Upsert => {
            let action = if shape.val_cols.is_empty() {
                "NOTHING".to_string()
            } else {
                let sets = shape
                    .val_cols
                    .iter()
                    .map(|&c| {
                        let n = quote_ident(&table.columns[c].name);
                        format!("{n} = EXCLUDED.{n}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("UPDATE SET {sets}")
            };
            format!(
                "INSERT INTO {} ({}) SELECT {} FROM {from} ON CONFLICT ({}) DO {action}",
                table.qualified,
                names(table, &cols),
                exprs.join(", "),
                names(table, &shape.key_cols)
            )
        }
    }
}

/// One array per bound column, row values in row order. The arrays borrow
/// the converted values, so a retried range costs no copies.
pub fn params<'g, 'a>(group: &Group<'g, 'a>) -> Vec<Vec<&'g PgValue<'a>>> {
    let with_values = matches!(group.shape.kind, OpKind::Upsert | OpKind::Insert);
    let width = group.shape.key_cols.len()
        + if with_values {
            group.shape.val_cols.len()
        } else {
            0
        };
    let mut arrays: Vec<Vec<&'g PgValue<'a>>> = (0..width)
        .map(|_| Vec::with_capacity(group.rows.len()))
        .collect();
    for row in &group.rows {
        let values: &'g [PgValue<'a>] = if with_values { &row.vals } else { &[] };
        let mut cells = row.key.iter().chain(values.iter());
        for array in arrays.iter_mut() {
            // Rows of one shape have the same columns, so cells never run
            // out; NULL keeps the arrays aligned if they ever did.
            array.push(cells.next().unwrap_or(&PgValue::Null));
        }
    }
    arrays
}
