//! Captured changes as the capture module writes them into a job's stream.

use super::id::StreamId;

/// What the key held when the change was recorded (the entry's `type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Hash,
    Set,
    SortedSet,
    Json,
    /// The key did not exist (deleted, expired, evicted, renamed away).
    None,
    /// A type wb does not map (string, list, stream, another module's type).
    Other(String),
}

impl KeyKind {
    pub fn from_label(label: &str) -> KeyKind {
        match label {
            "hash" => KeyKind::Hash,
            "set" => KeyKind::Set,
            "zset" => KeyKind::SortedSet,
            "json" => KeyKind::Json,
            "none" => KeyKind::None,
            other => KeyKind::Other(other.to_owned()),
        }
    }
}

/// One stream entry: a change to one key (or a flush of all keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    pub id: StreamId,
    pub key: Vec<u8>,
    pub event: String,
    pub kind: KeyKind,
}

/// The event the module records when a database is flushed (the same word
/// transforms see in a flush change).
pub use wb_abi::FLUSH_EVENT;

impl Captured {
    pub fn is_flush(&self) -> bool {
        self.event == FLUSH_EVENT
    }
}
