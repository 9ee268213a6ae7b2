//! The values expressions compute: the cells of a row, plus the arrays and
//! objects JMESPath works with.
//!
//! A JSON document read from Redis stays text ([`Val::Json`]) until an
//! expression looks inside it, so copying a document or a sub-document into
//! a json column costs no parsing and keeps its text as written.

use std::borrow::Cow;
use std::fmt::Write as _;

use wb_abi::Cell;

/// An object's entries, in order.
pub type Entries<'a> = Vec<(Cow<'a, str>, Val<'a>)>;

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// A Redis string that is not UTF-8.
    Bytes(Cow<'a, [u8]>),
    /// JSON text of any value, parsed when an expression looks into it.
    Json(Cow<'a, str>),
    Array(Vec<Val<'a>>),
    /// Entries in document order; keys are unique.
    Object(Vec<(Cow<'a, str>, Val<'a>)>),
}

impl<'a> Val<'a> {
    /// The value with JSON text parsed into arrays, objects and scalars;
    /// anything else as it is.
    pub fn resolved(self) -> Result<Val<'a>, String> {
        match self {
            Val::Json(Cow::Borrowed(text)) => parse_json(text),
            Val::Json(Cow::Owned(text)) => parse_json(&text).map(Val::into_owned),
            other => Ok(other),
        }
    }

    /// A copy independent of the batch buffer.
    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Float(f),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Bytes(b) => Val::Bytes(Cow::Owned(b.into_owned())),
            Val::Json(j) => Val::Json(Cow::Owned(j.into_owned())),
            Val::Array(items) => Val::Array(items.into_iter().map(Val::into_owned).collect()),
            Val::Object(entries) => Val::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// JMESPath's type name; bytes count as a string.
    pub fn type_name(&self) -> Result<&'static str, String> {
        Ok(match self {
            Val::Null => "null",
            Val::Bool(_) => "boolean",
            Val::Int(_) | Val::Float(_) => "number",
            Val::Str(_) | Val::Bytes(_) => "string",
            Val::Array(_) => "array",
            Val::Object(_) => "object",
            Val::Json(text) => match text.trim_start().as_bytes().first() {
                Some(b'[') => "array",
                Some(b'{') => "object",
                _ => return self.clone().resolved()?.type_name(),
            },
        })
    }

    /// Field `key` of an object; null for anything else or an absent key.
    pub fn get(self, key: &str) -> Result<Val<'a>, String> {
        Ok(match self.resolved()? {
            Val::Object(entries) => entries
                .into_iter()
                .find(|(k, _)| k == key)
                .map_or(Val::Null, |(_, v)| v),
            _ => Val::Null,
        })
    }

    /// The value at a dotted path with `[n]` indexes (`a.b[0].c`), as field
    /// references write it; null where a step is missing.
    pub fn at_path(self, path: &str) -> Result<Val<'a>, String> {
        let mut value = self;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            let (key, mut rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
            if !key.is_empty() {
                value = value.get(key)?;
            }
            while let Some(inner) = rest.strip_prefix('[') {
                let close = inner
                    .find(']')
                    .ok_or_else(|| format!("unclosed '[' in path {path:?}"))?;
                let index: i64 = inner[..close]
                    .parse()
                    .map_err(|_| format!("bad array index in path {path:?}"))?;
                value = value.index(index)?;
                rest = &inner[close + 1..];
            }
        }
        Ok(value)
    }

    /// Element `index` of an array (negative counts from the end); null for
    /// anything else or out of range.
    pub fn index(self, index: i64) -> Result<Val<'a>, String> {
        Ok(match self.resolved()? {
            Val::Array(mut items) => {
                let len = items.len() as i64;
                let at = if index < 0 { len + index } else { index };
                if (0..len).contains(&at) {
                    items.swap_remove(at as usize)
                } else {
                    Val::Null
                }
            }
            _ => Val::Null,
        })
    }

    /// The elements of an array, or `None` if this is not one.
    pub fn into_array(self) -> Result<Option<Vec<Val<'a>>>, String> {
        Ok(match self.resolved()? {
            Val::Array(items) => Some(items),
            _ => None,
        })
    }

    /// The entries of an object, or `None` if this is not one.
    pub fn into_object(self) -> Result<Option<Entries<'a>>, String> {
        Ok(match self.resolved()? {
            Val::Object(entries) => Some(entries),
            _ => None,
        })
    }

    /// The value as a row cell: arrays and objects as JSON text.
    pub fn into_cell(self) -> Cell<'a> {
        match self {
            Val::Null => Cell::Null,
            Val::Bool(b) => Cell::Bool(b),
            Val::Int(i) => Cell::Integer(i),
            Val::Float(f) => Cell::Float(f),
            Val::Str(s) => Cell::Text(s),
            Val::Bytes(b) => Cell::Bytes(b),
            Val::Json(j) => Cell::Json(j),
            compound => Cell::Json(Cow::Owned(compound.to_json())),
        }
    }

    /// The value as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Val::Null => out.push_str("null"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            Val::Float(_) => out.push_str("null"),
            Val::Str(s) => write_json_string(s, out),
            Val::Bytes(b) => write_json_string(&String::from_utf8_lossy(b), out),
            Val::Json(j) => out.push_str(j.trim()),
            Val::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Val::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(key, out);
                    out.push(':');
                    value.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

impl<'a> From<Cell<'a>> for Val<'a> {
    fn from(cell: Cell<'a>) -> Self {
        match cell {
            Cell::Null => Val::Null,
            Cell::Bool(b) => Val::Bool(b),
            Cell::Integer(i) => Val::Int(i),
            Cell::Float(f) => Val::Float(f),
            Cell::Text(t) => Val::Str(t),
            Cell::Bytes(b) => Val::Bytes(b),
            Cell::Json(j) => Val::Json(j),
        }
    }
}

/// Sets `key` in an object's entries, in place if present, else at the end.
pub fn set_entry<'a>(
    entries: &mut Vec<(Cow<'a, str>, Val<'a>)>,
    key: Cow<'a, str>,
    value: Val<'a>,
) {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => entries.push((key, value)),
    }
}

/// `s` as a JSON string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses one JSON value (the whole text, surrounding whitespace allowed).
pub fn parse_json(text: &str) -> Result<Val<'_>, String> {
    let mut reader = JsonReader { text, pos: 0 };
    let value = reader.value(0)?;
    reader.skip_ws();
    if reader.pos < text.len() {
        return Err(format!(
            "invalid JSON: text after the value at byte {}",
            reader.pos
        ));
    }
    Ok(value)
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

struct JsonReader<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> JsonReader<'t> {
    fn skip_ws(&mut self) {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && matches!(bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("invalid JSON: {what} at byte {}", self.pos))
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.text.as_bytes().get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Val<'t>, String> {
        if depth > MAX_DEPTH {
            return self.fail("nesting too deep");
        }
        self.skip_ws();
        let rest = &self.text[self.pos..];
        match rest.as_bytes().first() {
            None => self.fail("document ends early"),
            Some(b'"') => Ok(Val::Str(self.string()?)),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Val::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Ok(Val::Array(items));
                    }
                    if !self.eat(b',') {
                        return self.fail("expected ',' or ']'");
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                if self.eat(b'}') {
                    return Ok(Val::Object(entries));
                }
                loop {
                    self.skip_ws();
                    if self.text.as_bytes().get(self.pos) != Some(&b'"') {
                        return self.fail("expected a key");
                    }
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return self.fail("expected ':'");
                    }
                    let value = self.value(depth + 1)?;
                    set_entry(&mut entries, key, value);
                    if self.eat(b'}') {
                        return Ok(Val::Object(entries));
                    }
                    if !self.eat(b',') {
                        return self.fail("expected ',' or '}'");
                    }
                }
            }
            Some(_) => {
                for (word, value) in [
                    ("true", Val::Bool(true)),
                    ("false", Val::Bool(false)),
                    ("null", Val::Null),
                ] {
                    if rest.starts_with(word) {
                        self.pos += word.len();
                        return Ok(value);
                    }
                }
                let len = rest
                    .find(|c: char| {
                        !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                    })
                    .unwrap_or(rest.len());
                let number = &rest[..len];
                if len == 0 {
                    return self.fail("unexpected character");
                }
                self.pos += len;
                if let Ok(i) = number.parse::<i64>() {
                    return Ok(Val::Int(i));
                }
                match number.parse::<f64>() {
                    Ok(f) => Ok(Val::Float(f)),
                    Err(_) => self.fail(&format!("bad number {number:?}")),
                }
            }
        }
    }

    /// A string at `pos` (on its quote), borrowed unless it has escapes.
    fn string(&mut self) -> Result<Cow<'t, str>, String> {
        let bytes = self.text.as_bytes();
        let mut end = self.pos + 1;
        while end < bytes.len() {
            match bytes[end] {
                b'\\' => end += 2,
                b'"' => break,
                _ => end += 1,
            }
        }
        if end >= bytes.len() {
            return self.fail("unterminated string");
        }
        let raw = &self.text[self.pos..=end];
        self.pos = end + 1;
        wb_abi::json_unquote(raw).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_json() {
        let text = r#" {"a": [1, 2.5, "x\"y", true, null], "b": {"c": -3}, "a": 7} "#;
        let value = parse_json(text).unwrap();
        // A repeated key keeps its first place and its last value.
        assert_eq!(value.to_json(), r#"{"a":7,"b":{"c":-3}}"#);
        let array = parse_json(r#"[1, 2.5, "x\"y", true, null]"#).unwrap();
        assert_eq!(array.to_json(), r#"[1,2.5,"x\"y",true,null]"#);
        assert!(parse_json("[1,").is_err());
        assert!(parse_json("{\"a\" 1}").is_err());
        assert!(parse_json("1 2").is_err());
        assert!(parse_json(&"[".repeat(500))
            .unwrap_err()
            .contains("too deep"));
    }

    #[test]
    fn paths_and_indexes_reach_into_json_text() {
        let doc = Val::Json(r#"{"items":[{"id":1},{"id":2}],"n":"x"}"#.into());
        assert_eq!(doc.clone().at_path("items[1].id"), Ok(Val::Int(2)));
        assert_eq!(doc.clone().at_path("items[-1].id"), Ok(Val::Int(2)));
        assert_eq!(doc.clone().at_path("items[5].id"), Ok(Val::Null));
        assert_eq!(doc.clone().at_path("n.deeper"), Ok(Val::Null));
        assert_eq!(doc.type_name(), Ok("object"));
        assert_eq!(Val::Json("12".into()).type_name(), Ok("number"));
    }

    #[test]
    fn cells_keep_json_text_and_serialise_compounds() {
        assert_eq!(
            Val::Json("{ \"a\": 1 }".into()).into_cell(),
            Cell::Json("{ \"a\": 1 }".into())
        );
        let object = Val::Object(vec![("k".into(), Val::Array(vec![Val::Float(0.5)]))]);
        assert_eq!(object.into_cell(), Cell::Json("{\"k\":[0.5]}".into()));
    }
}
