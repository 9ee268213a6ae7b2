//! `wb-engine scaffold DIR`: writes a new project.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wb_engine::control::scaffold::{default_sdk, write, COMPONENT, CRATE_DIR, JOB};

#[derive(clap::Args)]
#[command(after_help = "\
Writes config.yaml (a SQLite target), jobs/users.yaml (hashes user:<id> into the table \
users, after a wasm step), jobs/users.cases.yaml (its test cases) and transforms/users \
(the step: a Rust crate using wb's guest SDK, wb-guest), and prints the commands that \
build, check and run it. Never overwrites a file.")]
pub struct Args {
    /// The new project's directory (created if missing).
    dir: PathBuf,
    /// wb's guest SDK crate (sdk/wb-guest in wb's source) that the transform
    /// crate depends on [default: the one in the source tree this wb-engine
    /// was built from].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

pub fn scaffold(args: Args) -> anyhow::Result<()> {
    let sdk = match args.sdk {
        Some(sdk) => {
            std::path::absolute(&sdk).with_context(|| format!("--sdk {}", sdk.display()))?
        }
        None => default_sdk(),
    };
    // Cargo takes the path relative to the crate: make it absolute, and
    // tidy when it exists.
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    if !sdk.join("Cargo.toml").exists() {
        eprintln!(
            "warning: {} is not wb's guest SDK (no Cargo.toml there): the transform will not \
             build until {}/Cargo.toml points at sdk/wb-guest in a copy of wb's source \
             (or run scaffold again with --sdk)",
            sdk.display(),
            args.dir.join(CRATE_DIR).display()
        );
    }
    let written = write(&args.dir, &sdk)?;
    let dir = &args.dir;
    println!("created {}:", dir.display());
    for path in &written {
        println!("  {}", path.strip_prefix(dir).unwrap_or(path).display());
    }
    let at = |p: &str| Path::new(dir).join(p).display().to_string();
    println!();
    println!("next (building the step needs `rustup target add wasm32-wasip2`):");
    println!(
        "  (cd {} && cargo build --release --target wasm32-wasip2)   # writes {}",
        at(CRATE_DIR),
        at(COMPONENT)
    );
    println!("  wb-engine validate --dir {}", dir.display());
    println!(
        "  wb-engine test {} --cases {}",
        at(&format!("jobs/{JOB}.yaml")),
        at(&format!("jobs/{JOB}.cases.yaml"))
    );
    println!(
        "  wb-engine schema {JOB} --dir {} | sqlite3 {}",
        dir.display(),
        at("target.db")
    );
    println!("  wb-engine run --dir {}", dir.display());
    Ok(())
}
