//! The module's entry points: loading, server events and command table.
//!
//! Left out of unit-test builds, which run outside Redis: registering the
//! module installs Redis's allocator as the global one.

use std::ffi::c_int;
use std::time::Duration;

use redis_module::alloc::RedisAlloc;
use redis_module::server_events::{FlushSubevent, LoadingSubevent, ServerRole};
use redis_module::{raw, Context, ContextFlags, RedisString, Status};
use redis_module_macros::{
    config_changed_event_handler, flush_event_handler, loading_event_handler,
    role_changed_event_handler,
};

use crate::guard::guarded;
use crate::{capture, cluster, commands, eviction, jobs, persist, state, strings};

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
    if !strings::init() {
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
    eviction::check_policy(ctx);
    let flags = ctx.get_flags();
    state::set_primary(!flags.contains(ContextFlags::SLAVE));
    state::set_loading(flags.contains(ContextFlags::LOADING));
    if flags.contains(ContextFlags::CLUSTER) {
        state::set_cluster(true);
        state::set_tag(None);
        cluster::refresh(ctx);
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

#[config_changed_event_handler]
fn on_config_changed(ctx: &Context, changed: &[&str]) {
    if changed.contains(&"maxmemory-policy") {
        guarded("config event", (), || eviction::check_policy(ctx));
    }
}

#[flush_event_handler]
fn on_flush(ctx: &Context, event: FlushSubevent) {
    if event == FlushSubevent::Ended {
        guarded("flush event", (), || capture::record_flush(ctx));
    }
}

/// Redis's allocator serves every allocation the module makes, so that the
/// server's memory accounting (INFO, maxmemory) includes the module's.
#[global_allocator]
static ALLOCATOR: RedisAlloc = RedisAlloc;

/// Registers one command whose handler is a plain Rust function.
macro_rules! command {
    ($ctx:expr, $name:literal, $handler:path, $flags:literal) => {{
        extern "C" fn call(
            ctx: *mut raw::RedisModuleCtx,
            argv: *mut *mut raw::RedisModuleString,
            argc: c_int,
        ) -> c_int {
            let context = Context::new(ctx);
            let args = redis_module::decode_args(ctx, argv, argc);
            context.reply($handler(&context, args)) as c_int
        }
        // SAFETY: the name and flags are NUL-terminated literals and `call`
        // lives as long as the module.
        let created = unsafe {
            raw::RedisModule_CreateCommand.map_or(raw::Status::Err as c_int, |create| {
                create($ctx, $name.as_ptr(), Some(call), $flags.as_ptr(), 0, 0, 0)
            })
        };
        created == raw::Status::Ok as c_int
    }};
}

/// The module's entry point, called by Redis when it loads the module.
///
/// Written out rather than generated so that the server check comes before
/// anything that needs a newer server: on Redis 7.0 the module must say
/// why it cannot run, not crash the server.
///
/// # Safety
/// Redis calls it once, on its main thread, with a valid context.
#[no_mangle]
pub unsafe extern "C" fn RedisModule_OnLoad(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    // SAFETY: the name is a NUL-terminated literal; this fills in the API
    // function pointers that everything below uses.
    let initialized = unsafe {
        raw::Export_RedisModule_Init(ctx, c"wb".as_ptr(), 1, raw::REDISMODULE_APIVER_1 as c_int)
    };
    if initialized == raw::Status::Err as c_int {
        return raw::Status::Err as c_int;
    }
    let context = Context::new(ctx);
    let _ = redis_module::MODULE_CONTEXT.set_context(&context);
    let args = redis_module::decode_args(ctx, argv, argc);
    let status = guarded("module load", Status::Err, || load(&context, &args));
    status as c_int
}

fn load(ctx: &Context, args: &[RedisString]) -> Status {
    if init(ctx, args) == Status::Err {
        return Status::Err;
    }
    let commands = command!(ctx.ctx, c"wb.job.set", commands::job_set, c"write")
        && command!(ctx.ctx, c"wb.job.del", commands::job_del, c"write")
        && command!(ctx.ctx, c"wb.job.list", commands::job_list, c"readonly")
        && command!(ctx.ctx, c"wb.streams", commands::streams, c"readonly");
    if !commands {
        ctx.log_warning("wb-capture: could not register its commands");
        return Status::Err;
    }
    if let Err(e) = redis_module::server_events::register_server_events(ctx) {
        ctx.log_warning(&format!(
            "wb-capture: could not subscribe to server events: {e}"
        ));
        return Status::Err;
    }
    Status::Ok
}
