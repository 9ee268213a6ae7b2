//! The transform stage: runs changes through WebAssembly components that
//! implement the `wb:transform` world (see `wit/`) and returns row operations.
//!
//! One [`WasmHost`] per engine compiles components and keeps the epoch
//! ticker; each loaded [`WasmTransform`] is linked once and instantiated
//! fresh for every batch, under a memory cap and a deadline. A change that
//! makes its guest trap, run out of time or out of memory is rejected alone:
//! the batch is split until the culprit is isolated.

mod bindings;
mod bisect;
mod error;
mod host;
mod limits;
mod output;
mod state;
mod ticker;
mod typed;

pub use error::TransformError;
pub use host::{WasmHost, WasmTransform};
pub use limits::Limits;
pub use output::BatchOutput;
pub use wb_abi::{Cell, ChangeData, Column, OpKind, RowOp, Target, ValueData};
