//! The data model of wb transforms and the packed batch layout.
//!
//! Both sides of the Wasm boundary use this crate: the engine encodes a batch
//! of [`ChangeData`] and decodes the results, a guest decodes the batch into
//! borrowed [`Change`] views and encodes the [`RowOp`]s its function returns.
//! It has no dependencies so that it builds for the host and for
//! `wasm32-wasip2` alike, and so the same mapping code can run natively (for
//! tests and benchmarks) and inside a component.
//!
//! The layout is documented in `wit/README.md`. The crate also holds the
//! small JSON path reader ([`json_path`]) that guests and the stock mapper
//! use to read RedisJSON documents without a JSON dependency.

mod change;
mod input;
mod json;
mod output;
mod rowop;
mod wire;

pub use change::{Change, Members, Pairs, Scored, Value, FLUSH_EVENT};
pub use input::{encode_changes, BatchReader, ChangeData, ValueData};
pub use json::{json_array_items, json_path, json_text, json_unquote, JsonPathError};
pub use output::{run_batch, ResultReader, ResultWriter};
pub use rowop::{Cell, Column, OpKind, RowOp, Target};
pub use wire::DecodeError;
