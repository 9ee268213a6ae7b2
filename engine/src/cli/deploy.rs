//! `wb-engine deploy [--dir DIR]`: checks the project, compiles every job
//! and stores config.yaml and the bundles in Redis, where engines started
//! without `--dir` run them and pick up each new deploy within a second.

use std::path::PathBuf;

use anyhow::Context as _;
use wb_engine::control::deploy::{self, DeployReport};
use wb_engine::control::{shown_url, ControlError, Shard};
use wb_engine::project::{clear_passwords, Project, ProjectProblems};
use wb_engine::run::{Deployment, POLL};

use super::{MapperArgs, RedisArgs};

#[derive(clap::Args)]
#[command(after_help = "\
What is stored: config.yaml as written, its ${ENV} references unresolved (a password \
written in clear is refused), and one bundle per job, in the hash wb:{0}:deployment. \
The capture module starts recording each job's keys at once; jobs of the previous \
deployment that are gone stop being recorded (their streams stay). A running engine \
finishes its batches in flight and continues with the new jobs from the same stream \
positions. Standalone servers only (cluster discovery is not built).")]
pub struct Args {
    /// The project directory: config.yaml and jobs/*.yaml.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Check and compile, and say what would change, without storing
    /// anything.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    mapper: MapperArgs,
}

pub fn deploy(args: Args) -> anyhow::Result<()> {
    let project = Project::load(&args.dir)?;
    for warning in &project.warnings {
        eprintln!("warning: {warning}");
    }
    let config_file = args.dir.join("config.yaml");
    let config = std::fs::read_to_string(&config_file)
        .with_context(|| format!("reading {}", config_file.display()))?;
    let in_clear = clear_passwords(&config_file, &config, &project.settings);
    if !in_clear.is_empty() {
        return Err(ProjectProblems(in_clear).into());
    }
    let deployment = Deployment::from_project(&project, &args.mapper.path()?)?;
    let url = args.redis.redis_url;
    super::runtime()?.block_on(async {
        let mut shard = Shard::connect(&url).await?;
        if shard.is_cluster().await? {
            return Err(ControlError::Cluster { url: url.clone() }.into());
        }
        let report = if args.dry_run {
            deploy::plan(&mut shard, &config, &deployment.bundles).await?
        } else {
            deploy::deploy(&mut shard, &config, &deployment.bundles).await?
        };
        print_report(&shown_url(&url), &deployment, &report, args.dry_run);
        anyhow::Ok(())
    })
}

/// `url` as shown: its password masked.
fn print_report(url: &str, deployment: &Deployment, report: &DeployReport, dry_run: bool) {
    let jobs = deployment.bundles.len();
    let plural = if jobs == 1 { "" } else { "s" };
    if report.is_unchanged() {
        println!(
            "nothing changed: version {} stays deployed on {url} ({jobs} job{plural})",
            report.version
        );
        return;
    }
    if dry_run {
        println!(
            "dry run: would deploy {jobs} job{plural} to {url} as version {} (nothing stored)",
            report.version + 1
        );
        if report.config_changed && report.version > 0 {
            println!("  config.yaml changed");
        }
    } else {
        println!(
            "deployed version {} to {url}: {jobs} job{plural}",
            report.version
        );
        if report.config_changed && report.version > 1 {
            println!("  config.yaml changed");
        }
    }
    let width = deployment
        .job_names()
        .chain(report.removed.iter().map(String::as_str))
        .map(str::len)
        .max()
        .unwrap_or(0);
    for bundle in &deployment.bundles {
        let job = &bundle.manifest.job;
        let what = if report.added.contains(job) {
            "added"
        } else if report.changed.contains(job) {
            "changed"
        } else {
            "unchanged"
        };
        println!(
            "  {job:width$}  {what:9}  sha256 {}",
            &bundle.manifest.sha256[..12.min(bundle.manifest.sha256.len())]
        );
    }
    for job in &report.removed {
        println!("  {job:width$}  removed    (its keys are no longer recorded; its stream stays)");
    }
    if !dry_run {
        println!(
            "engines started without --dir move to it within {} s",
            POLL.as_secs()
        );
    }
}
