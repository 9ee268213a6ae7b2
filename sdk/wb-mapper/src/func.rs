//! The functions expressions may call, with RDI's names and meanings.

use std::borrow::Cow;

use wb_abi::Cell;

/// A function of the expression language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `lower(s)`
    Lower,
    /// `upper(s)`
    Upper,
    /// `capitalize(s)`: first character upper-cased.
    Capitalize,
    /// `concat([a, b, ...])` or `concat(a, b, ...)`: nulls are skipped.
    Concat,
    /// `left(s, n)`: the first n characters.
    Left,
    /// `right(s, n)`: the last n characters.
    Right,
    /// `replace(s, old, new)`
    Replace,
}

const ALL: [Func; 7] = [
    Func::Lower,
    Func::Upper,
    Func::Capitalize,
    Func::Concat,
    Func::Left,
    Func::Right,
    Func::Replace,
];

impl Func {
    /// The function called `name`, if there is one.
    pub fn by_name(name: &str) -> Option<Func> {
        ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Capitalize => "capitalize",
            Func::Concat => "concat",
            Func::Left => "left",
            Func::Right => "right",
            Func::Replace => "replace",
        }
    }

    /// Names of all functions, for error messages.
    pub fn names() -> String {
        ALL.map(Func::name).join(", ")
    }

    /// Checks the number of arguments when the expression is parsed.
    pub fn check_arity(self, count: usize) -> Result<(), String> {
        let ok = match self {
            Func::Lower | Func::Upper | Func::Capitalize => count == 1,
            Func::Concat => count >= 1,
            Func::Left | Func::Right => count == 2,
            Func::Replace => count == 3,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{} does not take {count} arguments", self.name()))
        }
    }

    /// Applies the function. A null first argument gives null (except for
    /// concat, which skips nulls).
    pub fn apply<'a>(self, args: Vec<Cell<'a>>) -> Result<Cell<'a>, String> {
        let subject = args.first().and_then(text);
        let out = match (self, subject) {
            (Func::Concat, _) => args.iter().filter_map(text).collect(),
            (_, None) => return Ok(Cell::Null),
            (Func::Lower, Some(s)) => s.to_lowercase(),
            (Func::Upper, Some(s)) => s.to_uppercase(),
            (Func::Capitalize, Some(s)) => {
                let mut chars = s.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                }
            }
            (Func::Left, Some(s)) => s.chars().take(count(args.get(1), self)?).collect(),
            (Func::Right, Some(s)) => {
                let n = count(args.get(1), self)?;
                let len = s.chars().count();
                s.chars().skip(len.saturating_sub(n)).collect()
            }
            (Func::Replace, Some(s)) => {
                let from = args.get(1).and_then(text).unwrap_or_default();
                let to = args.get(2).and_then(text).unwrap_or_default();
                if from.is_empty() {
                    s.into_owned()
                } else {
                    s.replace(from.as_ref(), &to)
                }
            }
        };
        Ok(Cell::Text(Cow::Owned(out)))
    }
}

/// A cell as text, as a string function sees it; `None` for null.
fn text<'c>(cell: &'c Cell<'_>) -> Option<Cow<'c, str>> {
    Some(match cell {
        Cell::Null => return None,
        Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Cell::Integer(i) => Cow::Owned(i.to_string()),
        Cell::Float(f) => Cow::Owned(f.to_string()),
        Cell::Text(t) | Cell::Json(t) => Cow::Borrowed(t.as_ref()),
        Cell::Bytes(b) => String::from_utf8_lossy(b),
    })
}

fn count(arg: Option<&Cell<'_>>, func: Func) -> Result<usize, String> {
    match arg {
        Some(Cell::Integer(n)) if *n >= 0 => Ok(*n as usize),
        Some(other) => text(other)
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| format!("{} needs a count, got {other:?}", func.name())),
        None => Err(format!("{} needs a count", func.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell<'_> {
        Cell::from(s)
    }

    #[test]
    fn string_functions() {
        assert_eq!(Func::Lower.apply(vec![t("AdA")]), Ok(t("ada")));
        assert_eq!(Func::Upper.apply(vec![t("straße")]), Ok(t("STRASSE")));
        assert_eq!(Func::Capitalize.apply(vec![t("élan")]), Ok(t("Élan")));
        assert_eq!(
            Func::Left.apply(vec![t("héllo"), Cell::Integer(2)]),
            Ok(t("hé"))
        );
        assert_eq!(
            Func::Right.apply(vec![t("héllo"), Cell::Integer(9)]),
            Ok(t("héllo"))
        );
        assert_eq!(
            Func::Replace.apply(vec![t("a-b-c"), t("-"), t("+")]),
            Ok(t("a+b+c"))
        );
        assert_eq!(
            Func::Concat.apply(vec![t("a"), Cell::Null, Cell::Integer(1)]),
            Ok(t("a1"))
        );
    }

    #[test]
    fn null_in_null_out_and_bad_counts() {
        assert_eq!(Func::Lower.apply(vec![Cell::Null]), Ok(Cell::Null));
        assert!(Func::Left.apply(vec![t("abc"), t("x")]).is_err());
        assert!(Func::Left.check_arity(1).is_err());
        assert_eq!(Func::by_name("upper"), Some(Func::Upper));
        assert_eq!(Func::by_name("uuid"), None);
    }
}
