//! The `wb-engine` binary as a user runs it: `run` against a real Valkey
//! with the capture module and a SQLite target; `validate`, `compile` and
//! `test` on project directories, job files and cases files.

mod compile;
mod run;
mod test;
mod validate;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

use wb_tests::guests;

/// The stock mapper component, built once per test binary.
pub fn mapper() -> PathBuf {
    guests::build("sdk/mapper-component")
}

/// Runs `wb-engine ARGS` with `--mapper` where the command takes it, and
/// returns its output; `env` is added to the environment.
pub fn wb<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wb-engine"));
    command.args(args);
    let sub = args.first().map(|a| a.as_ref().to_owned());
    if matches!(
        sub.as_deref().and_then(OsStr::to_str),
        Some("compile" | "test" | "run")
    ) {
        command.arg("--mapper").arg(mapper());
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("wb-engine runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
