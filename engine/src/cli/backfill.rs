//! `wb-engine backfill JOB`: enqueues the keys that existed before the job
//! as changes, with progress on stderr; interruptible and resumable.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wb_engine::control::backfill::{backfill_shard, BackfillOptions, Finish, Progress};
use wb_engine::control::shards;

use super::{wait_for_signal, RedisArgs};

/// The exit code of a backfill stopped by SIGINT or SIGTERM (resumable).
const INTERRUPTED: u8 = 130;

#[derive(clap::Args)]
#[command(after_help = "\
The job must be registered (`wb-engine run` registers a project's jobs), so that keys \
written while the backfill runs are captured too. Each batch of keys found by SCAN MATCH \
with the job's pattern is checked with TYPE (keys of types wb does not map are skipped) \
and enqueued as changes (event `backfill`) in one transaction with the SCAN cursor, kept \
in wb:{TAG}:backfill:JOB. Stopped (Ctrl-C, SIGTERM) or killed, it resumes from there when \
run again; a key may then be enqueued twice, which is harmless. The running engine reads \
each key's value when it processes the change.

Progress (keys looked at, of the estimated total from DBSIZE, rate, ETA) goes to stderr: \
redrawn on a terminal, a line a second otherwise. Exit codes: 0 complete, 1 an error, 130 \
interrupted (run again to resume).")]
pub struct Args {
    /// The job's name, as registered with the capture module.
    job: String,
    /// Keys the server looks at per SCAN call.
    #[arg(long, default_value_t = 1000)]
    scan_count: usize,
    /// Pause while the job's stream holds this many unprocessed changes or
    /// more, until the engine catches up (0: never pause).
    #[arg(long, default_value_t = 100_000)]
    max_backlog: usize,
    /// Forget an interrupted backfill's position and start over.
    #[arg(long)]
    restart: bool,
    #[command(flatten)]
    redis: RedisArgs,
}

pub fn backfill(args: Args) -> anyhow::Result<ExitCode> {
    let options = BackfillOptions {
        scan_count: args.scan_count.max(1),
        max_backlog: args.max_backlog,
        restart: args.restart,
    };
    super::runtime()?.block_on(async {
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        let url = &args.redis.redis_url;
        for mut shard in shards(url).await? {
            let job = shard.job(&args.job).await?;
            if shard.is_cluster().await? {
                eprintln!(
                    "warning: {url} is a cluster node, and cluster discovery is not built yet: \
                     only this node's keys are backfilled; run backfill against each primary"
                );
            }
            let state = job.stream.backfill_state();
            let mut line = ProgressLine::new(&args.job);
            let (finish, progress) =
                backfill_shard(&mut shard, &job, &options, &mut stopped, &mut |p| {
                    line.show(p)
                })
                .await?;
            line.finish();
            match finish {
                Finish::Complete => println!(
                    "backfill {}: complete in {:.1}s: {} keys matched {:?}, {} changes enqueued \
                     into {}, {} skipped (types wb does not map, gone, or wb's own)",
                    args.job,
                    progress.elapsed.as_secs_f64(),
                    thousands(progress.matched),
                    String::from_utf8_lossy(&job.pattern),
                    thousands(progress.enqueued),
                    job.stream.stream(),
                    thousands(progress.skipped)
                ),
                Finish::Interrupted => {
                    eprintln!(
                        "backfill {}: interrupted after {} changes enqueued; run the same \
                         command again to resume (its position is kept in {state})",
                        args.job,
                        thousands(progress.enqueued)
                    );
                    return Ok(ExitCode::from(INTERRUPTED));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The progress line on stderr: redrawn in place on a terminal, one line a
/// second otherwise (logs, pipes).
struct ProgressLine {
    job: String,
    terminal: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl ProgressLine {
    fn new(job: &str) -> ProgressLine {
        ProgressLine {
            job: job.to_owned(),
            terminal: std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    fn show(&mut self, p: &Progress) {
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        let due = self.last.is_none_or(|at| at.elapsed() >= every);
        if !due && !p.done {
            return;
        }
        self.last = Some(Instant::now());
        let text = render(&self.job, p);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{text}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

/// `backfill users: ~24,100 of ~50,210 keys looked at (48%), 24,000 changes
/// enqueued, 12,050 keys/s, ETA 2s`
fn render(job: &str, p: &Progress) -> String {
    let mut text = format!(
        "backfill {job}: {}~{} of ~{} keys looked at ({:.0}%), {} changes enqueued",
        if p.resumed { "(resumed) " } else { "" },
        thousands(p.scanned()),
        thousands(p.total),
        p.fraction * 100.0,
        thousands(p.enqueued)
    );
    let rate = p.rate();
    if rate > 0.0 {
        text.push_str(&format!(", {} keys/s", thousands(rate.round() as u64)));
    }
    if let Some(eta) = p.eta().filter(|_| !p.done) {
        text.push_str(&format!(", ETA {}", duration(eta)));
    }
    if let Some(backlog) = p.waiting {
        text.push_str(&format!(
            ", paused: the job's stream holds {} changes (is `wb-engine run` running?)",
            thousands(backlog as u64)
        ));
    }
    text
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_as_a_line() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(duration(Duration::from_secs(75)), "1m15s");
        let p = Progress {
            fraction: 0.5,
            total: 50_000,
            enqueued: 24_000,
            elapsed: Duration::from_secs(2),
            ..Progress::default()
        };
        assert_eq!(
            render("users", &p),
            "backfill users: ~25,000 of ~50,000 keys looked at (50%), 24,000 changes enqueued, \
             12,500 keys/s, ETA 2s"
        );
    }
}
