//! Unit tests for the exposition parser: one per rule and per error, with its position.

use super::*;

fn text(src: &str) -> Exposition {
    parse(src, Format::Text004).unwrap_or_else(|e| panic!("{e}\n--- input:\n{src}"))
}

fn om(src: &str) -> Exposition {
    parse(src, Format::OpenMetrics1).unwrap_or_else(|e| panic!("{e}\n--- input:\n{src}"))
}

/// Asserts that parsing fails at `line`:`column` with a message containing `needle`.
#[track_caller]
fn fails(format: Format, src: &str, line: usize, column: usize, needle: &str) {
    match parse(src, format) {
        Ok(parsed) => panic!("parsed, expected an error containing {needle:?}: {parsed:#?}"),
        Err(Error::Parse {
            line: l,
            column: c,
            reason,
        }) => {
            assert!(
                reason.contains(needle),
                "message {reason:?} lacks {needle:?}"
            );
            assert_eq!((l, c), (line, column), "position of {reason:?} in\n{src}");
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

#[track_caller]
fn text_fails(src: &str, line: usize, column: usize, needle: &str) {
    fails(Format::Text004, src, line, column, needle);
}

#[track_caller]
fn om_fails(src: &str, line: usize, column: usize, needle: &str) {
    fails(Format::OpenMetrics1, src, line, column, needle);
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---- text 0.0.4: accepted input ----

#[test]
fn text_parses_the_format_documents_example() {
    // From docs/instrumenting/exposition_formats.md, less the two lines Prometheus itself
    // refuses (a UTF-8 line with no value, and a negative timestamp) which are tested below.
    let src = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf 3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;
    let parsed = text(src);
    assert_eq!(parsed.families.len(), 6);
    assert_eq!(parsed.sample_count(), 20);
    let requests = parsed.family("http_requests_total").unwrap();
    assert_eq!(requests.kind, MetricType::Counter);
    assert_eq!(
        requests.help.as_deref(),
        Some("The total number of HTTP requests.")
    );
    assert_eq!(requests.samples[1].value, 3.0);
    assert_eq!(requests.samples[1].timestamp_ms, Some(1_395_066_363_000));
    let msdos = parsed.family("msdos_file_access_time_seconds").unwrap();
    assert_eq!(msdos.kind, MetricType::Unknown);
    assert_eq!(
        msdos.samples[0].labels,
        labels(&[
            ("path", r"C:\DIR\FILE.TXT"),
            ("error", "Cannot find file:\n\"FILE.TXT\"")
        ])
    );
    assert_eq!(
        parsed.family("something_weird").unwrap().samples[0].value,
        f64::INFINITY
    );
    let histogram = parsed.family("http_request_duration_seconds").unwrap();
    assert_eq!(
        histogram.metrics(),
        vec![Metric {
            labels: vec![],
            timestamp_ms: None,
            value: MetricValue::Histogram {
                buckets: vec![
                    (0.05, 24054.0),
                    (0.1, 33444.0),
                    (0.2, 100_392.0),
                    (0.5, 129_389.0),
                    (1.0, 133_988.0),
                    (f64::INFINITY, 144_320.0)
                ],
                sum: Some(53423.0),
                count: Some(144_320.0),
                created: None,
            },
        }]
    );
    let summary = parsed.family("rpc_duration_seconds").unwrap();
    let MetricValue::Summary {
        quantiles,
        sum,
        count,
        created,
    } = &summary.metrics()[0].value
    else {
        panic!("not a summary")
    };
    assert_eq!(quantiles[0], (0.01, 3102.0));
    assert_eq!(quantiles.len(), 5);
    assert_eq!(
        (*sum, *count, *created),
        (Some(1.7560473e7), Some(2693.0), None)
    );
}

#[test]
fn text_rejects_what_the_documents_example_gets_wrong() {
    // The example's UTF-8 line has no value, and Prometheus' lexer takes no timestamp sign.
    text_fails(
        "{\"my.dotted.metric\", \"error.message\"=\"Not Found\"}\n",
        1,
        50,
        "expected a value for \"my.dotted.metric\", found end of line",
    );
    text_fails(
        "something_weird{problem=\"division by zero\"} +Inf -3982045\n",
        1,
        50,
        "invalid timestamp \"-3982045\": expected integer milliseconds",
    );
}

#[test]
fn text_label_values_unescape_and_keep_everything_else_raw() {
    let src = "m{a=\"back\\\\slash\",b=\"quote\\\"\",c=\"new\\nline\",d=\"\\z stays\",e=\"č 日本 🚀\",f=\"tab\there\\\\n\",g=\"nul\0cr\r\",h=\"\",i=\"a,b=c}{\"} 1\n";
    let parsed = text(src);
    assert_eq!(
        parsed.families[0].samples[0].labels,
        labels(&[
            ("a", "back\\slash"),
            ("b", "quote\""),
            ("c", "new\nline"),
            ("d", "\\z stays"),
            ("e", "č 日本 🚀"),
            ("f", "tab\there\\n"),
            ("g", "nul\0cr\r"),
            ("h", ""),
            ("i", "a,b=c}{"),
        ])
    );
}

#[test]
fn text_values_take_every_form_prometheus_takes() {
    let src = "# TYPE g gauge\ng{v=\"a\"} NaN\ng{v=\"b\"} +Inf\ng{v=\"c\"} -Inf\ng{v=\"d\"} Inf\ng{v=\"e\"} +inf\ng{v=\"f\"} -1.5e-3\ng{v=\"g\"} .5\ng{v=\"h\"} 1.\ng{v=\"i\"} 0042\ng{v=\"j\"} -0\n";
    let parsed = text(src);
    let values: Vec<f64> = parsed.families[0].samples.iter().map(|s| s.value).collect();
    assert!(values[0].is_nan());
    assert_eq!(
        &values[1..],
        &[
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::INFINITY,
            -0.0015,
            0.5,
            1.0,
            42.0,
            -0.0
        ]
    );
    assert!(values[9].is_sign_negative());
}

#[test]
fn text_help_unescapes_backslash_and_newline_only() {
    let parsed = text("# HELP m a\\\\b\\nc \\\"q\\\" \\t\n# TYPE m gauge\nm 1\n");
    assert_eq!(
        parsed.families[0].help.as_deref(),
        Some("a\\b\nc \\\"q\\\" \\t")
    );
    // One separator is stripped and the rest kept, as Prometheus does.
    let parsed = text("# HELP m   spaced  \n# HELP n\n");
    assert_eq!(parsed.families[0].help.as_deref(), Some("  spaced  "));
    assert_eq!(parsed.families[1].help.as_deref(), Some(""));
}

#[test]
fn text_ignores_comments_blank_lines_and_blanks() {
    let src = "\n   \n# a comment\n#HELP not metadata\n# HELPER not either\n# HELP\n\t # TYPE m gauge\n  m{ a = \"1\" , b=\"2\", } 1   \nm {a=\"2\"} 2\t5\n\n";
    let parsed = text(src);
    assert_eq!(parsed.families.len(), 1);
    let family = &parsed.families[0];
    assert_eq!(family.kind, MetricType::Gauge);
    assert_eq!(family.samples[0].labels, labels(&[("a", "1"), ("b", "2")]));
    assert_eq!(family.samples[1].timestamp_ms, Some(5));
}

#[test]
fn text_takes_a_value_right_after_the_braces_as_prometheus_does() {
    let parsed = text("m{a=\"1\"}7\n");
    assert_eq!(parsed.families[0].samples[0].value, 7.0);
}

#[test]
fn text_untyped_is_unknown_and_no_type_is_unknown() {
    let parsed = text("# TYPE a untyped\na 1\nb 2\n");
    assert_eq!(parsed.families[0].kind, MetricType::Unknown);
    assert_eq!(parsed.families[1].kind, MetricType::Unknown);
    assert_eq!(
        parsed.families[1].metrics()[0].value,
        MetricValue::Unknown(2.0)
    );
    text_fails(
        "# TYPE a unknown\n",
        1,
        10,
        "unknown metric type \"unknown\"; expected counter, gauge, histogram, summary or untyped",
    );
    text_fails("# TYPE a info\n", 1, 10, "unknown metric type \"info\"");
    text_fails("# TYPE a gauge \n", 1, 10, "unknown metric type \"gauge \"");
    text_fails("# TYPE a\n", 1, 9, "unknown metric type \"\"");
}

#[test]
fn text_accepts_an_empty_body_and_metadata_without_samples() {
    assert!(text("").families.is_empty());
    let parsed = text("# HELP a help only\n# TYPE b counter\n");
    assert_eq!(parsed.families.len(), 2);
    assert_eq!(parsed.sample_count(), 0);
}

#[test]
fn text_reads_quoted_utf8_names() {
    let src = "# HELP \"my.metric\" dotted\n# TYPE \"my.metric\" gauge\n{\"my.metric\", \"my.label\"=\"v\", plain=\"w\"} 1\n{\"my.metric\"} 2\n";
    let parsed = text(src);
    let family = parsed.family("my.metric").unwrap();
    assert_eq!(family.kind, MetricType::Gauge);
    assert_eq!(family.help.as_deref(), Some("dotted"));
    assert_eq!(
        family.samples[0].labels,
        labels(&[("my.label", "v"), ("plain", "w")])
    );
    assert_eq!(family.samples[1].name, "my.metric");
}

#[test]
fn text_histogram_metrics_may_interleave_and_group_by_labels() {
    let src = "# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 1\nh_bucket{le=\"1\",a=\"y\"} 2\nh_bucket{a=\"x\",le=\"+Inf\"} 3\nh_bucket{a=\"y\",le=\"+Inf\"} 4\nh_sum{a=\"x\"} 5\nh_count{a=\"x\"} 3\nh_count{a=\"y\"} 4\n";
    let metrics = text(src).families[0].metrics();
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[0].labels, labels(&[("a", "x")]));
    assert_eq!(
        metrics[0].value,
        MetricValue::Histogram {
            buckets: vec![(1.0, 1.0), (f64::INFINITY, 3.0)],
            sum: Some(5.0),
            count: Some(3.0),
            created: None
        }
    );
    assert_eq!(metrics[1].labels, labels(&[("a", "y")]));
    assert_eq!(
        metrics[1].value,
        MetricValue::Histogram {
            buckets: vec![(1.0, 2.0), (f64::INFINITY, 4.0)],
            sum: None,
            count: Some(4.0),
            created: None
        }
    );
}

// ---- text 0.0.4: errors ----

#[test]
fn text_reports_missing_equals_and_bad_label_syntax() {
    text_fails(
        "m{foo \"x\"} 1\n",
        1,
        7,
        "expected '=' after label name \"foo\", found '\"'",
    );
    text_fails(
        "m{foo=x} 1\n",
        1,
        7,
        "expected '\"' to open the value of label \"foo\", found 'x'",
    );
    text_fails(
        "m{a=\"1\" b=\"2\"} 1\n",
        1,
        9,
        "expected ',' or '}' after the value of label \"a\", found 'b'",
    );
    text_fails("m{a=\"1\",,b=\"2\"} 1\n", 1, 9, "unexpected ','");
    text_fails(
        "m{1=\"1\"} 1\n",
        1,
        3,
        "expected a label name or '}', found '1'",
    );
    text_fails(
        "m{a=\"1} 1\n",
        1,
        5,
        "value of label \"a\" has no closing '\"' before the end of the line",
    );
    text_fails(
        "m{a=\"x\\\n\"} 1\n",
        1,
        7,
        "value of label \"a\" ends in a backslash at the end of the line",
    );
}

#[test]
fn text_reports_a_raw_line_feed_in_a_label_value() {
    // Prometheus' text lexer lets it through; the format says it must be escaped.
    text_fails(
        "m{a=\"one\ntwo\"} 1\n",
        1,
        5,
        "value of label \"a\" has no closing '\"'",
    );
}

#[test]
fn text_reports_duplicate_labels_at_the_second_one() {
    text_fails(
        "m{a=\"1\",b=\"2\",a=\"3\"} 1\n",
        1,
        15,
        "duplicate label \"a\"",
    );
}

#[test]
fn text_reports_bad_names_and_values() {
    text_fails("a-b 1\n", 1, 2, "unexpected '-' after metric name \"a\"");
    text_fails(
        "0a 1\n",
        1,
        1,
        "expected a metric name, '{', '#' or a blank line at the start of a line, found '0'",
    );
    text_fails(
        "m\n",
        1,
        2,
        "unexpected end of line after metric name \"m\"",
    );
    text_fails(
        "m \n",
        1,
        3,
        "expected a value for \"m\", found end of line",
    );
    text_fails("m abc\n", 1, 3, "invalid value \"abc\"");
    text_fails("m 0x1p-3\n", 1, 3, "hexadecimal numbers are not allowed");
    text_fails("m 1_000\n", 1, 3, "'_' digit separators are not allowed");
    text_fails("m 1e999\n", 1, 3, "out of the range of a 64-bit float");
    text_fails("m +NaN\n", 1, 3, "NaN takes no sign");
    text_fails("{a=\"ok\"} 1\n", 1, 1, "the sample has no metric name");
    text_fails(
        "m{\"n\"} 1\n",
        1,
        3,
        "metric name given twice: \"m\" before the braces and \"n\" inside",
    );
    text_fails(
        "{a=\"1\",\"n\"} 1\n",
        1,
        8,
        "a quoted metric name must be the first item inside the braces",
    );
}

#[test]
fn text_reports_bad_timestamps_and_exemplars() {
    text_fails("m 1 1.5\n", 1, 5, "invalid timestamp \"1.5\"");
    text_fails("m 1 1 2\n", 1, 7, "unexpected '2' after the timestamp");
    text_fails(
        "m 1 # {a=\"b\"} 1\n",
        1,
        5,
        "exemplars (' # {…} value') exist only in OpenMetrics",
    );
}

#[test]
fn text_reports_line_ending_problems() {
    text_fails("m 1", 1, 4, "the last line does not end with a line feed");
    text_fails(
        "m 1\n# comment",
        2,
        10,
        "the last line does not end with a line feed",
    );
    text_fails(
        "m 1\n  ",
        2,
        3,
        "the last line does not end with a line feed",
    );
    text_fails("m 1\r\n", 1, 4, "carriage return before the line feed");
    text_fails("m 1 5\r\n", 1, 6, "carriage return before the line feed");
    text_fails(
        "# HELP m x\r\n",
        1,
        11,
        "carriage return before the line feed",
    );
    text_fails("\u{feff}m 1\n", 1, 1, "byte order mark");
}

#[test]
fn text_reports_metadata_problems() {
    text_fails(
        "# HELP m a\n# HELP m b\n",
        2,
        1,
        "second # HELP line for metric family \"m\"",
    );
    text_fails(
        "# TYPE m gauge\n# TYPE m counter\n",
        2,
        1,
        "second # TYPE line for metric family \"m\"",
    );
    text_fails(
        "m 1\n# TYPE m gauge\n",
        2,
        1,
        "# TYPE line for metric family \"m\" comes after its samples",
    );
    text_fails(
        "# HELP \n",
        1,
        8,
        "expected a metric name after # HELP, found end of line",
    );
    text_fails(
        "# HELP m-x help\n",
        1,
        9,
        "expected ' ' and help text after metric name \"m\", found '-'",
    );
}

#[test]
fn text_reports_interleaved_families() {
    text_fails(
        "a 1\nb 1\na 2\n",
        3,
        1,
        "metric family \"a\" is interleaved with \"b\"",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nb 1\nh_count 1\n",
        4,
        1,
        "metric family \"h\" is interleaved with \"b\" (sample \"h_count\" belongs to \"h\")",
    );
    text_fails(
        "a 1\nb 1\n# HELP a late\n",
        3,
        1,
        "metric family \"a\" is interleaved with \"b\"",
    );
}

#[test]
fn text_reports_duplicate_series() {
    text_fails(
        "m{a=\"1\",b=\"2\"} 1\nm{a=\"2\"} 1\nm{b=\"2\",a=\"1\"} 1\n",
        3,
        1,
        "duplicate series m{b=\"2\",a=\"1\"}: also on line 1",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"1.0\"} 1\n",
        4,
        1,
        "duplicate series h_bucket{le=\"1.0\"}: also on line 2",
    );
    // The same series with different timestamps is still a duplicate in text 0.0.4.
    text_fails("m 1 1\nm 1 2\n", 2, 1, "duplicate series m: also on line 1");
}

#[test]
fn text_histogram_rules() {
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        4,
        1,
        "histogram \"h\" has no +Inf bucket",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 1\n",
        2,
        1,
        "histogram \"h\" has no +Inf bucket for {a=\"x\"}",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n",
        3,
        14,
        "bucket le=\"1\" comes after le=\"2\"; buckets must be in ascending order of le",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 4\n",
        3,
        21,
        "bucket le=\"+Inf\" counts 4 but bucket le=\"1\" before it counts 5; buckets are cumulative",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 4\nh_count 5\n",
        3,
        9,
        "h_count is 5 but the +Inf bucket is 4; they must be equal",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket 4\n",
        2,
        1,
        "histogram bucket \"h_bucket\" has no \"le\" label",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"x\"} 4\n",
        2,
        14,
        "\"le\" label: invalid value \"x\"",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"NaN\"} 4\n",
        2,
        14,
        "\"le\" label is NaN",
    );
    text_fails(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 4\nh_sum{le=\"1\"} 4\n",
        3,
        7,
        "\"le\" label on \"h_sum\": only \"h_bucket\" samples of histogram \"h\" have one",
    );
    text_fails(
        "# TYPE h histogram\nh 4\n",
        2,
        1,
        "histogram sample must be named h_bucket, h_sum or h_count",
    );
    // Text accepts Go's spellings of infinity in le.
    let parsed = text("# TYPE h histogram\nh_bucket{le=\"+inf\"} 4\n");
    assert!(matches!(
        &parsed.families[0].metrics()[0].value,
        MetricValue::Histogram { buckets, .. } if buckets == &vec![(f64::INFINITY, 4.0)]
    ));
}

#[test]
fn text_summary_rules() {
    text_fails(
        "# TYPE s summary\ns 1\n",
        2,
        1,
        "summary sample \"s\" has no \"quantile\" label",
    );
    text_fails(
        "# TYPE s summary\ns{quantile=\"1.5\"} 1\n",
        2,
        13,
        "quantile \"1.5\" is outside [0, 1]",
    );
    text_fails(
        "# TYPE s summary\ns{quantile=\"0.9\"} 1\ns{quantile=\"0.5\"} 1\n",
        3,
        13,
        "quantile \"0.5\" comes after \"0.9\"; quantiles must be in ascending order",
    );
    text_fails(
        "# TYPE s summary\ns_sum{quantile=\"0.5\"} 1\n",
        2,
        7,
        "\"quantile\" label on \"s_sum\"",
    );
}

// ---- OpenMetrics: accepted input ----

#[test]
fn om_parses_the_specs_example() {
    let src = r#"# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
acme_http_router_request_seconds_sum{path="/api/v2",method="POST"} 479.3
acme_http_router_request_seconds_count{path="/api/v2",method="POST"} 34.0
acme_http_router_request_seconds_created{path="/api/v2",method="POST"} 1605281325.0
# TYPE go_goroutines gauge
# HELP go_goroutines Number of goroutines that currently exist.
go_goroutines 69
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
process_cpu_seconds_total 4.20072246e+06
# EOF
"#;
    let parsed = om(src);
    assert_eq!(parsed.format, Format::OpenMetrics1);
    let summary = parsed.family("acme_http_router_request_seconds").unwrap();
    assert_eq!(summary.unit.as_deref(), Some("seconds"));
    let metrics = summary.metrics();
    assert_eq!(metrics.len(), 2);
    assert_eq!(
        metrics[1],
        Metric {
            labels: labels(&[("path", "/api/v2"), ("method", "POST")]),
            timestamp_ms: None,
            value: MetricValue::Summary {
                quantiles: vec![],
                sum: Some(479.3),
                count: Some(34.0),
                created: Some(1_605_281_325.0)
            }
        }
    );
    let cpu = parsed.family("process_cpu_seconds").unwrap();
    assert_eq!(cpu.kind, MetricType::Counter);
    assert_eq!(cpu.samples[0].name, "process_cpu_seconds_total");
    assert_eq!(
        cpu.metrics()[0].value,
        MetricValue::Counter {
            total: 4_200_722.46,
            created: None
        }
    );
}

#[test]
fn om_eof_may_lack_its_newline() {
    assert_eq!(om("a 1\n# EOF").sample_count(), 1);
    assert!(om("# EOF\n").families.is_empty());
}

#[test]
fn om_timestamps_are_seconds_converted_to_milliseconds() {
    let parsed = om("# TYPE a gauge\na{x=\"1\"} 1 1520879607.789\na{x=\"2\"} 1 -0.5\na{x=\"3\"} 1 1.5e3\n# EOF\n");
    let ts: Vec<_> = parsed.families[0]
        .samples
        .iter()
        .map(|s| s.timestamp_ms)
        .collect();
    assert_eq!(
        ts,
        vec![Some(1_520_879_607_789), Some(-500), Some(1_500_000)]
    );
}

#[test]
fn om_exemplars_on_counters_and_buckets() {
    let src = "# TYPE c counter\nc_total 3 # {trace_id=\"abc\"} 1.5 1520879607.789\nc_created 1520430000.123\n# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {} 0.5\nh_bucket{le=\"+Inf\"} 2 # {a=\"\\\"\"} 9\nh_count 2\nh_sum 9.5\n# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1 123 # {a=\"b\"} 4 123\n# EOF\n";
    let parsed = om(src);
    let total = &parsed.family("c").unwrap().samples[0];
    assert_eq!(
        total.exemplar,
        Some(Exemplar {
            labels: labels(&[("trace_id", "abc")]),
            value: 1.5,
            timestamp_ms: Some(1_520_879_607_789)
        })
    );
    assert_eq!(
        parsed.family("c").unwrap().metrics()[0].value,
        MetricValue::Counter {
            total: 3.0,
            created: Some(1_520_430_000.123)
        }
    );
    let h = parsed.family("h").unwrap();
    assert_eq!(h.samples[0].exemplar.as_ref().unwrap().labels, vec![]);
    assert_eq!(
        h.samples[1].exemplar.as_ref().unwrap().labels,
        labels(&[("a", "\"")])
    );
    let g = parsed.family("g").unwrap();
    assert_eq!(g.samples[0].timestamp_ms, Some(123_000));
    assert_eq!(
        g.samples[0].exemplar.as_ref().unwrap().timestamp_ms,
        Some(123_000)
    );
}

#[test]
fn om_info_stateset_and_gaugehistogram() {
    let src = "# TYPE build info\nbuild_info{version=\"1.2\",commit=\"abc\"} 1\n# TYPE state stateset\nstate{entity=\"a\",state=\"up\"} 1\nstate{entity=\"a\",state=\"down\"} 0\nstate{entity=\"b\",state=\"up\"} 0\nstate{entity=\"b\",state=\"down\"} 1\n# TYPE queue_bytes gaugehistogram\n# UNIT queue_bytes bytes\nqueue_bytes_bucket{le=\"-1\"} 1\nqueue_bytes_bucket{le=\"+Inf\"} 3\nqueue_bytes_gcount 3\nqueue_bytes_gsum -5\n# EOF\n";
    let parsed = om(src);
    assert_eq!(
        parsed.family("build").unwrap().metrics()[0],
        Metric {
            labels: labels(&[("version", "1.2"), ("commit", "abc")]),
            timestamp_ms: None,
            value: MetricValue::Info
        }
    );
    let states = parsed.family("state").unwrap().metrics();
    assert_eq!(states.len(), 2);
    assert_eq!(states[1].labels, labels(&[("entity", "b")]));
    assert_eq!(
        states[1].value,
        MetricValue::StateSet {
            states: vec![("up".to_owned(), false), ("down".to_owned(), true)]
        }
    );
    assert_eq!(
        parsed.family("queue_bytes").unwrap().metrics()[0].value,
        MetricValue::GaugeHistogram {
            buckets: vec![(-1.0, 1.0), (f64::INFINITY, 3.0)],
            gsum: Some(-5.0),
            gcount: Some(3.0)
        }
    );
}

#[test]
fn om_metric_points_repeat_with_increasing_timestamps() {
    let src = "# TYPE foo_seconds summary\n# UNIT foo_seconds seconds\nfoo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_sum{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\nfoo_seconds_sum{a=\"bb\"} 0 456\nfoo_seconds_count{a=\"ccc\"} 0 123\nfoo_seconds_sum{a=\"ccc\"} 0 123\nfoo_seconds_count{a=\"ccc\"} 0 456\nfoo_seconds_sum{a=\"ccc\"} 0 456\n# EOF\n";
    let metrics = om(src).families[0].metrics();
    let points: Vec<_> = metrics
        .iter()
        .map(|m| (m.label("a").unwrap().to_owned(), m.timestamp_ms))
        .collect();
    assert_eq!(
        points,
        vec![
            ("bb".to_owned(), Some(123_000)),
            ("bb".to_owned(), Some(456_000)),
            ("ccc".to_owned(), Some(123_000)),
            ("ccc".to_owned(), Some(456_000))
        ]
    );
    // Equal timestamps are allowed (the OpenMetrics test suite's duplicate_timestamps).
    assert_eq!(om("a 1 0\na 2 0\n# EOF\n").families[0].metrics().len(), 2);
}

#[test]
fn om_help_unescapes_quotes_too_and_empty_metadata_is_absent() {
    let parsed = om("# HELP a x\\\"y\\\\z\\nw \\q\n# HELP b \n# UNIT b \n# EOF\n");
    assert_eq!(parsed.families[0].help.as_deref(), Some("x\"y\\z\nw \\q"));
    assert_eq!(parsed.families[1].help, None);
    assert_eq!(parsed.families[1].unit, None);
}

#[test]
fn om_reads_quoted_names() {
    let parsed = om("# TYPE \"a.b\" counter\n{\"a.b_total\",\"c.d\"=\"e\"} 1\n# EOF\n");
    let family = parsed.family("a.b").unwrap();
    assert_eq!(family.samples[0].name, "a.b_total");
    assert_eq!(family.samples[0].labels, labels(&[("c.d", "e")]));
}

// ---- OpenMetrics: errors ----

#[test]
fn om_requires_eof_and_nothing_after_it() {
    om_fails("a 1\n", 2, 1, "missing # EOF");
    om_fails("", 1, 1, "missing # EOF");
    om_fails("a 1", 1, 4, "missing # EOF");
    om_fails("# EOF\na 1\n", 2, 1, "content after # EOF");
    om_fails("# EOF\n\n", 2, 1, "content after # EOF");
    om_fails("a 1\n# EOFblah", 2, 6, "content after # EOF");
}

#[test]
fn om_refuses_comments_blank_lines_and_extra_spaces() {
    om_fails("# a comment\n# EOF\n", 1, 1, "OpenMetrics has no comments");
    om_fails("#a 1\n# EOF\n", 1, 1, "OpenMetrics has no comments");
    om_fails("a 1\n\n# EOF\n", 2, 1, "expected a metric name, '{' or '#'");
    om_fails(" a 1\n# EOF\n", 1, 1, "expected a metric name, '{' or '#'");
    om_fails(
        "a  1\n# EOF\n",
        1,
        3,
        "expected a value for \"a\", found ' '",
    );
    om_fails(
        "a 1 \n# EOF\n",
        1,
        5,
        "expected a timestamp or '# ' and an exemplar",
    );
    om_fails("a 1\t\n# EOF\n", 1, 3, "invalid value \"1\\t\"");
    om_fails(
        "a{a=\"1\"}1\n# EOF\n",
        1,
        9,
        "expected ' ' and a value after the labels",
    );
    om_fails("a{a=\"1\",} 1\n# EOF\n", 1, 8, "trailing ',' before '}'");
    om_fails(
        "a{ a=\"1\"} 1\n# EOF\n",
        1,
        3,
        "expected a label name or '}', found ' '",
    );
    om_fails(
        "a 1\r\n# EOF\n",
        1,
        4,
        "carriage return before the line feed",
    );
    om_fails(
        "# HELP a\n# EOF\n",
        1,
        9,
        "expected ' ' and help text after metric name \"a\"",
    );
    om_fails(
        "# HELP\n# EOF\n",
        1,
        7,
        "expected ' ' and a metric name after # HELP",
    );
    om_fails(
        "# TYPE a\t\n# EOF\n",
        1,
        9,
        "expected ' ' and a type after metric name \"a\"",
    );
}

#[test]
fn om_metadata_rules() {
    om_fails(
        "# TYPE a untyped\n# EOF\n",
        1,
        10,
        "unknown metric type \"untyped\"; expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown",
    );
    om_fails(
        "# TYPE a counter\n# UNIT a seconds\n# EOF\n",
        2,
        10,
        "unit \"seconds\" is not a suffix of metric family name \"a\"",
    );
    om_fails(
        "# UNIT seconds seconds\n# EOF\n",
        1,
        16,
        "unit \"seconds\" is not a suffix",
    );
    om_fails(
        "# TYPE x_u info\n# UNIT x_u u\n# EOF\n",
        2,
        12,
        "metric family \"x_u\" is of type info and has a unit",
    );
    om_fails(
        "# UNIT x_u u\n# TYPE x_u stateset\n# EOF\n",
        2,
        1,
        "metric family \"x_u\" is of type stateset and has a unit",
    );
    om_fails(
        "# UNIT a_s s$\n# EOF\n",
        1,
        13,
        "invalid character '$' in unit \"s$\"",
    );
    om_fails(
        "# TYPE a gauge\na 1\n# HELP a late\n# EOF\n",
        3,
        1,
        "# HELP line for metric family \"a\" comes after its samples",
    );
    om_fails(
        "# UNIT a_s s\n# UNIT a_s s\n# EOF\n",
        2,
        1,
        "second # UNIT line for metric family \"a_s\"",
    );
}

#[test]
fn om_family_names_must_not_clash() {
    om_fails(
        "# TYPE a_created gauge\n# TYPE a counter\n# EOF\n",
        2,
        1,
        "metric family \"a\" (counter) clashes with metric family \"a_created\"",
    );
    om_fails(
        "# TYPE a counter\n# TYPE a_total gauge\n# EOF\n",
        2,
        1,
        "metric family \"a_total\" clashes with counter \"a\"",
    );
    // A gauge next to an unknown family with a suffix-like name is fine.
    om("# TYPE a gauge\na 1\na_total 1\n# EOF\n");
}

#[test]
fn om_sample_names_follow_the_type() {
    om_fails(
        "# TYPE a counter\na 1\n# EOF\n",
        2,
        1,
        "OpenMetrics counter sample must be named a_total or a_created",
    );
    om_fails(
        "# TYPE a info\na 1\n# EOF\n",
        2,
        1,
        "info sample must be named a_info",
    );
    om_fails(
        "# TYPE a gaugehistogram\na 1\n# EOF\n",
        2,
        1,
        "gauge histogram sample must be named a_bucket, a_gsum or a_gcount",
    );
    om_fails(
        "# TYPE a stateset\na 0\n# EOF\n",
        2,
        1,
        "stateset sample \"a\" has no \"a\" label naming its state",
    );
}

#[test]
fn om_value_rules() {
    om_fails(
        "# TYPE a counter\na_total NaN\n# EOF\n",
        2,
        9,
        "counter \"a\" total is NaN",
    );
    om_fails(
        "# TYPE a counter\na_total -1\n# EOF\n",
        2,
        9,
        "counter \"a\" total is negative (-1)",
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"+Inf\"} 1.5\n# EOF\n",
        2,
        21,
        "bucket count of \"a\" is 1.5, not an integer",
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"+Inf\"} -1\n# EOF\n",
        2,
        21,
        "bucket count of \"a\" is negative (-1)",
    );
    om_fails(
        "# TYPE a summary\na_count NaN\n# EOF\n",
        2,
        9,
        "a_count is NaN",
    );
    om_fails(
        "# TYPE a summary\na_sum -1\n# EOF\n",
        2,
        7,
        "a_sum is negative (-1)",
    );
    om_fails(
        "# TYPE a summary\na{quantile=\"0.5\"} -1\n# EOF\n",
        2,
        19,
        "summary \"a\" quantile value is negative (-1)",
    );
    om_fails(
        "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gsum NaN\na_gcount 1\n# EOF\n",
        3,
        8,
        "a_gsum is NaN",
    );
    om_fails(
        "# TYPE a info\na_info{x=\"y\"} 2\n# EOF\n",
        2,
        15,
        "info \"a\" value must be 1, not 2",
    );
    om_fails(
        "# TYPE a stateset\na{a=\"x\"} 2\n# EOF\n",
        2,
        10,
        "stateset \"a\" value must be 0 or 1, not 2",
    );
    // A quantile with no events is NaN: allowed.
    om("# TYPE a summary\na{quantile=\"0.5\"} NaN\n# EOF\n");
}

#[test]
fn om_histogram_rules() {
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_sum 0\n# EOF\n",
        3,
        1,
        "histogram \"a\" has a_sum but no a_count",
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"+Inf\"} 0\na_count 0\n# EOF\n",
        3,
        1,
        "histogram \"a\" has a_count but no a_sum",
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"-1\"} 0\na_bucket{le=\"+Inf\"} 0\na_sum 0\na_count 0\n# EOF\n",
        4,
        1,
        "histogram \"a\" has a negative bucket bound, so it must not have a_sum",
    );
    om_fails(
        "# TYPE a gaugehistogram\na_bucket{le=\"+Inf\"} 1\na_gsum -1\na_gcount 1\n# EOF\n",
        3,
        8,
        "a_gsum is negative but no bucket bound is",
    );
    om_fails(
        "# TYPE a histogram\na_bucket{le=\"+INF\"} 0\n# EOF\n",
        2,
        14,
        "\"le\" label: invalid number \"+INF\"",
    );
    om_fails(
        "# TYPE a histogram\na_sum 1\n# EOF\n",
        2,
        1,
        "histogram \"a\" has no +Inf bucket",
    );
    om_fails(
        "# TYPE a summary\na{quantile=\"foo\"} 0\n# EOF\n",
        2,
        13,
        "\"quantile\" label: invalid number \"foo\"",
    );
    // Summary quantiles may come in any order in OpenMetrics.
    om("# TYPE a summary\na{quantile=\"0.9\"} 1\na{quantile=\"0.5\"} 1\n# EOF\n");
    // Non-canonical le values are fine.
    om("# TYPE a histogram\na_bucket{le=\"1e-04\"} 0\na_bucket{le=\"1.1e-4\"} 0\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 2\n# EOF\n");
}

#[test]
fn om_exemplar_rules() {
    om_fails(
        "# TYPE a gauge\na 1 # {a=\"b\"} 1\n# EOF\n",
        2,
        5,
        "exemplars are allowed only on counter _total and histogram _bucket samples, not on \"a\"",
    );
    om_fails(
        "# TYPE a counter\na_created 1 # {a=\"b\"} 1\n# EOF\n",
        2,
        13,
        "not on \"a_created\"",
    );
    let long = "x".repeat(128);
    om_fails(
        &format!("# TYPE a counter\na_total 1 # {{a=\"{long}\"}} 1\n# EOF\n"),
        2,
        11,
        "exemplar labels are 129 characters long; OpenMetrics allows at most 128",
    );
    // Exactly 128 code points is fine even when they are more bytes.
    let wide = format!("☃{}", "x".repeat(126));
    om(&format!(
        "# TYPE a counter\na_total 1 # {{a=\"{wide}\"}} 1\n# EOF\n"
    ));
    om_fails(
        "# TYPE a counter\na_total 1 #{} 1\n# EOF\n",
        2,
        11,
        "expected an exemplar, '# {labels} value [timestamp]'",
    );
    om_fails(
        "# TYPE a counter\na_total 1 # {} 1 NaN\n# EOF\n",
        2,
        18,
        "exemplar: invalid timestamp \"NaN\"",
    );
    om_fails(
        "# TYPE a counter\na_total 1 # {} 1 1 \n# EOF\n",
        2,
        19,
        "unexpected ' ' after the exemplar",
    );
    om_fails(
        "# TYPE a counter\na_total 1 # {\"x\"} 1\n# EOF\n",
        2,
        17,
        "expected '=' after label name \"x\"",
    );
}

#[test]
fn om_timestamp_rules() {
    om_fails("a 1 NaN\n# EOF\n", 1, 5, "invalid timestamp \"NaN\"");
    om_fails("a 1 1z\n# EOF\n", 1, 5, "invalid timestamp \"1z\"");
    om_fails(
        "a 1 1 1\n# EOF\n",
        1,
        7,
        "unexpected '1' after the timestamp",
    );
    om_fails(
        "a 1 12345678901234567890.1\n# EOF\n",
        1,
        5,
        "out of range for i64 milliseconds",
    );
}

#[test]
fn om_metrics_and_points_must_not_interleave() {
    om_fails(
        "# TYPE a histogram\na_sum{a=\"1\"} 0\na_bucket{a=\"2\",le=\"+Inf\"} 0\na_count{a=\"2\"} 0\na_sum{a=\"2\"} 0\na_bucket{a=\"1\",le=\"+Inf\"} 0\na_count{a=\"1\"} 0\n# EOF\n",
        6,
        1,
        "a_bucket{a=\"1\",le=\"+Inf\"} is interleaved with other metrics of family \"a\"",
    );
    om_fails(
        "# TYPE foo_seconds summary\nfoo_seconds_count{a=\"bb\"} 0 123\nfoo_seconds_count{a=\"bb\"} 0 456\nfoo_seconds_sum{a=\"bb\"} 0 123\nfoo_seconds_sum{a=\"bb\"} 0 456\n# EOF\n",
        4,
        1,
        "foo_seconds_sum{a=\"bb\"} has timestamp 123000 ms but its metric point began on line 3 with 456000 ms",
    );
    om_fails(
        "# TYPE a gauge\na 0 -1\na 0 -2\n# EOF\n",
        3,
        5,
        "a goes back in time: timestamp -2000 ms after -1000 ms on line 2",
    );
    om_fails(
        "# TYPE a gauge\na 0\na 0 0\n# EOF\n",
        3,
        1,
        "duplicate series a (also on line 2): OpenMetrics repeats a series only as a new point with a timestamp on both",
    );
    om_fails(
        "a{a=\"1\",a=\"1\"} 1\n# EOF\n",
        1,
        9,
        "duplicate label \"a\"",
    );
}

#[test]
fn om_interleaved_families() {
    om_fails(
        "# TYPE a summary\nquantile{quantile=\"0\"} 0\na_sum{a=\"1\"} 0\n# EOF\n",
        3,
        1,
        "metric family \"a\" is interleaved with \"quantile\"",
    );
    om_fails(
        "# TYPE a counter\n# TYPE a counter\n# EOF\n",
        2,
        1,
        "second # TYPE line for metric family \"a\"",
    );
}

// ---- metrics() on families built by hand ----

#[test]
fn metrics_is_best_effort_on_hand_built_families() {
    let mut family = MetricFamily::new("c", MetricType::Counter);
    family.samples.push(Sample::new("c_created", 5.0));
    let metrics = family.metrics();
    assert!(matches!(
        metrics[0].value,
        MetricValue::Counter { total, created: Some(c) } if total.is_nan() && c == 5.0
    ));
    assert!(MetricFamily::new("empty", MetricType::Gauge)
        .metrics()
        .is_empty());
}

// ---- content types and bytes ----

#[test]
fn content_types_map_to_formats() {
    for (ct, format) in [
        (
            "text/plain; version=0.0.4; charset=utf-8",
            Some(Format::Text004),
        ),
        ("text/plain", Some(Format::Text004)),
        (
            "text/plain; version=1.0.0; escaping=allow-utf-8",
            Some(Format::Text004),
        ),
        ("TEXT/PLAIN;VERSION=0.0.4", Some(Format::Text004)),
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Some(Format::OpenMetrics1),
        ),
        (
            "application/openmetrics-text; version=0.0.1; charset=utf-8",
            Some(Format::OpenMetrics1),
        ),
        ("application/openmetrics-text", Some(Format::OpenMetrics1)),
        ("text/plain; version=0.0.4, charset=utf-8", None),
        ("text/plain; version=0.0.5", None),
        ("text/plain; charset=latin1", None),
        ("application/openmetrics-text; version=2.0.0", None),
        ("application/vnd.google.protobuf", None),
        ("application/json", None),
        ("", None),
    ] {
        assert_eq!(Format::from_content_type(ct), format, "{ct:?}");
    }
    for format in [Format::Text004, Format::OpenMetrics1] {
        assert_eq!(
            Format::from_content_type(format.content_type()),
            Some(format)
        );
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn bytes_are_gunzipped_by_header_or_by_magic() {
    let body = gzip(b"# TYPE a counter\na_total 1\n# EOF\n");
    let ct = Some("application/openmetrics-text; version=1.0.0");
    let parsed = parse_bytes(&body, ct, Some("gzip")).unwrap();
    assert_eq!(parsed.format, Format::OpenMetrics1);
    assert_eq!(parsed.sample_count(), 1);
    let parsed = parse_bytes(&body, ct, None).unwrap();
    assert_eq!(parsed.sample_count(), 1);
    let plain = parse_bytes(b"a 1\n", None, Some("identity")).unwrap();
    assert_eq!(plain.format, Format::Text004);
}

#[test]
fn bytes_errors_say_what_went_wrong() {
    let err = parse_bytes(b"a 1\n", None, Some("br")).unwrap_err();
    assert!(
        err.to_string()
            .contains("unsupported content encoding \"br\""),
        "{err}"
    );
    let err = parse_bytes(
        b"a 1\n",
        Some("text/plain; version=0.0.4, charset=utf-8"),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("unsupported or malformed content type"),
        "{err}"
    );
    let err = parse_bytes(b"\x1f\x8b\x08garbage", None, Some("gzip")).unwrap_err();
    assert!(
        err.to_string().contains("decompress the gzip body"),
        "{err}"
    );
    let err = parse_bytes(b"a 1\nb{l=\"\xc3\xa9\xff\"} 1\n", None, None).unwrap_err();
    match err {
        Error::Parse {
            line,
            column,
            reason,
        } => {
            assert_eq!((line, column), (2, 7));
            assert!(reason.contains("invalid UTF-8: byte 0xff"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

// ---- render ----

#[test]
fn render_writes_each_format_and_reads_back() {
    let text_src = "# HELP m a\\\\b\\nc \"q\"\n# TYPE m counter\nm{a=\"x\\\\y\\\"z\\nw\"} 1 1000\n# TYPE \"u.v\" gauge\n{\"u.v\",\"l.m\"=\"1\"} NaN\n";
    let parsed = text(text_src);
    assert_eq!(render(&parsed), text_src);
    let om_src = "# TYPE c counter\n# UNIT c seconds\n# HELP c say \\\"hi\\\"\nc_total 1.5 1.25 # {t=\"x\"} 2 3\n# EOF\n";
    let om_src = om_src
        .replace(
            "# TYPE c counter\n# UNIT c seconds",
            "# TYPE c_seconds counter\n# UNIT c_seconds seconds",
        )
        .replace("c_total", "c_seconds_total")
        .replace("# HELP c ", "# HELP c_seconds ");
    let parsed = om(&om_src);
    assert_eq!(render(&parsed), om_src);
}

#[test]
fn columns_count_characters_not_bytes() {
    // "日本" is six bytes but two characters: the 'x' after it is column 9, not 13.
    text_fails(
        "m{a=\"日本\"x} 1\n",
        1,
        9,
        "expected ',' or '}' after the value of label \"a\", found 'x'",
    );
    om_fails("# HELP \"日本\" ok\n日 1\n# EOF\n", 2, 1, "found '日'");
}

#[test]
fn metric_types_know_their_names_and_suffixes() {
    assert_eq!(MetricType::Unknown.as_str(Format::Text004), "untyped");
    assert_eq!(MetricType::Unknown.as_str(Format::OpenMetrics1), "unknown");
    assert_eq!(MetricType::parse("untyped", Format::OpenMetrics1), None);
    assert_eq!(
        MetricType::parse("gaugehistogram", Format::OpenMetrics1),
        Some(MetricType::GaugeHistogram)
    );
    assert_eq!(MetricType::parse("stateset", Format::Text004), None);
    assert_eq!(
        MetricType::Counter.sample_suffixes(Format::OpenMetrics1),
        &["_total", "_created"]
    );
    assert_eq!(MetricType::Counter.sample_suffixes(Format::Text004), &[""]);
    assert_eq!(
        MetricType::Histogram.sample_suffixes(Format::Text004),
        &["_bucket", "_sum", "_count"]
    );
}
