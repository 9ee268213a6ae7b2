//! Reading a shard's job streams through a consumer group.
//!
//! One reader per shard, one consumer in each job stream's group: entries
//! are delivered in stream order, so per-key order holds. An entry leaves
//! the stream only after it was acknowledged, which the pipeline does after
//! the target committed; a restarted engine first reads its own pending
//! entries again.

use std::time::Duration;

use redis::aio::ConnectionLike;

use super::entry::Captured;
use super::error::SourceError;
use super::id::StreamId;
use super::resp::{Commands, Item, Replies};
use super::wire::WireConnection;

/// The consumer group wb reads every job stream with.
pub const GROUP: &str = "wb";
/// The consumer name within the group (one engine per shard).
pub const CONSUMER: &str = "wb-engine";

/// Entries read from one stream.
#[derive(Debug, Default)]
pub struct StreamRead {
    pub stream: String,
    pub entries: Vec<Captured>,
    /// Entries whose fields are not what the capture module writes, with
    /// the reason; they are acknowledged and dead-lettered, never retried.
    pub malformed: Vec<(StreamId, String)>,
    /// Pending entries that were trimmed away before they were processed.
    pub vanished: Vec<StreamId>,
}

impl StreamRead {
    /// The newest entry id read, of any kind; `None` when nothing was read.
    pub fn newest_id(&self) -> Option<StreamId> {
        let entries = self.entries.iter().map(|c| c.id);
        let malformed = self.malformed.iter().map(|(id, _)| *id);
        entries
            .chain(malformed)
            .chain(self.vanished.iter().copied())
            .max()
    }
}

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reply may take, beyond what a blocking read asks for.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one shard's primary.
pub struct ShardReader {
    con: WireConnection,
}

impl ShardReader {
    /// Connects to the shard's primary at `url`.
    pub async fn connect(url: &str) -> Result<ShardReader, SourceError> {
        let con = WireConnection::connect(url, CONNECT_TIMEOUT, RESPONSE_TIMEOUT).await?;
        Ok(ShardReader { con })
    }

    /// The connection, for reading values and writing the engine's own keys.
    pub fn connection(&mut self) -> &mut WireConnection {
        &mut self.con
    }

    /// This shard's stream of every job, from the capture module.
    pub async fn job_streams(&mut self) -> Result<Vec<String>, SourceError> {
        let mut command = Commands::new();
        command.push(&[b"WB.STREAMS"]);
        let mut replies = self.con.exchange(&command, Duration::ZERO).await?;
        let count = match replies.next_item()? {
            Item::Array(n) => n,
            other => return Err(SourceError::unexpected("WB.STREAMS", other)),
        };
        let mut streams = Vec::with_capacity(count);
        for _ in 0..count {
            match replies.next_item()? {
                Item::Bulk(name) => streams.push(String::from_utf8_lossy(name).into_owned()),
                other => return Err(SourceError::unexpected("WB.STREAMS", other)),
            }
        }
        Ok(streams)
    }

    /// Creates the consumer group if it is missing, reading from the start of
    /// the stream so that changes captured before the engine first ran are
    /// processed too.
    pub async fn ensure_group(&mut self, stream: &str) -> Result<(), SourceError> {
        let mut command = Commands::new();
        command.push(&[
            b"XGROUP",
            b"CREATE",
            stream.as_bytes(),
            GROUP.as_bytes(),
            b"0",
            b"MKSTREAM",
        ]);
        let mut replies = self.con.exchange(&command, Duration::ZERO).await?;
        match replies.next_item()? {
            Item::Simple(_) => Ok(()),
            Item::Error(e) if e.starts_with(b"BUSYGROUP") => Ok(()),
            other => Err(SourceError::unexpected("XGROUP CREATE", other)),
        }
    }

    /// Entries delivered to this consumer before and not acknowledged (a
    /// crash or a failed batch), oldest first, at most `count`.
    pub async fn read_pending(
        &mut self,
        stream: &str,
        count: usize,
    ) -> Result<StreamRead, SourceError> {
        self.read_pending_after(stream, StreamId::ZERO, count).await
    }

    /// Pending entries newer than `after`, oldest first, at most `count`:
    /// how pending entries are walked while earlier ones, read but not yet
    /// acknowledged, are still in flight.
    pub async fn read_pending_after(
        &mut self,
        stream: &str,
        after: StreamId,
        count: usize,
    ) -> Result<StreamRead, SourceError> {
        let (count, after) = (count.to_string(), after.to_string());
        let mut args = group_read(&count);
        args.extend([b"STREAMS".as_slice(), stream.as_bytes(), after.as_bytes()]);
        let mut command = Commands::new();
        command.push(&args);
        let mut replies = self.con.exchange(&command, Duration::ZERO).await?;
        let mut reads = parse_read_reply(&mut replies)?;
        Ok(reads.pop().unwrap_or_else(|| StreamRead {
            stream: stream.to_owned(),
            ..StreamRead::default()
        }))
    }

    /// New entries of any of `streams`, at most `count` from each, waiting up
    /// to `block` for the first one to arrive. Returns as soon as anything
    /// has arrived: a batch is what is there, with no added wait.
    pub async fn read_new(
        &mut self,
        streams: &[String],
        count: usize,
        block: Duration,
    ) -> Result<Vec<StreamRead>, SourceError> {
        if streams.is_empty() {
            tokio::time::sleep(block).await;
            return Ok(Vec::new());
        }
        let (count, millis) = (count.to_string(), block.as_millis().to_string());
        let mut args = group_read(&count);
        args.extend([b"BLOCK".as_slice(), millis.as_bytes(), b"STREAMS"]);
        args.extend(streams.iter().map(|s| s.as_bytes()));
        args.extend(streams.iter().map(|_| b">".as_slice()));
        let mut command = Commands::new();
        command.push(&args);
        let mut replies = self.con.exchange(&command, block).await?;
        parse_read_reply(&mut replies)
    }

    /// Acknowledges `ids` and trims the stream (see [`acknowledge`]).
    pub async fn acknowledge(&mut self, stream: &str, ids: &[StreamId]) -> Result<(), SourceError> {
        acknowledge(&mut self.con, stream, ids).await
    }
}

/// The start of this consumer's XREADGROUP, reading at most `count`.
fn group_read(count: &str) -> Vec<&[u8]> {
    vec![
        b"XREADGROUP",
        b"GROUP",
        GROUP.as_bytes(),
        CONSUMER.as_bytes(),
        b"COUNT",
        count.as_bytes(),
    ]
}

/// Acknowledges `ids` of `stream` over `con` and trims the stream up to the
/// newest of them, in one round trip.
///
/// Trimming there is safe because batches are acknowledged in stream order:
/// pending entries are walked oldest first before any new ones are read,
/// and the writer takes batches in the order they were read, so every entry
/// older than the newest of `ids` is acknowledged by now, and a batch read
/// later (possibly in flight) only holds newer ones. `MINID ~` trims whole
/// stream nodes only, which is cheap; the rest goes with a later batch.
pub async fn acknowledge<C: ConnectionLike>(
    con: &mut C,
    stream: &str,
    ids: &[StreamId],
) -> Result<(), SourceError> {
    let Some(newest) = ids.iter().max().copied() else {
        return Ok(());
    };
    let mut pipe = redis::pipe();
    for chunk in ids.chunks(1000) {
        pipe.cmd("XACK").arg(stream).arg(GROUP);
        for id in chunk {
            pipe.arg(id.to_string());
        }
        pipe.ignore();
    }
    pipe.cmd("XTRIM")
        .arg(stream)
        .arg("MINID")
        .arg("~")
        .arg(newest.next().to_string())
        .ignore();
    let () = pipe.query_async(con).await?;
    Ok(())
}

/// Parses an XREADGROUP reply: nil when the block timed out, else an
/// array of `[stream, [[id, [field, value, ...]], ...]]`.
fn parse_read_reply<'a>(replies: &mut Replies<'a>) -> Result<Vec<StreamRead>, SourceError> {
    const READ: &str = "XREADGROUP";
    let streams = match replies.next_item()? {
        Item::Nil => return Ok(Vec::new()),
        Item::Array(n) => n,
        other => return Err(SourceError::unexpected(READ, other)),
    };
    let mut reads = Vec::with_capacity(streams);
    let mut fields = Vec::new();
    for _ in 0..streams {
        if replies.next_item()? != Item::Array(2) {
            return Err(SourceError::Reply {
                command: READ,
                reply: "a stream that is not a name and its entries".to_owned(),
            });
        }
        let stream = match replies.next_item()? {
            Item::Bulk(name) => String::from_utf8_lossy(name).into_owned(),
            other => return Err(SourceError::unexpected(READ, other)),
        };
        let entries = match replies.next_item()? {
            Item::Array(n) => n,
            other => return Err(SourceError::unexpected(READ, other)),
        };
        let mut read = StreamRead {
            stream,
            entries: Vec::with_capacity(entries),
            ..StreamRead::default()
        };
        for _ in 0..entries {
            parse_entry(replies, &mut read, &mut fields)?;
        }
        reads.push(read);
    }
    Ok(reads)
}

/// One entry, `[id, [field, value, ...]]`, or `[id, nil]` for a pending
/// entry deleted from the stream before it was processed.
/// `fields` is scratch space, reused from one entry to the next.
fn parse_entry<'a>(
    replies: &mut Replies<'a>,
    read: &mut StreamRead,
    fields: &mut Vec<(&'a [u8], &'a [u8])>,
) -> Result<(), SourceError> {
    const ENTRY: &str = "XREADGROUP entry";
    if replies.next_item()? != Item::Array(2) {
        return Err(SourceError::Reply {
            command: ENTRY,
            reply: "an entry that is not an id and its fields".to_owned(),
        });
    }
    let id_item = replies.next_item()?;
    let id: StreamId = id_item
        .bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| SourceError::unexpected(ENTRY, id_item))?;
    let count = match replies.next_item()? {
        Item::Nil => {
            read.vanished.push(id);
            return Ok(());
        }
        Item::Array(n) => n,
        other => return Err(SourceError::unexpected(ENTRY, other)),
    };
    fields.clear();
    let mut not_text = false;
    let mut items = 0;
    while items < count {
        let field = replies.next_item()?;
        items += 1;
        let value = if items < count {
            items += 1;
            replies.next_item()?
        } else {
            Item::Nil
        };
        for item in [field, value] {
            if let Item::Array(_) = item {
                replies.skip_rest(item)?;
            }
        }
        match (field, value) {
            (Item::Bulk(f), Item::Bulk(v)) => fields.push((f, v)),
            _ => not_text = true,
        }
    }
    if not_text {
        read.malformed
            .push((id, "a field or value is not a string".to_owned()));
        return Ok(());
    }
    match Captured::from_fields(id, fields) {
        Some(captured) => read.entries.push(captured),
        None => read
            .malformed
            .push((id, "missing the key, event or type field".to_owned())),
    }
    Ok(())
}
