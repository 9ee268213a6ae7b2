//! The results of one batch: row ops per change, kept in the buffers the
//! guest returned and decoded on demand, or the error that rejected it.

use std::ops::Range;

use wb_abi::{ResultReader, RowOp};

use super::bisect::Outcomes;
use super::error::TransformError;

enum Slot {
    Pending,
    Done {
        buffer: usize,
        span: Range<usize>,
    },
    Failed(TransformError),
    /// No row ops: a step dropped the change before the mapping.
    Dropped,
}

/// One outcome per change of the batch, in order.
pub struct BatchOutput {
    buffers: Vec<Vec<u8>>,
    slots: Vec<Slot>,
    calls: usize,
}

impl BatchOutput {
    pub(crate) fn new(len: usize) -> Self {
        BatchOutput {
            buffers: Vec::new(),
            slots: (0..len).map(|_| Slot::Pending).collect(),
            calls: 0,
        }
    }

    /// Records that a step dropped change `index`: it gets no row ops.
    pub(crate) fn drop_change(&mut self, index: usize) {
        self.slots[index] = Slot::Dropped;
    }

    /// Adds `calls` made by steps before the mapping.
    pub(crate) fn add_calls(&mut self, calls: usize) {
        self.calls += calls;
    }

    /// Moves the outcomes of `mapped`, a batch made of some of this batch's
    /// changes, into place: `mapped`'s change `i` is this batch's change
    /// `origin[i]`.
    pub(crate) fn place(&mut self, mapped: BatchOutput, origin: &[usize]) {
        let first_buffer = self.buffers.len();
        self.buffers.extend(mapped.buffers);
        self.calls += mapped.calls;
        for (slot, &index) in mapped.slots.into_iter().zip(origin) {
            self.slots[index] = match slot {
                Slot::Done { buffer, span } => Slot::Done {
                    buffer: first_buffer + buffer,
                    span,
                },
                other => other,
            };
        }
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How many calls into the guest the batch took (1 unless some change
    /// failed and the batch had to be split).
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// The row ops for change `index`, or why it was rejected; `None` past
    /// the end. Row ops borrow text from the guest's buffer.
    pub fn get(&self, index: usize) -> Option<Result<Vec<RowOp<'_>>, TransformError>> {
        Some(match self.slots.get(index)? {
            Slot::Done { buffer, span } => {
                let bytes = &self.buffers[*buffer][span.clone()];
                match ResultReader::entry(bytes) {
                    Ok(Ok(ops)) => Ok(ops),
                    Ok(Err(reason)) => Err(TransformError::Rejected(reason.to_string())),
                    Err(e) => Err(TransformError::Malformed(e.to_string())),
                }
            }
            Slot::Failed(error) => Err(error.clone()),
            Slot::Dropped => Ok(Vec::new()),
            Slot::Pending => Err(TransformError::Malformed(
                "the engine recorded no result for this change".into(),
            )),
        })
    }

    /// All outcomes, in the order of the changes.
    pub fn iter(&self) -> impl Iterator<Item = Result<Vec<RowOp<'_>>, TransformError>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl Outcomes<Vec<u8>> for BatchOutput {
    fn count_call(&mut self) {
        self.calls += 1;
    }

    /// Takes a guest's result buffer for the `count` changes starting at
    /// `offset`, after checking that it holds exactly that many entries.
    fn accept(
        &mut self,
        offset: usize,
        count: usize,
        buffer: Vec<u8>,
    ) -> Result<(), TransformError> {
        let spans =
            ResultReader::spans(&buffer).map_err(|e| TransformError::Malformed(e.to_string()))?;
        if spans.len() != count {
            return Err(TransformError::Malformed(format!(
                "{} results for {count} changes",
                spans.len()
            )));
        }
        let index = self.buffers.len();
        for (slot, span) in self.slots[offset..offset + count].iter_mut().zip(spans) {
            *slot = Slot::Done {
                buffer: index,
                span,
            };
        }
        self.buffers.push(buffer);
        Ok(())
    }

    fn reject(&mut self, index: usize, error: TransformError) {
        self.slots[index] = Slot::Failed(error);
    }
}
