//! The parsed exposition: families of raw samples as they appeared on the wire, and a grouped
//! view of each family's metrics (histogram buckets, summary quantiles, stateset states).

use super::group::{self, Role};

/// The two text exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Text004,
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics1,
}

impl Format {
    /// Picks the format from a `Content-Type` header value.
    ///
    /// The header is parsed as a media type with parameters (RFC 2045, as Go's
    /// `mime.ParseMediaType` does), so a malformed one such as
    /// `text/plain; version=0.0.4, charset=utf-8` gives `None`: Prometheus 3 fails such a
    /// scrape. Accepted:
    ///
    /// - `text/plain` with no `version`, `version=0.0.4`, or `version=1.0.0` (Prometheus 3's
    ///   name for the same syntax with quoted UTF-8 names, which this parser reads);
    /// - `application/openmetrics-text` with no `version`, `version=1.0.0`, or
    ///   `version=0.0.1` (what `client_golang` and `client_python` still send for OpenMetrics 1.0).
    ///
    /// A `charset` other than UTF-8, any other version, and any other media type give `None`.
    /// Other parameters (`escaping=…`) are ignored.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media = super::content_type::parse_media_type(content_type)?;
        if let Some(charset) = media.param("charset") {
            if !charset.eq_ignore_ascii_case("utf-8") {
                return None;
            }
        }
        let version = media.param("version");
        match media.essence.as_str() {
            "text/plain" => {
                matches!(version, None | Some("0.0.4") | Some("1.0.0")).then_some(Format::Text004)
            }
            "application/openmetrics-text" => {
                matches!(version, None | Some("1.0.0") | Some("0.0.1"))
                    .then_some(Format::OpenMetrics1)
            }
            _ => None,
        }
    }

    /// The `Content-Type` an exposer of this format sends.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics1 => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A whole parsed exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposition {
    /// The format it was written in.
    pub format: Format,
    /// Metric families in exposition order.
    pub families: Vec<MetricFamily>,
}

impl Exposition {
    /// The family with this name (the name in `# TYPE`, e.g. `http_requests` for OpenMetrics
    /// counter samples named `http_requests_total`).
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The number of samples (lines with a value) in all families.
    pub fn sample_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    /// Every sample with its family, in exposition order.
    pub fn samples(&self) -> impl Iterator<Item = (&MetricFamily, &Sample)> {
        self.families
            .iter()
            .flat_map(|f| f.samples.iter().map(move |s| (f, s)))
    }

    /// The sample with exactly this name and this label set (in any order), e.g.
    /// `find_sample("http_requests_total", &[("code", "200")])`.
    pub fn find_sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples()
            .map(|(_, s)| s)
            .find(|s| s.name == name && s.has_labels(labels))
    }
}

/// A metric's type, from its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    StateSet,
    /// `unknown` in OpenMetrics, `untyped` in text 0.0.4, and the type of a family that has
    /// no `# TYPE` line.
    Unknown,
}

impl MetricType {
    /// The type's name in a `# TYPE` line of `format` (`untyped` or `unknown` for
    /// [`MetricType::Unknown`]).
    pub fn as_str(self, format: Format) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => match format {
                Format::Text004 => "untyped",
                Format::OpenMetrics1 => "unknown",
            },
        }
    }

    /// Reads a `# TYPE` word: text 0.0.4 knows `counter`, `gauge`, `histogram`, `summary` and
    /// `untyped`; OpenMetrics knows its eight types and not `untyped`.
    pub fn parse(word: &str, format: Format) -> Option<MetricType> {
        let kind = match word {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" if format == Format::Text004 => MetricType::Unknown,
            "unknown" if format == Format::OpenMetrics1 => MetricType::Unknown,
            "gaugehistogram" if format == Format::OpenMetrics1 => MetricType::GaugeHistogram,
            "info" if format == Format::OpenMetrics1 => MetricType::Info,
            "stateset" if format == Format::OpenMetrics1 => MetricType::StateSet,
            _ => return None,
        };
        Some(kind)
    }

    /// The suffixes this type's sample names add to the family name in `format`, `""` meaning
    /// the sample is named like the family (OpenMetrics 1.0, "Suffixes"; the text format
    /// document, "Histograms and summaries").
    pub fn sample_suffixes(self, format: Format) -> &'static [&'static str] {
        group::suffixes(self, format == Format::OpenMetrics1)
    }
}

/// One metric family: its metadata and its samples in exposition order.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// The family name. For text 0.0.4 counters this is the sample name (`x_total`); for
    /// OpenMetrics counters it is the name without `_total`.
    pub name: String,
    /// The declared type; [`MetricType::Unknown`] without a `# TYPE` line.
    pub kind: MetricType,
    /// The `# HELP` text, unescaped. An empty OpenMetrics `# HELP` reads as `None`, as the
    /// spec says it must be treated as absent.
    pub help: Option<String>,
    /// The OpenMetrics `# UNIT`; `None` in text 0.0.4 and when empty.
    pub unit: Option<String>,
    /// Samples in exposition order.
    pub samples: Vec<Sample>,
}

impl MetricFamily {
    /// A family with no metadata and no samples.
    pub fn new(name: impl Into<String>, kind: MetricType) -> MetricFamily {
        MetricFamily {
            name: name.into(),
            kind,
            help: None,
            unit: None,
            samples: Vec::new(),
        }
    }

    /// The sample with exactly this name and label set (in any order).
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples
            .iter()
            .find(|s| s.name == name && s.has_labels(labels))
    }

    /// The family's metrics: samples grouped by label set, leaving out the label that varies
    /// within one metric (`le` on histogram buckets, `quantile` on summary quantiles, the
    /// family-named label of a stateset).
    ///
    /// Metrics come in order of first appearance. A metric exposed at several timestamps
    /// (OpenMetrics allows repeating a MetricPoint with increasing timestamps) yields one
    /// [`Metric`] per point; a new point starts where a sample repeats one already in the
    /// current point. For a family returned by [`parse`](super::parse) the invariants
    /// documented on [`MetricValue`] hold; for a family built by hand this is a best effort
    /// that never fails (a missing counter total reads as NaN, unparsable `le` values as NaN).
    pub fn metrics(&self) -> Vec<Metric> {
        let (roles, specials) = group::classify(self);
        let grouped = group::group(&self.samples, &roles, &specials);
        grouped
            .points()
            .map(|point| group::build_metric(self, &roles, &specials, point))
            .collect()
    }
}

/// One sample line: a name, labels, a value, an optional timestamp and exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's metric name (`x_bucket`, `x_total`, …).
    pub name: String,
    /// Labels in exposition order, unescaped.
    pub labels: Vec<(String, String)>,
    /// The value. NaN compares unequal to itself, so compare with `to_bits` or `is_nan`.
    pub value: f64,
    /// Milliseconds since the epoch. Text 0.0.4 writes integer milliseconds; OpenMetrics
    /// writes seconds, possibly fractional, converted here exactly on the decimal digits with
    /// sub-millisecond digits truncated toward zero.
    pub timestamp_ms: Option<i64>,
    /// The OpenMetrics exemplar (`# {labels} value [timestamp]`), if any.
    pub exemplar: Option<Exemplar>,
}

impl Sample {
    /// A sample with no labels, timestamp or exemplar.
    pub fn new(name: impl Into<String>, value: f64) -> Sample {
        Sample {
            name: name.into(),
            labels: Vec::new(),
            value,
            timestamp_ms: None,
            exemplar: None,
        }
    }

    /// The value of one label.
    pub fn label(&self, name: &str) -> Option<&str> {
        label(&self.labels, name)
    }

    /// Whether the labels are exactly these (in any order).
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        self.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| self.label(k).is_some_and(|have| have == *v))
    }
}

/// An OpenMetrics exemplar: a reference (typically a trace ID) attached to a counter total or
/// a histogram bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The exemplar's labels, unescaped.
    pub labels: Vec<(String, String)>,
    /// The exemplar's value.
    pub value: f64,
    /// Milliseconds since the epoch (converted from OpenMetrics seconds as for samples).
    pub timestamp_ms: Option<i64>,
}

/// One metric of a family (one MetricPoint, in OpenMetrics terms) with its value assembled
/// from its samples. See [`MetricFamily::metrics`].
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's labels without `le`, `quantile` or a stateset's state label, in the order
    /// of its first sample.
    pub labels: Vec<(String, String)>,
    /// The timestamp of the point's first sample.
    pub timestamp_ms: Option<i64>,
    /// The assembled value.
    pub value: MetricValue,
}

impl Metric {
    /// The value of one label.
    pub fn label(&self, name: &str) -> Option<&str> {
        label(&self.labels, name)
    }
}

/// A metric's value by type.
///
/// Invariants the parser enforces (in both formats unless marked OpenMetrics), so every family
/// it returns satisfies them:
///
/// - Histogram and GaugeHistogram `buckets` are sorted by strictly ascending upper bound, the
///   last bound is `+Inf`, counts never decrease, and `count`/`gcount`, when present, equals
///   the `+Inf` bucket's count. No bound is NaN.
/// - OpenMetrics: bucket counts and `count` are non-negative integers, `sum` and `count` come
///   together or not at all, a Histogram `sum` is non-negative and absent when a bucket bound is
///   negative, a GaugeHistogram `gsum` is negative only when a bound is, and `sum` is never NaN.
/// - Summary quantiles lie in `[0, 1]`, are unique, and (text 0.0.4) ascending. OpenMetrics:
///   quantile values are non-negative or NaN, `sum` and `count` non-negative and not NaN,
///   `count` an integer.
/// - OpenMetrics: a Counter's `total` is non-negative and not NaN; an Info sample's value is 1;
///   a StateSet state's value is 0 or 1.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricValue {
    /// A counter: its total and, in OpenMetrics, its `_created` time in seconds.
    Counter {
        /// The `_total` value (text 0.0.4: the sample's value).
        total: f64,
        /// The `_created` value: Unix seconds.
        created: Option<f64>,
    },
    /// A gauge's value.
    Gauge(f64),
    /// A histogram.
    Histogram {
        /// `(upper bound, cumulative count)`, ascending, ending with `+Inf`.
        buckets: Vec<(f64, f64)>,
        /// The `_sum` sample, if present.
        sum: Option<f64>,
        /// The `_count` sample, if present.
        count: Option<f64>,
        /// The `_created` value (Unix seconds), if present.
        created: Option<f64>,
    },
    /// An OpenMetrics gauge histogram.
    GaugeHistogram {
        /// `(upper bound, cumulative count)`, ascending, ending with `+Inf`.
        buckets: Vec<(f64, f64)>,
        /// The `_gsum` sample, if present.
        gsum: Option<f64>,
        /// The `_gcount` sample, if present.
        gcount: Option<f64>,
    },
    /// A summary.
    Summary {
        /// `(quantile, value)` in exposition order.
        quantiles: Vec<(f64, f64)>,
        /// The `_sum` sample, if present.
        sum: Option<f64>,
        /// The `_count` sample, if present.
        count: Option<f64>,
        /// The `_created` value (Unix seconds), if present.
        created: Option<f64>,
    },
    /// An OpenMetrics info metric: its information is in [`Metric::labels`].
    Info,
    /// An OpenMetrics stateset: each state's name and whether it is set.
    StateSet {
        /// `(state, set)` in exposition order.
        states: Vec<(String, bool)>,
    },
    /// An unknown (untyped) metric's value.
    Unknown(f64),
}

pub(crate) fn label<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Role {
    /// Whether an OpenMetrics exemplar may sit on a sample of this role.
    pub(crate) fn allows_exemplar(self) -> bool {
        matches!(self, Role::Total | Role::Bucket)
    }
}
