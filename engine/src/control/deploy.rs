//! The deployment `wb-engine deploy` stores in Redis, and how engines read
//! it.
//!
//! One hash per shard, `wb:{TAG}:deployment`, holds config.yaml as written
//! (its `${ENV}` references unresolved: no secret is stored, and `deploy`
//! refuses a password written in clear), each job's bundle and a version
//! number. A deploy changes it in one `MULTI`/`EXEC`, so a reader sees one
//! whole deployment or the next; engines started without a project
//! directory poll the version and move to a new deployment when it
//! changes. Keys under `wb:` are never captured.

use redis::aio::ConnectionLike;
use redis::Value;
use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, BundleSource};

use super::error::ControlError;
use super::shard::Shard;

/// The shard's deployment hash. Standalone servers use the tag `0`, as the
/// capture module does; cluster discovery is not built.
pub const DEPLOYMENT_KEY: &str = "wb:{0}:deployment";

/// Fields of the deployment hash.
mod field {
    /// Incremented by each deploy.
    pub const VERSION: &str = "version";
    /// When it was deployed (ms since the epoch).
    pub const DEPLOYED: &str = "deployed_ms";
    /// config.yaml's text, as written.
    pub const CONFIG: &str = "config";
    /// The jobs, as JSON: `[{"job": NAME, "sha256": HASH}, ...]`.
    pub const JOBS: &str = "jobs";
    /// Followed by a job's name: its bundle's bytes.
    pub const BUNDLE_PREFIX: &str = "bundle:";
}

/// A job of a deployment, as listed in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedJob {
    pub job: String,
    /// The bundle's content hash.
    pub sha256: String,
}

/// A deployment as read from Redis: the text and bytes, not yet parsed.
#[derive(Clone, Debug)]
pub struct StoredDeployment {
    pub version: u64,
    pub deployed_ms: u64,
    pub config: String,
    pub jobs: Vec<DeployedJob>,
    /// `(job, bundle bytes)`, in the order of `jobs`.
    pub bundles: Vec<(String, Vec<u8>)>,
}

/// What a deploy changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployReport {
    pub version: u64,
    /// Jobs not in the previous deployment.
    pub added: Vec<String>,
    /// Jobs whose bundle changed (the others are unchanged).
    pub changed: Vec<String>,
    /// Jobs of the previous deployment that are gone: the capture module no
    /// longer records their keys.
    pub removed: Vec<String>,
    /// Whether config.yaml differs from the stored one (true for a first
    /// deploy).
    pub config_changed: bool,
}

impl DeployReport {
    /// Whether the deployment would be the stored one again: then nothing
    /// is stored and running engines are left alone.
    pub fn is_unchanged(&self) -> bool {
        self.version > 0
            && !self.config_changed
            && self.added.is_empty()
            && self.changed.is_empty()
            && self.removed.is_empty()
    }
}

/// Which deployment is stored: its version and when it was deployed. The
/// time tells two deployments apart that got the same number because the
/// hash was lost in between (a restart without persistence, a FLUSHALL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeployedVersion {
    pub version: u64,
    pub deployed_ms: u64,
}

/// The deployment stored on the server, if any: one `HMGET`.
pub async fn deployed_version<C: ConnectionLike>(
    con: &mut C,
    url: &str,
) -> Result<Option<DeployedVersion>, ControlError> {
    let (version, deployed_ms): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
        .arg(DEPLOYMENT_KEY)
        .arg(field::VERSION)
        .arg(field::DEPLOYED)
        .query_async(con)
        .await
        .map_err(|e| ControlError::redis(url, e))?;
    Ok(version.map(|version| DeployedVersion {
        version,
        deployed_ms: deployed_ms.unwrap_or(0),
    }))
}

/// The deployment stored on the server, if any, read in one `HGETALL`.
pub async fn read<C: ConnectionLike>(
    con: &mut C,
    url: &str,
) -> Result<Option<StoredDeployment>, ControlError> {
    let reply: Value = redis::cmd("HGETALL")
        .arg(DEPLOYMENT_KEY)
        .query_async(con)
        .await
        .map_err(|e| ControlError::redis(url, e))?;
    // The hash is megabytes of bundles: the error says what is wrong with
    // it rather than showing it.
    let bad = |what: &str| ControlError::Reply {
        command: "HGETALL",
        url: url.to_owned(),
        reply: format!("{DEPLOYMENT_KEY} is not a deployment wb-engine deploy wrote: {what}"),
    };
    let pairs: Vec<(String, Vec<u8>)> = match &reply {
        Value::Array(items) if items.is_empty() => return Ok(None),
        Value::Map(items) if items.is_empty() => return Ok(None),
        _ => redis::from_redis_value(&reply).map_err(|_| bad("not a hash of fields and values"))?,
    };
    let mut version = None;
    let mut deployed_ms = 0;
    let mut config = None;
    let mut jobs: Option<Vec<DeployedJob>> = None;
    let mut bundles = Vec::new();
    for (name, value) in pairs {
        let text =
            || String::from_utf8(value.clone()).map_err(|_| bad(&format!("{name} is not UTF-8")));
        match name.as_str() {
            field::VERSION => version = text()?.parse().ok(),
            field::DEPLOYED => deployed_ms = text()?.parse().unwrap_or(0),
            field::CONFIG => config = Some(text()?),
            field::JOBS => {
                jobs = Some(
                    serde_json::from_str(&text()?).map_err(|_| bad("its job list is not JSON"))?,
                )
            }
            other => {
                if let Some(job) = other.strip_prefix(field::BUNDLE_PREFIX) {
                    bundles.push((job.to_owned(), value));
                }
            }
        }
    }
    let (Some(version), Some(config), Some(jobs)) = (version, config, jobs) else {
        return Err(bad("the version, the config or the job list is missing"));
    };
    // In the order the deployment lists its jobs; a listed job without its
    // bundle is a hash changed by hand.
    let mut ordered = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let at = bundles
            .iter()
            .position(|(name, _)| *name == job.job)
            .ok_or_else(|| bad(&format!("job {} has no bundle", job.job)))?;
        ordered.push(bundles.swap_remove(at));
    }
    Ok(Some(StoredDeployment {
        version,
        deployed_ms,
        config,
        jobs,
        bundles: ordered,
    }))
}

/// What deploying `config` and `bundles` would change on the shard,
/// against the deployment stored there now (`version` is the stored one, 0
/// for none), read in one `HMGET`. A shard without the capture module is
/// refused here, before anything is stored: engines would take up a
/// deployment whose jobs nothing records.
pub async fn plan(
    shard: &mut Shard,
    config: &str,
    bundles: &[Bundle],
) -> Result<DeployReport, ControlError> {
    shard.jobs().await?;
    let url = shard.url().to_owned();
    let (version, listed, stored_config): (Option<u64>, Option<String>, Option<String>) =
        redis::cmd("HMGET")
            .arg(DEPLOYMENT_KEY)
            .arg(field::VERSION)
            .arg(field::JOBS)
            .arg(field::CONFIG)
            .query_async(shard.connection())
            .await
            .map_err(|e| ControlError::redis(&url, e))?;
    let previous: Vec<DeployedJob> = match listed {
        None => Vec::new(),
        Some(text) => serde_json::from_str(&text).map_err(|_| ControlError::Reply {
            command: "HMGET",
            url: url.clone(),
            reply: format!("{DEPLOYMENT_KEY} {}: {text:.200}", field::JOBS),
        })?,
    };
    let mut report = DeployReport {
        version: version.unwrap_or(0),
        added: Vec::new(),
        changed: Vec::new(),
        removed: Vec::new(),
        config_changed: stored_config.as_deref() != Some(config),
    };
    for bundle in bundles {
        let job = &bundle.manifest.job;
        match previous.iter().find(|p| p.job == *job) {
            None => report.added.push(job.clone()),
            Some(p) if p.sha256 != bundle.manifest.sha256 => report.changed.push(job.clone()),
            Some(_) => {}
        }
    }
    report.removed = previous
        .into_iter()
        .filter(|p| !bundles.iter().any(|b| b.manifest.job == p.job))
        .map(|p| p.job)
        .collect();
    Ok(report)
}

/// Stores `config` and `bundles` as the shard's new deployment, in one
/// `MULTI`/`EXEC`, then tells its capture module: every job is
/// (re)registered with `WB.JOB.SET`, so its changes are recorded from now
/// on (an engine moving to the deployment registers them too), and jobs of
/// the previous deployment that are gone are removed (`WB.JOB.DEL`: their
/// streams stay). Until a running engine has moved to the new deployment
/// (about a second, plus compiling), changes recorded under a job's new
/// pattern reach its previous version. Two deploys at once: the last one's
/// deployment wins. The same deployment again stores nothing (see
/// [`DeployReport::is_unchanged`]) but registers its jobs again, which
/// mends a deploy cut off between storing and registering. (Jobs such a
/// deploy should have removed are not known any more: `wb-engine jobs
/// remove` removes them.)
pub async fn deploy(
    shard: &mut Shard,
    config: &str,
    bundles: &[Bundle],
) -> Result<DeployReport, ControlError> {
    let url = shard.url().to_owned();
    let mut report = plan(shard, config, bundles).await?;
    if report.is_unchanged() {
        register(shard, bundles).await?;
        return Ok(report);
    }
    let listed: Vec<DeployedJob> = bundles
        .iter()
        .map(|b| DeployedJob {
            job: b.manifest.job.clone(),
            sha256: b.manifest.sha256.clone(),
        })
        .collect();
    let listed = serde_json::to_string(&listed).map_err(|e| ControlError::Bundle(e.to_string()))?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for gone in &report.removed {
        pipe.cmd("HDEL")
            .arg(DEPLOYMENT_KEY)
            .arg(format!("{}{gone}", field::BUNDLE_PREFIX))
            .ignore();
    }
    pipe.cmd("HSET")
        .arg(DEPLOYMENT_KEY)
        .arg(field::CONFIG)
        .arg(config)
        .arg(field::JOBS)
        .arg(listed)
        .arg(field::DEPLOYED)
        .arg(super::status::now_ms());
    for bundle in bundles {
        let bytes = bundle
            .to_bytes()
            .map_err(|e| ControlError::Bundle(e.to_string()))?;
        pipe.arg(format!("{}{}", field::BUNDLE_PREFIX, bundle.manifest.job))
            .arg(bytes);
    }
    pipe.ignore();
    pipe.cmd("HINCRBY")
        .arg(DEPLOYMENT_KEY)
        .arg(field::VERSION)
        .arg(1);
    let (version,): (u64,) = pipe
        .query_async(shard.connection())
        .await
        .map_err(|e| ControlError::redis(&url, e))?;
    report.version = version;
    register(shard, bundles).await?;
    for gone in &report.removed {
        shard.remove_job(gone).await?;
    }
    Ok(report)
}

/// Registers every job of `bundles` with the shard's capture module
/// (`WB.JOB.SET` registers or updates).
async fn register(shard: &mut Shard, bundles: &[Bundle]) -> Result<(), ControlError> {
    for bundle in bundles {
        let manifest = &bundle.manifest;
        shard.set_job(&manifest.job, &manifest.source).await?;
    }
    Ok(())
}

/// `WB.JOB.SET` arguments for a job's source.
pub(crate) fn job_set_args(name: &str, source: &BundleSource) -> redis::Cmd {
    let mut cmd = redis::cmd("WB.JOB.SET");
    cmd.arg(name).arg(&source.key_pattern);
    if !source.exclude_commands.is_empty() {
        cmd.arg("EXCLUDE").arg(&source.exclude_commands);
    }
    cmd
}
