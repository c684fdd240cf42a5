//! Property tests: any payload survives JSON encoding and decoding, unknown fields included, and
//! every Alloy line parses back (as logfmt) into the fields it was built from.

use std::collections::BTreeMap;

use proptest::prelude::*;
use telltale_faro::{
    AlloyVersion, Event, Exception, Frame, Log, Measurement, Payload, Stacktrace, Timestamp,
    TraceContext, UnknownFields,
};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 _.=\"-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
        Just("null".to_owned()),
        Just("line\nbreak\t\"q\" \\ \u{1}\u{7f}\u{fffd}é✓".to_owned()),
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(text(), text(), 0..4)
}

fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
    let generated =
        (-62_000_000_000_000i64..253_000_000_000_000).prop_map(Timestamp::from_unix_millis);
    let written = (
        0u32..=9999,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        proptest::option::of("[0-9]{1,12}"),
        prop_oneof![
            Just("Z".to_owned()),
            (0u32..24, 0u32..60, any::<bool>())
                .prop_map(|(h, m, neg)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' })),
        ],
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, zone)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            Timestamp::parse(&format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}"
            ))
            .unwrap()
        });
    proptest::option::of(prop_oneof![generated, written])
}

fn trace() -> impl Strategy<Value = Option<TraceContext>> {
    proptest::option::of((opt_text(), opt_text(), unknown()).prop_map(|(t, s, u)| {
        let mut trace = TraceContext::default();
        trace.trace_id = t;
        trace.span_id = s;
        trace.unknown = u;
        trace
    }))
}

/// JSON text for unknown values. Floats are kept non-integral: like JavaScript, the encoder
/// writes `2.0` as `2`, which reads back as an integer.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{}", f.trunc() + 0.5)),
        text().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::btree_map("[a-z]{1,5}", inner, 0..3).prop_map(|m| {
                let members: Vec<_> = m
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// Unknown fields, named so that no known field matches them (Go matches names
/// case-insensitively).
fn unknown() -> impl Strategy<Value = UnknownFields> {
    proptest::collection::vec(("x_[a-z0-9]{1,6}", json_value()), 0..3).prop_map(|fields| {
        let mut u = UnknownFields::new();
        for (k, v) in fields {
            u.insert_json(k, &v).unwrap();
        }
        u
    })
}

fn log() -> impl Strategy<Value = Log> {
    (
        opt_text(),
        opt_text(),
        map(),
        timestamp(),
        trace(),
        unknown(),
    )
        .prop_map(|(message, level, context, timestamp, trace, unknown)| {
            let mut l = Log::default();
            l.message = message;
            l.level = level;
            l.context = context;
            l.timestamp = timestamp;
            l.trace = trace;
            l.unknown = unknown;
            l
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        opt_text(),
        opt_text(),
        opt_text(),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<i64>()),
        unknown(),
    )
        .prop_map(|(function, module, filename, lineno, colno, unknown)| {
            let mut f = Frame::default();
            f.function = function;
            f.module = module;
            f.filename = filename;
            f.lineno = lineno;
            f.colno = colno;
            f.unknown = unknown;
            f
        })
}

fn exception() -> impl Strategy<Value = Exception> {
    (
        opt_text(),
        opt_text(),
        proptest::option::of((proptest::collection::vec(frame(), 0..3), unknown())),
        timestamp(),
        trace(),
        map(),
        unknown(),
    )
        .prop_map(|(kind, value, stack, timestamp, trace, context, unknown)| {
            let mut e = Exception::default();
            e.kind = kind;
            e.value = value;
            e.stacktrace = stack.map(|(frames, unknown)| {
                let mut s = Stacktrace::default();
                s.frames = frames;
                s.unknown = unknown;
                s
            });
            e.timestamp = timestamp;
            e.trace = trace;
            e.context = context;
            e.unknown = unknown;
            e
        })
}

fn measurement() -> impl Strategy<Value = Measurement> {
    let value = prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-1e9f64..1e9),
        (0i64..100_000).prop_map(|n| n as f64),
    ];
    (
        opt_text(),
        proptest::collection::btree_map(text(), value, 0..4),
        timestamp(),
        trace(),
        map(),
        unknown(),
    )
        .prop_map(|(kind, values, timestamp, trace, context, unknown)| {
            let mut m = Measurement::default();
            m.kind = kind;
            m.values = values;
            m.timestamp = timestamp;
            m.trace = trace;
            m.context = context;
            m.unknown = unknown;
            m
        })
}

fn event() -> impl Strategy<Value = Event> {
    (
        opt_text(),
        opt_text(),
        map(),
        timestamp(),
        trace(),
        unknown(),
    )
        .prop_map(|(name, domain, attributes, timestamp, trace, unknown)| {
            let mut e = Event::default();
            e.name = name;
            e.domain = domain;
            e.attributes = attributes;
            e.timestamp = timestamp;
            e.trace = trace;
            e.unknown = unknown;
            e
        })
}

fn payload() -> impl Strategy<Value = Payload> {
    let meta = (
        (opt_text(), opt_text(), opt_text(), map(), unknown()),
        (
            opt_text(),
            map(),
            opt_text(),
            proptest::option::of(any::<bool>()),
        ),
        (opt_text(), opt_text(), unknown()),
    );
    (
        meta,
        proptest::collection::vec(log(), 0..3),
        proptest::collection::vec(exception(), 0..3),
        proptest::collection::vec(measurement(), 0..3),
        proptest::collection::vec(event(), 0..3),
        unknown(),
        any::<bool>(),
    )
        .prop_map(
            |(meta, logs, exceptions, measurements, events, unknown, traces)| {
                let mut p = Payload::default();
                let ((app, sdk, user_id, user_attrs, user_unknown), (session, attrs, width, mobile), (view, page, meta_unknown)) = meta;
                p.meta.app.name = app;
                p.meta.sdk.name = sdk;
                p.meta.user.id = user_id;
                p.meta.user.attributes = user_attrs;
                p.meta.user.unknown = user_unknown;
                p.meta.session.id = session;
                p.meta.session.attributes = attrs;
                p.meta.browser.viewport_width = width;
                p.meta.browser.mobile = mobile;
                p.meta.view.name = view;
                p.meta.page.url = page;
                p.meta.unknown = meta_unknown;
                p.logs = logs;
                p.exceptions = exceptions;
                p.measurements = measurements;
                p.events = events;
                p.unknown = unknown;
                if traces {
                    p.traces = Some(
                        telltale_faro::Traces::from_json(
                            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"GET","kind":3}]}]}]}"#,
                        )
                        .unwrap(),
                    );
                }
                p
            },
        )
}

/// A small logfmt reader: `key=value` pairs separated by spaces, values bare or quoted with
/// Go's escapes.
fn parse_logfmt(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next().unwrap() {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        'u' => {
                            let hex: String = chars.by_ref().take(4).collect();
                            value.push(
                                char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                            );
                        }
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            assert!(matches!(chars.next(), None | Some(' ')), "{line}");
        } else {
            value = chars.by_ref().take_while(|&c| c != ' ').collect();
        }
        out.push((key, value));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_round_trip_keeps_everything(p in payload()) {
        let json = p.to_json();
        let back = Payload::from_json(&json).unwrap();
        prop_assert_eq!(&back, &p);
        // Re-encoding is stable byte for byte.
        prop_assert_eq!(back.to_json(), json);
    }

    #[test]
    fn alloy_lines_parse_back_into_their_fields(p in payload()) {
        for version in [AlloyVersion::V1_5, AlloyVersion::V1_12] {
            let lines = p.loki_lines(version);
            prop_assert_eq!(lines.len(), p.item_count());
            for line in lines {
                let del = version == AlloyVersion::V1_12;
                let keep = |c: char| !(c <= ' ' || c == '=' || c == '"' || c == '\u{fffd}' || (del && c == '\u{7f}'));
                let want: Vec<(String, String)> = line
                    .fields()
                    .iter()
                    .map(|(k, v)| (k.chars().filter(|&c| keep(c)).collect(), v.clone()))
                    .collect();
                match line.line() {
                    Some(text) => {
                        prop_assert!(!text.contains('\n'));
                        prop_assert_eq!(parse_logfmt(&text), want);
                    }
                    None => prop_assert!(want.iter().any(|(k, _)| k.is_empty())),
                }
            }
        }
    }
}
