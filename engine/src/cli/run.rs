//! `wb-engine run [--dir DIR]`: runs a project directory, or what `deploy`
//! stored in Redis, until SIGINT or SIGTERM.

use std::path::{Path, PathBuf};

use tokio::sync::watch;
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
        let stats = match &deployment {
            Some(deployment) => wb_engine::run::run(deployment, url, stopped).await?,
            None => wb_engine::run::run_deployed(url, Path::new("."), stopped).await?,
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
