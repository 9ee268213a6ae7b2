//! Coalescing a batch of stream entries by key.
//!
//! Entries carry the key, not the value: the engine reads each key's
//! current value once per batch, so several changes to one key in a batch
//! become one. What is kept for a key is its latest entry; every entry is
//! still acknowledged.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::entry::Captured;
use super::id::StreamId;

/// A batch reduced to one change per key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Coalesced {
    /// The latest flush in the batch, if any: every key was gone at that
    /// point, so the entries before it need no processing of their own and
    /// the target must be emptied before `changes` are applied.
    pub flush: Option<StreamId>,
    /// The latest entry of each key changed after the flush (or in the whole
    /// batch), in stream order.
    pub changes: Vec<Captured>,
    /// Every entry of the batch, processed or superseded, to acknowledge.
    pub ids: Vec<StreamId>,
}

/// Reduces `entries` (in stream order) to one change per key.
pub fn coalesce(entries: Vec<Captured>) -> Coalesced {
    let ids: Vec<StreamId> = entries.iter().map(|e| e.id).collect();
    let flush_at = entries.iter().rposition(Captured::is_flush);
    let flush = flush_at.map(|at| entries[at].id);
    let start = flush_at.map_or(0, |at| at + 1);
    // A fast hasher: keys are short and a batch is small.
    let mut latest: HashMap<&[u8], usize, RandomState> =
        HashMap::with_capacity_and_hasher(entries.len() - start, RandomState::default());
    for (index, entry) in entries.iter().enumerate().skip(start) {
        latest.insert(entry.key.as_slice(), index);
    }
    let mut keep: Vec<usize> = latest.into_values().collect();
    keep.sort_unstable();
    let mut entries: Vec<Option<Captured>> = entries.into_iter().map(Some).collect();
    let changes = keep
        .into_iter()
        .filter_map(|index| entries[index].take())
        .collect();
    Coalesced {
        flush,
        changes,
        ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::entry::KeyKind;

    fn entry(seq: u64, key: &str, event: &str, kind: KeyKind) -> Captured {
        Captured {
            id: StreamId { ms: 1, seq },
            key: key.as_bytes().to_vec(),
            event: event.to_owned(),
            kind,
        }
    }

    #[test]
    fn keeps_the_latest_change_of_each_key_in_stream_order() {
        let batch = vec![
            entry(1, "user:1", "hset", KeyKind::Hash),
            entry(2, "user:2", "hset", KeyKind::Hash),
            entry(3, "user:1", "del", KeyKind::None),
            entry(4, "user:3", "sadd", KeyKind::Set),
            entry(5, "user:1", "hset", KeyKind::Hash),
        ];
        let out = coalesce(batch);
        let kept: Vec<(u64, &str)> = out
            .changes
            .iter()
            .map(|c| (c.id.seq, std::str::from_utf8(&c.key).unwrap_or("?")))
            .collect();
        assert_eq!(kept, vec![(2, "user:2"), (4, "user:3"), (5, "user:1")]);
        assert_eq!(out.ids.len(), 5);
        assert_eq!(out.flush, None);
    }

    #[test]
    fn a_flush_supersedes_what_came_before_it() {
        let batch = vec![
            entry(1, "user:1", "hset", KeyKind::Hash),
            entry(2, "", "flush", KeyKind::None),
            entry(3, "user:2", "hset", KeyKind::Hash),
            entry(4, "", "flush", KeyKind::None),
            entry(5, "user:3", "zadd", KeyKind::SortedSet),
        ];
        let out = coalesce(batch);
        assert_eq!(out.flush, Some(StreamId { ms: 1, seq: 4 }));
        assert_eq!(out.changes.len(), 1);
        assert_eq!(out.changes[0].key, b"user:3");
        assert_eq!(out.ids.len(), 5);
    }

    #[test]
    fn empty_batch() {
        assert_eq!(coalesce(Vec::new()), Coalesced::default());
    }
}
