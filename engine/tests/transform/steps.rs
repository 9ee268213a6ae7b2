//! Step components (world `step`) run before a job's mapping: the step
//! fixture in `engine/tests/guests/step` ahead of the `misbehave` fixture or
//! the stock mapper.

use wb_engine::transform::{
    Cell, ChangeData, Limits, OpKind, TransformError, ValueData, WasmStep, WasmTransform,
};
use wb_tests::guests;

use crate::{hash, host, limits, load, missing};

const STEP: &str = "engine/tests/guests/step";

fn step(params: &[(&str, &str)], limits: Limits) -> Result<WasmStep, TransformError> {
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    host().load_step_file("steps", &guests::build(STEP), params, limits)
}

/// The step fixture ahead of the `misbehave` mapper, which upserts
/// `{name, event}` keyed by the key's id and deletes missing keys.
fn stepped(limits: Limits) -> WasmTransform {
    load(&[], limits.clone())
        .expect("the mapper loads")
        .with_steps(vec![step(&[], limits).expect("the step loads")])
}

fn name_of(out: &wb_engine::transform::BatchOutput, i: usize) -> Cell<'static> {
    let ops = out.get(i).unwrap().unwrap();
    assert_eq!(ops.len(), 1, "change {i}: {ops:?}");
    assert_eq!(ops[0].kind, OpKind::Upsert);
    ops[0].values[0].value.clone().into_owned()
}

#[test]
fn the_mapping_sees_the_value_the_step_made() {
    let transform = stepped(limits());
    let out = transform
        .run(&[hash("user:1", "ada"), hash("user:2", "Bob")])
        .unwrap();
    assert_eq!(name_of(&out, 0), Cell::from("ADA"));
    assert_eq!(name_of(&out, 1), Cell::from("BOB"));
    // One call into the step and one into the mapper.
    assert_eq!(out.calls(), 2);
}

#[test]
fn a_dropped_change_gets_no_row_ops_and_the_rest_map() {
    let transform = stepped(limits());
    let out = transform
        .run(&[
            hash("user:1", "a"),
            hash("drop:2", "b"),
            hash("user:3", "c"),
        ])
        .unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(name_of(&out, 0), Cell::from("A"));
    assert!(out.get(1).unwrap().unwrap().is_empty());
    assert_eq!(name_of(&out, 2), Cell::from("C"));
}

#[test]
fn a_step_error_rejects_its_change_alone() {
    let transform = stepped(limits());
    let batch = [
        hash("user:1", "a"),
        hash("reject:2", "b"),
        hash("user:3", "c"),
    ];
    let out = transform.run(&batch).unwrap();
    assert_eq!(
        out.get(1).unwrap().unwrap_err(),
        TransformError::Rejected("step says no: reject:2".into())
    );
    assert_eq!(name_of(&out, 0), Cell::from("A"));
    assert_eq!(name_of(&out, 2), Cell::from("C"));
    // An error is an answer, not a failure: no splitting.
    assert_eq!(out.calls(), 2);
}

#[test]
fn a_trapping_or_looping_step_isolates_its_change() {
    let transform = stepped(limits());
    let mut batch: Vec<ChangeData> = (0..8).map(|i| hash(&format!("user:{i}"), "n")).collect();
    batch.insert(3, hash("trap:1", "x"));
    batch.push(hash("loop:1", "x"));
    let out = transform.run(&batch).unwrap();
    for (i, outcome) in out.iter().enumerate() {
        match (i, outcome) {
            (3, Err(TransformError::Trap(m))) => {
                assert!(m.contains("step told to trap on trap:1"), "{m}")
            }
            (9, Err(e)) => assert_eq!(e, TransformError::DeadlineExceeded { millis: 200 }),
            (_, Ok(ops)) if i != 3 && i != 9 => {
                assert_eq!(ops[0].values[0].value, Cell::from("N"))
            }
            (i, other) => panic!("change {i}: {other:?}"),
        }
    }
    assert!(out.calls() > 2, "the step's batch was split");
}

#[test]
fn deletes_and_flushes_reach_the_mapping_untouched() {
    let transform = stepped(limits());
    let flush = ChangeData {
        key: Vec::new(),
        event: "flush".into(),
        stream_id: "0-1".into(),
        value: ValueData::Missing,
    };
    let out = transform
        .run(&[flush, missing("user:2"), hash("user:3", "c")])
        .unwrap();
    // The fixture step rejects anything missing it is sent; the misbehave
    // mapper rejects the flush (it has no id) and deletes user:2.
    assert_eq!(
        out.get(0).unwrap().unwrap_err(),
        TransformError::Rejected("key has no id part".into())
    );
    let delete = out.get(1).unwrap().unwrap();
    assert_eq!(delete[0].kind, OpKind::Delete);
    assert_eq!(delete[0].key[0].value, Cell::from("2"));
    assert_eq!(name_of(&out, 2), Cell::from("C"));
}

#[test]
fn steps_run_in_order_before_the_stock_mapper() {
    let spec =
        "output target users upsert\nkey id key_part(1)\nvalue name name\nvalue stepped stepped\n";
    let mapper = host()
        .load_file(
            "steps",
            &guests::build("sdk/mapper-component"),
            vec![("spec".into(), spec.into())],
            limits(),
        )
        .unwrap();
    let transform = mapper.with_steps(vec![
        step(&[("mark", "first")], limits()).unwrap(),
        step(&[("mark", "second")], limits()).unwrap(),
    ]);
    assert_eq!(transform.steps().len(), 2);
    let out = transform
        .run(&[
            hash("user:1", "ada"),
            hash("reject:2", "x"),
            missing("user:3"),
        ])
        .unwrap();
    let ops = out.get(0).unwrap().unwrap();
    let values: Vec<_> = ops[0]
        .values
        .iter()
        .map(|c| (c.name.as_ref(), c.value.clone()))
        .collect();
    assert_eq!(
        values,
        vec![
            ("name", Cell::from("ADA")),
            ("stepped", Cell::from("second"))
        ]
    );
    // The first step's error; the second step never saw the change.
    assert_eq!(
        out.get(1).unwrap().unwrap_err(),
        TransformError::Rejected("step says no: reject:2".into())
    );
    assert_eq!(out.get(2).unwrap().unwrap()[0].kind, OpKind::Delete);
    assert_eq!(out.calls(), 3);
}

#[test]
fn a_step_that_refuses_its_params_fails_the_load() {
    match step(&[("refuse", "yes")], limits()) {
        Err(TransformError::Init { job, reason }) => {
            assert_eq!((job.as_str(), reason.as_str()), ("steps", "told to refuse"));
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the load succeeded"),
    }
}

#[test]
fn a_component_of_the_other_world_does_not_link() {
    let mapper = guests::build("engine/tests/guests/misbehave");
    let err = host()
        .load_step_file("steps", &mapper, vec![], limits())
        .err()
        .expect("a transform is not a step");
    assert!(matches!(err, TransformError::Link { .. }), "{err}");
    let err = host()
        .load_file("steps", &guests::build(STEP), vec![], limits())
        .err()
        .expect("a step is not a transform");
    assert!(matches!(err, TransformError::Link { .. }), "{err}");
}
