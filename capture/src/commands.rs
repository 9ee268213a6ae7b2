//! The module's commands: the job table, and this shard's streams.
//!
//! `WB.JOB.SET name pattern [EXCLUDE event ...]`: adds or replaces a job;
//!   replies with the job's stream on this shard.
//! `WB.JOB.DEL name`: removes a job; replies 1 if it existed, else 0.
//!   Its stream stays: the engine drains and deletes it.
//! `WB.JOB.LIST`: one `[name, pattern, [excluded events], stream]` per job.
//! `WB.STREAMS`: this shard's stream of every job.
//!
//! Changes to the table replicate verbatim, so replicas and the AOF keep the
//! same table.

use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

use crate::cluster;
use crate::guard::guarded;
use crate::jobs::{self, Job};
use crate::state;

fn internal_error() -> RedisResult {
    Err(RedisError::Str("ERR wb-capture internal error (logged)"))
}

fn stream_reply(job: &str) -> RedisValue {
    match state::tag() {
        Some(tag) => RedisValue::StringBuffer(jobs::stream_name(&tag, job)),
        None => RedisValue::Null,
    }
}

pub fn job_set(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded("WB.JOB.SET", internal_error(), || {
        cluster::refresh(ctx);
        if args.len() < 3 {
            return Err(RedisError::WrongArity);
        }
        let name = args[1]
            .try_as_str()
            .map_err(|_| RedisError::Str("ERR invalid job name: use A-Z a-z 0-9 _ - ."))?;
        let pattern = args[2].as_slice();
        let mut excluded = Vec::new();
        let mut rest = args[3..].iter();
        if let Some(keyword) = rest.next() {
            if !keyword.as_slice().eq_ignore_ascii_case(b"EXCLUDE") {
                return Err(RedisError::String(format!(
                    "ERR unexpected argument '{}': expected EXCLUDE event [event ...]",
                    String::from_utf8_lossy(keyword.as_slice())
                )));
            }
            for event in rest {
                excluded.push(String::from_utf8_lossy(event.as_slice()).into_owned());
            }
            if excluded.is_empty() {
                return Err(RedisError::Str("ERR EXCLUDE needs at least one event name"));
            }
        }
        let job = Job::new(name, pattern, excluded)
            .map_err(|e| RedisError::String(format!("ERR job '{name}': {e}")))?;
        state::update_table(|table| table.set(job));
        ctx.replicate_verbatim();
        Ok(stream_reply(name))
    })
}

pub fn job_del(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded("WB.JOB.DEL", internal_error(), || {
        if args.len() != 2 {
            return Err(RedisError::WrongArity);
        }
        let name = String::from_utf8_lossy(args[1].as_slice());
        let removed = state::update_table(|table| table.remove(&name));
        if removed {
            ctx.replicate_verbatim();
        }
        Ok(RedisValue::Integer(i64::from(removed)))
    })
}

pub fn job_list(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded("WB.JOB.LIST", internal_error(), || {
        cluster::refresh(ctx);
        if args.len() != 1 {
            return Err(RedisError::WrongArity);
        }
        let rows = state::table()
            .jobs()
            .map(|job| {
                RedisValue::Array(vec![
                    RedisValue::BulkString(job.name.clone()),
                    RedisValue::StringBuffer(job.pattern.clone()),
                    RedisValue::Array(
                        job.excluded
                            .iter()
                            .cloned()
                            .map(RedisValue::BulkString)
                            .collect(),
                    ),
                    stream_reply(&job.name),
                ])
            })
            .collect();
        Ok(RedisValue::Array(rows))
    })
}

pub fn streams(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded("WB.STREAMS", internal_error(), || {
        cluster::refresh(ctx);
        if args.len() != 1 {
            return Err(RedisError::WrongArity);
        }
        let names = state::table()
            .jobs()
            .map(|job| stream_reply(&job.name))
            .filter(|reply| *reply != RedisValue::Null)
            .collect();
        Ok(RedisValue::Array(names))
    })
}
