//! The `telltale` binary as a user runs it: output and exit codes (0 passed, 1 a check failed,
//! 2 could not run).

use std::path::PathBuf;

fn telltale(args: &[&str]) -> (i32, String, String) {
    telltale_testsupport::run(env!("CARGO_BIN_EXE_telltale"), args)
}

fn fixture(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn metrics_lint_exit_codes() {
    let contract = fixture("prometheus/contracts/be-platform.toml");
    let dir = telltale_testsupport::TempDir::new("cli-lint");
    let good = dir.0.join("good.prom");
    std::fs::write(
        &good,
        "# HELP http_requests_total R.\n# TYPE http_requests_total counter\nhttp_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 1\n\
         # HELP http_request_duration_seconds L.\n# TYPE http_request_duration_seconds histogram\n\
         http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"+Inf\"} 1\nhttp_request_duration_seconds_sum{method=\"GET\",route=\"/\"} 0.1\nhttp_request_duration_seconds_count{method=\"GET\",route=\"/\"} 1\n\
         # HELP sync_lag_seconds S.\n# TYPE sync_lag_seconds gauge\nsync_lag_seconds 0\n\
         # HELP sqlite_pool_connections C.\n# TYPE sqlite_pool_connections gauge\nsqlite_pool_connections{state=\"idle\"} 1\n",
    )
    .unwrap();
    let (code, out, err) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        &contract,
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 errors"), "{out}");

    let (code, out, _) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        &contract,
        &fixture("prometheus/contracts/lint-cases.prom"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("family \"http_request_duration_seconds\" is missing"),
        "{out}"
    );
    assert!(
        out.contains("counter metrics should have \"_total\" suffix"),
        "naming warnings are listed too: {out}"
    );

    let (code, _, err) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        "/nonexistent.toml",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.toml"), "{err}");

    let broken = dir.0.join("broken.prom");
    std::fs::write(&broken, "# TYPE x counter\nx{a=\"1\" 2\n").unwrap();
    let (code, _, err) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        &contract,
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2"), "a positioned parse error: {err}");
}

#[test]
fn glitchtip_bootstrap_is_idempotent() {
    let (Ok(url), Ok(token_file)) = (
        std::env::var("GLITCHTIP_URL"),
        std::env::var("GLITCHTIP_TOKEN_FILE"),
    ) else {
        telltale_testsupport::skip("telltale glitchtip bootstrap against a real GlitchTip (set GLITCHTIP_URL and GLITCHTIP_TOKEN_FILE)");
        return;
    };
    let args = [
        "glitchtip",
        "bootstrap",
        "--url",
        &url,
        "--token-file",
        &token_file,
        "--org",
        "meridian",
        "--team",
        "backend",
        "--project",
        "be-platform",
        "--project",
        "be-pwa",
    ];
    let (code, first, err) = telltale(&args);
    assert_eq!(code, 0, "{err}");
    let parsed: serde_json::Value = serde_json::from_str(&first).unwrap();
    for project in ["be-platform", "be-pwa"] {
        let dsn = parsed[project]["dsn"]
            .as_str()
            .unwrap_or_else(|| panic!("{first}"));
        assert!(
            dsn.starts_with("http") && dsn.ends_with(&format!("/{}", parsed[project]["id"])),
            "{first}"
        );
    }
    let (code, second, err) = telltale(&args);
    assert_eq!((code, second.as_str()), (0, first.as_str()), "{err}");
    assert!(
        !err.contains("created"),
        "a second run creates nothing: {err}"
    );
}

#[test]
fn decode_reads_every_kind_from_recorded_payloads() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["loki-push-json", "loki/3.5.12/push-ok.request.json"],
            "level=info msg=\\\"first\\\" n=1",
        ),
        (
            &["prom-text", "prometheus/exposition/node_exporter-1.5.0.txt"],
            "\"name\": \"node_load1\"",
        ),
        (
            &[
                "openmetrics",
                "prometheus/exposition/python_client-0.16.0.om.txt",
            ],
            "\"type\": \"stateset\"",
        ),
        (
            &[
                "otlp-logs",
                "otlp/python-1.45.2/logs.pb.gz",
                "--encoding",
                "gzip",
            ],
            "\"resourceLogs\"",
        ),
        (
            &["otlp-metrics", "otlp/node-2.12.1/metrics.json"],
            "\"resourceMetrics\"",
        ),
        (
            &[
                "otlp-traces",
                "otlp/node-2.12.1/traces.pb",
                "--content-type",
                "protobuf",
            ],
            "\"resourceSpans\"",
        ),
        (
            &["tempo-trace", "tempo/3.1.0-dev/trace-v1.json"],
            "\"00f067aa0ba902b7aaaaaaaaaaaaaa01\"",
        ),
        (
            &["tempo-trace", "tempo/3.1.0-dev/trace-v2.pb"],
            "\"00f067aa0ba902b7aaaaaaaaaaaaaa01\"",
        ),
        (
            &["tempo-search", "tempo/3.1.0-dev/search.json"],
            "\"00f067aa0ba902b7aaaaaaaaaaaaaa01\"",
        ),
        (
            &["pprof", "pprof/go1.26.10/heap.pb.gz"],
            "\"main.telltaleAllocate\"",
        ),
        (
            &[
                "faro",
                "faro/web-sdk-2.12.1/gzip/001.body.json.gz",
                "--encoding",
                "gzip",
            ],
            "\"meta\"",
        ),
        (
            &[
                "sentry-envelope",
                "glitchtip/sdk-envelopes/python-sentry-sdk-2.75.0/exception-001.body",
                "--encoding",
                "gzip",
            ],
            "\"items\"",
        ),
    ];
    for (args, needle) in cases {
        let file = fixture(args[1]);
        let mut argv = vec!["decode", args[0], file.as_str()];
        argv.extend_from_slice(&args[2..]);
        let (code, out, err) = telltale(&argv);
        assert_eq!(code, 0, "{argv:?}: {err}");
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap_or_else(|e| panic!("{argv:?} printed no JSON: {e}"));
        assert!(
            out.contains(needle),
            "{argv:?} lacks {needle}:\n{}",
            &out[..out.len().min(2000)]
        );
    }
}

#[test]
fn decode_malformed_input_exits_1_with_a_position() {
    let dir = telltale_testsupport::TempDir::new("cli-decode");
    let bad = dir.0.join("bad.prom");
    std::fs::write(&bad, "# TYPE x counter\nx{a=\"1\" 2\n").unwrap();
    let (code, out, err) = telltale(&["decode", "prom-text", bad.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("line 2, column 9"), "{err}");
    let (code, _, err) = telltale(&[
        "decode",
        "faro",
        fixture("faro/web-sdk-2.12.1/gzip/001.body.json.gz").as_str(),
    ]);
    assert_eq!(code, 1, "gzip bytes read as JSON are malformed: {err}");
    let (code, _, _) = telltale(&["decode", "faro", "/nonexistent"]);
    assert_eq!(
        code, 2,
        "an unreadable file is a failure to run, not a malformed payload"
    );
}

/// Every `decode` kind refuses malformed input with exit 1, nothing on stdout, and a message
/// that says where: a byte offset, a line and column, or the element's path.
#[test]
fn decode_refuses_every_malformed_kind_with_a_position() {
    let dir = telltale_testsupport::TempDir::new("cli-decode-malformed");
    let gzip_cut = {
        let mut gz = telltale_glitchtip::Compression::Gzip
            .compress(br#"{"message":"x"}"#)
            .unwrap();
        gz.truncate(gz.len() - 6);
        gz
    };
    // A raw snappy block (length 4, one 4-byte literal) holding a PushRequest whose field 1
    // declares 5 bytes where 2 follow.
    let snappy_bad_proto = [4u8, 3 << 2, 0x0a, 0x05, 0x0a, 0x03];
    // (case, kind, body, extra arguments, words the message must hold)
    type Case<'a> = (&'a str, &'a str, &'a [u8], &'a [&'a str], &'a [&'a str]);
    let cases: &[Case<'_>] = &[
        (
            "envelope-event-not-json",
            "sentry-envelope",
            b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\"}\n{\"message\":\"hi\",\n",
            &[],
            &["item 1 (type \"event\")", "line 3, column 16", "not valid JSON"],
        ),
        (
            "envelope-transaction-after-attachment",
            "sentry-envelope",
            b"{}\n{\"type\":\"attachment\",\"length\":1}\nx\n{\"type\":\"transaction\",\"length\":12}\n{\"a\":1,\n\"b\"}\n",
            &[],
            &["item 2 (type \"transaction\")", "byte 84", "line 6, column 4"],
        ),
        (
            "envelope-session-array",
            "sentry-envelope",
            b"{}\n{\"type\":\"session\"}\n[1]\n",
            &[],
            &["item 1 (type \"session\")", "line 3, column 1", "not a JSON object"],
        ),
        (
            "envelope-empty-span",
            "sentry-envelope",
            b"{}\n{\"type\":\"span\",\"length\":0}\n\n",
            &[],
            &["item 1 (type \"span\")", "line 3, column 1", "empty"],
        ),
        (
            "envelope-length-past-end",
            "sentry-envelope",
            b"{}\n{\"type\":\"event\",\"length\":50}\n{}",
            &[],
            &["byte 32 (line 3, column 1)", "only 2 bytes remain"],
        ),
        (
            "envelope-gzip-cut",
            "sentry-envelope",
            &gzip_cut,
            &["--encoding", "gzip"],
            &["at compressed byte"],
        ),
        (
            "event-array",
            "sentry-event",
            b"\n  [1]",
            &[],
            &["must be a JSON object", "line 2 column 3"],
        ),
        (
            "event-syntax",
            "sentry-event",
            b"{\"message\": }",
            &[],
            &["line 1 column 13"],
        ),
        (
            "faro-wrong-type",
            "faro",
            br#"{"meta":{},"logs":[{"message":1}]}"#,
            &[],
            &["logs[0].message"],
        ),
        (
            "faro-syntax",
            "faro",
            br#"{"meta":{}, "logs":[}"#,
            &[],
            &["line 1 column 21"],
        ),
        (
            "otlp-json-syntax",
            "otlp-logs",
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":}]}]}]}"#,
            &[],
            &["line 1 column 55"],
        ),
        (
            "otlp-protobuf-truncated",
            "otlp-traces",
            b"\x0a\x05\x0a\x03",
            &["--content-type", "protobuf"],
            &["breaks at byte 0 of 4"],
        ),
        (
            "loki-json-entry",
            "loki-push-json",
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"],[2,"y"]]}]}"#,
            &[],
            &["streams[0].values[1]"],
        ),
        (
            "loki-json-labels",
            "loki-push-json",
            br#"{"streams":[{"stream":{},"values":[]}]}"#,
            &[],
            &["streams[0].stream"],
        ),
        (
            "loki-proto",
            "loki-push-proto",
            &snappy_bad_proto,
            &[],
            &["PushRequest.streams"],
        ),
        (
            "openmetrics-no-eof",
            "openmetrics",
            b"# TYPE x counter\nx_total 1\n",
            &[],
            &["line 3, column 1", "# EOF"],
        ),
    ];
    for (name, kind, body, extra, needles) in cases {
        let file = dir.0.join(name);
        std::fs::write(&file, body).unwrap();
        let mut argv = vec!["decode", kind, file.to_str().unwrap()];
        argv.extend_from_slice(extra);
        let (code, out, err) = telltale(&argv);
        assert_eq!((code, out.as_str()), (1, ""), "{name}: {err}");
        assert!(err.starts_with("malformed: "), "{name}: {err}");
        for needle in *needles {
            assert!(err.contains(needle), "{name}: {needle:?} not in {err}");
        }
    }
    // Not JSON types are printed, not judged; unknown items are listed as skipped.
    let fine = dir.0.join("fine.envelope");
    std::fs::write(
        &fine,
        b"{}\n{\"type\":\"attachment\",\"length\":3}\n{x}\n{\"type\":\"statsd\"}\nc:1|c\n{\"type\":\"future\"}\n[\n",
    )
    .unwrap();
    let (code, out, err) = telltale(&["decode", "sentry-envelope", fine.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"][0]["payload"]["text"], "{x}", "{out}");
    assert_eq!(v["skipped_unknown_items"][0]["type"], "future", "{out}");
}

/// Knobs that would make `check` vacuous are refused before anything is sent or any part is
/// asked: exit 2, naming the knob. The stack file is never read, so any path will do.
#[test]
fn check_refuses_knobs_that_make_delivery_vacuous() {
    for (flag, value) in [("--items", "0"), ("--deadline", "0"), ("--settle", "0")] {
        let (code, stdout, stderr) = telltale(&[
            "check",
            "--stack",
            "/nonexistent/stack.toml",
            "--scenario",
            "journald-to-loki",
            flag,
            value,
        ]);
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stdout.is_empty(), "{flag}: nothing is reported: {stdout}");
        assert!(
            stderr.contains(&format!("{flag} must be at least")),
            "{flag}: {stderr}"
        );
    }
}

#[test]
fn probe_refuses_options_under_which_no_outage_could_be_detected() {
    let dir = telltale_testsupport::TempDir::new("cli-probe");
    let stack = dir.0.join("stack.toml");
    std::fs::write(&stack, "host = \"127.0.0.1\"\n").unwrap();
    let stack = stack.to_str().unwrap();
    for (args, says) in [
        (&["--dead-after", "0"][..], "--dead-after"),
        (&["--for", "2s"][..], "--for"),
        (&["--interval", "1 second"][..], "not a duration"),
    ] {
        let mut all = vec!["probe", "--stack", stack];
        all.extend_from_slice(args);
        let (code, out, err) = telltale(&all);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
