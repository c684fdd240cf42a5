//! The Loki lines Alloy's `faro.receiver` (and, before it, the Grafana Agent's
//! `app_agent_receiver`) writes for a payload: one logfmt line per log, exception, measurement
//! and event, built exactly as `exporters.go` and `payload.go` (`KeyVal` functions) build them,
//! and written as `go-logfmt` writes them.
//!
//! Keys, in order, per item kind (empty values are left out, as `KeyValAdd` does):
//!
//! - log: `timestamp kind=log message level context_<k>… traceID spanID`
//! - exception: `timestamp kind=exception type value stacktrace hash context_<k>… traceID spanID`
//! - measurement: `timestamp kind=measurement type <k>=%f… traceID spanID context_<k>… value_<k>=%v…`
//! - event: `timestamp kind=event event_name event_domain event_data_<k>… traceID spanID`
//!
//! then the payload's meta: `sdk_name sdk_version sdk_integrations app_name app_namespace
//! app_release app_version app_environment user_email user_id user_username user_attr_<k>…
//! session_id session_attr_<k>… page_id page_url page_attr_<k>… browser_name browser_version
//! browser_os browser_mobile browser_userAgent browser_language browser_viewportWidth
//! browser_viewportHeight view_name`. Map keys are sorted bytewise. A later key equal to an
//! earlier one replaces its value in place (Alloy's ordered map).
//!
//! The Agent's `app_agent_receiver` ([`AlloyVersion::Agent`]) writes fewer keys: its exceptions
//! have no `hash` and no `context`, its measurements no `type`, `context` or `value_<k>`, and
//! its meta knows neither `app_namespace` nor the browser's `userAgent`, `language` and
//! viewport. Those fields are accepted and dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{Event, Exception, Log, Measurement, Meta, Payload, TraceContext};
use crate::timestamp::GO_ZERO_TIME;

/// Which Alloy release's behaviour to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AlloyVersion {
    /// Alloy 1.5.0 to 1.11.x (the stack pins 1.5.x): `go-logfmt` 0.6.0, and an exception that
    /// has a `stacktrace` loses its `traceID`/`spanID` on the way to Loki (its
    /// `transformException` rebuilds the exception without the trace context).
    #[default]
    V1_5,
    /// Alloy 1.12.0 and later (checked up to 1.19.0-rc.3): `go-logfmt` 0.6.1, which also
    /// quotes values containing DEL (0x7f) and drops it from keys, and exceptions keep their
    /// trace context (grafana/alloy#4664).
    V1_12,
    /// The Grafana Agent's `app_agent_receiver` integration (static mode), Faro's receiver before
    /// Alloy, as of grafana/agent@729ce056 (May 2023, `main-729ce05`): `go-logfmt` 0.6.0, no
    /// `hash`/`context` on exceptions, no `type`/`context`/`value_<k>` on measurements, a
    /// smaller meta (see the module docs). Checked against lines that receiver wrote
    /// (`fixtures/faro/agent-main-729ce05/`).
    Agent,
}

impl AlloyVersion {
    /// Every release this crate renders for.
    pub const ALL: [AlloyVersion; 3] =
        [AlloyVersion::V1_5, AlloyVersion::V1_12, AlloyVersion::Agent];

    /// A short name for reports: `alloy-1.5`, `alloy-1.12`, `agent-app_agent_receiver`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlloyVersion::V1_5 => "alloy-1.5",
            AlloyVersion::V1_12 => "alloy-1.12",
            AlloyVersion::Agent => "agent-app_agent_receiver",
        }
    }

    /// Reads a name written by [`AlloyVersion::as_str`] (also `agent`, `alloy-1.5.1`…).
    pub fn parse(name: &str) -> Option<AlloyVersion> {
        match name.trim().to_ascii_lowercase().as_str() {
            "agent" | "agent-app_agent_receiver" | "app_agent_receiver" => {
                Some(AlloyVersion::Agent)
            }
            other => {
                let version = other.strip_prefix("alloy-")?;
                AlloyVersion::from_build_info("alloy_build_info", version)
            }
        }
    }

    /// The release a receiver reports in its self-metrics: the metric's name
    /// (`agent_build_info` or `alloy_build_info`) and its `version` label (`v1.5.1`,
    /// `main-729ce05`). `None` when the version is one this crate does not know how to render
    /// for (Alloy before 1.5, an unparsable version).
    pub fn from_build_info(metric: &str, version: &str) -> Option<AlloyVersion> {
        match metric {
            // Every Grafana Agent release (static or flow mode) that has a Faro receiver has
            // the app_agent_receiver integration; flow mode never had faro.receiver.
            "agent_build_info" => Some(AlloyVersion::Agent),
            "alloy_build_info" => {
                let v = version.trim_start_matches('v');
                let mut parts = v.split(|c: char| !c.is_ascii_digit());
                let major: u32 = parts.next()?.parse().ok()?;
                let minor: u32 = parts.next()?.parse().ok()?;
                match (major, minor) {
                    (1, 5..=11) => Some(AlloyVersion::V1_5),
                    (1, m) if m >= 12 => Some(AlloyVersion::V1_12),
                    (m, _) if m >= 2 => Some(AlloyVersion::V1_12),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The four item kinds that become Loki lines (Alloy's `kind` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// `kind=log`.
    Log,
    /// `kind=exception`.
    Exception,
    /// `kind=measurement`.
    Measurement,
    /// `kind=event`.
    Event,
}

impl ItemKind {
    /// The value of Alloy's `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Log => "log",
            ItemKind::Exception => "exception",
            ItemKind::Measurement => "measurement",
            ItemKind::Event => "event",
        }
    }

    /// The Loki line key that carries an item's `context` (or, for events, `attributes`)
    /// entry `key`: `context_<key>`, or `event_data_<key>` for events.
    pub fn item_key(self, key: &str) -> String {
        match self {
            ItemKind::Event => format!("event_data_{key}"),
            _ => format!("context_{key}"),
        }
    }
}

/// One line Alloy would push to Loki for one item, before logfmt encoding.
///
/// Loki stamps it with the time Alloy received the payload, never the item's timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct LokiLine {
    version: AlloyVersion,
    kind: ItemKind,
    index: usize,
    fields: Vec<(String, String)>,
}

impl LokiLine {
    /// The Alloy release it was rendered for.
    pub fn version(&self) -> AlloyVersion {
        self.version
    }

    /// The item's kind.
    pub fn kind(&self) -> ItemKind {
        self.kind
    }

    /// The item's index within its list (`logs`, `exceptions`, …) in the payload.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The key/value pairs in Alloy's order, values as Go prints them, keys before logfmt drops
    /// the characters it cannot put in a key.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// A field's value by its (unfiltered) key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The logfmt line, byte for byte as the Alloy release the line was rendered for writes
    /// it, or `None` when `go-logfmt` would refuse the record (a key left empty once spaces,
    /// `=`, `"` and control characters are dropped, such as a measurement value named `" "`):
    /// Alloy then logs an error and the item never reaches Loki.
    pub fn line(&self) -> Option<String> {
        let del = self.version == AlloyVersion::V1_12;
        let mut out = String::with_capacity(self.fields.len() * 24);
        for (idx, (key, value)) in self.fields.iter().enumerate() {
            if idx > 0 {
                out.push(' ');
            }
            let before = out.len();
            out.extend(key.chars().filter(|&c| !invalid_key_char(c, del)));
            if out.len() == before {
                return None;
            }
            out.push('=');
            write_value(value, del, &mut out);
        }
        Some(out)
    }

    /// The Loki labels Alloy attaches, given the component's `extra_log_labels`: a label with a
    /// value is set as given; a label with an empty value takes the line's field of that name,
    /// if it has one (so `kind = ""` yields `kind="log"`).
    pub fn labels(&self, extra_log_labels: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, value) in extra_log_labels {
            if !value.is_empty() {
                out.insert((*name).to_owned(), (*value).to_owned());
            } else if let Some(v) = self.get(name) {
                out.insert((*name).to_owned(), v.to_owned());
            }
        }
        out
    }
}

fn invalid_key_char(c: char, del: bool) -> bool {
    c <= ' ' || c == '=' || c == '"' || c == '\u{fffd}' || (del && c == '\u{7f}')
}

fn write_value(value: &str, del: bool, out: &mut String) {
    if value == "null" {
        out.push_str("\"null\"");
        return;
    }
    if !value.chars().any(|c| invalid_key_char(c, del)) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{fffd}' => out.push_str("\\ufffd"),
            c if (c as u32) < 0x20 || (del && c == '\u{7f}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Alloy's ordered key/value map: setting an existing key replaces its value in place.
struct KeyVal(Vec<(String, String)>);

impl KeyVal {
    fn set(&mut self, key: String, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// `KeyValAdd`: only non-empty values.
    fn add(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.set(key.to_owned(), value.to_owned());
        }
    }

    fn add_opt(&mut self, key: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.add(key, v);
        }
    }

    fn add_map(&mut self, prefix: &str, map: &BTreeMap<String, String>) {
        for (k, v) in map {
            if !v.is_empty() {
                self.set(format!("{prefix}{k}"), v.clone());
            }
        }
    }

    fn add_trace(&mut self, trace: &Option<TraceContext>) {
        if let Some(t) = trace {
            self.add_opt("traceID", &t.trace_id);
            self.add_opt("spanID", &t.span_id);
        }
    }

    fn merge(&mut self, other: &[(String, String)]) {
        for (k, v) in other {
            self.set(k.clone(), v.clone());
        }
    }
}

fn timestamp(kv: &mut KeyVal, ts: &Option<crate::Timestamp>) {
    match ts {
        Some(ts) => kv.add("timestamp", &ts.go_string()),
        None => kv.add("timestamp", GO_ZERO_TIME),
    }
}

fn meta_fields(m: &Meta, version: AlloyVersion) -> Vec<(String, String)> {
    let agent = version == AlloyVersion::Agent;
    let mut kv = KeyVal(Vec::with_capacity(24));
    kv.add_opt("sdk_name", &m.sdk.name);
    kv.add_opt("sdk_version", &m.sdk.version);
    if !m.sdk.integrations.is_empty() {
        let joined = m
            .sdk
            .integrations
            .iter()
            .map(|i| {
                format!(
                    "{}:{}",
                    i.name.as_deref().unwrap_or(""),
                    i.version.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        kv.add("sdk_integrations", &joined);
    }
    kv.add_opt("app_name", &m.app.name);
    if !agent {
        kv.add_opt("app_namespace", &m.app.namespace);
    }
    kv.add_opt("app_release", &m.app.release);
    kv.add_opt("app_version", &m.app.version);
    kv.add_opt("app_environment", &m.app.environment);
    kv.add_opt("user_email", &m.user.email);
    kv.add_opt("user_id", &m.user.id);
    kv.add_opt("user_username", &m.user.username);
    kv.add_map("user_attr_", &m.user.attributes);
    kv.add_opt("session_id", &m.session.id);
    kv.add_map("session_attr_", &m.session.attributes);
    kv.add_opt("page_id", &m.page.id);
    kv.add_opt("page_url", &m.page.url);
    kv.add_map("page_attr_", &m.page.attributes);
    let b = &m.browser;
    kv.add_opt("browser_name", &b.name);
    kv.add_opt("browser_version", &b.version);
    kv.add_opt("browser_os", &b.os);
    kv.add(
        "browser_mobile",
        if b.mobile.unwrap_or(false) {
            "true"
        } else {
            "false"
        },
    );
    if !agent {
        kv.add_opt("browser_userAgent", &b.user_agent);
        kv.add_opt("browser_language", &b.language);
        kv.add_opt("browser_viewportWidth", &b.viewport_width);
        kv.add_opt("browser_viewportHeight", &b.viewport_height);
    }
    kv.add_opt("view_name", &m.view.name);
    kv.0
}

fn log_fields(l: &Log) -> KeyVal {
    let mut kv = KeyVal(Vec::with_capacity(32));
    timestamp(&mut kv, &l.timestamp);
    kv.add("kind", "log");
    kv.add_opt("message", &l.message);
    kv.add_opt("level", &l.level);
    kv.add_map("context_", &l.context);
    kv.add_trace(&l.trace);
    kv
}

/// `Exception.String()`: `type: value` and one `\n  at function (module|file:line:col)` per
/// frame.
fn stacktrace_text(e: &Exception) -> String {
    let mut out = format!(
        "{}: {}",
        e.kind.as_deref().unwrap_or(""),
        e.value.as_deref().unwrap_or("")
    );
    if let Some(st) = &e.stacktrace {
        for f in &st.frames {
            let module = match f.module.as_deref() {
                Some(m) if !m.is_empty() => format!("{m}|"),
                _ => String::new(),
            };
            let _ = write!(
                out,
                "\n  at {} ({module}{}:{}:{})",
                f.function.as_deref().unwrap_or(""),
                f.filename.as_deref().unwrap_or(""),
                f.lineno.unwrap_or(0),
                f.colno.unwrap_or(0)
            );
        }
    }
    out
}

fn exception_fields(e: &Exception, version: AlloyVersion) -> KeyVal {
    let mut kv = KeyVal(Vec::with_capacity(32));
    timestamp(&mut kv, &e.timestamp);
    kv.add("kind", "exception");
    kv.add_opt("type", &e.kind);
    kv.add_opt("value", &e.value);
    kv.add("stacktrace", &stacktrace_text(e));
    if version != AlloyVersion::Agent {
        let hash = xxhash_rust::xxh3::xxh3_64(e.value.as_deref().unwrap_or("").as_bytes());
        kv.add("hash", &hash.to_string());
        kv.add_map("context_", &e.context);
    }
    // Alloy before 1.12 and the Agent rebuild an exception with a stacktrace without its trace
    // context (`TransformException`).
    if version == AlloyVersion::V1_12 || e.stacktrace.is_none() {
        kv.add_trace(&e.trace);
    }
    kv
}

fn measurement_fields(m: &Measurement, version: AlloyVersion) -> KeyVal {
    let mut kv = KeyVal(Vec::with_capacity(32));
    timestamp(&mut kv, &m.timestamp);
    kv.add("kind", "measurement");
    let agent = version == AlloyVersion::Agent;
    if !agent {
        kv.add_opt("type", &m.kind);
    }
    for (k, v) in &m.values {
        kv.add(k, &crate::num::go_f6(*v));
    }
    kv.add_trace(&m.trace);
    if agent {
        return kv;
    }
    kv.add_map("context_", &m.context);
    for (k, v) in &m.values {
        kv.set(format!("value_{k}"), crate::num::go_v(*v));
    }
    kv
}

fn event_fields(e: &Event) -> KeyVal {
    let mut kv = KeyVal(Vec::with_capacity(32));
    timestamp(&mut kv, &e.timestamp);
    kv.add("kind", "event");
    kv.add_opt("event_name", &e.name);
    kv.add_opt("event_domain", &e.domain);
    kv.add_map("event_data_", &e.attributes);
    kv.add_trace(&e.trace);
    kv
}

/// The lines Alloy writes to Loki for a payload: logs, then exceptions, measurements and
/// events, in payload order. Traces never become Loki lines.
pub(crate) fn loki_lines(p: &Payload, version: AlloyVersion) -> Vec<LokiLine> {
    let meta = meta_fields(&p.meta, version);
    let mut out = Vec::with_capacity(p.item_count());
    let mut push = |kind, index, mut kv: KeyVal| {
        kv.merge(&meta);
        out.push(LokiLine {
            version,
            kind,
            index,
            fields: kv.0,
        });
    };
    for (idx, l) in p.logs.iter().enumerate() {
        push(ItemKind::Log, idx, log_fields(l));
    }
    for (idx, e) in p.exceptions.iter().enumerate() {
        push(ItemKind::Exception, idx, exception_fields(e, version));
    }
    for (idx, m) in p.measurements.iter().enumerate() {
        push(ItemKind::Measurement, idx, measurement_fields(m, version));
    }
    for (idx, e) in p.events.iter().enumerate() {
        push(ItemKind::Event, idx, event_fields(e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Frame, Stacktrace};
    use crate::Timestamp;

    fn ts() -> Option<Timestamp> {
        Some(Timestamp::parse("2021-09-30T10:46:17.680Z").unwrap())
    }

    fn trace() -> Option<TraceContext> {
        Some(TraceContext::new(
            "a363d4f4417aa83158c437febd2d8838",
            "42876ecc4c1feafa",
        ))
    }

    fn only_line(p: &Payload, version: AlloyVersion) -> String {
        let lines = loki_lines(p, version);
        assert_eq!(lines.len(), 1);
        lines[0].line().unwrap()
    }

    // The payloads and expected lines below are those of Test_LogsExporter_Export in
    // grafana/alloy internal/component/faro/receiver/exporters_test.go (main, 2026-08), whose
    // logfmt cases hold for every release since 1.5 (payload.go is unchanged since v1.5.1).

    #[test]
    fn log_line_matches_alloys_exporter_test() {
        let mut p = Payload::default();
        p.logs.push(Log {
            message: Some("React Router Future Flag Warning".into()),
            level: Some("info".into()),
            timestamp: ts(),
            trace: trace(),
            ..Log::default()
        });
        let want = r#"timestamp="2021-09-30 10:46:17.68 +0000 UTC" kind=log message="React Router Future Flag Warning" level=info traceID=a363d4f4417aa83158c437febd2d8838 spanID=42876ecc4c1feafa browser_mobile=false"#;
        assert_eq!(only_line(&p, AlloyVersion::V1_5), want);
        let lines = loki_lines(&p, AlloyVersion::V1_5);
        let labels = lines[0].labels(&[("foo", "bar"), ("kind", "")]);
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [("foo".into(), "bar".into()), ("kind".into(), "log".into())]
        );
    }

    #[test]
    fn exception_line_matches_alloys_exporter_test() {
        let mut p = Payload::default();
        p.exceptions.push(Exception {
            kind: Some("Error".into()),
            value: Some("Cannot read property 'find' of undefined".into()),
            timestamp: ts(),
            stacktrace: Some(Stacktrace {
                frames: vec![
                    Frame::new(
                        "?",
                        "http://fe:3002/static/js/vendors~main.chunk.js",
                        8639,
                        42,
                    ),
                    Frame::new(
                        "dispatchAction",
                        "http://fe:3002/static/js/vendors~main.chunk.js",
                        268095,
                        9,
                    ),
                ],
                ..Stacktrace::default()
            }),
            ..Exception::default()
        });
        let want = r#"timestamp="2021-09-30 10:46:17.68 +0000 UTC" kind=exception type=Error value="Cannot read property 'find' of undefined" stacktrace="Error: Cannot read property 'find' of undefined\n  at ? (http://fe:3002/static/js/vendors~main.chunk.js:8639:42)\n  at dispatchAction (http://fe:3002/static/js/vendors~main.chunk.js:268095:9)" hash=2735541995122471342 browser_mobile=false"#;
        assert_eq!(only_line(&p, AlloyVersion::V1_5), want);
        assert_eq!(only_line(&p, AlloyVersion::V1_12), want);
    }

    #[test]
    fn measurement_line_matches_alloys_exporter_test() {
        let mut p = Payload::default();
        let mut m = Measurement {
            kind: Some("sum".into()),
            timestamp: ts(),
            trace: trace(),
            ..Measurement::default()
        };
        m.values.extend([
            ("ttfp".to_owned(), 20.12),
            ("ttfcp".to_owned(), 22.12),
            ("ttfb".to_owned(), 14.0),
        ]);
        m.context.insert("host".into(), "localhost".into());
        p.measurements.push(m);
        let want = r#"timestamp="2021-09-30 10:46:17.68 +0000 UTC" kind=measurement type=sum ttfb=14.000000 ttfcp=22.120000 ttfp=20.120000 traceID=a363d4f4417aa83158c437febd2d8838 spanID=42876ecc4c1feafa context_host=localhost value_ttfb=14 value_ttfcp=22.12 value_ttfp=20.12 browser_mobile=false"#;
        assert_eq!(only_line(&p, AlloyVersion::V1_5), want);
    }

    #[test]
    fn event_line_matches_alloys_exporter_test() {
        let mut p = Payload::default();
        let mut e = Event {
            name: Some("click_login_button".into()),
            domain: Some("frontend".into()),
            timestamp: ts(),
            trace: trace(),
            ..Event::default()
        };
        e.attributes.insert("button_name".into(), "login".into());
        p.events.push(e);
        let want = r#"timestamp="2021-09-30 10:46:17.68 +0000 UTC" kind=event event_name=click_login_button event_domain=frontend event_data_button_name=login traceID=a363d4f4417aa83158c437febd2d8838 spanID=42876ecc4c1feafa browser_mobile=false"#;
        assert_eq!(only_line(&p, AlloyVersion::V1_5), want);
    }

    #[test]
    fn receiver_end_to_end_line_matches_alloys_component_test() {
        // receiver_test.go (v1.5.1) posts this body and expects this line and these labels.
        let body = br#"{
            "traces": {"resourceSpans": []},
            "logs": [{
                "message": "hello, world",
                "level": "info",
                "context": {"env": "dev"},
                "timestamp": "2021-01-01T00:00:00Z",
                "trace": {"trace_id": "0", "span_id": "0"}
            }],
            "exceptions": [],
            "measurements": [],
            "meta": {}
        }"#;
        let p = crate::decode::decode(body).unwrap();
        let lines = loki_lines(&p, AlloyVersion::V1_5);
        assert_eq!(
            lines[0].line().unwrap(),
            r#"timestamp="2021-01-01 00:00:00 +0000 UTC" kind=log message="hello, world" level=info context_env=dev traceID=0 spanID=0 browser_mobile=false"#
        );
        assert_eq!(
            lines[0].labels(&[("foo", "bar"), ("kind", "")])["kind"],
            "log"
        );
    }

    #[test]
    fn v1_5_drops_the_trace_of_exceptions_with_a_stacktrace() {
        let mut p = Payload::default();
        p.exceptions.push(Exception {
            kind: Some("Error".into()),
            value: Some("x".into()),
            trace: trace(),
            stacktrace: Some(Stacktrace::default()),
            ..Exception::default()
        });
        p.exceptions.push(Exception {
            trace: trace(),
            ..Exception::default()
        });
        let old = loki_lines(&p, AlloyVersion::V1_5);
        assert_eq!(old[0].get("traceID"), None);
        assert_eq!(
            old[1].get("traceID"),
            Some("a363d4f4417aa83158c437febd2d8838")
        );
        // An empty value still hashes (xxh3 of ""), and the zero time stands in.
        assert_eq!(old[1].get("hash"), Some("3244421341483603138"));
        assert_eq!(
            old[1].get("timestamp"),
            Some("0001-01-01 00:00:00 +0000 UTC")
        );
        assert_eq!(old[1].get("stacktrace"), Some(": "));
        let new = loki_lines(&p, AlloyVersion::V1_12);
        assert_eq!(new[0].get("spanID"), Some("42876ecc4c1feafa"));
    }

    #[test]
    fn meta_keys_follow_payload_go() {
        let mut p = Payload::default();
        let m = &mut p.meta;
        m.sdk.name = Some("faro-web".into());
        m.sdk.integrations.push(crate::model::SdkIntegration {
            name: Some("tracing".into()),
            version: Some("2.0".into()),
            ..Default::default()
        });
        m.app.name = Some("pwa".into());
        m.user.attributes.insert("plan".into(), "free".into());
        m.session.id = Some("s1".into());
        m.session
            .attributes
            .insert("telltale_run".into(), "r-1".into());
        m.session.attributes.insert("empty".into(), String::new());
        m.page.url = Some("http://x/?a=b c".into());
        m.browser.mobile = Some(true);
        m.browser.viewport_width = Some("1280".into());
        m.view.name = Some("home".into());
        p.events.push(Event::default());
        let line = loki_lines(&p, AlloyVersion::V1_5)[0].line().unwrap();
        assert_eq!(
            line,
            "timestamp=\"0001-01-01 00:00:00 +0000 UTC\" kind=event sdk_name=faro-web \
             sdk_integrations=tracing:2.0 app_name=pwa user_attr_plan=free session_id=s1 \
             session_attr_telltale_run=r-1 page_url=\"http://x/?a=b c\" browser_mobile=true \
             browser_viewportWidth=1280 view_name=home"
        );
    }

    #[test]
    fn logfmt_quoting_and_key_filtering_follow_go_logfmt() {
        let mut p = Payload::default();
        let mut l = Log {
            message: Some("null".into()),
            level: Some("tab\there \"q\" back\\slash \u{1} é\u{fffd}".into()),
            ..Log::default()
        };
        l.context.insert("a key=\"x\"".into(), "v=1".into());
        l.context.insert("del\u{7f}".into(), "d\u{7f}".into());
        p.logs.push(l);
        let old = loki_lines(&p, AlloyVersion::V1_5)[0].line().unwrap();
        assert!(old.contains(r#" message="null" "#), "{old}");
        assert!(
            old.contains(r#" level="tab\there \"q\" back\\slash \u0001 é\ufffd" "#),
            "{old}"
        );
        assert!(old.contains(r#" context_akeyx="v=1" "#), "{old}");
        assert!(old.contains(" context_del\u{7f}=d\u{7f} "), "{old}");
        let new = loki_lines(&p, AlloyVersion::V1_12)[0].line().unwrap();
        assert!(new.contains(r#" context_del="d\u007f" "#), "{new}");
    }

    #[test]
    fn the_release_comes_from_what_the_receiver_reports() {
        let b = AlloyVersion::from_build_info;
        assert_eq!(
            b("agent_build_info", "main-729ce05"),
            Some(AlloyVersion::Agent)
        );
        assert_eq!(b("agent_build_info", "v0.40.2"), Some(AlloyVersion::Agent));
        assert_eq!(b("alloy_build_info", "v1.5.1"), Some(AlloyVersion::V1_5));
        assert_eq!(b("alloy_build_info", "v1.11.3"), Some(AlloyVersion::V1_5));
        assert_eq!(
            b("alloy_build_info", "v1.12.0-rc.1"),
            Some(AlloyVersion::V1_12)
        );
        assert_eq!(b("alloy_build_info", "v1.4.3"), None, "before 1.5: unknown");
        assert_eq!(b("alloy_build_info", "devel"), None);
        assert_eq!(b("prometheus_build_info", "2.42.0"), None);
        for v in AlloyVersion::ALL {
            assert_eq!(AlloyVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(AlloyVersion::parse("agent"), Some(AlloyVersion::Agent));
        assert_eq!(AlloyVersion::parse("alloy-1.17"), Some(AlloyVersion::V1_12));
        assert_eq!(AlloyVersion::parse("grafana"), None);
    }

    #[test]
    fn an_empty_key_makes_alloy_drop_the_line() {
        let mut p = Payload::default();
        let mut m = Measurement::default();
        m.values.insert(" =".into(), 1.0);
        p.measurements.push(m);
        let line = &loki_lines(&p, AlloyVersion::V1_5)[0];
        assert_eq!(line.get(" ="), Some("1.000000"));
        assert_eq!(line.line(), None);
    }
}
