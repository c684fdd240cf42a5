//! `telltale bench` as a user runs it against the real Loki named by `LOKI_URL`: the positive
//! controls (a short fixed-rate `bench logs` whose rate, refusal and loss checks all hold, with a
//! well-formed `telltale-bench-report` v2 and a plot; the `load-burst` scenario through `check`),
//! a latency budget no Loki meets (exit 1 naming `latency p99`), and an absent receiver
//! reported as could-not-run. The rate asked is low enough for any Loki on any machine:
//! figures live in `docs/bench.md`; the faults that need a misconfigured Loki are in
//! `bench_faults_live.rs`.

use std::path::Path;

use serde_json::Value;

fn telltale(args: &[&str]) -> (i32, String, String) {
    telltale_testsupport::run(env!("CARGO_BIN_EXE_telltale"), args)
}

fn write_stack(dir: &Path, body: &str) -> String {
    let path = dir.join("stack.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

fn loki_url() -> Option<String> {
    let url = std::env::var("LOKI_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        telltale_testsupport::skip("telltale bench against a real Loki (set LOKI_URL)");
    }
    url
}

#[test]
fn bench_logs_at_a_fixed_rate_loses_nothing_and_reports_v2_json() {
    let Some(url) = loki_url() else { return };
    let dir = telltale_testsupport::TempDir::new("bench-live");
    let stack = write_stack(&dir.0, &format!("[loki]\nurl = \"{url}\"\n"));
    let plot = dir.0.join("plot.svg");
    let plot_arg = plot.display().to_string();
    let (code, stdout, stderr) = telltale(&[
        "bench",
        "logs",
        "--stack",
        &stack,
        "--rate",
        "400",
        "--duration",
        "3",
        "--line-bytes",
        "120",
        "--streams",
        "3",
        "--max-p99-ms",
        "30000",
        "--report",
        "json",
        "--plot",
        &plot_arg,
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(report["schema"], "telltale-bench-report");
    assert_eq!(report["version"], 2);
    assert_eq!(report["signal"], "logs");
    assert_eq!(report["mode"], "fixed");
    assert_eq!(report["settings"]["line_bytes"], 120);
    assert_eq!(report["settings"]["streams"], 3);
    assert!(report["run_id"].as_str().unwrap().starts_with("tt-"));
    assert_eq!(report["outcome"]["passed"], true);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    let step = &steps[0];
    let d = &step["delivery"];
    assert_eq!(step["sent"], 1200);
    assert_eq!(step["bytes"], 1200 * 120);
    assert_eq!(d["sent"], 1200);
    assert_eq!(d["delivered"], 1200, "{d}");
    for field in ["missing", "duplicated", "out_of_order", "unexpected"] {
        assert_eq!(d[field], 0, "{field}: {d}");
    }
    assert_eq!(step["rejected"], 0);
    assert_eq!(step["clean"], true);
    let checks: Vec<(&str, bool)> = step["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("rate", true),
            ("refused", true),
            ("loss", true),
            ("latency p99", true)
        ],
        "{step:#}"
    );
    assert!(
        step["accepted_items_per_s"].as_f64().unwrap() >= 380.0,
        "{step:#}"
    );
    assert_eq!(step["read_back"]["first"], 1200, "{step:#}");
    assert_eq!(step["read_back"]["settled"], 1200, "{step:#}");
    // Nothing arrived during the settle period: Loki's count said so, and the step was not
    // read a second time.
    assert_eq!(step["read_back"]["settled_by_count"], true, "{step:#}");
    assert_eq!(report["settings"]["min_rate_percent"], 95);
    assert_eq!(report["settings"]["max_p99_ms"], 30000.0);
    for p in ["p50", "p95", "p99", "max"] {
        assert!(d["latency_ms"][p].as_f64().unwrap() >= 0.0, "{p}");
    }
    assert!(step["achieved_items_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["cpu"]["generator_us_per_item"].as_f64().unwrap() > 0.0);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
}

#[test]
fn load_burst_passes_with_zero_loss() {
    let Some(url) = loki_url() else { return };
    let dir = telltale_testsupport::TempDir::new("bench-burst");
    let stack = write_stack(
        &dir.0,
        &format!(
            "[loki]\nurl = \"{url}\"\n\n[load]\nsignal = \"logs\"\nrate = 300\nduration_secs = 2\nline_bytes = 100\nstreams = 2\n"
        ),
    );
    let (code, stdout, stderr) = telltale(&[
        "check",
        "--stack",
        &stack,
        "--scenario",
        "load-burst",
        "--report",
        "json",
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let scenario = &report["scenarios"][0];
    assert_eq!(scenario["name"], "load-burst");
    assert_eq!(scenario["status"], "passed", "{scenario}");
    let d = &scenario["delivery"][0];
    assert_eq!(
        (d["sent"].as_u64(), d["delivered"].as_u64()),
        (Some(600), Some(600))
    );
    assert!(
        scenario["evidence"]["accepted_items_per_s"]
            .as_f64()
            .unwrap()
            >= 285.0,
        "{scenario:#}"
    );
    let checks: Vec<(&str, bool)> = scenario["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["passed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [("rate", true), ("refused", true), ("loss", true)],
        "{scenario:#}"
    );
}

/// A budget of 1 ms p99: every line is seen at the earliest one poll (100 ms) after it was
/// sent, so no Loki meets it. The bench and the burst fail naming `latency p99` alone.
#[test]
fn a_latency_budget_the_stack_cannot_meet_fails_naming_latency() {
    let Some(url) = loki_url() else { return };
    let dir = telltale_testsupport::TempDir::new("bench-budget");
    let stack = write_stack(
        &dir.0,
        &format!(
            "[loki]\nurl = \"{url}\"\n\n[load]\nrate = 200\nduration_secs = 2\nmax_p99_ms = 1\n"
        ),
    );
    // Rate and budget from `[load]`, as a fixed run without flags takes them.
    let (code, stdout, stderr) = telltale(&[
        "bench",
        "logs",
        "--stack",
        &stack,
        "--duration",
        "2",
        "--report",
        "json",
    ]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let step = &report["steps"][0];
    let failed = telltale_testsupport::failed_checks(step);
    assert_eq!(failed, ["latency p99"], "{step:#}");
    assert_eq!(step["delivery"]["delivered"], 400, "{step:#}");
    assert_eq!(report["outcome"]["stopped_by"]["kind"], "latency");

    let (code, stdout, stderr) = telltale(&[
        "check",
        "--stack",
        &stack,
        "--scenario",
        "load-burst",
        "--report",
        "json",
    ]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let scenario = &report["scenarios"][0];
    assert_eq!(scenario["status"], "failed", "{scenario:#}");
    let summary = scenario["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("latency p99: expected <= 1 ms"),
        "{summary}"
    );
}

#[test]
fn a_signal_whose_receiver_is_absent_could_not_run() {
    let dir = telltale_testsupport::TempDir::new("bench-absent");
    let port = telltale_testsupport::free_port();
    let stack = write_stack(&dir.0, &format!("[alloy]\notlp_http_port = {port}\n"));
    let (code, stdout, stderr) = telltale(&["bench", "otlp", "--stack", &stack, "--rate", "10"]);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert!(!stdout.contains("PASSED"), "{stdout}");
}
