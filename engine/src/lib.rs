//! The wb write-behind engine.
//!
//! One module per stage: `config` (config.yaml and job files), `source`
//! (reading captured changes from Redis), `transform` (the Wasm host),
//! `sink` (PostgreSQL and SQLite writers), `pipeline` (batches and the
//! shard worker that join the stages), `control` (wb's own keys in Redis:
//! names, dead letters), and `run` (`wb-engine run`: a worker built from a
//! project directory).

pub mod config;
pub mod control;
pub mod pipeline;
pub mod run;
pub mod sink;
pub mod source;
pub mod transform;
