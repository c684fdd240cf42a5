//! Parses what other Rust clients' encoders write, generated here: the `prometheus` crate's
//! `TextEncoder` (text 0.0.4) and `prometheus-client`'s OpenMetrics encoder, with counters,
//! gauges and histograms whose label values hold `,` `=` `"` `\`, line feeds and UTF-8, and
//! checks every parsed value against what was registered.

use telltale_prometheus::exposition::{self, Format, MetricType, MetricValue};

/// Label values that trip naive parsers.
const TRICKY: &[&str] = &[
    "/a,b=c",
    "k=v,k2=v2",
    "quote \" inside",
    "back\\slash",
    "new\nline",
    "čeština 日本語 🚀",
    "}{ # ",
    "",
];

/// Cumulative bucket counts of `observed` for `bounds` plus `+Inf`.
fn cumulative(bounds: &[f64], observed: &[f64]) -> Vec<(f64, f64)> {
    bounds
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .map(|le| (le, observed.iter().filter(|&&v| v <= le).count() as f64))
        .collect()
}

#[test]
fn prometheus_crate_text_encoder() {
    use prometheus::{
        Encoder as _, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry,
        TextEncoder,
    };
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "http_requests_total",
            "Requests, by path; help with \\ and\na line feed",
        ),
        &["path", "method"],
    )
    .unwrap();
    registry.register(Box::new(requests.clone())).unwrap();
    for (i, path) in TRICKY.iter().enumerate() {
        requests
            .with_label_values(&[path, "GET"])
            .inc_by(i as u64 + 1);
    }
    let temperature = GaugeVec::new(
        Opts::new("room_temperature_celsius", "Temperature."),
        &["room"],
    )
    .unwrap();
    registry.register(Box::new(temperature.clone())).unwrap();
    let readings = [
        -12.5,
        0.1,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e-300,
        f64::NAN,
    ];
    for (room, value) in TRICKY.iter().zip(readings) {
        temperature.with_label_values(&[room]).set(value);
    }
    let bounds = [0.005, 0.1, 1.0, 2.5];
    let latency = HistogramVec::new(
        HistogramOpts::new("request_seconds", "Latency.").buckets(bounds.to_vec()),
        &["route"],
    )
    .unwrap();
    registry.register(Box::new(latency.clone())).unwrap();
    let observations: Vec<Vec<f64>> = vec![vec![0.001, 0.05, 0.5, 3.0], vec![], vec![2.5, 2.5]];
    for (route, observed) in TRICKY.iter().zip(&observations) {
        let h = latency.with_label_values(&[route]);
        for &v in observed {
            h.observe(v);
        }
    }

    let encoder = TextEncoder::new();
    let mut body = String::new();
    encoder.encode_utf8(&registry.gather(), &mut body).unwrap();
    assert_eq!(
        Format::from_content_type(encoder.format_type()),
        Some(Format::Text004)
    );
    let parsed =
        exposition::parse(&body, Format::Text004).unwrap_or_else(|e| panic!("{e}\n{body}"));

    let family = parsed.family("http_requests_total").unwrap();
    assert_eq!(family.kind, MetricType::Counter);
    assert_eq!(
        family.help.as_deref(),
        Some("Requests, by path; help with \\ and\na line feed")
    );
    for (i, path) in TRICKY.iter().enumerate() {
        let sample = family
            .sample("http_requests_total", &[("path", path), ("method", "GET")])
            .unwrap_or_else(|| panic!("no sample for {path:?}\n{body}"));
        assert_eq!(sample.value, i as f64 + 1.0, "{path:?}");
    }
    assert_eq!(family.samples.len(), TRICKY.len());

    let family = parsed.family("room_temperature_celsius").unwrap();
    assert_eq!(family.kind, MetricType::Gauge);
    for (room, expected) in TRICKY.iter().zip(readings) {
        let got = family
            .sample("room_temperature_celsius", &[("room", room)])
            .unwrap()
            .value;
        assert!(
            got == expected || (got.is_nan() && expected.is_nan()),
            "{room:?}: {got} != {expected}"
        );
    }

    let metrics = parsed.family("request_seconds").unwrap().metrics();
    assert_eq!(metrics.len(), observations.len());
    for (route, observed) in TRICKY.iter().zip(&observations) {
        let metric = metrics
            .iter()
            .find(|m| m.label("route") == Some(route))
            .unwrap();
        assert_eq!(
            metric.value,
            MetricValue::Histogram {
                buckets: cumulative(&bounds, observed),
                sum: Some(observed.iter().sum()),
                count: Some(observed.len() as f64),
                created: None,
            },
            "{route:?}"
        );
    }
}

#[test]
fn prometheus_client_openmetrics_encoder() {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::exemplar::{CounterWithExemplar, HistogramWithExemplars};
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::metrics::info::Info;
    use prometheus_client::registry::{Registry, Unit};
    use std::sync::atomic::AtomicU64;

    type Labels = Vec<(String, String)>;
    // prometheus-client 0.24 writes label values without escaping them (see the next
    // test), so only values that need no escape go through it.
    let safe: Vec<&str> = TRICKY
        .iter()
        .copied()
        .filter(|v| !v.contains(['"', '\\', '\n']))
        .collect();
    assert_eq!(safe.len(), 5);
    let labels = |k: &str, v: &str| -> Labels { vec![(k.to_owned(), v.to_owned())] };

    let mut registry = Registry::default();
    let requests = Family::<Labels, Counter>::default();
    registry.register("http_requests", "Requests, by path.", requests.clone());
    for (i, path) in safe.iter().enumerate() {
        requests
            .get_or_create(&labels("path", path))
            .inc_by(i as u64 + 1);
    }
    let temperature = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    registry.register_with_unit(
        "room_temperature",
        "Temperature.",
        Unit::Celsius,
        temperature.clone(),
    );
    let readings = [-12.5, 0.1, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
    for (room, value) in safe.iter().zip(readings) {
        temperature.get_or_create(&labels("room", room)).set(value);
    }
    let bounds = [0.005, 0.1, 1.0, 2.5];
    let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
        Histogram::new([0.005, 0.1, 1.0, 2.5])
    });
    registry.register_with_unit("request", "Latency.", Unit::Seconds, latency.clone());
    let observations: Vec<Vec<f64>> = vec![vec![0.001, 0.05, 0.5, 3.0], vec![], vec![2.5, 2.5]];
    for (route, observed) in safe.iter().zip(&observations) {
        let h = latency.get_or_create(&labels("route", route));
        for &v in observed {
            h.observe(v);
        }
    }
    let jobs = CounterWithExemplar::<Labels>::default();
    registry.register("jobs", "Jobs with an exemplar.", jobs.clone());
    jobs.inc_by(7, Some(labels("trace_id", "k=v,日本")), None);
    let sizes = HistogramWithExemplars::<Labels>::new([10.0, 100.0].into_iter());
    registry.register("payload", "Payload sizes.", sizes.clone());
    sizes.observe(42.0, Some(labels("trace_id", "abc")), None);
    let build = Info::new(vec![("version".to_owned(), "1.2.3 ,=".to_owned())]);
    registry.register("build", "Build information.", build);

    let mut body = String::new();
    encode(&mut body, &registry).unwrap();
    let parsed =
        exposition::parse(&body, Format::OpenMetrics1).unwrap_or_else(|e| panic!("{e}\n{body}"));

    let family = parsed.family("http_requests").unwrap();
    assert_eq!(family.kind, MetricType::Counter);
    for (i, path) in safe.iter().enumerate() {
        let metric = family
            .metrics()
            .into_iter()
            .find(|m| m.label("path") == Some(path))
            .unwrap_or_else(|| panic!("no metric for {path:?}\n{body}"));
        assert_eq!(
            metric.value,
            MetricValue::Counter {
                total: i as f64 + 1.0,
                created: None
            }
        );
    }

    let family = parsed.family("room_temperature_celsius").unwrap();
    assert_eq!(family.unit.as_deref(), Some("celsius"));
    for (room, expected) in safe.iter().zip(readings) {
        let got = family
            .sample("room_temperature_celsius", &[("room", room)])
            .unwrap()
            .value;
        assert!(
            got == expected || (got.is_nan() && expected.is_nan()),
            "{room:?}: {got} != {expected}"
        );
    }

    let metrics = parsed.family("request_seconds").unwrap().metrics();
    for (route, observed) in safe.iter().zip(&observations) {
        let metric = metrics
            .iter()
            .find(|m| m.label("route") == Some(route))
            .unwrap();
        assert_eq!(
            metric.value,
            MetricValue::Histogram {
                buckets: cumulative(&bounds, observed),
                sum: Some(observed.iter().sum()),
                count: Some(observed.len() as f64),
                created: None,
            },
            "{route:?}"
        );
    }

    let jobs = &parsed.family("jobs").unwrap().samples[0];
    assert_eq!(jobs.name, "jobs_total");
    assert_eq!(jobs.value, 7.0);
    let exemplar = jobs.exemplar.as_ref().unwrap();
    assert_eq!(exemplar.labels, labels("trace_id", "k=v,日本"));
    assert_eq!(exemplar.value, 7.0);

    let payload = parsed.family("payload").unwrap();
    let with_exemplar: Vec<_> = payload
        .samples
        .iter()
        .filter(|s| s.exemplar.is_some())
        .collect();
    assert_eq!(with_exemplar.len(), 1);
    assert_eq!(with_exemplar[0].label("le"), Some("100.0"));
    assert_eq!(with_exemplar[0].exemplar.as_ref().unwrap().value, 42.0);

    let build = parsed.family("build").unwrap();
    assert_eq!(build.kind, MetricType::Info);
    assert_eq!(build.metrics()[0].label("version"), Some("1.2.3 ,="));
}

#[test]
fn prometheus_client_does_not_escape_label_values_and_we_say_where() {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::registry::Registry;

    for (value, column, needle) in [
        (
            "quote \" inside",
            34,
            "expected ',' or '}' after the value of label \"path\", found ' '",
        ),
        (
            "new\nline",
            26,
            "value of label \"path\" has no closing '\"' before the end of the line",
        ),
        (
            "ends in \\",
            26,
            "value of label \"path\" has no closing '\"' before the end of the line",
        ),
    ] {
        let mut registry = Registry::default();
        let requests = Family::<Vec<(String, String)>, Counter>::default();
        registry.register("http_requests", "Requests.", requests.clone());
        requests
            .get_or_create(&vec![("path".to_owned(), value.to_owned())])
            .inc();
        let mut body = String::new();
        encode(&mut body, &registry).unwrap();
        // The raw value is on the wire, unescaped.
        assert!(body.contains(value), "{body}");
        match exposition::parse(&body, Format::OpenMetrics1) {
            Err(telltale_prometheus::Error::Parse {
                line,
                column: c,
                reason,
            }) => {
                assert_eq!((line, c), (3, column), "{value:?}: {reason}");
                assert!(reason.contains(needle), "{value:?}: {reason}");
            }
            other => panic!("{value:?}: {other:?}\n{body}"),
        }
    }
}
