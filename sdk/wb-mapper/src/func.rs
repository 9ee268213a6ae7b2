//! The functions expressions may call, with RDI's names and meanings.

use std::borrow::Cow;

use wb_abi::Cell;

use crate::logic::CmpOp;

/// A function of the expression language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `lower(s)`
    Lower,
    /// `upper(s)`
    Upper,
    /// `capitalize(s)`: first character upper-cased.
    Capitalize,
    /// `concat([a, b, ...])` or `concat(a, b, ...)`: nulls are skipped.
    Concat,
    /// `left(s, n)`: the first n characters.
    Left,
    /// `right(s, n)`: the last n characters.
    Right,
    /// `replace(s, old, new)`
    Replace,
    /// `mid(s, start, count)`: `count` characters from `start` (0-based).
    Mid,
    /// `in(value, [a, b, ...])`: whether value equals one of the others.
    In,
    /// `split(s, separator)`: a JSON array of the parts.
    Split,
    /// `base64_decode(s)`: text if the bytes are UTF-8, bytes otherwise.
    Base64Decode,
    /// `json_parse(s)`: the text as a JSON value (for json columns).
    JsonParse,
}

const ALL: [Func; 12] = [
    Func::Lower,
    Func::Upper,
    Func::Capitalize,
    Func::Concat,
    Func::Left,
    Func::Right,
    Func::Replace,
    Func::Mid,
    Func::In,
    Func::Split,
    Func::Base64Decode,
    Func::JsonParse,
];

impl Func {
    /// The function called `name`, if there is one.
    pub fn by_name(name: &str) -> Option<Func> {
        ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Capitalize => "capitalize",
            Func::Concat => "concat",
            Func::Left => "left",
            Func::Right => "right",
            Func::Replace => "replace",
            Func::Mid => "mid",
            Func::In => "in",
            Func::Split => "split",
            Func::Base64Decode => "base64_decode",
            Func::JsonParse => "json_parse",
        }
    }

    /// Names of all functions, for error messages.
    pub fn names() -> String {
        ALL.map(Func::name).join(", ")
    }

    /// Checks the number of arguments when the expression is parsed.
    pub fn check_arity(self, count: usize) -> Result<(), String> {
        let ok = match self {
            Func::Lower | Func::Upper | Func::Capitalize => count == 1,
            Func::Base64Decode | Func::JsonParse => count == 1,
            Func::Concat => count >= 1,
            Func::In => count >= 2,
            Func::Left | Func::Right | Func::Split => count == 2,
            Func::Replace | Func::Mid => count == 3,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{} does not take {count} arguments", self.name()))
        }
    }

    /// Applies the function. A null first argument gives null (except for
    /// concat, which skips nulls).
    pub fn apply<'a>(self, args: Vec<Cell<'a>>) -> Result<Cell<'a>, String> {
        if self == Func::In {
            let (value, candidates) = args.split_first().ok_or("in needs a value")?;
            let found = candidates.iter().any(|c| CmpOp::Eq.holds(value, c));
            return Ok(Cell::Bool(found));
        }
        let subject = args.first().and_then(text);
        let out = match (self, subject) {
            (Func::In, _) => return Ok(Cell::Null),
            (Func::Base64Decode, Some(s)) => {
                let bytes = base64_decode(&s)?;
                return Ok(match String::from_utf8(bytes) {
                    Ok(text) => Cell::Text(Cow::Owned(text)),
                    Err(e) => Cell::Bytes(Cow::Owned(e.into_bytes())),
                });
            }
            (Func::JsonParse, Some(s)) => {
                let value = wb_abi::json_path(&s, "")
                    .map_err(|e| format!("json_parse: {e}"))?
                    .ok_or("json_parse: empty document")?;
                if value.len() != s.trim().len() {
                    return Err("json_parse: text after the JSON value".into());
                }
                return Ok(Cell::Json(Cow::Owned(value.to_string())));
            }
            (Func::Split, Some(s)) => {
                let separator = args.get(1).and_then(text).unwrap_or_default();
                let parts: Vec<String> = if separator.is_empty() {
                    vec![json_string(&s)]
                } else {
                    s.split(separator.as_ref()).map(json_string).collect()
                };
                return Ok(Cell::Json(Cow::Owned(format!("[{}]", parts.join(",")))));
            }
            (Func::Mid, Some(s)) => {
                let start = count(args.get(1), self)?;
                let n = count(args.get(2), self)?;
                s.chars().skip(start).take(n).collect()
            }
            (Func::Concat, _) => args.iter().filter_map(text).collect(),
            (_, None) => return Ok(Cell::Null),
            (Func::Lower, Some(s)) => s.to_lowercase(),
            (Func::Upper, Some(s)) => s.to_uppercase(),
            (Func::Capitalize, Some(s)) => {
                let mut chars = s.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                }
            }
            (Func::Left, Some(s)) => s.chars().take(count(args.get(1), self)?).collect(),
            (Func::Right, Some(s)) => {
                let n = count(args.get(1), self)?;
                let len = s.chars().count();
                s.chars().skip(len.saturating_sub(n)).collect()
            }
            (Func::Replace, Some(s)) => {
                let from = args.get(1).and_then(text).unwrap_or_default();
                let to = args.get(2).and_then(text).unwrap_or_default();
                if from.is_empty() {
                    s.into_owned()
                } else {
                    s.replace(from.as_ref(), &to)
                }
            }
        };
        Ok(Cell::Text(Cow::Owned(out)))
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Standard base64 (with or without padding; whitespace ignored).
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return Err(format!("base64_decode: {:?} is not base64", c as char)),
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// A cell as text, as a string function sees it; `None` for null.
fn text<'c>(cell: &'c Cell<'_>) -> Option<Cow<'c, str>> {
    Some(match cell {
        Cell::Null => return None,
        Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Cell::Integer(i) => Cow::Owned(i.to_string()),
        Cell::Float(f) => Cow::Owned(f.to_string()),
        Cell::Text(t) | Cell::Json(t) => Cow::Borrowed(t.as_ref()),
        Cell::Bytes(b) => String::from_utf8_lossy(b),
    })
}

fn count(arg: Option<&Cell<'_>>, func: Func) -> Result<usize, String> {
    match arg {
        Some(Cell::Integer(n)) if *n >= 0 => Ok(*n as usize),
        Some(other) => text(other)
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| format!("{} needs a count, got {other:?}", func.name())),
        None => Err(format!("{} needs a count", func.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell<'_> {
        Cell::from(s)
    }

    #[test]
    fn string_functions() {
        assert_eq!(Func::Lower.apply(vec![t("AdA")]), Ok(t("ada")));
        assert_eq!(Func::Upper.apply(vec![t("straße")]), Ok(t("STRASSE")));
        assert_eq!(Func::Capitalize.apply(vec![t("élan")]), Ok(t("Élan")));
        assert_eq!(
            Func::Left.apply(vec![t("héllo"), Cell::Integer(2)]),
            Ok(t("hé"))
        );
        assert_eq!(
            Func::Right.apply(vec![t("héllo"), Cell::Integer(9)]),
            Ok(t("héllo"))
        );
        assert_eq!(
            Func::Replace.apply(vec![t("a-b-c"), t("-"), t("+")]),
            Ok(t("a+b+c"))
        );
        assert_eq!(
            Func::Concat.apply(vec![t("a"), Cell::Null, Cell::Integer(1)]),
            Ok(t("a1"))
        );
    }

    #[test]
    fn rdi_functions() {
        assert_eq!(
            Func::Mid.apply(vec![t("abcdef"), Cell::Integer(2), Cell::Integer(3)]),
            Ok(t("cde"))
        );
        assert_eq!(
            Func::In.apply(vec![t("b"), t("a"), t("b")]),
            Ok(Cell::Bool(true))
        );
        assert_eq!(
            Func::In.apply(vec![Cell::Integer(3), t("1"), t("2")]),
            Ok(Cell::Bool(false))
        );
        assert_eq!(
            Func::Split.apply(vec![t("a,b\"c"), t(",")]),
            Ok(Cell::Json("[\"a\",\"b\\\"c\"]".into()))
        );
        assert_eq!(
            Func::Base64Decode.apply(vec![t("aGVsbG8=")]),
            Ok(t("hello"))
        );
        assert_eq!(
            Func::Base64Decode.apply(vec![t("/w==")]),
            Ok(Cell::Bytes(vec![0xff].into()))
        );
        assert!(Func::Base64Decode.apply(vec![t("a*b")]).is_err());
        assert_eq!(
            Func::JsonParse.apply(vec![t(" {\"a\": [1]} ")]),
            Ok(Cell::Json("{\"a\": [1]}".into()))
        );
        assert!(Func::JsonParse.apply(vec![t("{\"a\": ")]).is_err());
        assert!(Func::JsonParse.apply(vec![t("1 2")]).is_err());
    }

    #[test]
    fn null_in_null_out_and_bad_counts() {
        assert_eq!(Func::Lower.apply(vec![Cell::Null]), Ok(Cell::Null));
        assert!(Func::Left.apply(vec![t("abc"), t("x")]).is_err());
        assert!(Func::Left.check_arity(1).is_err());
        assert_eq!(Func::by_name("upper"), Some(Func::Upper));
        assert_eq!(Func::by_name("uuid"), None);
        assert_eq!(Func::by_name("base64_decode"), Some(Func::Base64Decode));
    }
}
