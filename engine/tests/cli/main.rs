//! The `wb-engine` binary as a user runs it: `run` against a real Valkey
//! with the capture module and a SQLite target; `validate`, `compile` and
//! `test` on project directories, job files and cases files; `deploy`,
//! `schema`, `scaffold`, `trace`, `dlq` and `backfill` against real
//! servers.

mod backfill;
mod compile;
mod deploy;
mod dlq;
mod metrics;
mod run;
mod scaffold;
mod schema;
mod status;
mod test;
mod trace;
mod validate;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use wb_tests::{guests, redis, TempDir};

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
        Some("compile" | "deploy" | "test" | "run" | "trace")
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

/// A `wb-engine run --dir PROJECT` process; its log goes to a file (a pipe
/// nobody reads could fill and stall it). Killed on drop if still running.
pub struct Engine {
    child: Option<Child>,
    log: PathBuf,
    _dir: TempDir,
}

impl Engine {
    /// Starts `wb-engine run` on `project` against the server at `url`,
    /// with `env` added to its environment.
    pub fn start(project: &Path, url: &str, env: &[(&str, &OsStr)]) -> Engine {
        Engine::start_with(&[OsStr::new("--dir"), project.as_os_str()], url, env)
    }

    /// Starts `wb-engine run` on what `deploy` stored in the Redis at
    /// `url`.
    pub fn start_deployed(url: &str, env: &[(&str, &OsStr)]) -> Engine {
        Engine::start_with(&[], url, env)
    }

    fn start_with(args: &[&OsStr], url: &str, env: &[(&str, &OsStr)]) -> Engine {
        let dir = TempDir::new("engine-log");
        let log = dir.path().join("engine.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_wb-engine"));
        command
            .arg("run")
            .args(args)
            .arg("--mapper")
            .arg(mapper())
            .env("WB_REDIS_URL", url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the engine log"));
        for (name, value) in env {
            command.env(name, value);
        }
        Engine {
            child: Some(command.spawn().expect("wb-engine starts")),
            log,
            _dir: dir,
        }
    }

    /// The engine's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM; whether it exited 0, and its log.
    pub fn stop(mut self) -> (bool, String) {
        let Some(mut child) = self.child.take() else {
            return (false, self.log());
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = child.wait().expect("wb-engine exits");
        (status.success(), self.log())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until the capture module on `con`'s server tracks every job of
/// `names` (the engine registers them as it starts): a change to the keys
/// of a job not registered yet is not recorded.
pub fn wait_for_jobs(con: &mut redis::Connection, names: &[&str]) {
    let registered = wb_tests::wait_until(Duration::from_secs(60), || {
        let jobs: Vec<(String, redis::Value, redis::Value, redis::Value)> =
            redis::cmd("WB.JOB.LIST").query(con).unwrap_or_default();
        names
            .iter()
            .all(|name| jobs.iter().any(|(job, ..)| job == name))
    });
    assert!(registered, "jobs {names:?} were not registered within 60 s");
}
