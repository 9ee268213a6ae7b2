//! One job file: where changes come from, how they are transformed and
//! which tables they land in. The shape follows RDI write-behind job files
//! so existing files keep working.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wb_mapper::{
    Column as SpecColumn, Expr, Foreach, LoadStrategy as SpecStrategy, Output as SpecOutput, Spec,
    Step,
};

use super::error::ConfigError;

/// A parsed job file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Which Redis keys feed the job.
    pub source: Source,
    /// Steps applied to each change before the outputs, in order.
    #[serde(default)]
    pub transform: Vec<TransformStep>,
    /// Where rows go. A job whose `wasm` step produces the row operations
    /// itself has none.
    #[serde(default)]
    pub output: Vec<Output>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub redis: RedisSource,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSource {
    /// Redis glob of the keys the job tracks (`user:*`).
    pub key_pattern: String,
    /// Commands whose events are ignored (`hdel`, say).
    #[serde(default)]
    pub exclude_commands: Vec<String>,
}

/// A transform step: `uses` names the block, `with` holds its arguments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "uses", content = "with", deny_unknown_fields)]
pub enum TransformStep {
    /// A custom component that produces the rows itself.
    #[serde(rename = "wasm")]
    Wasm(WasmStep),
    /// Renames fields: `{from_field, to_field}` or `{fields: [...]}`.
    #[serde(rename = "rename_field")]
    RenameField(OneOrMany<RenameField>),
    /// Drops fields: `{field}` or `{fields: [...]}`.
    #[serde(rename = "remove_field")]
    RemoveField(OneOrMany<RemoveField>),
    /// Adds computed fields: `{field, expression, language}` or
    /// `{fields: [...]}`.
    #[serde(rename = "add_field")]
    AddField(OneOrMany<AddField>),
    /// Skips records for which `expression` is false (deletes always pass).
    #[serde(rename = "filter")]
    Filter(FilterBlock),
    /// Replaces the record with the result of `expression`, usually a
    /// JMESPath multi-select hash (`{id: id, name: upper(name)}`): its
    /// entries are the record's fields from then on.
    #[serde(rename = "map")]
    Map(FilterBlock),
}

/// The arguments of `filter` and `map`: one expression.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterBlock {
    pub expression: String,
    /// Only `jmespath` (the default) is understood.
    #[serde(default)]
    pub language: Option<String>,
}

/// A block's arguments given once, or as a list under `fields`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    Many { fields: Vec<T> },
    One(T),
}

impl<T> OneOrMany<T> {
    fn items(&self) -> Vec<&T> {
        match self {
            OneOrMany::Many { fields } => fields.iter().collect(),
            OneOrMany::One(item) => vec![item],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameField {
    pub from_field: String,
    pub to_field: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveField {
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddField {
    pub field: String,
    pub expression: String,
    /// Only `jmespath` (the default) is understood.
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmStep {
    /// Path of the component, relative to the job file.
    pub component: PathBuf,
    /// Passed to the component's `init`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The tables the component writes to, declared so they can be checked
    /// against config.yaml and listed in the bundle's manifest (optional).
    #[serde(default)]
    pub outputs: Vec<WasmOutput>,
}

/// A table a `wasm` step writes to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmOutput {
    /// A connection named in config.yaml.
    pub connection: String,
    #[serde(default)]
    pub schema: Option<String>,
    pub table: String,
}

/// An output block.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "uses", content = "with", deny_unknown_fields)]
pub enum Output {
    /// Rows in a relational table (`relational.write` in RDI's spelling).
    #[serde(rename = "relational.write", alias = "relational_write")]
    RelationalWrite(RelationalWrite),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationalWrite {
    /// A connection named in config.yaml.
    pub connection: String,
    /// Schema of the table, if not the connection's default.
    #[serde(default)]
    pub schema: Option<String>,
    pub table: String,
    /// Columns that identify a row (required for upserts).
    #[serde(default)]
    pub keys: Vec<ColumnSpec>,
    /// The other columns; there is no default mapping.
    pub mapping: Vec<ColumnSpec>,
    #[serde(default)]
    pub load_strategy: LoadStrategy,
    /// Normalisation of a JSON array into child rows: `"alias: path[]"`;
    /// expressions read an element as `alias.field`.
    #[serde(default)]
    pub foreach: Option<String>,
}

/// How rows are written. RDI's capitalised spellings are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum LoadStrategy {
    #[default]
    #[serde(rename = "upsert", alias = "UPSERT", alias = "Upsert")]
    Upsert,
    #[serde(rename = "append", alias = "APPEND", alias = "Append")]
    Append,
    #[serde(rename = "replace", alias = "REPLACE", alias = "Replace")]
    Replace,
}

/// `column` (filled from the field of the same name) or `{column: expression}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ColumnSpec {
    Field(String),
    Mapped(BTreeMap<String, String>),
}

impl Job {
    /// Reads and validates a job file.
    pub fn load(path: &Path) -> Result<Job, ConfigError> {
        Job::parse(path, &ConfigError::read(path)?)
    }

    /// Parses and validates job text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Job, ConfigError> {
        let job: Job = ConfigError::parse_yaml(path, text)?;
        job.to_mapper_spec(path, text)?;
        Ok(job)
    }

    /// Compiles the outputs into the stock mapper's spec. Errors point at
    /// the line where the offending value is written.
    pub fn to_mapper_spec(&self, path: &Path, text: &str) -> Result<Spec, ConfigError> {
        let fail = |field: String, needle: &str, message: String| ConfigError {
            file: path.to_path_buf(),
            line: line_of(text, needle),
            field: Some(field),
            message,
        };
        self.check_wasm_steps(path, text)?;
        let mut spec = Spec::default();
        for (i, step) in self.transform.iter().enumerate() {
            let at = |name: &str| format!("transform[{i}].with.{name}");
            match step {
                TransformStep::Wasm(_) => {}
                TransformStep::RenameField(renames) => {
                    for rename in renames.items() {
                        spec.steps.push(Step::Rename {
                            from: rename.from_field.clone(),
                            to: rename.to_field.clone(),
                        });
                    }
                }
                TransformStep::RemoveField(removes) => {
                    for remove in removes.items() {
                        spec.steps.push(Step::Remove {
                            field: remove.field.clone(),
                        });
                    }
                }
                TransformStep::Filter(filter) => {
                    check_language(filter.language.as_deref())
                        .map_err(|(language, message)| fail(at("language"), language, message))?;
                    let expr = Expr::parse(&filter.expression)
                        .map_err(|message| fail(at("expression"), &filter.expression, message))?;
                    spec.steps.push(Step::Filter { expr });
                }
                TransformStep::Map(map) => {
                    check_language(map.language.as_deref())
                        .map_err(|(language, message)| fail(at("language"), language, message))?;
                    let expr = Expr::parse(&map.expression)
                        .map_err(|message| fail(at("expression"), &map.expression, message))?;
                    spec.steps.push(Step::Map { expr });
                }
                TransformStep::AddField(adds) => {
                    for add in adds.items() {
                        check_language(add.language.as_deref()).map_err(
                            |(language, message)| fail(at("language"), language, message),
                        )?;
                        let expr = Expr::parse(&add.expression)
                            .map_err(|message| fail(at("expression"), &add.expression, message))?;
                        spec.steps.push(Step::Add {
                            field: add.field.clone(),
                            expr,
                        });
                    }
                }
            }
        }
        for (i, Output::RelationalWrite(out)) in self.output.iter().enumerate() {
            let at = |name: &str| format!("output[{i}].with.{name}");
            let foreach = match &out.foreach {
                None => None,
                Some(text) => Some(parse_foreach(text).ok_or_else(|| {
                    fail(
                        at("foreach"),
                        text,
                        format!("{text:?} is not of the form \"alias: path[]\""),
                    )
                })?),
            };
            let strategy = match out.load_strategy {
                LoadStrategy::Upsert => SpecStrategy::Upsert,
                LoadStrategy::Append => SpecStrategy::Append,
                LoadStrategy::Replace => SpecStrategy::Replace,
            };
            if strategy != SpecStrategy::Append && out.keys.is_empty() {
                return Err(fail(
                    at("keys"),
                    &out.table,
                    format!(
                        "load_strategy {} needs keys (or use load_strategy: append)",
                        strategy.name()
                    ),
                ));
            }
            let columns = |specs: &[ColumnSpec],
                           name: &str|
             -> Result<Vec<SpecColumn>, ConfigError> {
                specs
                    .iter()
                    .map(|column| {
                        let (column_name, expr) = match column {
                            ColumnSpec::Field(field) => (field.clone(), field.clone()),
                            ColumnSpec::Mapped(map) => {
                                let mut entries = map.iter();
                                match (entries.next(), entries.next()) {
                                    (Some((c, e)), None) => (c.clone(), e.clone()),
                                    _ => {
                                        let first = map.keys().next().map_or("", String::as_str);
                                        return Err(fail(
                                            at(name),
                                            first,
                                            "each entry maps one column: {column: expression}"
                                                .into(),
                                        ));
                                    }
                                }
                            }
                        };
                        if !is_identifier(&column_name) {
                            return Err(fail(
                                at(name),
                                &column_name,
                                format!("{column_name:?} is not a valid column name"),
                            ));
                        }
                        let expr =
                            Expr::parse(&expr).map_err(|message| fail(at(name), &expr, message))?;
                        Ok(SpecColumn {
                            name: column_name,
                            expr,
                        })
                    })
                    .collect()
            };
            let table = match &out.schema {
                Some(schema) => format!("{schema}.{}", out.table),
                None => out.table.clone(),
            };
            for (what, value) in [("connection", &out.connection), ("table", &table)] {
                if value.is_empty() || value.chars().any(char::is_whitespace) {
                    return Err(fail(
                        at(what),
                        what,
                        format!("{value:?} is not a valid {what}"),
                    ));
                }
            }
            spec.outputs.push(SpecOutput {
                connection: out.connection.clone(),
                table,
                strategy,
                foreach,
                keys: columns(&out.keys, "keys")?,
                values: columns(&out.mapping, "mapping")?,
            });
        }
        Ok(spec)
    }
}

impl Job {
    /// True when the job's rows come from its own component: no `output:`,
    /// and a single `wasm` step (world `transform`). Otherwise every `wasm`
    /// step is a step (world `step`) ahead of the stock mapper.
    pub fn is_custom(&self) -> bool {
        self.output.is_empty() && matches!(self.transform.as_slice(), [TransformStep::Wasm(_)])
    }

    /// The `wasm` steps of a job with `output:` run before the mapping, so
    /// they must come before the declarative blocks; a job without
    /// `output:` has exactly one `wasm` step, which makes the rows.
    fn check_wasm_steps(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let wasm: Vec<usize> = (0..self.transform.len())
            .filter(|&i| matches!(self.transform[i], TransformStep::Wasm(_)))
            .collect();
        // The n-th wasm step is on the n-th line that says so.
        let fail = |n: usize, field: String, message: String| ConfigError {
            file: path.to_path_buf(),
            line: nth_line_of(text, "uses: wasm", n),
            field: Some(field),
            message,
        };
        if self.output.is_empty() {
            return match (wasm.len(), self.transform.len()) {
                (0, _) => Err(ConfigError {
                    file: path.to_path_buf(),
                    line: line_of(text, "source"),
                    field: Some("output".into()),
                    message: "a job needs an output, or a wasm step that produces rows".into(),
                }),
                (1, 1) => Ok(()),
                _ => Err(fail(
                    wasm.len().min(2) - 1,
                    "transform".into(),
                    "a job without output: has one wasm step, its only step, which produces \
                     the rows; wasm steps that reshape records before other blocks need \
                     output: blocks"
                        .into(),
                )),
            };
        }
        let first_block = (0..self.transform.len())
            .find(|&i| !matches!(self.transform[i], TransformStep::Wasm(_)));
        for (n, &i) in wasm.iter().enumerate() {
            let TransformStep::Wasm(step) = &self.transform[i] else {
                continue;
            };
            if let Some(block) = first_block.filter(|&b| b < i) {
                return Err(fail(
                    n,
                    format!("transform[{i}]"),
                    format!(
                        "a wasm step runs before the mapping, so it must come before \
                         the declarative blocks: move it above transform[{block}]"
                    ),
                ));
            }
            if !step.outputs.is_empty() {
                return Err(fail(
                    n,
                    format!("transform[{i}].with.outputs"),
                    "outputs: belongs to a wasm step that produces the rows itself; \
                     this job's rows come from its output: blocks"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// Expressions are JMESPath-like; other languages (RDI offered SQL) are
/// refused with the language named.
fn check_language(language: Option<&str>) -> Result<(), (&str, String)> {
    match language {
        Some(language) if !language.eq_ignore_ascii_case("jmespath") => Err((
            language,
            format!("language {language:?} is not supported (jmespath)"),
        )),
        _ => Ok(()),
    }
}

/// `"addr: addresses[]"` -> alias `addr`, path `addresses`.
fn parse_foreach(text: &str) -> Option<Foreach> {
    let (alias, path) = text.split_once(':')?;
    let (alias, path) = (alias.trim(), path.trim().strip_suffix("[]")?.trim());
    (is_identifier(alias) && !path.is_empty() && !path.contains(char::is_whitespace)).then(|| {
        Foreach {
            alias: alias.to_string(),
            path: path.to_string(),
        }
    })
}

/// Column names are letters, digits and underscores, not starting with a
/// digit: anything else would need quoting in every target.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The line of the `n`-th (0-based) line that mentions `needle`, or of
/// the first one when there are fewer.
pub(crate) fn nth_line_of(text: &str, needle: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .nth(n)
        .map_or_else(|| line_of(text, needle), |(i, _)| i + 1)
}

/// The first line that mentions `needle`: serde does not keep positions of
/// values, so validation errors after parsing are located by their text.
fn line_of(text: &str, needle: &str) -> usize {
    // A multi-line value (a `|` block) is found by its first line.
    let needle = needle
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or(needle);
    if needle.is_empty() {
        return 0;
    }
    text.lines()
        .position(|line| line.contains(needle))
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = r#"
source:
  redis:
    key_pattern: "user:*"
    exclude_commands: [hdel]
output:
  - uses: relational.write
    with:
      connection: target
      schema: public
      table: users
      keys: [{user_id: "key_part(1)"}]
      mapping: [first_name, last_name, {city: address.city}, {email: "lower(email)"}]
      load_strategy: UPSERT
  - uses: relational.write
    with:
      connection: target
      table: logins
      mapping: [{user_id: "key_part(1)"}, last_login]
      load_strategy: append
"#;

    fn parse(text: &str) -> Result<Job, ConfigError> {
        Job::parse(Path::new("jobs/users.yaml"), text)
    }

    #[test]
    fn parses_an_rdi_shaped_job_and_compiles_its_outputs() {
        let job = parse(JOB).unwrap();
        assert_eq!(job.source.redis.key_pattern, "user:*");
        assert_eq!(job.source.redis.exclude_commands, vec!["hdel"]);
        assert!(job.transform.is_empty());
        let spec = job
            .to_mapper_spec(Path::new("jobs/users.yaml"), JOB)
            .unwrap();
        assert_eq!(
            spec.to_string(),
            "output target public.users upsert\n\
             key user_id key_part(1)\n\
             value first_name first_name\n\
             value last_name last_name\n\
             value city address.city\n\
             value email lower(email)\n\
             output target logins append\n\
             value user_id key_part(1)\n\
             value last_login last_login\n"
        );
    }

    #[test]
    fn unknown_fields_are_errors_with_file_and_line() {
        let text = JOB.replace("key_pattern", "key_patern");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.file, Path::new("jobs/users.yaml"));
        assert_eq!(err.line, 4);
        assert!(err.message.contains("unknown field `key_patern`"), "{err}");
        assert!(
            err.message.ends_with("(did you mean `key_pattern`?)"),
            "{err}"
        );
    }

    #[test]
    fn bad_expressions_point_at_their_line() {
        let text = JOB.replace("{city: address.city}", "{city: \"uuid(city)\"}");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, 13);
        assert_eq!(err.field.as_deref(), Some("output[0].with.mapping"));
        assert!(
            err.message.contains("uuid does not take 1 arguments"),
            "{err}"
        );
        let text = JOB.replace("{city: address.city}", "{city: \"addresses[?city == 'x'\"}");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, 13);
        assert!(
            err.message.contains("expected ']' to close the filter"),
            "{err}"
        );
        let text = JOB.replace("{city: address.city}", "{city: \"hash(city, 'sha512')\"}");
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("unknown hash algorithm"), "{err}");
    }

    #[test]
    fn a_map_block_and_the_replace_strategy_compile() {
        let text = JOB
            .replace(
                "output:",
                "transform:\n\
                 \x20 - uses: map\n\
                 \x20   with:\n\
                 \x20     expression: |\n\
                 \x20       {\n\
                 \x20         first_name: fname,\n\
                 \x20         tags: tags[?@ != 'x'] | sort(@)\n\
                 \x20       }\n\
                 \x20     language: jmespath\n\
                 output:",
            )
            .replace("load_strategy: UPSERT", "load_strategy: REPLACE");
        let job = parse(&text).unwrap();
        let spec = job.to_mapper_spec(Path::new("j.yaml"), &text).unwrap();
        let printed = spec.to_string();
        assert_eq!(
            printed.lines().take(2).collect::<Vec<_>>(),
            vec![
                "map {first_name: fname, tags: tags[?@ != 'x'] | sort(@)}",
                "output target public.users replace",
            ]
        );
        assert_eq!(Spec::parse(&printed).unwrap(), spec);
        let bad = text.replace("first_name: fname,", "first_name: ,");
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("transform[0].with.expression"));
        assert!(err.message.contains("unexpected ','"), "{err}");
        assert!(err.line > 5, "{err}");
        let err =
            parse(&text.replace("      keys: [{user_id: \"key_part(1)\"}]\n", "")).unwrap_err();
        assert!(
            err.message.contains("load_strategy replace needs keys"),
            "{err}"
        );
    }

    #[test]
    fn transform_blocks_compile_into_steps() {
        let text = JOB.replace(
            "output:",
            "transform:\n\
             \x20 - uses: rename_field\n\
             \x20   with: {from_field: fname, to_field: first_name}\n\
             \x20 - uses: remove_field\n\
             \x20   with: {fields: [{field: password}, {field: pin}]}\n\
             \x20 - uses: add_field\n\
             \x20   with: {field: full_name, expression: \"concat([first_name, ' ', last_name])\", language: jmespath}\n\
             \x20 - uses: filter\n\
             \x20   with: {expression: \"age > `18`\", language: jmespath}\n\
             output:",
        );
        let job = parse(&text).unwrap();
        let spec = job.to_mapper_spec(Path::new("j.yaml"), &text).unwrap();
        assert_eq!(
            spec.to_string().lines().take(5).collect::<Vec<_>>(),
            vec![
                "rename fname first_name",
                "remove password",
                "remove pin",
                "add full_name concat([first_name, ' ', last_name])",
                "filter age > 18",
            ]
        );
        let bad = text.replace("language: jmespath", "language: sql");
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("transform[2].with.language"));
    }

    #[test]
    fn upserts_need_keys() {
        let text = JOB.replace("      keys: [{user_id: \"key_part(1)\"}]\n", "");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("output[0].with.keys"));
        assert!(err.to_string().starts_with("jobs/users.yaml:"), "{err}");
    }

    #[test]
    fn foreach_compiles_and_bad_foreach_is_refused() {
        let text = JOB.replace(
            "      table: logins\n",
            "      table: logins\n      foreach: \"login: logins[]\"\n",
        );
        let job = parse(&text).unwrap();
        let spec = job.to_mapper_spec(Path::new("j.yaml"), &text).unwrap();
        let foreach = spec.outputs[1].foreach.as_ref().unwrap();
        assert_eq!(
            (foreach.alias.as_str(), foreach.path.as_str()),
            ("login", "logins")
        );
        let text = JOB.replace(
            "      table: logins\n",
            "      table: logins\n      foreach: \"addrs\"\n",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("output[1].with.foreach"));
        assert_eq!(err.line, 19);
    }

    #[test]
    fn the_mask_pii_example_job_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jobs/mask-pii/job.yaml");
        let job = Job::load(&path).unwrap();
        assert_eq!(job.source.redis.key_pattern, "customer:*");
        assert!(job.output.is_empty());
        let TransformStep::Wasm(step) = &job.transform[0] else {
            panic!("expected a wasm step, got {:?}", job.transform[0]);
        };
        assert_eq!(step.params["mask"], "email, phone");
        assert!(step.component.ends_with("wb_job_mask_pii.wasm"));
    }

    #[test]
    fn a_job_needs_outputs_or_a_component() {
        let text = "source: {redis: {key_pattern: \"a:*\"}}\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("output"));
        assert_eq!(err.line, 1);
        let mixed = "source: {redis: {key_pattern: \"a:*\"}}\ntransform:\n  - uses: remove_field\n    with: {field: pin}\n  - uses: wasm\n    with: {component: ./x.wasm, outputs: [{connection: t, table: a}]}\n";
        let err = parse(mixed).unwrap_err();
        assert_eq!((err.line, err.field.as_deref()), (5, Some("transform")));
        assert!(err.message.contains("only step"), "{err}");
        let two = "source: {redis: {key_pattern: \"a:*\"}}\ntransform:\n  - uses: wasm\n    with: {component: ./x.wasm}\n  - uses: wasm\n    with: {component: ./y.wasm}\n";
        let err = parse(two).unwrap_err();
        assert_eq!((err.line, err.field.as_deref()), (5, Some("transform")));
        assert!(err.message.contains("need output: blocks"), "{err}");
    }

    #[test]
    fn wasm_steps_may_come_before_declarative_blocks_and_outputs() {
        let text = JOB.replace(
            "output:",
            "transform:\n  - uses: wasm\n    with: {component: ./a.wasm}\n  - uses: wasm\n    with: {component: ./b.wasm, params: {x: y}}\n  - uses: remove_field\n    with: {field: pin}\noutput:",
        );
        let job = parse(&text).unwrap();
        assert!(!job.is_custom());
        let spec = job.to_mapper_spec(Path::new("j.yaml"), &text).unwrap();
        // The wasm steps are not the mapper's business.
        assert!(
            spec.to_string().starts_with("remove pin\noutput "),
            "{spec}"
        );
        let mask =
            Job::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../jobs/mask-pii/job.yaml"))
                .unwrap();
        assert!(mask.is_custom());
    }

    #[test]
    fn a_wasm_step_after_a_block_or_with_outputs_is_refused_at_its_line() {
        let late = JOB.replace(
            "output:",
            "transform:\n  - uses: wasm\n    with: {component: ./a.wasm}\n  - uses: remove_field\n    with: {field: pin}\n  - uses: wasm\n    with: {component: ./b.wasm}\noutput:",
        );
        let err = parse(&late).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("transform[2]"));
        assert_eq!(err.line, 11, "{err}");
        assert!(err.message.contains("move it above transform[1]"), "{err}");
        assert!(err.to_string().starts_with("jobs/users.yaml:11: "), "{err}");
        let outputs = JOB.replace(
            "output:",
            "transform:\n  - uses: wasm\n    with:\n      component: ./a.wasm\n      outputs: [{connection: target, table: users}]\noutput:",
        );
        let err = parse(&outputs).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("transform[0].with.outputs"));
        assert_eq!(err.line, 7, "{err}");
    }

    #[test]
    fn unknown_blocks_and_bad_column_names_are_refused() {
        let text = JOB.replace(
            "output:",
            "transform:\n  - uses: wasmm\n    with: {}\noutput:",
        );
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("unknown variant `wasmm`"), "{err}");
        let err = parse(&JOB.replace("[first_name,", "[\"first name\",")).unwrap_err();
        assert!(err.message.contains("not a valid column name"), "{err}");
    }
}
