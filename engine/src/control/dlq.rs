//! The dead-letter queue: a stream per job and shard holding the changes
//! that could not be written, with the reason, so one bad record never
//! blocks the rest and none is lost without a trace.

use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionLike;

use crate::source::SourceError;

/// Where in the pipeline a change was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The stream entry itself was not what the capture module writes.
    Capture,
    /// Reading the key's value.
    Fetch,
    /// The transform rejected the change, trapped, ran out of time or memory.
    Transform,
    /// The target refused the row (a value that does not fit, a constraint).
    Write,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Capture => "capture",
            Stage::Fetch => "fetch",
            Stage::Transform => "transform",
            Stage::Write => "write",
        }
    }
}

/// One rejected change.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub key: Vec<u8>,
    pub event: String,
    /// The ID of the change's entry in the job stream.
    pub stream_id: String,
    pub stage: Stage,
    pub reason: String,
    /// The offending row, as text, when the target refused one.
    pub row: Option<String>,
}

/// Appends `letters` to the dead-letter stream `dlq`, keeping about
/// `max_messages` of the newest (trimmed in whole stream nodes).
pub async fn push<C: ConnectionLike>(
    con: &mut C,
    dlq: &str,
    max_messages: usize,
    letters: &[DeadLetter],
) -> Result<(), SourceError> {
    if letters.is_empty() {
        return Ok(());
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut pipe = redis::pipe();
    for letter in letters {
        pipe.cmd("XADD")
            .arg(dlq)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_messages)
            .arg("*")
            .arg("key")
            .arg(&letter.key)
            .arg("event")
            .arg(&letter.event)
            .arg("stream_id")
            .arg(&letter.stream_id)
            .arg("stage")
            .arg(letter.stage.as_str())
            .arg("reason")
            .arg(&letter.reason)
            .arg("time")
            .arg(now_ms);
        if let Some(row) = &letter.row {
            pipe.arg("row").arg(row);
        }
        pipe.ignore();
    }
    pipe.query_async::<()>(con).await?;
    Ok(())
}
