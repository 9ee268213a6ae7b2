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

/// A worker's target: how to open its sink, given the tables to check
/// when it connects (those its jobs declare).
pub struct TargetConnection<F> {
    /// The connection's name in config.yaml, for messages.
    pub name: String,
    pub tables: Vec<String>,
    pub connect: F,
}

/// Opens the sink of `target`, retrying with backoff for as long as the
/// failure is transient; the jobs for which `ours` holds say
/// `retrying: REASON` meanwhile. A declared table that does not match the
/// target does not stop the worker: it opens without checking them, and
/// the jobs writing there are held when they first write (their changes
/// pending, their status saying why) until the target is fixed.
/// `Ok(None)`: asked to stop first. Any other failure is returned.
pub async fn connect_sink<S, F, Fut>(
    url: &str,
    ours: impl Fn(&str) -> bool,
    settings: &WorkerSettings,
    stop: &mut watch::Receiver<bool>,
    target: TargetConnection<F>,
) -> Result<Option<S>, PipelineError>
where
    S: Sink,
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<S, SinkError>>,
{
    let connect = &target.connect;
    let mut backoff = Backoff::new(settings.min_backoff, settings.max_backoff);
    loop {
        if *stop.borrow() {
            return Ok(None);
        }
        let opened = match connect(target.tables.clone()).await {
            Err(e) if e.is_table_mismatch() => {
                tracing::warn!(
                    "connection '{}': {e}; the jobs that write there are held, their changes \
                     pending, until it is fixed",
                    target.name
                );
                connect(Vec::new()).await
            }
            opened => opened,
        };
        match opened {
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
