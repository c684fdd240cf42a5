//! The checks the receiver's OTLP/JSON trace reader makes on a payload's `traces`, so that a
//! body it refuses for its traces is refused here too, naming the member.
//!
//! The reader is the OpenTelemetry collector's `ptracejson` (jsoniter callbacks; as vendored in
//! grafana/agent@729ce056, pdata v0.63 as forked by Grafana; Alloy's pdata 1.x reads the same
//! way): member names match exactly, in camelCase or snake_case; unknown members are skipped
//! whatever they hold; objects and arrays may be `null`; strings may be `null`; integers may be
//! JSON numbers or decimal strings but never `null`; `kind` and `status.code` are numbers or
//! the enum's names; ids are empty or hex of exactly 16 (trace) or 8 (span) bytes; `bytesValue`
//! is standard base64.

use serde_json::{Map, Value};

use crate::Error;

type Check = Result<(), Error>;

fn bad(path: &str, what: &str, v: &Value) -> Error {
    Error::decode(
        path,
        format!("the receiver's OTLP/JSON reader expects {what}, found {v}"),
    )
}

fn child(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

/// Walks an object (or `null`), calling `member` for each known member name.
fn object(v: &Value, path: &str, mut member: impl FnMut(&str, &Value, &str) -> Check) -> Check {
    match v {
        Value::Null => Ok(()),
        Value::Object(map) => members(map, path, &mut member),
        other => Err(bad(path, "an object", other)),
    }
}

fn members(
    map: &Map<String, Value>,
    path: &str,
    member: &mut impl FnMut(&str, &Value, &str) -> Check,
) -> Check {
    for (k, v) in map {
        member(k.as_str(), v, &child(path, k))?;
    }
    Ok(())
}

fn array(v: &Value, path: &str, mut item: impl FnMut(&Value, &str) -> Check) -> Check {
    match v {
        Value::Null => Ok(()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| item(x, &format!("{path}[{i}]"))),
        other => Err(bad(path, "an array", other)),
    }
}

fn string(v: &Value, path: &str) -> Check {
    match v {
        Value::Null | Value::String(_) => Ok(()),
        other => Err(bad(path, "a string", other)),
    }
}

/// An unsigned integer of `bits` bits, or signed when `signed`: a JSON integer or a decimal
/// string.
fn integer(v: &Value, path: &str, bits: u32, signed: bool) -> Check {
    let fits = match v {
        Value::Number(n) => {
            if signed {
                n.as_i64()
                    .is_some_and(|x| bits == 64 || i32::try_from(x).is_ok())
            } else {
                n.as_u64()
                    .is_some_and(|x| bits == 64 || u32::try_from(x).is_ok())
            }
        }
        Value::String(s) => {
            if signed {
                s.parse::<i64>()
                    .is_ok_and(|x| bits == 64 || i32::try_from(x).is_ok())
            } else {
                s.parse::<u64>()
                    .is_ok_and(|x| bits == 64 || u32::try_from(x).is_ok())
            }
        }
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(bad(path, &format!("an integer ({bits} bits)"), v))
    }
}

fn float(v: &Value, path: &str) -> Check {
    match v {
        Value::Number(_) => Ok(()),
        // Go's ParseFloat also reads "NaN", "Inf" and friends.
        Value::String(s)
            if s.parse::<f64>().is_ok()
                || matches!(
                    s.to_ascii_lowercase().trim_start_matches(['+', '-']),
                    "nan" | "inf" | "infinity"
                ) =>
        {
            Ok(())
        }
        other => Err(bad(path, "a number", other)),
    }
}

fn boolean(v: &Value, path: &str) -> Check {
    match v {
        Value::Bool(_) => Ok(()),
        other => Err(bad(path, "true or false", other)),
    }
}

fn enumeration(v: &Value, path: &str, names: &[&str]) -> Check {
    match v {
        Value::Number(_) => integer(v, path, 32, true),
        Value::String(s) if names.contains(&s.as_str()) => Ok(()),
        other => Err(bad(path, &format!("a number or one of {names:?}"), other)),
    }
}

/// A trace or span id: empty, or hex of exactly `bytes` bytes.
fn id(v: &Value, path: &str, bytes: usize) -> Check {
    string(v, path)?;
    let s = v.as_str().unwrap_or("");
    if s.is_empty() || (s.len() == 2 * bytes && s.bytes().all(|b| b.is_ascii_hexdigit())) {
        Ok(())
    } else {
        Err(bad(path, &format!("an id of {bytes} bytes in hex"), v))
    }
}

fn attributes(v: &Value, path: &str) -> Check {
    array(v, path, attribute)
}

fn attribute(v: &Value, path: &str) -> Check {
    object(v, path, |k, v, p| match k {
        "key" => string(v, p),
        "value" => any_value(v, p),
        _ => Ok(()),
    })
}

fn any_value(v: &Value, path: &str) -> Check {
    object(v, path, |k, v, p| match k {
        "stringValue" | "string_value" => string(v, p),
        "boolValue" | "bool_value" => boolean(v, p),
        "intValue" | "int_value" => integer(v, p, 64, true),
        "doubleValue" | "double_value" => float(v, p),
        "bytesValue" | "bytes_value" => {
            string(v, p)?;
            base64_ok(v.as_str().unwrap_or(""))
                .then_some(())
                .ok_or_else(|| bad(p, "standard base64", v))
        }
        "arrayValue" | "array_value" => object(v, p, |k, v, p| match k {
            "values" => array(v, p, any_value),
            _ => Ok(()),
        }),
        "kvlistValue" | "kvlist_value" => object(v, p, |k, v, p| match k {
            "values" => array(v, p, attribute),
            _ => Ok(()),
        }),
        _ => Ok(()),
    })
}

fn base64_ok(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn dropped(k: &str) -> bool {
    matches!(
        k,
        "droppedAttributesCount"
            | "dropped_attributes_count"
            | "droppedEventsCount"
            | "dropped_events_count"
            | "droppedLinksCount"
            | "dropped_links_count"
    )
}

fn span(v: &Value, path: &str) -> Check {
    object(v, path, |k, v, p| match k {
        "traceId" | "trace_id" => id(v, p, 16),
        "spanId" | "span_id" | "parentSpanId" | "parent_span_id" => id(v, p, 8),
        "traceState" | "trace_state" | "name" => string(v, p),
        "kind" => enumeration(
            v,
            p,
            &[
                "SPAN_KIND_UNSPECIFIED",
                "SPAN_KIND_INTERNAL",
                "SPAN_KIND_SERVER",
                "SPAN_KIND_CLIENT",
                "SPAN_KIND_PRODUCER",
                "SPAN_KIND_CONSUMER",
            ],
        ),
        "startTimeUnixNano" | "start_time_unix_nano" | "endTimeUnixNano" | "end_time_unix_nano" => {
            integer(v, p, 64, false)
        }
        "attributes" => attributes(v, p),
        k if dropped(k) => integer(v, p, 32, false),
        "events" => array(v, p, |v, p| {
            object(v, p, |k, v, p| match k {
                "timeUnixNano" | "time_unix_nano" => integer(v, p, 64, false),
                "name" => string(v, p),
                "attributes" => attributes(v, p),
                k if dropped(k) => integer(v, p, 32, false),
                _ => Ok(()),
            })
        }),
        "links" => array(v, p, |v, p| {
            object(v, p, |k, v, p| match k {
                "traceId" | "trace_id" => id(v, p, 16),
                "spanId" | "span_id" => id(v, p, 8),
                "traceState" | "trace_state" => string(v, p),
                "attributes" => attributes(v, p),
                k if dropped(k) => integer(v, p, 32, false),
                _ => Ok(()),
            })
        }),
        "status" => object(v, p, |k, v, p| match k {
            "message" => string(v, p),
            "code" => enumeration(
                v,
                p,
                &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"],
            ),
            _ => Ok(()),
        }),
        _ => Ok(()),
    })
}

/// Checks `traces` (the payload member at `path`) as the receiver's reader would read it.
pub(crate) fn check_traces(v: &Value, path: &str) -> Check {
    object(v, path, |k, v, p| match k {
        "resourceSpans" | "resource_spans" => array(v, p, |v, p| {
            object(v, p, |k, v, p| match k {
                "resource" => object(v, p, |k, v, p| match k {
                    "attributes" => attributes(v, p),
                    k if dropped(k) => integer(v, p, 32, false),
                    _ => Ok(()),
                }),
                "scopeSpans" | "scope_spans" => array(v, p, |v, p| {
                    object(v, p, |k, v, p| match k {
                        "scope" => object(v, p, |k, v, p| match k {
                            "name" | "version" => string(v, p),
                            "attributes" => attributes(v, p),
                            k if dropped(k) => integer(v, p, 32, false),
                            _ => Ok(()),
                        }),
                        "spans" => array(v, p, span),
                        "schemaUrl" | "schema_url" => string(v, p),
                        _ => Ok(()),
                    })
                }),
                "schemaUrl" | "schema_url" => string(v, p),
                _ => Ok(()),
            })
        }),
        _ => Ok(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(json: &str) -> Option<String> {
        let v: Value = serde_json::from_str(json).unwrap();
        match check_traces(&v, "traces") {
            Ok(()) => None,
            Err(Error::Decode { path, .. }) => Some(path),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn refuses_what_the_receivers_reader_refuses_naming_the_member() {
        let span =
            |s: &str| format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{s}]}}]}}]}}"#);
        assert_eq!(
            path_of(r#"{"resourceSpans":{}}"#).as_deref(),
            Some("traces.resourceSpans")
        );
        assert_eq!(
            path_of(&span(r#"{"spanId":["x"]}"#)).as_deref(),
            Some("traces.resourceSpans[0].scopeSpans[0].spans[0].spanId")
        );
        assert!(path_of(&span(r#"{"traceId":"abc"}"#)).is_some(), "short id");
        assert!(
            path_of(&span(r#"{"kind":"SERVER"}"#)).is_some(),
            "not an enum name"
        );
        assert!(path_of(&span(r#"{"startTimeUnixNano":null}"#)).is_some());
        assert!(path_of(&span(r#"{"droppedAttributesCount":4294967296}"#)).is_some());
        assert!(path_of(&span(
            r#"{"attributes":[{"key":"k","value":{"intValue":true}}]}"#
        ))
        .is_some());
        assert!(path_of(&span(
            r#"{"attributes":[{"key":"k","value":{"bytesValue":"%%"}}]}"#
        ))
        .is_some());
    }

    #[test]
    fn accepts_what_the_receivers_reader_accepts() {
        for ok in [
            r#"null"#,
            r#"{"resourceSpans":null,"other":[1,{"x":[]}]}"#,
            r#"{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"","span_id":"0011223344556677","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":"17","status":{"code":2},"attributes":[{"key":null,"value":{"doubleValue":"NaN"}}]}]}]}]}"#,
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"arrayValue":{"values":[{"kvlistValue":{"values":[]}}]}}}]}}]}"#,
        ] {
            assert_eq!(path_of(ok), None, "{ok}");
        }
    }
}
