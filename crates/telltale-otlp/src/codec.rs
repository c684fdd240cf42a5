//! OTLP bodies: protobuf and the OTLP/JSON mapping, gzip, the export responses
//! (`partial_success`), and the `google.rpc.Status` error body.

use std::io::{Read, Write};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use crate::convert;
use crate::model::{Batch, LogRecord, Metric, Span};
use crate::Error;

/// The body encoding of an OTLP/HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// Binary protobuf, `application/x-protobuf` (the default).
    #[default]
    Protobuf,
    /// The OTLP/JSON mapping, `application/json`: hex trace and span ids, 64-bit integers as
    /// strings, enums as numbers, lowerCamelCase keys.
    Json,
}

impl Encoding {
    /// The `Content-Type` sent for this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// The encoding a `Content-Type` names (`application/x-protobuf`, `application/protobuf`,
    /// `application/json`, parameters ignored), or `None`.
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }
}

/// Body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// None (the default).
    #[default]
    None,
    /// gzip: `Content-Encoding: gzip` over HTTP, the `gzip` message encoding over gRPC.
    Gzip,
}

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// Logs.
    Logs,
    /// Metrics.
    Metrics,
    /// Traces.
    Traces,
}

impl SignalKind {
    /// The OTLP/HTTP default path: `/v1/logs`, `/v1/metrics`, `/v1/traces`.
    pub fn default_path(self) -> &'static str {
        match self {
            SignalKind::Logs => "/v1/logs",
            SignalKind::Metrics => "/v1/metrics",
            SignalKind::Traces => "/v1/traces",
        }
    }

    /// What `partial_success` counts for this signal: log records, data points or spans.
    pub fn unit(self) -> &'static str {
        match self {
            SignalKind::Logs => "log records",
            SignalKind::Metrics => "data points",
            SignalKind::Traces => "spans",
        }
    }

    pub(crate) fn grpc_method(self) -> &'static str {
        match self {
            SignalKind::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            SignalKind::Metrics => {
                "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
            }
            SignalKind::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        }
    }
}

/// A record type that OTLP exports: [`LogRecord`], [`Metric`] or [`Span`].
///
/// Sealed: the wire messages behind it stay inside this crate.
pub trait Signal: sealed::Sealed {
    /// Which signal this is.
    const KIND: SignalKind;

    /// What `partial_success` counts in a batch: log records, metric data points, or spans.
    fn count(batch: &Batch<Self>) -> usize;
}

pub(crate) mod sealed {
    use super::*;

    /// The wire side of a [`Signal`](super::Signal).
    #[allow(unreachable_pub)]
    pub trait Sealed: Sized {
        type Request: Message
            + Default
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static;
        type Response: Message
            + Default
            + serde::Serialize
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static;
        const REQUEST_NAME: &'static str;
        /// The JSON name of the `partial_success` count.
        const REJECTED_FIELD: &'static str;
        fn request(batch: &Batch<Self>) -> Self::Request;
        fn batch(request: Self::Request) -> Batch<Self>;
        fn partial_success(response: &Self::Response) -> Option<(i64, String)>;
        fn response(rejected: i64, message: String) -> Self::Response;
    }
}

impl sealed::Sealed for LogRecord {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const REQUEST_NAME: &'static str = "ExportLogsServiceRequest";
    const REJECTED_FIELD: &'static str = "rejectedLogRecords";
    fn request(batch: &Batch<Self>) -> Self::Request {
        convert::logs_request(batch)
    }
    fn batch(request: Self::Request) -> Batch<Self> {
        convert::logs_batch(request)
    }
    fn partial_success(response: &Self::Response) -> Option<(i64, String)> {
        let p = response.partial_success.as_ref()?;
        Some((p.rejected_log_records, p.error_message.clone()))
    }
    fn response(rejected: i64, message: String) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                },
            ),
        }
    }
}

impl Signal for LogRecord {
    const KIND: SignalKind = SignalKind::Logs;
    fn count(batch: &Batch<Self>) -> usize {
        batch.len()
    }
}

impl sealed::Sealed for Metric {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    const REQUEST_NAME: &'static str = "ExportMetricsServiceRequest";
    const REJECTED_FIELD: &'static str = "rejectedDataPoints";
    fn request(batch: &Batch<Self>) -> Self::Request {
        convert::metrics_request(batch)
    }
    fn batch(request: Self::Request) -> Batch<Self> {
        convert::metrics_batch(request)
    }
    fn partial_success(response: &Self::Response) -> Option<(i64, String)> {
        let p = response.partial_success.as_ref()?;
        Some((p.rejected_data_points, p.error_message.clone()))
    }
    fn response(rejected: i64, message: String) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message,
                },
            ),
        }
    }
}

impl Signal for Metric {
    const KIND: SignalKind = SignalKind::Metrics;
    fn count(batch: &Batch<Self>) -> usize {
        batch.items().map(Metric::data_points).sum()
    }
}

impl sealed::Sealed for Span {
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const REQUEST_NAME: &'static str = "ExportTraceServiceRequest";
    const REJECTED_FIELD: &'static str = "rejectedSpans";
    fn request(batch: &Batch<Self>) -> Self::Request {
        convert::traces_request(batch)
    }
    fn batch(request: Self::Request) -> Batch<Self> {
        convert::traces_batch(request)
    }
    fn partial_success(response: &Self::Response) -> Option<(i64, String)> {
        let p = response.partial_success.as_ref()?;
        Some((p.rejected_spans, p.error_message.clone()))
    }
    fn response(rejected: i64, message: String) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                },
            ),
        }
    }
}

impl Signal for Span {
    const KIND: SignalKind = SignalKind::Traces;
    fn count(batch: &Batch<Self>) -> usize {
        batch.len()
    }
}

/// Encodes a batch as the body of an OTLP export request.
pub fn encode<T: Signal>(batch: &Batch<T>, encoding: Encoding) -> Vec<u8> {
    encode_message(&T::request(batch), encoding)
}

pub(crate) fn encode_message<M: Message + serde::Serialize>(
    msg: &M,
    encoding: Encoding,
) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => msg.encode_to_vec(),
        Encoding::Json => {
            // `with-serde` writes unset optional fields (a span's status, a histogram's sum,
            // an empty log body) as `null`; the OTLP/JSON mapping leaves them out, and not
            // every receiver's parser takes `null` for a number or an object.
            // Serializing plain data (string keys only) cannot fail.
            let mut value = serde_json::to_value(msg).unwrap_or_default();
            strip_nulls(&mut value);
            serde_json::to_vec(&value).unwrap_or_default()
        }
    }
}

fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => {
            for item in items {
                if item.is_null() {
                    // Only an empty `AnyValue` in an `ArrayValue` serializes as a null element;
                    // the mapping writes it as an empty object.
                    *item = serde_json::Value::Object(serde_json::Map::new());
                } else {
                    strip_nulls(item);
                }
            }
        }
        _ => {}
    }
}

/// Decodes the body of an OTLP export request (uncompressed).
pub fn decode<T: Signal>(body: &[u8], encoding: Encoding) -> Result<Batch<T>, Error> {
    let request: T::Request = decode_message(body, encoding, T::REQUEST_NAME)?;
    Ok(T::batch(request))
}

pub(crate) fn decode_message<M: Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
    name: &str,
) -> Result<M, Error> {
    match encoding {
        Encoding::Protobuf => M::decode(body).map_err(|e| {
            // prost names the field path but no byte; the top-level walk adds one when the
            // break is in the outer framing (a truncated body, garbage).
            let reason = match wire_break(body) {
                Some((at, what)) => format!("{e}; the top-level framing breaks at byte {at} of {}: {what}", body.len()),
                None => format!("{e} (the top-level fields are well framed: the break is inside the field named)"),
            };
            Error::decode(format!("{name} (protobuf)"), reason, body)
        }),
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| Error::decode(format!("{name} (json)"), e.to_string(), body)),
    }
}

/// Walks the top-level fields of a protobuf message and returns where their framing breaks:
/// a truncated varint, field number 0, an unknown wire type, or a length past the end.
fn wire_break(body: &[u8]) -> Option<(usize, &'static str)> {
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut at = 0;
    while at < body.len() {
        let start = at;
        let Some(key) = varint(body, &mut at) else {
            return Some((start, "a field key (varint) runs past the end"));
        };
        if key >> 3 == 0 {
            return Some((start, "field number 0"));
        }
        let size = match key & 7 {
            0 => match varint(body, &mut at) {
                Some(_) => 0,
                None => return Some((start, "a varint value runs past the end")),
            },
            1 => 8,
            2 => match varint(body, &mut at) {
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                None => return Some((start, "a length (varint) runs past the end")),
            },
            5 => 4,
            // Groups (3, 4) are not in OTLP's schema; 6 and 7 are not wire types.
            _ => return Some((start, "a wire type OTLP does not use")),
        };
        if body.len() - at < size {
            return Some((start, "the field's length runs past the end"));
        }
        at += size;
    }
    None
}

/// Decodes an OTLP/HTTP request body as a receiver gets it: the encoding from `Content-Type`,
/// gunzipped first when `Content-Encoding` is `gzip`.
pub fn decode_http_body<T: Signal>(
    body: &[u8],
    content_type: &str,
    content_encoding: Option<&str>,
) -> Result<Batch<T>, Error> {
    let encoding = Encoding::from_content_type(content_type).ok_or_else(|| {
        Error::decode(
            T::REQUEST_NAME,
            format!("unsupported content type {content_type:?}"),
            body,
        )
    })?;
    match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => decode(body, encoding),
        Some(enc) if enc.eq_ignore_ascii_case("gzip") => decode(&gunzip(body)?, encoding),
        Some(other) => Err(Error::decode(
            T::REQUEST_NAME,
            format!("unsupported content encoding {other:?}"),
            body,
        )),
    }
}

/// gzip-compresses a body.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// Decompresses a gzip body.
pub fn gunzip(body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(body.len() * 4);
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .map_err(|e| Error::decode("gzip body", e.to_string(), body))?;
    Ok(out)
}

/// Encodes the answer a receiver gives: an export response whose `partial_success` rejects
/// `rejected` items with `message` (`rejected == 0` and an empty message: full success).
/// For test receivers and fakes.
pub fn encode_response<T: Signal>(rejected: i64, message: &str, encoding: Encoding) -> Vec<u8> {
    if rejected == 0 && message.is_empty() {
        return encode_message(&T::Response::default(), encoding);
    }
    match encoding {
        Encoding::Protobuf => encode_message(&T::response(rejected, message.to_owned()), encoding),
        // `with-serde` writes the int64 count as a JSON number; the mapping wants a string.
        Encoding::Json => serde_json::to_vec(&serde_json::json!({
            "partialSuccess": {
                T::REJECTED_FIELD: rejected.to_string(),
                "errorMessage": message,
            }
        }))
        .unwrap_or_default(),
    }
}

/// What the receiver's success answer said about rejected items.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartialSuccess {
    /// Items (log records, data points or spans) the receiver rejected. Never resent.
    pub rejected: i64,
    /// The receiver's explanation; may be set with `rejected == 0` as a warning.
    pub error_message: String,
}

/// Reads a 2xx answer body. `Ok(None)`: full success (empty body, or no `partial_success`,
/// or one with zero rejected and no message). `Err(())`: the body is not a response message.
pub(crate) fn read_success<T: Signal>(
    body: &[u8],
    encoding: Encoding,
) -> Result<Option<PartialSuccess>, ()> {
    if body.is_empty() {
        return Ok(None);
    }
    match encoding {
        Encoding::Protobuf => {
            let response: T::Response =
                decode_message(body, encoding, "response").map_err(|_| ())?;
            Ok(partial(T::partial_success(&response)))
        }
        // Read by hand: the int64 count is a string in OTLP/JSON (a number from some
        // receivers), and `with-serde` only takes a number there.
        Encoding::Json => {
            let serde_json::Value::Object(root) = serde_json::from_slice(body).map_err(|_| ())?
            else {
                return Err(());
            };
            let Some(p) = root.get("partialSuccess").filter(|p| !p.is_null()) else {
                return Ok(None);
            };
            let rejected = match p.get(T::REJECTED_FIELD) {
                None | Some(serde_json::Value::Null) => 0,
                Some(serde_json::Value::Number(n)) => n.as_i64().ok_or(())?,
                Some(serde_json::Value::String(s)) => s.parse().map_err(|_| ())?,
                Some(_) => return Err(()),
            };
            let message = p
                .get("errorMessage")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned();
            Ok(partial(Some((rejected, message))))
        }
    }
}

pub(crate) fn partial(p: Option<(i64, String)>) -> Option<PartialSuccess> {
    match p {
        Some((rejected, error_message)) if rejected != 0 || !error_message.is_empty() => {
            Some(PartialSuccess {
                rejected,
                error_message,
            })
        }
        _ => None,
    }
}

// ---- google.rpc.Status ----

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub(crate) retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

pub(crate) const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    /// The `RetryInfo.retry_delay` among the details, if any.
    pub(crate) fn retry_delay(&self) -> Option<Duration> {
        self.details
            .iter()
            .filter(|d| d.type_url.ends_with("google.rpc.RetryInfo"))
            .find_map(|d| RetryInfo::decode(d.value.as_slice()).ok()?.retry_delay)
            .map(|d| {
                Duration::from_secs(d.seconds.max(0) as u64)
                    + Duration::from_nanos(d.nanos.max(0) as u64)
            })
    }

    /// Whether the details hold a `RetryInfo`.
    pub(crate) fn has_retry_info(&self) -> bool {
        self.details
            .iter()
            .any(|d| d.type_url.ends_with("google.rpc.RetryInfo"))
    }
}

/// Reads an error body: a `google.rpc.Status` when it holds one, else the text (proxies answer
/// in text or HTML). Returns the message and whether it came from a `Status`.
///
/// The specification says the `Status` comes in the request's encoding with a matching
/// `Content-Type`, but receivers differ: Loki 3.5 sends a protobuf `Status` as
/// `application/octet-stream`, even to JSON requests. So a protobuf `Status` is tried for any
/// binary or missing content type, and JSON for a JSON type or a body that opens with `{`.
pub(crate) fn read_error_body(body: &[u8], content_type: Option<&str>) -> (String, bool) {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if ct.contains("json") || looks_json {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
            if let Some(serde_json::Value::String(message)) = map.get("message") {
                return (message.clone(), true);
            }
        }
    }
    let binary = ct.is_empty() || ct.contains("protobuf") || ct.contains("octet-stream");
    if binary && !looks_json {
        if let Ok(status) = RpcStatus::decode(body) {
            if !status.message.is_empty() && (0..=16).contains(&status.code) {
                return (status.message, true);
            }
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_owned();
    (text, false)
}

/// Encodes a `google.rpc.Status` as protobuf, with a `RetryInfo` detail when `retry_delay` is
/// set: the error body of an OTLP/HTTP receiver, or the details of a gRPC status. For fakes
/// and tests.
pub fn encode_status(code: i32, message: &str, retry_delay: Option<Duration>) -> Vec<u8> {
    let details = retry_delay
        .map(|d| ProtoAny {
            type_url: RETRY_INFO_TYPE.to_owned(),
            value: RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: d.as_secs() as i64,
                    nanos: d.subsec_nanos() as i32,
                }),
            }
            .encode_to_vec(),
        })
        .into_iter()
        .collect();
    RpcStatus {
        code,
        message: message.to_owned(),
        details,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_errors_say_where_the_framing_breaks() {
        let err = |body: &[u8]| {
            decode::<crate::LogRecord>(body, Encoding::Protobuf)
                .unwrap_err()
                .to_string()
        };
        // Field 1 (resource_logs) declares 5 bytes, 2 follow.
        let e = err(b"\x0a\x05\x0a\x03");
        assert!(
            e.contains("breaks at byte 0 of 4: the field's length runs past"),
            "{e}"
        );
        // A well-framed field 1 and then wire type 7 at byte 2.
        let e = err(b"\x0a\x00\x0f");
        assert!(e.contains("breaks at byte 2 of 3: a wire type"), "{e}");
        // A key whose varint never ends.
        let e = err(b"\x0a\x00\xff");
        assert!(e.contains("breaks at byte 2 of 3: a field key"), "{e}");
        // Framing fine outside, broken inside: prost's path names the field.
        let e = err(b"\x0a\x02\x0a\x05");
        assert!(
            e.contains("resource_logs") && e.contains("well framed"),
            "{e}"
        );
    }

    #[test]
    fn content_types_map_to_encodings() {
        assert_eq!(
            Encoding::from_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::from_content_type("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
    }

    #[test]
    fn error_bodies_status_then_text() {
        let pb = encode_status(3, "timestamp out of range", None);
        assert_eq!(
            read_error_body(&pb, Some("application/x-protobuf")),
            ("timestamp out of range".into(), true)
        );
        let json = br#"{"code":8,"message":"too many requests","details":[]}"#;
        assert_eq!(
            read_error_body(json, Some("application/json")),
            ("too many requests".into(), true)
        );
        assert_eq!(
            read_error_body(b"<html>502 Bad Gateway</html>\n", Some("text/html")),
            ("<html>502 Bad Gateway</html>".into(), false)
        );
        // A proxy that claims protobuf but sends text still yields its words.
        assert_eq!(
            read_error_body(b"upstream connect error", Some("application/x-protobuf")),
            ("upstream connect error".into(), false)
        );
        // Loki 3.5.12's answer to a JSON body it cannot parse, recorded verbatim.
        let loki = b"\x12\x19proto: illegal wireType 7";
        assert_eq!(
            read_error_body(loki, Some("application/octet-stream")),
            ("proto: illegal wireType 7".into(), true)
        );
    }

    #[test]
    fn retry_info_is_read_from_status_details() {
        let body = encode_status(8, "slow down", Some(Duration::from_millis(1500)));
        let status = RpcStatus::decode(body.as_slice()).unwrap();
        assert!(status.has_retry_info());
        assert_eq!(status.retry_delay(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn responses_report_partial_success_only_when_meaningful() {
        let full = encode_response::<LogRecord>(0, "", Encoding::Protobuf);
        assert_eq!(
            read_success::<LogRecord>(&full, Encoding::Protobuf),
            Ok(None)
        );
        assert_eq!(read_success::<LogRecord>(b"", Encoding::Json), Ok(None));
        for enc in [Encoding::Protobuf, Encoding::Json] {
            let body = encode_response::<Metric>(3, "3 points too old", enc);
            assert_eq!(
                read_success::<Metric>(&body, enc),
                Ok(Some(PartialSuccess {
                    rejected: 3,
                    error_message: "3 points too old".into()
                }))
            );
        }
        let warn = encode_response::<Span>(0, "deprecated attribute", Encoding::Json);
        assert_eq!(
            read_success::<Span>(&warn, Encoding::Json)
                .unwrap()
                .unwrap()
                .rejected,
            0
        );
    }

    #[test]
    fn gzip_round_trips_and_garbage_is_an_error() {
        let body = b"hello hello hello hello".repeat(10);
        assert_eq!(gunzip(&gzip(&body)).unwrap(), body);
        assert!(matches!(gunzip(b"not gzip"), Err(Error::Decode { .. })));
    }
}
