//! Finding a builder item again in a line a receiver wrote, whatever the receiver: the logfmt
//! reader, the tag search (run id and sequence number wherever they appear) and the
//! field-by-field comparison with what each receiver release would have written.
//!
//! Recognition and comparison are separate on purpose: a line that carries an item's tag is
//! that item, delivered, even when its other fields differ from every rendering this crate
//! knows. Calling it missing would report loss where there is only a format change (a newer
//! or older receiver), which is a content finding.

use crate::alloy::{AlloyVersion, LokiLine};
use crate::builder::{RUN_ID_KEY, SEQ_KEY};

/// Splits a `go-logfmt` line into key/value pairs in line order, unquoting quoted values
/// (`\"`, `\\`, `\n`, `\r`, `\t`, `\uXXXX`). A bare key has an empty value. Never fails: a
/// line that is not logfmt yields whatever pairs its words make.
pub fn parse_logfmt(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('r') => value.push('\r'),
                            Some('t') => value.push('\t'),
                            Some('u') => {
                                let hex: String = chars.by_ref().take(4).collect();
                                if let Some(c) =
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                                {
                                    value.push(c);
                                }
                            }
                            Some(other) => value.push(other),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key, value));
    }
}

/// The run id and sequence number a [`crate::PayloadBuilder`] item carries, as found in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemTag {
    /// The run id.
    pub run: String,
    /// The item's sequence number within the run.
    pub seq: u64,
}

/// Finds the builder tag in a line's fields, wherever the receiver put it: a field whose key
/// ends in `telltale_run` / `telltale_seq` (`context_…`, `event_data_…`, `value_…`, a
/// measurement value printed `12.000000`, `session_attr_…`), or `telltale_run=<run>` /
/// `telltale_seq=<n>` inside any value (the exception frame the builder adds). An item-level
/// run id wins over the session's. `None` unless both are found.
pub fn item_tag(fields: &[(String, String)]) -> Option<ItemTag> {
    let mut run: Option<(bool, String)> = None;
    let mut seq: Option<u64> = None;
    let mut offer_run = |session: bool, value: &str| {
        if value.is_empty() {
            return;
        }
        match &run {
            Some((false, _)) => {}
            Some((true, _)) if session => {}
            _ => run = Some((session, value.to_owned())),
        }
    };
    for (key, value) in fields {
        if key.ends_with(RUN_ID_KEY) {
            offer_run(key.starts_with("session_"), value);
        } else if let Some(found) = token(value, RUN_ID_KEY, is_run_char) {
            offer_run(false, found);
        }
        if seq.is_none() {
            seq = if key.ends_with(SEQ_KEY) {
                parse_seq(value)
            } else {
                token(value, SEQ_KEY, |c| c.is_ascii_digit()).and_then(parse_seq)
            };
        }
    }
    Some(ItemTag {
        run: run?.1,
        seq: seq?,
    })
}

/// [`item_tag`] of a logfmt line, if its run is `run`: the item's sequence number.
pub fn item_seq(line: &str, run: &str) -> Option<u64> {
    item_tag(&parse_logfmt(line)).and_then(|t| (t.run == run).then_some(t.seq))
}

fn is_run_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// The `name=<chars>` token inside `text`, where `name` starts a word.
fn token<'a>(text: &'a str, name: &str, ok: impl Fn(char) -> bool) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = text[from..].find(name) {
        let start = from + at;
        from = start + name.len();
        let word_start = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let rest = &text[from..];
        if word_start && rest.starts_with('=') {
            let rest = &rest[1..];
            let end = rest.find(|c: char| !ok(c)).unwrap_or(rest.len());
            if end > 0 {
                return Some(&rest[..end]);
            }
        }
    }
    None
}

/// `12`, or a measurement's `12.000000`.
fn parse_seq(value: &str) -> Option<u64> {
    if let Ok(n) = value.parse() {
        return Some(n);
    }
    let f: f64 = value.parse().ok()?;
    (f >= 0.0 && f.fract() == 0.0 && f < 2f64.powi(53)).then_some(f as u64)
}

/// How a line a receiver wrote compares with the renderings of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMatch {
    /// The release whose rendering equals the line byte for byte, if one does.
    pub exact: Option<AlloyVersion>,
    /// The release whose rendering differs in the fewest fields (the exact one, when there is
    /// one); `None` only when no rendering was given.
    pub closest: Option<AlloyVersion>,
    /// The fields that differ from the closest rendering, by key: `key (missing)`,
    /// `key (unexpected)`, `key (value)`, or `field order` when only the order differs.
    pub differing: Vec<String>,
}

/// Compares `line` with the renderings of the same item, in order of preference (the first of
/// equally close renderings wins).
pub fn compare(line: &str, renderings: &[LokiLine]) -> LineMatch {
    let got = parse_logfmt(line);
    let mut best: Option<(AlloyVersion, Vec<String>)> = None;
    for want in renderings {
        let Some(text) = want.line() else { continue };
        if text == line {
            return LineMatch {
                exact: Some(want.version()),
                closest: Some(want.version()),
                differing: Vec::new(),
            };
        }
        let diff = field_diff(&parse_logfmt(&text), &got);
        if best.as_ref().is_none_or(|(_, d)| diff.len() < d.len()) {
            best = Some((want.version(), diff));
        }
    }
    match best {
        Some((v, differing)) => LineMatch {
            exact: None,
            closest: Some(v),
            differing,
        },
        None => LineMatch {
            exact: None,
            closest: None,
            differing: Vec::new(),
        },
    }
}

fn field_diff(want: &[(String, String)], got: &[(String, String)]) -> Vec<String> {
    let find = |fields: &[(String, String)], key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    for (k, v) in want {
        match find(got, k) {
            None => out.push(format!("{k} (missing)")),
            Some(g) if &g != v => out.push(format!("{k} (value)")),
            Some(_) => {}
        }
    }
    for (k, _) in got {
        if find(want, k).is_none() {
            out.push(format!("{k} (unexpected)"));
        }
    }
    if out.is_empty() {
        // Same fields and values, so the bytes differ in order or quoting.
        let order = |f: &[(String, String)]| f.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        out.push(if order(want) == order(got) {
            "quoting".to_owned()
        } else {
            "field order".to_owned()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LogLevel, PayloadBuilder};

    #[test]
    fn logfmt_values_are_unquoted() {
        let f = parse_logfmt(r#"a=1 b="two words" c="q\"\\\n\u0001" d= e"#);
        assert_eq!(
            f,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two words".into()),
                ("c".into(), "q\"\\\n\u{1}".into()),
                ("d".into(), String::new()),
                ("e".into(), String::new()),
            ]
        );
        assert!(parse_logfmt("").is_empty());
    }

    #[test]
    fn every_kind_is_recognised_in_every_releases_line() {
        let mut b = PayloadBuilder::new("tt-9").unwrap();
        b.log(LogLevel::Info, "l");
        b.exception("E", "boom", Vec::new());
        b.measurement("m", [("probe", 1.5)]).unwrap();
        b.event("e", "d");
        let p = b.take();
        for v in AlloyVersion::ALL {
            let seqs: Vec<_> = p
                .loki_lines(v)
                .iter()
                .map(|l| item_seq(&l.line().unwrap(), "tt-9"))
                .collect();
            assert_eq!(seqs, [Some(0), Some(1), Some(2), Some(3)], "{v:?}");
            for l in p.loki_lines(v) {
                assert_eq!(item_seq(&l.line().unwrap(), "tt-99"), None, "another run");
            }
        }
    }

    #[test]
    fn the_tag_is_found_wherever_it_is() {
        let tag = |line: &str| item_tag(&parse_logfmt(line));
        // Reordered fields, another prefix, only the session's run id.
        assert_eq!(
            tag("x_telltale_seq=7 kind=log session_attr_telltale_run=r-1"),
            Some(ItemTag {
                run: "r-1".into(),
                seq: 7
            })
        );
        // Inside a value, and an item-level run id beats the session's.
        assert_eq!(
            tag(
                r#"session_attr_telltale_run=s stacktrace="E: x\n  at f (telltale://tag/telltale_run=r:2/telltale_seq=12:1:1)""#
            ),
            Some(ItemTag {
                run: "r:2".into(),
                seq: 12
            })
        );
        assert_eq!(
            tag("telltale_seq=3.000000 session_attr_telltale_run=r")
                .unwrap()
                .seq,
            3
        );
        assert_eq!(tag("telltale_seq=3.5 session_attr_telltale_run=r"), None);
        assert_eq!(tag("kind=log context_telltale_seq=1"), None, "no run id");
        assert_eq!(tag("message=not_telltale_seq=4 telltale_run=r"), None);
    }

    #[test]
    fn a_line_of_another_release_is_named_with_the_fields_that_differ() {
        let mut b = PayloadBuilder::new("r").unwrap();
        b.measurement("m", [("probe", 2.0)]).unwrap();
        let p = b.take();
        let agent = p.loki_lines(AlloyVersion::Agent)[0].line().unwrap();
        let m = compare(&agent, &p.loki_lines(AlloyVersion::V1_5));
        assert_eq!(m.exact, None);
        assert_eq!(m.closest, Some(AlloyVersion::V1_5));
        assert!(m.differing.contains(&"type (missing)".to_owned()), "{m:?}");
        assert!(
            m.differing.contains(&"value_probe (missing)".to_owned()),
            "{m:?}"
        );
        let all: Vec<_> = AlloyVersion::ALL
            .iter()
            .flat_map(|v| p.loki_lines(*v))
            .collect();
        assert_eq!(compare(&agent, &all).exact, Some(AlloyVersion::Agent));
        let swapped = agent.replacen("kind=measurement", "kind=measurement2", 1);
        assert_eq!(
            compare(&swapped, &p.loki_lines(AlloyVersion::Agent)).differing,
            ["kind (value)"]
        );
    }
}
