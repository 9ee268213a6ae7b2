//! Starting a project's worker: transforms loaded, jobs registered with the
//! capture module, the target connected, and the worker run until a stop.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use tokio::sync::watch;

use crate::config::{Connection, ConnectionKind, EnvString, PortValue};
use crate::pipeline::{ShardWorker, WorkerSettings, WorkerStats};
use crate::project::Project;
use crate::sink::postgres::{PgConfig, PgSink};
use crate::sink::sqlite::{SqliteConfig, SqliteSink};
use crate::sink::Sink;
use crate::transform::{Limits, WasmHost, WasmTransform};

use super::target::target_connection;

/// Where the stock mapper component is looked for when not given: beside
/// the binary's build directory, where `scripts/quickstart.sh` and the tests
/// build it (`target/guests/wasm32-wasip2/release/`).
pub fn default_mapper_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?;
    Some(target.join("guests/wasm32-wasip2/release/wb_mapper_component.wasm"))
}

/// Runs `project` against the Redis at `redis_url` until `stop` turns true.
/// `mapper` is the stock mapper component, for declarative jobs.
pub async fn run(
    project: &Project,
    redis_url: &str,
    mapper: &Path,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<WorkerStats> {
    let (connection_name, conn) = target_connection(project)?;
    let host = WasmHost::new().context("starting the Wasm host")?;
    let mut transforms = std::collections::HashMap::new();
    for job in &project.jobs {
        // The same bundle `wb-engine compile` writes, built in memory.
        let bundle = job.bundle(mapper)?;
        let transform: WasmTransform = bundle
            .load(&host, Limits::default())
            .with_context(|| format!("loading job '{}' ({})", job.name, job.file.display()))?;
        tracing::info!(job = %job.name, sha256 = %bundle.manifest.sha256, "job loaded");
        transforms.insert(job.name.clone(), transform);
    }
    register_jobs(project, redis_url).await?;

    let applier = &project.settings.applier;
    let settings = WorkerSettings {
        read_batch_size: applier.read_batch_size,
        dlq_max_messages: applier.dlq_max_messages,
        max_backoff: std::time::Duration::from_secs(applier.on_failed_retry_interval.max(1)),
        ..WorkerSettings::default()
    };
    // Declared tables are checked against the target now; others (from
    // components that declare none) when a batch first names them.
    let tables: Vec<&str> = project
        .jobs
        .iter()
        .flat_map(|j| j.outputs.iter().map(|o| o.table.as_str()))
        .collect();
    let what = format!("connection '{connection_name}'");
    match conn.kind {
        ConnectionKind::Sqlite => {
            let path = resolve(conn.path.as_ref(), "path", &what)?;
            let path = project.dir.join(path);
            let sink = SqliteSink::open(SqliteConfig::new(&path), &tables)
                .with_context(|| format!("opening {what} ({})", path.display()))?;
            work(redis_url, transforms, sink, settings, stop).await
        }
        ConnectionKind::Postgresql => {
            let conninfo = postgres_conninfo(&conn, &what)?;
            let sink = PgSink::connect(PgConfig::new(conninfo), &tables)
                .await
                .with_context(|| format!("connecting to {what}"))?;
            work(redis_url, transforms, sink, settings, stop).await
        }
        ConnectionKind::Mysql => bail!("{what}: MySQL/MariaDB targets are not built yet"),
    }
}

async fn work<S: Sink>(
    url: &str,
    jobs: std::collections::HashMap<String, WasmTransform>,
    sink: S,
    settings: WorkerSettings,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<WorkerStats> {
    let worker = ShardWorker {
        url: url.to_owned(),
        jobs,
        sink,
        settings,
    };
    Ok(worker.run(stop).await?)
}

/// Tells the capture module which keys to record for each job.
async fn register_jobs(project: &Project, redis_url: &str) -> anyhow::Result<()> {
    let client =
        redis::Client::open(redis_url).with_context(|| format!("Redis URL {redis_url}"))?;
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to Redis at {redis_url}"))?;
    for job in &project.jobs {
        let source = job.source();
        let mut cmd = redis::cmd("WB.JOB.SET");
        cmd.arg(&job.name).arg(&source.key_pattern);
        if !source.exclude_commands.is_empty() {
            cmd.arg("EXCLUDE").arg(&source.exclude_commands);
        }
        let stream: Option<String> = cmd.query_async(&mut con).await.with_context(|| {
            format!(
                "registering job '{}' with the capture module (is libwb_capture.so loaded?)",
                job.name
            )
        })?;
        tracing::info!(job = %job.name, pattern = %source.key_pattern, stream = ?stream, "job registered");
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
