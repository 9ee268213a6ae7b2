//! Comparisons and truth for filter expressions, following JMESPath:
//! `false`, `null`, empty text and `0`-length lists are false.

use std::cmp::Ordering;
use std::fmt;

use wb_abi::Cell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operators, longest first so `<=` is not read as `<`.
    pub const ALL: [(&'static str, CmpOp); 6] = [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ];

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Numbers (and text that reads as a number) compare as numbers, other
    /// values as text. `null` equals only `null` and orders with nothing.
    pub fn holds(self, left: &Cell<'_>, right: &Cell<'_>) -> bool {
        let ordering = match (left, right) {
            (Cell::Null, Cell::Null) => Some(Ordering::Equal),
            (Cell::Null, _) | (_, Cell::Null) => None,
            _ => match (number(left), number(right)) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => Some(text(left).cmp(&text(right))),
            },
        };
        match (self, ordering) {
            (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
            (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
            (CmpOp::Ne, None) => true,
            (CmpOp::Lt, Some(o)) => o == Ordering::Less,
            (CmpOp::Le, Some(o)) => o != Ordering::Greater,
            (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
            (CmpOp::Ge, Some(o)) => o != Ordering::Less,
            (_, None) => false,
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Whether a value counts as true.
pub fn truthy(cell: &Cell<'_>) -> bool {
    match cell {
        Cell::Null => false,
        Cell::Bool(b) => *b,
        Cell::Text(t) => !t.is_empty(),
        Cell::Json(j) => !matches!(j.trim(), "" | "[]" | "{}" | "false" | "null"),
        Cell::Bytes(b) => !b.is_empty(),
        Cell::Integer(_) | Cell::Float(_) => true,
    }
}

fn number(cell: &Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Integer(i) => Some(*i as f64),
        Cell::Float(f) => Some(*f),
        Cell::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn text(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(b) => b.to_string(),
        Cell::Integer(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Text(t) | Cell::Json(t) => t.to_string(),
        Cell::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_as_numbers_and_text_as_text() {
        assert!(CmpOp::Gt.holds(&Cell::from("10"), &Cell::Integer(9)));
        assert!(CmpOp::Lt.holds(&Cell::from("abc"), &Cell::from("abd")));
        assert!(CmpOp::Eq.holds(&Cell::from("gold"), &Cell::from("gold")));
        assert!(CmpOp::Ge.holds(&Cell::Float(2.5), &Cell::from("2.5")));
    }

    #[test]
    fn null_equals_only_null() {
        assert!(CmpOp::Eq.holds(&Cell::Null, &Cell::Null));
        assert!(!CmpOp::Eq.holds(&Cell::Null, &Cell::from("")));
        assert!(CmpOp::Ne.holds(&Cell::Null, &Cell::from("x")));
        assert!(!CmpOp::Lt.holds(&Cell::Null, &Cell::Integer(1)));
    }

    #[test]
    fn truth() {
        assert!(!truthy(&Cell::Null));
        assert!(!truthy(&Cell::from("")));
        assert!(truthy(&Cell::from("0")));
        assert!(!truthy(&Cell::Json("[]".into())));
        assert!(truthy(&Cell::Integer(0)));
    }
}
