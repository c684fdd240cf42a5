//! Live tests: each starts a subset of the stack in containers and proves it works through
//! the typed clients. Without a container engine each prints one `skipped: no container
//! engine (…)` line and returns; with `TELLTALE_REQUIRE_ENGINE=1` (CI) a missing engine fails.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use telltale_glitchtip::{Ingestor, NewEvent, SendOptions};
use telltale_loki::{Direction, Entry, LabelSet, Selector, Stream, Timestamp};
use telltale_testkit::{Error, Service, Stack, StackBuilder, NO_ENGINE_HINT};

/// Starts `builder`, or prints the skip line and returns `None` when no engine answers.
async fn start_or_skip(builder: StackBuilder) -> Option<Stack> {
    match builder.start().await {
        Ok(stack) => Some(stack),
        Err(e @ Error::NoEngine { .. }) => {
            if std::env::var("TELLTALE_REQUIRE_ENGINE").is_ok_and(|v| v == "1") {
                panic!("TELLTALE_REQUIRE_ENGINE=1 but {e}");
            }
            telltale_testsupport::skip(&format!("no container engine ({NO_ENGINE_HINT})"));
            None
        }
        Err(e) => panic!("{e}\n{}", logs_of(&e)),
    }
}

fn logs_of(e: &Error) -> String {
    match e {
        Error::Start { service, logs, .. } => format!("last output of {service}:\n{logs}"),
        _ => String::new(),
    }
}

/// A `/metrics` endpoint on all interfaces, so containers reach it through the host gateway.
fn serve_metrics() -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 2048];
            let _ = conn.read(&mut buf);
            let body = "# TYPE testkit_up gauge\ntestkit_up 1\n";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_and_prometheus_on_one_network_scrape_the_host_and_store_logs() {
    let app_port = serve_metrics();
    let Some(stack) = start_or_skip(Stack::builder().loki().scrape_host("app", app_port)).await
    else {
        return;
    };
    assert_eq!(stack.services(), [Service::Loki, Service::Prometheus]);
    assert!(stack.glitchtip_url().is_none() && stack.alloy_otlp_http_url().is_none());

    let loki = telltale_loki::Client::new(stack.loki_url().unwrap()).unwrap();
    let run = format!("testkit-{}", stack.run_id());
    let labels = LabelSet::new([("app", "testkit"), ("run", run.as_str())]).unwrap();
    let now = Timestamp::now();
    let report = loki
        .push(&[Stream::new(
            labels.clone(),
            vec![Entry::new(now, "hello from the testkit")],
        )])
        .await
        .unwrap();
    assert_eq!(report.accepted(), 1);
    let query = Selector::from(&labels).logs();
    let streams = loki
        .read_all(
            &query,
            now.minus(Duration::from_secs(60)),
            Timestamp::now(),
            Direction::Forward,
            100,
        )
        .await
        .unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].entries[0].line, "hello from the testkit");

    let prometheus = telltale_prometheus::Client::new(stack.prometheus_url().unwrap()).unwrap();
    let up = telltale_testsupport::eventually(Duration::from_secs(60), || async {
        let targets = prometheus
            .targets(telltale_prometheus::TargetState::Active)
            .await
            .ok()?;
        let app = targets
            .active_targets
            .into_iter()
            .find(|t| t.scrape_pool == "app")?;
        (app.health == telltale_prometheus::api::Health::Up).then_some(app)
    })
    .await;
    assert!(
        up.is_some(),
        "the host app was never scraped up\n{}",
        stack.logs()
    );
    assert_eq!(stack.description().scrape.jobs, ["prometheus", "app"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloy_writes_faro_logs_to_the_loki_container_and_grafana_is_provisioned() {
    let Some(stack) = start_or_skip(Stack::builder().alloy().grafana()).await else {
        return;
    };
    assert_eq!(
        stack.services(),
        [Service::Loki, Service::Alloy, Service::Grafana]
    );
    let run = format!("testkit-{}", stack.run_id());
    let mut payload = telltale_faro::PayloadBuilder::new(run.clone()).unwrap();
    payload.log(telltale_faro::LogLevel::Info, "faro through alloy");
    let faro = telltale_faro::Client::new(stack.alloy_faro_url().unwrap()).unwrap();
    faro.send(&payload.take()).await.unwrap();

    let loki = telltale_loki::Client::new(stack.loki_url().unwrap()).unwrap();
    let query = Selector::new()
        .eq("source", "pwa-faro")
        .unwrap()
        .logs()
        .contains(&run);
    let start = Timestamp::now().minus(Duration::from_secs(300));
    let seen = telltale_testsupport::eventually(Duration::from_secs(60), || async {
        let streams = loki
            .read_all(&query, start, Timestamp::now(), Direction::Forward, 100)
            .await
            .ok()?;
        streams
            .iter()
            .flat_map(|s| &s.entries)
            .any(|e| e.line.contains("faro through alloy"))
            .then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "the Faro log never reached Loki\n{}",
        stack.logs()
    );

    let grafana = stack.grafana_url().unwrap();
    let password_file = stack
        .description()
        .grafana
        .admin_password
        .clone()
        .unwrap()
        .file
        .unwrap();
    let password = std::fs::read_to_string(password_file).unwrap();
    let body = http_get_basic(&grafana, "/api/datasources", "admin", &password).await;
    assert!(body.contains("\"type\":\"loki\""), "{body}");
    assert!(
        !body.contains("\"type\":\"prometheus\""),
        "only what runs is provisioned: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glitchtip_hands_back_dsns_that_turn_events_into_issues() {
    let Some(stack) = start_or_skip(Stack::builder().glitchtip()).await else {
        return;
    };
    let glitchtip = stack.glitchtip().unwrap();
    let dsn = stack.glitchtip_dsn("be-platform").unwrap().clone();
    assert!(stack.glitchtip_dsn("be-pwa").is_some());
    assert!(stack.glitchtip_dsn("telltale-canary").is_none());
    let run = format!("testkit-{}", stack.run_id());
    Ingestor::new(dsn)
        .unwrap()
        .envelope_event(
            &NewEvent::message("testkit says hello").tag("run", &run),
            SendOptions::default(),
        )
        .await
        .unwrap();
    let issue = glitchtip
        .client()
        .wait_for_tagged_issue(
            glitchtip.organization(),
            "run",
            &run,
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.logs()));
    assert!(issue.title.contains("testkit says hello"), "{issue:?}");
    let token = stack
        .description()
        .glitchtip
        .auth
        .clone()
        .unwrap()
        .file
        .unwrap();
    assert!(
        std::fs::metadata(token).is_ok(),
        "the description's token file exists"
    );
}

/// A bare HTTP/1.0 GET with basic auth, enough to read Grafana's datasource list.
async fn http_get_basic(base: &str, path: &str, user: &str, password: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(authority).await.unwrap();
    let credentials = base64(format!("{user}:{password}").as_bytes());
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAuthorization: Basic {credentials}\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "{text}"
    );
    text
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"admin:pw"), "YWRtaW46cHc=");
}
