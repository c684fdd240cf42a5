//! `telltale bench` as a user runs it: a short fixed-rate `bench logs` against the real Loki
//! named by `LOKI_URL` (zero loss, a well-formed `telltale-bench-report` v1, a plot), the
//! `load-burst` scenario through `check`, and an absent receiver reported as could-not-run.
//! No assertion here is about speed: figures live in `docs/bench.md`.

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
fn bench_logs_at_a_fixed_rate_loses_nothing_and_reports_v1_json() {
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
        "--report",
        "json",
        "--plot",
        &plot_arg,
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(report["schema"], "telltale-bench-report");
    assert_eq!(report["version"], 1);
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
        scenario["evidence"]["achieved_items_per_s"]
            .as_f64()
            .unwrap()
            > 0.0
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
