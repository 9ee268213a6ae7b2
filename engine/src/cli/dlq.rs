//! `wb-engine dlq list|replay|purge JOB`: a job's dead-letter queue.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use wb_engine::control::dlq::{self, StoredLetter};
use wb_engine::control::{shards, ControlError, Shard};
use wb_engine::source::StreamId;

use super::RedisArgs;

#[derive(clap::Args)]
#[command(after_help = "\
A job's dead-letter queue, the stream wb:{TAG}:dlq:JOB, holds the changes the engine could \
not write, each with its key, event, stream id (its entry in the job's stream), stage \
(capture: a malformed entry; fetch: its value could not be read; transform: the job \
rejected it; write: the target refused the row), reason, time and, for the write stage, \
the row the target refused. It keeps the newest dlq_max_messages (config.yaml's applier). \
The rest of each batch is written: one bad record never blocks the others.")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Lists a job's dead letters, oldest first.
    List(ListArgs),
    /// Sends the keys of a job's dead letters through the job again and
    /// removes those dead letters.
    #[command(after_help = "\
For each key, a change (event `replay`) goes into the job's change stream, in the same \
transaction that removes its dead letters. The running engine (`wb-engine run`) then reads \
the key's value as it is now and writes it; a change that still fails goes back to the \
dead-letter queue with its reason. Fix the cause first (the target table, the job, the \
value in Redis), then replay.")]
    Replay(ReplayArgs),
    /// Empties a job's dead-letter queue (its dead letters are gone for good).
    Purge(JobArgs),
}

#[derive(clap::Args)]
pub struct JobArgs {
    /// The job's name.
    job: String,
    #[command(flatten)]
    redis: RedisArgs,
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    target: JobArgs,
    /// One JSON array instead of text: id, dlq, time (ms since the epoch),
    /// time_utc, key, key_hex (when the key is not UTF-8), event,
    /// stream_id, stage, reason, row.
    #[arg(long)]
    json: bool,
    /// Show at most this many, oldest first.
    #[arg(long)]
    count: Option<usize>,
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    target: JobArgs,
    /// Replay only this dead letter (its id, from `dlq list`); repeatable.
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<StreamId>,
}

pub fn dlq(args: Args) -> anyhow::Result<()> {
    super::runtime()?.block_on(async {
        match args.command {
            Command::List(args) => list(args).await,
            Command::Replay(args) => replay(args).await,
            Command::Purge(args) => purge(args).await,
        }
    })
}

/// The job's dead-letter streams on `shard`: the registered job's, or, for
/// a job no longer registered, those found by name.
async fn streams(shard: &mut Shard, job: &str) -> anyhow::Result<Vec<String>> {
    match shard.job(job).await {
        Ok(registered) => Ok(vec![registered.stream.dead_letters()]),
        Err(missing @ ControlError::NotRegistered { .. }) => {
            let found = dlq::find(shard.connection(), job)
                .await
                .map_err(|e| ControlError::redis(shard.url(), e))?;
            if found.is_empty() {
                Err(missing.into())
            } else {
                Ok(found)
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for mut shard in shards(&args.target.redis.redis_url).await? {
        for stream in streams(&mut shard, &args.target.job).await? {
            let letters = dlq::list(shard.connection(), &stream, args.count)
                .await
                .map_err(|e| ControlError::redis(shard.url(), e))?;
            let held = dlq::length(shard.connection(), &stream)
                .await
                .map_err(|e| ControlError::redis(shard.url(), e))?;
            all.push((stream, held, letters));
        }
    }
    if args.json {
        let items: Vec<serde_json::Value> = all
            .iter()
            .flat_map(|(stream, _, letters)| letters.iter().map(move |l| to_json(stream, l)))
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    for (stream, held, letters) in &all {
        match held {
            0 => println!("{stream}: no dead letters"),
            1 => println!("{stream}: 1 dead letter"),
            n if letters.len() < *n => {
                println!(
                    "{stream}: {n} dead letters, the oldest {} shown",
                    letters.len()
                )
            }
            n => println!("{stream}: {n} dead letters"),
        }
        for letter in letters {
            println!(
                "{}  {}  {}  {} ({}, change {})",
                letter.id,
                time(letter.time_ms),
                letter.stage,
                key_text(&letter.key),
                letter.event,
                letter.stream_id
            );
            println!("    reason: {}", letter.reason);
            if let Some(row) = &letter.row {
                println!("    row:    {row}");
            }
        }
    }
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let job = &args.target.job;
    for mut shard in shards(&args.target.redis.redis_url).await? {
        // Replaying needs the job's stream, which only a registered job has.
        let registered = shard.job(job).await.with_context(|| {
            format!("replaying job '{job}' needs the job registered, so that the engine reads its stream")
        })?;
        let ids = (!args.ids.is_empty()).then_some(args.ids.as_slice());
        let done = dlq::replay(shard.connection(), &registered.stream, ids)
            .await
            .map_err(|e| ControlError::redis(shard.url(), e))?;
        println!(
            "job {job}: {} key{} sent through the job again ({} dead letter{} removed from {}); \
             the running engine writes them, and dead-letters again any that still fail",
            done.keys,
            if done.keys == 1 { "" } else { "s" },
            done.entries,
            if done.entries == 1 { "" } else { "s" },
            registered.stream.dead_letters()
        );
        if done.without_key > 0 {
            println!(
                "  {} dead letter{} without a key (malformed stream entries) left in place: \
                 `wb-engine dlq purge {job}` removes them",
                done.without_key,
                if done.without_key == 1 { "" } else { "s" }
            );
        }
        if !done.not_found.is_empty() {
            let ids: Vec<String> = done.not_found.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "no dead letter with id {} in {} (see `wb-engine dlq list {job}`)",
                ids.join(", "),
                registered.stream.dead_letters()
            );
        }
    }
    Ok(())
}

async fn purge(args: JobArgs) -> anyhow::Result<()> {
    for mut shard in shards(&args.redis.redis_url).await? {
        for stream in streams(&mut shard, &args.job).await? {
            let held = dlq::purge(shard.connection(), &stream)
                .await
                .map_err(|e| ControlError::redis(shard.url(), e))?;
            println!(
                "{stream}: {held} dead letter{} removed",
                if held == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

fn to_json(stream: &str, letter: &StoredLetter) -> serde_json::Value {
    let key_hex = std::str::from_utf8(&letter.key).is_err().then(|| {
        letter
            .key
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    json!({
        "id": letter.id.to_string(),
        "dlq": stream,
        "time": letter.time_ms,
        "time_utc": letter.time_ms.map(|ms| time(Some(ms))),
        "key": String::from_utf8_lossy(&letter.key),
        "key_hex": key_hex,
        "event": letter.event,
        "stream_id": letter.stream_id,
        "stage": letter.stage,
        "reason": letter.reason,
        "row": letter.row,
    })
}

fn time(ms: Option<u64>) -> String {
    ms.and_then(|ms| i64::try_from(ms).ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map_or_else(
            || "(no time)".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        )
}

fn key_text(key: &[u8]) -> String {
    if key.is_empty() {
        return "(no key)".to_owned();
    }
    match std::str::from_utf8(key) {
        Ok(text) if !text.contains(char::is_whitespace) => text.to_owned(),
        _ => format!("{:?}", String::from_utf8_lossy(key)),
    }
}
