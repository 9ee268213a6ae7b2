//! Compiling, linking and calling transform components.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};
use wb_abi::{encode_changes, ChangeData};

use super::bindings::{Transform, TransformPre};
use super::bisect::{run_split, CallFailure};
use super::error::TransformError;
use super::limits::Limits;
use super::output::BatchOutput;
use super::state::HostState;
use super::ticker::{ticks_for, EpochTicker};

/// Compiles and links transform components. One per engine process: it owns
/// the Wasm engine, the linker with the (sealed) WASI imports and the epoch
/// ticker that enforces deadlines.
pub struct WasmHost {
    engine: Engine,
    linker: Linker<HostState>,
    ticker: Arc<EpochTicker>,
}

impl WasmHost {
    /// Sets up the engine and starts the epoch ticker thread.
    pub fn new() -> Result<Self, TransformError> {
        let setup = |e: wasmtime::Error| TransformError::Engine(format!("{e:#}"));
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(setup)?;
        let mut linker = Linker::new(&engine);
        // Guests built for wasm32-wasip2 with std import WASI interfaces even
        // when they never use them; they are linked, but the context in
        // `HostState` grants no files, network or environment, and the wall
        // clock only when the limits say so.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(setup)?;
        Transform::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(setup)?;
        let ticker = EpochTicker::start(engine.clone())
            .map_err(|e| TransformError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(WasmHost {
            engine,
            linker,
            ticker: Arc::new(ticker),
        })
    }

    /// Compiles a component, links it and checks that it accepts `params`.
    /// `job` labels its errors and log lines.
    pub fn load(
        &self,
        job: &str,
        wasm: &[u8],
        params: Vec<(String, String)>,
        limits: Limits,
    ) -> Result<WasmTransform, TransformError> {
        let component =
            Component::new(&self.engine, wasm).map_err(|e| TransformError::Compile {
                job: job.to_string(),
                reason: format!("{e:#}"),
            })?;
        let link = |e: wasmtime::Error| TransformError::Link {
            job: job.to_string(),
            reason: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(link)?;
        let pre = TransformPre::new(pre).map_err(link)?;
        let transform = WasmTransform {
            job: job.to_string(),
            engine: self.engine.clone(),
            pre,
            params,
            ticks: ticks_for(limits.deadline),
            limits,
            _ticker: Arc::clone(&self.ticker),
        };
        // Fail the load, not the first batch, when the params are refused.
        let mut store = transform.store();
        transform.start(&mut store)?;
        Ok(transform)
    }

    /// [`WasmHost::load`] from a `.wasm` file.
    pub fn load_file(
        &self,
        job: &str,
        path: &Path,
        params: Vec<(String, String)>,
        limits: Limits,
    ) -> Result<WasmTransform, TransformError> {
        let wasm = std::fs::read(path).map_err(|e| TransformError::Compile {
            job: job.to_string(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        self.load(job, &wasm, params, limits)
    }
}

/// A loaded component, ready to transform batches. It can be shared by
/// worker threads: every call gets a fresh instance in its own store, so
/// nothing a guest does to its memory outlives the batch or reaches another
/// worker.
pub struct WasmTransform {
    job: String,
    engine: Engine,
    pre: TransformPre<HostState>,
    params: Vec<(String, String)>,
    limits: Limits,
    ticks: u64,
    // Deadlines only fire while the ticker runs.
    _ticker: Arc<EpochTicker>,
}

impl WasmTransform {
    /// Transforms a batch: one outcome per change, in order. Changes that
    /// make the guest trap, overrun the deadline or the memory cap are
    /// rejected one by one; an `Err` means the whole batch could not be
    /// transformed (the guest cannot start or cannot read the batch).
    pub fn run(&self, changes: &[ChangeData]) -> Result<BatchOutput, TransformError> {
        let mut out = BatchOutput::new(changes.len());
        run_split(changes, 0, &mut |part| self.call(part), &mut out)?;
        Ok(out)
    }

    /// The job name this transform was loaded for.
    pub fn job(&self) -> &str {
        &self.job
    }

    fn store(&self) -> Store<HostState> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(&self.job, self.limits.memory_bytes, self.limits.wall_clock),
        );
        store.limiter(|state| state.limiter());
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.ticks);
        store
    }

    /// Instantiates the component in `store` and runs its `init`.
    fn start(&self, store: &mut Store<HostState>) -> Result<Transform, TransformError> {
        let failed = |reason: String| TransformError::Instantiate {
            job: self.job.clone(),
            reason,
        };
        let instance = self
            .pre
            .instantiate(&mut *store)
            .map_err(|e| failed(self.describe(store, e).to_string()))?;
        match instance.call_init(&mut *store, &self.params) {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(reason)) => Err(TransformError::Init {
                job: self.job.clone(),
                reason,
            }),
            Err(e) => Err(failed(self.describe(store, e).to_string())),
        }
    }

    /// One call into a fresh instance.
    fn call(&self, changes: &[ChangeData]) -> Result<Vec<u8>, CallFailure> {
        let input = encode_changes(changes);
        let mut store = self.store();
        let instance = self.start(&mut store).map_err(CallFailure::Batch)?;
        // `init` had its own budget; the batch gets a full one.
        store.set_epoch_deadline(self.ticks);
        match instance.call_transform_packed(&mut store, &input) {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(reason)) => Err(CallFailure::Batch(TransformError::Protocol {
                job: self.job.clone(),
                reason,
            })),
            Err(e) => Err(CallFailure::Changes(self.describe(&store, e))),
        }
    }

    /// One call of the typed `transform` export on a fresh instance.
    pub(crate) fn call_typed(
        &self,
        changes: &[super::bindings::wb::transform::types::Change],
    ) -> Result<Vec<super::bindings::TransformResult>, TransformError> {
        let mut store = self.store();
        let instance = self.start(&mut store)?;
        store.set_epoch_deadline(self.ticks);
        instance
            .call_transform(&mut store, changes)
            .map_err(|e| self.describe(&store, e))
    }

    /// Turns a failed call into a typed error, from the trap code and the
    /// memory cap's record, never from message text.
    fn describe(&self, store: &Store<HostState>, error: wasmtime::Error) -> TransformError {
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
