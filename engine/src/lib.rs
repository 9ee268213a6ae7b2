//! The wb write-behind engine.
//!
//! One module per stage: `config` (config.yaml and job files), `source`
//! (reading captured changes from Redis), `transform` (the Wasm host),
//! `sink` (PostgreSQL and SQLite writers), `control` (wb's own keys in
//! Redis: names, dead letters). The pipeline that joins the stages and the
//! `wb-engine run` command are not built yet.

pub mod config;
pub mod control;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod transform;
