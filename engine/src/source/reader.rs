//! Reading a shard's job streams through a consumer group.
//!
//! One reader per shard, one consumer in each job stream's group: entries
//! are delivered in stream order, so per-key order holds. An entry leaves
//! the stream only after it was acknowledged, which the pipeline does after
//! the target committed; a restarted engine first reads its own pending
//! entries again.

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Value};

use super::entry::Captured;
use super::error::SourceError;
use super::id::StreamId;

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

/// A connection to one shard's primary.
pub struct ShardReader {
    con: MultiplexedConnection,
}

impl ShardReader {
    /// Connects; `block` is the longest a read waits for new entries.
    pub async fn connect(url: &str, block: Duration) -> Result<ShardReader, SourceError> {
        let client = redis::Client::open(url)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(block + Duration::from_secs(10));
        let con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        Ok(ShardReader { con })
    }

    /// The connection, for reading values and writing the engine's own keys.
    pub fn connection(&mut self) -> &mut MultiplexedConnection {
        &mut self.con
    }

    /// This shard's stream of every job, from the capture module.
    pub async fn job_streams(&mut self) -> Result<Vec<String>, SourceError> {
        Ok(redis::cmd("WB.STREAMS").query_async(&mut self.con).await?)
    }

    /// Creates the consumer group if it is missing, reading from the start of
    /// the stream so that changes captured before the engine first ran are
    /// processed too.
    pub async fn ensure_group(&mut self, stream: &str) -> Result<(), SourceError> {
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.con)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
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
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(CONSUMER)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(stream)
            .arg(after.to_string())
            .query_async(&mut self.con)
            .await?;
        let mut reads = parse_read_reply(reply)?;
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
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(CONSUMER)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX))
            .arg("STREAMS")
            .arg(streams);
        for _ in streams {
            cmd.arg(">");
        }
        let reply: Value = cmd.query_async(&mut self.con).await?;
        parse_read_reply(reply)
    }

    /// Acknowledges `ids` and trims the stream (see [`acknowledge`]).
    pub async fn acknowledge(&mut self, stream: &str, ids: &[StreamId]) -> Result<(), SourceError> {
        acknowledge(&mut self.con, stream, ids).await
    }
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

/// Parses an XREADGROUP reply (RESP2 array or RESP3 map; nil when the block
/// timed out).
fn parse_read_reply(reply: Value) -> Result<Vec<StreamRead>, SourceError> {
    let per_stream: Vec<(Value, Value)> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(streams) => streams,
        Value::Array(streams) => streams
            .into_iter()
            .map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => {
                    let entries = pair.pop().unwrap_or(Value::Nil);
                    let name = pair.pop().unwrap_or(Value::Nil);
                    Ok((name, entries))
                }
                other => Err(SourceError::reply("XREADGROUP", &other)),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(SourceError::reply("XREADGROUP", &other)),
    };
    per_stream
        .into_iter()
        .map(|(name, entries)| {
            let stream = match &name {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::SimpleString(s) => s.clone(),
                other => return Err(SourceError::reply("XREADGROUP", other)),
            };
            let Value::Array(entries) = entries else {
                return Err(SourceError::reply("XREADGROUP", &entries));
            };
            let mut read = StreamRead {
                stream,
                ..StreamRead::default()
            };
            for entry in entries {
                parse_entry(entry, &mut read)?;
            }
            Ok(read)
        })
        .collect()
}

fn parse_entry(entry: Value, read: &mut StreamRead) -> Result<(), SourceError> {
    let Value::Array(mut parts) = entry else {
        return Err(SourceError::reply("XREADGROUP entry", &entry));
    };
    if parts.len() != 2 {
        return Err(SourceError::reply("XREADGROUP entry", &Value::Array(parts)));
    }
    let fields = parts.pop().unwrap_or(Value::Nil);
    let id_value = parts.pop().unwrap_or(Value::Nil);
    let id_text = match &id_value {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => return Err(SourceError::reply("XREADGROUP entry id", other)),
    };
    let id: StreamId = id_text
        .parse()
        .map_err(|_| SourceError::reply("XREADGROUP entry id", &id_value))?;
    let raw_pairs: Vec<(Value, Value)> = match fields {
        // A pending entry that was deleted from the stream before it was
        // processed: nothing left to process.
        Value::Nil => {
            read.vanished.push(id);
            return Ok(());
        }
        Value::Array(flat) => {
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                pairs.push((f, v));
            }
            pairs
        }
        Value::Map(map) => map,
        other => return Err(SourceError::reply("XREADGROUP entry fields", &other)),
    };
    let mut pairs = Vec::with_capacity(raw_pairs.len());
    for pair in raw_pairs {
        match pair {
            (Value::BulkString(f), Value::BulkString(v)) => pairs.push((f, v)),
            _ => {
                read.malformed
                    .push((id, "a field or value is not a string".to_owned()));
                return Ok(());
            }
        }
    }
    match Captured::from_fields(id, &pairs) {
        Some(captured) => read.entries.push(captured),
        None => read
            .malformed
            .push((id, "missing the key, event or type field".to_owned())),
    }
    Ok(())
}
