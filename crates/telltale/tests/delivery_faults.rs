//! The delivery scenarios' fault matrix, run as a user runs `telltale check`: what must never
//! pass (nothing listening where the stack promises a receiver), what must fail naming the check
//! (a port where something other than an OTLP receiver answers), and, where the real collector
//! runs (`TELLTALE_AGENT_OTLP_HTTP` and friends, see `collector_stack`), what the collector
//! really does.
//!
//! The Loki-side faults (misrouted, missing, duplicated, late copies, clock skew) are proven
//! against a real Loki in the scenarios' own tests (`scenario::{journald,otlp,faro}::tests`,
//! `LOKI_URL`), and the wide search against Loki's recorded answers in CI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use telltale_testsupport::{find_binary, free_port, skip, Proc, TempDir};

/// Runs one scenario with `--report json`; returns the exit code and that scenario's report.
fn check(stack: &Path, scenario: &str, items: &str, deadline: &str) -> (i32, Value) {
    let (code, out, err) = telltale_testsupport::run(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--stack",
            stack.to_str().unwrap(),
            "--scenario",
            scenario,
            "--items",
            items,
            "--deadline",
            deadline,
            "--report",
            "json",
        ],
    );
    let report: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {out}\nstderr: {err}"));
    (code, report["scenarios"][0].clone())
}

fn write_stack(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("stack.toml");
    std::fs::write(&path, format!("host = \"127.0.0.1\"\n{body}")).unwrap();
    path
}

fn failed_checks(scenario: &Value) -> Vec<String> {
    scenario["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Ports nothing listens on: the receivers and Loki the stack promises are absent.
fn nothing_listening(dir: &Path) -> PathBuf {
    let (http, grpc, faro, loki) = (free_port(), free_port(), free_port(), free_port());
    write_stack(
        dir,
        &format!(
            "[loki]\nurl = \"http://127.0.0.1:{loki}\"\n[prometheus]\nurl = \"http://127.0.0.1:{loki}\"\n\
             [alloy]\notlp_http_port = {http}\notlp_grpc_port = {grpc}\nfaro_port = {faro}\n"
        ),
    )
}

#[test]
fn delivery_scenarios_with_no_receiver_listening_are_unavailable_never_passed() {
    let dir = TempDir::new("delivery-nothing");
    let stack = nothing_listening(&dir.0);
    for scenario in [
        "otlp-logs-to-loki",
        "otlp-metrics-to-prometheus",
        "otlp-traces-accepted",
        "faro-to-loki",
    ] {
        let (code, r) = check(&stack, scenario, "3", "2");
        assert_eq!(r["status"], "unavailable", "{scenario}: {r:#}");
        assert_eq!(code, 2, "{scenario}");
        assert!(
            r["problem"]["endpoint"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{scenario} names where it looked: {r:#}"
        );
    }
}

/// A Prometheus (Debian's, in CI) answering on the port the stack promises for OTLP: an HTTP
/// server, but no OTLP receiver.
struct Prometheus {
    port: u16,
    _proc: Proc,
    _dir: TempDir,
}

async fn prometheus(test: &str) -> Option<Prometheus> {
    let Some(bin) = find_binary("PROMETHEUS_BIN", Some("prometheus")) else {
        skip(&format!(
            "{test}: no Prometheus (set PROMETHEUS_BIN or apt install prometheus)"
        ));
        return None;
    };
    let dir = TempDir::new("delivery-prom");
    let port = free_port();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let proc = Proc::spawn(
        &bin,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.0.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        dir.0.join("prometheus.log"),
    );
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let up = telltale_testsupport::eventually(Duration::from_secs(30), || async {
        let client = telltale_prometheus::Client::builder(format!("http://127.0.0.1:{port}"))
            .build()
            .ok()?;
        client.ready().await.ok().filter(|r| *r)
    })
    .await;
    assert!(up.is_some(), "Prometheus at {ready} did not start:\n{}", proc.tail());
    Some(Prometheus {
        port,
        _proc: proc,
        _dir: dir,
    })
}

#[tokio::test]
async fn traces_sent_where_prometheus_answers_fail_accepted_by_the_receiver() {
    let Some(prom) = prometheus("otlp-traces-accepted at a non-OTLP server").await else {
        return;
    };
    let dir = TempDir::new("delivery-traces-prom");
    let stack = write_stack(
        &dir.0,
        &format!(
            "[alloy]\notlp_http_port = {}\notlp_grpc_port = {}\n",
            prom.port, prom.port
        ),
    );
    let (code, r) = tokio::task::spawn_blocking(move || check(&stack, "otlp-traces-accepted", "3", "5"))
        .await
        .unwrap();
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(code, 1);
    assert!(
        failed_checks(&r).contains(&"traces over OTLP/HTTP: accepted by the receiver".to_owned()),
        "{r:#}"
    );
    assert!(
        !r["summary"].as_str().unwrap().contains("delivered"),
        "traces are never said to be delivered: {r:#}"
    );
}
