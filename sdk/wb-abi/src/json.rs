//! Reading values out of JSON documents by path without parsing the whole
//! document into a tree (and without a JSON dependency in every guest).
//!
//! Paths are dot-separated keys with optional array indexes:
//! `address.city`, `items[0].id`, optionally prefixed by `$.`.

use std::borrow::Cow;
use std::fmt;

/// The document or the path could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPathError {
    pub message: String,
}

impl fmt::Display for JsonPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsonPathError {}

fn error(message: impl Into<String>) -> JsonPathError {
    JsonPathError {
        message: message.into(),
    }
}

enum Step<'p> {
    Key(&'p str),
    Index(usize),
}

fn steps(path: &str) -> Result<Vec<Step<'_>>, JsonPathError> {
    let path = path.strip_prefix("$.").unwrap_or(path);
    let mut out = Vec::new();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, mut rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| error(format!("unclosed '[' in path {path:?}")))?;
            let index = inner[..close]
                .parse()
                .map_err(|_| error(format!("bad array index in path {path:?}")))?;
            out.push(Step::Index(index));
            rest = &inner[close + 1..];
        }
        if !rest.is_empty() {
            return Err(error(format!("unexpected {rest:?} in path {path:?}")));
        }
    }
    Ok(out)
}

/// The JSON text of the value at `path` in `doc` (`None` when some step of
/// the path does not exist). Strings keep their quotes: see [`json_text`].
pub fn json_path<'d>(doc: &'d str, path: &str) -> Result<Option<&'d str>, JsonPathError> {
    let bytes = doc.as_bytes();
    let mut at = skip_ws(bytes, 0);
    for step in steps(path)? {
        let found = match step {
            Step::Key(key) => find_key(bytes, at, key)?,
            Step::Index(index) => find_index(bytes, at, index)?,
        };
        match found {
            Some(start) => at = start,
            None => return Ok(None),
        }
    }
    let end = skip_value(bytes, at)?;
    Ok(Some(&doc[at..end]))
}

/// The value at `path` as text: strings unescaped, other scalars as written,
/// `None` for absent and JSON `null`.
pub fn json_text<'d>(doc: &'d str, path: &str) -> Result<Option<Cow<'d, str>>, JsonPathError> {
    match json_path(doc, path)? {
        None | Some("null") => Ok(None),
        Some(raw) if raw.starts_with('"') => json_unquote(raw).map(Some),
        Some(raw) => Ok(Some(Cow::Borrowed(raw))),
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

fn expect(b: &[u8], i: usize, c: u8) -> Result<usize, JsonPathError> {
    if b.get(i) == Some(&c) {
        Ok(i + 1)
    } else {
        Err(error(format!(
            "invalid JSON: expected '{}' at byte {i}",
            c as char
        )))
    }
}

/// End (exclusive) of the string starting at `i` (which holds the quote).
fn skip_string(b: &[u8], i: usize) -> Result<usize, JsonPathError> {
    let mut j = expect(b, i, b'"')?;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Ok(j + 1),
            _ => j += 1,
        }
    }
    Err(error("invalid JSON: unterminated string"))
}

/// End (exclusive) of the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Result<usize, JsonPathError> {
    match b.get(i) {
        Some(b'"') => skip_string(b, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(error("invalid JSON: unclosed object or array"))
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            if j == i {
                Err(error(format!("invalid JSON: no value at byte {i}")))
            } else {
                Ok(j)
            }
        }
        None => Err(error("invalid JSON: document ends early")),
    }
}

/// Start of the value of `key` in the object at `i`.
fn find_key(b: &[u8], i: usize, key: &str) -> Result<Option<usize>, JsonPathError> {
    if b.get(i) != Some(&b'{') {
        return Ok(None);
    }
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Ok(None);
    }
    loop {
        let key_end = skip_string(b, j)?;
        // Keys are compared as written; a key with escapes is decoded first.
        let raw = &b[j..key_end];
        let matches = if raw.contains(&b'\\') {
            let text = std::str::from_utf8(raw).map_err(|_| error("invalid UTF-8 in key"))?;
            json_unquote(text)? == key
        } else {
            &raw[1..raw.len() - 1] == key.as_bytes()
        };
        j = skip_ws(b, key_end);
        j = skip_ws(b, expect(b, j, b':')?);
        if matches {
            return Ok(Some(j));
        }
        j = skip_ws(b, skip_value(b, j)?);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b'}') => return Ok(None),
            _ => {
                return Err(error(format!(
                    "invalid JSON: expected ',' or '}}' at byte {j}"
                )))
            }
        }
    }
}

/// Start of element `index` of the array at `i`.
fn find_index(b: &[u8], i: usize, index: usize) -> Result<Option<usize>, JsonPathError> {
    if b.get(i) != Some(&b'[') {
        return Ok(None);
    }
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Ok(None);
    }
    let mut n = 0;
    loop {
        if n == index {
            return Ok(Some(j));
        }
        j = skip_ws(b, skip_value(b, j)?);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b']') => return Ok(None),
            _ => {
                return Err(error(format!(
                    "invalid JSON: expected ',' or ']' at byte {j}"
                )))
            }
        }
        n += 1;
    }
}

/// The JSON text of each element of the array `array` (as returned by
/// [`json_path`]); an error if it is not an array.
pub fn json_array_items(array: &str) -> Result<Vec<&str>, JsonPathError> {
    let b = array.as_bytes();
    let mut j = skip_ws(b, 0);
    if b.get(j) != Some(&b'[') {
        return Err(error("not a JSON array"));
    }
    let mut items = Vec::new();
    j = skip_ws(b, j + 1);
    if b.get(j) == Some(&b']') {
        return Ok(items);
    }
    loop {
        let end = skip_value(b, j)?;
        items.push(&array[j..end]);
        j = skip_ws(b, end);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b']') => return Ok(items),
            _ => {
                return Err(error(format!(
                    "invalid JSON: expected ',' or ']' at byte {j}"
                )))
            }
        }
    }
}

/// Decodes a JSON string literal (with its quotes).
pub fn json_unquote(raw: &str) -> Result<Cow<'_, str>, JsonPathError> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| error("not a JSON string"))?;
    if !inner.contains('\\') {
        return Ok(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|_| error("bad \\u escape"))?;
                // Surrogate pairs are rare in keys and values read by path;
                // an unpaired one becomes the replacement character.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => return Err(error("bad escape at end of string")),
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#" {"name": "Ada", "age": 36, "tags": ["a", "b"],
        "address": {"city": "London", "zip": null},
        "items": [{"id": 1}, {"id": 2, "note": "say \"hi\""}], "a\"b": true} "#;

    #[test]
    fn finds_nested_keys_and_indexes() {
        assert_eq!(json_path(DOC, "name").unwrap(), Some("\"Ada\""));
        assert_eq!(json_path(DOC, "$.age").unwrap(), Some("36"));
        assert_eq!(json_path(DOC, "address.city").unwrap(), Some("\"London\""));
        assert_eq!(json_path(DOC, "items[1].id").unwrap(), Some("2"));
        assert_eq!(json_path(DOC, "tags[1]").unwrap(), Some("\"b\""));
        assert_eq!(json_path(DOC, "items[0]").unwrap(), Some("{\"id\": 1}"));
    }

    #[test]
    fn absent_paths_are_none() {
        assert_eq!(json_path(DOC, "missing").unwrap(), None);
        assert_eq!(json_path(DOC, "items[5].id").unwrap(), None);
        assert_eq!(json_path(DOC, "name.first").unwrap(), None);
        assert_eq!(json_text(DOC, "address.zip").unwrap(), None);
    }

    #[test]
    fn text_unescapes_strings() {
        assert_eq!(
            json_text(DOC, "items[1].note").unwrap().as_deref(),
            Some("say \"hi\"")
        );
        assert_eq!(json_text(DOC, "age").unwrap().as_deref(), Some("36"));
        assert_eq!(json_path(DOC, "a\"b").unwrap(), Some("true"));
    }

    #[test]
    fn splits_arrays_into_elements() {
        let items = json_path(DOC, "items").unwrap().unwrap();
        assert_eq!(
            json_array_items(items).unwrap(),
            vec!["{\"id\": 1}", "{\"id\": 2, \"note\": \"say \\\"hi\\\"\"}"]
        );
        assert_eq!(json_array_items(" [ ] ").unwrap(), Vec::<&str>::new());
        assert!(json_array_items("{}").is_err());
        assert!(json_array_items("[1, 2").is_err());
    }

    #[test]
    fn broken_documents_and_paths_are_errors() {
        assert!(json_path(r#"{"a": "#, "a").is_err());
        assert!(json_path(r#"{"a" 1}"#, "a").is_err());
        assert!(json_path(DOC, "items[x]").is_err());
    }
}
