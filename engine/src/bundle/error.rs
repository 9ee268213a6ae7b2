//! Why a job cannot be compiled or a bundle cannot be loaded.

use std::path::PathBuf;

use crate::config::ConfigError;

/// Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The job file is not valid (its own error names file, line, field).
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A component the job needs is not there (not built yet, say).
    #[error("{}: the component {} does not exist ({hint})", job_file.display(), component.display())]
    MissingComponent {
        job_file: PathBuf,
        component: PathBuf,
        hint: String,
    },
    /// The file does not start like a bundle, or its lengths do not add up.
    #[error("{}: not a wb bundle: {reason}", path.display())]
    NotABundle { path: PathBuf, reason: String },
    #[error("{}: bundle format {found} is not supported (this wb reads format {supported})", path.display())]
    Format {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The manifest is not valid JSON of the expected shape, or disagrees
    /// with the file's header.
    #[error("{}: manifest: {reason}", path.display())]
    Manifest { path: PathBuf, reason: String },
    #[error("{}: the component implements {found}, this wb runs {supported}", path.display())]
    Wit {
        path: PathBuf,
        found: String,
        supported: &'static str,
    },
    /// The content does not hash to what the manifest says: the bundle was
    /// changed (or damaged) after it was compiled.
    #[error(
        "{}: content hash mismatch: the manifest says sha256 {expected}, the content hashes to {actual} (the bundle was changed after it was compiled)",
        path.display()
    )]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}
