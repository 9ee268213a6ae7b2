//! Write a wb transform component in Rust.
//!
//! Implement [`Transform`] (parse the job's params once in `init`, map each
//! change to row operations in `map`) and call [`export!`]:
//!
//! ```no_run
//! use wb_guest::{Change, Params, RowOp, Transform};
//!
//! struct Users { connection: String }
//!
//! impl Transform for Users {
//!     fn init(params: &Params) -> Result<Self, String> {
//!         Ok(Users { connection: params.get_or("connection", "target").to_string() })
//!     }
//!     fn map<'a>(&'a self, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String> {
//!         let id = change.key_part(1).ok_or("key has no id")?;
//!         if change.is_missing() {
//!             return Ok(vec![RowOp::delete(self.connection.as_str(), "users").key("id", id)]);
//!         }
//!         Ok(vec![RowOp::upsert(self.connection.as_str(), "users")
//!             .key("id", id)
//!             .value("name", change.field_str("name"))])
//!     }
//! }
//!
//! wb_guest::export!(Users);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component. The same `map` runs
//! natively too (in unit tests, say) through [`run_batch`].
//!
//! A step (a component that reshapes each record before a job's declarative
//! outputs) implements [`Step`] instead and calls [`export_step!`]; its
//! crate depends on wb-guest with `default-features = false, features =
//! ["step"]`:
//!
//! ```ignore
//! use wb_guest::{Change, HashRecord, Params, Step, StepResult};
//!
//! struct LowerEmail;
//!
//! impl Step for LowerEmail {
//!     fn init(_: &Params) -> Result<Self, String> {
//!         Ok(LowerEmail)
//!     }
//!     fn step(&self, change: &Change<'_>) -> StepResult {
//!         let mut record = HashRecord::from_change(change).ok_or("not a hash")?;
//!         if let Some(email) = record.get_str("email") {
//!             let lower = email.to_lowercase();
//!             record.set("email", lower);
//!         }
//!         Ok(Some(record.into_value()))
//!     }
//! }
//!
//! wb_guest::export_step!(LowerEmail);
//! ```

#[cfg(feature = "transform")]
#[doc(hidden)]
#[path = "glue.rs"]
pub mod __glue;
#[cfg(feature = "step")]
#[doc(hidden)]
#[path = "step_glue.rs"]
pub mod __step_glue;
mod params;
mod record;
mod step;

pub use params::Params;
pub use record::HashRecord;
pub use step::{run_steps, Step, StepResult};
pub use wb_abi::{
    encode_changes, json_path, json_text, json_unquote, run_batch, Cell, Change, ChangeData,
    Column, JsonPathError, OpKind, ResultReader, RowOp, Target, Value, ValueData,
};

/// Bindings generated from `wit/` (the `wb:transform` world).
#[cfg(feature = "transform")]
pub mod bindings {
    wit_bindgen::generate!({
        world: "transform",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_component",
        default_bindings_module: "wb_guest::bindings",
    });
}

/// Bindings generated from `wit/` for the `step` world.
#[cfg(feature = "step")]
pub mod step_bindings {
    wit_bindgen::generate!({
        world: "step",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_step_component",
        default_bindings_module: "wb_guest::step_bindings",
    });
}

/// A transform: built once per instance from the job's params, then called
/// for every change.
pub trait Transform: Sized + Send + Sync + 'static {
    /// Reads the job's `params`; an error fails the job's load.
    fn init(params: &Params) -> Result<Self, String>;

    /// Maps one change to row operations; an error rejects this change alone
    /// (it goes to the dead-letter queue with the message). Row ops may
    /// borrow text from `self` and from the change.
    fn map<'a>(&'a self, change: &Change<'a>) -> Result<Vec<RowOp<'a>>, String>;
}

/// How loud a log line is.
#[cfg(feature = "transform")]
pub use bindings::wb::transform::types::LogLevel;
#[cfg(all(feature = "step", not(feature = "transform")))]
pub use step_bindings::wb::transform::types::LogLevel;

/// Writes a line to the engine's log, labelled with the job.
#[cfg(feature = "transform")]
pub fn log(level: LogLevel, message: &str) {
    bindings::log(level, message);
}

/// Writes a line to the engine's log, labelled with the job.
#[cfg(all(feature = "step", not(feature = "transform")))]
pub fn log(level: LogLevel, message: &str) {
    step_bindings::log(level, message);
}

/// Exports a [`Transform`] implementation as the component's `wb:transform`
/// world (both the typed and the packed batch calls).
#[cfg(feature = "transform")]
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        const _: () = {
            static STATE: ::std::sync::OnceLock<$ty> = ::std::sync::OnceLock::new();

            struct WbComponent;

            impl $crate::bindings::Guest for WbComponent {
                fn init(
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__glue::init::<$ty>(&STATE, params)
                }

                fn transform(
                    changes: ::std::vec::Vec<$crate::bindings::Change>,
                ) -> ::std::vec::Vec<
                    ::std::result::Result<
                        ::std::vec::Vec<$crate::bindings::RowOp>,
                        ::std::string::String,
                    >,
                > {
                    $crate::__glue::transform_typed::<$ty>(&STATE, changes)
                }

                fn transform_packed(
                    changes: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    $crate::__glue::transform_packed::<$ty>(&STATE, &changes)
                }
            }

    $crate::bindings::__export_component!(WbComponent with_types_in $crate::bindings);
        };
    };
}

/// Exports a [`Step`] implementation as the component's `step` world (needs
/// the `step` feature).
#[cfg(feature = "step")]
#[macro_export]
macro_rules! export_step {
    ($ty:ty) => {
        const _: () = {
            static STATE: ::std::sync::OnceLock<$ty> = ::std::sync::OnceLock::new();

            struct WbStepComponent;

            impl $crate::step_bindings::Guest for WbStepComponent {
                fn init(
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__step_glue::init::<$ty>(&STATE, params)
                }

                fn step(
                    changes: ::std::vec::Vec<$crate::step_bindings::wb::transform::types::Change>,
                ) -> ::std::vec::Vec<
                    ::std::result::Result<
                        ::std::option::Option<$crate::step_bindings::wb::transform::types::Value>,
                        ::std::string::String,
                    >,
                > {
                    $crate::__step_glue::step::<$ty>(&STATE, changes)
                }
            }

            $crate::step_bindings::__export_step_component!(WbStepComponent with_types_in $crate::step_bindings);
        };
    };
}
