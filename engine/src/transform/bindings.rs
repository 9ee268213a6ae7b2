//! Host bindings generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform",
});

/// What the typed `transform` export returns for one change.
pub(crate) type TransformResult = Result<Vec<wb::transform::types::RowOp>, String>;
