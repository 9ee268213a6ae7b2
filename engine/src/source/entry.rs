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

    /// From the reply of `TYPE` (RedisJSON's type is `ReJSON-RL`).
    pub fn from_type_name(name: &str) -> KeyKind {
        match name {
            "ReJSON-RL" => KeyKind::Json,
            other => KeyKind::from_label(other),
        }
    }

    /// The entry's `type` label, as the capture module writes it.
    pub fn label(&self) -> &str {
        match self {
            KeyKind::Hash => "hash",
            KeyKind::Set => "set",
            KeyKind::SortedSet => "zset",
            KeyKind::Json => "json",
            KeyKind::None => "none",
            KeyKind::Other(other) => other,
        }
    }

    /// Whether wb maps keys of this kind (or the key is gone).
    pub fn is_mapped(&self) -> bool {
        !matches!(self, KeyKind::Other(_))
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

    /// An entry from its fields; `None` when a field the module always
    /// writes is missing or not text where it must be.
    pub fn from_fields<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        id: StreamId,
        fields: &[(F, V)],
    ) -> Option<Captured> {
        let field = |name: &[u8]| {
            fields
                .iter()
                .find(|(n, _)| n.as_ref() == name)
                .map(|(_, v)| v.as_ref())
        };
        let key = field(b"key")?.to_vec();
        let event = std::str::from_utf8(field(b"event")?).ok()?.to_owned();
        let kind = KeyKind::from_label(std::str::from_utf8(field(b"type")?).ok()?);
        Some(Captured {
            id,
            key,
            event,
            kind,
        })
    }
}
