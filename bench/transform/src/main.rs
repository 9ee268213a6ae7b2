//! Transform benchmark: a 10-field hash change mapped to one upsert, through
//! the engine's Wasm host and natively, in the same run. See bench/README.md.
//!
//! Usage: `wb-bench-transform [--changes N] [--batch N] [--rounds N]`

#[path = "../mapping.rs"]
mod mapping;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use wb_abi::{
    encode_changes, run_batch, BatchReader, Change, ChangeData, ResultReader, RowOp, ValueData,
};
use wb_engine::transform::{Limits, WasmHost, WasmTransform};
use wb_mapper::{apply, Spec};

struct Options {
    changes: usize,
    batch: usize,
    rounds: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        changes: 200_000,
        batch: 1_000,
        rounds: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let value: usize = value
            .parse()
            .map_err(|_| format!("{flag}: {value:?} is not a number"))?;
        match flag.as_str() {
            "--changes" => options.changes = value,
            "--batch" => options.batch = value.max(1),
            "--rounds" => options.rounds = value.max(1),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

/// Builds a guest crate (relative to the repository root) into a
/// component; returns its path.
fn build_guest(dir: &str, artifact: &str) -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target/guests");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(root.join(dir).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {dir} failed"));
    }
    Ok(target.join(format!("wasm32-wasip2/release/{artifact}.wasm")))
}

/// `n` hashes of ten fields, about the size of a typical user record.
fn changes(n: usize) -> Vec<ChangeData> {
    (0..n)
        .map(|i| {
            let fields: [(&str, String); 10] = [
                ("name", format!("User Number {i}")),
                ("email", format!("user{i}@example.com")),
                ("city", "London".into()),
                ("country", "GB".into()),
                ("plan", if i % 3 == 0 { "pro" } else { "free" }.into()),
                ("created_at", "2026-11-22T02:00:00Z".into()),
                ("notes", "likes long walks and short queries".into()),
                ("age", (20 + i % 50).to_string()),
                ("score", format!("{}.5", i % 100)),
                ("active", (i % 2).to_string()),
            ];
            ChangeData {
                key: format!("user:{i}").into_bytes(),
                event: "hset".into(),
                stream_id: format!("1732240800000-{i}"),
                value: ValueData::Hash(
                    fields
                        .into_iter()
                        .map(|(f, v)| (f.as_bytes().to_vec(), v.into_bytes()))
                        .collect(),
                ),
            }
        })
        .collect()
}

/// CPU time this thread has run, from the Linux scheduler's accounting:
/// on a machine shared with other work, time on the CPU says more about
/// the code than wall time, which includes waiting for a core.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Best time of `rounds` runs of `f`: thread CPU time where the system
/// reports it, wall time otherwise.
fn best_of(
    rounds: usize,
    mut f: impl FnMut() -> Result<usize, String>,
) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let (cpu, wall) = (thread_cpu_time(), Instant::now());
        black_box(f()?);
        let spent = match (cpu, thread_cpu_time()) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => wall.elapsed(),
        };
        best = best.min(spent);
    }
    Ok(best)
}

/// Counts cells so the row ops are really built and read.
fn cells(ops: &[RowOp<'_>]) -> usize {
    ops.iter().map(|op| op.key.len() + op.values.len()).sum()
}

/// The stock mapper's spec for the same 10 fields (all as text: plain
/// field references do not convert types).
const MAPPER_SPEC: &str = "output target users upsert
key id key_part(1)
value name name
value email email
value city city
value country country
value plan plan
value created_at created_at
value notes notes
value age age
value score score
value active active
";

/// Through Wasm: what the pipeline does for each batch — encode, fresh
/// instance + init, one call, check the results, decode every row op.
fn through_wasm(
    transform: &WasmTransform,
    input: &[ChangeData],
    batch: usize,
) -> Result<usize, String> {
    let mut total = 0;
    for batch in input.chunks(batch) {
        let out = transform.run(batch).map_err(|e| e.to_string())?;
        for outcome in out.iter() {
            total += cells(&outcome.map_err(|e| e.to_string())?);
        }
    }
    Ok(total)
}

/// Through Wasm's typed `transform` call (one allocation per string each
/// way), to show what the packed call saves.
fn through_wasm_typed(
    transform: &WasmTransform,
    input: &[ChangeData],
    batch: usize,
) -> Result<usize, String> {
    let mut total = 0;
    for batch in input.chunks(batch) {
        for outcome in transform.run_typed(batch).map_err(|e| e.to_string())? {
            total += cells(&outcome?);
        }
    }
    Ok(total)
}

/// Natively, the same steps without Wasm: encode, run the same mapping
/// through the same batch loop, check and decode the results.
fn native<F>(input: &[ChangeData], batch: usize, map: F) -> Result<usize, String>
where
    F: for<'a> Fn(&Change<'a>) -> Result<Vec<RowOp<'a>>, String>,
{
    let mut total = 0;
    for batch in input.chunks(batch) {
        let packed = encode_changes(batch);
        let output = run_batch(&packed, &map).map_err(|e| e.to_string())?;
        let spans = ResultReader::spans(&output).map_err(|e| e.to_string())?;
        for span in spans {
            let entry = ResultReader::entry(&output[span]).map_err(|e| e.to_string())?;
            total += cells(&entry?);
        }
    }
    Ok(total)
}

/// The mapping alone: decode views and build row ops, nothing else.
fn mapping_only<F>(input: &[ChangeData], batch: usize, map: F) -> Result<usize, String>
where
    F: for<'a> Fn(&Change<'a>) -> Result<Vec<RowOp<'a>>, String>,
{
    let mut total = 0;
    for batch in input.chunks(batch) {
        let packed = encode_changes(batch);
        for change in BatchReader::new(&packed).map_err(|e| e.to_string())? {
            let change = change.map_err(|e| e.to_string())?;
            total += cells(&map(&change)?);
        }
    }
    Ok(total)
}

fn run() -> Result<(), String> {
    let options = parse_options()?;
    let custom = build_guest("bench/transform/guest", "wb_bench_transform_guest")?;
    let stock = build_guest("sdk/mapper-component", "wb_mapper_component")?;
    let input = changes(options.changes);
    let host = WasmHost::new().map_err(|e| e.to_string())?;
    let custom = host
        .load_file("bench", &custom, vec![], Limits::default())
        .map_err(|e| e.to_string())?;
    let stock = host
        .load_file(
            "bench-mapper",
            &stock,
            vec![("spec".into(), MAPPER_SPEC.into())],
            Limits::default(),
        )
        .map_err(|e| e.to_string())?;
    // Row ops borrow column names from the spec for any batch lifetime, as
    // they do in the component, where the spec lives in a static.
    let spec: &'static Spec = Box::leak(Box::new(
        Spec::parse(MAPPER_SPEC).map_err(|e| e.to_string())?,
    ));
    let batch = options.batch;
    let n = options.changes as f64;

    println!(
        "{} changes of a 10-field hash, batches of {}, best of {} rounds, one thread, {} time",
        options.changes,
        batch,
        options.rounds,
        if thread_cpu_time().is_some() {
            "CPU"
        } else {
            "wall"
        }
    );
    println!(
        "{:<40} {:>12} {:>10} {:>10}",
        "path", "records/s", "us/record", "vs native"
    );
    let report = |label: &str, d: Duration, baseline: Duration| {
        let per = d.as_secs_f64() / n;
        println!(
            "{label:<40} {:>12.0} {:>10.3} {:>10.2}",
            1.0 / per,
            per * 1e6,
            baseline.as_secs_f64() / d.as_secs_f64()
        );
    };

    // Warm up caches and the allocator once per path.
    black_box(through_wasm(&custom, &input, batch)?);
    black_box(native(&input, batch, mapping::map_user)?);

    let custom_native = best_of(options.rounds, || native(&input, batch, mapping::map_user))?;
    let custom_wasm = best_of(options.rounds, || through_wasm(&custom, &input, batch))?;
    let custom_alone = best_of(options.rounds, || {
        mapping_only(&input, batch, mapping::map_user)
    })?;
    let custom_typed = best_of(options.rounds, || {
        through_wasm_typed(&custom, &input, batch)
    })?;
    report("custom mapping: wasm component", custom_wasm, custom_native);
    report(
        "custom mapping: wasm, typed WIT call",
        custom_typed,
        custom_native,
    );
    report(
        "custom mapping: native, same pipeline",
        custom_native,
        custom_native,
    );
    report(
        "custom mapping: native, mapping alone",
        custom_alone,
        custom_native,
    );

    black_box(through_wasm(&stock, &input, batch)?);
    let stock_native = best_of(options.rounds, || native(&input, batch, |c| apply(spec, c)))?;
    let stock_wasm = best_of(options.rounds, || through_wasm(&stock, &input, batch))?;
    report("stock mapper: wasm component", stock_wasm, stock_native);
    report(
        "stock mapper: native, same pipeline",
        stock_native,
        stock_native,
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wb-bench-transform: {e}");
            ExitCode::FAILURE
        }
    }
}
