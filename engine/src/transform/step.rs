//! Step components (world `step`): they reshape each record before a job's
//! mapping. A step runs under the same sandbox as a transform, and a change
//! that makes it trap, loop or run out of memory is isolated by the same
//! splitting of the batch.

use wasmtime::Store;
use wb_abi::{ChangeData, ValueData, FLUSH_EVENT};

use super::bindings::step::{Step, StepPre, StepResult};
use super::bindings::wb::transform::types as wit;
use super::bisect::{run_split, CallFailure, Outcomes};
use super::error::TransformError;
use super::sandbox::Sandbox;
use super::state::HostState;
use super::typed::{value_data, wit_change};

/// What a step made of one change.
#[derive(Debug, PartialEq)]
pub(crate) enum StepOutcome {
    /// Not sent to the step (a deleted key, a flush): it goes on as it was.
    Keep,
    /// The record's new value.
    Replace(ValueData),
    /// The change produces no rows.
    Drop,
    /// The change is dead-lettered with this reason.
    Reject(TransformError),
}

/// A loaded step component. Like a [`WasmTransform`](super::WasmTransform),
/// it is instantiated fresh for every call.
pub struct WasmStep {
    sandbox: Sandbox,
    pre: StepPre<HostState>,
    params: Vec<(String, String)>,
}

impl WasmStep {
    pub(crate) fn new(
        sandbox: Sandbox,
        pre: StepPre<HostState>,
        params: Vec<(String, String)>,
    ) -> Self {
        WasmStep {
            sandbox,
            pre,
            params,
        }
    }

    pub(crate) fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The job name this step was loaded for.
    pub fn job(&self) -> &str {
        &self.sandbox.job
    }

    /// One outcome per change, in order, and the number of calls it took.
    /// Deleted keys and flushes are not sent: a step reshapes records, and
    /// the mapping must see every delete and flush to keep the target in
    /// step with Redis.
    pub(crate) fn run(
        &self,
        changes: &[ChangeData],
    ) -> Result<(Vec<StepOutcome>, usize), TransformError> {
        let sent: Vec<usize> = (0..changes.len())
            .filter(|&i| !passes_by(&changes[i]))
            .collect();
        let typed: Vec<wit::Change> = sent.iter().map(|&i| wit_change(&changes[i])).collect();
        let mut results = StepResults {
            slots: (0..typed.len()).map(|_| None).collect(),
            calls: 0,
        };
        run_split(&typed, 0, &mut |part| self.call(part), &mut results)?;
        let mut outcomes: Vec<StepOutcome> = changes.iter().map(|_| StepOutcome::Keep).collect();
        for (index, slot) in sent.into_iter().zip(results.slots) {
            outcomes[index] = slot.unwrap_or_else(|| {
                StepOutcome::Reject(TransformError::Malformed(
                    "the engine recorded no result for this change".into(),
                ))
            });
        }
        Ok((outcomes, results.calls))
    }

    /// Instantiates the component in `store` and runs its `init`.
    pub(crate) fn start(&self, store: &mut Store<HostState>) -> Result<Step, TransformError> {
        let instance = self
            .pre
            .instantiate(&mut *store)
            .map_err(|e| self.sandbox.start_failed(store, e))?;
        match instance.call_init(&mut *store, &self.params) {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(reason)) => Err(self.sandbox.refused(reason)),
            Err(e) => Err(self.sandbox.start_failed(store, e)),
        }
    }

    /// One call into a fresh instance.
    fn call(&self, changes: &[wit::Change]) -> Result<Vec<StepResult>, CallFailure> {
        let mut store = self.sandbox.store();
        let instance = self.start(&mut store).map_err(CallFailure::Batch)?;
        store.set_epoch_deadline(self.sandbox.ticks);
        instance
            .call_step(&mut store, changes)
            .map_err(|e| CallFailure::Changes(self.sandbox.describe(&store, e)))
    }
}

/// A change a step never sees: the key is gone, or the database was
/// flushed (event `flush`, empty key).
fn passes_by(change: &ChangeData) -> bool {
    matches!(change.value, ValueData::Missing)
        || (change.event == FLUSH_EVENT && change.key.is_empty())
}

/// The outcomes of the changes sent to a step, as calls return them.
struct StepResults {
    slots: Vec<Option<StepOutcome>>,
    calls: usize,
}

impl Outcomes<Vec<StepResult>> for StepResults {
    fn count_call(&mut self) {
        self.calls += 1;
    }

    fn accept(
        &mut self,
        offset: usize,
        count: usize,
        results: Vec<StepResult>,
    ) -> Result<(), TransformError> {
        if results.len() != count {
            return Err(TransformError::Malformed(format!(
                "{} results for {count} changes",
                results.len()
            )));
        }
        for (slot, result) in self.slots[offset..offset + count].iter_mut().zip(results) {
            *slot = Some(match result {
                Ok(Some(value)) => StepOutcome::Replace(value_data(value)),
                Ok(None) => StepOutcome::Drop,
                Err(reason) => StepOutcome::Reject(TransformError::Rejected(reason)),
            });
        }
        Ok(())
    }

    fn reject(&mut self, index: usize, error: TransformError) {
        self.slots[index] = Some(StepOutcome::Reject(error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, event: &str, value: ValueData) -> ChangeData {
        ChangeData {
            key: key.as_bytes().to_vec(),
            event: event.into(),
            stream_id: "1-0".into(),
            value,
        }
    }

    #[test]
    fn deletes_and_flushes_pass_by_and_values_do_not() {
        assert!(passes_by(&change("u:1", "del", ValueData::Missing)));
        assert!(passes_by(&change("", "flush", ValueData::Missing)));
        assert!(!passes_by(&change("u:1", "hset", ValueData::Hash(vec![]))));
        // A key that happens to be empty with a value is a record like any other.
        assert!(!passes_by(&change(
            "",
            "hset",
            ValueData::Json("{}".into())
        )));
    }

    #[test]
    fn a_short_result_is_malformed_and_a_full_one_is_placed() {
        let mut results = StepResults {
            slots: vec![None, None, None],
            calls: 0,
        };
        let err = results.accept(0, 2, vec![Ok(None)]).unwrap_err();
        assert_eq!(
            err,
            TransformError::Malformed("1 results for 2 changes".into())
        );
        results
            .accept(1, 2, vec![Ok(None), Err("no".into())])
            .unwrap();
        assert_eq!(results.slots[0], None);
        assert_eq!(results.slots[1], Some(StepOutcome::Drop));
        assert_eq!(
            results.slots[2],
            Some(StepOutcome::Reject(TransformError::Rejected("no".into())))
        );
    }
}
