//! Synthetic signals tagged with a run id and a sequence number, so a harness can find every
//! record again in Loki, Prometheus or a trace store, and the names those tags take there.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{
    Attributes, Batch, HistogramPoint, LogRecord, Metric, MetricData, Number, NumberPoint,
    Severity, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode, Temporality, TraceId, Value,
};

/// The default attribute key for the run id.
pub const DEFAULT_RUN_KEY: &str = "telltale.run";
/// The default attribute key for the sequence number.
pub const DEFAULT_SEQ_KEY: &str = "telltale.seq";

/// The run id and the attribute keys that carry it and the sequence number.
///
/// Every record [`Synth`] makes carries `run_key = run` and `seq_key = n` (an integer) as
/// record attributes (log attributes, data-point attributes, span attributes).
///
/// Receivers rename the keys: Loki keeps log attributes as structured metadata and Prometheus
/// and VictoriaMetrics turn data-point attributes into labels, both with every character
/// outside `[a-zA-Z0-9_]` replaced by `_` (see [`RunTag::label_name`]): `telltale.run` is
/// queried as `telltale_run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTag {
    run: String,
    run_key: String,
    seq_key: String,
}

impl RunTag {
    /// Tags for run `run` with the default keys `telltale.run` and `telltale.seq`.
    pub fn new(run: impl Into<String>) -> RunTag {
        RunTag {
            run: run.into(),
            run_key: DEFAULT_RUN_KEY.to_owned(),
            seq_key: DEFAULT_SEQ_KEY.to_owned(),
        }
    }

    /// Uses other attribute keys.
    pub fn with_keys(mut self, run_key: impl Into<String>, seq_key: impl Into<String>) -> RunTag {
        self.run_key = run_key.into();
        self.seq_key = seq_key.into();
        self
    }

    /// The run id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The attribute key of the run id.
    pub fn run_key(&self) -> &str {
        &self.run_key
    }

    /// The attribute key of the sequence number.
    pub fn seq_key(&self) -> &str {
        &self.seq_key
    }

    /// The two tag attributes for sequence number `seq`.
    pub fn attributes(&self, seq: u64) -> Attributes {
        vec![
            (self.run_key.clone(), Value::String(self.run.clone())),
            (self.seq_key.clone(), Value::Int(seq as i64)),
        ]
    }

    /// The sequence number in `attributes` if they carry this run's id. Accepts the number as
    /// an integer or a decimal string.
    pub fn seq_of(&self, attributes: &[(String, Value)]) -> Option<u64> {
        let run = crate::model::attribute(attributes, &self.run_key)?;
        if run.as_str() != Some(self.run.as_str()) {
            return None;
        }
        match crate::model::attribute(attributes, &self.seq_key)? {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The name an attribute key takes as a Prometheus label or a Loki structured-metadata
    /// field: every character outside `[a-zA-Z0-9_]` becomes `_`, and a leading digit gets a
    /// `_` prefix (`telltale.run` → `telltale_run`, `service.name` → `service_name`).
    pub fn label_name(key: &str) -> String {
        let mut out = String::with_capacity(key.len() + 1);
        if key.starts_with(|c: char| c.is_ascii_digit()) {
            out.push('_');
        }
        out.extend(key.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        }));
        out
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Makes synthetic logs, metrics and spans for one run, numbering every record.
///
/// Sequence numbers start at 0 and grow by one per log record, data point or span, across
/// signals, so `(run, seq)` names exactly one record.
#[derive(Debug, Clone)]
pub struct Synth {
    tag: RunTag,
    resource: Attributes,
    scope: String,
    next_seq: u64,
    started_unix_nano: u64,
}

impl Synth {
    /// A generator for `tag`, with resource attribute `service.name = service_name`.
    pub fn new(tag: RunTag, service_name: impl Into<String>) -> Synth {
        Synth {
            tag,
            resource: vec![("service.name".into(), Value::String(service_name.into()))],
            scope: concat!("telltale-otlp/", env!("CARGO_PKG_VERSION")).to_owned(),
            next_seq: 0,
            started_unix_nano: now_unix_nano(),
        }
    }

    /// Adds a resource attribute to everything made from now on.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<Value>) -> Synth {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// The tag in use.
    pub fn tag(&self) -> &RunTag {
        &self.tag
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn batch<T>(&self, items: Vec<T>) -> Batch<T> {
        Batch::new(self.resource.clone(), self.scope.clone(), items)
    }

    /// `n` INFO log records stamped now, bodies `telltale <run> seq=<n>`.
    pub fn logs(&mut self, n: usize) -> Batch<LogRecord> {
        let now = now_unix_nano();
        let records = (0..n)
            .map(|i| {
                let seq = self.take_seq();
                LogRecord {
                    time_unix_nano: now + i as u64,
                    observed_time_unix_nano: now + i as u64,
                    severity: Severity::INFO,
                    severity_text: "INFO".into(),
                    body: Value::String(format!("telltale {} seq={seq}", self.tag.run)),
                    attributes: self.tag.attributes(seq),
                    ..LogRecord::default()
                }
            })
            .collect();
        self.batch(records)
    }

    fn point(&mut self, start: u64, value: Number) -> NumberPoint {
        let seq = self.take_seq();
        NumberPoint {
            attributes: self.tag.attributes(seq),
            start_time_unix_nano: start,
            time_unix_nano: now_unix_nano(),
            value,
        }
    }

    /// One monotonic cumulative sum (a counter) data point.
    pub fn counter(&mut self, name: impl Into<String>, value: f64) -> Batch<Metric> {
        let start = self.started_unix_nano;
        let point = self.point(start, Number::Double(value));
        self.batch(vec![Metric {
            name: name.into(),
            description: "telltale synthetic counter".into(),
            unit: String::new(),
            data: MetricData::Sum {
                monotonic: true,
                temporality: Temporality::Cumulative,
                points: vec![point],
            },
        }])
    }

    /// One non-monotonic cumulative sum (an up-down counter) data point with an integer value.
    pub fn sum(&mut self, name: impl Into<String>, value: i64) -> Batch<Metric> {
        let start = self.started_unix_nano;
        let point = self.point(start, Number::Int(value));
        self.batch(vec![Metric {
            name: name.into(),
            description: "telltale synthetic sum".into(),
            unit: String::new(),
            data: MetricData::Sum {
                monotonic: false,
                temporality: Temporality::Cumulative,
                points: vec![point],
            },
        }])
    }

    /// One gauge data point.
    pub fn gauge(&mut self, name: impl Into<String>, value: f64) -> Batch<Metric> {
        let point = self.point(0, Number::Double(value));
        self.batch(vec![Metric {
            name: name.into(),
            description: "telltale synthetic gauge".into(),
            unit: String::new(),
            data: MetricData::Gauge(vec![point]),
        }])
    }

    /// One cumulative explicit-bucket histogram data point of `observations`.
    pub fn histogram(
        &mut self,
        name: impl Into<String>,
        bounds: &[f64],
        observations: &[f64],
    ) -> Batch<Metric> {
        let mut bucket_counts = vec![0u64; bounds.len() + 1];
        for &x in observations {
            let i = bounds.iter().position(|&b| x <= b).unwrap_or(bounds.len());
            bucket_counts[i] += 1;
        }
        let seq = self.take_seq();
        let fold = |f: fn(f64, f64) -> f64| observations.iter().copied().reduce(f);
        let point = HistogramPoint {
            attributes: self.tag.attributes(seq),
            start_time_unix_nano: self.started_unix_nano,
            time_unix_nano: now_unix_nano(),
            count: observations.len() as u64,
            sum: Some(observations.iter().sum()),
            bucket_counts,
            explicit_bounds: bounds.to_vec(),
            min: fold(f64::min),
            max: fold(f64::max),
        };
        self.batch(vec![Metric {
            name: name.into(),
            description: "telltale synthetic histogram".into(),
            unit: "s".into(),
            data: MetricData::Histogram {
                temporality: Temporality::Cumulative,
                points: vec![point],
            },
        }])
    }

    /// One trace: a server root span and `children` client spans below it, each tagged.
    pub fn trace(&mut self, children: usize) -> Batch<Span> {
        let trace_id = TraceId::random();
        let root_id = SpanId::random();
        let start = now_unix_nano();
        let end = start + 1_000_000 * (children as u64 + 1);
        let root_seq = self.take_seq();
        let mut spans = vec![Span {
            trace_id,
            span_id: root_id,
            name: "telltale root".into(),
            kind: SpanKind::Server,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: self.tag.attributes(root_seq),
            status: StatusCode::Ok,
            ..Span::default()
        }];
        for i in 0..children as u64 {
            let seq = self.take_seq();
            spans.push(Span {
                trace_id,
                span_id: SpanId::random(),
                parent_span_id: Some(root_id),
                name: format!("telltale child {i}"),
                kind: SpanKind::Client,
                start_time_unix_nano: start + 1_000_000 * i,
                end_time_unix_nano: start + 1_000_000 * (i + 1),
                attributes: self.tag.attributes(seq),
                events: vec![SpanEvent {
                    time_unix_nano: start + 1_000_000 * i + 500,
                    name: "telltale.event".into(),
                    attributes: vec![("i".into(), Value::Int(i as i64))],
                }],
                ..Span::default()
            });
        }
        self.batch(spans)
    }

    /// One trace for read-back tests: like [`Synth::trace`], and besides the run tags every
    /// span carries an attribute of every OTLP type (string, bool, int, double, bytes, array,
    /// map) keyed `telltale.<type>`; each child links to the root with an attribute on the link
    /// and has an event with attributes.
    pub fn rich_trace(&mut self, children: usize) -> Batch<Span> {
        let mut batch = self.trace(children);
        let root = batch.items().next().map(|s| (s.trace_id, s.span_id));
        for span in batch
            .resources
            .iter_mut()
            .flat_map(|r| r.scopes.iter_mut())
            .flat_map(|s| s.items.iter_mut())
        {
            let seq = self.tag.seq_of(&span.attributes).unwrap_or(0);
            span.attributes.extend(every_type(seq));
            if let (Some((trace_id, span_id)), Some(_)) = (root, span.parent_span_id) {
                span.links.push(SpanLink {
                    trace_id,
                    span_id,
                    trace_state: String::new(),
                    attributes: vec![("telltale.link".into(), Value::String(format!("seq={seq}")))],
                });
            }
        }
        batch
    }
}

/// One attribute of every OTLP value type, derived from `seq` so a mix-up shows.
pub fn every_type(seq: u64) -> Attributes {
    let i = seq as i64;
    vec![
        (
            "telltale.string".into(),
            Value::String(format!("s-{seq} ✓")),
        ),
        ("telltale.bool".into(), Value::Bool(seq.is_multiple_of(2))),
        ("telltale.int".into(), Value::Int(-i - 1_000_000_000_000)),
        ("telltale.double".into(), Value::Double(seq as f64 + 0.25)),
        (
            "telltale.bytes".into(),
            Value::Bytes(seq.to_be_bytes().to_vec()),
        ),
        (
            "telltale.array".into(),
            Value::Array(vec![Value::Int(i), Value::String("a".into())]),
        ),
        (
            "telltale.map".into(),
            Value::Map(vec![
                ("seq".into(), Value::Int(i)),
                ("ok".into(), Value::Bool(true)),
            ]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signal;

    #[test]
    fn every_record_carries_run_and_a_fresh_seq() {
        let mut s = Synth::new(RunTag::new("r-1"), "svc");
        let logs = s.logs(3);
        let seqs: Vec<u64> = logs
            .items()
            .map(|r| s.tag().seq_of(&r.attributes).unwrap())
            .collect();
        assert_eq!(seqs, [0, 1, 2]);
        let c = s.counter("c", 1.0);
        let h = s.histogram("h", &[1.0, 5.0], &[0.5, 2.0, 9.0, 1.0]);
        let t = s.trace(2);
        assert_eq!(s.next_seq(), 3 + 1 + 1 + 3);
        assert_eq!(Metric::count(&c) + Metric::count(&h), 2);
        let MetricData::Histogram { points, .. } = &h.items().next().unwrap().data else {
            panic!("not a histogram");
        };
        assert_eq!(points[0].bucket_counts, [2, 1, 1]);
        assert_eq!((points[0].min, points[0].max), (Some(0.5), Some(9.0)));
        assert_eq!(Span::count(&t), 3);
        let other = RunTag::new("r-2");
        assert_eq!(other.seq_of(&logs.items().next().unwrap().attributes), None);
    }

    #[test]
    fn label_names_follow_the_prometheus_translation() {
        assert_eq!(RunTag::label_name("telltale.run"), "telltale_run");
        assert_eq!(RunTag::label_name("service.name"), "service_name");
        assert_eq!(RunTag::label_name("k8s-pod/uid"), "k8s_pod_uid");
        assert_eq!(RunTag::label_name("1st"), "_1st");
        let tag = RunTag::new("x").with_keys("run_id", "n");
        assert_eq!(tag.attributes(4)[1], ("n".to_owned(), Value::Int(4)));
    }
}
