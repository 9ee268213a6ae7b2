//! `wb-engine test JOB.yaml --cases FILE`: runs a job's test cases through
//! its component and shows a diff for each failing case.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use wb_engine::bundle::{Bundle, JobPlan, EXTENSION};
use wb_engine::cases::{run_cases, CasesFile};
use wb_engine::transform::{Limits, WasmHost};

use super::MapperArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The job file, or a bundle (.wbb) written by `compile`.
    job: PathBuf,
    /// The cases file (see the README: key, value, expected row ops).
    #[arg(long)]
    cases: PathBuf,
    #[command(flatten)]
    mapper: MapperArgs,
}

/// Exit 0 when every case passes, 1 when one fails (or nothing could run).
pub fn test(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = if args.job.extension().and_then(|e| e.to_str()) == Some(EXTENSION) {
        Bundle::read(&args.job)?
    } else {
        JobPlan::load(&args.job)?.bundle(&args.mapper.path()?)?
    };
    let cases = CasesFile::load(&args.cases)?;
    let host = WasmHost::new().context("starting the Wasm host")?;
    let transform = bundle
        .load(&host, Limits::default())
        .with_context(|| format!("loading job '{}'", bundle.manifest.job))?;
    let reports = run_cases(&transform, &cases)?;
    let failed = reports.iter().filter(|r| r.failure.is_some()).count();
    for report in &reports {
        match &report.failure {
            None => println!("ok    {}", report.name),
            Some(diff) => {
                println!("FAIL  {} ({})", report.name, at(&args.cases, report.line));
                println!("      (- expected, + actual)");
                for line in diff {
                    println!("      {line}");
                }
            }
        }
    }
    println!(
        "{}: {} passed, {failed} failed",
        bundle.manifest.job,
        reports.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn at(file: &Path, line: usize) -> String {
    if line == 0 {
        file.display().to_string()
    } else {
        format!("{}:{line}", file.display())
    }
}
