//! `config.yaml`: the target connections by name and the applier's
//! batching and error handling. RDI's spellings are accepted.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::env::EnvString;
use super::error::ConfigError;
use super::job::is_identifier;

/// The whole `config.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Target databases, by the name jobs use in `connection:`.
    #[serde(default)]
    pub connections: BTreeMap<String, Connection>,
    /// How changes are read, batched and retried.
    #[serde(default)]
    pub applier: Applier,
}

/// A target database. Every value may be a `${ENV_VAR}` reference.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    #[serde(rename = "type")]
    pub kind: ConnectionKind,
    #[serde(default)]
    pub host: Option<EnvString>,
    /// A number or a `${ENV_VAR}` reference, hence text.
    #[serde(default)]
    pub port: Option<PortValue>,
    #[serde(default)]
    pub database: Option<EnvString>,
    #[serde(default)]
    pub user: Option<EnvString>,
    #[serde(default)]
    pub password: Option<EnvString>,
    /// The database file, for sqlite.
    #[serde(default)]
    pub path: Option<EnvString>,
    /// The table where the engine keeps each job's last written stream
    /// offset in this database: `table`, or `schema.table` for PostgreSQL.
    /// Default `wb_offsets` (in `public` for PostgreSQL). Offsets are kept
    /// by job name, so two deployments writing into one database with jobs
    /// of the same name need a table each.
    #[serde(default)]
    pub offsets_table: Option<String>,
}

impl Connection {
    /// `offsets_table` split into its schema (if given) and table; `None`
    /// when not set. Validated by [`Settings::parse_all`].
    pub fn offsets_table(&self) -> Option<(Option<&str>, &str)> {
        let name = self.offsets_table.as_deref()?;
        Some(match name.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, name),
        })
    }

    /// Why `offsets_table` is not usable, if it is not.
    fn offsets_table_problem(&self) -> Option<String> {
        let (schema, table) = self.offsets_table()?;
        let parts_ok = schema.is_none_or(is_identifier) && is_identifier(table);
        if !parts_ok {
            return Some(format!(
                "{:?} is not a table name: `table` or `schema.table`, each letters, digits \
                 and underscores, not starting with a digit",
                self.offsets_table.as_deref().unwrap_or_default()
            ));
        }
        match (self.kind, schema) {
            (ConnectionKind::Sqlite, Some(_)) => {
                Some("a sqlite connection takes a table name without a schema".into())
            }
            _ => None,
        }
    }
}

/// A port as written: YAML gives a number, or text with a reference.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PortValue {
    Number(u16),
    Text(EnvString),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ConnectionKind {
    #[serde(rename = "postgresql", alias = "postgres")]
    Postgresql,
    #[serde(rename = "mysql", alias = "mariadb")]
    Mysql,
    #[serde(rename = "sqlite")]
    Sqlite,
}

/// Batching and error handling, with RDI's names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applier {
    /// Stream entries read per round trip.
    #[serde(default = "default_read_batch_size")]
    pub read_batch_size: usize,
    /// Rows per target transaction.
    #[serde(default = "default_write_batch_size")]
    pub write_batch_size: usize,
    /// Longest wait, in milliseconds, before a partial batch is written.
    #[serde(default = "default_duration")]
    pub duration: u64,
    /// Seconds between retries of a batch that failed for a transient reason.
    #[serde(default = "default_retry_interval")]
    pub on_failed_retry_interval: u64,
    /// What happens to a record that cannot be written.
    #[serde(default)]
    pub error_handling: ErrorHandling,
    /// Most entries kept in each job's dead-letter stream.
    #[serde(default = "default_dlq_max_messages")]
    pub dlq_max_messages: usize,
}

fn default_read_batch_size() -> usize {
    2000
}

fn default_write_batch_size() -> usize {
    200
}

fn default_duration() -> u64 {
    100
}

fn default_retry_interval() -> u64 {
    5
}

fn default_dlq_max_messages() -> usize {
    1000
}

impl Default for Applier {
    fn default() -> Self {
        Applier {
            read_batch_size: default_read_batch_size(),
            write_batch_size: default_write_batch_size(),
            duration: default_duration(),
            on_failed_retry_interval: default_retry_interval(),
            error_handling: ErrorHandling::default(),
            dlq_max_messages: default_dlq_max_messages(),
        }
    }
}

/// A bad record goes to the dead-letter stream, or is dropped with a log
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ErrorHandling {
    #[default]
    #[serde(rename = "dlq", alias = "DLQ")]
    Dlq,
    #[serde(rename = "ignore", alias = "IGNORE")]
    Ignore,
}

impl Settings {
    /// Reads and validates `config.yaml`.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        Settings::parse(path, &ConfigError::read(path)?)
    }

    /// Parses and validates config text; `path` names it in errors. The
    /// first problem; [`Settings::parse_all`] gives them all.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
        Settings::parse_all(path, text).map_err(|mut problems| problems.swap_remove(0))
    }

    /// Parses and validates config text, with every problem found after
    /// parsing (the YAML parser itself stops at its first).
    pub fn parse_all(path: &Path, text: &str) -> Result<Settings, Vec<ConfigError>> {
        let settings: Settings = ConfigError::parse_yaml(path, text).map_err(|e| vec![e])?;
        let mut problems = Vec::new();
        for (name, connection) in &settings.connections {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(&format!("{name}:")))
                .map_or(0, |i| i + 1);
            let missing = |what: &str| ConfigError {
                file: path.to_path_buf(),
                line,
                field: Some(format!("connections.{name}.{what}")),
                message: format!("a {:?} connection needs {what}", connection.kind),
            };
            match connection.kind {
                ConnectionKind::Sqlite if connection.path.is_none() => {
                    problems.push(missing("path"))
                }
                ConnectionKind::Postgresql | ConnectionKind::Mysql if connection.host.is_none() => {
                    problems.push(missing("host"))
                }
                _ => {}
            }
            if let Some(message) = connection.offsets_table_problem() {
                problems.push(ConfigError {
                    file: path.to_path_buf(),
                    // The first `offsets_table:` after the connection's name.
                    line: text
                        .lines()
                        .enumerate()
                        .skip(line)
                        .find(|(_, l)| l.trim_start().starts_with("offsets_table:"))
                        .map_or(line, |(i, _)| i + 1),
                    field: Some(format!("connections.{name}.offsets_table")),
                    message,
                });
            }
        }
        let applier = &settings.applier;
        for (field, value) in [
            ("read_batch_size", applier.read_batch_size),
            ("write_batch_size", applier.write_batch_size),
        ] {
            if value == 0 {
                problems.push(ConfigError {
                    file: path.to_path_buf(),
                    line: text
                        .lines()
                        .position(|l| l.contains(field))
                        .map_or(0, |i| i + 1),
                    field: Some(format!("applier.{field}")),
                    message: "must be at least 1".into(),
                });
            }
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
connections:
  target:
    type: postgresql
    host: ${DB_HOST}
    port: 5432
    database: app
    user: wb
    password: ${DB_PASSWORD}
  local:
    type: sqlite
    path: /var/lib/wb/out.db
applier:
  read_batch_size: 500
  error_handling: ignore
"#;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(Path::new("config.yaml"), text)
    }

    #[test]
    fn parses_connections_and_fills_applier_defaults() {
        let settings = parse(CONFIG).unwrap();
        let target = &settings.connections["target"];
        assert_eq!(target.kind, ConnectionKind::Postgresql);
        assert_eq!(target.port, Some(PortValue::Number(5432)));
        assert_eq!(
            target.password.as_ref().map(EnvString::raw),
            Some("${DB_PASSWORD}")
        );
        assert_eq!(settings.connections["local"].kind, ConnectionKind::Sqlite);
        assert_eq!(settings.applier.read_batch_size, 500);
        assert_eq!(settings.applier.write_batch_size, 200);
        assert_eq!(settings.applier.error_handling, ErrorHandling::Ignore);
        let from_env = parse(&CONFIG.replace("port: 5432", "port: ${DB_PORT}")).unwrap();
        assert_eq!(
            from_env.connections["target"].port,
            Some(PortValue::Text(EnvString::new("${DB_PORT}")))
        );
    }

    #[test]
    fn secrets_stay_unresolved_and_out_of_debug_output() {
        let settings = parse(CONFIG).unwrap();
        let debug = format!("{settings:?}");
        assert!(debug.contains("DB_PASSWORD"), "{debug}");
        let inline = parse(&CONFIG.replace("${DB_PASSWORD}", "hunter2")).unwrap();
        assert!(!format!("{inline:?}").contains("hunter2"));
    }

    #[test]
    fn offsets_tables_are_checked_and_split() {
        let pg = CONFIG.replace(
            "    password: ${DB_PASSWORD}\n",
            "    password: ${DB_PASSWORD}\n    offsets_table: ops.wb_offsets_prod\n",
        );
        let settings = parse(&pg).unwrap();
        assert_eq!(
            settings.connections["target"].offsets_table(),
            Some((Some("ops"), "wb_offsets_prod"))
        );
        assert_eq!(settings.connections["local"].offsets_table(), None);
        let lite = CONFIG.replace(
            "    path: /var/lib/wb/out.db\n",
            "    path: /var/lib/wb/out.db\n    offsets_table: my_offsets\n",
        );
        let settings = parse(&lite).unwrap();
        assert_eq!(
            settings.connections["local"].offsets_table(),
            Some((None, "my_offsets"))
        );

        let err = parse(&pg.replace("ops.wb_offsets_prod", "ops.wb-offsets")).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("connections.target.offsets_table")
        );
        assert_eq!(err.line, 10);
        assert!(
            err.message
                .contains("\"ops.wb-offsets\" is not a table name"),
            "{err}"
        );
        let err = parse(&lite.replace("my_offsets", "main.my_offsets")).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("connections.local.offsets_table")
        );
        assert_eq!(err.line, 13);
        assert!(err.message.contains("without a schema"), "{err}");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err =
            parse(&CONFIG.replace("read_batch_size: 500", "read_batch_sise: 500")).unwrap_err();
        assert_eq!(err.line, 14);
        assert!(
            err.message.contains("unknown field `read_batch_sise`"),
            "{err}"
        );
        let err = parse(&CONFIG.replace("    path: /var/lib/wb/out.db\n", "")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("connections.local.path"));
        assert_eq!(err.line, 10);
        let err = parse(&CONFIG.replace("type: sqlite", "type: oracle")).unwrap_err();
        assert!(err.message.contains("unknown variant `oracle`"), "{err}");
        let err = parse(&CONFIG.replace("read_batch_size: 500", "read_batch_size: 0")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("applier.read_batch_size"));
    }

    #[test]
    fn every_problem_after_parsing_is_collected() {
        let text = CONFIG
            .replace("    path: /var/lib/wb/out.db\n", "")
            .replace("    host: ${DB_HOST}\n", "")
            .replace("read_batch_size: 500", "read_batch_size: 0");
        let problems = Settings::parse_all(Path::new("config.yaml"), &text).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_deref()).collect();
        assert_eq!(
            fields,
            vec![
                Some("connections.local.path"),
                Some("connections.target.host"),
                Some("applier.read_batch_size"),
            ]
        );
    }
}
