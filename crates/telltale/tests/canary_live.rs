//! `telltale canary` against real Lokis: the one named by `LOKI_URL` takes every line and the
//! canary says so, on stdout and on its `/metrics` while it runs; the per-stream-limited Loki
//! named by `LOKI_LIMITED_URL` (a real server misconfigured on purpose: 2 KB/s per stream)
//! refuses most of them, and the canary fails naming the refusals.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use telltale_prometheus::exposition::{self, Format};

fn env_url(var: &str, what: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        telltale_testsupport::skip(&format!("{what} (set {var})"));
    }
    url
}

fn stack(dir: &Path, url: &str) -> String {
    let path = dir.join("stack.toml");
    std::fs::write(&path, format!("[loki]\nurl = \"{url}\"\n")).unwrap();
    path.display().to_string()
}

fn scrape(port: u16) -> Option<String> {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).ok()?;
    sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    sock.read_to_string(&mut answer).ok()?;
    Some(answer.split_once("\r\n\r\n")?.1.to_owned())
}

#[test]
fn every_line_comes_back_once_and_metrics_say_so_while_it_runs() {
    let Some(url) = env_url("LOKI_URL", "telltale canary against a real Loki") else {
        return;
    };
    let dir = telltale_testsupport::TempDir::new("canary-live");
    let stack = stack(&dir.0, &url);
    let port = telltale_testsupport::free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_telltale"))
        .args([
            "canary",
            "--stack",
            &stack,
            "--rate",
            "100",
            "--duration",
            "4",
            "--push-every-ms",
            "200",
            "--check-every",
            "1",
            "--max-wait",
            "4",
            "--listen",
            &listen,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let text = scrape(port).expect("/metrics answers while the canary runs");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let totals: Value = serde_json::from_str(&stdout).unwrap();
    // 100 lines/s for 4 s, pushed every 200 ms: the last push may fall just before the end.
    let sent = totals["sent"].as_u64().unwrap();
    assert!((300..=400).contains(&sent), "{totals}");
    assert_eq!(totals["delivered"], sent, "{totals}");
    let exp = exposition::parse(&text, Format::Text004).expect("the exposition parses");
    let written = exp
        .find_sample("loki_canary_entries_total", &[])
        .unwrap()
        .value;
    assert!(written > 0.0 && written <= sent as f64, "{text}");
    let seen = exp
        .find_sample("loki_canary_response_latency_seconds_count", &[])
        .unwrap()
        .value;
    assert!(seen > 0.0, "lines read back while running:\n{text}");
    assert_eq!(
        exp.find_sample("loki_canary_missing_entries_total", &[])
            .unwrap()
            .value,
        0.0
    );
}

#[test]
fn a_loki_that_refuses_lines_fails_the_canary() {
    let Some(url) = env_url(
        "LOKI_LIMITED_URL",
        "telltale canary against a Loki limited to 2 KB/s a stream",
    ) else {
        return;
    };
    let dir = telltale_testsupport::TempDir::new("canary-limited");
    let stack = stack(&dir.0, &url);
    // 200 lines of 100 bytes a second: ten times what the stream may take.
    let (code, stdout, stderr) = telltale_testsupport::run(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "canary",
            "--stack",
            &stack,
            "--rate",
            "200",
            "--duration",
            "3",
            "--push-every-ms",
            "500",
            "--check-every",
            "1",
            "--max-wait",
            "3",
        ],
    );
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let totals: Value = serde_json::from_str(&stdout).unwrap();
    assert!(totals["refused"].as_u64().unwrap() > 0, "{totals}");
    assert_eq!(totals["unexpected"], 0, "{totals}");
}
