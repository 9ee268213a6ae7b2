//! The control plane: wb's own keys in Redis (names derived from job
//! streams, the dead-letter queue, backfill cursors) and the commands that
//! work on them without a project directory's engine: `trace`, `dlq`,
//! `backfill`; the deployment `deploy` stores for engines to run; and the
//! commands that write a project's files: `schema` and `scaffold`.

pub mod backfill;
pub mod deploy;
pub mod dlq;
pub mod enqueue;
pub mod entries;
mod error;
pub mod metrics;
mod naming;
pub mod scaffold;
pub mod schema;
mod shard;
pub mod status;
pub mod trace;

pub use error::ControlError;
pub use naming::JobStream;
pub use shard::{connect_multiplexed, shards, shown_url, RegisteredJob, Shard};
