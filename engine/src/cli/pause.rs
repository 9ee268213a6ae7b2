//! `wb-engine pause JOB` and `wb-engine resume JOB`: stop and restart
//! reading a job's changes, on every shard.

use wb_engine::control::status;
use wb_engine::control::{shards, ControlError};

use super::RedisArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The job's name, as the capture module tracks it (wb-engine jobs list).
    job: String,
    #[command(flatten)]
    redis: RedisArgs,
}

/// Sets (`paused`) or clears the job's pause flag on every shard.
pub fn pause(args: Args, paused: bool) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        for mut shard in shards(&args.redis.redis_url).await? {
            let job = shard.job(&args.job).await?;
            status::set_paused(shard.connection(), &job.stream, paused)
                .await
                .map_err(|e| ControlError::redis(shard.url(), e))?;
            let (did, then) = if paused {
                (
                    "paused",
                    "its changes gather in the stream until `wb-engine resume`",
                )
            } else {
                ("resumed", "the engine catches up on what gathered")
            };
            println!(
                "{did} job '{}' on {}: {then}",
                args.job,
                job.stream.stream()
            );
        }
        Ok(())
    })
}
