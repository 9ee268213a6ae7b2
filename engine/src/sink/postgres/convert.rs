//! Converting cells to the types of the target's columns, before anything
//! is sent, so a value that does not fit is named precisely.

use std::borrow::Cow;
use std::error::Error;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use wb_abi::Cell;

use super::schema::Wire;

/// A value ready to bind, in the form its column's [`Wire`] calls for.
#[derive(Clone, Debug, PartialEq)]
pub enum PgValue<'a> {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    /// Borrowed from the batch where the cell already is the text to send.
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// Checked JSON text, for json and jsonb.
    Json(Cow<'a, str>),
    Timestamp(NaiveDateTime),
    Timestamptz(DateTime<Utc>),
    Date(NaiveDate),
}

impl PgValue<'_> {
    /// Appends a byte form that is equal for equal values of one column, for
    /// deduplicating rows by key.
    pub fn key_bytes(&self, out: &mut Vec<u8>) {
        match self {
            PgValue::Null => out.push(0),
            PgValue::Bool(b) => out.extend_from_slice(&[1, u8::from(*b)]),
            PgValue::Int2(v) => push_int(out, i64::from(*v)),
            PgValue::Int4(v) => push_int(out, i64::from(*v)),
            PgValue::Int8(v) => push_int(out, *v),
            PgValue::Float4(v) => push_tagged(out, 3, &f64::from(*v).to_bits().to_le_bytes()),
            PgValue::Float8(v) => push_tagged(out, 3, &v.to_bits().to_le_bytes()),
            PgValue::Text(s) | PgValue::Json(s) => push_tagged(out, 4, s.as_bytes()),
            PgValue::Bytes(b) => push_tagged(out, 5, b),
            PgValue::Timestamp(t) => push_tagged(out, 6, t.to_string().as_bytes()),
            PgValue::Timestamptz(t) => push_tagged(out, 7, t.to_rfc3339().as_bytes()),
            PgValue::Date(d) => push_tagged(out, 8, d.to_string().as_bytes()),
        }
    }
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    push_tagged(out, 2, &v.to_le_bytes());
}

fn push_tagged(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

impl ToSql for PgValue<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            PgValue::Null => Ok(IsNull::Yes),
            PgValue::Bool(v) => v.to_sql(ty, out),
            PgValue::Int2(v) => v.to_sql(ty, out),
            PgValue::Int4(v) => v.to_sql(ty, out),
            PgValue::Int8(v) => v.to_sql(ty, out),
            PgValue::Float4(v) => v.to_sql(ty, out),
            PgValue::Float8(v) => v.to_sql(ty, out),
            PgValue::Text(v) => v.as_ref().to_sql(ty, out),
            PgValue::Bytes(v) => v.as_ref().to_sql(ty, out),
            PgValue::Json(v) => {
                // jsonb's binary form is a version byte then the text; json's
                // is the text alone.
                if *ty == Type::JSONB {
                    out.put_u8(1);
                }
                out.put_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            PgValue::Timestamp(v) => v.to_sql(ty, out),
            PgValue::Timestamptz(v) => v.to_sql(ty, out),
            PgValue::Date(v) => v.to_sql(ty, out),
        }
    }

    // The statement's parameter types are chosen from the same Wire as the
    // value, so every pairing that reaches here was made to match.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Why a cell did not convert: the expected type, for the reason text.
#[derive(Debug, PartialEq)]
pub struct Mismatch;

/// Converts `cell` to the form `wire` binds. `Err` means the value does not
/// fit the column.
pub fn convert<'a>(cell: &'a Cell<'_>, wire: &Wire) -> Result<PgValue<'a>, Mismatch> {
    if matches!(cell, Cell::Null) {
        return Ok(PgValue::Null);
    }
    match wire {
        Wire::Bool => to_bool(cell).map(PgValue::Bool),
        Wire::Int2 => to_int(cell)
            .and_then(|v| i16::try_from(v).map_err(|_| Mismatch))
            .map(PgValue::Int2),
        Wire::Int4 => to_int(cell)
            .and_then(|v| i32::try_from(v).map_err(|_| Mismatch))
            .map(PgValue::Int4),
        Wire::Int8 => to_int(cell).map(PgValue::Int8),
        Wire::Float4 => to_float(cell).map(|v| PgValue::Float4(v as f32)),
        Wire::Float8 => to_float(cell).map(PgValue::Float8),
        Wire::Text | Wire::Cast(_) => to_text(cell).map(PgValue::Text),
        Wire::Numeric => to_numeric(cell).map(PgValue::Text),
        Wire::Bytea => match cell {
            Cell::Bytes(b) => Ok(PgValue::Bytes(Cow::Borrowed(b.as_ref()))),
            Cell::Text(t) => Ok(PgValue::Bytes(Cow::Borrowed(t.as_bytes()))),
            _ => Err(Mismatch),
        },
        Wire::Json | Wire::Jsonb => to_json(cell).map(PgValue::Json),
        Wire::Timestamp => to_timestamp(cell).map(PgValue::Timestamp),
        Wire::Timestamptz => to_timestamptz(cell).map(PgValue::Timestamptz),
        Wire::Date => match cell {
            Cell::Text(t) => NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
                .map(PgValue::Date)
                .map_err(|_| Mismatch),
            _ => Err(Mismatch),
        },
    }
}

fn to_bool(cell: &Cell<'_>) -> Result<bool, Mismatch> {
    match cell {
        Cell::Bool(b) => Ok(*b),
        Cell::Integer(0) => Ok(false),
        Cell::Integer(1) => Ok(true),
        // The spellings PostgreSQL itself accepts for boolean input.
        Cell::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Ok(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Ok(false),
            _ => Err(Mismatch),
        },
        _ => Err(Mismatch),
    }
}

fn to_int(cell: &Cell<'_>) -> Result<i64, Mismatch> {
    match cell {
        Cell::Integer(v) => Ok(*v),
        Cell::Bool(b) => Ok(i64::from(*b)),
        // A float converts only if nothing is lost.
        Cell::Float(f) if f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18 => Ok(*f as i64),
        Cell::Text(t) => t.trim().parse::<i64>().map_err(|_| Mismatch),
        _ => Err(Mismatch),
    }
}

fn to_float(cell: &Cell<'_>) -> Result<f64, Mismatch> {
    match cell {
        Cell::Float(f) => Ok(*f),
        Cell::Integer(v) => Ok(*v as f64),
        Cell::Text(t) => t.trim().parse::<f64>().map_err(|_| Mismatch),
        _ => Err(Mismatch),
    }
}

fn to_text<'a>(cell: &'a Cell<'_>) -> Result<Cow<'a, str>, Mismatch> {
    match cell {
        Cell::Text(t) | Cell::Json(t) => Ok(Cow::Borrowed(t.as_ref())),
        Cell::Integer(v) => Ok(Cow::Owned(v.to_string())),
        Cell::Float(f) => Ok(Cow::Owned(f.to_string())),
        Cell::Bool(b) => Ok(Cow::Owned(b.to_string())),
        Cell::Bytes(b) => std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|_| Mismatch),
        Cell::Null => Err(Mismatch),
    }
}

fn to_numeric<'a>(cell: &'a Cell<'_>) -> Result<Cow<'a, str>, Mismatch> {
    match cell {
        Cell::Integer(v) => Ok(Cow::Owned(v.to_string())),
        Cell::Float(f) if f.is_finite() => Ok(Cow::Owned(f.to_string())),
        Cell::Text(t) if is_numeric_text(t.trim()) => Ok(Cow::Borrowed(t.trim())),
        _ => Err(Mismatch),
    }
}

/// Decimal literal: sign, digits with at most one point, optional exponent;
/// or NaN / Infinity as PostgreSQL spells them.
fn is_numeric_text(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    if matches!(unsigned, "nan" | "infinity" | "inf") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

fn to_json<'a>(cell: &'a Cell<'_>) -> Result<Cow<'a, str>, Mismatch> {
    match cell {
        Cell::Json(t) | Cell::Text(t) => {
            // Checked here so a bad document names its column instead of
            // failing the whole statement on the server.
            serde_json::from_str::<serde::de::IgnoredAny>(t).map_err(|_| Mismatch)?;
            Ok(Cow::Borrowed(t.as_ref()))
        }
        Cell::Integer(v) => Ok(Cow::Owned(v.to_string())),
        Cell::Float(f) if f.is_finite() => Ok(Cow::Owned(f.to_string())),
        Cell::Bool(b) => Ok(Cow::Owned(b.to_string())),
        _ => Err(Mismatch),
    }
}

const NAIVE_FORMATS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];

fn parse_naive(t: &str) -> Option<NaiveDateTime> {
    NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

fn parse_zoned(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn from_epoch(cell: &Cell<'_>) -> Option<DateTime<Utc>> {
    match cell {
        Cell::Integer(s) => DateTime::from_timestamp(*s, 0),
        Cell::Float(f) if f.is_finite() => {
            let secs = f.floor();
            let nanos = ((f - secs) * 1e9).round() as u32;
            DateTime::from_timestamp(secs as i64, nanos.min(999_999_999))
        }
        _ => None,
    }
}

/// Text as ISO 8601 (a zone, if given, is ignored as PostgreSQL ignores it
/// for `timestamp`), or a number of seconds since the Unix epoch.
fn to_timestamp(cell: &Cell<'_>) -> Result<NaiveDateTime, Mismatch> {
    match cell {
        Cell::Text(t) => {
            let t = t.trim();
            parse_naive(t)
                .or_else(|| {
                    DateTime::parse_from_rfc3339(t)
                        .ok()
                        .map(|d| d.naive_local())
                })
                .ok_or(Mismatch)
        }
        _ => from_epoch(cell).map(|d| d.naive_utc()).ok_or(Mismatch),
    }
}

/// Text as ISO 8601 (no zone means UTC), or seconds since the Unix epoch.
fn to_timestamptz(cell: &Cell<'_>) -> Result<DateTime<Utc>, Mismatch> {
    match cell {
        Cell::Text(t) => {
            let t = t.trim();
            parse_zoned(t)
                .or_else(|| parse_naive(t).map(|n| n.and_utc()))
                .ok_or(Mismatch)
        }
        _ => from_epoch(cell).ok_or(Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn text(s: &str) -> Cell<'_> {
        Cell::Text(Cow::Borrowed(s))
    }

    #[test]
    fn integers_from_text_and_range_checked() {
        assert_eq!(convert(&text(" 42 "), &Wire::Int4), Ok(PgValue::Int4(42)));
        assert_eq!(convert(&text("70000"), &Wire::Int2), Err(Mismatch));
        assert_eq!(convert(&text("4.5"), &Wire::Int8), Err(Mismatch));
        assert_eq!(
            convert(&Cell::Float(3.0), &Wire::Int8),
            Ok(PgValue::Int8(3))
        );
        assert_eq!(convert(&Cell::Null, &Wire::Int8), Ok(PgValue::Null));
    }

    #[test]
    fn numeric_text_is_checked() {
        for ok in [
            "1",
            "-1.5",
            ".5",
            "5.",
            "1e10",
            "-2.5E-3",
            "NaN",
            "-Infinity",
        ] {
            assert!(is_numeric_text(ok), "{ok}");
        }
        for bad in ["", ".", "1..2", "1e", "abc", "1,5", "--1", "1e+"] {
            assert!(!is_numeric_text(bad), "{bad}");
        }
    }

    #[test]
    fn times_parse_iso_and_epoch() {
        let want = NaiveDate::from_ymd_opt(2024, 3, 1)
            .and_then(|d| d.and_hms_milli_opt(12, 30, 0, 250))
            .expect("valid date");
        assert_eq!(
            convert(&text("2024-03-01 12:30:00.25"), &Wire::Timestamp),
            Ok(PgValue::Timestamp(want))
        );
        assert_eq!(
            convert(&text("2024-03-01T14:30:00.25+02:00"), &Wire::Timestamptz),
            Ok(PgValue::Timestamptz(want.and_utc()))
        );
        assert_eq!(
            convert(&Cell::Integer(0), &Wire::Timestamptz),
            Ok(PgValue::Timestamptz(DateTime::<Utc>::UNIX_EPOCH))
        );
        assert_eq!(
            convert(&text("yesterday-ish"), &Wire::Timestamp),
            Err(Mismatch)
        );
        assert_eq!(convert(&text("2024-02-30"), &Wire::Date), Err(Mismatch));
    }

    #[test]
    fn json_must_parse_and_bools_take_postgres_spellings() {
        assert_eq!(
            convert(&text("{\"a\":1}"), &Wire::Jsonb),
            Ok(PgValue::Json("{\"a\":1}".into()))
        );
        assert_eq!(convert(&text("{a:1}"), &Wire::Json), Err(Mismatch));
        assert_eq!(convert(&text("Yes"), &Wire::Bool), Ok(PgValue::Bool(true)));
        assert_eq!(convert(&text("maybe"), &Wire::Bool), Err(Mismatch));
    }

    #[test]
    fn equal_keys_have_equal_bytes_and_types_differ() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        PgValue::Text("1".into()).key_bytes(&mut a);
        PgValue::Int8(1).key_bytes(&mut b);
        assert_ne!(a, b);
        let mut c = Vec::new();
        PgValue::Int4(1).key_bytes(&mut c);
        assert_eq!(b, c);
    }
}
