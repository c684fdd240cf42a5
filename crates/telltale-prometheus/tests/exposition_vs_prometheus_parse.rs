//! Inputs that `prometheus-parse` 0.2 (a regex-and-split parser) gets wrong: label values
//! holding `,`, `=` or `}`, and escapes. Each case checks that our parser reads the input
//! right, and that `prometheus-parse` indeed reads it differently (so the case stays tricky).

use std::collections::HashMap;

use telltale_prometheus::exposition::{self, Format, MetricValue};

/// `prometheus-parse`'s samples as (metric, labels, value) for counters, gauges and untyped.
fn theirs(body: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape
        .samples
        .into_iter()
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            Some((s.metric, (*s.labels).clone(), value))
        })
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ours(body: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    let parsed = exposition::parse(body, Format::Text004).unwrap_or_else(|e| panic!("{e}"));
    parsed
        .samples()
        .map(|(_, s)| {
            let labels = s.labels.iter().cloned().collect();
            (s.name.clone(), labels, s.value)
        })
        .collect()
}

/// A sample as (name, labels, value).
type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

#[track_caller]
fn check(body: &str, expected: &[Expected<'_>]) {
    let expected: Vec<_> = expected
        .iter()
        .map(|(name, labels, value)| (name.to_string(), map(labels), *value))
        .collect();
    assert_eq!(ours(body), expected, "ours, on {body:?}");
    assert_ne!(
        theirs(body),
        expected,
        "prometheus-parse got {body:?} right"
    );
}

#[test]
fn comma_and_equals_in_label_values() {
    check(
        "# TYPE http_requests_total counter\nhttp_requests_total{path=\"/a,b=c\",method=\"GET\"} 3\n",
        &[(
            "http_requests_total",
            &[("path", "/a,b=c"), ("method", "GET")],
            3.0,
        )],
    );
    // prometheus-parse splits on ',' first: it reads path="/a" and invents b="c".
    let theirs = theirs("m{path=\"/a,b=c\",method=\"GET\"} 3\n");
    assert_eq!(
        theirs[0].1,
        map(&[("path", "/a"), ("b", "c"), ("method", "GET")])
    );
    check("m{query=\"x=y\"} 1\n", &[("m", &[("query", "x=y")], 1.0)]);
}

#[test]
fn braces_in_label_values() {
    // prometheus-parse's `[^}]+` stops at the first '}': the sample is dropped altogether.
    check(
        "m{a=\"}\"} 1\nn{json=\"{\\\"k\\\":1}\"} 2\n",
        &[
            ("m", &[("a", "}")], 1.0),
            ("n", &[("json", "{\"k\":1}")], 2.0),
        ],
    );
}

#[test]
fn escapes_in_label_values() {
    check(
        "m{a=\"quote \\\" here\",b=\"back\\\\slash\",c=\"new\\nline\"} 1\n",
        &[(
            "m",
            &[
                ("a", "quote \" here"),
                ("b", "back\\slash"),
                ("c", "new\nline"),
            ],
            1.0,
        )],
    );
}

#[test]
fn histogram_buckets_with_tricky_labels() {
    let body = "# TYPE h histogram\nh_bucket{path=\"/a,b\",le=\"1\"} 1\nh_bucket{path=\"/a,b\",le=\"+Inf\"} 2\nh_sum{path=\"/a,b\"} 1.5\nh_count{path=\"/a,b\"} 2\n";
    let parsed = exposition::parse(body, Format::Text004).unwrap();
    let metrics = parsed.family("h").unwrap().metrics();
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].label("path"), Some("/a,b"));
    assert_eq!(
        metrics[0].value,
        MetricValue::Histogram {
            buckets: vec![(1.0, 1.0), (f64::INFINITY, 2.0)],
            sum: Some(1.5),
            count: Some(2.0),
            created: None
        }
    );
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let paths: Vec<Option<&str>> = scrape
        .samples
        .iter()
        .map(|s| s.labels.get("path"))
        .collect();
    assert!(
        !paths.contains(&Some("/a,b")),
        "prometheus-parse read the path right: {paths:?}"
    );
}

#[test]
fn help_escapes() {
    let body = "# HELP m line one\\nline two \\\\ done\n# TYPE m gauge\nm 1\n";
    let parsed = exposition::parse(body, Format::Text004).unwrap();
    assert_eq!(
        parsed.families[0].help.as_deref(),
        Some("line one\nline two \\ done")
    );
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert_eq!(scrape.docs["m"], "line one\\nline two \\\\ done");
}

#[test]
fn malformed_input_is_an_error_not_a_silent_drop() {
    // prometheus-parse skips lines it cannot read; we say where and why.
    let body = "m{a=\"1\" 1\nn 2\n";
    assert_eq!(theirs(body).len(), 1);
    let err = exposition::parse(body, Format::Text004).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parse exposition at line 1, column 9: expected ',' or '}' after the value of label \"a\", found '1'"
    );
}
