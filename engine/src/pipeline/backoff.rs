//! Exponential backoff with jitter, for retrying what is transient.

use std::time::Duration;

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
