//! What a run runs: config.yaml's settings and one bundle per job, built
//! from a project directory or read from what `wb-engine deploy` stored in
//! Redis. Either way the engine runs the same thing.

use std::path::{Path, PathBuf};

use crate::bundle::{Bundle, BundleError};
use crate::config::Settings;
use crate::project::Project;

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

    /// The jobs' names, in order.
    pub fn job_names(&self) -> impl Iterator<Item = &str> {
        self.bundles.iter().map(|b| b.manifest.job.as_str())
    }
}
