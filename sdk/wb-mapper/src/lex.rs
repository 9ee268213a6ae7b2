//! Splitting an expression into tokens, each with its byte position for
//! error messages.

use crate::logic::CmpOp;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `name`, `$`: a field or function name.
    Ident(String),
    /// `"first-name"`: a field name that is not a plain identifier.
    Quoted(String),
    /// `'text'`
    Raw(String),
    /// `` `json` ``, the text between the backticks.
    Json(String),
    /// `12`, `-3`
    Num(i64),
    Dot,
    Star,
    At,
    Amp,
    Comma,
    Colon,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    /// `[]`
    Flatten,
    /// `[?`
    FilterOpen,
    Pipe,
    Or,
    And,
    Not,
    Cmp(CmpOp),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("name {name:?}"),
            Tok::Quoted(name) => format!("\"{name}\""),
            Tok::Raw(text) => format!("'{text}'"),
            Tok::Json(text) => format!("`{text}`"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Eof => "end of expression".into(),
            other => format!("'{}'", symbol(other)),
        }
    }
}

fn symbol(tok: &Tok) -> &'static str {
    match tok {
        Tok::Dot => ".",
        Tok::Star => "*",
        Tok::At => "@",
        Tok::Amp => "&",
        Tok::Comma => ",",
        Tok::Colon => ":",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::Flatten => "[]",
        Tok::FilterOpen => "[?",
        Tok::Pipe => "|",
        Tok::Or => "||",
        Tok::And => "&&",
        Tok::Not => "!",
        _ => "?",
    }
}

/// Characters that may start a name.
pub fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

/// Characters that may continue a name.
pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The tokens of `text` with their byte offsets, ending with `Eof`.
pub fn tokens(text: &str) -> Result<Vec<(Tok, usize)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    let message =
        |what: &str, at: usize| format!("{what} at position {} of expression {text:?}", at + 1);
    let fail = |what: &str, at: usize| Err(message(what, at));
    while pos < text.len() {
        let rest = &text[pos..];
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            pos += c.len_utf8();
            continue;
        }
        let start = pos;
        let two = rest.get(..2).unwrap_or("");
        let (tok, len) = match c {
            _ if is_name_start(c) => {
                let len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
                (Tok::Ident(rest[..len].to_string()), len)
            }
            '0'..='9' | '-' => {
                let digits = rest[1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(rest.len(), |n| n + 1);
                match rest[..digits].parse() {
                    Ok(n) => (Tok::Num(n), digits),
                    Err(_) => return fail("invalid number", start),
                }
            }
            '\'' => {
                let (value, len) =
                    quoted(rest, '\'').ok_or_else(|| message("unterminated 'literal'", start))?;
                (Tok::Raw(value), len)
            }
            '"' => {
                let (value, len) = quoted(rest, '"')
                    .ok_or_else(|| message("unterminated \"field name\"", start))?;
                if value.is_empty() {
                    return fail("empty \"field name\"", start);
                }
                (Tok::Quoted(value), len)
            }
            '`' => {
                let (value, len) =
                    quoted(rest, '`').ok_or_else(|| message("unterminated `literal`", start))?;
                (Tok::Json(value.trim().to_string()), len)
            }
            '[' if rest[1..].trim_start().starts_with(']') => {
                (Tok::Flatten, rest.find(']').map_or(2, |n| n + 1))
            }
            '[' if rest[1..].starts_with('?') => (Tok::FilterOpen, 2),
            _ if two == "||" => (Tok::Or, 2),
            _ if two == "&&" => (Tok::And, 2),
            _ => match CmpOp::ALL.iter().find(|(s, _)| rest.starts_with(s)) {
                Some((s, op)) => (Tok::Cmp(*op), s.len()),
                None => {
                    let tok = match c {
                        '.' => Tok::Dot,
                        '*' => Tok::Star,
                        '@' => Tok::At,
                        '&' => Tok::Amp,
                        ',' => Tok::Comma,
                        ':' => Tok::Colon,
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        '{' => Tok::LBrace,
                        '}' => Tok::RBrace,
                        '|' => Tok::Pipe,
                        '!' => Tok::Not,
                        _ => return fail(&format!("unexpected {c:?}"), start),
                    };
                    (tok, c.len_utf8())
                }
            },
        };
        out.push((tok, start));
        pos += len;
    }
    out.push((Tok::Eof, text.len()));
    Ok(out)
}

/// The body of a literal opened by `quote` at the start of `rest`, with
/// `\quote` and `\\` unescaped (for `"names"`, JSON escapes), and the
/// literal's length.
fn quoted(rest: &str, quote: char) -> Option<(String, usize)> {
    let mut raw_end = None;
    let mut escaped = false;
    for (i, c) in rest.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            c if c == quote => {
                raw_end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = raw_end?;
    let body = &rest[1..end];
    let value = match quote {
        '"' => wb_abi::json_unquote(&rest[..=end]).ok()?.into_owned(),
        '`' => body.replace("\\`", "`"),
        _ => {
            let mut out = String::with_capacity(body.len());
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                match c {
                    // 'it\'s' and '\\'; any other escape keeps its backslash
                    // as JMESPath raw strings do.
                    '\\' => match chars.next() {
                        Some(e) if e == '\'' || e == '\\' => out.push(e),
                        Some(e) => {
                            out.push('\\');
                            out.push(e);
                        }
                        None => out.push('\\'),
                    },
                    c => out.push(c),
                }
            }
            out
        }
    };
    Some((value, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokens(text).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn splits_jmespath_syntax() {
        assert_eq!(
            kinds("a[?b >= `1`] | [] && !c.\"d-e\"[-1]"),
            vec![
                Tok::Ident("a".into()),
                Tok::FilterOpen,
                Tok::Ident("b".into()),
                Tok::Cmp(CmpOp::Ge),
                Tok::Json("1".into()),
                Tok::RBracket,
                Tok::Pipe,
                Tok::Flatten,
                Tok::And,
                Tok::Not,
                Tok::Ident("c".into()),
                Tok::Dot,
                Tok::Quoted("d-e".into()),
                Tok::LBracket,
                Tok::Num(-1),
                Tok::RBracket,
                Tok::Eof,
            ]
        );
        assert_eq!(kinds("'it\\'s'"), vec![Tok::Raw("it's".into()), Tok::Eof]);
        assert_eq!(kinds("'a\\d'"), vec![Tok::Raw("a\\d".into()), Tok::Eof]);
    }

    #[test]
    fn reports_where_lexing_fails() {
        assert_eq!(
            tokens("a # b").unwrap_err(),
            "unexpected '#' at position 3 of expression \"a # b\""
        );
        assert!(tokens("'open").unwrap_err().contains("unterminated"));
        assert!(tokens("`open").unwrap_err().contains("unterminated"));
    }
}
