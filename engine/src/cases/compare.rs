//! Comparing what a job did with what a case expects, and showing the
//! difference line by line.

use crate::transform::{Cell, Column, OpKind, RowOp};

/// One line per op: kind, table, connection (only when `with_connection`),
/// then key and value columns sorted by name, cells typed (`"1"` is text,
/// `1` an integer). Two ops are equal for a case when their lines are.
pub fn render(op: &RowOp<'_>, with_connection: bool) -> String {
    let kind = match op.kind {
        OpKind::Upsert => "upsert",
        OpKind::Delete => "delete",
        OpKind::DeleteMatching => "delete_matching",
        OpKind::Insert => "insert",
    };
    let mut line = format!("{kind} {}", op.target.table);
    if with_connection {
        line.push_str(&format!(" on {}", op.target.connection));
    }
    if !op.key.is_empty() {
        line.push_str(&format!(" key {}", columns(&op.key)));
    }
    if !op.values.is_empty() {
        line.push_str(&format!(" values {}", columns(&op.values)));
    }
    line
}

fn columns(columns: &[Column<'_>]) -> String {
    let mut shown: Vec<String> = columns
        .iter()
        .map(|c| format!("{}: {}", c.name, cell(&c.value)))
        .collect();
    shown.sort();
    format!("{{{}}}", shown.join(", "))
}

fn cell(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => "null".into(),
        Cell::Bool(b) => b.to_string(),
        Cell::Integer(i) => i.to_string(),
        Cell::Float(f) => format!("{f:?}"),
        Cell::Text(t) => format!("{t:?}"),
        Cell::Bytes(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("{{bytes: {hex}}}")
        }
        // Compared as parsed JSON, so spacing does not matter.
        Cell::Json(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => format!("{{json: {value}}}"),
            Err(_) => format!("{{json (invalid): {text:?}}}"),
        },
    }
}

/// The lines of `expected` and `actual` merged into a diff: common lines
/// prefixed with two spaces, missing ones with `- `, unexpected ones with
/// `+ ` (a longest common subsequence, fine for the few ops of a case).
pub(crate) fn diff(expected: &[String], actual: &[String]) -> Vec<String> {
    let (n, m) = (expected.len(), actual.len());
    let mut common = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if expected[i] == actual[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push(format!("  {}", expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || common[i][j + 1] >= common[i + 1][j]) {
            out.push(format!("+ {}", actual[j]));
            j += 1;
        } else {
            out.push(format!("- {}", expected[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_typed_sorted_columns() {
        let op = RowOp::upsert("target", "users")
            .key("user_id", "1")
            .value("name", "Ann")
            .value("age", 42i64)
            .value("doc", Cell::Json("{ \"a\" : 1 }".into()))
            .value("gone", Cell::Null);
        assert_eq!(
            render(&op, false),
            "upsert users key {user_id: \"1\"} values {age: 42, doc: {json: {\"a\":1}}, gone: null, name: \"Ann\"}"
        );
        assert_eq!(
            render(&RowOp::delete("target", "users").key("user_id", 1i64), true),
            "delete users on target key {user_id: 1}"
        );
    }

    #[test]
    fn diff_marks_missing_and_unexpected_lines() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            diff(&lines(&["a", "b", "c"]), &lines(&["a", "x", "c", "d"])),
            lines(&["  a", "+ x", "- b", "  c", "+ d"])
        );
        assert_eq!(diff(&lines(&["a"]), &[]), lines(&["- a"]));
    }
}
