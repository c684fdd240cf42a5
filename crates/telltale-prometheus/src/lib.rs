//! Prometheus for tests: a typed HTTP API client, a strict exposition parser, and metrics
//! contracts that make a bad `/metrics` endpoint fail a test instead of a scrape.
//!
//! # Features
//!
//! - **HTTP API v1** ([`Client`]): `query` and `query_range` (GET or POST), `series`, `labels`,
//!   `label/<name>/values`, `metadata`, `targets/metadata`, `targets` (health, last error, last
//!   scrape and its duration), `rules`, `alerts`, `status/flags`, `status/runtimeinfo`
//!   (retention), `status/buildinfo`, `status/tsdb`, `/-/ready`, `/-/healthy` and the admin TSDB
//!   snapshot. The envelope is typed ([`api::Response`] with warnings and infos) and so are
//!   errors ([`ApiError`] with Prometheus' `errorType`; a proxy's HTML page is an error with its
//!   text, never a decode panic). Basic or bearer auth from files, a tenant header, and TLS with
//!   a custom CA reach Mimir, VictoriaMetrics and Grafana Cloud.
//! - **Exposition formats** ([`exposition`]): text 0.0.4 and OpenMetrics 1.0, gzip bodies,
//!   positioned errors, families grouped with their buckets, sums and counts, and a renderer.
//! - **Remote-write 1.0** ([`Client::remote_write`], [`remote_write`]): a snappy-compressed
//!   `WriteRequest` written by hand (byte for byte as prost), and [`Client::read_back`], which
//!   accounts for every sample written through the query API (found, wrong value, missing,
//!   unexpected). Round trips are exact through Prometheus 2.42 and 3 and VictoriaMetrics, which
//!   keeps about 12 significant digits per block (1e-9 beside 1e15 reads back as 0).
//! - **Scraping** ([`scrape()`]): sends Prometheus 3's `Accept` header and judges the answer's
//!   `Content-Type` as Prometheus 3 does ([`ContentTypeCheck`]), since it refuses blank and
//!   malformed ones.
//! - **Metrics contracts** ([`MetricsContract`]), in Rust or TOML: required families, types,
//!   labels and allowed values, a cardinality budget, the naming lints of
//!   `promtool check metrics` (checked against promtool 2.42 itself), and a privacy scan that
//!   flags IP addresses, e-mail addresses, UUIDs and long hex or base58 identifiers in label
//!   values.
//!
//! # A metrics contract for a Rocket backend
//!
//! An app-side test scrapes the app's `/metrics` (here a string stands in for the scrape) and
//! checks it against the contract the team agreed on:
//!
//! ```
//! use telltale_prometheus::exposition::{parse, Format};
//! use telltale_prometheus::{FamilyRule, FindingKind, MetricsContract, PiiKind};
//!
//! let contract = MetricsContract::new()
//!     .family(
//!         FamilyRule::counter("http_requests_total")
//!             .labels(["method", "route", "status"])
//!             .allow("method", ["GET", "POST", "PUT", "DELETE"])
//!             .max_series(200),
//!     )
//!     .family(FamilyRule::histogram("http_request_duration_seconds").unit("seconds").labels(["route"]))
//!     .default_max_series(500);
//!
//! // What a fairing that counts requests per route might expose. One line carries the client's
//! // address: a privacy leak, and one series per client.
//! let body = r#"# HELP http_requests_total Requests.
//! ## TYPE http_requests_total counter
//! http_requests_total{method="GET",route="/api/items",status="200"} 7
//! http_requests_total{method="GET",route="/api/items",status="200",client="203.0.113.9"} 1
//! ## HELP http_request_duration_seconds Latency.
//! ## TYPE http_request_duration_seconds histogram
//! http_request_duration_seconds_bucket{route="/api/items",le="0.1"} 8
//! http_request_duration_seconds_bucket{route="/api/items",le="+Inf"} 8
//! http_request_duration_seconds_sum{route="/api/items"} 0.2
//! http_request_duration_seconds_count{route="/api/items"} 8
//! "#;
//! let report = contract.check(&parse(body, Format::Text004)?);
//! assert!(!report.is_ok());
//! assert!(report.errors().any(|f| f.kind == FindingKind::Privacy { label: "client".into(), kind: PiiKind::Ipv4 }));
//! // In a real test: `report.assert_ok()` panics with the whole report.
//! # Ok::<(), telltale_prometheus::Error>(())
//! ```
//!
//! The same contract as TOML (`MetricsContract::from_toml_file`) is in
//! `fixtures/prometheus/contracts/be-platform.toml`.
//!
//! # Measured parsing speed
//!
//! `cargo bench -p telltale-prometheus --bench parse`, one thread on the project's 2-vCPU AMD
//! EPYC VM (shared with other builds, so absolute numbers are noisy), with `prometheus-parse`
//! 0.2 on the same input in the same run:
//!
//! | input | this crate | `prometheus-parse` | ratio |
//! |---|---|---|---|
//! | node_exporter 1.5.0 recording (507 samples) | 242 µs, 2.09 M samples/s | 881 µs, 575 k/s | 3.6× |
//! | synthetic, 300 families, 2 220 samples | 1.00 ms, 2.21 M/s | 3.29 ms, 674 k/s | 3.3× |
//! | synthetic, 51 100 samples | 30.9 ms, 1.65 M/s | 72.9 ms, 701 k/s | 2.4× |
//!
//! `prometheus-parse` also gets label values with `,`, `=` or escapes wrong
//! (`tests/exposition_*.rs` show where); this parser is checked against the OpenMetrics
//! conformance suite (211 cases, one documented deviation; see `tests/exposition_conformance.rs`).
//!
//! # Measured ingest speed
//!
//! `cargo bench -p telltale-prometheus --bench remote_write` (VictoriaMetrics single-node from
//! `VICTORIA_METRICS_BIN`, 10,000 samples per request, encoding included, same shared VM as
//! above, so ranges are wide):
//!
//! | path | median estimate | samples/s | ratio |
//! |---|---|---|---|
//! | this crate's remote-write (protobuf + snappy) | 15.6 ms | 643 k | 1.14× |
//! | VictoriaMetrics `/api/v1/import` (JSON lines, its native import) | 17.7 ms | 565 k | 1 (anchor) |
//! | VictoriaMetrics `/api/v1/import/prometheus` (text) | 28.6 ms | 349 k | 0.62× |
//!
//! # Verified against
//!
//! The API client's live tests start Prometheus 2.42.0 (Debian bookworm) and 3.5.3 (Debian
//! unstable), node_exporter 1.5.0 and VictoriaMetrics 1.145.0 on loopback, scrape an exporter
//! the test serves, and read its values back; CI runs them (`.ci/run`). On Prometheus 3 a target
//! with no `Content-Type` is down, as [`ContentTypeCheck`] predicts.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod api;
pub mod contract;
mod error;
pub mod exposition;
pub mod remote_write;
pub mod scrape;

pub use crate::api::{parse_duration, Client, ClientBuilder, QueryOptions, TargetState};
pub use crate::contract::{
    ContractReport, FamilyRule, Finding, FindingKind, MetricsContract, PiiKind, Severity,
};
pub use crate::error::{ApiError, ApiErrorType, Error};
pub use crate::remote_write::{ReadBack, WriteSample, WriteSeries};
pub use crate::scrape::{scrape, ContentTypeCheck, Scrape, ScrapeOptions};
pub use telltale_http::{Auth, RetryPolicy, Secret};
