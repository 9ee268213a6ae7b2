//! RDI's string functions. They read any scalar as text (numbers and
//! booleans as written, JSON as its text) and give null for a null subject,
//! except `concat`, which skips nulls, and `in`.

use std::borrow::Cow;

use crate::func::Func;
use crate::logic::CmpOp;
use crate::value::{parse_json, Val};

pub fn handles(func: Func) -> bool {
    matches!(
        func,
        Func::Lower
            | Func::Upper
            | Func::Capitalize
            | Func::Concat
            | Func::Left
            | Func::Right
            | Func::Replace
            | Func::Mid
            | Func::In
            | Func::Split
            | Func::Base64Decode
            | Func::JsonParse
    )
}

pub fn apply<'a>(func: Func, args: Vec<Val<'a>>) -> Result<Val<'a>, String> {
    if func == Func::In {
        let (value, candidates) = args.split_first().ok_or("in needs a value")?;
        for candidate in candidates {
            if CmpOp::Eq.holds(value, candidate)? {
                return Ok(Val::Bool(true));
            }
        }
        return Ok(Val::Bool(false));
    }
    if func == Func::Concat {
        let mut out = String::new();
        for arg in &args {
            if let Some(text) = text(arg) {
                out.push_str(&text);
            }
        }
        return Ok(Val::Str(Cow::Owned(out)));
    }
    let Some(subject) = args.first().and_then(text) else {
        return Ok(Val::Null);
    };
    let arg_text = |i: usize| args.get(i).and_then(text).unwrap_or_default();
    let out = match func {
        Func::Base64Decode => {
            let bytes = base64_decode(&subject)?;
            return Ok(match String::from_utf8(bytes) {
                Ok(text) => Val::Str(Cow::Owned(text)),
                Err(e) => Val::Bytes(Cow::Owned(e.into_bytes())),
            });
        }
        Func::JsonParse => {
            parse_json(&subject).map_err(|e| format!("json_parse: {e}"))?;
            // Kept as text, so a json column gets the document as written.
            return Ok(Val::Json(Cow::Owned(subject.trim().to_string())));
        }
        Func::Split => {
            let separator = arg_text(1);
            let parts = if separator.is_empty() {
                vec![Val::Str(Cow::Owned(subject.into_owned()))]
            } else {
                subject
                    .split(separator.as_ref())
                    .map(|part| Val::Str(Cow::Owned(part.to_string())))
                    .collect()
            };
            return Ok(Val::Array(parts));
        }
        Func::Mid => {
            let start = count(args.get(1), func)?;
            let n = count(args.get(2), func)?;
            subject.chars().skip(start).take(n).collect()
        }
        Func::Lower => subject.to_lowercase(),
        Func::Upper => subject.to_uppercase(),
        Func::Capitalize => {
            let mut chars = subject.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        Func::Left => subject.chars().take(count(args.get(1), func)?).collect(),
        Func::Right => {
            let n = count(args.get(1), func)?;
            let len = subject.chars().count();
            subject.chars().skip(len.saturating_sub(n)).collect()
        }
        Func::Replace => {
            let from = arg_text(1);
            if from.is_empty() {
                subject.into_owned()
            } else {
                subject.replace(from.as_ref(), &arg_text(2))
            }
        }
        _ => return Err(format!("{} is not a string function", func.name())),
    };
    Ok(Val::Str(Cow::Owned(out)))
}

/// A value as a string function sees it; `None` for null.
pub fn text<'v>(value: &'v Val<'_>) -> Option<Cow<'v, str>> {
    Some(match value {
        Val::Null => return None,
        Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Val::Int(i) => Cow::Owned(i.to_string()),
        Val::Float(f) => Cow::Owned(f.to_string()),
        Val::Str(t) | Val::Json(t) => Cow::Borrowed(t.as_ref()),
        Val::Bytes(b) => String::from_utf8_lossy(b),
        Val::Array(_) | Val::Object(_) => Cow::Owned(value.to_json()),
    })
}

fn count(arg: Option<&Val<'_>>, func: Func) -> Result<usize, String> {
    match arg {
        Some(Val::Int(n)) if *n >= 0 => Ok(*n as usize),
        Some(other) => text(other)
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| format!("{} needs a count, got {other:?}", func.name())),
        None => Err(format!("{} needs a count", func.name())),
    }
}

/// Standard or URL-safe base64, with or without padding; whitespace is
/// ignored.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Val<'_> {
        Val::Str(s.into())
    }

    fn call<'a>(func: Func, args: Vec<Val<'a>>) -> Result<Val<'a>, String> {
        apply(func, args)
    }

    #[test]
    fn string_functions() {
        assert_eq!(call(Func::Lower, vec![t("AdA")]), Ok(t("ada")));
        assert_eq!(call(Func::Upper, vec![t("straße")]), Ok(t("STRASSE")));
        assert_eq!(call(Func::Capitalize, vec![t("élan")]), Ok(t("Élan")));
        assert_eq!(call(Func::Left, vec![t("héllo"), Val::Int(2)]), Ok(t("hé")));
        assert_eq!(
            call(Func::Right, vec![t("héllo"), Val::Int(9)]),
            Ok(t("héllo"))
        );
        assert_eq!(
            call(Func::Replace, vec![t("a-b-c"), t("-"), t("+")]),
            Ok(t("a+b+c"))
        );
        assert_eq!(
            call(Func::Concat, vec![t("a"), Val::Null, Val::Int(1)]),
            Ok(t("a1"))
        );
    }

    #[test]
    fn rdi_string_functions() {
        assert_eq!(
            call(Func::Mid, vec![t("abcdef"), Val::Int(2), Val::Int(3)]),
            Ok(t("cde"))
        );
        assert_eq!(
            call(Func::In, vec![t("b"), t("a"), t("b")]),
            Ok(Val::Bool(true))
        );
        assert_eq!(
            call(Func::In, vec![Val::Int(3), t("1"), t("2")]),
            Ok(Val::Bool(false))
        );
        assert_eq!(
            call(Func::Split, vec![t("a,b\"c"), t(",")])
                .unwrap()
                .into_cell(),
            wb_abi::Cell::Json("[\"a\",\"b\\\"c\"]".into())
        );
        assert_eq!(
            call(Func::Base64Decode, vec![t("aGVsbG8=")]),
            Ok(t("hello"))
        );
        assert_eq!(
            call(Func::Base64Decode, vec![t("/w==")]),
            Ok(Val::Bytes(vec![0xff].into()))
        );
        assert!(call(Func::Base64Decode, vec![t("a*b")]).is_err());
        assert_eq!(
            call(Func::JsonParse, vec![t(" {\"a\": [1]} ")]),
            Ok(Val::Json("{\"a\": [1]}".into()))
        );
        assert!(call(Func::JsonParse, vec![t("{\"a\": ")]).is_err());
        assert!(call(Func::JsonParse, vec![t("1 2")]).is_err());
    }

    #[test]
    fn null_in_null_out_and_bad_counts() {
        assert_eq!(call(Func::Lower, vec![Val::Null]), Ok(Val::Null));
        let err = call(Func::Left, vec![t("abc"), t("x")]).unwrap_err();
        assert!(err.starts_with("left needs a count"), "{err}");
    }
}
