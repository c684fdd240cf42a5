//! An OTLP client for delivery tests: synthetic logs, metrics and traces tagged with a run id
//! and a sequence number, sent over OTLP/HTTP (protobuf or JSON, optionally gzip) or OTLP/gRPC,
//! with the specification's response handling.
//!
//! # Features
//!
//! - **Record types of its own** ([`LogRecord`], [`Metric`] with counter/sum, gauge and
//!   histogram data, [`Span`]), grouped by resource and scope in a [`Batch`]. The
//!   `opentelemetry-proto` messages behind them stay internal.
//! - **Run tags**: [`Synth`] numbers every log record, data point and span with
//!   `telltale.run = <run>` and `telltale.seq = <n>` (keys configurable with [`RunTag`]), so a
//!   harness can find each one again. Loki stores record attributes as structured metadata and
//!   Prometheus-style receivers turn data-point attributes into labels, both with dots replaced
//!   by underscores ([`RunTag::label_name`]): query `telltale_run="…"`.
//! - **Encoding**: [`encode`] / [`decode`] / [`decode_http_body`] for protobuf and the OTLP/JSON
//!   mapping (hex trace and span ids, 64-bit integers as strings, enums as numbers), [`gzip`].
//!   `opentelemetry-proto`'s `with-serde` (0.33) gets most of the mapping right; two gaps are
//!   worked around here: it writes unset optional fields as `null` (left out here), and it
//!   writes and reads the `partial_success` counts as JSON numbers, where the mapping says
//!   strings (responses are written and read by hand, taking both). JSON doubles round-trip
//!   exactly (`serde_json/float_roundtrip`).
//! - **OTLP/HTTP** ([`Client`]): per-signal paths (Loki `/otlp/v1/logs`, VictoriaMetrics
//!   `/opentelemetry/v1/metrics`), auth, headers, CA files, timeouts from `telltale-http`.
//! - **OTLP/gRPC** ([`GrpcClient`], tonic): gzip, request metadata; plaintext only.
//! - **Tempo read-back** ([`TempoClient`]): a trace by id through API v1 or v2, as protobuf or
//!   Tempo's JSON (base64 ids, enum names), and TraceQL search, decoded into [`Span`]s.
//! - **Responses per the specification**: `partial_success` (rejected log records, data points
//!   or spans, and the message) is reported in the [`ExportReport`] and the rejected part is
//!   never resent. HTTP 429, 502, 503, 504 (and transport failures) are retried with
//!   [`RetryPolicy`] honouring `Retry-After`; 400 and every other status fail at once. Error
//!   bodies are decoded as `google.rpc.Status` (protobuf or JSON; Loki sends protobuf as
//!   `application/octet-stream`), falling back to the text proxies send. gRPC codes are
//!   retried as the specification lists them (`UNAVAILABLE`, `CANCELLED`,
//!   `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` only
//!   with `RetryInfo`, whose delay is honoured).
//!
//! # Example
//!
//! ```no_run
//! use telltale_otlp::{Client, RunTag, SignalKind, Synth};
//!
//! # async fn run() -> Result<(), telltale_otlp::Error> {
//! let loki = Client::builder("http://127.0.0.1:3100")
//!     .path(SignalKind::Logs, "/otlp/v1/logs")
//!     .build()?;
//! let mut synth = Synth::new(RunTag::new("r-42"), "checkout");
//! let report = loki.export(&synth.logs(100)).await?;
//! assert_eq!(report.accepted(), 100);
//! // Read back with: {service_name="checkout"} | telltale_run="r-42"
//! # Ok(()) }
//! ```
//!
//! # How receivers name what arrives
//!
//! Checked against the real servers below:
//!
//! - **Loki 3.5** (`POST /otlp/v1/logs`, protobuf and JSON, gzip): `service.name` becomes the
//!   `service_name` index label (with Loki's other default resource labels such as
//!   `deployment_environment`); log attributes and the remaining resource attributes become
//!   structured metadata with `.` → `_` (`telltale_run`, `telltale_seq`), next to `trace_id`,
//!   `span_id`, `severity_text`, `severity_number`, `scope_name`. Success is `204` with no body;
//!   a refused record is a `400` whose body is a protobuf `google.rpc.Status`; an empty request
//!   is `422`.
//! - **VictoriaMetrics 1.145** (`POST /opentelemetry/v1/metrics`): protobuf only (a JSON body
//!   is a `400`), gzip accepted. By default names and labels keep their dots
//!   (`tt.requests{telltale.run=…, service.name=…, scope.name=…}`); with
//!   `-opentelemetry.usePrometheusNaming` they follow Prometheus: `tt_requests_total`,
//!   `tt_latency_seconds_bucket{le=…}`, `telltale_run`, `service_name`. Resource attributes
//!   become labels either way.
//!
//! # What was verified, and how
//!
//! - Against **real receivers** started or named by the live tests: VictoriaMetrics 1.145.0
//!   from Debian unstable (`tests/victoria_metrics.rs`, `VICTORIA_METRICS_BIN`: counters, sums,
//!   gauges, histograms as protobuf and gzip, found by PromQL in both naming modes; JSON
//!   refused) and Loki 3.5.12 (`tests/loki.rs`, `LOKI_URL`: protobuf, JSON and gzip logs read
//!   back by run id with every sequence number; its 400, 404 and 422 answers).
//! - The path applications use (`tests/sdk_export.rs`): `tracing` → `tracing-opentelemetry`
//!   0.34 / `opentelemetry-appender-tracing` 0.33 → SDK 0.33 → `opentelemetry-otlp` 0.33 HTTP
//!   exporter with its default blocking reqwest client, proven by what arrived at
//!   VictoriaMetrics (metrics) and Loki (logs), and at an in-process receiver (traces).
//! - Decoding of bodies other SDKs sent: Python 1.45.2 and Node 2.12.1 (`fixtures/otlp/`).
//! - Traces against **Tempo 3.1.0-dev** (main @ad33aa8f): OTLP/HTTP protobuf export into its
//!   own receiver and through a Grafana Agent (flow, @729ce056) `otlphttp` exporter, read back
//!   by id through API v1 and v2 in protobuf and JSON and by TraceQL search, every attribute
//!   type, event and link intact (`telltale`'s `otlp-traces-to-tempo` tests; answers in
//!   `fixtures/tempo/3.1.0-dev/`).
//! - **Not run against a real receiver here**: the gRPC client (no
//!   collector, Alloy or Tempo on the development machine when it was written). They were tested against
//!   in-process receivers only, for their retry and error behaviour; the NixOS VM tests
//!   exercise them through Alloy.
//!
//! # Measured throughput
//!
//! `cargo bench -p telltale-otlp --bench encode`, one thread on a 2-vCPU AMD EPYC VM shared
//! with other builds (so figures are noisy), 1000 records per batch, conversion from this
//! crate's types included: log records 1.41 million/s as protobuf (196 B each), 1.0 million/s
//! as protobuf + gzip (16 B each), 64 000/s as JSON (495 B each); metric data points 1.63
//! million/s as protobuf (121 B each), 1.37 million/s with gzip, 228 000/s as JSON.
//!
//! # Limitations
//!
//! - Exemplars, exponential histograms and summaries are not modelled: decoding keeps the
//!   count of points of the last two ([`MetricData::Unsupported`]) and drops exemplars.
//! - gRPC is plaintext only and takes tokens as metadata ([`GrpcClientBuilder::header`]), not
//!   as [`Auth`]; a connection failure shows as gRPC `UNAVAILABLE`.
//! - Each [`Synth`] data point carries its sequence number as a label, so every point is a new
//!   series in Prometheus-style stores: fine for delivery tests, not for load tests of
//!   cardinality.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod client;
mod codec;
mod convert;
mod error;
#[cfg(test)]
mod fixture_tests;
mod grpc;
mod model;
#[cfg(test)]
mod roundtrip_tests;
mod synth;
mod tempo;

pub use crate::client::{Client, ClientBuilder, ExportReport};
pub use crate::codec::{
    decode, decode_http_body, encode, encode_response, encode_status, gunzip, gzip, Compression,
    Encoding, PartialSuccess, Signal, SignalKind,
};
pub use crate::error::{ApiError, Error, ErrorKind, Status};
pub use crate::grpc::{GrpcClient, GrpcClientBuilder};
pub use crate::model::{
    attribute, Attributes, Batch, HistogramPoint, LogRecord, Metric, MetricData, Number,
    NumberPoint, ResourceGroup, ScopeGroup, Severity, Span, SpanEvent, SpanId, SpanKind, SpanLink,
    StatusCode, Temporality, TraceId, Value,
};
pub use crate::synth::{
    every_type, now_unix_nano, RunTag, Synth, DEFAULT_RUN_KEY, DEFAULT_SEQ_KEY,
};
pub use crate::tempo::{
    decode_search, decode_trace, FoundSpan, FoundSpanSet, FoundTrace, RawAnswer, SearchResult,
    TempoClient, TempoClientBuilder, TraceFormat,
};
pub use telltale_http::{Auth, RetryPolicy, Secret};
