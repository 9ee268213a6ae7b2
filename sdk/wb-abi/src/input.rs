//! The batch going into a transform: owned changes on the engine side, the
//! packed encoding, and the reader a guest decodes it with.
//!
//! Layout: `u32 count`, then per change `bytes key, str event, str stream_id,
//! u8 value tag, value`; see `wit/README.md`.

use crate::change::{
    read_change, Change, VALUE_HASH, VALUE_JSON, VALUE_MISSING, VALUE_SET, VALUE_SORTED_SET,
};
use crate::wire::{put_bytes, put_f64, put_len, put_u8, DecodeError, Reader};

/// An owned change, as the engine builds it from what it read in Redis.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeData {
    pub key: Vec<u8>,
    pub event: String,
    pub stream_id: String,
    pub value: ValueData,
}

/// An owned Redis value.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueData {
    Missing,
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Json(String),
    Set(Vec<Vec<u8>>),
    SortedSet(Vec<(Vec<u8>, f64)>),
}

/// Encodes changes into one packed batch buffer.
pub fn encode_changes(changes: &[ChangeData]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4 + changes.iter().map(encoded_len).sum::<usize>());
    put_len(&mut buf, changes.len());
    for change in changes {
        put_bytes(&mut buf, &change.key);
        put_bytes(&mut buf, change.event.as_bytes());
        put_bytes(&mut buf, change.stream_id.as_bytes());
        match &change.value {
            ValueData::Missing => put_u8(&mut buf, VALUE_MISSING),
            ValueData::Hash(pairs) => {
                put_u8(&mut buf, VALUE_HASH);
                put_len(&mut buf, pairs.len());
                for (field, value) in pairs {
                    put_bytes(&mut buf, field);
                    put_bytes(&mut buf, value);
                }
            }
            ValueData::Json(text) => {
                put_u8(&mut buf, VALUE_JSON);
                put_bytes(&mut buf, text.as_bytes());
            }
            ValueData::Set(members) => {
                put_u8(&mut buf, VALUE_SET);
                put_len(&mut buf, members.len());
                for member in members {
                    put_bytes(&mut buf, member);
                }
            }
            ValueData::SortedSet(members) => {
                put_u8(&mut buf, VALUE_SORTED_SET);
                put_len(&mut buf, members.len());
                for (member, score) in members {
                    put_bytes(&mut buf, member);
                    put_f64(&mut buf, *score);
                }
            }
        }
    }
    buf
}

/// Exact encoded size, so the buffer is allocated once.
fn encoded_len(change: &ChangeData) -> usize {
    let value = match &change.value {
        ValueData::Missing => 0,
        ValueData::Hash(pairs) => {
            4 + pairs
                .iter()
                .map(|(f, v)| 8 + f.len() + v.len())
                .sum::<usize>()
        }
        ValueData::Json(text) => 4 + text.len(),
        ValueData::Set(members) => 4 + members.iter().map(|m| 4 + m.len()).sum::<usize>(),
        ValueData::SortedSet(members) => {
            4 + members.iter().map(|(m, _)| 12 + m.len()).sum::<usize>()
        }
    };
    12 + change.key.len() + change.event.len() + change.stream_id.len() + 1 + value
}

/// Decodes a packed batch one change at a time.
pub struct BatchReader<'a> {
    reader: Reader<'a>,
    remaining: usize,
}

impl<'a> BatchReader<'a> {
    /// Reads the batch header.
    pub fn new(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(buf);
        let remaining = reader.u32("change count")? as usize;
        Ok(BatchReader { reader, remaining })
    }

    /// Changes not yet read.
    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

impl<'a> Iterator for BatchReader<'a> {
    type Item = Result<Change<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let item = read_change(&mut self.reader);
        if item.is_err() {
            // Nothing after a malformed change can be trusted.
            self.remaining = 0;
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn sample() -> Vec<ChangeData> {
        vec![
            ChangeData {
                key: b"user:42".to_vec(),
                event: "hset".into(),
                stream_id: "1-0".into(),
                value: ValueData::Hash(vec![
                    (b"name".to_vec(), b"Ada".to_vec()),
                    (b"raw".to_vec(), vec![0xff, 0x00]),
                ]),
            },
            ChangeData {
                key: b"doc:1".to_vec(),
                event: "json.set".into(),
                stream_id: "1-1".into(),
                value: ValueData::Json(r#"{"a":1}"#.into()),
            },
            ChangeData {
                key: b"tags:1".to_vec(),
                event: "sadd".into(),
                stream_id: "1-2".into(),
                value: ValueData::Set(vec![b"x".to_vec(), b"y".to_vec()]),
            },
            ChangeData {
                key: b"rank".to_vec(),
                event: "zadd".into(),
                stream_id: "1-3".into(),
                value: ValueData::SortedSet(vec![(b"m".to_vec(), 2.5)]),
            },
            ChangeData {
                key: b"gone".to_vec(),
                event: "del".into(),
                stream_id: "1-4".into(),
                value: ValueData::Missing,
            },
        ]
    }

    #[test]
    fn every_value_kind_round_trips() {
        let changes = sample();
        let buf = encode_changes(&changes);
        let decoded: Vec<_> = BatchReader::new(&buf)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(decoded.len(), 5);
        assert_eq!(decoded[0].key_part(1), Some("42"));
        assert_eq!(decoded[0].field_str("name"), Some("Ada"));
        assert_eq!(decoded[0].field("raw"), Some(&[0xff, 0x00][..]));
        assert_eq!(decoded[0].field_str("raw"), None);
        assert_eq!(decoded[1].json(), Some(r#"{"a":1}"#));
        match &decoded[2].value {
            Value::Set(m) => assert_eq!(m.iter().collect::<Vec<_>>(), vec![b"x", b"y"]),
            other => panic!("expected a set, got {other:?}"),
        }
        match &decoded[3].value {
            Value::SortedSet(m) => assert_eq!(m.iter().collect::<Vec<_>>(), vec![(&b"m"[..], 2.5)]),
            other => panic!("expected a sorted set, got {other:?}"),
        }
        assert!(decoded[4].is_missing());
        assert_eq!(decoded[4].stream_id, "1-4");
    }

    #[test]
    fn encoded_len_is_exact() {
        let changes = sample();
        let buf = encode_changes(&changes);
        assert_eq!(
            buf.len(),
            4 + changes.iter().map(encoded_len).sum::<usize>()
        );
    }

    #[test]
    fn a_truncated_batch_stops_with_an_error() {
        let buf = encode_changes(&sample());
        let cut = &buf[..buf.len() - 3];
        let results: Vec<_> = BatchReader::new(cut).unwrap().collect();
        assert!(results[..4].iter().all(Result::is_ok));
        assert!(results[4].is_err());
    }
}
