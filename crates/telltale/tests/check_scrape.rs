//! `telltale check --scenario scrape-targets-up` against real Prometheus 2 (`prometheus` on
//! `PATH` or `PROMETHEUS_BIN`) and 3 (`PROMETHEUS3_BIN`), scraping a real node_exporter
//! (`prometheus-node-exporter`, or `NODE_EXPORTER_BIN`): every declared job up passes; a target
//! on a closed port, or a declared job Prometheus does not scrape, fails naming the job; an
//! unreachable Prometheus, or a description that declares no job, is never a pass.

mod servers;

use std::path::PathBuf;

use serde_json::Value;
use servers::{http_status, prometheus_with_jobs, victoria_metrics, Server};
use telltale_testsupport::{check_json, failed_checks, find_binary, free_port, skip, TempDir};

fn prometheus_binaries() -> Vec<(&'static str, PathBuf)> {
    let mut found = Vec::new();
    match find_binary("PROMETHEUS_BIN", Some("prometheus")) {
        Some(bin) => found.push(("prometheus 2", bin)),
        None => skip("scrape-targets-up against Prometheus 2 (apt install prometheus, or set PROMETHEUS_BIN)"),
    }
    match find_binary("PROMETHEUS3_BIN", None) {
        Some(bin) => found.push(("prometheus 3", bin)),
        None => skip("scrape-targets-up against Prometheus 3 (set PROMETHEUS3_BIN; .ci/unstable-tools.sh fetches it)"),
    }
    found
}

/// A real node_exporter with a few collectors, on a free port.
struct NodeExporter {
    child: std::process::Child,
    port: u16,
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node_exporter() -> Option<NodeExporter> {
    let Some(bin) = find_binary("NODE_EXPORTER_BIN", Some("prometheus-node-exporter")) else {
        skip("scrape-targets-up with a node_exporter target (apt install prometheus-node-exporter, or set NODE_EXPORTER_BIN)");
        return None;
    };
    let port = free_port();
    let child = std::process::Command::new(bin)
        .args([
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults".into(),
            "--collector.loadavg".into(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let node = NodeExporter { child, port };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while http_status(port, "/metrics") != Some(200) {
        assert!(
            std::time::Instant::now() < deadline,
            "node_exporter never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Some(node)
}

fn check(dir: &TempDir, url: &str, jobs: &[&str]) -> (i32, Value) {
    let path = dir.0.join("stack.toml");
    std::fs::write(
        &path,
        format!("[prometheus]\nurl = {url:?}\n[scrape]\njobs = {jobs:?}\nmax_age_secs = 15\n"),
    )
    .unwrap();
    check_json(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--scenario",
            "scrape-targets-up",
            "--report",
            "json",
            "--stack",
            path.to_str().unwrap(),
        ],
    )
}

fn start(bin: &std::path::Path, dir: &TempDir, jobs: &[(&str, Vec<String>)]) -> Server {
    prometheus_with_jobs(bin, dir, "15d", jobs)
}

#[test]
fn every_declared_job_up_passes() {
    let Some(node) = node_exporter() else { return };
    for (which, bin) in prometheus_binaries() {
        let dir = TempDir::new("scrape-ok");
        let prom = start(
            &bin,
            &dir,
            &[("node", vec![format!("127.0.0.1:{}", node.port)])],
        );
        let (code, s) = check(&dir, &prom.url, &["prometheus", "node"]);
        assert_eq!(
            (code, s["status"].as_str()),
            (0, Some("passed")),
            "{which}: {s:#}"
        );
        let names = telltale_testsupport::check_names(&s);
        for job in ["prometheus", "node"] {
            for what in ["has targets", "is up", "scraped recently", "is 1"] {
                assert!(
                    names
                        .iter()
                        .any(|n| n.starts_with(&format!("job {job}: ")) && n.ends_with(what)),
                    "{which}: no `{what}` check for {job}: {names:?}"
                );
            }
        }
    }
}

#[test]
fn a_target_on_a_closed_port_fails_its_job() {
    for (which, bin) in prometheus_binaries() {
        let dir = TempDir::new("scrape-down");
        let closed = free_port();
        let prom = start(&bin, &dir, &[("app", vec![format!("127.0.0.1:{closed}")])]);
        let (code, s) = check(&dir, &prom.url, &["prometheus", "app"]);
        assert_eq!(
            (code, s["status"].as_str()),
            (1, Some("failed")),
            "{which}: {s:#}"
        );
        let failed = failed_checks(&s);
        let target = format!("job app: target http://127.0.0.1:{closed}/metrics is up");
        assert!(failed.contains(&target), "{which}: {failed:?}");
        assert!(
            failed.contains(&"job app: up{job=\"app\"} is 1".to_owned()),
            "{which}: {failed:?}"
        );
        assert!(
            !failed.iter().any(|f| f.starts_with("job prometheus:")),
            "{which}: the healthy job is not blamed: {failed:?}"
        );
    }
}

#[test]
fn a_declared_job_prometheus_does_not_scrape_fails() {
    for (which, bin) in prometheus_binaries() {
        let dir = TempDir::new("scrape-absent");
        let prom = start(&bin, &dir, &[]);
        let (code, s) = check(&dir, &prom.url, &["prometheus", "alloy"]);
        assert_eq!(
            (code, s["status"].as_str()),
            (1, Some("failed")),
            "{which}: {s:#}"
        );
        assert_eq!(
            failed_checks(&s),
            vec!["job alloy: has targets"],
            "{which}: {s:#}"
        );
    }
}

#[test]
fn an_unreachable_prometheus_is_unavailable() {
    let dir = TempDir::new("scrape-unreachable");
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, s) = check(&dir, &url, &["prometheus"]);
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    assert!(s["checks"].as_array().unwrap().is_empty(), "{s:#}");
}

#[test]
fn a_description_without_jobs_is_never_a_pass() {
    let Some((_, bin)) = prometheus_binaries().into_iter().next() else {
        return;
    };
    let dir = TempDir::new("scrape-nojobs");
    let prom = start(&bin, &dir, &[]);
    let (code, s) = check(&dir, &prom.url, &[]);
    assert_eq!((code, s["status"].as_str()), (2, Some("error")), "{s:#}");
    assert_eq!(s["problem"]["message"], "the scenario made no assertion");
}

/// VictoriaMetrics single-node (`VICTORIA_METRICS_BIN`) scraping the node_exporter and a closed
/// port as jobs `node` and `app`, with `-search.latencyOffset=0s` so fresh `up` samples are
/// visible: the same checks pass for the healthy job and fail naming the down one.
#[test]
fn victoria_metrics_answers_the_same_checks() {
    let Some(node) = node_exporter() else { return };
    let dir = TempDir::new("scrape-vm");
    let closed = free_port();
    let scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{closed}']\n",
        node.port
    );
    std::fs::write(dir.0.join("scrape.yml"), scrape).unwrap();
    let Some(vm) = victoria_metrics(
        "scrape-targets-up",
        &dir,
        &[format!(
            "-promscrape.config={}",
            dir.0.join("scrape.yml").display()
        )],
    ) else {
        return;
    };
    let port = vm.port;
    let url = format!("http://127.0.0.1:{port}");
    // VictoriaMetrics scrapes a second or two after start; the scenario waits one scrape age.
    let (code, s) = check(&dir, &url, &["node"]);
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let (code, s) = check(&dir, &url, &["node", "app"]);
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let failed = failed_checks(&s);
    assert!(
        failed.contains(&format!(
            "job app: target http://127.0.0.1:{closed}/metrics is up"
        )),
        "{failed:?}"
    );
    assert!(
        !failed.iter().any(|f| f.starts_with("job node:")),
        "{failed:?}"
    );
}
