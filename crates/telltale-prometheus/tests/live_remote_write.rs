//! Remote-write 1.0 round trips against real receivers the test starts itself: Prometheus 2
//! (`prometheus` on `PATH` or `PROMETHEUS_BIN`, Debian's 2.42) and 3 (`PROMETHEUS3_BIN`) with
//! `--web.enable-remote-write-receiver`, and VictoriaMetrics (`VICTORIA_METRICS_BIN`). Every
//! sample written is read back through the query API with its exact time and value bits; a
//! receiver's refusal is an error, never a write.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{eventually, find_binary, free_port, skip, Proc, TempDir};
use telltale_prometheus::{Client, ReadBack, RetryPolicy, WriteSeries};

struct Receiver {
    _proc: Proc,
    _dir: TempDir,
    client: Client,
    write_path: &'static str,
}

async fn ready(proc: Proc, dir: TempDir, port: u16, write_path: &'static str) -> Receiver {
    let client = Client::builder(format!("http://127.0.0.1:{port}"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    if let Err(e) = client.wait_ready(Duration::from_secs(60)).await {
        panic!("the receiver never became ready: {e}\n{}", proc.tail());
    }
    Receiver {
        _proc: proc,
        _dir: dir,
        client,
        write_path,
    }
}

async fn prometheus(bin: &Path, tag: &str) -> Receiver {
    let dir = TempDir::new(tag);
    std::fs::write(dir.0.join("prometheus.yml"), "global: {}\n").unwrap();
    let port = free_port();
    let args = vec![
        format!("--config.file={}", dir.0.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.0.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".into(),
    ];
    let proc = Proc::spawn(bin, &args, dir.0.join("prometheus.log"));
    ready(proc, dir, port, "/api/v1/write").await
}

async fn victoria_metrics(bin: &Path) -> Receiver {
    let dir = TempDir::new("rw-vm");
    let port = free_port();
    let args = vec![
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!("-storageDataPath={}", dir.0.join("data").display()),
        "-retentionPeriod=90d".into(),
        // Without this, VictoriaMetrics hides the last 30 s of data from queries.
        "-search.latencyOffset=0s".into(),
        "-search.disableCache".into(),
    ];
    let proc = Proc::spawn(bin, &args, dir.0.join("vm.log"));
    ready(proc, dir, port, "/api/v1/write").await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Series with labels that need escaping and values that test the encoding: 0.0 (left out of
/// the protobuf as a default), negatives, fractions, large magnitudes, ±Inf, and 200 samples
/// each. Magnitudes stay within VictoriaMetrics' 12 significant decimal digits per block (see
/// `victoria_metrics_rounds_values_far_below_the_blocks_largest`).
fn workload(run: &str) -> Vec<WriteSeries> {
    let start = now_ms() - 120_000;
    let values = [
        0.0,
        -1.5,
        0.001,
        123456.789,
        0.1,
        f64::INFINITY,
        f64::NEG_INFINITY,
        42.0,
    ];
    let labels = [
        ("plain", "a"),
        ("quoted", "say \"hi\""),
        ("backslash", "C:\\tmp"),
        ("unicode", "labé 中"),
    ];
    labels
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let mut s = WriteSeries::new("telltale_rw_roundtrip", [("run", run), (k, v)]);
            for n in 0..200i64 {
                s = s.sample(
                    start + n * 250 + i as i64,
                    values[(n as usize + i) % values.len()],
                );
            }
            s
        })
        .collect()
}

async fn round_trip(r: &Receiver, what: &str) {
    let run = format!("rw-{}", now_ms());
    let series = workload(&run);
    // In batches, as a real writer sends them: each request holds 50 samples of every series.
    for chunk in 0..4 {
        let batch: Vec<WriteSeries> = series
            .iter()
            .map(|s| WriteSeries {
                labels: s.labels.clone(),
                samples: s.samples[chunk * 50..(chunk + 1) * 50].to_vec(),
            })
            .collect();
        r.client
            .remote_write(r.write_path, &batch)
            .await
            .unwrap_or_else(|e| panic!("{what}: write {chunk}: {e}"));
    }
    let written: usize = series.iter().map(|s| s.samples.len()).sum();
    let rb: ReadBack = eventually(Duration::from_secs(30), || async {
        let rb = r.client.read_back(&series).await.ok()?;
        rb.is_exact().then_some(rb)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "{what}: the round trip is not exact: {:?}",
            last_read_back(&r.client, &series)
        )
    });
    assert_eq!((rb.written, rb.found), (written, written), "{what}");
}

/// The last read-back, for the failure message.
fn last_read_back(client: &Client, series: &[WriteSeries]) -> String {
    let rt = tokio::runtime::Handle::current();
    let client = client.clone();
    let series = series.to_vec();
    std::thread::spawn(move || {
        rt.block_on(async { format!("{:?}", client.read_back(&series).await) })
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_round_trips_through_prometheus_2() {
    let Some(bin) = find_binary("PROMETHEUS_BIN", Some("prometheus")) else {
        skip("remote-write round trip through Prometheus 2 (apt install prometheus, or set PROMETHEUS_BIN)");
        return;
    };
    let r = prometheus(&bin, "rw-prom2").await;
    round_trip(&r, "prometheus 2").await;

    // A refusal is an error: an out-of-order sample answers 400 and is not retried.
    let stale = WriteSeries::new("telltale_rw_roundtrip", [("run", "old")]).sample(now_ms(), 1.0);
    r.client
        .remote_write(r.write_path, std::slice::from_ref(&stale))
        .await
        .unwrap();
    let older = WriteSeries {
        samples: vec![telltale_prometheus::WriteSample {
            timestamp_ms: stale.samples[0].timestamp_ms - 60_000,
            value: 2.0,
        }],
        ..stale
    };
    let err = r
        .client
        .remote_write(r.write_path, &[older])
        .await
        .expect_err("Prometheus 2.42 refuses an out-of-order sample");
    assert_eq!(err.api().map(|a| a.status()), Some(400), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_round_trips_through_prometheus_3() {
    let Some(bin) = find_binary("PROMETHEUS3_BIN", None) else {
        skip("remote-write round trip through Prometheus 3 (set PROMETHEUS3_BIN; .ci/unstable-tools.sh fetches it)");
        return;
    };
    let r = prometheus(&bin, "rw-prom3").await;
    round_trip(&r, "prometheus 3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_round_trips_through_victoria_metrics() {
    let Some(bin) = find_binary("VICTORIA_METRICS_BIN", Some("victoria-metrics")) else {
        skip("remote-write round trip through VictoriaMetrics (set VICTORIA_METRICS_BIN; .ci/unstable-tools.sh fetches it)");
        return;
    };
    let r = victoria_metrics(&bin).await;
    round_trip(&r, "victoria-metrics").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_sample_is_missing_and_a_foreign_one_is_unexpected() {
    let Some(bin) = find_binary("PROMETHEUS_BIN", Some("prometheus")) else {
        skip("remote-write accounting against Prometheus 2 (apt install prometheus, or set PROMETHEUS_BIN)");
        return;
    };
    let r = prometheus(&bin, "rw-acct").await;
    let t = now_ms() - 10_000;
    let sent = WriteSeries::new("telltale_rw_acct", [("run", "x")])
        .sample(t, 1.0)
        .sample(t + 500, 2.0)
        .sample(t + 1000, 3.0);
    r.client.remote_write(r.write_path, &[sent]).await.unwrap();
    // What the reader expects: one sample exactly, one with another value, one never sent; the
    // sample at t + 500 was sent but not expected.
    let expected = WriteSeries::new("telltale_rw_acct", [("run", "x")])
        .sample(t, 1.5)
        .sample(t + 250, 9.0)
        .sample(t + 1000, 3.0);
    let rb = eventually(Duration::from_secs(20), || async {
        let rb = r
            .client
            .read_back(std::slice::from_ref(&expected))
            .await
            .ok()?;
        (rb.found == 1).then_some(rb)
    })
    .await
    .expect("the written samples became queryable");
    assert!(!rb.is_exact());
    assert_eq!(rb.written, 3, "{rb:?}");
    assert_eq!(rb.wrong_value.len(), 1, "{rb:?}");
    assert_eq!(
        rb.missing,
        vec![(
            telltale_prometheus::remote_write::selector(&expected),
            t + 250
        )],
        "{rb:?}"
    );
    assert_eq!(rb.unexpected.len(), 1, "{rb:?}");
}

/// Not a fault of ours, but a limit of the store: VictoriaMetrics keeps about 12 significant
/// decimal digits per block, so 1e-9 written beside 1e15 in one series reads back as 0, where
/// Prometheus keeps every bit. The read-back reports it as a wrong value, never as found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_rounds_values_far_below_the_blocks_largest() {
    let Some(bin) = find_binary("VICTORIA_METRICS_BIN", Some("victoria-metrics")) else {
        skip("VictoriaMetrics precision (set VICTORIA_METRICS_BIN; .ci/unstable-tools.sh fetches it)");
        return;
    };
    let r = victoria_metrics(&bin).await;
    let t = now_ms() - 10_000;
    let series = WriteSeries::new("telltale_rw_precision", [("run", "p")])
        .sample(t, 1e15)
        .sample(t + 1000, 1e-9);
    r.client
        .remote_write(r.write_path, std::slice::from_ref(&series))
        .await
        .unwrap();
    let rb = eventually(Duration::from_secs(20), || async {
        let rb = r
            .client
            .read_back(std::slice::from_ref(&series))
            .await
            .ok()?;
        (rb.found + rb.wrong_value.len() == 2).then_some(rb)
    })
    .await
    .expect("the written samples became queryable");
    assert_eq!(rb.found, 1, "{rb:?}");
    assert_eq!(
        rb.wrong_value,
        vec![(
            telltale_prometheus::remote_write::selector(&series),
            t + 1000,
            1e-9,
            0.0
        )]
    );
}
