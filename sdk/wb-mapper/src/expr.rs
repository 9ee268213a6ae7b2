//! Expressions that compute one cell from a change.

use std::borrow::Cow;

use std::fmt;

use wb_abi::{Cell, Change, Value};

use crate::func::Func;
use crate::logic::{truthy, CmpOp};

/// A column's source.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `key_part(n)`: segment `n` (0-based) of the Redis key split on `:`.
    KeyPart(usize),
    /// A hash field, a dotted path into a JSON document, or `member` and
    /// `score` in rows built from sets.
    Field(String),
    /// `'text'`
    Literal(String),
    /// An integer, such as the count of `left(s, 3)`.
    Number(i64),
    /// `[a, b]`: only as the argument of `concat`.
    List(Vec<Expr>),
    /// A function call.
    Call(Func, Vec<Expr>),
    /// `a == b`, `a < b`, ...: a boolean.
    Compare(Box<Expr>, CmpOp, Box<Expr>),
    /// `a && b && ...`
    And(Vec<Expr>),
    /// `a || b || ...`
    Or(Vec<Expr>),
    /// `!a`
    Not(Box<Expr>),
}

impl Expr {
    /// Parses an expression: a field reference, `'literal'`, a number, or a
    /// call of `key_part` or one of the functions in [`Func`].
    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut parser = Parser { text, pos: 0 };
        let expr = parser.expr()?;
        parser.skip_ws();
        if parser.pos < text.len() {
            return Err(format!(
                "unexpected {:?} in expression {text:?}",
                &text[parser.pos..]
            ));
        }
        if let Expr::List(_) = expr {
            return Err(format!(
                "{text:?}: a list is only valid inside concat(...) or in(...)"
            ));
        }
        Ok(expr)
    }

    /// The value of this expression in `scope`, seeing the record as the
    /// first `upto` transform steps left it.
    pub fn eval<'a>(&'a self, scope: &Scope<'_, 'a>, upto: usize) -> Result<Cell<'a>, String> {
        match self {
            Expr::KeyPart(n) => Ok(scope.change.key_part(*n).map_or(Cell::Null, Cell::from)),
            Expr::Literal(text) => Ok(Cell::Text(Cow::Borrowed(text.as_str()))),
            Expr::Number(n) => Ok(Cell::Integer(*n)),
            Expr::List(_) => Err("a list is only valid inside concat(...) or in(...)".into()),
            Expr::Call(func, args) => {
                let mut cells = Vec::with_capacity(args.len());
                for arg in args {
                    match arg {
                        // concat([a, b]) is concat(a, b); in(x, [a, b]) is
                        // in(x, a, b).
                        Expr::List(items) if matches!(func, Func::Concat | Func::In) => {
                            for item_expr in items {
                                cells.push(item_expr.eval(scope, upto)?);
                            }
                        }
                        _ => cells.push(arg.eval(scope, upto)?),
                    }
                }
                func.apply(cells)
            }
            Expr::Field(name) => scope.field(name, upto),
            Expr::Compare(left, op, right) => Ok(Cell::Bool(
                op.holds(&left.eval(scope, upto)?, &right.eval(scope, upto)?),
            )),
            Expr::And(items) => {
                for item in items {
                    if !truthy(&item.eval(scope, upto)?) {
                        return Ok(Cell::Bool(false));
                    }
                }
                Ok(Cell::Bool(true))
            }
            Expr::Or(items) => {
                for item in items {
                    if truthy(&item.eval(scope, upto)?) {
                        return Ok(Cell::Bool(true));
                    }
                }
                Ok(Cell::Bool(false))
            }
            Expr::Not(inner) => Ok(Cell::Bool(!truthy(&inner.eval(scope, upto)?))),
        }
    }
}

/// What expressions read: the change, the child item a row is being built
/// from, and the transform steps (rename, remove, add) that reshape the
/// record before the outputs see it.
pub struct Scope<'c, 'a> {
    pub change: &'c Change<'a>,
    pub item: Option<Item<'a>>,
    pub steps: &'a [Step],
}

impl<'a> Scope<'_, 'a> {
    /// Field `name` as the first `upto` steps left the record: walking the
    /// steps backwards, a rename sends the lookup to the old name, a remove
    /// ends it, an added field is computed from the steps before it.
    fn field(&self, name: &'a str, upto: usize) -> Result<Cell<'a>, String> {
        let mut name = name;
        for (index, step) in self.steps[..upto.min(self.steps.len())]
            .iter()
            .enumerate()
            .rev()
        {
            match step {
                Step::Rename { from, to } if name == to => name = from.as_str(),
                Step::Rename { from, .. } if name == from => return Ok(Cell::Null),
                Step::Remove { field } if name == field => return Ok(Cell::Null),
                Step::Add { field, expr } if name == field => return expr.eval(self, index),
                _ => {}
            }
        }
        self.raw_field(name)
    }

    /// Field `name` of the change (or of the child item) itself. Absent
    /// fields are `Null`.
    fn raw_field(&self, name: &'a str) -> Result<Cell<'a>, String> {
        match (&self.change.value, self.item) {
            (_, Some(Item::Member { member, score })) => match name {
                "member" => Ok(text_or_bytes(member)),
                "score" => Ok(score.map_or(Cell::Null, Cell::Float)),
                _ => Err(format!(
                    "set members have no field {name:?}: use member or score"
                )),
            },
            (_, Some(Item::Element { alias, json })) if name == alias => json_cell(json, ""),
            (_, Some(Item::Element { alias, json }))
                if name
                    .strip_prefix(alias)
                    .is_some_and(|rest| rest.starts_with('.')) =>
            {
                json_cell(json, &name[alias.len() + 1..])
            }
            (Value::Hash(pairs), _) => {
                Ok(pairs.get(name.as_bytes()).map_or(Cell::Null, text_or_bytes))
            }
            (Value::Json(doc), _) => json_cell(doc, name),
            (Value::Missing, _) => Ok(Cell::Null),
            (Value::Set(_) | Value::SortedSet(_), _) => Err(format!(
                "field {name:?} cannot be read from a whole set or sorted set"
            )),
        }
    }
}

/// A transform step applied to the record before the outputs, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `rename_field`: the field `from` is seen as `to`.
    Rename { from: String, to: String },
    /// `remove_field`: the field is gone.
    Remove { field: String },
    /// `add_field`: a field computed by an expression.
    Add { field: String, expr: Expr },
    /// `filter`: records for which the expression is false are skipped.
    Filter { expr: Expr },
}

/// What one child row is built from.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    /// A set member or sorted-set entry: `member` and `score` are its fields.
    Member {
        member: &'a [u8],
        score: Option<f64>,
    },
    /// An element of a JSON array (`foreach`): `alias` names it, and
    /// `alias.path` reads inside it; other fields read the whole document.
    Element { alias: &'a str, json: &'a str },
}

/// Redis strings as text when they are UTF-8, as bytes otherwise.
fn text_or_bytes(raw: &[u8]) -> Cell<'_> {
    match std::str::from_utf8(raw) {
        Ok(text) => Cell::Text(Cow::Borrowed(text)),
        Err(_) => Cell::Bytes(Cow::Borrowed(raw)),
    }
}

/// A recursive-descent reader of one expression.
struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, want: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(want) {
            self.pos += want.len_utf8();
            true
        } else {
            false
        }
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!(
            "{what} at position {} of expression {:?}",
            self.pos + 1,
            self.text
        ))
    }

    /// Lowest precedence first: `||`, `&&`, comparisons, `!`, values.
    fn expr(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.eat_str("||") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.comparison()?];
        while self.eat_str("&&") {
            items.push(self.comparison()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.unary()?;
        for (symbol, op) in CmpOp::ALL {
            if self.eat_str(symbol) {
                let right = self.unary()?;
                return Ok(Expr::Compare(Box::new(left), op, Box::new(right)));
            }
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_str("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat('(') {
            let inner = self.expr()?;
            if !self.eat(')') {
                return self.fail("expected ')'");
            }
            return Ok(inner);
        }
        self.primary()
    }

    fn eat_str(&mut self, want: &str) -> bool {
        self.skip_ws();
        if self.text[self.pos..].starts_with(want) {
            self.pos += want.len();
            true
        } else {
            false
        }
    }

    /// A JMESPath literal: `` `18` ``, `` `"gold"` ``, `` `true` ``.
    fn backtick(&mut self) -> Result<Expr, String> {
        self.pos += 1;
        let Some(end) = self.text[self.pos..].find('`') else {
            return self.fail("unterminated `literal`");
        };
        let raw = self.text[self.pos..self.pos + end].trim().to_string();
        self.pos += end + 1;
        if let Ok(n) = raw.parse() {
            return Ok(Expr::Number(n));
        }
        match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(text) => Ok(Expr::Literal(text.to_string())),
            None => Ok(Expr::Literal(raw)),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        match self.peek() {
            None => self.fail("expected a value"),
            Some('`') => self.backtick(),
            Some('\'') => self.literal(),
            Some('"') => self.quoted_field(),
            Some('[') => {
                self.pos += 1;
                Ok(Expr::List(self.args(']')?))
            }
            Some(c) if c.is_ascii_digit() || c == '-' => self.number(),
            Some(c) if is_name_char(c) => self.name_or_call(),
            Some(c) => self.fail(&format!("unexpected {c:?}")),
        }
    }

    /// `'text'`, with `\'` for a quote and `\\` for a backslash.
    fn literal(&mut self) -> Result<Expr, String> {
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.pos += i + 1;
                    return Ok(Expr::Literal(out));
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => out.push(escaped),
                    None => break,
                },
                _ => out.push(c),
            }
        }
        self.fail("unterminated 'literal'")
    }

    /// `"first-name"`: a field whose name is not a plain identifier, quoted
    /// as in JMESPath.
    fn quoted_field(&mut self) -> Result<Expr, String> {
        self.pos += 1;
        match self.text[self.pos..].find('"') {
            Some(end) if end > 0 => {
                let name = self.text[self.pos..self.pos + end].to_string();
                self.pos += end + 1;
                Ok(Expr::Field(name))
            }
            _ => self.fail("unterminated or empty \"field name\""),
        }
    }

    fn number(&mut self) -> Result<Expr, String> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        match self.text[start..self.pos].parse() {
            Ok(n) => Ok(Expr::Number(n)),
            Err(_) => self.fail("invalid number"),
        }
    }

    /// A field reference (`address.city`, `items[0].id`) or `name(args)`.
    fn name_or_call(&mut self) -> Result<Expr, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_name_char(c) {
                self.pos += c.len_utf8();
            } else if c == '['
                && self.text[self.pos..].find(']').is_some_and(|end| {
                    let inside = &self.text[self.pos + 1..self.pos + end];
                    !inside.is_empty() && inside.chars().all(|d| d.is_ascii_digit())
                })
            {
                // An array index inside a path: `items[0]`.
                self.pos += self.text[self.pos..].find(']').map_or(1, |end| end + 1);
            } else {
                break;
            }
        }
        let name = &self.text[start..self.pos];
        let after_name = self.pos;
        if !self.eat('(') {
            self.pos = after_name;
            return Ok(Expr::Field(name.to_string()));
        }
        let args = self.args(')')?;
        if name == "key_part" {
            return match args[..] {
                [Expr::Number(n)] if n >= 0 => Ok(Expr::KeyPart(n as usize)),
                _ => self.fail("key_part needs one segment number"),
            };
        }
        let Some(func) = Func::by_name(name) else {
            return self.fail(&format!(
                "unknown function {name:?} (known: key_part, {})",
                Func::names()
            ));
        };
        if let Err(message) = func.check_arity(args.len()) {
            return self.fail(&message);
        }
        Ok(Expr::Call(func, args))
    }

    /// Comma-separated expressions up to `close`.
    fn args(&mut self, close: char) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        if self.eat(close) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(close) {
                return Ok(args);
            }
            if !self.eat(',') {
                return self.fail(&format!("expected ',' or '{close}'"));
            }
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '$')
}

impl fmt::Display for Expr {
    /// Writes the expression back in the form [`Expr::parse`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, items: &[Expr]| {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        };
        match self {
            Expr::KeyPart(n) => write!(f, "key_part({n})"),
            Expr::Field(name)
                if name
                    .chars()
                    .all(|c| is_name_char(c) || c == '[' || c == ']') =>
            {
                f.write_str(name)
            }
            Expr::Field(name) => write!(f, "\"{name}\""),
            Expr::Literal(text) => {
                write!(f, "'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
            }
            Expr::Number(n) => write!(f, "{n}"),
            Expr::List(items) => {
                f.write_str("[")?;
                list(f, items)?;
                f.write_str("]")
            }
            Expr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                list(f, args)?;
                f.write_str(")")
            }
            Expr::Compare(left, op, right) => {
                write!(f, "{} {op} {}", Operand(left), Operand(right))
            }
            Expr::And(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" && ")?;
                    }
                    match item {
                        Expr::Or(_) => write!(f, "({item})")?,
                        _ => write!(f, "{item}")?,
                    }
                }
                Ok(())
            }
            Expr::Or(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" || ")?;
                    }
                    write!(f, "{item}")?;
                }
                Ok(())
            }
            Expr::Not(inner) => write!(f, "!{}", Operand(inner)),
        }
    }
}

/// An operand of a comparison or `!`, parenthesised when it binds looser.
struct Operand<'e>(&'e Expr);

impl fmt::Display for Operand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Expr::Compare(..) | Expr::And(_) | Expr::Or(_) => write!(f, "({})", self.0),
            other => write!(f, "{other}"),
        }
    }
}

/// A JSON value as a typed cell: strings as text, integers and floats as
/// numbers, booleans, null, objects and arrays as JSON.
fn json_cell<'a>(doc: &'a str, path: &str) -> Result<Cell<'a>, String> {
    let raw = match json::find(doc, path)? {
        None => return Ok(Cell::Null),
        Some(raw) => raw,
    };
    Ok(match raw.as_bytes().first() {
        Some(b'"') => Cell::Text(json::unquote(raw)?),
        Some(b'{') | Some(b'[') => Cell::Json(Cow::Borrowed(raw)),
        _ if raw == "null" => Cell::Null,
        _ if raw == "true" => Cell::Bool(true),
        _ if raw == "false" => Cell::Bool(false),
        _ => match raw.parse::<i64>() {
            Ok(i) => Cell::Integer(i),
            Err(_) => Cell::Float(
                raw.parse()
                    .map_err(|_| format!("invalid JSON number {raw:?}"))?,
            ),
        },
    })
}

/// A thin adapter over the JSON path reader shared with the guest SDK; the
/// reader lives in `wb-abi` so that this crate needs nothing else.
mod json {
    use std::borrow::Cow;

    pub fn find<'d>(doc: &'d str, path: &str) -> Result<Option<&'d str>, String> {
        wb_abi::json_path(doc, path).map_err(|e| e.to_string())
    }

    pub fn unquote(raw: &str) -> Result<Cow<'_, str>, String> {
        wb_abi::json_unquote(raw).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_parts_and_fields() {
        assert_eq!(Expr::parse("key_part(1)"), Ok(Expr::KeyPart(1)));
        assert_eq!(Expr::parse(" email "), Ok(Expr::Field("email".into())));
        assert_eq!(
            Expr::parse("addr.city"),
            Ok(Expr::Field("addr.city".into()))
        );
        assert_eq!(
            Expr::parse("items[0].id"),
            Ok(Expr::Field("items[0].id".into()))
        );
        assert!(Expr::parse("key_part(x)").is_err());
        assert!(Expr::parse("").is_err());
    }

    #[test]
    fn parses_calls_literals_and_lists_and_prints_them_back() {
        for text in [
            "lower(email)",
            "concat([first_name, ' ', last_name])",
            "left(upper(code), 3)",
            "replace(phone, '-', '')",
            "concat('it\\'s ', name)",
            "upper(\"first-name\")",
            "age >= 18 && (tier == 'gold' || !(vip == 'no'))",
            "!active",
        ] {
            let expr = Expr::parse(text).unwrap();
            assert_eq!(expr.to_string(), text);
            assert_eq!(Expr::parse(&expr.to_string()).unwrap(), expr);
        }
    }

    #[test]
    fn reads_jmespath_literals_and_precedence() {
        assert_eq!(
            Expr::parse("age > `18`").unwrap(),
            Expr::Compare(
                Box::new(Expr::Field("age".into())),
                CmpOp::Gt,
                Box::new(Expr::Number(18))
            )
        );
        let expr = Expr::parse("a || b && c").unwrap();
        assert!(matches!(&expr, Expr::Or(items) if matches!(items[1], Expr::And(_))));
        assert_eq!(
            Expr::parse("tier == `\"gold\"`").unwrap().to_string(),
            "tier == 'gold'"
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let err = Expr::parse("uuid()").unwrap_err();
        assert!(err.contains("unknown function \"uuid\""), "{err}");
        let err = Expr::parse("lower(a, b)").unwrap_err();
        assert!(err.contains("lower does not take 2 arguments"), "{err}");
        let err = Expr::parse("concat('a'").unwrap_err();
        assert!(err.contains("expected ',' or ')'"), "{err}");
        assert!(Expr::parse("'open").is_err());
        assert!(Expr::parse("a b").is_err());
        assert!(Expr::parse("[a, b]").is_err());
    }
}
