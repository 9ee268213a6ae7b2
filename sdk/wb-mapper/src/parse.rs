//! Reading an expression: a Pratt parser over the tokens of `lex`, with
//! JMESPath's binding powers (pipe, or, and, comparisons, flatten,
//! projections, sub-expressions, indexes).

use crate::expr::{Expr, Project};
use crate::func::Func;
use crate::lex::{tokens, Tok};
use crate::value::parse_json;

/// Operands of `!` bind tighter than comparisons and looser than paths, so
/// `!a.b == c` is `(!(a.b)) == c`.
const NOT_OPERAND: u8 = 6;
/// What follows a projection (`[*]`, `.*`, `[]`, `[?...]`) up to this power
/// is applied to each element.
const PROJECTION_STOP: u8 = 10;

fn lbp(tok: &Tok) -> u8 {
    match tok {
        Tok::Pipe => 1,
        Tok::Or => 2,
        Tok::And => 3,
        Tok::Cmp(_) => 5,
        Tok::Flatten => 9,
        Tok::FilterOpen => 21,
        Tok::Dot => 40,
        Tok::LBracket => 55,
        _ => 0,
    }
}

pub fn parse(text: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        text,
        toks: tokens(text)?,
        at: 0,
    };
    let expr = parser.expr(0)?;
    if parser.peek() != &Tok::Eof {
        return parser.fail(&format!("unexpected {}", parser.peek().describe()));
    }
    Ok(expr)
}

struct Parser<'t> {
    text: &'t str,
    toks: Vec<(Tok, usize)>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.at.min(self.toks.len() - 1)].0
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.at + 1).min(self.toks.len() - 1)].0
    }

    fn next(&mut self) -> Tok {
        let tok = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        tok
    }

    /// Steps back onto the token just read, so an error points at it.
    fn back(&mut self) {
        self.at = self.at.saturating_sub(1);
    }

    fn eat(&mut self, want: &Tok) -> bool {
        if self.peek() == want {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), String> {
        if self.eat(&want) {
            Ok(())
        } else {
            self.fail(&format!(
                "expected {what}, found {}",
                self.peek().describe()
            ))
        }
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        let pos = self.toks[self.at.min(self.toks.len() - 1)].1;
        Err(format!(
            "{what} at position {} of expression {:?}",
            pos + 1,
            self.text
        ))
    }

    fn expr(&mut self, rbp: u8) -> Result<Expr, String> {
        let mut left = self.nud()?;
        while lbp(self.peek()) > rbp {
            left = self.led(left)?;
        }
        Ok(left)
    }

    fn nud(&mut self) -> Result<Expr, String> {
        match self.next() {
            Tok::Ident(name) if self.peek() == &Tok::LParen => self.call(name),
            Tok::Ident(name) | Tok::Quoted(name) => Ok(Expr::Field(name)),
            Tok::Raw(text) => Ok(Expr::Literal(text)),
            Tok::Num(n) => Ok(Expr::Number(n)),
            Tok::Json(raw) => self.json_literal(raw),
            Tok::At => Ok(Expr::Current),
            Tok::Star => {
                let rhs = self.projection_rhs(20)?;
                Ok(project(Project::Values, Expr::Current, rhs))
            }
            Tok::LBracket => match self.peek() {
                Tok::Num(_) | Tok::Colon => self.index(Expr::Current),
                Tok::Star if self.peek2() == &Tok::RBracket => {
                    self.next();
                    self.next();
                    let rhs = self.projection_rhs(20)?;
                    Ok(project(Project::List, Expr::Current, rhs))
                }
                _ => Ok(Expr::List(self.list(Tok::RBracket, "']'")?)),
            },
            Tok::Flatten => {
                let rhs = self.projection_rhs(9)?;
                Ok(project(Project::Flatten, Expr::Current, rhs))
            }
            Tok::FilterOpen => self.filter(Expr::Current),
            Tok::LBrace => self.hash(),
            Tok::LParen => {
                let inner = self.expr(0)?;
                self.expect(Tok::RParen, "')'")?;
                Ok(inner)
            }
            Tok::Not => Ok(Expr::Not(Box::new(self.expr(NOT_OPERAND)?))),
            Tok::Amp => {
                self.back();
                self.fail("an &expression is only valid as a function argument")
            }
            Tok::Eof => self.fail("expected a value"),
            other => {
                self.back();
                self.fail(&format!("unexpected {}", other.describe()))
            }
        }
    }

    fn led(&mut self, left: Expr) -> Result<Expr, String> {
        match self.next() {
            Tok::Dot => {
                if self.eat(&Tok::Star) {
                    let rhs = self.projection_rhs(20)?;
                    return Ok(project(Project::Values, left, rhs));
                }
                let rhs = self.dot_rhs()?;
                Ok(sub(left, rhs))
            }
            Tok::LBracket => match self.peek() {
                Tok::Num(_) | Tok::Colon => self.index(left),
                Tok::Star if self.peek2() == &Tok::RBracket => {
                    self.next();
                    self.next();
                    let rhs = self.projection_rhs(20)?;
                    Ok(project(Project::List, left, rhs))
                }
                _ => self.fail(&format!(
                    "expected an index, a slice or '*' after '[', found {}",
                    self.peek().describe()
                )),
            },
            Tok::Flatten => {
                let rhs = self.projection_rhs(9)?;
                Ok(project(Project::Flatten, left, rhs))
            }
            Tok::FilterOpen => self.filter(left),
            Tok::Pipe => Ok(Expr::Pipe(Box::new(left), Box::new(self.expr(1)?))),
            Tok::Or => {
                let right = self.expr(2)?;
                Ok(match left {
                    Expr::Or(mut items) => {
                        items.push(right);
                        Expr::Or(items)
                    }
                    left => Expr::Or(vec![left, right]),
                })
            }
            Tok::And => {
                let right = self.expr(3)?;
                Ok(match left {
                    Expr::And(mut items) => {
                        items.push(right);
                        Expr::And(items)
                    }
                    left => Expr::And(vec![left, right]),
                })
            }
            Tok::Cmp(op) => {
                let right = self.expr(5)?;
                Ok(Expr::Compare(Box::new(left), op, Box::new(right)))
            }
            other => {
                self.back();
                self.fail(&format!("unexpected {}", other.describe()))
            }
        }
    }

    /// What may follow a `.`: a name, a call, a multi-select list or hash.
    fn dot_rhs(&mut self) -> Result<Expr, String> {
        match self.next() {
            Tok::Ident(name) if self.peek() == &Tok::LParen => self.call(name),
            Tok::Ident(name) | Tok::Quoted(name) => Ok(Expr::Field(name)),
            Tok::LBracket => Ok(Expr::List(self.list(Tok::RBracket, "']'")?)),
            Tok::LBrace => self.hash(),
            other => {
                self.back();
                self.fail(&format!(
                    "expected a name, '[', '{{' or '*' after '.', found {}",
                    other.describe()
                ))
            }
        }
    }

    /// The expression applied to each element of a projection: nothing (the
    /// element itself), or a chain of `.x`, `[n]`, `[*]`, `[?...]`.
    fn projection_rhs(&mut self, bp: u8) -> Result<Expr, String> {
        let mut rhs = match self.peek() {
            Tok::Dot => {
                self.next();
                if self.eat(&Tok::Star) {
                    let inner = self.projection_rhs(20)?;
                    return Ok(project(Project::Values, Expr::Current, inner));
                }
                self.dot_rhs()?
            }
            Tok::LBracket | Tok::FilterOpen => Expr::Current,
            tok if lbp(tok) < PROJECTION_STOP => return Ok(Expr::Current),
            other => {
                let other = other.describe();
                return self.fail(&format!("unexpected {other} after a projection"));
            }
        };
        while lbp(self.peek()) > bp {
            rhs = self.led(rhs)?;
        }
        Ok(rhs)
    }

    /// `[n]` or a slice `[start:stop:step]`, after the `[`.
    fn index(&mut self, left: Expr) -> Result<Expr, String> {
        let mut parts: [Option<i64>; 3] = [None, None, None];
        let mut colons = 0;
        loop {
            match self.next() {
                Tok::Num(n) if parts[colons].is_none() => parts[colons] = Some(n),
                Tok::Colon if colons < 2 => colons += 1,
                Tok::RBracket => break,
                other => {
                    self.back();
                    return self.fail(&format!("unexpected {} in an index", other.describe()));
                }
            }
        }
        if colons == 0 {
            let n = parts[0].unwrap_or(0);
            return Ok(match left {
                // `items[0]` stays a path, read without parsing the document.
                Expr::Field(path) if n >= 0 => Expr::Field(format!("{path}[{n}]")),
                left => Expr::Index(Box::new(left), n),
            });
        }
        if parts[2] == Some(0) {
            return self.fail("a slice step cannot be 0");
        }
        let rhs = self.projection_rhs(20)?;
        Ok(project(
            Project::Slice(parts[0], parts[1], parts[2]),
            left,
            rhs,
        ))
    }

    /// `[?condition]` after the `[?`.
    fn filter(&mut self, left: Expr) -> Result<Expr, String> {
        let condition = self.expr(0)?;
        self.expect(Tok::RBracket, "']' to close the filter")?;
        let rhs = self.projection_rhs(21)?;
        Ok(project(Project::Filter(Box::new(condition)), left, rhs))
    }

    /// `{key: expression, ...}` after the `{`.
    fn hash(&mut self) -> Result<Expr, String> {
        let mut entries = Vec::new();
        loop {
            let key = match self.next() {
                Tok::Ident(key) | Tok::Quoted(key) => key,
                other => {
                    self.back();
                    return self.fail(&format!("expected a key, found {}", other.describe()));
                }
            };
            if entries.iter().any(|(k, _)| k == &key) {
                self.back();
                return self.fail(&format!("key {key:?} given twice"));
            }
            self.expect(Tok::Colon, "':'")?;
            entries.push((key, self.expr(0)?));
            if self.eat(&Tok::RBrace) {
                return Ok(Expr::Hash(entries));
            }
            self.expect(Tok::Comma, "',' or '}'")?;
        }
    }

    /// Comma-separated expressions up to `close` (after the opening token).
    fn list(&mut self, close: Tok, name: &str) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        if self.eat(&close) {
            return Ok(items);
        }
        loop {
            items.push(self.arg()?);
            if self.eat(&close) {
                return Ok(items);
            }
            if !self.eat(&Tok::Comma) {
                return self.fail(&format!(
                    "expected ',' or {name}, found {}",
                    self.peek().describe()
                ));
            }
        }
    }

    /// An expression, or `&expression` where a function takes one.
    fn arg(&mut self) -> Result<Expr, String> {
        if self.eat(&Tok::Amp) {
            return Ok(Expr::Expref(Box::new(self.expr(0)?)));
        }
        self.expr(0)
    }

    /// `name(args)`, with the name already read.
    fn call(&mut self, name: String) -> Result<Expr, String> {
        let at_name = self.at - 1;
        self.next();
        let args = self.list(Tok::RParen, "')'")?;
        if name == "key_part" {
            return match args[..] {
                [Expr::Number(n)] if n >= 0 => Ok(Expr::KeyPart(n as usize)),
                _ => {
                    self.at = at_name;
                    self.fail("key_part needs one segment number")
                }
            };
        }
        let fail_at_name = |parser: &mut Self, message: String| {
            parser.at = at_name;
            parser.fail::<Expr>(&message)
        };
        let Some(func) = Func::by_name(&name) else {
            return fail_at_name(
                self,
                format!(
                    "unknown function {name:?} (known: key_part, {})",
                    Func::names()
                ),
            );
        };
        if let Err(message) = func.check_args(&args) {
            return fail_at_name(self, message);
        }
        match func.prepare(args) {
            Ok(args) => Ok(Expr::Call(func, args)),
            Err(message) => fail_at_name(self, message),
        }
    }

    /// `` `18` `` is a number, `` `"gold"` `` text, other JSON a JSON value;
    /// text that is not JSON is a string, as in JMESPath's older literals
    /// (RDI's examples write `filter_entries` predicates so).
    fn json_literal(&self, raw: String) -> Result<Expr, String> {
        if let Ok(n) = raw.parse() {
            return Ok(Expr::Number(n));
        }
        match parse_json(&raw) {
            Ok(crate::value::Val::Str(text)) => Ok(Expr::Literal(text.into_owned())),
            // Kept compact: a spec holds one expression per line.
            Ok(value) => Ok(Expr::Json(value.to_json())),
            Err(_) => Ok(Expr::Literal(raw)),
        }
    }
}

/// `left.right`: a path of plain names stays one field reference (read
/// as before, without parsing documents); `@.x` is `x`.
fn sub(left: Expr, right: Expr) -> Expr {
    match (left, right) {
        (Expr::Current, right) => right,
        (Expr::Field(a), Expr::Field(b)) if !b.contains(['.', '[', ']']) => {
            Expr::Field(format!("{a}.{b}"))
        }
        (left, right) => Expr::Sub(Box::new(left), Box::new(right)),
    }
}

fn project(kind: Project, lhs: Expr, rhs: Expr) -> Expr {
    Expr::Project {
        kind,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    }
}
