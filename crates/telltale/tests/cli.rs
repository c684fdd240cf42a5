//! The `telltale` binary as a user runs it: output and exit codes (0 passed, 1 a check failed,
//! 2 could not run).

use std::path::PathBuf;
use std::process::Command;

fn telltale(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_telltale"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn metrics_lint_exit_codes() {
    let contract = fixture("prometheus/contracts/be-platform.toml");
    let dir = telltale_testsupport::TempDir::new("cli-lint");
    let good = dir.0.join("good.prom");
    std::fs::write(
        &good,
        "# HELP http_requests_total R.\n# TYPE http_requests_total counter\nhttp_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 1\n\
         # HELP http_request_duration_seconds L.\n# TYPE http_request_duration_seconds histogram\n\
         http_request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"+Inf\"} 1\nhttp_request_duration_seconds_sum{method=\"GET\",route=\"/\"} 0.1\nhttp_request_duration_seconds_count{method=\"GET\",route=\"/\"} 1\n\
         # HELP sync_lag_seconds S.\n# TYPE sync_lag_seconds gauge\nsync_lag_seconds 0\n\
         # HELP sqlite_pool_connections C.\n# TYPE sqlite_pool_connections gauge\nsqlite_pool_connections{state=\"idle\"} 1\n",
    )
    .unwrap();
    let (code, out, err) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        &contract,
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 errors"), "{out}");

    let (code, out, _) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        &contract,
        &fixture("prometheus/contracts/lint-cases.prom"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("family \"http_request_duration_seconds\" is missing"),
        "{out}"
    );
    assert!(
        out.contains("counter metrics should have \"_total\" suffix"),
        "naming warnings are listed too: {out}"
    );

    let (code, _, err) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        "/nonexistent.toml",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.toml"), "{err}");

    let broken = dir.0.join("broken.prom");
    std::fs::write(&broken, "# TYPE x counter\nx{a=\"1\" 2\n").unwrap();
    let (code, _, err) = telltale(&[
        "metrics",
        "lint",
        "--contract",
        &contract,
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2"), "a positioned parse error: {err}");
}

#[test]
fn glitchtip_bootstrap_is_idempotent() {
    let (Ok(url), Ok(token_file)) = (
        std::env::var("GLITCHTIP_URL"),
        std::env::var("GLITCHTIP_TOKEN_FILE"),
    ) else {
        telltale_testsupport::skip("telltale glitchtip bootstrap against a real GlitchTip (set GLITCHTIP_URL and GLITCHTIP_TOKEN_FILE)");
        return;
    };
    let args = [
        "glitchtip",
        "bootstrap",
        "--url",
        &url,
        "--token-file",
        &token_file,
        "--org",
        "meridian",
        "--team",
        "backend",
        "--project",
        "be-platform",
        "--project",
        "be-pwa",
    ];
    let (code, first, err) = telltale(&args);
    assert_eq!(code, 0, "{err}");
    let parsed: serde_json::Value = serde_json::from_str(&first).unwrap();
    for project in ["be-platform", "be-pwa"] {
        let dsn = parsed[project]["dsn"]
            .as_str()
            .unwrap_or_else(|| panic!("{first}"));
        assert!(
            dsn.starts_with("http") && dsn.ends_with(&format!("/{}", parsed[project]["id"])),
            "{first}"
        );
    }
    let (code, second, err) = telltale(&args);
    assert_eq!((code, second.as_str()), (0, first.as_str()), "{err}");
    assert!(
        !err.contains("created"),
        "a second run creates nothing: {err}"
    );
}
