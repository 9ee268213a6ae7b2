//! What `export_step!` expands to call: the `step` world's exports
//! implemented once for any [`Step`].

use std::sync::OnceLock;

use wb_abi::{ChangeData, ValueData};

use crate::step_bindings::wb::transform::types as wit;
use crate::{run_steps, Params, Step};

pub fn init<S: Step>(state: &OnceLock<S>, params: Vec<(String, String)>) -> Result<(), String> {
    let step = S::init(&Params::new(params))?;
    state
        .set(step)
        .map_err(|_| "init was called twice on one instance".to_string())
}

pub fn step<S: Step>(
    state: &OnceLock<S>,
    changes: Vec<wit::Change>,
) -> Vec<Result<Option<wit::Value>, String>> {
    let Some(step) = state.get() else {
        return vec![Err("the engine called step before init".to_string()); changes.len()];
    };
    let data: Vec<ChangeData> = changes.into_iter().map(change_data).collect();
    run_steps(step, &data)
        .into_iter()
        .map(|result| result.map(|value| value.map(wit_value)))
        .collect()
}

// These two mirror the conversions in glue.rs: the `step` world's bindings
// are generated apart from the `transform` world's (so a component carries
// only the world it exports), which makes their types distinct.
fn change_data(change: wit::Change) -> ChangeData {
    ChangeData {
        key: change.key,
        event: change.event,
        stream_id: change.stream_id,
        value: match change.value {
            wit::Value::Missing => ValueData::Missing,
            wit::Value::Hash(pairs) => ValueData::Hash(pairs),
            wit::Value::Json(text) => ValueData::Json(text),
            wit::Value::Set(members) => ValueData::Set(members),
            wit::Value::SortedSet(members) => ValueData::SortedSet(members),
        },
    }
}

fn wit_value(value: ValueData) -> wit::Value {
    match value {
        ValueData::Missing => wit::Value::Missing,
        ValueData::Hash(pairs) => wit::Value::Hash(pairs),
        ValueData::Json(text) => wit::Value::Json(text),
        ValueData::Set(members) => wit::Value::Set(members),
        ValueData::SortedSet(members) => wit::Value::SortedSet(members),
    }
}
