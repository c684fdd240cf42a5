//! Grafana Faro for tests: the payload model Alloy's `faro.receiver` accepts and the
//! `@grafana/faro-web-sdk` sends, synthetic payloads tagged so a harness can find them in Loki,
//! the exact logfmt lines Alloy writes to Loki for them, and a client for `POST /collect`.
//!
//! # Features
//!
//! - **Payload model** ([`Payload`], [`Meta`], [`Log`], [`Exception`] with [`Frame`]s,
//!   [`Measurement`], [`Event`], [`Traces`] as opaque OTLP/JSON with [`Traces::spans`]). Field
//!   types are those of Alloy's Go structs (`payload.go`): strings where Go has strings (so
//!   `browser.viewportWidth` is `"1280"`, not `1280`), integer frame positions, RFC 3339
//!   [`Timestamp`]s. Fields Alloy does not know are kept in [`UnknownFields`] and written back,
//!   so a payload survives a read→write round trip.
//! - **Decoding as the receiver decodes** ([`Payload::from_json`]): a document refused here
//!   is one `faro.receiver` answers 400 (a number in a string field, a timestamp that is not
//!   RFC 3339, a fractional `lineno`), with the path of the offending field in
//!   [`Error::Decode`]. Go's leniencies are mirrored: unknown fields and `null`s are accepted,
//!   field names match case-insensitively.
//! - **Encoding** ([`Payload::to_json`]) by hand, as `JSON.stringify` would write it.
//! - **Synthetic payloads** ([`PayloadBuilder`]): the run id goes into
//!   `meta.session.attributes` and, with a sequence number, into every item's `context` (events:
//!   `attributes`). See [`RUN_ID_KEY`], [`SEQ_KEY`] and [`run_and_seq`].
//! - **Alloy's Loki lines** ([`Payload::loki_lines`], [`LokiLine::line`],
//!   [`LokiLine::labels`]): one logfmt line per log, exception, measurement and event, byte for
//!   byte as Alloy builds it (`payload.go` `KeyVal` functions, `exporters.go`, `go-logfmt`),
//!   with the labels `extra_log_labels` yields, per release ([`AlloyVersion`]: Alloy 1.5, 1.12+,
//!   and the Grafana Agent's `app_agent_receiver`, which writes fewer keys). The keys are listed
//!   below.
//! - **Finding items again** ([`item_tag`], [`item_seq`], [`parse_logfmt`], [`compare`]): an
//!   item is recognised by its run id and sequence number wherever a receiver put them, then
//!   compared field by field with each release's rendering, so a format change is a content
//!   finding, never a loss. [`AlloyVersion::from_build_info`] maps a receiver's self-reported
//!   `agent_build_info`/`alloy_build_info` to the release to expect.
//! - **Client** ([`Client`]): `POST <base>/collect` with `X-API-Key` ([`ApiKey`]), and a CORS
//!   preflight ([`Client::preflight`]). A 2xx is
//!   success (Alloy: 202 `ok`); 400, 401 and 413 are typed errors ([`ErrorKind`]) and never
//!   retried; 429 (and 502/503/504) are retried by [`RetryPolicy`], honouring `Retry-After` when a
//!   proxy sends one (Alloy itself never does). Bodies over [`DEFAULT_MAX_PAYLOAD_SIZE`]
//!   (5 MiB, the receiver's default `max_allowed_payload_size`) are refused before sending
//!   with [`Error::PayloadTooLarge`].
//!
//! # The receiver's answers
//!
//! From Alloy's `handler.go` and `server.go` (v1.5.1): `POST /collect` checks, in this order,
//! the rate limit (429, `rate_limiting`, 50 requests/s with a burst of 100 by default), the API
//! key in `X-API-Key` when `api_key` is set (401 `API key not provided or incorrect`), the
//! `Content-Length` against `max_allowed_payload_size` (413), then decodes the JSON (400 with
//! Go's error text), hands the payload to its exporters and answers 202 `ok` whatever they do.
//! From 1.12 the body is decoded before the key and size checks, so a malformed body with a
//! wrong key gets 400 rather than 401. Errors are plain text from Go's `http.Error`, with no
//! `Retry-After`. `GET /-/ready` answers 200 `ready`. This client always sends a
//! `Content-Length`.
//!
//! # The lines in Loki
//!
//! `faro.receiver` turns each item into one logfmt line; Loki stamps it with the time Alloy
//! received the payload, never the item's `timestamp`. Labels come only from the component's
//! `extra_log_labels` (an empty value takes the line's field of that name, e.g. `kind`). Keys,
//! in order:
//!
//! | item | keys |
//! |---|---|
//! | log | `timestamp kind=log message level context_<k>… traceID spanID` |
//! | exception | `timestamp kind=exception type value stacktrace hash context_<k>… traceID spanID` |
//! | measurement | `timestamp kind=measurement type <k>=%f… traceID spanID context_<k>… value_<k>=%v…` |
//! | event | `timestamp kind=event event_name event_domain event_data_<k>… traceID spanID` |
//!
//! followed on every line by the meta keys `sdk_name sdk_version sdk_integrations app_name
//! app_namespace app_release app_version app_environment user_email user_id user_username
//! user_attr_<k>… session_id session_attr_<k>… page_id page_url page_attr_<k>… browser_name
//! browser_version browser_os browser_mobile browser_userAgent browser_language
//! browser_viewportWidth browser_viewportHeight view_name`. Empty values are left out
//! (`browser_mobile` is always there). `timestamp` is Go's `Time.String()` of the item's time
//! (`2021-09-30 10:46:17.68 +0000 UTC`), `hash` the xxh3 hash of the exception's value,
//! `stacktrace` is `type: value` plus `\n  at function (file:line:col)` per frame. Traces go to
//! Alloy's `output.traces`, never to Loki. A builder payload is found with, for example,
//! `{source="pwa-faro"} |= "session_attr_telltale_run=r-42"` and read item by item with
//! [`run_and_seq`].
//!
//! # Example
//!
//! ```no_run
//! use telltale_faro::{AlloyVersion, ApiKey, Client, LogLevel, PayloadBuilder};
//!
//! # async fn run() -> Result<(), telltale_faro::Error> {
//! let client = Client::builder("http://127.0.0.1:12347")
//!     .api_key(ApiKey::from_file("/run/secrets/faro-api-key")?)
//!     .build()?;
//! let mut builder = PayloadBuilder::new("r-42")?;
//! builder.log(LogLevel::Info, "checkout started");
//! builder.exception("TypeError", "x is undefined", Vec::new());
//! let payload = builder.take();
//! let report = client.send(&payload).await?;
//! assert_eq!(report.status, 202);
//! // What to expect in Loki, line for line (timestamps aside, which Loki sets on receipt):
//! for line in payload.loki_lines(AlloyVersion::V1_5) {
//!     println!("{}", line.line().unwrap_or_default());
//! }
//! # Ok(()) }
//! ```
//!
//! # Why the client does not gzip by default
//!
//! Alloy up to 1.16 (the stack pins 1.5) hands the raw request body to Go's JSON decoder
//! without looking at `Content-Encoding`, so a gzip body is answered 400 (`invalid character
//! '\x1f' looking for beginning of value`). Alloy 1.17 added gzip support (grafana/alloy#6195).
//! [`Compression::Gzip`] is there for those releases, as the web SDK's `requestCompression`
//! option is; the 5 MiB check then applies to the compressed size, which is what the receiver
//! compares `Content-Length` against.
//!
//! # What was verified, and how
//!
//! - **Decoding real SDK output.** `fixtures/faro/web-sdk-2.12.1/` holds payloads that
//!   `@grafana/faro-web-sdk` 2.12.1 (with `@grafana/faro-web-tracing` 2.12.1) sent from Debian's
//!   headless Chromium 156: one item per request, batched, and gzip-compressed
//!   (`requestCompression: true`). The tests decode all of them, check their contents, and
//!   check that they re-encode with every unknown field intact. The folder's README has the
//!   commands.
//! - **Alloy's lines.** The logfmt renderer is tested against the expected lines in Alloy's own
//!   tests (`exporters_test.go`, `receiver_test.go`), and its Go formatting (`%f`, `%v`,
//!   `Time.String()`, `go-logfmt` quoting) against Go's outputs.
//! - **Differential runs (by hand, 2026-11-22, not part of CI).** 100 000 random payloads
//!   (nasty strings with quotes, `=`, control characters, U+FFFD, astral characters; extreme
//!   floats and integers; every timestamp form), half of them mutated (wrong JSON types,
//!   re-cased keys, malformed timestamps), were fed to this crate and to a Go program holding
//!   Alloy 1.5.1's `payload.go` structs and `KeyVal` functions, its exporter's merge and
//!   `transformException`, and `go-logfmt` 0.6.0, built with Debian's Go 1.19. Acceptance agreed
//!   on every document except 20 with a `+25:00` offset, which Go 1.19 accepts and newer Go
//!   refuses, as this crate does (Go 1.21.13 still accepts it: see Limitations); the 259 106 lines of the
//!   accepted ones were identical byte for byte (the xxh3 `hash` field aside: no Go xxh3 was at
//!   hand; the hash is checked against Alloy's expected value). The JSON encoder's output
//!   matched Node.js 20's `JSON.stringify` byte for byte on the 5 499 of 10 000 random payloads
//!   JavaScript can represent exactly, and its number spelling matched `String(n)` on 199 982
//!   random floats.
//! - **Against a real receiver (2026-12-04).** Alloy is not packaged here and cannot be built
//!   offline, but its predecessor can: the Grafana Agent's `app_agent_receiver` (static mode,
//!   grafana/agent@729ce056, `main-729ce05`, Go 1.21.13), same payload model, same logfmt lines.
//!   [`AlloyVersion::Agent`] renders the 33 lines it wrote for 20 recorded bodies byte for byte
//!   (`fixtures/faro/agent-main-729ce05/`, checked in CI); `tests/receiver.rs` (live, with
//!   `FARO_*_RECEIVER_URL`) sends 257 bodies (every web-SDK fixture, builder payloads of every
//!   kind, malformed ones, 200 seeded mutations) to it and to [`Payload::from_json_for`]: both
//!   accept or both refuse, naming the same field (3 056 bodies agreed in a longer run by hand),
//!   and checks its 401, CORS, 413 and 429 answers. Alloy's own `faro.receiver` is left to the
//!   NixOS VM test.
//!
//! # Measured throughput
//!
//! `cargo bench -p telltale-faro --bench encode`, one thread on a 2-vCPU AMD EPYC VM (the
//! project's CI machine kind), 2026-11-22, with other builds sharing the machine (load average
//! about 2), so these are floors. The payload mixes logs, exceptions with 8 frames,
//! measurements and events, about 380 bytes of JSON per item, under the web SDK's usual meta:
//!
//! | operation | 10 items per payload | 500 items per payload |
//! |---|---|---|
//! | [`Payload::to_json`] (the client's hot path) | 2.3 M items/s | 3.1 M items/s (1.2 GB/s) |
//! | `to_json` + gzip ([`Compression::Gzip`]) | 0.39 M items/s | 1.06 M items/s |
//! | [`Payload::loki_lines`] + [`LokiLine::line`] | 0.31 M lines/s | 0.32 M lines/s |
//! | [`Payload::from_json`] | 0.28 M items/s | 0.32 M items/s |
//!
//! A receiver at its default rate limit (50 requests/s) takes a few thousand items a second,
//! so encoding is never the bottleneck.
//!
//! # Limitations
//!
//! - Go reads invalid UTF-8 and lone surrogate escapes (`"\ud800"`) as U+FFFD; this crate's
//!   JSON reader refuses them, so such a body decodes in Alloy but not here.
//! - Go's decoder reads only the first JSON value of a body and ignores what follows; this
//!   crate refuses trailing text.
//! - `traces` is checked as the receiver's OTLP/JSON reader checks member types and ids
//!   (`otlp_json.rs`, compared with the Agent's reader); values it reads without complaint but
//!   a later stage might refuse are not looked at.
//! - The Agent (built with Go 1.21) accepts a timestamp offset beyond ±24 h (`+25:00`); this
//!   crate refuses it, as newer Go does (checked 2026-12-04: Go 1.21.13's `time.Time`
//!   `UnmarshalJSON` accepts it, Go 1.26.10's refuses it, `time zone offset hour out of range`).
//! - A field name that matches a known field only case-insensitively (`"Message"`) is read as
//!   that field, as Go does, and written back in its canonical spelling.
//! - [`LokiLine`] assumes the receiver's local time zone is UTC (it matters only for
//!   timestamps with a zero offset written `+00:00`), and that no source map resolves the
//!   exception frames (builder frames use non-`http` filenames, which Alloy never fetches).
//! - Alloy 1.12 and later can write JSON lines (`log_format = "json"`); only logfmt is
//!   rendered.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod alloy;
mod builder;
mod client;
mod decode;
mod encode;
mod error;
#[cfg(test)]
mod fixture_tests;
mod model;
mod num;
mod otlp_json;
mod recognise;
mod timestamp;

pub use crate::alloy::{AlloyVersion, ItemKind, LokiLine};
pub use crate::builder::{run_and_seq, PayloadBuilder, RUN_ID_KEY, SEQ_KEY};
pub use crate::client::{
    ApiKey, Client, ClientBuilder, Compression, Preflight, SendReport, DEFAULT_MAX_PAYLOAD_SIZE,
};
pub use crate::error::{ApiError, Error, ErrorKind};
pub use crate::model::{
    App, Browser, Event, Exception, Frame, Log, LogLevel, Measurement, Meta, Page, Payload, Sdk,
    SdkIntegration, Session, Span, Stacktrace, TraceContext, Traces, UnknownFields, User, View,
};
pub use crate::recognise::{compare, item_seq, item_tag, parse_logfmt, ItemTag, LineMatch};
pub use crate::timestamp::Timestamp;
pub use telltale_http::{Auth, RetryPolicy, Secret};

impl Payload {
    /// Reads a `POST /collect` body (uncompressed JSON) as `faro.receiver` would; see the crate
    /// docs for the few differences.
    pub fn from_json(body: &[u8]) -> Result<Payload, Error> {
        decode::decode(body)
    }

    /// Reads a body as the given receiver release would: as [`Payload::from_json`], except that
    /// for [`AlloyVersion::Agent`] the fields its smaller structs do not name (exceptions'
    /// `context`, measurements' `type` and `context`, `meta.app.namespace`, the browser's
    /// `userAgent`, `language` and viewport) are ignored whatever their type, as Go ignores
    /// them, and left out of the result.
    pub fn from_json_for(body: &[u8], version: AlloyVersion) -> Result<Payload, Error> {
        decode::decode_for(body, version)
    }

    /// The payload as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.item_count() * 256);
        encode::encode_into(self, &mut out);
        out
    }

    /// Appends the payload's JSON to `out` (to reuse a buffer).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        encode::encode_into(self, out);
    }

    /// The Loki lines the given Alloy release writes for this payload: logs, exceptions,
    /// measurements, events, in that order.
    pub fn loki_lines(&self, version: AlloyVersion) -> Vec<LokiLine> {
        alloy::loki_lines(self, version)
    }
}
