//! Reading and writing bundle files (layout in the module documentation).

use std::path::Path;

use crate::transform::{Limits, TransformError, WasmHost, WasmTransform};

use super::error::BundleError;
use super::hash::content_hash;
use super::manifest::{ComponentKind, Manifest, FORMAT_VERSION, WIT_PACKAGE};

/// The first word of every bundle file.
const MAGIC: &str = "wb-bundle";

/// Longest header line read before giving up on a file that is not a
/// bundle.
const MAX_HEADER: usize = 128;

/// A compiled job: its manifest and its component's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub manifest: Manifest,
    pub component: Vec<u8>,
}

impl Bundle {
    /// A bundle of `component` with `manifest`, whose size and hash fields
    /// are filled in here.
    pub fn seal(mut manifest: Manifest, component: Vec<u8>) -> Bundle {
        manifest.format = FORMAT_VERSION;
        manifest.wit = WIT_PACKAGE.to_string();
        manifest.component.bytes = component.len() as u64;
        manifest.sha256 = content_hash(&manifest, &component);
        Bundle {
            manifest,
            component,
        }
    }

    /// The params for the component's `init`, in name order.
    pub fn params(&self) -> Vec<(String, String)> {
        self.manifest
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Compiles and links the component and runs its `init` with the
    /// bundle's params. The stock mapper is wb's own code and is granted the
    /// wall clock (its `time_delta_*` functions read it); a custom component
    /// gets what `limits` grants.
    pub fn load(
        &self,
        host: &WasmHost,
        mut limits: Limits,
    ) -> Result<WasmTransform, TransformError> {
        if self.manifest.component.kind == ComponentKind::StockMapper {
            limits.wall_clock = true;
        }
        host.load(&self.manifest.job, &self.component, self.params(), limits)
    }

    /// The file's bytes: the header line, the manifest, a newline, the
    /// component.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let manifest = serde_json::to_vec_pretty(&self.manifest)?;
        let header = format!(
            "{MAGIC} {} {} {}\n",
            self.manifest.format,
            manifest.len(),
            self.component.len()
        );
        let mut out = Vec::with_capacity(header.len() + manifest.len() + 1 + self.component.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&manifest);
        out.push(b'\n');
        out.extend_from_slice(&self.component);
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
    /// format, the WIT package and the content hash must all match.
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
        let component_len = number(3, "component length")?;
        let body = &bytes[end + 1..];
        let expected = manifest_len
            .checked_add(1)
            .and_then(|n| n.checked_add(component_len));
        if expected != Some(body.len() as u64) {
            return Err(not(format!(
                "the header announces a {manifest_len}-byte manifest and a {component_len}-byte component, but {} bytes follow it (truncated or extended)",
                body.len()
            )));
        }
        // Both lengths fit in the body, which is in memory: no overflow.
        let manifest_len = manifest_len as usize;
        let (manifest_bytes, rest) = body.split_at(manifest_len);
        if rest.first() != Some(&b'\n') {
            return Err(not("no newline after the manifest".into()));
        }
        let component = rest[1..].to_vec();
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
        if manifest.component.bytes != component_len {
            return Err(bad(format!(
                "component.bytes is {} but the header announces {component_len}",
                manifest.component.bytes
            )));
        }
        if manifest.wit != WIT_PACKAGE {
            return Err(BundleError::Wit {
                path: path.to_path_buf(),
                found: manifest.wit,
                supported: WIT_PACKAGE,
            });
        }
        let actual = content_hash(&manifest, &component);
        if actual != manifest.sha256 {
            return Err(BundleError::HashMismatch {
                path: path.to_path_buf(),
                expected: manifest.sha256,
                actual,
            });
        }
        Ok(Bundle {
            manifest,
            component,
        })
    }
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
                component: ComponentInfo {
                    kind: ComponentKind::Custom,
                    bytes: 0,
                },
                params: [("table".to_string(), "users".to_string())]
                    .into_iter()
                    .collect(),
                sha256: String::new(),
            },
            b"\0asm pretend component \n bytes".to_vec(),
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
        assert_eq!(bundle.manifest.component.bytes, 30);
        let bytes = bundle.to_bytes().unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("wb-bundle 1 "), "{text}");
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
            text.replacen("wb-bundle 1 ", "wb-bundle 2 ", 1).as_bytes(),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                BundleError::Format {
                    found: 2,
                    supported: 1,
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
}
