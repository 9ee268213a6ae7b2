//! Reading the current value of every changed key, in one round trip.
//!
//! Each key is read with the command its recorded type calls for, all in one
//! pipeline. A key whose type changed since it was recorded answers
//! WRONGTYPE and is read again after asking its type (rare: it was deleted
//! and recreated as another type within the batch's window). A key recorded
//! as gone is not read: at that point in the stream it did not exist, and if
//! it exists again a later entry says so.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Pipeline, Value};
use wb_abi::ValueData;

use super::entry::{Captured, KeyKind};
use super::error::{FetchError, SourceError};
use super::resp::{Commands, Item, ProtocolError, Replies};
use super::wire::WireConnection;

/// The value of each change's key now, in the order of `changes`.
pub async fn fetch_values(
    con: &mut WireConnection,
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
async fn read_as(
    con: &mut WireConnection,
    changes: &[Captured],
    kinds: &[KeyKind],
) -> Result<Vec<Read>, SourceError> {
    let mut commands = Commands::new();
    for (change, kind) in changes.iter().zip(kinds) {
        let key = change.key.as_slice();
        match kind {
            KeyKind::Hash => commands.push(&[b"HGETALL", key]),
            KeyKind::Set => commands.push(&[b"SMEMBERS", key]),
            KeyKind::SortedSet => commands.push(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]),
            KeyKind::Json => commands.push(&[b"JSON.GET", key]),
            KeyKind::None | KeyKind::Other(_) => continue,
        };
    }
    let mut replies = if commands.is_empty() {
        Replies::new(&[])
    } else {
        con.exchange(&commands, Duration::ZERO).await?
    };
    let mut reads = Vec::with_capacity(changes.len());
    for kind in kinds {
        reads.push(match kind {
            KeyKind::None => Read::Value(ValueData::Missing),
            KeyKind::Other(t) => Read::Unsupported(t.clone()),
            _ => read_value(kind, &mut replies)?,
        });
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

/// One key's reply, read whole whatever it holds.
fn read_value(kind: &KeyKind, replies: &mut Replies<'_>) -> Result<Read, ProtocolError> {
    let item = replies.next_item()?;
    if let Item::Error(e) = item {
        return Ok(if e.starts_with(b"WRONGTYPE") {
            Read::WrongType
        } else {
            Read::Bad(String::from_utf8_lossy(e).into_owned())
        });
    }
    let command = match kind {
        KeyKind::Hash => "HGETALL",
        KeyKind::Set => "SMEMBERS",
        KeyKind::SortedSet => "ZRANGE",
        _ => "JSON.GET",
    };
    let items = match (kind, item) {
        (KeyKind::Json, Item::Nil) => return Ok(Read::Value(ValueData::Missing)),
        (KeyKind::Json, Item::Bulk(b)) => {
            return Ok(match std::str::from_utf8(b) {
                Ok(text) => Read::Value(ValueData::Json(text.to_owned())),
                Err(_) => Read::Bad("JSON.GET returned text that is not UTF-8".to_owned()),
            })
        }
        (KeyKind::Hash | KeyKind::Set | KeyKind::SortedSet, Item::Array(n)) => n,
        (_, other) => {
            replies.skip_rest(other)?;
            return Ok(Read::Bad(format!("unexpected reply to {command}: {other}")));
        }
    };
    if items == 0 {
        return Ok(Read::Value(ValueData::Missing));
    }
    if matches!(kind, KeyKind::Hash | KeyKind::SortedSet) && items % 2 != 0 {
        for _ in 0..items {
            replies.skip()?;
        }
        return Ok(Read::Bad(format!(
            "a {command} reply with an odd number of items"
        )));
    }
    // Every item is read, whatever comes of the first bad one, so that the
    // next key's reply starts where it should.
    let mut strings = Strings {
        replies,
        bad: None,
        command,
    };
    let value = match kind {
        KeyKind::Hash => {
            let mut pairs = Vec::with_capacity(items / 2);
            for _ in 0..items / 2 {
                let field = strings.next()?;
                let value = strings.next()?;
                pairs.push((field.to_vec(), value.to_vec()));
            }
            ValueData::Hash(pairs)
        }
        KeyKind::Set => {
            let mut members = Vec::with_capacity(items);
            for _ in 0..items {
                members.push(strings.next()?.to_vec());
            }
            ValueData::Set(members)
        }
        _ => {
            let mut scored = Vec::with_capacity(items / 2);
            for _ in 0..items / 2 {
                let member = strings.next()?.to_vec();
                let score = strings.next()?;
                match std::str::from_utf8(score)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                {
                    Some(score) => scored.push((member, score)),
                    None if strings.bad.is_none() => {
                        strings.bad = Some(format!(
                            "'{}' is not a score",
                            String::from_utf8_lossy(score)
                        ))
                    }
                    None => {}
                }
            }
            ValueData::SortedSet(scored)
        }
    };
    Ok(match strings.bad {
        Some(reason) => Read::Bad(reason),
        None => Read::Value(value),
    })
}

/// The string items of one reply; an item that is not a string is read
/// whole, stands in as empty and makes the reply bad.
struct Strings<'r, 'a> {
    replies: &'r mut Replies<'a>,
    bad: Option<String>,
    command: &'static str,
}

impl<'a> Strings<'_, 'a> {
    fn next(&mut self) -> Result<&'a [u8], ProtocolError> {
        let item = self.replies.next_item()?;
        if let Some(bytes) = item.bytes() {
            return Ok(bytes);
        }
        self.replies.skip_rest(item)?;
        if self.bad.is_none() {
            self.bad = Some(format!(
                "unexpected item in a {} reply: {item}",
                self.command
            ));
        }
        Ok(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(kind: KeyKind, reply: &[u8]) -> Read {
        let mut replies = Replies::new(reply);
        let read = read_value(&kind, &mut replies).expect("whole reply");
        assert!(replies.next_item().is_err(), "the reply is read to its end");
        read
    }

    fn value(kind: KeyKind, reply: &[u8]) -> ValueData {
        match read(kind, reply) {
            Read::Value(v) => v,
            Read::Bad(reason) => panic!("bad: {reason}"),
            _ => panic!("not a value"),
        }
    }

    #[test]
    fn reads_each_type_in_place() {
        assert_eq!(
            value(
                KeyKind::Hash,
                b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$0\r\n\r\n"
            ),
            ValueData::Hash(vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"".to_vec())
            ])
        );
        assert_eq!(
            value(KeyKind::Set, b"*1\r\n$3\r\nred\r\n"),
            ValueData::Set(vec![b"red".to_vec()])
        );
        assert_eq!(
            value(KeyKind::SortedSet, b"*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n"),
            ValueData::SortedSet(vec![(b"m".to_vec(), 1.5)])
        );
        assert_eq!(
            value(KeyKind::Json, b"$7\r\n{\"x\":1}\r\n"),
            ValueData::Json("{\"x\":1}".to_owned())
        );
    }

    #[test]
    fn empty_collections_are_missing_keys() {
        assert_eq!(value(KeyKind::Hash, b"*0\r\n"), ValueData::Missing);
        assert_eq!(value(KeyKind::Json, b"$-1\r\n"), ValueData::Missing);
    }

    #[test]
    fn a_bad_reply_is_read_whole_and_named() {
        assert!(matches!(
            read(KeyKind::Hash, b"-WRONGTYPE Operation against a key\r\n"),
            Read::WrongType
        ));
        let Read::Bad(reason) = read(KeyKind::Hash, b"*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n")
        else {
            panic!("an odd hash reply is bad");
        };
        assert!(reason.contains("odd"), "{reason}");
        let Read::Bad(reason) = read(
            KeyKind::SortedSet,
            b"*4\r\n$1\r\nm\r\n$1\r\nx\r\n$1\r\nn\r\n$1\r\n2\r\n",
        ) else {
            panic!("a score that is not a number is bad");
        };
        assert!(reason.contains("'x' is not a score"), "{reason}");
        let Read::Bad(reason) = read(KeyKind::Set, b"*2\r\n*1\r\n:1\r\n$1\r\na\r\n") else {
            panic!("a nested array is bad");
        };
        assert!(reason.contains("array of 1"), "{reason}");
    }
}
