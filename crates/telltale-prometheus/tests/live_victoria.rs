//! Live test against a real VictoriaMetrics single-node server the test starts itself
//! (`VICTORIA_METRICS_BIN`, which `.ci/unstable-tools.sh` fetches from Debian unstable), scraping
//! an exporter the test serves: the same client reads a Prometheus-compatible store.

mod support;

use std::time::{Duration, SystemTime};

use support::{eventually, find_binary, free_port, serve_exposition, skip, Proc, TempDir};
use telltale_prometheus::api::Health;
use telltale_prometheus::{ApiErrorType, Client, QueryOptions, RetryPolicy, TargetState};

const EXPOSITION: &str = r#"# HELP telltale_vm_requests_total Requests served.
# TYPE telltale_vm_requests_total counter
telltale_vm_requests_total{path="/a,b=c",code="200"} 42
telltale_vm_requests_total{path="/q\"uote\\d",code="500"} 7
# TYPE telltale_vm_temperature_celsius gauge
telltale_vm_temperature_celsius{room="labé 中"} 21.5
"#;

#[tokio::test]
async fn victoria_metrics_answers_the_prometheus_api() {
    let Some(bin) = find_binary("VICTORIA_METRICS_BIN", Some("victoria-metrics")) else {
        skip("live VictoriaMetrics test (set VICTORIA_METRICS_BIN; .ci/unstable-tools.sh fetches it)");
        return;
    };
    let dir = TempDir::new("vm");
    let exporter = serve_exposition(EXPOSITION.to_owned()).await;
    let scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: telltale\n    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n"
    );
    std::fs::write(dir.0.join("scrape.yml"), scrape).unwrap();
    let port = free_port();
    let args = vec![
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!("-storageDataPath={}", dir.0.join("data").display()),
        format!("-promscrape.config={}", dir.0.join("scrape.yml").display()),
        "-retentionPeriod=90d".into(),
        // Without this, VictoriaMetrics hides the last 30 s of data from queries.
        "-search.latencyOffset=0s".into(),
        "-search.disableCache".into(),
    ];
    let vm = Proc::spawn(&bin, &args, dir.0.join("vm.log"));
    let client = Client::builder(format!("http://127.0.0.1:{port}"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    if let Err(e) = client.wait_ready(Duration::from_secs(60)).await {
        panic!("VictoriaMetrics never became ready: {e}\n{}", vm.tail());
    }

    let targets = eventually(Duration::from_secs(30), || async {
        client
            .targets(TargetState::Active)
            .await
            .ok()
            .filter(|t| t.active_targets.iter().any(|t| t.health == Health::Up))
    })
    .await
    .unwrap_or_else(|| panic!("the target never came up\n{}", vm.tail()));
    assert!(targets.active_targets[0].scrape_url.ends_with("/metrics"));

    let vector = eventually(Duration::from_secs(30), || async {
        let res = client
            .query(
                r#"telltale_vm_requests_total{job="telltale"}"#,
                None,
                &QueryOptions::default(),
            )
            .await
            .ok()?;
        let v = res.data.vector()?.to_vec();
        (v.len() == 2).then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("the scraped series never became queryable\n{}", vm.tail()));
    let by_path = |p: &str| {
        vector
            .iter()
            .find(|s| s.metric.get("path").map(String::as_str) == Some(p))
            .map(|s| s.sample.unwrap().value)
    };
    assert_eq!(by_path("/a,b=c"), Some(42.0));
    assert_eq!(by_path("/q\"uote\\d"), Some(7.0));

    let now = SystemTime::now();
    let post = QueryOptions {
        post: true,
        ..QueryOptions::default()
    };
    let range = client
        .query_range(
            r#"telltale_vm_temperature_celsius{room="labé 中"}"#,
            now - Duration::from_secs(30),
            now,
            Duration::from_secs(1),
            &post,
        )
        .await
        .unwrap();
    let matrix = range.data.matrix().unwrap();
    assert!(
        !matrix.is_empty() && matrix[0].values.iter().all(|s| s.value == 21.5),
        "{matrix:?}"
    );

    let series = client
        .series(
            &[r#"{__name__=~"telltale_vm_.*"}"#],
            Some(now - Duration::from_secs(300)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(series.len(), 3, "{series:?}");
    let labels = client
        .labels(&[], Some(now - Duration::from_secs(300)), None)
        .await
        .unwrap();
    assert!(labels.iter().any(|l| l == "room"), "{labels:?}");
    let codes = client
        .label_values("code", &[], Some(now - Duration::from_secs(300)), None)
        .await
        .unwrap();
    assert_eq!(codes, vec!["200".to_owned(), "500".to_owned()]);

    let err = client
        .query("sum(", None, &QueryOptions::default())
        .await
        .unwrap_err();
    let api = err.api().unwrap_or_else(|| panic!("{err}"));
    assert_eq!(api.status(), 422, "{err}");
    assert_eq!(
        api.error_type(),
        ApiErrorType::Other,
        "VictoriaMetrics has its own errorType: {err}"
    );
}
