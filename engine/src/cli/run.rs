//! `wb-engine run [--dir DIR]`: runs a project directory, or what `deploy`
//! stored in Redis, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use tokio::sync::watch;
use wb_engine::control::metrics::{self, Metrics};
use wb_engine::project::Project;
use wb_engine::run::Deployment;

use super::{wait_for_signal, MapperArgs, RedisArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The project directory: config.yaml and jobs/*.yaml. Without it, the
    /// engine runs what `wb-engine deploy` stored in Redis (waiting for a
    /// first deploy), and moves to each new deploy within a second; its
    /// SQLite paths are then taken from the working directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (per job and shard:
    /// changes read, written, skipped and rejected, batches, stream length,
    /// pending, lag, state; batch latency histogram; retries and holds) and
    /// a liveness probe at /healthz. Example: 127.0.0.1:9187.
    #[arg(long, env = "WB_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    mapper: MapperArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // From a directory: checked and compiled before anything starts.
    let deployment = match &args.dir {
        Some(dir) => {
            let project = Project::load(dir)?;
            for warning in &project.warnings {
                tracing::warn!("{warning}");
            }
            Some(Deployment::from_project(&project, &args.mapper.path()?)?)
        }
        None => None,
    };
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping: finishing the batch in flight");
            let _ = stop.send(true);
        });
        let url = &args.redis.redis_url;
        let metrics = match args.metrics_addr {
            Some(addr) => {
                // Bound before the engine starts: a taken port is an error
                // at once, not a silent lack of metrics.
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("serving metrics on {addr}"))?;
                let metrics = Arc::new(Metrics::new(url));
                tokio::spawn(metrics::serve(
                    listener,
                    Arc::clone(&metrics),
                    stopped.clone(),
                ));
                tracing::info!("metrics at http://{addr}/metrics, liveness at /healthz");
                Some(metrics)
            }
            None => None,
        };
        let stats = match &deployment {
            Some(deployment) => wb_engine::run::run(deployment, url, metrics, stopped).await?,
            None => wb_engine::run::run_deployed(url, Path::new("."), metrics, stopped).await?,
        };
        tracing::info!(
            batches = stats.batches,
            entries = stats.entries,
            delivered = stats.delivered,
            dead_letters = stats.dead_letters,
            retries = stats.retries,
            fetch_ms = stats.timings.fetch.as_millis() as u64,
            transform_ms = stats.timings.transform.as_millis() as u64,
            write_ms = stats.timings.write.as_millis() as u64,
            acknowledge_ms = stats.timings.acknowledge.as_millis() as u64,
            "stopped"
        );
        Ok(())
    })
}
