//! `wb-engine trace`: the changes a job's engine will process next and the
//! row ops it will make of them, without writing or acknowledging
//! anything.
//!
//! The stream is read with `XRANGE`, never through the consumer group, so
//! nothing is delivered, taken or acknowledged; the values are read and
//! transformed by [`crate::pipeline::prepare`], the function the engine's
//! batches go through, so what `trace` shows is what `run` would do with
//! the values as they are now.

use redis::aio::ConnectionLike;
use redis::Value;

use super::entries::{range, Direction, RawEntry};
use super::naming::JobStream;
use crate::source::{key_kinds, Captured, SourceError, StreamId, StreamRead, GROUP};

/// The event of a change `trace --key` makes up for a key that has no
/// entry in the stream: what a change to the key would do now.
pub const TRACE_EVENT: &str = "trace";

/// Where the engine is in a job's stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Entries in the stream (processed ones are trimmed, a few at a time).
    pub length: usize,
    /// Whether the engine's consumer group exists (it has run at least once).
    pub group: bool,
    /// Entries the engine has read but not acknowledged yet (in flight, or
    /// left by an engine that stopped).
    pub pending: usize,
    /// The newest entry the engine has read.
    pub last_delivered: Option<StreamId>,
    /// The oldest entry not acknowledged.
    pub first_pending: Option<StreamId>,
}

impl Position {
    /// Whether the engine has read `id` already (it is pending).
    pub fn is_delivered(&self, id: StreamId) -> bool {
        self.last_delivered.is_some_and(|last| id <= last)
    }

    /// The XRANGE start of the unprocessed entries: the oldest pending one,
    /// or the first after the last delivered one, or the stream's start.
    fn start(&self) -> String {
        match (self.first_pending, self.last_delivered) {
            (Some(first), _) => first.to_string(),
            (None, Some(last)) => format!("({last}"),
            (None, None) => "-".to_owned(),
        }
    }
}

/// Where the engine's consumer group is in `stream`.
pub async fn position<C: ConnectionLike>(
    con: &mut C,
    stream: &str,
) -> Result<Position, SourceError> {
    let length: usize = redis::cmd("XLEN").arg(stream).query_async(con).await?;
    let mut position = Position {
        length,
        ..Position::default()
    };
    if length == 0 {
        return Ok(position);
    }
    // The stream exists (it has entries), so XINFO has something to say.
    let groups: Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(con)
        .await?;
    let Value::Array(groups) = groups else {
        return Ok(position);
    };
    for group in groups {
        let fields = pairs(group);
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        if field("name").and_then(text).as_deref() != Some(GROUP) {
            continue;
        }
        position.group = true;
        position.pending = match field("pending") {
            Some(Value::Int(n)) => usize::try_from(*n).unwrap_or(0),
            _ => 0,
        };
        position.last_delivered = field("last-delivered-id")
            .and_then(text)
            .and_then(|t| t.parse().ok())
            .filter(|id| *id != StreamId::ZERO);
    }
    if position.pending > 0 {
        let summary: Value = redis::cmd("XPENDING")
            .arg(stream)
            .arg(GROUP)
            .query_async(con)
            .await?;
        if let Value::Array(parts) = summary {
            position.first_pending = parts.get(1).and_then(text).and_then(|t| t.parse().ok());
        }
    }
    Ok(position)
}

/// The next `count` entries the engine has not acknowledged, oldest first,
/// as a read of `stream`: pending ones (read, not yet acknowledged) and
/// then the ones it has not read.
pub async fn unprocessed<C: ConnectionLike>(
    con: &mut C,
    stream: &JobStream,
    position: &Position,
    count: usize,
) -> Result<StreamRead, SourceError> {
    let name = stream.stream();
    let entries = range(
        con,
        &name,
        Direction::Forward,
        &position.start(),
        "+",
        Some(count),
    )
    .await?;
    Ok(to_read(name, entries))
}

/// The newest entry of `key` among the last `limit` entries of `stream`,
/// as a read of its own; `None` if there is none.
pub async fn latest_of_key<C: ConnectionLike>(
    con: &mut C,
    stream: &JobStream,
    key: &[u8],
    limit: usize,
) -> Result<Option<StreamRead>, SourceError> {
    const PAGE: usize = 1000;
    let name = stream.stream();
    let mut end = "+".to_owned();
    let mut seen = 0;
    while seen < limit {
        let page = range(
            con,
            &name,
            Direction::Backward,
            "-",
            &end,
            Some(PAGE.min(limit - seen)),
        )
        .await?;
        let Some(oldest) = page.last().map(|e| e.id) else {
            break;
        };
        seen += page.len();
        if let Some(entry) = page.into_iter().find(|e| e.field("key") == Some(key)) {
            return Ok(Some(to_read(name, vec![entry])));
        }
        end = format!("({oldest}");
    }
    Ok(None)
}

/// A made-up change of `key` (event [`TRACE_EVENT`], its type now), for a
/// key with no entry in the stream.
pub async fn key_now<C: ConnectionLike>(
    con: &mut C,
    stream: &JobStream,
    key: &[u8],
) -> Result<StreamRead, SourceError> {
    let kind = key_kinds(con, &[key])
        .await?
        .pop()
        .ok_or_else(|| SourceError::reply("TYPE", &Value::Nil))?;
    Ok(StreamRead {
        stream: stream.stream(),
        entries: vec![Captured {
            id: StreamId::ZERO,
            key: key.to_vec(),
            event: TRACE_EVENT.to_owned(),
            kind,
        }],
        ..StreamRead::default()
    })
}

/// Entries as a read: those that are not what the capture module writes
/// are listed as malformed, as the engine's reader does.
fn to_read(stream: String, entries: Vec<RawEntry>) -> StreamRead {
    let mut read = StreamRead {
        stream,
        ..StreamRead::default()
    };
    for entry in entries {
        match Captured::from_fields(entry.id, &entry.fields) {
            Some(captured) => read.entries.push(captured),
            None => read
                .malformed
                .push((entry.id, "missing the key, event or type field".to_owned())),
        }
    }
    read
}

/// A reply's field/value pairs (RESP2 flat array or RESP3 map).
fn pairs(reply: Value) -> Vec<(String, Value)> {
    let items: Vec<(Value, Value)> = match reply {
        Value::Map(map) => map,
        Value::Array(flat) => {
            let mut out = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                out.push((f, v));
            }
            out
        }
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|(f, v)| Some((text(&f)?, v)))
        .collect()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprocessed_entries_start_at_the_oldest_pending_one() {
        let id = |seq| StreamId { ms: 7, seq };
        let mut p = Position::default();
        assert_eq!(p.start(), "-");
        p.last_delivered = Some(id(4));
        assert_eq!(p.start(), "(7-4");
        assert!(p.is_delivered(id(4)) && !p.is_delivered(id(5)));
        p.first_pending = Some(id(2));
        assert_eq!(p.start(), "7-2");
    }
}
