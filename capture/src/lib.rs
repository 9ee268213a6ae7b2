//! wb-capture: a Redis/Valkey module that records every change to the key
//! patterns of tracked jobs into per-shard streams, atomically with the
//! write that made it.
//!
//! Load it with `--loadmodule libwb_capture.so`; it needs post-notification
//! jobs (Redis 7.2+, Valkey 8+) and refuses older servers. See README.md.
//!
//! Layout: `glob`, `slot` and `jobs` are plain logic with unit tests;
//! `capture` is the hot path (notification callback and post-notification
//! job); `commands`, `persist`, `cluster` and `state` keep the job table and
//! the shard's tag; `guard` keeps panics out of Redis; `entry`
//! registers it all with the server.

// Plain logic, unit-tested here.
pub mod glob;
pub mod jobs;
pub mod slot;

// The parts that talk to Redis, tested against real servers by `tests/`.
// Unit-test builds run outside Redis and leave them out.
#[cfg(not(test))]
mod capture;
#[cfg(not(test))]
mod cluster;
#[cfg(not(test))]
mod commands;
#[cfg(not(test))]
mod entry;
#[cfg(not(test))]
mod eviction;
#[cfg(not(test))]
mod guard;
#[cfg(not(test))]
mod persist;
#[cfg(not(test))]
mod state;
#[cfg(not(test))]
mod strings;
