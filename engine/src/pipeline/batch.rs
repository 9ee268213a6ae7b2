//! One batch, from the entries read to their acknowledgement.
//!
//! The order is what makes the guarantees: the target's transaction (rows
//! and stream offset together) commits first, then rejected changes go to
//! the dead-letter stream, and only then are the entries acknowledged. A
//! crash anywhere before the acknowledgement leaves the entries pending, to
//! be processed again; the stored offset tells the next run which of them
//! the target already has.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use wb_abi::{ChangeData, ValueData};

use crate::control::dlq::{self, DeadLetter, Stage};
use crate::control::status::{self, RowCounts};
use crate::control::JobStream;
use crate::sink::{Batch, OpKind, Report, Sink, SinkError, StreamOffset, TaggedOp};
use crate::source::{
    acknowledge, coalesce, fetch_values, Captured, ShardReader, StreamId, StreamRead,
    WireConnection, FLUSH_EVENT,
};
use crate::transform::{BatchOutput, WasmTransform};

use super::error::PipelineError;

/// What became of a batch.
#[derive(Debug, Default, PartialEq)]
pub struct BatchOutcome {
    /// Entries read (all acknowledged).
    pub entries: usize,
    /// Keys whose rows were written.
    pub delivered: usize,
    /// Changes skipped because the target already had them (an earlier run
    /// committed them but stopped before acknowledging).
    pub skipped: usize,
    /// Changes sent to the dead-letter stream.
    pub dead_letters: Vec<DeadLetter>,
    /// The row operations the target committed, by kind.
    pub rows: RowCounts,
    /// Where the batch's time went.
    pub timings: StageTimings,
}

/// Time spent in each stage of a batch (or, summed, of many).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTimings {
    /// Reading the keys' values from Redis.
    pub fetch: Duration,
    pub transform: Duration,
    /// The target's transaction.
    pub write: Duration,
    /// Dead letters and acknowledgement.
    pub acknowledge: Duration,
}

impl std::ops::AddAssign for StageTimings {
    fn add_assign(&mut self, other: StageTimings) {
        self.fetch += other.fetch;
        self.transform += other.transform;
        self.write += other.write;
        self.acknowledge += other.acknowledge;
    }
}

/// A batch whose values are read and transformed: everything the target's
/// transaction and the acknowledgement need, and nothing that borrows from
/// the reader, so the next batch can be read while this one is written.
pub struct PreparedBatch {
    stream: JobStream,
    /// Entries read, counting malformed and vanished ones.
    entries: usize,
    skipped: usize,
    /// The changes given to the transform, by index (rejections name them
    /// so, and their dead letters are made from them).
    changes: Vec<ChangeData>,
    output: BatchOutput,
    /// Every entry id to acknowledge once the batch is done.
    ack: Vec<StreamId>,
    /// The newest entry of the batch: the offset stored with its rows.
    last_id: Option<StreamId>,
    dead_letters: Vec<DeadLetter>,
    fetch: Duration,
    transform: Duration,
    /// When its entries were read.
    read_at: Instant,
}

impl PreparedBatch {
    pub fn stream(&self) -> &JobStream {
        &self.stream
    }

    /// The newest entry id in the batch.
    pub fn last_id(&self) -> Option<StreamId> {
        self.last_id
    }

    /// The changes given to the transform, in order (a flush first).
    pub fn changes(&self) -> &[ChangeData] {
        &self.changes
    }

    /// The transform's outcome for each of [`PreparedBatch::changes`].
    pub fn output(&self) -> &BatchOutput {
        &self.output
    }

    /// Frees the values read for the transform: writing and dead-lettering
    /// need only each change's key, event and id. Called where the values
    /// were read, so that they are freed by the thread that allocated them
    /// (cheaper, and the memory is reused by the next batch's reads) and a
    /// batch waiting for the writer holds only what it still needs.
    pub fn release_values(&mut self) {
        for change in &mut self.changes {
            change.value = ValueData::Missing;
        }
    }

    /// Changes rejected before the transform (unreadable values, malformed
    /// entries).
    pub fn dead_letters(&self) -> &[DeadLetter] {
        &self.dead_letters
    }
}

/// Coalesces `read` (entries of `stream`, read at `read_at`), reads the
/// current values of its keys over `con` and runs them through `transform`.
/// Entries at or below `committed` are already in the target: they are only
/// acknowledged.
pub async fn prepare(
    con: &mut WireConnection,
    stream: &JobStream,
    transform: &WasmTransform,
    committed: Option<StreamId>,
    read: StreamRead,
    read_at: Instant,
) -> Result<PreparedBatch, PipelineError> {
    let entries = read.entries.len() + read.malformed.len() + read.vanished.len();
    let mut dead_letters = Vec::new();
    let mut ack: Vec<StreamId> = read.vanished;
    for (id, reason) in read.malformed {
        ack.push(id);
        dead_letters.push(DeadLetter {
            key: Vec::new(),
            event: String::new(),
            stream_id: id.to_string(),
            stage: Stage::Capture,
            reason: format!("malformed stream entry: {reason}"),
            row: None,
        });
    }
    let batch = coalesce(read.entries);
    ack.extend(&batch.ids);
    let last_id = batch.ids.iter().max().copied();
    let (fresh, skipped): (Vec<Captured>, Vec<Captured>) = batch
        .changes
        .into_iter()
        .partition(|c| committed.is_none_or(|done| c.id > done));

    let started = Instant::now();
    let values = fetch_values(con, &fresh).await?;
    let fetched = Instant::now();
    let mut changes: Vec<ChangeData> = Vec::with_capacity(fresh.len() + 1);
    // A flush comes first: its ops (emptying the job's tables) must run
    // before those of the keys written after it, which coalescing kept.
    if let Some(id) = batch
        .flush
        .filter(|id| committed.is_none_or(|done| *id > done))
    {
        changes.push(ChangeData {
            key: Vec::new(),
            event: FLUSH_EVENT.to_owned(),
            stream_id: id.to_string(),
            value: ValueData::Missing,
        });
    }
    for (captured, value) in fresh.into_iter().zip(values) {
        match value {
            Ok(value) => {
                // The entry's key and event move into the change: it is
                // all that is kept of the entry from here on.
                changes.push(ChangeData {
                    stream_id: captured.id.to_string(),
                    key: captured.key,
                    event: captured.event,
                    value,
                });
            }
            Err(e) => dead_letters.push(letter(
                &captured.key,
                &captured.event,
                captured.id.to_string(),
                Stage::Fetch,
                e.to_string(),
                None,
            )),
        }
    }
    let output = transform.run(&changes)?;
    Ok(PreparedBatch {
        stream: stream.clone(),
        entries,
        skipped: skipped.len(),
        changes,
        output,
        ack,
        last_id,
        dead_letters,
        fetch: fetched - started,
        transform: fetched.elapsed(),
        read_at,
    })
}

/// A batch the target has committed, with its dead letters and the entries
/// still to acknowledge.
pub struct WrittenBatch {
    stream: JobStream,
    ack: Vec<StreamId>,
    outcome: BatchOutcome,
    read_at: Instant,
}

impl WrittenBatch {
    pub fn stream(&self) -> &JobStream {
        &self.stream
    }

    /// When its entries were read.
    pub fn read_at(&self) -> Instant {
        self.read_at
    }
}

/// Writes `batch` to the target in one transaction with its stream offset,
/// then dead-letters what was rejected and acknowledges the entries over
/// `con`: [`write`] then [`finish`].
pub async fn commit<S: Sink, C: ConnectionLike>(
    sink: &mut S,
    con: &mut C,
    dlq_max: usize,
    batch: PreparedBatch,
) -> Result<BatchOutcome, PipelineError> {
    let written = write(sink, batch).await?;
    finish(con, dlq_max, written).await
}

/// Writes `batch` to the target in one transaction with its stream offset.
/// Rejected changes are collected as dead letters for [`finish`].
pub async fn write<S: Sink>(
    sink: &mut S,
    batch: PreparedBatch,
) -> Result<WrittenBatch, PipelineError> {
    let started = Instant::now();
    let input = SinkInput::of(&batch);
    let report = match &input.batch {
        Some(ops) => Some(
            sink.write(ops)
                .await
                .map_err(|e| sink_failure(&batch.stream, e))?,
        ),
        None => None,
    };
    let summary = input.summary();
    Ok(summary.written(batch, report, started.elapsed()))
}

/// Classes a sink's failure for the worker: a target that does not match
/// the job holds the job; anything else is the sink's error.
pub(crate) fn sink_failure(stream: &JobStream, error: SinkError) -> PipelineError {
    if error.is_configuration() {
        PipelineError::Misconfigured {
            job: stream.job.clone(),
            error,
        }
    } else {
        PipelineError::Sink(error)
    }
}

/// What the sink is given of a prepared batch: its row ops decoded from
/// the transform's output, each tagged with its change, and the offset to
/// store with them (`None` when no entry needs writing); and the changes
/// the transform rejected.
pub(crate) struct SinkInput<'a> {
    pub batch: Option<Batch<'a>>,
    transformed: Vec<usize>,
    letters: Vec<DeadLetter>,
}

impl<'a> SinkInput<'a> {
    pub fn of(prepared: &'a PreparedBatch) -> Self {
        let mut ops: Vec<TaggedOp<'a>> = Vec::new();
        let mut transformed: Vec<usize> = Vec::new();
        let mut letters = Vec::new();
        for (index, result) in prepared.output.iter().enumerate() {
            match result {
                Ok(row_ops) => {
                    transformed.push(index);
                    ops.extend(row_ops.into_iter().map(|op| TaggedOp { change: index, op }));
                }
                Err(e) => letters.push(change_letter(
                    &prepared.changes[index],
                    Stage::Transform,
                    e.to_string(),
                    None,
                )),
            }
        }
        let batch = prepared.last_id.map(|last_id| Batch {
            ops,
            offsets: vec![StreamOffset {
                job: prepared.stream.job.clone(),
                shard: prepared.stream.tag.clone(),
                last_id: last_id.to_string(),
            }],
        });
        SinkInput {
            batch,
            transformed,
            letters,
        }
    }

    /// What is kept of the row ops once they are handed to the sink, for
    /// counting and dead-lettering when the outcome is known.
    pub fn summary(self) -> OpsSummary {
        let kinds = self
            .batch
            .iter()
            .flat_map(|b| b.ops.iter().map(|t| (t.change, t.op.kind)))
            .collect();
        OpsSummary {
            transformed: self.transformed,
            kinds,
            letters: self.letters,
        }
    }
}

/// A batch's row ops, reduced to what its outcome needs: which changes the
/// transform turned into ops, each op's change and kind, and the dead
/// letters of the changes the transform rejected.
pub(crate) struct OpsSummary {
    transformed: Vec<usize>,
    kinds: Vec<(usize, OpKind)>,
    letters: Vec<DeadLetter>,
}

impl OpsSummary {
    /// The written batch, given the sink's `report` (`None`: nothing was
    /// written, no entry needing it) and the time its writing took.
    pub fn written(
        self,
        batch: PreparedBatch,
        report: Option<Report>,
        write: Duration,
    ) -> WrittenBatch {
        let PreparedBatch {
            stream,
            entries,
            skipped,
            changes,
            output,
            ack,
            mut dead_letters,
            fetch,
            transform,
            read_at,
            ..
        } = batch;
        dead_letters.extend(self.letters);
        let mut delivered = 0;
        let mut rows = RowCounts::default();
        if let Some(report) = report {
            for rejection in &report.rejected {
                // The op's text, decoded again: rejections are rare.
                let row = output
                    .get(rejection.change)
                    .and_then(Result::ok)
                    .and_then(|ops| ops.first().map(dlq::row_text));
                dead_letters.push(change_letter(
                    &changes[rejection.change],
                    Stage::Write,
                    rejection.reason.to_string(),
                    row,
                ));
            }
            // Asked for every change and op: a set, not a scan of the list.
            let rejected: HashSet<usize> = report.rejected.iter().map(|r| r.change).collect();
            let refused = |change: usize| rejected.contains(&change);
            delivered = self.transformed.iter().filter(|i| !refused(**i)).count();
            for &(_, kind) in self.kinds.iter().filter(|(c, _)| !refused(*c)) {
                match kind {
                    OpKind::Upsert => rows.upserted += 1,
                    OpKind::Delete | OpKind::DeleteMatching => rows.deleted += 1,
                    OpKind::Insert => rows.appended += 1,
                }
            }
        }
        WrittenBatch {
            stream,
            ack,
            read_at,
            outcome: BatchOutcome {
                entries,
                delivered,
                skipped,
                dead_letters,
                rows,
                timings: StageTimings {
                    fetch,
                    transform,
                    write,
                    acknowledge: Duration::ZERO,
                },
            },
        }
    }
}

/// Sends a committed batch's dead letters to the job's dead-letter stream,
/// then acknowledges its entries and trims the stream, then adds the
/// batch's counts to the job's status hash (one more round trip), over
/// `con`.
pub async fn finish<C: ConnectionLike>(
    con: &mut C,
    dlq_max: usize,
    batch: WrittenBatch,
) -> Result<BatchOutcome, PipelineError> {
    let started = Instant::now();
    let WrittenBatch {
        stream,
        ack,
        mut outcome,
        read_at: _,
    } = batch;
    dlq::push(con, &stream.dead_letters(), dlq_max, &outcome.dead_letters).await?;
    acknowledge(con, &stream.stream(), &ack).await?;
    let counts = status::BatchCounts {
        read: outcome.entries as u64,
        written: outcome.delivered as u64,
        skipped: outcome.skipped as u64,
        rejected: outcome.dead_letters.len() as u64,
        rows: outcome.rows,
    };
    status::record_batch(con, &stream, counts).await?;
    outcome.timings.acknowledge = started.elapsed();
    Ok(outcome)
}

/// One job on one shard, processing one batch at a time: read values,
/// transform, write, acknowledge, all over the reader's connection.
pub struct JobRunner<'a, S> {
    pub stream: JobStream,
    pub transform: &'a WasmTransform,
    pub sink: &'a mut S,
    /// Cap of the dead-letter stream.
    pub dlq_max: usize,
    /// The target's stored offset for this job and shard: entries at or
    /// below it are already written.
    pub committed: Option<StreamId>,
}

impl<S: Sink> JobRunner<'_, S> {
    /// Processes `read` (entries of this job's stream) and acknowledges it.
    pub async fn process(
        &mut self,
        reader: &mut ShardReader,
        read: StreamRead,
    ) -> Result<BatchOutcome, PipelineError> {
        let prepared = prepare(
            reader.connection(),
            &self.stream,
            self.transform,
            self.committed,
            read,
            Instant::now(),
        )
        .await?;
        let last_id = prepared.last_id();
        let outcome = commit(self.sink, reader.connection(), self.dlq_max, prepared).await?;
        if last_id.is_some() {
            self.committed = last_id;
        }
        Ok(outcome)
    }
}

fn letter(
    key: &[u8],
    event: &str,
    stream_id: String,
    stage: Stage,
    reason: String,
    row: Option<String>,
) -> DeadLetter {
    DeadLetter {
        key: key.to_vec(),
        event: event.to_owned(),
        stream_id,
        stage,
        reason,
        row,
    }
}

/// The dead letter of a change the transform or the target refused.
fn change_letter(
    change: &ChangeData,
    stage: Stage,
    reason: String,
    row: Option<String>,
) -> DeadLetter {
    letter(
        &change.key,
        &change.event,
        change.stream_id.clone(),
        stage,
        reason,
        row,
    )
}
