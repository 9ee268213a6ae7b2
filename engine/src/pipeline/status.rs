//! What a worker reads of and reports to its jobs' status hashes (see
//! `control::status`): the pause flags, checked between batches at most
//! every [`PAUSE_CHECK`], and its state when it retries, fails or stops.

use std::time::{Duration, Instant};

use crate::control::status;
use crate::control::JobStream;
use crate::source::{ShardReader, SourceError, WireConnection};

/// How often a worker looks at its jobs' pause flags.
pub const PAUSE_CHECK: Duration = Duration::from_millis(500);

/// The pause flags of a worker's streams, as last read.
pub struct PauseFlags {
    names: Vec<String>,
    streams: Vec<JobStream>,
    active: Vec<String>,
    checked: Option<Instant>,
}

impl PauseFlags {
    pub fn new(streams: &[JobStream]) -> PauseFlags {
        let names: Vec<String> = streams.iter().map(JobStream::stream).collect();
        PauseFlags {
            active: names.clone(),
            names,
            streams: streams.to_vec(),
            checked: None,
        }
    }

    /// The streams to read now: those whose job is not paused. Reads the
    /// flags over `con` (one round trip) when the last look is older than
    /// [`PAUSE_CHECK`].
    pub async fn active(&mut self, con: &mut WireConnection) -> Result<&[String], SourceError> {
        if self.checked.is_none_or(|at| at.elapsed() >= PAUSE_CHECK) {
            let flags = status::paused(con, &self.streams).await?;
            let active: Vec<String> = self
                .names
                .iter()
                .zip(flags)
                .filter(|(_, paused)| !paused)
                .map(|(name, _)| name.clone())
                .collect();
            // Said once per change, so an operator sees in the log when
            // this worker stopped or started reading a job.
            for (stream, name) in self.streams.iter().zip(&self.names) {
                match (self.active.contains(name), active.contains(name)) {
                    (true, false) => tracing::info!(
                        job = %stream.job,
                        "job paused: its changes wait in its stream until it is resumed"
                    ),
                    (false, true) => tracing::info!(job = %stream.job, "job resumed"),
                    _ => {}
                }
            }
            self.active = active;
            self.checked = Some(Instant::now());
        }
        Ok(&self.active)
    }
}

/// Sets the state of the jobs on the shard at `url` for which `reported`
/// holds (e.g. `retrying: REASON`), over a connection of its own. Best
/// effort: the server may be what failed, so a failure is only logged, and
/// the attempt gives up after a second.
pub async fn report_state(url: &str, reported: impl Fn(&str) -> bool, state: &str) {
    let attempt = async {
        let mut con = ShardReader::connect(url).await?;
        let streams: Vec<JobStream> = con
            .job_streams()
            .await?
            .iter()
            .filter_map(|name| JobStream::parse(name))
            .filter(|s| reported(&s.job))
            .collect();
        status::set_state(con.connection(), &streams, state).await
    };
    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, state, "could not report the worker's state"),
        Err(_) => tracing::debug!(state, "reporting the worker's state timed out"),
    }
}
