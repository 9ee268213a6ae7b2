//! Reading stream entries without a consumer group (`XRANGE`,
//! `XREVRANGE`): what the control commands use to look at a job's change
//! stream and its dead-letter stream without taking, acknowledging or
//! changing anything.

use redis::aio::ConnectionLike;
use redis::Value;

use crate::source::{SourceError, StreamId};

/// One entry: its id and its fields, as stored (binary-safe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    pub id: StreamId,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawEntry {
    /// The value of field `name`, if the entry has it.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The value of field `name` as text (lossily decoded), if present.
    pub fn text(&self, name: &str) -> Option<String> {
        self.field(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Which way to walk a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `XRANGE key start end`: oldest first.
    Forward,
    /// `XREVRANGE key end start`: newest first.
    Backward,
}

/// Entries of `key` from `start` to `end` (`-`, `+`, an id, or `(id` for
/// an exclusive bound), at most `count` (all when `None`).
pub async fn range<C: ConnectionLike>(
    con: &mut C,
    key: &str,
    direction: Direction,
    start: &str,
    end: &str,
    count: Option<usize>,
) -> Result<Vec<RawEntry>, SourceError> {
    let mut cmd = match direction {
        Direction::Forward => {
            let mut cmd = redis::cmd("XRANGE");
            cmd.arg(key).arg(start).arg(end);
            cmd
        }
        Direction::Backward => {
            let mut cmd = redis::cmd("XREVRANGE");
            cmd.arg(key).arg(end).arg(start);
            cmd
        }
    };
    if let Some(count) = count {
        cmd.arg("COUNT").arg(count);
    }
    let reply: Value = cmd.query_async(con).await?;
    parse(reply)
}

/// Parses an XRANGE/XREVRANGE reply (RESP2 or RESP3).
fn parse(reply: Value) -> Result<Vec<RawEntry>, SourceError> {
    let Value::Array(items) = reply else {
        return Err(SourceError::reply("XRANGE", &reply));
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Array(mut parts) = item else {
                return Err(SourceError::reply("XRANGE entry", &item));
            };
            if parts.len() != 2 {
                return Err(SourceError::reply("XRANGE entry", &Value::Array(parts)));
            }
            let fields = parts.pop().unwrap_or(Value::Nil);
            let id_value = parts.pop().unwrap_or(Value::Nil);
            let id = bytes(&id_value)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| t.parse::<StreamId>().ok())
                .ok_or_else(|| SourceError::reply("XRANGE entry id", &id_value))?;
            let pairs: Vec<(Value, Value)> = match fields {
                Value::Array(flat) => {
                    let mut pairs = Vec::with_capacity(flat.len() / 2);
                    let mut it = flat.into_iter();
                    while let (Some(f), Some(v)) = (it.next(), it.next()) {
                        pairs.push((f, v));
                    }
                    pairs
                }
                Value::Map(map) => map,
                other => return Err(SourceError::reply("XRANGE entry fields", &other)),
            };
            let fields = pairs
                .into_iter()
                .map(|(f, v)| match (bytes(&f), bytes(&v)) {
                    (Some(f), Some(v)) => Ok((f, v)),
                    _ => Err(SourceError::reply("XRANGE entry field", &f)),
                })
                .collect::<Result<_, _>>()?;
            Ok(RawEntry { id, fields })
        })
        .collect()
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_entries_in_both_shapes() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("1-2"),
                Value::Array(vec![
                    bulk("key"),
                    bulk("user:1"),
                    bulk("event"),
                    bulk("hset"),
                ]),
            ]),
            Value::Array(vec![
                bulk("1-3"),
                Value::Map(vec![(bulk("key"), Value::BulkString(vec![0xff]))]),
            ]),
        ]);
        let entries = parse(reply).expect("parses");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].id, StreamId { ms: 1, seq: 2 });
        assert_eq!(entries[0].text("event").as_deref(), Some("hset"));
        assert_eq!(entries[1].field("key"), Some(&[0xff][..]));
        assert_eq!(entries[1].field("event"), None);
        assert!(parse(Value::Array(vec![bulk("x")])).is_err());
        assert!(parse(Value::Array(vec![Value::Array(vec![
            bulk("nope"),
            Value::Array(vec![])
        ])]))
        .is_err());
    }
}
