//! Writing an [`Exposition`] back as text 0.0.4 or OpenMetrics 1.0.

use super::model::{Exposition, Format, MetricType, Sample};
use super::number;

/// Writes an exposition in its own format.
///
/// Samples are written as they are, in order; nothing is converted between formats, so the
/// result parses back to the same exposition when the exposition is valid for its format
/// (which every [`parse`](super::parse) result is). In detail:
///
/// - Metadata: text writes `# HELP` then `# TYPE` (always, `untyped` for
///   [`MetricType::Unknown`]); OpenMetrics writes `# TYPE`, `# UNIT`, `# HELP` in the order the
///   spec recommends, and ends with `# EOF`.
/// - `# HELP` escapes `\` and line feed, and in OpenMetrics also `"`; label values escape `\`,
///   `"` and line feed; every other character is written raw.
/// - Names that are not legacy identifiers are quoted: `{"my.metric", "my.label"="v"}`.
/// - Values round-trip bit for bit (NaN as `NaN`, infinities as `+Inf`/`-Inf`); text
///   timestamps are integer milliseconds, OpenMetrics ones exact decimal seconds.
///
/// What a text exposition cannot hold is written as well as it can be: OpenMetrics-only types
/// are declared `untyped`, units and exemplars are dropped, and a negative timestamp is written
/// although Prometheus' text parser (and this one) refuses it.
pub fn render(exposition: &Exposition) -> String {
    let om = exposition.format == Format::OpenMetrics1;
    let mut out = String::with_capacity(64 + exposition.sample_count() * 64);
    for family in &exposition.families {
        let kind = match (om, family.kind) {
            (false, MetricType::GaugeHistogram | MetricType::Info | MetricType::StateSet) => {
                "untyped"
            }
            (_, kind) => kind.as_str(exposition.format),
        };
        if om {
            meta_line(&mut out, "TYPE", &family.name, kind);
            if let Some(unit) = &family.unit {
                meta_line(&mut out, "UNIT", &family.name, unit);
            }
            if let Some(help) = &family.help {
                out.push_str("# HELP ");
                write_metric_name(&mut out, &family.name);
                out.push(' ');
                escape_help(&mut out, help, true);
                out.push('\n');
            }
        } else {
            if let Some(help) = &family.help {
                out.push_str("# HELP ");
                write_metric_name(&mut out, &family.name);
                out.push(' ');
                escape_help(&mut out, help, false);
                out.push('\n');
            }
            meta_line(&mut out, "TYPE", &family.name, kind);
        }
        for sample in &family.samples {
            write_sample(&mut out, sample, om);
        }
    }
    if om {
        out.push_str("# EOF\n");
    }
    out
}

fn meta_line(out: &mut String, word: &str, name: &str, text: &str) {
    out.push_str("# ");
    out.push_str(word);
    out.push(' ');
    write_metric_name(out, name);
    out.push(' ');
    out.push_str(text);
    out.push('\n');
}

fn write_sample(out: &mut String, sample: &Sample, om: bool) {
    write_series(out, &sample.name, &sample.labels);
    out.push(' ');
    number::write_value(out, sample.value);
    if let Some(ts) = sample.timestamp_ms {
        out.push(' ');
        if om {
            number::write_om_timestamp(out, ts);
        } else {
            use std::fmt::Write as _;
            let _ = write!(out, "{ts}");
        }
    }
    if om {
        if let Some(exemplar) = &sample.exemplar {
            out.push_str(" # {");
            write_labels(out, &exemplar.labels);
            out.push_str("} ");
            number::write_value(out, exemplar.value);
            if let Some(ts) = exemplar.timestamp_ms {
                out.push(' ');
                number::write_om_timestamp(out, ts);
            }
        }
    }
    out.push('\n');
}

fn is_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn is_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

fn write_metric_name(out: &mut String, name: &str) {
    if is_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        write_quoted(out, name);
    }
}

/// Writes `name{labels}` (quoting a non-legacy name inside the braces); an empty name writes
/// only the braces.
pub(crate) fn write_series(out: &mut String, name: &str, labels: &[(String, String)]) {
    if name.is_empty() || is_legacy_metric_name(name) {
        out.push_str(name);
        if !labels.is_empty() || name.is_empty() {
            out.push('{');
            write_labels(out, labels);
            out.push('}');
        }
    } else {
        out.push('{');
        write_quoted(out, name);
        if !labels.is_empty() {
            out.push(',');
            write_labels(out, labels);
        }
        out.push('}');
    }
}

fn write_labels(out: &mut String, labels: &[(String, String)]) {
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if is_legacy_label_name(k) {
            out.push_str(k);
        } else {
            write_quoted(out, k);
        }
        out.push('=');
        write_quoted(out, v);
    }
}

/// Writes `"…"` escaping `\`, `"` and line feed.
fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            b'\n' => "\\n",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        out.push_str(escaped);
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

fn escape_help(out: &mut String, help: &str, om: bool) {
    let mut run = 0;
    for (i, b) in help.bytes().enumerate() {
        let escaped = match b {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'"' if om => "\\\"",
            _ => continue,
        };
        out.push_str(&help[run..i]);
        out.push_str(escaped);
        run = i + 1;
    }
    out.push_str(&help[run..]);
}
