//! `telltale bench` and the `load-burst` scenario when they cannot prove anything: every knob
//! that would make the run vacuous (no rate, no time, one item, a budget of 0 ms) and a Loki
//! that does not answer end in exit 2 with a message, never in exit 0. These need no server and
//! run in CI. The last test drives the binary against an in-process fake that answers every push
//! with Loki's 429: it is not the contract (that is `bench_faults_live.rs`, against real Lokis
//! throttled on purpose), only the judge's handling of a receiver that refuses everything.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;
use telltale_testsupport::{failed_checks, first_scenario, free_port, TempDir};

fn telltale(args: &[&str]) -> (i32, String, String) {
    telltale_testsupport::run(env!("CARGO_BIN_EXE_telltale"), args)
}

fn write_stack(dir: &Path, body: &str) -> String {
    let path = dir.join("stack.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

/// A stack whose Loki port has nothing behind it.
fn nowhere(dir: &Path, load: &str) -> String {
    write_stack(
        dir,
        &format!("[loki]\nurl = \"http://127.0.0.1:{}\"\n{load}", free_port()),
    )
}

fn assert_could_not_run(args: &[&str], words: &str) {
    let (code, stdout, stderr) = telltale(args);
    assert_eq!(code, 2, "{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains(words), "{args:?}: {stderr}");
    assert!(!stdout.contains("PASSED"), "{args:?}: {stdout}");
}

#[test]
fn bench_refuses_a_rate_a_duration_or_a_budget_that_proves_nothing() {
    let dir = TempDir::new("bench-refusals");
    let stack = nowhere(&dir.0, "");
    let bench = |extra: &[&'static str]| {
        let mut args = vec!["bench", "logs", "--stack", stack.as_str()];
        args.extend_from_slice(extra);
        args
    };
    assert_could_not_run(&bench(&["--rate", "0"]), "the rate must be above zero");
    assert_could_not_run(&bench(&["--rate", "100", "--duration", "0"]), "--duration");
    assert_could_not_run(
        &bench(&["--rate", "1", "--duration", "1"]),
        "at least 2 items",
    );
    assert_could_not_run(
        &bench(&["--rate", "100", "--max-p99-ms", "0"]),
        "a latency budget of 0 ms can never be met",
    );
    assert_could_not_run(&bench(&["--rate", "100", "--streams", "0"]), "--streams");
    assert_could_not_run(&bench(&["--ramp", "--duration", "0"]), "--duration");
}

#[test]
fn bench_without_a_rate_refuses_a_stack_whose_load_rate_is_zero() {
    let dir = TempDir::new("bench-zero-load");
    let stack = nowhere(&dir.0, "[load]\nrate = 0\n");
    assert_could_not_run(&["bench", "logs", "--stack", &stack], "`[load] rate` is 0");
}

#[test]
fn bench_against_a_loki_that_does_not_answer_is_unavailable_not_a_verdict() {
    let dir = TempDir::new("bench-no-loki");
    let stack = nowhere(&dir.0, "");
    let (code, stdout, stderr) = telltale(&[
        "bench",
        "logs",
        "--stack",
        &stack,
        "--rate",
        "100",
        "--duration",
        "1",
        "--report",
        "json",
    ]);
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("could not run"), "{stderr}");
    assert!(
        stdout.trim().is_empty(),
        "no report without a run: {stdout}"
    );
}

fn load_burst(stack: &str) -> (i32, Value, String) {
    let (code, stdout, stderr) = telltale(&[
        "check",
        "--stack",
        stack,
        "--scenario",
        "load-burst",
        "--report",
        "json",
    ]);
    (code, first_scenario(&stdout, &stderr), stderr)
}

#[test]
fn load_burst_refuses_a_burst_that_proves_nothing() {
    for (load, words) in [
        ("rate = 0", "rate or duration_secs is zero"),
        ("duration_secs = 0", "rate or duration_secs is zero"),
        ("rate = 1\nduration_secs = 1", "at least 2 items"),
        (
            "max_p99_ms = 0",
            "a latency budget of 0 ms can never be met",
        ),
    ] {
        let dir = TempDir::new("burst-refusals");
        let stack = nowhere(&dir.0, &format!("[load]\n{load}\n"));
        let (code, scenario, stderr) = load_burst(&stack);
        assert_eq!(code, 2, "{load}: {scenario:#}\n{stderr}");
        assert_eq!(scenario["status"], "error", "{load}: {scenario:#}");
        let message = scenario["problem"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{load}: {message}");
    }
}

#[test]
fn load_burst_against_a_loki_that_does_not_answer_is_unavailable() {
    let dir = TempDir::new("burst-no-loki");
    let stack = nowhere(&dir.0, "[load]\nrate = 100\nduration_secs = 1\n");
    let (code, scenario, stderr) = load_burst(&stack);
    assert_eq!(code, 2, "{scenario:#}\n{stderr}");
    assert_eq!(scenario["status"], "unavailable", "{scenario:#}");
}

/// What the fake answers: Loki's `/ready`, its 429 for every push (the words Loki 3 uses for
/// `ingestion_rate_mb`), an empty result for every query, 404 for the rest.
fn answer(request_line: &str) -> (u16, &'static str) {
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    if path == "/ready" {
        (200, "ready")
    } else if path.starts_with("/loki/api/v1/push") {
        (
            429,
            "ingestion rate limit exceeded for user fake (limit: 52428 bytes/sec) while attempting to ingest '500' lines totaling '50000' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
        )
    } else if path.starts_with("/loki/api/v1/query_range") {
        (
            200,
            r#"{"status":"success","data":{"resultType":"streams","result":[]}}"#,
        )
    } else {
        (404, "404 page not found")
    }
}

/// Serves [`answer`] on a loopback port, one thread per connection, keep-alive.
fn serve_refusing_loki() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = h.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let (status, text) = answer(&line);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    );
                }
            });
        }
    });
    port
}

/// Error path only (an in-process fake, not Loki): a receiver that refuses every push with 429
/// fails the fixed-rate bench (exit 1), naming the `rate` and `refused` checks and Loki's
/// `ingestion_rate_mb`, and the `load-burst` scenario the same way.
#[test]
fn a_receiver_refusing_every_push_fails_bench_and_load_burst_naming_the_rate() {
    let port = serve_refusing_loki();
    let dir = TempDir::new("bench-fake-429");
    let stack = write_stack(
        &dir.0,
        &format!(
            "[loki]\nurl = \"http://127.0.0.1:{port}\"\n[load]\nrate = 200\nduration_secs = 1\n"
        ),
    );
    let (code, stdout, stderr) = telltale(&[
        "bench",
        "logs",
        "--stack",
        &stack,
        "--rate",
        "200",
        "--duration",
        "1",
        "--report",
        "json",
    ]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["version"], 2);
    assert_eq!(report["outcome"]["passed"], false);
    let step = &report["steps"][0];
    let failed = failed_checks(step);
    assert_eq!(failed, ["rate", "refused", "loss"], "{step:#}");
    assert_eq!(step["accepted_items_per_s"], 0.0, "{step:#}");
    assert_eq!(
        step["saturation"]["limit"],
        "limits_config.ingestion_rate_mb"
    );
    let words = report["outcome"]["failed_checks"][0].as_str().unwrap();
    assert!(
        words.starts_with("rate 0.0/s of 200/s asked (0.0 %)"),
        "{words}"
    );

    let (code, stdout, _) = telltale(&[
        "bench",
        "logs",
        "--stack",
        &stack,
        "--rate",
        "200",
        "--duration",
        "1",
    ]);
    assert_eq!(code, 1);
    assert!(!stdout.contains("  held\n"), "{stdout}");
    assert!(
        stdout.contains("FAILED: rate 0.0/s of 200/s asked (0.0 %)"),
        "{stdout}"
    );

    let (code, scenario, stderr) = load_burst(&stack);
    assert_eq!(code, 1, "{scenario:#}\n{stderr}");
    assert_eq!(scenario["status"], "failed", "{scenario:#}");
    let summary = scenario["summary"].as_str().unwrap();
    assert!(summary.starts_with("rate: expected >= 190/s"), "{summary}");
}
