//! The control plane's keys in Redis: names derived from job streams, and
//! the dead-letter queue.

pub mod dlq;
mod naming;

pub use naming::JobStream;
