//! Errors in configuration files, located by file, line and field.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::suggest::tidy;

/// A configuration file that cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line; 0 when the whole file is concerned.
    pub line: usize,
    /// The field at fault, as a dotted path (`output[0].with.keys`), if known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The text of a configuration file, or an error naming it.
    pub fn read(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            field: None,
            message: format!("cannot read: {e}"),
        })
    }

    /// `text` (from `path`) parsed as YAML into `T`, or an error with the
    /// line and field serde reported.
    pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
        serde_yaml::from_str(text).map_err(|e| {
            let (field, message) = tidy(&e.to_string());
            ConfigError {
                file: path.to_path_buf(),
                line: e.location().map_or(0, |l| l.line()),
                field,
                message,
            }
        })
    }
}
