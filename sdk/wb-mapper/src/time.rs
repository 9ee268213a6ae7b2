//! Reading ISO-8601 timestamps without a date-time crate.

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March is 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the Unix epoch of `YYYY-MM-DD`, or of
/// `YYYY-MM-DDTHH:MM[:SS[.fraction]]` (`T` or a space) with an optional
/// `Z` or `±HH:MM`/`±HHMM` offset; without an offset the time is UTC.
pub fn parse_timestamp(text: &str) -> Result<f64, String> {
    let bad = || {
        format!("{text:?} is not a timestamp (seconds since 1970, or ISO-8601 such as 2024-05-01T12:00:00Z)")
    };
    let text = text.trim();
    let digits = |s: &str| -> Result<i64, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (date, time) = match text.find(['T', 't', ' ']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (year, month, day) = (digits(y)?, digits(m)?, digits(d)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad());
    }
    let mut seconds = days_from_civil(year, month, day) as f64 * 86_400.0;
    let Some(time) = time else {
        return Ok(seconds);
    };
    // Split off the zone: `Z`, or the last `+`/`-`.
    let (clock, offset) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let zone = time[at + 1..].replace(':', "");
        if zone.len() != 4 {
            return Err(bad());
        }
        let minutes = digits(&zone[..2])? * 60 + digits(&zone[2..])?;
        let sign = if time.as_bytes()[at] == b'-' { -1 } else { 1 };
        (&time[..at], sign * minutes * 60)
    } else {
        (time, 0)
    };
    let (whole, fraction) = match clock.split_once(['.', ',']) {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (clock, None),
    };
    let fields: Vec<&str> = whole.split(':').collect();
    if !(2..=3).contains(&fields.len()) || fields.iter().any(|f| f.len() != 2) {
        return Err(bad());
    }
    let hour = digits(fields[0])?;
    let minute = digits(fields[1])?;
    let second = fields.get(2).map_or(Ok(0), |s| digits(s))?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    seconds += (hour * 3600 + minute * 60 + second - offset) as f64;
    if let Some(fraction) = fraction {
        digits(fraction)?;
        seconds += format!("0.{fraction}").parse::<f64>().map_err(|_| bad())?;
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dates_times_and_offsets() {
        assert_eq!(parse_timestamp("1970-01-01"), Ok(0.0));
        assert_eq!(parse_timestamp("2000-03-01"), Ok(951_868_800.0));
        assert_eq!(parse_timestamp("2024-02-29T12:30:00Z"), Ok(1_709_209_800.0));
        assert_eq!(parse_timestamp("2024-02-29 12:30"), Ok(1_709_209_800.0));
        assert_eq!(
            parse_timestamp("2024-02-29T14:30:00+02:00"),
            Ok(1_709_209_800.0)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T07:30:00.25-0500"),
            Ok(1_709_209_800.25)
        );
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Ok(-1.0));
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for text in [
            "yesterday",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01T25:00",
            "2024-01-01T10:00+2",
            "",
        ] {
            let err = parse_timestamp(text).unwrap_err();
            assert!(err.contains("is not a timestamp"), "{text}: {err}");
        }
    }
}
