//! Steps: components that reshape each record before a job's mapping
//! (world `step` in `wit/transform.wit`).

use wb_abi::{encode_changes, BatchReader, Change, ChangeData, ValueData};

use crate::Params;

/// What a step makes of one change: the record's new value, `None` to drop
/// the change (it produces no rows), or the reason to reject it.
pub type StepResult = Result<Option<ValueData>, String>;

/// A step: built once per instance from the step's params, then called for
/// every change that has a value. The engine never calls it for a deleted
/// key (value missing) or a flush: those reach the mapping unchanged.
pub trait Step: Sized + Send + Sync + 'static {
    /// Reads the step's `params`; an error fails the job's load.
    fn init(params: &Params) -> Result<Self, String>;

    /// The new value of the change's record (often built with
    /// [`HashRecord`](crate::HashRecord)), `None` to drop the change, or an
    /// error that rejects this change alone.
    fn step(&self, change: &Change<'_>) -> StepResult;
}

/// Runs `step` over `changes`, one result per change, in order: what the
/// component's `step` export computes, callable natively (in unit tests).
pub fn run_steps<S: Step>(step: &S, changes: &[ChangeData]) -> Vec<StepResult> {
    let batch = encode_changes(changes);
    let reader = match BatchReader::new(&batch) {
        Ok(reader) => reader,
        // The buffer was encoded just above; a failure here is a bug in
        // wb-abi, reported against every change rather than hidden.
        Err(e) => return vec![Err(e.to_string()); changes.len()],
    };
    reader
        .map(|change| match change {
            Ok(change) => step.step(&change),
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Upper;

    impl Step for Upper {
        fn init(_: &Params) -> Result<Self, String> {
            Ok(Upper)
        }

        fn step(&self, change: &Change<'_>) -> StepResult {
            match change.field_str("name") {
                Some("drop") => Ok(None),
                Some(name) => Ok(Some(ValueData::Hash(vec![(
                    b"name".to_vec(),
                    name.to_uppercase().into_bytes(),
                )]))),
                None => Err("no name".into()),
            }
        }
    }

    fn change(name: Option<&str>) -> ChangeData {
        ChangeData {
            key: b"u:1".to_vec(),
            event: "hset".into(),
            stream_id: "1-0".into(),
            value: ValueData::Hash(
                name.map(|n| (b"name".to_vec(), n.as_bytes().to_vec()))
                    .into_iter()
                    .collect(),
            ),
        }
    }

    #[test]
    fn one_result_per_change_in_order() {
        let out = run_steps(
            &Upper,
            &[change(Some("ada")), change(Some("drop")), change(None)],
        );
        assert_eq!(
            out,
            vec![
                Ok(Some(ValueData::Hash(vec![(
                    b"name".to_vec(),
                    b"ADA".to_vec()
                )]))),
                Ok(None),
                Err("no name".to_string()),
            ]
        );
    }
}
