//! What every call into a guest shares, whichever world it implements: a
//! fresh store under the memory cap and the epoch deadline, and the reading
//! of a failed call into a typed error.

use std::sync::Arc;

use wasmtime::{Engine, Store, Trap};

use super::error::TransformError;
use super::limits::Limits;
use super::state::HostState;
use super::ticker::{ticks_for, EpochTicker};

pub(crate) struct Sandbox {
    pub(crate) job: String,
    engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) ticks: u64,
    // Deadlines only fire while the ticker runs.
    _ticker: Arc<EpochTicker>,
}

impl Sandbox {
    pub(crate) fn new(job: &str, engine: Engine, limits: Limits, ticker: Arc<EpochTicker>) -> Self {
        Sandbox {
            job: job.to_string(),
            engine,
            ticks: ticks_for(limits.deadline),
            limits,
            _ticker: ticker,
        }
    }

    /// A fresh store: the guest's memory cap, a full deadline, and a WASI
    /// context that grants nothing but what `limits` allows.
    pub(crate) fn store(&self) -> Store<HostState> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(&self.job, self.limits.memory_bytes, self.limits.wall_clock),
        );
        store.limiter(|state| state.limiter());
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.ticks);
        store
    }

    /// Instantiating or `init` failed without the guest refusing its params.
    pub(crate) fn start_failed(
        &self,
        store: &Store<HostState>,
        e: wasmtime::Error,
    ) -> TransformError {
        TransformError::Instantiate {
            job: self.job.clone(),
            reason: self.describe(store, e).to_string(),
        }
    }

    /// `init` returned an error.
    pub(crate) fn refused(&self, reason: String) -> TransformError {
        TransformError::Init {
            job: self.job.clone(),
            reason,
        }
    }

    /// Turns a failed call into a typed error, from the trap code and the
    /// memory cap's record, never from message text.
    pub(crate) fn describe(
        &self,
        store: &Store<HostState>,
        error: wasmtime::Error,
    ) -> TransformError {
        if store.data().memory_cap_hit() {
            return TransformError::MemoryLimit {
                bytes: self.limits.memory_bytes,
            };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => TransformError::DeadlineExceeded {
                millis: u64::try_from(self.limits.deadline.as_millis()).unwrap_or(u64::MAX),
            },
            Some(trap) => {
                let stderr = store.data().stderr();
                TransformError::Trap(if stderr.is_empty() {
                    trap.to_string()
                } else {
                    format!("{trap}: {stderr}")
                })
            }
            None => TransformError::Trap(format!("{error:#}")),
        }
    }
}
