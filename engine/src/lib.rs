//! The wb write-behind engine.
//!
//! Not built yet: the stages (config, source, transform, sink, pipeline,
//! control) arrive with their issues. The capture module in `capture/` is the
//! only part that works today.
