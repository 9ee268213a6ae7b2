//! What every sink knows of a target table, whatever the database: the
//! column names, the column sets an upsert can match on, and how a row op's
//! columns resolve against them.

use std::collections::HashMap;

use wb_abi::{OpKind, RowOp};

use super::SinkError;

/// A table's column names (by position) and its unique column sets.
#[derive(Clone, Debug, Default)]
pub struct TableKeys {
    /// The table as the row ops name it, for errors.
    table: String,
    /// Looked up for every cell of every row op: a fast hasher.
    by_name: HashMap<String, usize, foldhash::fast::RandomState>,
    /// Column index sets of the primary key and each unique index, sorted.
    unique: Vec<Vec<usize>>,
}

impl TableKeys {
    pub fn new(table: &str) -> TableKeys {
        TableKeys {
            table: table.to_owned(),
            ..TableKeys::default()
        }
    }

    /// Records that column `name` is at position `index`.
    pub fn add_column(&mut self, name: &str, index: usize) {
        self.by_name.insert(name.to_owned(), index);
    }

    /// The position of column `name`, if the table has it.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Records a primary key or unique index over these column positions.
    pub fn add_unique(&mut self, mut columns: Vec<usize>) {
        columns.sort_unstable();
        self.unique.push(columns);
    }

    /// The position of column `name`, or the error naming table and column.
    pub fn column(&self, name: &str) -> Result<usize, SinkError> {
        self.index(name).ok_or_else(|| SinkError::UnknownColumn {
            table: self.table.clone(),
            column: name.to_owned(),
        })
    }

    /// Whether an upsert can match on exactly these key columns.
    pub fn is_unique(&self, key: &[usize]) -> bool {
        // Asked for every upsert: a key of one column (the usual) needs no
        // sorted copy.
        if let [only] = key {
            return self.unique.iter().any(|u| u.as_slice() == [*only]);
        }
        let mut sorted = key.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.len() == key.len() && self.unique.contains(&sorted)
    }

    /// The positions of `op`'s key and value columns, checked: every column
    /// exists, keyed ops have key columns, and an upsert's key columns are a
    /// primary key or unique index.
    pub fn resolve(&self, op: &RowOp<'_>) -> Result<(Vec<usize>, Vec<usize>), SinkError> {
        // A delete-matching with no columns matches every row (how a flush
        // empties a table); any other keyed op without a key is a mistake.
        if op.key.is_empty() && matches!(op.kind, OpKind::Upsert | OpKind::Delete) {
            return Err(SinkError::NoKey {
                table: self.table.clone(),
                kind: kind_name(op.kind),
            });
        }
        let positions = |cols: &[wb_abi::Column<'_>]| -> Result<Vec<usize>, SinkError> {
            cols.iter().map(|c| self.column(&c.name)).collect()
        };
        let key = positions(&op.key)?;
        let values = positions(&op.values)?;
        if op.kind == OpKind::Upsert && !self.is_unique(&key) {
            return Err(SinkError::NoUniqueKey {
                table: self.table.clone(),
                columns: op
                    .key
                    .iter()
                    .map(|c| c.name.as_ref())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok((key, values))
    }
}

fn kind_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Upsert => "upsert",
        OpKind::Delete => "delete",
        OpKind::DeleteMatching => "delete-matching",
        OpKind::Insert => "insert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> TableKeys {
        let mut keys = TableKeys::new("users");
        for (i, name) in ["id", "org", "name"].iter().enumerate() {
            keys.add_column(name, i);
        }
        keys.add_unique(vec![1, 0]);
        keys
    }

    #[test]
    fn resolves_columns_and_checks_upsert_keys() {
        let keys = users();
        let op = RowOp::upsert("t", "users")
            .key("org", "a")
            .key("id", 1i64)
            .value("name", "x");
        assert_eq!(keys.resolve(&op).expect("resolves"), (vec![1, 0], vec![2]));
        let by_name = RowOp::upsert("t", "users").key("name", "x");
        assert!(matches!(
            keys.resolve(&by_name),
            Err(SinkError::NoUniqueKey { .. })
        ));
        let unknown = RowOp::upsert("t", "users")
            .key("id", 1i64)
            .key("org", "a")
            .value("nope", 1i64);
        assert!(matches!(
            keys.resolve(&unknown),
            Err(SinkError::UnknownColumn { column, .. }) if column == "nope"
        ));
        let keyless = RowOp::upsert("t", "users").value("name", "x");
        assert!(matches!(
            keys.resolve(&keyless),
            Err(SinkError::NoKey { kind: "upsert", .. })
        ));
    }
}
