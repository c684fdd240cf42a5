//! Live tests against real Prometheus servers the test starts itself: Debian's 2.x (`prometheus`
//! on `PATH`, or `PROMETHEUS_BIN`) and 3.x (`PROMETHEUS3_BIN`), scraping an exporter the test
//! serves and Debian's node_exporter. Also runs read-only checks against `PROMETHEUS_URL` when
//! set. Each missing server prints one `skipped:` line.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use support::{eventually, find_binary, free_port, serve_exposition, skip, Proc, TempDir};
use telltale_prometheus::api::Health;
use telltale_prometheus::{ApiErrorType, Client, QueryOptions, RetryPolicy, TargetState};

/// What the test's exporter serves. Label values hold `,` `=` `"` `\` and UTF-8 on purpose:
/// they must come back from Prometheus exactly.
const EXPOSITION: &str = r#"# HELP telltale_test_requests_total Requests served.
# TYPE telltale_test_requests_total counter
telltale_test_requests_total{path="/a,b=c",code="200"} 42
telltale_test_requests_total{path="/q\"uote\\d",code="500"} 7
# HELP telltale_test_temperature_celsius Room temperature.
# TYPE telltale_test_temperature_celsius gauge
telltale_test_temperature_celsius{room="labé 中"} 21.5
# HELP telltale_test_latency_seconds Request latency.
# TYPE telltale_test_latency_seconds histogram
telltale_test_latency_seconds_bucket{le="0.1"} 3
telltale_test_latency_seconds_bucket{le="1"} 5
telltale_test_latency_seconds_bucket{le="+Inf"} 6
telltale_test_latency_seconds_sum 4.2
telltale_test_latency_seconds_count 6
"#;

const RULES: &str = r#"groups:
  - name: telltale
    interval: 1s
    rules:
      - record: telltale:requests:sum
        expr: sum(telltale_test_requests_total)
      - alert: TelltaleAlwaysFiring
        expr: vector(1)
        labels:
          severity: none
        annotations:
          summary: always firing, for the API test
"#;

struct Stack {
    client: Client,
    prometheus: Proc,
    data_dir: std::path::PathBuf,
    has_node_exporter: bool,
    _node: Option<Proc>,
    _dir: TempDir,
}

async fn start(binary: &Path, tag: &str) -> Stack {
    let dir = TempDir::new(tag);
    let exporter_port = serve_exposition(EXPOSITION.to_owned()).await;
    let node = find_binary("NODE_EXPORTER_BIN", Some("prometheus-node-exporter")).map(|bin| {
        let port = free_port();
        let args = vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults".into(),
            "--collector.cpu".into(),
            "--collector.meminfo".into(),
            "--collector.loadavg".into(),
        ];
        (Proc::spawn(&bin, &args, dir.0.join("node.log")), port)
    });
    if node.is_none() {
        skip("node_exporter target in the live Prometheus test (install prometheus-node-exporter or set NODE_EXPORTER_BIN)");
    }
    let node_job = node
        .as_ref()
        .map(|(_, port)| {
            format!(
                "  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            )
        })
        .unwrap_or_default();
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{rules}']\nscrape_configs:\n  - job_name: telltale\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n  - job_name: blank_content_type\n    metrics_path: /metrics-blank\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n{node_job}",
        rules = dir.0.join("rules.yml").display(),
    );
    std::fs::write(dir.0.join("rules.yml"), RULES).unwrap();
    std::fs::write(dir.0.join("prometheus.yml"), config).unwrap();
    let data_dir = dir.0.join("data");
    let args = vec![
        format!("--config.file={}", dir.0.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", data_dir.display()),
        "--storage.tsdb.retention.time=90d".into(),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-admin-api".into(),
    ];
    let prometheus = Proc::spawn(binary, &args, dir.0.join("prometheus.log"));
    let client = Client::builder(format!("http://127.0.0.1:{port}"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    if let Err(e) = client.wait_ready(Duration::from_secs(60)).await {
        panic!(
            "{} never became ready: {e}\n{}",
            binary.display(),
            prometheus.tail()
        );
    }
    let has_node_exporter = node.is_some();
    Stack {
        client,
        prometheus,
        data_dir,
        has_node_exporter,
        _node: node.map(|(p, _)| p),
        _dir: dir,
    }
}

/// Runs the whole API check against one Prometheus binary.
async fn check_prometheus(binary: &Path, tag: &str) {
    let stack = start(binary, tag).await;
    let client = &stack.client;
    let info = client.build_info().await.unwrap();
    let major = info
        .major()
        .unwrap_or_else(|| panic!("no major version in {info:?}"));

    // Targets: every job but the blank-Content-Type one must be up; that one must be down
    // on Prometheus 3, which refuses a missing Content-Type, and up on 2.x.
    let jobs_up = if stack.has_node_exporter { 3 } else { 2 };
    let targets = eventually(Duration::from_secs(45), || async {
        let t = client.targets(TargetState::Any).await.ok()?;
        let up = t
            .active_targets
            .iter()
            .filter(|t| t.health == Health::Up && t.scrape_pool != "blank_content_type")
            .count();
        let blank_scraped = t
            .active_targets
            .iter()
            .any(|t| t.scrape_pool == "blank_content_type" && t.health != Health::Unknown);
        (up == jobs_up && blank_scraped).then_some(t)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "targets never came up on {}\n{}",
            info.version,
            stack.prometheus.tail()
        )
    });
    let ours = targets
        .active_targets
        .iter()
        .find(|t| t.scrape_pool == "telltale")
        .unwrap();
    assert!(
        ours.scrape_url.ends_with("/metrics")
            && ours.last_error.is_empty()
            && ours.last_scrape_duration > 0.0,
        "{ours:?}"
    );
    assert!(!ours.last_scrape.is_empty());
    let blank = targets
        .active_targets
        .iter()
        .find(|t| t.scrape_pool == "blank_content_type")
        .unwrap();
    if major >= 3 {
        assert_eq!(blank.health, Health::Down, "{blank:?}");
        assert!(blank.last_error.contains("Content-Type"), "{blank:?}");
    } else {
        assert_eq!(blank.health, Health::Up, "{blank:?}");
    }

    // The values the test served come back exactly, label escapes included.
    let now = SystemTime::now();
    let res = client
        .query(
            r#"telltale_test_requests_total{job="telltale"}"#,
            Some(now),
            &QueryOptions::default(),
        )
        .await
        .unwrap();
    let vector = res.data.vector().unwrap();
    assert_eq!(vector.len(), 2, "{vector:?}");
    let by_path = |p: &str| {
        vector
            .iter()
            .find(|s| s.metric.get("path").map(String::as_str) == Some(p))
            .map(|s| s.sample.unwrap().value)
    };
    assert_eq!(by_path("/a,b=c"), Some(42.0));
    assert_eq!(by_path("/q\"uote\\d"), Some(7.0));
    let post = QueryOptions {
        post: true,
        ..QueryOptions::default()
    };
    let res = client
        .query(
            r#"telltale_test_temperature_celsius{room="labé 中"}"#,
            None,
            &post,
        )
        .await
        .unwrap();
    assert_eq!(res.data.vector().unwrap()[0].sample.unwrap().value, 21.5);
    let res = client
        .query("histogram_quantile(0.5, sum by (le) (telltale_test_latency_seconds_bucket{job=\"telltale\"}))", None, &QueryOptions::default())
        .await
        .unwrap();
    let median = res.data.vector().unwrap()[0].sample.unwrap().value;
    assert!(median > 0.0 && median <= 0.1, "{median}");
    let range = client
        .query_range(
            r#"telltale_test_requests_total{code="200"}"#,
            now - Duration::from_secs(10),
            now,
            Duration::from_secs(1),
            &QueryOptions::default(),
        )
        .await
        .unwrap();
    let matrix = range.data.matrix().unwrap();
    assert!(
        !matrix.is_empty() && matrix[0].values.iter().all(|s| s.value == 42.0),
        "{matrix:?}"
    );
    let scalar = client
        .query("scalar(vector(3))", None, &QueryOptions::default())
        .await
        .unwrap();
    assert!(
        matches!(scalar.data, telltale_prometheus::api::QueryData::Scalar(s) if s.value == 3.0)
    );

    // Metadata endpoints.
    let series = client
        .series(
            &[r#"telltale_test_requests_total{job="telltale"}"#],
            Some(now - Duration::from_secs(60)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(series.len(), 2, "{series:?}");
    let labels = client.labels(&[], None, None).await.unwrap();
    assert!(
        labels.iter().any(|l| l == "path") && labels.iter().any(|l| l == "room"),
        "{labels:?}"
    );
    let codes = client
        .label_values(
            "code",
            &[r#"telltale_test_requests_total{job="telltale"}"#],
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(codes, vec!["200".to_owned(), "500".to_owned()]);
    let meta = eventually(Duration::from_secs(10), || async {
        client
            .metadata(Some("telltale_test_requests_total"), None)
            .await
            .ok()
            .filter(|m| !m.is_empty())
    })
    .await
    .expect("metadata arrives");
    let m = &meta["telltale_test_requests_total"][0];
    assert_eq!(
        (m.kind.as_str(), m.help.as_str()),
        ("counter", "Requests served.")
    );
    let tmeta = client
        .targets_metadata(
            Some(r#"{job="telltale"}"#),
            Some("telltale_test_temperature_celsius"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(tmeta[0].kind, "gauge");
    if stack.has_node_exporter {
        let up = client
            .query(r#"up{job="node"}"#, None, &QueryOptions::default())
            .await
            .unwrap();
        assert_eq!(up.data.vector().unwrap()[0].sample.unwrap().value, 1.0);
    }

    // Status: retention is what the flag said, and runtimeinfo agrees.
    let flags = client.flags().await.unwrap();
    assert_eq!(
        flags.get("storage.tsdb.retention.time").map(String::as_str),
        Some("90d")
    );
    assert_eq!(
        client.retention().await.unwrap(),
        Some(Duration::from_secs(90 * 86_400))
    );
    let runtime = client.runtime_info().await.unwrap();
    assert!(
        runtime.storage_retention.contains("90d") && runtime.reload_config_success,
        "{runtime:?}"
    );
    let tsdb = client.tsdb_status().await.unwrap();
    assert!(tsdb.head_stats.num_series > 0, "{tsdb:?}");
    assert!(client.ready().await.unwrap() && client.healthy().await.unwrap());

    // Rules and alerts.
    let groups = client.rules().await.unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g.name == "telltale" && g.rules.len() == 2),
        "{groups:?}"
    );
    let alerts = eventually(Duration::from_secs(15), || async {
        client.alerts().await.ok().filter(|a| !a.is_empty())
    })
    .await
    .expect("an alert");
    assert_eq!(
        alerts[0].labels.get("alertname").map(String::as_str),
        Some("TelltaleAlwaysFiring")
    );

    // Admin snapshot lands on disk.
    let name = client.snapshot(false).await.unwrap();
    assert!(
        stack.data_dir.join("snapshots").join(&name).is_dir(),
        "snapshot {name} not on disk"
    );

    // Errors are typed.
    let err = client
        .query("sum(", None, &QueryOptions::default())
        .await
        .unwrap_err();
    let api = err.api().unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        (api.status(), api.error_type()),
        (400, ApiErrorType::BadData),
        "{err}"
    );
    let err = client
        .query_range(
            "up",
            now,
            now - Duration::from_secs(60),
            Duration::from_secs(1),
            &QueryOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.api().map(|a| a.error_type()),
        Some(ApiErrorType::BadData),
        "{err}"
    );
}

#[tokio::test]
async fn prometheus_2_from_debian() {
    match find_binary("PROMETHEUS_BIN", Some("prometheus")) {
        Some(bin) => check_prometheus(&bin, "prom2").await,
        None => {
            skip("live Prometheus 2.x test (install Debian's prometheus or set PROMETHEUS_BIN)")
        }
    }
}

#[tokio::test]
async fn prometheus_3_from_debian_unstable() {
    match find_binary("PROMETHEUS3_BIN", None) {
        Some(bin) => check_prometheus(&bin, "prom3").await,
        None => {
            skip("live Prometheus 3.x test (set PROMETHEUS3_BIN; .ci/unstable-tools.sh fetches it)")
        }
    }
}

#[tokio::test]
async fn external_server_named_by_prometheus_url() {
    let Some(builder) = Client::builder_from_env().unwrap() else {
        skip("live test against an external Prometheus-compatible server (set PROMETHEUS_URL)");
        return;
    };
    let client = builder.build().unwrap();
    client.wait_ready(Duration::from_secs(30)).await.unwrap();
    let res = client
        .query("vector(1)", None, &QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(res.data.vector().unwrap()[0].sample.unwrap().value, 1.0);
    let targets = client.targets(TargetState::Active).await.unwrap();
    assert!(targets
        .active_targets
        .iter()
        .all(|t| !t.scrape_url.is_empty()));
}
