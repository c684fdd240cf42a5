//! Ingest throughput of this crate's remote-write client against VictoriaMetrics' own import
//! APIs, side by side in one criterion group, into one VictoriaMetrics single-node
//! (`VICTORIA_METRICS_BIN`) the bench starts: the same 10,000 samples (100 series × 100) per
//! request as a remote-write `WriteRequest` (protobuf + snappy), as `/api/v1/import` JSON lines
//! and as `/api/v1/import/prometheus` text with timestamps. Every timing includes encoding the
//! body, as a writer pays for it, and waits for the server's answer. Criterion reports
//! samples/s; the anchor is the ratio to VictoriaMetrics' native import.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telltale_http::{Body, HttpConfig, Method};
use telltale_prometheus::{Client, RetryPolicy, WriteSeries};
use telltale_testsupport::{find_binary, free_port, skip, Proc, TempDir};

const SERIES: usize = 100;
const PER_SERIES: usize = 100;

fn workload() -> Vec<WriteSeries> {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 600_000;
    (0..SERIES)
        .map(|i| {
            let instance = format!("host-{i:03}");
            let mut s = WriteSeries::new(
                "telltale_bench_requests_total",
                [("job", "bench"), ("instance", instance.as_str())],
            );
            for n in 0..PER_SERIES {
                s = s.sample(start + n as i64 * 1000, (i * 1000 + n) as f64 * 0.5);
            }
            s
        })
        .collect()
}

fn json_lines(series: &[WriteSeries]) -> String {
    let mut out = String::new();
    for s in series {
        let metric: serde_json::Map<String, serde_json::Value> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let values: Vec<f64> = s.samples.iter().map(|x| x.value).collect();
        let times: Vec<i64> = s.samples.iter().map(|x| x.timestamp_ms).collect();
        out.push_str(
            &serde_json::json!({ "metric": metric, "values": values, "timestamps": times })
                .to_string(),
        );
        out.push('\n');
    }
    out
}

fn text_with_timestamps(series: &[WriteSeries]) -> String {
    let mut out = String::new();
    for s in series {
        let name = &s.labels[0].1;
        let labels: Vec<String> = s.labels[1..]
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        for x in &s.samples {
            let _ = writeln!(
                out,
                "{name}{{{}}} {} {}",
                labels.join(","),
                x.value,
                x.timestamp_ms
            );
        }
    }
    out
}

fn ingest(c: &mut Criterion) {
    let Some(bin) = find_binary("VICTORIA_METRICS_BIN", Some("victoria-metrics")) else {
        skip("remote-write ingest bench (set VICTORIA_METRICS_BIN; .ci/unstable-tools.sh fetches it)");
        return;
    };
    let dir = TempDir::new("bench-vm");
    let port = free_port();
    let args = vec![
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!("-storageDataPath={}", dir.0.join("data").display()),
        "-retentionPeriod=1d".into(),
    ];
    let _vm = Proc::spawn(&bin, &args, dir.0.join("vm.log"));
    let url = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::builder(&url)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    rt.block_on(client.wait_ready(Duration::from_secs(60)))
        .expect("VictoriaMetrics became ready");
    let http = HttpConfig::new(&url, "telltale-bench").build().unwrap();
    let series = workload();

    let mut group = c.benchmark_group("ingest-10k-samples");
    group.throughput(Throughput::Elements((SERIES * PER_SERIES) as u64));
    group.sample_size(30);
    group.bench_function("telltale remote-write (protobuf+snappy)", |b| {
        b.iter(|| {
            rt.block_on(client.remote_write("/api/v1/write", &series))
                .unwrap()
        })
    });
    group.bench_function("victoria-metrics /api/v1/import (JSON lines)", |b| {
        b.iter(|| {
            let body = json_lines(&series);
            let answer = rt
                .block_on(http.exchange(
                    Method::Post,
                    "/api/v1/import",
                    &[],
                    Some(Body {
                        bytes: body.as_bytes(),
                        content_type: "application/json",
                        content_encoding: None,
                    }),
                    &[],
                ))
                .unwrap();
            assert!(answer.is_success(), "{}", answer.status);
        })
    });
    group.bench_function("victoria-metrics /api/v1/import/prometheus (text)", |b| {
        b.iter(|| {
            let body = text_with_timestamps(&series);
            let answer = rt
                .block_on(http.exchange(
                    Method::Post,
                    "/api/v1/import/prometheus",
                    &[],
                    Some(Body {
                        bytes: body.as_bytes(),
                        content_type: "text/plain",
                        content_encoding: None,
                    }),
                    &[],
                ))
                .unwrap();
            assert!(answer.is_success(), "{}", answer.status);
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
