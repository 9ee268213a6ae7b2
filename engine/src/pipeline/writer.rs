//! The writing stage of a worker: batches in, committed batches out, in
//! the order they came.
//!
//! A sink that stages (PostgreSQL) converts and encodes batch N+1 while
//! the target runs batch N's transaction, so the engine's work and the
//! target's overlap instead of taking turns. Batch N+1 is sent only once
//! batch N has ended: if the target refused a value of N, N is written
//! again without the culprit before anything of N+1 is, so rows and
//! offsets still commit in stream order. A sink that does not stage writes
//! each batch whole, one after the other.

use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::sink::{Sent, Sink, SinkError, Staged};

use super::batch::{sink_failure, OpsSummary, PreparedBatch, SinkInput, WrittenBatch};
use super::error::PipelineError;

/// A batch whose transaction has been sent and not yet answered.
struct InFlight {
    batch: PreparedBatch,
    summary: OpsSummary,
    /// The transaction, run as a task of its own: it must take its replies
    /// as they come even while the writer stages the next batch, which may
    /// itself wait for a reply on the same connection (a statement
    /// prepared, a table read), queued behind these.
    sending: JoinHandle<Result<Sent, SinkError>>,
    /// Time spent staging it.
    staging: Duration,
    sent_at: Instant,
}

impl InFlight {
    /// Sends `staged`: its first poll, here, queues the whole transaction
    /// on the connection, so that nothing the writer sends while staging
    /// the next batch (a statement prepared, a table read) can land inside
    /// it; then a task of its own takes the replies.
    async fn send(
        batch: PreparedBatch,
        summary: OpsSummary,
        mut staged: Staged,
        staging: Duration,
    ) -> Self {
        let sent_at = Instant::now();
        let first = std::future::poll_fn(|cx| Poll::Ready(staged.as_mut().poll(cx))).await;
        let sending = match first {
            Poll::Pending => tokio::spawn(staged),
            // Ended at once (the connection was gone, say).
            Poll::Ready(sent) => tokio::spawn(std::future::ready(sent)),
        };
        InFlight {
            batch,
            summary,
            sending,
            staging,
            sent_at,
        }
    }
}

/// Writes what arrives on `prepared` to `sink`, handing each committed
/// batch to `committed`, until `prepared` closes (after the last batch has
/// landed) or a batch fails (its error returned, `prepared` closed so that
/// the reading stage stops). Returns `Ok` early, `prepared` closed, once
/// `committed` is closed: the acknowledging stage failed, and its error is
/// the session's.
pub(crate) async fn write_batches<S: Sink>(
    sink: &mut S,
    prepared: &mut mpsc::Receiver<PreparedBatch>,
    committed: &mpsc::Sender<WrittenBatch>,
) -> Result<(), PipelineError> {
    let result = run(sink, prepared, committed).await;
    // Either way no more is written: the reader sees the closed channel and
    // stops.
    prepared.close();
    result
}

async fn run<S: Sink>(
    sink: &mut S,
    prepared: &mut mpsc::Receiver<PreparedBatch>,
    committed: &mpsc::Sender<WrittenBatch>,
) -> Result<(), PipelineError> {
    let mut in_flight: Option<InFlight> = None;
    loop {
        // Wait for the next batch while the one in flight runs; if it ends
        // first, it is handed on at once rather than when the next batch
        // comes (which may be much later, at a quiet time). A failed
        // acknowledging stage ends the wait too.
        let next = match in_flight.as_mut() {
            Some(flight) => tokio::select! {
                biased;
                sent = &mut flight.sending => Next::Landed(sent),
                () = committed.closed() => return Ok(()),
                batch = prepared.recv() => Next::Batch(batch),
            },
            None => tokio::select! {
                biased;
                () = committed.closed() => return Ok(()),
                batch = prepared.recv() => Next::Batch(batch),
            },
        };
        let batch = match next {
            Next::Landed(sent) => {
                if let Some(flight) = in_flight.take() {
                    if !hand_on(land(sink, flight, joined(sent)).await?, committed).await {
                        return Ok(());
                    }
                }
                continue;
            }
            Next::Batch(Some(batch)) => batch,
            Next::Batch(None) => break,
        };
        // The engine's part of this batch, while the target works on the
        // one in flight.
        let started = Instant::now();
        let input = SinkInput::of(&batch);
        let staged = match &input.batch {
            Some(ops) => sink.stage(ops).await,
            None => Ok(None),
        };
        let staging = started.elapsed();
        if let Some(mut flight) = in_flight.take() {
            let sent = joined((&mut flight.sending).await);
            if !hand_on(land(sink, flight, sent).await?, committed).await {
                return Ok(());
            }
        }
        let failure = |e| sink_failure(batch.stream(), e);
        let report = match (staged.map_err(failure)?, &input.batch) {
            (Some(staged), _) => {
                let summary = input.summary();
                in_flight = Some(InFlight::send(batch, summary, staged, staging).await);
                continue;
            }
            // A sink that does not stage writes the ops decoded above.
            (None, Some(ops)) => Some(sink.write(ops).await.map_err(failure)?),
            // Nothing to write: the acknowledgement only.
            (None, None) => None,
        };
        let summary = input.summary();
        let written = summary.written(batch, report, started.elapsed());
        if !hand_on(written, committed).await {
            return Ok(());
        }
    }
    // The channel is closed: the last batch in flight still lands.
    if let Some(mut flight) = in_flight.take() {
        let sent = joined((&mut flight.sending).await);
        hand_on(land(sink, flight, sent).await?, committed).await;
    }
    Ok(())
}

enum Next {
    Landed(Result<Result<Sent, SinkError>, tokio::task::JoinError>),
    Batch(Option<PreparedBatch>),
}

/// The outcome of a transaction's task. Its panic is the writer's; it is
/// never cancelled. (If the writer returns early, its acknowledging stage
/// gone, the task still runs to its end; the next session's reads go over
/// the same connection after it, so they see what it committed.)
fn joined(
    result: Result<Result<Sent, SinkError>, tokio::task::JoinError>,
) -> Result<Sent, SinkError> {
    match result {
        Ok(sent) => sent,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The outcome of a batch's transaction: committed, or refused and
/// written again without the changes the target refuses.
async fn land<S: Sink>(
    sink: &mut S,
    flight: InFlight,
    sent: Result<Sent, SinkError>,
) -> Result<WrittenBatch, PipelineError> {
    let InFlight {
        batch,
        summary,
        staging,
        sent_at,
        ..
    } = flight;
    let failure = |e| sink_failure(batch.stream(), e);
    let report = match sent.map_err(failure)? {
        Sent::Committed(report) => report,
        Sent::Refused(first) => {
            // Decoded again: refusals are rare, and the ops borrow from
            // the batch.
            let input = SinkInput::of(&batch);
            match &input.batch {
                Some(ops) => sink.isolate(ops, first).await.map_err(failure)?,
                // Not reached: only a batch with ops is staged.
                None => return Err(failure(first)),
            }
        }
    };
    // Staging overlapped the batch before; the time this one waited for
    // that one to land is not counted.
    Ok(summary.written(batch, Some(report), staging + sent_at.elapsed()))
}

/// Hands a committed batch to the acknowledging stage; false if it is gone.
async fn hand_on(written: WrittenBatch, committed: &mpsc::Sender<WrittenBatch>) -> bool {
    committed.send(written).await.is_ok()
}
