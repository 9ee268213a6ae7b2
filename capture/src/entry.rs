//! The module's entry points: loading, server events and command table.
//!
//! Left out of unit-test builds, which run outside Redis: registering the
//! module installs Redis's allocator as the global one.

use std::ffi::c_int;
use std::time::Duration;

use redis_module::server_events::{FlushSubevent, LoadingSubevent, ServerRole};
use redis_module::{raw, redis_module, Context, ContextFlags, RedisString, Status};
use redis_module_macros::{flush_event_handler, loading_event_handler, role_changed_event_handler};

use crate::guard::guarded;
use crate::{capture, cluster, commands, fields, jobs, persist, state};

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    // SAFETY: reading a function pointer Redis filled in during module init.
    if unsafe { raw::RedisModule_AddPostNotificationJob }.is_none() {
        let version = ctx
            .get_redis_version()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.patch))
            .unwrap_or_else(|_| "unknown".to_owned());
        ctx.log_warning(&format!(
            "wb-capture: refusing to load: this server (Redis {version}) has no post-notification \
             jobs, which wb needs to record changes safely; use Redis 7.2+ or Valkey 8+"
        ));
        return Status::Err;
    }
    if persist::JOB_TABLE_TYPE.create_data_type(ctx.ctx).is_err() {
        return Status::Err;
    }
    if !fields::init() {
        ctx.log_warning("wb-capture: could not create its field strings");
        return Status::Err;
    }
    // SAFETY: subscribing a callback that lives as long as the module.
    let subscribed = unsafe {
        raw::RedisModule_SubscribeToKeyspaceEvents.map_or(raw::Status::Err as c_int, |subscribe| {
            subscribe(
                ctx.ctx,
                capture::subscribed_events().bits(),
                Some(capture::on_keyspace_event),
            )
        })
    };
    if subscribed != raw::Status::Ok as c_int {
        ctx.log_warning("wb-capture: could not subscribe to keyspace events");
        return Status::Err;
    }
    let flags = ctx.get_flags();
    state::set_primary(!flags.contains(ContextFlags::SLAVE));
    state::set_loading(flags.contains(ContextFlags::LOADING));
    if flags.contains(ContextFlags::CLUSTER) {
        schedule_cluster_refresh(ctx);
    }
    Status::Ok
}

/// Recomputes the shard's tag now and every [`cluster::REFRESH_MS`].
fn schedule_cluster_refresh(ctx: &Context) {
    ctx.create_timer(
        Duration::from_millis(cluster::REFRESH_MS),
        |ctx: &Context, ()| {
            guarded("cluster refresh", (), || cluster::refresh(ctx));
            schedule_cluster_refresh(ctx);
        },
        (),
    );
}

#[role_changed_event_handler]
fn on_role_changed(_ctx: &Context, role: ServerRole) {
    state::set_primary(role == ServerRole::Primary);
}

#[loading_event_handler]
fn on_loading(_ctx: &Context, event: LoadingSubevent) {
    guarded("loading event", (), || match event {
        LoadingSubevent::RdbStarted
        | LoadingSubevent::AofStarted
        | LoadingSubevent::ReplStarted => {
            state::set_loading(true);
            // The data being loaded carries its own job table (or none):
            // start from an empty one so a table dropped there stays dropped.
            state::update_table(|table| *table = jobs::JobTable::default());
        }
        LoadingSubevent::Ended | LoadingSubevent::Failed => state::set_loading(false),
    });
}

#[flush_event_handler]
fn on_flush(ctx: &Context, event: FlushSubevent) {
    if event == FlushSubevent::Ended {
        guarded("flush event", (), || capture::record_flush(ctx));
    }
}

redis_module! {
    name: "wb",
    version: 1,
    allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
    data_types: [],
    init: init,
    commands: [
        ["wb.job.set", commands::job_set, "write", 0, 0, 0, ""],
        ["wb.job.del", commands::job_del, "write", 0, 0, 0, ""],
        ["wb.job.list", commands::job_list, "readonly", 0, 0, 0, ""],
        ["wb.streams", commands::streams, "readonly", 0, 0, 0, ""],
    ],
}
