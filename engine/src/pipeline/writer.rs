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

use std::time::Instant;

use tokio::sync::mpsc;

use crate::sink::{Sent, Sink, SinkError, Staged};

use super::batch::{sink_failure, write, OpsSummary, PreparedBatch, SinkInput, WrittenBatch};
use super::error::PipelineError;

/// A batch whose transaction has been sent and not yet answered.
struct InFlight {
    batch: PreparedBatch,
    summary: OpsSummary,
    staged: Staged,
    started: Instant,
}

/// Writes what arrives on `prepared` to `sink`, handing each committed
/// batch to `committed`, until `prepared` closes (after the last batch has
/// landed) or a batch fails (its error returned, `prepared` closed so that
/// the reading stage stops). Returns `Ok` early if `committed` is closed:
/// the acknowledging stage failed, and its error is the session's.
pub(crate) async fn write_batches<S: Sink>(
    sink: &mut S,
    prepared: &mut mpsc::Receiver<PreparedBatch>,
    committed: &mpsc::Sender<WrittenBatch>,
) -> Result<(), PipelineError> {
    let result = run(sink, prepared, committed).await;
    if result.is_err() {
        // The reader sees the closed channel and stops.
        prepared.close();
    }
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
        // comes (which may be much later, at a quiet time).
        let next = match in_flight.as_mut() {
            Some(flight) => tokio::select! {
                // Polled first: its first poll sends the transaction.
                biased;
                sent = &mut flight.staged => Next::Landed(sent),
                batch = prepared.recv() => Next::Batch(batch),
            },
            None => Next::Batch(prepared.recv().await),
        };
        let batch = match next {
            Next::Landed(sent) => {
                if let Some(flight) = in_flight.take() {
                    if !hand_on(land(sink, flight, sent).await?, committed).await {
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
            // Nothing to write: the acknowledgement only.
            None => Ok(None),
        };
        let summary = input.summary();
        if let Some(mut flight) = in_flight.take() {
            let sent = (&mut flight.staged).await;
            if !hand_on(land(sink, flight, sent).await?, committed).await {
                return Ok(());
            }
        }
        let staged = staged.map_err(|e| sink_failure(batch.stream(), e))?;
        match staged {
            Some(staged) => {
                in_flight = Some(InFlight {
                    batch,
                    summary,
                    staged,
                    started,
                })
            }
            None if batch.last_id().is_none() => {
                let written = summary.written(batch, None, started);
                if !hand_on(written, committed).await {
                    return Ok(());
                }
            }
            None => {
                if !hand_on(write(sink, batch).await?, committed).await {
                    return Ok(());
                }
            }
        }
    }
    // The channel is closed: the last batch in flight still lands.
    if let Some(mut flight) = in_flight.take() {
        let sent = (&mut flight.staged).await;
        if !hand_on(land(sink, flight, sent).await?, committed).await {
            return Ok(());
        }
    }
    Ok(())
}

enum Next {
    Landed(Result<Sent, SinkError>),
    Batch(Option<PreparedBatch>),
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
        started,
        ..
    } = flight;
    let failure = |e| sink_failure(batch.stream(), e);
    let report = match sent.map_err(failure)? {
        Sent::Committed(report) => report,
        Sent::Refused(first) => {
            let input = SinkInput::of(&batch);
            match &input.batch {
                Some(ops) => sink.isolate(ops, first).await.map_err(failure)?,
                None => return Err(failure(first)),
            }
        }
    };
    Ok(summary.written(batch, Some(report), started))
}

/// Hands a committed batch to the acknowledging stage; false if it is gone.
async fn hand_on(written: WrittenBatch, committed: &mpsc::Sender<WrittenBatch>) -> bool {
    committed.send(written).await.is_ok()
}
