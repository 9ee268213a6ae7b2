//! `wb-engine status [JOB...] [--json] [--live] [--dir DIR]`: per job and
//! shard, the state, backlog and counters the engine keeps in Redis.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use wb_engine::control::status::{self, JobStatus};
use wb_engine::control::{shards, ControlError};
use wb_engine::project::Project;

use super::RedisArgs;

#[derive(clap::Args)]
#[command(after_help = "\
Columns, per job and shard (one line each):
  STATE     running; paused (wb-engine pause); retrying: REASON (a transient failure, \
retried with backoff); held: REASON (the target does not match the job: a missing table, \
column or privilege; its changes wait, and it goes on once the target is fixed); error: \
MESSAGE (the engine stopped); stopped (the engine exited); \
idle (no engine has processed a batch yet); not registered (with --dir: a project job \
the capture module does not track yet)
  LENGTH    entries in the job's change stream (XLEN)
  PENDING   entries read by the engine and not yet acknowledged
  LAG       age of the oldest change not yet acknowledged (0 when caught up)
  READ      stream entries processed; WRITTEN changes whose rows the target committed; \
REJECTED changes sent to the dead-letter queue (wb-engine dlq list JOB); BATCHES
  RATE      changes read per second between two samples (--live only)
--json adds the row operations the target committed, by kind: rows_upserted (inserted or \
updated: the target does not say which), rows_deleted (rows, and child rows replaced) and \
rows_appended.
The counters are the engine's, kept in Redis (wb:{TAG}:status:JOB), so status works from \
any machine that reaches Redis; it needs no access to the target.")]
pub struct Args {
    /// Show only these jobs (default: every job the capture module tracks).
    jobs: Vec<String>,
    /// One JSON array instead of a table (with --live: one array per line,
    /// each second). Fields: job, shard, stream, state, paused, length,
    /// pending, lag_ms, read, written, skipped, rejected, rows_upserted,
    /// rows_deleted, rows_appended, batches, last_batch_ms, updated_ms,
    /// rate (null without --live).
    #[arg(long)]
    json: bool,
    /// Refresh every second until Ctrl-C, with rates.
    #[arg(long)]
    live: bool,
    /// A project directory: its jobs are shown too, even when the capture
    /// module does not track them yet.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(flatten)]
    redis: RedisArgs,
}

/// One job on one shard.
struct Row {
    job: String,
    shard: String,
    stream: String,
    status: Option<JobStatus>,
    rate: Option<f64>,
}

pub fn status(args: Args) -> anyhow::Result<()> {
    let mut wanted = args.jobs.clone();
    if let Some(dir) = &args.dir {
        let project = Project::load(dir)?;
        wanted.extend(project.jobs.iter().map(|j| j.name.clone()));
    }
    let from_project = args.dir.is_some();
    super::runtime()?.block_on(async {
        if !args.live {
            let rows = sample(&args.redis.redis_url, &wanted, from_project).await?;
            print(&rows, args.json, false)?;
            return Ok(());
        }
        let mut previous: HashMap<String, (u64, Instant)> = HashMap::new();
        loop {
            let mut rows = sample(&args.redis.redis_url, &wanted, from_project).await?;
            let now = Instant::now();
            for row in &mut rows {
                let Some(status) = &row.status else { continue };
                if let Some((read, at)) = previous.get(&row.stream) {
                    let seconds = now.duration_since(*at).as_secs_f64();
                    if seconds > 0.0 {
                        row.rate = Some(status.read.saturating_sub(*read) as f64 / seconds);
                    }
                }
                previous.insert(row.stream.clone(), (status.read, now));
            }
            print(&rows, args.json, true)?;
            tokio::select! {
                _ = super::wait_for_signal() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })
}

/// The status of every tracked job (or of `wanted`), on every shard.
async fn sample(url: &str, wanted: &[String], from_project: bool) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for mut shard in shards(url).await? {
        let jobs = shard.jobs().await?;
        for job in &jobs {
            if !wanted.is_empty() && !wanted.contains(&job.name) {
                continue;
            }
            let read = status::read(shard.connection(), &job.stream)
                .await
                .map_err(|e| ControlError::redis(shard.url(), e))?;
            rows.push(Row {
                job: job.name.clone(),
                shard: job.stream.tag.clone(),
                stream: job.stream.stream(),
                status: Some(read),
                rate: None,
            });
        }
        for name in wanted {
            if jobs.iter().all(|j| &j.name != name) {
                if !from_project {
                    // Names a job that is not there: say which are.
                    shard.job(name).await?;
                }
                rows.push(Row {
                    job: name.clone(),
                    shard: String::new(),
                    stream: String::new(),
                    status: None,
                    rate: None,
                });
            }
        }
    }
    rows.sort_by(|a, b| (&a.job, &a.shard).cmp(&(&b.job, &b.shard)));
    Ok(rows)
}

fn print(rows: &[Row], json: bool, live: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let items: Vec<serde_json::Value> = rows.iter().map(to_json).collect();
        if live {
            writeln!(out, "{}", serde_json::to_string(&items)?)?;
        } else {
            writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        }
        out.flush()?;
        return Ok(());
    }
    if live && std::io::stdout().is_terminal() {
        // Clear the screen and go home.
        write!(out, "\x1b[2J\x1b[H")?;
    }
    let header = [
        "JOB", "SHARD", "STATE", "LENGTH", "PENDING", "LAG", "READ", "WRITTEN", "REJECTED",
        "BATCHES", "RATE",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for row in rows {
        let mut line = vec![row.job.clone(), row.shard.clone()];
        match &row.status {
            None => {
                line.push("not registered".to_owned());
                line.extend(std::iter::repeat_n("-".to_owned(), 8));
            }
            Some(s) => {
                line.extend([
                    s.state.clone(),
                    s.length.to_string(),
                    s.pending.to_string(),
                    duration(s.lag_ms),
                    s.read.to_string(),
                    s.written.to_string(),
                    s.rejected.to_string(),
                    s.batches.to_string(),
                    row.rate.map_or("-".to_owned(), |r| format!("{r:.0}/s")),
                ]);
            }
        }
        table.push(line);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "no jobs: the capture module tracks none (`wb-engine run --dir PROJECT` registers a project's jobs)"
        )?;
        return Ok(());
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            table
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &table {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    out.flush()?;
    Ok(())
}

/// A lag for people: `0s`, `1.5s`, `2m05s`, `3h12m`.
fn duration(ms: u64) -> String {
    match ms {
        0 => "0s".to_owned(),
        ms if ms < 60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        ms if ms < 3_600_000 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        ms => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

fn to_json(row: &Row) -> serde_json::Value {
    match &row.status {
        None => json!({"job": row.job, "state": "not registered"}),
        Some(s) => json!({
            "job": row.job,
            "shard": row.shard,
            "stream": row.stream,
            "state": s.state,
            "paused": s.paused,
            "length": s.length,
            "pending": s.pending,
            "lag_ms": s.lag_ms,
            "read": s.read,
            "written": s.written,
            "skipped": s.skipped,
            "rejected": s.rejected,
            "rows_upserted": s.rows.upserted,
            "rows_deleted": s.rows.deleted,
            "rows_appended": s.rows.appended,
            "batches": s.batches,
            "last_batch_ms": s.last_batch_ms,
            "updated_ms": s.updated_ms,
            "rate": row.rate,
        }),
    }
}
