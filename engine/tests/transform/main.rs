//! The transform host against real guest components, built from
//! `engine/tests/guests/` by the test set-up.

mod jobs;
mod mapper;
mod steps;

use std::sync::OnceLock;

use std::time::Duration;
use wb_tests::guests;

use wb_engine::transform::{
    Cell, ChangeData, Limits, OpKind, TransformError, ValueData, WasmHost, WasmTransform,
};

const MISBEHAVE: &str = "engine/tests/guests/misbehave";

fn host() -> &'static WasmHost {
    static HOST: OnceLock<WasmHost> = OnceLock::new();
    HOST.get_or_init(|| WasmHost::new().expect("the Wasm host starts"))
}

/// Tight limits and a frozen wall clock, so fixtures see no time of day.
fn limits() -> Limits {
    Limits {
        memory_bytes: 32 << 20,
        deadline: Duration::from_millis(200),
        wall_clock: false,
    }
}

fn load(params: &[(&str, &str)], limits: Limits) -> Result<WasmTransform, TransformError> {
    let path = guests::build(MISBEHAVE);
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    host().load_file("misbehave", &path, params, limits)
}

/// The fixture with default params, compiled once for all the tests that
/// need nothing else (compiling is most of a test's time in debug builds).
/// Sharing it also shows that failures in one test's batches leave nothing
/// behind for the next.
fn shared() -> &'static WasmTransform {
    static SHARED: OnceLock<WasmTransform> = OnceLock::new();
    SHARED.get_or_init(|| load(&[], limits()).expect("the fixture loads"))
}

fn hash(key: &str, name: &str) -> ChangeData {
    ChangeData {
        key: key.as_bytes().to_vec(),
        event: "hset".into(),
        stream_id: "1-0".into(),
        value: ValueData::Hash(vec![(b"name".to_vec(), name.as_bytes().to_vec())]),
    }
}

fn missing(key: &str) -> ChangeData {
    ChangeData {
        key: key.as_bytes().to_vec(),
        event: "del".into(),
        stream_id: "2-0".into(),
        value: ValueData::Missing,
    }
}

/// Ten good changes with `bad` in the middle.
fn batch_around(bad: &str) -> Vec<ChangeData> {
    let mut batch: Vec<_> = (0..10).map(|i| hash(&format!("user:{i}"), "n")).collect();
    batch.insert(5, hash(bad, "x"));
    batch
}

/// Asserts that only change 5 failed, that it failed as `check` expects,
/// and that every other change got its upsert.
fn assert_only_middle_rejected(
    transform: &WasmTransform,
    batch: &[ChangeData],
    check: impl Fn(&TransformError) -> bool,
) -> usize {
    let out = transform.run(batch).expect("the batch runs");
    assert_eq!(out.len(), batch.len());
    for (i, outcome) in out.iter().enumerate() {
        match outcome {
            Err(e) if i == 5 => assert!(check(&e), "unexpected error: {e:?}"),
            Ok(ops) if i != 5 => {
                assert_eq!(ops.len(), 1);
                assert_eq!(ops[0].kind, OpKind::Upsert);
            }
            other => panic!("change {i}: unexpected outcome {other:?}"),
        }
    }
    assert!(out.calls() > 1, "the batch was split");
    out.calls()
}

#[test]
fn maps_hashes_to_upserts_and_missing_keys_to_deletes() {
    let transform = load(&[("table", "people")], limits()).unwrap();
    let out = transform
        .run(&[hash("user:1", "Ada"), missing("user:2")])
        .unwrap();
    assert_eq!(out.calls(), 1);
    let upsert = out.get(0).unwrap().unwrap();
    assert_eq!(upsert[0].kind, OpKind::Upsert);
    assert_eq!(upsert[0].target.table, "people");
    assert_eq!(upsert[0].key[0].value, Cell::from("1"));
    assert_eq!(upsert[0].values[0].value, Cell::from("Ada"));
    assert_eq!(upsert[0].values[1].value, Cell::from("hset"));
    let delete = out.get(1).unwrap().unwrap();
    assert_eq!(delete[0].kind, OpKind::Delete);
    assert_eq!(delete[0].key[0].value, Cell::from("2"));
    assert!(delete[0].values.is_empty());
}

#[test]
fn a_trapping_change_is_rejected_alone_with_the_panic_message() {
    let transform = shared();
    assert_only_middle_rejected(transform, &batch_around("trap:1"), |e| {
        // One line, with the panic message and without Rust's hint.
        matches!(e, TransformError::Trap(m)
                if m.contains("told to trap on trap:1")
                    && !m.contains('\n')
                    && !m.contains("RUST_BACKTRACE"))
    });
}

#[test]
fn a_looping_change_hits_the_deadline_alone() {
    let transform = load(&[], limits()).unwrap();
    let calls = assert_only_middle_rejected(&transform, &batch_around("loop:1"), |e| {
        *e == TransformError::DeadlineExceeded { millis: 200 }
    });
    // Halving 11 changes around one culprit takes 2*ceil(log2(11))+1 calls
    // at most, 4 of them hitting the deadline: the loop is not run more.
    // (Counted rather than timed: a loaded machine stretches the time.)
    assert!(calls <= 9, "{calls} calls");
}

#[test]
fn an_allocating_change_hits_the_memory_cap_alone() {
    let transform = shared();
    assert_only_middle_rejected(transform, &batch_around("oom:1"), |e| {
        *e == TransformError::MemoryLimit { bytes: 32 << 20 }
    });
}

#[test]
fn a_rejected_change_does_not_split_the_batch() {
    let transform = shared();
    let out = transform.run(&batch_around("reject:1")).unwrap();
    assert_eq!(out.calls(), 1);
    assert_eq!(
        out.get(5).unwrap().unwrap_err(),
        TransformError::Rejected("no thanks: reject:1".into())
    );
    assert_eq!(out.iter().filter(Result::is_ok).count(), 10);
}

#[test]
fn the_host_goes_on_after_every_kind_of_failure() {
    let transform = shared();
    let mut batch = batch_around("trap:1");
    batch.push(hash("oom:1", "x"));
    batch.push(hash("loop:1", "x"));
    let out = transform.run(&batch).unwrap();
    assert_eq!(out.iter().filter(Result::is_err).count(), 3);
    // The same transform still serves clean batches in one call.
    let out = transform.run(&batch_around("user:99")).unwrap();
    assert_eq!(out.calls(), 1);
    assert!(out.iter().all(|o| o.is_ok()));
}

/// A guest's panic message goes to its stderr, which wasmtime's WASI serves
/// by blocking on the ambient tokio runtime: from async code, as the
/// engine calls transforms, that must neither panic the runtime's thread
/// nor lose the message, on either kind of runtime.
fn a_trap_inside_a_runtime_is_rejected_alone(runtime: tokio::runtime::Runtime) {
    runtime.block_on(async {
        assert_only_middle_rejected(
            shared(),
            &batch_around("trap:7"),
            |e| matches!(e, TransformError::Trap(m) if m.contains("told to trap on trap:7")),
        );
        // And again from a task the runtime spawned.
        let joined = tokio::spawn(async {
            let out = shared()
                .run(&batch_around("trap:8"))
                .expect("the batch runs");
            out.iter().filter(Result::is_err).count()
        })
        .await;
        assert_eq!(joined.expect("the task did not panic"), 1);
    });
}

#[test]
fn a_trap_inside_a_current_thread_runtime_is_rejected_alone() {
    a_trap_inside_a_runtime_is_rejected_alone(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
}

#[test]
fn a_trap_inside_a_multi_thread_runtime_is_rejected_alone() {
    a_trap_inside_a_runtime_is_rejected_alone(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
}

#[test]
fn a_panic_in_init_fails_the_load_inside_a_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let loaded = runtime.block_on(async {
        tokio::spawn(async { load(&[("panic", "yes")], limits()).map(drop) }).await
    });
    match loaded.expect("the task did not panic") {
        Err(e) => assert!(e.to_string().contains("told to panic in init"), "{e}"),
        Ok(()) => panic!("the load succeeded"),
    }
}

#[test]
fn refused_params_fail_the_load() {
    match load(&[("refuse", "yes")], limits()) {
        Err(TransformError::Init { job, reason }) => {
            assert_eq!(job, "misbehave");
            assert_eq!(reason, "told to refuse");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the load succeeded"),
    }
}

#[test]
fn bytes_that_are_not_a_component_fail_to_compile() {
    let err = host()
        .load("junk", b"not wasm", vec![], limits())
        .err()
        .expect("junk is refused");
    assert!(matches!(err, TransformError::Compile { .. }), "{err}");
}

#[test]
fn guests_see_no_files_environment_arguments_or_clock() {
    let transform = shared();
    let out = transform.run(&[hash("probe:1", "x")]).unwrap();
    let ops = out.get(0).unwrap().unwrap();
    let seen: Vec<_> = ops[0]
        .values
        .iter()
        .map(|c| (c.name.as_ref(), c.value.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("root_dir_readable", Cell::Bool(false)),
            ("cwd_readable", Cell::Bool(false)),
            ("env_vars", Cell::Integer(0)),
            ("args", Cell::Integer(0)),
            ("unix_seconds", Cell::Integer(0)),
        ]
    );
}

#[test]
fn a_granted_wall_clock_shows_the_time_of_day() {
    let granted = Limits {
        wall_clock: true,
        ..limits()
    };
    let transform = load(&[], granted).unwrap();
    let out = transform.run(&[hash("probe:1", "x")]).unwrap();
    let ops = out.get(0).unwrap().unwrap();
    let seen = ops[0]
        .values
        .iter()
        .find(|c| c.name == "unix_seconds")
        .map(|c| c.value.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    match seen {
        Some(Cell::Integer(seconds)) => assert!((now - 5..=now).contains(&seconds), "{seconds}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!Limits::default().wall_clock, "not granted unless asked");
}

#[test]
fn transforms_can_be_shared_between_worker_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<WasmTransform>();
    shareable::<WasmHost>();
    let transform = shared();
    std::thread::scope(|scope| {
        for worker in 0..2 {
            let transform = &transform;
            scope.spawn(move || {
                let batch: Vec<_> = (0..50)
                    .map(|i| hash(&format!("user:{worker}{i}"), "n"))
                    .collect();
                let out = transform.run(&batch).unwrap();
                assert!(out.iter().all(|o| o.is_ok()));
            });
        }
    });
}

#[test]
fn an_empty_batch_makes_no_call() {
    let transform = shared();
    let out = transform.run(&[]).unwrap();
    assert!(out.is_empty());
    assert_eq!(out.calls(), 0);
}

#[test]
fn the_typed_and_packed_calls_agree() {
    let transform = shared();
    let mut batch = batch_around("reject:1");
    batch.push(missing("user:3"));
    batch.push(hash("log:4", "logged"));
    batch.push(ChangeData {
        key: b"user:\xff".to_vec(),
        event: "hset".into(),
        stream_id: "3-0".into(),
        value: ValueData::Hash(vec![(b"name".to_vec(), vec![0xc3, 0x28])]),
    });
    for (key, value) in [
        ("user:5", ValueData::Set(vec![b"a".to_vec(), b"b".to_vec()])),
        ("user:6", ValueData::SortedSet(vec![(b"m".to_vec(), 1.5)])),
        ("user:7", ValueData::Json(r#"{"name":"Ada"}"#.into())),
    ] {
        batch.push(ChangeData {
            key: key.as_bytes().to_vec(),
            event: "other".into(),
            stream_id: "4-0".into(),
            value,
        });
    }
    let typed = transform.run_typed(&batch).unwrap();
    let packed = transform.run(&batch).unwrap();
    assert_eq!(typed.len(), packed.len());
    for (i, (typed, packed)) in typed.into_iter().zip(packed.iter()).enumerate() {
        let packed = match packed {
            Ok(ops) => Ok(ops
                .into_iter()
                .map(|op| op.into_owned())
                .collect::<Vec<_>>()),
            Err(TransformError::Rejected(reason)) => Err(reason),
            Err(other) => panic!("change {i}: {other}"),
        };
        assert_eq!(typed, packed, "change {i}");
    }
}
