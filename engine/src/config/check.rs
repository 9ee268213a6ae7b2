//! Checks that need both files: a job against config.yaml.

use std::path::Path;

use super::error::ConfigError;
use super::job::{Job, Output, TransformStep};
use super::settings::Settings;
use super::suggest::closest;

/// One error for every connection `job` writes to that config.yaml does not
/// define, naming the job file, the line, the field and the known
/// connections (with a hint when one is close).
pub fn unknown_connections(
    file: &Path,
    text: &str,
    job: &Job,
    settings: &Settings,
) -> Vec<ConfigError> {
    let mut used: Vec<(String, &str)> = Vec::new();
    for (i, step) in job.transform.iter().enumerate() {
        if let TransformStep::Wasm(step) = step {
            for (j, output) in step.outputs.iter().enumerate() {
                used.push((
                    format!("transform[{i}].with.outputs[{j}].connection"),
                    &output.connection,
                ));
            }
        }
    }
    for (i, Output::RelationalWrite(write)) in job.output.iter().enumerate() {
        used.push((format!("output[{i}].with.connection"), &write.connection));
    }
    let known: Vec<&str> = settings.connections.keys().map(String::as_str).collect();
    let mut seen: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    for (field, name) in used {
        // The n-th use of a name is located on the n-th line naming it.
        let nth = seen.iter().filter(|s| **s == name).count();
        seen.push(name);
        if settings.connections.contains_key(name) {
            continue;
        }
        let known_list = if known.is_empty() {
            "none defined".to_string()
        } else {
            format!("known: {}", known.join(", "))
        };
        let hint = closest(name, known.iter().copied())
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        errors.push(ConfigError {
            file: file.to_path_buf(),
            line: connection_line(text, name, nth),
            field: Some(field),
            message: format!("connection '{name}' is not in config.yaml ({known_list}){hint}"),
        });
    }
    errors
}

/// The 1-based line of the `nth` (0-based) `connection` entry naming
/// `name`, comments aside; 0 when not found.
fn connection_line(text: &str, name: &str, nth: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.split(" #").next().unwrap_or_default();
            line.split([',', '{', '}'])
                .filter_map(|part| part.trim().trim_start_matches("- ").split_once(':'))
                .any(|(k, v)| {
                    k.trim() == "connection" && v.trim().trim_matches(['"', '\'']) == name
                })
        })
        .nth(nth)
        .map_or(0, |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "connections:\n  target:\n    type: sqlite\n    path: x.db\n  archive:\n    type: sqlite\n    path: y.db\n";

    const JOB: &str = r#"# writes to the target
source:
  redis: {key_pattern: "user:*"}
output:
  - uses: relational.write
    with:
      connection: targte
      table: users
      keys: [id]
      mapping: [name]
  - uses: relational.write
    with: {connection: target, table: logins, mapping: [id], load_strategy: append}
  - uses: relational.write
    with:
      connection: "elsewhere"
      table: audit
      mapping: [id]
      load_strategy: append
"#;

    #[test]
    fn every_unknown_connection_is_reported_with_its_line() {
        let settings = Settings::parse(Path::new("config.yaml"), CONFIG).unwrap();
        let job = Job::parse(Path::new("jobs/users.yaml"), JOB).unwrap();
        let errors = unknown_connections(Path::new("jobs/users.yaml"), JOB, &job, &settings);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "jobs/users.yaml:7: output[0].with.connection: connection 'targte' is not in config.yaml (known: archive, target) (did you mean `target`?)",
                "jobs/users.yaml:15: output[2].with.connection: connection 'elsewhere' is not in config.yaml (known: archive, target)",
            ]
        );
    }

    #[test]
    fn wasm_outputs_are_checked_too() {
        let settings = Settings::parse(Path::new("config.yaml"), "connections: {}\n").unwrap();
        let text = "source: {redis: {key_pattern: \"a:*\"}}\ntransform:\n  - uses: wasm\n    with:\n      component: ./x.wasm\n      outputs:\n        - {connection: target, table: t}\n";
        let job = Job::parse(Path::new("j.yaml"), text).unwrap();
        let errors = unknown_connections(Path::new("j.yaml"), text, &job, &settings);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 7);
        assert_eq!(
            errors[0].field.as_deref(),
            Some("transform[0].with.outputs[0].connection")
        );
        assert!(errors[0].message.contains("none defined"), "{}", errors[0]);
    }
}
