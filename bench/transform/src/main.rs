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

use wb_abi::{encode_changes, run_batch, BatchReader, ChangeData, ResultReader, ValueData};
use wb_engine::transform::{Limits, WasmHost};

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

/// Builds the guest with the same mapping; returns the component's path.
fn build_guest() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = root.join("target/guests");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(root.join("bench/transform/guest/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the benchmark guest failed".into());
    }
    Ok(target.join("wasm32-wasip2/release/wb_bench_transform_guest.wasm"))
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

/// Best wall time of `rounds` runs of `f` over all changes, batch by batch.
fn best_of(
    rounds: usize,
    mut f: impl FnMut() -> Result<usize, String>,
) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let started = Instant::now();
        black_box(f()?);
        best = best.min(started.elapsed());
    }
    Ok(best)
}

/// Counts cells so the row ops are really built and read.
fn cells(ops: &[wb_abi::RowOp<'_>]) -> usize {
    ops.iter().map(|op| op.key.len() + op.values.len()).sum()
}

fn run() -> Result<(), String> {
    let options = parse_options()?;
    let component = build_guest()?;
    let input = changes(options.changes);
    let host = WasmHost::new().map_err(|e| e.to_string())?;
    let transform = host
        .load_file("bench", &component, vec![], Limits::default())
        .map_err(|e| e.to_string())?;

    // Through Wasm: what the pipeline does for each batch — encode, fresh
    // instance + init, one call, check the results, decode every row op.
    let wasm = || {
        let mut total = 0;
        for batch in input.chunks(options.batch) {
            let out = transform.run(batch).map_err(|e| e.to_string())?;
            for outcome in out.iter() {
                total += cells(&outcome.map_err(|e| e.to_string())?);
            }
        }
        Ok(total)
    };

    // Natively, the same steps without Wasm: encode, run the same mapping
    // through the same batch loop, check and decode the results.
    let native = || {
        let mut total = 0;
        for batch in input.chunks(options.batch) {
            let packed = encode_changes(batch);
            let output = run_batch(&packed, mapping::map_user).map_err(|e| e.to_string())?;
            let spans = ResultReader::spans(&output).map_err(|e| e.to_string())?;
            for span in spans {
                let entry = ResultReader::entry(&output[span]).map_err(|e| e.to_string())?;
                total += cells(&entry?);
            }
        }
        Ok(total)
    };

    // The mapping alone: decode views and build row ops, nothing else.
    let mapping_only = || {
        let mut total = 0;
        for batch in input.chunks(options.batch) {
            let packed = encode_changes(batch);
            for change in BatchReader::new(&packed).map_err(|e| e.to_string())? {
                let change = change.map_err(|e| e.to_string())?;
                total += cells(&mapping::map_user(&change)?);
            }
        }
        Ok(total)
    };

    // Warm up caches and the allocator once.
    black_box(wasm()?);
    black_box(native()?);

    let n = options.changes as f64;
    let report = |label: &str, d: Duration, baseline: Option<Duration>| {
        let per = d.as_secs_f64() / n;
        let ratio = baseline
            .map(|b| format!("{:.2}", b.as_secs_f64() / d.as_secs_f64()))
            .unwrap_or_else(|| "-".into());
        println!(
            "{label:<34} {:>12.0} {:>10.3} {:>10}",
            1.0 / per,
            per * 1e6,
            ratio
        );
    };
    println!(
        "{} changes of a 10-field hash, batches of {}, best of {} rounds, one thread",
        options.changes, options.batch, options.rounds
    );
    println!(
        "{:<34} {:>12} {:>10} {:>10}",
        "path", "records/s", "us/record", "vs native"
    );
    let native_time = best_of(options.rounds, native)?;
    let wasm_time = best_of(options.rounds, wasm)?;
    let mapping_time = best_of(options.rounds, mapping_only)?;
    report("wasm component (engine host)", wasm_time, Some(native_time));
    report("native, same pipeline", native_time, Some(native_time));
    report("native, mapping alone", mapping_time, Some(native_time));
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
