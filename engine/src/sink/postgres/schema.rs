//! What the sink knows about a target table, read from the catalog.

use tokio_postgres::GenericClient;

use super::pg_error;
use crate::sink::table::TableKeys;
use crate::sink::SinkError;

/// How a column's values travel: bound in the binary form of a known type,
/// or as text that the server casts to the column's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wire {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// text, varchar, bpchar, name, citext: bound as text.
    Text,
    Bytea,
    Json,
    Jsonb,
    Timestamp,
    Timestamptz,
    Date,
    /// numeric: checked here, sent as text, cast by the server.
    Numeric,
    /// Any other type (uuid, time, interval, enums, arrays, domains...):
    /// sent as text and cast to the type the catalog names.
    Cast(String),
}

impl Wire {
    fn from_catalog(typname: &str, formatted: &str) -> Self {
        match typname {
            "bool" => Wire::Bool,
            "int2" => Wire::Int2,
            "int4" => Wire::Int4,
            "int8" => Wire::Int8,
            "float4" => Wire::Float4,
            "float8" => Wire::Float8,
            "text" | "varchar" | "bpchar" | "name" | "citext" => Wire::Text,
            "bytea" => Wire::Bytea,
            "json" => Wire::Json,
            "jsonb" => Wire::Jsonb,
            "timestamp" => Wire::Timestamp,
            "timestamptz" => Wire::Timestamptz,
            "date" => Wire::Date,
            "numeric" => Wire::Numeric,
            _ => Wire::Cast(formatted.to_string()),
        }
    }

    /// The SQL type of the array parameter that carries this column.
    pub fn array_type(&self) -> &'static str {
        match self {
            Wire::Bool => "bool[]",
            Wire::Int2 => "int2[]",
            Wire::Int4 => "int4[]",
            Wire::Int8 => "int8[]",
            Wire::Float4 => "float4[]",
            Wire::Float8 => "float8[]",
            Wire::Text | Wire::Numeric | Wire::Cast(_) => "text[]",
            Wire::Bytea => "bytea[]",
            Wire::Json => "json[]",
            Wire::Jsonb => "jsonb[]",
            Wire::Timestamp => "timestamp[]",
            Wire::Timestamptz => "timestamptz[]",
            Wire::Date => "date[]",
        }
    }

    /// The server-side cast applied to the unnested value, if any. The type
    /// text comes from the catalog's own `format_type`, never from a job.
    pub fn cast(&self) -> Option<&str> {
        match self {
            Wire::Numeric => Some("numeric"),
            Wire::Cast(t) => Some(t),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ColumnInfo {
    pub name: String,
    pub wire: Wire,
    /// The catalog's name for the type, for reasons.
    pub type_name: String,
}

/// One target table: its columns and the column sets that are unique.
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// As the row ops name it.
    pub name: String,
    /// `"schema"."table"`, quoted.
    pub qualified: String,
    pub columns: Vec<ColumnInfo>,
    /// Column names and unique column sets.
    pub keys: TableKeys,
}

const COLUMNS: &str =
    "SELECT a.attname::text, t.typname::text, format_type(a.atttypid, a.atttypmod) \
     FROM pg_attribute a \
     JOIN pg_class c ON c.oid = a.attrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_type t ON t.oid = a.atttypid \
     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
       AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

// Unique indexes on plain columns, without predicates: the ones ON CONFLICT
// can name by column list.
const UNIQUE: &str = "SELECT array_agg(a.attname::text ORDER BY k.ord) \
     FROM pg_index i \
     JOIN pg_class c ON c.oid = i.indrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
     WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique \
       AND i.indpred IS NULL AND i.indexprs IS NULL \
     GROUP BY i.indexrelid";

/// Reads `schema`.`table` from the catalog; `name` is how row ops call it.
pub async fn load(
    client: &impl GenericClient,
    name: &str,
    schema: &str,
    table: &str,
) -> Result<TableInfo, SinkError> {
    let rows = client
        .query(COLUMNS, &[&schema, &table])
        .await
        .map_err(|e| pg_error(e, format!("reading the columns of {name}")))?;
    if rows.is_empty() {
        return Err(SinkError::UnknownTable {
            table: name.to_string(),
        });
    }
    let mut columns = Vec::with_capacity(rows.len());
    let mut keys = TableKeys::new(name);
    for row in rows {
        let col: String = row.get(0);
        let typname: String = row.get(1);
        let formatted: String = row.get(2);
        keys.add_column(&col, columns.len());
        columns.push(ColumnInfo {
            name: col,
            wire: Wire::from_catalog(&typname, &formatted),
            type_name: formatted,
        });
    }
    let rows = client
        .query(UNIQUE, &[&schema, &table])
        .await
        .map_err(|e| pg_error(e, format!("reading the keys of {name}")))?;
    for row in rows {
        let names: Vec<String> = row.get(0);
        let set: Vec<usize> = names.iter().filter_map(|n| keys.index(n)).collect();
        keys.add_unique(set);
    }
    Ok(TableInfo {
        name: name.to_string(),
        qualified: format!(
            "{}.{}",
            crate::sink::quote_ident(schema),
            crate::sink::quote_ident(table)
        ),
        columns,
        keys,
    })
}
