//! What a guest's store holds: a WASI context that grants nothing but,
//! when allowed, the time of day; the memory cap, and the `log` import.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::bindings::step::StepImports;
use super::bindings::wb::transform::types::{Host as TypesHost, LogLevel};
use super::bindings::TransformImports;

/// Log lines one guest call may write; more are counted and dropped so a
/// chatty guest cannot flood the engine's log.
const MAX_LOG_LINES: usize = 100;

/// Bytes of guest stderr kept per call: enough for a panic message, which
/// is what makes a trap's reason useful in the dead-letter queue.
const STDERR_BYTES: usize = 1024;

pub(crate) struct HostState {
    wasi: WasiCtx,
    stderr: MemoryOutputPipe,
    table: ResourceTable,
    memory: MemoryCap,
    job: String,
    log_lines: usize,
}

impl HostState {
    pub(crate) fn new(job: &str, memory_bytes: usize, wall_clock: bool) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        HostState {
            wasi: sealed_wasi(stderr.clone(), wall_clock),
            stderr,
            table: ResourceTable::new(),
            memory: MemoryCap {
                limit: memory_bytes,
                hit: false,
            },
            job: job.to_string(),
            log_lines: 0,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// True once the guest asked for more memory than the cap.
    pub(crate) fn memory_cap_hit(&self) -> bool {
        self.memory.hit
    }

    /// What the guest wrote to stderr (a panic message, usually) on one
    /// line, without Rust's hint about backtraces, which a guest cannot
    /// act on.
    pub(crate) fn stderr(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr.contents()).into_owned();
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A WASI context with no preopened directories, no environment, no
/// arguments, no network, closed stdin, discarded stdout, stderr kept in a
/// small buffer for error reports, and the monotonic clock frozen at zero
/// (a transform has no use for timing itself). The wall clock is the real
/// one when `wall_clock` is granted (the stock mapper's time deltas read
/// it), else frozen at zero so a transform cannot depend on when it runs.
/// Randomness stays: Rust's `HashMap` seeds itself from it, and the
/// mapper's `uuid()` draws from it.
fn sealed_wasi(stderr: MemoryOutputPipe, wall_clock: bool) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .monotonic_clock(FrozenClock);
    if !wall_clock {
        builder.wall_clock(FrozenClock);
    }
    builder.build()
}

struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// Refuses memory growth past the cap and remembers that it did, so the
/// trap that follows (Rust guests abort when allocation fails) can be
/// reported as a memory limit rather than a generic trap.
struct MemoryCap {
    limit: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; no sane transform needs more
        // than this many.
        Ok(desired <= 100_000)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl TypesHost for HostState {}

impl TransformImports for HostState {
    fn log(&mut self, level: LogLevel, message: String) {
        self.write_log(level, message);
    }
}

impl StepImports for HostState {
    fn log(&mut self, level: LogLevel, message: String) {
        self.write_log(level, message);
    }
}

impl HostState {
    /// The `log` import of both worlds: a line in the engine's log, at most
    /// [`MAX_LOG_LINES`] per call.
    fn write_log(&mut self, level: LogLevel, message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
                tracing::warn!(job = %self.job, "transform log limit reached; dropping further lines of this batch");
            }
            return;
        }
        let job = &self.job;
        match level {
            LogLevel::Debug => tracing::debug!(%job, "{message}"),
            LogLevel::Info => tracing::info!(%job, "{message}"),
            LogLevel::Warn => tracing::warn!(%job, "{message}"),
            LogLevel::Error => tracing::error!(%job, "{message}"),
        }
    }
}
