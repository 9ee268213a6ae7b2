//! The wb write-behind engine.
//!
//! Stages arrive with their issues; today the transform stage (Wasm host)
//! is here, next to the capture module in `capture/`.

pub mod sink;
pub mod transform;
