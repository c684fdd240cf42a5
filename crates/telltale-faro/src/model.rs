//! The Faro payload model: the shapes of Alloy's `payload.go` (`faro.receiver`), with every field
//! the receiver does not know kept, so a payload survives a read→write round trip.
//!
//! Field types follow Alloy's Go structs exactly: where Go has a `string` this model has a
//! `String` (so `browser.viewportWidth` is text, as the web SDK sends it), `int` is `i64`,
//! `float64` is `f64`, and `map[string]string` is a `BTreeMap<String, String>` (sorted, as
//! Alloy sorts keys when it writes them). Strings are `Option` so that an empty string and an
//! absent field stay apart on re-encoding; Alloy treats both alike.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::{Error, Timestamp};

/// Fields a known object carried that Alloy's structs do not name, kept in arrival order.
///
/// `faro.receiver` ignores them; this crate keeps them so that a payload re-encodes with them
/// intact (the web SDK sends several, e.g. `meta.browser.brands` and `meta.os`). Values are
/// handled as JSON text.
#[derive(Clone, Default, PartialEq)]
pub struct UnknownFields(pub(crate) Map<String, Value>);

impl UnknownFields {
    /// No unknown field.
    pub fn new() -> UnknownFields {
        UnknownFields::default()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Their names, in arrival order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A field's value as compact JSON text.
    pub fn get_json(&self, key: &str) -> Option<String> {
        self.0.get(key).map(Value::to_string)
    }

    /// A field's value if it is a JSON string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// Adds or replaces a field from JSON text (`"\"text\""`, `"[1,2]"`, `"{\"a\":true}"`).
    pub fn insert_json(&mut self, key: impl Into<String>, json: &str) -> Result<(), Error> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::invalid(format!("unknown field value is not JSON: {e}")))?;
        self.0.insert(key.into(), value);
        Ok(())
    }

    /// Removes a field; says whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.0.shift_remove(key).is_some()
    }
}

impl fmt::Debug for UnknownFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v.to_string())))
            .finish()
    }
}

/// The body of `POST /collect`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Payload {
    /// Who sent it: SDK, app, user, session, page, browser, view.
    pub meta: Meta,
    /// Log items; each becomes one Loki line with `kind=log`.
    pub logs: Vec<Log>,
    /// Exceptions; each becomes one Loki line with `kind=exception`.
    pub exceptions: Vec<Exception>,
    /// Measurements; each becomes one Loki line with `kind=measurement`.
    pub measurements: Vec<Measurement>,
    /// Events; each becomes one Loki line with `kind=event`.
    pub events: Vec<Event>,
    /// OTLP/JSON traces, forwarded by Alloy to `output.traces`, never to Loki.
    pub traces: Option<Traces>,
    /// Top-level fields Alloy does not know.
    pub unknown: UnknownFields,
}

impl Payload {
    /// An empty payload.
    pub fn new() -> Payload {
        Payload::default()
    }

    /// Logs, exceptions, measurements and events in all: the Loki lines Alloy writes for it.
    pub fn item_count(&self) -> usize {
        self.logs.len() + self.exceptions.len() + self.measurements.len() + self.events.len()
    }
}

/// `meta`: always present in Alloy's struct; sub-objects left empty are not written.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Meta {
    /// `meta.sdk`.
    pub sdk: Sdk,
    /// `meta.app`.
    pub app: App,
    /// `meta.user`.
    pub user: User,
    /// `meta.session`.
    pub session: Session,
    /// `meta.page`.
    pub page: Page,
    /// `meta.browser`.
    pub browser: Browser,
    /// `meta.view`.
    pub view: View,
    /// Fields of `meta` Alloy does not know (the web SDK sends `os`, for one).
    pub unknown: UnknownFields,
}

/// `meta.sdk`: the agent that produced the payload.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Sdk {
    /// `name`, e.g. `faro-web`.
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `integrations`.
    pub integrations: Vec<SdkIntegration>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// One entry of `meta.sdk.integrations`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SdkIntegration {
    /// `name`.
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// `meta.app`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct App {
    /// `name`.
    pub name: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `release`.
    pub release: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// `meta.user`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct User {
    /// `email`.
    pub email: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `attributes` (Loki keys `user_attr_<k>`).
    pub attributes: BTreeMap<String, String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// `meta.session`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Session {
    /// `id`.
    pub id: Option<String>,
    /// `attributes` (Loki keys `session_attr_<k>`).
    pub attributes: BTreeMap<String, String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// `meta.page`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// `id`.
    pub id: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// `attributes` (Loki keys `page_attr_<k>`).
    pub attributes: BTreeMap<String, String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// `meta.browser`. The viewport sizes are strings, as in Alloy's Go struct: a JSON number there
/// makes `faro.receiver` answer 400.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Browser {
    /// `name`.
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// `os`.
    pub os: Option<String>,
    /// `mobile`.
    pub mobile: Option<bool>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `language`.
    pub language: Option<String>,
    /// `viewportWidth`, a string such as `"1280"`.
    pub viewport_width: Option<String>,
    /// `viewportHeight`, a string such as `"720"`.
    pub viewport_height: Option<String>,
    /// Unknown fields (the web SDK sends `brands`, which Alloy does not read).
    pub unknown: UnknownFields,
}

/// `meta.view`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct View {
    /// `name`.
    pub name: Option<String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// `trace` on an item: the span it happened in.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TraceContext {
    /// `trace_id` (Loki key `traceID`).
    pub trace_id: Option<String>,
    /// `span_id` (Loki key `spanID`).
    pub span_id: Option<String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

impl TraceContext {
    /// A trace context with both ids.
    pub fn new(trace_id: impl Into<String>, span_id: impl Into<String>) -> TraceContext {
        TraceContext {
            trace_id: Some(trace_id.into()),
            span_id: Some(span_id.into()),
            unknown: UnknownFields::default(),
        }
    }
}

/// The levels the web SDK uses for [`Log::level`]. Alloy takes any string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// `trace`.
    Trace,
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `log` (the web SDK's level for `console.log`).
    Log,
    /// `warn` (what the web SDK sends; Alloy's constant says `warning`).
    Warn,
    /// `error`.
    Error,
}

impl LogLevel {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Log => "log",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// An item of `logs`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Log {
    /// `message`.
    pub message: Option<String>,
    /// `level`: any string; see [`LogLevel`] for the SDK's.
    pub level: Option<String>,
    /// `context` (Loki keys `context_<k>`).
    pub context: BTreeMap<String, String>,
    /// `timestamp`.
    pub timestamp: Option<Timestamp>,
    /// `trace`.
    pub trace: Option<TraceContext>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// One stack frame.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Frame {
    /// `function`.
    pub function: Option<String>,
    /// `module`.
    pub module: Option<String>,
    /// `filename`.
    pub filename: Option<String>,
    /// `lineno` (an integer: Alloy refuses `1.5`).
    pub lineno: Option<i64>,
    /// `colno`.
    pub colno: Option<i64>,
    /// Unknown fields (Alloy's own test data carries `in_app`).
    pub unknown: UnknownFields,
}

impl Frame {
    /// A frame at `filename:lineno:colno` in `function`.
    pub fn new(
        function: impl Into<String>,
        filename: impl Into<String>,
        lineno: i64,
        colno: i64,
    ) -> Frame {
        Frame {
            function: Some(function.into()),
            module: None,
            filename: Some(filename.into()),
            lineno: Some(lineno),
            colno: Some(colno),
            unknown: UnknownFields::default(),
        }
    }
}

/// `stacktrace` of an exception.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stacktrace {
    /// `frames`, innermost last as the SDK sends them.
    pub frames: Vec<Frame>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// An item of `exceptions`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Exception {
    /// `type`, e.g. `TypeError`.
    pub kind: Option<String>,
    /// `value`: the message. Alloy's `hash` field is the xxh3 hash of it.
    pub value: Option<String>,
    /// `stacktrace`.
    pub stacktrace: Option<Stacktrace>,
    /// `timestamp`.
    pub timestamp: Option<Timestamp>,
    /// `trace`.
    pub trace: Option<TraceContext>,
    /// `context` (Loki keys `context_<k>`).
    pub context: BTreeMap<String, String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// An item of `measurements`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Measurement {
    /// `type`, e.g. `web-vitals`.
    pub kind: Option<String>,
    /// `values` (Loki keys `<k>` and `value_<k>`).
    pub values: BTreeMap<String, f64>,
    /// `timestamp`.
    pub timestamp: Option<Timestamp>,
    /// `trace`.
    pub trace: Option<TraceContext>,
    /// `context` (Loki keys `context_<k>`).
    pub context: BTreeMap<String, String>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// An item of `events`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// `name` (Loki key `event_name`).
    pub name: Option<String>,
    /// `domain` (Loki key `event_domain`).
    pub domain: Option<String>,
    /// `attributes` (Loki keys `event_data_<k>`).
    pub attributes: BTreeMap<String, String>,
    /// `timestamp`.
    pub timestamp: Option<Timestamp>,
    /// `trace`.
    pub trace: Option<TraceContext>,
    /// Unknown fields.
    pub unknown: UnknownFields,
}

/// `traces`: OTLP/JSON `{"resourceSpans": [...]}`, kept as opaque JSON.
///
/// Alloy decodes it with the OpenTelemetry collector's `ptrace.JSONUnmarshaler` and hands it to
/// `output.traces`; it never reaches Loki. This crate checks its members' JSON types as that
/// reader does (a refusal names the member) and offers read accessors for the spans inside.
#[derive(Clone, PartialEq)]
pub struct Traces(pub(crate) Value);

impl Traces {
    /// Reads OTLP/JSON trace data.
    pub fn from_json(json: &str) -> Result<Traces, Error> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::decode("traces", format!("not JSON: {e}")))?;
        Traces::from_value(value, "traces")
    }

    pub(crate) fn from_value(value: Value, path: &str) -> Result<Traces, Error> {
        if !value.is_object() {
            return Err(Error::decode(path, "expected an OTLP/JSON object"));
        }
        crate::otlp_json::check_traces(&value, path)?;
        Ok(Traces(value))
    }

    /// The document as compact JSON text.
    pub fn to_json(&self) -> String {
        self.0.to_string()
    }

    /// Every span, in document order.
    pub fn spans(&self) -> Vec<Span> {
        let mut out = Vec::new();
        let array = |v: &Value, key: &str| -> Vec<Value> {
            v.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for rs in array(&self.0, "resourceSpans") {
            for ss in array(&rs, "scopeSpans") {
                let scope = ss
                    .get("scope")
                    .and_then(|s| s.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                for span in array(&ss, "spans") {
                    out.push(Span::read(&span, scope.clone()));
                }
            }
        }
        out
    }

    /// How many spans the document holds.
    pub fn span_count(&self) -> usize {
        self.spans().len()
    }
}

impl fmt::Debug for Traces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Traces({})", self.0)
    }
}

/// A read-only view of one OTLP span inside [`Traces`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Span {
    /// `traceId` (hex).
    pub trace_id: Option<String>,
    /// `spanId` (hex).
    pub span_id: Option<String>,
    /// `parentSpanId` (hex), if any.
    pub parent_span_id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `kind` as sent (a number such as `3` for client, or an enum name).
    pub kind: Option<String>,
    /// `startTimeUnixNano`.
    pub start_time_unix_nano: Option<String>,
    /// `endTimeUnixNano`.
    pub end_time_unix_nano: Option<String>,
    /// The instrumentation scope's name.
    pub scope: Option<String>,
    /// Attributes with scalar values, written as text (`stringValue` as is, others as JSON).
    pub attributes: BTreeMap<String, String>,
}

impl Span {
    fn read(span: &Value, scope: Option<String>) -> Span {
        let text = |key: &str| {
            span.get(key).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let mut attributes = BTreeMap::new();
        if let Some(list) = span.get("attributes").and_then(Value::as_array) {
            for attr in list {
                let Some(key) = attr.get("key").and_then(Value::as_str) else {
                    continue;
                };
                let Some(value) = attr.get("value").and_then(Value::as_object) else {
                    continue;
                };
                let shown = value.iter().next().and_then(|(_, v)| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
                    _ => None,
                });
                if let Some(shown) = shown {
                    attributes.insert(key.to_owned(), shown);
                }
            }
        }
        Span {
            trace_id: text("traceId"),
            span_id: text("spanId"),
            parent_span_id: text("parentSpanId").filter(|s| !s.is_empty()),
            name: text("name"),
            kind: text("kind"),
            start_time_unix_nano: text("startTimeUnixNano"),
            end_time_unix_nano: text("endTimeUnixNano"),
            scope,
            attributes,
        }
    }
}
