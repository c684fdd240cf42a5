//! Writes a payload as JSON by hand, as `JSON.stringify` in the web SDK would: the same string
//! escapes and the same number spelling (`42`, not `42.0`), known fields in a fixed order and
//! unknown ones after them. This is the hot path the benchmark measures.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::Value;

use crate::model::{
    Event, Exception, Frame, Log, Measurement, Meta, Payload, TraceContext, UnknownFields,
};
use crate::Timestamp;

/// Encodes a payload into `out` (appending).
pub(crate) fn encode_into(payload: &Payload, out: &mut Vec<u8>) {
    let mut w = Obj::open(out);
    w.key("meta");
    meta(&payload.meta, w.out);
    list(&mut w, "logs", &payload.logs, log);
    list(&mut w, "exceptions", &payload.exceptions, exception);
    list(&mut w, "measurements", &payload.measurements, measurement);
    list(&mut w, "events", &payload.events, event);
    if let Some(traces) = &payload.traces {
        w.key("traces");
        value(&traces.0, w.out);
    }
    w.close(&payload.unknown);
}

/// A JSON object being written: tracks whether a comma is due.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        string(key, self.out);
        self.out.push(b':');
    }

    fn str(&mut self, key: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.key(key);
            string(v, self.out);
        }
    }

    fn int(&mut self, key: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.key(key);
            let _ = write!(self.out, "{v}");
        }
    }

    fn time(&mut self, key: &str, v: &Option<Timestamp>) {
        if let Some(v) = v {
            self.key(key);
            string(v.as_str(), self.out);
        }
    }

    fn map(&mut self, key: &str, v: &BTreeMap<String, String>) {
        if v.is_empty() {
            return;
        }
        self.key(key);
        let mut m = Obj::open(self.out);
        for (k, v) in v {
            m.key(k);
            string(v, m.out);
        }
        m.out.push(b'}');
    }

    fn trace(&mut self, v: &Option<TraceContext>) {
        if let Some(t) = v {
            self.key("trace");
            let mut o = Obj::open(self.out);
            o.str("trace_id", &t.trace_id);
            o.str("span_id", &t.span_id);
            o.close(&t.unknown);
        }
    }

    fn close(mut self, unknown: &UnknownFields) {
        for (k, v) in &unknown.0 {
            self.key(k);
            value(v, self.out);
        }
        self.out.push(b'}');
    }
}

fn list<T>(w: &mut Obj<'_>, key: &str, items: &[T], item: fn(&T, &mut Vec<u8>)) {
    if items.is_empty() {
        return;
    }
    w.key(key);
    w.out.push(b'[');
    for (idx, it) in items.iter().enumerate() {
        if idx > 0 {
            w.out.push(b',');
        }
        item(it, w.out);
    }
    w.out.push(b']');
}

fn meta(m: &Meta, out: &mut Vec<u8>) {
    let mut w = Obj::open(out);
    let s = &m.sdk;
    if s.name.is_some()
        || s.version.is_some()
        || !s.integrations.is_empty()
        || !s.unknown.is_empty()
    {
        w.key("sdk");
        let mut o = Obj::open(w.out);
        o.str("name", &s.name);
        o.str("version", &s.version);
        list(&mut o, "integrations", &s.integrations, |i, out| {
            let mut o = Obj::open(out);
            o.str("name", &i.name);
            o.str("version", &i.version);
            o.close(&i.unknown);
        });
        o.close(&s.unknown);
    }
    let a = &m.app;
    if [
        &a.name,
        &a.namespace,
        &a.release,
        &a.version,
        &a.environment,
    ]
    .iter()
    .any(|f| f.is_some())
        || !a.unknown.is_empty()
    {
        w.key("app");
        let mut o = Obj::open(w.out);
        o.str("name", &a.name);
        o.str("namespace", &a.namespace);
        o.str("release", &a.release);
        o.str("version", &a.version);
        o.str("environment", &a.environment);
        o.close(&a.unknown);
    }
    let u = &m.user;
    if u.email.is_some()
        || u.id.is_some()
        || u.username.is_some()
        || !u.attributes.is_empty()
        || !u.unknown.is_empty()
    {
        w.key("user");
        let mut o = Obj::open(w.out);
        o.str("email", &u.email);
        o.str("id", &u.id);
        o.str("username", &u.username);
        o.map("attributes", &u.attributes);
        o.close(&u.unknown);
    }
    let s = &m.session;
    if s.id.is_some() || !s.attributes.is_empty() || !s.unknown.is_empty() {
        w.key("session");
        let mut o = Obj::open(w.out);
        o.str("id", &s.id);
        o.map("attributes", &s.attributes);
        o.close(&s.unknown);
    }
    let p = &m.page;
    if p.id.is_some() || p.url.is_some() || !p.attributes.is_empty() || !p.unknown.is_empty() {
        w.key("page");
        let mut o = Obj::open(w.out);
        o.str("id", &p.id);
        o.str("url", &p.url);
        o.map("attributes", &p.attributes);
        o.close(&p.unknown);
    }
    let b = &m.browser;
    if [
        &b.name,
        &b.version,
        &b.os,
        &b.user_agent,
        &b.language,
        &b.viewport_width,
        &b.viewport_height,
    ]
    .iter()
    .any(|f| f.is_some())
        || b.mobile.is_some()
        || !b.unknown.is_empty()
    {
        w.key("browser");
        let mut o = Obj::open(w.out);
        o.str("name", &b.name);
        o.str("version", &b.version);
        o.str("os", &b.os);
        if let Some(mobile) = b.mobile {
            o.key("mobile");
            o.out
                .extend_from_slice(if mobile { b"true" } else { b"false" });
        }
        o.str("userAgent", &b.user_agent);
        o.str("language", &b.language);
        o.str("viewportWidth", &b.viewport_width);
        o.str("viewportHeight", &b.viewport_height);
        o.close(&b.unknown);
    }
    let v = &m.view;
    if v.name.is_some() || !v.unknown.is_empty() {
        w.key("view");
        let mut o = Obj::open(w.out);
        o.str("name", &v.name);
        o.close(&v.unknown);
    }
    w.close(&m.unknown);
}

fn log(l: &Log, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.str("message", &l.message);
    o.str("level", &l.level);
    o.map("context", &l.context);
    o.time("timestamp", &l.timestamp);
    o.trace(&l.trace);
    o.close(&l.unknown);
}

fn frame(f: &Frame, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.str("function", &f.function);
    o.str("module", &f.module);
    o.str("filename", &f.filename);
    o.int("lineno", f.lineno);
    o.int("colno", f.colno);
    o.close(&f.unknown);
}

fn exception(e: &Exception, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.str("type", &e.kind);
    o.str("value", &e.value);
    if let Some(st) = &e.stacktrace {
        o.key("stacktrace");
        let mut s = Obj::open(o.out);
        list(&mut s, "frames", &st.frames, frame);
        s.close(&st.unknown);
    }
    o.time("timestamp", &e.timestamp);
    o.trace(&e.trace);
    o.map("context", &e.context);
    o.close(&e.unknown);
}

fn measurement(m: &Measurement, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.str("type", &m.kind);
    if !m.values.is_empty() {
        o.key("values");
        let mut v = Obj::open(o.out);
        for (k, n) in &m.values {
            v.key(k);
            number(*n, v.out);
        }
        v.out.push(b'}');
    }
    o.time("timestamp", &m.timestamp);
    o.trace(&m.trace);
    o.map("context", &m.context);
    o.close(&m.unknown);
}

fn event(e: &Event, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.str("name", &e.name);
    o.str("domain", &e.domain);
    o.map("attributes", &e.attributes);
    o.time("timestamp", &e.timestamp);
    o.trace(&e.trace);
    o.close(&e.unknown);
}

/// Any JSON value (unknown fields, traces), with the same escapes and number spelling.
fn value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => {
                let _ = write!(out, "{i}");
            }
            (None, Some(u)) => {
                let _ = write!(out, "{u}");
            }
            _ => number(n.as_f64().unwrap_or(0.0), out),
        },
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (idx, it) in items.iter().enumerate() {
                if idx > 0 {
                    out.push(b',');
                }
                value(it, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut o = Obj::open(out);
            for (k, v) in map {
                o.key(k);
                value(v, o.out);
            }
            o.out.push(b'}');
        }
    }
}

/// A number as JavaScript writes it (see [`crate::num::js`]); non-finite numbers, which JSON
/// cannot hold, are written as `null`, as `JSON.stringify` does.
pub(crate) fn number(n: f64, out: &mut Vec<u8>) {
    match crate::num::js(n) {
        Some(text) => out.extend_from_slice(text.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string as `JSON.stringify` writes it: `"` and `\` escaped, the short escapes for
/// `\b \f \n \r \t`, `\u00xx` (lowercase) for the other control characters, nothing else.
pub(crate) fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (idx, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..idx]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = idx + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_written_as_null() {
        let mut out = Vec::new();
        number(f64::NAN, &mut out);
        number(42.0, &mut out);
        assert_eq!(out, b"null42");
    }

    #[test]
    fn strings_are_escaped_as_json_stringify_escapes_them() {
        let mut out = Vec::new();
        string("a\"b\\c\nd\u{1}\u{7f}é✓\u{2028}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001\u{7f}é✓\u{2028}\""
        );
    }
}
