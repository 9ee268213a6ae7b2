//! A worker's target connection at start: a target that cannot be reached
//! yet (down, restarting, a failover in progress) is waited for, as a
//! transient failure is anywhere else, instead of stopping the engine.

use std::future::Future;

use tokio::sync::watch;

use crate::sink::{Sink, SinkError};

use super::backoff::{wait_unless_stopped, Backoff};
use super::error::PipelineError;
use super::status::report_state;
use super::worker::WorkerSettings;

/// Connects with `connect`, retrying with backoff for as long as the
/// failure is transient; the jobs for which `ours` holds say
/// `retrying: REASON` meanwhile. `Ok(None)`: asked to stop first. Any other
/// failure is returned.
pub async fn connect_sink<S, F, Fut>(
    url: &str,
    ours: impl Fn(&str) -> bool,
    settings: &WorkerSettings,
    stop: &mut watch::Receiver<bool>,
    connect: F,
) -> Result<Option<S>, PipelineError>
where
    S: Sink,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<S, SinkError>>,
{
    let mut backoff = Backoff::new(settings.min_backoff, settings.max_backoff);
    loop {
        if *stop.borrow() {
            return Ok(None);
        }
        match connect().await {
            Ok(sink) => return Ok(Some(sink)),
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "the target cannot be reached; waiting for it");
                let state = format!("retrying: connecting to the target: {e}");
                report_state(url, &ours, &state).await;
                // Wake early for a stop request.
                wait_unless_stopped(delay, stop).await;
            }
            Err(e) => return Err(PipelineError::Sink(e)),
        }
    }
}
