//! Guest calls kept off the threads that drive an async runtime.
//!
//! wasmtime-wasi's synchronous bindings serve a guest's I/O (the message a
//! panicking guest writes to stderr, a `println!` in a user's component) by
//! blocking on the tokio runtime the calling thread belongs to, and tokio
//! panics when a thread that drives the runtime blocks on it. The engine
//! calls transforms from async code, so a trapping guest took the worker
//! down with it; a call made there now leaves the runtime's thread first.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `call` where the guest's I/O may block: directly outside any
/// runtime; on a multi-thread runtime with the current thread handed over
/// for the call (`block_in_place`: the thread's other tasks move to another
/// thread, nothing is spawned); on a current-thread runtime, which cannot
/// hand its only thread over, on a thread of its own.
pub(crate) fn off_async_runtime<T: Send>(call: impl FnOnce() -> T + Send) -> T {
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Err(_) => call(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(call),
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(call)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}
