//! Converting cells by the column's SQLite affinity. Where SQLite would
//! quietly keep text in a numeric column, wb rejects it instead for INTEGER
//! and REAL columns, so the target holds the types its schema declares.

use rusqlite::types::Value;
use wb_abi::Cell;

use super::schema::{Affinity, ColumnInfo};

#[derive(Debug, PartialEq)]
pub struct Mismatch;

fn bool_word(t: &str) -> Option<bool> {
    match t.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" => Some(true),
        "f" | "false" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A number from text: an integer if it is one, else a real.
fn number(t: &str) -> Option<Value> {
    let t = t.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::Integer(i));
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite()).map(real)
}

/// A real that is integral is stored as an integer, as SQLite's INTEGER
/// and NUMERIC affinities do.
fn real(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e18 {
        Value::Integer(f as i64)
    } else {
        Value::Real(f)
    }
}

pub fn convert(cell: &Cell<'_>, col: &ColumnInfo) -> Result<Value, Mismatch> {
    Ok(match (col.affinity, cell) {
        (_, Cell::Null) => Value::Null,
        (Affinity::Integer | Affinity::Numeric, Cell::Bool(b)) => Value::Integer(i64::from(*b)),
        (Affinity::Integer | Affinity::Numeric, Cell::Integer(i)) => Value::Integer(*i),
        (Affinity::Integer | Affinity::Numeric, Cell::Float(f)) => real(*f),
        (Affinity::Integer | Affinity::Numeric, Cell::Text(t))
            if col.boolean && bool_word(t).is_some() =>
        {
            Value::Integer(i64::from(bool_word(t) == Some(true)))
        }
        (Affinity::Integer, Cell::Text(t)) => number(t).ok_or(Mismatch)?,
        (Affinity::Numeric, Cell::Text(t)) => {
            number(t).unwrap_or_else(|| Value::Text(t.to_string()))
        }
        (Affinity::Numeric, Cell::Json(t)) => Value::Text(t.to_string()),
        (Affinity::Numeric, Cell::Bytes(b)) => Value::Blob(b.to_vec()),
        (Affinity::Integer, _) => return Err(Mismatch),
        (Affinity::Real, Cell::Integer(i)) => Value::Real(*i as f64),
        (Affinity::Real, Cell::Float(f)) => Value::Real(*f),
        (Affinity::Real, Cell::Bool(b)) => Value::Real(f64::from(u8::from(*b))),
        (Affinity::Real, Cell::Text(t)) => {
            Value::Real(t.trim().parse::<f64>().map_err(|_| Mismatch)?)
        }
        (Affinity::Real, _) => return Err(Mismatch),
        (Affinity::Text, Cell::Text(t) | Cell::Json(t)) => Value::Text(t.to_string()),
        (Affinity::Text, Cell::Integer(i)) => Value::Text(i.to_string()),
        (Affinity::Text, Cell::Float(f)) => Value::Text(f.to_string()),
        (Affinity::Text, Cell::Bool(b)) => Value::Text(b.to_string()),
        (Affinity::Text, Cell::Bytes(b)) => {
            Value::Text(String::from_utf8(b.to_vec()).map_err(|_| Mismatch)?)
        }
        (Affinity::Blob, Cell::Bool(b)) => Value::Integer(i64::from(*b)),
        (Affinity::Blob, Cell::Integer(i)) => Value::Integer(*i),
        (Affinity::Blob, Cell::Float(f)) => Value::Real(*f),
        (Affinity::Blob, Cell::Text(t) | Cell::Json(t)) => Value::Text(t.to_string()),
        (Affinity::Blob, Cell::Bytes(b)) => Value::Blob(b.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn col(declared: &str) -> ColumnInfo {
        ColumnInfo {
            name: "c".into(),
            affinity: Affinity::of(declared),
            boolean: declared.to_ascii_uppercase().contains("BOOL"),
            declared: declared.into(),
        }
    }

    fn text(s: &str) -> Cell<'_> {
        Cell::Text(Cow::Borrowed(s))
    }

    #[test]
    fn affinities_convert_text() {
        assert_eq!(
            convert(&text("42"), &col("INTEGER")),
            Ok(Value::Integer(42))
        );
        assert_eq!(
            convert(&text("4.0"), &col("INTEGER")),
            Ok(Value::Integer(4))
        );
        assert_eq!(convert(&text("forty"), &col("INTEGER")), Err(Mismatch));
        assert_eq!(convert(&text("1.5"), &col("REAL")), Ok(Value::Real(1.5)));
        assert_eq!(convert(&text("x"), &col("REAL")), Err(Mismatch));
        assert_eq!(
            convert(&Cell::Integer(7), &col("TEXT")),
            Ok(Value::Text("7".into()))
        );
        assert_eq!(
            convert(&text("2024-01-01 10:00:00"), &col("DATETIME")),
            Ok(Value::Text("2024-01-01 10:00:00".into()))
        );
        assert_eq!(
            convert(&text("true"), &col("BOOLEAN")),
            Ok(Value::Integer(1))
        );
        assert_eq!(
            convert(&text("12.50"), &col("DECIMAL(10,2)")),
            Ok(Value::Real(12.5))
        );
    }
}
