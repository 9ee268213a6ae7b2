//! The cases file as written (format in the module documentation).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::config::ConfigError;

/// A whole cases file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    pub cases: Vec<Case>,
    /// Where it was read from, and its text: errors found later (a value
    /// that does not convert) are located by them.
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    pub text: String,
}

/// One change and what the job must make of it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in the report; defaults to the key.
    #[serde(default)]
    pub name: Option<String>,
    /// The Redis key.
    pub key: String,
    /// The keyspace event; defaults to what writes such a value (`hset`,
    /// `json.set`, `sadd`, `zadd`) or `del` for a missing value.
    #[serde(default)]
    pub event: Option<String>,
    /// The key's value when the engine reads it.
    pub value: CaseValue,
    /// The row operations expected, in order (`[]`: none, a filtered
    /// record). Either this or `reject`.
    #[serde(default)]
    pub expect: Option<Vec<ExpectedOp>>,
    /// The record must be rejected with a reason containing this text.
    #[serde(default)]
    pub reject: Option<String>,
}

/// A Redis value: `missing`, or a one-key map naming the type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
pub enum CaseValue {
    /// The key does not exist.
    Missing,
    /// Field -> value; numbers and booleans are taken as their text.
    Hash(Mapping),
    /// JSON text, or a YAML object/array written as JSON.
    Json(Value),
    /// Members.
    Set(Vec<Value>),
    /// Member -> score.
    SortedSet(Mapping),
}

/// serde_yaml reads enums from `!tags`; cases are written as one-key maps
/// (`{hash: {...}}`), which read more naturally, so they are taken apart
/// here.
impl TryFrom<Value> for CaseValue {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        const EXPECTED: &str = "expected `missing` or one of {hash: ...}, {json: ...}, {set: [...]}, {sorted_set: ...}";
        if value.as_str() == Some("missing") {
            return Ok(CaseValue::Missing);
        }
        let Value::Mapping(map) = value else {
            return Err(EXPECTED.into());
        };
        let mut entries = map.into_iter();
        let (Some((Value::String(kind), inner)), None) = (entries.next(), entries.next()) else {
            return Err(EXPECTED.into());
        };
        let wrong = |what: &str| format!("{kind}: expected {what}");
        match kind.as_str() {
            "hash" => match inner {
                Value::Mapping(fields) => Ok(CaseValue::Hash(fields)),
                _ => Err(wrong("a map of field: value")),
            },
            "json" => Ok(CaseValue::Json(inner)),
            "set" => match inner {
                Value::Sequence(members) => Ok(CaseValue::Set(members)),
                _ => Err(wrong("a list of members")),
            },
            "sorted_set" | "zset" => match inner {
                Value::Mapping(scores) => Ok(CaseValue::SortedSet(scores)),
                _ => Err(wrong("a map of member: score")),
            },
            other => {
                let hint =
                    crate::config::closest_name(other, ["hash", "json", "set", "sorted_set"])
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                Err(format!("unknown value type `{other}`{hint}; {EXPECTED}"))
            }
        }
    }
}

/// An expected row operation: exactly one of `upsert`, `delete`,
/// `delete_matching`, `insert` naming the table, and its cells.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOp {
    #[serde(default)]
    pub upsert: Option<String>,
    #[serde(default)]
    pub delete: Option<String>,
    #[serde(default, alias = "delete-matching")]
    pub delete_matching: Option<String>,
    #[serde(default)]
    pub insert: Option<String>,
    /// Checked only when given.
    #[serde(default)]
    pub connection: Option<String>,
    /// Key columns (upsert, delete) or the columns to match
    /// (delete_matching).
    #[serde(default)]
    pub key: Mapping,
    /// The other columns (upsert, insert).
    #[serde(default)]
    pub values: Mapping,
}

impl CasesFile {
    /// Reads and parses a cases file; errors name the file, line and field.
    pub fn load(path: &Path) -> Result<CasesFile, ConfigError> {
        let text = ConfigError::read(path)?;
        let mut file: CasesFile = ConfigError::parse_yaml(path, &text)?;
        for (i, case) in file.cases.iter().enumerate() {
            let problem = match (&case.expect, &case.reject) {
                (None, None) => Some("a case needs `expect` (row ops) or `reject` (a reason)"),
                (Some(_), Some(_)) => Some("a case has `expect` or `reject`, not both"),
                _ => None,
            };
            let kinds = |op: &ExpectedOp| {
                [&op.upsert, &op.delete, &op.delete_matching, &op.insert]
                    .iter()
                    .filter(|k| k.is_some())
                    .count()
            };
            let problem = problem.or_else(|| {
                case.expect
                    .iter()
                    .flatten()
                    .any(|op| kinds(op) != 1)
                    .then_some(
                        "each expected op names its table under exactly one of upsert, delete, delete_matching, insert",
                    )
            });
            if let Some(message) = problem {
                return Err(ConfigError {
                    file: path.to_path_buf(),
                    line: case_line(&text, i),
                    field: Some(format!("cases[{i}]")),
                    message: message.into(),
                });
            }
        }
        file.path = path.to_path_buf();
        file.text = text;
        Ok(file)
    }
}

/// The line where case `index` starts: the n-th list item whose first
/// entry is one of a case's fields (expected ops start with their kind).
pub(crate) fn case_line(text: &str, index: usize) -> usize {
    let mut starts = text.lines().enumerate().filter(|(_, line)| {
        let line = line.trim_start();
        line.starts_with("- ") && {
            let rest = line[2..].trim_start();
            ["key:", "name:", "event:", "value:", "expect:", "reject:"]
                .iter()
                .any(|k| rest.starts_with(k))
        }
    });
    starts.nth(index).map_or(0, |(i, _)| i + 1)
}
