//! Decoding tests on OTLP request bodies recorded from the Python and Node SDKs
//! (`fixtures/otlp/`, see its README): every body decodes, and holds what the SDK emitted.

use std::path::{Path, PathBuf};

use crate::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/otlp")
}

/// Every recorded body of `signal` in `folder`: (file name, decoded batch).
fn bodies<T: Signal>(folder: &str, signal: &str) -> Vec<(String, Batch<T>)> {
    let dir = fixtures().join(folder);
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{signal}.")) && !n.ends_with(".headers.json"))
        .collect();
    names.sort();
    for name in names {
        let body = std::fs::read(dir.join(&name)).unwrap();
        let headers: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{name}.headers.json"))).unwrap(),
        )
        .unwrap();
        let h = &headers["headers"];
        let batch = decode_http_body::<T>(
            &body,
            h["content-type"].as_str().unwrap(),
            h["content-encoding"].as_str(),
        )
        .unwrap_or_else(|e| panic!("{folder}/{name}: {e}"));
        out.push((name, batch));
    }
    out
}

const SDKS: [(&str, &str, usize); 2] = [("python-1.45.2", "python", 2), ("node-2.12.1", "node", 4)];

#[test]
fn log_records_from_other_sdks() {
    for (folder, sdk, files) in SDKS {
        let tag = RunTag::new(format!("fixture-{sdk}"));
        let all = bodies::<LogRecord>(folder, "logs");
        assert_eq!(all.len(), files, "{folder}");
        for (name, batch) in all {
            assert_eq!(batch.len(), 1, "{folder}/{name}");
            let (resource, r) = batch.items_with_resource().next().unwrap();
            assert_eq!(
                attribute(resource, "service.name"),
                Some(&Value::from(format!("fixture-{sdk}"))),
                "{folder}/{name}"
            );
            assert_eq!(r.body, Value::from(format!("hello from {sdk}")));
            assert_eq!(r.severity, Severity::WARN, "{folder}/{name}");
            assert_eq!(tag.seq_of(&r.attributes), Some(7), "{folder}/{name}");
            assert!(r.time_unix_nano > 1_700_000_000_000_000_000);
            // Both were emitted inside the parent span.
            assert!(
                r.trace_id.is_some() && r.span_id.is_some(),
                "{folder}/{name}"
            );
        }
    }
}

#[test]
fn metrics_from_other_sdks() {
    for (folder, sdk, files) in SDKS {
        let tag = RunTag::new(format!("fixture-{sdk}"));
        let all = bodies::<Metric>(folder, "metrics");
        assert_eq!(all.len(), files, "{folder}");
        for (name, batch) in all {
            let ctx = format!("{folder}/{name}");
            assert_eq!(Metric::count(&batch), 4, "{ctx}");
            let by_name = |n: &str| {
                batch
                    .items()
                    .find(|m| m.name == n)
                    .unwrap_or_else(|| panic!("{ctx}: no {n}"))
            };
            for m in batch.items() {
                for attrs in m.point_attributes() {
                    assert_eq!(tag.seq_of(attrs), Some(7), "{ctx} {}", m.name);
                }
            }
            match &by_name("fixture.requests").data {
                MetricData::Sum {
                    monotonic: true,
                    temporality: Temporality::Cumulative,
                    points,
                } => assert_eq!(points[0].value.as_f64(), 3.0, "{ctx}"),
                other => panic!("{ctx}: requests is {other:?}"),
            }
            assert_eq!(by_name("fixture.requests").unit, "1");
            match &by_name("fixture.queue").data {
                MetricData::Sum {
                    monotonic: false,
                    points,
                    ..
                } => assert_eq!(points[0].value.as_f64(), -2.0, "{ctx}"),
                other => panic!("{ctx}: queue is {other:?}"),
            }
            match &by_name("fixture.latency").data {
                MetricData::Histogram { points, .. } => {
                    let p = &points[0];
                    assert_eq!((p.count, p.sum), (1, Some(0.25)), "{ctx}");
                    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
                    assert_eq!(p.bucket_counts.iter().sum::<u64>(), 1);
                }
                other => panic!("{ctx}: latency is {other:?}"),
            }
            match &by_name("fixture.temperature").data {
                MetricData::Gauge(points) => assert_eq!(points[0].value, Number::Double(21.5)),
                other => panic!("{ctx}: temperature is {other:?}"),
            }
        }
    }
}

#[test]
fn spans_from_other_sdks() {
    for (folder, sdk, files) in SDKS {
        let tag = RunTag::new(format!("fixture-{sdk}"));
        let all = bodies::<Span>(folder, "traces");
        assert_eq!(all.len(), files, "{folder}");
        for (name, batch) in all {
            let ctx = format!("{folder}/{name}");
            assert_eq!(batch.len(), 2, "{ctx}");
            let parent = batch.items().find(|s| s.name == "parent").unwrap();
            let child = batch.items().find(|s| s.name == "child").unwrap();
            assert_eq!(parent.parent_span_id, None, "{ctx}");
            assert_eq!(child.parent_span_id, Some(parent.span_id), "{ctx}");
            assert_eq!(child.trace_id, parent.trace_id);
            assert_ne!(parent.trace_id, TraceId::default());
            assert_eq!(tag.seq_of(&parent.attributes), Some(7), "{ctx}");
            assert_eq!(child.kind, SpanKind::Client);
            assert_eq!(
                (child.status, child.status_message.as_str()),
                (StatusCode::Error, "boom"),
                "{ctx}"
            );
            assert_eq!(child.events[0].name, "fixture.event");
            assert_eq!(
                child.events[0].attributes,
                vec![("n".into(), Value::Int(1))]
            );
            assert!(child.end_time_unix_nano >= child.start_time_unix_nano);
        }
    }
}

#[test]
fn node_json_writes_some_int64_as_numbers_and_we_read_them() {
    // The mapping says strings; the JS exporter writes numbers for intValue and bucket counts.
    let raw = std::fs::read_to_string(fixtures().join("node-2.12.1/metrics.json")).unwrap();
    assert!(raw.contains(r#""intValue":7"#) && raw.contains(r#""count":1"#));
    let batch: Batch<Metric> = decode(raw.as_bytes(), Encoding::Json).unwrap();
    assert_eq!(Metric::count(&batch), 4);
}
