//! `wb-engine validate`: every problem of every file, with file:line and
//! field; a one-line summary and exit 0 when the project is valid.

use std::path::Path;

use wb_tests::{workspace_root, TempDir};

use crate::{stderr, stdout, wb};

const CONFIG: &str = "\
connections:
  target:
    type: postgresql
    host: 127.0.0.1
    database: test
    user: postgres
    password: ${WB_TEST_VALIDATE_PASSWORD}
";

const USERS: &str = "\
source:
  redis:
    key_pattern: 'user:*'
output:
  - uses: relational.write
    with:
      connection: target
      table: users
      keys: [id]
      mapping: [name]
";

fn project(label: &str, jobs: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new(label);
    std::fs::create_dir_all(dir.path().join("jobs")).expect("mkdir");
    std::fs::write(dir.path().join("config.yaml"), CONFIG).expect("write");
    for (name, text) in jobs {
        std::fs::write(dir.path().join("jobs").join(name), text).expect("write");
    }
    dir
}

fn validate(dir: &Path, env: &[(&str, &str)]) -> std::process::Output {
    wb(
        &["validate".as_ref(), "--dir".as_ref(), dir.as_os_str()],
        env,
    )
}

#[test]
fn a_good_project_gets_a_one_line_summary_and_no_secret_is_printed() {
    let dir = project(
        "validate-good",
        &[("users.yaml", USERS), ("users.cases.yaml", "cases: []\n")],
    );
    let output = validate(
        dir.path(),
        &[("WB_TEST_VALIDATE_PASSWORD", "hunter2-secret")],
    );
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{out}{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("ok: ") && out.contains("1 job (users) are valid"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );

    // Unset, the variable is named as a warning, still exit 0.
    let output = validate(dir.path(), &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains("config.yaml:7: connections.target.password: environment variable WB_TEST_VALIDATE_PASSWORD is not set"),
        "{err}"
    );
}

#[test]
fn the_quickstart_project_is_valid() {
    let output = validate(
        &workspace_root().join("jobs/quickstart"),
        &[("WB_SQLITE_PATH", "/tmp/unused.db")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("(users)"), "{}", stdout(&output));
}

#[test]
fn every_problem_is_reported_with_file_line_and_field() {
    let dir = project(
        "validate-bad",
        &[
            // Malformed YAML: a key indented out of its block.
            (
                "broken.yaml",
                "source:\n  redis:\n    key_pattern: 'user:*'\n   exclude_commands: [hdel]\noutput: []\n",
            ),
            // An unknown field, one letter off.
            ("misspelt.yaml", &USERS.replace("key_pattern", "key_patern")),
            // A connection config.yaml does not define.
            ("orders.yaml", &USERS.replace("connection: target", "connection: warehouse")),
            // Two wrong connections in one file are two problems.
            (
                "twice.yaml",
                &format!(
                    "{}  - uses: relational.write\n    with: {{connection: targt, table: logins, mapping: [id], load_strategy: append}}\n",
                    USERS.replace("connection: target", "connection: elsewhere")
                ),
            ),
            ("users.yaml", USERS),
        ],
    );
    let output = validate(dir.path(), &[("WB_TEST_VALIDATE_PASSWORD", "x")]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 5, "{err}");
    let jobs = dir.path().join("jobs");
    let at = |file: &str, line: usize| format!("error: {}:{line}: ", jobs.join(file).display());
    assert!(
        errors[0].starts_with(&at("broken.yaml", 4))
            && errors[0].contains("did not find expected key"),
        "{err}"
    );
    assert!(errors[1].starts_with(&at("misspelt.yaml", 3)), "{err}");
    assert!(
        errors[1].contains("source.redis: unknown field `key_patern`")
            && errors[1].ends_with("(did you mean `key_pattern`?)"),
        "{err}"
    );
    assert!(errors[2].starts_with(&at("orders.yaml", 7)), "{err}");
    assert!(
        errors[2].ends_with("output[0].with.connection: connection 'warehouse' is not in config.yaml (known: target)"),
        "{err}"
    );
    assert!(
        errors[3].starts_with(&at("twice.yaml", 7)) && errors[3].contains("'elsewhere'"),
        "{err}"
    );
    assert!(errors[4].starts_with(&at("twice.yaml", 12)), "{err}");
    assert!(
        errors[4].contains("output[1].with.connection: connection 'targt'")
            && errors[4].ends_with("(did you mean `target`?)"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("5 problems found"), "{err}");
}

#[test]
fn a_broken_config_is_reported_together_with_the_jobs() {
    let dir = project(
        "validate-config",
        &[("misspelt.yaml", &USERS.replace("mapping", "maping"))],
    );
    std::fs::write(
        dir.path().join("config.yaml"),
        CONFIG.replace("database:", "databse:"),
    )
    .expect("write");
    let output = validate(dir.path(), &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("config.yaml:5: connections.target: unknown field `databse`"),
        "{err}"
    );
    assert!(err.contains("(did you mean `database`?)"), "{err}");
    assert!(err.contains("misspelt.yaml:10:"), "{err}");
    assert!(err.contains("2 problems found"), "{err}");
}
