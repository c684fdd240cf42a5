//! Reads a payload the way `faro.receiver` does (Go's `encoding/json` into Alloy's structs), so
//! a body this module refuses is one the receiver answers 400, and one it accepts is one the
//! receiver accepts (the exceptions are listed in the crate docs).
//!
//! Go's rules, mirrored here: unknown fields are ignored (here: kept); `null` leaves a field at
//! its zero value; a known field of the wrong JSON type is an error; an `int` needs an integer
//! literal; a `time.Time` needs RFC 3339 text; field names match exactly or, failing that,
//! case-insensitively; of repeated keys the last wins.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{
    App, Browser, Event, Exception, Frame, Log, Measurement, Meta, Page, Payload, Sdk,
    SdkIntegration, Session, Stacktrace, TraceContext, Traces, UnknownFields, User, View,
};
use crate::{Error, Timestamp};

/// Decodes a `POST /collect` body.
pub(crate) fn decode(body: &[u8]) -> Result<Payload, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Error::decode(
            "(document)",
            format!("not JSON: {e} (the receiver answers 400)"),
        )
    })?;
    decode_value(value)
}

/// Decodes a body as the given receiver release does. The Agent's `app_agent_receiver` has
/// smaller structs than Alloy's: Go ignores a field its struct does not name, whatever its
/// type, so those fields are dropped before decoding (and are not in the result).
pub(crate) fn decode_for(body: &[u8], version: crate::AlloyVersion) -> Result<Payload, Error> {
    if version != crate::AlloyVersion::Agent {
        return decode(body);
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|e| {
        Error::decode(
            "(document)",
            format!("not JSON: {e} (the receiver answers 400)"),
        )
    })?;
    strip_for_agent(&mut value);
    decode_value(value)
}

/// Drops the members the Agent's structs (grafana/agent@729ce056 `payload.go`) do not have.
fn strip_for_agent(doc: &mut Value) {
    fn drop(v: &mut Value, names: &[&str]) {
        if let Value::Object(map) = v {
            map.retain(|k, _| !names.iter().any(|n| n.eq_ignore_ascii_case(k)));
        }
    }
    fn members<'a>(v: &'a mut Value, name: &str) -> Vec<&'a mut Value> {
        match v {
            Value::Object(map) => map
                .iter_mut()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .collect(),
            _ => Vec::new(),
        }
    }
    for list in members(doc, "exceptions") {
        if let Value::Array(items) = list {
            items.iter_mut().for_each(|e| drop(e, &["context"]));
        }
    }
    for list in members(doc, "measurements") {
        if let Value::Array(items) = list {
            items.iter_mut().for_each(|m| drop(m, &["type", "context"]));
        }
    }
    for meta in members(doc, "meta") {
        for app in members(meta, "app") {
            drop(app, &["namespace"]);
        }
        for browser in members(meta, "browser") {
            drop(
                browser,
                &["userAgent", "language", "viewportWidth", "viewportHeight"],
            );
        }
    }
}

pub(crate) fn decode_value(value: Value) -> Result<Payload, Error> {
    let mut payload = Payload::default();
    let Some(map) = object(value, "(document)", "payload.Payload")? else {
        return Ok(payload);
    };
    payload.unknown = fields(
        map,
        "",
        &[
            "exceptions",
            "logs",
            "measurements",
            "events",
            "meta",
            "traces",
        ],
        |idx, value, path| {
            match idx {
                0 => payload.exceptions = items(value, path, exception)?,
                1 => payload.logs = items(value, path, log)?,
                2 => payload.measurements = items(value, path, measurement)?,
                3 => payload.events = items(value, path, event)?,
                4 => payload.meta = meta(value, path)?,
                _ => {
                    payload.traces = match value {
                        Value::Null => None,
                        other => Some(Traces::from_value(other, path)?),
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(payload)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn mismatch(value: &Value, path: &str, go_type: &str) -> Error {
    Error::decode(
        path,
        format!(
            "cannot read a JSON {} as Go type {go_type} (the receiver answers 400)",
            kind_of(value)
        ),
    )
}

/// An object, or `None` for `null`.
fn object(value: Value, path: &str, go_type: &str) -> Result<Option<Map<String, Value>>, Error> {
    match value {
        Value::Object(map) => Ok(Some(map)),
        Value::Null => Ok(None),
        other => Err(mismatch(&other, path, go_type)),
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Walks an object's members: known names (exact match first, then ASCII case-insensitive, as
/// Go matches them) go to `set` with their index in `names`, the rest are kept.
fn fields(
    map: Map<String, Value>,
    path: &str,
    names: &[&str],
    mut set: impl FnMut(usize, Value, &str) -> Result<(), Error>,
) -> Result<UnknownFields, Error> {
    let mut unknown = Map::new();
    for (key, value) in map {
        let idx = names
            .iter()
            .position(|n| *n == key)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(&key)));
        match idx {
            Some(idx) => set(idx, value, &child(path, names[idx]))?,
            None => {
                unknown.insert(key, value);
            }
        }
    }
    Ok(UnknownFields(unknown))
}

fn string(value: Value, path: &str) -> Result<Option<String>, Error> {
    match value {
        Value::String(s) => Ok(Some(s)),
        Value::Null => Ok(None),
        other => Err(mismatch(&other, path, "string")),
    }
}

fn boolean(value: Value, path: &str) -> Result<Option<bool>, Error> {
    match value {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        other => Err(mismatch(&other, path, "bool")),
    }
}

fn int(value: Value, path: &str) -> Result<Option<i64>, Error> {
    match &value {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Some(i)),
            None => Err(Error::decode(
                path,
                format!("cannot read number {n} as Go type int (the receiver answers 400)"),
            )),
        },
        other => Err(mismatch(other, path, "int")),
    }
}

fn timestamp(value: Value, path: &str) -> Result<Option<Timestamp>, Error> {
    match value {
        Value::String(s) => Timestamp::parse(&s).map(Some).map_err(|e| match e {
            Error::InvalidTimestamp { reason, .. } => Error::decode(
                path,
                format!(
                    "{s:?} is not RFC 3339 as Go reads it: {reason} (the receiver answers 400)"
                ),
            ),
            other => other,
        }),
        Value::Null => Ok(None),
        other => Err(mismatch(&other, path, "time.Time")),
    }
}

/// `map[string]string`: a `null` value becomes `""`, as Go stores the zero value.
fn string_map(value: Value, path: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    if let Some(map) = object(value, path, "map[string]string")? {
        for (key, value) in map {
            let shown = child(path, &key);
            out.insert(key, string(value, &shown)?.unwrap_or_default());
        }
    }
    Ok(out)
}

/// `map[string]float64`: a `null` value becomes `0`.
fn float_map(value: Value, path: &str) -> Result<BTreeMap<String, f64>, Error> {
    let mut out = BTreeMap::new();
    if let Some(map) = object(value, path, "map[string]float64")? {
        for (key, value) in map {
            let number = match &value {
                Value::Null => 0.0,
                Value::Number(n) => n.as_f64().unwrap_or(0.0),
                other => return Err(mismatch(other, &child(path, &key), "float64")),
            };
            out.insert(key, number);
        }
    }
    Ok(out)
}

/// A slice of structs: `null` is empty, a `null` element is a zero struct.
fn items<T: Default>(
    value: Value,
    path: &str,
    item: fn(Map<String, Value>, &str) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(list) => list
            .into_iter()
            .enumerate()
            .map(|(idx, value)| {
                let shown = format!("{path}[{idx}]");
                match object(value, &shown, "struct")? {
                    Some(map) => item(map, &shown),
                    None => Ok(T::default()),
                }
            })
            .collect(),
        other => Err(mismatch(&other, path, "slice")),
    }
}

fn nested<T: Default>(
    value: Value,
    path: &str,
    item: fn(Map<String, Value>, &str) -> Result<T, Error>,
) -> Result<T, Error> {
    match object(value, path, "struct")? {
        Some(map) => item(map, path),
        None => Ok(T::default()),
    }
}

fn optional<T>(
    value: Value,
    path: &str,
    item: fn(Map<String, Value>, &str) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    match object(value, path, "struct")? {
        Some(map) => item(map, path).map(Some),
        None => Ok(None),
    }
}

fn trace(map: Map<String, Value>, path: &str) -> Result<TraceContext, Error> {
    let mut t = TraceContext::default();
    t.unknown = fields(map, path, &["trace_id", "span_id"], |idx, v, p| {
        match idx {
            0 => t.trace_id = string(v, p)?,
            _ => t.span_id = string(v, p)?,
        }
        Ok(())
    })?;
    Ok(t)
}

fn log(map: Map<String, Value>, path: &str) -> Result<Log, Error> {
    let mut l = Log::default();
    l.unknown = fields(
        map,
        path,
        &["message", "level", "context", "timestamp", "trace"],
        |idx, v, p| {
            match idx {
                0 => l.message = string(v, p)?,
                1 => l.level = string(v, p)?,
                2 => l.context = string_map(v, p)?,
                3 => l.timestamp = timestamp(v, p)?,
                _ => l.trace = optional(v, p, trace)?,
            }
            Ok(())
        },
    )?;
    Ok(l)
}

fn frame(map: Map<String, Value>, path: &str) -> Result<Frame, Error> {
    let mut f = Frame::default();
    f.unknown = fields(
        map,
        path,
        &["function", "module", "filename", "lineno", "colno"],
        |idx, v, p| {
            match idx {
                0 => f.function = string(v, p)?,
                1 => f.module = string(v, p)?,
                2 => f.filename = string(v, p)?,
                3 => f.lineno = int(v, p)?,
                _ => f.colno = int(v, p)?,
            }
            Ok(())
        },
    )?;
    Ok(f)
}

fn stacktrace(map: Map<String, Value>, path: &str) -> Result<Stacktrace, Error> {
    let mut s = Stacktrace::default();
    s.unknown = fields(map, path, &["frames"], |_, v, p| {
        s.frames = items(v, p, frame)?;
        Ok(())
    })?;
    Ok(s)
}

fn exception(map: Map<String, Value>, path: &str) -> Result<Exception, Error> {
    let mut e = Exception::default();
    e.unknown = fields(
        map,
        path,
        &[
            "type",
            "value",
            "stacktrace",
            "timestamp",
            "trace",
            "context",
        ],
        |idx, v, p| {
            match idx {
                0 => e.kind = string(v, p)?,
                1 => e.value = string(v, p)?,
                2 => e.stacktrace = optional(v, p, stacktrace)?,
                3 => e.timestamp = timestamp(v, p)?,
                4 => e.trace = optional(v, p, trace)?,
                _ => e.context = string_map(v, p)?,
            }
            Ok(())
        },
    )?;
    Ok(e)
}

fn measurement(map: Map<String, Value>, path: &str) -> Result<Measurement, Error> {
    let mut m = Measurement::default();
    m.unknown = fields(
        map,
        path,
        &["type", "values", "timestamp", "trace", "context"],
        |idx, v, p| {
            match idx {
                0 => m.kind = string(v, p)?,
                1 => m.values = float_map(v, p)?,
                2 => m.timestamp = timestamp(v, p)?,
                3 => m.trace = optional(v, p, trace)?,
                _ => m.context = string_map(v, p)?,
            }
            Ok(())
        },
    )?;
    Ok(m)
}

fn event(map: Map<String, Value>, path: &str) -> Result<Event, Error> {
    let mut e = Event::default();
    e.unknown = fields(
        map,
        path,
        &["name", "domain", "attributes", "timestamp", "trace"],
        |idx, v, p| {
            match idx {
                0 => e.name = string(v, p)?,
                1 => e.domain = string(v, p)?,
                2 => e.attributes = string_map(v, p)?,
                3 => e.timestamp = timestamp(v, p)?,
                _ => e.trace = optional(v, p, trace)?,
            }
            Ok(())
        },
    )?;
    Ok(e)
}

fn meta(value: Value, path: &str) -> Result<Meta, Error> {
    let mut m = Meta::default();
    let Some(map) = object(value, path, "payload.Meta")? else {
        return Ok(m);
    };
    m.unknown = fields(
        map,
        path,
        &["sdk", "app", "user", "session", "page", "browser", "view"],
        |idx, v, p| {
            match idx {
                0 => m.sdk = nested(v, p, sdk)?,
                1 => m.app = nested(v, p, app)?,
                2 => m.user = nested(v, p, user)?,
                3 => m.session = nested(v, p, session)?,
                4 => m.page = nested(v, p, page)?,
                5 => m.browser = nested(v, p, browser)?,
                _ => m.view = nested(v, p, view)?,
            }
            Ok(())
        },
    )?;
    Ok(m)
}

fn integration(map: Map<String, Value>, path: &str) -> Result<SdkIntegration, Error> {
    let mut i = SdkIntegration::default();
    i.unknown = fields(map, path, &["name", "version"], |idx, v, p| {
        match idx {
            0 => i.name = string(v, p)?,
            _ => i.version = string(v, p)?,
        }
        Ok(())
    })?;
    Ok(i)
}

fn sdk(map: Map<String, Value>, path: &str) -> Result<Sdk, Error> {
    let mut s = Sdk::default();
    s.unknown = fields(
        map,
        path,
        &["name", "version", "integrations"],
        |idx, v, p| {
            match idx {
                0 => s.name = string(v, p)?,
                1 => s.version = string(v, p)?,
                _ => s.integrations = items(v, p, integration)?,
            }
            Ok(())
        },
    )?;
    Ok(s)
}

fn app(map: Map<String, Value>, path: &str) -> Result<App, Error> {
    let mut a = App::default();
    a.unknown = fields(
        map,
        path,
        &["name", "namespace", "release", "version", "environment"],
        |idx, v, p| {
            let s = string(v, p)?;
            match idx {
                0 => a.name = s,
                1 => a.namespace = s,
                2 => a.release = s,
                3 => a.version = s,
                _ => a.environment = s,
            }
            Ok(())
        },
    )?;
    Ok(a)
}

fn user(map: Map<String, Value>, path: &str) -> Result<User, Error> {
    let mut u = User::default();
    u.unknown = fields(
        map,
        path,
        &["email", "id", "username", "attributes"],
        |idx, v, p| {
            match idx {
                0 => u.email = string(v, p)?,
                1 => u.id = string(v, p)?,
                2 => u.username = string(v, p)?,
                _ => u.attributes = string_map(v, p)?,
            }
            Ok(())
        },
    )?;
    Ok(u)
}

fn session(map: Map<String, Value>, path: &str) -> Result<Session, Error> {
    let mut s = Session::default();
    s.unknown = fields(map, path, &["id", "attributes"], |idx, v, p| {
        match idx {
            0 => s.id = string(v, p)?,
            _ => s.attributes = string_map(v, p)?,
        }
        Ok(())
    })?;
    Ok(s)
}

fn page(map: Map<String, Value>, path: &str) -> Result<Page, Error> {
    let mut pg = Page::default();
    pg.unknown = fields(map, path, &["id", "url", "attributes"], |idx, v, p| {
        match idx {
            0 => pg.id = string(v, p)?,
            1 => pg.url = string(v, p)?,
            _ => pg.attributes = string_map(v, p)?,
        }
        Ok(())
    })?;
    Ok(pg)
}

fn browser(map: Map<String, Value>, path: &str) -> Result<Browser, Error> {
    let mut b = Browser::default();
    b.unknown = fields(
        map,
        path,
        &[
            "name",
            "version",
            "os",
            "mobile",
            "userAgent",
            "language",
            "viewportWidth",
            "viewportHeight",
        ],
        |idx, v, p| {
            match idx {
                0 => b.name = string(v, p)?,
                1 => b.version = string(v, p)?,
                2 => b.os = string(v, p)?,
                3 => b.mobile = boolean(v, p)?,
                4 => b.user_agent = string(v, p)?,
                5 => b.language = string(v, p)?,
                6 => b.viewport_width = string(v, p)?,
                _ => b.viewport_height = string(v, p)?,
            }
            Ok(())
        },
    )?;
    Ok(b)
}

fn view(map: Map<String, Value>, path: &str) -> Result<View, Error> {
    let mut vw = View::default();
    vw.unknown = fields(map, path, &["name"], |_, v, p| {
        vw.name = string(v, p)?;
        Ok(())
    })?;
    Ok(vw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_path(json: &str) -> String {
        match decode(json.as_bytes()) {
            Err(Error::Decode { path, .. }) => path,
            other => panic!("expected a decode error for {json}, got {other:?}"),
        }
    }

    #[test]
    fn type_mismatches_alloy_refuses_are_errors_with_paths() {
        assert_eq!(
            err_path(r#"{"meta":{"browser":{"viewportWidth":1280}}}"#),
            "meta.browser.viewportWidth"
        );
        assert_eq!(
            err_path(r#"{"logs":[{"timestamp":"yesterday"}]}"#),
            "logs[0].timestamp"
        );
        assert_eq!(
            err_path(r#"{"logs":[{"timestamp":1632998777680}]}"#),
            "logs[0].timestamp"
        );
        assert_eq!(
            err_path(r#"{"exceptions":[{"stacktrace":{"frames":[{"lineno":1.5}]}}]}"#),
            "exceptions[0].stacktrace.frames[0].lineno"
        );
        assert_eq!(
            err_path(r#"{"events":[{"attributes":{"n":1}}]}"#),
            "events[0].attributes.n"
        );
        assert_eq!(
            err_path(r#"{"measurements":[{"values":{"a":"1"}}]}"#),
            "measurements[0].values.a"
        );
        assert_eq!(
            err_path(r#"{"meta":{"browser":{"mobile":"no"}}}"#),
            "meta.browser.mobile"
        );
        assert_eq!(err_path(r#"{"logs":{}}"#), "logs");
        assert_eq!(err_path(r#"{"traces":[]}"#), "traces");
        assert_eq!(err_path(r#"[]"#), "(document)");
        assert_eq!(err_path("{\"logs\": ["), "(document)");
        assert_eq!(err_path(""), "(document)");
    }

    #[test]
    fn the_agent_ignores_what_its_structs_do_not_name() {
        let agent = |json: &str| decode_for(json.as_bytes(), crate::AlloyVersion::Agent);
        for json in [
            r#"{"meta":{"browser":{"viewportWidth":1280,"UserAgent":1}}}"#,
            r#"{"meta":{"app":{"namespace":7}}}"#,
            r#"{"exceptions":[{"context":{"n":1}}]}"#,
            r#"{"measurements":[{"type":5,"context":[]}]}"#,
        ] {
            assert!(decode(json.as_bytes()).is_err(), "Alloy refuses {json}");
            assert!(agent(json).is_ok(), "the Agent accepts {json}");
        }
        assert!(matches!(
            agent(r#"{"measurements":[{"type":5,"values":{"a":"1"}}]}"#),
            Err(Error::Decode { path, .. }) if path == "measurements[0].values.a"
        ));
    }

    #[test]
    fn go_leniencies_are_mirrored() {
        // null leaves zero values; null map values are ""; null items are zero structs.
        let p = decode(
            br#"{"meta":null,"logs":[null,{"message":null,"context":{"k":null}}],"traces":null}"#,
        )
        .unwrap();
        assert_eq!(p.logs.len(), 2);
        assert_eq!(p.logs[1].context.get("k").map(String::as_str), Some(""));
        assert!(p.traces.is_none());
        // Go matches field names case-insensitively when no exact match exists.
        let p = decode(br#"{"LOGS":[{"Message":"hi"}]}"#).unwrap();
        assert_eq!(p.logs[0].message.as_deref(), Some("hi"));
        // A document that is just null decodes to an empty payload, as in Go.
        assert_eq!(decode(b"null").unwrap(), Payload::default());
        // Unknown fields of any type are ignored by Alloy and kept here.
        let p = decode(
            br#"{"meta":{"os":{"name":"Linux"},"browser":{"brands":[{"brand":"x"}]}},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            p.meta.unknown.get_json("os").unwrap(),
            r#"{"name":"Linux"}"#
        );
        assert_eq!(
            p.meta.browser.unknown.keys().collect::<Vec<_>>(),
            ["brands"]
        );
        assert_eq!(p.unknown.get_json("extra").unwrap(), "1");
    }
}
