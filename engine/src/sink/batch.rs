//! What the pipeline hands a sink and what the sink reports back.

use std::collections::BTreeSet;

use wb_abi::RowOp;

use super::RecordError;

/// One row operation and the index of the change (within the batch) that
/// produced it. Ops of one change must be adjacent or at least in order.
#[derive(Clone, Debug, PartialEq)]
pub struct TaggedOp<'a> {
    pub change: usize,
    pub op: RowOp<'a>,
}

/// How far a job's stream on a shard has been processed by a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOffset {
    pub job: String,
    pub shard: String,
    /// The id of the last stream entry the batch covers.
    pub last_id: String,
}

/// One batch: ops in stream order, and the offsets to store with them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch<'a> {
    pub ops: Vec<TaggedOp<'a>>,
    pub offsets: Vec<StreamOffset>,
}

impl<'a> Batch<'a> {
    /// The distinct change indices that have ops, in ascending order.
    pub fn changes(&self) -> BTreeSet<usize> {
        self.ops.iter().map(|t| t.change).collect()
    }

    /// Groups the ops by change, keeping the batch order of changes (by first
    /// appearance) and of ops within a change.
    pub(crate) fn by_change(&self) -> Vec<(usize, Vec<&TaggedOp<'a>>)> {
        let mut out: Vec<(usize, Vec<&TaggedOp<'a>>)> = Vec::new();
        let mut slot = std::collections::HashMap::new();
        for op in &self.ops {
            let at = *slot.entry(op.change).or_insert_with(|| {
                out.push((op.change, Vec::new()));
                out.len() - 1
            });
            out[at].1.push(op);
        }
        out
    }
}

/// A change that was not written, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub change: usize,
    pub reason: RecordError,
}

/// The outcome of a committed batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Changes whose ops all committed, ascending.
    pub delivered: Vec<usize>,
    /// Changes none of whose ops were written, in batch order.
    pub rejected: Vec<Rejection>,
}

impl Report {
    pub(crate) fn from_parts(
        all: impl IntoIterator<Item = usize>,
        rejected: Vec<Rejection>,
    ) -> Self {
        let out: BTreeSet<usize> = rejected.iter().map(|r| r.change).collect();
        Report {
            delivered: all.into_iter().filter(|c| !out.contains(c)).collect(),
            rejected,
        }
    }

    /// Whether change `index` was written.
    pub fn is_delivered(&self, index: usize) -> bool {
        self.delivered.binary_search(&index).is_ok()
    }
}
