//! `firewall`: from the vantage point telltale runs on, every declared `host:port` is open or
//! closed as expected, and the public edge lets through only GlitchTip's ingestion paths.
//!
//! Edge probes are written to the socket byte for byte, because an HTTP client normalises
//! `..`, `%2e%2e` and `//` before sending, which would hide exactly the tricks a proxy must
//! refuse. A probe counts as refused when the edge answers 4xx without GlitchTip's JSON error
//! body (`{"detail": …}`, what GlitchTip's API answers an unauthenticated request), or closes the
//! connection; anything else means the request reached something behind the edge.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::stack::PortState;

use super::{Context, Outcome, Stop};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let Some(firewall) = ctx.stack.firewall.clone() else {
        return Err(Stop::unavailable(
            "firewall",
            "the stack description declares no firewall expectations",
            "add a `[firewall]` section with `vantage` and `expect = [{ target = \"host:port\", state = \"closed\" }]`",
        ));
    };
    out.evidence.record("vantage", &firewall.vantage);
    for e in &firewall.expect {
        let target = e.target.clone();
        let state = tokio::task::spawn_blocking(move || probe_port(&target))
            .await
            .map_err(|e| Stop::error("firewall", format!("probe task failed: {e}"), "retry"))?;
        let (actual, detail) = match state {
            Ok(()) => (PortState::Open, "connected".to_owned()),
            Err(why) => (PortState::Closed, why),
        };
        out.evidence.push(
            "ports",
            serde_json::json!({"target": e.target, "expected": e.state, "actual": actual, "detail": detail}),
        );
        out.check(
            format!(
                "{} from {} is {}",
                e.target,
                firewall.vantage,
                word(e.state)
            ),
            actual == e.state,
            word(e.state),
            format!("{} ({detail})", word(actual)),
        );
    }
    if firewall.probe_edge {
        edge(ctx, out).await?;
    }
    Ok(())
}

fn word(state: PortState) -> &'static str {
    match state {
        PortState::Open => "open",
        PortState::Closed => "closed",
    }
}

/// Connects to `host:port`; `Err` says how it failed (refused, timed out, no address).
fn probe_port(target: &str) -> Result<(), String> {
    let addrs: Vec<_> = target
        .to_socket_addrs()
        .map_err(|e| format!("no address for {target}: {e}"))?
        .collect();
    let mut last = format!("no address for {target}");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!(
                    "{addr}: no answer in {}s (dropped)",
                    CONNECT_TIMEOUT.as_secs()
                )
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// Paths the edge must refuse, for project `p`: every other GlitchTip path, and tricks that try
/// to reach them through an allowed prefix.
fn refused_paths(p: u64) -> Vec<String> {
    [
        "/",
        "/login",
        "/admin/",
        "/api/0/",
        "/api/0/projects/",
        "/api/0/organizations/",
        "/api/{p}/events/",
        "/api/{p}/security/",
        "/api/{p}/minidump/",
        "/api/abc/store/",
        "/api/{p}/store/../../0/projects/",
        "/api/{p}/envelope/../../0/organizations/",
        "/api/{p}/store/%2e%2e/%2e%2e/0/projects/",
        "/api/{p}/store/%2E%2E%2F%2E%2E%2F0%2Fprojects%2F",
        "/api/{p}/store/..%2f..%2f0/projects/",
        "/api/{p}/store/..;/..;/0/projects/",
        "//api/0/projects/",
        "/api/{p}/store//../../0/projects/",
        "/API/0/PROJECTS/",
        "/Api/{p}/Store/",
        "/api/{p}/STORE/",
        "/api/{p}/store/%00/../../0/projects/",
    ]
    .iter()
    .map(|t| t.replace("{p}", &p.to_string()))
    .collect()
}

async fn edge(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let Some(edge) = ctx.stack.edge.clone() else {
        return Err(Stop::unavailable(
            "edge",
            "`probe_edge` is set but the stack description has no `[edge]`",
            "add `[edge] url = \"https://errors.example.org\"`",
        ));
    };
    let parsed = url::Url::parse(&edge.url)
        .map_err(|e| Stop::error(&edge.url, format!("not a URL: {e}"), "fix `[edge] url`"))?;
    let dsn = match &edge.dsn {
        Some(cred) => {
            let text = super::read_secret_text("edge.dsn", cred)?;
            Some(telltale_glitchtip::Dsn::parse(&text).map_err(|e| {
                Stop::error(
                    "edge.dsn",
                    e.to_string(),
                    "point `[edge] dsn` at a valid DSN",
                )
            })?)
        }
        None => None,
    };
    let project = dsn.as_ref().map_or(1, |d| d.project_id());
    let tls = match parsed.scheme() {
        "https" => Some(
            ctx.http_with_ca(&edge.url, None, edge.ca_file.as_deref())?
                .tls(),
        ),
        "http" => None,
        other => {
            return Err(Stop::error(
                &edge.url,
                format!("scheme {other} is neither http nor https"),
                "fix `[edge] url`",
            ))
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let prefix = parsed.path().trim_end_matches('/').to_owned();
    for path in refused_paths(project) {
        let full = format!("{prefix}{path}");
        for method in ["GET", "POST"] {
            let (host, full2, tls) = (host.clone(), full.clone(), tls.clone());
            let answer =
                tokio::task::spawn_blocking(move || raw_request(&host, port, tls, method, &full2))
                    .await
                    .map_err(|e| {
                        Stop::error(&edge.url, format!("probe task failed: {e}"), "retry")
                    })?;
            let (refused, seen) = match &answer {
                Ok(a) => (a.is_refusal(), format!("{} {}", a.status, a.snippet())),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(Stop::unavailable(
                        &edge.url,
                        format!("the edge refused the connection: {e}"),
                        "check `[edge] url` and that the edge runs",
                    ))
                }
                Err(e) => (true, format!("connection closed: {e}")),
            };
            out.evidence.push(
                "edge_probes",
                serde_json::json!({"method": method, "path": full, "answer": seen}),
            );
            out.check(
                format!("edge refuses {method} {full}"),
                refused,
                "refused (4xx from the edge, or closed)",
                seen,
            );
        }
    }
    match dsn {
        Some(dsn) => {
            let mut builder = telltale_glitchtip::Ingestor::builder(dsn);
            if let Some(ca) = &edge.ca_file {
                builder = builder.ca_file(ca);
            }
            let ingest = builder
                .build()
                .map_err(|e| Stop::error("edge.dsn", e.to_string(), "check the DSN"))?;
            let event = telltale_glitchtip::NewEvent::message(format!(
                "telltale firewall probe {}",
                ctx.run_id
            ))
            .tag("telltale_run", &ctx.run_id)
            .environment(&ctx.stack.glitchtip.environment);
            let store = ingest.store(&event, Default::default()).await;
            out.check(
                "edge passes POST /api/<id>/store/",
                store.is_ok(),
                "accepted by GlitchTip",
                match &store {
                    Ok(a) => format!("accepted {a:?}"),
                    Err(e) => super::chain(e),
                },
            );
            let event = telltale_glitchtip::NewEvent::message(format!(
                "telltale firewall probe {} (envelope)",
                ctx.run_id
            ))
            .tag("telltale_run", &ctx.run_id)
            .environment(&ctx.stack.glitchtip.environment);
            let envelope = ingest.envelope_event(&event, Default::default()).await;
            out.check(
                "edge passes POST /api/<id>/envelope/",
                envelope.is_ok(),
                "accepted by GlitchTip",
                match &envelope {
                    Ok(a) => format!("accepted {a:?}"),
                    Err(e) => super::chain(e),
                },
            );
        }
        None => out.evidence.record(
            "edge_allowed_paths",
            "not probed: `[edge] dsn` is not set, so only refusals were checked",
        ),
    }
    Ok(())
}

/// What the edge answered.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    body: String,
}

impl RawAnswer {
    fn is_refusal(&self) -> bool {
        (400..500).contains(&self.status) && !self.looks_like_glitchtip()
    }

    /// GlitchTip (Django REST / django-ninja) answers API errors as `{"detail": …}`.
    fn looks_like_glitchtip(&self) -> bool {
        serde_json::from_str::<serde_json::Value>(self.body.trim())
            .ok()
            .is_some_and(|v| v.get("detail").is_some())
    }

    fn snippet(&self) -> String {
        self.body
            .chars()
            .take(120)
            .collect::<String>()
            .replace('\n', " ")
    }
}

/// Sends `method path` exactly as given, with `Connection: close`, and reads the answer.
fn raw_request(
    host: &str,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
) -> std::io::Result<RawAnswer> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("no address for {host}")))?;
    let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let body = if method == "POST" { "{}" } else { "" };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: telltale-firewall\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut raw = Vec::new();
    match tls {
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| std::io::Error::other(format!("bad TLS name {host}: {e}")))?;
            let conn =
                rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            stream.write_all(request.as_bytes())?;
            read_to_end_lenient(&mut stream, &mut raw)?;
        }
        None => {
            let mut tcp = tcp;
            tcp.write_all(request.as_bytes())?;
            read_to_end_lenient(&mut tcp, &mut raw)?;
        }
    }
    parse_answer(&raw)
}

/// Reads until EOF; a peer that closes without TLS close_notify still gave us its answer.
fn read_to_end_lenient(r: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<()> {
    match r.read_to_end(buf) {
        Ok(_) => Ok(()),
        Err(e) if !buf.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(e),
    }
}

fn parse_answer(raw: &[u8]) -> std::io::Result<RawAnswer> {
    let text = String::from_utf8_lossy(raw);
    let status_line = text.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {:?}", status_line)))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok(RawAnswer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn refusals_are_told_from_glitchtip_answers() {
        let edge = parse_answer(b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\n\r\n<html>404</html>")
            .unwrap();
        assert!(edge.is_refusal());
        let glitchtip =
            parse_answer(b"HTTP/1.1 403 Forbidden\r\n\r\n{\"detail\": \"Authentication credentials were not provided.\"}").unwrap();
        assert!(
            !glitchtip.is_refusal(),
            "GlitchTip's own 403 means the edge let it through"
        );
        let ok = parse_answer(b"HTTP/1.1 200 OK\r\n\r\n<html>GlitchTip</html>").unwrap();
        assert!(!ok.is_refusal());
        assert!(parse_answer(b"garbage").is_err());
    }

    #[test]
    fn traversal_paths_reach_the_socket_unnormalised() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let answer = raw_request(
            "127.0.0.1",
            port,
            None,
            "GET",
            "/api/1/store/../../0/projects/",
        )
        .unwrap();
        assert_eq!(answer.status, 404);
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /api/1/store/../../0/projects/ HTTP/1.1\r\n"),
            "{request}"
        );
    }

    #[test]
    fn every_trick_targets_a_forbidden_path() {
        let paths = refused_paths(7);
        assert!(paths.iter().any(|p| p.contains("%2e%2e")));
        assert!(paths.iter().any(|p| p.starts_with("//")));
        assert!(paths.contains(&"/api/7/store/../../0/projects/".to_owned()));
        // None is an allowed path verbatim.
        assert!(!paths
            .iter()
            .any(|p| p == "/api/7/store/" || p == "/api/7/envelope/"));
    }

    #[test]
    fn closed_ports_are_told_apart() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        assert_eq!(probe_port(&open), Ok(()));
        drop(listener);
        let err = probe_port(&open).unwrap_err();
        assert!(err.contains("refused"), "{err}");
    }
}
