//! `wb-engine validate [--dir DIR]`: checks config.yaml and every job file,
//! and the jobs against the config; reports every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use wb_engine::project::Project;

#[derive(clap::Args)]
pub struct Args {
    /// The project directory: config.yaml and jobs/*.yaml.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

/// Problems and warnings go to stderr, one per line (file:line: field:
/// message); the summary to stdout when the project is valid. `${ENV}`
/// values are never resolved into the output: unset ones are only named.
pub fn validate(args: Args) -> ExitCode {
    match Project::load(&args.dir) {
        Ok(project) => {
            for warning in &project.warnings {
                eprintln!("warning: {warning}");
            }
            let names: Vec<&str> = project.jobs.iter().map(|j| j.name.as_str()).collect();
            let warnings = match project.warnings.len() {
                0 => String::new(),
                1 => ", 1 warning".into(),
                n => format!(", {n} warnings"),
            };
            println!(
                "ok: {}: config.yaml and {} job{} ({}) are valid{warnings}",
                args.dir.display(),
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems.0 {
                eprintln!("error: {problem}");
            }
            let n = problems.0.len();
            eprintln!(
                "{}: {n} problem{} found",
                args.dir.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
    }
}
