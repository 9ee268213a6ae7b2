//! What the sink knows about a SQLite table, read with the table-valued
//! pragma functions (the table name is bound, never formatted in).

use rusqlite::Connection;

use super::sqlite_error;
use crate::sink::table::TableKeys;
use crate::sink::SinkError;

/// SQLite's type affinity, from the declared column type by its own rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

impl Affinity {
    /// The rules of SQLite's "Determination Of Column Affinity", in order.
    pub fn of(declared: &str) -> Self {
        let t = declared.to_ascii_uppercase();
        if t.contains("INT") {
            Affinity::Integer
        } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
            Affinity::Text
        } else if t.contains("BLOB") || t.trim().is_empty() {
            Affinity::Blob
        } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
            Affinity::Real
        } else {
            Affinity::Numeric
        }
    }
}

#[derive(Clone, Debug)]
pub struct ColumnInfo {
    pub name: String,
    pub affinity: Affinity,
    /// Declared BOOLEAN (numeric affinity): true/false text becomes 1/0.
    pub boolean: bool,
    pub declared: String,
}

#[derive(Clone, Debug)]
pub struct TableInfo {
    pub name: String,
    pub quoted: String,
    pub columns: Vec<ColumnInfo>,
    /// Column names and unique column sets.
    pub keys: TableKeys,
}

/// Reads table `name` (in the main database).
pub fn load(conn: &Connection, name: &str) -> Result<TableInfo, SinkError> {
    let ctx = || format!("reading the columns of {name}");
    let mut st = conn
        .prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(|e| sqlite_error(e, ctx()))?;
    let rows = st
        .query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(|e| sqlite_error(e, ctx()))?;
    let mut columns = Vec::new();
    let mut keys = TableKeys::new(name);
    let mut pk: Vec<(i64, usize)> = Vec::new();
    for row in rows {
        let (col, declared, pk_pos) = row.map_err(|e| sqlite_error(e, ctx()))?;
        if pk_pos > 0 {
            pk.push((pk_pos, columns.len()));
        }
        keys.add_column(&col, columns.len());
        columns.push(ColumnInfo {
            name: col,
            affinity: Affinity::of(&declared),
            boolean: declared.to_ascii_uppercase().contains("BOOL"),
            declared,
        });
    }
    if columns.is_empty() {
        return Err(SinkError::UnknownTable {
            table: name.to_string(),
        });
    }
    if !pk.is_empty() {
        keys.add_unique(pk.iter().map(|&(_, c)| c).collect());
    }
    // Unique indexes without a WHERE clause and without expressions: the
    // ones an ON CONFLICT column list can name.
    let mut st = conn
        .prepare(
            "SELECT il.name, ii.name FROM pragma_index_list(?1) AS il, pragma_index_info(il.name) AS ii \
             WHERE il.\"unique\" = 1 AND il.partial = 0 ORDER BY il.name, ii.seqno",
        )
        .map_err(|e| sqlite_error(e, ctx()))?;
    let rows = st
        .query_map([name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .map_err(|e| sqlite_error(e, ctx()))?;
    let mut current: Option<(String, Option<Vec<usize>>)> = None;
    let finish = |entry: Option<(String, Option<Vec<usize>>)>, keys: &mut TableKeys| {
        if let Some((_, Some(set))) = entry {
            keys.add_unique(set);
        }
    };
    for row in rows {
        let (index, col) = row.map_err(|e| sqlite_error(e, ctx()))?;
        if current.as_ref().is_none_or(|(name, _)| *name != index) {
            finish(current.take(), &mut keys);
            current = Some((index, Some(Vec::new())));
        }
        if let Some((_, cols)) = current.as_mut() {
            // An expression column has no name: ON CONFLICT cannot use it.
            match col.and_then(|c| keys.index(&c)) {
                Some(c) => {
                    if let Some(v) = cols.as_mut() {
                        v.push(c)
                    }
                }
                None => *cols = None,
            }
        }
    }
    finish(current.take(), &mut keys);
    Ok(TableInfo {
        name: name.to_string(),
        quoted: crate::sink::quote_ident(name),
        columns,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlite_rules() {
        assert_eq!(Affinity::of("BIGINT"), Affinity::Integer);
        assert_eq!(Affinity::of("varchar(20)"), Affinity::Text);
        assert_eq!(Affinity::of(""), Affinity::Blob);
        assert_eq!(Affinity::of("DOUBLE PRECISION"), Affinity::Real);
        assert_eq!(Affinity::of("DECIMAL(10,2)"), Affinity::Numeric);
        // "POINT" contains "INT": SQLite's rule, not ours.
        assert_eq!(Affinity::of("FLOATING POINT"), Affinity::Integer);
    }
}
