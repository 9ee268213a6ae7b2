//! Builds guest crates (Wasm components) for the tests, once per test binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Guests share one target directory so wit-bindgen and the SDK compile
/// once for all of them.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests")
}

static BUILT: Mutex<Option<HashMap<PathBuf, PathBuf>>> = Mutex::new(None);

/// Builds the guest crate at `crate_dir` (relative to the repository root)
/// for wasm32-wasip2 in release mode and returns the component's path.
/// Panics with cargo's output if the build fails: a test cannot run
/// without its guest.
pub fn build(crate_dir: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = root.join(crate_dir).join("Cargo.toml");
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(&manifest) {
        return path.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building {crate_dir} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let name = package_name(&manifest).replace('-', "_");
    let path = target_dir().join(format!("wasm32-wasip2/release/{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    built.insert(manifest, path.clone());
    path
}

fn package_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).expect("manifest is readable");
    text.lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_string())
        })
        .expect("manifest has a package name")
}
