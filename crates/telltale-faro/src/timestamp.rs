//! Item timestamps: RFC 3339 text as Go's `time.Time` reads it, kept verbatim so a payload
//! re-encodes unchanged, and printed the way Go's `Time.String()` prints it in Alloy's lines.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// An item timestamp, e.g. `2021-09-30T10:46:17.680Z` (the web SDK writes `Date.toISOString()`).
///
/// Parsing accepts what Alloy's Go decoder accepts (`time.Time.UnmarshalJSON`, i.e.
/// `time.Parse(time.RFC3339, …)`): a four-digit year, two-digit month, day, minute and second,
/// a one- or two-digit hour, an optional fraction after `.` or `,`, and `Z` or `±hh:mm`. The
/// text is kept as given.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    parts: Parts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Parts {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    /// `None` for `Z`, else the offset east of UTC in seconds.
    offset: Option<i32>,
}

impl Timestamp {
    /// Reads an RFC 3339 timestamp the way Alloy's Go decoder does.
    pub fn parse(text: &str) -> Result<Timestamp, Error> {
        let parts = parse_parts(text).map_err(|reason| Error::InvalidTimestamp {
            value: text.to_owned(),
            reason: reason.to_owned(),
        })?;
        Ok(Timestamp {
            text: text.to_owned(),
            parts,
        })
    }

    /// The current time, written as the web SDK writes it (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub fn now() -> Timestamp {
        let millis = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        };
        Timestamp::from_unix_millis(millis)
    }

    /// A UTC timestamp with millisecond precision, written as `Date.toISOString()` writes it.
    /// Times before year 0 or after 9999 are clamped to those years' ends.
    pub fn from_unix_millis(millis: i64) -> Timestamp {
        const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        let millis = millis.clamp(MIN, MAX);
        let secs = millis.div_euclid(1000);
        let ms = millis.rem_euclid(1000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let parts = Parts {
            year: year as u16,
            month,
            day,
            hour: (sod / 3600) as u8,
            minute: (sod / 60 % 60) as u8,
            second: (sod % 60) as u8,
            nanos: ms * 1_000_000,
            offset: None,
        };
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second, ms
        );
        Timestamp { text, parts }
    }

    /// The text as given (or as generated).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Milliseconds since the Unix epoch (sub-millisecond digits are dropped).
    pub fn unix_millis(&self) -> i64 {
        let p = &self.parts;
        let days = days_from_civil(i64::from(p.year), p.month, p.day);
        let secs = days * 86_400
            + i64::from(p.hour) * 3600
            + i64::from(p.minute) * 60
            + i64::from(p.second)
            - i64::from(p.offset.unwrap_or(0));
        secs * 1000 + i64::from(p.nanos / 1_000_000)
    }

    /// What Go's `Time.String()` prints for this time in Alloy's `timestamp=` field, assuming
    /// the receiver's local time zone is UTC (as on a NixOS host with the default
    /// `time.timeZone`): `2021-09-30 10:46:17.68 +0000 UTC`. An offset other than zero prints
    /// as Go prints a nameless fixed zone: `2021-09-30 12:46:17.68 +0200 +0200`.
    pub fn go_string(&self) -> String {
        let p = &self.parts;
        let mut out = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            p.year, p.month, p.day, p.hour, p.minute, p.second
        );
        if p.nanos != 0 {
            let frac = format!("{:09}", p.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        match p.offset {
            None | Some(0) => out.push_str(" +0000 UTC"),
            Some(offset) => {
                let zone = numeric_zone(offset);
                out.push(' ');
                out.push_str(&zone);
                out.push(' ');
                out.push_str(&zone);
            }
        }
        out
    }
}

/// What Go's `Time.String()` prints for the zero time, which a missing timestamp decodes to.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01 00:00:00 +0000 UTC";

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", self.text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = Error;

    fn from_str(s: &str) -> Result<Timestamp, Error> {
        Timestamp::parse(s)
    }
}

fn numeric_zone(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    format!("{sign}{:02}{:02}", minutes / 60, minutes % 60)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize, what: &'static str) -> Result<u32, &'static str> {
        let end = self.pos + n;
        if end > self.b.len() || !self.b[self.pos..end].iter().all(u8::is_ascii_digit) {
            return Err(what);
        }
        let v = self.b[self.pos..end]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        self.pos = end;
        Ok(v)
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), &'static str> {
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(what)
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.pos + ahead).copied()
    }
}

fn parse_parts(s: &str) -> Result<Parts, &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        pos: 0,
    };
    let year = c.digits(4, "expected a four-digit year")?;
    c.expect(b'-', "expected '-' after the year")?;
    let month = c.digits(2, "expected a two-digit month")?;
    c.expect(b'-', "expected '-' after the month")?;
    let day = c.digits(2, "expected a two-digit day")?;
    c.expect(b'T', "expected 'T' after the date")?;
    // Go's generic RFC 3339 layout reads the hour with one or two digits.
    let hour_digits = if c.peek(1).is_some_and(|d| d.is_ascii_digit()) {
        2
    } else {
        1
    };
    let hour = c.digits(hour_digits, "expected an hour")?;
    c.expect(b':', "expected ':' after the hour")?;
    let minute = c.digits(2, "expected two-digit minutes")?;
    c.expect(b':', "expected ':' after the minutes")?;
    let second = c.digits(2, "expected two-digit seconds")?;
    let mut nanos = 0u32;
    if matches!(c.peek(0), Some(b'.' | b',')) && c.peek(1).is_some_and(|d| d.is_ascii_digit()) {
        c.pos += 1;
        let start = c.pos;
        while c.peek(0).is_some_and(|d| d.is_ascii_digit()) {
            c.pos += 1;
        }
        // Go keeps nine digits and drops the rest.
        let kept = &c.b[start..c.pos.min(start + 9)];
        nanos = kept
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        for _ in kept.len()..9 {
            nanos *= 10;
        }
    }
    let offset = match c.peek(0) {
        Some(b'Z') => {
            c.pos += 1;
            None
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let hh = c.digits(2, "expected a two-digit offset hour")?;
            c.expect(b':', "expected ':' in the zone offset")?;
            let mm = c.digits(2, "expected two-digit offset minutes")?;
            if hh > 24 || mm > 60 {
                return Err("zone offset out of range");
            }
            let secs = (hh * 3600 + mm * 60) as i32;
            Some(if sign == b'-' { -secs } else { secs })
        }
        _ => return Err("expected 'Z' or a ±hh:mm zone offset"),
    };
    if c.pos != c.b.len() {
        return Err("unexpected text after the zone");
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time of day out of range");
    }
    Ok(Parts {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        nanos,
        offset,
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_string_matches_alloys_expected_lines() {
        // Alloy's exporters_test.go and receiver_test.go expect these renderings.
        let t = Timestamp::parse("2021-09-30T10:46:17.680Z").unwrap();
        assert_eq!(t.go_string(), "2021-09-30 10:46:17.68 +0000 UTC");
        let t = Timestamp::parse("2021-01-01T00:00:00Z").unwrap();
        assert_eq!(t.go_string(), "2021-01-01 00:00:00 +0000 UTC");
        let t = Timestamp::parse("2021-01-01T12:00:00.123456789123+02:00").unwrap();
        assert_eq!(t.go_string(), "2021-01-01 12:00:00.123456789 +0200 +0200");
        let t = Timestamp::parse("2021-01-01T12:00:00-00:00").unwrap();
        assert_eq!(t.go_string(), "2021-01-01 12:00:00 +0000 UTC");
        let t = Timestamp::parse("2021-01-01T12:00:00-05:30").unwrap();
        assert_eq!(t.go_string(), "2021-01-01 12:00:00 -0530 -0530");
    }

    #[test]
    fn accepts_what_go_accepts_and_refuses_the_rest() {
        for ok in [
            "2024-02-29T23:59:59Z",
            "2024-01-01T1:02:03Z",
            "2024-01-01T01:02:03,5Z",
            "0000-01-01T00:00:00Z",
            "2024-01-01T00:00:00+24:00",
        ] {
            assert!(Timestamp::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1632998777680",
            "2023-02-29T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00Zjunk",
            "24-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn now_and_millis_round_trip() {
        let t = Timestamp::from_unix_millis(1_632_998_777_680);
        assert_eq!(t.as_str(), "2021-09-30T10:46:17.680Z");
        assert_eq!(t.unix_millis(), 1_632_998_777_680);
        let back = Timestamp::parse(t.as_str()).unwrap();
        assert_eq!(back, t);
        let t = Timestamp::parse("2021-09-30T12:46:17.680+02:00").unwrap();
        assert_eq!(t.unix_millis(), 1_632_998_777_680);
        let now = Timestamp::now();
        assert!(now.unix_millis() > 1_700_000_000_000);
        assert_eq!(
            Timestamp::from_unix_millis(-1).as_str(),
            "1969-12-31T23:59:59.999Z"
        );
    }
}
