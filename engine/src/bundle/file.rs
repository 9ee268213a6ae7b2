//! Reading and writing bundle files (layout in the module documentation).

use std::path::Path;

use crate::transform::{Limits, TransformError, WasmHost, WasmTransform};

use super::error::BundleError;
use super::hash::content_hash;
use super::manifest::{ComponentInfo, ComponentKind, Manifest, FORMAT_VERSION, WIT_PACKAGE};

/// The first word of every bundle file.
const MAGIC: &str = "wb-bundle";

/// Longest header line read before giving up on a file that is not a
/// bundle (room for a few dozen component lengths).
const MAX_HEADER: usize = 1024;

/// A compiled job: its manifest and its components' bytes, in the order of
/// `manifest.components`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub manifest: Manifest,
    pub components: Vec<Vec<u8>>,
}

impl Bundle {
    /// A bundle of `components` (one per entry of `manifest.components`, in
    /// order) with `manifest`, whose format, sizes and hash are filled in
    /// here.
    pub fn seal(mut manifest: Manifest, components: Vec<Vec<u8>>) -> Bundle {
        manifest.format = FORMAT_VERSION;
        manifest.wit = WIT_PACKAGE.to_string();
        for (info, bytes) in manifest.components.iter_mut().zip(&components) {
            info.bytes = bytes.len() as u64;
        }
        manifest.sha256 = content_hash(&manifest, &components);
        Bundle {
            manifest,
            components,
        }
    }

    /// Compiles and links the components and runs their `init` with their
    /// params: the steps, then the last component, which makes the rows and
    /// runs after them. The stock mapper is wb's own code and is granted the
    /// wall clock (its `time_delta_*` functions read it); other components
    /// get what `limits` grants.
    pub fn load(&self, host: &WasmHost, limits: Limits) -> Result<WasmTransform, TransformError> {
        let job = &self.manifest.job;
        let params = |info: &ComponentInfo| -> Vec<(String, String)> {
            info.params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let parts: Vec<_> = self
            .manifest
            .components
            .iter()
            .zip(&self.components)
            .collect();
        let Some(((last, wasm), steps)) = parts.split_last() else {
            return Err(TransformError::Compile {
                job: job.clone(),
                reason: "the bundle holds no component".into(),
            });
        };
        let mut mapper_limits = limits.clone();
        if last.kind == ComponentKind::StockMapper {
            mapper_limits.wall_clock = true;
        }
        let steps = steps
            .iter()
            .map(|(info, wasm)| host.load_step(job, wasm, params(info), limits.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(host
            .load(job, wasm, params(last), mapper_limits)?
            .with_steps(steps))
    }

    /// The file's bytes: the header line, the manifest, a newline, the
    /// components one after another.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let manifest = serde_json::to_vec_pretty(&self.manifest)?;
        let mut header = format!("{MAGIC} {} {}", self.manifest.format, manifest.len());
        for component in &self.components {
            header.push_str(&format!(" {}", component.len()));
        }
        header.push('\n');
        let total: usize = self.components.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(header.len() + manifest.len() + 1 + total);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&manifest);
        out.push(b'\n');
        for component in &self.components {
            out.extend_from_slice(component);
        }
        Ok(out)
    }

    /// Writes the bundle to `path` (through a temporary file beside it, so
    /// a reader never sees half a bundle).
    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        let bytes = self.to_bytes().map_err(|e| BundleError::Manifest {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let failed = |source| BundleError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        std::fs::write(&partial, bytes).map_err(failed)?;
        std::fs::rename(&partial, path).map_err(failed)
    }

    /// Reads and checks the bundle at `path`.
    pub fn read(path: &Path) -> Result<Bundle, BundleError> {
        let bytes = std::fs::read(path).map_err(|source| BundleError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Bundle::from_bytes(path, &bytes)
    }

    /// Parses and checks a bundle's bytes; `path` names it in errors. The
    /// format, the WIT package, the components' order and the content hash
    /// must all match.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Bundle, BundleError> {
        let not = |reason: String| BundleError::NotABundle {
            path: path.to_path_buf(),
            reason,
        };
        let end = bytes
            .iter()
            .take(MAX_HEADER)
            .position(|&b| b == b'\n')
            .ok_or_else(|| not(format!("no `{MAGIC}` header line")))?;
        let header = std::str::from_utf8(&bytes[..end])
            .map_err(|_| not(format!("no `{MAGIC}` header line")))?;
        let fields: Vec<&str> = header.split(' ').collect();
        if fields.first() != Some(&MAGIC) {
            return Err(not(format!("no `{MAGIC}` header line")));
        }
        let number = |i: usize, what: &str| -> Result<u64, BundleError> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| not(format!("the header has no {what}: {header:?}")))
        };
        let format = number(1, "format version")?;
        if format != u64::from(FORMAT_VERSION) {
            return Err(BundleError::Format {
                path: path.to_path_buf(),
                found: u32::try_from(format).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        let manifest_len = number(2, "manifest length")?;
        if fields.len() < 4 {
            return Err(not(format!("the header lists no component: {header:?}")));
        }
        let lengths = (3..fields.len())
            .map(|i| number(i, "component length"))
            .collect::<Result<Vec<u64>, _>>()?;
        let body = &bytes[end + 1..];
        let expected = lengths
            .iter()
            .try_fold(manifest_len.checked_add(1), |sum, &n| {
                Some(sum.and_then(|s| s.checked_add(n)))
            })
            .flatten();
        if expected != Some(body.len() as u64) {
            return Err(not(format!(
                "the header announces a {manifest_len}-byte manifest and components of {lengths:?} bytes, but {} bytes follow it (truncated or extended)",
                body.len()
            )));
        }
        // Every length fits in the body, which is in memory: no overflow.
        let (manifest_bytes, rest) = body.split_at(manifest_len as usize);
        if rest.first() != Some(&b'\n') {
            return Err(not("no newline after the manifest".into()));
        }
        let mut rest = &rest[1..];
        let mut components = Vec::with_capacity(lengths.len());
        for &len in &lengths {
            let (component, tail) = rest.split_at(len as usize);
            components.push(component.to_vec());
            rest = tail;
        }
        let bad = |reason: String| BundleError::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        let manifest: Manifest =
            serde_json::from_slice(manifest_bytes).map_err(|e| bad(e.to_string()))?;
        if manifest.format != FORMAT_VERSION {
            return Err(bad(format!(
                "format {} disagrees with the header's {FORMAT_VERSION}",
                manifest.format
            )));
        }
        let sizes: Vec<u64> = manifest.components.iter().map(|c| c.bytes).collect();
        if sizes != lengths {
            return Err(bad(format!(
                "the components' sizes are {sizes:?} but the header announces {lengths:?}"
            )));
        }
        check_order(&manifest.components).map_err(bad)?;
        if manifest.wit != WIT_PACKAGE {
            return Err(BundleError::Wit {
                path: path.to_path_buf(),
                found: manifest.wit,
                supported: WIT_PACKAGE,
            });
        }
        let actual = content_hash(&manifest, &components);
        if actual != manifest.sha256 {
            return Err(BundleError::HashMismatch {
                path: path.to_path_buf(),
                expected: manifest.sha256,
                actual,
            });
        }
        Ok(Bundle {
            manifest,
            components,
        })
    }
}

/// Steps first, then exactly one component that makes the rows.
fn check_order(components: &[ComponentInfo]) -> Result<(), String> {
    let Some((last, steps)) = components.split_last() else {
        return Err("components is empty".into());
    };
    if last.kind == ComponentKind::Step {
        return Err(
            "the last component is a step; it must make the rows (stock-mapper or custom)".into(),
        );
    }
    if let Some(i) = steps.iter().position(|c| c.kind != ComponentKind::Step) {
        return Err(format!(
            "component {i} is {}, but only the last component may make rows",
            steps[i].kind.as_str()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::manifest::{BundleOutput, BundleSource, ComponentInfo, ComponentKind};

    fn bundle() -> Bundle {
        Bundle::seal(
            Manifest {
                format: 0,
                job: "users".into(),
                wit: String::new(),
                wb_version: "0.1.0".into(),
                source: BundleSource {
                    key_pattern: "user:*".into(),
                    exclude_commands: vec!["hdel".into()],
                },
                outputs: vec![BundleOutput {
                    connection: "target".into(),
                    table: "public.users".into(),
                }],
                components: vec![
                    ComponentInfo {
                        kind: ComponentKind::Step,
                        bytes: 0,
                        params: [("mask".to_string(), "email".to_string())]
                            .into_iter()
                            .collect(),
                    },
                    ComponentInfo {
                        kind: ComponentKind::StockMapper,
                        bytes: 0,
                        params: [(
                            "spec".to_string(),
                            "output target users upsert\n".to_string(),
                        )]
                        .into_iter()
                        .collect(),
                    },
                ],
                sha256: String::new(),
            },
            vec![
                b"\0asm pretend step".to_vec(),
                b"\0asm pretend component \n bytes".to_vec(),
            ],
        )
    }

    fn path() -> &'static Path {
        Path::new("users.wbb")
    }

    #[test]
    fn round_trips_and_the_manifest_is_readable_text() {
        let bundle = bundle();
        assert_eq!(bundle.manifest.format, FORMAT_VERSION);
        assert_eq!(bundle.manifest.wit, WIT_PACKAGE);
        assert_eq!(bundle.manifest.components[0].bytes, 17);
        assert_eq!(bundle.manifest.components[1].bytes, 30);
        let bytes = bundle.to_bytes().unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("wb-bundle 2 "), "{text}");
        assert!(text.lines().next().unwrap().ends_with(" 17 30"), "{text}");
        assert!(text.contains("\"kind\": \"step\""), "{text}");
        assert!(text.contains("\"key_pattern\": \"user:*\""), "{text}");
        assert_eq!(Bundle::from_bytes(path(), &bytes).unwrap(), bundle);
    }

    #[test]
    fn tampering_is_refused_with_the_reason() {
        let bytes = bundle().to_bytes().unwrap();
        // A changed component byte.
        let mut changed = bytes.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        let err = Bundle::from_bytes(path(), &changed).unwrap_err();
        assert!(matches!(err, BundleError::HashMismatch { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("users.wbb: content hash mismatch"),
            "{err}"
        );
        // A changed manifest value of the same length.
        let text = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("user:*", "user:?");
        let err = Bundle::from_bytes(path(), text.as_bytes()).unwrap_err();
        assert!(matches!(err, BundleError::HashMismatch { .. }), "{err}");
        // Truncated.
        let err = Bundle::from_bytes(path(), &bytes[..bytes.len() - 2]).unwrap_err();
        assert!(matches!(err, BundleError::NotABundle { .. }), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
        // A step byte changed.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let changed = text.replacen("pretend step", "pretend stop", 1);
        let err = Bundle::from_bytes(path(), changed.as_bytes()).unwrap_err();
        assert!(matches!(err, BundleError::HashMismatch { .. }), "{err}");
        // Not a bundle at all.
        let err = Bundle::from_bytes(path(), b"\0asm\x01\0\0\0").unwrap_err();
        assert!(err.to_string().contains("not a wb bundle"), "{err}");
    }

    #[test]
    fn other_formats_and_wit_versions_are_refused() {
        let bytes = bundle().to_bytes().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let err = Bundle::from_bytes(
            path(),
            text.replacen("wb-bundle 2 ", "wb-bundle 1 ", 1).as_bytes(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                BundleError::Format {
                    found: 1,
                    supported: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = Bundle::from_bytes(
            path(),
            text.replace("wb:transform@0.1.0", "wb:transform@0.9.0")
                .as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(err, BundleError::Wit { .. }), "{err}");
        assert!(err.to_string().contains("wb:transform@0.9.0"), "{err}");
    }

    #[test]
    fn components_out_of_order_are_refused() {
        let mut manifest = bundle().manifest;
        manifest.components.swap(0, 1);
        let swapped = Bundle::seal(manifest, bundle().components);
        let err = Bundle::from_bytes(path(), &swapped.to_bytes().unwrap()).unwrap_err();
        assert!(matches!(err, BundleError::Manifest { .. }), "{err}");
        assert!(
            err.to_string().contains("the last component is a step"),
            "{err}"
        );
    }
}
