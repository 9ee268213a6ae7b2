//! Test cases for a job (`wb-engine test JOB.yaml --cases FILE`): Redis
//! values in, expected row operations out, run through the job's real
//! component in the engine's Wasm host.
//!
//! A cases file (YAML):
//!
//! ```yaml
//! cases:
//!   - name: a new user, email lower-cased   # optional; defaults to the key
//!     key: "user:1"
//!     event: hset                            # optional; see below
//!     value: {hash: {first_name: Ann, email: Ann@Example.COM}}
//!     expect:                                # the row ops, in order
//!       - upsert: users                      # upsert | delete | delete_matching | insert: TABLE
//!         connection: target                 # optional; checked when given
//!         key: {user_id: "1"}
//!         values: {first_name: Ann, email: ann@example.com}
//!   - key: "user:1"
//!     value: missing                         # the key is gone
//!     expect:
//!       - delete: users
//!         key: {user_id: "1"}
//!   - key: "user:x"
//!     value: {hash: {spend: lots}}
//!     reject: "not a number"                 # rejected, reason containing this
//! ```
//!
//! Values: `missing`, `{hash: {field: value}}`, `{json: TEXT-OR-OBJECT}`,
//! `{set: [member, ...]}`, `{sorted_set: {member: score}}` (or `zset`).
//! The event defaults to `hset`, `json.set`, `sadd`, `zadd`, or `del` for
//! `missing`. Cells are typed: `"1"` is text, `1` an integer, `1.5` a
//! float, `true`, `null`, `{json: ...}`, `{bytes: "00ff"}`. Columns compare
//! by name in any order; ops compare in order; `expect: []` means no ops
//! (a filtered record).

mod compare;
mod file;
mod value;

pub use compare::render as render_op;
pub use file::{Case, CaseValue, CasesFile, ExpectedOp};

use crate::config::ConfigError;
use crate::transform::{TransformError, WasmTransform};

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    /// The case's name, or its key.
    pub name: String,
    /// Where the case starts in the cases file (0 if unknown).
    pub line: usize,
    /// `None` when it passed; otherwise the difference, one line each.
    pub failure: Option<Vec<String>>,
}

/// Why the cases could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    #[error("{0}")]
    File(#[from] ConfigError),
    #[error("the job could not transform the batch of cases: {0}")]
    Transform(#[from] TransformError),
}

/// Runs every case of `cases` through `transform` as one batch and compares
/// each outcome with what the case expects.
pub fn run_cases(
    transform: &WasmTransform,
    cases: &CasesFile,
) -> Result<Vec<CaseReport>, CasesError> {
    let text = cases.text.as_str();
    let located = |i: usize, message: String| ConfigError {
        file: cases.path.clone(),
        line: file::case_line(text, i),
        field: Some(format!("cases[{i}]")),
        message,
    };
    let mut changes = Vec::with_capacity(cases.cases.len());
    let mut expected = Vec::with_capacity(cases.cases.len());
    for (i, case) in cases.cases.iter().enumerate() {
        changes.push(value::change(case, format!("0-{}", i + 1)).map_err(|e| located(i, e))?);
        expected.push(match &case.expect {
            Some(ops) => Some(value::expected_ops(ops).map_err(|e| located(i, e))?),
            None => None,
        });
    }
    let out = transform.run(&changes)?;
    let mut reports = Vec::with_capacity(cases.cases.len());
    for (i, (case, expected)) in cases.cases.iter().zip(expected).enumerate() {
        let actual = out
            .get(i)
            .unwrap_or_else(|| Err(TransformError::Malformed("no result for this case".into())));
        let failure = match (expected, &case.reject, actual) {
            (Some(expected), _, Ok(actual)) => {
                let lines = |ops: &[crate::transform::RowOp<'_>], with: &[bool]| -> Vec<String> {
                    ops.iter()
                        .zip(with.iter().chain(std::iter::repeat(&false)))
                        .map(|(op, &with)| compare::render(op, with))
                        .collect()
                };
                // A connection is compared only where the case names one.
                let named: Vec<bool> = expected
                    .iter()
                    .map(|op| !op.target.connection.is_empty())
                    .collect();
                let want = lines(&expected, &named);
                let got = lines(&actual, &named);
                (want != got).then(|| compare::diff(&want, &got))
            }
            (Some(expected), _, Err(reason)) => {
                let mut lines = vec![format!("+ rejected: {reason}")];
                lines.extend(
                    expected
                        .iter()
                        .map(|op| format!("- {}", compare::render(op, false))),
                );
                Some(lines)
            }
            (None, want, Err(reason)) => {
                let reason = reason.to_string();
                let want = want.as_deref().unwrap_or_default();
                (!reason.contains(want)).then(|| {
                    vec![
                        format!("- rejected with a reason containing {want:?}"),
                        format!("+ rejected: {reason}"),
                    ]
                })
            }
            (None, want, Ok(actual)) => {
                let mut lines = vec![format!(
                    "- rejected with a reason containing {:?}",
                    want.as_deref().unwrap_or_default()
                )];
                lines.extend(
                    actual
                        .iter()
                        .map(|op| format!("+ {}", compare::render(op, false))),
                );
                if actual.is_empty() {
                    lines.push("+ (no row ops)".into());
                }
                Some(lines)
            }
        };
        reports.push(CaseReport {
            name: case.name.clone().unwrap_or_else(|| case.key.clone()),
            line: file::case_line(text, i),
            failure,
        });
    }
    Ok(reports)
}
