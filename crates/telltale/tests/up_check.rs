//! `telltale up --check` against the local stack this machine can run: real Prometheus and
//! node_exporter (Debian's, in CI). The Prometheus scenario passes; every scenario whose part is
//! missing is `unavailable`, never passed, and the run exits 2.

use std::process::Command;

use telltale_testsupport::{find_binary, skip, TempDir};

#[test]
fn up_check_passes_what_runs_and_never_passes_what_is_missing() {
    let Some(prometheus) = find_binary("PROMETHEUS_BIN", Some("prometheus")) else {
        skip("telltale up --check: no Prometheus (set PROMETHEUS_BIN or apt install prometheus)");
        return;
    };
    let Some(node_exporter) = find_binary("NODE_EXPORTER_BIN", Some("prometheus-node-exporter"))
        .or_else(|| find_binary("NODE_EXPORTER_BIN", Some("node_exporter")))
    else {
        skip("telltale up --check: no node_exporter (set NODE_EXPORTER_BIN or apt install prometheus-node-exporter)");
        return;
    };
    let dir = TempDir::new("up-check");
    let junit = dir.0.join("junit.xml");
    // Only what this test provides: the parts it does not give must show up as missing even
    // on a machine that has them on PATH.
    let out = Command::new(env!("CARGO_BIN_EXE_telltale"))
        .args(["up", "--check", "--report", "json", "--dir"])
        .arg(dir.0.join("stack"))
        .arg("--junit")
        .arg(&junit)
        .env("PROMETHEUS_BIN", &prometheus)
        .env("NODE_EXPORTER_BIN", &node_exporter)
        .env("LOKI_BIN", "/nonexistent/loki")
        .env("ALLOY_BIN", "/nonexistent/alloy")
        .env("GRAFANA_BIN", "/nonexistent/grafana")
        .env_remove("GLITCHTIP_URL")
        .env_remove("GLITCHTIP_TOKEN_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}); stderr:\n{stderr}"));
    for part in ["loki", "alloy", "grafana", "glitchtip"] {
        assert!(
            stderr.contains(&format!("missing: {part}:")),
            "{part} not named missing:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("nix shell nixpkgs#grafana-loki"),
        "{stderr}"
    );

    let status = |name: &str| -> String {
        report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} not run: {report:#}"))["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status("scrape-targets-up"), "passed", "{report:#}");
    for name in [
        "journald-to-loki",
        "otlp-logs-to-loki",
        "otlp-metrics-to-prometheus",
        "otlp-traces-accepted",
        "faro-to-loki",
        "sentry-to-glitchtip",
        "retention",
        "grafana",
    ] {
        assert_eq!(status(name), "unavailable", "{name}: {report:#}");
    }
    assert_eq!(report["counts"]["passed"], 1, "{report:#}");
    assert_eq!(report["status"], "unavailable");
    assert_eq!(out.status.code(), Some(2), "unavailable parts exit 2");

    // The retention scenario still checked the part that runs.
    let retention = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "retention")
        .unwrap();
    let prom_check = retention["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "prometheus retention: storage.tsdb.retention.time")
        .expect("the Prometheus retention was checked");
    assert_eq!(prom_check["passed"], true, "{prom_check}");

    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(junit.contains("type=\"unavailable\""), "{junit}");
    assert_eq!(
        junit.matches("<testcase").count(),
        report["scenarios"].as_array().unwrap().len()
    );
}
