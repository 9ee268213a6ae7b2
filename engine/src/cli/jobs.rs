//! `wb-engine jobs list|describe NAME|remove NAME`: the jobs the capture
//! module tracks, and with `--dir` a project's job files.

use std::path::PathBuf;

use serde_json::json;
use wb_engine::control::status;
use wb_engine::control::{shards, ControlError, RegisteredJob};
use wb_engine::project::Project;

use super::RedisArgs;

#[derive(clap::Args)]
#[command(after_help = "\
The capture module on each shard keeps a table of jobs (name, key pattern, excluded \
events); `wb-engine run --dir PROJECT` registers a project's jobs in it when it starts. \
These commands read and edit that table from any machine that reaches Redis.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Lists the jobs the capture module tracks (and with --dir the
    /// project's jobs, marked when not registered).
    List(ListArgs),
    /// Shows a job's key pattern, excluded events, stream and status; with
    /// --dir also its file and outputs.
    Describe(DescribeArgs),
    /// Stops recording a job's changes (WB.JOB.DEL on every shard).
    #[command(after_help = "\
The job's stream, dead letters and status stay in Redis (the engine still processes what \
the stream holds). A running `wb-engine run` does not register the job again until it \
restarts: remove its file from the project too.")]
    Remove(NameArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// One JSON array instead of text: name, pattern, excluded, stream,
    /// state, file (with --dir), registered.
    #[arg(long)]
    json: bool,
    /// A project directory: its jobs are listed too.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(flatten)]
    redis: RedisArgs,
}

#[derive(clap::Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    name: NameArgs,
    /// The project directory holding the job's file.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct NameArgs {
    /// The job's name.
    name: String,
    #[command(flatten)]
    redis: RedisArgs,
}

pub fn jobs(args: Args) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        match args.command {
            Command::List(args) => list(args).await,
            Command::Describe(args) => describe(args).await,
            Command::Remove(args) => remove(args).await,
        }
    })
}

/// Every registered job with its state, on every shard.
async fn registered(url: &str) -> anyhow::Result<Vec<(RegisteredJob, String)>> {
    let mut all = Vec::new();
    for mut shard in shards(url).await? {
        for job in shard.jobs().await? {
            let state = status::read(shard.connection(), &job.stream)
                .await
                .map_err(|e| ControlError::redis(shard.url(), e))?
                .state;
            all.push((job, state));
        }
    }
    all.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(all)
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let project = args.dir.as_deref().map(Project::load).transpose()?;
    let jobs = registered(&args.redis.redis_url).await?;
    let file = |name: &str| {
        project
            .as_ref()
            .and_then(|p| p.jobs.iter().find(|j| j.name == name))
            .map(|j| j.file.display().to_string())
    };
    let unregistered: Vec<(String, String)> = project
        .iter()
        .flat_map(|p| &p.jobs)
        .filter(|j| jobs.iter().all(|(r, _)| r.name != j.name))
        .map(|j| (j.name.clone(), j.file.display().to_string()))
        .collect();
    if args.json {
        let mut items: Vec<serde_json::Value> = jobs
            .iter()
            .map(|(job, state)| {
                json!({
                    "name": job.name,
                    "pattern": String::from_utf8_lossy(&job.pattern),
                    "excluded": job.excluded,
                    "stream": job.stream.stream(),
                    "state": state,
                    "file": file(&job.name),
                    "registered": true,
                })
            })
            .collect();
        items.extend(unregistered.iter().map(|(name, file)| {
            json!({"name": name, "file": file, "registered": false, "state": "not registered"})
        }));
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    if jobs.is_empty() && unregistered.is_empty() {
        println!(
            "no jobs: the capture module tracks none (`wb-engine run --dir PROJECT` registers a project's jobs)"
        );
    }
    for (job, state) in &jobs {
        println!(
            "{}  {}  {}  {state}",
            job.name,
            String::from_utf8_lossy(&job.pattern),
            job.stream.stream()
        );
    }
    for (name, file) in &unregistered {
        println!("{name}  not registered  ({file})");
    }
    Ok(())
}

async fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    let name = &args.name.name;
    let project = args.dir.as_deref().map(Project::load).transpose()?;
    let plan = match &project {
        Some(project) => Some(project.job(name)?),
        None => None,
    };
    println!("job: {name}");
    if let Some(plan) = plan {
        println!("file: {}", plan.file.display());
        println!("source pattern: {}", plan.job.source.redis.key_pattern);
        for output in &plan.outputs {
            println!(
                "output: {} (connection {})",
                output.table, output.connection
            );
        }
    }
    for mut shard in shards(&args.name.redis.redis_url).await? {
        let job = match shard.job(name).await {
            Ok(job) => job,
            Err(ControlError::NotRegistered { .. }) if plan.is_some() => {
                println!("registered: no (on {})", shard.url());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let s = status::read(shard.connection(), &job.stream)
            .await
            .map_err(|e| ControlError::redis(shard.url(), e))?;
        println!(
            "registered pattern: {}",
            String::from_utf8_lossy(&job.pattern)
        );
        if !job.excluded.is_empty() {
            println!("excluded events: {}", job.excluded.join(", "));
        }
        println!(
            "stream: {} ({} entries, {} pending)",
            job.stream.stream(),
            s.length,
            s.pending
        );
        println!("state: {}", s.state);
        println!(
            "read: {}  written: {}  rejected: {}  batches: {}",
            s.read, s.written, s.rejected, s.batches
        );
    }
    Ok(())
}

async fn remove(args: NameArgs) -> anyhow::Result<()> {
    let mut removed = false;
    let mut urls = Vec::new();
    for mut shard in shards(&args.redis.redis_url).await? {
        removed |= shard.remove_job(&args.name).await?;
        urls.push(shard.url().to_owned());
    }
    if !removed {
        anyhow::bail!(
            "job '{}' is not registered on {} (wb-engine jobs list shows those that are)",
            args.name,
            urls.join(", ")
        );
    }
    println!(
        "removed job '{}': its changes are no longer recorded (its stream, dead letters and status stay)",
        args.name
    );
    Ok(())
}
