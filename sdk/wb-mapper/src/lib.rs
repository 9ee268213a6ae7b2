//! The stock declarative mapper: applies the `output` blocks of a job
//! (`keys`, `mapping`, `load_strategy`) to changes.
//!
//! The engine compiles a job's YAML into a [`Spec`] text (a few lines per
//! output, see [`Spec::parse`]) and passes it as the component's `spec`
//! param; the component parses it once per instance and maps every change.
//! This library has no Wasm in it, so the engine can also run it natively
//! (to compare speeds, and to check jobs without a component).
//!
//! Implemented so far: expressions made of field references (a hash field,
//! a path into a JSON document, or `member` and `score` of set rows),
//! `'literals'`, numbers, `key_part(n)` and the functions lower, upper,
//! capitalize, concat, left, right, mid, replace, split, in, base64_decode
//! and json_parse; upsert and append; sets and
//! sorted sets, and JSON arrays (`foreach`), replaced as child rows;
//! deletes of gone keys; comparisons and `&&`, `||`, `!`; the transform
//! steps rename, remove, add and filter. Not yet: the rest of JMESPath and
//! of RDI's functions, the map block, `replace`.

mod apply;
mod expr;
mod func;
mod logic;
mod spec;

pub use apply::apply;
pub use expr::{Expr, Item, Scope, Step};
pub use func::Func;
pub use logic::CmpOp;
pub use spec::{Column, Foreach, LoadStrategy, Output, Spec, SpecError};
