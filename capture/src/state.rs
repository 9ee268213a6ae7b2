//! The module's process-wide state: the job table, the shard's tag, and the
//! snapshot the capture callback reads.
//!
//! Redis calls into the module from its main thread only, so the lock is
//! never contended; it is held for a copy or a swap and never across a call
//! into Redis, because such a call can fire a keyspace notification that
//! comes straight back into the module.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use crate::jobs::{JobTable, Snapshot};
use crate::strings::{self, RString};

/// The snapshot the capture callback reads: streams as shared server strings.
pub type CaptureSnapshot = Snapshot<RString>;

struct State {
    table: JobTable,
    /// The hashtag of this shard's streams; `None` while it owns no slot.
    tag: Option<String>,
    snapshot: Arc<CaptureSnapshot>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(|| {
    Mutex::new(State {
        table: JobTable::default(),
        tag: Some("0".to_owned()),
        snapshot: Arc::new(Snapshot::default()),
    })
});

/// Whether this server is a primary (replicas record nothing: the primary's
/// entries reach them by replication).
static PRIMARY: AtomicBool = AtomicBool::new(true);
/// Whether a dataset is being loaded (AOF replay, RDB, full sync): what the
/// module wrote before is in that data already.
static LOADING: AtomicBool = AtomicBool::new(false);
/// Whether the server runs in cluster mode.
static CLUSTER: AtomicBool = AtomicBool::new(false);
/// Whether the shard has no tag (it owns no slot, or has not looked yet).
static UNTAGGED: AtomicBool = AtomicBool::new(false);

fn lock() -> MutexGuard<'static, State> {
    // A panic while the lock was held cannot have left the table half
    // written (every update is a single assignment), so a poisoned lock is
    // still good to use.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The current snapshot, for the capture callback.
pub fn snapshot() -> Arc<CaptureSnapshot> {
    Arc::clone(&lock().snapshot)
}

/// A copy of the job table.
pub fn table() -> JobTable {
    lock().table.clone()
}

/// The shard's tag.
pub fn tag() -> Option<String> {
    lock().tag.clone()
}

/// Changes the table with `update` and publishes a new snapshot.
pub fn update_table<R>(update: impl FnOnce(&mut JobTable) -> R) -> R {
    let mut state = lock();
    let result = update(&mut state.table);
    state.snapshot = Arc::new(state.table.snapshot(state.tag.as_deref(), strings::shared));
    result
}

/// Sets the shard's tag; returns whether it changed.
pub fn set_tag(tag: Option<String>) -> bool {
    let mut state = lock();
    if state.tag == tag {
        return false;
    }
    UNTAGGED.store(tag.is_none(), Ordering::Relaxed);
    state.tag = tag;
    state.snapshot = Arc::new(state.table.snapshot(state.tag.as_deref(), strings::shared));
    true
}

pub fn set_primary(primary: bool) {
    PRIMARY.store(primary, Ordering::Relaxed);
}

pub fn set_loading(loading: bool) {
    LOADING.store(loading, Ordering::Relaxed);
}

pub fn set_cluster(cluster: bool) {
    CLUSTER.store(cluster, Ordering::Relaxed);
}

pub fn cluster() -> bool {
    CLUSTER.load(Ordering::Relaxed)
}

/// Whether the shard has no stream tag yet.
pub fn untagged() -> bool {
    UNTAGGED.load(Ordering::Relaxed)
}

/// Whether changes should be recorded right now.
pub fn capturing() -> bool {
    PRIMARY.load(Ordering::Relaxed) && !LOADING.load(Ordering::Relaxed)
}
