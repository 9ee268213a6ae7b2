//! Prometheus metrics of a running engine (`wb-engine run --metrics-addr`).
//!
//! The per job and shard figures are the ones `wb-engine status` shows,
//! read at each scrape from the same status hashes and streams in Redis, so
//! that the two never disagree: changes read, written, skipped and
//! rejected, batches, stream length, pending entries, lag, state. What only
//! the engine knows is kept in process: how long its batches take, from the
//! read to the acknowledgement, and how often it retried or held a job.

mod histogram;
mod http;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::naming::JobStream;
use super::shard::connect_multiplexed;
use super::status::{self, JobStatus};
use crate::source::SourceError;

pub use histogram::Histogram;
pub use http::serve;

/// How long a scrape waits for Redis.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the engine records as it runs, and the server it reads the rest
/// from.
pub struct Metrics {
    url: String,
    /// Batch latency per (job, shard).
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    retries: Mutex<u64>,
    holds: Mutex<u64>,
    /// Kept between scrapes; replaced when it fails.
    con: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics of an engine reading from the Redis at `url`.
    pub fn new(url: &str) -> Metrics {
        Metrics {
            url: url.to_owned(),
            latency: Mutex::new(BTreeMap::new()),
            retries: Mutex::new(0),
            holds: Mutex::new(0),
            con: tokio::sync::Mutex::new(None),
        }
    }

    /// A batch of `stream` acknowledged `latency` after it was read.
    pub fn observe_batch(&self, stream: &JobStream, latency: Duration) {
        let mut all = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        // Looked up by reference first: the key is built once per job.
        match all
            .iter_mut()
            .find(|((job, tag), _)| *job == stream.job && *tag == stream.tag)
        {
            Some((_, histogram)) => histogram.observe(latency),
            None => {
                let mut histogram = Histogram::default();
                histogram.observe(latency);
                all.insert((stream.job.clone(), stream.tag.clone()), histogram);
            }
        }
    }

    /// A transient failure retried.
    pub fn count_retry(&self) {
        *self.retries.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    /// A job held because its target does not match it.
    pub fn count_hold(&self) {
        *self.holds.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    /// The metrics in Prometheus's text format. Figures read from Redis are
    /// left out, and `wb_redis_up` is 0, when it cannot be read.
    pub async fn render(&self) -> String {
        // A scraper gives up after a few seconds: so does the scrape, and
        // says Redis is not up rather than hanging.
        let statuses = match tokio::time::timeout(SCRAPE_TIMEOUT, self.statuses()).await {
            Ok(Ok(statuses)) => Some(statuses),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "metrics: cannot read the jobs' status");
                *self.con.lock().await = None;
                None
            }
            Err(_) => {
                tracing::debug!("metrics: reading the jobs' status timed out");
                *self.con.lock().await = None;
                None
            }
        };
        let mut out = String::new();
        family(
            &mut out,
            "wb_redis_up",
            "gauge",
            "Whether this scrape could read the jobs' status from Redis.",
        );
        let _ = writeln!(out, "wb_redis_up {}", u8::from(statuses.is_some()));
        for (name, help, value) in [
            (
                "wb_retries_total",
                "Transient failures the engine retried.",
                *self.retries.lock().unwrap_or_else(|e| e.into_inner()),
            ),
            (
                "wb_holds_total",
                "Times a job was held because its target did not match it.",
                *self.holds.lock().unwrap_or_else(|e| e.into_inner()),
            ),
        ] {
            family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        if let Some(statuses) = &statuses {
            render_statuses(&mut out, statuses);
        }
        let latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        if !latency.is_empty() {
            let name = "wb_batch_duration_seconds";
            family(
                &mut out,
                name,
                "histogram",
                "Time from reading a batch to acknowledging it.",
            );
            for ((job, shard), histogram) in latency.iter() {
                histogram.render(&mut out, name, &labels(job, shard));
            }
        }
        out
    }

    /// The status of every job on the server, as `wb-engine status` reads
    /// it.
    async fn statuses(&self) -> Result<Vec<(JobStream, JobStatus)>, SourceError> {
        let mut slot = self.con.lock().await;
        let con = match &mut *slot {
            Some(con) => con,
            None => slot.insert(connect_multiplexed(&self.url).await?),
        };
        let names: Vec<String> = redis::cmd("WB.STREAMS").query_async(con).await?;
        let mut statuses = Vec::with_capacity(names.len());
        for stream in names.iter().filter_map(|name| JobStream::parse(name)) {
            let status = status::read(con, &stream).await?;
            statuses.push((stream, status));
        }
        Ok(statuses)
    }
}

/// The figures `wb-engine status` shows, one sample per job and shard.
fn render_statuses(out: &mut String, statuses: &[(JobStream, JobStatus)]) {
    /// Name, Prometheus type, help, and the figure of a status.
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&JobStatus) -> f64,
    );
    const COUNTER: &str = "counter";
    const GAUGE: &str = "gauge";
    let families: [Family; 9] = [
        (
            "wb_changes_read_total",
            COUNTER,
            "Stream entries read and acknowledged.",
            |s| s.read as f64,
        ),
        (
            "wb_changes_written_total",
            COUNTER,
            "Changes whose rows the target committed.",
            |s| s.written as f64,
        ),
        (
            "wb_changes_skipped_total",
            COUNTER,
            "Changes the target already had (written before a crash).",
            |s| s.skipped as f64,
        ),
        (
            "wb_changes_rejected_total",
            COUNTER,
            "Changes sent to the dead-letter queue.",
            |s| s.rejected as f64,
        ),
        ("wb_batches_total", COUNTER, "Batches acknowledged.", |s| {
            s.batches as f64
        }),
        (
            "wb_stream_length",
            GAUGE,
            "Entries in the job's change stream.",
            |s| s.length as f64,
        ),
        (
            "wb_pending_changes",
            GAUGE,
            "Entries read and not yet acknowledged.",
            |s| s.pending as f64,
        ),
        (
            "wb_lag_seconds",
            GAUGE,
            "Age of the oldest change not yet acknowledged (0 when caught up).",
            |s| s.lag_ms as f64 / 1000.0,
        ),
        ("wb_job_paused", GAUGE, "1 while the job is paused.", |s| {
            f64::from(u8::from(s.paused))
        }),
    ];
    for (name, kind, help, figure) in families {
        family(out, name, kind, help);
        for (stream, s) in statuses {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                labels(&stream.job, &stream.tag),
                figure(s)
            );
        }
    }
    family(
        out,
        "wb_rows_total",
        "counter",
        "Row operations the target committed, by kind: upserted, deleted, appended.",
    );
    for (stream, s) in statuses {
        for (kind, count) in [
            ("upserted", s.rows.upserted),
            ("deleted", s.rows.deleted),
            ("appended", s.rows.appended),
        ] {
            let _ = writeln!(
                out,
                "wb_rows_total{{{},kind=\"{kind}\"}} {count}",
                labels(&stream.job, &stream.tag)
            );
        }
    }
    family(
        out,
        "wb_job_state",
        "gauge",
        "1 for the job's state: running, paused, held, retrying, error, stopped or idle.",
    );
    for (stream, s) in statuses {
        // The state's kind, without its reason: a label value per reason
        // would make a new series for every error message.
        let kind = s.state.split(':').next().unwrap_or_default();
        let _ = writeln!(
            out,
            "wb_job_state{{{},state=\"{}\"}} 1",
            labels(&stream.job, &stream.tag),
            escape(kind)
        );
    }
}

/// The HELP and TYPE lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labels(job: &str, shard: &str) -> String {
    format!("job=\"{}\",shard=\"{}\"", escape(job), escape(shard))
}

/// A label value as Prometheus's text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels("a\"b", "0"), "job=\"a\\\"b\",shard=\"0\"");
        assert_eq!(escape("x\\y\nz"), "x\\\\y\\nz");
    }
}
