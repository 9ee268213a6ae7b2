//! Exponential backoff with jitter, for retrying what is transient, and
//! the wait between two tries.

use std::time::Duration;

use tokio::sync::watch;

/// Waits `delay`, or less when `stop` changes meanwhile (a stop request:
/// the caller looks at it). A `stop` whose sender is gone waits the whole
/// delay rather than waking at once, so a retry loop cannot spin.
pub async fn wait_unless_stopped(delay: Duration, stop: &mut watch::Receiver<bool>) {
    let changed = async {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let _ = tokio::time::timeout(delay, changed).await;
}

/// Exponential backoff with jitter.
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.subsec_nanos().into());
        Backoff {
            min,
            max,
            next: min,
            seed: seed | 1,
        }
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The delay before the next retry: the current step, scaled by a
    /// random factor in [0.5, 1.0) so that many workers do not retry in step.
    pub fn next_delay(&mut self) -> Duration {
        // xorshift64: good enough for jitter, no dependency.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let fraction = 0.5 + (self.seed % 1000) as f64 / 2000.0;
        let delay = self.next.mul_f64(fraction);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_request_cuts_the_wait_short_and_a_gone_sender_does_not() {
        let (tx, mut rx) = watch::channel(false);
        let waiting = tokio::spawn(async move {
            wait_unless_stopped(Duration::from_secs(600), &mut rx).await;
            *rx.borrow()
        });
        tx.send(true).expect("the receiver is there");
        let stopped = tokio::time::timeout(Duration::from_secs(10), waiting).await;
        assert!(stopped.expect("woke for the stop").expect("no panic"));

        let (tx, mut rx) = watch::channel(false);
        drop(tx);
        let delay = Duration::from_millis(100);
        let started = std::time::Instant::now();
        wait_unless_stopped(delay, &mut rx).await;
        assert!(
            started.elapsed() >= delay,
            "woke after {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        let caps = [100, 200, 400, 800, 800, 800];
        for (d, cap) in delays.iter().zip(caps) {
            let cap = Duration::from_millis(cap);
            assert!(
                *d >= cap / 2 && *d < cap,
                "{d:?} not in [{:?}, {cap:?})",
                cap / 2
            );
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(100));
    }
}
