//! The stock declarative mapper: applies a job's transform blocks and
//! `output` blocks (`keys`, `mapping`, `load_strategy`) to changes.
//!
//! The engine compiles a job's YAML into a [`Spec`] text (a few lines per
//! step and output, see [`Spec::parse`]) and passes it as the component's
//! `spec` param; the component parses it once per instance and maps every
//! change. This library has no Wasm in it, so the engine can also run it
//! natively (to compare speeds, and to check jobs without a component).
//!
//! Expressions are JMESPath ([`Expr::parse`]): field references (a hash
//! field, a path into a JSON document, `member` and `score` of set rows),
//! `@`, `'raw strings'`, `` `JSON literals` ``, bare integers, sub-expressions
//! and indexes (`a.b[0]`, `a[-1]`), slices, projections (`[*]`, `.*`),
//! flatten (`[]`), filters (`[?expr]`), multi-select lists and hashes, pipes,
//! comparisons, `&&`, `||`, `!`, `&expression` arguments; `key_part(n)`.
//! Functions ([`Func`]): RDI's lower, upper, capitalize, concat, left,
//! right, mid, replace, split, in, base64_decode, json_parse,
//! filter_entries, from_entries, to_entries, hash, regex_replace,
//! time_delta_days, time_delta_seconds, uuid; JMESPath's length, keys,
//! values, join, contains, starts_with, ends_with, to_string, to_number,
//! to_array, abs, ceil, floor, max, min, sum, avg, sort, reverse, not_null,
//! type, merge, sort_by, max_by, min_by, map.
//!
//! Transform steps: rename, remove, add, filter and map. Load strategies:
//! upsert, append and replace. Sets, sorted sets and JSON arrays
//! (`foreach`) become child rows replaced as a whole; a gone key deletes
//! its rows.

mod apply;
mod builtin;
mod digest;
mod display;
mod expr;
mod func;
mod lex;
mod logic;
mod parse;
mod pattern;
mod rdi;
mod spec;
mod strings;
mod time;
mod value;

pub use apply::apply;
pub use expr::{Expr, Item, Project, Scope, Step};
pub use func::Func;
pub use logic::CmpOp;
pub use pattern::Pattern;
pub use spec::{Column, Foreach, LoadStrategy, Output, Spec, SpecError};
pub use value::Val;
