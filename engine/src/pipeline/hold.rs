//! Jobs held back by a configuration error.
//!
//! When the target does not match a job (a missing table or column, a
//! missing privilege), retrying the batch at once cannot help, and sending
//! its changes to the dead-letter stream would flood it with records that
//! are not at fault. The job is held instead: its entries stay pending, its
//! status says why, and the worker's other jobs go on. It is tried again
//! after a delay that doubles up to a cap, and goes on by itself once
//! someone fixes the target.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The first delay before a held job is tried again.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// One held job.
#[derive(Debug)]
struct Hold {
    /// When it is tried again.
    retry_at: Instant,
    /// The delay that set `retry_at`; the next is twice that, up to the cap.
    delay: Duration,
    /// Why it is held.
    reason: String,
}

/// The jobs a worker holds, with when each is tried again.
#[derive(Debug)]
pub struct HeldJobs {
    jobs: HashMap<String, Hold>,
    cap: Duration,
}

impl HeldJobs {
    /// Held jobs are tried again at most every `cap` (the applier's
    /// `on_failed_retry_interval`; at least a second).
    pub fn new(cap: Duration) -> HeldJobs {
        HeldJobs {
            jobs: HashMap::new(),
            cap: cap.max(FIRST_RETRY),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn contains(&self, job: &str) -> bool {
        self.jobs.contains_key(job)
    }

    /// The longest delay between two tries of a held job.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// Why `job` is held, if it is.
    pub fn reason(&self, job: &str) -> Option<&str> {
        self.jobs.get(job).map(|hold| hold.reason.as_str())
    }

    /// Holds `job` (again) for `reason`: returns the delay before it is
    /// tried again.
    pub fn hold(&mut self, job: &str, reason: String, now: Instant) -> Duration {
        let delay = match self.jobs.get(job) {
            Some(hold) => (hold.delay * 2).min(self.cap),
            None => FIRST_RETRY,
        };
        self.jobs.insert(
            job.to_owned(),
            Hold {
                retry_at: now + delay,
                delay,
                reason,
            },
        );
        delay
    }

    /// `job` wrote a batch: it is no longer held.
    pub fn release(&mut self, job: &str) {
        self.jobs.remove(job);
    }

    /// The jobs not to read now: held and not yet due for another try.
    pub fn waiting(&self, now: Instant) -> HashSet<String> {
        self.jobs
            .iter()
            .filter(|(_, hold)| hold.retry_at > now)
            .map(|(job, _)| job.clone())
            .collect()
    }

    /// When the next waiting job is due for another try.
    pub fn next_retry(&self, now: Instant) -> Option<Instant> {
        self.jobs
            .values()
            .map(|hold| hold.retry_at)
            .filter(|at| *at > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_job_waits_twice_as_long_each_time_up_to_the_cap() {
        let mut held = HeldJobs::new(Duration::from_secs(5));
        let now = Instant::now();
        let delays: Vec<u64> = (0..5)
            .map(|_| held.hold("orders", "no table".into(), now).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(held.next_retry(now), Some(now + Duration::from_secs(5)));
        assert_eq!(held.reason("orders"), Some("no table"));
        held.release("orders");
        assert!(held.is_empty());
        assert_eq!(held.reason("orders"), None);
        assert_eq!(
            held.hold("orders", "no table".into(), now),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn only_jobs_not_yet_due_wait() {
        let mut held = HeldJobs::new(Duration::from_secs(10));
        let now = Instant::now();
        held.hold("orders", "no table".into(), now);
        held.hold("users", "no table".into(), now);
        held.hold("users", "no table".into(), now);
        let later = now + Duration::from_millis(1500);
        assert_eq!(held.waiting(later), HashSet::from(["users".to_owned()]));
        assert_eq!(held.next_retry(later), Some(now + Duration::from_secs(2)));
        assert!(held.waiting(now + Duration::from_secs(3)).is_empty());
        assert_eq!(held.next_retry(now + Duration::from_secs(3)), None);
    }

    #[test]
    fn the_cap_is_at_least_the_first_delay() {
        let mut held = HeldJobs::new(Duration::from_millis(100));
        let now = Instant::now();
        assert_eq!(held.hold("a", "no table".into(), now), FIRST_RETRY);
        assert_eq!(held.hold("a", "no table".into(), now), FIRST_RETRY);
    }
}
