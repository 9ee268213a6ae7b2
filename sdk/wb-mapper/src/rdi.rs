//! RDI's functions beyond strings: entries, hashing, regular expressions,
//! time deltas and UUIDs.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::builtin::holds;
use crate::digest;
use crate::func::Func;
use crate::logic::number;
use crate::pattern::Pattern;
use crate::strings::text;
use crate::time::parse_timestamp;
use crate::value::{set_entry, Val};

pub fn handles(func: Func) -> bool {
    matches!(
        func,
        Func::FilterEntries
            | Func::FromEntries
            | Func::ToEntries
            | Func::Hash
            | Func::RegexReplace
            | Func::TimeDeltaDays
            | Func::TimeDeltaSeconds
            | Func::Uuid
    )
}

fn entry<'a>(key: Cow<'a, str>, value: Val<'a>) -> Val<'a> {
    Val::Object(vec![
        (Cow::Borrowed("key"), Val::Str(key)),
        (Cow::Borrowed("value"), value),
    ])
}

fn object_arg<'a>(name: &str, value: Val<'a>) -> Result<Vec<(Cow<'a, str>, Val<'a>)>, String> {
    let shown = value.type_name()?;
    value
        .into_object()?
        .ok_or_else(|| format!("{name}: expected an object, got {shown}"))
}

/// `to_entries({"a": 1})` is `[{"key": "a", "value": 1}]`; null gives null.
pub fn to_entries(value: Val<'_>) -> Result<Val<'_>, String> {
    if value == Val::Null {
        return Ok(Val::Null);
    }
    let entries = object_arg("to_entries", value)?;
    Ok(Val::Array(
        entries.into_iter().map(|(k, v)| entry(k, v)).collect(),
    ))
}

/// The inverse of `to_entries`: each element needs a `key` (a string, or a
/// number or boolean, taken as its text); a missing `value` is null; later
/// keys win. Null gives null.
pub fn from_entries(value: Val<'_>) -> Result<Val<'_>, String> {
    if value == Val::Null {
        return Ok(Val::Null);
    }
    let shown = value.type_name()?;
    let items = value
        .into_array()?
        .ok_or_else(|| format!("from_entries: expected an array, got {shown}"))?;
    let mut object = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let fields = item
            .into_object()?
            .ok_or_else(|| format!("from_entries: element {i} is not a {{key, value}} object"))?;
        let mut key = None;
        let mut value = Val::Null;
        for (name, field) in fields {
            match name.as_ref() {
                "key" => key = Some(field.resolved()?),
                "value" => value = field,
                _ => {}
            }
        }
        let key = match key {
            Some(k @ (Val::Str(_) | Val::Int(_) | Val::Float(_) | Val::Bool(_))) => {
                Cow::Owned(text(&k).unwrap_or_default().into_owned())
            }
            _ => return Err(format!("from_entries: element {i} has no string key")),
        };
        set_entry(&mut object, key, value);
    }
    Ok(Val::Object(object))
}

/// The entries of an object for which `predicate`, evaluated against
/// `{key, value}`, is true. Null gives null.
pub fn filter_entries<'a>(
    value: Val<'a>,
    predicate: &mut dyn FnMut(&Val<'a>) -> Result<Val<'a>, String>,
) -> Result<Val<'a>, String> {
    if value == Val::Null {
        return Ok(Val::Null);
    }
    let mut kept = Vec::new();
    for (key, value) in object_arg("filter_entries", value)? {
        let candidate = entry(key.clone(), value.clone());
        if holds(predicate, &candidate)? {
            kept.push((key, value));
        }
    }
    Ok(Val::Object(kept))
}

/// The digests `hash()` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    Sha256,
    Sha1,
    Md5,
}

impl Digest {
    pub fn by_name(name: &str) -> Result<Digest, String> {
        match name.to_ascii_lowercase().as_str() {
            "sha256" => Ok(Digest::Sha256),
            "sha1" => Ok(Digest::Sha1),
            "md5" => Ok(Digest::Md5),
            _ => Err(format!(
                "unknown hash algorithm {name:?} (sha256, sha1, md5)"
            )),
        }
    }
}

/// `hash(value, algorithm)`: the lowercase hex digest of the value's
/// bytes: a string's UTF-8 (a non-UTF-8 Redis value's raw bytes), a number
/// or boolean as written, an array or object as compact JSON. The
/// algorithm defaults to sha256. Null gives null.
pub fn hash<'a>(value: Val<'a>, algorithm: Val<'a>) -> Result<Val<'a>, String> {
    let digest = match algorithm {
        Val::Null => Digest::Sha256,
        other => match text(&other) {
            Some(name) => Digest::by_name(&name).map_err(|e| format!("hash: {e}"))?,
            None => Digest::Sha256,
        },
    };
    let bytes: Cow<'_, [u8]> = match &value {
        Val::Null => return Ok(Val::Null),
        Val::Bytes(b) => Cow::Borrowed(b.as_ref()),
        Val::Json(_) => Cow::Owned(value.clone().resolved()?.to_json().into_bytes()),
        other => Cow::Owned(text(other).unwrap_or_default().into_owned().into_bytes()),
    };
    let sum = match digest {
        Digest::Sha256 => digest::sha256(&bytes),
        Digest::Sha1 => digest::sha1(&bytes),
        Digest::Md5 => digest::md5(&bytes),
    };
    Ok(Val::Str(Cow::Owned(digest::hex(&sum))))
}

/// `regex_replace(s, pattern, replacement)`: every match of `pattern` in
/// `s` replaced (`$1`, `${name}` insert groups). A null `s` gives null.
pub fn regex_replace<'a>(
    subject: Val<'a>,
    pattern_text: Val<'a>,
    replacement: Val<'a>,
    compiled: Option<&Pattern>,
) -> Result<Val<'a>, String> {
    let Some(subject) = text(&subject) else {
        return Ok(Val::Null);
    };
    let replacement = text(&replacement).unwrap_or_default();
    let built;
    let pattern = match compiled {
        Some(pattern) => pattern,
        None => {
            let source = text(&pattern_text).ok_or("regex_replace: the pattern is null")?;
            built = Pattern::new(&source).map_err(|e| format!("regex_replace: {e}"))?;
            &built
        }
    };
    Ok(Val::Str(Cow::Owned(
        pattern.replace_all(&subject, &replacement),
    )))
}

/// Timestamps before this (2001-09-09) mean the host froze the guest's
/// clock: a delta from them would be silently wrong.
const PLAUSIBLE_NOW: i64 = 1_000_000_000;

/// Seconds since the Unix epoch, now.
fn now_seconds(name: &str) -> Result<f64, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{name}: the clock reads before 1970"))?;
    if (now.as_secs() as i64) < PLAUSIBLE_NOW {
        return Err(format!(
            "{name}: this transform has no wall clock (the host did not grant it)"
        ));
    }
    Ok(now.as_secs_f64())
}

/// `time_delta_days(t)` (`unit` 86400) and `time_delta_seconds(t)` (`unit`
/// 1): whole units from `t` to now, rounded down, so positive for a past
/// `t` and negative for a future one. `t` is seconds since the Unix epoch
/// (a number, or text that reads as one) or ISO-8601 text (see
/// [`parse_timestamp`]). Null gives null.
pub fn time_delta<'a>(value: Val<'a>, unit: i64, name: &str) -> Result<Val<'a>, String> {
    let value = value.resolved()?;
    let then = match &value {
        Val::Null => return Ok(Val::Null),
        Val::Int(_) | Val::Float(_) => number(&value).unwrap_or(0.0),
        Val::Str(s) => match s.trim().parse::<f64>() {
            Ok(seconds) => seconds,
            Err(_) => parse_timestamp(s).map_err(|e| format!("{name}: {e}"))?,
        },
        other => {
            return Err(format!(
                "{name}: expected a timestamp, got {}",
                other.type_name()?
            ))
        }
    };
    let delta = (now_seconds(name)? - then) / unit as f64;
    Ok(Val::Int(delta.floor() as i64))
}

/// `uuid()`: a random (version 4) UUID in lowercase hex with hyphens.
pub fn uuid<'a>() -> Result<Val<'a>, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("uuid: no random source ({e})"))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = digest::hex(&bytes);
    Ok(Val::Str(Cow::Owned(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))))
}
