//! Warning about eviction policies that can remove the change streams.
//!
//! With an `allkeys-*` policy, a server under memory pressure may evict a
//! job's stream like any other key, and the changes in it are lost. The
//! module cannot prevent that; it says so in the log when it loads and
//! whenever the policy is set, so an operator sees it.

use redis_module::{Context, RedisValue};

/// Logs a warning if the current `maxmemory-policy` can evict streams.
pub fn check_policy(ctx: &Context) {
    let Ok(RedisValue::Array(reply)) = ctx.call("CONFIG", &["GET", "maxmemory-policy"]) else {
        return;
    };
    let policy = match reply.get(1) {
        Some(RedisValue::BulkString(p) | RedisValue::SimpleString(p)) => p.clone(),
        Some(RedisValue::StringBuffer(p)) => String::from_utf8_lossy(p).into_owned(),
        _ => return,
    };
    if policy.starts_with("allkeys-") {
        ctx.log_warning(&format!(
            "wb-capture: maxmemory-policy {policy} can evict wb's change streams and lose the \
             changes in them; use noeviction or a volatile-* policy"
        ));
    }
}
