//! Writing an expression back as text that parses to the same expression:
//! the spec a bundle's manifest shows.

use std::fmt::{self, Formatter, Write as _};

use crate::expr::{Expr, Project};
use crate::lex::{is_name_char, is_name_start};
use crate::value::write_json_string;

/// How tightly an expression binds, as the parser's binding powers: an
/// operand that binds looser than its place needs parentheses.
fn power(expr: &Expr) -> u8 {
    match expr {
        Expr::Pipe(..) => 1,
        Expr::Or(_) => 2,
        Expr::And(_) => 3,
        Expr::Compare(..) => 5,
        Expr::Not(_) => 6,
        Expr::Project {
            kind: Project::Flatten,
            ..
        } => 9,
        Expr::Project { .. } => 10,
        _ => 100,
    }
}

fn operand(f: &mut Formatter<'_>, expr: &Expr, wrap_below: u8) -> fmt::Result {
    if power(expr) < wrap_below {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

/// Whether `path` reads back as one field reference without quotes:
/// names separated by dots, with `[n]` indexes.
fn is_plain_path(path: &str) -> bool {
    path.split('.').all(|segment| {
        let name_end = segment.find('[').unwrap_or(segment.len());
        let (name, mut rest) = segment.split_at(name_end);
        let name_ok =
            name.chars().next().is_some_and(is_name_start) && name.chars().all(is_name_char);
        while let Some(inner) = rest.strip_prefix('[') {
            match inner.find(']') {
                Some(close) if close > 0 && inner[..close].chars().all(|c| c.is_ascii_digit()) => {
                    rest = &inner[close + 1..]
                }
                _ => return false,
            }
        }
        name_ok && rest.is_empty()
    })
}

fn write_name(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    if is_plain_path(name) && !name.contains(['.', '[']) {
        f.write_str(name)
    } else {
        let mut quoted = String::new();
        write_json_string(name, &mut quoted);
        f.write_str(&quoted)
    }
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// `expr` written as what follows a projection, relative to each element.
fn write_suffix(f: &mut Formatter<'_>, expr: &Expr) -> fmt::Result {
    match expr {
        Expr::Current => Ok(()),
        Expr::Field(_) | Expr::Call(..) | Expr::List(_) | Expr::Hash(_) => {
            f.write_char('.')?;
            write_dot_rhs(f, expr)
        }
        Expr::Index(inner, n) => {
            write_suffix(f, inner)?;
            write!(f, "[{n}]")
        }
        Expr::Sub(left, right) => {
            write_suffix(f, left)?;
            f.write_char('.')?;
            write_dot_rhs(f, right)
        }
        Expr::Project { kind, lhs, rhs } => {
            write_suffix(f, lhs)?;
            write_projection(f, kind, rhs)
        }
        // The parser puts nothing else after a projection; should one be
        // built by hand, a pipe keeps the text readable.
        other => write!(f, " | ({other})"),
    }
}

/// What may follow a `.`.
fn write_dot_rhs(f: &mut Formatter<'_>, expr: &Expr) -> fmt::Result {
    match expr {
        Expr::Field(path) if is_plain_path(path) => f.write_str(path),
        Expr::Field(path) => write_name(f, path),
        Expr::Call(..) | Expr::List(_) | Expr::Hash(_) => write!(f, "{expr}"),
        other => write!(f, "({other})"),
    }
}

fn write_projection(f: &mut Formatter<'_>, kind: &Project, rhs: &Expr) -> fmt::Result {
    match kind {
        Project::List => f.write_str("[*]")?,
        Project::Values => f.write_str(".*")?,
        Project::Flatten => f.write_str("[]")?,
        Project::Slice(start, stop, step) => {
            let part = |p: &Option<i64>| p.map_or(String::new(), |n| n.to_string());
            write!(f, "[{}:{}", part(start), part(stop))?;
            if let Some(step) = step {
                write!(f, ":{step}")?;
            }
            f.write_char(']')?;
        }
        Project::Filter(condition) => write!(f, "[?{condition}]")?,
    }
    write_suffix(f, rhs)
}

impl fmt::Display for Expr {
    /// Writes the expression back in the form [`Expr::parse`] reads.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::KeyPart(n) => write!(f, "key_part({n})"),
            Expr::Field(path) if is_plain_path(path) => f.write_str(path),
            Expr::Field(path) => write_name(f, path),
            Expr::Current => f.write_char('@'),
            // A spec holds one expression per line: text with control
            // characters is written as an escaped JSON string literal.
            Expr::Literal(text) if text.chars().any(char::is_control) => {
                let mut quoted = String::new();
                write_json_string(text, &mut quoted);
                write!(f, "`{}`", quoted.replace('`', "\\`"))
            }
            Expr::Literal(text) => {
                write!(f, "'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
            }
            Expr::Number(n) => write!(f, "{n}"),
            Expr::Json(raw) => write!(f, "`{}`", raw.replace('`', "\\`")),
            Expr::Pattern(pattern) => write!(f, "{}", Expr::Literal(pattern.text().into())),
            Expr::List(items) => {
                f.write_char('[')?;
                write_list(f, items)?;
                f.write_char(']')
            }
            Expr::Hash(entries) => {
                f.write_char('{')?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_name(f, key)?;
                    write!(f, ": {value}")?;
                }
                f.write_char('}')
            }
            Expr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                write_list(f, args)?;
                f.write_char(')')
            }
            Expr::Expref(inner) => write!(f, "&{inner}"),
            Expr::Sub(left, right) => {
                operand(f, left, 100)?;
                f.write_char('.')?;
                write_dot_rhs(f, right)
            }
            Expr::Index(inner, n) => {
                operand(f, inner, 100)?;
                write!(f, "[{n}]")
            }
            Expr::Project { kind, lhs, rhs } => {
                let below = if *kind == Project::Flatten { 9 } else { 100 };
                if **lhs != Expr::Current {
                    operand(f, lhs, below)?;
                } else if matches!(kind, Project::Values) {
                    // `*.x` at the top, not `.*.x`.
                    f.write_char('*')?;
                    return write_suffix(f, rhs);
                }
                write_projection(f, kind, rhs)
            }
            Expr::Pipe(left, right) => {
                operand(f, left, 1)?;
                f.write_str(" | ")?;
                operand(f, right, 2)
            }
            Expr::Compare(left, op, right) => {
                operand(f, left, 6)?;
                write!(f, " {op} ")?;
                operand(f, right, 6)
            }
            Expr::And(items) | Expr::Or(items) => {
                let (joint, below) = match self {
                    Expr::And(_) => (" && ", 4),
                    _ => (" || ", 3),
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(joint)?;
                    }
                    operand(f, item, below)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_char('!')?;
                operand(f, inner, 6)
            }
        }
    }
}
