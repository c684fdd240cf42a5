//! Numbers on the wire: sample values, `le`/`quantile` label values and timestamps, parsed
//! exactly as strictly as Prometheus parses them, and written back so they parse to the same bits.
//!
//! Sources: Prometheus `model/textparse/promparse.go` (`parseFloat`: Go's `strconv.ParseFloat`
//! minus the `p`, `P` and `_` characters, so no hexadecimal floats and no digit separators),
//! `promlex.l` (text timestamps are `{D}+`: digits only) and the OpenMetrics 1.0 ABNF
//! (`number`, `realnumber`, `timestamp`).

/// Parses a sample or exemplar value.
///
/// Accepts what Go's `strconv.ParseFloat` accepts once Prometheus has ruled out hexadecimal
/// and underscores, which is also exactly the OpenMetrics `number` rule: an optional sign,
/// digits with an optional `.` (`1.`, `.5`), an optional exponent; `Inf`/`Infinity` in any
/// case with an optional sign; `NaN` in any case without a sign. Finite numbers too large for
/// an `f64` are an error, as in Go (`ErrRange`), rather than silently becoming infinite.
pub(crate) fn parse_value(s: &str) -> Result<f64, String> {
    let b = s.as_bytes();
    let (negative, rest) = match b.first() {
        Some(b'+') => (false, &b[1..]),
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if let Some(&c) = rest.first() {
        if c == b'i' || c == b'I' {
            if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
                return Ok(if negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                });
            }
            return Err(format!(
                "invalid value {s:?}: expected a number, NaN, +Inf or -Inf"
            ));
        }
        if c == b'n' || c == b'N' {
            if rest.eq_ignore_ascii_case(b"nan") {
                if rest.len() != b.len() {
                    return Err(format!("invalid value {s:?}: NaN takes no sign"));
                }
                return Ok(f64::NAN);
            }
            return Err(format!(
                "invalid value {s:?}: expected a number, NaN, +Inf or -Inf"
            ));
        }
    }
    parse_decimal(s, rest, negative)
}

/// Parses an OpenMetrics `le` or `quantile` label value: a `realnumber`, or exactly `+Inf`
/// or `-Inf` (the spec has exposers write positive infinity as `+Inf`, and the OpenMetrics
/// test suite rejects `+INF`). NaN is refused by the callers.
pub(crate) fn parse_om_threshold(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => {
            let b = s.as_bytes();
            let (negative, rest) = match b.first() {
                Some(b'+') => (false, &b[1..]),
                Some(b'-') => (true, &b[1..]),
                _ => (false, b),
            };
            parse_decimal(s, rest, negative).map_err(|_| {
                format!("invalid number {s:?}: expected a decimal number, +Inf or -Inf")
            })
        }
    }
}

/// Parses the digits of a decimal number (after its sign) with a fast path for short integers.
fn parse_decimal(whole: &str, digits: &[u8], negative: bool) -> Result<f64, String> {
    // Fast path: up to 15 digits convert exactly through u64.
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let mut n: u64 = 0;
        for &d in digits {
            n = n * 10 + u64::from(d - b'0');
        }
        let v = n as f64;
        return Ok(if negative { -v } else { v });
    }
    let shape = DecimalShape::scan(digits).ok_or_else(|| invalid_value(whole))?;
    if shape.end != digits.len() {
        return Err(invalid_value(whole));
    }
    let v: f64 = whole.parse().map_err(|_| invalid_value(whole))?;
    if v.is_infinite() {
        return Err(format!(
            "invalid value {whole:?}: out of the range of a 64-bit float"
        ));
    }
    Ok(v)
}

fn invalid_value(s: &str) -> String {
    if s.bytes().any(|c| matches!(c, b'x' | b'X' | b'p' | b'P')) {
        format!("invalid value {s:?}: hexadecimal numbers are not allowed")
    } else if s.contains('_') {
        format!("invalid value {s:?}: '_' digit separators are not allowed")
    } else {
        format!("invalid value {s:?}: expected a number, NaN, +Inf or -Inf")
    }
}

/// Where the parts of `digits ["." digits] [("e"|"E") [sign] digits]` lie.
struct DecimalShape {
    int: (usize, usize),
    frac: (usize, usize),
    /// The exponent, saturated far beyond anything that matters.
    exp: i64,
    end: usize,
}

impl DecimalShape {
    fn scan(b: &[u8]) -> Option<DecimalShape> {
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int = (0, i);
        let mut frac = (i, i);
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac = (start, i);
        }
        if int.1 == int.0 && frac.1 == frac.0 {
            return None;
        }
        let mut exp: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let mut exp_negative = false;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                exp_negative = b[i] == b'-';
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                exp = (exp * 10 + i64::from(b[i] - b'0')).min(1_000_000_000);
                i += 1;
            }
            if i == start {
                return None;
            }
            if exp_negative {
                exp = -exp;
            }
        }
        Some(DecimalShape {
            int,
            frac,
            exp,
            end: i,
        })
    }
}

/// Parses a text-format timestamp: integer milliseconds, digits only.
///
/// Prometheus' lexer (`promlex.l`, `<sTimestamp>{D}+`) takes no sign, so a negative timestamp
/// is rejected even though the format document's example shows one.
pub(crate) fn parse_text_timestamp(s: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "invalid timestamp {s:?}: expected integer milliseconds (digits only)"
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("invalid timestamp {s:?}: out of the range of a 64-bit integer"))
}

/// Parses an OpenMetrics timestamp (`realnumber` seconds) into milliseconds.
///
/// The conversion is exact on the decimal digits: `1520879607.789` is `1520879607789` ms, with
/// no float rounding on the way; digits below the millisecond are truncated toward zero, as
/// Prometheus' `int64(ts * 1000)` does. NaN and infinities are not timestamps; a timestamp
/// whose milliseconds do not fit an `i64` (±292 million years) is an error.
pub(crate) fn parse_om_timestamp(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let (negative, digits) = match b.first() {
        Some(b'+') => (false, &b[1..]),
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let bad =
        || format!("invalid timestamp {s:?}: expected a decimal number of seconds since the epoch");
    let shape = DecimalShape::scan(digits).ok_or_else(bad)?;
    if shape.end != digits.len() {
        return Err(bad());
    }
    // The number is M * 10^(exp - frac_len), M being all its digits; its milliseconds are
    // M * 10^(exp - frac_len + 3), keeping `keep` leading digits of M (truncation).
    let all = digits[shape.int.0..shape.int.1]
        .iter()
        .chain(&digits[shape.frac.0..shape.frac.1])
        .copied()
        .skip_while(|&d| d == b'0');
    let n = all.clone().count() as i64;
    let frac_len = (shape.frac.1 - shape.frac.0) as i64;
    let keep = n + shape.exp - frac_len + 3;
    let out_of_range = || format!("invalid timestamp {s:?}: out of range for i64 milliseconds");
    if keep <= 0 {
        return Ok(0);
    }
    if keep > 19 {
        return Err(out_of_range());
    }
    let mut magnitude: u64 = 0;
    let mut taken = 0;
    for d in all.take(keep as usize) {
        magnitude = magnitude * 10 + u64::from(d - b'0');
        taken += 1;
    }
    for _ in taken..keep {
        magnitude = magnitude.checked_mul(10).ok_or_else(out_of_range)?;
    }
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return Err(out_of_range());
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| out_of_range())
    }
}

/// Writes a value so that [`parse_value`] reads back the same number (NaN as `NaN`).
///
/// Integers below 2^53 are written without a fraction (`17`, `-0`); everything else uses
/// Rust's shortest round-tripping form (`0.1`, `1e-7`, `1.5e300`), which both formats accept.
pub(crate) fn write_value(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == v.trunc() && v.abs() < 9_007_199_254_740_992.0 {
        if v == 0.0 && v.is_sign_negative() {
            out.push_str("-0");
        } else {
            let _ = write!(out, "{}", v as i64);
        }
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// Writes milliseconds as OpenMetrics seconds: `1520879607.789`, `-0.5`, `12`.
pub(crate) fn write_om_timestamp(out: &mut String, ms: i64) {
    use std::fmt::Write as _;
    if ms < 0 {
        out.push('-');
    }
    let abs = ms.unsigned_abs();
    let (secs, millis) = (abs / 1000, abs % 1000);
    let _ = write!(out, "{secs}");
    if millis != 0 {
        let frac = format!("{millis:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_go_parse_float_without_hex() {
        for (s, v) in [
            ("0", 0.0_f64),
            ("0", 0.0),
            ("-0", -0.0),
            ("+12", 12.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("1.5e+2", 150.0),
            ("0000000000000000000000000000000000000000001.2e-1", 0.12),
            ("9223372036854775808", 9_223_372_036_854_775_808.0),
            ("1e-400", 0.0),
        ] {
            assert_eq!(parse_value(s).unwrap().to_bits(), v.to_bits(), "{s}");
        }
        for s in ["+Inf", "Inf", "inf", "+inf", "INF", "Infinity", "+infinity"] {
            assert_eq!(parse_value(s).unwrap(), f64::INFINITY, "{s}");
        }
        for s in ["-Inf", "-inf", "-Infinity"] {
            assert_eq!(parse_value(s).unwrap(), f64::NEG_INFINITY, "{s}");
        }
        for s in ["NaN", "nan", "NAN"] {
            assert!(parse_value(s).unwrap().is_nan(), "{s}");
        }
    }

    #[test]
    fn values_reject_what_prometheus_rejects() {
        for (s, why) in [
            ("", "expected a number"),
            ("+", "expected a number"),
            (".", "expected a number"),
            ("1e", "expected a number"),
            ("1.1.1", "expected a number"),
            ("true", "expected a number"),
            ("infinit", "expected a number"),
            ("+NaN", "NaN takes no sign"),
            ("-nan", "NaN takes no sign"),
            ("0x1p-3", "hexadecimal"),
            ("0x1", "hexadecimal"),
            ("0X1", "hexadecimal"),
            ("0b1", "expected a number"),
            ("0o1", "expected a number"),
            ("1_2", "digit separators"),
            ("1e999", "out of the range"),
            ("1 ", "expected a number"),
        ] {
            let err = parse_value(s).unwrap_err();
            assert!(err.contains(why), "{s:?}: {err}");
        }
    }

    #[test]
    fn thresholds_in_openmetrics_are_decimal_or_signed_inf() {
        assert_eq!(parse_om_threshold("+Inf").unwrap(), f64::INFINITY);
        assert_eq!(parse_om_threshold("-Inf").unwrap(), f64::NEG_INFINITY);
        assert_eq!(parse_om_threshold("1.1e-4").unwrap(), 1.1e-4);
        assert_eq!(parse_om_threshold("0").unwrap(), 0.0);
        for s in ["+INF", "Inf", "inf", "NaN", "foo", ""] {
            assert!(parse_om_threshold(s).is_err(), "{s}");
        }
    }

    #[test]
    fn text_timestamps_are_unsigned_integers() {
        assert_eq!(
            parse_text_timestamp("1395066363000").unwrap(),
            1_395_066_363_000
        );
        assert_eq!(parse_text_timestamp("0").unwrap(), 0);
        for s in ["-3982045", "+1", "1.5", "1e3", "", "99999999999999999999"] {
            assert!(parse_text_timestamp(s).is_err(), "{s}");
        }
    }

    #[test]
    fn openmetrics_timestamps_convert_exactly_to_milliseconds() {
        for (s, ms) in [
            ("1520879607.789", 1_520_879_607_789),
            ("1520430000.123", 1_520_430_000_123),
            ("0", 0),
            ("000", 0),
            ("0.0", 0),
            ("1.1", 1100),
            ("1.5e3", 1_500_000),
            ("1e-3", 1),
            ("1.0009", 1000),
            ("-1.0009", -1000),
            ("-0.5", -500),
            ("0.0000000001", 0),
            ("123", 123_000),
            ("1795319222.0118937", 1_795_319_222_011),
            ("-9223372036854775.808", i64::MIN),
            ("9223372036854775.807", i64::MAX),
        ] {
            assert_eq!(parse_om_timestamp(s).unwrap(), ms, "{s}");
        }
        for s in [
            "NaN", "Inf", "-Inf", "+Inf", "z", "1z", "1_2", "1.1.1", "0x1p-3", "",
        ] {
            assert!(parse_om_timestamp(s).is_err(), "{s}");
        }
        for s in [
            "9223372036854775.808",
            "12345678901234567890.1234567890",
            "1e300",
        ] {
            let err = parse_om_timestamp(s).unwrap_err();
            assert!(err.contains("out of range"), "{s}: {err}");
        }
    }

    #[test]
    fn written_values_read_back_to_the_same_bits() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -17.0,
            0.1,
            1e-7,
            1.5e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            9_007_199_254_740_992.0,
            123_456.789,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut s = String::new();
            write_value(&mut s, v);
            assert_eq!(
                parse_value(&s).unwrap().to_bits(),
                v.to_bits(),
                "{v} as {s}"
            );
        }
        let mut s = String::new();
        write_value(&mut s, f64::NAN);
        assert_eq!(s, "NaN");
    }

    #[test]
    fn written_timestamps_read_back_exactly() {
        for ms in [
            0,
            1,
            -1,
            999,
            -999,
            1000,
            1_520_879_607_789,
            i64::MIN,
            i64::MAX,
        ] {
            let mut s = String::new();
            write_om_timestamp(&mut s, ms);
            assert_eq!(parse_om_timestamp(&s).unwrap(), ms, "{ms} as {s}");
        }
        let mut s = String::new();
        write_om_timestamp(&mut s, 1_520_879_607_780);
        assert_eq!(s, "1520879607.78");
    }
}
