//! Recording changes: the keyspace-notification callback and the
//! post-notification job that appends to the job streams.
//!
//! Writing from inside a notification callback is unsafe, so the callback only
//! decides which streams record the change and queues a post-notification
//! job; Redis runs the job once the command that made the change is done,
//! inside the same execution unit, and propagates its writes to replicas and
//! the AOF in one MULTI/EXEC with that command. The change is therefore
//! exactly as durable as the write itself.
//!
//! This is the hot path of every write to a tracked key, so it uses the
//! low-level key and stream API rather than `RedisModule_Call`, and it
//! replicates each entry with the ID the primary chose, so replicas hold
//! the same entries under the same IDs.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use redis_module::{raw, Context, NotifyEvent};

use crate::guard::guarded;
use crate::state;
use crate::strings::{self, Interned, RString};

/// The classes of keyspace events the module subscribes to.
pub fn subscribed_events() -> NotifyEvent {
    NotifyEvent::HASH
        | NotifyEvent::SET
        | NotifyEvent::ZSET
        | NotifyEvent::GENERIC
        | NotifyEvent::EXPIRED
        | NotifyEvent::EVICTED
        | NotifyEvent::MODULE
}

/// A change waiting for its post-notification job.
struct PendingChange {
    streams: Streams,
    /// The key (held, not copied), or `None` for a flush.
    key: Option<HeldString>,
    event: Interned,
    kind: ValueKind,
}

/// The streams a change goes to: nearly always one, so that one needs no
/// allocation.
enum Streams {
    One(RString),
    Many(Vec<RString>),
}

impl Streams {
    fn collect<'a>(mut streams: impl Iterator<Item = &'a RString>) -> Option<Streams> {
        let first = *streams.next()?;
        match streams.next() {
            None => Some(Streams::One(first)),
            Some(second) => {
                let mut all = vec![first, *second];
                all.extend(streams.copied());
                Some(Streams::Many(all))
            }
        }
    }

    fn as_slice(&self) -> &[RString] {
        match self {
            Streams::One(s) => std::slice::from_ref(s),
            Streams::Many(v) => v,
        }
    }
}

/// What kind of value the key holds, as recorded in an entry's `type` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Hash,
    Set,
    SortedSet,
    Json,
    String,
    List,
    Stream,
    Module,
    /// The key does not exist (deleted, expired, evicted, renamed away).
    None,
}

impl ValueKind {
    pub const ALL: [ValueKind; 9] = [
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

    pub fn label(self) -> &'static CStr {
        match self {
            ValueKind::Hash => c"hash",
            ValueKind::Set => c"set",
            ValueKind::SortedSet => c"zset",
            ValueKind::Json => c"json",
            ValueKind::String => c"string",
            ValueKind::List => c"list",
            ValueKind::Stream => c"stream",
            ValueKind::Module => c"module",
            ValueKind::None => c"none",
        }
    }
}

/// The kind an event's class implies, where it implies one.
fn kind_of_class(class: NotifyEvent, event: &[u8]) -> Option<ValueKind> {
    if class.contains(NotifyEvent::HASH) {
        Some(ValueKind::Hash)
    } else if class.contains(NotifyEvent::SET) {
        Some(ValueKind::Set)
    } else if class.contains(NotifyEvent::ZSET) {
        Some(ValueKind::SortedSet)
    } else if class.contains(NotifyEvent::MODULE) && event.starts_with(b"json.") {
        Some(ValueKind::Json)
    } else {
        None
    }
}

/// The keyspace-notification callback registered with Redis.
///
/// # Safety
/// Redis calls it with a valid context, a NUL-terminated event name and a
/// valid key string, all borrowed for the duration of the call.
pub(crate) extern "C" fn on_keyspace_event(
    ctx: *mut raw::RedisModuleCtx,
    class: c_int,
    event: *const c_char,
    key: *mut raw::RedisModuleString,
) -> c_int {
    guarded("keyspace event", (), || {
        if !state::capturing() || event.is_null() || key.is_null() {
            return;
        }
        // SAFETY: Redis passes a NUL-terminated event name that outlives the call.
        let event = unsafe { CStr::from_ptr(event) }.to_bytes();
        if state::untagged() {
            // A cluster node that was just given slots: find its tag now
            // rather than lose changes until the timer looks.
            crate::cluster::refresh(&Context::new(ctx));
        }
        let key_bytes = string_bytes(key);
        let snapshot = state::snapshot();
        let Some(streams) = Streams::collect(snapshot.streams_for(key_bytes, event)) else {
            return;
        };
        let class = NotifyEvent::from_bits_truncate(class);
        let kind = kind_of_class(class, event).unwrap_or_else(|| key_kind(ctx, key));
        queue(
            ctx,
            PendingChange {
                streams,
                key: Some(HeldString::hold(key)),
                event: strings::intern(event),
                kind,
            },
        );
    });
    raw::Status::Ok as c_int
}

/// Records a `flush` entry in every job's stream (FLUSHALL, FLUSHDB).
pub fn record_flush(ctx: &Context) {
    if !state::capturing() {
        return;
    }
    let snapshot = state::snapshot();
    let Some(streams) = Streams::collect(snapshot.all_streams()) else {
        return;
    };
    queue(
        ctx.ctx,
        PendingChange {
            streams,
            key: None,
            event: strings::intern(b"flush"),
            kind: ValueKind::None,
        },
    );
}

fn queue(ctx: *mut raw::RedisModuleCtx, change: PendingChange) {
    let Some(add_job) = (unsafe { raw::RedisModule_AddPostNotificationJob }) else {
        return;
    };
    let change = Box::into_raw(Box::new(change));
    // SAFETY: `change` is a valid heap pointer whose ownership passes to
    // Redis, which hands it to `run_job` and then to `free_job` exactly once.
    let status = unsafe { add_job(ctx, Some(run_job), change.cast(), Some(free_job)) };
    if status != raw::Status::Ok as c_int {
        // Refused (a replica or a load in progress): Redis did not take it.
        // SAFETY: ownership was not taken, so it is still ours to free.
        drop(unsafe { Box::from_raw(change) });
    }
}

extern "C" fn run_job(ctx: *mut raw::RedisModuleCtx, data: *mut c_void) {
    guarded("post-notification job", (), || {
        // SAFETY: `data` is the `PendingChange` queued by `queue`, alive until
        // `free_job` runs after this call.
        let change = unsafe { &*data.cast::<PendingChange>() };
        append(ctx, change);
    });
}

extern "C" fn free_job(data: *mut c_void) {
    guarded("post-notification job free", (), || {
        // SAFETY: Redis calls this once, after `run_job`, with the pointer
        // that `queue` leaked.
        drop(unsafe { Box::from_raw(data.cast::<PendingChange>()) });
    });
}

/// Appends the change to each of its streams and replicates each entry.
fn append(ctx: *mut raw::RedisModuleCtx, change: &PendingChange) {
    let fields = strings::fields();
    let empty;
    let key = match &change.key {
        Some(held) => held.0,
        None => {
            empty = strings::intern(b"");
            empty.ptr
        }
    };
    let kind = fields.kind(change.kind);
    if key.is_null() || change.event.ptr.is_null() || kind.is_null() {
        return;
    }
    let mut argv = [
        fields.key.0,
        key.0,
        fields.event.0,
        change.event.ptr.0,
        fields.kind.0,
        kind.0,
    ];
    for stream in change.streams.as_slice() {
        let Some(id) = stream_add(ctx, *stream, &mut argv) else {
            continue;
        };
        let mut id_text = IdText::default();
        // SAFETY: the format names one string, one C string and six strings,
        // and exactly those follow; all outlive the call, which takes its own
        // references.
        unsafe {
            if let Some(replicate) = raw::RedisModule_Replicate {
                replicate(
                    ctx,
                    c"XADD".as_ptr(),
                    c"scssssss".as_ptr(),
                    stream.0,
                    id_text.format(id),
                    argv[0],
                    argv[1],
                    argv[2],
                    argv[3],
                    argv[4],
                    argv[5],
                );
            }
        }
    }
}

/// A stream ID as NUL-terminated text, formatted without allocating.
struct IdText {
    buf: [u8; 48],
}

impl Default for IdText {
    fn default() -> Self {
        IdText { buf: [0; 48] }
    }
}

impl IdText {
    /// `ms-seq\0`; two u64s of at most 20 digits each fit in 48 bytes.
    fn format(&mut self, id: raw::RedisModuleStreamID) -> *const c_char {
        let mut at = put_decimal(&mut self.buf, 0, id.ms);
        self.buf[at] = b'-';
        at = put_decimal(&mut self.buf, at + 1, id.seq);
        self.buf[at] = 0;
        self.buf.as_ptr().cast::<c_char>()
    }
}

/// Writes `n` in decimal at `at`; returns the index after it.
fn put_decimal(buf: &mut [u8; 48], at: usize, mut n: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        buf[at + i] = *d;
    }
    at + len
}

/// Adds one entry with an automatic ID; `None` when the key holds something
/// other than a stream (logged: the entry cannot be recorded there).
fn stream_add(
    ctx: *mut raw::RedisModuleCtx,
    name: RString,
    argv: &mut [*mut raw::RedisModuleString; 6],
) -> Option<raw::RedisModuleStreamID> {
    // SAFETY: `ctx` and `name` are valid for this call; the key is closed
    // before returning on every path.
    unsafe {
        let open = raw::RedisModule_OpenKey?;
        let key = open(ctx, name.0, raw::REDISMODULE_WRITE as c_int).cast::<raw::RedisModuleKey>();
        if key.is_null() {
            return None;
        }
        let key_type = raw::RedisModule_KeyType.map_or(-1, |f| f(key));
        let mut id = raw::RedisModuleStreamID { ms: 0, seq: 0 };
        let added = if key_type == raw::REDISMODULE_KEYTYPE_EMPTY as c_int
            || key_type == raw::REDISMODULE_KEYTYPE_STREAM as c_int
        {
            raw::RedisModule_StreamAdd.map_or(raw::Status::Err as c_int, |add| {
                add(
                    key,
                    raw::REDISMODULE_STREAM_ADD_AUTOID as c_int,
                    &mut id,
                    argv.as_mut_ptr(),
                    3,
                )
            }) == raw::Status::Ok as c_int
        } else {
            false
        };
        if let Some(close) = raw::RedisModule_CloseKey {
            close(key);
        }
        if !added {
            Context::new(ctx).log_warning(&format!(
                "wb-capture: could not append to '{}': the key exists and is not a stream",
                String::from_utf8_lossy(string_bytes(name.0))
            ));
            return None;
        }
        Some(id)
    }
}

/// The type of the value at `key` now, without touching, expiring or
/// notifying anything.
fn key_kind(ctx: *mut raw::RedisModuleCtx, key: *mut raw::RedisModuleString) -> ValueKind {
    let mode = raw::REDISMODULE_READ
        | raw::REDISMODULE_OPEN_KEY_NOTOUCH
        | raw::REDISMODULE_OPEN_KEY_NONOTIFY
        | raw::REDISMODULE_OPEN_KEY_NOSTATS
        | raw::REDISMODULE_OPEN_KEY_NOEXPIRE;
    // SAFETY: `ctx` and `key` are valid for the duration of the callback;
    // the key is closed before returning.
    unsafe {
        let Some(open) = raw::RedisModule_OpenKey else {
            return ValueKind::None;
        };
        let handle = open(ctx, key, mode as c_int).cast::<raw::RedisModuleKey>();
        if handle.is_null() {
            return ValueKind::None;
        }
        let key_type = raw::RedisModule_KeyType.map_or(-1, |f| f(handle));
        if let Some(close) = raw::RedisModule_CloseKey {
            close(handle);
        }
        match key_type as isize {
            raw::REDISMODULE_KEYTYPE_HASH => ValueKind::Hash,
            raw::REDISMODULE_KEYTYPE_SET => ValueKind::Set,
            raw::REDISMODULE_KEYTYPE_ZSET => ValueKind::SortedSet,
            raw::REDISMODULE_KEYTYPE_STRING => ValueKind::String,
            raw::REDISMODULE_KEYTYPE_LIST => ValueKind::List,
            raw::REDISMODULE_KEYTYPE_STREAM => ValueKind::Stream,
            raw::REDISMODULE_KEYTYPE_MODULE => module_kind(ctx, key),
            _ => ValueKind::None,
        }
    }
}

/// A module-typed key is a JSON document if `TYPE` says so. Only generic
/// events (EXPIRE, RENAME, ...) on module-typed keys come here.
fn module_kind(ctx: *mut raw::RedisModuleCtx, key: *mut raw::RedisModuleString) -> ValueKind {
    let name = String::from_utf8_lossy(string_bytes(key)).into_owned();
    match Context::new(ctx).call("TYPE", &[name.as_str()]) {
        Ok(redis_module::RedisValue::SimpleString(t)) if t == "ReJSON-RL" => ValueKind::Json,
        _ => ValueKind::Module,
    }
}

/// The bytes of a Redis string, borrowed.
fn string_bytes<'a>(s: *const raw::RedisModuleString) -> &'a [u8] {
    let mut len: usize = 0;
    // SAFETY: `s` is a valid string for as long as the caller holds it; the
    // pointer and length Redis returns describe its bytes.
    unsafe {
        let Some(ptr_len) = raw::RedisModule_StringPtrLen else {
            return &[];
        };
        let ptr = ptr_len(s, &mut len);
        if ptr.is_null() {
            return &[];
        }
        std::slice::from_raw_parts(ptr.cast::<u8>(), len)
    }
}

/// A key name kept alive past the callback that received it, without a copy.
struct HeldString(RString);

impl HeldString {
    fn hold(s: *mut raw::RedisModuleString) -> HeldString {
        // SAFETY: `s` is valid during the callback; holding it with no context
        // takes a reference (or a copy) that stays valid until freed.
        let held = unsafe {
            raw::RedisModule_HoldString.map_or(ptr::null_mut(), |hold| hold(ptr::null_mut(), s))
        };
        HeldString(RString(held))
    }
}

impl Drop for HeldString {
    fn drop(&mut self) {
        strings::free(self.0);
    }
}
