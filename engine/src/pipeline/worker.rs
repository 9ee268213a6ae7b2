//! The worker of one shard: every job stream on it, batch after batch, until
//! told to stop.
//!
//! On start it re-processes its own pending entries (a previous run's
//! unfinished batches), then reads new ones as they arrive. A transient
//! failure (Redis or the target unreachable, a timeout, a failover) leaves
//! the batch pending and is retried with exponential backoff and jitter for
//! as long as it takes; a vanished consumer group is created again. A job
//! whose target does not match it (a missing table, column or privilege) is
//! held, its entries pending and its status saying why, while the others go
//! on, and tried again until the target is fixed (see `hold`). Any other
//! failure stops the worker with its error, entries still pending.
//! A stop request is honoured between batches: the batch in flight finishes
//! and is acknowledged first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::control::metrics::Metrics;
use crate::control::{status, JobStream};
use crate::sink::Sink;
use crate::source::{ShardReader, StreamId};
use crate::transform::WasmTransform;

use super::backoff::{wait_unless_stopped, Backoff};
use super::batch::{finish, BatchOutcome, PreparedBatch, StageTimings, WrittenBatch};
use super::error::PipelineError;
use super::hold::HeldJobs;
use super::reading::{ReadingTask, Source};
use super::status::report_state;
use super::writer::write_batches;

/// How a worker reads and retries.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Entries read from each stream per batch.
    pub read_batch_size: usize,
    /// Longest wait for new entries before checking for a stop request.
    pub block: Duration,
    /// First retry delay after a transient failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Cap of each job's dead-letter stream.
    pub dlq_max_messages: usize,
    /// Where batch latencies, retries and holds are counted, if anywhere
    /// (`wb-engine run --metrics-addr`).
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            read_batch_size: 1000,
            block: Duration::from_millis(500),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            dlq_max_messages: 1000,
            metrics: None,
        }
    }
}

/// Totals of a worker's run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub batches: u64,
    pub entries: u64,
    pub delivered: u64,
    pub skipped: u64,
    pub dead_letters: u64,
    /// Transient failures retried.
    pub retries: u64,
    /// Times a job was held because its target did not match it.
    pub holds: u64,
    /// Time spent per stage, over all batches.
    pub timings: StageTimings,
}

/// One shard's worker: its jobs (by name, with their transforms) and the
/// target they write to.
pub struct ShardWorker<S> {
    pub url: String,
    pub jobs: Arc<HashMap<String, WasmTransform>>,
    pub sink: S,
    pub settings: WorkerSettings,
}

impl<S: Sink> ShardWorker<S> {
    /// Runs until `stop` turns true (returns the totals) or a failure that
    /// retrying cannot mend.
    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
    ) -> Result<WorkerStats, PipelineError> {
        let mut stats = WorkerStats::default();
        let mut backoff = Backoff::new(self.settings.min_backoff, self.settings.max_backoff);
        let mut held = HeldJobs::new(self.settings.max_backoff);
        loop {
            if *stop.borrow() {
                return Ok(stats);
            }
            let ended = self
                .session(&mut stop, &mut stats, &mut backoff, &mut held)
                .await;
            let ours = |job: &str| self.jobs.contains_key(job);
            match ended {
                Ok(SessionEnd::Stopped) => {
                    report_state(&self.url, ours, "stopped").await;
                    return Ok(stats);
                }
                Ok(SessionEnd::RetryHeld) => {
                    // A new session reads the held job's pending entries
                    // again, against the target's schema read afresh.
                    self.sink.forget_schema();
                }
                Err(PipelineError::Misconfigured { job, error }) => {
                    stats.holds += 1;
                    if let Some(metrics) = &self.settings.metrics {
                        metrics.count_hold();
                    }
                    let reason = error.to_string();
                    let again = held.reason(&job) == Some(reason.as_str());
                    let delay = held.hold(&job, reason, Instant::now());
                    self.sink.forget_schema();
                    if again {
                        // Each reason is said once at error level; the
                        // failed tries after that only for those who look.
                        tracing::debug!(job, error = %error, retry_in = ?delay, "still held");
                    } else {
                        tracing::error!(
                            job,
                            error = %error,
                            retry_in = ?delay,
                            "the job's target does not match it: holding the job, its changes \
                             pending, until the target is fixed; the other jobs go on"
                        );
                    }
                    let state = format!(
                        "held: {error} (changes kept pending; tried again every {} s until \
                         the target is fixed)",
                        held.cap().as_secs()
                    );
                    report_state(&self.url, |j| j == job, &state).await;
                }
                Err(e) if e.is_transient() || is_missing_group(&e) => {
                    stats.retries += 1;
                    if let Some(metrics) = &self.settings.metrics {
                        metrics.count_retry();
                    }
                    tracing::warn!(error = %e, "retrying after a transient failure");
                    // A held job keeps saying why it is held.
                    let retrying = |job: &str| ours(job) && !held.contains(job);
                    report_state(&self.url, retrying, &format!("retrying: {e}")).await;
                    let delay = backoff.next_delay();
                    // Wake early for a stop request.
                    wait_unless_stopped(delay, &mut stop).await;
                }
                Err(e) => {
                    report_state(&self.url, ours, &format!("error: {e}")).await;
                    return Err(e);
                }
            }
        }
    }

    /// One connection's worth of work: set up, drain pending, then follow
    /// the streams. Returns `Ok` when asked to stop, or when a held job is
    /// due to be tried again. Held jobs not yet due are left alone.
    ///
    /// Three stages run side by side: one reads entries, fetches values and
    /// transforms (see `reading`: on a task of its own, over two
    /// connections), one writes to the target (see `writer`), and one
    /// dead-letters and acknowledges what the target committed (over a
    /// connection of its own, since a blocking read holds the reader's). At
    /// most [`BATCHES_AHEAD`] batches wait between two stages. Batches are
    /// written in the order they were read, and values are fetched in that
    /// order too, so a key's later batch carries a value at least as new as
    /// its earlier one.
    async fn session(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        stats: &mut WorkerStats,
        backoff: &mut Backoff,
        held: &mut HeldJobs,
    ) -> Result<SessionEnd, PipelineError> {
        let mut reader = ShardReader::connect(&self.url).await?;
        let mut acker = ShardReader::connect(&self.url).await?;
        let streams: Vec<JobStream> = reader
            .job_streams()
            .await?
            .iter()
            .filter_map(|name| JobStream::parse(name))
            .filter(|s| self.jobs.contains_key(&s.job))
            .collect();
        if streams.is_empty() && !self.jobs.is_empty() {
            // A session without streams would never read; the retry looks
            // for them again.
            return Err(PipelineError::NoStreams);
        }
        let now = Instant::now();
        let waiting = held.waiting(now);
        let retry_held_at = held.next_retry(now);
        let streams: Vec<JobStream> = streams
            .into_iter()
            .filter(|s| !waiting.contains(&s.job))
            .collect();
        let mut committed: HashMap<String, Option<StreamId>> = HashMap::new();
        for stream in &streams {
            reader.ensure_group(&stream.stream()).await?;
            let stored = self.sink.stored_offset(&stream.job, &stream.tag).await?;
            committed.insert(stream.job.clone(), stored.and_then(|id| id.parse().ok()));
        }
        // Running again (after a retry, a restart) even before a batch; a
        // held job tried again says so once a batch of it is written.
        let running: Vec<JobStream> = streams
            .iter()
            .filter(|s| !held.contains(&s.job))
            .cloned()
            .collect();
        status::set_state(reader.connection(), &running, status::RUNNING).await?;

        let (ready, mut prepared) = mpsc::channel::<PreparedBatch>(BATCHES_AHEAD);
        let (committed_tx, mut committed_rx) = mpsc::channel::<WrittenBatch>(BATCHES_AHEAD);
        let source = Source {
            reader,
            fetcher: ShardReader::connect(&self.url).await?,
            streams,
            jobs: Arc::clone(&self.jobs),
            committed,
            settings: self.settings.clone(),
            retry_held_at,
        };
        let mut reading = ReadingTask::spawn(source, stop.clone(), ready);
        let read_side = async move { reading.ended().await };
        let sink = &mut self.sink;
        let write_side = async move { write_batches(sink, &mut prepared, &committed_tx).await };
        let dlq_max = self.settings.dlq_max_messages;
        let metrics = self.settings.metrics.clone();
        let acknowledge_side = async {
            while let Some(batch) = committed_rx.recv().await {
                if !held.is_empty() {
                    // The target took a batch of it: no longer held.
                    held.release(&batch.stream().job);
                }
                // Kept for the metrics only when they are wanted.
                let observed = metrics
                    .as_ref()
                    .map(|m| (Arc::clone(m), batch.stream().clone(), batch.read_at()));
                match finish(acker.connection(), dlq_max, batch).await {
                    Ok(outcome) => {
                        if let Some((metrics, stream, read_at)) = observed {
                            metrics.observe_batch(&stream, read_at.elapsed());
                        }
                        stats.record(&outcome);
                        backoff.reset();
                    }
                    Err(e) => {
                        committed_rx.close();
                        return Err(e);
                    }
                }
            }
            Ok(())
        };
        let (read, written, acknowledged) = tokio::join!(read_side, write_side, acknowledge_side);
        acknowledged?;
        written?;
        read
    }
}

/// How many prepared batches may wait for the writer: enough to keep it
/// busy, few enough to bound memory.
pub(crate) const BATCHES_AHEAD: usize = 1;

/// Why a session ended without an error.
#[derive(Debug)]
pub(crate) enum SessionEnd {
    /// Asked to stop (or the writer is gone, its error the session's).
    Stopped,
    /// A held job is due to be tried again.
    RetryHeld,
}

impl std::ops::AddAssign for WorkerStats {
    /// Totals of several workers.
    fn add_assign(&mut self, other: WorkerStats) {
        self.batches += other.batches;
        self.entries += other.entries;
        self.delivered += other.delivered;
        self.skipped += other.skipped;
        self.dead_letters += other.dead_letters;
        self.retries += other.retries;
        self.holds += other.holds;
        self.timings += other.timings;
    }
}

impl WorkerStats {
    fn record(&mut self, outcome: &BatchOutcome) {
        self.batches += 1;
        self.entries += outcome.entries as u64;
        self.delivered += outcome.delivered as u64;
        self.skipped += outcome.skipped as u64;
        self.dead_letters += outcome.dead_letters.len() as u64;
        self.timings += outcome.timings;
    }
}

fn is_missing_group(e: &PipelineError) -> bool {
    matches!(e, PipelineError::Source(s) if s.is_missing_group())
}
