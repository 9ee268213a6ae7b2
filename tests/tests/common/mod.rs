//! What the engine-level end-to-end tests share: jobs compiled from their
//! YAML into the stock mapper component, a target database with the
//! workload's tables and a sink on it, and a shard worker run as a task.
//!
//! Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use wb_engine::config::Job;
use wb_engine::pipeline::{PipelineError, ShardWorker, WorkerSettings, WorkerStats};
use wb_engine::sink::postgres::{PgConfig, PgSink};
use wb_engine::sink::sqlite::{SqliteConfig, SqliteSink};
use wb_engine::sink::{Batch, Report, Sink, SinkError, Staged};
use wb_engine::transform::{Limits, WasmHost, WasmTransform};
use wb_tests::redis;
use wb_tests::workload::{self, Tables};
use wb_tests::{guests, pending_count, pg_conninfo, unread_count, PgSchema, TargetDb, TempDir};

/// Jobs given as `(name, job YAML)`, compiled as `wb-engine run` compiles
/// them and loaded into the stock mapper component.
pub fn transforms(jobs: &[(&str, &str)]) -> HashMap<String, WasmTransform> {
    let mapper = guests::build("sdk/mapper-component");
    let host = WasmHost::new().expect("wasm host");
    jobs.iter()
        .map(|(name, yaml)| {
            let file = Path::new("jobs").join(format!("{name}.yaml"));
            let job = Job::parse(&file, yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
            let spec = job
                .to_mapper_spec(&file, yaml)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let transform = host
                .load_file(
                    name,
                    &mapper,
                    vec![("spec".into(), spec.to_string())],
                    Limits::default(),
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            ((*name).to_owned(), transform)
        })
        .collect()
}

/// Which database a test writes to.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A target database holding the workload's tables (`workload::DDL`).
pub struct Target {
    pub db: TargetDb,
    _dir: TempDir,
}

impl Target {
    pub async fn create(kind: Kind) -> Target {
        let dir = TempDir::new("target");
        let db = match kind {
            Kind::Sqlite => {
                let path = dir.path().join("target.db");
                rusqlite::Connection::open(&path)
                    .expect("create the SQLite file")
                    .execute_batch(workload::DDL)
                    .expect("create the tables");
                TargetDb::Sqlite(path)
            }
            Kind::Postgres => TargetDb::Postgres(PgSchema::create("wb_e2e", workload::DDL).await),
        };
        Target { db, _dir: dir }
    }

    /// A new sink on this database, as `wb-engine run` opens one.
    pub async fn sink(&self) -> AnySink {
        match &self.db {
            TargetDb::Sqlite(path) => AnySink::Sqlite(Box::new(
                SqliteSink::open(SqliteConfig::new(path), &workload::TABLES).expect("SQLite sink"),
            )),
            TargetDb::Postgres(schema) => {
                // Named after the schema, so a test can find the sink's
                // connections on the server and end them.
                let mut config = PgConfig::new(format!(
                    "{} application_name={}",
                    pg_conninfo(),
                    schema.name
                ));
                config.schema = schema.name.clone();
                config.offsets_schema = schema.name.clone();
                AnySink::Postgres(Box::new(
                    PgSink::connect(config, &workload::TABLES)
                        .await
                        .expect("PostgreSQL sink"),
                ))
            }
        }
    }

    /// The server process ids of the sink's connections.
    pub async fn sink_pids(&self) -> Vec<String> {
        let TargetDb::Postgres(schema) = &self.db else {
            panic!("only PostgreSQL sinks have connections");
        };
        schema
            .rows(&format!(
                "SELECT pid FROM pg_stat_activity \
                 WHERE application_name = '{}' AND pid <> pg_backend_pid()",
                schema.name
            ))
            .await
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect()
    }

    /// Ends every sink connection to this PostgreSQL schema from the server
    /// side (`pg_terminate_backend`), as a server restart or a network cut
    /// would; returns how many there were.
    pub async fn kill_sink_connections(&self) -> usize {
        let TargetDb::Postgres(schema) = &self.db else {
            panic!("only PostgreSQL sinks have connections to end");
        };
        schema
            .rows(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = '{}' AND pid <> pg_backend_pid()",
                schema.name
            ))
            .await
            .len()
    }

    /// Polls until the mirrored tables equal what Redis holds now (read
    /// once: call it after the writes are done and expiries settled), or
    /// `timeout` passes; `Err` then says where they differ.
    pub async fn converge(
        &self,
        con: &mut redis::Connection,
        timeout: Duration,
    ) -> Result<Tables, String> {
        workload::converge(&self.db, con, timeout).await
    }
}

/// Either sink, so that one test body serves both targets (boxed: the two
/// differ much in size).
pub enum AnySink {
    Sqlite(Box<SqliteSink>),
    Postgres(Box<PgSink>),
}

impl Sink for AnySink {
    async fn write(&mut self, batch: &Batch<'_>) -> Result<Report, SinkError> {
        match self {
            AnySink::Sqlite(s) => s.write(batch).await,
            AnySink::Postgres(s) => s.write(batch).await,
        }
    }

    async fn stored_offset(&mut self, job: &str, shard: &str) -> Result<Option<String>, SinkError> {
        match self {
            AnySink::Sqlite(s) => s.stored_offset(job, shard).await,
            AnySink::Postgres(s) => s.stored_offset(job, shard).await,
        }
    }

    async fn stage(&mut self, batch: &Batch<'_>) -> Result<Option<Staged>, SinkError> {
        match self {
            AnySink::Sqlite(s) => s.stage(batch).await,
            AnySink::Postgres(s) => s.stage(batch).await,
        }
    }

    async fn isolate(&mut self, batch: &Batch<'_>, first: SinkError) -> Result<Report, SinkError> {
        match self {
            AnySink::Sqlite(s) => s.isolate(batch, first).await,
            AnySink::Postgres(s) => s.isolate(batch, first).await,
        }
    }

    fn forget_schema(&mut self) {
        match self {
            AnySink::Sqlite(s) => s.forget_schema(),
            AnySink::Postgres(s) => s.forget_schema(),
        }
    }
}

/// Settings that keep tests quick: small batches, short waits and retries.
pub fn settings() -> WorkerSettings {
    WorkerSettings {
        read_batch_size: 200,
        block: Duration::from_millis(100),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        ..WorkerSettings::default()
    }
}

/// A running worker and the switch that stops it.
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<WorkerStats, PipelineError>>,
}

impl Running {
    /// Starts a worker for `jobs` on the server at `url`.
    pub fn start<S: Sink + Send + 'static>(
        url: &str,
        jobs: &[(&str, &str)],
        sink: S,
        settings: WorkerSettings,
    ) -> Running {
        Running::with_transforms(url, transforms(jobs), sink, settings)
    }

    /// Starts a worker for jobs given by their loaded transforms.
    pub fn with_transforms<S: Sink + Send + 'static>(
        url: &str,
        jobs: HashMap<String, WasmTransform>,
        sink: S,
        settings: WorkerSettings,
    ) -> Running {
        let worker = ShardWorker {
            url: url.to_owned(),
            jobs: std::sync::Arc::new(jobs),
            sink,
            settings,
        };
        let (stop, stopped) = watch::channel(false);
        Running {
            stop,
            task: tokio::spawn(worker.run(stopped)),
        }
    }

    /// Asks the worker to stop after its batch in flight and waits for it.
    pub async fn stop(self) -> Result<WorkerStats, PipelineError> {
        let _ = self.stop.send(true);
        self.task.await.expect("the worker task panicked")
    }

    /// Waits for the worker to end by itself (it failed), at most `timeout`.
    pub async fn ended(self, timeout: Duration) -> Result<WorkerStats, PipelineError> {
        match tokio::time::timeout(timeout, self.task).await {
            Ok(joined) => joined.expect("the worker task panicked"),
            Err(_) => panic!("the worker did not end within {timeout:?}"),
        }
    }
}

/// Registers the jobs with the capture module, as `wb-engine run` does.
pub fn register(con: &mut redis::Connection, jobs: &[(&str, &str)]) {
    for (name, yaml) in jobs {
        let file = Path::new("jobs").join(format!("{name}.yaml"));
        let job = Job::parse(&file, yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let _: String = redis::cmd("WB.JOB.SET")
            .arg(name)
            .arg(&job.source.redis.key_pattern)
            .query(con)
            .unwrap_or_else(|e| panic!("WB.JOB.SET {name}: {e}"));
    }
}

/// Entries of `jobs`' streams not finished: unread, or read and pending.
pub fn unfinished(con: &mut redis::Connection, jobs: &[(&str, &str)]) -> usize {
    jobs.iter()
        .map(|(job, _)| {
            let stream = workload::stream(job);
            unread_count(con, &stream) + pending_count(con, &stream) as usize
        })
        .sum()
}

/// Waits (asynchronously) until `jobs`' streams are finished or `timeout`
/// passes; whether they were.
pub async fn drained(
    con: &mut redis::Connection,
    jobs: &[(&str, &str)],
    timeout: Duration,
) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while unfinished(con, jobs) > 0 {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
