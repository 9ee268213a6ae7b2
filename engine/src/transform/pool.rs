//! Where guest instances get their memory: a pool of slots kept mapped
//! from one batch to the next.
//!
//! Every batch runs in a fresh instance (nothing a guest does outlives its
//! batch). With a fresh mapping for each, every page the guest touches
//! costs a page fault, about a tenth of the time of a batch. A pooled
//! slot's memory is instead reset by zeroing the pages the guest used, up
//! to [`KEEP_RESIDENT`], and the next instance of the same component gets
//! the same slot back with its pages mapped.

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Instances alive at once, at the least: each worker transforms one
/// batch at a time (steps one after the other), and jobs load one after
/// the other. Each slot reserves address space, not memory, for the
/// largest memory. `run` asks for more where it has more workers.
pub(super) const MIN_SLOTS: u32 = 64;

/// Slots kept warm (mapped, their resident pages kept) once their instance
/// is gone: enough for the jobs of a few workers to find their own slot
/// again, few enough that idle slots hold little memory (at most this many
/// times [`KEEP_RESIDENT`]).
const WARM_SLOTS: u32 = 8;

/// Bytes of a slot's memory zeroed in place after a batch rather than
/// returned to the kernel: more than a batch of a few thousand changes
/// touches.
const KEEP_RESIDENT: usize = 16 << 20;

/// The engine for `config`, its instances pooled, `slots` of them at once.
/// If the pool's address space cannot be reserved (a process limit on
/// virtual memory, say), the engine allocates each instance's memory afresh
/// instead: slower, with a warning, but working.
pub(super) fn engine(mut config: Config, slots: u32) -> wasmtime::Result<Engine> {
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(slots)));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::warn!(
                error = %format!("{e:#}"),
                "cannot reserve the pool of guest instances; each batch maps fresh memory \
                 instead (slower)"
            );
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config)
        }
    }
}

fn pool(slots: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        .max_unused_warm_slots(WARM_SLOTS)
        // Components built with an adapter, or by other toolchains, may
        // define more than one memory or table per module, larger tables
        // and more functions than a small Rust guest: the limits that
        // allocating per instance did not have are set well above what
        // such components need (they cost address space only).
        .max_memories_per_module(2)
        .max_tables_per_module(4)
        .table_elements(1 << 20)
        .max_core_instance_size(16 << 20)
        .max_component_instance_size(16 << 20)
        // As large as a 32-bit memory gets: each job's own cap (`Limits`)
        // is what limits a guest.
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10);
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_is_reserved_here() {
        // The fallback is for machines that refuse the reservation; this
        // one must not, or the figures in bench/ do not apply.
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(MIN_SLOTS)));
        assert!(Engine::new(&config).is_ok());
    }
}
