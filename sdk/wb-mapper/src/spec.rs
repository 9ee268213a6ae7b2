//! The mapper's compiled form of a job's outputs.
//!
//! The engine writes it from the job YAML and passes it as the component's
//! `spec` param; it is plain text so that a bundle's manifest shows exactly
//! what the component will do:
//!
//! ```text
//! rename <from> <to>
//! remove <field>
//! add <field> <expression>
//! filter <expression>
//! map <expression>
//! output <connection> <table> <upsert|append|replace>
//! foreach <alias> <path>
//! key <column> <expression>
//! value <column> <expression>
//! ```
//!
//! Transform steps first, in order; then one `output` line per output,
//! followed by its `foreach` (if any) and columns. Blank lines and lines
//! starting with `#` are ignored.

use std::fmt;

use crate::expr::{Expr, Step};

/// How rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStrategy {
    /// Insert or update by key; a deleted Redis key deletes its row.
    Upsert,
    /// Insert only; deletes are not propagated.
    Append,
    /// The key's row is replaced as a whole: a delete by the key columns,
    /// then an insert, so columns the mapping does not fill go back to
    /// their defaults. A deleted Redis key deletes its row.
    Replace,
}

impl LoadStrategy {
    pub fn name(self) -> &'static str {
        match self {
            LoadStrategy::Upsert => "upsert",
            LoadStrategy::Append => "append",
            LoadStrategy::Replace => "replace",
        }
    }

    /// Whether a gone Redis key deletes the rows it wrote.
    pub fn deletes(self) -> bool {
        self != LoadStrategy::Append
    }
}

/// A column and the expression that fills it.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub expr: Expr,
}

/// `foreach <alias> <path>`: one row per element of the JSON array at
/// `path`, which expressions name `alias`.
#[derive(Clone, Debug, PartialEq)]
pub struct Foreach {
    pub alias: String,
    pub path: String,
}

/// One output: a table and how its rows are built.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub connection: String,
    pub table: String,
    pub strategy: LoadStrategy,
    /// Child rows from a JSON array, replaced as a whole.
    pub foreach: Option<Foreach>,
    pub keys: Vec<Column>,
    pub values: Vec<Column>,
}

/// All of a job's declarative part: the transform steps, then the outputs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Spec {
    /// Applied to the record in order, before any output reads it.
    pub steps: Vec<Step>,
    pub outputs: Vec<Output>,
}

/// A spec line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mapper spec line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SpecError {}

impl Spec {
    /// Reads a spec.
    pub fn parse(text: &str) -> Result<Spec, SpecError> {
        let mut spec = Spec::default();
        for (index, line) in text.lines().enumerate() {
            let fail = |message: String| SpecError {
                line: index + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            match word {
                "output" => {
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let [connection, table, strategy] = parts[..] else {
                        return Err(fail(
                            "expected: output <connection> <table> <strategy>".into(),
                        ));
                    };
                    let strategy = match strategy {
                        "upsert" => LoadStrategy::Upsert,
                        "append" => LoadStrategy::Append,
                        "replace" => LoadStrategy::Replace,
                        other => {
                            return Err(fail(format!(
                                "load strategy {other:?} is not supported (upsert, append, replace)"
                            )))
                        }
                    };
                    spec.outputs.push(Output {
                        connection: connection.to_string(),
                        table: table.to_string(),
                        strategy,
                        foreach: None,
                        keys: Vec::new(),
                        values: Vec::new(),
                    });
                }
                "foreach" => {
                    let output = spec
                        .outputs
                        .last_mut()
                        .ok_or_else(|| fail("foreach before any output".into()))?;
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let [alias, path] = parts[..] else {
                        return Err(fail("expected: foreach <alias> <path>".into()));
                    };
                    output.foreach = Some(Foreach {
                        alias: alias.to_string(),
                        path: path.to_string(),
                    });
                }
                "key" | "value" => {
                    let output = spec
                        .outputs
                        .last_mut()
                        .ok_or_else(|| fail(format!("{word} before any output")))?;
                    let (name, expr) = rest
                        .trim()
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| fail(format!("expected: {word} <column> <expression>")))?;
                    let column = Column {
                        name: name.to_string(),
                        expr: Expr::parse(expr).map_err(fail)?,
                    };
                    if word == "key" {
                        output.keys.push(column);
                    } else {
                        output.values.push(column);
                    }
                }
                "rename" | "remove" | "add" | "filter" | "map" if !spec.outputs.is_empty() => {
                    return Err(fail(format!("{word} after an output: steps come first")));
                }
                "rename" => {
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let [from, to] = parts[..] else {
                        return Err(fail("expected: rename <from> <to>".into()));
                    };
                    spec.steps.push(Step::Rename {
                        from: from.to_string(),
                        to: to.to_string(),
                    });
                }
                "remove" => {
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    let [field] = parts[..] else {
                        return Err(fail("expected: remove <field>".into()));
                    };
                    spec.steps.push(Step::Remove {
                        field: field.to_string(),
                    });
                }
                "filter" => {
                    spec.steps.push(Step::Filter {
                        expr: Expr::parse(rest).map_err(fail)?,
                    });
                }
                "map" => {
                    spec.steps.push(Step::Map {
                        expr: Expr::parse(rest).map_err(fail)?,
                    });
                }
                "add" => {
                    let (field, expr) = rest
                        .trim()
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| fail("expected: add <field> <expression>".into()))?;
                    spec.steps.push(Step::Add {
                        field: field.to_string(),
                        expr: Expr::parse(expr).map_err(fail)?,
                    });
                }
                other => return Err(fail(format!("unknown directive {other:?}"))),
            }
        }
        if let Some(output) = spec
            .outputs
            .iter()
            .find(|o| o.strategy != LoadStrategy::Append && o.keys.is_empty())
        {
            return Err(SpecError {
                line: 0,
                message: format!(
                    "output {} has no keys, which {} needs",
                    output.table,
                    output.strategy.name()
                ),
            });
        }
        Ok(spec)
    }
}

impl fmt::Display for Spec {
    /// Writes the spec back in the form [`Spec::parse`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            match step {
                Step::Rename { from, to } => writeln!(f, "rename {from} {to}")?,
                Step::Remove { field } => writeln!(f, "remove {field}")?,
                Step::Add { field, expr } => writeln!(f, "add {field} {expr}")?,
                Step::Filter { expr } => writeln!(f, "filter {expr}")?,
                Step::Map { expr } => writeln!(f, "map {expr}")?,
            }
        }
        for output in &self.outputs {
            let strategy = output.strategy.name();
            writeln!(
                f,
                "output {} {} {strategy}",
                output.connection, output.table
            )?;
            if let Some(foreach) = &output.foreach {
                writeln!(f, "foreach {} {}", foreach.alias, foreach.path)?;
            }
            for (word, columns) in [("key", &output.keys), ("value", &output.values)] {
                for column in columns {
                    writeln!(f, "{word} {} {}", column.name, column.expr)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "
        # users from user:<id> hashes
        rename fname first_name
        remove password
        add full_name concat([first_name, ' ', last_name])
        map {first_name: first_name, city: address.city, tags: tags[?@ != 'x'] | sort(@)}
        output target public.users replace
        key user_id key_part(1)
        value first_name fname
        value city address.city
        output target audit append
        value user_id key_part(1)
        output target user_addresses upsert
        foreach addr addresses
        key user_id key_part(1)
        value city addr.city
    ";

    #[test]
    fn parses_and_prints_back() {
        let spec = Spec::parse(TEXT).unwrap();
        assert_eq!(spec.steps.len(), 4);
        assert!(matches!(spec.steps[3], Step::Map { .. }));
        assert_eq!(spec.outputs[0].strategy, LoadStrategy::Replace);
        assert_eq!(spec.outputs.len(), 3);
        assert_eq!(
            spec.outputs[2].foreach.as_ref().map(|f| f.alias.as_str()),
            Some("addr")
        );
        assert_eq!(spec.outputs[0].table, "public.users");
        assert_eq!(spec.outputs[0].keys[0].expr, Expr::KeyPart(1));
        assert_eq!(
            spec.outputs[0].values[1].expr,
            Expr::Field("address.city".into())
        );
        assert_eq!(spec.outputs[1].strategy, LoadStrategy::Append);
        assert_eq!(Spec::parse(&spec.to_string()).unwrap(), spec);
    }

    #[test]
    fn errors_name_the_line() {
        let err =
            Spec::parse("output t users upsert\nkey id key_part(1)\nvalue x uuid(y)").unwrap_err();
        assert!(
            err.message.contains("uuid does not take 1 arguments"),
            "{err}"
        );
        assert_eq!(err.line, 3);
        let err = Spec::parse("output t u append\nvalue a b\nremove c").unwrap_err();
        assert_eq!(err.message, "remove after an output: steps come first");
        let err = Spec::parse("key id key_part(1)").unwrap_err();
        assert_eq!(err.message, "key before any output");
        let err = Spec::parse("output t users merge").unwrap_err();
        assert!(err.message.contains("(upsert, append, replace)"), "{err}");
        let err = Spec::parse("output t users upsert\nvalue a b").unwrap_err();
        assert!(err.message.contains("no keys, which upsert needs"), "{err}");
        let err = Spec::parse("output t users replace\nvalue a b").unwrap_err();
        assert!(
            err.message.contains("no keys, which replace needs"),
            "{err}"
        );
        let err = Spec::parse("map {a: }\noutput t u append\nvalue a a").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            err.message.contains("unexpected '}' at position 5"),
            "{err}"
        );
    }
}
