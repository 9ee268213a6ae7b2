//! Errors of the source stage.

use redis::{ErrorKind, RedisError};

use super::resp::{Item, ProtocolError};

/// Error codes that say the server cannot answer now but will: loading its
/// data, a failover or a cluster reconfiguration in progress.
const TRANSIENT_CODES: &[&str] = &[
    "LOADING",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "READONLY",
];

/// Why reading from Redis failed. The cause is part of the message rather
/// than a `source`, so that a report of the whole chain says it once.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("redis: {0}")]
    Redis(RedisError),
    #[error("unexpected reply to {command}: {reply}")]
    Reply {
        command: &'static str,
        reply: String,
    },
    /// The server answered a command with an error.
    #[error("redis: {command} failed: {code} {message}")]
    Server {
        command: &'static str,
        code: String,
        message: String,
    },
    #[error("redis: {context}: {error}")]
    Io {
        context: &'static str,
        error: std::io::Error,
    },
    #[error("redis: timed out {0}")]
    TimedOut(&'static str),
    #[error("redis: {0}")]
    Protocol(ProtocolError),
    #[error("redis: {0}")]
    Unsupported(String),
}

/// The start of a reply, for an error message: at most 200 bytes, cut at a
/// character boundary.
pub(crate) fn shown_reply(reply: &redis::Value) -> String {
    let mut shown = format!("{reply:?}");
    shown.truncate(shown.floor_char_boundary(200));
    shown
}

/// Whether an error of the Redis client is one that trying again later can
/// mend (see [`SourceError::is_transient`]).
pub fn is_transient_redis(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::BusyLoadingError
                | ErrorKind::TryAgain
                | ErrorKind::ClusterDown
                | ErrorKind::MasterDown
                | ErrorKind::ReadOnly
        )
}

impl From<RedisError> for SourceError {
    fn from(e: RedisError) -> Self {
        SourceError::Redis(e)
    }
}

impl From<ProtocolError> for SourceError {
    fn from(e: ProtocolError) -> Self {
        SourceError::Protocol(e)
    }
}

impl SourceError {
    /// Whether trying again later can succeed: the connection dropped or was
    /// refused, a timeout, the server loading its data, a failover or a
    /// cluster reconfiguration in progress.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Redis(e) => is_transient_redis(e),
            SourceError::Server { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            // A connection that lost its place in the reply stream is
            // replaced by a new one.
            SourceError::Io { .. } | SourceError::TimedOut(_) | SourceError::Protocol(_) => true,
            SourceError::Reply { .. } | SourceError::Unsupported(_) => false,
        }
    }

    /// Whether the stream or its consumer group is gone (a FLUSHALL, a
    /// restart without persistence, a stream deleted by hand): the group must
    /// be created again, from the start of whatever the stream holds now.
    pub fn is_missing_group(&self) -> bool {
        match self {
            SourceError::Redis(e) => e.code() == Some("NOGROUP"),
            SourceError::Server { code, .. } => code == "NOGROUP",
            _ => false,
        }
    }

    pub(crate) fn reply(command: &'static str, reply: &redis::Value) -> SourceError {
        SourceError::Reply {
            command,
            reply: shown_reply(reply),
        }
    }

    pub(crate) fn io(context: &'static str, error: std::io::Error) -> SourceError {
        SourceError::Io { context, error }
    }

    /// An error reply (`CODE message`) to `command`.
    pub(crate) fn server(command: &'static str, error: &[u8]) -> SourceError {
        let text = String::from_utf8_lossy(error);
        let (code, message) = text.split_once(' ').unwrap_or((&text, ""));
        SourceError::Server {
            command,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    /// A reply to `command` that is not of the shape it has.
    pub(crate) fn unexpected(command: &'static str, item: Item<'_>) -> SourceError {
        match item {
            Item::Error(e) => SourceError::server(command, e),
            other => SourceError::Reply {
                command,
                reply: other.to_string(),
            },
        }
    }
}

/// Why one key's value could not be read: the change is rejected, the
/// batch goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("key '{key}' holds a {kind}; wb maps hash, JSON, set and sorted-set keys")]
    UnsupportedType { key: String, kind: String },
    #[error("key '{key}': {reason}")]
    BadValue { key: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_cut_at_a_character_boundary() {
        let long = redis::Value::SimpleString("é".repeat(300));
        let shown = shown_reply(&long);
        assert!(shown.len() <= 200 && shown.len() > 190, "{}", shown.len());
    }
}
