//! Isolating the change that made a guest fail.
//!
//! A trap, deadline or memory-limit hit kills the whole call, not one
//! change. The batch is split in halves and each half retried on a fresh
//! instance until a failing half is a single change, which is rejected;
//! every other change still gets its row ops. A batch with one bad change
//! costs about 2*log2(n) extra calls.

use super::error::TransformError;

/// How one call into the guest ended badly.
pub(crate) enum CallFailure {
    /// Something no change can be blamed for: the batch fails.
    Batch(TransformError),
    /// The call died while processing these changes.
    Changes(TransformError),
}

/// Where the outcomes of a split batch are recorded: a mapper's row-op
/// buffers ([`BatchOutput`](super::BatchOutput)) or a step's new values.
/// `R` is what one successful call returns.
pub(crate) trait Outcomes<R> {
    fn count_call(&mut self);
    /// Takes a call's result for the `count` changes starting at `offset`;
    /// an error (a result that does not fit the changes) is pinned on them
    /// like a trap.
    fn accept(&mut self, offset: usize, count: usize, result: R) -> Result<(), TransformError>;
    /// Records why change `index` failed.
    fn reject(&mut self, index: usize, error: TransformError);
}

/// Runs `changes` (which start at `offset` in the batch) through `call`,
/// splitting on failure, and records every outcome in `out`.
pub(crate) fn run_split<T, R, O, F>(
    changes: &[T],
    offset: usize,
    call: &mut F,
    out: &mut O,
) -> Result<(), TransformError>
where
    O: Outcomes<R>,
    F: FnMut(&[T]) -> Result<R, CallFailure>,
{
    if changes.is_empty() {
        return Ok(());
    }
    out.count_call();
    let failure = match call(changes) {
        Ok(result) => match out.accept(offset, changes.len(), result) {
            Ok(()) => return Ok(()),
            Err(malformed) => malformed,
        },
        Err(CallFailure::Batch(error)) => return Err(error),
        Err(CallFailure::Changes(error)) => error,
    };
    if changes.len() == 1 {
        out.reject(offset, failure);
        return Ok(());
    }
    let mid = changes.len() / 2;
    run_split(&changes[..mid], offset, call, out)?;
    run_split(&changes[mid..], offset + mid, call, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::output::BatchOutput;
    use wb_abi::{encode_changes, run_batch, ChangeData, RowOp, ValueData};

    fn changes(n: usize) -> Vec<ChangeData> {
        (0..n)
            .map(|i| ChangeData {
                key: format!("k:{i}").into_bytes(),
                event: "hset".into(),
                stream_id: format!("{i}-0"),
                value: ValueData::Missing,
            })
            .collect()
    }

    /// Runs the mapping natively; any batch containing a key in `bad` fails
    /// as a trapping guest would.
    fn call_failing_on<'a>(
        bad: &'a [&'a str],
    ) -> impl FnMut(&[ChangeData]) -> Result<Vec<u8>, CallFailure> + 'a {
        move |batch| {
            if batch
                .iter()
                .any(|c| bad.iter().any(|b| c.key == b.as_bytes()))
            {
                return Err(CallFailure::Changes(TransformError::Trap("boom".into())));
            }
            run_batch(&encode_changes(batch), |c| {
                Ok(vec![
                    RowOp::delete("t", "x").key("k", c.key_str().unwrap_or_default())
                ])
            })
            .map_err(|e| CallFailure::Batch(TransformError::Malformed(e.to_string())))
        }
    }

    #[test]
    fn isolates_each_bad_change_and_keeps_the_rest() {
        let input = changes(16);
        let mut out = BatchOutput::new(input.len());
        run_split(&input, 0, &mut call_failing_on(&["k:3", "k:11"]), &mut out).unwrap();
        for (i, outcome) in out.iter().enumerate() {
            match outcome {
                Err(TransformError::Trap(_)) => assert!(i == 3 || i == 11, "change {i} rejected"),
                Ok(ops) => assert_eq!(
                    ops[0].key[0].value,
                    wb_abi::Cell::from(format!("k:{i}").as_str())
                ),
                Err(other) => panic!("change {i}: {other}"),
            }
        }
        assert_eq!(out.iter().filter(Result::is_err).count(), 2);
        // Two bad changes in 16 take far fewer calls than one per change.
        assert!(out.calls() < 16, "{} calls", out.calls());
    }

    #[test]
    fn a_clean_batch_takes_one_call() {
        let input = changes(100);
        let mut out = BatchOutput::new(input.len());
        run_split(&input, 0, &mut call_failing_on(&[]), &mut out).unwrap();
        assert_eq!(out.calls(), 1);
        assert!(out.iter().all(|o| o.is_ok()));
    }

    #[test]
    fn a_malformed_result_is_pinned_on_its_change() {
        let input = changes(6);
        let mut out = BatchOutput::new(input.len());
        // A guest that drops its result for k:4, so every call that
        // includes it returns one result too few.
        let mut call = |batch: &[ChangeData]| {
            let kept: Vec<_> = batch.iter().filter(|c| c.key != b"k:4").cloned().collect();
            run_batch(&encode_changes(&kept), |_| Ok(vec![]))
                .map_err(|e| CallFailure::Batch(TransformError::Malformed(e.to_string())))
        };
        run_split(&input, 0, &mut call, &mut out).unwrap();
        for (i, outcome) in out.iter().enumerate() {
            match outcome {
                Err(TransformError::Malformed(m)) => {
                    assert_eq!(i, 4);
                    assert_eq!(m, "0 results for 1 changes");
                }
                Ok(ops) => assert!(ops.is_empty()),
                Err(other) => panic!("change {i}: {other}"),
            }
        }
    }

    #[test]
    fn a_batch_failure_is_not_split() {
        let input = changes(8);
        let mut out = BatchOutput::new(input.len());
        let mut call = |_: &[ChangeData]| {
            Err(CallFailure::Batch(TransformError::Protocol {
                job: "j".into(),
                reason: "r".into(),
            }))
        };
        assert!(run_split(&input, 0, &mut call, &mut out).is_err());
        assert_eq!(out.calls(), 1);
    }
}
