//! An app-side test as be-platform would write it: start Loki and GlitchTip in containers,
//! run a tiny Rocket-like app with its Sentry DSN and its log sink pointed at them, hit two
//! routes, and assert through the typed clients that the log line reached Loki with its
//! labels and that the panic became a GlitchTip issue.
//!
//! `cargo run -p telltale-testkit --example app_side` (needs Docker or Podman; without one it
//! prints a `skipped:` line and exits 0, unless
//! `TELLTALE_REQUIRE_ENGINE=1`, as in CI).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use telltale_loki::{Direction, Entry, LabelSet, Selector, Stream, Timestamp};
use telltale_testkit::{Stack, NO_ENGINE_HINT};

/// The app under test: two routes, structured log lines to a sink, errors to Sentry.
mod app {
    use super::*;

    /// Serves on `0.0.0.0:<free port>` from its own thread, one thread per request as a
    /// blocking server would; returns the port.
    pub(super) fn serve(logs: tokio::sync::mpsc::UnboundedSender<String>) -> u16 {
        let listener = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let logs = logs.clone();
                std::thread::spawn(move || handle(conn, &logs));
            }
        });
        port
    }

    fn handle(mut conn: TcpStream, logs: &tokio::sync::mpsc::UnboundedSender<String>) {
        let mut buf = [0u8; 2048];
        let n = conn.read(&mut buf).unwrap_or(0);
        let request = String::from_utf8_lossy(&buf[..n]);
        let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
        let _ = logs.send(format!(
            r#"{{"level":"info","msg":"request","path":"{path}"}}"#
        ));
        if path == "/boom" {
            // An unhandled bug: the panic integration reports it, the connection just closes.
            panic!("boom in the handler");
        }
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    }
}

fn get(port: u16, path: &str) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = conn.read_to_string(&mut out);
    out
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stack = match Stack::builder().loki().glitchtip().start().await {
        Ok(stack) => stack,
        Err(e)
            if e.is_no_engine()
                && std::env::var("TELLTALE_REQUIRE_ENGINE").as_deref() != Ok("1") =>
        {
            let line = format!("skipped: no container engine ({NO_ENGINE_HINT})\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let run = format!("app-side-{}", stack.run_id());
    let labels = LabelSet::new([("app", "be-platform"), ("run", run.as_str())]).unwrap();

    // The app's log sink: what Alloy does on meridian (ship its lines to Loki with labels).
    let loki = telltale_loki::Client::new(stack.loki_url().unwrap()).unwrap();
    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let shipper = {
        let loki = loki.clone();
        let labels = labels.clone();
        tokio::spawn(async move {
            while let Some(line) = log_rx.recv().await {
                let stream = Stream::new(labels.clone(), vec![Entry::new(Timestamp::now(), line)]);
                loki.push(&[stream])
                    .await
                    .expect("the log sink pushes to Loki");
            }
        })
    };

    // The app's Sentry setup, as be-platform's main does it.
    let dsn = stack.glitchtip_dsn("be-platform").unwrap().expose();
    let mut options = sentry::ClientOptions::default();
    options.release = Some("app-side-example".into());
    let guard = sentry::init((dsn, options));
    sentry::configure_scope(|scope| scope.set_tag("run", &run));
    let port = app::serve(log_tx);

    assert!(get(port, "/").starts_with("HTTP/1.1 200"));
    let _ = get(port, "/boom");
    tokio::task::spawn_blocking(move || guard.flush(Some(Duration::from_secs(5))))
        .await
        .unwrap();

    // The log line is in Loki, with the app's labels.
    let query = Selector::from(&labels).logs().contains("\"path\":\"/\"");
    let start = Timestamp::now().minus(Duration::from_secs(120));
    let mut found = false;
    for _ in 0..120 {
        let streams = loki
            .read_all(&query, start, Timestamp::now(), Direction::Forward, 100)
            .await
            .unwrap();
        if streams.iter().any(|s| !s.entries.is_empty()) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        found,
        "the app's log line never reached Loki\n{}",
        stack.logs()
    );

    // The panic is a GlitchTip issue.
    let glitchtip = stack.glitchtip().unwrap();
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
    assert!(issue.title.contains("boom in the handler"), "{issue:?}");

    shipper.abort();
    println!(
        "app-side: the log line reached Loki and the panic became issue {}",
        issue.id
    );
}
