//! The crate's own record types for logs, metrics and spans, grouped by resource and scope as
//! OTLP groups them. They cover what delivery tests need; the protobuf types stay internal.

use std::fmt;

/// An attribute value (OTLP `AnyValue`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Value {
    /// No value (an `AnyValue` with nothing set).
    #[default]
    Empty,
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer (a string in OTLP/JSON).
    Int(i64),
    /// A double.
    Double(f64),
    /// Bytes (base64 in OTLP/JSON).
    Bytes(Vec<u8>),
    /// A list of values.
    Array(Vec<Value>),
    /// Key-value pairs, in order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer inside, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::String(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Double(v)
    }
}

/// Attributes: key-value pairs in order (OTLP `repeated KeyValue`).
pub type Attributes = Vec<(String, Value)>;

/// Looks an attribute up by key.
pub fn attribute<'a>(attributes: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A 16-byte trace id, shown as 32 lowercase hex digits (as OTLP/JSON writes it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id, shown as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// A random, non-zero trace id.
    pub fn random() -> TraceId {
        let mut id = TraceId(fastrand::u128(1..).to_be_bytes());
        if id.0 == [0; 16] {
            id.0[15] = 1;
        }
        id
    }
}

impl SpanId {
    /// A random, non-zero span id.
    pub fn random() -> SpanId {
        SpanId(fastrand::u64(1..).to_be_bytes())
    }
}

fn hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(&self.0, f)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Items of one signal, grouped by resource and instrumentation scope, as one export request
/// carries them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch<T> {
    /// One group per resource.
    pub resources: Vec<ResourceGroup<T>>,
}

/// Items from one resource (a service instance), by scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceGroup<T> {
    /// The resource's attributes (`service.name`, …).
    pub attributes: Attributes,
    /// One group per instrumentation scope.
    pub scopes: Vec<ScopeGroup<T>>,
}

/// Items from one instrumentation scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScopeGroup<T> {
    /// The scope's name (the instrumenting library).
    pub name: String,
    /// The scope's version.
    pub version: String,
    /// The scope's attributes.
    pub attributes: Attributes,
    /// The log records, metrics or spans.
    pub items: Vec<T>,
}

impl<T> Batch<T> {
    /// A batch with one resource and one scope.
    pub fn new(resource: Attributes, scope: impl Into<String>, items: Vec<T>) -> Batch<T> {
        Batch {
            resources: vec![ResourceGroup {
                attributes: resource,
                scopes: vec![ScopeGroup {
                    name: scope.into(),
                    version: String::new(),
                    attributes: Vec::new(),
                    items,
                }],
            }],
        }
    }

    /// Every item, in order.
    pub fn items(&self) -> impl Iterator<Item = &T> + '_ {
        self.resources
            .iter()
            .flat_map(|r| r.scopes.iter())
            .flat_map(|s| s.items.iter())
    }

    /// Every item with its resource attributes.
    pub fn items_with_resource(&self) -> impl Iterator<Item = (&Attributes, &T)> + '_ {
        self.resources.iter().flat_map(|r| {
            r.scopes
                .iter()
                .flat_map(move |s| s.items.iter().map(move |i| (&r.attributes, i)))
        })
    }

    /// The number of items (log records, metrics or spans).
    pub fn len(&self) -> usize {
        self.items().count()
    }

    /// Whether there is no item.
    pub fn is_empty(&self) -> bool {
        self.items().next().is_none()
    }
}

/// A log severity number (OTLP `SeverityNumber`): 1–4 trace, 5–8 debug, 9–12 info, 13–16 warn,
/// 17–20 error, 21–24 fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Severity(pub i32);

impl Severity {
    /// `SEVERITY_NUMBER_UNSPECIFIED`.
    pub const UNSPECIFIED: Severity = Severity(0);
    /// `SEVERITY_NUMBER_TRACE`.
    pub const TRACE: Severity = Severity(1);
    /// `SEVERITY_NUMBER_DEBUG`.
    pub const DEBUG: Severity = Severity(5);
    /// `SEVERITY_NUMBER_INFO`.
    pub const INFO: Severity = Severity(9);
    /// `SEVERITY_NUMBER_WARN`.
    pub const WARN: Severity = Severity(13);
    /// `SEVERITY_NUMBER_ERROR`.
    pub const ERROR: Severity = Severity(17);
    /// `SEVERITY_NUMBER_FATAL`.
    pub const FATAL: Severity = Severity(21);
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    /// When the event happened, Unix nanoseconds (0: unknown).
    pub time_unix_nano: u64,
    /// When the record was observed, Unix nanoseconds.
    pub observed_time_unix_nano: u64,
    /// The severity number.
    pub severity: Severity,
    /// The severity as the source wrote it (`INFO`, `warning`, …).
    pub severity_text: String,
    /// The body, usually a string.
    pub body: Value,
    /// The record's attributes (Loki stores them as structured metadata).
    pub attributes: Attributes,
    /// The trace the record belongs to, if any.
    pub trace_id: Option<TraceId>,
    /// The span the record belongs to, if any.
    pub span_id: Option<SpanId>,
    /// Trace flags (W3C), 0 when unset.
    pub flags: u32,
    /// The event name, empty when the record is not an event.
    pub event_name: String,
}

/// A number in a data point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer (a string in OTLP/JSON).
    Int(i64),
    /// A double.
    Double(f64),
}

impl Number {
    /// The value as a double.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Double(d) => d,
        }
    }
}

/// How a sum or histogram relates to earlier points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Temporality {
    /// Not set (invalid for sums and histograms, but decoded as sent).
    #[default]
    Unspecified,
    /// Each point covers the interval since the previous one.
    Delta,
    /// Each point covers the interval since a fixed start.
    Cumulative,
}

/// One counter, sum or gauge data point.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberPoint {
    /// Attributes (Prometheus-side receivers turn them into labels).
    pub attributes: Attributes,
    /// Start of the interval, Unix nanoseconds (0 for gauges).
    pub start_time_unix_nano: u64,
    /// When the value was taken, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The value.
    pub value: Number,
}

/// One explicit-bucket histogram data point.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistogramPoint {
    /// Attributes.
    pub attributes: Attributes,
    /// Start of the interval, Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// When the value was taken, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Observations in all.
    pub count: u64,
    /// Their sum, if recorded.
    pub sum: Option<f64>,
    /// Observations per bucket: `explicit_bounds.len() + 1` entries.
    pub bucket_counts: Vec<u64>,
    /// Upper bounds of all buckets but the last.
    pub explicit_bounds: Vec<f64>,
    /// The smallest observation, if recorded.
    pub min: Option<f64>,
    /// The largest observation, if recorded.
    pub max: Option<f64>,
}

/// The data of a metric.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricData {
    /// A gauge: last value wins.
    Gauge(Vec<NumberPoint>),
    /// A sum; monotonic cumulative sums are counters.
    Sum {
        /// Whether the sum only grows.
        monotonic: bool,
        /// Delta or cumulative.
        temporality: Temporality,
        /// The data points.
        points: Vec<NumberPoint>,
    },
    /// An explicit-bucket histogram.
    Histogram {
        /// Delta or cumulative.
        temporality: Temporality,
        /// The data points.
        points: Vec<HistogramPoint>,
    },
    /// A kind this crate does not model (`exponential_histogram`, `summary`), or no data at
    /// all; kept so decoding other SDKs' output never fails. Encoded as a metric without data.
    Unsupported {
        /// The OTLP field name of the kind, or `none`.
        kind: String,
        /// How many data points it had.
        points: usize,
    },
}

/// One metric with its data points.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The OTLP metric name (receivers may rewrite it; see the crate docs).
    pub name: String,
    /// A description.
    pub description: String,
    /// The unit (UCUM, e.g. `ms`, `By`, `1`).
    pub unit: String,
    /// The data.
    pub data: MetricData,
}

impl Metric {
    /// The number of data points: what OTLP counts in `rejected_data_points`.
    pub fn data_points(&self) -> usize {
        match &self.data {
            MetricData::Gauge(points) | MetricData::Sum { points, .. } => points.len(),
            MetricData::Histogram { points, .. } => points.len(),
            MetricData::Unsupported { points, .. } => *points,
        }
    }

    /// The attributes of every data point.
    pub fn point_attributes(&self) -> Vec<&Attributes> {
        match &self.data {
            MetricData::Gauge(points) | MetricData::Sum { points, .. } => {
                points.iter().map(|p| &p.attributes).collect()
            }
            MetricData::Histogram { points, .. } => points.iter().map(|p| &p.attributes).collect(),
            MetricData::Unsupported { .. } => Vec::new(),
        }
    }
}

/// What a span represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Not set.
    #[default]
    Unspecified,
    /// An internal operation.
    Internal,
    /// Handling a remote request.
    Server,
    /// A remote request.
    Client,
    /// Sending a message.
    Producer,
    /// Receiving a message.
    Consumer,
}

/// A span's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    /// Not set.
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error,
}

/// An event inside a span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanEvent {
    /// When, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// Its name.
    pub name: String,
    /// Its attributes.
    pub attributes: Attributes,
}

/// One span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// The parent span; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace state.
    pub trace_state: String,
    /// The operation name.
    pub name: String,
    /// The kind.
    pub kind: SpanKind,
    /// Start, Unix nanoseconds.
    pub start_time_unix_nano: u64,
    /// End, Unix nanoseconds.
    pub end_time_unix_nano: u64,
    /// Attributes.
    pub attributes: Attributes,
    /// Events.
    pub events: Vec<SpanEvent>,
    /// Status code.
    pub status: StatusCode,
    /// Status message (for errors).
    pub status_message: String,
    /// Links to spans of this or other traces.
    pub links: Vec<SpanLink>,
}

/// A link from a span to another span (OTLP `Span.Link`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanLink {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// W3C trace state of the link.
    pub trace_state: String,
    /// Attributes of the link.
    pub attributes: Attributes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_lowercase_hex() {
        let t = TraceId([
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c,
        ]);
        assert_eq!(t.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            SpanId([0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]).to_string(),
            "eee19b7ec3c1b174"
        );
        assert_ne!(TraceId::random(), TraceId::default());
    }

    #[test]
    fn batch_counts_items_across_groups() {
        let mut b = Batch::new(vec![("service.name".into(), "a".into())], "s", vec![1, 2]);
        b.resources.push(ResourceGroup {
            attributes: Vec::new(),
            scopes: vec![ScopeGroup {
                items: vec![3],
                ..ScopeGroup::default()
            }],
        });
        assert_eq!(b.len(), 3);
        assert_eq!(b.items().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert!(Batch::<u8>::default().is_empty());
    }
}
