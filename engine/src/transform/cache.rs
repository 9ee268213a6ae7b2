//! Compiled components kept on disk, so that a restart does not compile
//! every job's component again (a third of a second or more each, on the
//! critical path of a start, and much more on a busy machine).
//!
//! A file is named by the sha256 of the component and a hash of what its
//! compiled code depends on (wasmtime's version and the engine's settings),
//! so a changed component or engine never meets an old file. A file that
//! fails to load is compiled again and replaced.
//!
//! Loading compiled code trusts the file as much as the engine's binary:
//! the directory is created for the engine's user alone (mode 0700), and it
//! must stay writable by nobody else. `WB_COMPILE_CACHE` names another
//! directory, or turns the cache `off`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled components are kept, if anywhere.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// The directory `WB_COMPILE_CACHE` names (`off` for none), else
    /// `$XDG_CACHE_HOME/wb/compiled`, else `$HOME/.cache/wb/compiled`.
    pub fn from_env() -> CompileCache {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = match var("WB_COMPILE_CACHE") {
            Some(v) if v == "off" => None,
            Some(v) => Some(PathBuf::from(v)),
            None => var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|base| base.join("wb").join("compiled")),
        };
        CompileCache { dir }
    }

    /// A cache in `dir`, or none.
    pub fn at(dir: Option<PathBuf>) -> CompileCache {
        CompileCache { dir }
    }

    /// The component `wasm` compiled for `engine`: from the cache when it
    /// holds it, else compiled (and kept for next time; a cache that cannot
    /// be written is only logged).
    pub fn load_or_compile(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Component> {
        let Some(dir) = &self.dir else {
            return Component::new(engine, wasm);
        };
        let path = dir.join(file_name(engine, wasm));
        if path.is_file() {
            // SAFETY: the file was written by `store` below from
            // `Component::serialize` for these bytes and this engine's
            // settings (both are in its name), in a directory only the
            // engine's user can write; wasmtime also checks its header
            // against the engine and refuses a mismatch.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    error = %format!("{e:#}"),
                    "a cached compiled component does not load; compiling it again"
                ),
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = store(dir, &path, &component) {
            tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "cannot keep the compiled component (it is compiled again at the next start)"
            );
        }
        Ok(component)
    }
}

/// `<sha256 of the component>-<engine settings hash>.cwasm`.
fn file_name(engine: &Engine, wasm: &[u8]) -> String {
    // DefaultHasher::new() has fixed keys: the same settings hash the same
    // from one run to the next (a new Rust version may change it, which
    // only costs a compilation).
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    format!(
        "{}-{:016x}.cwasm",
        crate::bundle::hex(&Sha256::digest(wasm)),
        settings.finish()
    )
}

/// Writes the compiled component next to its final name, then renames it,
/// so a reader never sees half a file.
fn store(dir: &Path, path: &Path, component: &Component) -> Result<(), String> {
    create_private_dir(dir).map_err(|e| format!("cannot create the directory: {e}"))?;
    let bytes = component.serialize().map_err(|e| format!("{e:#}"))?;
    // A name of this writer's own: threads and engines may store the same
    // component at once.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = path.with_extension(format!("partial.{}.{write}", std::process::id()));
    std::fs::write(&partial, bytes).map_err(|e| format!("cannot write: {e}"))?;
    std::fs::rename(&partial, path).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        format!("cannot rename: {e}")
    })
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble of component-model layer 1.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wb-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_component_is_compiled_once_then_loaded() {
        let engine = Engine::default();
        let dir = temp_dir("once");
        let cache = CompileCache::at(Some(dir.clone()));
        cache
            .load_or_compile(&engine, EMPTY_COMPONENT)
            .expect("compiles");
        let path = dir.join(file_name(&engine, EMPTY_COMPONENT));
        let written = std::fs::metadata(&path).expect("kept").modified().ok();
        cache
            .load_or_compile(&engine, EMPTY_COMPONENT)
            .expect("loads");
        assert_eq!(
            std::fs::metadata(&path)
                .expect("still there")
                .modified()
                .ok(),
            written,
            "loaded, not written again"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_does_not_load_is_replaced() {
        let engine = Engine::default();
        let dir = temp_dir("bad");
        let cache = CompileCache::at(Some(dir.clone()));
        let path = dir.join(file_name(&engine, EMPTY_COMPONENT));
        create_private_dir(&dir).expect("dir");
        std::fs::write(&path, b"not compiled code").expect("write");
        cache
            .load_or_compile(&engine, EMPTY_COMPONENT)
            .expect("compiled again");
        let replaced = std::fs::read(&path).expect("kept");
        assert_ne!(replaced, b"not compiled code");
        // And what replaced it loads.
        // SAFETY: written just above by `store` for this engine.
        unsafe { Component::deserialize_file(&engine, &path) }.expect("loads");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_change_with_the_component_and_the_engine() {
        let engine = Engine::default();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).expect("engine");
        let name = file_name(&engine, EMPTY_COMPONENT);
        assert_ne!(name, file_name(&other, EMPTY_COMPONENT));
        assert_ne!(name, file_name(&engine, b"\0asm\x0d\0\x01\0\0"));
        assert_eq!(name, file_name(&engine, EMPTY_COMPONENT));
    }
}
