//! The delivery scenarios' fault matrix, run as a user runs `telltale check`: what must never
//! pass (nothing listening where the stack promises a receiver), what must fail naming the check
//! (a port where something other than an OTLP receiver answers), and, where the real collector
//! runs (`TELLTALE_AGENT_OTLP_HTTP` and friends, see `collector_stack`), what the collector
//! really does.
//!
//! The Loki-side faults (misrouted, missing, duplicated, late copies, clock skew) are proven
//! against a real Loki in the scenarios' own tests (`scenario::{journald,otlp,faro}::tests`,
//! `LOKI_URL`), and the wide search against Loki's recorded answers in CI.

mod servers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use servers::victoria_metrics;
use telltale_testsupport::{
    check_json, failed_checks, find_binary, free_port, skip, Proc, TempDir,
};

/// Runs one scenario with `--report json`; returns the exit code and that scenario's report.
fn check(stack: &Path, scenario: &str, items: &str, deadline: &str) -> (i32, Value) {
    check_json(
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
    )
}

fn write_stack(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("stack.toml");
    std::fs::write(&path, format!("host = \"127.0.0.1\"\n{body}")).unwrap();
    path
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
    assert!(
        up.is_some(),
        "Prometheus at {ready} did not start:\n{}",
        proc.tail()
    );
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
    let (code, r) =
        tokio::task::spawn_blocking(move || check(&stack, "otlp-traces-accepted", "3", "5"))
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

/// A Grafana Agent in flow mode (Alloy's predecessor, same configuration grammar and OTLP
/// components; `GRAFANA_AGENT_BIN` or `grafana-agent-flow` on `PATH`) started by the test with
/// its own pipeline, writing to the Loki at `LOKI_URL` (and `PROMETHEUS_URL`, whose
/// remote-write receiver must be on, for metrics).
struct Agent {
    otlp_http: u16,
    otlp_grpc: u16,
    loki_url: String,
    /// Where its metrics go (remote-write) and the scenario reads them back.
    prom: String,
    proc: Proc,
    _dir: TempDir,
}

/// The agent's pipeline: `@HTTP@`, `@GRPC@`, `@LOKI@` and `@PROM@` are filled in.
const RECEIVER: &str = r#"
otelcol.receiver.otlp "default" {
  http { endpoint = "127.0.0.1:@HTTP@" }
  grpc { endpoint = "127.0.0.1:@GRPC@" }
  output {
    logs    = [@LOGS@]
    metrics = [otelcol.exporter.prometheus.default.input]
    traces  = [otelcol.processor.batch.drop_traces.input]
  }
}
otelcol.processor.batch "drop_traces" {
  output {}
}
otelcol.exporter.prometheus "default" {
  forward_to = [prometheus.remote_write.local.receiver]
}
prometheus.remote_write "local" {
  endpoint { url = "@PROM@/api/v1/write" }
}
loki.write "local" {
  endpoint { url = "@LOKI@/loki/api/v1/push" }
}
otelcol.exporter.loki "default" {
  forward_to = [@LOKI_TARGET@]
}
"#;

/// The fix for an `otelcol.exporter.loki` that sets no `job` label (so Loki files lines under
/// `service_name="unknown_service"`): take `service_name` from the resource.
const SERVICE_NAME_FROM_RESOURCE: &str = r#"
loki.process "service_name" {
  stage.json {
    expressions = { service_name = "resources.\"service.name\"" }
  }
  stage.labels {
    values = { service_name = "" }
  }
  forward_to = [loki.write.local.receiver]
}
"#;

impl Agent {
    /// Starts an agent whose logs go to `logs` (a component input, or nothing) and whose
    /// Loki exporter forwards to `loki_target`, with `extra` components.
    async fn start(test: &str, logs: &str, loki_target: &str, extra: &str) -> Option<Agent> {
        let prom = std::env::var("PROMETHEUS_URL").unwrap_or_else(|_| "http://127.0.0.1:9".into());
        Agent::start_to(test, logs, loki_target, extra, &prom).await
    }

    /// [`Agent::start`] with its metrics remote-written to the Prometheus-compatible store `prom`.
    async fn start_to(
        test: &str,
        logs: &str,
        loki_target: &str,
        extra: &str,
        prom: &str,
    ) -> Option<Agent> {
        let (Some(bin), Ok(loki_url)) = (
            find_binary("GRAFANA_AGENT_BIN", Some("grafana-agent-flow")),
            std::env::var("LOKI_URL"),
        ) else {
            skip(&format!(
                "{test} through a real Grafana Agent (set GRAFANA_AGENT_BIN and LOKI_URL)"
            ));
            return None;
        };
        let dir = TempDir::new("delivery-agent");
        let (otlp_http, otlp_grpc, admin) = (free_port(), free_port(), free_port());
        let config = RECEIVER
            .replace("@HTTP@", &otlp_http.to_string())
            .replace("@GRPC@", &otlp_grpc.to_string())
            .replace("@LOGS@", logs)
            .replace("@LOKI_TARGET@", loki_target)
            .replace("@LOKI@", loki_url.trim_end_matches('/'))
            .replace("@PROM@", prom.trim_end_matches('/'))
            + extra;
        let path = dir.0.join("config.river");
        std::fs::write(&path, config).unwrap();
        let proc = Proc::spawn(
            &bin,
            &[
                "run".into(),
                "--disable-reporting".into(),
                format!("--server.http.listen-addr=127.0.0.1:{admin}"),
                format!("--storage.path={}", dir.0.join("data").display()),
                path.display().to_string(),
            ],
            dir.0.join("agent.log"),
        );
        // Ready once both receivers listen.
        let up = telltale_testsupport::eventually(Duration::from_secs(30), || async {
            let open = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            (open(otlp_http) && open(otlp_grpc)).then_some(())
        })
        .await;
        assert!(up.is_some(), "the agent did not start:\n{}", proc.tail());
        Some(Agent {
            otlp_http,
            otlp_grpc,
            loki_url,
            prom: prom.to_owned(),
            proc,
            _dir: dir,
        })
    }

    fn stack(&self, dir: &Path) -> PathBuf {
        let prom = &self.prom;
        write_stack(
            dir,
            &format!(
                "[loki]\nurl = {:?}\n[prometheus]\nurl = {prom:?}\n[alloy]\notlp_http_port = {}\notlp_grpc_port = {}\n",
                self.loki_url, self.otlp_http, self.otlp_grpc
            ),
        )
    }

    /// Runs `scenario` against this agent (off the async runtime: the CLI blocks).
    async fn check(&self, scenario: &'static str, deadline: &'static str) -> (i32, Value) {
        let dir = TempDir::new("delivery-agent-stack");
        let stack = self.stack(&dir.0);
        tokio::task::spawn_blocking(move || {
            let _dir = dir;
            check(&stack, scenario, "10", deadline)
        })
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn otlp_logs_through_an_agent_that_labels_service_name_are_delivered() {
    let Some(agent) = Agent::start(
        "otlp-logs-to-loki positive control",
        "otelcol.exporter.loki.default.input",
        "loki.process.service_name.receiver",
        SERVICE_NAME_FROM_RESOURCE,
    )
    .await
    else {
        return;
    };
    let (code, r) = agent.check("otlp-logs-to-loki", "30").await;
    assert_eq!(r["status"], "passed", "{r:#}\n{}", agent.proc.tail());
    assert_eq!(code, 0);
    assert_eq!(r["delivery"][0]["delivered"], 10, "{r:#}");
}

/// What Grafana Agent v0.33's `otelcol.exporter.loki` really does (it predates the `job` and
/// `instance` labels Alloy 1.x adds): Loki files the lines under
/// `{exporter="OTLP", level="INFO", service_name="unknown_service"}`. That is the version drift
/// the scenario must name, not call lost.
#[tokio::test]
async fn otlp_logs_through_agent_0_33_without_a_job_label_are_misrouted_naming_the_labels() {
    let Some(agent) = Agent::start(
        "otlp-logs-to-loki version drift",
        "otelcol.exporter.loki.default.input",
        "loki.write.local.receiver",
        "",
    )
    .await
    else {
        return;
    };
    let (code, r) = agent.check("otlp-logs-to-loki", "60").await;
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(code, 1);
    let d = &r["delivery"][0];
    assert_eq!(
        (d["misrouted"].as_u64(), d["missing"].as_u64()),
        (Some(10), Some(0)),
        "{r:#}"
    );
    assert_eq!(
        d["misrouted_to"][0]["found"],
        r#"service_name="unknown_service" instead of "telltale"; extra exporter="OTLP", level="INFO""#,
        "{r:#}"
    );
}

#[tokio::test]
async fn otlp_logs_an_agent_accepts_and_sends_nowhere_are_missing_not_misrouted() {
    // The receiver's logs output is connected to nothing: it answers 2xx and drops them.
    let Some(agent) = Agent::start(
        "otlp-logs-to-loki dropped by the collector",
        "",
        "loki.write.local.receiver",
        "",
    )
    .await
    else {
        return;
    };
    let (code, r) = agent.check("otlp-logs-to-loki", "3").await;
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(code, 1);
    let d = &r["delivery"][0];
    assert_eq!(
        (d["missing"].as_u64(), d["misrouted"].as_u64()),
        (Some(10), Some(0)),
        "{r:#}"
    );
}

#[tokio::test]
async fn otlp_traces_an_agent_accepts_are_accepted_never_delivered() {
    let Some(agent) = Agent::start(
        "otlp-traces-accepted positive control",
        "",
        "loki.write.local.receiver",
        "",
    )
    .await
    else {
        return;
    };
    let (code, r) = agent.check("otlp-traces-accepted", "5").await;
    assert_eq!(r["status"], "passed", "{r:#}");
    assert_eq!(code, 0);
    let names = telltale_testsupport::check_names(&r);
    assert_eq!(
        names,
        [
            "traces over OTLP/HTTP: accepted by the receiver",
            "traces over OTLP/gRPC: accepted by the receiver"
        ]
    );
    assert!(!r["summary"].as_str().unwrap().contains("deliver"), "{r:#}");
}

/// Agent v0.33's `otelcol.exporter.prometheus` predates `add_metric_suffixes`: a monotonic sum
/// reaches Prometheus without `_total`. The name check catches it; the samples are visible.
#[tokio::test]
async fn otlp_metrics_through_agent_0_33_fail_the_counter_suffix_check() {
    if std::env::var("PROMETHEUS_URL").is_err() {
        skip("otlp-metrics-to-prometheus through a real Grafana Agent (set PROMETHEUS_URL)");
        return;
    }
    let Some(agent) = Agent::start(
        "otlp-metrics-to-prometheus version drift",
        "",
        "loki.write.local.receiver",
        "",
    )
    .await
    else {
        return;
    };
    let (code, r) = agent.check("otlp-metrics-to-prometheus", "60").await;
    assert_eq!(r["status"], "failed", "{r:#}");
    assert_eq!(code, 1);
    assert_eq!(
        failed_checks(&r),
        ["metric names (OTLP → Prometheus translation) and values"],
        "{r:#}"
    );
    let d = &r["delivery"][0];
    assert_eq!(d["duplicates_observable"], false);
    assert_eq!(d["delivered"], 11, "{r:#}");
    assert!(!r["summary"].as_str().unwrap().contains("exactly once"));
}

/// The same agent writing its metrics into VictoriaMetrics instead of Prometheus: the scenario
/// reads them back through VictoriaMetrics' Prometheus API and reaches the same verdict as
/// against Prometheus (every sample visible, the `_total` drift named).
#[tokio::test]
async fn otlp_metrics_into_victoria_metrics_reach_the_same_verdict_as_prometheus() {
    let dir = TempDir::new("delivery-vm");
    let Some(vm) = victoria_metrics("otlp-metrics-to-prometheus", &dir, &[]) else {
        return;
    };
    let Some(agent) = Agent::start_to(
        "otlp-metrics-to-prometheus into VictoriaMetrics",
        "",
        "loki.write.local.receiver",
        "",
        &vm.url,
    )
    .await
    else {
        return;
    };
    let (code, r) = agent.check("otlp-metrics-to-prometheus", "60").await;
    assert_eq!(
        (code, r["status"].as_str()),
        (1, Some("failed")),
        "{r:#}\n{}",
        agent.proc.tail()
    );
    assert_eq!(
        failed_checks(&r),
        ["metric names (OTLP → Prometheus translation) and values"],
        "{r:#}"
    );
    assert_eq!(r["delivery"][0]["delivered"], 11, "{r:#}");
}

/// Negative control: the agent remote-writes to a VictoriaMetrics path that is not a write
/// endpoint, so nothing is stored; every sample is missing, never visible.
#[tokio::test]
async fn otlp_metrics_written_nowhere_in_victoria_metrics_are_missing() {
    let dir = TempDir::new("delivery-vm-nowhere");
    let Some(vm) = victoria_metrics("otlp-metrics-to-prometheus (nothing stored)", &dir, &[])
    else {
        return;
    };
    let Some(agent) = Agent::start_to(
        "otlp-metrics-to-prometheus into VictoriaMetrics (nothing stored)",
        "",
        "loki.write.local.receiver",
        "",
        &format!("{}/nowhere", vm.url),
    )
    .await
    else {
        return;
    };
    // The stack reads back from the real VictoriaMetrics, where nothing arrived.
    let agent = Agent {
        prom: vm.url.clone(),
        ..agent
    };
    let (code, r) = agent.check("otlp-metrics-to-prometheus", "20").await;
    assert_eq!(
        (code, r["status"].as_str()),
        (1, Some("failed")),
        "{r:#}\n{}",
        agent.proc.tail()
    );
    let d = &r["delivery"][0];
    assert_eq!(
        (d["delivered"].as_u64(), d["missing"].as_u64()),
        (Some(0), Some(11)),
        "{r:#}"
    );
}
