//! Errors of the control plane's commands (`trace`, `dlq`, `backfill`):
//! what went wrong, said so that a person can act on it.

use redis::RedisError;

use crate::pipeline::PipelineError;
use crate::source::SourceError;

/// Why a control command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    // The causes are shown in the message, not chained as sources: their
    // own chains repeat what they say.
    #[error("cannot connect to Redis at {url}: {error} (is the server running? set --redis-url or WB_REDIS_URL)")]
    Connect { url: String, error: RedisError },
    #[error("Redis at {url}: {error}")]
    Redis { url: String, error: SourceError },
    #[error(
        "the capture module is not loaded on {url} (it does not know WB.JOB.LIST): \
         start the server with --loadmodule /path/to/libwb_capture.so"
    )]
    NoCaptureModule { url: String },
    #[error(
        "job '{job}' is not registered with the capture module on {url} \
         (registered: {registered}); `wb-engine run --dir PROJECT` registers a project's jobs, \
         as does `wb-engine deploy`"
    )]
    NotRegistered {
        job: String,
        url: String,
        registered: String,
    },
    #[error(
        "the capture module on {url} has no stream for job '{job}' yet (a cluster node that \
         does not know its slots yet): try again in a second"
    )]
    NoStream { job: String, url: String },
    #[error("unexpected reply to {command} from {url}: {reply}")]
    Reply {
        command: &'static str,
        url: String,
        reply: String,
    },
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("cannot encode a bundle: {0}")]
    Bundle(String),
    #[error(
        "{url} runs in cluster mode: deploy stores the deployment on a standalone server \
         today (cluster discovery is not built)"
    )]
    Cluster { url: String },
    #[error(
        "an interrupted backfill of job '{job}' scanned for {before:?}, but the job now \
         tracks {now:?}: start over with --restart"
    )]
    PatternChanged {
        job: String,
        before: String,
        now: String,
    },
}

impl ControlError {
    /// A failed Redis command on the server at `url`.
    pub fn redis(url: &str, source: impl Into<SourceError>) -> ControlError {
        ControlError::Redis {
            url: url.to_owned(),
            error: source.into(),
        }
    }

    pub(crate) fn reply(command: &'static str, url: &str, reply: &redis::Value) -> ControlError {
        ControlError::Reply {
            command,
            url: url.to_owned(),
            reply: crate::source::shown_reply(reply),
        }
    }
}
