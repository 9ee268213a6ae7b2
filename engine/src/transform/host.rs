//! Compiling, linking and calling transform components.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};
use wb_abi::{encode_changes, ChangeData};

use super::bindings::step::{Step, StepPre};
use super::bindings::{Transform, TransformPre};
use super::bisect::{run_split, CallFailure, Outcomes};
use super::cache::CompileCache;
use super::error::TransformError;
use super::limits::Limits;
use super::output::BatchOutput;
use super::sandbox::Sandbox;
use super::state::HostState;
use super::step::{StepOutcome, WasmStep};
use super::ticker::EpochTicker;

/// Compiles and links transform components. One per engine process: it owns
/// the Wasm engine, the linkers with the (sealed) WASI imports and the epoch
/// ticker that enforces deadlines.
pub struct WasmHost {
    engine: Engine,
    linker: Linker<HostState>,
    /// The `step` world imports `log` as the `transform` world does; one
    /// linker cannot define it twice, so steps get their own.
    step_linker: Linker<HostState>,
    ticker: Arc<EpochTicker>,
    /// Compiled components kept between runs.
    cache: CompileCache,
}

impl WasmHost {
    /// Sets up the engine and starts the epoch ticker thread.
    pub fn new() -> Result<Self, TransformError> {
        Self::for_workers(0)
    }

    /// [`WasmHost::new`] for `workers` workers transforming at once: the
    /// pool of instances holds one for each, and more.
    pub fn for_workers(workers: usize) -> Result<Self, TransformError> {
        let setup = |e: wasmtime::Error| TransformError::Engine(format!("{e:#}"));
        let mut config = Config::new();
        config.epoch_interruption(true);
        let slots = u32::try_from(workers)
            .unwrap_or(u32::MAX)
            .saturating_add(super::pool::MIN_SLOTS);
        let engine = super::pool::engine(config, slots).map_err(setup)?;
        // Guests built for wasm32-wasip2 with std import WASI interfaces even
        // when they never use them; they are linked, but the context in
        // `HostState` grants no files, network or environment, and the wall
        // clock only when the limits say so.
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(setup)?;
        Transform::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(setup)?;
        let mut step_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut step_linker).map_err(setup)?;
        Step::add_to_linker::<HostState, HasSelf<HostState>>(&mut step_linker, |state| state)
            .map_err(setup)?;
        let ticker = EpochTicker::start(engine.clone())
            .map_err(|e| TransformError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(WasmHost {
            engine,
            linker,
            step_linker,
            ticker: Arc::new(ticker),
            cache: CompileCache::from_env(),
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
        let component = self.compile(job, wasm)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(TransformPre::new)
            .map_err(|e| link_failed(job, e))?;
        let transform = WasmTransform {
            sandbox: self.sandbox(job, limits),
            pre,
            params,
            steps: Vec::new(),
        };
        // Fail the load, not the first batch, when the params are refused.
        let mut store = transform.sandbox.store();
        super::blocking::off_async_runtime(|| transform.start(&mut store).map(drop))?;
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
        self.load(job, &read(job, path)?, params, limits)
    }

    /// Compiles a step component (world `step`), links it and checks that
    /// it accepts `params`. Give it to [`WasmTransform::with_steps`].
    pub fn load_step(
        &self,
        job: &str,
        wasm: &[u8],
        params: Vec<(String, String)>,
        limits: Limits,
    ) -> Result<WasmStep, TransformError> {
        let component = self.compile(job, wasm)?;
        let pre = self
            .step_linker
            .instantiate_pre(&component)
            .and_then(StepPre::new)
            .map_err(|e| link_failed(job, e))?;
        let step = WasmStep::new(self.sandbox(job, limits), pre, params);
        let mut store = step.sandbox().store();
        super::blocking::off_async_runtime(|| step.start(&mut store).map(drop))?;
        Ok(step)
    }

    /// [`WasmHost::load_step`] from a `.wasm` file.
    pub fn load_step_file(
        &self,
        job: &str,
        path: &Path,
        params: Vec<(String, String)>,
        limits: Limits,
    ) -> Result<WasmStep, TransformError> {
        self.load_step(job, &read(job, path)?, params, limits)
    }

    fn compile(&self, job: &str, wasm: &[u8]) -> Result<Component, TransformError> {
        self.cache
            .load_or_compile(&self.engine, wasm)
            .map_err(|e| TransformError::Compile {
                job: job.to_string(),
                reason: format!("{e:#}"),
            })
    }

    fn sandbox(&self, job: &str, limits: Limits) -> Sandbox {
        Sandbox::new(job, self.engine.clone(), limits, Arc::clone(&self.ticker))
    }
}

fn read(job: &str, path: &Path) -> Result<Vec<u8>, TransformError> {
    std::fs::read(path).map_err(|e| TransformError::Compile {
        job: job.to_string(),
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

fn link_failed(job: &str, e: wasmtime::Error) -> TransformError {
    TransformError::Link {
        job: job.to_string(),
        reason: format!("{e:#}"),
    }
}

/// A loaded component, ready to transform batches, with the steps that run
/// before it. It can be shared by worker threads: every call gets a fresh
/// instance in its own store, so nothing a guest does to its memory
/// outlives the batch or reaches another worker.
pub struct WasmTransform {
    sandbox: Sandbox,
    pre: TransformPre<HostState>,
    params: Vec<(String, String)>,
    steps: Vec<WasmStep>,
}

impl WasmTransform {
    /// Transforms a batch: one outcome per change, in order. Changes that
    /// make a guest trap, overrun the deadline or the memory cap are
    /// rejected one by one; an `Err` means the whole batch could not be
    /// transformed (a guest cannot start or cannot read the batch).
    ///
    /// With steps, each step runs in order on what the previous one left;
    /// then this component maps the rest. A change a step rejected carries
    /// that step's error; one a step dropped gets no row ops.
    ///
    /// It may be called from async code: the guests then run off the
    /// runtime's thread (see `blocking`).
    pub fn run(&self, changes: &[ChangeData]) -> Result<BatchOutput, TransformError> {
        super::blocking::off_async_runtime(|| self.run_here(changes))
    }

    /// [`WasmTransform::run`] on the calling thread.
    fn run_here(&self, changes: &[ChangeData]) -> Result<BatchOutput, TransformError> {
        if self.steps.is_empty() {
            return self.map(changes);
        }
        let mut out = BatchOutput::new(changes.len());
        let mut batch = changes.to_vec();
        // `origin[i]` is the index in `changes` of `batch[i]`.
        let mut origin: Vec<usize> = (0..changes.len()).collect();
        for step in &self.steps {
            let (outcomes, calls) = step.run(&batch)?;
            out.add_calls(calls);
            let mut next = Vec::with_capacity(batch.len());
            let mut next_origin = Vec::with_capacity(batch.len());
            for ((mut change, index), outcome) in batch.into_iter().zip(origin).zip(outcomes) {
                match outcome {
                    StepOutcome::Keep => {}
                    StepOutcome::Replace(value) => change.value = value,
                    StepOutcome::Drop => {
                        out.drop_change(index);
                        continue;
                    }
                    StepOutcome::Reject(error) => {
                        out.reject(index, error);
                        continue;
                    }
                }
                next.push(change);
                next_origin.push(index);
            }
            batch = next;
            origin = next_origin;
        }
        let mapped = self.map(&batch)?;
        out.place(mapped, &origin);
        Ok(out)
    }

    /// Runs `steps` before this component on every batch, in order.
    pub fn with_steps(mut self, steps: Vec<WasmStep>) -> Self {
        self.steps = steps;
        self
    }

    /// The steps that run before this component.
    pub fn steps(&self) -> &[WasmStep] {
        &self.steps
    }

    /// The job name this transform was loaded for.
    pub fn job(&self) -> &str {
        &self.sandbox.job
    }

    /// This component alone over `changes`.
    fn map(&self, changes: &[ChangeData]) -> Result<BatchOutput, TransformError> {
        let mut out = BatchOutput::new(changes.len());
        run_split(changes, 0, &mut |part| self.call(part), &mut out)?;
        Ok(out)
    }

    /// Instantiates the component in `store` and runs its `init`.
    fn start(&self, store: &mut Store<HostState>) -> Result<Transform, TransformError> {
        let instance = self
            .pre
            .instantiate(&mut *store)
            .map_err(|e| self.sandbox.start_failed(store, e))?;
        match instance.call_init(&mut *store, &self.params) {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(reason)) => Err(self.sandbox.refused(reason)),
            Err(e) => Err(self.sandbox.start_failed(store, e)),
        }
    }

    /// One call into a fresh instance.
    fn call(&self, changes: &[ChangeData]) -> Result<Vec<u8>, CallFailure> {
        let input = encode_changes(changes);
        let mut store = self.sandbox.store();
        let instance = self.start(&mut store).map_err(CallFailure::Batch)?;
        // `init` had its own budget; the batch gets a full one.
        store.set_epoch_deadline(self.sandbox.ticks);
        match instance.call_transform_packed(&mut store, &input) {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(reason)) => Err(CallFailure::Batch(TransformError::Protocol {
                job: self.sandbox.job.clone(),
                reason,
            })),
            Err(e) => Err(CallFailure::Changes(self.sandbox.describe(&store, e))),
        }
    }

    /// One call of the typed `transform` export on a fresh instance.
    pub(crate) fn call_typed(
        &self,
        changes: &[super::bindings::wb::transform::types::Change],
    ) -> Result<Vec<super::bindings::TransformResult>, TransformError> {
        let mut store = self.sandbox.store();
        let instance = self.start(&mut store)?;
        store.set_epoch_deadline(self.sandbox.ticks);
        instance
            .call_transform(&mut store, changes)
            .map_err(|e| self.sandbox.describe(&store, e))
    }
}
