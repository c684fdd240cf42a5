//! An OTLP client for delivery tests: synthetic logs, metrics and traces tagged with a run id
//! and a sequence number, sent over OTLP/HTTP (protobuf or JSON, optionally gzip) or OTLP/gRPC,
//! with the specification's response handling.

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

pub use crate::client::{Client, ClientBuilder, ExportReport};
pub use crate::codec::{
    decode, decode_http_body, encode, encode_response, encode_status, gunzip, gzip, Compression,
    Encoding, PartialSuccess, Signal, SignalKind,
};
pub use crate::error::{ApiError, Error, ErrorKind, Status};
pub use crate::grpc::{GrpcClient, GrpcClientBuilder};
pub use crate::model::{
    attribute, Attributes, Batch, HistogramPoint, LogRecord, Metric, MetricData, Number,
    NumberPoint, ResourceGroup, ScopeGroup, Severity, Span, SpanEvent, SpanId, SpanKind,
    StatusCode, Temporality, TraceId, Value,
};
pub use crate::synth::{now_unix_nano, RunTag, Synth, DEFAULT_RUN_KEY, DEFAULT_SEQ_KEY};
pub use telltale_http::{Auth, RetryPolicy, Secret};
