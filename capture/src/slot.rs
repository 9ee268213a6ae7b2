//! Cluster hash slots, and the hashtag that pins a shard's streams to it.
//!
//! In Redis Cluster a key lives on the shard that owns its hash slot. The
//! capture module writes a job's changes into a stream on the same shard as
//! the changed key, so the stream name carries a hashtag chosen to hash to a
//! slot this shard owns. Standalone servers own every slot, so they get the
//! first tag, `0`, and a fixed name.

/// Number of hash slots in Redis Cluster.
pub const SLOTS: u16 = 16384;

/// CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of `key`, honouring `{hashtag}`s as Redis does: only the
/// part between the first `{` and the next `}` is hashed, if it is not empty.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOTS
}

/// The smallest decimal tag (`0`, `1`, ...) whose slot `owns` accepts, or
/// `None` when the shard owns no slot at all.
pub fn shard_tag(owns: impl Fn(u16) -> bool) -> Option<String> {
    // Every slot is hit by some tag below this bound (checked by a test), so
    // a shard that owns any slot finds its tag.
    (0..TAG_SEARCH_LIMIT)
        .map(|n| n.to_string())
        .find(|tag| owns(key_slot(tag.as_bytes())))
}

/// Upper bound of the decimal tags tried by [`shard_tag`].
const TAG_SEARCH_LIMIT: u32 = 200_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_the_reference_vector() {
        // The check value of CRC16/XMODEM.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(
            key_slot(b"foo{}{bar}"),
            key_slot(b"bar"),
            "empty tag hashes the whole key"
        );
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn standalone_gets_tag_zero() {
        assert_eq!(shard_tag(|_| true).as_deref(), Some("0"));
        assert_eq!(shard_tag(|_| false), None);
    }

    #[test]
    fn every_slot_has_a_tag() {
        let mut seen = vec![false; usize::from(SLOTS)];
        for n in 0..TAG_SEARCH_LIMIT {
            seen[usize::from(key_slot(n.to_string().as_bytes()))] = true;
        }
        assert!(seen.iter().all(|&s| s), "some slot has no decimal tag");
        let only = 4242;
        let tag = shard_tag(|slot| slot == only).expect("a tag for slot 4242");
        assert_eq!(key_slot(tag.as_bytes()), only);
    }
}
