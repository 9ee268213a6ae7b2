//! A connection to one shard's primary for the control commands, and the
//! jobs its capture module tracks (`WB.JOB.LIST`).
//!
//! Commands that work on a job's keys in Redis (`trace`, `dlq`,
//! `backfill`) find the job's stream there rather than in a project: what
//! the capture module records is what they act on, and they work from any
//! machine that reaches Redis. Today a project runs on one standalone
//! server: [`shards`] gives that one; cluster discovery is not built.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};

use crate::bundle::BundleSource;

use super::deploy::job_set_args;
use super::error::ControlError;
use super::naming::JobStream;

/// A job as the capture module on one shard tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredJob {
    pub name: String,
    /// The Redis glob of the keys it records.
    pub pattern: Vec<u8>,
    /// Events it does not record.
    pub excluded: Vec<String>,
    /// Its stream on this shard.
    pub stream: JobStream,
}

/// A multiplexed connection to `url` that gives up on connecting after 5 s
/// and on a reply after 30 s, so that a server that hangs cannot hold a
/// command, a stop request or a scrape for ever.
pub async fn connect_multiplexed(url: &str) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Duration::from_secs(5))
        .set_response_timeout(Duration::from_secs(30));
    redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// `url` as logs and messages may show it: a password in it is masked
/// (`redis://user:***@host:6379`).
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => {
                let path = &rest[authority.len()..];
                format!("{scheme}://{user}:***@{host}{path}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// One shard's primary.
pub struct Shard {
    url: String,
    con: MultiplexedConnection,
}

/// The shards of the deployment at `url`: today the one server at `url`
/// (a standalone server, or the one cluster node named; see
/// [`Shard::is_cluster`]).
pub async fn shards(url: &str) -> Result<Vec<Shard>, ControlError> {
    Ok(vec![Shard::connect(url).await?])
}

impl Shard {
    /// Connects to the server at `url`.
    pub async fn connect(url: &str) -> Result<Shard, ControlError> {
        let connect = |error| ControlError::Connect {
            url: url.to_owned(),
            error,
        };
        let con = connect_multiplexed(url).await.map_err(connect)?;
        Ok(Shard {
            url: url.to_owned(),
            con,
        })
    }

    /// The server's URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn connection(&mut self) -> &mut MultiplexedConnection {
        &mut self.con
    }

    /// Whether the server runs in cluster mode (it then holds only its
    /// slots' keys and its own streams).
    pub async fn is_cluster(&mut self) -> Result<bool, ControlError> {
        let info: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut self.con)
            .await
            .map_err(|e| ControlError::redis(&self.url, e))?;
        Ok(info.lines().any(|line| line.trim() == "cluster_enabled:1"))
    }

    /// Every job the capture module tracks on this shard. Jobs whose stream
    /// is not known yet (a cluster node before it knows its slots) are left
    /// out.
    pub async fn jobs(&mut self) -> Result<Vec<RegisteredJob>, ControlError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter_map(Listed::registered)
            .collect())
    }

    /// Job `name` as this shard's capture module tracks it; an error naming
    /// the jobs it does track when it does not.
    pub async fn job(&mut self, name: &str) -> Result<RegisteredJob, ControlError> {
        let mut listed = self.list().await?;
        let Some(at) = listed.iter().position(|job| job.name == name) else {
            let names: Vec<&str> = listed.iter().map(|job| job.name.as_str()).collect();
            return Err(ControlError::NotRegistered {
                job: name.to_owned(),
                url: self.url.clone(),
                registered: if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                },
            });
        };
        listed
            .swap_remove(at)
            .registered()
            .ok_or_else(|| ControlError::NoStream {
                job: name.to_owned(),
                url: self.url.clone(),
            })
    }

    /// `WB.JOB.SET`: the capture module records the changes to the keys
    /// of `source` for job `name` from now on (replacing what it recorded
    /// for that job before).
    pub async fn set_job(&mut self, name: &str, source: &BundleSource) -> Result<(), ControlError> {
        let set: Result<Value, _> = job_set_args(name, source).query_async(&mut self.con).await;
        match set {
            Ok(_) => Ok(()),
            Err(e) if is_unknown_command(&e) => Err(ControlError::NoCaptureModule {
                url: self.url.clone(),
            }),
            Err(e) => Err(ControlError::redis(&self.url, e)),
        }
    }

    /// `WB.JOB.DEL`: the capture module stops recording job `name`'s
    /// changes on this shard. Whether it tracked the job.
    pub async fn remove_job(&mut self, name: &str) -> Result<bool, ControlError> {
        let removed: i64 = match redis::cmd("WB.JOB.DEL")
            .arg(name)
            .query_async(&mut self.con)
            .await
        {
            Ok(removed) => removed,
            Err(e) if is_unknown_command(&e) => {
                return Err(ControlError::NoCaptureModule {
                    url: self.url.clone(),
                })
            }
            Err(e) => return Err(ControlError::redis(&self.url, e)),
        };
        Ok(removed == 1)
    }

    /// `WB.JOB.LIST`: each job, with its stream on this shard if known.
    async fn list(&mut self) -> Result<Vec<Listed>, ControlError> {
        let reply: Value = match redis::cmd("WB.JOB.LIST").query_async(&mut self.con).await {
            Ok(reply) => reply,
            Err(e) if is_unknown_command(&e) => {
                return Err(ControlError::NoCaptureModule {
                    url: self.url.clone(),
                })
            }
            Err(e) => return Err(ControlError::redis(&self.url, e)),
        };
        let Value::Array(rows) = reply else {
            return Err(ControlError::reply("WB.JOB.LIST", &self.url, &reply));
        };
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            let bad = || ControlError::reply("WB.JOB.LIST", &self.url, &row);
            let Value::Array(parts) = &row else {
                return Err(bad());
            };
            let [name, pattern, excluded, stream] = parts.as_slice() else {
                return Err(bad());
            };
            jobs.push(Listed {
                name: text(name).ok_or_else(bad)?,
                pattern: bytes(pattern).ok_or_else(bad)?,
                excluded: match excluded {
                    Value::Array(events) => events.iter().filter_map(text).collect(),
                    _ => return Err(bad()),
                },
                stream: text(stream).and_then(|s| JobStream::parse(&s)),
            });
        }
        Ok(jobs)
    }
}

/// One row of `WB.JOB.LIST`.
struct Listed {
    name: String,
    pattern: Vec<u8>,
    excluded: Vec<String>,
    /// `None` until the shard knows its slots (cluster mode).
    stream: Option<JobStream>,
}

impl Listed {
    fn registered(self) -> Option<RegisteredJob> {
        Some(RegisteredJob {
            stream: self.stream?,
            name: self.name,
            pattern: self.pattern,
            excluded: self.excluded,
        })
    }
}

fn is_unknown_command(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::ResponseError
        && e.to_string()
            .to_ascii_lowercase()
            .contains("unknown command")
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    bytes(value).and_then(|b| String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_masked() {
        assert_eq!(
            shown_url("redis://:s3cret@h:6379/0"),
            "redis://:***@h:6379/0"
        );
        assert_eq!(shown_url("redis://me:s3cret@h"), "redis://me:***@h");
        assert_eq!(
            shown_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(shown_url("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }
}
