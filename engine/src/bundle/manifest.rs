//! The manifest: what a bundle holds and where its job reads and writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The on-disk layout this engine writes and reads. A bundle of another
/// format is refused with both numbers named.
pub const FORMAT_VERSION: u32 = 2;

/// The WIT package every component must implement (`wit/transform.wit`).
pub const WIT_PACKAGE: &str = "wb:transform@0.1.0";

/// A bundle's manifest, stored as JSON at the head of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The bundle format ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The job's name (its file's stem, or its directory for `job.yaml`).
    pub job: String,
    /// The WIT package the component implements ([`WIT_PACKAGE`]).
    pub wit: String,
    /// The wb version that compiled the bundle (informational: not hashed).
    pub wb_version: String,
    /// The keys the job tracks.
    pub source: BundleSource,
    /// The tables the job writes, as declared by the job file.
    pub outputs: Vec<BundleOutput>,
    /// The components, in the order they run: the job's `wasm` steps
    /// (kind `step`), then the component that makes the rows (the stock
    /// mapper, or the job's own).
    pub components: Vec<ComponentInfo>,
    /// Hex sha256 of the content (see the module documentation).
    pub sha256: String,
}

/// The job's `source.redis` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSource {
    pub key_pattern: String,
    #[serde(default)]
    pub exclude_commands: Vec<String>,
}

/// One target table: `schema.table` when the job names a schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleOutput {
    pub connection: String,
    pub table: String,
}

/// One component: what it is, its size and its `init` params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    /// Length of the component's bytes in the file.
    pub bytes: u64,
    /// Passed to the component's `init`.
    pub params: BTreeMap<String, String>,
}

/// What a component is: a step (world `step`) that reshapes records before
/// the mapping, wb's stock declarative mapper (with the job's blocks and
/// outputs compiled into its `spec` param), or the job's own component
/// (world `transform`) that makes the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComponentKind {
    #[serde(rename = "step")]
    Step,
    #[serde(rename = "stock-mapper")]
    StockMapper,
    #[serde(rename = "custom")]
    Custom,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Step => "step",
            ComponentKind::StockMapper => "stock-mapper",
            ComponentKind::Custom => "custom",
        }
    }
}
