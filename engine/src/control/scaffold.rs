//! `wb-engine scaffold DIR`: a new project that validates, compiles and
//! passes its test cases once its transform is built: `config.yaml` (a
//! SQLite target), one job (`jobs/users.yaml`: a wasm step, then a
//! declarative output) with its cases, and the step's Rust crate
//! (`transforms/users`), which depends on wb's guest SDK by path.
//!
//! The SDK's path is this source tree's `sdk/wb-guest`, recorded when
//! wb-engine was built; `--sdk` points elsewhere (a copy of wb's `sdk/`
//! on another machine).

use std::path::{Path, PathBuf};

/// The SDK crate a scaffolded transform depends on: `sdk/wb-guest` in the
/// source tree this binary was built from.
pub fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/wb-guest")
}

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "{} already exists: scaffold writes a new project and never overwrites a file; \
         pick a new or empty directory",
        path.display()
    )]
    Exists { path: PathBuf },
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file of a new project: its path inside the project and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectFile {
    pub path: &'static str,
    pub text: String,
}

/// The job's name, its transform crate's package name and where cargo puts
/// the crate's component.
pub const JOB: &str = "users";
pub const CRATE_DIR: &str = "transforms/users";
pub const PACKAGE: &str = "users-transform";
pub const COMPONENT: &str = "transforms/users/target/wasm32-wasip2/release/users_transform.wasm";

/// The files of a new project whose transform crate depends on the SDK at
/// `sdk` (the `wb-guest` crate's directory).
pub fn files(sdk: &Path) -> Vec<ProjectFile> {
    let mut files = vec![
        ProjectFile {
            path: "README.md",
            text: README.to_owned(),
        },
        ProjectFile {
            path: ".gitignore",
            text: "/target.db*\n/jobs/*.wbb\n/transforms/*/target/\n".to_owned(),
        },
        ProjectFile {
            path: "config.yaml",
            text: CONFIG.to_owned(),
        },
        ProjectFile {
            path: "jobs/users.yaml",
            text: JOB_YAML.to_owned(),
        },
        ProjectFile {
            path: "jobs/users.cases.yaml",
            text: CASES.to_owned(),
        },
        ProjectFile {
            path: "transforms/users/Cargo.toml",
            text: CARGO_TOML.replace("{SDK}", &toml_string(&sdk.display().to_string())),
        },
        ProjectFile {
            path: "transforms/users/src/lib.rs",
            text: LIB_RS.to_owned(),
        },
    ];
    // The SDK template's lock pins the same dependencies: with it the crate
    // builds without resolving anything (offline too).
    const TEMPLATE_LOCK: &str = include_str!("../../../sdk/template/Cargo.lock");
    const TEMPLATE_PACKAGE: &str = "name = \"wb-transform-template\"";
    if TEMPLATE_LOCK.contains(TEMPLATE_PACKAGE) {
        files.push(ProjectFile {
            path: "transforms/users/Cargo.lock",
            text: TEMPLATE_LOCK.replace(TEMPLATE_PACKAGE, &format!("name = \"{PACKAGE}\"")),
        });
    }
    files
}

/// Writes a new project into `dir` (created if missing); refuses to
/// overwrite any file. Returns the files written, in order.
pub fn write(dir: &Path, sdk: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let files = files(sdk);
    for file in &files {
        let path = dir.join(file.path);
        if path.exists() {
            return Err(ScaffoldError::Exists { path });
        }
    }
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let path = dir.join(file.path);
        let io = |source| ScaffoldError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, file.text).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const README: &str = r#"# A wb project

- `config.yaml`: the target databases (`connections`) and how changes are applied.
- `jobs/users.yaml`: hashes `user:<id>` become rows of the table `users`, after the
  wasm step in `transforms/users` has cleaned each record.
- `jobs/users.cases.yaml`: the job's test cases (Redis values in, row operations out).
- `transforms/users`: the step, a Rust crate using wb's guest SDK (`wb-guest`).

```sh
(cd transforms/users && cargo build --release --target wasm32-wasip2)  # the step's component
(cd transforms/users && cargo test)                                     # its unit tests
wb-engine validate                                  # every file, against each other
wb-engine test jobs/users.yaml --cases jobs/users.cases.yaml
wb-engine compile jobs/users.yaml                   # the bundle: jobs/users.wbb
wb-engine schema users | sqlite3 target.db          # the job's table
wb-engine run --dir .                               # with WB_REDIS_URL pointing at Redis
wb-engine deploy && wb-engine run                   # or: store it in Redis, run what is stored
```

Building the step needs `rustup target add wasm32-wasip2`.
"#;

const CONFIG: &str = r#"# Target databases by name, and how changes are applied. Any value may be
# a ${ENV_VAR} reference, so secrets stay out of this file.
connections:
  target:
    type: sqlite
    path: target.db          # relative to this directory
  # A PostgreSQL target instead:
  # target:
  #   type: postgresql
  #   host: 127.0.0.1
  #   port: 5432
  #   database: app
  #   user: wb
  #   password: ${WB_PG_PASSWORD}
applier:
  read_batch_size: 1000
  error_handling: dlq         # bad records go to the job's dead-letter stream
  dlq_max_messages: 1000
"#;

const JOB_YAML: &str = r#"# Hashes user:<id> {name, email} become rows of the table `users`.
# The wasm step (the crate in transforms/users) cleans each record first:
# emails trimmed and lower-cased, invalid ones rejected, test domains dropped.
# Build it before compile, test or run:
#   (cd transforms/users && cargo build --release --target wasm32-wasip2)
source:
  redis:
    key_pattern: "user:*"
transform:
  - uses: wasm
    with:
      component: ../transforms/users/target/wasm32-wasip2/release/users_transform.wasm
      params:
        drop_domains: example.test
output:
  - uses: relational.write
    with:
      connection: target
      table: users
      keys:
        - user_id: key_part(1)
      mapping:
        - name
        - email
        - email_domain: "split(email, '@')[1]"
"#;

const CASES: &str = r#"# Test cases of the users job:
#   wb-engine test jobs/users.yaml --cases jobs/users.cases.yaml
cases:
  - name: a user lands with the email cleaned
    key: "user:1"
    value: {hash: {name: Ada, email: " Ada@Example.COM"}}
    expect:
      - upsert: users
        connection: target
        key: {user_id: "1"}
        values: {name: Ada, email: ada@example.com, email_domain: example.com}

  - name: absent fields are nulls
    key: "user:2"
    value: {hash: {name: Bob}}
    expect:
      - upsert: users
        key: {user_id: "2"}
        values: {name: Bob, email: null, email_domain: null}

  - name: a deleted user is deleted
    key: "user:2"
    value: missing
    expect:
      - delete: users
        key: {user_id: "2"}

  - name: a user at a test domain is not copied
    key: "user:3"
    value: {hash: {name: QA, email: qa@EXAMPLE.test}}
    expect: []

  - name: an invalid email rejects the record
    key: "user:4"
    value: {hash: {name: Eve, email: eve}}
    reject: "is not an email address"
"#;

const CARGO_TOML: &str = r#"[package]
name = "users-transform"
description = "The users job's wasm step: cleans each record before the job's output maps it"
version = "0.1.0"
edition = "2021"
publish = false

# A crate of its own, outside any enclosing workspace: it builds for
# wasm32-wasip2.
[workspace]

[lib]
# cdylib is the component; rlib lets `cargo test` run the step natively.
crate-type = ["cdylib", "rlib"]

[dependencies]
# wb's guest SDK. `step`: this component reshapes records before the job's
# declarative output (a component that makes the rows itself uses the
# default feature, `transform`, and wb_guest::Transform).
wb-guest = { path = {SDK}, default-features = false, features = ["step"] }

[profile.release]
opt-level = "s"
"#;

const LIB_RS: &str = r#"//! The users job's wasm step: cleans each user record before the job's
//! output maps it into the `users` table. Build the component with
//!
//! ```text
//! cargo build --release --target wasm32-wasip2
//! ```
//!
//! and run the unit tests below natively with `cargo test`.

use wb_guest::{Change, HashRecord, Params, Step, StepResult};

pub struct CleanUsers {
    /// Users whose email is at one of these domains are not copied (the
    /// job's `drop_domains` param, comma-separated).
    drop_domains: Vec<String>,
}

impl Step for CleanUsers {
    fn init(params: &Params) -> Result<Self, String> {
        Ok(CleanUsers {
            drop_domains: params
                .list("drop_domains")
                .into_iter()
                .map(str::to_ascii_lowercase)
                .collect(),
        })
    }

    /// The record's new value, `None` to drop the change, or an error that
    /// sends it to the dead-letter queue with the reason. Never called for
    /// a deleted key: deletes always reach the output.
    fn step(&self, change: &Change<'_>) -> StepResult {
        let mut record =
            HashRecord::from_change(change).ok_or("expected a hash like user:<id> {name, email}")?;
        if let Some(email) = record.get_str("email") {
            let email = clean_email(email)?;
            let domain = email.rsplit('@').next().unwrap_or_default();
            if self.drop_domains.iter().any(|d| d == domain) {
                return Ok(None);
            }
            record.set("email", email);
        }
        Ok(Some(record.into_value()))
    }
}

wb_guest::export_step!(CleanUsers);

/// Trimmed and lower-cased; refused without exactly one `@` between a
/// local part and a domain.
fn clean_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {
            Ok(email)
        }
        _ => Err(format!("{email:?} is not an email address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_guest::{run_steps, ChangeData, ValueData};

    fn user(fields: &[(&str, &str)]) -> ChangeData {
        ChangeData {
            key: b"user:1".to_vec(),
            event: "hset".into(),
            stream_id: "1-0".into(),
            value: ValueData::Hash(
                fields
                    .iter()
                    .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn records_are_cleaned_dropped_or_rejected() {
        let step = CleanUsers::init(&Params::new(vec![(
            "drop_domains".into(),
            "Example.TEST".into(),
        )]))
        .unwrap();
        let out = run_steps(
            &step,
            &[
                user(&[("name", "Ada"), ("email", " ADA@x.org")]),
                user(&[("email", "qa@example.test")]),
                user(&[("email", "nobody")]),
            ],
        );
        assert_eq!(
            out[0],
            Ok(Some(ValueData::Hash(vec![
                (b"name".to_vec(), b"Ada".to_vec()),
                (b"email".to_vec(), b"ada@x.org".to_vec()),
            ])))
        );
        assert_eq!(out[1], Ok(None));
        assert_eq!(out[2], Err("\"nobody\" is not an email address".to_string()));
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_depends_on_the_sdk_by_path_and_has_a_lock() {
        let files = files(Path::new("/opt/wb \"x\"/sdk/wb-guest"));
        let cargo = files
            .iter()
            .find(|f| f.path == "transforms/users/Cargo.toml")
            .expect("a Cargo.toml");
        assert!(
            cargo.text.contains(
                "wb-guest = { path = \"/opt/wb \\\"x\\\"/sdk/wb-guest\", default-features = false"
            ),
            "{}",
            cargo.text
        );
        assert!(cargo.text.contains(&format!("name = \"{PACKAGE}\"")));
        let lock = files
            .iter()
            .find(|f| f.path == "transforms/users/Cargo.lock")
            .expect("a lock file");
        assert!(lock.text.contains(&format!("name = \"{PACKAGE}\"")));
        let job = files
            .iter()
            .find(|f| f.path == "jobs/users.yaml")
            .expect("the job");
        // The component path in the job is where cargo puts it.
        assert!(job.text.contains(&format!("component: ../{COMPONENT}")));
        assert!(default_sdk().join("Cargo.toml").exists());
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("wb-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("config.yaml"), "mine").expect("write");
        let err = write(&dir, &default_sdk()).expect_err("refused");
        assert!(matches!(err, ScaffoldError::Exists { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join("config.yaml")).expect("read"),
            "mine"
        );
        assert!(!dir.join("jobs").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
