//! Errors of the control plane's commands (`trace`, `dlq`, `backfill`):
//! what went wrong, said so that a person can act on it.

use redis::RedisError;

use crate::control::shown_url;
use crate::pipeline::PipelineError;
use crate::source::SourceError;

/// Why a control command could not do its work. A server's address is
/// shown with any password in it masked (`shown_url`).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    // The causes are shown in the message, not chained as sources: their
    // own chains repeat what they say.
    #[error("cannot connect to Redis at {at}: {error} (is the server running? set --redis-url or WB_REDIS_URL)", at = shown_url(.url))]
    Connect { url: String, error: RedisError },
    #[error("Redis at {at}: {error}", at = shown_url(.url))]
    Redis { url: String, error: SourceError },
    #[error(
        "the capture module is not loaded on {at} (it does not know WB.JOB.LIST): \
         start the server with --loadmodule /path/to/libwb_capture.so",
        at = shown_url(.url)
    )]
    NoCaptureModule { url: String },
    #[error(
        "job '{job}' is not registered with the capture module on {at} \
         (registered: {registered}); `wb-engine run --dir PROJECT` registers a project's jobs, \
         as does `wb-engine deploy`",
        at = shown_url(.url)
    )]
    NotRegistered {
        job: String,
        url: String,
        registered: String,
    },
    #[error(
        "the capture module on {at} has no stream for job '{job}' yet (a cluster node that \
         does not know its slots yet): try again in a second",
        at = shown_url(.url)
    )]
    NoStream { job: String, url: String },
    #[error("unexpected reply to {command} from {at}: {reply}", at = shown_url(.url))]
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
        "{at} runs in cluster mode: deploy stores the deployment on a standalone server \
         today (cluster discovery is not built)",
        at = shown_url(.url)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_address_is_masked_in_every_message() {
        let url = "redis://app:s3cret@db.example:6379";
        let errors = [
            ControlError::redis(
                url,
                redis::RedisError::from((redis::ErrorKind::IoError, "gone")),
            ),
            ControlError::NoCaptureModule { url: url.into() },
            ControlError::Cluster { url: url.into() },
            ControlError::reply("HGETALL", url, &redis::Value::Nil),
        ];
        for error in errors {
            let shown = error.to_string();
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("redis://app:***@db.example:6379"), "{shown}");
        }
    }
}
