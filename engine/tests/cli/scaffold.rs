//! `wb-engine scaffold`: a new project whose transform crate builds against
//! this tree's SDK, and which then validates, compiles and passes its test
//! cases.

use std::process::Command;

use wb_engine::control::scaffold::{COMPONENT, CRATE_DIR};
use wb_tests::{guests, sqlite_rows, TempDir};

use crate::{stderr, stdout, wb};

#[test]
fn a_scaffolded_project_builds_validates_compiles_and_passes_its_cases() {
    let dir = TempDir::new("scaffold");
    let project = dir.path().join("my-project");
    let p = |rest: &str| project.join(rest);
    let output = wb(&["scaffold".as_ref(), project.as_os_str()], &[]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    for file in [
        "config.yaml",
        "jobs/users.yaml",
        "jobs/users.cases.yaml",
        "transforms/users/Cargo.toml",
        "transforms/users/Cargo.lock",
        "transforms/users/src/lib.rs",
    ] {
        assert!(
            out.contains(&format!("  {file}\n")),
            "{file} not listed:\n{out}"
        );
        assert!(p(file).exists(), "{file} was not written");
    }
    assert!(
        out.contains("cargo build --release --target wasm32-wasip2"),
        "{out}"
    );
    // Before the step is built, the project is valid but says what is missing.
    let output = wb(&["validate", "--dir", p("").to_str().expect("utf-8")], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("users_transform.wasm does not exist yet"),
        "{}",
        stderr(&output)
    );

    // The crate as written, built with the tests' shared target directory
    // (its dependencies are compiled once for every guest), its component
    // put where `cargo build` in its folder puts it.
    let crate_dir = p(CRATE_DIR);
    let built = guests::build(crate_dir.to_str().expect("utf-8 path"));
    std::fs::create_dir_all(p(COMPONENT).parent().expect("a folder")).expect("mkdir");
    std::fs::copy(&built, p(COMPONENT)).expect("copy the component");
    // Its unit tests pass natively too.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let unit = Command::new(cargo)
        .args(["test", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(wb_tests::workspace_root().join("target/guests"))
        .output()
        .expect("cargo runs");
    assert!(
        unit.status.success(),
        "the scaffolded crate's unit tests:\n{}{}",
        String::from_utf8_lossy(&unit.stdout),
        String::from_utf8_lossy(&unit.stderr)
    );

    let output = wb(&["validate", "--dir", p("").to_str().expect("utf-8")], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("config.yaml and 1 job (users) are valid"),
        "{}",
        stdout(&output)
    );
    assert_eq!(stderr(&output), "", "no warnings once the step is built");

    let job = p("jobs/users.yaml");
    let bundle = dir.path().join("users.wbb");
    let output = wb(
        &[
            "compile".as_ref(),
            job.as_os_str(),
            "-o".as_ref(),
            bundle.as_os_str(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(bundle.exists());

    let cases = p("jobs/users.cases.yaml");
    let output = wb(
        &[
            "test".as_ref(),
            job.as_os_str(),
            "--cases".as_ref(),
            cases.as_os_str(),
        ],
        &[],
    );
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    assert!(
        out.trim_end().ends_with("users: 5 passed, 0 failed"),
        "{out}"
    );

    // Its table, from `schema`, in the project's SQLite file.
    let output = wb(
        &["schema", "users", "--dir", p("").to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let db = p("target.db");
    rusqlite::Connection::open(&db)
        .expect("create the SQLite file")
        .execute_batch(&stdout(&output))
        .expect("the statements run");
    let columns = sqlite_rows(&db, "SELECT name, pk FROM pragma_table_info('users')");
    assert_eq!(
        columns,
        [
            ["user_id", "1"],
            ["name", "0"],
            ["email", "0"],
            ["email_domain", "0"]
        ]
        .map(|row| row.map(|c| Some(c.to_owned())).to_vec())
    );

    // A second scaffold into the same place writes nothing.
    let config = std::fs::read_to_string(p("config.yaml")).expect("config");
    let output = wb(&["scaffold".as_ref(), project.as_os_str()], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("already exists: scaffold writes a new project"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(p("config.yaml")).expect("config"),
        config
    );
}
