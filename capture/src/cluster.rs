//! Finding this shard's tag in Redis Cluster.
//!
//! A standalone server owns every slot and keeps the tag `0`. In cluster mode
//! the module asks the server which slots this node serves as a primary and
//! picks the first tag that hashes into one of them: when it loads, before
//! every job command, whenever a change arrives while it has no tag (a node
//! that was just given its first slots), and every second from a timer, so
//! that the tag follows slot migrations and failovers.

use redis_module::{Context, RedisValue};

use crate::slot;
use crate::state;

/// How often the tag is recomputed in cluster mode.
pub const REFRESH_MS: u64 = 1000;

/// Recomputes the tag; logs when it changes.
pub fn refresh(ctx: &Context) {
    if !state::cluster() {
        return;
    }
    let Some(ranges) = owned_slot_ranges(ctx) else {
        return;
    };
    let tag = slot::shard_tag(|s| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&s)));
    let shown = tag
        .clone()
        .unwrap_or_else(|| "none (no slots owned)".to_owned());
    if state::set_tag(tag) {
        ctx.log_notice(&format!(
            "wb-capture: this shard's stream tag is now {shown}"
        ));
    }
}

/// The slot ranges this node serves as a primary, from `CLUSTER SLOTS`;
/// `None` when the server did not answer as expected.
fn owned_slot_ranges(ctx: &Context) -> Option<Vec<(u16, u16)>> {
    let my_id = match ctx.call("CLUSTER", &["MYID"]).ok()? {
        RedisValue::BulkString(id) | RedisValue::SimpleString(id) => id,
        RedisValue::StringBuffer(id) => String::from_utf8(id).ok()?,
        _ => return None,
    };
    let RedisValue::Array(entries) = ctx.call("CLUSTER", &["SLOTS"]).ok()? else {
        return None;
    };
    let mut ranges = Vec::new();
    for entry in entries {
        let RedisValue::Array(parts) = entry else {
            continue;
        };
        let (
            Some(RedisValue::Integer(lo)),
            Some(RedisValue::Integer(hi)),
            Some(RedisValue::Array(primary)),
        ) = (parts.first(), parts.get(1), parts.get(2))
        else {
            continue;
        };
        let node_id = match primary.get(2) {
            Some(RedisValue::BulkString(id)) | Some(RedisValue::SimpleString(id)) => id.clone(),
            Some(RedisValue::StringBuffer(id)) => String::from_utf8_lossy(id).into_owned(),
            _ => continue,
        };
        if node_id == my_id {
            if let (Ok(lo), Ok(hi)) = (u16::try_from(*lo), u16::try_from(*hi)) {
                ranges.push((lo, hi));
            }
        }
    }
    Some(ranges)
}
