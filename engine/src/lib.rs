//! The wb write-behind engine.
//!
//! One module per stage: `config` (config.yaml and job files), `source`
//! (reading captured changes from Redis), `transform` (the Wasm host),
//! `sink` (PostgreSQL and SQLite writers), `pipeline` (batches and the
//! shard worker that join the stages), `control` (wb's own keys in Redis:
//! names, dead letters, backfill cursors, and the commands that work on
//! them: `trace`, `dlq`, `backfill`; also `schema` and `scaffold`).
//! Around them: `project` (a project directory loaded and checked as a
//! whole: `wb-engine validate`), `bundle` (a job
//! compiled into a component, params and manifest: `wb-engine compile`),
//! `cases` (a job's test cases: `wb-engine test`) and `run` (`wb-engine
//! run`: a worker built from a project directory).

pub mod bundle;
pub mod cases;
pub mod config;
pub mod control;
pub mod pipeline;
pub mod project;
pub mod run;
pub mod sink;
pub mod source;
pub mod transform;
