//! Which target connection each job writes to, and so which workers `run`
//! starts: one per connection, each with the jobs that write there.

use std::collections::BTreeMap;

use crate::config::Connection;
use crate::project::Project;

/// Why a project cannot run although its files are valid.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "job '{job}' writes to several connections ({names}); a batch is one transaction, \
         which cannot span databases: split the job, one per connection"
    )]
    JobSpansConnections { job: String, names: String },
    #[error(
        "job '{job}' does not declare which connection it writes to and config.yaml defines \
         {count}: declare `outputs` on its wasm step (connection, table)"
    )]
    Undeclared { job: String, count: usize },
}

/// The jobs that write to one connection.
#[derive(Clone, Debug)]
pub struct TargetJobs {
    /// The connection's name in config.yaml.
    pub name: String,
    pub connection: Connection,
    /// Indexes into the project's jobs, in file order.
    pub jobs: Vec<usize>,
}

/// The project's jobs grouped by the connection they write to, in name
/// order. A job writes to the one connection its outputs name; a job whose
/// `wasm` step declares no outputs writes to config.yaml's only connection.
pub fn targets(project: &Project) -> Result<Vec<TargetJobs>, TargetError> {
    let connections = &project.settings.connections;
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, job) in project.jobs.iter().enumerate() {
        let mut named: Vec<&str> = job.outputs.iter().map(|o| o.connection.as_str()).collect();
        named.sort_unstable();
        named.dedup();
        let name = match named.as_slice() {
            [one] => one.to_string(),
            [] if connections.len() == 1 => connections.keys().next().cloned().unwrap_or_default(),
            [] => {
                return Err(TargetError::Undeclared {
                    job: job.name.clone(),
                    count: connections.len(),
                })
            }
            _ => {
                return Err(TargetError::JobSpansConnections {
                    job: job.name.clone(),
                    names: named.join(", "),
                })
            }
        };
        groups.entry(name).or_default().push(index);
    }
    // Outputs were checked against config.yaml when the project loaded, so
    // every name is there; one that is not would be a bug, reported as an
    // undeclared connection rather than a panic.
    groups
        .into_iter()
        .map(|(name, jobs)| match connections.get(&name) {
            Some(connection) => Ok(TargetJobs {
                name,
                connection: connection.clone(),
                jobs,
            }),
            None => Err(TargetError::Undeclared {
                job: jobs
                    .first()
                    .map(|&i| project.jobs[i].name.clone())
                    .unwrap_or_default(),
                count: connections.len(),
            }),
        })
        .collect()
}
