//! The source stage: reading captured changes from a shard's job streams,
//! coalescing them by key and reading the keys' current values.
//!
//! The capture module (`capture/`) writes one entry per change, carrying the
//! key and not the value; this stage turns a batch of entries into one
//! [`wb_abi::ChangeData`] per key with the value as it is now.

mod coalesce;
mod entry;
mod error;
mod fetch;
mod id;
mod reader;
mod resp;
mod wire;

pub use coalesce::{coalesce, Coalesced};
pub use entry::{Captured, KeyKind, FLUSH_EVENT};
pub(crate) use error::shown_reply;
pub use error::{is_transient_redis, FetchError, SourceError};
pub use fetch::{fetch_values, key_kinds};
pub use id::{BadStreamId, StreamId};
pub use reader::{acknowledge, ShardReader, StreamRead, CONSUMER, GROUP};
pub use resp::ProtocolError;
pub use wire::WireConnection;
