//! Borrowed views of changes decoded from a packed batch.
//!
//! Decoding checks the whole layout once and then hands out views that point
//! into the batch buffer, so reading a change allocates nothing; collection
//! values are walked lazily by their iterators.

use crate::wire::{DecodeError, Reader};

/// One captured change, borrowed from the batch buffer.
#[derive(Clone, Debug)]
pub struct Change<'a> {
    /// The Redis key (binary-safe).
    pub key: &'a [u8],
    /// The keyspace event, e.g. `hset`, `del`, `expired`.
    pub event: &'a str,
    /// Id of the stream entry that carried the change.
    pub stream_id: &'a str,
    /// The key's value when the engine read it.
    pub value: Value<'a>,
}

/// The value of a key.
#[derive(Clone, Debug)]
pub enum Value<'a> {
    /// The key does not exist any more.
    Missing,
    /// Hash field/value pairs.
    Hash(Pairs<'a>),
    /// RedisJSON document text.
    Json(&'a str),
    /// Set members.
    Set(Members<'a>),
    /// Sorted-set members and scores.
    SortedSet(Scored<'a>),
}

pub(crate) const VALUE_MISSING: u8 = 0;
pub(crate) const VALUE_HASH: u8 = 1;
pub(crate) const VALUE_JSON: u8 = 2;
pub(crate) const VALUE_SET: u8 = 3;
/// The event of a flush change (see [`Change::is_flush`]).
pub const FLUSH_EVENT: &str = "flush";
pub(crate) const VALUE_SORTED_SET: u8 = 4;

impl<'a> Change<'a> {
    /// The key as text, if it is UTF-8.
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key).ok()
    }

    /// Segment `n` (0-based) of the key split on `:`, as text: for
    /// `user:42:profile`, `key_part(1)` is `42`.
    pub fn key_part(&self, n: usize) -> Option<&'a str> {
        self.key_str()?.split(':').nth(n)
    }

    /// True when the key no longer exists: the change should become deletes.
    pub fn is_missing(&self) -> bool {
        matches!(self.value, Value::Missing)
    }

    /// True for the change the engine passes when the database was flushed
    /// (FLUSHALL, FLUSHDB): event `flush`, no key, value missing. Every key
    /// of the job is gone, so its tables should be emptied.
    pub fn is_flush(&self) -> bool {
        self.event == FLUSH_EVENT && self.key.is_empty()
    }

    /// The raw value of hash field `name`; `None` if the value is not a hash
    /// or has no such field.
    pub fn field(&self, name: &str) -> Option<&'a [u8]> {
        match &self.value {
            Value::Hash(pairs) => pairs.get(name.as_bytes()),
            _ => None,
        }
    }

    /// Hash field `name` as text; `None` if absent or not UTF-8.
    pub fn field_str(&self, name: &str) -> Option<&'a str> {
        std::str::from_utf8(self.field(name)?).ok()
    }

    /// The JSON document, if the value is one.
    pub fn json(&self) -> Option<&'a str> {
        match self.value {
            Value::Json(text) => Some(text),
            _ => None,
        }
    }
}

/// Field/value pairs of a hash, walked lazily.
#[derive(Clone, Copy, Debug)]
pub struct Pairs<'a> {
    raw: &'a [u8],
    len: usize,
}

impl<'a> Pairs<'a> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a hash with no fields.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterates `(field, value)` in Redis's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let mut r = Reader::new(self.raw);
        (0..self.len).map_while(move |_| Some((r.bytes("").ok()?, r.bytes("").ok()?)))
    }

    /// The value of `field`, if present.
    ///
    /// This is the hot path of most mappings (one call per column), so it
    /// walks the length prefixes directly and compares lengths before bytes.
    pub fn get(&self, field: &[u8]) -> Option<&'a [u8]> {
        self.get_after(field, 0).map(|(value, _)| value)
    }

    /// [`Pairs::get`] for callers that read fields in about the order they
    /// are stored (a mapping's columns): the search starts at byte offset
    /// `start` and wraps around. `start` must be 0 or an offset this method
    /// returned for the same pairs; it returns the value and the offset of
    /// the pair after it.
    pub fn get_after(&self, field: &[u8], start: usize) -> Option<(&'a [u8], usize)> {
        let raw = self.raw;
        let start = if start >= raw.len() { 0 } else { start };
        self.scan(field, start, raw.len())
            .or_else(|| self.scan(field, 0, start))
    }

    /// Looks for `field` among the pairs stored from byte `from` up to
    /// byte `to`.
    fn scan(&self, field: &[u8], from: usize, to: usize) -> Option<(&'a [u8], usize)> {
        let raw = self.raw;
        let mut at = from;
        while at < to {
            let name_len = len_at(raw, at)?;
            let name_start = at + 4;
            let value_at = name_start + name_len;
            let value_len = len_at(raw, value_at)?;
            let value_start = value_at + 4;
            at = value_start + value_len;
            if name_len == field.len() && raw.get(name_start..value_at)? == field {
                return Some((raw.get(value_start..at)?, at));
            }
        }
        None
    }
}

/// The u32 length prefix at `at`, if the buffer holds one there.
fn len_at(raw: &[u8], at: usize) -> Option<usize> {
    let bytes = raw.get(at..at.checked_add(4)?)?;
    let mut prefix = [0u8; 4];
    prefix.copy_from_slice(bytes);
    Some(u32::from_le_bytes(prefix) as usize)
}

/// Members of a set, walked lazily.
#[derive(Clone, Copy, Debug)]
pub struct Members<'a> {
    raw: &'a [u8],
    len: usize,
}

impl<'a> Members<'a> {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty set.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterates the members.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut r = Reader::new(self.raw);
        (0..self.len).map_while(move |_| r.bytes("").ok())
    }
}

/// Members of a sorted set with their scores, walked lazily.
#[derive(Clone, Copy, Debug)]
pub struct Scored<'a> {
    raw: &'a [u8],
    len: usize,
}

impl<'a> Scored<'a> {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty sorted set.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterates `(member, score)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], f64)> + 'a {
        let mut r = Reader::new(self.raw);
        (0..self.len).map_while(move |_| Some((r.bytes("").ok()?, r.f64("").ok()?)))
    }
}

/// Reads one change, checking every length so the views' iterators can
/// never run off the buffer.
pub(crate) fn read_change<'a>(r: &mut Reader<'a>) -> Result<Change<'a>, DecodeError> {
    let key = r.bytes("key")?;
    let event = r.str("event")?;
    let stream_id = r.str("stream id")?;
    let value = match r.u8("value tag")? {
        VALUE_MISSING => Value::Missing,
        VALUE_HASH => {
            let len = r.u32("hash length")? as usize;
            let start = r.pos();
            for _ in 0..len {
                r.bytes("hash field")?;
                r.bytes("hash value")?;
            }
            Value::Hash(Pairs {
                raw: r.since(start),
                len,
            })
        }
        VALUE_JSON => Value::Json(r.str("json text")?),
        VALUE_SET => {
            let len = r.u32("set length")? as usize;
            let start = r.pos();
            for _ in 0..len {
                r.bytes("set member")?;
            }
            Value::Set(Members {
                raw: r.since(start),
                len,
            })
        }
        VALUE_SORTED_SET => {
            let len = r.u32("sorted set length")? as usize;
            let start = r.pos();
            for _ in 0..len {
                r.bytes("sorted set member")?;
                r.f64("sorted set score")?;
            }
            Value::SortedSet(Scored {
                raw: r.since(start),
                len,
            })
        }
        _ => return Err(r.err("value tag 0-4")),
    };
    Ok(Change {
        key,
        event,
        stream_id,
        value,
    })
}

#[cfg(test)]
mod tests {
    use crate::{encode_changes, BatchReader, ChangeData, Value, ValueData};

    #[test]
    fn lookups_from_a_hint_wrap_around() {
        let buf = encode_changes(&[ChangeData {
            key: b"h:1".to_vec(),
            event: "hset".into(),
            stream_id: "1-0".into(),
            value: ValueData::Hash(vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"bb".to_vec(), b"2".to_vec()),
                (b"c".to_vec(), b"3".to_vec()),
            ]),
        }]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let Value::Hash(pairs) = change.value else {
            panic!("a hash")
        };
        let (b, after_b) = pairs.get_after(b"bb", 0).unwrap();
        assert_eq!(b, b"2");
        // In order from the hint, and back to the start past the end.
        let (c, after_c) = pairs.get_after(b"c", after_b).unwrap();
        assert_eq!(c, b"3");
        assert_eq!(
            pairs.get_after(b"a", after_c).map(|(v, _)| v),
            Some(&b"1"[..])
        );
        assert_eq!(
            pairs.get_after(b"a", after_b).map(|(v, _)| v),
            Some(&b"1"[..])
        );
        assert_eq!(pairs.get_after(b"zz", after_b), None);
        assert_eq!(pairs.get(b"c"), Some(&b"3"[..]));
    }
}
