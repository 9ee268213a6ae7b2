//! `wb-engine trace JOB [--key K] [--count N]`: the next changes of a job
//! and the row ops it makes of them, without writing or acknowledging.

use std::path::PathBuf;

use anyhow::Context as _;
use wb_engine::cases::render_op;
use wb_engine::control::trace::{key_now, latest_of_key, position, unprocessed, Position};
use wb_engine::control::{ControlError, JobStream, Shard};
use wb_engine::pipeline::{prepare, PreparedBatch};
use wb_engine::project::Project;
use wb_engine::source::ShardReader;
use wb_engine::source::{Captured, SourceError, StreamId, StreamRead};
use wb_engine::transform::{Limits, ValueData, WasmHost};

use super::{MapperArgs, RedisArgs};

/// How far back `--key` looks for the key's latest entry.
const KEY_SEARCH_LIMIT: usize = 100_000;

#[derive(clap::Args)]
#[command(after_help = "\
The stream is read with XRANGE, outside the engine's consumer group: nothing is taken, \
written or acknowledged. Each change's value is read now (as the engine reads it when it \
processes the change) and run through the job's components as the engine runs them; \
changes to one key that the engine would handle in one batch show which one it keeps.

Examples:
  wb-engine trace users                  # the next 10 unprocessed changes
  wb-engine trace users --key user:42    # the latest change of one key (or the key as it is now)")]
pub struct Args {
    /// The job's name (its file's stem in jobs/, or its folder's name for
    /// jobs/NAME/job.yaml).
    job: String,
    /// Show one key: its latest change in the stream or, without one, what
    /// a change to it would make now.
    #[arg(long)]
    key: Option<String>,
    /// How many unprocessed changes to show.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// The project directory: config.yaml and jobs/*.yaml.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    mapper: MapperArgs,
}

pub fn trace(args: Args) -> anyhow::Result<()> {
    let project = Project::load(&args.dir)?;
    let job = project.job(&args.job)?;
    let host = WasmHost::new().context("starting the Wasm host")?;
    let transform = job
        .bundle(&args.mapper.path()?)?
        .load(&host, Limits::default())
        .with_context(|| format!("loading job '{}' ({})", job.name, job.file.display()))?;
    super::runtime()?.block_on(async {
        let url = &args.redis.redis_url;
        let mut shard = Shard::connect(url).await?;
        let registered = shard.job(&job.name).await;
        let fail = |e: SourceError| ControlError::redis(url, e);
        let (stream, read, position, header) = match (&args.key, registered) {
            (Some(key), registered) => {
                // A key can be traced before the job is registered: there
                // is no stream to search then.
                let stream = match registered {
                    Ok(registered) => Some(registered.stream),
                    Err(ControlError::NotRegistered { .. }) => None,
                    Err(e) => return Err(e.into()),
                };
                let found = match &stream {
                    Some(stream) => {
                        latest_of_key(shard.connection(), stream, key.as_bytes(), KEY_SEARCH_LIMIT)
                            .await
                            .map_err(fail)?
                    }
                    None => None,
                };
                let header = match (&stream, &found) {
                    (Some(stream), Some(_)) => format!(
                        "job {}, key {key}: its latest change in {}",
                        job.name,
                        stream.stream()
                    ),
                    (Some(stream), None) => format!(
                        "job {}, key {key}: no change of it in {} (the last {KEY_SEARCH_LIMIT} \
                         entries); what a change to it would make now",
                        job.name,
                        stream.stream()
                    ),
                    (None, _) => format!(
                        "job {}, key {key}: the job is not registered on {url}; what a change to \
                         the key would make now",
                        job.name
                    ),
                };
                let stream = stream.unwrap_or_else(|| JobStream::new("0", job.name.as_str()));
                let read = match found {
                    Some(read) => read,
                    None => key_now(shard.connection(), &stream, key.as_bytes())
                        .await
                        .map_err(fail)?,
                };
                (stream, read, Position::default(), header)
            }
            (None, registered) => {
                let stream = registered?.stream;
                let name = stream.stream();
                let position = position(shard.connection(), &name).await.map_err(fail)?;
                let read = unprocessed(
                    shard.connection(),
                    &stream,
                    &position,
                    usize::try_from(args.count).unwrap_or(usize::MAX),
                )
                .await
                .map_err(fail)?;
                let header = describe(&job.name, &name, &position, &read);
                (stream, read, position, header)
            }
        };
        println!("{header}");
        if read.entries.is_empty() && read.malformed.is_empty() {
            return Ok(());
        }
        println!("values are read now; nothing is written or acknowledged\n");
        let entries = read.entries.clone();
        let malformed = read.malformed.clone();
        // Values are read the way the engine's reader reads them.
        let mut reader = ShardReader::connect(shard.url()).await?;
        let prepared = prepare(
            reader.connection(),
            &stream,
            &transform,
            None,
            read,
            std::time::Instant::now(),
        )
        .await?;
        show(&entries, &malformed, &position, &prepared);
        Ok(())
    })
}

/// The header of an unprocessed-changes trace.
fn describe(job: &str, stream: &str, position: &Position, read: &StreamRead) -> String {
    let shown = read.entries.len() + read.malformed.len();
    if shown == 0 {
        return format!(
            "job {job}: no unprocessed changes in {stream} ({} entries, all processed); \
             --key KEY shows what a change to one key makes",
            position.length
        );
    }
    let engine = if !position.group {
        "the engine has not read it yet".to_owned()
    } else if position.pending > 0 {
        format!(
            "{} read by the engine and not acknowledged yet",
            position.pending
        )
    } else {
        "the engine has read none of them yet".to_owned()
    };
    format!(
        "job {job}: the next {shown} unprocessed change{} in {stream} ({} entries; {engine})",
        if shown == 1 { "" } else { "s" },
        position.length
    )
}

/// Each entry in stream order with what the job makes of it.
fn show(
    entries: &[Captured],
    malformed: &[(StreamId, String)],
    position: &Position,
    prepared: &PreparedBatch,
) {
    let changes = prepared.changes();
    let output = prepared.output();
    let mut lines: Vec<(StreamId, Vec<String>)> = Vec::new();
    for entry in entries {
        let id = entry.id.to_string();
        let label = if entry.id == StreamId::ZERO {
            "now".to_owned()
        } else {
            id.clone()
        };
        let mut head = format!(
            "{label}  {}  {}  ({})",
            entry.event,
            shown_key(&entry.key),
            entry.kind.label()
        );
        if position.is_delivered(entry.id) {
            head.push_str("  [read by the engine, not acknowledged yet]");
        }
        let mut block = vec![head];
        if let Some(at) = changes.iter().position(|c| c.stream_id == id) {
            let change = &changes[at];
            block.push(format!(
                "  value  {}",
                value(&change.value, entry.is_flush())
            ));
            match output.get(at) {
                Some(Ok(ops)) if ops.is_empty() => {
                    block.push("  no row ops (filtered or dropped by a step)".to_owned());
                }
                Some(Ok(ops)) => {
                    block.extend(ops.iter().map(|op| format!("  {}", render_op(op, true))));
                }
                Some(Err(e)) => block.push(format!(
                    "  rejected (transform): {e}  -> the dead-letter queue"
                )),
                None => {}
            }
        } else if let Some(letter) = prepared.dead_letters().iter().find(|l| l.stream_id == id) {
            block.push(format!(
                "  rejected ({}): {}  -> the dead-letter queue",
                letter.stage.as_str(),
                letter.reason
            ));
        } else if entry.is_flush() {
            block.push("  superseded by a later flush in the same batch".to_owned());
        } else {
            let later = changes
                .iter()
                .find(|c| c.key == entry.key)
                .map_or_else(|| "a later flush".to_owned(), |c| c.stream_id.clone());
            block.push(format!(
                "  superseded by {later}: a batch reads each key once, for its latest change"
            ));
        }
        lines.push((entry.id, block));
    }
    for (id, reason) in malformed {
        lines.push((
            *id,
            vec![
                format!("{id}  malformed entry"),
                format!("  rejected (capture): {reason}  -> the dead-letter queue"),
            ],
        ));
    }
    lines.sort_by_key(|(id, _)| *id);
    for (_, block) in lines {
        for line in block {
            println!("{line}");
        }
    }
}

fn shown_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if !text.is_empty() && !text.contains(char::is_whitespace) => text.to_owned(),
        _ => format!("{:?}", String::from_utf8_lossy(key)),
    }
}

/// A value, shortened to a line.
fn value(value: &ValueData, flush: bool) -> String {
    const MAX: usize = 300;
    let text = |b: &[u8]| format!("{:?}", String::from_utf8_lossy(b));
    let mut shown = match value {
        ValueData::Missing if flush => "every key is gone (a FLUSHALL/FLUSHDB)".to_owned(),
        ValueData::Missing => "missing (the key is gone)".to_owned(),
        ValueData::Hash(pairs) => format!(
            "hash {{{}}}",
            pairs
                .iter()
                .map(|(f, v)| format!("{}: {}", String::from_utf8_lossy(f), text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValueData::Json(doc) => format!("json {doc}"),
        ValueData::Set(members) => format!(
            "set [{}]",
            members
                .iter()
                .map(|m| text(m))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValueData::SortedSet(scored) => format!(
            "zset {{{}}}",
            scored
                .iter()
                .map(|(m, s)| format!("{}: {s}", text(m)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if shown.len() > MAX {
        shown.truncate(shown.floor_char_boundary(MAX));
        shown.push_str(" ...");
    }
    shown
}
