//! Errors of the source stage.

use redis::{ErrorKind, RedisError};

/// Why reading from Redis failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    #[error("unexpected reply to {command}: {reply}")]
    Reply {
        command: &'static str,
        reply: String,
    },
}

impl SourceError {
    /// Whether trying again later can succeed: the connection dropped or was
    /// refused, a timeout, the server loading its data, a failover or a
    /// cluster reconfiguration in progress.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Redis(e) => {
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
            SourceError::Reply { .. } => false,
        }
    }

    /// Whether the stream or its consumer group is gone (a FLUSHALL, a
    /// restart without persistence, a stream deleted by hand): the group must
    /// be created again, from the start of whatever the stream holds now.
    pub fn is_missing_group(&self) -> bool {
        matches!(self, SourceError::Redis(e) if e.code() == Some("NOGROUP"))
    }

    pub(crate) fn reply(command: &'static str, reply: &redis::Value) -> SourceError {
        let mut shown = format!("{reply:?}");
        shown.truncate(200);
        SourceError::Reply {
            command,
            reply: shown,
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
