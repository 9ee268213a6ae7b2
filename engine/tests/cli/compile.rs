//! `wb-engine compile`: the bundle on disk, its manifest, a stable hash,
//! and tampered bundles refused when loaded.

use std::path::Path;

use wb_tests::{workspace_root, TempDir};

use crate::{stderr, stdout, wb};

fn compile(job: &Path, out: &Path) -> (String, Vec<u8>) {
    let output = wb(
        &[
            "compile".as_ref(),
            job.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let printed = stdout(&output);
    let mut lines = printed.lines();
    assert_eq!(
        lines.next(),
        Some(out.to_str().expect("utf-8 path")),
        "{printed}"
    );
    let hash = lines
        .next()
        .and_then(|l| l.strip_prefix("sha256 "))
        .unwrap_or_else(|| panic!("no hash line: {printed}"))
        .to_string();
    (hash, std::fs::read(out).expect("the bundle was written"))
}

/// The manifest: the JSON between the header line and the components,
/// and where the components start.
fn manifest(bundle: &[u8]) -> (serde_json::Value, usize) {
    let header_end = bundle.iter().position(|&b| b == b'\n').expect("header");
    let header = std::str::from_utf8(&bundle[..header_end]).expect("text header");
    let fields: Vec<&str> = header.split(' ').collect();
    assert_eq!(&fields[..2], ["wb-bundle", "2"], "{header}");
    let len: usize = fields[2].parse().expect("manifest length");
    let json = &bundle[header_end + 1..header_end + 1 + len];
    (
        serde_json::from_slice(json).expect("the manifest is JSON"),
        header_end + 1 + len + 1,
    )
}

#[test]
fn compile_writes_a_bundle_whose_manifest_describes_the_job() {
    let dir = TempDir::new("compile");
    let job = workspace_root().join("jobs/quickstart/jobs/users.yaml");
    let out = dir.path().join("users.wbb");
    let (hash, bundle) = compile(&job, &out);
    let (manifest, component_at) = manifest(&bundle);
    assert_eq!(manifest["format"], 2);
    assert_eq!(manifest["job"], "users");
    assert_eq!(manifest["wit"], "wb:transform@0.1.0");
    assert_eq!(manifest["wb_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["source"]["key_pattern"], "user:*");
    assert_eq!(
        manifest["source"]["exclude_commands"],
        serde_json::json!([])
    );
    assert_eq!(
        manifest["outputs"],
        serde_json::json!([{"connection": "target", "table": "users"}])
    );
    assert_eq!(manifest["components"].as_array().map(Vec::len), Some(1));
    assert_eq!(manifest["components"][0]["kind"], "stock-mapper");
    assert_eq!(manifest["sha256"], hash.as_str());
    assert_eq!(hash.len(), 64);
    let spec = manifest["components"][0]["params"]["spec"]
        .as_str()
        .expect("a spec param");
    assert!(spec.contains("value email lower(email)"), "{spec}");
    // The component is the stock mapper, byte for byte.
    let mapper = std::fs::read(crate::mapper()).expect("mapper");
    assert_eq!(&bundle[component_at..], &mapper[..]);
    assert_eq!(manifest["components"][0]["bytes"], mapper.len());

    // The same input gives the same bytes and hash.
    let again = dir.path().join("again.wbb");
    let (hash_again, bundle_again) = compile(&job, &again);
    assert_eq!(hash_again, hash);
    assert_eq!(bundle_again, bundle);

    // A different job gives a different hash.
    let other = dir.path().join("other.yaml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&job)
            .expect("job")
            .replace("lower(email)", "upper(email)"),
    )
    .expect("write");
    let (other_hash, _) = compile(&other, &dir.path().join("other.wbb"));
    assert_ne!(other_hash, hash);
}

#[test]
fn the_default_bundle_path_is_beside_the_job_and_a_wasm_job_carries_its_component() {
    let dir = TempDir::new("compile-wasm");
    let component = wb_tests::guests::build("jobs/mask-pii");
    std::fs::create_dir_all(dir.path().join("mask-pii")).expect("mkdir");
    std::fs::copy(&component, dir.path().join("mask-pii/mask.wasm")).expect("copy");
    let job = dir.path().join("mask-pii/job.yaml");
    std::fs::write(
        &job,
        "source: {redis: {key_pattern: 'customer:*', exclude_commands: [hdel]}}\ntransform:\n  - uses: wasm\n    with:\n      component: mask.wasm\n      params: {mask: email, table: clients}\n      outputs: [{connection: target, schema: crm, table: clients}]\n",
    )
    .expect("write");
    let output = wb(&["compile".as_ref(), job.as_os_str()], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = dir.path().join("mask-pii/mask-pii.wbb");
    assert!(
        stdout(&output).starts_with(&format!("{}\n", out.display())),
        "{}",
        stdout(&output)
    );
    let bundle = std::fs::read(&out).expect("written beside the job");
    let (manifest, component_at) = manifest(&bundle);
    assert_eq!(manifest["job"], "mask-pii");
    assert_eq!(manifest["components"][0]["kind"], "custom");
    assert_eq!(
        manifest["source"]["exclude_commands"],
        serde_json::json!(["hdel"])
    );
    assert_eq!(
        manifest["components"][0]["params"],
        serde_json::json!({"mask": "email", "table": "clients"})
    );
    assert_eq!(
        manifest["outputs"],
        serde_json::json!([{"connection": "target", "table": "crm.clients"}])
    );
    assert_eq!(
        &bundle[component_at..],
        &std::fs::read(&component).expect("component")[..]
    );
}

#[test]
fn a_tampered_bundle_is_refused_when_loaded() {
    let dir = TempDir::new("compile-tamper");
    let root = workspace_root().join("jobs/quickstart/jobs");
    let out = dir.path().join("users.wbb");
    let (hash, bundle) = compile(&root.join("users.yaml"), &out);
    let cases = root.join("users.cases.yaml");
    let test = |bundle: &Path| {
        wb(
            &[
                "test".as_ref(),
                bundle.as_os_str(),
                "--cases".as_ref(),
                cases.as_os_str(),
            ],
            &[],
        )
    };

    // The bundle as written passes the job's cases.
    let output = test(&out);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );

    // One flipped bit in the component.
    let mut flipped = bundle.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let tampered = dir.path().join("tampered.wbb");
    std::fs::write(&tampered, &flipped).expect("write");
    let output = test(&tampered);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}: content hash mismatch: the manifest says sha256 {hash}",
            tampered.display()
        )),
        "{err}"
    );

    // A manifest edited to track other keys (same length, so only the
    // hash can tell).
    let text = String::from_utf8_lossy(&bundle).into_owned();
    assert!(text.contains("\"key_pattern\": \"user:*\""));
    let mut edited = bundle.clone();
    let at = text.find("\"user:*\"").expect("pattern") + 1;
    edited[at..at + 6].copy_from_slice(b"admin*");
    std::fs::write(&tampered, &edited).expect("write");
    let err = stderr(&test(&tampered));
    assert!(err.contains("content hash mismatch"), "{err}");

    // Cut short.
    std::fs::write(&tampered, &bundle[..bundle.len() / 2]).expect("write");
    let err = stderr(&test(&tampered));
    assert!(
        err.contains("not a wb bundle") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn compile_names_the_file_and_field_of_a_bad_job() {
    let dir = TempDir::new("compile-bad");
    let job = dir.path().join("users.yaml");
    std::fs::write(
        &job,
        "source:\n  redis:\n    key_pattern: 'user:*'\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: users\n      keys: [id]\n      mapping: [{name: \"nosuchfn(name)\"}]\n",
    )
    .expect("write");
    let output = wb(&["compile".as_ref(), job.as_os_str()], &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{}:10: output[0].with.mapping", job.display())),
        "{err}"
    );
    assert!(!dir.path().join("users.wbb").exists());
}

#[test]
fn a_job_with_a_step_bundles_both_components_and_hashes_both() {
    let dir = TempDir::new("compile-step");
    let job = crate::test::normalize_contacts_job(dir.path());
    let out = dir.path().join("contacts.wbb");
    let (hash, bundle) = compile(&job, &out);
    let (manifest, components_at) = manifest(&bundle);
    let step = std::fs::read(wb_tests::guests::build("jobs/normalize-contacts")).expect("step");
    let mapper = std::fs::read(crate::mapper()).expect("mapper");
    let components = &manifest["components"];
    assert_eq!(components.as_array().map(Vec::len), Some(2), "{manifest}");
    assert_eq!(components[0]["kind"], "step");
    assert_eq!(components[0]["bytes"], step.len());
    assert_eq!(
        components[0]["params"],
        serde_json::json!({"drop_domains": "example.test"})
    );
    assert_eq!(components[1]["kind"], "stock-mapper");
    assert_eq!(components[1]["bytes"], mapper.len());
    let spec = components[1]["params"]["spec"].as_str().expect("spec");
    assert!(spec.starts_with("add email_domain "), "{spec}");
    // Both components follow the manifest, the step first, byte for byte.
    assert_eq!(
        &bundle[components_at..components_at + step.len()],
        &step[..]
    );
    assert_eq!(&bundle[components_at + step.len()..], &mapper[..]);

    // Another step component (same job, same params) changes the hash.
    let other_step = dir.path().join("other.yaml");
    std::fs::write(
        &other_step,
        std::fs::read_to_string(&job).expect("job").replace(
            wb_tests::guests::build("jobs/normalize-contacts")
                .to_str()
                .expect("utf-8 path"),
            wb_tests::guests::build("engine/tests/guests/step")
                .to_str()
                .expect("utf-8 path"),
        ),
    )
    .expect("write");
    let (other_hash, _) = compile(&other_step, &dir.path().join("other.wbb"));
    assert_ne!(other_hash, hash);

    // One flipped byte inside the step (not the mapper) is refused.
    let mut flipped = bundle.clone();
    flipped[components_at + step.len() / 2] ^= 1;
    let tampered = dir.path().join("tampered.wbb");
    std::fs::write(&tampered, &flipped).expect("write");
    let cases = workspace_root().join("jobs/normalize-contacts/cases.yaml");
    let output = wb(
        &[
            "test".as_ref(),
            tampered.as_os_str(),
            "--cases".as_ref(),
            cases.as_os_str(),
        ],
        &[],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}: content hash mismatch: the manifest says sha256 {hash}",
            tampered.display()
        )),
        "{err}"
    );
    // The untouched bundle passes the job's cases.
    let output = wb(
        &[
            "test".as_ref(),
            out.as_os_str(),
            "--cases".as_ref(),
            cases.as_os_str(),
        ],
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("normalize-contacts: 5 passed, 0 failed"));
}
