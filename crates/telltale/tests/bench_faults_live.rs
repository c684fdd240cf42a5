//! The faults the fixed-rate bench and `load-burst` exist to catch, on real Lokis misconfigured
//! on purpose: each test starts its own Loki from `LOKI_BIN` (on free loopback ports, in a
//! temporary directory, stopped when the test ends) with a limit far below the load, and
//! asserts exit 1 naming the check that caught it. Without `LOKI_BIN` each prints one
//! `skipped:` line. The positive control and the latency budget run against `LOKI_URL` in
//! `bench_live.rs`; an unreachable Loki (exit 2) in `bench_cli.rs`, in CI.

mod servers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use telltale_testsupport::{
    check_json, failed_checks, find_binary, free_port, skip, Proc, TempDir,
};

fn telltale(args: &[&str]) -> (i32, String, String) {
    telltale_testsupport::run(env!("CARGO_BIN_EXE_telltale"), args)
}

/// A Loki of our own, with `limits` (YAML lines under `limits_config`).
struct OwnLoki {
    url: String,
    port: u16,
    proc: Proc,
    dir: TempDir,
}

/// Starts a single-binary Loki ([`servers::loki_config`]) limited by `limits`, and waits until
/// `/ready` says so; `None` (after a `skipped:` line) without `LOKI_BIN`.
fn start_loki(what: &str, limits: &[&str]) -> Option<OwnLoki> {
    let Some(bin) = find_binary("LOKI_BIN", Some("loki")) else {
        skip(&format!("{what}: no Loki binary to start (set LOKI_BIN)"));
        return None;
    };
    let dir = TempDir::new("bench-fault-loki");
    let (http, grpc) = (free_port(), free_port());
    let config = servers::loki_config(http, grpc, &dir.0.join("data"), limits);
    let config_path = dir.0.join("loki.yaml");
    std::fs::write(&config_path, config).unwrap();
    let proc = Proc::spawn(
        &bin,
        &[format!("-config.file={}", config_path.display())],
        dir.0.join("loki.log"),
    );
    let started = Instant::now();
    while !ready(http) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "Loki did not become ready:\n{}",
            proc.tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    Some(OwnLoki {
        url: format!("http://127.0.0.1:{http}"),
        port: http,
        proc,
        dir,
    })
}

/// The body of `GET path` when Loki answers 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: loki\r\n\r\n").ok()?;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n")?;
    (head.starts_with("HTTP/1.") && head.contains(" 200 ")).then(|| body.to_owned())
}

/// Whether `GET /ready` answers `ready`.
fn ready(port: u16) -> bool {
    get(port, "/ready").is_some_and(|b| b.trim_end() == "ready")
}

/// The bench runs Loki has seen (the `run` label's values).
fn runs(port: u16) -> Vec<String> {
    get(port, "/loki/api/v1/label/run/values?since=1h")
        .and_then(|b| serde_json::from_str::<Value>(&b).ok())
        .and_then(|v| {
            v["data"].as_array().map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}");
}

/// As soon as a bench run Loki has not seen yet pushes its first lines, stops Loki (SIGSTOP)
/// for `stall`, then lets it go on: what a long GC pause or a starved VM does. Nothing is
/// refused or lost; every push in between just waits.
fn stall_on_next_run(loki: &OwnLoki, stall: Duration) -> std::thread::JoinHandle<bool> {
    let (port, pid) = (loki.port, loki.proc.id());
    let known = runs(port);
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if runs(port).iter().any(|r| !known.contains(r)) {
                signal(pid, "-STOP");
                std::thread::sleep(stall);
                signal(pid, "-CONT");
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
}

impl OwnLoki {
    fn stack(&self, load: &str) -> String {
        let path = self.dir.0.join("stack.toml");
        std::fs::write(&path, format!("[loki]\nurl = {:?}\n{load}", self.url)).unwrap();
        path.display().to_string()
    }
}

/// Runs `telltale bench logs` with `args` and returns its exit code and JSON report.
fn bench(stack: &str, args: &[&str], loki: &OwnLoki) -> (i32, Value) {
    let mut all = vec!["bench", "logs", "--stack", stack, "--report", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = telltale(&all);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{stdout}\n{stderr}\nLoki's log:\n{}",
            loki.proc.tail()
        )
    });
    (code, report)
}

fn load_burst(stack: &str) -> (i32, Value) {
    check_json(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--stack",
            stack,
            "--scenario",
            "load-burst",
            "--report",
            "json",
        ],
    )
}

/// `ingestion_rate_mb` 0.05 (51 KiB/s, burst 0.1 MiB) against 2 000 lines/s of 100 B
/// (195 KiB/s): Loki answers 429 for most pushes. The bench and the burst fail on the rate and
/// the refusals, and the bench names `limits_config.ingestion_rate_mb` with its configured value.
#[test]
fn a_throttled_loki_fails_the_fixed_rate_bench_and_load_burst_on_rate_and_refusals() {
    let Some(loki) = start_loki(
        "bench and load-burst against a Loki throttled to 0.05 MiB/s",
        &["ingestion_rate_mb: 0.05", "ingestion_burst_size_mb: 0.1"],
    ) else {
        return;
    };
    let stack = loki.stack("[load]\nrate = 2000\nduration_secs = 3\n");
    let (code, report) = bench(&stack, &["--rate", "2000", "--duration", "3"], &loki);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["outcome"]["passed"], false);
    let step = &report["steps"][0];
    let failed = failed_checks(step);
    assert!(
        failed.contains(&"rate".to_owned()) && failed.contains(&"refused".to_owned()),
        "{failed:?}: {step:#}"
    );
    assert!(
        step["rejections"]["rate_limited"].as_u64().unwrap() > 0,
        "{step:#}"
    );
    assert!(
        step["accepted_items_per_s"].as_f64().unwrap() < 1900.0,
        "{step:#}"
    );
    assert_eq!(
        report["outcome"]["stopped_by"]["limit"],
        "limits_config.ingestion_rate_mb"
    );
    assert_eq!(report["limits"]["ingestion_rate_mib"], 0.05, "{report:#}");
    let words = report["outcome"]["failed_checks"][0].as_str().unwrap();
    assert!(words.starts_with("rate "), "{words}");
    assert!(words.contains("of 2000/s asked"), "{words}");

    let (code, scenario) = load_burst(&stack);
    assert_eq!(code, 1, "{scenario:#}");
    assert_eq!(scenario["status"], "failed", "{scenario:#}");
    let failed = failed_checks(&scenario);
    assert!(
        failed.contains(&"rate".to_owned()) && failed.contains(&"refused".to_owned()),
        "{failed:?}: {scenario:#}"
    );
    assert!(
        scenario["summary"].as_str().unwrap().starts_with("rate: "),
        "{scenario:#}"
    );
}

/// `per_stream_rate_limit` 2 KB (burst 4 KB) against 500 lines/s of 100 B into one stream:
/// Loki refuses per stream. The bench fails on the rate and the refusals, naming
/// `limits_config.per_stream_rate_limit`, and so does the burst.
#[test]
fn a_loki_limited_per_stream_fails_the_fixed_rate_bench_and_load_burst() {
    let Some(loki) = start_loki(
        "bench and load-burst against a Loki limited to 2 KB/s per stream",
        &[
            "per_stream_rate_limit: 2KB",
            "per_stream_rate_limit_burst: 4KB",
        ],
    ) else {
        return;
    };
    let stack = loki.stack("[load]\nrate = 500\nduration_secs = 3\nstreams = 1\n");
    let (code, report) = bench(
        &stack,
        &["--rate", "500", "--duration", "3", "--streams", "1"],
        &loki,
    );
    assert_eq!(code, 1, "{report:#}");
    let step = &report["steps"][0];
    let failed = failed_checks(step);
    assert!(
        failed.contains(&"rate".to_owned()) && failed.contains(&"refused".to_owned()),
        "{failed:?}: {step:#}"
    );
    assert!(
        step["rejections"]["stream_rate_limited"].as_u64().unwrap() > 0,
        "{step:#}"
    );
    assert_eq!(
        report["outcome"]["stopped_by"]["limit"],
        "limits_config.per_stream_rate_limit"
    );

    let (code, scenario) = load_burst(&stack);
    assert_eq!(code, 1, "{scenario:#}");
    assert_eq!(scenario["status"], "failed", "{scenario:#}");
    let failed = failed_checks(&scenario);
    assert!(
        failed.contains(&"rate".to_owned()),
        "{failed:?}: {scenario:#}"
    );
}

/// A Loki that stops for 5 s (SIGSTOP) right after a 3 s run at 1 000 lines/s begins, then
/// takes every line: nothing is refused or lost, yet the lines went in at about half the asked
/// rate. Before the `rate` check this passed (exit 0, "held"); now it fails naming only the
/// rate, for the bench and for `load-burst`. (A stall that ends well inside the run is caught
/// up by larger pushes and holds the rate: the check is throughput, latency shows the stall.)
#[test]
fn a_loki_that_stalls_mid_run_fails_the_rate_check_though_nothing_is_lost() {
    let Some(loki) = start_loki(
        "bench and load-burst against a Loki that stalls for 5 s",
        &[],
    ) else {
        return;
    };
    let stack = loki.stack("[load]\nrate = 1000\nduration_secs = 3\n");
    let stalled = stall_on_next_run(&loki, Duration::from_secs(5));
    let (code, report) = bench(&stack, &["--rate", "1000", "--duration", "3"], &loki);
    assert!(stalled.join().unwrap(), "the run never reached Loki");
    let step = &report["steps"][0];
    assert_eq!(failed_checks(step), ["rate"], "{step:#}");
    assert_eq!(step["delivery"]["delivered"], 3000, "{step:#}");
    assert_eq!(step["rejected"], 0, "{step:#}");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["outcome"]["stopped_by"]["kind"], "throughput");
    let words = report["outcome"]["failed_checks"][0].as_str().unwrap();
    assert!(
        words.starts_with("rate ") && words.contains("of 1000/s asked"),
        "{words}"
    );

    let stalled = stall_on_next_run(&loki, Duration::from_secs(5));
    let (code, scenario) = load_burst(&stack);
    assert!(stalled.join().unwrap(), "the burst never reached Loki");
    assert_eq!(failed_checks(&scenario), ["rate"], "{scenario:#}");
    assert_eq!(code, 1, "{scenario:#}");
    assert_eq!(scenario["status"], "failed", "{scenario:#}");
    assert_eq!(scenario["delivery"][0]["delivered"], 3000, "{scenario:#}");
}

/// A ramp against a Loki throttled to 0.05 MiB/s (about 500 lines/s of 100 B) measures the
/// stack, but it passes only when the rate it held is what the stack promises to take:
/// `[load] rate = 1000` fails naming the floor, `[load] rate = 200` passes.
#[test]
fn a_ramp_that_holds_less_than_the_declared_load_rate_fails_naming_it() {
    let Some(loki) = start_loki(
        "a ramp against a Loki throttled below the declared load rate",
        &["ingestion_rate_mb: 0.05", "ingestion_burst_size_mb: 0.1"],
    ) else {
        return;
    };
    let stack = loki.stack("[load]\nrate = 1000\n");
    let (code, report) = bench(&stack, &["--ramp", "--duration", "2"], &loki);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["outcome"]["passed"], false, "{report:#}");
    let held = report["outcome"]["highest_sustained"]["items_per_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("a ramp against a live Loki holds some rate: {report:#}"));
    assert!(held < 1000.0, "{report:#}");
    let words = report["outcome"]["failed_checks"][0].as_str().unwrap();
    assert!(
        words.contains("below the 1000/s the stack must take"),
        "{words}"
    );

    let stack = loki.stack("[load]\nrate = 200\n");
    let (code, report) = bench(&stack, &["--ramp", "--duration", "2"], &loki);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["outcome"]["passed"], true);
}
