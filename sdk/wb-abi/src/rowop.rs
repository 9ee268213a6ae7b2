//! Row operations: what a transform asks the engine to do to a target table.

use std::borrow::Cow;

/// What to do with a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Insert, or update where the key columns match.
    Upsert,
    /// Delete the row whose key columns match.
    Delete,
    /// Delete every row whose columns equal the key columns (replacing the
    /// child rows of a Redis key as a whole).
    DeleteMatching,
    /// Append without matching.
    Insert,
}

impl OpKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            OpKind::Upsert => 0,
            OpKind::Delete => 1,
            OpKind::DeleteMatching => 2,
            OpKind::Insert => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => OpKind::Upsert,
            1 => OpKind::Delete,
            2 => OpKind::DeleteMatching,
            3 => OpKind::Insert,
            _ => return None,
        })
    }
}

/// A connection (named in config.yaml) and a table on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target<'a> {
    pub connection: Cow<'a, str>,
    pub table: Cow<'a, str>,
}

/// A typed cell. Text and bytes borrow from the change where they can, so
/// copying a field through costs no allocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// JSON text for json/jsonb columns.
    Json(Cow<'a, str>),
}

impl Cell<'_> {
    /// A copy that owns its data, independent of the batch buffer.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Bool(b) => Cell::Bool(b),
            Cell::Integer(i) => Cell::Integer(i),
            Cell::Float(f) => Cell::Float(f),
            Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
            Cell::Bytes(b) => Cell::Bytes(Cow::Owned(b.into_owned())),
            Cell::Json(j) => Cell::Json(Cow::Owned(j.into_owned())),
        }
    }
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(v: &'a str) -> Self {
        Cell::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Cell<'_> {
    fn from(v: String) -> Self {
        Cell::Text(Cow::Owned(v))
    }
}

impl<'a> From<&'a [u8]> for Cell<'a> {
    fn from(v: &'a [u8]) -> Self {
        Cell::Bytes(Cow::Borrowed(v))
    }
}

impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::Integer(v)
    }
}

impl From<f64> for Cell<'_> {
    fn from(v: f64) -> Self {
        Cell::Float(v)
    }
}

impl From<bool> for Cell<'_> {
    fn from(v: bool) -> Self {
        Cell::Bool(v)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Null, Into::into)
    }
}

/// A named cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Column<'a> {
    pub name: Cow<'a, str>,
    pub value: Cell<'a>,
}

/// One operation on one table.
#[derive(Clone, Debug, PartialEq)]
pub struct RowOp<'a> {
    pub kind: OpKind,
    pub target: Target<'a>,
    /// Key columns (upsert, delete) or the columns to match (delete-matching).
    pub key: Vec<Column<'a>>,
    /// The other columns (upsert, insert).
    pub values: Vec<Column<'a>>,
}

impl<'a> RowOp<'a> {
    /// An operation of `kind` on `connection`.`table` with no columns yet.
    pub fn new(
        kind: OpKind,
        connection: impl Into<Cow<'a, str>>,
        table: impl Into<Cow<'a, str>>,
    ) -> Self {
        RowOp {
            kind,
            target: Target {
                connection: connection.into(),
                table: table.into(),
            },
            key: Vec::new(),
            values: Vec::new(),
        }
    }

    /// An upsert into `connection`.`table`.
    pub fn upsert(connection: impl Into<Cow<'a, str>>, table: impl Into<Cow<'a, str>>) -> Self {
        Self::new(OpKind::Upsert, connection, table)
    }

    /// A delete by key from `connection`.`table`.
    pub fn delete(connection: impl Into<Cow<'a, str>>, table: impl Into<Cow<'a, str>>) -> Self {
        Self::new(OpKind::Delete, connection, table)
    }

    /// A delete of all rows matching the key columns.
    pub fn delete_matching(
        connection: impl Into<Cow<'a, str>>,
        table: impl Into<Cow<'a, str>>,
    ) -> Self {
        Self::new(OpKind::DeleteMatching, connection, table)
    }

    /// An append into `connection`.`table`.
    pub fn insert(connection: impl Into<Cow<'a, str>>, table: impl Into<Cow<'a, str>>) -> Self {
        Self::new(OpKind::Insert, connection, table)
    }

    /// Adds a key column.
    pub fn key(mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cell<'a>>) -> Self {
        self.key.push(Column {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a value column.
    pub fn value(mut self, name: impl Into<Cow<'a, str>>, value: impl Into<Cell<'a>>) -> Self {
        if self.values.capacity() == 0 {
            // Rows usually have several value columns: one allocation
            // instead of growing through 4, 8 and 16.
            self.values.reserve(12);
        }
        self.values.push(Column {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// A copy that owns its data, independent of the batch buffer.
    pub fn into_owned(self) -> RowOp<'static> {
        let own = |cols: Vec<Column<'_>>| {
            cols.into_iter()
                .map(|c| Column {
                    name: Cow::Owned(c.name.into_owned()),
                    value: c.value.into_owned(),
                })
                .collect()
        };
        RowOp {
            kind: self.kind,
            target: Target {
                connection: Cow::Owned(self.target.connection.into_owned()),
                table: Cow::Owned(self.target.table.into_owned()),
            },
            key: own(self.key),
            values: own(self.values),
        }
    }
}
