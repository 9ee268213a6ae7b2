//! The table of tracked jobs, and the names of the streams they write to.
//!
//! The table is plain data: a job's name, its key pattern and the events it
//! ignores. What the capture callback needs on every write is derived from it
//! once, as a [`Snapshot`], whenever the table or the shard's tag changes.

use std::collections::BTreeMap;
use std::fmt;

use crate::glob;

/// Every key the module writes starts with this, and the module never
/// records changes to keys that do: its own streams would otherwise feed
/// themselves. The engine keeps its own keys (dead letters, statistics)
/// under the same prefix.
pub const RESERVED_PREFIX: &[u8] = b"wb:";

const MAX_NAME_LEN: usize = 64;
const MAX_PATTERN_LEN: usize = 1024;
const MAX_EXCLUDED: usize = 64;

/// One tracked job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub pattern: Vec<u8>,
    /// Event names (`hdel`, `expired`, `json.del`, ...) this job ignores.
    pub excluded: Vec<String>,
}

/// Why a job definition was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JobError {
    BadName(String),
    BadPattern(&'static str),
    BadEvent(String),
    TooManyExcluded,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::BadName(name) => write!(
                f,
                "invalid job name '{name}': use 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ - ."
            ),
            JobError::BadPattern(why) => write!(f, "invalid key pattern: {why}"),
            JobError::BadEvent(event) => write!(
                f,
                "invalid event name '{event}': use lower-case letters, digits, '.', '_' or '-'"
            ),
            JobError::TooManyExcluded => write!(f, "at most {MAX_EXCLUDED} excluded events"),
        }
    }
}

impl Job {
    /// A job, validated.
    pub fn new(name: &str, pattern: &[u8], excluded: Vec<String>) -> Result<Job, JobError> {
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            return Err(JobError::BadName(name.to_owned()));
        }
        if pattern.is_empty() {
            return Err(JobError::BadPattern("it is empty"));
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(JobError::BadPattern("it is longer than 1024 bytes"));
        }
        if excluded.len() > MAX_EXCLUDED {
            return Err(JobError::TooManyExcluded);
        }
        let mut excluded = excluded
            .into_iter()
            .map(|event| {
                let event = event.to_ascii_lowercase();
                let ok = !event.is_empty()
                    && event.len() <= MAX_NAME_LEN
                    && event.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'.' | b'_' | b'-')
                    });
                if ok {
                    Ok(event)
                } else {
                    Err(JobError::BadEvent(event))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        excluded.sort();
        excluded.dedup();
        Ok(Job {
            name: name.to_owned(),
            pattern: pattern.to_vec(),
            excluded,
        })
    }
}

/// The name of `job`'s change stream on the shard whose tag is `tag`.
pub fn stream_name(tag: &str, job: &str) -> Vec<u8> {
    format!("wb:{{{tag}}}:changes:{job}").into_bytes()
}

/// All jobs, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobTable {
    jobs: BTreeMap<String, Job>,
}

impl JobTable {
    /// Adds or replaces a job; returns whether it replaced one.
    pub fn set(&mut self, job: Job) -> bool {
        self.jobs.insert(job.name.clone(), job).is_some()
    }

    /// Removes a job; returns whether it existed.
    pub fn remove(&mut self, name: &str) -> bool {
        self.jobs.remove(name).is_some()
    }

    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The table as bytes, for the module's auxiliary data in RDB files.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![ENCODING_VERSION];
        put_len(&mut out, self.jobs.len());
        for job in self.jobs.values() {
            put_bytes(&mut out, job.name.as_bytes());
            put_bytes(&mut out, &job.pattern);
            put_len(&mut out, job.excluded.len());
            for event in &job.excluded {
                put_bytes(&mut out, event.as_bytes());
            }
        }
        out
    }

    /// The table [`encode`](Self::encode) wrote; `None` if the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Option<JobTable> {
        let (&version, mut rest) = bytes.split_first()?;
        if version != ENCODING_VERSION {
            return None;
        }
        let mut table = JobTable::default();
        for _ in 0..take_len(&mut rest)? {
            let name = std::str::from_utf8(take_bytes(&mut rest)?).ok()?;
            let pattern = take_bytes(&mut rest)?;
            let excluded = (0..take_len(&mut rest)?)
                .map(|_| {
                    let event = take_bytes(&mut rest)?;
                    std::str::from_utf8(event).ok().map(str::to_owned)
                })
                .collect::<Option<Vec<_>>>()?;
            table.set(Job::new(name, pattern, excluded).ok()?);
        }
        rest.is_empty().then_some(table)
    }

    /// What the capture callback reads on every write, for a shard tag
    /// (`None`: the shard owns no slot and records nothing). Each job's
    /// stream name is turned into whatever handle the caller writes with.
    pub fn snapshot<S>(&self, tag: Option<&str>, handle: impl Fn(&[u8]) -> S) -> Snapshot<S> {
        let targets = match tag {
            Some(tag) => self
                .jobs
                .values()
                .map(|job| Target {
                    pattern: job.pattern.clone(),
                    excluded: job.excluded.iter().map(|e| e.as_bytes().into()).collect(),
                    stream: handle(&stream_name(tag, &job.name)),
                })
                .collect(),
            None => Vec::new(),
        };
        Snapshot { targets }
    }
}

const ENCODING_VERSION: u8 = 1;

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Names, patterns and counts are bounded far below 4 GiB by validation.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn take_len(input: &mut &[u8]) -> Option<usize> {
    let (head, rest) = input.split_first_chunk::<4>()?;
    *input = rest;
    usize::try_from(u32::from_le_bytes(*head)).ok()
}

fn take_bytes<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = take_len(input)?;
    if input.len() < len {
        return None;
    }
    let (bytes, rest) = input.split_at(len);
    *input = rest;
    Some(bytes)
}

/// A job as the capture callback sees it.
#[derive(Debug)]
struct Target<S> {
    pattern: Vec<u8>,
    excluded: Vec<Box<[u8]>>,
    stream: S,
}

/// The jobs' patterns and streams, ready for matching; `S` is the handle of
/// a stream (its name, or the server's string for it).
#[derive(Debug)]
pub struct Snapshot<S> {
    targets: Vec<Target<S>>,
}

impl<S> Default for Snapshot<S> {
    fn default() -> Self {
        Snapshot {
            targets: Vec::new(),
        }
    }
}

impl<S> Snapshot<S> {
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The streams that record `event` on `key`.
    pub fn streams_for<'a>(
        &'a self,
        key: &'a [u8],
        event: &'a [u8],
    ) -> impl Iterator<Item = &'a S> + 'a {
        let own_key = key.starts_with(RESERVED_PREFIX);
        self.targets
            .iter()
            .filter(move |t| {
                !own_key
                    && glob::matches(&t.pattern, key)
                    && !t.excluded.iter().any(|e| **e == *event)
            })
            .map(|t| &t.stream)
    }

    /// Every job's stream (for events that concern all of them, like a flush).
    pub fn all_streams(&self) -> impl Iterator<Item = &S> {
        self.targets.iter().map(|t| &t.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, pattern: &str, excluded: &[&str]) -> Job {
        Job::new(
            name,
            pattern.as_bytes(),
            excluded.iter().map(|s| s.to_string()).collect(),
        )
        .expect("valid job")
    }

    #[test]
    fn validates_names_patterns_and_events() {
        assert!(matches!(
            Job::new("", b"*", vec![]),
            Err(JobError::BadName(_))
        ));
        assert!(matches!(
            Job::new("a b", b"*", vec![]),
            Err(JobError::BadName(_))
        ));
        assert!(matches!(
            Job::new("a", b"", vec![]),
            Err(JobError::BadPattern(_))
        ));
        assert!(matches!(
            Job::new("a", b"*", vec!["h del".into()]),
            Err(JobError::BadEvent(_))
        ));
        let j = job("users.v2", "user:*", &["HDEL", "hdel", "json.del"]);
        assert_eq!(j.excluded, vec!["hdel".to_string(), "json.del".to_string()]);
    }

    #[test]
    fn table_round_trips_through_its_encoding() {
        let mut table = JobTable::default();
        assert_eq!(JobTable::decode(&table.encode()), Some(table.clone()));
        table.set(job("users", "user:*", &["hdel", "expired"]));
        table.set(Job::new("bin", b"b\x00[\xff]*", vec![]).expect("binary pattern"));
        let bytes = table.encode();
        assert_eq!(JobTable::decode(&bytes), Some(table));
        assert_eq!(
            JobTable::decode(&bytes[..bytes.len() - 1]),
            None,
            "truncated"
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(JobTable::decode(&longer), None, "trailing bytes");
        assert_eq!(JobTable::decode(b""), None);
    }

    #[test]
    fn streams_are_named_by_tag_and_job() {
        assert_eq!(stream_name("0", "users"), b"wb:{0}:changes:users".to_vec());
    }

    #[test]
    fn snapshot_matches_patterns_and_exclusions() {
        let mut table = JobTable::default();
        assert!(!table.set(job("users", "user:*", &["hdel"])));
        table.set(job("all", "*", &[]));
        assert!(table.set(job("all", "*", &[])), "second set replaces");
        let snap = table.snapshot(Some("0"), |name| String::from_utf8_lossy(name).into_owned());
        let hits = |key: &str, event: &str| -> Vec<String> {
            snap.streams_for(key.as_bytes(), event.as_bytes())
                .cloned()
                .collect()
        };
        assert_eq!(
            hits("user:1", "hset"),
            vec!["wb:{0}:changes:all", "wb:{0}:changes:users"]
        );
        assert_eq!(hits("user:1", "hdel"), vec!["wb:{0}:changes:all"]);
        assert_eq!(hits("order:1", "hset"), vec!["wb:{0}:changes:all"]);
        assert!(hits("wb:{0}:changes:users", "xadd").is_empty(), "own keys");
        assert!(table.remove("all"));
        assert!(!table.remove("all"));
        assert!(table.snapshot(None, <[u8]>::to_vec).is_empty());
    }
}
