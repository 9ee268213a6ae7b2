//! The reading stage of a worker's session: entries in from the job
//! streams, prepared batches out (coalesced, their values fetched,
//! transformed), in stream order.
//!
//! Two steps run side by side over two connections, so that the next batch
//! is read while this one's values are fetched: one reads entries (pending
//! ones first, then new ones) and one fetches and transforms. (Both are
//! one task: while a batch is transformed, which holds the task's thread,
//! the reading step waits.) Values are fetched batch after batch in read
//! order, so a key's later batch carries a value at least as new as its
//! earlier one. The stage runs as a task of its own, its work in parallel
//! with the writer's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use crate::control::JobStream;
use crate::source::{ShardReader, StreamId, StreamRead};
use crate::transform::WasmTransform;

use super::backoff::wait_unless_stopped;
use super::batch::{prepare, PreparedBatch};
use super::error::PipelineError;
use super::status::{PauseFlags, PAUSE_CHECK};
use super::worker::{SessionEnd, WorkerSettings, BATCHES_AHEAD};

/// Everything the reading stage needs, owned, so that it can run as a task.
pub(crate) struct Source {
    /// Reads entries (it blocks waiting for new ones).
    pub reader: ShardReader,
    /// Fetches values.
    pub fetcher: ShardReader,
    pub streams: Vec<JobStream>,
    pub jobs: Arc<HashMap<String, WasmTransform>>,
    /// Each job's offset stored in the target: entries at or below it are
    /// only acknowledged.
    pub committed: HashMap<String, Option<StreamId>>,
    pub settings: WorkerSettings,
    /// When a held job is due to be tried again: the session then ends.
    pub retry_held_at: Option<Instant>,
}

/// The reading stage's task, stopped if the session ends without waiting
/// for it (its future dropped).
pub(crate) struct ReadingTask(tokio::task::JoinHandle<Result<SessionEnd, PipelineError>>);

impl ReadingTask {
    /// Starts `source` on a task of its own, handing batches to `ready`
    /// (closed when the stage ends).
    pub fn spawn(
        source: Source,
        mut stop: watch::Receiver<bool>,
        ready: mpsc::Sender<PreparedBatch>,
    ) -> Self {
        ReadingTask(tokio::spawn(
            async move { source.run(&mut stop, &ready).await },
        ))
    }

    /// How the stage ended: asked to stop, a held job due, or its error.
    pub async fn ended(&mut self) -> Result<SessionEnd, PipelineError> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Aborted: only when the session itself is being dropped.
            Err(_) => Ok(SessionEnd::Stopped),
        }
    }
}

impl Drop for ReadingTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One read of one job's stream, on its way to being prepared.
struct Read {
    stream: JobStream,
    entries: StreamRead,
    /// When the entries were read: a batch's time is counted from here.
    read_at: Instant,
}

impl Source {
    /// Reads and prepares until asked to stop, until a held job is due, or
    /// until the writer has gone (its error is the session's).
    async fn run(
        self,
        stop: &mut watch::Receiver<bool>,
        ready: &mpsc::Sender<PreparedBatch>,
    ) -> Result<SessionEnd, PipelineError> {
        let Source {
            reader,
            mut fetcher,
            streams,
            jobs,
            committed,
            settings,
            retry_held_at,
        } = self;
        let (reads, mut to_prepare) = mpsc::channel::<Read>(BATCHES_AHEAD);
        let reading = Entries {
            reader,
            streams: &streams,
            settings: &settings,
            retry_held_at,
        };
        let read_side = async move {
            let result = reading.run(stop, &reads).await;
            // Closing the channel tells the preparing side that no more
            // is coming.
            drop(reads);
            result
        };
        let prepare_side = async {
            loop {
                let read = tokio::select! {
                    read = to_prepare.recv() => match read {
                        Some(read) => read,
                        None => break,
                    },
                    // The writer is gone (its error is the session's): stop
                    // the reading side now, not when a batch comes to send.
                    () = ready.closed() => {
                        to_prepare.close();
                        return Ok(());
                    }
                };
                let transform = match jobs.get(&read.stream.job) {
                    Some(transform) => transform,
                    None => {
                        to_prepare.close();
                        return Err(PipelineError::UnknownJob(read.stream.job));
                    }
                };
                let done = committed.get(&read.stream.job).copied().flatten();
                let prepared = prepare(
                    fetcher.connection(),
                    &read.stream,
                    transform,
                    done,
                    read.entries,
                    read.read_at,
                )
                .await;
                let batch = match prepared {
                    Ok(mut batch) => {
                        batch.release_values();
                        batch
                    }
                    Err(e) => {
                        // The reading side sees the closed channel and stops.
                        to_prepare.close();
                        return Err(e);
                    }
                };
                if ready.send(batch).await.is_err() {
                    // The writer is gone; its error is the session's.
                    to_prepare.close();
                    return Ok(());
                }
            }
            Ok(())
        };
        let (read, prepared) = tokio::join!(read_side, prepare_side);
        prepared?;
        read
    }
}

/// The step that reads entries.
struct Entries<'a> {
    reader: ShardReader,
    streams: &'a [JobStream],
    settings: &'a WorkerSettings,
    retry_held_at: Option<Instant>,
}

impl Entries<'_> {
    async fn run(
        mut self,
        stop: &mut watch::Receiver<bool>,
        reads: &mpsc::Sender<Read>,
    ) -> Result<SessionEnd, PipelineError> {
        let count = self.settings.read_batch_size;
        // A previous run's unfinished batches first, in order. Entries
        // handed on stay pending until written, so the walk goes by id.
        for stream in self.streams {
            let mut after = StreamId::ZERO;
            loop {
                let Ok(permit) = reads.reserve().await else {
                    return Ok(SessionEnd::Stopped);
                };
                let entries = self
                    .reader
                    .read_pending_after(&stream.stream(), after, count)
                    .await?;
                let Some(newest) = entries.newest_id() else {
                    break;
                };
                after = newest;
                permit.send(Read {
                    stream: stream.clone(),
                    entries,
                    read_at: Instant::now(),
                });
            }
        }
        let mut pauses = PauseFlags::new(self.streams);
        while !*stop.borrow() {
            if self.retry_held_at.is_some_and(|at| Instant::now() >= at) {
                return Ok(SessionEnd::RetryHeld);
            }
            // Read only once the next step can take the batch: while the
            // stages behind are busy, changes gather in the stream and make
            // one bigger batch (cheaper per change) instead of a queue of
            // small ones, each adding a transaction's time to the wait of
            // those behind it.
            let Ok(permit) = reads.reserve().await else {
                return Ok(SessionEnd::Stopped);
            };
            let names = pauses.active(self.reader.connection()).await?;
            if names.is_empty() {
                // Every job paused: look again soon (or stop).
                wait_unless_stopped(PAUSE_CHECK, stop).await;
                continue;
            }
            let batches = self
                .reader
                .read_new(names, count, self.settings.block.min(PAUSE_CHECK))
                .await?;
            let read_at = Instant::now();
            let mut permit = Some(permit);
            for entries in batches {
                let Some(stream) = self.streams.iter().find(|s| s.stream() == entries.stream)
                else {
                    continue;
                };
                let read = Read {
                    stream: stream.clone(),
                    entries,
                    read_at,
                };
                let sent = match permit.take() {
                    Some(permit) => {
                        permit.send(read);
                        true
                    }
                    None => reads.send(read).await.is_ok(),
                };
                if !sent {
                    return Ok(SessionEnd::Stopped);
                }
            }
        }
        Ok(SessionEnd::Stopped)
    }
}
