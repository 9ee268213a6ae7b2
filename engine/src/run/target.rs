//! The one target connection `run` writes to, chosen from the project.

use std::collections::BTreeSet;

use crate::config::Connection;
use crate::project::Project;

/// Why a project cannot run yet although its files are valid.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("jobs write to several connections ({names}); `wb-engine run` supports one for now")]
    SeveralConnections { names: String },
    #[error(
        "no job declares which connection it writes to and config.yaml defines {count}: \
         declare `outputs` on the wasm step (connection, table)"
    )]
    Undeclared { count: usize },
}

/// The connection every job writes to: the one the jobs' outputs name, or,
/// when only `wasm` steps without declared outputs write, config.yaml's
/// only connection.
pub fn target_connection(project: &Project) -> Result<(String, Connection), TargetError> {
    let named: BTreeSet<&str> = project
        .jobs
        .iter()
        .flat_map(|job| job.outputs.iter().map(|o| o.connection.as_str()))
        .collect();
    let connections = &project.settings.connections;
    let name = match named.len() {
        1 => named.into_iter().next(),
        0 if connections.len() == 1 => connections.keys().next().map(String::as_str),
        0 => None,
        _ => {
            return Err(TargetError::SeveralConnections {
                names: named.into_iter().collect::<Vec<_>>().join(", "),
            })
        }
    };
    // Outputs were checked against config.yaml when the project loaded.
    name.and_then(|name| Some((name.to_string(), connections.get(name)?.clone())))
        .ok_or(TargetError::Undeclared {
            count: connections.len(),
        })
}
