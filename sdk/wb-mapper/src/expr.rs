//! Expressions: what computes a cell, a filter's condition or a mapped
//! record from a change. The syntax is JMESPath's (see `parse`) plus RDI's
//! functions and a few conveniences kept from before (bare numbers,
//! `key_part(n)`, numeric text comparing as numbers).

use std::borrow::Cow;

use wb_abi::{Cell, Change, Value};

use crate::func::Func;
use crate::logic::{truthy, CmpOp};
use crate::pattern::Pattern;
use crate::value::{parse_json, set_entry, Val};

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `key_part(n)`: segment `n` (0-based) of the Redis key split on `:`.
    KeyPart(usize),
    /// A path of names and indexes (`address.city`, `items[0].id`): at the
    /// top a hash field (the whole path is the field's name), a path into a
    /// JSON document, or `member` and `score` in rows built from sets;
    /// inside a projection or after a pipe, a path into the current value.
    Field(String),
    /// `@`: the current value; at the top, the whole record.
    Current,
    /// `'text'` (a JMESPath raw string) or `` `"text"` ``.
    Literal(String),
    /// An integer, such as the count of `left(s, 3)`, or `` `3` ``.
    Number(i64),
    /// A JSON literal other than a string or an integer: `` `true` ``,
    /// `` `[1, 2]` ``, `` `1.5` ``.
    Json(String),
    /// `[a, b]`: a multi-select list (an array).
    List(Vec<Expr>),
    /// `{x: a, y: b}`: a multi-select hash (an object).
    Hash(Vec<(String, Expr)>),
    /// A function call.
    Call(Func, Vec<Expr>),
    /// `&expression`: an expression a function applies itself (the
    /// predicate of `filter_entries`, the key of `sort_by`).
    Expref(Box<Expr>),
    /// A regular expression written as a literal where a function takes one
    /// (`regex_replace`): compiled once, when the expression is parsed.
    Pattern(Pattern),
    /// `a.b` where `b` is more than a name: evaluated against `a`'s value.
    Sub(Box<Expr>, Box<Expr>),
    /// `a[-1]` (non-negative indexes of a path stay in the path).
    Index(Box<Expr>, i64),
    /// `lhs[*] rhs` and the other projections: `rhs` applied to each
    /// element, null results dropped.
    Project {
        kind: Project,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `a | b`: `b` evaluated against the value of `a`.
    Pipe(Box<Expr>, Box<Expr>),
    /// `a == b`, `a < b`, ...: a boolean.
    Compare(Box<Expr>, CmpOp, Box<Expr>),
    /// `a && b && ...`: a boolean.
    And(Vec<Expr>),
    /// `a || b || ...`: a boolean.
    Or(Vec<Expr>),
    /// `!a`
    Not(Box<Expr>),
}

/// Which elements a projection visits.
#[derive(Clone, Debug, PartialEq)]
pub enum Project {
    /// `[*]`: the elements of an array.
    List,
    /// `.*`: the values of an object.
    Values,
    /// `[]`: the elements of an array, nested arrays flattened one level.
    Flatten,
    /// `[start:stop:step]`
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// `[?condition]`: the elements for which the condition is true.
    Filter(Box<Expr>),
}

impl Expr {
    /// Parses an expression; errors say what is wrong and where.
    pub fn parse(text: &str) -> Result<Expr, String> {
        crate::parse::parse(text)
    }

    /// The value of this expression in `scope`, seeing the record as the
    /// first `upto` transform steps left it, as a row cell.
    pub fn eval<'a>(&'a self, scope: &Scope<'_, 'a>, upto: usize) -> Result<Cell<'a>, String> {
        match self {
            // The common columns, read straight into cells: going through
            // `Val` costs about a third more per record.
            Expr::Field(path) => scope.field_cell(path, upto),
            Expr::KeyPart(n) => Ok(scope.change.key_part(*n).map_or(Cell::Null, Cell::from)),
            _ => Ok(self.value(scope, upto, None)?.into_cell()),
        }
    }

    /// The value of this expression; `current` is the value `@` names
    /// (inside projections, filters and after pipes), `None` at the top,
    /// where names are the record's fields.
    pub fn value<'a>(
        &'a self,
        scope: &Scope<'_, 'a>,
        upto: usize,
        current: Option<&Val<'a>>,
    ) -> Result<Val<'a>, String> {
        let eval = |expr: &'a Expr, current: Option<&Val<'a>>| expr.value(scope, upto, current);
        match self {
            Expr::KeyPart(n) => Ok(scope
                .change
                .key_part(*n)
                .map_or(Val::Null, |s| Val::Str(Cow::Borrowed(s)))),
            Expr::Field(path) => match current {
                None => scope.field(path, upto),
                Some(value) => value.clone().at_path(path),
            },
            Expr::Current => match current {
                None => scope.record(upto),
                Some(value) => Ok(value.clone()),
            },
            Expr::Literal(text) => Ok(Val::Str(Cow::Borrowed(text.as_str()))),
            Expr::Number(n) => Ok(Val::Int(*n)),
            Expr::Json(raw) => parse_json(raw),
            Expr::Expref(_) => Err("an &expression is only valid as a function argument".into()),
            Expr::List(items) => {
                if matches!(current, Some(Val::Null)) {
                    return Ok(Val::Null);
                }
                let values = items
                    .iter()
                    .map(|item| eval(item, current))
                    .collect::<Result<_, _>>()?;
                Ok(Val::Array(values))
            }
            Expr::Hash(entries) => {
                if matches!(current, Some(Val::Null)) {
                    return Ok(Val::Null);
                }
                let mut object = Vec::with_capacity(entries.len());
                for (key, expr) in entries {
                    object.push((Cow::Borrowed(key.as_str()), eval(expr, current)?));
                }
                Ok(Val::Object(object))
            }
            Expr::Call(func, args) => {
                let mut values = Vec::with_capacity(args.len());
                let mut by = None;
                for arg in args {
                    match arg {
                        // concat([a, b]) is concat(a, b); in(x, [a, b]) is
                        // in(x, a, b).
                        Expr::List(items) if matches!(func, Func::Concat | Func::In) => {
                            for item in items {
                                values.push(eval(item, current)?);
                            }
                        }
                        Expr::Expref(inner) => by = Some(&**inner),
                        Expr::Pattern(pattern) => {
                            values.push(Val::Str(Cow::Borrowed(pattern.text())))
                        }
                        _ => values.push(eval(arg, current)?),
                    }
                }
                let pattern = args.iter().find_map(|arg| match arg {
                    Expr::Pattern(pattern) => Some(pattern),
                    _ => None,
                });
                match by {
                    Some(by) => func.apply_by(values, &mut |item: &Val<'a>| {
                        by.value(scope, upto, Some(item))
                    }),
                    None => func.apply(values, pattern),
                }
            }
            Expr::Pattern(pattern) => Ok(Val::Str(Cow::Borrowed(pattern.text()))),
            Expr::Sub(left, right) => match eval(left, current)? {
                Val::Null => Ok(Val::Null),
                value => eval(right, Some(&value)),
            },
            Expr::Index(inner, n) => eval(inner, current)?.index(*n),
            Expr::Project { kind, lhs, rhs } => {
                let base = eval(lhs, current)?;
                let Some(elements) = kind.elements(base, scope, upto)? else {
                    return Ok(Val::Null);
                };
                let mut out = Vec::with_capacity(elements.len());
                for element in elements {
                    match eval(rhs, Some(&element))? {
                        Val::Null => {}
                        value => out.push(value),
                    }
                }
                Ok(Val::Array(out))
            }
            Expr::Pipe(left, right) => {
                let value = eval(left, current)?;
                eval(right, Some(&value))
            }
            Expr::Compare(left, op, right) => Ok(Val::Bool(
                op.holds(&eval(left, current)?, &eval(right, current)?)?,
            )),
            Expr::And(items) => {
                for item in items {
                    if !truthy(&eval(item, current)?)? {
                        return Ok(Val::Bool(false));
                    }
                }
                Ok(Val::Bool(true))
            }
            Expr::Or(items) => {
                for item in items {
                    if truthy(&eval(item, current)?)? {
                        return Ok(Val::Bool(true));
                    }
                }
                Ok(Val::Bool(false))
            }
            Expr::Not(inner) => Ok(Val::Bool(!truthy(&eval(inner, current)?)?)),
        }
    }
}

impl Project {
    /// The elements this projection visits in `base`; `None` when `base`
    /// is not of the kind it projects (JMESPath then gives null).
    fn elements<'a>(
        &'a self,
        base: Val<'a>,
        scope: &Scope<'_, 'a>,
        upto: usize,
    ) -> Result<Option<Vec<Val<'a>>>, String> {
        Ok(match self {
            Project::List => base.into_array()?,
            Project::Values => base
                .into_object()?
                .map(|entries| entries.into_iter().map(|(_, v)| v).collect()),
            Project::Flatten => match base.into_array()? {
                None => None,
                Some(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        match item.resolved()? {
                            Val::Array(inner) => out.extend(inner),
                            other => out.push(other),
                        }
                    }
                    Some(out)
                }
            },
            Project::Slice(start, stop, step) => base
                .into_array()?
                .map(|items| slice(items, *start, *stop, *step)),
            Project::Filter(condition) => match base.into_array()? {
                None => None,
                Some(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        if truthy(&condition.value(scope, upto, Some(&item))?)? {
                            out.push(item);
                        }
                    }
                    Some(out)
                }
            },
        })
    }
}

/// Python-style slicing: negative bounds count from the end, a negative
/// step walks backwards.
fn slice<T>(items: Vec<T>, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Vec<T> {
    let len = items.len() as i64;
    let step = step.unwrap_or(1);
    let clamp = |bound: i64, low: i64, high: i64| {
        let bound = if bound < 0 { bound + len } else { bound };
        bound.clamp(low, high)
    };
    let (start, stop) = if step > 0 {
        (
            start.map_or(0, |s| clamp(s, 0, len)),
            stop.map_or(len, |s| clamp(s, 0, len)),
        )
    } else {
        (
            start.map_or(len - 1, |s| clamp(s, -1, len - 1)),
            stop.map_or(-1, |s| clamp(s, -1, len - 1)),
        )
    };
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        if let Some(item) = slots.get_mut(i as usize).and_then(Option::take) {
            out.push(item);
        }
        i += step;
    }
    out
}

/// What expressions read: the change, the child item a row is being built
/// from, and the transform steps (rename, remove, add, map) that reshape
/// the record before the outputs see it.
pub struct Scope<'c, 'a> {
    pub change: &'c Change<'a>,
    pub item: Option<Item<'a>>,
    pub steps: &'a [Step],
    /// Where in the hash the last column's field was found: columns mostly
    /// follow the hash's order, so the next search starts there.
    hint: std::cell::Cell<usize>,
}

impl<'c, 'a> Scope<'c, 'a> {
    pub fn new(change: &'c Change<'a>, item: Option<Item<'a>>, steps: &'a [Step]) -> Self {
        Scope {
            change,
            item,
            steps,
            hint: std::cell::Cell::new(0),
        }
    }
}

impl<'a> Scope<'_, 'a> {
    /// Field `path` as the first `upto` steps left the record. Names of the
    /// child item (`member`, `score`, the foreach alias) come first. Then,
    /// walking the steps backwards, a rename sends the lookup to the old
    /// name, a remove ends it, an added field is computed from the steps
    /// before it, and a map step answers from its result. A step matches
    /// the path's first name (`rename address home` makes `home.city` read
    /// `address.city`).
    fn field(&self, path: &str, upto: usize) -> Result<Val<'a>, String> {
        if let Some(value) = self.item_field(path)? {
            return Ok(value);
        }
        let mut path: Cow<'_, str> = Cow::Borrowed(path);
        for (index, step) in self.steps[..upto.min(self.steps.len())]
            .iter()
            .enumerate()
            .rev()
        {
            match step {
                Step::Rename { from, to } => {
                    if let Some(rest) = strip_head(&path, to) {
                        path = Cow::Owned(format!("{from}{rest}"));
                    } else if strip_head(&path, from).is_some() {
                        return Ok(Val::Null);
                    }
                }
                Step::Remove { field } if strip_head(&path, field).is_some() => {
                    return Ok(Val::Null)
                }
                Step::Add { field, expr } => {
                    if let Some(rest) = strip_head(&path, field) {
                        let value = expr.value(self, index, None)?;
                        return if rest.is_empty() {
                            Ok(value)
                        } else {
                            value.at_path(rest)
                        };
                    }
                }
                Step::Map { expr } => return expr.value(self, index, None)?.at_path(&path),
                _ => {}
            }
        }
        self.raw_field(&path)
    }

    /// [`Scope::field`] as a cell, without an intermediate value when no
    /// step or child item is involved (the hot path of most mappings).
    fn field_cell(&self, path: &str, upto: usize) -> Result<Cell<'a>, String> {
        if self.item.is_some() || upto.min(self.steps.len()) > 0 {
            return Ok(self.field(path, upto)?.into_cell());
        }
        match &self.change.value {
            Value::Hash(pairs) => Ok(match pairs.get_after(path.as_bytes(), self.hint.get()) {
                None => Cell::Null,
                Some((raw, next)) => {
                    self.hint.set(next);
                    match std::str::from_utf8(raw) {
                        Ok(text) => Cell::Text(Cow::Borrowed(text)),
                        Err(_) => Cell::Bytes(Cow::Borrowed(raw)),
                    }
                }
            }),
            Value::Json(doc) => json_cell(doc, path),
            _ => Ok(self.raw_field(path)?.into_cell()),
        }
    }

    /// `member`, `score` or the foreach alias, when building child rows.
    fn item_field(&self, name: &str) -> Result<Option<Val<'a>>, String> {
        Ok(match self.item {
            Some(Item::Member { member, score }) => match name {
                "member" => Some(text_or_bytes(member)),
                "score" => Some(score.map_or(Val::Null, Val::Float)),
                _ => None,
            },
            Some(Item::Element { alias, json }) => match strip_head(name, alias) {
                Some(rest) => Some(json_cell(json, rest)?.into()),
                None => None,
            },
            None => None,
        })
    }

    /// Field `name` of the change itself. Absent fields are null.
    fn raw_field(&self, name: &str) -> Result<Val<'a>, String> {
        match (&self.change.value, self.item) {
            (_, Some(Item::Member { .. })) => Err(format!(
                "set members have no field {name:?}: use member or score"
            )),
            (Value::Hash(pairs), _) => {
                Ok(pairs.get(name.as_bytes()).map_or(Val::Null, text_or_bytes))
            }
            (Value::Json(doc), _) => Ok(json_cell(doc, name)?.into()),
            (Value::Missing, _) => Ok(Val::Null),
            (Value::Set(_) | Value::SortedSet(_), _) => Err(format!(
                "field {name:?} cannot be read from a whole set or sorted set"
            )),
        }
    }

    /// The whole record (`@` at the top) as the first `upto` steps left it:
    /// an object of a hash's fields or a JSON document; a set's members (a
    /// sorted set's `{member, score}` entries) as an array; `{member,
    /// score}` for a set row; the document with the foreach alias added
    /// for a foreach row; null for a key that is gone.
    pub fn record(&self, upto: usize) -> Result<Val<'a>, String> {
        let base = match (&self.change.value, self.item) {
            (_, Some(Item::Member { member, score })) => {
                return Ok(Val::Object(vec![
                    (Cow::Borrowed("member"), text_or_bytes(member)),
                    (Cow::Borrowed("score"), score.map_or(Val::Null, Val::Float)),
                ]))
            }
            (Value::Hash(pairs), _) => Val::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), text_or_bytes(v)))
                    .collect(),
            ),
            (Value::Json(doc), _) => Val::Json(Cow::Borrowed(doc)),
            (Value::Missing, _) => return Ok(Val::Null),
            (Value::Set(members), _) => {
                return Ok(Val::Array(members.iter().map(text_or_bytes).collect()))
            }
            (Value::SortedSet(members), _) => {
                return Ok(Val::Array(
                    members
                        .iter()
                        .map(|(member, score)| {
                            Val::Object(vec![
                                (Cow::Borrowed("member"), text_or_bytes(member)),
                                (Cow::Borrowed("score"), Val::Float(score)),
                            ])
                        })
                        .collect(),
                ))
            }
        };
        let mut record = base;
        if let Some(Item::Element { alias, json }) = self.item {
            if let Some(mut entries) = record.clone().into_object()? {
                set_entry(
                    &mut entries,
                    Cow::Borrowed(alias),
                    Val::Json(Cow::Borrowed(json)),
                );
                record = Val::Object(entries);
            }
        }
        for (index, step) in self.steps[..upto.min(self.steps.len())].iter().enumerate() {
            if let Step::Map { expr } = step {
                record = expr.value(self, index, None)?;
                continue;
            }
            let Some(mut entries) = record.clone().into_object()? else {
                continue;
            };
            match step {
                Step::Rename { from, to } => {
                    let moved = take_entry(&mut entries, from);
                    take_entry(&mut entries, to);
                    if let Some(value) = moved {
                        entries.push((Cow::Owned(to.clone()), value));
                    }
                }
                Step::Remove { field } => {
                    take_entry(&mut entries, field);
                }
                Step::Add { field, expr } => {
                    let value = expr.value(self, index, None)?;
                    set_entry(&mut entries, Cow::Owned(field.clone()), value);
                }
                Step::Filter { .. } | Step::Map { .. } => {}
            }
            record = Val::Object(entries);
        }
        Ok(record)
    }
}

fn take_entry<'a>(entries: &mut Vec<(Cow<'a, str>, Val<'a>)>, key: &str) -> Option<Val<'a>> {
    let at = entries.iter().position(|(k, _)| k == key)?;
    Some(entries.remove(at).1)
}

/// The rest of `path` after its first name `head` (empty, or starting with
/// `.` or `[`), if `head` is its first name.
fn strip_head<'p>(path: &'p str, head: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(head)?;
    (rest.is_empty() || rest.starts_with(['.', '['])).then_some(rest)
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
    /// `map`: the record becomes the expression's result, an object whose
    /// entries are the fields from then on.
    Map { expr: Expr },
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
fn text_or_bytes(raw: &[u8]) -> Val<'_> {
    match std::str::from_utf8(raw) {
        Ok(text) => Val::Str(Cow::Borrowed(text)),
        Err(_) => Val::Bytes(Cow::Borrowed(raw)),
    }
}

/// A JSON value read by path as a typed cell: strings as text, integers
/// and floats as numbers, booleans, null, objects and arrays as JSON text.
fn json_cell<'a>(doc: &'a str, path: &str) -> Result<Cell<'a>, String> {
    let raw = match wb_abi::json_path(doc, path).map_err(|e| e.to_string())? {
        None => return Ok(Cell::Null),
        Some(raw) => raw,
    };
    Ok(match raw.as_bytes().first() {
        Some(b'"') => Cell::Text(wb_abi::json_unquote(raw).map_err(|e| e.to_string())?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use wb_abi::{encode_changes, BatchReader, ChangeData, ValueData};

    /// The value of `text` against a record with `value`, as JSON text.
    fn eval_on(text: &str, value: ValueData) -> Result<String, String> {
        let expr = Expr::parse(text)?;
        // What the spec carries must parse back to the same expression.
        assert_eq!(Expr::parse(&expr.to_string()), Ok(expr.clone()), "{expr}");
        let buf = encode_changes(&[ChangeData {
            key: b"user:7:x".to_vec(),
            event: "hset".into(),
            stream_id: "1-0".into(),
            value,
        }]);
        let change = BatchReader::new(&buf).unwrap().next().unwrap().unwrap();
        let scope = Scope::new(&change, None, &[]);
        Ok(expr.value(&scope, 0, None)?.resolved()?.to_json())
    }

    const DOC: &str = r#"{
        "name": "Ada", "age": 36, "tags": ["b", "a", "c"],
        "people": [{"first": "Ann", "age": 20, "pets": ["cat"]},
                   {"first": "Bob", "age": 40, "pets": ["dog", "eel"]},
                   {"first": "Cy"}],
        "ops": {"x": {"n": 1}, "y": {"n": 2}},
        "nested": [[1, 2], [3], 4], "prices": [1.5, 2, 3.5],
        "props": {"a": 1, "b": null}
    }"#;

    fn eval(text: &str) -> String {
        eval_on(text, ValueData::Json(DOC.into())).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn paths_indexes_and_literals() {
        assert_eq!(eval("name"), "\"Ada\"");
        assert_eq!(eval("people[1].first"), "\"Bob\"");
        assert_eq!(eval("people[-1].first"), "\"Cy\"");
        assert_eq!(eval("@.tags[0]"), "\"b\"");
        assert_eq!(eval("tags[1:]"), "[\"a\",\"c\"]");
        assert_eq!(eval("tags[::-1]"), "[\"c\",\"a\",\"b\"]");
        assert_eq!(eval("`{\"k\": [1, true]}`"), "{\"k\":[1,true]}");
        // Not JSON: text, as JMESPath's older literals were (RDI's examples
        // write filter_entries predicates so).
        assert_eq!(eval("`a b`"), "\"a b\"");
        assert_eq!(eval("'raw \\'q\\''"), "\"raw 'q'\"");
        assert_eq!(eval("missing.deeper[0]"), "null");
        assert_eq!(eval("key_part(1)"), "\"7\"");
    }

    #[test]
    fn projections_flatten_and_filters() {
        assert_eq!(eval("people[*].first"), "[\"Ann\",\"Bob\",\"Cy\"]");
        assert_eq!(eval("people[*].age"), "[20,40]", "nulls are dropped");
        assert_eq!(eval("ops.*.n"), "[1,2]");
        assert_eq!(eval("people[*].pets[]"), "[\"cat\",\"dog\",\"eel\"]");
        assert_eq!(eval("nested[]"), "[1,2,3,4]");
        assert_eq!(eval("people[?age > `30`].first"), "[\"Bob\"]");
        assert_eq!(eval("people[?!age].first | [0]"), "\"Cy\"");
        assert_eq!(eval("people[?contains(pets, 'eel')].first"), "[\"Bob\"]");
        assert_eq!(eval("name[*]"), "null", "a projection of a non-array");
        // A missing field is null, not an error, for the functions a filter
        // would use on it.
        assert_eq!(eval("people[?starts_with(first, 'B')].first"), "[\"Bob\"]");
        assert_eq!(eval("length(missing)"), "null");
    }

    #[test]
    fn multi_selects_and_pipes() {
        assert_eq!(eval("[name, age]"), "[\"Ada\",36]");
        assert_eq!(
            eval("{who: name, first_pet: people[0].pets[0]}"),
            "{\"who\":\"Ada\",\"first_pet\":\"cat\"}"
        );
        assert_eq!(
            eval("people[*].{n: first, a: age}"),
            "[{\"n\":\"Ann\",\"a\":20},{\"n\":\"Bob\",\"a\":40},{\"n\":\"Cy\",\"a\":null}]"
        );
        assert_eq!(eval("people[*].first | sort(@) | [-1]"), "\"Cy\"");
        assert_eq!(eval("missing.[a, b]"), "null");
    }

    #[test]
    fn jmespath_functions() {
        let cases = [
            ("length(tags)", "3"),
            ("length(name)", "3"),
            ("length(ops)", "2"),
            ("keys(ops)", "[\"x\",\"y\"]"),
            ("values(props)", "[1,null]"),
            ("join(', ', sort(tags))", "\"a, b, c\""),
            ("contains(name, 'd')", "true"),
            ("starts_with(name, 'Ad')", "true"),
            ("ends_with(name, 'x')", "false"),
            ("to_string(age)", "\"36\""),
            ("to_string(tags)", "\"[\\\"b\\\",\\\"a\\\",\\\"c\\\"]\""),
            ("to_number('12.5')", "12.5"),
            ("to_number('x')", "null"),
            ("abs(`-3`)", "3"),
            ("ceil(`1.2`)", "2"),
            ("floor('1.8')", "1"),
            ("max(prices)", "3.5"),
            ("min(tags)", "\"a\""),
            ("sum(prices)", "7"),
            ("sum(people[*].age)", "60"),
            ("avg(people[*].age)", "30"),
            ("sort(prices)", "[1.5,2,3.5]"),
            ("reverse(tags)", "[\"c\",\"a\",\"b\"]"),
            ("reverse(name)", "\"adA\""),
            ("not_null(missing, props.b, name)", "\"Ada\""),
            ("type(ops)", "\"object\""),
            ("type(age)", "\"number\""),
            ("merge(ops.x, `{\"m\": 2}`)", "{\"n\":1,\"m\":2}"),
            (
                "sort_by(people, &first)[*].first",
                "[\"Ann\",\"Bob\",\"Cy\"]",
            ),
            ("max_by(people[:2], &age).first", "\"Bob\""),
            ("min_by(people[:2], &age).first", "\"Ann\""),
            ("map(&first, people)", "[\"Ann\",\"Bob\",\"Cy\"]"),
            ("to_array(name)", "[\"Ada\"]"),
        ];
        for (text, want) in cases {
            assert_eq!(eval(text), want, "{text}");
        }
    }

    #[test]
    fn bad_arguments_reject_the_record_with_the_function_named() {
        let doc = || ValueData::Json(DOC.into());
        for (text, want) in [
            (
                "length(age)",
                "length: expected a string, an array or an object, got number",
            ),
            ("keys(tags)", "keys: expected an object, got array"),
            ("abs(name)", "abs: expected a number, got string"),
            (
                "sort(people)",
                "sort: expected an array of numbers or strings, got object",
            ),
            (
                "max(`[1, \"a\"]`)",
                "max: expected numbers or strings, not a mix",
            ),
            (
                "join(', ', prices)",
                "join: expected an array of strings, got number",
            ),
            (
                "from_entries(tags)",
                "from_entries: element 0 is not a {key, value} object",
            ),
            (
                "time_delta_days('soon')",
                "time_delta_days: \"soon\" is not a timestamp",
            ),
            (
                "regex_replace(name, join('', ['(']), 'x')",
                "regex_replace: bad regular expression",
            ),
        ] {
            let err = eval_on(text, doc()).unwrap_err();
            assert!(err.starts_with(want), "{text}: {err}");
        }
    }

    #[test]
    fn rdi_functions() {
        let cases = [
            (
                "to_entries(props)",
                "[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":null}]",
            ),
            (
                "from_entries(to_entries(ops))",
                "{\"x\":{\"n\":1},\"y\":{\"n\":2}}",
            ),
            (
                "from_entries(`[{\"key\": \"k\", \"value\": 1}, {\"key\": 2}]`)",
                "{\"k\":1,\"2\":null}",
            ),
            ("filter_entries(props, 'value != null')", "{\"a\":1}"),
            (
                "filter_entries(@, `key == 'name' || key == 'age'`)",
                "{\"name\":\"Ada\",\"age\":36}",
            ),
            (
                "hash(name)",
                "\"ab4ee9b3e5e32a9d2e1e4e3fa8e7d72c6c6e7be8f9d2b3e0d4a1d4ec6a1e1f10\"",
            ),
            (
                "hash('abc', 'SHA1')",
                "\"a9993e364706816aba3e25717850c26c9cd0d89d\"",
            ),
            ("hash('abc', 'md5')", "\"900150983cd24fb0d6963f7d28e17f72\""),
            ("hash(missing)", "null"),
            ("regex_replace('a1b22c333', '[0-9]+', '#')", "\"a#b#c#\""),
            (
                "regex_replace(name, '(?P<first>A)(d)', '${2}$first')",
                "\"dAa\"",
            ),
            ("time_delta_days(missing)", "null"),
        ];
        for (text, want) in cases {
            if text == "hash(name)" {
                // sha256 of "Ada", checked against the digest module.
                let want = format!("\"{}\"", crate::digest::hex(&crate::digest::sha256(b"Ada")));
                assert_eq!(eval(text), want);
                continue;
            }
            assert_eq!(eval(text), want, "{text}");
        }
    }

    #[test]
    fn time_deltas_count_from_now() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let three_days_ago = now - 3 * 86_400 - 60;
        let hash = ValueData::Hash(vec![
            (b"at".to_vec(), three_days_ago.to_string().into_bytes()),
            (b"soon".to_vec(), (now + 90_000).to_string().into_bytes()),
        ]);
        assert_eq!(eval_on("time_delta_days(at)", hash.clone()), Ok("3".into()));
        let seconds: i64 = eval_on("time_delta_seconds(at)", hash.clone())
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (3 * 86_400 + 60..3 * 86_400 + 70).contains(&seconds),
            "{seconds}"
        );
        assert_eq!(eval_on("time_delta_days(soon)", hash), Ok("-2".into()));
        let days: i64 = eval("time_delta_days('2001-01-01T00:00:00Z')")
            .parse()
            .unwrap();
        assert_eq!(days, (now - 978_307_200).div_euclid(86_400));
    }

    #[test]
    fn uuids_are_random_version_4() {
        let a = eval("uuid()");
        let b = eval("uuid()");
        assert_ne!(a, b);
        let a = a.trim_matches('"');
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn the_whole_record_of_a_hash() {
        let hash = ValueData::Hash(vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"x".to_vec()),
        ]);
        assert_eq!(
            eval_on("@", hash.clone()),
            Ok("{\"a\":\"1\",\"b\":\"x\"}".into())
        );
        assert_eq!(eval_on("keys(@)", hash.clone()), Ok("[\"a\",\"b\"]".into()));
        assert_eq!(eval_on("*", hash), Ok("[\"1\",\"x\"]".into()));
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        for (text, want) in [
            (
                "nope(a)",
                "unknown function \"nope\" (known: key_part, lower,",
            ),
            (
                "concat('a'",
                "expected ',' or ')', found end of expression at position 11",
            ),
            ("a b", "unexpected name \"b\" at position 3"),
            (
                "a[x]",
                "expected an index, a slice or '*' after '[', found name \"x\" at position 3",
            ),
            ("{a: 1, a: 2}", "key \"a\" given twice"),
            (
                "a.",
                "expected a name, '[', '{' or '*' after '.', found end of expression",
            ),
            ("[?a", "expected ']' to close the filter"),
            ("&a", "an &expression is only valid as a function argument"),
            ("a[::0]", "a slice step cannot be 0"),
            ("key_part(x)", "key_part needs one segment number"),
            ("", "expected a value at position 1"),
            ("'open", "unterminated 'literal' at position 1"),
        ] {
            let err = Expr::parse(text).unwrap_err();
            assert!(err.starts_with(want), "{text}: {err}");
        }
    }

    #[test]
    fn old_expressions_keep_their_form() {
        for text in [
            "lower(email)",
            "concat([first_name, ' ', last_name])",
            "left(upper(code), 3)",
            "replace(phone, '-', '')",
            "concat('it\\'s ', name)",
            "upper(\"first-name\")",
            "age >= 18 && (tier == 'gold' || !(vip == 'no'))",
            "!active",
            "items[0].id",
            "$.address.city",
        ] {
            let expr = Expr::parse(text).unwrap();
            assert_eq!(expr.to_string(), text);
        }
        assert_eq!(
            Expr::parse("addr.city"),
            Ok(Expr::Field("addr.city".into()))
        );
        assert_eq!(
            Expr::parse("items[0].id"),
            Ok(Expr::Field("items[0].id".into()))
        );
        assert_eq!(
            Expr::parse("tier == `\"gold\"`").unwrap().to_string(),
            "tier == 'gold'"
        );
        assert_eq!(Expr::parse("age > `18`").unwrap().to_string(), "age > 18");
    }

    #[test]
    fn multi_line_text_prints_on_one_line() {
        let expr = Expr::parse("concat('a\nb', `[1,\n 2]`)").unwrap();
        assert_eq!(expr.to_string(), "concat(`\"a\\nb\"`, `[1,2]`)");
        assert_eq!(Expr::parse(&expr.to_string()), Ok(expr));
    }

    #[test]
    fn new_expressions_print_back_to_themselves() {
        for text in [
            "people[*].{n: first, \"a-b\": age}",
            "people[?age > 30 && !vip].first | sort(@)[0]",
            "a[*].b[*].c",
            "(a[*].b)[0]",
            "a[*].b[]",
            "*.n",
            "ops.*.n[-1]",
            "tags[1:3:2]",
            "[?a == `[1,2]`]",
            "a | (b | c)",
            "sort_by(people, &age)",
            "filter_entries(@, &key == 'a')",
            "`true`",
            "@[0]",
            "a[-1].b",
            "`\"two\\nlines\"`",
        ] {
            let expr = Expr::parse(text).unwrap();
            assert_eq!(expr.to_string(), text);
        }
    }
}
