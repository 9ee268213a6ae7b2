//! `wb-engine test`: cases run through the job's real component; a diff
//! for each failing case and exit code 1.

use std::path::Path;

use wb_tests::{guests, workspace_root, TempDir};

use crate::{stderr, stdout, wb};

fn test(job: &Path, cases: &Path) -> std::process::Output {
    wb(
        &[
            "test".as_ref(),
            job.as_os_str(),
            "--cases".as_ref(),
            cases.as_os_str(),
        ],
        &[],
    )
}

#[test]
fn the_quickstart_cases_pass() {
    let jobs = workspace_root().join("jobs/quickstart/jobs");
    let output = test(&jobs.join("users.yaml"), &jobs.join("users.cases.yaml"));
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    assert!(out.contains("ok    a deleted user is deleted"), "{out}");
    assert!(
        out.trim_end().ends_with("users: 5 passed, 0 failed"),
        "{out}"
    );
}

#[test]
fn cases_pass_where_the_instance_pool_cannot_be_reserved() {
    // The pool reserves address space for 128 memories of 4 GiB; under a
    // 32 GiB limit on virtual memory it cannot, and the engine maps each
    // instance's memory afresh instead, saying so.
    let jobs = workspace_root().join("jobs/quickstart/jobs");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 33554432 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_wb-engine"))
        .arg("test")
        .arg(jobs.join("users.yaml"))
        .arg("--cases")
        .arg(jobs.join("users.cases.yaml"))
        .arg("--mapper")
        .arg(crate::mapper())
        .output()
        .expect("wb-engine runs");
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{out}{err}");
    assert!(
        out.trim_end().ends_with("users: 5 passed, 0 failed"),
        "{out}"
    );
    assert!(
        err.contains("cannot reserve the pool of guest instances"),
        "{err}"
    );
}

#[test]
fn the_mask_pii_cases_pass_through_its_component() {
    // jobs/mask-pii/job.yaml names the component where `cargo build` in its
    // folder puts it; here the job points at the test build instead.
    let dir = TempDir::new("test-mask");
    let job = dir.path().join("mask-pii.yaml");
    let original =
        std::fs::read_to_string(workspace_root().join("jobs/mask-pii/job.yaml")).expect("job");
    let component = guests::build("jobs/mask-pii");
    std::fs::write(
        &job,
        original.replace(
            "./target/wasm32-wasip2/release/wb_job_mask_pii.wasm",
            component.to_str().expect("utf-8 path"),
        ),
    )
    .expect("write");
    let output = test(&job, &workspace_root().join("jobs/mask-pii/cases.yaml"));
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    assert!(
        out.contains("ok    a spend that is not a number rejects the record"),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("mask-pii: 5 passed, 0 failed"),
        "{out}"
    );
}

/// jobs/normalize-contacts/job.yaml, pointed at the test build of its step.
pub fn normalize_contacts_job(dir: &Path) -> std::path::PathBuf {
    let job = dir.join("normalize-contacts.yaml");
    let original =
        std::fs::read_to_string(workspace_root().join("jobs/normalize-contacts/job.yaml"))
            .expect("job");
    let component = guests::build("jobs/normalize-contacts");
    std::fs::write(
        &job,
        original.replace(
            "./target/wasm32-wasip2/release/wb_job_normalize_contacts.wasm",
            component.to_str().expect("utf-8 path"),
        ),
    )
    .expect("write");
    job
}

#[test]
fn the_normalize_contacts_cases_pass_through_its_step_and_the_mapper() {
    let dir = TempDir::new("test-contacts");
    let job = normalize_contacts_job(dir.path());
    let output = test(
        &job,
        &workspace_root().join("jobs/normalize-contacts/cases.yaml"),
    );
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{}", stderr(&output));
    assert!(
        out.contains("ok    a contact at a dropped domain produces no rows"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("normalize-contacts: 5 passed, 0 failed"),
        "{out}"
    );
}

#[test]
fn failing_cases_show_a_diff_and_exit_1() {
    let dir = TempDir::new("test-fail");
    let cases = dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        r#"cases:
  - name: passes
    key: "user:1"
    value: {hash: {first_name: Ann, last_name: Lee, email: A@B.C}}
    expect:
      - upsert: users
        key: {user_id: "1"}
        values: {first_name: Ann, last_name: Lee, email: a@b.c}
  - name: wrong email
    key: "user:2"
    value: {hash: {first_name: Bob, email: Bob@X.ORG}}
    expect:
      - upsert: users
        key: {user_id: "2"}
        values: {first_name: Bob, last_name: null, email: Bob@X.ORG}
  - name: a delete expected as an upsert, on the wrong connection
    key: "user:3"
    value: missing
    expect:
      - upsert: users
        connection: elsewhere
        key: {user_id: 3}
  - name: a rejection that does not happen
    key: "user:4"
    value: {hash: {first_name: Di}}
    reject: "bad"
"#,
    )
    .expect("write");
    let job = workspace_root().join("jobs/quickstart/jobs/users.yaml");
    let output = test(&job, &cases);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}{}", stderr(&output));
    assert!(out.contains("ok    passes\n"), "{out}");
    let at = |line: usize| format!("({}:{line})", cases.display());
    assert!(
        out.contains(&format!("FAIL  wrong email {}", at(9))),
        "{out}"
    );
    assert!(
        out.contains("      - upsert users key {user_id: \"2\"} values {email: \"Bob@X.ORG\", first_name: \"Bob\", last_name: null}\n")
            && out.contains("      + upsert users key {user_id: \"2\"} values {email: \"bob@x.org\", first_name: \"Bob\", last_name: null}\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "FAIL  a delete expected as an upsert, on the wrong connection {}",
            at(16)
        )),
        "{out}"
    );
    assert!(
        out.contains("      - upsert users on elsewhere key {user_id: 3}\n")
            && out.contains("      + delete users on target key {user_id: \"3\"}\n"),
        "{out}"
    );
    assert!(
        out.contains("      - rejected with a reason containing \"bad\"\n")
            && out.contains("      + upsert users key {user_id: \"4\"}"),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("users: 1 passed, 3 failed"),
        "{out}"
    );
}

#[test]
fn a_bad_cases_file_is_named_with_line_and_field() {
    let dir = TempDir::new("test-bad");
    let cases = dir.path().join("cases.yaml");
    std::fs::write(
        &cases,
        "cases:\n  - key: \"user:1\"\n    value: {hash: {a: b}}\n    expext: []\n",
    )
    .expect("write");
    let job = workspace_root().join("jobs/quickstart/jobs/users.yaml");
    let err = stderr(&test(&job, &cases));
    assert!(
        err.contains(&format!(
            "{}:4: cases[0]: unknown field `expext`",
            cases.display()
        )) && err.contains("(did you mean `expect`?)"),
        "{err}"
    );
    std::fs::write(
        &cases,
        "cases:\n  - key: k\n    value: {hashh: {a: b}}\n    expect: []\n",
    )
    .expect("write");
    let output = test(&job, &cases);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{}:2: cases[0]:", cases.display()))
            && err.contains("unknown value type `hashh` (did you mean `hash`?)"),
        "{err}"
    );
}
