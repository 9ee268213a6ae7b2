//! Stream entry IDs.

use std::fmt;
use std::str::FromStr;

/// A stream entry ID, `ms-seq`, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// The smallest ID after this one (for `XTRIM MINID`: everything up to
    /// and including `self` goes).
    pub fn next(self) -> StreamId {
        match self.seq.checked_add(1) {
            Some(seq) => StreamId { ms: self.ms, seq },
            None => StreamId {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Text that is not a full `ms-seq` stream ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a stream ID (expected ms-seq)")]
pub struct BadStreamId(pub String);

impl FromStr for StreamId {
    type Err = BadStreamId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadStreamId(s.to_owned());
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        Ok(StreamId {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_orders_and_prints() {
        let a: StreamId = "1700000000000-0".parse().expect("valid");
        let b: StreamId = "1700000000000-11".parse().expect("valid");
        let c: StreamId = "1700000000001-0".parse().expect("valid");
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-11");
        assert_eq!(a.next(), "1700000000000-1".parse().expect("valid"));
        assert_eq!(
            StreamId {
                ms: 5,
                seq: u64::MAX
            }
            .next(),
            StreamId { ms: 6, seq: 0 }
        );
        for bad in ["", "12", "a-1", "1-", "-1", "1-2-3"] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad}");
        }
    }
}
