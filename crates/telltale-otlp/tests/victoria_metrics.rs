//! Live tests against a real VictoriaMetrics started by the test (`VICTORIA_METRICS_BIN`):
//! synthetic counters, sums, gauges and histograms pushed over OTLP/HTTP (protobuf, gzip) to
//! `/opentelemetry/v1/metrics`, then found again with PromQL by their run and sequence labels.

mod support;

use std::time::Duration;

use support::{eventually, VictoriaMetrics};
use telltale_otlp::{
    Client, Compression, Encoding, ErrorKind, Metric, RunTag, SignalKind, Status, Synth,
};

const PATH: &str = "/opentelemetry/v1/metrics";

fn run_id(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), support::free_port())
}

fn client(vm: &VictoriaMetrics, compression: Compression) -> Client {
    Client::builder(&vm.url)
        .path(SignalKind::Metrics, PATH)
        .compression(compression)
        .build()
        .unwrap()
}

/// Waits until `promql` returns `n` series, and returns them.
async fn wait_for(
    vm: &VictoriaMetrics,
    promql: &str,
    n: usize,
) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
    let found = eventually(Duration::from_secs(20), || async {
        let series = vm.query(promql).await;
        (series.len() == n).then_some(series)
    })
    .await;
    match found {
        Some(series) => series,
        None => panic!(
            "{promql}: wanted {n} series, have {:?}\n{}",
            vm.query(promql).await,
            vm.proc.tail()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_naming_finds_every_point_by_run_and_seq() {
    let Some(vm) = VictoriaMetrics::start(
        "prometheus_naming_finds_every_point_by_run_and_seq",
        &["-opentelemetry.usePrometheusNaming"],
    )
    .await
    else {
        return;
    };
    let run = run_id("vm-prom");
    let mut synth = Synth::new(RunTag::new(&run), "telltale-otlp-live")
        .resource_attribute("deployment.environment", "ci");
    for compression in [Compression::None, Compression::Gzip] {
        let c = client(&vm, compression);
        let mut batch = synth.counter("tt.requests", 3.0);
        batch.resources.extend(synth.sum("tt.queue", -2).resources);
        batch
            .resources
            .extend(synth.gauge("tt.temperature", 21.5).resources);
        batch.resources.extend(
            synth
                .histogram("tt.latency", &[0.1, 1.0], &[0.05, 0.5, 5.0])
                .resources,
        );
        let report = c.export(&batch).await.unwrap();
        assert_eq!((report.items, report.rejected()), (4, 0), "{compression:?}");
    }
    // Dots become underscores in names and labels, counters get `_total`, units a suffix.
    let sel = format!(r#"telltale_run="{run}""#);
    let counters = wait_for(&vm, &format!("tt_requests_total{{{sel}}}"), 2).await;
    let mut seqs: Vec<&str> = counters
        .iter()
        .map(|(labels, value)| {
            assert_eq!(*value, 3.0);
            assert_eq!(labels["service_name"], "telltale-otlp-live");
            assert_eq!(labels["deployment_environment"], "ci");
            labels["telltale_seq"].as_str().unwrap()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, ["0", "4"]);
    let queue = wait_for(&vm, &format!(r#"tt_queue{{{sel},telltale_seq="1"}}"#), 1).await;
    assert_eq!(queue[0].1, -2.0);
    let gauge = wait_for(
        &vm,
        &format!(r#"tt_temperature{{{sel},telltale_seq="6"}}"#),
        1,
    )
    .await;
    assert_eq!(gauge[0].1, 21.5);
    let buckets = wait_for(
        &vm,
        &format!(r#"tt_latency_seconds_bucket{{{sel},telltale_seq="3"}}"#),
        3,
    )
    .await;
    let by_le = |le: &str| {
        buckets
            .iter()
            .find(|(l, _)| l["le"] == le)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert_eq!((by_le("0.1"), by_le("1"), by_le("+Inf")), (1.0, 2.0, 3.0));
    let count = wait_for(&vm, &format!("tt_latency_seconds_count{{{sel}}}"), 2).await;
    assert!(count.iter().all(|(_, v)| *v == 3.0));
    let sum = wait_for(&vm, &format!("tt_latency_seconds_sum{{{sel}}}"), 2).await;
    assert!(sum.iter().all(|(_, v)| (*v - 5.55).abs() < 1e-9), "{sum:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_naming_keeps_dots_and_json_is_refused() {
    let Some(vm) =
        VictoriaMetrics::start("default_naming_keeps_dots_and_json_is_refused", &[]).await
    else {
        return;
    };
    let run = run_id("vm-dots");
    let mut synth = Synth::new(RunTag::new(&run), "telltale-otlp-live");
    let report = client(&vm, Compression::None)
        .export(&synth.counter("tt.requests", 7.0))
        .await
        .unwrap();
    assert_eq!(report.accepted(), 1);
    // Without -opentelemetry.usePrometheusNaming the OTLP names are kept as they are.
    let series = wait_for(&vm, r#"{__name__="tt.requests"}"#, 1).await;
    let labels = &series[0].0;
    assert_eq!(labels["telltale.run"], run.as_str());
    assert_eq!(labels["telltale.seq"], "0");
    assert_eq!(labels["service.name"], "telltale-otlp-live");
    assert_eq!(series[0].1, 7.0);

    // VictoriaMetrics 1.145 takes OTLP metrics as protobuf only; a JSON body is a 400, which
    // is not retried, with the receiver's reason kept.
    let json = Client::builder(&vm.url)
        .path(SignalKind::Metrics, PATH)
        .encoding(Encoding::Json)
        .build()
        .unwrap();
    let err = json
        .export::<Metric>(&synth.gauge("tt.g", 1.0))
        .await
        .unwrap_err();
    let api = err.api().unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        (api.status(), api.kind()),
        (Status::Http(400), ErrorKind::BadData)
    );
    assert!(api.message().contains("json"), "{}", api.message());
}
