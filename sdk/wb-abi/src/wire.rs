//! Primitive reads and writes of the packed layout: little-endian integers
//! and length-prefixed byte strings.

use std::fmt;

/// A packed buffer did not follow the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset where decoding stopped.
    pub offset: usize,
    /// What was expected there.
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed batch at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over a packed buffer. Every read checks bounds, so a malformed
/// buffer yields an error and never a panic.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn err(&self, what: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            what,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| self.err(what))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn f64(&mut self, what: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    pub(crate) fn str(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let raw = self.bytes(what)?;
        std::str::from_utf8(raw).map_err(|_| DecodeError {
            offset: at,
            what: "UTF-8 text",
        })
    }

    /// The bytes between `start` and the current position.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }
}

pub(crate) fn put_u8(buf: &mut Vec<u8>, v: u8) {
    buf.push(v);
}

pub(crate) fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_len(buf: &mut Vec<u8>, len: usize) {
    // Lengths above u32::MAX cannot cross the Wasm boundary anyway (guest
    // memory is 32-bit), so saturating keeps the writer total; the reader
    // then reports the truncated buffer.
    put_u32(buf, u32::try_from(len).unwrap_or(u32::MAX));
}

pub(crate) fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_f64(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, v: &[u8]) {
    put_len(buf, v.len());
    buf.extend_from_slice(v);
}

/// Overwrites the u32 at `at` (a count written before its items were known).
pub(crate) fn patch_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(slot) = buf.get_mut(at..at + 4) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_primitives() {
        let mut buf = Vec::new();
        put_u8(&mut buf, 7);
        put_u32(&mut buf, 70_000);
        put_i64(&mut buf, -5);
        put_f64(&mut buf, 1.5);
        put_bytes(&mut buf, b"caf\xc3\xa9");
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8("a"), Ok(7));
        assert_eq!(r.u32("b"), Ok(70_000));
        assert_eq!(r.i64("c"), Ok(-5));
        assert_eq!(r.f64("d"), Ok(1.5));
        assert_eq!(r.str("e"), Ok("café"));
        assert!(r.is_empty());
    }

    #[test]
    fn truncated_length_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        put_u32(&mut buf, 100);
        buf.extend_from_slice(b"short");
        let err = Reader::new(&buf).bytes("field").unwrap_err();
        assert_eq!(err.what, "field");
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let mut buf = Vec::new();
        put_bytes(&mut buf, b"\xff\xfe");
        let err = Reader::new(&buf).str("event").unwrap_err();
        assert_eq!(err.what, "UTF-8 text");
    }
}
