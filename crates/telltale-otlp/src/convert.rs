//! Conversions between the crate's record types and the `opentelemetry-proto` messages, which
//! never leave the crate.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::logs::v1 as pl;
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as pt;

use crate::model::{
    Attributes, Batch, HistogramPoint, LogRecord, Metric, MetricData, Number, NumberPoint,
    ResourceGroup, ScopeGroup, Severity, Span, SpanEvent, SpanId, SpanKind, SpanLink, StatusCode,
    Temporality, TraceId, Value,
};

pub(crate) fn any_value(v: &Value) -> pc::AnyValue {
    use pc::any_value::Value as V;
    let value = match v {
        Value::Empty => None,
        Value::String(s) => Some(V::StringValue(s.clone())),
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Int(i) => Some(V::IntValue(*i)),
        Value::Double(d) => Some(V::DoubleValue(*d)),
        Value::Bytes(b) => Some(V::BytesValue(b.clone())),
        Value::Array(items) => Some(V::ArrayValue(pc::ArrayValue {
            values: items.iter().map(any_value).collect(),
        })),
        Value::Map(pairs) => Some(V::KvlistValue(pc::KeyValueList {
            values: key_values(pairs),
        })),
    };
    pc::AnyValue { value }
}

pub(crate) fn key_values(attrs: &[(String, Value)]) -> Vec<pc::KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| pc::KeyValue {
            key: k.clone(),
            value: Some(any_value(v)),
            ..Default::default()
        })
        .collect()
}

fn value(v: pc::AnyValue) -> Value {
    use pc::any_value::Value as V;
    match v.value {
        None => Value::Empty,
        Some(V::StringValue(s)) => Value::String(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::Int(i),
        Some(V::DoubleValue(d)) => Value::Double(d),
        Some(V::BytesValue(b)) => Value::Bytes(b),
        Some(V::ArrayValue(a)) => Value::Array(a.values.into_iter().map(value).collect()),
        Some(V::KvlistValue(kv)) => Value::Map(attributes(kv.values)),
        // An index into a profile's string table: meaningless outside profiles.
        Some(V::StringValueStrindex(_)) => Value::Empty,
    }
}

pub(crate) fn attributes(kvs: Vec<pc::KeyValue>) -> Attributes {
    kvs.into_iter()
        .map(|kv| (kv.key, kv.value.map(value).unwrap_or_default()))
        .collect()
}

fn scope(group: &ScopeGroup<impl Sized>) -> Option<pc::InstrumentationScope> {
    Some(pc::InstrumentationScope {
        name: group.name.clone(),
        version: group.version.clone(),
        attributes: key_values(&group.attributes),
        dropped_attributes_count: 0,
    })
}

fn resource(group: &ResourceGroup<impl Sized>) -> Option<Resource> {
    Some(Resource {
        attributes: key_values(&group.attributes),
        ..Default::default()
    })
}

fn scope_group<T>(scope: Option<pc::InstrumentationScope>, items: Vec<T>) -> ScopeGroup<T> {
    let scope = scope.unwrap_or_default();
    ScopeGroup {
        name: scope.name,
        version: scope.version,
        attributes: attributes(scope.attributes),
        items,
    }
}

fn resource_attributes(resource: Option<Resource>) -> Attributes {
    attributes(resource.unwrap_or_default().attributes)
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id: [u8; 16] = bytes.try_into().ok()?;
    (id != [0; 16]).then_some(TraceId(id))
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id: [u8; 8] = bytes.try_into().ok()?;
    (id != [0; 8]).then_some(SpanId(id))
}

// ---- logs ----

pub(crate) fn logs_request(batch: &Batch<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: batch
            .resources
            .iter()
            .map(|r| pl::ResourceLogs {
                resource: resource(r),
                scope_logs: r
                    .scopes
                    .iter()
                    .map(|s| pl::ScopeLogs {
                        scope: scope(s),
                        log_records: s.items.iter().map(log_record).collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn log_record(r: &LogRecord) -> pl::LogRecord {
    pl::LogRecord {
        time_unix_nano: r.time_unix_nano,
        observed_time_unix_nano: r.observed_time_unix_nano,
        severity_number: r.severity.0,
        severity_text: r.severity_text.clone(),
        body: (r.body != Value::Empty).then(|| any_value(&r.body)),
        attributes: key_values(&r.attributes),
        dropped_attributes_count: 0,
        flags: r.flags,
        trace_id: r.trace_id.map(|t| t.0.to_vec()).unwrap_or_default(),
        span_id: r.span_id.map(|s| s.0.to_vec()).unwrap_or_default(),
        event_name: r.event_name.clone(),
    }
}

pub(crate) fn logs_batch(req: ExportLogsServiceRequest) -> Batch<LogRecord> {
    Batch {
        resources: req
            .resource_logs
            .into_iter()
            .map(|r| ResourceGroup {
                attributes: resource_attributes(r.resource),
                scopes: r
                    .scope_logs
                    .into_iter()
                    .map(|s| {
                        scope_group(s.scope, s.log_records.into_iter().map(from_log).collect())
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn from_log(r: pl::LogRecord) -> LogRecord {
    LogRecord {
        time_unix_nano: r.time_unix_nano,
        observed_time_unix_nano: r.observed_time_unix_nano,
        severity: Severity(r.severity_number),
        severity_text: r.severity_text,
        body: r.body.map(value).unwrap_or_default(),
        attributes: attributes(r.attributes),
        trace_id: trace_id(&r.trace_id),
        span_id: span_id(&r.span_id),
        flags: r.flags,
        event_name: r.event_name,
    }
}

// ---- metrics ----

fn temporality(t: Temporality) -> i32 {
    match t {
        Temporality::Unspecified => 0,
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    }
}

fn from_temporality(t: i32) -> Temporality {
    match t {
        1 => Temporality::Delta,
        2 => Temporality::Cumulative,
        _ => Temporality::Unspecified,
    }
}

fn number_point(p: &NumberPoint) -> pm::NumberDataPoint {
    pm::NumberDataPoint {
        attributes: key_values(&p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        exemplars: Vec::new(),
        flags: 0,
        value: Some(match p.value {
            Number::Int(i) => pm::number_data_point::Value::AsInt(i),
            Number::Double(d) => pm::number_data_point::Value::AsDouble(d),
        }),
    }
}

fn from_number_point(p: pm::NumberDataPoint) -> NumberPoint {
    NumberPoint {
        attributes: attributes(p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        value: match p.value {
            Some(pm::number_data_point::Value::AsInt(i)) => Number::Int(i),
            Some(pm::number_data_point::Value::AsDouble(d)) => Number::Double(d),
            None => Number::Double(f64::NAN),
        },
    }
}

fn histogram_point(p: &HistogramPoint) -> pm::HistogramDataPoint {
    pm::HistogramDataPoint {
        attributes: key_values(&p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        count: p.count,
        sum: p.sum,
        bucket_counts: p.bucket_counts.clone(),
        explicit_bounds: p.explicit_bounds.clone(),
        exemplars: Vec::new(),
        flags: 0,
        min: p.min,
        max: p.max,
    }
}

fn from_histogram_point(p: pm::HistogramDataPoint) -> HistogramPoint {
    HistogramPoint {
        attributes: attributes(p.attributes),
        start_time_unix_nano: p.start_time_unix_nano,
        time_unix_nano: p.time_unix_nano,
        count: p.count,
        sum: p.sum,
        bucket_counts: p.bucket_counts,
        explicit_bounds: p.explicit_bounds,
        min: p.min,
        max: p.max,
    }
}

fn metric(m: &Metric) -> pm::Metric {
    use pm::metric::Data;
    let data = match &m.data {
        MetricData::Gauge(points) => Some(Data::Gauge(pm::Gauge {
            data_points: points.iter().map(number_point).collect(),
        })),
        MetricData::Sum {
            monotonic,
            temporality: t,
            points,
        } => Some(Data::Sum(pm::Sum {
            data_points: points.iter().map(number_point).collect(),
            aggregation_temporality: temporality(*t),
            is_monotonic: *monotonic,
        })),
        MetricData::Histogram {
            temporality: t,
            points,
        } => Some(Data::Histogram(pm::Histogram {
            data_points: points.iter().map(histogram_point).collect(),
            aggregation_temporality: temporality(*t),
        })),
        MetricData::Unsupported { .. } => None,
    };
    pm::Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: Vec::new(),
        data,
    }
}

fn from_metric(m: pm::Metric) -> Metric {
    use pm::metric::Data;
    let data = match m.data {
        Some(Data::Gauge(g)) => {
            MetricData::Gauge(g.data_points.into_iter().map(from_number_point).collect())
        }
        Some(Data::Sum(s)) => MetricData::Sum {
            monotonic: s.is_monotonic,
            temporality: from_temporality(s.aggregation_temporality),
            points: s.data_points.into_iter().map(from_number_point).collect(),
        },
        Some(Data::Histogram(h)) => MetricData::Histogram {
            temporality: from_temporality(h.aggregation_temporality),
            points: h
                .data_points
                .into_iter()
                .map(from_histogram_point)
                .collect(),
        },
        Some(Data::ExponentialHistogram(h)) => MetricData::Unsupported {
            kind: "exponential_histogram".into(),
            points: h.data_points.len(),
        },
        Some(Data::Summary(s)) => MetricData::Unsupported {
            kind: "summary".into(),
            points: s.data_points.len(),
        },
        None => MetricData::Unsupported {
            kind: "none".into(),
            points: 0,
        },
    };
    Metric {
        name: m.name,
        description: m.description,
        unit: m.unit,
        data,
    }
}

pub(crate) fn metrics_request(batch: &Batch<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: batch
            .resources
            .iter()
            .map(|r| pm::ResourceMetrics {
                resource: resource(r),
                scope_metrics: r
                    .scopes
                    .iter()
                    .map(|s| pm::ScopeMetrics {
                        scope: scope(s),
                        metrics: s.items.iter().map(metric).collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

pub(crate) fn metrics_batch(req: ExportMetricsServiceRequest) -> Batch<Metric> {
    Batch {
        resources: req
            .resource_metrics
            .into_iter()
            .map(|r| ResourceGroup {
                attributes: resource_attributes(r.resource),
                scopes: r
                    .scope_metrics
                    .into_iter()
                    .map(|s| scope_group(s.scope, s.metrics.into_iter().map(from_metric).collect()))
                    .collect(),
            })
            .collect(),
    }
}

// ---- traces ----

fn span_kind(k: SpanKind) -> i32 {
    match k {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn from_span_kind(k: i32) -> SpanKind {
    match k {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

fn span(s: &Span) -> pt::Span {
    let code = match s.status {
        StatusCode::Unset => 0,
        StatusCode::Ok => 1,
        StatusCode::Error => 2,
    };
    pt::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: 0,
        name: s.name.clone(),
        kind: span_kind(s.kind),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: key_values(&s.attributes),
        dropped_attributes_count: 0,
        events: s
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: key_values(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: s
            .links
            .iter()
            .map(|l| pt::span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: key_values(&l.attributes),
                dropped_attributes_count: 0,
                flags: 0,
            })
            .collect(),
        dropped_links_count: 0,
        status: (code != 0 || !s.status_message.is_empty()).then(|| pt::Status {
            message: s.status_message.clone(),
            code,
        }),
    }
}

fn from_span(s: pt::Span) -> Span {
    let status = s.status.unwrap_or_default();
    Span {
        trace_id: s
            .trace_id
            .as_slice()
            .try_into()
            .map(TraceId)
            .unwrap_or_default(),
        span_id: s
            .span_id
            .as_slice()
            .try_into()
            .map(SpanId)
            .unwrap_or_default(),
        parent_span_id: span_id(&s.parent_span_id),
        trace_state: s.trace_state,
        name: s.name,
        kind: from_span_kind(s.kind),
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attributes(s.attributes),
        events: s
            .events
            .into_iter()
            .map(|e| SpanEvent {
                time_unix_nano: e.time_unix_nano,
                name: e.name,
                attributes: attributes(e.attributes),
            })
            .collect(),
        status: match status.code {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        },
        status_message: status.message,
        links: s
            .links
            .into_iter()
            .map(|l| SpanLink {
                trace_id: l
                    .trace_id
                    .as_slice()
                    .try_into()
                    .map(TraceId)
                    .unwrap_or_default(),
                span_id: l
                    .span_id
                    .as_slice()
                    .try_into()
                    .map(SpanId)
                    .unwrap_or_default(),
                trace_state: l.trace_state,
                attributes: attributes(l.attributes),
            })
            .collect(),
    }
}

pub(crate) fn traces_request(batch: &Batch<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: batch
            .resources
            .iter()
            .map(|r| pt::ResourceSpans {
                resource: resource(r),
                scope_spans: r
                    .scopes
                    .iter()
                    .map(|s| pt::ScopeSpans {
                        scope: scope(s),
                        spans: s.items.iter().map(span).collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

pub(crate) fn traces_batch(req: ExportTraceServiceRequest) -> Batch<Span> {
    Batch {
        resources: req
            .resource_spans
            .into_iter()
            .map(|r| ResourceGroup {
                attributes: resource_attributes(r.resource),
                scopes: r
                    .scope_spans
                    .into_iter()
                    .map(|s| scope_group(s.scope, s.spans.into_iter().map(from_span).collect()))
                    .collect(),
            })
            .collect(),
    }
}
