//! The content hash of a bundle.
//!
//! sha256 over a sequence of length-prefixed fields (each an 8-byte
//! little-endian length, then the bytes), in this order: the text
//! `wb-bundle/1`, the job name, the WIT package, the key pattern, the
//! number of excluded commands and each of them, the number of outputs and
//! each output's connection and table, the number of components, and for
//! each component in order its kind, the number of its params, each name
//! and value (sorted by name) and its bytes. Numbers are written as decimal text. The wb version and the hash
//! itself are left out, so the same job and component give the same hash
//! whatever wb version compiled them.

use sha2::{Digest, Sha256};

use super::manifest::Manifest;

/// The hex sha256 of `manifest`'s hashed fields and `components` (one per
/// entry of `manifest.components`, in order).
pub fn content_hash(manifest: &Manifest, components: &[Vec<u8>]) -> String {
    let mut hasher = Sha256::new();
    let mut put = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    put(format!("wb-bundle/{}", manifest.format).as_bytes());
    put(manifest.job.as_bytes());
    put(manifest.wit.as_bytes());
    put(manifest.source.key_pattern.as_bytes());
    put(manifest
        .source
        .exclude_commands
        .len()
        .to_string()
        .as_bytes());
    for command in &manifest.source.exclude_commands {
        put(command.as_bytes());
    }
    put(manifest.outputs.len().to_string().as_bytes());
    for output in &manifest.outputs {
        put(output.connection.as_bytes());
        put(output.table.as_bytes());
    }
    put(manifest.components.len().to_string().as_bytes());
    for (info, bytes) in manifest.components.iter().zip(components) {
        put(info.kind.as_str().as_bytes());
        put(info.params.len().to_string().as_bytes());
        for (name, value) in &info.params {
            put(name.as_bytes());
            put(value.as_bytes());
        }
        put(bytes);
    }
    hex(&hasher.finalize())
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::manifest::{
        BundleOutput, BundleSource, ComponentInfo, ComponentKind, FORMAT_VERSION, WIT_PACKAGE,
    };

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            job: "users".into(),
            wit: WIT_PACKAGE.into(),
            wb_version: "0.1.0".into(),
            source: BundleSource {
                key_pattern: "user:*".into(),
                exclude_commands: vec![],
            },
            outputs: vec![BundleOutput {
                connection: "target".into(),
                table: "users".into(),
            }],
            components: vec![
                ComponentInfo {
                    kind: ComponentKind::Step,
                    bytes: 3,
                    params: [("mask".to_string(), "email".to_string())]
                        .into_iter()
                        .collect(),
                },
                ComponentInfo {
                    kind: ComponentKind::StockMapper,
                    bytes: 3,
                    params: [(
                        "spec".to_string(),
                        "output target users upsert\n".to_string(),
                    )]
                    .into_iter()
                    .collect(),
                },
            ],
            sha256: String::new(),
        }
    }

    fn wasm(step: &[u8], mapper: &[u8]) -> Vec<Vec<u8>> {
        vec![step.to_vec(), mapper.to_vec()]
    }

    #[test]
    fn sha256_of_known_input() {
        // The standard test vector: sha256("abc").
        let mut hasher = Sha256::new();
        hasher.update(b"abc");
        assert_eq!(
            hex(&hasher.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_hashed_field_changes_the_hash_and_the_version_does_not() {
        let abc = wasm(b"stp", b"abc");
        let base = content_hash(&manifest(), &abc);
        assert_eq!(base.len(), 64);
        assert_eq!(base, content_hash(&manifest(), &abc));
        let mut other = manifest();
        other.wb_version = "9.9.9".into();
        assert_eq!(base, content_hash(&other, &abc), "wb_version is not hashed");
        // Each component's bytes.
        assert_ne!(base, content_hash(&manifest(), &wasm(b"stp", b"abd")));
        assert_ne!(base, content_hash(&manifest(), &wasm(b"stq", b"abc")));
        let changes: Vec<fn(&mut Manifest)> = vec![
            |m| m.job = "user".into(),
            |m| m.source.key_pattern = "users:*".into(),
            |m| m.source.exclude_commands.push("hdel".into()),
            |m| m.outputs[0].table = "people".into(),
            |m| m.outputs[0].connection = "other".into(),
            |m| m.components[1].kind = ComponentKind::Custom,
            |m| m.components[0].kind = ComponentKind::Custom,
            |m| {
                m.components[1]
                    .params
                    .insert("spec".into(), "output target people upsert\n".into());
            },
            |m| {
                m.components[0].params.insert("extra".into(), String::new());
            },
            |m| m.components.swap(0, 1),
        ];
        for change in changes {
            let mut changed = manifest();
            change(&mut changed);
            assert_ne!(base, content_hash(&changed, &abc), "{changed:?}");
        }
    }

    #[test]
    fn field_boundaries_are_part_of_the_hash() {
        // "ab" + "c" and "a" + "bc" must not collide, in params or in the
        // split between two components' bytes.
        let mut one = manifest();
        one.components[1].params = [("ab".to_string(), "c".to_string())].into_iter().collect();
        let mut two = manifest();
        two.components[1].params = [("a".to_string(), "bc".to_string())].into_iter().collect();
        let empty = wasm(b"", b"");
        assert_ne!(content_hash(&one, &empty), content_hash(&two, &empty));
        assert_ne!(
            content_hash(&manifest(), &wasm(b"ab", b"c")),
            content_hash(&manifest(), &wasm(b"a", b"bc"))
        );
    }
}
