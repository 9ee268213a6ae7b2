//! Names of the keys wb keeps in Redis, derived from a job's change stream.
//!
//! The capture module names a job's stream `wb:{TAG}:changes:JOB`, where the
//! hashtag pins it to its shard. The engine's own keys for that job and shard
//! carry the same hashtag, so they live on the same shard as the stream.

/// A job's change stream on one shard, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStream {
    /// The shard's hashtag, without braces.
    pub tag: String,
    pub job: String,
}

impl JobStream {
    /// Job `job`'s stream on the shard whose hashtag is `tag`.
    pub fn new(tag: impl Into<String>, job: impl Into<String>) -> JobStream {
        JobStream {
            tag: tag.into(),
            job: job.into(),
        }
    }

    /// Parses `wb:{TAG}:changes:JOB`; `None` for any other name.
    pub fn parse(stream: &str) -> Option<JobStream> {
        let rest = stream.strip_prefix("wb:{")?;
        let (tag, rest) = rest.split_once('}')?;
        let job = rest.strip_prefix(":changes:")?;
        if tag.is_empty() || job.is_empty() {
            return None;
        }
        Some(JobStream {
            tag: tag.to_owned(),
            job: job.to_owned(),
        })
    }

    /// The change stream's name.
    pub fn stream(&self) -> String {
        format!("wb:{{{}}}:changes:{}", self.tag, self.job)
    }

    /// The job's dead-letter stream on this shard.
    pub fn dead_letters(&self) -> String {
        format!("wb:{{{}}}:dlq:{}", self.tag, self.job)
    }

    /// Where an interrupted `wb-engine backfill` of the job on this shard
    /// keeps its SCAN cursor and counts, so that it can resume.
    pub fn backfill_state(&self) -> String {
        format!("wb:{{{}}}:backfill:{}", self.tag, self.job)
    }

    /// The job's status on this shard: the engine's counters, its state
    /// and the pause flag (see `control::status`).
    pub fn status(&self) -> String {
        format!("wb:{{{}}}:status:{}", self.tag, self.job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_derives_names_on_the_same_shard() {
        let s = JobStream::parse("wb:{0}:changes:users").expect("a job stream");
        assert_eq!(s.job, "users");
        assert_eq!(s.tag, "0");
        assert_eq!(s.stream(), "wb:{0}:changes:users");
        assert_eq!(s.dead_letters(), "wb:{0}:dlq:users");
        assert_eq!(s.backfill_state(), "wb:{0}:backfill:users");
        assert_eq!(s.status(), "wb:{0}:status:users");
        assert_eq!(JobStream::new("0", "users"), s);
        let dotted = JobStream::parse("wb:{123}:changes:a.b-c").expect("a job stream");
        assert_eq!(dotted.job, "a.b-c");
        for bad in [
            "",
            "wb:{0}:dlq:users",
            "wb:{}:changes:x",
            "wb:{0}:changes:",
            "x:{0}:changes:y",
        ] {
            assert_eq!(JobStream::parse(bad), None, "{bad}");
        }
    }
}
