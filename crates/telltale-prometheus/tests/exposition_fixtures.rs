//! Parses expositions recorded from real servers (`fixtures/prometheus/exposition/`, see its
//! README): node_exporter 1.5.0 and Prometheus 2.42.0 (text 0.0.4) and client_python 0.16.0
//! (text 0.0.4 and OpenMetrics), checks values against the recordings, cross-checks plain
//! samples with `prometheus-parse`, and renders each back to the same exposition.

use std::path::Path;

use telltale_prometheus::exposition::{
    self, Exemplar, Exposition, Format, MetricType, MetricValue, Sample,
};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/prometheus/exposition")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(name: &str, format: Format) -> Exposition {
    exposition::parse(&fixture(name), format).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Equality that treats NaN as equal to NaN.
fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_sample(a: &Sample, b: &Sample) -> bool {
    a.name == b.name
        && a.labels == b.labels
        && same_value(a.value, b.value)
        && a.timestamp_ms == b.timestamp_ms
        && match (&a.exemplar, &b.exemplar) {
            (None, None) => true,
            (Some(x), Some(y)) => {
                x.labels == y.labels
                    && same_value(x.value, y.value)
                    && x.timestamp_ms == y.timestamp_ms
            }
            _ => false,
        }
}

fn assert_same(a: &Exposition, b: &Exposition) {
    assert_eq!(a.format, b.format);
    assert_eq!(a.families.len(), b.families.len());
    for (x, y) in a.families.iter().zip(&b.families) {
        assert_eq!(
            (&x.name, x.kind, &x.help, &x.unit),
            (&y.name, y.kind, &y.help, &y.unit)
        );
        assert_eq!(x.samples.len(), y.samples.len(), "{}", x.name);
        for (s, t) in x.samples.iter().zip(&y.samples) {
            assert!(same_sample(s, t), "{s:?} != {t:?}");
        }
    }
}

/// Renders and parses again: the result must be the same exposition.
fn assert_round_trip(parsed: &Exposition) {
    let rendered = exposition::render(parsed);
    let again = exposition::parse(&rendered, parsed.format).unwrap_or_else(|e| panic!("{e}"));
    assert_same(parsed, &again);
}

/// Every counter, gauge and untyped sample `prometheus-parse` finds must be ours too.
fn cross_check_with_prometheus_parse(body: &str, parsed: &Exposition) -> usize {
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let theirs = prometheus_parse::Scrape::parse(lines).unwrap();
    let mut checked = 0;
    for sample in &theirs.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        let labels: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ours = parsed
            .find_sample(&sample.metric, &labels)
            .unwrap_or_else(|| panic!("no sample {} {labels:?}", sample.metric));
        assert!(same_value(ours.value, value), "{}", sample.metric);
        checked += 1;
    }
    checked
}

#[test]
fn node_exporter_1_5_0_text() {
    let body = fixture("node_exporter-1.5.0.txt");
    let parsed = parse("node_exporter-1.5.0.txt", Format::Text004);
    let type_lines = body.lines().filter(|l| l.starts_with("# TYPE")).count();
    let sample_lines = body.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(parsed.families.len(), type_lines);
    assert_eq!(parsed.sample_count(), sample_lines);
    assert_eq!(type_lines, 283);

    let cpu = parsed.family("node_cpu_seconds_total").unwrap();
    assert_eq!(cpu.kind, MetricType::Counter);
    assert_eq!(
        cpu.help.as_deref(),
        Some("Seconds the CPUs spent in each mode.")
    );
    let idle = cpu
        .sample("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")])
        .unwrap();
    assert_eq!(idle.value, 1397.98);

    let build = parsed
        .find_sample(
            "node_exporter_build_info",
            &[
                ("branch", "debian/sid"),
                ("goarch", "amd64"),
                ("goos", "linux"),
                ("goversion", "go1.19.8"),
                ("revision", "1.5.0-1+b6"),
                ("version", "1.5.0"),
            ],
        )
        .unwrap();
    assert_eq!(build.value, 1.0);

    let gc = parsed.family("go_gc_duration_seconds").unwrap().metrics();
    assert!(matches!(
        &gc[0].value,
        MetricValue::Summary { quantiles, count: Some(_), sum: Some(_), .. }
            if quantiles.iter().map(|q| q.0).collect::<Vec<_>>() == [0.0, 0.25, 0.5, 0.75, 1.0]
    ));
    assert_eq!(
        parsed
            .families
            .iter()
            .filter(|f| f.kind == MetricType::Unknown)
            .count(),
        47
    );

    assert!(cross_check_with_prometheus_parse(&body, &parsed) > 400);
    assert_round_trip(&parsed);
}

#[test]
fn prometheus_2_42_0_text() {
    let body = fixture("prometheus-2.42.0.txt");
    let parsed = parse("prometheus-2.42.0.txt", Format::Text004);
    assert_eq!(
        parsed.families.len(),
        body.lines().filter(|l| l.starts_with("# TYPE")).count()
    );
    let build = parsed.family("prometheus_build_info").unwrap();
    assert_eq!(build.samples[0].label("version"), Some("2.42.0+ds"));

    let histograms: Vec<_> = parsed
        .families
        .iter()
        .filter(|f| f.kind == MetricType::Histogram)
        .collect();
    assert_eq!(histograms.len(), 7);
    let durations = parsed
        .family("prometheus_http_request_duration_seconds")
        .unwrap()
        .metrics();
    let ready = durations
        .iter()
        .find(|m| m.label("handler") == Some("/-/ready"))
        .unwrap();
    let MetricValue::Histogram {
        buckets,
        count,
        sum,
        ..
    } = &ready.value
    else {
        panic!("not a histogram: {ready:?}")
    };
    let bounds: Vec<f64> = buckets.iter().map(|b| b.0).collect();
    assert_eq!(
        bounds,
        [
            0.1,
            0.2,
            0.4,
            1.0,
            3.0,
            8.0,
            20.0,
            60.0,
            120.0,
            f64::INFINITY
        ]
    );
    assert_eq!(*count, Some(buckets.last().unwrap().1));
    assert!(sum.is_some());

    // Summaries with no observations expose NaN quantiles.
    let nan_quantiles = parsed
        .samples()
        .filter(|(f, s)| f.kind == MetricType::Summary && s.value.is_nan())
        .count();
    assert_eq!(
        nan_quantiles,
        body.lines().filter(|l| l.ends_with(" NaN")).count()
    );
    assert!(nan_quantiles > 0);

    assert!(cross_check_with_prometheus_parse(&body, &parsed) > 150);
    assert_round_trip(&parsed);
}

#[test]
fn python_client_0_16_0_openmetrics() {
    let parsed = parse("python_client-0.16.0.om.txt", Format::OpenMetrics1);
    let requests = parsed.family("demo_requests").unwrap();
    assert_eq!(requests.kind, MetricType::Counter);
    let metrics = requests.metrics();
    assert_eq!(metrics.len(), 3);
    assert_eq!(
        metrics[1].label("path"),
        Some("quote \" backslash \\ newline \n end")
    );
    assert!(matches!(
        metrics[1].value,
        MetricValue::Counter { total: 2.0, created: Some(c) } if c > 1.7e9
    ));
    assert_eq!(metrics[0].label("path"), Some("/a,b=c"));
    assert_eq!(metrics[2].label("path"), Some("unicode/čeština/日本語/🚀"));
    assert_eq!(
        requests.samples[2].exemplar,
        Some(Exemplar {
            labels: vec![("trace_id".to_owned(), "4bf92f3577b34da6".to_owned())],
            value: 2.0,
            timestamp_ms: Some(1_795_319_222_011),
        })
    );

    let temperature = parsed.family("demo_temperature_celsius").unwrap();
    assert_eq!(temperature.unit.as_deref(), Some("celsius"));
    assert_eq!(temperature.metrics()[0].value, MetricValue::Gauge(-12.5));

    let latency = parsed.family("demo_latency_seconds").unwrap();
    let MetricValue::Histogram {
        buckets,
        sum,
        count,
        created,
    } = &latency.metrics()[0].value
    else {
        panic!("not a histogram")
    };
    assert_eq!(
        buckets,
        &vec![
            (0.005, 1.0),
            (0.1, 2.0),
            (1.0, 4.0),
            (2.5, 4.0),
            (f64::INFINITY, 5.0)
        ]
    );
    assert_eq!((*sum, *count), (Some(4.2509999999999994), Some(5.0)));
    assert!(created.is_some());
    let with_exemplars = latency
        .samples
        .iter()
        .filter(|s| s.exemplar.is_some())
        .count();
    assert_eq!(with_exemplars, 3);

    assert_eq!(
        parsed.family("demo_build").unwrap().metrics()[0].label("commit"),
        Some("abc\"def")
    );
    assert_eq!(
        parsed.family("demo_state").unwrap().metrics()[0].value,
        MetricValue::StateSet {
            states: vec![
                ("starting".to_owned(), false),
                ("running".to_owned(), true),
                ("stopped".to_owned(), false)
            ]
        }
    );
    assert_round_trip(&parsed);
}

#[test]
fn python_client_text_and_openmetrics_agree() {
    let text = parse("python_client-0.16.0.txt", Format::Text004);
    let om = parse("python_client-0.16.0.om.txt", Format::OpenMetrics1);
    // The same registry, scraped twice: every text sample of the demo metrics exists in the
    // OpenMetrics exposition with the same value.
    let mut compared = 0;
    for (family, sample) in text.samples() {
        if !family.name.starts_with("demo_") {
            continue;
        }
        let labels: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let theirs = om
            .find_sample(&sample.name, &labels)
            .unwrap_or_else(|| panic!("{} {labels:?} missing in OpenMetrics", sample.name));
        assert!(same_value(sample.value, theirs.value), "{}", sample.name);
        compared += 1;
    }
    assert_eq!(compared, 22);
    assert_round_trip(&text);
}

#[test]
fn bytes_with_the_recorded_content_types_and_gzip() {
    use std::io::Write as _;
    let body = fixture("python_client-0.16.0.om.txt");
    // What client_python 0.16.0 answered to an OpenMetrics Accept header.
    let content_type = "application/openmetrics-text; version=0.0.1; charset=utf-8";
    let direct = exposition::parse_bytes(body.as_bytes(), Some(content_type), None).unwrap();
    assert_eq!(direct.format, Format::OpenMetrics1);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    let unzipped = exposition::parse_bytes(&compressed, Some(content_type), Some("gzip")).unwrap();
    assert_same(&direct, &unzipped);

    let text = fixture("node_exporter-1.5.0.txt");
    let parsed = exposition::parse_bytes(
        text.as_bytes(),
        Some("text/plain; version=0.0.4; charset=utf-8"),
        None,
    )
    .unwrap();
    assert_eq!(parsed.format, Format::Text004);
    // The same text read as OpenMetrics fails: text counters are named like their family.
    let err = exposition::parse(&text, Format::OpenMetrics1).unwrap_err();
    assert!(
        err.to_string()
            .contains("OpenMetrics counter sample must be named"),
        "{err}"
    );
}
