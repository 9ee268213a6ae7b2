//! Keeping the job table in RDB files, and so across restarts, full syncs and
//! AOF rewrites (whose base is an RDB file by default).
//!
//! The table is module state, not a key: FLUSHALL does not erase it and in a
//! cluster it belongs to the node, not to a slot. It travels as the module's
//! auxiliary data, written before the keys; changes between snapshots travel
//! as the `WB.JOB.*` commands themselves, which replicate verbatim into the
//! replication stream and the AOF. An empty table writes nothing, so an RDB
//! file of a server without jobs loads without the module.

use std::ffi::c_int;
use std::ptr;

use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::guard::guarded;
use crate::jobs::JobTable;
use crate::state;

/// The module's data type: it holds no keys, only the auxiliary data.
pub static JOB_TABLE_TYPE: RedisType = RedisType::new(
    "wbcapture",
    1,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(no_key_load),
        rdb_save: Some(no_key_save),
        aof_rewrite: None,
        mem_usage: None,
        digest: None,
        free: Some(no_key_free),
        aux_load: Some(aux_load),
        aux_save: None,
        aux_save_triggers: raw::REDISMODULE_AUX_BEFORE_RDB as c_int,
        free_effort: None,
        unlink: None,
        copy: None,
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: Some(aux_save),
    },
);

extern "C" fn aux_save(rdb: *mut raw::RedisModuleIO, _when: c_int) {
    guarded("aux save", (), || {
        let table = state::table();
        if !table.is_empty() {
            raw::save_slice(rdb, &table.encode());
        }
    });
}

extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, _encver: c_int, _when: c_int) -> c_int {
    guarded("aux load", raw::Status::Err as c_int, || {
        let loaded = raw::load_string_buffer(rdb)
            .ok()
            .and_then(|buffer| JobTable::decode(buffer.as_ref()));
        match loaded {
            Some(table) => {
                state::update_table(|current| *current = table);
                raw::Status::Ok as c_int
            }
            None => {
                redis_module::logging::log_warning(
                    "wb-capture: the job table in this RDB file is unreadable",
                );
                raw::Status::Err as c_int
            }
        }
    })
}

// The type never has keys; these exist because Redis requires them.
extern "C" fn no_key_load(_rdb: *mut raw::RedisModuleIO, _encver: c_int) -> *mut std::ffi::c_void {
    ptr::null_mut()
}

extern "C" fn no_key_save(_rdb: *mut raw::RedisModuleIO, _value: *mut std::ffi::c_void) {}

extern "C" fn no_key_free(_value: *mut std::ffi::c_void) {}
