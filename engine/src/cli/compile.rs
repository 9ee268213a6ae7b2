//! `wb-engine compile JOB.yaml [-o FILE]`: writes the job's bundle.

use std::path::PathBuf;

use anyhow::Context as _;
use wb_engine::bundle::{JobPlan, EXTENSION};
use wb_engine::transform::{Limits, WasmHost};

use super::MapperArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The job file.
    job: PathBuf,
    /// Where to write the bundle (default: NAME.wbb beside the job file,
    /// NAME being the job's name).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    mapper: MapperArgs,
}

/// Builds the bundle, checks that its component loads and accepts its
/// params, writes it and prints its path and content hash.
pub fn compile(args: Args) -> anyhow::Result<()> {
    let plan = JobPlan::load(&args.job)?;
    let bundle = plan.bundle(&args.mapper.path()?)?;
    let host = WasmHost::new().context("starting the Wasm host")?;
    bundle
        .load(&host, Limits::default())
        .with_context(|| format!("{}: the compiled job does not load", args.job.display()))?;
    let output = args.output.unwrap_or_else(|| {
        args.job
            .with_file_name(format!("{}.{EXTENSION}", bundle.manifest.job))
    });
    bundle.write(&output)?;
    println!("{}", output.display());
    println!("sha256 {}", bundle.manifest.sha256);
    Ok(())
}
