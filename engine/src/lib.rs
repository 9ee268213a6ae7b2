//! The wb write-behind engine.
//!
//! Stages arrive with their issues; today the transform stage (Wasm host)
//! and job file parsing are here, next to the capture module in `capture/`.

pub mod config;
pub mod transform;
