//! The `grafana` scenario's own logic against an in-process FAKE of Grafana's HTTP API, written
//! from Grafana's API documentation, not recorded from a Grafana. No Grafana can be installed on
//! this machine kind (no Debian package, no binary), so this is not the contract and there is no
//! real-server fault matrix for this scenario here: that needs a real Grafana (the NixOS VM tests
//! and the testkit's container run one). It proves the scenario passes a provisioned, locked-down
//! Grafana, fails each way one can be wrong, and never blames the stack for its own credential.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;

use telltale_testsupport::{failed_checks, TempDir};

/// How the fake misbehaves.
#[derive(Clone, Copy, Default)]
struct Faults {
    anonymous_allowed: bool,
    anonymous_viewer: bool,
    admin_refused: bool,
    datasource_from_ui: bool,
    loki_unhealthy: bool,
    no_operator: bool,
}

/// Basic auth for `admin:s3cret`.
const ADMIN: &str = "Basic YWRtaW46czNjcmV0";

fn answer(path: &str, auth: Option<&str>, f: Faults) -> (u16, String) {
    let authed = auth == Some(ADMIN) && !f.admin_refused;
    if path == "/api/health" {
        return (200, r#"{"database":"ok","version":"11.3.1"}"#.into());
    }
    if !authed && f.anonymous_viewer {
        // Anonymous access as a Viewer: reads pass, the admin-only datasource list is 403.
        return match path {
            "/api/datasources" => (403, r#"{"message":"Permission denied"}"#.into()),
            _ => (200, "{}".into()),
        };
    }
    if !authed && !f.anonymous_allowed {
        return (401, r#"{"message":"Unauthorized"}"#.into());
    }
    match path {
        "/api/datasources" => (
            200,
            format!(
                r#"[{{"uid":"loki","name":"Loki","type":"loki","url":"http://127.0.0.1:3100","readOnly":true}},
                    {{"uid":"prom","name":"Prometheus","type":"prometheus","url":"http://127.0.0.1:9090","readOnly":{}}}]"#,
                !f.datasource_from_ui
            ),
        ),
        "/api/datasources/uid/loki/health" if f.loki_unhealthy => (
            400,
            r#"{"status":"ERROR","message":"connection refused"}"#.into(),
        ),
        p if p.starts_with("/api/datasources/uid/") => {
            (200, r#"{"status":"OK","message":"ok"}"#.into())
        }
        p if p.starts_with("/api/users/lookup") => {
            if !f.no_operator && p.contains("loginOrEmail=operator") {
                (200, r#"{"id":2,"login":"operator"}"#.into())
            } else {
                (404, r#"{"message":"user not found"}"#.into())
            }
        }
        _ => (200, "{}".into()),
    }
}

fn serve(f: Faults) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let f = Arc::new(f);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let f = *f;
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let (mut auth, mut length) = (None, 0usize);
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (name, value) = h.split_once(':').unwrap_or((h, ""));
                        match name.to_ascii_lowercase().as_str() {
                            "authorization" => auth = Some(value.trim().to_owned()),
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let (status, text) = answer(&path, auth.as_deref(), f);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    );
                }
            });
        }
    });
    port
}

fn check(f: Faults) -> (i32, Vec<String>) {
    let (code, report) = run(f);
    (code, failed_checks(&report["scenarios"][0]))
}

fn run(f: Faults) -> (i32, serde_json::Value) {
    let port = serve(f);
    let dir = TempDir::new("grafana-fake");
    let password = dir.0.join("password");
    std::fs::write(&password, "s3cret\n").unwrap();
    let stack = dir.0.join("stack.toml");
    std::fs::write(
        &stack,
        format!("[grafana]\nport = {port}\nadmin_password = {{ file = {password:?} }}\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_telltale"))
        .args([
            "check",
            "--scenario",
            "grafana",
            "--report",
            "json",
            "--stack",
        ])
        .arg(&stack)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap(), report)
}

#[test]
fn a_provisioned_locked_down_grafana_passes() {
    let (code, report) = run(Faults::default());
    let s = &report["scenarios"][0];
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let names = telltale_testsupport::check_names(s);
    // The way to the checks is evidence, not a check.
    assert!(
        !names
            .iter()
            .any(|n| n.contains("/api/health") || n.contains("status")),
        "{names:?}"
    );
    assert_eq!(s["evidence"]["health"]["status"], 200);
    assert!(names.contains(&"user operator exists"), "{names:?}");
}

#[test]
fn a_refused_credential_is_an_error_not_a_failed_stack() {
    let (code, report) = run(Faults {
        admin_refused: true,
        ..Default::default()
    });
    let s = &report["scenarios"][0];
    assert_eq!((code, s["status"].as_str()), (2, Some("error")), "{s:#}");
    assert!(s["problem"]["message"]
        .as_str()
        .unwrap()
        .contains("refused the configured credential"));
}

#[test]
fn an_anonymous_viewer_is_anonymous_access_let_in() {
    let (code, failed) = check(Faults {
        anonymous_viewer: true,
        ..Default::default()
    });
    assert_eq!(code, 1);
    for path in ["/api/org", "/api/datasources", "/api/search"] {
        let name = format!("anonymous GET {path} refused");
        assert!(failed.contains(&name), "{name} not among {failed:?}");
    }
}

#[test]
fn each_fault_fails_its_own_check() {
    let cases: [(Faults, &str); 4] = [
        (
            Faults {
                anonymous_allowed: true,
                ..Default::default()
            },
            "anonymous GET /api/org refused",
        ),
        (
            Faults {
                datasource_from_ui: true,
                ..Default::default()
            },
            "datasource Prometheus is provisioned",
        ),
        (
            Faults {
                loki_unhealthy: true,
                ..Default::default()
            },
            "datasource Loki is healthy",
        ),
        (
            Faults {
                no_operator: true,
                ..Default::default()
            },
            "user operator exists",
        ),
    ];
    for (faults, expected) in cases {
        let (code, failed) = check(faults);
        assert_eq!(code, 1, "{expected}: {failed:?}");
        assert!(
            failed.iter().any(|f| f == expected),
            "{expected} not among {failed:?}"
        );
    }
}
