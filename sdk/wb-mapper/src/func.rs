//! The functions expressions may call: RDI's (with RDI's names and
//! meanings) and JMESPath's built-ins. Argument counts, `&expression`
//! arguments and literal arguments (hash algorithms, regular expressions,
//! `filter_entries` predicates) are checked when the expression is parsed;
//! argument types when it runs, and a wrong type rejects the record with
//! the function named.

use crate::expr::Expr;
use crate::pattern::Pattern;
use crate::value::Val;
use crate::{builtin, rdi, strings};

/// A function of the expression language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    // RDI's string functions.
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
    /// `mid(s, start, count)`: `count` characters from `start` (0-based).
    Mid,
    /// `in(value, [a, b, ...])`: whether value equals one of the others.
    In,
    /// `split(s, separator)`: an array of the parts.
    Split,
    /// `base64_decode(s)`: text if the bytes are UTF-8, bytes otherwise.
    Base64Decode,
    /// `json_parse(s)`: the text as a JSON value (for json columns).
    JsonParse,
    // RDI's other functions.
    /// `filter_entries(object, 'predicate')`: the entries for which the
    /// predicate, evaluated on `{key, value}`, is true.
    FilterEntries,
    /// `from_entries(array)`: an object from `{key, value}` objects.
    FromEntries,
    /// `to_entries(object)`: an array of `{key, value}` objects.
    ToEntries,
    /// `hash(value[, 'sha256'|'sha1'|'md5'])`: lowercase hex digest.
    Hash,
    /// `regex_replace(s, pattern, replacement)`: every match replaced.
    RegexReplace,
    /// `time_delta_days(t)`: whole days from `t` to now.
    TimeDeltaDays,
    /// `time_delta_seconds(t)`: whole seconds from `t` to now.
    TimeDeltaSeconds,
    /// `uuid()`: a random version 4 UUID.
    Uuid,
    // JMESPath's built-ins.
    Length,
    Keys,
    Values,
    Join,
    Contains,
    StartsWith,
    EndsWith,
    ToString,
    ToNumber,
    ToArray,
    Abs,
    Ceil,
    Floor,
    Max,
    Min,
    Sum,
    Avg,
    Sort,
    Reverse,
    NotNull,
    Type,
    Merge,
    SortBy,
    MaxBy,
    MinBy,
    Map,
}

/// Each function's name and its least and greatest argument counts
/// (`None`: any number).
const TABLE: &[(Func, &str, usize, Option<usize>)] = &[
    (Func::Lower, "lower", 1, Some(1)),
    (Func::Upper, "upper", 1, Some(1)),
    (Func::Capitalize, "capitalize", 1, Some(1)),
    (Func::Concat, "concat", 1, None),
    (Func::Left, "left", 2, Some(2)),
    (Func::Right, "right", 2, Some(2)),
    (Func::Replace, "replace", 3, Some(3)),
    (Func::Mid, "mid", 3, Some(3)),
    (Func::In, "in", 2, None),
    (Func::Split, "split", 2, Some(2)),
    (Func::Base64Decode, "base64_decode", 1, Some(1)),
    (Func::JsonParse, "json_parse", 1, Some(1)),
    (Func::FilterEntries, "filter_entries", 2, Some(2)),
    (Func::FromEntries, "from_entries", 1, Some(1)),
    (Func::ToEntries, "to_entries", 1, Some(1)),
    (Func::Hash, "hash", 1, Some(2)),
    (Func::RegexReplace, "regex_replace", 3, Some(3)),
    (Func::TimeDeltaDays, "time_delta_days", 1, Some(1)),
    (Func::TimeDeltaSeconds, "time_delta_seconds", 1, Some(1)),
    (Func::Uuid, "uuid", 0, Some(0)),
    (Func::Length, "length", 1, Some(1)),
    (Func::Keys, "keys", 1, Some(1)),
    (Func::Values, "values", 1, Some(1)),
    (Func::Join, "join", 2, Some(2)),
    (Func::Contains, "contains", 2, Some(2)),
    (Func::StartsWith, "starts_with", 2, Some(2)),
    (Func::EndsWith, "ends_with", 2, Some(2)),
    (Func::ToString, "to_string", 1, Some(1)),
    (Func::ToNumber, "to_number", 1, Some(1)),
    (Func::ToArray, "to_array", 1, Some(1)),
    (Func::Abs, "abs", 1, Some(1)),
    (Func::Ceil, "ceil", 1, Some(1)),
    (Func::Floor, "floor", 1, Some(1)),
    (Func::Max, "max", 1, Some(1)),
    (Func::Min, "min", 1, Some(1)),
    (Func::Sum, "sum", 1, Some(1)),
    (Func::Avg, "avg", 1, Some(1)),
    (Func::Sort, "sort", 1, Some(1)),
    (Func::Reverse, "reverse", 1, Some(1)),
    (Func::NotNull, "not_null", 1, None),
    (Func::Type, "type", 1, Some(1)),
    (Func::Merge, "merge", 1, None),
    (Func::SortBy, "sort_by", 2, Some(2)),
    (Func::MaxBy, "max_by", 2, Some(2)),
    (Func::MinBy, "min_by", 2, Some(2)),
    (Func::Map, "map", 2, Some(2)),
];

impl Func {
    /// The function called `name`, if there is one.
    pub fn by_name(name: &str) -> Option<Func> {
        TABLE.iter().find(|row| row.1 == name).map(|row| row.0)
    }

    fn row(self) -> &'static (Func, &'static str, usize, Option<usize>) {
        // Every variant has a row (see the `every_function_has_a_row` test).
        TABLE
            .iter()
            .find(|row| row.0 == self)
            .unwrap_or(&(Func::Lower, "?", 0, None))
    }

    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// Names of all functions, for error messages.
    pub fn names() -> String {
        TABLE.iter().map(|row| row.1).collect::<Vec<_>>().join(", ")
    }

    /// Which argument must be an `&expression`, if any.
    fn expref_at(self) -> Option<usize> {
        match self {
            Func::FilterEntries | Func::SortBy | Func::MaxBy | Func::MinBy => Some(1),
            Func::Map => Some(0),
            _ => None,
        }
    }

    /// Checks the arguments when the expression is parsed: their number,
    /// where `&expression`s go, and literal arguments that can only be
    /// wrong (a hash algorithm).
    pub fn check_args(self, args: &[Expr]) -> Result<(), String> {
        let (_, name, least, most) = *self.row();
        let count = args.len();
        if count < least || most.is_some_and(|most| count > most) {
            let wanted = match most {
                Some(most) if most == least => format!("{least}"),
                Some(most) => format!("{least} to {most}"),
                None => format!("at least {least}"),
            };
            return Err(format!(
                "{name} does not take {count} arguments (it takes {wanted})"
            ));
        }
        for (i, arg) in args.iter().enumerate() {
            let is_ref = matches!(arg, Expr::Expref(_));
            let wants_ref = self.expref_at() == Some(i);
            // filter_entries takes its predicate as a string, as in RDI.
            let literal_predicate = self == Func::FilterEntries && matches!(arg, Expr::Literal(_));
            if is_ref && !wants_ref {
                return Err(format!("{name} takes no &expression as argument {}", i + 1));
            }
            if wants_ref && !is_ref && !literal_predicate {
                return Err(format!("{name} needs an &expression as argument {}", i + 1));
            }
        }
        if self == Func::Hash {
            if let Some(Expr::Literal(algorithm)) = args.get(1) {
                rdi::Digest::by_name(algorithm)?;
            }
        }
        Ok(())
    }

    /// Compiles literal arguments once: a `filter_entries` predicate given
    /// as a string, a `regex_replace` pattern given as a literal.
    pub fn prepare(self, mut args: Vec<Expr>) -> Result<Vec<Expr>, String> {
        match (self, args.get(1)) {
            (Func::FilterEntries, Some(Expr::Literal(text))) => {
                let predicate =
                    Expr::parse(text).map_err(|e| format!("filter_entries predicate: {e}"))?;
                args[1] = Expr::Expref(Box::new(predicate));
            }
            (Func::RegexReplace, Some(Expr::Literal(text))) => {
                args[1] = Expr::Pattern(Pattern::new(text)?);
            }
            _ => {}
        }
        Ok(args)
    }

    /// Applies the function to evaluated arguments; `pattern` is the
    /// compiled literal pattern of `regex_replace`, if it had one.
    pub fn apply<'a>(
        self,
        args: Vec<Val<'a>>,
        pattern: Option<&Pattern>,
    ) -> Result<Val<'a>, String> {
        let name = self.name();
        if strings::handles(self) {
            return strings::apply(self, args);
        }
        if !rdi::handles(self) {
            return builtin::apply(self, args);
        }
        let mut args = args.into_iter();
        let mut next = move || args.next().unwrap_or(Val::Null);
        match self {
            Func::FromEntries => rdi::from_entries(next()),
            Func::ToEntries => rdi::to_entries(next()),
            Func::Hash => rdi::hash(next(), next()),
            Func::RegexReplace => rdi::regex_replace(next(), next(), next(), pattern),
            Func::TimeDeltaDays => rdi::time_delta(next(), 86_400, name),
            Func::TimeDeltaSeconds => rdi::time_delta(next(), 1, name),
            Func::Uuid => rdi::uuid(),
            _ => Err(format!("{name} needs an &expression")),
        }
    }

    /// Applies a function that takes an `&expression`: `by` evaluates it
    /// against a value.
    pub fn apply_by<'a>(
        self,
        args: Vec<Val<'a>>,
        by: &mut dyn FnMut(&Val<'a>) -> Result<Val<'a>, String>,
    ) -> Result<Val<'a>, String> {
        let subject = args.into_iter().next().unwrap_or(Val::Null);
        match self {
            Func::FilterEntries => rdi::filter_entries(subject, by),
            _ => builtin::apply_by(self, subject, by),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_a_row() {
        for row in TABLE {
            assert_eq!(Func::by_name(row.1), Some(row.0));
            assert_eq!(row.0.name(), row.1);
        }
        assert_eq!(Func::by_name("nope"), None);
    }

    #[test]
    fn arguments_are_checked_when_parsed() {
        let err = Expr::parse("lower(a, b)").unwrap_err();
        assert!(
            err.contains("lower does not take 2 arguments (it takes 1)"),
            "{err}"
        );
        let err = Expr::parse("hash(a, 'sha3')").unwrap_err();
        assert!(err.contains("unknown hash algorithm \"sha3\""), "{err}");
        let err = Expr::parse("sort_by(a, b)").unwrap_err();
        assert!(
            err.contains("sort_by needs an &expression as argument 2"),
            "{err}"
        );
        let err = Expr::parse("length(&a)").unwrap_err();
        assert!(err.contains("length takes no &expression"), "{err}");
        let err = Expr::parse("regex_replace(a, '(', 'x')").unwrap_err();
        assert!(err.contains("bad regular expression \"(\""), "{err}");
        let err = Expr::parse("filter_entries(@, 'key ==')").unwrap_err();
        assert!(err.contains("filter_entries predicate"), "{err}");
        let err = Expr::parse("uuid(a)").unwrap_err();
        assert!(
            err.contains("uuid does not take 1 arguments (it takes 0)"),
            "{err}"
        );
        let err = Expr::parse("concat()").unwrap_err();
        assert!(err.contains("(it takes at least 1)"), "{err}");
    }
}
