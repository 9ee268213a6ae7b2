//! Server strings the module keeps: entry field names, type labels, event
//! names and stream names.
//!
//! Every entry repeats the same field names and, nearly always, one of a few
//! dozen event names and one of a few stream names. They are created once
//! and shared by every entry, instead of being created and freed per change.

use std::collections::HashMap;
use std::ffi::c_char;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr;
use std::sync::{LazyLock, Mutex, PoisonError};

use redis_module::raw;

use crate::capture::ValueKind;

/// A server string. Shared ones live as long as the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RString(pub *mut raw::RedisModuleString);

// SAFETY: Redis runs module callbacks on its main thread only; these
// pointers are created, used and freed there.
unsafe impl Send for RString {}
unsafe impl Sync for RString {}

impl RString {
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }
}

/// A new string, owned by the module (no context), holding `bytes`.
pub fn create(bytes: &[u8]) -> RString {
    // SAFETY: Redis copies `bytes`; a string created without a context lives
    // until it is freed with a null context.
    RString(unsafe {
        raw::RedisModule_CreateString.map_or(ptr::null_mut(), |create| {
            create(
                ptr::null_mut(),
                bytes.as_ptr().cast::<c_char>(),
                bytes.len(),
            )
        })
    })
}

/// Frees a string made by [`create`] or held with a null context.
pub fn free(s: RString) {
    if s.is_null() {
        return;
    }
    // SAFETY: `s` was created or held without a context and is freed once.
    unsafe {
        if let Some(free) = raw::RedisModule_FreeString {
            free(ptr::null_mut(), s.0);
        }
    }
}

/// How many distinct strings are shared before new ones stop being kept.
const MAX_SHARED: usize = 4096;

/// FNV-1a: the shared names are a few short strings, looked up on every
/// change, where SipHash's set-up costs more than the lookup itself.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type SharedMap = HashMap<Box<[u8]>, RString, BuildHasherDefault<Fnv>>;

static SHARED: LazyLock<Mutex<SharedMap>> = LazyLock::new(|| Mutex::new(SharedMap::default()));

/// A string for `bytes` owned by a single user, or shared by all.
#[derive(Debug)]
pub struct Interned {
    pub ptr: RString,
    owned: bool,
}

impl Drop for Interned {
    fn drop(&mut self) {
        if self.owned {
            free(self.ptr);
        }
    }
}

/// The shared string for `bytes`, created on first use; past
/// [`MAX_SHARED`] distinct values, a string of its own.
pub fn intern(bytes: &[u8]) -> Interned {
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = shared.get(bytes) {
        return Interned {
            ptr: *s,
            owned: false,
        };
    }
    let s = create(bytes);
    if s.is_null() || shared.len() >= MAX_SHARED {
        return Interned {
            ptr: s,
            owned: true,
        };
    }
    shared.insert(bytes.into(), s);
    Interned {
        ptr: s,
        owned: false,
    }
}

/// A shared string for `bytes` that is never freed (stream names).
pub fn shared(bytes: &[u8]) -> RString {
    let interned = intern(bytes);
    if interned.owned {
        // Over the cap: keep it for the module's lifetime anyway; stream
        // names are few and this only happens if a table churns thousands.
        let ptr = interned.ptr;
        std::mem::forget(interned);
        return ptr;
    }
    interned.ptr
}

/// The field names and type labels of stream entries.
pub struct Fields {
    pub key: RString,
    pub event: RString,
    pub kind: RString,
    kinds: Vec<(ValueKind, RString)>,
}

static FIELDS: LazyLock<Fields> = LazyLock::new(|| Fields {
    key: create(b"key"),
    event: create(b"event"),
    kind: create(b"type"),
    kinds: ValueKind::ALL
        .iter()
        .map(|k| (*k, create(k.label().to_bytes())))
        .collect(),
});

/// Creates the field strings; false if the server could not.
pub fn init() -> bool {
    let f = &*FIELDS;
    !f.key.is_null()
        && !f.event.is_null()
        && !f.kind.is_null()
        && f.kinds.iter().all(|(_, s)| !s.is_null())
}

pub fn fields() -> &'static Fields {
    &FIELDS
}

impl Fields {
    /// The label of a value kind.
    pub fn kind(&self, kind: ValueKind) -> RString {
        self.kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(RString(ptr::null_mut()), |(_, s)| *s)
    }
}
