//! promtool's expanding notation for `input_series` values: `a`, `a+bxN`, `a-bxN`, `axN`,
//! `_`, `_xN` and `stale`.

use crate::Error;

/// One value slot: a number, nothing (`_`) or a staleness marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Slot {
    Value(f64),
    Omitted,
    Stale,
}

pub(crate) fn expand(values: &str) -> Result<Vec<Slot>, Error> {
    let err = |message: String| Error::Notation {
        values: values.to_owned(),
        message,
    };
    let mut out = Vec::new();
    for token in values.split_whitespace() {
        if token == "stale" {
            out.push(Slot::Stale);
            continue;
        }
        let (head, times) = match token.rsplit_once('x') {
            Some((h, n))
                if !h.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() =>
            {
                let n: usize = n
                    .parse()
                    .map_err(|_| err(format!("bad repeat count in {token:?}")))?;
                (h, Some(n))
            }
            _ => (token, None),
        };
        if head == "_" {
            for _ in 0..times.unwrap_or(1) {
                out.push(Slot::Omitted);
            }
            continue;
        }
        let Some(times) = times else {
            out.push(Slot::Value(
                number(head).ok_or_else(|| err(format!("not a number: {token:?}")))?,
            ));
            continue;
        };
        // Split `a+b` / `a-b` at the operator after the first character, so `-1+2` keeps its sign.
        let op_at = head
            .char_indices()
            .skip(1)
            .find(|&(i, c)| (c == '+' || c == '-') && !head[..i].ends_with(['e', 'E']))
            .map(|(i, _)| i);
        let (start, step) = match op_at {
            Some(i) => {
                let start =
                    number(&head[..i]).ok_or_else(|| err(format!("not a number in {token:?}")))?;
                let step = number(&head[i + 1..])
                    .ok_or_else(|| err(format!("not a number in {token:?}")))?;
                (start, if &head[i..=i] == "-" { -step } else { step })
            }
            None => (
                number(head).ok_or_else(|| err(format!("not a number in {token:?}")))?,
                0.0,
            ),
        };
        // Prometheus accumulates (v += step) rather than multiplying, and so do we, so the same
        // rounding happens.
        let mut v = start;
        out.push(Slot::Value(v));
        for _ in 0..times {
            v += step;
            out.push(Slot::Value(v));
        }
    }
    Ok(out)
}

fn number(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<Slot> {
        expand(s).unwrap()
    }

    #[test]
    fn expands_every_form() {
        use Slot::*;
        assert_eq!(
            values("1+2x3"),
            vec![Value(1.0), Value(3.0), Value(5.0), Value(7.0)]
        );
        assert_eq!(values("10-1x2"), vec![Value(10.0), Value(9.0), Value(8.0)]);
        assert_eq!(values("-1+1x1"), vec![Value(-1.0), Value(0.0)]);
        assert_eq!(values("5x2"), vec![Value(5.0), Value(5.0), Value(5.0)]);
        assert_eq!(
            values("_x2 1 _ stale"),
            vec![Omitted, Omitted, Value(1.0), Omitted, Stale]
        );
        assert_eq!(values("1e3"), vec![Value(1000.0)]);
    }

    #[test]
    fn refuses_garbage() {
        assert!(matches!(expand("1+x3"), Err(Error::Notation { .. })));
        assert!(matches!(expand("abc"), Err(Error::Notation { .. })));
    }
}
