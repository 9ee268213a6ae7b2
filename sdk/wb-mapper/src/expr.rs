//! Expressions that compute one cell from a change.

use std::borrow::Cow;

use wb_abi::{Cell, Change, Value};

/// A column's source.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Segment `n` (0-based) of the Redis key split on `:`.
    KeyPart(usize),
    /// A hash field, or a dotted path into a JSON document.
    Field(String),
}

impl Expr {
    /// Parses `key_part(N)` or a field reference.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let text = text.trim();
        if let Some(arg) = text
            .strip_prefix("key_part(")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return arg
                .trim()
                .parse()
                .map(Expr::KeyPart)
                .map_err(|_| format!("key_part needs a segment number, got {arg:?}"));
        }
        let valid = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']' | '$'));
        if valid {
            Ok(Expr::Field(text.to_string()))
        } else {
            Err(format!(
                "{text:?} is not a field reference or key_part(n); other expressions are not supported yet"
            ))
        }
    }

    /// The cell for `change`: `Null` when the field is absent. `item` is
    /// the set member (and score) a row is being built for, when the value
    /// is a set or sorted set: there, `member` and `score` are its fields.
    pub fn eval<'a>(
        &self,
        change: &Change<'a>,
        item: Option<Item<'a>>,
    ) -> Result<Cell<'a>, String> {
        match self {
            Expr::KeyPart(n) => Ok(change.key_part(*n).map_or(Cell::Null, Cell::from)),
            Expr::Field(name) => match (&change.value, item) {
                (_, Some(item)) => match name.as_str() {
                    "member" => Ok(text_or_bytes(item.member)),
                    "score" => Ok(item.score.map_or(Cell::Null, Cell::Float)),
                    _ => Err(format!(
                        "set members have no field {name:?}: use member or score"
                    )),
                },
                (Value::Hash(pairs), None) => {
                    Ok(pairs.get(name.as_bytes()).map_or(Cell::Null, text_or_bytes))
                }
                (Value::Json(doc), None) => json_cell(doc, name),
                (Value::Missing, None) => Ok(Cell::Null),
                (Value::Set(_) | Value::SortedSet(_), None) => Err(format!(
                    "field {name:?} cannot be read from a whole set or sorted set"
                )),
            },
        }
    }
}

/// A set member or sorted-set entry that one row is built from.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub member: &'a [u8],
    pub score: Option<f64>,
}

/// Redis strings as text when they are UTF-8, as bytes otherwise.
fn text_or_bytes(raw: &[u8]) -> Cell<'_> {
    match std::str::from_utf8(raw) {
        Ok(text) => Cell::Text(Cow::Borrowed(text)),
        Err(_) => Cell::Bytes(Cow::Borrowed(raw)),
    }
}

/// A JSON value as a typed cell: strings as text, integers and floats as
/// numbers, booleans, null, objects and arrays as JSON.
fn json_cell<'a>(doc: &'a str, path: &str) -> Result<Cell<'a>, String> {
    let raw = match json::find(doc, path)? {
        None => return Ok(Cell::Null),
        Some(raw) => raw,
    };
    Ok(match raw.as_bytes().first() {
        Some(b'"') => Cell::Text(json::unquote(raw)?),
        Some(b'{') | Some(b'[') => Cell::Json(Cow::Borrowed(raw)),
        _ if raw == "null" => Cell::Null,
        _ if raw == "true" => Cell::Bool(true),
        _ if raw == "false" => Cell::Bool(false),
        _ => match raw.parse::<i64>() {
            Ok(i) => Cell::Integer(i),
            Err(_) => Cell::Float(
                raw.parse()
                    .map_err(|_| format!("invalid JSON number {raw:?}"))?,
            ),
        },
    })
}

/// A thin adapter over the JSON path reader shared with the guest SDK; the
/// reader lives in `wb-abi` so that this crate needs nothing else.
mod json {
    use std::borrow::Cow;

    pub fn find<'d>(doc: &'d str, path: &str) -> Result<Option<&'d str>, String> {
        wb_abi::json_path(doc, path).map_err(|e| e.to_string())
    }

    pub fn unquote(raw: &str) -> Result<Cow<'_, str>, String> {
        wb_abi::json_unquote(raw).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_parts_and_fields() {
        assert_eq!(Expr::parse("key_part(1)"), Ok(Expr::KeyPart(1)));
        assert_eq!(Expr::parse(" email "), Ok(Expr::Field("email".into())));
        assert_eq!(
            Expr::parse("addr.city"),
            Ok(Expr::Field("addr.city".into()))
        );
        assert!(Expr::parse("key_part(x)").is_err());
        assert!(Expr::parse("lower(email)").is_err());
        assert!(Expr::parse("").is_err());
    }
}
