//! What a run runs: config.yaml's settings and one bundle per job, built
//! from a project directory or read from what `wb-engine deploy` stored in
//! Redis. Either way the engine runs the same thing.

use std::path::{Path, PathBuf};

use crate::bundle::{Bundle, BundleError};
use crate::config::Settings;
use crate::control::deploy::StoredDeployment;
use crate::project::Project;

/// Why a deployment read from Redis cannot run.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("deployment version {version}: its config.yaml does not parse:{problems}")]
    Config { version: u64, problems: String },
    #[error("deployment version {version}: {error}")]
    Bundle { version: u64, error: BundleError },
}

/// The settings and jobs of one run.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub settings: Settings,
    /// What relative SQLite paths are relative to: the project directory,
    /// or the engine's working directory for a deployment read from Redis.
    pub base_dir: PathBuf,
    /// One per job, in name order; each holds its job's name, the keys it
    /// tracks and the tables it writes (its manifest).
    pub bundles: Vec<Bundle>,
}

impl Deployment {
    /// The project's jobs, each compiled into the bundle `wb-engine
    /// compile` would write (declarative jobs with `mapper`, the stock
    /// mapper component).
    pub fn from_project(project: &Project, mapper: &Path) -> Result<Deployment, BundleError> {
        let bundles = project
            .jobs
            .iter()
            .map(|job| job.bundle(mapper))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Deployment {
            settings: project.settings.clone(),
            base_dir: project.dir.clone(),
            bundles,
        })
    }

    /// A deployment read from Redis (see `control::deploy`); relative
    /// SQLite paths are taken from `base_dir`.
    pub fn from_stored(
        stored: &StoredDeployment,
        base_dir: &Path,
    ) -> Result<Deployment, DeploymentError> {
        let version = stored.version;
        let config = PathBuf::from(format!("config.yaml of deployment version {version}"));
        let settings = Settings::parse_all(&config, &stored.config).map_err(|problems| {
            DeploymentError::Config {
                version,
                problems: problems.iter().map(|p| format!("\n  {p}")).collect(),
            }
        })?;
        let bundles = stored
            .bundles
            .iter()
            .map(|(job, bytes)| {
                let name = PathBuf::from(format!("bundle of job '{job}'"));
                Bundle::from_bytes(&name, bytes)
                    .map_err(|error| DeploymentError::Bundle { version, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Deployment {
            settings,
            base_dir: base_dir.to_path_buf(),
            bundles,
        })
    }

    /// The jobs' names, in order.
    pub fn job_names(&self) -> impl Iterator<Item = &str> {
        self.bundles.iter().map(|b| b.manifest.job.as_str())
    }
}
