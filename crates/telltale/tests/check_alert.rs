//! `telltale check --scenario alert-delivery` against real Prometheus (Debian's `prometheus`,
//! or `PROMETHEUS_BIN`) and Alertmanager (Debian's `prometheus-alertmanager`, or
//! `ALERTMANAGER_BIN`), each started by the test with the canary rule the NixOS module installs
//! (`nixos-tests/module/alerting/telltale-canary-rules.yml`) and a route to telltale's webhook:
//! the healthy path passes with one firing and one resolved notification; a route that sends the
//! alert elsewhere, a webhook URL nobody listens on, a rule that never fires and a rule that
//! drops the run label each fail (exit 1), naming the check that caught them.

mod servers;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use servers::{alertmanager, prometheus_alerting, Server};
use telltale_testsupport::{
    check_json, check_named, failed_checks, find_binary, free_port, skip, TempDir,
};

const CANARY_RULES: &str =
    include_str!("../../../nixos-tests/module/alerting/telltale-canary-rules.yml");
const ROUTE_CHECK: &str = "alertmanager: alert TelltaleAlertProbe routed to receiver telltale";
const PROM_CHECK: &str = "prometheus: alert TelltaleAlertProbe fires for the run";
const FIRING_CHECK: &str = "webhook: one firing notification for the TelltaleAlertProbe group";
const RESOLVED_CHECK: &str = "webhook: one resolved notification for the TelltaleAlertProbe group";

fn binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    let Some(prom) = find_binary("PROMETHEUS_BIN", Some("prometheus")) else {
        skip(&format!(
            "{test}: no Prometheus (apt install prometheus, or set PROMETHEUS_BIN)"
        ));
        return None;
    };
    let Some(am) = find_binary("ALERTMANAGER_BIN", Some("prometheus-alertmanager")) else {
        skip(&format!("{test}: no Alertmanager (apt install prometheus-alertmanager, or set ALERTMANAGER_BIN)"));
        return None;
    };
    Some((prom, am))
}

/// The route the NixOS module writes: the canary alert, grouped per run, to telltale's webhook;
/// everything else to a receiver that sends nothing. `matcher` and `webhook_port` are what the
/// faults change.
fn alertmanager_config(matcher: &str, webhook_port: u16) -> String {
    format!(
        "global:
  resolve_timeout: 5s
route:
  receiver: blackhole
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['{matcher}']
      receiver: telltale
      group_by: [alertname, run]
receivers:
  - name: blackhole
  - name: telltale
    webhook_configs:
      - url: http://127.0.0.1:{webhook_port}/alertmanager
        send_resolved: true
"
    )
}

/// The body of `GET path` on 127.0.0.1:port, empty without an answer.
fn http_body(port: u16, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

struct Stack {
    dir: TempDir,
    _prom: Server,
    _am: Server,
    prom_url: String,
    am_url: String,
    webhook_port: u16,
}

/// Alertmanager and Prometheus with `rules`; the route matches `matcher` and posts to
/// `webhook_port`, or, when `wrong_webhook`, to a port nobody listens on.
fn stack(
    tag: &str,
    bins: &(PathBuf, PathBuf),
    rules: &str,
    matcher: &str,
    wrong_webhook: bool,
) -> Stack {
    let dir = TempDir::new(tag);
    let webhook_port = free_port();
    let target = if wrong_webhook {
        free_port()
    } else {
        webhook_port
    };
    let am_port = free_port();
    let am = alertmanager(
        &bins.1,
        &dir,
        am_port,
        &alertmanager_config(matcher, target),
    );
    let prom = prometheus_alerting(&bins.0, &dir, rules, am_port);
    // Prometheus discovers its Alertmanagers a few seconds after start, and an alert that fired
    // before that is only resent after a minute: wait, as a long-running stack would have.
    let deadline = Instant::now() + Duration::from_secs(30);
    let wanted = format!("127.0.0.1:{am_port}");
    while !http_body(prom.port, "/api/v1/alertmanagers").contains(&wanted) {
        assert!(
            Instant::now() < deadline,
            "Prometheus never discovered its Alertmanager"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Stack {
        prom_url: prom.url.clone(),
        am_url: am.url.clone(),
        dir,
        _prom: prom,
        _am: am,
        webhook_port,
    }
}

fn check(s: &Stack, deadline: u32) -> (i32, Value) {
    let path = s.dir.0.join("stack.toml");
    std::fs::write(
        &path,
        format!(
            "[prometheus]\nurl = {:?}\n[alertmanager]\nurl = {:?}\nwebhook_listen = \"127.0.0.1:{}\"\n",
            s.prom_url, s.am_url, s.webhook_port
        ),
    )
    .unwrap();
    check_json(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--scenario",
            "alert-delivery",
            "--report",
            "json",
            "--deadline",
            &deadline.to_string(),
            "--stack",
            path.to_str().unwrap(),
        ],
    )
}

const ROUTE: &str = "alertname=\"TelltaleAlertProbe\"";

#[test]
fn the_canary_alert_is_notified_once_and_resolves() {
    let Some(bins) = binaries("alert-delivery positive control") else {
        return;
    };
    let s = stack("alert-ok", &bins, CANARY_RULES, ROUTE, false);
    let (code, r) = check(&s, 30);
    assert_eq!((code, r["status"].as_str()), (0, Some("passed")), "{r:#}");
    for name in [PROM_CHECK, ROUTE_CHECK, FIRING_CHECK, RESOLVED_CHECK] {
        assert_eq!(check_named(&r, name)["passed"], true, "{name}: {r:#}");
    }
    assert_eq!(
        check_named(&r, "webhook: the alert carries the declared labels")["passed"],
        true
    );
    assert_eq!(
        check_named(&r, "webhook: the alert carries the declared annotations")["passed"],
        true
    );
    let latency = &r["evidence"]["latency_ms"];
    let notified = latency["breach_to_notification"]
        .as_u64()
        .expect("a breach-to-notification latency");
    let resolved = latency["recovery_to_resolved_notification"]
        .as_u64()
        .expect("a resolution latency");
    assert!(notified < 30_000 && resolved < 30_000, "{latency}");
    assert!(
        r["summary"].as_str().unwrap().contains("notified once"),
        "{r:#}"
    );
}

fn assert_fails_naming(r: &Value, code: i32, name: &str) {
    assert_eq!((code, r["status"].as_str()), (1, Some("failed")), "{r:#}");
    let failed = failed_checks(r);
    assert!(
        failed.iter().any(|f| f == name),
        "{name} not among {failed:?}"
    );
}

#[test]
fn a_route_that_sends_the_alert_elsewhere_fails_naming_the_route() {
    let Some(bins) = binaries("alert-delivery broken route") else {
        return;
    };
    let s = stack(
        "alert-route",
        &bins,
        CANARY_RULES,
        "alertname=\"SomeOtherAlert\"",
        false,
    );
    let (code, r) = check(&s, 10);
    assert_fails_naming(&r, code, ROUTE_CHECK);
    assert_fails_naming(&r, code, FIRING_CHECK);
    assert_eq!(
        check_named(&r, PROM_CHECK)["passed"],
        true,
        "the rule is not blamed: {r:#}"
    );
    assert!(
        check_named(&r, ROUTE_CHECK)["actual"]
            .as_str()
            .unwrap()
            .contains("blackhole"),
        "{r:#}"
    );
}

#[test]
fn a_webhook_url_nobody_listens_on_fails_naming_the_notification() {
    let Some(bins) = binaries("alert-delivery broken receiver") else {
        return;
    };
    let s = stack("alert-receiver", &bins, CANARY_RULES, ROUTE, true);
    let (code, r) = check(&s, 10);
    assert_fails_naming(&r, code, FIRING_CHECK);
    assert_eq!(
        check_named(&r, ROUTE_CHECK)["passed"],
        true,
        "the route is not blamed: {r:#}"
    );
    assert_eq!(
        check_named(&r, PROM_CHECK)["passed"],
        true,
        "the rule is not blamed: {r:#}"
    );
}

#[test]
fn a_rule_that_never_fires_fails_naming_the_rule() {
    let Some(bins) = binaries("alert-delivery broken rule") else {
        return;
    };
    let rules = CANARY_RULES.replace(
        "expr: telltale_alert_probe > 0",
        "expr: telltale_alert_probe > 1",
    );
    assert_ne!(rules, CANARY_RULES, "the fault must change the rule");
    let s = stack("alert-rule", &bins, &rules, ROUTE, false);
    let (code, r) = check(&s, 10);
    assert_fails_naming(&r, code, PROM_CHECK);
    assert_fails_naming(&r, code, FIRING_CHECK);
}

#[test]
fn a_rule_that_drops_the_run_label_fails_naming_the_rule() {
    let Some(bins) = binaries("alert-delivery rule without the run label") else {
        return;
    };
    let rules = CANARY_RULES.replace(
        "expr: telltale_alert_probe > 0",
        "expr: max without (run) (telltale_alert_probe) > 0",
    );
    assert_ne!(rules, CANARY_RULES, "the fault must change the rule");
    let s = stack("alert-label", &bins, &rules, ROUTE, false);
    let (code, r) = check(&s, 10);
    assert_fails_naming(&r, code, PROM_CHECK);
    assert_fails_naming(&r, code, FIRING_CHECK);
}

#[test]
fn a_stack_without_alertmanager_is_unavailable_and_sends_nothing() {
    let dir = TempDir::new("alert-none");
    let path = dir.0.join("stack.toml");
    std::fs::write(&path, "").unwrap();
    let (code, r) = check_json(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--scenario",
            "alert-delivery",
            "--report",
            "json",
            "--stack",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(
        (code, r["status"].as_str()),
        (2, Some("unavailable")),
        "{r:#}"
    );
    assert!(r["evidence"].get("sent").is_none(), "{r:#}");
}
