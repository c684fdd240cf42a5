//! A strict parser (and writer) for the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! ```
//! use telltale_prometheus::exposition::{self, Format, MetricValue};
//!
//! let body = concat!(
//!     "# TYPE http_requests counter\n",
//!     "http_requests_total{code=\"200\"} 1027\n",
//!     "# EOF\n",
//! );
//! let parsed = exposition::parse(body, Format::OpenMetrics1)?;
//! let family = parsed.family("http_requests").unwrap();
//! let metrics = family.metrics();
//! assert_eq!(metrics[0].label("code"), Some("200"));
//! assert_eq!(metrics[0].value, MetricValue::Counter { total: 1027.0, created: None });
//! # Ok::<(), telltale_prometheus::Error>(())
//! ```
//!
//! One pass over the bytes, no regular expressions; label values are copied once into the
//! owned model (unescaping only when they hold a backslash). Errors are
//! [`crate::Error::Parse`] with a 1-based line and a column counted in
//! characters, and say what is wrong: `expected '=' after label name "foo"`,
//! `histogram "x" has no +Inf bucket`, `metric family "x" is interleaved with "y"`.
//!
//! # What is checked
//!
//! The rules come from the text format document (prometheus/docs
//! `docs/instrumenting/exposition_formats.md`), the OpenMetrics 1.0 specification
//! (`docs/specs/om/open_metrics_spec.md`, with its ABNF), and Prometheus' own parsers
//! (`model/textparse/promlex.l`, `promparse.go`, `openmetricslex.l`, `openmetricsparse.go`).
//! Both formats:
//!
//! - label values unescape `\\`, `\"` and `\n`, keep any other backslash pair as written (as
//!   Prometheus does), may hold any UTF-8 (including NUL) and must close on their line;
//! - values are Go floats without hexadecimal or `_` (`1`, `-1.5e3`, `.5`, `NaN`, `+Inf`,
//!   `-Inf`, `Inf`, `+inf`, `Infinity`); out-of-range numbers such as `1e999` are errors;
//! - a family's `# HELP`/`# TYPE` come before its samples, at most once each; families are
//!   not interleaved (a sample or metadata line of an earlier family is an error);
//! - a label appears once per sample; a series appears once (OpenMetrics: see below);
//! - histograms: every `_bucket` has a parseable, non-NaN `le`, buckets ascend strictly, never
//!   decrease in count, end with `le="+Inf"`, and `_count` equals the `+Inf` bucket; `le` on
//!   a non-bucket sample is an error;
//! - summaries: every quantile sample has a parseable `quantile` within `[0, 1]`;
//! - lines end with `\n`; a `\r` before it is reported as such; a byte order mark is refused.
//!
//! Text 0.0.4 only: blank lines, leading and trailing blanks and tabs, blanks around label
//! tokens and a trailing comma in braces are allowed; `#` lines other than `# HELP`/`# TYPE`
//! are comments; `# HELP` unescapes `\\` and `\n` only; types are `counter`, `gauge`,
//! `histogram`, `summary` and `untyped`; timestamps are integer milliseconds without sign;
//! quantiles must ascend; the last line must end with `\n`.
//!
//! OpenMetrics only: exactly one space between tokens, no blank lines or comments, no
//! trailing comma; the body ends with `# EOF` (optionally followed by one `\n`) and nothing
//! after it; `# UNIT` must be the `_`-separated suffix of the family name and is refused on
//! info and stateset families; counter samples are `x_total`/`x_created`, info samples
//! `x_info`, gauge histograms have `_gsum`/`_gcount`; timestamps are seconds (converted
//! exactly to milliseconds, see [`Sample::timestamp_ms`]); exemplars (`# {…} value [ts]`)
//! only on counter totals and histogram buckets, with at most 128 characters of labels;
//! value rules (counter totals, bucket counts, `_count`, `_sum` non-negative and not NaN,
//! counts integers, info value 1, stateset values 0/1, histogram `_sum` iff `_count`, no
//! `_sum` with a negative bucket); `le`/`quantile` values are decimal numbers or `+Inf`/`-Inf`;
//! families must not clash (a counter `a` next to a gauge `a_created`); a metric's samples are
//! not interleaved with another metric's; a series repeats only as a new MetricPoint whose
//! samples share a timestamp that does not go back.
//!
//! # Where this parser is stricter than Prometheus
//!
//! Prometheus accepts these; the format documents forbid them, so this parser refuses them:
//! a text body whose last line lacks `\n`; a raw line feed inside a text label value; a text
//! label list without commas between labels (`{a="1" b="2"}`); text metadata whose name is
//! followed by something other than a blank or the line end; metadata after its family's
//! samples; duplicate series in text; histograms and summaries whose structure is broken
//! (Prometheus ingests the samples one by one); a `\r` before the line feed; a trailing comma
//! in OpenMetrics braces (Prometheus' OpenMetrics parser takes one; the ABNF and the
//! OpenMetrics test suite do not). An OpenMetrics timestamp whose milliseconds overflow an
//! `i64` is an error here, where Prometheus' conversion silently overflows.
//!
//! Names that are not legacy identifiers are accepted quoted, as Prometheus 3 reads them
//! (`{"my.metric", "my.label"="v"} 1`, `# HELP "my.metric" …`).

mod content_type;
mod group;
mod model;
mod number;
mod parser;
mod render;

#[cfg(test)]
mod tests;

use std::io::Read as _;

pub use model::{
    Exemplar, Exposition, Format, Metric, MetricFamily, MetricType, MetricValue, Sample,
};
pub use render::render;
// Scraping judges `Content-Type` with the same reader the format detection uses.
pub(crate) use content_type::parse_media_type;

use crate::Error;

/// Parses an exposition body in the given format.
///
/// See the [module documentation](self) for the rules enforced.
pub fn parse(body: &str, format: Format) -> Result<Exposition, Error> {
    parser::parse(body, format)
}

/// Parses a body as it came off the wire: decompresses it, checks it is UTF-8 and picks the
/// format from the `Content-Type`.
///
/// - The body is gunzipped when `content_encoding` is `gzip` (or `x-gzip`) or when it starts
///   with the gzip magic bytes `1f 8b` (a proxy may have dropped the header; no exposition can
///   start with a control character). Any other encoding but `identity` is an error.
/// - The format comes from [`Format::from_content_type`]; without a content type it is text
///   0.0.4, the format's default. An unsupported or malformed content type is an error, as it
///   is for Prometheus 3.
/// - Invalid UTF-8 is an error at the line and column of the first bad byte.
///
/// Errors that are not at a place in the text (decompression, content type) are
/// [`Error::Parse`] with line and column 0.
pub fn parse_bytes(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<Exposition, Error> {
    let not_in_text = |reason: String| Error::Parse {
        line: 0,
        column: 0,
        reason,
    };
    let encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase());
    let gzip_header = matches!(encoding.as_deref(), Some("gzip" | "x-gzip"));
    match encoding.as_deref() {
        None | Some("" | "identity" | "gzip" | "x-gzip") => {}
        Some(other) => {
            return Err(not_in_text(format!(
                "unsupported content encoding {other:?}; expected gzip or identity"
            )))
        }
    }
    let format = match content_type {
        None => Format::Text004,
        Some(ct) => Format::from_content_type(ct).ok_or_else(|| {
            not_in_text(format!(
                "unsupported or malformed content type {ct:?}; expected text/plain; version=0.0.4 or application/openmetrics-text; version=1.0.0"
            ))
        })?,
    };
    let decompressed;
    let bytes = if gzip_header || body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(body.len() * 4);
        flate2::read::MultiGzDecoder::new(body)
            .read_to_end(&mut out)
            .map_err(|e| not_in_text(format!("decompress the gzip body: {e}")))?;
        decompressed = out;
        decompressed.as_slice()
    } else {
        body
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = e.valid_up_to();
        // The prefix is valid UTF-8, so positions within it are well defined.
        let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let (line, column) = parser::position(prefix, valid);
        Error::Parse {
            line,
            column,
            reason: format!(
                "invalid UTF-8: byte 0x{:02x} is not part of a character",
                bytes[valid]
            ),
        }
    })?;
    parse(text, format)
}
