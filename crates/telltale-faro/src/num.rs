//! Shortest round-trip decimal digits of a float, with exact ties broken to the even digit as
//! Go's `strconv` and ECMAScript's `Number::toString` do, and the two spellings built on them:
//! JavaScript's (`JSON.stringify`) and Go's `%v` (Alloy's `value_<k>` fields).
//!
//! Rust's own shortest formatting can pick the odd candidate when the float lies exactly halfway
//! between two shortest decimals (1972930942435020.25 prints as `1.9729309424350203e15`, Go and
//! JavaScript print `…0202`), so the tie is detected with integer arithmetic and corrected.

/// `(digits, count, exponent)`: `|x| = 0.d1…dn × 10^(exponent + 1)`, i.e. `d1.d2…dn × 10^exponent`.
struct Digits {
    digits: u64,
    count: u32,
    exp: i32,
}

/// Shortest digits of a finite, non-zero `x` (its sign is ignored).
fn shortest(x: f64) -> Digits {
    let x = x.abs();
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits = 0u64;
    let mut count = 0u32;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        digits = digits * 10 + u64::from(b - b'0');
        count += 1;
    }
    let found = Digits { digits, count, exp };
    match tie_to_even(x, &found) {
        Some(even) => even,
        None => found,
    }
}

/// When `x` lies exactly halfway between two `count`-digit decimals, the even one, if it reads
/// back as `x` and differs from what Rust chose.
fn tie_to_even(x: f64, found: &Digits) -> Option<Digits> {
    // x = m · 2^e with m odd.
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    // A tie means 2·x·10^s is an odd integer T, where s is the number of decimals that
    // `count` significant digits need.
    let s = found.count as i32 - 1 - found.exp;
    let twice: u128 = if s >= 0 {
        if e != -(s + 1) {
            return None;
        }
        5u128.checked_pow(s as u32)?.checked_mul(u128::from(m))?
    } else {
        let k = (-s) as u32;
        if e != k as i32 - 1 {
            return None;
        }
        let p = 5u128.checked_pow(k)?;
        if u128::from(m) % p != 0 {
            return None;
        }
        u128::from(m) / p
    };
    let low = u64::try_from(twice / 2).ok()?;
    let even = if low % 2 == 0 { low } else { low + 1 };
    if even == found.digits {
        return None;
    }
    let text = format!("{even}e{}", found.exp - (found.count as i32 - 1));
    if text.parse::<f64>().ok()? != x {
        return None;
    }
    // Renormalise (a carry such as 99 → 100 adds a digit; trailing zeros drop out).
    let mut digits = even;
    let mut count = even.to_string().len() as u32;
    let mut exp = found.exp + (count as i32 - found.count as i32);
    while digits % 10 == 0 && count > 1 {
        digits /= 10;
        count -= 1;
    }
    if digits == 0 {
        exp = 0;
    }
    Some(Digits { digits, count, exp })
}

fn digit_string(d: &Digits) -> String {
    format!("{:0width$}", d.digits, width = d.count as usize)
}

/// Writes `d1.d2…dn` (no point when n = 1).
fn mantissa(s: &str, out: &mut String) {
    out.push_str(&s[..1]);
    if s.len() > 1 {
        out.push('.');
        out.push_str(&s[1..]);
    }
}

/// Writes the digits as a plain decimal: `exp` is the power of ten of the first digit.
fn plain(s: &str, exp: i32, out: &mut String) {
    let n = s.len() as i32;
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(s);
    } else if exp + 1 >= n {
        out.push_str(s);
        for _ in 0..(exp + 1 - n) {
            out.push('0');
        }
    } else {
        let point = (exp + 1) as usize;
        out.push_str(&s[..point]);
        out.push('.');
        out.push_str(&s[point..]);
    }
}

/// A number as JavaScript's `String(n)` (and so `JSON.stringify`) writes it: plain digits in
/// `[1e-6, 1e21)`, `d.ddde±x` outside; `0` for zero of either sign. `None` for NaN and infinities,
/// which JSON cannot hold.
pub(crate) fn js(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    if x == 0.0 {
        return Some("0".to_owned());
    }
    // Integers below 2^53 are their own shortest digits.
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        return Some((x as i64).to_string());
    }
    let d = shortest(x);
    let s = digit_string(&d);
    let mut out = String::with_capacity(24);
    if x < 0.0 {
        out.push('-');
    }
    if (-6..21).contains(&d.exp) {
        plain(&s, d.exp, &mut out);
    } else {
        mantissa(&s, &mut out);
        out.push('e');
        out.push(if d.exp < 0 { '-' } else { '+' });
        out.push_str(&d.exp.unsigned_abs().to_string());
    }
    Some(out)
}

/// Go's `fmt.Sprint(x)` for a float64 (`%g` with the shortest digits): an exponent when it is
/// below -4 or at least 6 (`1e+06`, `1.5e-05`, at least two exponent digits), plain otherwise.
pub(crate) fn go_v(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let d = shortest(x);
    let s = digit_string(&d);
    let mut out = String::with_capacity(24);
    if x < 0.0 {
        out.push('-');
    }
    if (-4..6).contains(&d.exp) {
        plain(&s, d.exp, &mut out);
    } else {
        mantissa(&s, &mut out);
        out.push('e');
        out.push(if d.exp < 0 { '-' } else { '+' });
        let e = d.exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// Go's `fmt.Sprintf("%f", x)`: six decimals, correctly rounded (as Rust's `{:.6}` is).
pub(crate) fn go_f6(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{x:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ties_go_to_the_even_digit() {
        // 1972930942435020.25 is halfway between …020.2 and …020.3: Go prints the even one.
        let x = 7_891_723_769_740_081.0 / 4.0; // 1972930942435020.25, exactly
        assert_eq!(format!("{x:e}"), "1.9729309424350203e15");
        assert_eq!(go_v(x), "1.9729309424350202e+15");
        assert_eq!(js(x).unwrap(), "1972930942435020.2");
        assert_eq!(
            go_v(-8_954_781_294_787_197.0 / 4.0),
            "-2.2386953236967992e+15"
        );
        // Non-ties are left alone.
        assert_eq!(go_v(10.600000000093132), "10.600000000093132");
        assert_eq!(js(0.1 + 0.2).unwrap(), "0.30000000000000004");
    }

    #[test]
    fn js_spelling() {
        // Expected values are what `String(n)` prints in Node.js.
        let cases: &[(f64, &str)] = &[
            (42.0, "42"),
            (0.125, "0.125"),
            (12_345_678.5, "12345678.5"),
            (-3.0, "-3"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (1.5e-6, "0.0000015"),
            (123e18, "123000000000000000000"),
            (5e-324, "5e-324"),
            (-0.0, "0"),
        ];
        for (x, want) in cases {
            assert_eq!(js(*x).unwrap(), *want, "{x}");
        }
        assert_eq!(js(f64::NAN), None);
    }

    #[test]
    fn go_spelling() {
        // Expected values are Go's fmt.Sprint and fmt.Sprintf("%f") outputs.
        let cases: &[(f64, &str, &str)] = &[
            (14.0, "14", "14.000000"),
            (22.12, "22.12", "22.120000"),
            (1e6, "1e+06", "1000000.000000"),
            (123456.0, "123456", "123456.000000"),
            (1234567.0, "1.234567e+06", "1234567.000000"),
            (12345678.5, "1.23456785e+07", "12345678.500000"),
            (0.0001, "0.0001", "0.000100"),
            (0.00001, "1e-05", "0.000010"),
            (1.5e-7, "1.5e-07", "0.000000"),
            (-2.5, "-2.5", "-2.500000"),
            (0.0000005, "5e-07", "0.000000"),
            (1e21, "1e+21", "1000000000000000000000.000000"),
            (1e100, "1e+100", "10000000000000000159028911097599180468360808563945281389781327557747838772170381060813469985856815104.000000"),
            (5e-324, "5e-324", "0.000000"),
            (-0.0, "-0", "-0.000000"),
        ];
        for (x, v, f) in cases {
            assert_eq!(go_v(*x), *v, "{x}");
            assert_eq!(go_f6(*x), *f, "{x}");
        }
    }
}
