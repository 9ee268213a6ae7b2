//! Comparisons and truth for filter expressions, following JMESPath:
//! `false`, `null`, empty text and `0`-length lists are false.

use std::cmp::Ordering;
use std::fmt;

use crate::value::Val;

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

    /// Numbers (and text that reads as a number) compare as numbers, arrays
    /// and objects by their contents (equality only), other values as text.
    /// `null` equals only `null` and orders with nothing.
    pub fn holds(self, left: &Val<'_>, right: &Val<'_>) -> Result<bool, String> {
        let (left, right) = (left.clone().resolved()?, right.clone().resolved()?);
        let compound = |v: &Val<'_>| matches!(v, Val::Array(_) | Val::Object(_));
        let ordering = if compound(&left) || compound(&right) {
            match self {
                CmpOp::Eq => return Ok(equal(&left, &right)),
                CmpOp::Ne => return Ok(!equal(&left, &right)),
                _ => None,
            }
        } else {
            scalar_order(&left, &right)
        };
        Ok(match (self, ordering) {
            (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
            (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
            (CmpOp::Ne, None) => true,
            (CmpOp::Lt, Some(o)) => o == Ordering::Less,
            (CmpOp::Le, Some(o)) => o != Ordering::Greater,
            (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
            (CmpOp::Ge, Some(o)) => o != Ordering::Less,
            (_, None) => false,
        })
    }
}

fn scalar_order(left: &Val<'_>, right: &Val<'_>) -> Option<Ordering> {
    match (left, right) {
        (Val::Null, Val::Null) => Some(Ordering::Equal),
        (Val::Null, _) | (_, Val::Null) => None,
        _ => match (number(left), number(right)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(text(left).cmp(&text(right))),
        },
    }
}

/// Deep equality; scalars as [`CmpOp::Eq`] compares them, object entries
/// in any order.
fn equal(left: &Val<'_>, right: &Val<'_>) -> bool {
    let resolved = |v: &Val<'_>| v.clone().resolved().map(Val::into_owned);
    let (Ok(left), Ok(right)) = (resolved(left), resolved(right)) else {
        return false;
    };
    match (&left, &right) {
        (Val::Array(a), Val::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y))
        }
        (Val::Object(a), Val::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && equal(v, v2)))
        }
        (Val::Array(_) | Val::Object(_), _) | (_, Val::Array(_) | Val::Object(_)) => false,
        _ => scalar_order(&left, &right) == Some(Ordering::Equal),
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Whether a value counts as true.
pub fn truthy(value: &Val<'_>) -> Result<bool, String> {
    Ok(match value {
        Val::Null => false,
        Val::Bool(b) => *b,
        Val::Str(t) => !t.is_empty(),
        Val::Bytes(b) => !b.is_empty(),
        Val::Int(_) | Val::Float(_) => true,
        Val::Array(items) => !items.is_empty(),
        Val::Object(entries) => !entries.is_empty(),
        Val::Json(_) => return truthy(&value.clone().resolved()?),
    })
}

/// A value as a number, if it is one or is text that reads as one.
pub fn number(value: &Val<'_>) -> Option<f64> {
    match value {
        Val::Int(i) => Some(*i as f64),
        Val::Float(f) => Some(*f),
        Val::Str(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: &Val<'_>) -> String {
    match value {
        Val::Null => String::new(),
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => f.to_string(),
        Val::Str(t) | Val::Json(t) => t.to_string(),
        Val::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Val::Array(_) | Val::Object(_) => value.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Val<'_> {
        Val::Str(s.into())
    }

    #[test]
    fn numbers_compare_as_numbers_and_text_as_text() {
        assert!(CmpOp::Gt.holds(&t("10"), &Val::Int(9)).unwrap());
        assert!(CmpOp::Lt.holds(&t("abc"), &t("abd")).unwrap());
        assert!(CmpOp::Eq.holds(&t("gold"), &t("gold")).unwrap());
        assert!(CmpOp::Ge.holds(&Val::Float(2.5), &t("2.5")).unwrap());
    }

    #[test]
    fn null_equals_only_null() {
        assert!(CmpOp::Eq.holds(&Val::Null, &Val::Null).unwrap());
        assert!(!CmpOp::Eq.holds(&Val::Null, &t("")).unwrap());
        assert!(CmpOp::Ne.holds(&Val::Null, &t("x")).unwrap());
        assert!(!CmpOp::Lt.holds(&Val::Null, &Val::Int(1)).unwrap());
    }

    #[test]
    fn truth() {
        assert!(!truthy(&Val::Null).unwrap());
        assert!(!truthy(&t("")).unwrap());
        assert!(truthy(&t("0")).unwrap());
        assert!(!truthy(&Val::Json("[]".into())).unwrap());
        assert!(truthy(&Val::Int(0)).unwrap());
        assert!(!truthy(&Val::Json(" { } ".into())).unwrap());
        assert!(truthy(&Val::Array(vec![Val::Null])).unwrap());
    }

    #[test]
    fn arrays_and_objects_compare_by_contents() {
        let a = Val::Json(r#"{"x": [1, "2"], "y": null}"#.into());
        let b = Val::Object(vec![
            ("y".into(), Val::Null),
            ("x".into(), Val::Array(vec![Val::Int(1), t("2")])),
        ]);
        assert!(CmpOp::Eq.holds(&a, &b).unwrap());
        assert!(CmpOp::Ne.holds(&a, &Val::Json("[]".into())).unwrap());
        assert!(!CmpOp::Lt.holds(&a, &b).unwrap());
    }
}
