//! `firewall`: from the vantage point telltale runs on, every declared `host:port` is open,
//! closed or filtered as expected, and the public edge lets through only GlitchTip's ingestion
//! paths.
//!
//! **Ports.** Each address a target resolves to is probed with one TCP connect: connected is
//! open, a reset is closed, silence (a timeout, an ICMP unreachable) is filtered. Silence is
//! only evidence when the same address answered on another declared port (connected or reset),
//! which proves the host is up; otherwise the host may be down or unroutable, and the
//! expectation is not proven (`unavailable`), never passed. A name that does not resolve is
//! never "closed".
//!
//! **Edge.** Probes are written to the socket byte for byte, because an HTTP client normalises
//! `..`, `%2e%2e` and `//` before sending, which would hide exactly the tricks a proxy must
//! refuse. Who answered is told apart by headers, not by the body's shape:
//! - the edge's own answer is learnt from a request no proxy forwards (HTTP/1.1 without `Host`,
//!   which RFC 9112 §3.2 makes the server answer 400 itself);
//! - GlitchTip's answer is learnt from the allowed ingestion paths (an `OPTIONS`, which
//!   GlitchTip answers without authenticating, so no event and no key block);
//! - the headers GlitchTip's answers carry and the edge's own lack (Django's `X-Frame-Options`,
//!   `Content-Security-Policy`, … or another `Server`) are the markers. A probe is refused when
//!   the edge answers 4xx without any marker, or closes the connection without a byte after
//!   taking the whole request (nginx's `return 444`), which counts only because the same edge
//!   answered its own control in HTTP before the probes and again right after the hang-up. Any answer carrying a marker reached GlitchTip. No answer at
//!   all (DNS, TLS, timeout) proves nothing and makes the scenario `unavailable`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::stack::{split_target, PortExpectation, PortState};

use super::{Context, Outcome, Stop};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(10);

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
    let names: Vec<String> = firewall
        .expect
        .iter()
        .map(|e| port_check_name(e, &firewall.vantage))
        .collect();
    out.requires(&names.iter().map(String::as_str).collect::<Vec<_>>());

    // Every target at once: a dropped port costs a whole connect timeout.
    let probes: Vec<_> = firewall
        .expect
        .iter()
        .map(|e| {
            let target = e.target.clone();
            tokio::task::spawn_blocking(move || probe_target(&target))
        })
        .collect();
    let mut seen = Vec::with_capacity(probes.len());
    for p in probes {
        seen.push(
            p.await
                .map_err(|e| Stop::error("firewall", format!("probe task failed: {e}"), "retry"))?,
        );
    }
    let live = live_hosts(&firewall.expect, &seen);
    out.evidence.record(
        "port_rule",
        "connected = open; reset = closed; no answer or ICMP unreachable = filtered, but only \
         on an address that answered on another declared port (host proven up); otherwise \
         nothing is proven",
    );
    let mut unproven = Vec::new();
    for ((e, name), seen) in firewall.expect.iter().zip(&names).zip(&seen) {
        let verdict = judge(e.state, seen, &live);
        out.evidence.push(
            "ports",
            serde_json::json!({
                "target": e.target,
                "expected": e.state.as_str(),
                "addresses": match seen {
                    Ok(addrs) => addrs.iter().map(|(a, s)| serde_json::json!({"address": a.to_string(), "seen": s.describe()})).collect(),
                    Err(why) => vec![serde_json::json!({"error": why})],
                },
                "verdict": match &verdict {
                    Verdict::Proven { actual, .. } => actual.clone(),
                    Verdict::Unproven(why) => format!("not proven: {why}"),
                },
            }),
        );
        match verdict {
            Verdict::Proven { passed, actual } => {
                out.check(name.clone(), passed, e.state.as_str(), actual);
            }
            // An address target already leads its own message.
            Verdict::Unproven(why) if why.starts_with(&e.target) => unproven.push(why),
            Verdict::Unproven(why) => unproven.push(format!("{}: {why}", e.target)),
        }
    }
    if firewall.probe_edge {
        if let Err(mut stop) = edge(ctx, out, &mut unproven).await {
            if !unproven.is_empty() {
                stop.problem.message = format!(
                    "{}; also could not prove: {}",
                    stop.problem.message,
                    unproven.join("; ")
                );
            }
            return Err(stop);
        }
    }
    if unproven.is_empty() {
        return Ok(());
    }
    Err(Stop::unavailable(
        "firewall",
        format!("could not prove: {}", unproven.join("; ")),
        "a name must resolve from this vantage point; silence only counts as closed or filtered \
         when the same host answered on another declared port, so declare one port that is \
         open (or answers with a reset) on each host; an edge must give an HTTP answer",
    ))
}

fn port_check_name(e: &PortExpectation, vantage: &str) -> String {
    format!("{} from {vantage} is {}", e.target, e.state.as_str())
}

/// What one TCP connect to one address saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// The handshake completed.
    Connected,
    /// A reset answered the SYN: the host is up and the port closed.
    Refused,
    /// No answer in time, or an ICMP unreachable: dropped or rejected on the way, or the host
    /// is down; only evidence on a host proven up.
    Silent(String),
    /// A local failure that says nothing about the target.
    Unknown(String),
}

impl Seen {
    fn describe(&self) -> String {
        match self {
            Seen::Connected => "connected".into(),
            Seen::Refused => "refused (reset)".into(),
            Seen::Silent(why) | Seen::Unknown(why) => why.clone(),
        }
    }
}

/// Resolves `target` and connects to each of its addresses; `Err` when it has none.
fn probe_target(target: &str) -> Result<Vec<(SocketAddr, Seen)>, String> {
    let (host, port) =
        split_target(target).ok_or_else(|| format!("{target:?} is not `host:port`"))?;
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host} does not resolve from here: {e}"))?
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(addrs.into_iter().map(|a| (a, connect(a))).collect())
}

fn connect(addr: SocketAddr) -> Seen {
    use std::io::ErrorKind;
    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(_) => Seen::Connected,
        Err(e) => match e.kind() {
            ErrorKind::ConnectionRefused => Seen::Refused,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                Seen::Silent(format!("no answer in {}s", CONNECT_TIMEOUT.as_secs()))
            }
            ErrorKind::HostUnreachable => {
                Seen::Silent(format!("host unreachable (ICMP, or no neighbour): {e}"))
            }
            ErrorKind::NetworkUnreachable => Seen::Silent(format!("network unreachable: {e}")),
            _ => Seen::Unknown(format!("could not try: {e}")),
        },
    }
}

/// Addresses that answered on some declared port, with the target that proved it.
fn live_hosts(
    expect: &[PortExpectation],
    seen: &[Result<Vec<(SocketAddr, Seen)>, String>],
) -> BTreeMap<IpAddr, String> {
    let mut live = BTreeMap::new();
    for (e, seen) in expect.iter().zip(seen) {
        for (addr, s) in seen.iter().flatten() {
            if matches!(s, Seen::Connected | Seen::Refused) {
                live.entry(addr.ip()).or_insert_with(|| {
                    if e.target == addr.to_string() {
                        format!("{addr} {}", s.describe())
                    } else {
                        format!("{addr} ({}) {}", e.target, s.describe())
                    }
                });
            }
        }
    }
    live
}

/// An expectation's outcome: a check, or why nothing could be proven.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Proven { passed: bool, actual: String },
    Unproven(String),
}

/// Judges one expectation over every address of its target: it holds when it holds for each.
fn judge(
    expected: PortState,
    seen: &Result<Vec<(SocketAddr, Seen)>, String>,
    live: &BTreeMap<IpAddr, String>,
) -> Verdict {
    let addrs = match seen {
        Ok(a) => a,
        Err(why) => return Verdict::Unproven(why.clone()),
    };
    let mut states = Vec::new();
    let mut unproven = Vec::new();
    for (addr, s) in addrs {
        match s {
            Seen::Connected => states.push((PortState::Open, format!("{addr} connected"))),
            Seen::Refused => states.push((PortState::Closed, format!("{addr} refused (reset)"))),
            Seen::Silent(why) => match live.get(&addr.ip()) {
                Some(proof) => states.push((
                    PortState::Filtered,
                    format!("{addr}: {why}; the host is up: {proof}"),
                )),
                None => unproven.push(format!(
                    "{addr}: {why}, and it answered on no other declared port, so the host may be down or unroutable"
                )),
            },
            Seen::Unknown(why) => unproven.push(format!("{addr}: {why}")),
        }
    }
    let holds = |actual: PortState| match expected {
        PortState::Open => actual == PortState::Open,
        PortState::Closed => actual != PortState::Open,
        PortState::Filtered => actual == PortState::Filtered,
    };
    let wrong: Vec<_> = states.iter().filter(|(s, _)| !holds(*s)).collect();
    let describe = |list: &[&(PortState, String)]| {
        list.iter()
            .map(|(s, d)| format!("{} ({d})", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !wrong.is_empty() {
        return Verdict::Proven {
            passed: false,
            actual: describe(&wrong),
        };
    }
    if !unproven.is_empty() {
        return Verdict::Unproven(unproven.join("; "));
    }
    Verdict::Proven {
        passed: true,
        actual: describe(&states.iter().collect::<Vec<_>>()),
    }
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

/// Where and how to reach the edge.
#[derive(Debug, Clone)]
struct EdgeConn {
    addrs: Vec<SocketAddr>,
    host_header: String,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls_pki_types::ServerName<'static>,
    )>,
}

async fn exchange(conn: &EdgeConn, request: Vec<u8>) -> Result<Exchange, Stop> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || exchange_blocking(&conn, &request))
        .await
        .map_err(|e| Stop::error("edge", format!("probe task failed: {e}"), "retry"))
}

async fn edge(ctx: &Context, out: &mut Outcome, unproven: &mut Vec<String>) -> Result<(), Stop> {
    let Some(edge) = ctx.stack.edge.clone() else {
        return Err(Stop::error(
            "edge",
            "`probe_edge` is set but the stack description has no `[edge]`",
            "add `[edge] url = \"https://errors.example.org\"`",
        ));
    };
    let url = edge.url.clone();
    let parsed = url::Url::parse(&url)
        .map_err(|e| Stop::error(&url, format!("not a URL: {e}"), "fix `[edge] url`"))?;
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
    let prefix = parsed.path().trim_end_matches('/').to_owned();
    let allowed: Vec<String> = ["store", "envelope"]
        .iter()
        .map(|kind| format!("{prefix}/api/{project}/{kind}/"))
        .collect();
    let refused = refused_paths(project);
    let mut names: Vec<String> = allowed
        .iter()
        .map(|p| format!("edge forwards {p} to GlitchTip"))
        .collect();
    for path in &refused {
        for method in ["GET", "POST"] {
            names.push(format!("edge refuses {method} {prefix}{path}"));
        }
    }
    if dsn.is_some() {
        names.push("edge passes POST /api/<id>/store/".into());
        names.push("edge passes POST /api/<id>/envelope/".into());
    }
    out.requires(&names.iter().map(String::as_str).collect::<Vec<_>>());

    let conn = edge_conn(ctx, &edge, &parsed).await?;

    // 1. The edge's own answer: HTTP/1.1 without Host, which no proxy may forward.
    let own = match exchange(&conn, own_answer_request(&prefix)).await? {
        Exchange::Answer(a) => a,
        other => {
            return Err(Stop::unavailable(
                &url,
                format!("the edge gave no HTTP answer: {}", other.describe()),
                no_answer_hint(&parsed),
            ))
        }
    };
    // 2. GlitchTip's answer, through the allowed paths. When GlitchTip itself answers from
    // here, each control goes to it too, and only headers it sends count: an edge may answer a
    // control itself (a CORS preflight) with headers of its own that its 400 lacks.
    let direct = glitchtip_direct(ctx).await;
    let direct_paths: Vec<String> = ["store", "envelope"]
        .iter()
        .map(|kind| {
            let base = direct.as_ref().map_or("", |(_, p)| p.as_str());
            format!("{base}/api/{project}/{kind}/")
        })
        .collect();
    let mut markers: BTreeSet<Marker> = BTreeSet::new();
    let mut controls = Vec::new();
    let mut glitchtip_down = Vec::new();
    for ((path, name), direct_path) in allowed.iter().zip(&names).zip(&direct_paths) {
        let mut tried = Vec::new();
        let mut found = None;
        let mut down = None;
        // OPTIONS first: GlitchTip answers it without looking at a key, so it neither creates
        // an event nor trips its 30 s per-project block for bad keys. An edge that forwards
        // only POST gets a keyless `{}` POST.
        for method in ["OPTIONS", "POST"] {
            let answer = exchange(&conn, probe_request(method, path, &conn.host_header)).await?;
            let mut carried = match &answer {
                Exchange::Answer(a) => marker_set(a, &own),
                _ => BTreeSet::new(),
            };
            let mut straight = serde_json::Value::Null;
            if let (false, Some((direct, _))) = (carried.is_empty(), &direct) {
                let request = probe_request(method, direct_path, &direct.host_header);
                match exchange(direct, request).await? {
                    Exchange::Answer(d) => {
                        carried.retain(|m| m.matches(&d));
                        straight = serde_json::json!({
                            "answer": Exchange::Answer(d.clone()).describe(),
                            "headers": d.header_names(),
                        });
                    }
                    other => {
                        straight =
                            format!("no answer, so not compared: {}", other.describe()).into();
                    }
                }
            }
            tried.push(serde_json::json!({
                "method": method,
                "answer": answer.describe(),
                "straight_to_glitchtip": straight,
                "markers": carried.iter().map(Marker::to_string).collect::<Vec<_>>(),
            }));
            match &answer {
                _ if !carried.is_empty() => {
                    found = Some((method, answer, carried));
                    break;
                }
                Exchange::NoAnswer(why) => {
                    return Err(Stop::unavailable(
                        &url,
                        format!("no answer from the edge for {method} {path}: {why}"),
                        no_answer_hint(&parsed),
                    ))
                }
                // The edge tried to forward and found nothing behind it.
                Exchange::Answer(a) if matches!(a.status, 502..=504) => {
                    down = Some(format!("{method} {path}: {}", answer.describe()));
                    break;
                }
                _ => {}
            }
        }
        controls.push(serde_json::json!({"path": path, "tried": tried}));
        let expected = "an answer carrying headers the edge's own answers lack";
        match (found, down) {
            (Some((method, answer, carried)), _) => {
                out.check(
                    name.clone(),
                    true,
                    expected,
                    format!(
                        "{method}: {} with {}",
                        answer.describe(),
                        carried
                            .iter()
                            .map(Marker::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                markers.extend(carried);
            }
            (None, Some(down)) => glitchtip_down.push(down),
            (None, None) => {
                out.check(
                    name.clone(),
                    false,
                    expected,
                    "only the edge's own answers (no header its own answer lacks): it refuses the ingestion path",
                );
            }
        }
    }
    out.evidence.record(
        "edge_rule",
        serde_json::json!({
            "criterion": "a probe is refused when the edge answers 4xx carrying none of the markers, or closes the connection without a byte after taking the whole request (counted only because the same edge answered the controls in HTTP); an answer carrying any marker reached GlitchTip; no answer proves nothing",
            "edge_own_answer": {"request": "GET without Host (RFC 9112 §3.2: the server itself must answer 400)", "status": own.status, "headers": own.header_names()},
            "glitchtip_controls": controls,
            "markers": markers.iter().map(Marker::to_string).collect::<Vec<_>>(),
        }),
    );
    if markers.is_empty() {
        let message = if glitchtip_down.is_empty() {
            "no answer through the edge carried headers the edge's own answers lack, so GlitchTip's answers cannot be told from the edge's".to_owned()
        } else {
            format!(
                "GlitchTip does not answer behind the edge ({}), so its answers cannot be told from the edge's",
                glitchtip_down.join("; ")
            )
        };
        return Err(Stop::unavailable(
            &url,
            message,
            "make sure GlitchTip runs behind the edge and that the edge forwards POST or OPTIONS on /api/<id>/store/ and /api/<id>/envelope/",
        ));
    }

    // 3. The probes.
    for path in &refused {
        let full = format!("{prefix}{path}");
        for method in ["GET", "POST"] {
            let mut answer =
                exchange(&conn, probe_request(method, &full, &conn.host_header)).await?;
            if let Exchange::Closed(why) = &answer {
                // A hang-up is the edge's choice only if the edge is still there to choose:
                // it must answer its own control again right after.
                let again = exchange(&conn, own_answer_request(&prefix)).await?;
                if !matches!(again, Exchange::Answer(_)) {
                    answer = Exchange::NoAnswer(format!(
                        "{why}, and the edge gave no HTTP answer to the control right after"
                    ));
                }
            }
            let name = format!("edge refuses {method} {full}");
            let verdict = refusal(&answer, &markers);
            out.evidence.push(
                "edge_probes",
                serde_json::json!({"method": method, "path": full, "answer": answer.describe(), "verdict": match &verdict { Some((_, v)) => v.clone(), None => "no answer: proves nothing".into() }}),
            );
            match verdict {
                Some((passed, actual)) => {
                    out.check(name, passed, "refused by the edge itself", actual);
                }
                None => unproven.push(format!("{method} {full}: {}", answer.describe())),
            }
        }
    }

    match dsn {
        Some(dsn) => ingest_through_edge(ctx, out, &edge, dsn, unproven).await?,
        None => out.evidence.record(
            "edge_allowed_paths",
            "no event sent: `[edge] dsn` is not set, so the ingestion paths were shown to reach GlitchTip by the controls only",
        ),
    }
    Ok(())
}

/// GlitchTip itself (`glitchtip.url`), when its address resolves from here, with its path
/// prefix; `None` when it does not, and then the controls are judged by the edge alone.
async fn glitchtip_direct(ctx: &Context) -> Option<(EdgeConn, String)> {
    let url = ctx.stack.glitchtip.base_url(&ctx.stack.host);
    let parsed = url::Url::parse(&url).ok()?;
    let target = crate::stack::Edge {
        url,
        dsn: None,
        ca_file: None,
    };
    let conn = edge_conn(ctx, &target, &parsed).await.ok()?;
    Some((conn, parsed.path().trim_end_matches('/').to_owned()))
}

fn no_answer_hint(url: &url::Url) -> String {
    format!(
        "check `[edge] url` ({url}): the name must resolve from this vantage point, the port must accept connections, and an `https://` URL needs TLS on that port (a plain-HTTP port answers with `http://`)"
    )
}

async fn edge_conn(
    ctx: &Context,
    edge: &crate::stack::Edge,
    parsed: &url::Url,
) -> Result<EdgeConn, Stop> {
    let url = edge.url.as_str();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let (addrs, name) = match parsed.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.to_owned();
            let lookup = d.clone();
            let addrs = tokio::task::spawn_blocking(move || {
                (lookup.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>())
            })
            .await
            .map_err(|e| Stop::error(url, format!("lookup task failed: {e}"), "retry"))?
            .map_err(|e| {
                Stop::unavailable(
                    url,
                    format!("the edge's name {d} does not resolve from here: {e}"),
                    "fix `[edge] url`, or the DNS of this vantage point",
                )
            })?;
            (addrs, d)
        }
        Some(url::Host::Ipv4(ip)) => (vec![SocketAddr::from((ip, port))], ip.to_string()),
        Some(url::Host::Ipv6(ip)) => (vec![SocketAddr::from((ip, port))], ip.to_string()),
        None => return Err(Stop::error(url, "the URL has no host", "fix `[edge] url`")),
    };
    if addrs.is_empty() {
        return Err(Stop::unavailable(
            url,
            format!("the edge's name {name} resolves to no address"),
            "fix `[edge] url`, or the DNS of this vantage point",
        ));
    }
    let host_header = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_owned(),
    };
    let tls = match parsed.scheme() {
        "https" => {
            let mut config = (*ctx.http_with_ca(url, None, edge.ca_file.as_deref())?.tls()).clone();
            // The probes speak HTTP/1.1 by hand.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let server_name =
                rustls_pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                    Stop::error(url, format!("bad TLS name {name}: {e}"), "fix `[edge] url`")
                })?;
            Some((Arc::new(config), server_name))
        }
        "http" => None,
        other => {
            return Err(Stop::error(
                url,
                format!("scheme {other} is neither http nor https"),
                "fix `[edge] url`",
            ))
        }
    };
    Ok(EdgeConn {
        addrs,
        host_header,
        tls,
    })
}

/// Sends a real event through each ingestion path with the DSN; the answer must name it.
async fn ingest_through_edge(
    ctx: &Context,
    out: &mut Outcome,
    edge: &crate::stack::Edge,
    dsn: telltale_glitchtip::Dsn,
    unproven: &mut Vec<String>,
) -> Result<(), Stop> {
    use super::{Class, Failure};
    let mut builder = telltale_glitchtip::Ingestor::builder(dsn);
    if let Some(ca) = &edge.ca_file {
        builder = builder.ca_file(ca);
    }
    let ingest = builder
        .build()
        .map_err(|e| Stop::error("edge.dsn", e.to_string(), "check the DSN"))?;
    for kind in ["store", "envelope"] {
        let event = telltale_glitchtip::NewEvent::message(format!(
            "telltale firewall probe {} ({kind})",
            ctx.run_id
        ))
        .environment(&ctx.stack.glitchtip.environment)
        .tag("telltale_run", &ctx.run_id);
        let sent = if kind == "store" {
            ingest.store(&event, Default::default()).await
        } else {
            ingest.envelope_event(&event, Default::default()).await
        };
        let name = format!("edge passes POST /api/<id>/{kind}/");
        let want = normalise_id(event.event_id());
        match sent {
            Ok(a) => {
                let got = a.event_id.as_deref().map(normalise_id);
                out.check(
                    name,
                    got.as_deref() == Some(want.as_str()),
                    format!("GlitchTip accepts event {want}"),
                    format!(
                        "{} naming {}",
                        a.status,
                        got.as_deref().unwrap_or("no event id")
                    ),
                );
            }
            Err(e) if e.class() == Class::Unreachable => {
                unproven.push(format!("POST /api/<id>/{kind}/: {}", super::chain(&e)))
            }
            Err(e) if e.class() == Class::Setup => {
                return Err(Stop::error("edge.dsn", super::chain(&e), "check the DSN"))
            }
            Err(e) => {
                out.check(
                    name,
                    false,
                    format!("GlitchTip accepts event {want}"),
                    super::chain(&e),
                );
            }
        }
    }
    Ok(())
}

fn normalise_id(id: &str) -> String {
    id.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether `answer` is the edge refusing: `Some((passed, actual))`, or `None` when there was no
/// answer, which proves nothing.
fn refusal(answer: &Exchange, markers: &BTreeSet<Marker>) -> Option<(bool, String)> {
    match answer {
        Exchange::Answer(a) => {
            let carried: Vec<String> = markers
                .iter()
                .filter(|m| m.matches(a))
                .map(Marker::to_string)
                .collect();
            Some(if !carried.is_empty() {
                (
                    false,
                    format!(
                        "reached GlitchTip: {} carrying {}",
                        answer.describe(),
                        carried.join(", ")
                    ),
                )
            } else if (400..500).contains(&a.status) {
                (
                    true,
                    format!(
                        "{} from the edge itself (none of GlitchTip's headers)",
                        answer.describe()
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "the edge answered {} itself: not a refusal",
                        answer.describe()
                    ),
                )
            })
        }
        Exchange::Closed(why) => Some((
            true,
            format!("{why}: the edge took the request and hung up, and answered its control in HTTP before and after"),
        )),
        Exchange::NoAnswer(_) => None,
    }
}

/// A header that tells GlitchTip's answers from the edge's own: present (with this value, when
/// `value` is set) in GlitchTip's answers, absent from the edge's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Marker {
    name: String,
    value: Option<String>,
}

impl Marker {
    fn matches(&self, a: &RawAnswer) -> bool {
        match &self.value {
            None => a.header(&self.name).is_some(),
            Some(v) => a.header(&self.name) == Some(v.as_str()),
        }
    }
}

impl std::fmt::Display for Marker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            None => f.write_str(&self.name),
            Some(v) => write!(f, "{}: {v}", self.name),
        }
    }
}

/// Headers that any server may send on any answer, or that vary per answer, and the CORS and
/// caching headers an edge adds when it answers a preflight or serves from a cache itself; they
/// tell nothing about who answered. Every `access-control-*` header is one of them too.
const GENERIC_HEADERS: &[&str] = &[
    "accept-ranges",
    "age",
    "allow",
    "alt-svc",
    "cache-control",
    "cdn-cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "etag",
    "expires",
    "keep-alive",
    "last-modified",
    "location",
    "pragma",
    "retry-after",
    "server",
    "strict-transport-security",
    "surrogate-control",
    "timing-allow-origin",
    "transfer-encoding",
    "vary",
    "via",
    "x-cache",
    "x-cache-status",
    "x-proxy-cache",
];

fn is_generic(name: &str) -> bool {
    GENERIC_HEADERS.contains(&name) || name.starts_with("access-control-")
}

/// The markers `backend` shows against the edge's `own` answer: header names it carries and
/// `own` lacks, and its `Server` when the edge's differs.
fn marker_set(backend: &RawAnswer, own: &RawAnswer) -> BTreeSet<Marker> {
    let own_names = own.header_names();
    let mut set: BTreeSet<Marker> = backend
        .header_names()
        .into_iter()
        .filter(|n| !is_generic(n) && !own_names.contains(n))
        .map(|name| Marker { name, value: None })
        .collect();
    if let Some(server) = backend.header("server") {
        if own.header("server") != Some(server) {
            set.insert(Marker {
                name: "server".into(),
                value: Some(server.to_owned()),
            });
        }
    }
    set
}

/// `GET {prefix}/` without `Host`.
fn own_answer_request(prefix: &str) -> Vec<u8> {
    format!("GET {prefix}/ HTTP/1.1\r\nUser-Agent: telltale-firewall\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// `method path` exactly as given, with `Connection: close`; a POST carries `{}`.
fn probe_request(method: &str, path: &str, host: &str) -> Vec<u8> {
    let body = if method == "POST" {
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    } else {
        "\r\n"
    };
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: telltale-firewall\r\nConnection: close\r\n{body}"
    )
    .into_bytes()
}

/// What one exchange with the edge came to.
#[derive(Debug)]
enum Exchange {
    /// An HTTP answer.
    Answer(RawAnswer),
    /// The whole request was written, then the connection ended without one byte back.
    Closed(String),
    /// Nothing to judge: no connection, no TLS, a timeout, or bytes that are not HTTP.
    NoAnswer(String),
}

impl Exchange {
    fn describe(&self) -> String {
        match self {
            Exchange::Answer(a) => {
                let snippet = a.snippet();
                if snippet.is_empty() {
                    a.status.to_string()
                } else {
                    format!("{} {snippet}", a.status)
                }
            }
            Exchange::Closed(why) | Exchange::NoAnswer(why) => why.clone(),
        }
    }
}

fn exchange_blocking(conn: &EdgeConn, request: &[u8]) -> Exchange {
    let mut failures = Vec::new();
    let mut tcp = None;
    for addr in &conn.addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => failures.push(format!("could not connect to {addr}: {e}")),
        }
    }
    let Some(tcp) = tcp else {
        return Exchange::NoAnswer(failures.join("; "));
    };
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| "the edge".to_owned(), |a| a.to_string());
    if let Err(e) = tcp
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(READ_TIMEOUT)))
    {
        return Exchange::NoAnswer(format!("could not set timeouts: {e}"));
    }
    match &conn.tls {
        None => talk(tcp, request),
        Some((config, name)) => {
            let mut tls = match rustls::ClientConnection::new(config.clone(), name.clone()) {
                Ok(c) => c,
                Err(e) => return Exchange::NoAnswer(format!("TLS setup failed: {e}")),
            };
            let mut tcp = tcp;
            while tls.is_handshaking() {
                if let Err(e) = tls.complete_io(&mut tcp) {
                    return Exchange::NoAnswer(format!("TLS handshake with {peer} failed: {e}"));
                }
            }
            talk(rustls::StreamOwned::new(tls, tcp), request)
        }
    }
}

fn talk(mut stream: impl Read + Write, request: &[u8]) -> Exchange {
    use std::io::ErrorKind;
    if let Err(e) = stream.write_all(request).and_then(|()| stream.flush()) {
        return Exchange::NoAnswer(format!("could not send the whole request: {e}"));
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let ended = loop {
        match stream.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                // A server may keep the connection despite `Connection: close`.
                if parse_answer(&raw).is_ok_and(|a| a.complete) {
                    break None;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Some(e),
        }
    };
    let hung_up = |e: &Option<std::io::Error>| match e {
        None => true,
        Some(e) => matches!(
            e.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        ),
    };
    if raw.is_empty() {
        return match ended {
            e if hung_up(&e) => Exchange::Closed(match e {
                None => "closed without an answer".into(),
                Some(e) => format!("closed without an answer ({e})"),
            }),
            Some(e) => Exchange::NoAnswer(format!("no answer: {e}")),
            None => unreachable!("None is a hang-up"),
        };
    }
    match parse_answer(&raw) {
        Ok(a) if a.complete || hung_up(&ended) => Exchange::Answer(a),
        Ok(_) => Exchange::NoAnswer(format!(
            "the answer stopped part-way: {}",
            ended.map_or_else(String::new, |e| e.to_string())
        )),
        Err(e) => Exchange::NoAnswer(e),
    }
}

/// What the edge answered.
#[derive(Debug, Clone)]
struct RawAnswer {
    status: u16,
    /// Names lowercased, in order.
    headers: Vec<(String, String)>,
    /// De-chunked when the answer was chunked.
    body: Vec<u8>,
    /// Whether the body is whole (by `Content-Length` or the last chunk).
    complete: bool,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header_names(&self) -> BTreeSet<String> {
        self.headers.iter().map(|(n, _)| n.clone()).collect()
    }

    fn snippet(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(120)
            .collect()
    }
}

/// Reads an HTTP/1.x answer: status, headers, and the body, de-chunked. Interim 1xx answers
/// are skipped.
fn parse_answer(raw: &[u8]) -> Result<RawAnswer, String> {
    let mut rest = raw;
    loop {
        let end = find(rest, b"\r\n\r\n").ok_or_else(|| {
            format!(
                "not an HTTP answer (no end of headers): {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(80)])
            )
        })?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|s| s.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {status_line:?}"))?;
        if (100..200).contains(&status) && status != 101 {
            rest = body;
            continue;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let chunked =
            get("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let (body, complete) = if chunked {
            match dechunk(body) {
                Ok(b) => (b, true),
                Err(_) => (body.to_vec(), false),
            }
        } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            (body[..body.len().min(len)].to_vec(), body.len() >= len)
        } else {
            (body.to_vec(), status == 204 || status == 304)
        };
        return Ok(RawAnswer {
            status,
            headers,
            body,
            complete,
        });
    }
}

/// Decodes a `Transfer-Encoding: chunked` body; `Err` when it is malformed or stops before the
/// last chunk.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = find(data, b"\r\n").ok_or("a chunk size line without its end")?;
        let line =
            std::str::from_utf8(&data[..eol]).map_err(|_| "a chunk size that is not text")?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("chunk size {size_text:?} is not hexadecimal"))?;
        data = &data[eol + 2..];
        if size == 0 {
            // Trailers may follow; nothing in them matters here.
            return Ok(body);
        }
        if data.len() < size + 2 {
            return Err(format!(
                "a chunk of {size} bytes stops after {}",
                data.len()
            ));
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err("a chunk does not end with CRLF".into());
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn answer(raw: &[u8]) -> RawAnswer {
        parse_answer(raw).unwrap()
    }

    /// The reference recordings of GlitchTip 5.2 (`/work/shared/reference/glitchtip`), trimmed:
    /// its HTML 404 for an unknown path and its 405 for `GET /api/1/store/`.
    const GLITCHTIP_HEADERS: &str = "Vary: Accept-Language, origin\r\nContent-Language: en\r\nX-Frame-Options: DENY\r\nContent-Security-Policy: default-src 'self'\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\nCross-Origin-Opener-Policy: same-origin\r\n";

    fn glitchtip(status: &str, body: &str) -> RawAnswer {
        answer(
            format!(
                "HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n{GLITCHTIP_HEADERS}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    fn nginx(status: &str) -> RawAnswer {
        let body = format!("<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>");
        answer(
            format!(
                "HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    #[test]
    fn glitchtips_own_html_404_is_not_the_edge_refusing() {
        let own = nginx("400 Bad Request");
        let control = glitchtip("405 Method Not Allowed", "Method not allowed");
        let markers = marker_set(&control, &own);
        assert!(markers.contains(&Marker {
            name: "x-frame-options".into(),
            value: None
        }));
        assert!(
            !markers
                .iter()
                .any(|m| m.name == "content-type" || m.name == "server"),
            "{markers:?}"
        );
        // GlitchTip's HTML 404 looks like any edge's 404 by its body; its headers give it away.
        let html_404 = Exchange::Answer(glitchtip(
            "404 Not Found",
            "<!DOCTYPE html><html><head><title>GlitchTip</title></head></html>",
        ));
        let (passed, actual) = refusal(&html_404, &markers).unwrap();
        assert!(!passed, "{actual}");
        assert!(actual.contains("reached GlitchTip"), "{actual}");
        // The edge's own 404 and 403 are refusals; its own 502 is not.
        assert!(
            refusal(&Exchange::Answer(nginx("404 Not Found")), &markers)
                .unwrap()
                .0
        );
        assert!(
            refusal(&Exchange::Answer(nginx("403 Forbidden")), &markers)
                .unwrap()
                .0
        );
        let (passed, actual) =
            refusal(&Exchange::Answer(nginx("502 Bad Gateway")), &markers).unwrap();
        assert!(!passed && actual.contains("not a refusal"), "{actual}");
        // A hang-up after the request is a refusal; no answer at all proves nothing.
        assert!(
            refusal(&Exchange::Closed("closed".into()), &markers)
                .unwrap()
                .0
        );
        assert_eq!(
            refusal(&Exchange::NoAnswer("timeout".into()), &markers),
            None
        );
    }

    #[test]
    fn an_edges_own_cors_preflight_answer_carries_no_marker() {
        // nginx answering OPTIONS itself: its CORS and caching headers are absent from its
        // no-Host 400, but they are not GlitchTip's.
        let own = nginx("400 Bad Request");
        let preflight = answer(
            b"HTTP/1.1 204 No Content\r\nServer: nginx\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, POST, OPTIONS\r\nAccess-Control-Max-Age: 86400\r\nVary: Origin\r\nTiming-Allow-Origin: *\r\nX-Cache-Status: MISS\r\n\r\n",
        );
        assert!(marker_set(&preflight, &own).is_empty());
    }

    #[test]
    fn an_edge_adding_the_same_headers_everywhere_leaves_no_marker() {
        // An edge that stamps GlitchTip's security headers on its own answers too: those
        // headers tell nothing, and with no marker left the scenario must not judge.
        let own = answer(
            format!("HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n{GLITCHTIP_HEADERS}Content-Length: 0\r\n\r\n").as_bytes(),
        );
        let control = glitchtip("405 Method Not Allowed", "");
        assert!(marker_set(&control, &own).is_empty());
        // A different Server is a marker by value.
        let gunicorn = answer(
            b"HTTP/1.1 405 Method Not Allowed\r\nServer: gunicorn\r\nContent-Length: 0\r\n\r\n",
        );
        let set = marker_set(&gunicorn, &own);
        assert_eq!(
            set.iter().map(Marker::to_string).collect::<Vec<_>>(),
            ["server: gunicorn"]
        );
        assert!(!set.iter().next().unwrap().matches(&own));
    }

    #[test]
    fn chunked_bodies_are_dechunked() {
        let raw = b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n<html>4\r\n4;ext=1\r\n04 x\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let a = answer(raw);
        assert_eq!(a.status, 404);
        assert_eq!(a.body, b"<html>404 x");
        assert!(a.complete);
        assert_eq!(a.snippet(), "<html>404 x");
        // Cut before the last chunk: not complete, and the body kept raw for the evidence.
        let cut = answer(&raw[..raw.len() - 20]);
        assert!(!cut.complete);
        assert!(dechunk(b"zz\r\nabc")
            .unwrap_err()
            .contains("not hexadecimal"));
        assert!(dechunk(b"5\r\nab").unwrap_err().contains("stops after"));
        assert!(dechunk(b"2\r\nabcd").unwrap_err().contains("CRLF"));
        assert_eq!(dechunk(b"0\r\n\r\n").unwrap(), b"");
    }

    #[test]
    fn answers_are_parsed_by_length_and_interim_answers_skipped() {
        let a = answer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\nX-Frame-Options: DENY\r\n\r\nabcdef",
        );
        assert_eq!(
            (a.status, a.body.as_slice(), a.complete),
            (403, &b"abc"[..], true)
        );
        assert_eq!(a.header("x-frame-options"), Some("DENY"));
        assert!(!answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").complete);
        assert!(parse_answer(b"garbage").is_err());
        assert!(parse_answer(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    fn edge_at(port: u16) -> EdgeConn {
        EdgeConn {
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
            host_header: format!("127.0.0.1:{port}"),
            tls: None,
        }
    }

    #[test]
    fn traversal_paths_reach_the_socket_unnormalised() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            // Keeps the connection open: the answer is complete by its length.
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = s.read(&mut buf);
            request
        });
        let got = exchange_blocking(
            &edge_at(port),
            &probe_request("GET", "/api/1/store/../../0/projects/", "edge"),
        );
        let Exchange::Answer(a) = got else {
            panic!("{got:?}")
        };
        assert_eq!(a.status, 404);
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /api/1/store/../../0/projects/ HTTP/1.1\r\nHost: edge\r\n"),
            "{request}"
        );
    }

    #[test]
    fn a_hang_up_after_the_request_differs_from_no_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
        });
        let got = exchange_blocking(&edge_at(port), &probe_request("GET", "/", "edge"));
        server.join().unwrap();
        assert!(matches!(got, Exchange::Closed(_)), "{got:?}");
        // Nothing listening: no answer at all.
        let got = exchange_blocking(&edge_at(port), &probe_request("GET", "/", "edge"));
        assert!(matches!(got, Exchange::NoAnswer(_)), "{got:?}");
    }

    #[test]
    fn tls_at_a_plain_http_port_is_no_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        });
        let ctx = Context::new(crate::stack::Stack::default(), Default::default());
        let config = ctx.http("https://127.0.0.1", None).unwrap().tls();
        let mut conn = edge_at(port);
        conn.tls = Some((
            config,
            rustls_pki_types::ServerName::try_from("127.0.0.1".to_owned()).unwrap(),
        ));
        let got = exchange_blocking(&conn, &probe_request("GET", "/", "edge"));
        server.join().unwrap();
        let Exchange::NoAnswer(why) = got else {
            panic!("{got:?}")
        };
        assert!(why.contains("TLS handshake"), "{why}");
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

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn silence_counts_only_on_a_host_proven_up() {
        let a = addr("192.0.2.1:9100");
        let silent = Ok(vec![(a, Seen::Silent("no answer in 3s".into()))]);
        let none = BTreeMap::new();
        let mut live = BTreeMap::new();
        live.insert(a.ip(), "192.0.2.1:8080 connected".to_owned());
        for state in [PortState::Closed, PortState::Filtered, PortState::Open] {
            assert!(
                matches!(judge(state, &silent, &none), Verdict::Unproven(_)),
                "{state:?}"
            );
        }
        let closed = judge(PortState::Closed, &silent, &live);
        assert!(
            matches!(&closed, Verdict::Proven { passed: true, actual } if actual.contains("host is up")),
            "{closed:?}"
        );
        assert!(matches!(
            judge(PortState::Filtered, &silent, &live),
            Verdict::Proven { passed: true, .. }
        ));
        assert!(matches!(
            judge(PortState::Open, &silent, &live),
            Verdict::Proven { passed: false, .. }
        ));
        // A reset is closed, not filtered; no host proof needed for either.
        let reset = Ok(vec![(a, Seen::Refused)]);
        assert!(matches!(
            judge(PortState::Closed, &reset, &none),
            Verdict::Proven { passed: true, .. }
        ));
        assert!(matches!(
            judge(PortState::Filtered, &reset, &none),
            Verdict::Proven { passed: false, .. }
        ));
        // A name that does not resolve proves nothing.
        let nxdomain = Err("meridian.invalid does not resolve from here".to_owned());
        assert_eq!(
            judge(PortState::Closed, &nxdomain, &none),
            Verdict::Unproven("meridian.invalid does not resolve from here".into())
        );
    }

    #[test]
    fn every_address_of_a_target_must_meet_it() {
        let v4 = addr("192.0.2.1:3100");
        let v6 = addr("[2001:db8::1]:3100");
        let none = BTreeMap::new();
        // Open on IPv6 while IPv4 is closed: the port is open.
        let mixed = Ok(vec![(v4, Seen::Refused), (v6, Seen::Connected)]);
        let v = judge(PortState::Closed, &mixed, &none);
        assert!(
            matches!(&v, Verdict::Proven { passed: false, actual } if actual.contains("[2001:db8::1]:3100 connected")),
            "{v:?}"
        );
        // Closed on IPv4, unknown on IPv6: not proven.
        let half = Ok(vec![
            (v4, Seen::Refused),
            (v6, Seen::Unknown("could not try: permission denied".into())),
        ]);
        assert!(matches!(
            judge(PortState::Closed, &half, &none),
            Verdict::Unproven(_)
        ));
    }

    #[test]
    fn ports_are_told_apart_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        assert_eq!(probe_target(&open).unwrap()[0].1, Seen::Connected);
        drop(listener);
        assert_eq!(probe_target(&open).unwrap()[0].1, Seen::Refused);
        let err = probe_target("meridian.invalid:3100").unwrap_err();
        assert!(err.contains("meridian.invalid does not resolve"), "{err}");
    }
}
