//! Decoding tests on bodies the real `@grafana/faro-web-sdk` sent from headless Chromium
//! (`fixtures/faro/web-sdk-2.12.1/`, see its README): one item per request, batched, and gzip.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{run_and_seq, AlloyVersion, ItemKind, Payload};

fn dir(mode: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/faro/web-sdk-2.12.1")
        .join(mode)
}

/// Every recorded body of a capture, uncompressed, in request order, with its headers.
fn bodies(mode: &str) -> Vec<(String, Vec<u8>, Value)> {
    let mut names: Vec<_> = std::fs::read_dir(dir(mode))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".body."))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures in {mode}");
    names
        .into_iter()
        .map(|name| {
            let raw = std::fs::read(dir(mode).join(&name)).unwrap();
            let body = if name.ends_with(".gz") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            } else {
                raw
            };
            let headers_name = format!("{}.headers.json", &name[..3]);
            let headers =
                serde_json::from_slice(&std::fs::read(dir(mode).join(headers_name)).unwrap())
                    .unwrap();
            (name, body, headers)
        })
        .collect()
}

/// Drops what Go treats as absent (nulls, empty arrays and objects) and compares numbers by
/// value, so `42` and `42.0` are equal.
fn normalize(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Array(items) => {
            let items: Vec<_> = items.into_iter().filter_map(normalize).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => {
            let map: serde_json::Map<_, _> = map
                .into_iter()
                .filter_map(|(k, v)| normalize(v).map(|v| (k, v)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        Value::Number(n) => Some(Value::from(n.as_f64().unwrap())),
        other => Some(other),
    }
}

fn reencodes_intact(name: &str, body: &[u8]) -> Payload {
    let payload = Payload::from_json(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = payload.to_json();
    let want = normalize(serde_json::from_slice(body).unwrap());
    let got = normalize(serde_json::from_slice(&again).unwrap());
    assert_eq!(got, want, "{name} changed on re-encoding");
    assert_eq!(Payload::from_json(&again).unwrap(), payload, "{name}");
    payload
}

#[test]
fn every_capture_decodes_and_reencodes_with_unknown_fields_intact() {
    for mode in ["single", "batched", "gzip"] {
        let mut with_view = 0;
        for (name, body, headers) in bodies(mode) {
            let p = reencodes_intact(&format!("{mode}/{name}"), &body);
            // What the SDK always sends, and what Alloy would not read.
            assert_eq!(p.meta.sdk.name.as_deref(), Some("faro-web"));
            assert_eq!(p.meta.sdk.version.as_deref(), Some("2.12.1"));
            assert_eq!(p.meta.browser.viewport_width.as_deref(), Some("1280"));
            assert_eq!(p.meta.browser.mobile, Some(false));
            assert!(p
                .meta
                .browser
                .unknown
                .get_json("brands")
                .unwrap()
                .contains("Chromium"));
            assert_eq!(
                p.meta.unknown.get_json("os").as_deref(),
                Some(r#"{"name":"Linux"}"#)
            );
            assert_eq!(p.meta.app.name.as_deref(), Some("telltale-capture"));
            let run = format!("fixture-{mode}");
            assert_eq!(p.meta.session.attributes.get("telltale_run"), Some(&run));
            // The session's first event goes out before the page sets its user and view.
            if p.meta.view.name.is_some() {
                assert_eq!(p.meta.view.name.as_deref(), Some("capture-view"));
                assert_eq!(
                    p.meta.user.attributes.get("plan").map(String::as_str),
                    Some("free")
                );
                with_view += 1;
            }
            // The SDK's request headers: JSON, the API key, gzip only when asked.
            assert_eq!(headers["content-type"], "application/json", "{mode}/{name}");
            assert_eq!(headers["x-api-key"], "fixture-api-key");
            let gz = headers.get("content-encoding").and_then(Value::as_str);
            assert_eq!(gz == Some("gzip"), mode == "gzip", "{mode}/{name}");
        }
        assert!(with_view >= 3, "{mode}");
    }
}

#[test]
fn single_mode_sends_one_item_per_request() {
    let all = bodies("single");
    for (name, body, _) in &all {
        let p = Payload::from_json(body).unwrap();
        let n = p.item_count() + usize::from(p.traces.is_some());
        assert_eq!(n, 1, "single/{name}");
    }
    let tagged: Vec<_> = all
        .iter()
        .flat_map(|(_, body, _)| {
            Payload::from_json(body)
                .unwrap()
                .loki_lines(AlloyVersion::V1_5)
        })
        .filter_map(|l| {
            run_and_seq(l.kind(), |k| l.get(k)).map(|(r, s)| (l.kind(), r.to_owned(), s))
        })
        .collect();
    let want = [
        (ItemKind::Log, 0),
        (ItemKind::Log, 1),
        (ItemKind::Exception, 2),
        (ItemKind::Exception, 3),
        (ItemKind::Measurement, 4),
        (ItemKind::Event, 5),
    ];
    assert_eq!(
        tagged,
        want.map(|(k, s)| (k, "fixture-single".to_owned(), s))
    );
}

/// The batch that carries the page's own items: same in `batched` and `gzip` captures.
fn items_batch(mode: &str) -> Payload {
    bodies(mode)
        .into_iter()
        .map(|(_, body, _)| Payload::from_json(&body).unwrap())
        .find(|p| !p.logs.is_empty())
        .unwrap()
}

#[test]
fn batched_and_gzip_payloads_carry_the_pages_items() {
    for mode in ["batched", "gzip"] {
        let p = items_batch(mode);
        let run = format!("fixture-{mode}");
        assert_eq!(p.logs.len(), 2, "{mode}");
        assert_eq!(p.exceptions.len(), 3);
        let log = &p.logs[0];
        assert_eq!(
            log.message.as_deref(),
            Some(format!("hello from {mode} with \"quotes\" and = signs").as_str())
        );
        assert_eq!(log.level.as_deref(), Some("info"));
        assert_eq!(log.context["telltale_run"], run);
        assert_eq!(log.context["telltale_seq"], "0");
        assert_eq!(p.logs[1].level.as_deref(), Some("warn"));
        assert_eq!(
            p.logs[1].message.as_deref(),
            Some("a warning\nover two lines")
        );
        assert!(log.timestamp.as_ref().unwrap().as_str().ends_with('Z'));

        let syntax = &p.exceptions[0];
        assert_eq!(syntax.kind.as_deref(), Some("SyntaxError"));
        let frames = &syntax.stacktrace.as_ref().unwrap().frames;
        assert_eq!(frames[0].function.as_deref(), Some("JSON.parse"));
        assert_eq!((frames[0].lineno, frames[0].colno), (None, None));
        assert!(frames[1].lineno.unwrap() > 0 && frames[1].colno.unwrap() > 0);
        assert!(frames[1]
            .filename
            .as_deref()
            .unwrap()
            .ends_with("/bundle.js"));
        assert_eq!(p.exceptions[1].value.as_deref(), Some("boom: ünïcödé ✓"));
        assert_eq!(
            p.exceptions[2].value.as_deref(),
            Some(format!("console.error: console error {mode}").as_str())
        );

        let m = p
            .measurements
            .iter()
            .find(|m| m.kind.as_deref() == Some("telltale"))
            .unwrap();
        assert_eq!(m.values["answer"], 42.0);
        assert_eq!(m.values["ratio"], 0.125);
        assert_eq!(m.values["big"], 12_345_678.5);
        let e = p
            .events
            .iter()
            .find(|e| e.name.as_deref() == Some("fixture_event"))
            .unwrap();
        assert_eq!(e.domain.as_deref(), Some("telltale"));
        assert_eq!(e.attributes["telltale_seq"], "5");

        // Alloy's lines for the batch: one per item, each findable by run and sequence.
        let lines = p.loki_lines(AlloyVersion::V1_5);
        assert_eq!(lines.len(), p.item_count());
        let mut seqs: Vec<_> = lines
            .iter()
            .filter_map(|l| run_and_seq(l.kind(), |k| l.get(k)))
            .map(|(r, s)| {
                assert_eq!(r, run);
                s
            })
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
        let first = lines[0].line().unwrap();
        assert!(
            first.contains(&format!(
                " kind=log message=\"hello from {mode} with \\\"quotes\\\" and = signs\" level=info context_telltale_run={run} context_telltale_seq=0 "
            )),
            "{first}"
        );
        assert!(first.contains(" browser_viewportWidth=1280 "), "{first}");
        let m_line = lines
            .iter()
            .find(|l| l.get("type") == Some("telltale"))
            .unwrap();
        assert_eq!(m_line.get("big"), Some("12345678.500000"));
        assert_eq!(m_line.get("value_big"), Some("1.23456785e+07"));
        assert_eq!(m_line.get("value_answer"), Some("42"));
    }
}

#[test]
fn traces_are_otlp_json_with_readable_spans() {
    let p = bodies("batched")
        .into_iter()
        .map(|(_, body, _)| Payload::from_json(&body).unwrap())
        .find(|p| p.traces.is_some())
        .unwrap();
    let spans = p.traces.as_ref().unwrap().spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name.as_deref(), Some("GET"));
    assert_eq!(span.kind.as_deref(), Some("3"));
    assert_eq!(span.trace_id.as_ref().map(String::len), Some(32));
    assert_eq!(
        span.scope.as_deref(),
        Some("@opentelemetry/instrumentation-fetch")
    );
    assert!(span.attributes["url.full"].ends_with("/index.html?traced=1"));
    assert_eq!(span.attributes["http.response.status_code"], "200");
    // The SDK's fetch event carries the same trace context; Alloy writes it as traceID.
    let event = p
        .events
        .iter()
        .find(|e| e.name.as_deref() == Some("faro.tracing.fetch"))
        .unwrap();
    assert_eq!(event.trace.as_ref().unwrap().trace_id, span.trace_id);
    assert_eq!(
        p.loki_lines(AlloyVersion::V1_5)[0].get("traceID"),
        span.trace_id.as_deref()
    );
}

#[test]
fn the_sdk_payloads_alloy_would_refuse_are_refused() {
    // The same capture with the viewport as a number, which Alloy's string field cannot take: 400.
    let (_, body, _) = bodies("batched").remove(0);
    let text = String::from_utf8(body).unwrap();
    let broken = text.replace("\"viewportWidth\":\"1280\"", "\"viewportWidth\":1280");
    assert_ne!(broken, text);
    match Payload::from_json(broken.as_bytes()) {
        Err(crate::Error::Decode { path, .. }) => assert_eq!(path, "meta.browser.viewportWidth"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    // A gzip body as such is not JSON: Alloy before 1.17 answers 400 to it.
    let gz = std::fs::read(dir("gzip").join("001.body.json.gz")).unwrap();
    assert!(Payload::from_json(&gz).is_err());
}

/// The lines a real Grafana Agent `app_agent_receiver` (main-729ce05) wrote to Loki for each
/// recorded body (`fixtures/faro/agent-main-729ce05/`, see its README) are exactly
/// [`AlloyVersion::Agent`]'s rendering, and every builder item is recognised in them.
#[test]
fn agent_receiver_lines_are_rendered_exactly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/faro");
    let recorded = root.join("agent-main-729ce05/lines");
    let mut names: Vec<_> = std::fs::read_dir(&recorded)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 20, "{names:?}");
    let mut lines_checked = 0;
    for name in names {
        let stem = name.trim_end_matches(".lines");
        let body_path = match stem.strip_prefix("web-sdk-") {
            Some(rest) => {
                let (mode, n) = rest.split_once('-').unwrap();
                root.join(format!("web-sdk-2.12.1/{mode}/{n}.body.json"))
            }
            None => root.join(format!("agent-main-729ce05/{stem}.body.json")),
        };
        let payload = Payload::from_json(&std::fs::read(&body_path).unwrap()).unwrap();
        let want: Vec<String> = payload
            .loki_lines(AlloyVersion::Agent)
            .iter()
            .map(|l| l.line().unwrap())
            .collect();
        let got: Vec<String> = std::fs::read_to_string(recorded.join(&name))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(got, want, "{name}");
        for line in &got {
            let m = crate::compare(
                line,
                &AlloyVersion::ALL
                    .iter()
                    .flat_map(|v| payload.loki_lines(*v))
                    .collect::<Vec<_>>(),
            );
            // The web SDK's lines without exceptions or measurements can equal Alloy's too.
            assert!(m.exact.is_some(), "{name}: {m:?}");
        }
        if stem == "builder" {
            let seqs: Vec<_> = got
                .iter()
                .map(|l| crate::item_seq(l, "fixture-agent"))
                .collect();
            // Item 2 is an exception written by hand without the builder's tag frame: the
            // Agent drops its context, so nothing in its line says which item it was.
            assert_eq!(seqs, [Some(0), Some(1), None, Some(3), Some(4)]);
        }
        lines_checked += got.len();
    }
    assert_eq!(lines_checked, 33);
}
