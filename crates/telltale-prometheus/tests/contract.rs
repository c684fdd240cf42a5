//! Metrics contracts end to end: TOML contracts, each kind of finding, naming lints compared
//! with the real `promtool check metrics`, and the scrape helper against a served endpoint.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use telltale_prometheus::exposition::{parse, Format};
use telltale_prometheus::{
    scrape, ContentTypeCheck, FamilyRule, FindingKind, MetricsContract, PiiKind, ScrapeOptions,
    Severity,
};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/prometheus")
        .join(path)
}

/// What a healthy be-platform `/metrics` might expose.
const GOOD: &str = r#"# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/api/items",status="200"} 12
http_requests_total{method="POST",route="/api/items",status="201"} 3
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",route="/api/items",le="0.1"} 10
http_request_duration_seconds_bucket{method="GET",route="/api/items",le="+Inf"} 12
http_request_duration_seconds_sum{method="GET",route="/api/items"} 0.9
http_request_duration_seconds_count{method="GET",route="/api/items"} 12
# HELP sync_lag_seconds Seconds behind the newest peer.
# TYPE sync_lag_seconds gauge
sync_lag_seconds 0.25
# HELP sqlite_pool_connections Connections by state.
# TYPE sqlite_pool_connections gauge
sqlite_pool_connections{state="idle"} 3
sqlite_pool_connections{state="busy"} 1
"#;

fn contract() -> MetricsContract {
    MetricsContract::from_toml_file(fixture("contracts/be-platform.toml")).unwrap()
}

#[test]
fn a_conforming_endpoint_passes() {
    let report = contract().check(&parse(GOOD, Format::Text004).unwrap());
    report.assert_ok();
    assert_eq!(report.warnings().count(), 0, "{report}");
}

#[test]
fn each_breach_is_reported_by_kind() {
    let bad = GOOD
        .replace(
            "# TYPE sync_lag_seconds gauge",
            "# TYPE sync_lag_seconds counter",
        )
        .replace(
            r#"sqlite_pool_connections{state="busy"} 1"#,
            r#"sqlite_pool_connections{state="stuck"} 1"#,
        )
        .replace(
            r#"http_requests_total{method="POST",route="/api/items",status="201"} 3"#,
            r#"http_requests_total{method="BREW",route="/api/items"} 3"#,
        );
    let bad = bad.replace("# HELP http_request_duration_seconds Request latency.\n", "# HELP peer_bytes_total Bytes from peers.\n# TYPE peer_bytes_total counter\npeer_bytes_total{peer=\"12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN\",addr=\"10.1.2.3\"} 1\n# HELP http_request_duration_seconds Request latency.\n");
    let exposition = parse(&bad, Format::Text004).unwrap();
    let contract = contract().family(FamilyRule::gauge("build_info").labels(["version"]));
    let report = contract.check(&exposition);
    assert!(!report.is_ok());
    let kinds: Vec<&FindingKind> = report.errors().map(|f| &f.kind).collect();
    assert!(kinds.contains(&&FindingKind::MissingFamily), "{report}");
    assert!(kinds.contains(&&FindingKind::WrongType), "{report}");
    assert!(
        kinds.contains(&&FindingKind::MissingLabel {
            label: "status".into()
        }),
        "{report}"
    );
    assert!(
        kinds.contains(&&FindingKind::UnexpectedLabelValue {
            label: "method".into(),
            value: "BREW".into()
        }),
        "{report}"
    );
    assert!(
        kinds.contains(&&FindingKind::UnexpectedLabelValue {
            label: "state".into(),
            value: "stuck".into()
        }),
        "{report}"
    );
    assert!(
        kinds.contains(&&FindingKind::Privacy {
            label: "peer".into(),
            kind: PiiKind::Base58Id
        }),
        "{report}"
    );
    assert!(
        kinds.contains(&&FindingKind::Privacy {
            label: "addr".into(),
            kind: PiiKind::Ipv4
        }),
        "{report}"
    );
    // The report never repeats the personal data it found.
    let text = report.to_string();
    assert!(
        !text.contains("10.1.2.3")
            && !text.contains("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"),
        "{text}"
    );
}

#[test]
fn cardinality_budget() {
    let mut body =
        String::from("# HELP user_requests_total Per user.\n# TYPE user_requests_total counter\n");
    for i in 0..30 {
        body.push_str(&format!("user_requests_total{{user=\"u{i}\"}} 1\n"));
    }
    let report = MetricsContract::new()
        .default_max_series(20)
        .check(&parse(&body, Format::Text004).unwrap());
    let finding = report.errors().next().expect("a cardinality error");
    assert_eq!(
        finding.kind,
        FindingKind::CardinalityExceeded {
            series: 30,
            budget: 20
        }
    );
    // A histogram is one series per label set, not one per bucket.
    let report = MetricsContract::new()
        .default_max_series(1)
        .check(&parse(GOOD, Format::Text004).unwrap());
    assert!(
        !report
            .errors()
            .any(|f| f.family == "http_request_duration_seconds"),
        "{report}"
    );
}

#[test]
fn units_must_be_in_the_name() {
    let body = "# HELP request_latency Latency.\n# TYPE request_latency gauge\nrequest_latency 1\n";
    let report = MetricsContract::new()
        .family(FamilyRule::gauge("request_latency").unit("seconds"))
        .check(&parse(body, Format::Text004).unwrap());
    assert!(
        report
            .errors()
            .any(|f| f.kind == FindingKind::UnitNotInName),
        "{report}"
    );
    // An OpenMetrics `# UNIT` that is not the name's suffix never reaches a contract: the
    // parser refuses it, as the OpenMetrics spec requires.
    let om = "# TYPE request_latency_seconds gauge\n# UNIT request_latency_seconds milliseconds\nrequest_latency_seconds 1\n# EOF\n";
    let err = parse(om, Format::OpenMetrics1).unwrap_err();
    assert!(err.to_string().contains("unit"), "{err}");
}

/// `promtool check metrics` output as a set of `(metric, problem)`.
fn promtool(body: &[u8]) -> Option<BTreeSet<(String, String)>> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(name, problem)| (name.to_owned(), problem.to_owned()))
            .collect(),
    )
}

fn ours(body: &str) -> BTreeSet<(String, String)> {
    let exposition = parse(body, Format::Text004).unwrap();
    exposition
        .families
        .iter()
        .flat_map(|f| {
            telltale_prometheus::contract::naming_problems(f)
                .into_iter()
                .map(move |p| (f.name.clone(), p))
        })
        .collect()
}

#[test]
fn naming_lints_match_promtool() {
    let cases = [
        "contracts/lint-cases.prom",
        "exposition/node_exporter-1.5.0.txt",
        "exposition/prometheus-2.42.0.txt",
    ];
    for case in cases {
        let body = std::fs::read_to_string(fixture(case)).unwrap();
        let Some(theirs) = promtool(body.as_bytes()) else {
            support::skip("naming lints compared with promtool (install Debian's prometheus, which brings promtool)");
            return;
        };
        let mine = ours(&body);
        let only_theirs: Vec<_> = theirs.difference(&mine).collect();
        let only_mine: Vec<_> = mine.difference(&theirs).collect();
        assert!(
            only_theirs.is_empty() && only_mine.is_empty(),
            "{case}: promtool only {only_theirs:#?}\nours only {only_mine:#?}"
        );
        if case.contains("lint-cases") {
            assert_eq!(mine.len(), 9, "{mine:#?}");
        }
    }
}

#[test]
fn naming_findings_are_warnings_unless_asked() {
    let body = std::fs::read_to_string(fixture("contracts/lint-cases.prom")).unwrap();
    let exposition = parse(&body, Format::Text004).unwrap();
    let lenient = MetricsContract::new()
        .without_privacy_scan()
        .check(&exposition);
    assert!(
        lenient.is_ok() && lenient.warnings().count() == 9,
        "{lenient}"
    );
    let strict = MetricsContract::new().naming(true, true).check(&exposition);
    assert!(!strict.is_ok() && strict.errors().all(|f| f.severity == Severity::Error));
}

#[tokio::test]
async fn scrape_reports_content_type_and_parses() {
    let port = support::serve_exposition(GOOD.to_owned()).await;
    let good = scrape(
        &format!("http://127.0.0.1:{port}/metrics"),
        &ScrapeOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(good.status, 200);
    assert!(
        good.content_type_check.prometheus3_accepts(),
        "{:?}",
        good.content_type_check
    );
    assert_eq!(good.format(), Some(Format::Text004));
    contract().check(&good.exposition().unwrap()).assert_ok();
    let blank = scrape(
        &format!("http://127.0.0.1:{port}/metrics-blank"),
        &ScrapeOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(blank.content_type_check, ContentTypeCheck::Blank);
    assert!(!blank.content_type_check.prometheus3_accepts());
}

#[tokio::test]
async fn scrape_real_node_exporter_with_gzip() {
    let Some(bin) = support::find_binary("NODE_EXPORTER_BIN", Some("prometheus-node-exporter"))
    else {
        support::skip("scrape of a real node_exporter (install prometheus-node-exporter or set NODE_EXPORTER_BIN)");
        return;
    };
    let dir = support::TempDir::new("node-scrape");
    let port = support::free_port();
    let args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    let node = support::Proc::spawn(&bin, &args, dir.0.join("node.log"));
    let url = format!("http://127.0.0.1:{port}/metrics");
    let got = support::eventually(std::time::Duration::from_secs(20), || async {
        scrape(&url, &ScrapeOptions::default()).await.ok()
    })
    .await
    .unwrap_or_else(|| panic!("node_exporter never answered\n{}", node.tail()));
    assert_eq!(
        got.content_encoding.as_deref(),
        Some("gzip"),
        "Prometheus asks for gzip and node_exporter obliges"
    );
    // node_exporter 1.5 does not offer OpenMetrics unless started with it enabled, so it
    // answers Prometheus 3's Accept (OpenMetrics first) with text 0.0.4.
    assert_eq!(
        got.format(),
        Some(Format::Text004),
        "{:?}",
        got.content_type
    );
    assert!(got.content_type_check.prometheus3_accepts());
    let exposition = got.exposition().unwrap();
    assert!(exposition.family("node_load1").is_some() && exposition.sample_count() > 100);
    let plain = scrape(
        &url,
        &ScrapeOptions {
            accept: "text/plain;version=0.0.4".into(),
            gzip: false,
            ..ScrapeOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (plain.format(), plain.content_encoding.as_deref()),
        (Some(Format::Text004), None)
    );
    assert_eq!(
        plain
            .exposition()
            .unwrap()
            .family("node_load1")
            .map(|f| f.kind),
        exposition.family("node_load1").map(|f| f.kind)
    );
}
