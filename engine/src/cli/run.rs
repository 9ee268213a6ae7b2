//! `wb-engine run [--dir DIR]`: runs a project until SIGINT or SIGTERM.

use std::path::PathBuf;

use tokio::sync::watch;
use wb_engine::project::Project;
use wb_engine::run::Deployment;

use super::{wait_for_signal, MapperArgs, RedisArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The project directory: config.yaml and jobs/*.yaml.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    mapper: MapperArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let project = Project::load(&args.dir)?;
    for warning in &project.warnings {
        tracing::warn!("{warning}");
    }
    let mapper = args.mapper.path()?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stopping: finishing the batch in flight");
            let _ = stop.send(true);
        });
        let deployment = Deployment::from_project(&project, &mapper)?;
        let stats = wb_engine::run::run(&deployment, &args.redis.redis_url, stopped).await?;
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
