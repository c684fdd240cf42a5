//! `telltale check --scenario retention` against real servers misconfigured on purpose:
//! Prometheus 2 (`prometheus` on `PATH` or `PROMETHEUS_BIN`) and 3 (`PROMETHEUS3_BIN`) started
//! with a retention other than the one declared, a real Loki (`LOKI_BIN`, local only) with 7 days
//! where 30 are declared, and GlitchTip's settings unit read from a real systemd: a throwaway
//! `systemd --user` manager in a private mount namespace (root only; `TELLTALE_SYSTEMD_REQUIRED=1`
//! turns the skip into a failure, as CI sets it). Each fault must fail naming its check; a part
//! that cannot be read must keep the scenario from passing without hiding the others.

mod servers;

use serde_json::Value;
use servers::{loki, prometheus, user_manager, Server};
use telltale_testsupport::{
    check_json_command, check_named, checks_with, find_binary, free_port, skip, TempDir,
};

/// A stack description with these parts; a part left `None` points at a closed port.
struct Parts<'a> {
    loki: Option<&'a Server>,
    prometheus: Option<&'a Server>,
    settings_unit: Option<&'a str>,
}

fn check(dir: &TempDir, parts: Parts, env: &[(String, String)]) -> (i32, Value) {
    let closed = || format!("http://127.0.0.1:{}", free_port());
    let mut stack = format!(
        "[loki]\nurl = {:?}\n[prometheus]\nurl = {:?}\n[retention]\nloki_days = 30\nprometheus_days = 90\nglitchtip_days = 90\n",
        parts.loki.map_or_else(closed, |s| s.url.clone()),
        parts.prometheus.map_or_else(closed, |s| s.url.clone()),
    );
    if let Some(unit) = parts.settings_unit {
        stack.push_str(&format!("[glitchtip]\nsettings_unit = {unit:?}\n"));
    }
    let path = dir.0.join("stack.toml");
    std::fs::write(&path, stack).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_telltale"));
    cmd.args([
        "check",
        "--scenario",
        "retention",
        "--report",
        "json",
        "--stack",
    ])
    .arg(&path)
    .env_remove("TELLTALE_SYSTEMCTL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    check_json_command(&mut cmd)
}

fn prometheus_binaries() -> Vec<(&'static str, std::path::PathBuf)> {
    let mut found = Vec::new();
    match find_binary("PROMETHEUS_BIN", Some("prometheus")) {
        Some(bin) => found.push(("prometheus 2", bin)),
        None => {
            skip("retention against Prometheus 2 (apt install prometheus, or set PROMETHEUS_BIN)")
        }
    }
    match find_binary("PROMETHEUS3_BIN", None) {
        Some(bin) => found.push(("prometheus 3", bin)),
        None => skip("retention against Prometheus 3 (set PROMETHEUS3_BIN; .ci/unstable-tools.sh fetches it)"),
    }
    found
}

#[test]
fn prometheus_keeping_30d_where_90d_is_declared_fails_the_prometheus_check() {
    for (which, bin) in prometheus_binaries() {
        let dir = TempDir::new("retention-prom30");
        let prom = prometheus(&bin, &dir, "30d");
        let (code, s) = check(
            &dir,
            Parts {
                loki: None,
                prometheus: Some(&prom),
                settings_unit: None,
            },
            &[],
        );
        assert_eq!(
            (code, s["status"].as_str()),
            (1, Some("failed")),
            "{which}: {s:#}"
        );
        let c = check_named(&s, "prometheus retention: storage.tsdb.retention.time");
        assert_eq!(
            (&c["passed"], &c["expected"], &c["actual"]),
            (
                &Value::Bool(false),
                &Value::from("90d"),
                &Value::from("30d")
            ),
            "{which}: {c}"
        );
        // The parts that could not be read are named beside the failure, not hidden by it.
        let problem = s["problem"]["message"].as_str().unwrap();
        assert!(
            problem.contains("loki:") && problem.contains("glitchtip:"),
            "{which}: {problem}"
        );
    }
}

#[test]
fn prometheus_keeping_what_is_declared_passes_its_check_but_unreachable_parts_keep_it_unavailable()
{
    for (which, bin) in prometheus_binaries() {
        let dir = TempDir::new("retention-prom90");
        let prom = prometheus(&bin, &dir, "90d");
        let (code, s) = check(
            &dir,
            Parts {
                loki: None,
                prometheus: Some(&prom),
                settings_unit: None,
            },
            &[],
        );
        assert_eq!(
            (code, s["status"].as_str()),
            (2, Some("unavailable")),
            "{which}: {s:#}"
        );
        assert_eq!(
            checks_with(&s, true),
            vec!["prometheus retention: storage.tsdb.retention.time"],
            "{which}"
        );
        assert!(checks_with(&s, false).is_empty(), "{which}: {s:#}");
    }
}

#[test]
fn nothing_reachable_is_unavailable_naming_every_part() {
    let dir = TempDir::new("retention-none");
    let (code, s) = check(
        &dir,
        Parts {
            loki: None,
            prometheus: None,
            settings_unit: None,
        },
        &[],
    );
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    let problem = s["problem"]["message"].as_str().unwrap();
    for part in ["loki:", "prometheus:", "glitchtip:"] {
        assert!(problem.contains(part), "{part} not named: {problem}");
    }
    assert!(s["checks"].as_array().unwrap().is_empty(), "{s:#}");
}

#[test]
fn a_settings_unit_that_does_not_exist_is_unavailable_not_glitchtips_default() {
    let Some(manager) = user_manager("a_settings_unit_that_does_not_exist") else {
        return;
    };
    let dir = TempDir::new("retention-nounit");
    let (code, s) = check(
        &dir,
        Parts {
            loki: None,
            prometheus: None,
            settings_unit: Some("glitchtip-absent.service"),
        },
        &manager.env(),
    );
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    let problem = s["problem"]["message"].as_str().unwrap();
    assert!(
        problem.contains("glitchtip: systemd has no unit glitchtip-absent.service"),
        "{problem}"
    );
    assert!(
        !checks_with(&s, true)
            .iter()
            .any(|c| c.starts_with("glitchtip retention")),
        "a unit that is not there proves nothing: {s:#}"
    );
    assert_eq!(s["evidence"]["glitchtip"]["load_state"], "not-found");
}

#[test]
fn a_settings_unit_that_is_not_glitchtip_is_unavailable_not_glitchtips_default() {
    // `settings_unit` naming some other service: GLITCHTIP_MAX_EVENT_LIFE_DAYS is unset there
    // as in any unit, which must not read as GlitchTip's default of 90.
    let Some(manager) = user_manager("a_settings_unit_that_is_not_glitchtip") else {
        return;
    };
    let etc = manager.dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("sshd.env"),
        "SSHD_OPTS=-D\nSECRET_KEY=not-glitchtips\n",
    )
    .unwrap();
    manager.unit(
        "sshd-like.service",
        &format!(
            "[Service]\nType=oneshot\nExecStart=/usr/bin/true -D\nEnvironment=LANG=C.UTF-8\nEnvironmentFile={}/sshd.env\n",
            etc.display()
        ),
    );
    let dir = TempDir::new("retention-wrong-unit");
    let run = |unit: &str| {
        check(
            &dir,
            Parts {
                loki: None,
                prometheus: None,
                settings_unit: Some(unit),
            },
            &manager.env(),
        )
    };
    let (code, s) = run("sshd-like.service");
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    assert!(
        !checks_with(&s, true)
            .iter()
            .any(|c| c.starts_with("glitchtip retention")),
        "another service's unset variable proves nothing: {s:#}"
    );
    let problem = s["problem"]["message"].as_str().unwrap();
    assert!(
        problem.contains("cannot find GlitchTip's settings in sshd-like.service"),
        "{problem}"
    );
    assert!(!s.to_string().contains("not-glitchtips"), "a secret leaked");

    // GlitchTip's own unit with the variable unset: its DATABASE_URL and SECRET_KEY show
    // it is GlitchTip, so the default of 90 holds.
    std::fs::write(
        etc.join("glitchtip.env"),
        "DATABASE_URL=postgres:///glitchtip\nSECRET_KEY=do-not-print\n",
    )
    .unwrap();
    manager.unit(
        "gt-web.service",
        &format!(
            "[Service]\nType=oneshot\nExecStart=/usr/bin/true\nEnvironmentFile={}/glitchtip.env\n",
            etc.display()
        ),
    );
    let (code, s) = run("gt-web.service");
    assert_eq!(code, 2, "Loki and Prometheus are unreachable: {s:#}");
    let c = check_named(&s, "glitchtip retention: GLITCHTIP_MAX_EVENT_LIFE_DAYS");
    assert_eq!(c["passed"], true, "{c}");
    assert_eq!(c["actual"], "90 (unset: GlitchTip's default)");
    assert!(!s.to_string().contains("do-not-print"), "a secret leaked");
}

#[test]
fn an_environment_file_setting_30_days_over_environments_90_fails_the_glitchtip_check() {
    let Some(manager) = user_manager("an_environment_file_setting_30_days") else {
        return;
    };
    let etc = manager.dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    // Files override Environment=, later files override earlier ones, `-` files may be absent.
    std::fs::write(
        etc.join("glitchtip-a.env"),
        "GLITCHTIP_MAX_EVENT_LIFE_DAYS=60\nSECRET_KEY=do-not-print\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("glitchtip-b.env"),
        "# retention\nGLITCHTIP_MAX_EVENT_LIFE_DAYS = \"30\"  \n",
    )
    .unwrap();
    let seen = manager.dir.join("seen.env");
    manager.unit(
        "glitchtip-settings.service",
        &format!(
            "[Service]\nType=oneshot\nExecStart=/usr/bin/env\nStandardOutput=file:{seen}\nEnvironment=GLITCHTIP_MAX_EVENT_LIFE_DAYS=90\nEnvironmentFile={etc}/glitchtip-*.env\nEnvironmentFile=-{etc}/absent.env\n",
            seen = seen.display(),
            etc = etc.display(),
        ),
    );
    let dir = TempDir::new("retention-envfile");
    let (code, s) = check(
        &dir,
        Parts {
            loki: None,
            prometheus: None,
            settings_unit: Some("glitchtip-settings.service"),
        },
        &manager.env(),
    );
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let c = check_named(&s, "glitchtip retention: GLITCHTIP_MAX_EVENT_LIFE_DAYS");
    let actual = c["actual"].as_str().unwrap();
    assert!(
        actual.starts_with("30 (from EnvironmentFile=") && actual.contains("glitchtip-b.env"),
        "{c}"
    );
    let shown = s.to_string();
    assert!(!shown.contains("do-not-print"), "a secret leaked: {shown}");

    // What the real service receives is what the scenario read.
    assert!(manager.systemctl(&["start", "glitchtip-settings.service"]));
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(
        env.lines().any(|l| l == "GLITCHTIP_MAX_EVENT_LIFE_DAYS=30"),
        "{env}"
    );

    // With the file gone, the value comes from Environment= and holds.
    std::fs::remove_file(etc.join("glitchtip-a.env")).unwrap();
    std::fs::remove_file(etc.join("glitchtip-b.env")).unwrap();
    std::fs::write(etc.join("glitchtip-c.env"), "OTHER=1\n").unwrap();
    let (code, s) = check(
        &dir,
        Parts {
            loki: None,
            prometheus: None,
            settings_unit: Some("glitchtip-settings.service"),
        },
        &manager.env(),
    );
    assert_eq!(code, 2, "Loki and Prometheus are unreachable: {s:#}");
    let c = check_named(&s, "glitchtip retention: GLITCHTIP_MAX_EVENT_LIFE_DAYS");
    assert_eq!(c["passed"], true, "{c}");
    assert_eq!(c["actual"], "90 (from Environment=)");

    // A required environment file that is missing keeps systemd from starting the unit.
    std::fs::remove_file(etc.join("glitchtip-c.env")).unwrap();
    assert!(
        !manager.systemctl(&["start", "glitchtip-settings.service"]),
        "systemd started a unit whose EnvironmentFile matches nothing"
    );
    let (code, s) = check(
        &dir,
        Parts {
            loki: None,
            prometheus: None,
            settings_unit: Some("glitchtip-settings.service"),
        },
        &manager.env(),
    );
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert!(
        s["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist, so systemd will not start it"),
        "{s:#}"
    );
}

#[test]
fn loki_keeping_7d_where_30d_is_declared_fails_the_loki_check() {
    let Some(bin) = find_binary("LOKI_BIN", Some("loki")) else {
        skip("retention against a real Loki kept for 7 days (set LOKI_BIN)");
        return;
    };
    let dir = TempDir::new("retention-loki7");
    let loki = loki(&bin, &dir, "168h");
    let (code, s) = check(
        &dir,
        Parts {
            loki: Some(&loki),
            prometheus: None,
            settings_unit: None,
        },
        &[],
    );
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let c = check_named(&s, "loki retention: limits_config.retention_period");
    assert_eq!(
        (&c["passed"], &c["actual"]),
        (&Value::Bool(false), &Value::from("7d"))
    );
    assert_eq!(
        check_named(&s, "loki retention: compactor.retention_enabled")["passed"],
        true
    );
}

#[test]
fn every_store_keeping_what_is_declared_passes() {
    let Some(loki_bin) = find_binary("LOKI_BIN", Some("loki")) else {
        skip("the retention positive control needs a real Loki (set LOKI_BIN)");
        return;
    };
    let Some(prom_bin) = find_binary("PROMETHEUS_BIN", Some("prometheus")) else {
        skip("the retention positive control needs Prometheus (set PROMETHEUS_BIN)");
        return;
    };
    let Some(manager) = user_manager("every_store_keeping_what_is_declared_passes") else {
        return;
    };
    manager.unit(
        "glitchtip-ok.service",
        "[Service]\nExecStart=/bin/true\nEnvironment=GLITCHTIP_MAX_EVENT_LIFE_DAYS=90\n",
    );
    let dir = TempDir::new("retention-ok");
    let loki = loki(&loki_bin, &dir, "720h");
    let prom = prometheus(&prom_bin, &dir, "90d");
    let (code, s) = check(
        &dir,
        Parts {
            loki: Some(&loki),
            prometheus: Some(&prom),
            settings_unit: Some("glitchtip-ok.service"),
        },
        &manager.env(),
    );
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    for part in [
        "loki retention:",
        "prometheus retention:",
        "glitchtip retention:",
    ] {
        assert!(
            checks_with(&s, true).iter().any(|c| c.starts_with(part)),
            "{part}: {s:#}"
        );
    }
}
