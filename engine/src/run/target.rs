//! Which target connection each job writes to, and so which workers `run`
//! starts: one per connection, each with the jobs that write there.

use std::collections::BTreeMap;

use super::deployment::Deployment;
use crate::config::Connection;

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
    /// Indexes into the deployment's bundles, in order.
    pub jobs: Vec<usize>,
}

/// The project's jobs grouped by the connection they write to, in name
/// order. A job writes to the one connection its outputs name; a job whose
/// `wasm` step declares no outputs writes to config.yaml's only connection.
pub fn targets(deployment: &Deployment) -> Result<Vec<TargetJobs>, TargetError> {
    let connections = &deployment.settings.connections;
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, bundle) in deployment.bundles.iter().enumerate() {
        let job = &bundle.manifest;
        let mut named: Vec<&str> = job.outputs.iter().map(|o| o.connection.as_str()).collect();
        named.sort_unstable();
        named.dedup();
        let name = match named.as_slice() {
            [one] => one.to_string(),
            [] if connections.len() == 1 => connections.keys().next().cloned().unwrap_or_default(),
            [] => {
                return Err(TargetError::Undeclared {
                    job: job.job.clone(),
                    count: connections.len(),
                })
            }
            _ => {
                return Err(TargetError::JobSpansConnections {
                    job: job.job.clone(),
                    names: named.join(", "),
                })
            }
        };
        groups.entry(name).or_default().push(index);
    }
    // Outputs were checked against config.yaml when the project loaded (or
    // was deployed), so every name is there; one that is not is reported as
    // an undeclared connection.
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
                    .map(|&i| deployment.bundles[i].manifest.job.clone())
                    .unwrap_or_default(),
                count: connections.len(),
            }),
        })
        .collect()
}
