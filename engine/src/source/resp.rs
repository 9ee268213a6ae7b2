//! The RESP2 wire format, for the reading connection's hot path.
//!
//! A batch's reads (XREADGROUP, then one value read per key) come back as
//! tens of thousands of small strings. Parsing them into a tree of owned
//! values first, and only then into changes, cost about a third of the
//! engine's CPU in a drain, most of it allocations. Here a reply is read in
//! place instead: [`Replies`] walks the bytes as they arrived and hands out
//! slices of them, so the only copies are the ones the change itself keeps.
//!
//! Only RESP2 is spoken (the connection never sends `HELLO 3`), so a reply
//! is one of `+simple`, `-error`, `:integer`, `$bulk` (or `$-1`, nil) and
//! `*array` (or `*-1`, nil).

use std::fmt;

/// Commands to send in one write, encoded as RESP arrays of bulk strings.
#[derive(Default)]
pub struct Commands {
    bytes: Vec<u8>,
    count: usize,
}

impl Commands {
    pub fn new() -> Commands {
        Commands::default()
    }

    fn arg(&mut self, arg: &[u8]) {
        self.bytes.push(b'$');
        push_decimal(&mut self.bytes, arg.len());
        self.bytes.extend_from_slice(b"\r\n");
        self.bytes.extend_from_slice(arg);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// Commands encoded elsewhere (by redis-rs), `count` of them.
    pub fn from_encoded(bytes: Vec<u8>, count: usize) -> Commands {
        Commands { bytes, count }
    }

    /// A whole command from its arguments.
    pub fn push(&mut self, args: &[&[u8]]) -> &mut Commands {
        self.bytes.push(b'*');
        push_decimal(&mut self.bytes, args.len());
        self.bytes.extend_from_slice(b"\r\n");
        self.count += 1;
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// How many commands, hence replies.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Bytes that are not RESP2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply at byte {at}: {what}")]
pub struct ProtocolError {
    pub at: usize,
    pub what: &'static str,
}

/// How far a buffer holds whole replies; fed more bytes as they arrive, it
/// goes on where it stopped, so a large reply read in many pieces is
/// scanned once.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Where the next header starts, from the start of the replies.
    at: usize,
    /// Items still to come in the reply being scanned.
    open: usize,
    /// Whole replies found so far.
    complete: usize,
}

impl Scanner {
    /// Scans `buf` (the replies so far, from their start) until `wanted`
    /// replies are whole. Returns their length in bytes once they are, or
    /// `None` when more bytes are needed.
    pub fn scan(&mut self, buf: &[u8], wanted: usize) -> Result<Option<usize>, ProtocolError> {
        while self.complete < wanted {
            let Some((header, body)) = header(buf, self.at)? else {
                return Ok(None);
            };
            let mut end = body;
            let mut nested = 0;
            match header {
                Header::Bulk(len) => {
                    end = body + len + 2;
                    if end > buf.len() {
                        return Ok(None);
                    }
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err(ProtocolError {
                            at: end - 2,
                            what: "a bulk string not ended by CRLF",
                        });
                    }
                }
                Header::Array(n) => nested = n,
                _ => {}
            }
            self.at = end;
            // The item just scanned completes one in the enclosing arrays;
            // an array opens as many as it has.
            if self.open > 0 {
                self.open -= 1;
            }
            self.open += nested;
            if self.open == 0 {
                self.complete += 1;
            }
        }
        Ok(Some(self.at))
    }
}

/// One reply's header, or a whole reply when it fits in one line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Header<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    /// A bulk string of this many bytes follows.
    Bulk(usize),
    /// This many items follow.
    Array(usize),
    Nil,
}

/// The header starting at `at` and where its line ends; `None` when the
/// line is not whole yet.
fn header(buf: &[u8], at: usize) -> Result<Option<(Header<'_>, usize)>, ProtocolError> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some(cr) = memchr::memchr(b'\r', &buf[at..]).map(|p| at + p) else {
        return Ok(None);
    };
    if cr + 1 >= buf.len() {
        return Ok(None);
    }
    if buf[cr + 1] != b'\n' {
        return Err(ProtocolError {
            at: cr,
            what: "a line not ended by CRLF",
        });
    }
    let line = &buf[at + 1..cr];
    let bad = |what| ProtocolError { at, what };
    let header = match kind {
        b'+' => Header::Simple(line),
        b'-' => Header::Error(line),
        b':' => Header::Integer(integer(line).ok_or_else(|| bad("an integer that is not one"))?),
        b'$' | b'*' => match integer(line).ok_or_else(|| bad("a length that is not a number"))? {
            -1 => Header::Nil,
            n if n < 0 => return Err(bad("a negative length")),
            n => {
                let n = usize::try_from(n).map_err(|_| bad("a length too large"))?;
                if kind == b'$' {
                    Header::Bulk(n)
                } else {
                    Header::Array(n)
                }
            }
        },
        _ => return Err(bad("an unknown reply type")),
    };
    Ok(Some((header, cr + 2)))
}

fn integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if negative { -n } else { n })
}

/// One item of a reply, borrowed from the bytes received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    Simple(&'a [u8]),
    /// An error reply: its code and message, e.g. `WRONGTYPE Operation...`.
    Error(&'a [u8]),
    Integer(i64),
    Bulk(&'a [u8]),
    /// An array: this many items follow, each read with the next call.
    Array(usize),
    /// A nil bulk string or nil array.
    Nil,
}

impl<'a> Item<'a> {
    /// The text of a string item.
    pub fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Item::Bulk(b) | Item::Simple(b) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Simple(b) | Item::Bulk(b) => {
                let text = String::from_utf8_lossy(b);
                let shown: String = text.chars().take(80).collect();
                write!(f, "'{shown}'")
            }
            Item::Error(b) => write!(f, "error '{}'", String::from_utf8_lossy(b)),
            Item::Integer(n) => write!(f, "integer {n}"),
            Item::Array(n) => write!(f, "array of {n}"),
            Item::Nil => f.write_str("nil"),
        }
    }
}

/// Whole replies, read item by item in the order they arrived: an array
/// is its [`Item::Array`] followed by its items.
pub struct Replies<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Replies<'a> {
    /// `buf` must hold whole replies (as [`Scanner`] found them).
    pub fn new(buf: &'a [u8]) -> Replies<'a> {
        Replies { buf, at: 0 }
    }

    /// The next item; an error when the replies are used up.
    pub fn next_item(&mut self) -> Result<Item<'a>, ProtocolError> {
        let (header, body) = header(self.buf, self.at)?.ok_or(ProtocolError {
            at: self.at,
            what: "a reply cut short",
        })?;
        self.at = body;
        Ok(match header {
            Header::Simple(b) => Item::Simple(b),
            Header::Error(b) => Item::Error(b),
            Header::Integer(n) => Item::Integer(n),
            Header::Bulk(len) => {
                let end = body + len;
                let bytes = self.buf.get(body..end).ok_or(ProtocolError {
                    at: body,
                    what: "a bulk string cut short",
                })?;
                self.at = end + 2;
                Item::Bulk(bytes)
            }
            Header::Array(n) => Item::Array(n),
            Header::Nil => Item::Nil,
        })
    }

    /// Skips the rest of an item whose header was read: `item`'s nested
    /// items, if it is an array.
    pub fn skip_rest(&mut self, item: Item<'a>) -> Result<(), ProtocolError> {
        let mut open = match item {
            Item::Array(n) => n,
            _ => 0,
        };
        while open > 0 {
            open -= 1;
            if let Item::Array(n) = self.next_item()? {
                open += n;
            }
        }
        Ok(())
    }

    /// Skips one whole item.
    pub fn skip(&mut self) -> Result<(), ProtocolError> {
        let item = self.next_item()?;
        self.skip_rest(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands_as_arrays_of_bulk_strings() {
        let mut c = Commands::new();
        c.push(&[b"HGETALL", b"user:1"]);
        c.push(&[b"GET", b""]);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.as_bytes(),
            b"*2\r\n$7\r\nHGETALL\r\n$6\r\nuser:1\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
        );
        let mut long = Vec::new();
        push_decimal(&mut long, 1234567890);
        assert_eq!(long, b"1234567890");
    }

    const TWO: &[u8] = b"*3\r\n$1\r\na\r\n*2\r\n:12\r\n$-1\r\n+OK\r\n-WRONGTYPE no\r\n";

    #[test]
    fn scans_whole_replies_across_pieces() {
        // Every split point: fed a growing prefix, the scanner finds the
        // two replies exactly when their last byte is there.
        for cut in 0..=TWO.len() {
            let mut s = Scanner::default();
            let first = s.scan(&TWO[..cut], 2).expect("valid");
            let whole = s.scan(TWO, 2).expect("valid");
            assert_eq!(whole, Some(TWO.len()), "cut at {cut}");
            if cut < TWO.len() {
                assert_eq!(first, None, "cut at {cut}");
            }
        }
        let mut s = Scanner::default();
        assert_eq!(s.scan(TWO, 1).expect("valid"), Some(TWO.len() - 15));
        // The first reply ends where the second starts.
        assert_eq!(&TWO[TWO.len() - 15..TWO.len() - 15 + 3], b"-WR");
        assert_eq!(s.scan(TWO, 2).expect("valid"), Some(TWO.len()));
    }

    #[test]
    fn reads_items_in_place() {
        let mut r = Replies::new(TWO);
        assert_eq!(r.next_item(), Ok(Item::Array(3)));
        assert_eq!(r.next_item(), Ok(Item::Bulk(b"a")));
        assert_eq!(r.next_item(), Ok(Item::Array(2)));
        assert_eq!(r.next_item(), Ok(Item::Integer(12)));
        assert_eq!(r.next_item(), Ok(Item::Nil));
        assert_eq!(r.next_item(), Ok(Item::Simple(b"OK")));
        assert_eq!(r.next_item(), Ok(Item::Error(b"WRONGTYPE no")));
        assert!(r.next_item().is_err());

        let mut r = Replies::new(TWO);
        r.skip().expect("the array");
        assert_eq!(r.next_item(), Ok(Item::Error(b"WRONGTYPE no")));
    }

    #[test]
    fn binary_bulk_strings_may_hold_crlf() {
        let reply = b"$4\r\n\r\n\r\n\r\n";
        assert_eq!(Scanner::default().scan(reply, 1), Ok(Some(reply.len())));
        assert_eq!(Replies::new(reply).next_item(), Ok(Item::Bulk(b"\r\n\r\n")));
    }

    #[test]
    fn rejects_what_is_not_resp() {
        for bad in [
            &b"?x\r\n"[..],
            b":1x\r\n",
            b"$-2\r\n",
            b"$1\r\nab\r\n",
            b"+OK\rX",
        ] {
            assert!(Scanner::default().scan(bad, 1).is_err(), "{bad:?}");
        }
        assert_eq!(integer(b"-9223372036854775807"), Some(-i64::MAX));
        assert_eq!(integer(b"99999999999999999999"), None);
        assert_eq!(integer(b""), None);
    }
}
