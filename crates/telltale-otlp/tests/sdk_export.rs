//! The path applications use: `tracing` → `tracing-opentelemetry` / the OpenTelemetry appender →
//! the OpenTelemetry SDK → `opentelemetry-otlp`'s HTTP exporter, with a proof that the export
//! happened (each test fails if nothing arrives).
//!
//! The configuration that works: `opentelemetry-otlp` with `http-proto` and its default
//! `reqwest-blocking-client`, and the SDK's default batch processors and periodic reader, which
//! run on their own threads. The SDK is set up and driven outside any Tokio runtime (the
//! blocking client must not be created or dropped inside one). The known failure, the async
//! `reqwest-client` used from those threads without a Tokio runtime, drops every batch and
//! logs nothing: always check arrival, as these tests do. Where reqwest is built with
//! `rustls-no-provider` (as in this workspace), install a rustls crypto provider before
//! building an exporter, or the exporter's builder fails.

mod support;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use support::Reply;
use telltale_otlp::{decode_http_body, RunTag, Span};
use tracing_subscriber::layer::SubscriberExt;

fn runtime() -> tokio::runtime::Runtime {
    // This workspace builds reqwest with `rustls-no-provider`; the exporter's reqwest client
    // needs a process-wide rustls provider, or its builder thread panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_owned())
        .build()
}

fn run_id(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), support::free_port())
}

/// Traces: no real trace receiver runs here, so the spans are caught by an in-process receiver
/// and decoded with this crate's decoder, which also checks it reads the Rust SDK's output.
#[test]
fn tracing_spans_are_exported_through_the_sdk() {
    let rt = runtime();
    let rx = rt.block_on(support::Scripted::start(vec![Reply::new(
        200,
        "application/x-protobuf",
        Vec::new(),
    )]));
    let run = run_id("sdk-trace");
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", rx.url))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource("telltale-sdk-test"))
        .with_batch_exporter(exporter)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("telltale-sdk-test")));
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("checkout", telltale.run = run.as_str(), telltale.seq = 0);
        let _enter = outer.enter();
        tracing::info_span!("charge card", telltale.run = run.as_str(), telltale.seq = 1)
            .in_scope(|| tracing::info!("charging"));
    });
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    let tag = RunTag::new(&run);
    let spans: Vec<Span> = rx
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .flat_map(|r| {
            let batch = decode_http_body::<Span>(
                &r.body,
                r.header("content-type").unwrap(),
                r.header("content-encoding"),
            )
            .unwrap();
            batch.items().cloned().collect::<Vec<_>>()
        })
        .filter(|s| tag.seq_of(&s.attributes).is_some())
        .collect();
    assert_eq!(
        spans.len(),
        2,
        "the SDK exported nothing: {:?}",
        rx.requests()
    );
    let outer = spans.iter().find(|s| s.name == "checkout").unwrap();
    let inner = spans.iter().find(|s| s.name == "charge card").unwrap();
    assert_eq!(inner.parent_span_id, Some(outer.span_id));
    assert_eq!(inner.trace_id, outer.trace_id);
    assert_eq!(tag.seq_of(&inner.attributes), Some(1));
    assert_eq!(inner.events[0].name, "charging");
}

/// Metrics through `tracing-opentelemetry`'s `MetricsLayer`, exported by the SDK to a real
/// VictoriaMetrics and found again with PromQL.
#[test]
fn tracing_metrics_reach_victoria_metrics() {
    let rt = runtime();
    let Some(vm) = rt.block_on(support::VictoriaMetrics::start(
        "tracing_metrics_reach_victoria_metrics",
        &["-opentelemetry.usePrometheusNaming"],
    )) else {
        return;
    };
    let run = run_id("sdk-metrics");
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/opentelemetry/v1/metrics", vm.url))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(resource("telltale-sdk-test"))
        .with_periodic_exporter(exporter)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::MetricsLayer::new(provider.clone()));
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..3 {
            tracing::info!(
                monotonic_counter.telltale_sdk_orders = 2_u64,
                telltale.run = run.as_str()
            );
        }
        tracing::info!(
            histogram.telltale_sdk_latency = 0.25_f64,
            telltale.run = run.as_str()
        );
    });
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    let query = format!(r#"telltale_sdk_orders_total{{telltale_run="{run}"}}"#);
    let found = rt.block_on(support::eventually(Duration::from_secs(20), || async {
        let series = vm.query(&query).await;
        (series.len() == 1).then_some(series)
    }));
    let series = found.unwrap_or_else(|| panic!("{query}: nothing arrived\n{}", vm.proc.tail()));
    assert_eq!(series[0].1, 6.0);
    assert_eq!(series[0].0["service_name"], "telltale-sdk-test");
    let count = rt.block_on(vm.query(&format!(
        r#"telltale_sdk_latency_count{{telltale_run="{run}"}}"#
    )));
    assert_eq!(count.len(), 1, "{count:?}");
    assert_eq!(count[0].1, 1.0);
}

/// Logs through the OpenTelemetry `tracing` appender, exported by the SDK to a real Loki
/// (`LOKI_URL`) and read back by their run id.
#[test]
fn tracing_events_reach_loki_as_otlp_logs() {
    let url = match std::env::var("LOKI_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            support::skip("tracing_events_reach_loki_as_otlp_logs: no Loki (set LOKI_URL)");
            return;
        }
    };
    let rt = runtime();
    let run = run_id("sdk-logs");
    let start = telltale_loki::Timestamp::now().minus(Duration::from_secs(5));
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/otlp/v1/logs", url.trim_end_matches('/')))
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource("telltale-sdk-test"))
        .with_batch_exporter(exporter)
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider));
    tracing::subscriber::with_default(subscriber, || {
        for seq in 0..3_i64 {
            tracing::warn!(
                telltale.run = run.as_str(),
                telltale.seq = seq,
                "payment retried"
            );
        }
    });
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    let query = format!(r#"{{service_name="telltale-sdk-test"}} | telltale_run="{run}""#);
    let reader = telltale_loki::Client::new(&url).unwrap();
    let streams = rt.block_on(support::eventually(Duration::from_secs(20), || async {
        let streams = reader
            .read_all(
                &query,
                start,
                telltale_loki::Timestamp::now().plus(Duration::from_secs(5)),
                telltale_loki::Direction::Forward,
                100,
            )
            .await
            .unwrap();
        (streams.iter().map(|s| s.entries.len()).sum::<usize>() == 3).then_some(streams)
    }));
    let streams = streams.unwrap_or_else(|| panic!("{query}: the SDK's logs did not arrive"));
    let mut seqs: Vec<String> = streams
        .iter()
        .flat_map(|s| &s.entries)
        .map(|e| {
            assert_eq!(e.line, "payment retried");
            let meta: Vec<_> = e
                .structured_metadata
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert!(meta.contains(&("severity_text", "WARN")), "{meta:?}");
            meta.iter()
                .find(|(k, _)| *k == "telltale_seq")
                .unwrap()
                .1
                .to_owned()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, ["0", "1", "2"]);
}
