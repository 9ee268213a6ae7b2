//! A latency histogram with fixed buckets, as Prometheus reads one.

use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: from a millisecond (a small
/// batch on a quiet engine) to ten seconds (a target that stalls).
pub const BOUNDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counts of observations per bucket (not cumulative), their count and sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    buckets: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(at) = BOUNDS.iter().position(|bound| seconds <= *bound) {
            self.buckets[at] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends the `_bucket` (cumulative, ending with `+Inf`), `_sum` and
    /// `_count` lines of `name` with `labels` (already rendered, without
    /// braces) to `out`.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in BOUNDS.iter().zip(self.buckets) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_every_observation() {
        let mut h = Histogram::default();
        for ms in [0, 3, 3, 40, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut out = String::new();
        h.render(&mut out, "wb_x", "job=\"a\"");
        let value = |le: &str| -> u64 {
            out.lines()
                .find(|l| l.contains(&format!("le=\"{le}\"")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .expect("a bucket line")
        };
        assert_eq!(value("0.001"), 1);
        assert_eq!(value("0.005"), 3);
        assert_eq!(value("0.05"), 4);
        assert_eq!(value("10"), 4);
        assert_eq!(value("+Inf"), 5);
        assert!(out.contains("wb_x_count{job=\"a\"} 5\n"), "{out}");
        assert!(out.contains("wb_x_sum{job=\"a\"} 20.046\n"), "{out}");
    }
}
