//! `telltale check` run as a user runs it, against real servers: the delivery scenarios end to
//! end where this machine has the servers (GlitchTip by `GLITCHTIP_URL` and
//! `GLITCHTIP_TOKEN_FILE`), and the journald scenario's refusal to pass where it cannot write
//! as a unit.

use std::path::Path;

use serde_json::Value;

fn telltale(args: &[&str]) -> (i32, String, String) {
    telltale_testsupport::run(env!("CARGO_BIN_EXE_telltale"), args)
}

/// Runs one scenario with `--report json` and returns the exit code and that scenario's report.
fn check(stack: &Path, scenario: &str, items: &str) -> (i32, Value) {
    telltale_testsupport::check_json(
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
            "60",
            "--report",
            "json",
        ],
    )
}

#[test]
fn sentry_events_reach_every_project_through_every_path() {
    let (Ok(url), Ok(token)) = (
        std::env::var("GLITCHTIP_URL"),
        std::env::var("GLITCHTIP_TOKEN_FILE"),
    ) else {
        telltale_testsupport::skip(
            "sentry-to-glitchtip against a real GlitchTip (set GLITCHTIP_URL and GLITCHTIP_TOKEN_FILE)",
        );
        return;
    };
    let org = "telltale-scenarios-live";
    let (code, out, err) = telltale(&[
        "glitchtip",
        "bootstrap",
        "--url",
        &url,
        "--token-file",
        &token,
        "--org",
        org,
        "--team",
        "backend",
        "--project",
        "be-platform",
        "--project",
        "be-pwa",
    ]);
    assert_eq!(code, 0, "bootstrap: {out}{err}");
    let dir = telltale_testsupport::TempDir::new("scen-sentry");
    let stack = dir.0.join("stack.toml");
    std::fs::write(
        &stack,
        format!(
            "[glitchtip]\nurl = {url:?}\norganization = {org:?}\nprojects = [\"be-platform\", \"be-pwa\"]\nauth = {{ file = {token:?} }}\n"
        ),
    )
    .unwrap();
    let (code, s) = check(&stack, "sentry-to-glitchtip", "4");
    assert_eq!(s["status"], "passed", "{s:#}");
    assert_eq!(code, 0);
    let delivery = s["delivery"].as_array().unwrap();
    let signals: Vec<&str> = delivery
        .iter()
        .map(|d| d["signal"].as_str().unwrap())
        .collect();
    assert_eq!(
        signals,
        [
            "sentry be-platform via sdk",
            "sentry be-platform via envelope",
            "sentry be-platform via store",
            "sentry be-pwa via sdk",
            "sentry be-pwa via envelope",
            "sentry be-pwa via store",
        ]
    );
    for d in delivery {
        assert_eq!(
            (d["sent"].as_u64(), d["delivered"].as_u64()),
            (Some(4), Some(4)),
            "{d}"
        );
        assert!(d["latency_ms"]["max"].as_f64().unwrap() > 0.0, "{d}");
    }
    let first = &s["evidence"]["deliveries"][0];
    assert_eq!(first["visible"], 4, "{first}");
    assert!(
        first["query"]["query"]
            .as_str()
            .unwrap()
            .starts_with("run:tt-"),
        "{first}"
    );

    // A project the organization does not have is a failure, not a pass.
    std::fs::write(
        &stack,
        format!(
            "[glitchtip]\nurl = {url:?}\norganization = {org:?}\nprojects = [\"no-such-project\"]\nauth = {{ file = {token:?} }}\n"
        ),
    )
    .unwrap();
    let (code, s) = check(&stack, "sentry-to-glitchtip", "1");
    assert_eq!(s["status"], "failed", "{s:#}");
    assert_eq!(code, 1);
}

#[test]
fn journald_to_loki_is_unavailable_where_it_cannot_write_as_the_unit() {
    // Anywhere but the stack's host — no systemd as init, not root, or no such unit running —
    // the scenario must say why and never pass. meridian's units exist only on meridian.
    let dir = telltale_testsupport::TempDir::new("scen-journald");
    let stack = dir.0.join("stack.toml");
    std::fs::write(&stack, "[loki]\nurl = \"http://127.0.0.1:9\"\n").unwrap();
    let (code, s) = check(&stack, "journald-to-loki", "2");
    assert_eq!(s["status"], "unavailable", "{s:#}");
    assert_eq!(code, 2);
    let hint = s["problem"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("host") || hint.contains("systemctl start"),
        "the hint says where to run it: {hint}"
    );
}
