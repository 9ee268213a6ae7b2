//! The results coming out of a transform: the packed encoding, the writer a
//! guest fills and the readers the engine decodes with.
//!
//! Layout: `u32 count`, then per change either `u8 0, u32 n, n row ops` or
//! `u8 1, str reason`. A row op is `u8 kind, str connection, str table,
//! u32 n, n key columns, u32 m, m value columns`; a column is `str name,
//! u8 cell tag, payload`. See `wit/README.md`.

use std::borrow::Cow;
use std::ops::Range;

use crate::input::BatchReader;
use crate::rowop::{Cell, Column, OpKind, RowOp, Target};
use crate::wire::{
    patch_u32, put_bytes, put_f64, put_i64, put_len, put_u32, put_u8, DecodeError, Reader,
};
use crate::Change;

const RESULT_OK: u8 = 0;
const RESULT_ERR: u8 = 1;

const CELL_NULL: u8 = 0;
const CELL_BOOL: u8 = 1;
const CELL_INTEGER: u8 = 2;
const CELL_FLOAT: u8 = 3;
const CELL_TEXT: u8 = 4;
const CELL_BYTES: u8 = 5;
const CELL_JSON: u8 = 6;

/// Builds a packed result buffer, one entry per change in order.
pub struct ResultWriter {
    buf: Vec<u8>,
    count: u32,
}

impl ResultWriter {
    /// A writer with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(16));
        put_u32(&mut buf, 0);
        ResultWriter { buf, count: 0 }
    }

    /// Appends the row ops produced for the next change.
    pub fn push_ok(&mut self, ops: &[RowOp<'_>]) {
        self.count += 1;
        put_u8(&mut self.buf, RESULT_OK);
        put_len(&mut self.buf, ops.len());
        for op in ops {
            put_u8(&mut self.buf, op.kind.code());
            put_bytes(&mut self.buf, op.target.connection.as_bytes());
            put_bytes(&mut self.buf, op.target.table.as_bytes());
            put_columns(&mut self.buf, &op.key);
            put_columns(&mut self.buf, &op.values);
        }
    }

    /// Appends a rejection of the next change.
    pub fn push_err(&mut self, reason: &str) {
        self.count += 1;
        put_u8(&mut self.buf, RESULT_ERR);
        put_bytes(&mut self.buf, reason.as_bytes());
    }

    /// The finished buffer.
    pub fn finish(mut self) -> Vec<u8> {
        patch_u32(&mut self.buf, 0, self.count);
        self.buf
    }
}

fn put_columns(buf: &mut Vec<u8>, columns: &[Column<'_>]) {
    put_len(buf, columns.len());
    for column in columns {
        put_bytes(buf, column.name.as_bytes());
        match &column.value {
            Cell::Null => put_u8(buf, CELL_NULL),
            Cell::Bool(b) => {
                put_u8(buf, CELL_BOOL);
                put_u8(buf, u8::from(*b));
            }
            Cell::Integer(i) => {
                put_u8(buf, CELL_INTEGER);
                put_i64(buf, *i);
            }
            Cell::Float(f) => {
                put_u8(buf, CELL_FLOAT);
                put_f64(buf, *f);
            }
            Cell::Text(t) => {
                put_u8(buf, CELL_TEXT);
                put_bytes(buf, t.as_bytes());
            }
            Cell::Bytes(b) => {
                put_u8(buf, CELL_BYTES);
                put_bytes(buf, b);
            }
            Cell::Json(j) => {
                put_u8(buf, CELL_JSON);
                put_bytes(buf, j.as_bytes());
            }
        }
    }
}

/// Runs `map` over every change of a packed batch and packs its results:
/// the whole batch loop of a transform, the same natively and in Wasm.
///
/// Row ops may borrow from the batch and from anything that outlives it
/// (the mapping's own configuration, say).
pub fn run_batch<'i, F>(input: &'i [u8], mut map: F) -> Result<Vec<u8>, DecodeError>
where
    F: FnMut(&Change<'i>) -> Result<Vec<RowOp<'i>>, String>,
{
    let reader = BatchReader::new(input)?;
    // Row ops are usually about as large as the values they come from.
    let mut out = ResultWriter::with_capacity(input.len() + input.len() / 2);
    for change in reader {
        match map(&change?) {
            Ok(ops) => out.push_ok(&ops),
            Err(reason) => out.push_err(&reason),
        }
    }
    Ok(out.finish())
}

/// The outcome for one change: its row ops, or the guest's reason for
/// rejecting it.
pub type Entry<'a> = Result<Vec<RowOp<'a>>, &'a str>;

/// Decodes a packed result buffer.
pub struct ResultReader<'a> {
    reader: Reader<'a>,
    remaining: usize,
}

impl<'a> ResultReader<'a> {
    /// Reads the header.
    pub fn new(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(buf);
        let remaining = reader.u32("result count")? as usize;
        Ok(ResultReader { reader, remaining })
    }

    /// Entries not yet read.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Checks the structure of every entry without building row ops and
    /// returns the byte range of each, so entries can be decoded later on
    /// demand (which checks their text).
    pub fn spans(buf: &'a [u8]) -> Result<Vec<Range<usize>>, DecodeError> {
        let mut this = Self::new(buf)?;
        let mut spans = Vec::with_capacity(this.remaining);
        while this.remaining > 0 {
            this.remaining -= 1;
            let start = this.reader.pos();
            skip_entry(&mut this.reader)?;
            spans.push(start..this.reader.pos());
        }
        if !this.reader.is_empty() {
            return Err(this.reader.err("end of results"));
        }
        Ok(spans)
    }

    /// Decodes one entry from a range returned by [`ResultReader::spans`].
    pub fn entry(span: &'a [u8]) -> Result<Entry<'a>, DecodeError> {
        read_entry(&mut Reader::new(span))
    }
}

impl<'a> Iterator for ResultReader<'a> {
    type Item = Result<Entry<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let item = read_entry(&mut self.reader);
        if item.is_err() {
            self.remaining = 0;
        }
        Some(item)
    }
}

fn read_entry<'a>(r: &mut Reader<'a>) -> Result<Entry<'a>, DecodeError> {
    match r.u8("result tag")? {
        RESULT_OK => {
            let n = r.u32("row op count")? as usize;
            // Cap the preallocation by what the buffer could hold.
            let mut ops = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let code = r.u8("row op kind")?;
                let kind = OpKind::from_code(code).ok_or_else(|| r.err("row op kind 0-3"))?;
                let connection = Cow::Borrowed(r.str("connection")?);
                let table = Cow::Borrowed(r.str("table")?);
                let key = read_columns(r)?;
                let values = read_columns(r)?;
                ops.push(RowOp {
                    kind,
                    target: Target { connection, table },
                    key,
                    values,
                });
            }
            Ok(Ok(ops))
        }
        RESULT_ERR => Ok(Err(r.str("rejection reason")?)),
        _ => Err(r.err("result tag 0-1")),
    }
}

fn read_columns<'a>(r: &mut Reader<'a>) -> Result<Vec<Column<'a>>, DecodeError> {
    let n = r.u32("column count")? as usize;
    let mut columns = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let name = Cow::Borrowed(r.str("column name")?);
        let value = match r.u8("cell tag")? {
            CELL_NULL => Cell::Null,
            CELL_BOOL => Cell::Bool(r.u8("bool")? != 0),
            CELL_INTEGER => Cell::Integer(r.i64("integer")?),
            CELL_FLOAT => Cell::Float(r.f64("float")?),
            CELL_TEXT => Cell::Text(Cow::Borrowed(r.str("text")?)),
            CELL_BYTES => Cell::Bytes(Cow::Borrowed(r.bytes("bytes")?)),
            CELL_JSON => Cell::Json(Cow::Borrowed(r.str("json")?)),
            _ => return Err(r.err("cell tag 0-6")),
        };
        columns.push(Column { name, value });
    }
    Ok(columns)
}

/// Checks the structure of an entry (tags and lengths) without allocating.
/// Text is checked for UTF-8 only when the entry is decoded, so it is not
/// checked twice; a bad string then fails that one entry.
fn skip_entry(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    match r.u8("result tag")? {
        RESULT_OK => {
            let n = r.u32("row op count")?;
            for _ in 0..n {
                let code = r.u8("row op kind")?;
                OpKind::from_code(code).ok_or_else(|| r.err("row op kind 0-3"))?;
                r.bytes("connection")?;
                r.bytes("table")?;
                skip_columns(r)?;
                skip_columns(r)?;
            }
            Ok(())
        }
        RESULT_ERR => r.bytes("rejection reason").map(|_| ()),
        _ => Err(r.err("result tag 0-1")),
    }
}

fn skip_columns(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let n = r.u32("column count")?;
    for _ in 0..n {
        r.bytes("column name")?;
        match r.u8("cell tag")? {
            CELL_NULL => {}
            CELL_BOOL => {
                r.u8("bool")?;
            }
            CELL_INTEGER => {
                r.i64("integer")?;
            }
            CELL_FLOAT => {
                r.f64("float")?;
            }
            CELL_TEXT => {
                r.bytes("text")?;
            }
            CELL_BYTES => {
                r.bytes("bytes")?;
            }
            CELL_JSON => {
                r.bytes("json")?;
            }
            _ => return Err(r.err("cell tag 0-6")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_changes, ChangeData, ValueData};

    fn op() -> RowOp<'static> {
        RowOp::upsert("target", "public.users")
            .key("id", 42i64)
            .value("name", "Ada")
            .value("score", 1.5)
            .value("active", true)
            .value("nick", None::<&str>)
            .value("raw", &[1u8, 2][..])
            .value("doc", Cell::Json(Cow::Borrowed("{}")))
    }

    #[test]
    fn results_round_trip_and_spans_match() {
        let mut w = ResultWriter::with_capacity(0);
        w.push_ok(&[
            op(),
            RowOp::delete_matching("target", "kids").key("parent", 1i64),
        ]);
        w.push_err("no email");
        w.push_ok(&[]);
        let buf = w.finish();

        let entries: Vec<_> = ResultReader::new(&buf)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].as_ref().unwrap()[0], op());
        assert_eq!(entries[0].as_ref().unwrap()[1].kind, OpKind::DeleteMatching);
        assert_eq!(entries[1], Err("no email"));
        assert_eq!(entries[2], Ok(vec![]));

        let spans = ResultReader::spans(&buf).unwrap();
        assert_eq!(spans.len(), 3);
        for (span, expected) in spans.iter().zip(&entries) {
            assert_eq!(&ResultReader::entry(&buf[span.clone()]).unwrap(), expected);
        }
    }

    #[test]
    fn spans_reject_trailing_garbage_and_bad_tags() {
        let mut w = ResultWriter::with_capacity(0);
        w.push_ok(&[op()]);
        let mut buf = w.finish();
        buf.push(9);
        assert!(ResultReader::spans(&buf).is_err());
        buf.pop();
        // Corrupt the row-op kind.
        buf[9] = 7;
        assert!(ResultReader::spans(&buf).is_err());
    }

    #[test]
    fn bad_text_fails_only_its_entry_when_decoded() {
        let mut w = ResultWriter::with_capacity(0);
        w.push_ok(&[RowOp::insert("t", "x").value("v", "zz")]);
        w.push_ok(&[RowOp::insert("t", "x").value("v", "ok")]);
        let mut buf = w.finish();
        let at = buf.windows(2).position(|p| p == b"zz").unwrap();
        buf[at] = 0xff;
        let spans = ResultReader::spans(&buf).unwrap();
        assert!(ResultReader::entry(&buf[spans[0].clone()]).is_err());
        assert!(ResultReader::entry(&buf[spans[1].clone()]).is_ok());
    }

    #[test]
    fn run_batch_maps_each_change_in_order() {
        let changes: Vec<_> = (0..3)
            .map(|i| ChangeData {
                key: format!("user:{i}").into_bytes(),
                event: "hset".into(),
                stream_id: format!("{i}-0"),
                value: ValueData::Hash(vec![(b"name".to_vec(), b"x".to_vec())]),
            })
            .collect();
        let out = run_batch(&encode_changes(&changes), |c| {
            let id = c.key_part(1).ok_or("no id")?;
            if id == "1" {
                return Err(format!("reject {id}"));
            }
            Ok(vec![RowOp::upsert("t", "users").key("id", id)])
        })
        .unwrap();
        let entries: Vec<_> = ResultReader::new(&out)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            entries[0].as_ref().unwrap()[0].key[0].value,
            Cell::from("0")
        );
        assert_eq!(entries[1], Err("reject 1"));
        assert_eq!(
            entries[2].as_ref().unwrap()[0].key[0].value,
            Cell::from("2")
        );
    }
}
