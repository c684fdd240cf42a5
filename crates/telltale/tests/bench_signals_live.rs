//! `telltale bench otlp|faro|sentry` against real servers: a short fixed-rate `bench sentry`
//! against the GlitchTip named by `GLITCHTIP_URL` (every event read back through the API), and
//! the OTLP generator pointed at Loki's own OTLP endpoint (`LOKI_URL` + `/otlp`, there being no
//! Alloy here) with every record read back from Loki, and through the Grafana Agent named by
//! `OTLP_HTTP_URL`, whose exporter files the records under other labels (misrouted, not
//! missing); `bench faro` through the Grafana Agent's `app_agent_receiver` (`FARO_RECEIVER_URL`)
//! and the same receiver with its log pipeline cut (`FARO_CUT_RECEIVER_URL`). An absent Alloy
//! makes `otlp` and `faro` exit 2 as unavailable. No assertion here
//! is about speed: figures live in `docs/bench.md`.

use std::path::Path;
use std::time::Duration;

use telltale::bench::{Bench, BenchReport, Settings, Signal};
use telltale::scenario::{Context, Options};
use telltale::stack::Stack;

fn telltale(args: &[&str]) -> (i32, String, String) {
    telltale_testsupport::run(env!("CARGO_BIN_EXE_telltale"), args)
}

fn write_stack(dir: &Path, body: &str) -> String {
    let path = dir.join("stack.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

fn env(var: &str, what: &str) -> Option<String> {
    let value = std::env::var(var).ok().filter(|u| !u.is_empty());
    if value.is_none() {
        telltale_testsupport::skip(&format!("{what} (set {var})"));
    }
    value
}

/// One 3 s `bench otlp` step at `rate` records/s into `receiver`, read back from the Loki at
/// `loki`.
fn otlp_step(loki: &str, receiver: &str, rate: f64, settings: Settings) -> BenchReport {
    let dir = telltale_testsupport::TempDir::new("bench-otlp-live");
    let stack = write_stack(&dir.0, &format!("[loki]\nurl = {loki:?}\n"));
    let stack = Stack::from_file(Path::new(&stack)).unwrap();
    let ctx = Context::new(stack, Options::default());
    let settings = Settings {
        step: Duration::from_secs(3),
        ..settings
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        Bench::new(&ctx, Signal::Otlp, settings)
            .unwrap()
            .receiver(receiver)
            .fixed(rate, |_| {})
            .await
    })
    .unwrap()
}

#[test]
fn bench_sentry_at_a_fixed_rate_reads_every_event_back_through_the_api() {
    let Some(url) = env(
        "GLITCHTIP_URL",
        "telltale bench sentry against a real GlitchTip",
    ) else {
        return;
    };
    let Some(token) = env("GLITCHTIP_TOKEN_FILE", "telltale bench sentry's API token") else {
        return;
    };
    let org = "telltale-bench-live";
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
    let dir = telltale_testsupport::TempDir::new("bench-sentry-live");
    let stack = write_stack(
        &dir.0,
        &format!(
            "[glitchtip]\nurl = {url:?}\norganization = {org:?}\nprojects = [\"be-platform\", \"be-pwa\"]\nauth = {{ file = {token:?} }}\n"
        ),
    );
    let (code, stdout, stderr) = telltale(&[
        "bench",
        "sentry",
        "--stack",
        &stack,
        "--rate",
        "4",
        "--duration",
        "3",
        "--report",
        "json",
    ]);
    let report = telltale_testsupport::json(&stdout, &stderr);
    assert_eq!(report["schema"], "telltale-bench-report", "{report:#}");
    assert_eq!(report["signal"], "sentry");
    assert_eq!(report["mode"], "fixed");
    let step = &report["steps"][0];
    assert_eq!(step["sent"], 12, "{report:#}");
    assert_eq!(step["accepted"], 12, "{report:#}");
    assert_eq!(step["delivery"]["delivered"], 12, "{report:#}");
    assert_eq!(step["delivery"]["missing"], 0, "{report:#}");
    assert_eq!(step["delivery"]["duplicated"], 0, "{report:#}");
    assert_eq!(report["outcome"]["passed"], true, "{report:#}");
    assert!(report["server_version"].is_string(), "{report:#}");
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn bench_otlp_into_lokis_native_otlp_endpoint_reads_every_record_back() {
    let Some(url) = env(
        "LOKI_URL",
        "telltale bench otlp into a real Loki's OTLP endpoint",
    ) else {
        return;
    };
    // No Alloy here: Loki's own OTLP endpoint takes the records, and the same query as
    // through Alloy (`{service_name="telltale"} |= tag`) finds them.
    let receiver = format!("{}/otlp", url.trim_end_matches('/'));
    let report = otlp_step(&url, &receiver, 200.0, Settings::default());
    let step = &report.steps[0];
    assert_eq!(report.signal, "otlp");
    assert!(report.endpoint.ends_with("/otlp/v1/logs"), "{report:#?}");
    assert_eq!(step.sent, 600, "{step:#?}");
    assert_eq!(step.accepted, 600, "{step:#?}");
    assert_eq!(step.delivery.delivered, 600, "{step:#?}");
    assert_eq!(step.delivery.missing, 0, "{step:#?}");
    assert_eq!(step.delivery.duplicated, 0, "{step:#?}");
    assert!(step.bytes > 0 && step.wire_bytes > 0, "{step:#?}");
    assert!(report.outcome.passed, "{report:#?}");
    // Nothing missing, so nothing searched for under other labels.
    assert!(step.read_back.elsewhere.is_none(), "{step:#?}");
}

/// The Grafana Agent (flow mode) named by `OTLP_HTTP_URL` writes OTLP records through
/// `otelcol.exporter.loki`, which sets no `service_name` label: Loki files them under
/// `{exporter="OTLP", service_name="unknown_service"}`, not the promised
/// `{service_name="telltale"}`. The step fails, and says where the records went: misrouted,
/// with the label difference, none missing.
#[test]
fn bench_otlp_through_an_exporter_that_writes_no_service_name_is_misrouted_not_missing() {
    let Some(url) = env("LOKI_URL", "telltale bench otlp misrouted by a real agent") else {
        return;
    };
    let Some(agent) = env(
        "OTLP_HTTP_URL",
        "telltale bench otlp through a real Grafana Agent's OTLP receiver",
    ) else {
        return;
    };
    let settings = Settings {
        // Nothing shows under the promised labels: wait no longer than it takes the agent.
        deadline: Duration::from_secs(5),
        settle: Duration::from_secs(1),
        ..Settings::default()
    };
    let report = otlp_step(&url, &agent, 50.0, settings);
    let step = &report.steps[0];
    let d = &step.delivery;
    assert_eq!((step.sent, step.accepted), (150, 150), "{step:#?}");
    assert_eq!(
        (d.delivered, d.misrouted, d.missing),
        (0, 150, 0),
        "{d:#?}\n{:#}",
        step.read_back.elsewhere.clone().unwrap_or_default()
    );
    let place = &d.misrouted_to[0].found;
    assert!(
        place.starts_with(r#"service_name="unknown_service" instead of "telltale"; extra "#)
            && place.contains(r#"exporter="OTLP""#),
        "{place}"
    );
    assert!(!report.outcome.passed, "{report:#?}");
    let loss = step.checks.iter().find(|c| c.name == "loss").unwrap();
    assert!(
        !loss.passed && loss.actual.contains("150 misrouted"),
        "{loss:?}"
    );
    let elsewhere = step.read_back.elsewhere.as_ref().unwrap();
    assert_eq!(
        elsewhere["queries"][0],
        format!(r#"{{service_name=~".+"}} |= "{}-s1""#, report.run_id),
        "{elsewhere:#}"
    );
    let table = report.human();
    assert!(
        table.contains(r#"150 misrouted (misrouted: 150 under service_name="unknown_service""#),
        "{table}"
    );
}

#[test]
fn otlp_and_faro_without_alloy_could_not_run() {
    let dir = telltale_testsupport::TempDir::new("bench-no-alloy");
    // Port 1 on loopback: nothing listens there.
    let stack = write_stack(
        &dir.0,
        "host = \"127.0.0.1\"\n[alloy]\notlp_http_port = 1\nfaro_port = 1\n",
    );
    for signal in ["otlp", "faro"] {
        let (code, stdout, stderr) = telltale(&[
            "bench",
            signal,
            "--stack",
            &stack,
            "--rate",
            "10",
            "--duration",
            "1",
        ]);
        assert_eq!(code, 2, "{signal}: {stdout}{stderr}");
        assert!(stderr.contains("unavailable"), "{signal}: {stderr}");
        assert!(!stdout.contains("PASSED"), "{signal}: {stdout}");
    }
}

/// One 3 s `bench faro` step at `rate` items/s into the real Faro receiver at `receiver` (the
/// Grafana Agent's `app_agent_receiver`), read back from the Loki at `loki`.
fn faro_step(
    loki: &str,
    receiver: &str,
    key_file: &str,
    rate: f64,
    settings: Settings,
) -> BenchReport {
    let dir = telltale_testsupport::TempDir::new("bench-faro-live");
    let stack = write_stack(
        &dir.0,
        &format!("[loki]\nurl = {loki:?}\n[alloy]\nfaro_api_key = {{ file = {key_file:?} }}\n"),
    );
    let stack = Stack::from_file(Path::new(&stack)).unwrap();
    let ctx = Context::new(stack, Options::default());
    let settings = Settings {
        step: Duration::from_secs(3),
        ..settings
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        Bench::new(&ctx, Signal::Faro, settings)
            .unwrap()
            .receiver(receiver)
            .fixed(rate, |_| {})
            .await
    })
    .unwrap()
}

/// `bench faro` through the real receiver: every item accepted and read back from Loki; through
/// the same receiver with its log pipeline cut (`FARO_CUT_RECEIVER_URL`), every item accepted
/// (202) and every one missing, so the step does not hold.
#[test]
fn bench_faro_through_a_real_receiver_accounts_for_every_item() {
    let Some(loki) = env("LOKI_URL", "telltale bench faro against a real Loki") else {
        return;
    };
    let Some(receiver) = env(
        "FARO_RECEIVER_URL",
        "telltale bench faro through a real Faro receiver",
    ) else {
        return;
    };
    let Some(key) = env("FARO_API_KEY_FILE", "telltale bench faro's API key") else {
        return;
    };
    let report = faro_step(&loki, &receiver, &key, 200.0, Settings::default());
    let step = &report.steps[0];
    let d = &step.delivery;
    assert_eq!((step.sent, step.accepted), (600, 600), "{step:#?}");
    assert_eq!((d.delivered, d.missing, d.misrouted), (600, 0, 0), "{d:#?}");
    assert!(report.outcome.passed, "{report:#?}");

    let Some(cut) = env(
        "FARO_CUT_RECEIVER_URL",
        "telltale bench faro through a receiver whose log pipeline is cut",
    ) else {
        return;
    };
    let settings = Settings {
        deadline: Duration::from_secs(5),
        settle: Duration::from_secs(1),
        ..Settings::default()
    };
    let report = faro_step(&loki, &cut, &key, 200.0, settings);
    let step = &report.steps[0];
    let d = &step.delivery;
    assert_eq!((step.sent, step.accepted), (600, 600), "{step:#?}");
    assert_eq!((d.delivered, d.missing), (0, 600), "{d:#?}");
    assert!(!report.outcome.passed, "{report:#?}");
}
