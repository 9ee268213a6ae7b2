//! Starting a deployment's workers: transforms loaded, jobs registered with
//! the capture module, each target connected, and the workers run until a
//! stop.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::bundle::BundleSource;
use crate::config::{Connection, ConnectionKind, EnvString, ErrorHandling, PortValue};
use crate::control::deploy::job_set_args;
use crate::control::metrics::Metrics;
use crate::control::{connect_multiplexed, shown_url};
use crate::pipeline::{
    connect_sink, wait_unless_stopped, Backoff, PipelineError, ShardWorker, TargetConnection,
    WorkerSettings, WorkerStats,
};
use crate::sink::postgres::{PgConfig, PgSink};
use crate::sink::sqlite::{SqliteConfig, SqliteSink};
use crate::sink::{Sink, SinkError};
use crate::source::is_transient_redis;
use crate::transform::{Limits, WasmHost, WasmTransform};

use super::deployment::Deployment;
use super::target::{targets, TargetJobs};

/// Where the stock mapper component is looked for when not given: beside
/// the binary's build directory, where `scripts/quickstart.sh` and the tests
/// build it (`target/guests/wasm32-wasip2/release/`).
pub fn default_mapper_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?;
    Some(target.join("guests/wasm32-wasip2/release/wb_mapper_component.wasm"))
}

/// Runs `deployment` against the Redis at `redis_url` until `stop` turns
/// true: [`prepare`], then [`Prepared::run`].
pub async fn run(
    deployment: &Deployment,
    redis_url: &str,
    metrics: Option<Arc<Metrics>>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<WorkerStats> {
    prepare(deployment, metrics)?.run(redis_url, stop).await
}

/// A deployment made ready to run: every component compiled, linked and
/// initialised, every target connection resolved from the environment.
/// What can be checked without the servers is checked here, so that a new
/// deployment that cannot run on this machine is refused while the one
/// running goes on.
pub struct Prepared {
    /// The jobs as the capture module is told of them.
    jobs: Vec<(String, BundleSource)>,
    workers: Vec<PlannedWorker>,
    settings: WorkerSettings,
    /// Keeps the epoch ticker that enforces the guests' deadlines.
    _host: WasmHost,
}

/// One worker to start: a target connection and the jobs that write there.
struct PlannedWorker {
    /// The connection's name in config.yaml.
    name: String,
    jobs: HashMap<String, WasmTransform>,
    sink: SinkPlan,
    /// The tables its jobs declare, checked when it connects; others (from
    /// components that declare none) are read when a batch first names
    /// them.
    tables: Vec<String>,
}

/// How to open a worker's sink.
enum SinkPlan {
    Sqlite(SqliteConfig),
    Postgres(PgConfig),
}

/// Loads `deployment`'s jobs and resolves its connections; its workers
/// will count what they do in `metrics`, if given.
pub fn prepare(deployment: &Deployment, metrics: Option<Arc<Metrics>>) -> anyhow::Result<Prepared> {
    let targets = targets(deployment)?;
    // One worker per target connection, each transforming one batch at a
    // time.
    let host = WasmHost::for_workers(targets.len()).context("starting the Wasm host")?;
    let mut transforms: Vec<Option<WasmTransform>> = Vec::with_capacity(deployment.bundles.len());
    for bundle in &deployment.bundles {
        let job = &bundle.manifest.job;
        let transform = bundle
            .load(&host, Limits::default())
            .with_context(|| format!("loading job '{job}'"))?;
        tracing::info!(job = %job, sha256 = %bundle.manifest.sha256, "job loaded");
        transforms.push(Some(transform));
    }
    let mut workers = Vec::with_capacity(targets.len());
    for target in &targets {
        let mut jobs = HashMap::new();
        let mut tables = Vec::new();
        for &index in &target.jobs {
            let manifest = &deployment.bundles[index].manifest;
            if let Some(transform) = transforms[index].take() {
                jobs.insert(manifest.job.clone(), transform);
            }
            tables.extend(manifest.outputs.iter().map(|o| o.table.clone()));
        }
        workers.push(PlannedWorker {
            name: target.name.clone(),
            jobs,
            sink: sink_plan(deployment, target)?,
            tables,
        });
    }
    let applier = &deployment.settings.applier;
    let settings = WorkerSettings {
        read_batch_size: applier.read_batch_size,
        // `ignore`: bad records are logged and dropped, none is kept.
        dlq_max_messages: match applier.error_handling {
            ErrorHandling::Dlq => applier.dlq_max_messages,
            ErrorHandling::Ignore => 0,
        },
        max_backoff: std::time::Duration::from_secs(applier.on_failed_retry_interval.max(1)),
        metrics,
        ..WorkerSettings::default()
    };
    let jobs = deployment
        .bundles
        .iter()
        .map(|b| (b.manifest.job.clone(), b.manifest.source.clone()))
        .collect();
    Ok(Prepared {
        jobs,
        workers,
        settings,
        _host: host,
    })
}

/// Where `target`'s connection writes, with its `${ENV}` references
/// resolved.
fn sink_plan(deployment: &Deployment, target: &TargetJobs) -> anyhow::Result<SinkPlan> {
    let conn = &target.connection;
    let what = format!("connection '{}'", target.name);
    match conn.kind {
        ConnectionKind::Sqlite => {
            let path = resolve(conn.path.as_ref(), "path", &what)?;
            let mut config = SqliteConfig::new(deployment.base_dir.join(path));
            if let Some((_, table)) = conn.offsets_table() {
                config.offsets_table = table.to_owned();
            }
            Ok(SinkPlan::Sqlite(config))
        }
        ConnectionKind::Postgresql => {
            let mut config = PgConfig::new(postgres_conninfo(conn, &what)?);
            if let Some((schema, table)) = conn.offsets_table() {
                if let Some(schema) = schema {
                    config.offsets_schema = schema.to_owned();
                }
                config.offsets_table = table.to_owned();
            }
            Ok(SinkPlan::Postgres(config))
        }
        ConnectionKind::Mysql => bail!("{what}: MySQL/MariaDB targets are not built yet"),
    }
}

impl Prepared {
    /// Registers the jobs with the capture module (waiting for Redis while
    /// it cannot be reached) and runs one worker per target connection,
    /// each reading the streams of the jobs that write there, with its own
    /// Redis connections and its own target connection, on a task of its
    /// own, until `stop` turns true. A worker that fails for good stops the
    /// others (after their batch in flight) and its error is returned; the
    /// totals are summed over the workers.
    pub async fn run(
        self,
        redis_url: &str,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<WorkerStats> {
        let Prepared {
            jobs,
            workers: planned,
            settings,
            _host,
        } = self;
        if !register_when_reachable(&jobs, redis_url, &settings, &mut stop).await? {
            return Ok(WorkerStats::default());
        }
        if planned.is_empty() {
            // A deployment of no jobs runs nothing, until it is replaced
            // or stopped.
            tracing::info!("no jobs to run");
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
            return Ok(WorkerStats::default());
        }
        // The workers' own stop signal: the caller's, or one worker's failure.
        let (halt, halted) = watch::channel(false);
        let mut workers = JoinSet::new();
        for plan in planned {
            let worker = Worker {
                url: redis_url.to_owned(),
                jobs: plan.jobs,
                settings: settings.clone(),
                stop: halted.clone(),
            };
            worker.spawn(plan.name, plan.sink, plan.tables, &mut workers);
        }
        let mut total = WorkerStats::default();
        let mut failure: Option<anyhow::Error> = None;
        loop {
            tokio::select! {
                changed = stop.changed(), if !*halt.borrow() => {
                    if changed.is_err() || *stop.borrow() {
                        let _ = halt.send(true);
                    }
                }
                done = workers.join_next() => {
                    let Some(done) = done else { break };
                    let result = match done {
                        Ok((name, result)) => result
                            .with_context(|| format!("the worker for connection '{name}' stopped")),
                        Err(e) => Err(anyhow::anyhow!("a worker ended abnormally: {e}")),
                    };
                    match result {
                        Ok(stats) => total += stats,
                        Err(e) => {
                            let _ = halt.send(true);
                            failure.get_or_insert(e);
                        }
                    }
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

/// What a worker needs besides its target.
struct Worker {
    url: String,
    jobs: HashMap<String, WasmTransform>,
    settings: WorkerSettings,
    stop: watch::Receiver<bool>,
}

type Finished = (String, Result<WorkerStats, PipelineError>);

impl Worker {
    /// Starts the worker for connection `name` on a task in `set`: it
    /// connects to the target (waiting for it while it cannot be reached),
    /// then runs.
    fn spawn(self, name: String, sink: SinkPlan, tables: Vec<String>, set: &mut JoinSet<Finished>) {
        // Declared tables are checked when the sink opens (a mismatch holds
        // the jobs, see `connect_sink`); others, from components that
        // declare none, when a batch first names them.
        match sink {
            SinkPlan::Sqlite(config) => {
                self.start(set, name, tables, move |tables: Vec<String>| {
                    let config = config.clone();
                    async move { SqliteSink::open(config, &as_strs(&tables)) }
                })
            }
            SinkPlan::Postgres(config) => {
                self.start(set, name, tables, move |tables: Vec<String>| {
                    let config = config.clone();
                    async move { PgSink::connect(config, &as_strs(&tables)).await }
                })
            }
        }
    }

    /// Runs a shard worker on a task in `set`, writing to the sink that
    /// `connect` opens with the declared `tables` checked.
    fn start<S, F, Fut>(
        self,
        set: &mut JoinSet<Finished>,
        name: String,
        tables: Vec<String>,
        connect: F,
    ) where
        S: Sink + Send + 'static,
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, SinkError>> + Send,
    {
        let Worker {
            url,
            jobs,
            settings,
            mut stop,
        } = self;
        set.spawn(async move {
            let ours = |job: &str| jobs.contains_key(job);
            let target = TargetConnection {
                name: name.clone(),
                tables,
                connect,
            };
            let sink = match connect_sink(&url, ours, &settings, &mut stop, target).await {
                Ok(Some(sink)) => sink,
                Ok(None) => return (name, Ok(WorkerStats::default())),
                Err(e) => return (name, Err(e)),
            };
            let worker = ShardWorker {
                url,
                jobs: Arc::new(jobs),
                sink,
                settings,
            };
            (name, worker.run(stop).await)
        });
    }
}

/// The tables as the sinks take them.
fn as_strs(tables: &[String]) -> Vec<&str> {
    tables.iter().map(String::as_str).collect()
}

/// Registers the jobs with the capture module, waiting for Redis while it
/// cannot be reached (down, restarting, loading its data). `Ok(false)`:
/// asked to stop first.
async fn register_when_reachable(
    jobs: &[(String, BundleSource)],
    redis_url: &str,
    settings: &WorkerSettings,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let mut backoff = Backoff::new(settings.min_backoff, settings.max_backoff);
    loop {
        if *stop.borrow() {
            return Ok(false);
        }
        let error = match register_jobs(jobs, redis_url).await {
            Ok(()) => return Ok(true),
            Err(e) => e,
        };
        let transient = error
            .chain()
            .filter_map(|cause| cause.downcast_ref::<redis::RedisError>())
            .any(is_transient_redis);
        if !transient {
            return Err(error);
        }
        let delay = backoff.next_delay();
        tracing::warn!(error = format!("{error:#}"), retry_in = ?delay, "Redis cannot be reached; waiting for it");
        // Wake early for a stop request.
        wait_unless_stopped(delay, stop).await;
    }
}

/// Tells the capture module which keys to record for each job.
async fn register_jobs(jobs: &[(String, BundleSource)], redis_url: &str) -> anyhow::Result<()> {
    let mut con = connect_multiplexed(redis_url)
        .await
        .with_context(|| format!("connecting to Redis at {}", shown_url(redis_url)))?;
    for (name, source) in jobs {
        let stream: Option<String> = job_set_args(name, source)
            .query_async(&mut con)
            .await
            .with_context(|| {
                format!(
                "registering job '{name}' with the capture module (is libwb_capture.so loaded?)"
            )
            })?;
        tracing::info!(job = %name, pattern = %source.key_pattern, stream = ?stream, "job registered");
    }
    Ok(())
}

fn resolve(value: Option<&EnvString>, field: &str, what: &str) -> anyhow::Result<String> {
    let value = value.with_context(|| format!("{what}: `{field}` is missing"))?;
    value
        .resolve_env()
        .map_err(|e| anyhow::anyhow!("{what}: `{field}`: {}", e.0))
}

fn postgres_conninfo(conn: &Connection, what: &str) -> anyhow::Result<String> {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = Vec::new();
    for (key, value) in [
        ("host", &conn.host),
        ("dbname", &conn.database),
        ("user", &conn.user),
        ("password", &conn.password),
    ] {
        if value.is_some() {
            parts.push(format!(
                "{key}={}",
                quote(&resolve(value.as_ref(), key, what)?)
            ));
        }
    }
    match &conn.port {
        Some(PortValue::Number(port)) => parts.push(format!("port={port}")),
        Some(PortValue::Text(text)) => {
            let port = text
                .resolve_env()
                .map_err(|e| anyhow::anyhow!("{what}: `port`: {}", e.0))?;
            parts.push(format!("port={}", quote(&port)));
        }
        None => {}
    }
    Ok(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_conninfo_quotes_values_and_resolves_the_environment() {
        std::env::set_var("WB_TEST_CONNINFO_PASSWORD", "it's secret");
        let conn = Connection {
            kind: ConnectionKind::Postgresql,
            host: Some(EnvString::new("127.0.0.1")),
            port: Some(PortValue::Number(5432)),
            database: Some(EnvString::new("test")),
            user: Some(EnvString::new("postgres")),
            password: Some(EnvString::new("${WB_TEST_CONNINFO_PASSWORD}")),
            path: None,
            offsets_table: None,
        };
        assert_eq!(
            postgres_conninfo(&conn, "connection 'target'").expect("conninfo"),
            r"host='127.0.0.1' dbname='test' user='postgres' password='it\'s secret' port=5432"
        );
        let missing = Connection {
            password: Some(EnvString::new("${WB_TEST_CONNINFO_UNSET}")),
            ..conn
        };
        let err = postgres_conninfo(&missing, "connection 'target'").expect_err("unset variable");
        assert!(err.to_string().contains("password"), "{err}");
        assert!(!err.to_string().contains("secret"));
    }
}
