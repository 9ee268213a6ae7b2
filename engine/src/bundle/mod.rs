//! Job bundles: a job compiled into one file that holds its component, the
//! component's params and a manifest, content-addressed by a sha256 so CI
//! can build and test a bundle and people can share it.
//!
//! `wb-engine compile JOB.yaml` writes one; `run` and `test` build the
//! same bundle in memory from the job file (through [`JobPlan`]), so what
//! runs is what `compile` would have written.
//!
//! # File layout, format 2
//!
//! ```text
//! wb-bundle 2 <manifest bytes> <component bytes> [<component bytes> ...]\n
//! <manifest: UTF-8 JSON, exactly <manifest bytes> long>\n
//! <the components, one after another, each exactly as long as announced>
//! ```
//!
//! The manifest's fields (all required; unknown fields are refused):
//!
//! | field | meaning |
//! | --- | --- |
//! | `format` | `2`, the layout above |
//! | `job` | the job's name |
//! | `wit` | the WIT package the components implement, `wb:transform@0.1.0` |
//! | `wb_version` | the wb that compiled it (not hashed) |
//! | `source` | `{key_pattern, exclude_commands}` from the job's `source.redis` |
//! | `outputs` | `[{connection, table}]`, table as `schema.table` when a schema is named |
//! | `components` | `[{kind, bytes, params}]` in the order they run: `step`s, then one `stock-mapper` or `custom` |
//! | `sha256` | the content hash, lower-case hex (see [`content_hash`]) |
//!
//! A declarative job's last component is the stock mapper with the job's
//! blocks and outputs compiled into its `spec` param, after one `step` per
//! `wasm` step of the job; a job whose only step is `wasm` and that has no
//! outputs carries that component alone (`custom`). Reading a bundle checks
//! the header, the lengths, the format, the components' order, the WIT
//! package and the hash, and names the file and what is wrong.

mod error;
mod file;
mod hash;
mod manifest;
mod plan;

pub use error::BundleError;
pub use file::Bundle;
pub use hash::content_hash;
pub(crate) use hash::hex;
pub use manifest::{
    BundleOutput, BundleSource, ComponentInfo, ComponentKind, Manifest, FORMAT_VERSION, WIT_PACKAGE,
};
pub use plan::{job_name, JobPlan, PlannedComponent, PlannedStep};

/// The extension of bundle files.
pub const EXTENSION: &str = "wbb";
