//! The transform stage: runs changes through WebAssembly components that
//! implement the `wb:transform` world (see `wit/`) and returns row operations.
//!
//! One [`WasmHost`] per engine compiles components and keeps the epoch
//! ticker; each loaded [`WasmTransform`] is linked once and instantiated
//! fresh for every batch, under a memory cap and a deadline. A change that
//! makes its guest trap, run out of time or out of memory is rejected alone:
//! the batch is split until the culprit is isolated.
//!
//! A [`WasmStep`] (world `step`) reshapes records before the mapping: load
//! it with [`WasmHost::load_step`] and attach it with
//! [`WasmTransform::with_steps`]; `run` then runs the steps in order and
//! maps what they leave, with one outcome per original change.
//!
//! How the pipeline uses it:
//!
//! ```no_run
//! use wb_engine::transform::{ChangeData, Limits, WasmHost};
//!
//! # fn demo(wasm: &[u8], changes: &[ChangeData]) -> Result<(), Box<dyn std::error::Error>> {
//! let host = WasmHost::new()?; // once per process
//! let params = vec![("table".to_string(), "users".to_string())];
//! let transform = host.load("users", wasm, params, Limits::default())?; // once per job
//! let out = transform.run(changes)?; // an Err here fails the whole batch
//! for (change, outcome) in changes.iter().zip(out.iter()) {
//!     match outcome {
//!         Ok(row_ops) => { /* hand to the sink */ }
//!         Err(reason) => { /* dead-letter `change` with reason.to_string() */ }
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod bindings;
mod bisect;
mod blocking;
mod cache;
mod error;
mod host;
mod limits;
mod output;
mod pool;
mod sandbox;
mod state;
mod step;
mod ticker;
mod typed;

pub use cache::CompileCache;
pub use error::TransformError;
pub use host::{WasmHost, WasmTransform};
pub use limits::Limits;
pub use output::BatchOutput;
pub use step::WasmStep;
pub use wb_abi::{Cell, ChangeData, Column, OpKind, RowOp, Target, ValueData};
