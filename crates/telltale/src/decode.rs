//! `telltale decode`: reads one payload of a pipeline (Sentry envelope or event, Faro, OTLP,
//! Prometheus exposition, Loki push) with the same decoders the checks use, and prints it as
//! normalised JSON, for humans debugging a pipeline and for tests.

use serde_json::{json, Map, Value};

/// The kinds of payload `decode` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// A Sentry envelope (`/api/<id>/envelope/`).
    SentryEnvelope,
    /// A Sentry event as the legacy store endpoint takes it (JSON).
    SentryEvent,
    /// A Faro payload (`/collect`).
    Faro,
    /// OTLP logs (`/v1/logs`).
    OtlpLogs,
    /// OTLP metrics (`/v1/metrics`).
    OtlpMetrics,
    /// OTLP traces (`/v1/traces`).
    OtlpTraces,
    /// A trace as Tempo answers `/api/traces/<id>` (protobuf or its JSON, base64 ids) or
    /// `/api/v2/traces/<id>` (`{"trace": …}`), printed as OTLP/JSON.
    TempoTrace,
    /// A Tempo `/api/search` answer (TraceQL), printed with hex ids.
    TempoSearch,
    /// A pprof profile (`profile.proto`, gzipped or not), as Pyroscope's `/ingest` takes it.
    Pprof,
    /// Prometheus text format 0.0.4.
    PromText,
    /// OpenMetrics 1.0.
    Openmetrics,
    /// A Loki push in protobuf (snappy block format).
    LokiPushProto,
    /// A Loki push in JSON.
    LokiPushJson,
}

/// How the file's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BodyEncoding {
    /// Not compressed.
    Identity,
    /// gzip.
    Gzip,
    /// Brotli.
    Br,
    /// Snappy block format (Loki's protobuf pushes always are; the flag changes nothing there).
    Snappy,
}

/// OTLP's two wire forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OtlpContentType {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

/// A malformed payload: `decode` exits 1 with this message.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

fn malformed(e: impl std::fmt::Display) -> anyhow::Error {
    Malformed(e.to_string()).into()
}

/// Decompresses with gzip or brotli (the decoders that read `Content-Encoding` themselves get
/// the encoding passed instead).
fn inflate(body: &[u8], encoding: BodyEncoding) -> anyhow::Result<Vec<u8>> {
    use telltale_glitchtip::{Compression, DEFAULT_MAX_DECOMPRESSED};
    let name = match encoding {
        BodyEncoding::Identity | BodyEncoding::Snappy => return Ok(body.to_vec()),
        BodyEncoding::Gzip => "gzip",
        BodyEncoding::Br => "br",
    };
    let compression = Compression::from_content_encoding(name).map_err(malformed)?;
    compression
        .decompress(body, DEFAULT_MAX_DECOMPRESSED)
        .map_err(malformed)
}

/// Decodes `body` and returns its normalised JSON.
pub(crate) fn decode(
    kind: Kind,
    body: &[u8],
    encoding: BodyEncoding,
    content_type: Option<OtlpContentType>,
) -> anyhow::Result<Value> {
    if encoding == BodyEncoding::Snappy && kind != Kind::LokiPushProto {
        anyhow::bail!("--encoding snappy applies to loki-push-proto only");
    }
    match kind {
        Kind::SentryEnvelope => {
            let env = telltale_glitchtip::Envelope::decode(&inflate(body, encoding)?, None)
                .map_err(malformed)?;
            // The reader refuses JSON item types whose payload is not a JSON object, so a
            // payload printed as text or bytes here is one whose type is not JSON.
            let items: Vec<Value> = env
                .items()
                .iter()
                .map(|item| {
                    json!({
                        "headers": json_or_text(item.headers().to_json().as_bytes()),
                        "payload": json_or_text(item.payload()),
                    })
                })
                .collect();
            let skipped: Vec<Value> = env
                .skipped()
                .iter()
                .map(|s| json!({ "type": s.item_type, "offset": s.offset, "length": s.length }))
                .collect();
            Ok(json!({
                "headers": json_or_text(env.headers().to_json().as_bytes()),
                "items": items,
                "skipped_unknown_items": skipped,
            }))
        }
        Kind::SentryEvent => json_object(&inflate(body, encoding)?, "a sentry event"),
        Kind::Faro => {
            let payload =
                telltale_faro::Payload::from_json(&inflate(body, encoding)?).map_err(malformed)?;
            serde_json::from_slice(&payload.to_json()).map_err(malformed)
        }
        Kind::OtlpLogs => otlp::<telltale_otlp::LogRecord>(body, encoding, content_type),
        Kind::OtlpMetrics => otlp::<telltale_otlp::Metric>(body, encoding, content_type),
        Kind::OtlpTraces => otlp::<telltale_otlp::Span>(body, encoding, content_type),
        Kind::TempoTrace => tempo_trace(&inflate(body, encoding)?, content_type),
        Kind::TempoSearch => tempo_search(&inflate(body, encoding)?),
        Kind::Pprof => pprof(&inflate(body, encoding)?),
        Kind::PromText | Kind::Openmetrics => {
            use telltale_prometheus::exposition::{parse_bytes, Format};
            let format = if kind == Kind::PromText {
                Format::Text004
            } else {
                Format::OpenMetrics1
            };
            let body = inflate(body, encoding)?;
            let exposition =
                parse_bytes(&body, Some(format.content_type()), None).map_err(malformed)?;
            Ok(exposition_json(&exposition))
        }
        Kind::LokiPushProto | Kind::LokiPushJson => {
            let (content_type, body) = if kind == Kind::LokiPushProto {
                ("application/x-protobuf", inflate(body, encoding)?)
            } else {
                ("application/json", inflate(body, encoding)?)
            };
            let streams =
                telltale_loki::decode_push(&body, content_type, None).map_err(malformed)?;
            let streams: Vec<Value> = streams
                .iter()
                .map(|s| {
                    let labels: Map<String, Value> = s.labels.iter().map(|(k, v)| (k.to_owned(), json!(v))).collect();
                    let entries: Vec<Value> = s
                        .entries
                        .iter()
                        .map(|e| {
                            let meta: Map<String, Value> = e.structured_metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                            json!({ "ts": e.timestamp.unix_nanos().to_string(), "line": e.line, "structured_metadata": meta })
                        })
                        .collect();
                    json!({ "labels": labels, "entries": entries })
                })
                .collect();
            Ok(json!({ "streams": streams }))
        }
    }
}

fn otlp<T: telltale_otlp::Signal>(
    body: &[u8],
    encoding: BodyEncoding,
    content_type: Option<OtlpContentType>,
) -> anyhow::Result<Value> {
    use telltale_otlp::Encoding;
    let body = inflate(body, encoding)?;
    // Without --content-type, a body that starts like JSON is read as JSON.
    let wire = match content_type {
        Some(OtlpContentType::Json) => Encoding::Json,
        Some(OtlpContentType::Protobuf) => Encoding::Protobuf,
        None if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => Encoding::Json,
        None => Encoding::Protobuf,
    };
    let batch = telltale_otlp::decode::<T>(&body, wire).map_err(malformed)?;
    serde_json::from_slice(&telltale_otlp::encode(&batch, Encoding::Json)).map_err(malformed)
}

fn tempo_trace(body: &[u8], content_type: Option<OtlpContentType>) -> anyhow::Result<Value> {
    let json = match content_type {
        Some(OtlpContentType::Json) => true,
        Some(OtlpContentType::Protobuf) => false,
        None => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    };
    let batch = if json {
        // API v2 wraps the trace in `{"trace": …}`; v1 is the trace itself.
        let v2 = serde_json::from_slice::<Value>(body)
            .map_err(malformed)?
            .get("trace")
            .is_some();
        telltale_otlp::decode_trace(body, "application/json", v2)
    } else {
        // A v1 protobuf body is a `tempopb.Trace`; try that first, then v2's response.
        telltale_otlp::decode_trace(body, "application/protobuf", false)
            .or_else(|_| telltale_otlp::decode_trace(body, "application/protobuf", true))
    }
    .map_err(malformed)?;
    serde_json::from_slice(&telltale_otlp::encode(
        &batch,
        telltale_otlp::Encoding::Json,
    ))
    .map_err(malformed)
}

fn pprof(body: &[u8]) -> anyhow::Result<Value> {
    let p = telltale_pyroscope::decode(body).map_err(malformed)?;
    let vt = |v: &telltale_pyroscope::ValueType| json!({"type": v.kind, "unit": v.unit});
    Ok(json!({
        "sample_types": p.sample_types.iter().map(vt).collect::<Vec<_>>(),
        "period_type": p.period_type.as_ref().map(vt),
        "period": p.period,
        "time_nanos": p.time_nanos,
        "duration_nanos": p.duration_nanos,
        "comments": p.comments,
        "samples": p.samples.iter().map(|s| json!({
            "stack": s.stack,
            "values": s.values,
            "labels": s.labels.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

fn tempo_search(body: &[u8]) -> anyhow::Result<Value> {
    let found = telltale_otlp::decode_search(body).map_err(malformed)?;
    let traces: Vec<Value> = found
        .traces
        .iter()
        .map(|t| {
            json!({
                "trace_id": t.trace_id.to_string(),
                "root_service_name": t.root_service_name,
                "root_trace_name": t.root_trace_name,
                "start_time_unix_nano": t.start_time_unix_nano,
                "span_sets": t.span_sets.iter().map(|set| json!({
                    "matched": set.matched,
                    "spans": set.spans.iter().map(|s| json!({
                        "span_id": s.span_id.to_string(),
                        "name": s.name,
                        "start_time_unix_nano": s.start_time_unix_nano,
                        "duration_nanos": s.duration_nanos,
                        "attributes": s.attributes.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"traces": traces, "inspected_traces": found.inspected_traces}))
}

/// Parses `body` as one JSON object, refusing any other JSON value with the line and column
/// where it starts (serde_json positions its own syntax errors).
fn json_object(body: &[u8], what: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_slice(body).map_err(malformed)?;
    if value.is_object() {
        return Ok(value);
    }
    let at = body
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(0);
    let line = body[..at].iter().filter(|&&c| c == b'\n').count() + 1;
    let column = at
        - body[..at]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    Err(malformed(format!(
        "{what} must be a JSON object, found {} at line {line} column {column}",
        match value {
            Value::Array(_) => "an array",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        }
    )))
}

/// Parses bytes as JSON, or keeps them as text (or their size, for binary).
fn json_or_text(bytes: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => v,
        Err(_) => match std::str::from_utf8(bytes) {
            Ok(text) => json!({ "text": text }),
            Err(_) => json!({ "binary_bytes": bytes.len() }),
        },
    }
}

/// Sample values that JSON numbers cannot hold (NaN, ±Inf) are written as Prometheus spells them.
fn number(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        json!(v)
    }
}

fn exposition_json(exposition: &telltale_prometheus::exposition::Exposition) -> Value {
    let families: Vec<Value> = exposition
        .families
        .iter()
        .map(|f| {
            let samples: Vec<Value> = f
                .samples
                .iter()
                .map(|s| {
                    let labels: Map<String, Value> = s.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                    let exemplar = s.exemplar.as_ref().map(|e| {
                        let labels: Map<String, Value> = e.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                        json!({ "labels": labels, "value": number(e.value), "timestamp_ms": e.timestamp_ms })
                    });
                    json!({ "name": s.name, "labels": labels, "value": number(s.value), "timestamp_ms": s.timestamp_ms, "exemplar": exemplar })
                })
                .collect();
            json!({
                "name": f.name,
                "type": f.kind.as_str(telltale_prometheus::exposition::Format::OpenMetrics1),
                "help": f.help,
                "unit": f.unit,
                "samples": samples,
            })
        })
        .collect();
    json!({ "families": families })
}
