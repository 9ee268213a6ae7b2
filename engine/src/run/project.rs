//! A project directory, loaded and checked for what `run` supports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, Connection, Job, Output, Settings, TransformStep};

/// A job ready to run: its name, key pattern, excluded events, the stock
/// mapper's spec and the tables it writes.
#[derive(Debug, Clone)]
pub struct RunnableJob {
    pub name: String,
    pub key_pattern: String,
    pub exclude_commands: Vec<String>,
    pub spec: String,
    pub tables: Vec<String>,
}

/// Everything `run` needs from a project directory.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub settings: Settings,
    pub jobs: Vec<RunnableJob>,
    /// The one connection every job writes to.
    pub connection_name: String,
    pub connection: Connection,
}

/// Why a project cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no job files (jobs/*.yaml)", dir.display())]
    NoJobs { dir: PathBuf },
    #[error("{}: job name '{name}' must be 1 to 64 characters of A-Z a-z 0-9 _ - .", file.display())]
    BadJobName { file: PathBuf, name: String },
    #[error("{}: `wb-engine run` does not run jobs with a `wasm` transform step yet", file.display())]
    WasmStep { file: PathBuf },
    #[error("{}: output connection '{name}' is not in config.yaml (known: {known})", file.display())]
    UnknownConnection {
        file: PathBuf,
        name: String,
        known: String,
    },
    #[error("jobs write to several connections ({names}); `wb-engine run` supports one for now")]
    SeveralConnections { names: String },
}

impl Project {
    /// Loads `dir/config.yaml` and every `dir/jobs/*.yaml` (the job's name is
    /// the file's stem).
    pub fn load(dir: &Path) -> Result<Project, ProjectError> {
        let settings = Settings::load(&dir.join("config.yaml"))?;
        let jobs_dir = dir.join("jobs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&jobs_dir)
            .map_err(|source| ProjectError::Read {
                path: jobs_dir.clone(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ProjectError::NoJobs { dir: jobs_dir });
        }
        let mut jobs = Vec::new();
        let mut connections = BTreeSet::new();
        for file in files {
            let text = ConfigError::read(&file)?;
            let job = Job::parse(&file, &text)?;
            let name = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !name_ok {
                return Err(ProjectError::BadJobName { file, name });
            }
            if job
                .transform
                .iter()
                .any(|t| matches!(t, TransformStep::Wasm(_)))
            {
                return Err(ProjectError::WasmStep { file });
            }
            let mut tables = Vec::new();
            for output in &job.output {
                let Output::RelationalWrite(write) = output;
                if !settings.connections.contains_key(&write.connection) {
                    return Err(ProjectError::UnknownConnection {
                        file,
                        name: write.connection.clone(),
                        known: settings
                            .connections
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                connections.insert(write.connection.clone());
                tables.push(match &write.schema {
                    Some(schema) => format!("{schema}.{}", write.table),
                    None => write.table.clone(),
                });
            }
            let spec = job.to_mapper_spec(&file, &text)?.to_string();
            jobs.push(RunnableJob {
                name,
                key_pattern: job.source.redis.key_pattern.clone(),
                exclude_commands: job.source.redis.exclude_commands.clone(),
                spec,
                tables,
            });
        }
        let mut names = connections.into_iter();
        let connection_name = match (names.next(), names.next()) {
            (Some(one), None) => one,
            (Some(a), Some(b)) => {
                let rest: Vec<String> = names.collect();
                return Err(ProjectError::SeveralConnections {
                    names: [a, b]
                        .into_iter()
                        .chain(rest)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            (None, _) => return Err(ProjectError::NoJobs { dir: jobs_dir }),
        };
        let connection = settings.connections[&connection_name].clone();
        Ok(Project {
            dir: dir.to_path_buf(),
            settings,
            jobs,
            connection_name,
            connection,
        })
    }
}
