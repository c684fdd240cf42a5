//! `telltale check --scenario firewall` against real nginx edges and real nftables rules.
//!
//! **Edge.** Each test starts its own nginx (`master_process off`, its own prefix, config and
//! pid file in a temp dir; never the system service) with two servers: the edge under test,
//! and a stand-in for GlitchTip that answers with GlitchTip 5's headers and bodies (its JSON
//! `{"detail": …}` errors, and an HTML 404 sent chunked, as Django behind uWSGI does). The
//! allowlist edge is the NixOS module's location block, read from
//! `nixos-tests/module/default.nix` at test time, so the test follows the module.
//!
//! **Ports.** Each test builds a network namespace joined to this one by a veth pair, with nginx
//! listening inside and nftables rules that reset one port and drop another.
//!
//! A test prints one `skipped:` line when nginx, `ip`, `nft` or root (for namespaces) are
//! missing; `TELLTALE_NETNS_REQUIRED=1` (set by `.ci/run` as root) turns those skips into
//! failures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use telltale_testsupport::{
    check_json, check_named, failed_checks, free_port, is_root, run_ok, system_binary, veth_into,
    Proc, TempDir,
};

fn skip(test: &str, reason: &str) {
    if std::env::var_os("TELLTALE_NETNS_REQUIRED").is_some_and(|v| v == "1") {
        panic!("{test}: the firewall tests' prerequisites are required (TELLTALE_NETNS_REQUIRED=1) but {reason}");
    }
    telltale_testsupport::skip(&format!("firewall test {test} ({reason})"));
}

fn nginx_binary(test: &str) -> Option<PathBuf> {
    let found = system_binary("NGINX_BIN", "nginx");
    if found.is_none() {
        skip(test, "no nginx (set NGINX_BIN or apt install nginx)");
    }
    found
}

/// An nginx of our own: one process, its files in `dir`, killed on drop.
struct Nginx {
    _proc: Proc,
}

impl Nginx {
    /// Starts nginx with `servers` inside `http {}`, and waits until `ports` accept
    /// connections on `host` (inside `netns` when given).
    fn start(
        bin: &Path,
        dir: &Path,
        servers: &str,
        netns: Option<&str>,
        host: &str,
        ports: &[u16],
    ) -> Nginx {
        let d = dir.display();
        for sub in ["logs", "tmp", "html"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let conf = format!(
            "daemon off;\nmaster_process off;\nerror_log {d}/logs/error.log info;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  \
             fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n  \
             default_type application/octet-stream;\n  server_tokens off;\n{servers}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut args: Vec<String> = Vec::new();
        let program = match netns {
            Some(ns) => {
                args.extend(["netns", "exec", ns].map(String::from));
                args.push(bin.display().to_string());
                system_binary("IP_BIN", "ip").unwrap()
            }
            None => bin.to_owned(),
        };
        args.extend([
            "-p".into(),
            d.to_string(),
            "-c".into(),
            format!("{d}/nginx.conf"),
            "-e".into(),
            format!("{d}/logs/error.log"),
        ]);
        let proc = Proc::spawn(&program, &args, dir.join("nginx.out"));
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in ports {
            let addr: std::net::SocketAddr = format!("{host}:{port}").parse().unwrap();
            while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "nginx did not listen on {addr}:\n{}\n{}",
                    proc.tail(),
                    std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Nginx { _proc: proc }
    }
}

/// Runs `telltale check --scenario firewall` on `stack` (TOML) and returns the exit code and the
/// scenario's report.
fn check(dir: &Path, stack: &str) -> (i32, Value) {
    let path = dir.join("stack.toml");
    std::fs::write(&path, stack).unwrap();
    check_json(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--stack",
            path.to_str().unwrap(),
            "--scenario",
            "firewall",
            "--report",
            "json",
        ],
    )
}

// --- The edge ---------------------------------------------------------------------------------

/// GlitchTip 5's headers on every answer (Django's middleware; see the reference recordings).
const GLITCHTIP_HEADERS: &str = r#"
    add_header Vary "Accept-Language, origin" always;
    add_header Content-Language en always;
    add_header X-Frame-Options DENY always;
    add_header Content-Security-Policy "img-src 'self'; default-src 'self'" always;
    add_header X-Content-Type-Options nosniff always;
    add_header Referrer-Policy same-origin always;
    add_header Cross-Origin-Opener-Policy same-origin always;
"#;

/// A stand-in for GlitchTip on `port`: ingestion paths answer as GlitchTip does without a key,
/// `/api/` answers its JSON 401, and everything else its HTML 404, sent chunked (the SSI
/// filter drops the length).
fn glitchtip_standin(dir: &Path, port: u16) -> String {
    std::fs::create_dir_all(dir.join("html")).unwrap();
    std::fs::write(
        dir.join("html/404.html"),
        "<!DOCTYPE html>\n<html>\n  <head>\n    <title>GlitchTip</title>\n  </head>\n  <body><h1>Page not found</h1></body>\n</html>\n",
    )
    .unwrap();
    format!(
        r#"
  server {{
    listen 127.0.0.1:{port};
{GLITCHTIP_HEADERS}
    root {root};
    ssi on;
    error_page 404 /404.html;
    location = /404.html {{ internal; }}
    location ~ ^/api/[0-9]+/(store|envelope)/$ {{
      default_type application/json;
      return 403 '{{"detail": "Denied"}}';
    }}
    location /api/ {{
      default_type application/json;
      return 401 '{{"detail": "Unauthorized"}}';
    }}
    location / {{ return 404; }}
  }}
"#,
        root = dir.join("html").display()
    )
}

/// The NixOS module's edge (`services.nginx.virtualHosts.meridian-edge` in
/// `nixos-tests/module/default.nix`), with `recommendedProxySettings`, in front of `backend`.
/// `refusal` replaces the catch-all `return 404` (e.g. `return 444`).
fn module_edge(edge: u16, backend: u16, refusal: &str) -> String {
    module_edge_to(edge, &format!("127.0.0.1:{backend}"), refusal)
}

/// [`module_edge`] in front of `upstream` (`host:port`).
fn module_edge_to(edge: u16, upstream: &str, refusal: &str) -> String {
    let module = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nixos-tests/module/default.nix"),
    )
    .unwrap();
    let regex = module
        .split("edgeLocationRegex = \"")
        .nth(1)
        .and_then(|r| r.split("\";").next())
        .expect("the module defines edgeLocationRegex");
    let block = module
        .split("\"~ ${edgeLocationRegex}\" = {")
        .nth(1)
        .expect("the module has the edge's regex location");
    // With the default `bindAddress = null` the edge proxies to GlitchTip on loopback; the test
    // stands that GlitchTip in with its backend.
    let proxy_pass = block
        .lines()
        .find(|l| l.trim_start().starts_with("proxyPass = "))
        .expect("the edge location has a proxyPass");
    assert!(
        proxy_pass.contains("cfg.bindAddress != null")
            && proxy_pass.contains("else \"127.0.0.1:${toString cfg.ports.glitchtip}\""),
        "the edge location no longer proxies to GlitchTip as this test assumes: {proxy_pass}"
    );
    assert!(
        module.contains("\"/\".return = \"404\";"),
        "the edge's catch-all is no longer `return 404`"
    );
    let extra = block
        .split("extraConfig = ''")
        .nth(1)
        .and_then(|b| b.split("'';").next())
        .expect("the edge location has extraConfig");
    let extra = extra.replace("${cfg.publicEdge.maxBodySize}", "1m");
    assert!(
        !extra.contains("${") && !extra.contains("''"),
        "unhandled Nix interpolation in the edge's extraConfig:\n{extra}"
    );
    format!(
        r#"
  server {{
    listen 127.0.0.1:{edge} default_server;
    location / {{ {refusal}; }}
    location ~ {regex} {{
      proxy_pass http://{upstream};
      proxy_redirect off;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      {extra}
    }}
  }}
"#
    )
}

/// An edge that forwards everything: the misconfiguration the scenario exists to catch.
fn proxy_everything(edge: u16, backend: u16) -> String {
    proxy_everything_to(edge, &format!("127.0.0.1:{backend}"))
}

/// [`proxy_everything`] in front of `upstream` (`host:port`).
fn proxy_everything_to(edge: u16, upstream: &str) -> String {
    format!(
        r#"
  server {{
    listen 127.0.0.1:{edge} default_server;
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }}
  }}
"#
    )
}

fn edge_stack(url: &str) -> String {
    format!("[edge]\nurl = {url:?}\n\n[firewall]\nvantage = \"ci\"\nprobe_edge = true\n")
}

struct EdgeFixture {
    dir: TempDir,
    _nginx: Nginx,
    edge: u16,
    backend: u16,
}

/// nginx with `edge(edge_port, backend_port)`, and the stand-in GlitchTip unless `backend_down`.
fn edge_fixture(
    test: &str,
    edge: impl Fn(u16, u16) -> String,
    backend_down: bool,
) -> Option<EdgeFixture> {
    let bin = nginx_binary(test)?;
    let dir = TempDir::new(test);
    let (edge_port, backend) = (free_port(), free_port());
    let mut servers = edge(edge_port, backend);
    let mut ports = vec![edge_port];
    if !backend_down {
        servers.push_str(&glitchtip_standin(&dir.0, backend));
        ports.push(backend);
    }
    let nginx = Nginx::start(&bin, &dir.0, &servers, None, "127.0.0.1", &ports);
    Some(EdgeFixture {
        dir,
        _nginx: nginx,
        edge: edge_port,
        backend,
    })
}

#[test]
fn edge_allowlist_from_the_nixos_module_passes() {
    let test = "edge-allowlist";
    let Some(f) = edge_fixture(test, |e, b| module_edge(e, b, "return 404"), false) else {
        return;
    };
    let (code, s) = check(
        &f.dir.0,
        &edge_stack(&format!("http://127.0.0.1:{}", f.edge)),
    );
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    // 44 refusals and the two controls; every refusal is the edge's own 404, by its headers.
    assert_eq!(s["checks"].as_array().unwrap().len(), 46, "{s:#}");
    let control = check_named(&s, "edge forwards /api/1/store/ to GlitchTip");
    assert!(
        control["actual"]
            .as_str()
            .unwrap()
            .contains("x-frame-options"),
        "{control}"
    );
    let probe = check_named(&s, "edge refuses GET /api/0/");
    assert!(
        probe["actual"].as_str().unwrap().starts_with("404"),
        "{probe}"
    );
    let rule = &s["evidence"]["edge_rule"];
    assert_eq!(rule["edge_own_answer"]["status"], 400, "{rule:#}");
    assert!(
        rule["criterion"].as_str().unwrap().contains("markers"),
        "{rule:#}"
    );
}

#[test]
fn edge_closing_refused_requests_without_an_answer_passes() {
    // nginx's `return 444` hangs up instead of answering: a refusal, because the same edge
    // answered the controls in HTTP.
    let test = "edge-444";
    let Some(f) = edge_fixture(test, |e, b| module_edge(e, b, "return 444"), false) else {
        return;
    };
    let (code, s) = check(
        &f.dir.0,
        &edge_stack(&format!("http://127.0.0.1:{}", f.edge)),
    );
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let probe = check_named(&s, "edge refuses GET /api/0/");
    assert!(
        probe["actual"]
            .as_str()
            .unwrap()
            .contains("closed without an answer"),
        "{probe}"
    );
}

#[test]
fn edge_proxying_everything_fails_naming_the_probes() {
    let test = "edge-proxy-all";
    let Some(f) = edge_fixture(test, proxy_everything, false) else {
        return;
    };
    let (code, s) = check(
        &f.dir.0,
        &edge_stack(&format!("http://127.0.0.1:{}", f.edge)),
    );
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let failed = failed_checks(&s);
    for name in [
        "edge refuses GET /",
        "edge refuses GET /api/0/",
        "edge refuses POST /api/0/organizations/",
        "edge refuses GET /api/1/store/../../0/projects/",
    ] {
        assert!(failed.contains(&name.to_owned()), "{name}: {failed:?}");
    }
    // GlitchTip's HTML 404 is not the edge refusing, and its chunked body reads de-chunked.
    let root = check_named(&s, "edge refuses GET /");
    let actual = root["actual"].as_str().unwrap();
    assert!(
        actual.starts_with("reached GlitchTip: 404 <!DOCTYPE html>"),
        "{actual}"
    );
    assert!(actual.contains("<title>GlitchTip</title>"), "{actual}");
}

/// nginx's CORS-preflight recipe, put in front of every `proxy_pass` in `servers`: the edge
/// answers `OPTIONS` itself (204 with `Access-Control-*`, and the headers in `extra`), and
/// forwards the other methods.
fn with_cors_preflight(servers: String, extra: &str) -> String {
    let block = format!(
        r#"if ($request_method = OPTIONS) {{
        add_header Access-Control-Allow-Origin * always;
        add_header Access-Control-Allow-Methods "GET, POST, OPTIONS" always;
        add_header Access-Control-Allow-Headers "Content-Type, X-Sentry-Auth" always;
        add_header Access-Control-Max-Age 86400 always;
        {extra}
        return 204;
      }}
      proxy_pass http://"#
    );
    assert!(servers.contains("proxy_pass http://"), "{servers}");
    servers.replace("proxy_pass http://", &block)
}

#[test]
fn edge_answering_cors_preflight_itself_and_proxying_everything_fails() {
    // The preflight answer carries only CORS headers, which the edge's own no-Host 400 lacks:
    // they must not become "GlitchTip's headers", or every forwarded 4xx (no Origin sent, so
    // no CORS headers back) would read as the edge refusing.
    let test = "edge-cors-proxy-all";
    let Some(f) = edge_fixture(
        test,
        |e, b| with_cors_preflight(proxy_everything(e, b), ""),
        false,
    ) else {
        return;
    };
    let (code, s) = check(
        &f.dir.0,
        &edge_stack(&format!("http://127.0.0.1:{}", f.edge)),
    );
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let failed = failed_checks(&s);
    for name in [
        "edge refuses GET /api/0/",
        "edge refuses POST /api/0/projects/",
    ] {
        assert!(failed.contains(&name.to_owned()), "{name}: {failed:?}");
    }
    let markers = s["evidence"]["edge_rule"]["markers"].to_string();
    assert!(
        !markers.contains("access-control") && !markers.contains("vary"),
        "{markers}"
    );
}

#[test]
fn edge_answering_preflight_with_its_own_headers_fails_when_glitchtip_is_reachable() {
    // The preflight answer also carries a header of the edge's own that its 400 lacks; sent
    // straight to GlitchTip, the same control shows that header is not GlitchTip's.
    let test = "edge-cors-own-header";
    let Some(f) = edge_fixture(
        test,
        |e, b| {
            with_cors_preflight(
                proxy_everything(e, b),
                "add_header X-Edge-Preflight answered always;",
            )
        },
        false,
    ) else {
        return;
    };
    let stack = format!(
        "{}\n[glitchtip]\nurl = \"http://127.0.0.1:{}\"\n",
        edge_stack(&format!("http://127.0.0.1:{}", f.edge)),
        f.backend
    );
    let (code, s) = check(&f.dir.0, &stack);
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let failed = failed_checks(&s);
    assert!(
        failed.contains(&"edge refuses GET /api/0/".to_owned()),
        "{failed:?}"
    );
    let markers = s["evidence"]["edge_rule"]["markers"].to_string();
    assert!(
        !markers.contains("x-edge-preflight") && markers.contains("x-frame-options"),
        "{markers}"
    );
}

#[test]
fn edge_allowlist_with_its_own_cors_preflight_passes() {
    let test = "edge-cors-allowlist";
    let Some(f) = edge_fixture(
        test,
        |e, b| {
            with_cors_preflight(
                module_edge(e, b, "return 404"),
                "add_header Vary Origin always; add_header X-Edge-Preflight answered always;",
            )
        },
        false,
    ) else {
        return;
    };
    let url = format!("http://127.0.0.1:{}", f.edge);
    // Without GlitchTip reachable from here: the CORS headers are never markers, and the
    // keyless POST control finds GlitchTip's.
    let (code, s) = check(&f.dir.0, &edge_stack(&url));
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    // With GlitchTip reachable: the edge's own preflight header is dropped by the
    // intersection, and the verdict stands.
    let stack = format!(
        "{}\n[glitchtip]\nurl = \"http://127.0.0.1:{}\"\n",
        edge_stack(&url),
        f.backend
    );
    let (code, s) = check(&f.dir.0, &stack);
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let control = check_named(&s, "edge forwards /api/1/store/ to GlitchTip");
    let actual = control["actual"].as_str().unwrap();
    assert!(
        actual.starts_with("POST") && actual.contains("x-frame-options"),
        "{actual}"
    );
}

#[test]
fn edge_host_that_does_not_resolve_is_unavailable_not_refused() {
    let test = "edge-nxdomain";
    let dir = TempDir::new(test);
    let (code, s) = check(&dir.0, &edge_stack("http://edge.invalid:8080"));
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    assert!(
        s["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("edge.invalid does not resolve"),
        "{s:#}"
    );
    assert_eq!(s["checks"].as_array().unwrap().len(), 0, "{s:#}");
}

#[test]
fn edge_https_at_a_plain_http_port_is_unavailable_not_refused() {
    let test = "edge-https-plain";
    let Some(f) = edge_fixture(test, |e, b| module_edge(e, b, "return 404"), false) else {
        return;
    };
    let (code, s) = check(
        &f.dir.0,
        &edge_stack(&format!("https://127.0.0.1:{}", f.edge)),
    );
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    assert!(
        s["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("TLS handshake"),
        "{s:#}"
    );
    assert_eq!(s["checks"].as_array().unwrap().len(), 0, "{s:#}");
}

#[test]
fn edge_with_glitchtip_down_behind_it_is_unavailable() {
    // Every refusal would look right, but with nothing behind the edge nothing tells its
    // answers from GlitchTip's.
    let test = "edge-backend-down";
    let Some(f) = edge_fixture(test, |e, b| module_edge(e, b, "return 404"), true) else {
        return;
    };
    let (code, s) = check(
        &f.dir.0,
        &edge_stack(&format!("http://127.0.0.1:{}", f.edge)),
    );
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    let message = s["problem"]["message"].as_str().unwrap();
    assert!(
        message.contains("GlitchTip does not answer behind the edge") && message.contains("502"),
        "{message}"
    );
}

#[test]
fn edge_in_front_of_real_glitchtip_passes_real_events_and_catches_proxy_everything() {
    let test = "edge-live-glitchtip";
    let (Ok(url), Ok(token)) = (
        std::env::var("GLITCHTIP_URL"),
        std::env::var("GLITCHTIP_TOKEN_FILE"),
    ) else {
        telltale_testsupport::skip(
            "firewall edge in front of a real GlitchTip (set GLITCHTIP_URL and GLITCHTIP_TOKEN_FILE)",
        );
        return;
    };
    let Some(bin) = nginx_binary(test) else {
        return;
    };
    let upstream = url
        .trim_end_matches('/')
        .strip_prefix("http://")
        .expect("GLITCHTIP_URL is http://host:port")
        .to_owned();
    let (code, out, err) = telltale_testsupport::run(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "glitchtip",
            "bootstrap",
            "--url",
            &url,
            "--token-file",
            &token,
            "--org",
            "telltale-firewall-live",
            "--team",
            "edge",
            "--project",
            "edge-probe",
        ],
    );
    assert_eq!(code, 0, "bootstrap: {out}{err}");
    let projects: Value = serde_json::from_str(&out).unwrap();
    let dsn = projects["edge-probe"]["dsn"].as_str().unwrap();
    let dir = TempDir::new(test);
    let edge = free_port();
    // The DSN re-pointed at the edge: its key, its project, the edge's address.
    let (scheme_key, rest) = dsn.split_once('@').unwrap();
    let project = rest.rsplit('/').next().unwrap();
    let dsn_file = dir.0.join("edge-dsn");
    std::fs::write(
        &dsn_file,
        format!("{scheme_key}@127.0.0.1:{edge}/{project}\n"),
    )
    .unwrap();
    let stack = format!(
        "[edge]\nurl = \"http://127.0.0.1:{edge}\"\ndsn = {{ file = {:?} }}\n\n[firewall]\nvantage = \"ci\"\nprobe_edge = true\n",
        dsn_file
    );

    let nginx_dir = dir.0.join("allowlist");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    let nginx = Nginx::start(
        &bin,
        &nginx_dir,
        &module_edge_to(edge, &upstream, "return 404"),
        None,
        "127.0.0.1",
        &[edge],
    );
    let (code, s) = check(&dir.0, &stack);
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    for kind in ["store", "envelope"] {
        let c = check_named(&s, &format!("edge passes POST /api/<id>/{kind}/"));
        assert_eq!(c["passed"], true, "{c}");
    }
    check_named(
        &s,
        &format!("edge forwards /api/{project}/store/ to GlitchTip"),
    );
    drop(nginx);

    let nginx_dir = dir.0.join("proxy-all");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    let _nginx = Nginx::start(
        &bin,
        &nginx_dir,
        &proxy_everything_to(edge, &upstream),
        None,
        "127.0.0.1",
        &[edge],
    );
    let (code, s) = check(&dir.0, &stack);
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let failed = failed_checks(&s);
    for name in [
        "edge refuses GET /",
        "edge refuses GET /api/0/",
        "edge refuses GET /api/0/organizations/",
    ] {
        assert!(failed.contains(&name.to_owned()), "{name}: {failed:?}");
    }
}

// --- Ports ------------------------------------------------------------------------------------

/// A network namespace joined to this one by a veth pair: 10.213.K.1 here, 10.213.K.2 inside.
struct Netns {
    name: String,
    nginx: Option<Nginx>,
    ip: PathBuf,
    /// The address inside.
    addr: String,
    /// An address on the link that nobody has.
    nobody: String,
    dir: TempDir,
}

impl Drop for Netns {
    fn drop(&mut self) {
        // nginx first, so the namespace (and the veth pair with it) goes with the name.
        drop(self.nginx.take());
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A namespace with nginx listening on `listen` and `rules` (an nftables `inet` table body)
/// loaded; `None` after a skip line when root, `ip`, `nft` or nginx are missing.
fn netns(test: &str, listen: &[u16], rules: &str) -> Option<Netns> {
    if !is_root() {
        skip(test, "network namespaces need root");
        return None;
    }
    let Some(ip) = system_binary("IP_BIN", "ip") else {
        skip(test, "no ip (apt install iproute2)");
        return None;
    };
    let Some(nft) = system_binary("NFT_BIN", "nft") else {
        skip(test, "no nft (apt install nftables)");
        return None;
    };
    let nginx = nginx_binary(test)?;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let k = (std::process::id() % 40) * 6 + NEXT.fetch_add(1, Ordering::SeqCst) % 6;
    let name = format!("ttfw{k}");
    let (host_if, ns_if) = (format!("ttfwh{k}"), format!("ttfwn{k}"));
    // Left over from a killed run.
    let _ = Command::new(&ip).args(["netns", "del", &name]).output();
    let _ = Command::new(&ip).args(["link", "del", &host_if]).output();
    run_ok(&ip, &["netns", "add", &name]);
    let dir = TempDir::new(test);
    let mut ns = Netns {
        name: name.clone(),
        nginx: None,
        ip: ip.clone(),
        addr: format!("10.213.{k}.2"),
        nobody: format!("10.213.{k}.3"),
        dir,
    };
    veth_into(
        &ip,
        &name,
        &host_if,
        &ns_if,
        &format!("10.213.{k}.1/29"),
        &format!("{}/29", ns.addr),
    );
    let rules_file = ns.dir.0.join("rules.nft");
    std::fs::write(
        &rules_file,
        format!("table inet telltale {{\n{rules}\n}}\n"),
    )
    .unwrap();
    let out = Command::new(&ip)
        .args(["netns", "exec", &name])
        .arg(&nft)
        .arg("-f")
        .arg(&rules_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let servers: String = listen
        .iter()
        .map(|p| format!("  server {{ listen 0.0.0.0:{p}; location / {{ return 204; }} }}\n"))
        .collect();
    // Readiness is checked inside the namespace's own view: rules may drop what comes from here.
    let nginx_dir = ns.dir.0.join("nginx");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    ns.nginx = Some(Nginx::start(
        &nginx,
        &nginx_dir,
        &servers,
        Some(&name),
        "0.0.0.0",
        &[],
    ));
    wait_listening(&ip, &name, listen);
    Some(ns)
}

/// Waits until `ports` are listening inside the namespace (read from `ss`, so the rules that
/// drop probes from outside do not matter).
fn wait_listening(ip: &Path, ns: &str, ports: &[u16]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new(ip)
            .args(["netns", "exec", ns, "ss", "-Hltn"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if ports.iter().all(|p| text.contains(&format!(":{p} "))) {
            return;
        }
        assert!(Instant::now() < deadline, "not listening in {ns}: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 3100 is reset by the firewall, 9100 dropped; nginx listens on both and on 8080.
const RESET_AND_DROP: &str = "  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 3100 reject with tcp reset
    tcp dport 9100 drop
  }";

fn port_stack(expect: &[(String, &str)]) -> String {
    let lines: Vec<String> = expect
        .iter()
        .map(|(t, s)| format!("  {{ target = {t:?}, state = {s:?} }},"))
        .collect();
    format!(
        "[firewall]\nvantage = \"ci\"\nexpect = [\n{}\n]\n",
        lines.join("\n")
    )
}

#[test]
fn netns_reset_dropped_and_listening_ports_match_their_declarations() {
    let test = "netns-ports-ok";
    let Some(ns) = netns(test, &[8080, 3100, 9100], RESET_AND_DROP) else {
        return;
    };
    let a = &ns.addr;
    let (code, s) = check(
        &ns.dir.0,
        &port_stack(&[
            (format!("{a}:8080"), "open"),
            (format!("{a}:3100"), "closed"),
            (format!("{a}:9100"), "closed"),
            (format!("{a}:9100"), "filtered"),
            // Nothing listens and no rule: the kernel's own reset.
            (format!("{a}:5433"), "closed"),
        ]),
    );
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let dropped = check_named(&s, &format!("{a}:9100 from ci is closed"));
    let actual = dropped["actual"].as_str().unwrap();
    assert!(
        actual.starts_with("filtered") && actual.contains("the host is up"),
        "{actual}"
    );
    let reset = check_named(&s, &format!("{a}:3100 from ci is closed"));
    assert!(
        reset["actual"]
            .as_str()
            .unwrap()
            .contains("refused (reset)"),
        "{reset}"
    );
}

#[test]
fn netns_port_declared_closed_but_listening_fails_naming_it() {
    // The firewall lost its rule for 3100: nginx answers there.
    let test = "netns-closed-but-open";
    let rules = "  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 9100 drop
  }";
    let Some(ns) = netns(test, &[8080, 3100, 9100], rules) else {
        return;
    };
    let a = &ns.addr;
    let (code, s) = check(
        &ns.dir.0,
        &port_stack(&[
            (format!("{a}:8080"), "open"),
            (format!("{a}:3100"), "closed"),
            (format!("{a}:9100"), "closed"),
        ]),
    );
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert_eq!(
        failed_checks(&s),
        [format!("{a}:3100 from ci is closed")],
        "{s:#}"
    );
}

#[test]
fn netns_port_declared_filtered_but_resetting_fails_naming_it() {
    let test = "netns-filtered-but-reset";
    let Some(ns) = netns(test, &[8080, 3100, 9100], RESET_AND_DROP) else {
        return;
    };
    let a = &ns.addr;
    let (code, s) = check(
        &ns.dir.0,
        &port_stack(&[
            (format!("{a}:8080"), "open"),
            (format!("{a}:3100"), "filtered"),
        ]),
    );
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert_eq!(
        failed_checks(&s),
        [format!("{a}:3100 from ci is filtered")],
        "{s:#}"
    );
}

#[test]
fn netns_host_dropping_everything_is_unavailable_not_closed() {
    // Silence everywhere: as likely a host that is down as a firewall that drops.
    let test = "netns-all-dropped";
    let rules = "  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
  }";
    let Some(ns) = netns(test, &[8080, 3100], rules) else {
        return;
    };
    let a = &ns.addr;
    let (code, s) = check(
        &ns.dir.0,
        &port_stack(&[
            (format!("{a}:8080"), "closed"),
            (format!("{a}:3100"), "filtered"),
        ]),
    );
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    let message = s["problem"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{a}:8080")) && message.contains("host may be down"),
        "{message}"
    );
    assert_eq!(s["checks"].as_array().unwrap().len(), 0, "{s:#}");
}

#[test]
fn netns_unroutable_address_is_unavailable_not_closed() {
    let test = "netns-nobody";
    let Some(ns) = netns(test, &[8080], RESET_AND_DROP) else {
        return;
    };
    let (code, s) = check(
        &ns.dir.0,
        &port_stack(&[(format!("{}:3100", ns.nobody), "closed")]),
    );
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    assert!(
        s["problem"]["message"]
            .as_str()
            .unwrap()
            .contains(&ns.nobody),
        "{s:#}"
    );
}

#[test]
fn unresolvable_target_is_unavailable_not_closed() {
    let dir = TempDir::new("fw-nxdomain");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let (code, s) = check(
        &dir.0,
        &port_stack(&[
            ("meridian.invalid:3100".into(), "closed"),
            (open.clone(), "open"),
        ]),
    );
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    assert!(
        s["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("meridian.invalid does not resolve"),
        "{s:#}"
    );
    // What could be proven still is.
    assert_eq!(failed_checks(&s), Vec::<String>::new());
    check_named(&s, &format!("{open} from ci is open"));
}

#[test]
fn loopback_ports_open_and_closed_pass() {
    // Needs no root: a listener, and a port nobody holds (the kernel resets it).
    let dir = TempDir::new("fw-loopback");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().to_string();
    let closed = format!("127.0.0.1:{}", free_port());
    let (code, s) = check(
        &dir.0,
        &port_stack(&[(open.clone(), "open"), (closed.clone(), "closed")]),
    );
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let (code, s) = check(&dir.0, &port_stack(&[(open.clone(), "closed")]));
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert_eq!(failed_checks(&s), [format!("{open} from ci is closed")]);
}

#[test]
fn a_target_without_a_port_is_refused_when_read() {
    let dir = TempDir::new("fw-bad-target");
    let path = dir.0.join("stack.toml");
    std::fs::write(&path, port_stack(&[("meridian".into(), "closed")])).unwrap();
    let (code, _, err) = telltale_testsupport::run(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--stack",
            path.to_str().unwrap(),
            "--scenario",
            "firewall",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not `host:port`"), "{err}");
}
