//! Host bindings generated from `wit/`: the `transform` world, and the
//! `step` world, which shares its types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "transform",
});

/// What the typed `transform` export returns for one change.
pub(crate) type TransformResult = Result<Vec<wb::transform::types::RowOp>, String>;

pub(crate) mod step {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "step",
        with: {
            "wb:transform/types": super::wb::transform::types,
        },
    });

    /// What the `step` export returns for one change.
    pub(crate) type StepResult = Result<Option<super::wb::transform::types::Value>, String>;
}
