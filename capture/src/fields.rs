//! The strings every stream entry repeats: field names and type labels.
//!
//! They are created once when the module loads, instead of once per change.

use std::ffi::{c_char, CStr};
use std::ptr;
use std::sync::OnceLock;

use redis_module::raw;

use crate::capture::ValueKind;

const KINDS: [ValueKind; 9] = [
    ValueKind::Hash,
    ValueKind::Set,
    ValueKind::SortedSet,
    ValueKind::Json,
    ValueKind::String,
    ValueKind::List,
    ValueKind::Stream,
    ValueKind::Module,
    ValueKind::None,
];

/// Strings that live as long as the module.
pub struct Fields {
    pub key: *mut raw::RedisModuleString,
    pub event: *mut raw::RedisModuleString,
    pub kind: *mut raw::RedisModuleString,
    kinds: [*mut raw::RedisModuleString; KINDS.len()],
}

// SAFETY: Redis runs module callbacks on its main thread only; these strings
// are created once and never freed or mutated, only passed to Redis there.
unsafe impl Send for Fields {}
unsafe impl Sync for Fields {}

static FIELDS: OnceLock<Fields> = OnceLock::new();

fn create(text: &CStr) -> *mut raw::RedisModuleString {
    let bytes = text.to_bytes();
    // SAFETY: a string created without a context is owned by the module and
    // lives until freed, which it never is.
    unsafe {
        raw::RedisModule_CreateString.map_or(ptr::null_mut(), |create| {
            create(
                ptr::null_mut(),
                bytes.as_ptr().cast::<c_char>(),
                bytes.len(),
            )
        })
    }
}

/// Creates the strings; returns false if Redis could not.
pub fn init() -> bool {
    let fields = FIELDS.get_or_init(|| Fields {
        key: create(c"key"),
        event: create(c"event"),
        kind: create(c"type"),
        kinds: KINDS.map(|k| create(k.label())),
    });
    !fields.key.is_null()
        && !fields.event.is_null()
        && !fields.kind.is_null()
        && fields.kinds.iter().all(|s| !s.is_null())
}

/// The strings, once [`init`] has run.
pub fn get() -> Option<&'static Fields> {
    FIELDS.get()
}

impl Fields {
    /// The label of a value kind.
    pub fn kind(&self, kind: ValueKind) -> *mut raw::RedisModuleString {
        let index = KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(KINDS.len() - 1);
        self.kinds[index]
    }
}
