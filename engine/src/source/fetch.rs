//! Reading the current value of every changed key, in one round trip.
//!
//! Each key is read with the command its recorded type calls for, all in one
//! pipeline. A key whose type changed since it was recorded answers
//! WRONGTYPE and is read again after asking its type (rare: it was deleted
//! and recreated as another type within the batch's window). A key recorded
//! as gone is not read: at that point in the stream it did not exist, and if
//! it exists again a later entry says so.

use redis::aio::ConnectionLike;
use redis::{Pipeline, Value};
use wb_abi::ValueData;

use super::entry::{Captured, KeyKind};
use super::error::{FetchError, SourceError};

/// The value of each change's key now, in the order of `changes`.
pub async fn fetch_values<C: ConnectionLike>(
    con: &mut C,
    changes: &[Captured],
) -> Result<Vec<Result<ValueData, FetchError>>, SourceError> {
    let kinds: Vec<KeyKind> = changes.iter().map(|c| c.kind.clone()).collect();
    let mut values = read_as(con, changes, &kinds).await?;
    let retry: Vec<usize> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| matches!(v, Read::WrongType).then_some(i))
        .collect();
    if !retry.is_empty() {
        let again: Vec<Captured> = retry.iter().map(|&i| changes[i].clone()).collect();
        let keys: Vec<&[u8]> = again.iter().map(|c| c.key.as_slice()).collect();
        let actual = key_kinds(con, &keys).await?;
        let reread = read_as(con, &again, &actual).await?;
        for (slot, value) in retry.into_iter().zip(reread) {
            values[slot] = value;
        }
    }
    Ok(changes
        .iter()
        .zip(values)
        .map(|(change, read)| match read {
            Read::Value(v) => Ok(v),
            Read::Unsupported(kind) => Err(FetchError::UnsupportedType {
                key: String::from_utf8_lossy(&change.key).into_owned(),
                kind,
            }),
            Read::WrongType => Err(FetchError::BadValue {
                key: String::from_utf8_lossy(&change.key).into_owned(),
                reason: "its type changed while it was being read".to_owned(),
            }),
            Read::Bad(reason) => Err(FetchError::BadValue {
                key: String::from_utf8_lossy(&change.key).into_owned(),
                reason,
            }),
        })
        .collect())
}

/// The outcome of reading one key.
enum Read {
    Value(ValueData),
    Unsupported(String),
    WrongType,
    Bad(String),
}

/// Reads every key as `kinds` says, in one pipeline.
async fn read_as<C: ConnectionLike>(
    con: &mut C,
    changes: &[Captured],
    kinds: &[KeyKind],
) -> Result<Vec<Read>, SourceError> {
    let mut pipe = Pipeline::new();
    let mut sent = Vec::with_capacity(changes.len());
    for (change, kind) in changes.iter().zip(kinds) {
        let command = match kind {
            KeyKind::Hash => Some(redis::cmd("HGETALL").arg(&change.key).clone()),
            KeyKind::Set => Some(redis::cmd("SMEMBERS").arg(&change.key).clone()),
            KeyKind::SortedSet => Some(
                redis::cmd("ZRANGE")
                    .arg(&change.key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .clone(),
            ),
            KeyKind::Json => Some(redis::cmd("JSON.GET").arg(&change.key).clone()),
            KeyKind::None | KeyKind::Other(_) => None,
        };
        if let Some(command) = command {
            pipe.add_command(command);
        }
        sent.push(kind);
    }
    let count = pipe.len();
    let mut replies = if count == 0 {
        Vec::new()
    } else {
        // Packed commands return each reply as it is, errors included, so
        // one key's WRONGTYPE does not fail the others.
        con.req_packed_commands(&pipe, 0, count).await?
    }
    .into_iter();
    let mut reads = Vec::with_capacity(changes.len());
    for kind in sent {
        let read = match kind {
            KeyKind::None => Read::Value(ValueData::Missing),
            KeyKind::Other(t) => Read::Unsupported(t.clone()),
            _ => {
                let reply = replies
                    .next()
                    .ok_or_else(|| SourceError::reply("a value pipeline", &Value::Nil))?;
                parse(kind, reply)
            }
        };
        reads.push(read);
    }
    Ok(reads)
}

/// The type of each of `keys` now, in one pipeline (`TYPE`).
pub async fn key_kinds<C: ConnectionLike, K: AsRef<[u8]>>(
    con: &mut C,
    keys: &[K],
) -> Result<Vec<KeyKind>, SourceError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = Pipeline::new();
    for key in keys {
        pipe.add_command(redis::cmd("TYPE").arg(key.as_ref()).clone());
    }
    let replies = con.req_packed_commands(&pipe, 0, keys.len()).await?;
    replies
        .into_iter()
        .map(|reply| match reply {
            Value::SimpleString(t) => Ok(KeyKind::from_type_name(&t)),
            other => Err(SourceError::reply("TYPE", &other)),
        })
        .collect()
}

fn parse(kind: &KeyKind, reply: Value) -> Read {
    if let Value::ServerError(e) = &reply {
        return if e.code() == "WRONGTYPE" {
            Read::WrongType
        } else {
            Read::Bad(format!("{} {}", e.code(), e.details().unwrap_or_default()))
        };
    }
    match kind {
        KeyKind::Hash => pairs(reply).map_or_else(Read::Bad, |pairs| {
            if pairs.is_empty() {
                Read::Value(ValueData::Missing)
            } else {
                Read::Value(ValueData::Hash(pairs))
            }
        }),
        KeyKind::Set => members(reply).map_or_else(Read::Bad, |members| {
            if members.is_empty() {
                Read::Value(ValueData::Missing)
            } else {
                Read::Value(ValueData::Set(members))
            }
        }),
        KeyKind::SortedSet => scored(reply).map_or_else(Read::Bad, |scored| {
            if scored.is_empty() {
                Read::Value(ValueData::Missing)
            } else {
                Read::Value(ValueData::SortedSet(scored))
            }
        }),
        KeyKind::Json => match reply {
            Value::Nil => Read::Value(ValueData::Missing),
            Value::BulkString(b) => match String::from_utf8(b) {
                Ok(text) => Read::Value(ValueData::Json(text)),
                Err(_) => Read::Bad("JSON.GET returned text that is not UTF-8".to_owned()),
            },
            other => Read::Bad(format!("unexpected reply to JSON.GET: {other:?}")),
        },
        KeyKind::None | KeyKind::Other(_) => Read::Value(ValueData::Missing),
    }
}

fn bytes(value: Value) -> Result<Vec<u8>, String> {
    match value {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        other => Err(format!("expected a string, got {other:?}")),
    }
}

fn score(value: Value) -> Result<f64, String> {
    match value {
        Value::Double(d) => Ok(d),
        Value::Int(i) => Ok(i as f64),
        other => {
            let text = bytes(other)?;
            std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .ok_or_else(|| format!("'{}' is not a score", String::from_utf8_lossy(&text)))
        }
    }
}

/// A hash's field/value pairs.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Field/value pairs from a RESP2 flat array or a RESP3 map.
fn pairs(reply: Value) -> Result<Pairs, String> {
    match reply {
        Value::Map(entries) => entries
            .into_iter()
            .map(|(f, v)| Ok((bytes(f)?, bytes(v)?)))
            .collect(),
        Value::Array(flat) => {
            if flat.len() % 2 != 0 {
                return Err("a hash reply with an odd number of items".to_owned());
            }
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut items = flat.into_iter();
            while let (Some(f), Some(v)) = (items.next(), items.next()) {
                out.push((bytes(f)?, bytes(v)?));
            }
            Ok(out)
        }
        other => Err(format!("unexpected reply to HGETALL: {other:?}")),
    }
}

fn members(reply: Value) -> Result<Vec<Vec<u8>>, String> {
    match reply {
        Value::Array(items) | Value::Set(items) => items.into_iter().map(bytes).collect(),
        other => Err(format!("unexpected reply to SMEMBERS: {other:?}")),
    }
}

/// Member/score pairs from a RESP2 flat array or RESP3 pairs.
fn scored(reply: Value) -> Result<Vec<(Vec<u8>, f64)>, String> {
    let Value::Array(items) = reply else {
        return Err(format!("unexpected reply to ZRANGE: {reply:?}"));
    };
    if items.iter().all(|i| matches!(i, Value::Array(_))) {
        return items
            .into_iter()
            .map(|pair| match pair {
                Value::Array(mut two) if two.len() == 2 => {
                    let s = two.pop().map(score).transpose()?;
                    let m = two.pop().map(bytes).transpose()?;
                    match (m, s) {
                        (Some(m), Some(s)) => Ok((m, s)),
                        _ => Err("a member/score pair that is not a pair".to_owned()),
                    }
                }
                other => Err(format!("a member/score pair that is not a pair: {other:?}")),
            })
            .collect();
    }
    if items.len() % 2 != 0 {
        return Err("a sorted-set reply with an odd number of items".to_owned());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        out.push((bytes(m)?, score(s)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_resp2_and_resp3_shapes() {
        let flat = Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]);
        assert_eq!(
            pairs(flat).expect("pairs"),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        let map = Value::Map(vec![(bulk("a"), bulk("1"))]);
        assert_eq!(
            pairs(map).expect("map"),
            vec![(b"a".to_vec(), b"1".to_vec())]
        );
        let z2 = Value::Array(vec![bulk("m"), bulk("1.5")]);
        assert_eq!(scored(z2).expect("resp2"), vec![(b"m".to_vec(), 1.5)]);
        let z3 = Value::Array(vec![Value::Array(vec![bulk("m"), Value::Double(2.0)])]);
        assert_eq!(scored(z3).expect("resp3"), vec![(b"m".to_vec(), 2.0)]);
        assert!(scored(Value::Array(vec![bulk("m"), bulk("x")])).is_err());
        assert!(pairs(Value::Array(vec![bulk("a")])).is_err());
    }

    #[test]
    fn empty_collections_are_missing_keys() {
        assert!(matches!(
            parse(&KeyKind::Hash, Value::Array(vec![])),
            Read::Value(ValueData::Missing)
        ));
        assert!(matches!(
            parse(&KeyKind::Json, Value::Nil),
            Read::Value(ValueData::Missing)
        ));
    }
}
