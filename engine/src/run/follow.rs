//! `wb-engine run` without a project directory: runs the deployment that
//! `wb-engine deploy` stored in Redis, and follows it.
//!
//! The engine looks at the deployment's version every second. A new one is
//! read and prepared (components compiled, connections resolved) while the
//! running one goes on; only then is the running one stopped (each worker
//! finishes and acknowledges its batch in flight) and the new one started.
//! The new workers continue from the same stream positions, the consumer
//! group's and the target's stored offsets, so an upgrade loses no change
//! and writes none twice. A deployment that cannot run on this machine (a
//! component that does not load, an `${ENV}` variable not set here) is
//! refused with an error in the log, and the running one goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use redis::aio::MultiplexedConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::control::deploy::{self, DeployedVersion, StoredDeployment};
use crate::control::metrics::Metrics;
use crate::control::{connect_multiplexed, shown_url};
use crate::pipeline::{wait_unless_stopped, WorkerStats};

use super::deployment::Deployment;
use super::launch::prepare;

/// How often the deployment's version is looked at.
pub const POLL: Duration = Duration::from_secs(1);

/// A deployment being run.
struct Running {
    version: u64,
    halt: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<WorkerStats>>,
}

impl Running {
    /// Stops its workers after their batch in flight and waits for them.
    async fn stop(self) -> anyhow::Result<WorkerStats> {
        let _ = self.halt.send(true);
        self.task
            .await
            .context("the workers of the deployment ended abnormally")?
    }
}

/// Runs the deployment stored in the Redis at `redis_url`, moving to each
/// new one, until `stop` turns true. Relative SQLite paths are taken from
/// `base_dir`. Waits for a first deployment (and for Redis) meanwhile.
/// The workers of every version count what they do in `metrics`, if given.
pub async fn run_deployed(
    redis_url: &str,
    base_dir: &Path,
    metrics: Option<Arc<Metrics>>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<WorkerStats> {
    let mut follower = Follower {
        url: redis_url.to_owned(),
        base_dir: base_dir.to_path_buf(),
        metrics,
        con: None,
        seen: None,
        waiting_said: false,
        unreachable_said: false,
    };
    let mut running: Option<Running> = None;
    let mut total = WorkerStats::default();
    loop {
        if *stop.borrow() {
            if let Some(current) = running.take() {
                total += current.stop().await?;
            }
            return Ok(total);
        }
        if let Some(next) = follower.next().await {
            if let Some(current) = running.take() {
                tracing::info!(
                    from = current.version,
                    to = next.0,
                    "moving to a new deployment: the running one finishes its batches first"
                );
                total += current.stop().await?;
            }
            let version = next.0;
            running = Some(start(&follower.url, next));
            tracing::info!(version, "running the deployment");
        }
        match &mut running {
            Some(current) => {
                tokio::select! {
                    _ = wait_unless_stopped(POLL, &mut stop) => {}
                    ended = &mut current.task => {
                        // Its workers stopped without being asked: one
                        // failed for good, and its error is the run's.
                        total += ended.context("the workers of the deployment ended abnormally")??;
                        return Ok(total);
                    }
                }
            }
            None => wait_unless_stopped(POLL, &mut stop).await,
        }
    }
}

/// Starts the workers of a prepared deployment on a task of their own.
fn start(url: &str, (version, prepared): (u64, super::Prepared)) -> Running {
    let (halt, halted) = watch::channel(false);
    let url = url.to_owned();
    let task = tokio::spawn(async move { prepared.run(&url, halted).await });
    Running {
        version,
        halt,
        task,
    }
}

/// What the follower knows of the deployment in Redis.
struct Follower {
    url: String,
    base_dir: PathBuf,
    metrics: Option<Arc<Metrics>>,
    con: Option<MultiplexedConnection>,
    /// The last version read: running, or refused.
    seen: Option<DeployedVersion>,
    waiting_said: bool,
    unreachable_said: bool,
}

impl Follower {
    /// A new deployment, prepared to run, when the version in Redis has
    /// changed and the new one can run here; `None` otherwise (no change,
    /// none deployed yet, Redis unreachable, or refused: each said once in
    /// the log).
    async fn next(&mut self) -> Option<(u64, super::Prepared)> {
        let stored = match self.read_if_changed().await {
            Ok(Some(stored)) => stored,
            Ok(None) => return None,
            Err(e) => {
                self.con = None;
                if !self.unreachable_said {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot read the deployment from Redis; trying again every second"
                    );
                    self.unreachable_said = true;
                }
                return None;
            }
        };
        let version = stored.version;
        self.seen = Some(DeployedVersion {
            version,
            deployed_ms: stored.deployed_ms,
        });
        let names: Vec<&str> = stored.jobs.iter().map(|j| j.job.as_str()).collect();
        tracing::info!(version, jobs = %names.join(", "), "deployment read from Redis");
        let deployment = match Deployment::from_stored(&stored, &self.base_dir) {
            Ok(deployment) => deployment,
            Err(e) => {
                tracing::error!(version, error = %e, "the deployment cannot run; the one running (if any) goes on");
                return None;
            }
        };
        // Compiling components takes a while: off the async threads.
        let metrics = self.metrics.clone();
        match tokio::task::spawn_blocking(move || prepare(&deployment, metrics)).await {
            Ok(Ok(prepared)) => Some((version, prepared)),
            Ok(Err(e)) => {
                tracing::error!(
                    version,
                    error = format!("{e:#}"),
                    "the deployment cannot run on this machine; the one running (if any) goes on"
                );
                None
            }
            Err(e) => {
                tracing::error!(version, error = %e, "preparing the deployment failed");
                None
            }
        }
    }

    /// The stored deployment when its version is not the one seen last.
    async fn read_if_changed(&mut self) -> anyhow::Result<Option<StoredDeployment>> {
        let con = match &mut self.con {
            Some(con) => con,
            None => {
                let con = connect_multiplexed(&self.url)
                    .await
                    .with_context(|| format!("connecting to Redis at {}", shown_url(&self.url)))?;
                self.con.insert(con)
            }
        };
        let version = deploy::deployed_version(con, &self.url).await?;
        // Redis answered: a later outage is said again.
        self.unreachable_said = false;
        match version {
            None => {
                if !self.waiting_said {
                    tracing::info!(
                        url = %shown_url(&self.url),
                        "nothing deployed yet; waiting for `wb-engine deploy` (or run a project \
                         directory with --dir)"
                    );
                    self.waiting_said = true;
                }
                Ok(None)
            }
            Some(version) if Some(version) == self.seen => Ok(None),
            Some(_) => Ok(deploy::read(con, &self.url).await?),
        }
    }
}
