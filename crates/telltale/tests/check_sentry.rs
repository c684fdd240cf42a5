//! The `sentry-to-glitchtip` fault matrix: `telltale check` run as a user runs it against a real
//! GlitchTip (`GLITCHTIP_URL`, `GLITCHTIP_TOKEN_FILE`), healthy and misconfigured on purpose.
//! Each fault asserts the verdict and the check (or problem) that names it; without the server
//! every test prints one `skipped:` line.
//!
//! Faults that need a second server take it from a variable too. `GLITCHTIP_NO_WORKER_URL` is a
//! GlitchTip web process sharing the main one's database but whose Celery broker no worker
//! reads, so ingest answers 200 and nothing is ever stored, e.g. from GlitchTip's source tree:
//!
//! ```text
//! CELERY_BROKER_URL=redis://127.0.0.1:6380/9 GLITCHTIP_DOMAIN=http://127.0.0.1:8011 \
//!   gunicorn glitchtip.wsgi:application --bind 127.0.0.1:8011   # with the main one's settings
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use serde_json::Value;
use telltale_testsupport::{check_json, failed_checks};

/// The organization every test here bootstraps, apart from the apps' own.
const ORG: &str = "telltale-sentry-faults";

struct Live {
    url: String,
    token: String,
}

fn live(what: &str) -> Option<Live> {
    match (
        std::env::var("GLITCHTIP_URL"),
        std::env::var("GLITCHTIP_TOKEN_FILE"),
    ) {
        (Ok(url), Ok(token)) => Some(Live { url, token }),
        _ => {
            telltale_testsupport::skip(&format!(
                "{what} against a real GlitchTip (set GLITCHTIP_URL and GLITCHTIP_TOKEN_FILE)"
            ));
            None
        }
    }
}

fn telltale(args: &[&str]) -> (i32, String, String) {
    telltale_testsupport::run(env!("CARGO_BIN_EXE_telltale"), args)
}

/// Creates (idempotently) `ORG`, team `backend` and the projects; returns each project's DSN.
/// One at a time: the tests run in parallel, and two first creations of the organization race.
fn bootstrap(live: &Live, projects: &[&str]) -> Value {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut args = vec![
        "glitchtip",
        "bootstrap",
        "--url",
        &live.url,
        "--token-file",
        &live.token,
        "--org",
        ORG,
        "--team",
        "backend",
    ];
    for p in projects {
        args.extend(["--project", p]);
    }
    let (code, out, err) = telltale(&args);
    assert_eq!(code, 0, "bootstrap: {out}{err}");
    serde_json::from_str(&out).unwrap()
}

/// Writes a stack description whose `[glitchtip]` section is `glitchtip` (the URL and token
/// are added) and returns its path.
fn stack(dir: &Path, url: &str, token: &str, glitchtip: &str) -> PathBuf {
    let path = dir.join("stack.toml");
    std::fs::write(
        &path,
        format!("[glitchtip]\nurl = {url:?}\nauth = {{ file = {token:?} }}\norganization = {ORG:?}\n{glitchtip}"),
    )
    .unwrap();
    path
}

/// Writes a DSN to a file and returns the file's path, for `[glitchtip.dsns]`.
fn dsn_file(dir: &Path, name: &str, dsn: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{dsn}\n")).unwrap();
    path.display().to_string()
}

/// Runs the scenario with `--report json`: the exit code and the scenario's report.
fn check(stack: &Path, items: &str, deadline: &str) -> (i32, Value) {
    check_json(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "check",
            "--stack",
            stack.to_str().unwrap(),
            "--scenario",
            "sentry-to-glitchtip",
            "--items",
            items,
            "--deadline",
            deadline,
            "--report",
            "json",
        ],
    )
}

fn api(live: &Live) -> telltale_glitchtip::Client {
    telltale_glitchtip::Client::builder(&live.url)
        .token(telltale_glitchtip::Secret::from_file(&live.token).unwrap())
        .build()
        .unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Positive control: a canary project, the apps' DSNs declared and right. Everything is sent
/// to the canary only, every copy is counted, every event carries `environment=telltale`, and
/// the run's issues end resolved.
#[test]
fn sentry_positive_control_sends_to_the_canary_counts_copies_and_resolves_its_issues() {
    let Some(live) = live("sentry-to-glitchtip positive control") else {
        return;
    };
    let dsns = bootstrap(&live, &["be-platform", "be-pwa", "telltale-canary"]);
    let dir = telltale_testsupport::TempDir::new("sentry-ok");
    let platform = dsn_file(
        &dir.0,
        "platform.dsn",
        dsns["be-platform"]["dsn"].as_str().unwrap(),
    );
    let pwa = dsn_file(&dir.0, "pwa.dsn", dsns["be-pwa"]["dsn"].as_str().unwrap());
    let stack = stack(
        &dir.0,
        &live.url,
        &live.token,
        &format!("projects = [\"be-platform\", \"be-pwa\"]\ncanary_project = \"telltale-canary\"\n[glitchtip.dsns]\nbe-platform = {{ file = {platform:?} }}\nbe-pwa = {{ file = {pwa:?} }}\n"),
    );
    let (code, s) = check(&stack, "3", "60");
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    assert!(
        s["summary"].as_str().unwrap().contains("exactly once"),
        "{s:#}"
    );
    let names = telltale_testsupport::check_names(&s);
    for want in [
        "be-platform: has a DSN",
        "be-platform: the DSN handed to the app is one of its keys",
        "be-pwa: the DSN handed to the app is one of its keys",
        "telltale-canary: has a DSN",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.contains("ingest accepts")),
        "a 2xx is evidence, not a check: {names:?}"
    );
    let signals: Vec<&str> = s["delivery"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["signal"].as_str().unwrap())
        .collect();
    assert_eq!(
        signals,
        [
            "sentry telltale-canary via sdk",
            "sentry telltale-canary via envelope",
            "sentry telltale-canary via store"
        ],
        "only the canary gets events"
    );
    for d in s["delivery"].as_array().unwrap() {
        assert_eq!(d["duplicates_observable"], true, "{d:#}");
    }
    let cleanup = &s["evidence"]["cleanup"];
    let issues: Vec<u64> = cleanup["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    assert_eq!(issues.len(), 3, "one issue per path: {cleanup:#}");
    assert_eq!(cleanup["done"], cleanup["issues"], "{cleanup:#}");
    let client = api(&live);
    for id in issues {
        let (issue, events) = block_on(async {
            (
                client.issue(id).await.unwrap(),
                client.issue_events(id).await.unwrap(),
            )
        });
        assert_eq!(issue.status.as_str(), "resolved", "issue {id}");
        for e in events {
            assert_eq!(e.tag("environment"), Some("telltale"), "{e:?}");
        }
    }
}

/// A project the stack description names but GlitchTip does not have.
#[test]
fn sentry_unknown_project_fails_naming_the_exists_check() {
    let Some(live) = live("sentry-to-glitchtip with an unknown project") else {
        return;
    };
    bootstrap(&live, &["be-platform"]);
    let dir = telltale_testsupport::TempDir::new("sentry-noproject");
    let stack = stack(
        &dir.0,
        &live.url,
        &live.token,
        "projects = [\"be-platform\", \"no-such-project\"]\ncanary_project = \"be-platform\"\n",
    );
    let (code, s) = check(&stack, "2", "30");
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert_eq!(
        failed_checks(&s),
        ["no-such-project: exists in GlitchTip"],
        "{s:#}"
    );
}

/// The DSN the deployment hands an app names a key the project does not have. A throwaway
/// project, because GlitchTip then refuses every key of that project for 30 s.
#[test]
fn sentry_wrong_dsn_key_fails_naming_the_key_and_ingest_checks() {
    let Some(live) = live("sentry-to-glitchtip with a wrong DSN key") else {
        return;
    };
    let dsns = bootstrap(&live, &["wrong-key"]);
    let dir = telltale_testsupport::TempDir::new("sentry-wrongkey");
    let good = dsns["wrong-key"]["dsn"].as_str().unwrap();
    let (scheme, rest) = good.split_once("://").unwrap();
    let (_, host_and_project) = rest.split_once('@').unwrap();
    let wrong = format!("{scheme}://0123456789abcdef0123456789abcdef@{host_and_project}");
    let file = dsn_file(&dir.0, "wrong.dsn", &wrong);
    let stack = stack(
        &dir.0,
        &live.url,
        &live.token,
        &format!(
            "projects = [\"wrong-key\"]\n[glitchtip.dsns]\nwrong-key = {{ file = {file:?} }}\n"
        ),
    );
    // The SDK path cannot tell a refusal from a loss, so it waits the deadline out.
    let (code, s) = check(&stack, "2", "5");
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    let failed = failed_checks(&s);
    for want in [
        "wrong-key: the DSN handed to the app is one of its keys",
        "wrong-key via envelope: ingest accepts every event",
        "wrong-key via store: ingest accepts every event",
    ] {
        assert!(failed.iter().any(|f| f == want), "{want} not in {failed:?}");
    }
    assert!(
        !s.to_string().contains("0123456789abcdef0123456789abcdef"),
        "the key never shows: {s}"
    );
}

/// GlitchTip's worker is not running: ingest answers 200 and nothing is ever stored. That is
/// loss, reported `failed` with every event missing, never `unavailable`.
#[test]
fn sentry_worker_stopped_fails_as_missing_not_unavailable() {
    let Some(live) = live("sentry-to-glitchtip with the worker stopped") else {
        return;
    };
    let Ok(no_worker) = std::env::var("GLITCHTIP_NO_WORKER_URL") else {
        telltale_testsupport::skip(
            "sentry-to-glitchtip with the worker stopped (set GLITCHTIP_NO_WORKER_URL to a GlitchTip web whose broker no worker reads)",
        );
        return;
    };
    bootstrap(&live, &["no-worker"]);
    let dir = telltale_testsupport::TempDir::new("sentry-noworker");
    let stack = stack(
        &dir.0,
        &no_worker,
        &live.token,
        "projects = [\"no-worker\"]\n",
    );
    let (code, s) = check(&stack, "2", "8");
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert!(s["problem"].is_null(), "nothing was unavailable: {s:#}");
    assert!(failed_checks(&s).is_empty(), "ingest accepted: {s:#}");
    for d in s["delivery"].as_array().unwrap() {
        assert_eq!(d["sent"], 2, "{d:#}");
        assert_eq!(d["missing"], 2, "{d:#}");
    }
}

/// A token without `event:read` could send but never read back: refused before anything is
/// sent, as `error`, never `passed`. The token is made for the test through a session login
/// (`GLITCHTIP_ADMIN_EMAIL`, `GLITCHTIP_ADMIN_PASSWORD_FILE`) and deleted after.
#[test]
fn sentry_token_without_event_read_is_an_error_and_sends_nothing() {
    let Some(live) = live("sentry-to-glitchtip with a token lacking scopes") else {
        return;
    };
    let (Ok(email), Ok(password_file)) = (
        std::env::var("GLITCHTIP_ADMIN_EMAIL"),
        std::env::var("GLITCHTIP_ADMIN_PASSWORD_FILE"),
    ) else {
        telltale_testsupport::skip("sentry-to-glitchtip with a token lacking scopes (set GLITCHTIP_ADMIN_EMAIL and GLITCHTIP_ADMIN_PASSWORD_FILE to make one)");
        return;
    };
    bootstrap(&live, &["be-platform"]);
    let dir = telltale_testsupport::TempDir::new("sentry-scopes");
    let session = Session::login(&live.url, &email, &password_file);
    let (id, token) = session.create_token("telltale-test-project-read", &["project:read"]);
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, &token).unwrap();
    let stack = stack(
        &dir.0,
        &live.url,
        token_file.to_str().unwrap(),
        "projects = [\"be-platform\"]\n",
    );
    let (code, s) = check(&stack, "2", "20");
    session.delete_token(id);
    assert_eq!((code, s["status"].as_str()), (2, Some("error")), "{s:#}");
    let problem = s["problem"]["message"].as_str().unwrap();
    assert!(
        problem.contains("lacks event:read") && problem.contains("nothing was sent"),
        "{problem}"
    );
    assert!(s["delivery"].as_array().unwrap().is_empty(), "{s:#}");
}

/// A token that reads but cannot write: delivery is judged as usual; the issues cannot be
/// resolved, which is a warning in the evidence, not a verdict.
#[test]
fn sentry_read_only_token_passes_delivery_and_warns_it_cannot_clean_up() {
    let Some(live) = live("sentry-to-glitchtip with a read-only token") else {
        return;
    };
    let Ok(readonly) = std::env::var("GLITCHTIP_READONLY_TOKEN_FILE") else {
        telltale_testsupport::skip(
            "sentry-to-glitchtip with a read-only token (set GLITCHTIP_READONLY_TOKEN_FILE)",
        );
        return;
    };
    bootstrap(&live, &["be-platform"]);
    let dir = telltale_testsupport::TempDir::new("sentry-readonly");
    let stack = stack(
        &dir.0,
        &live.url,
        &readonly,
        "projects = [\"be-platform\"]\n",
    );
    let (code, s) = check(&stack, "2", "60");
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let warnings = s["evidence"]["warnings"].to_string();
    assert!(warnings.contains("lacks event:write"), "{warnings}");
    let failed = s["evidence"]["cleanup"]["failed"].as_array().unwrap();
    assert!(!failed.is_empty(), "{s:#}");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("403"),
        "{failed:?}"
    );
    // Resolve them with the full token, so the test leaves nothing open.
    let client = api(&live);
    for id in s["evidence"]["cleanup"]["issues"].as_array().unwrap() {
        block_on(client.resolve_issue(id.as_u64().unwrap())).unwrap();
    }
}

/// A proxy in front of ingest that sends every request twice (as a retrying proxy does): the
/// store endpoint stores both copies, which the count after the settle period sees; envelopes
/// with a known event id are folded by GlitchTip into one, so those paths stay clean.
#[test]
fn sentry_a_proxy_sending_everything_twice_fails_the_store_path_as_duplicated() {
    let Some(live) = live("sentry-to-glitchtip through a doubling proxy") else {
        return;
    };
    let dsns = bootstrap(&live, &["doubled"]);
    let good = dsns["doubled"]["dsn"].as_str().unwrap();
    let (scheme, rest) = good.split_once("://").unwrap();
    let (key, host_and_project) = rest.split_once('@').unwrap();
    let (host, project) = host_and_project.rsplit_once('/').unwrap();
    let upstream: SocketAddr = host.parse().expect("a GlitchTip DSN on an IP:port");
    let proxy = doubling_proxy(upstream);
    let dir = telltale_testsupport::TempDir::new("sentry-doubled");
    let file = dsn_file(
        &dir.0,
        "doubled.dsn",
        &format!("{scheme}://{key}@127.0.0.1:{proxy}/{project}"),
    );
    let stack = stack(
        &dir.0,
        &live.url,
        &live.token,
        &format!("projects = [\"doubled\"]\n[glitchtip.dsns]\ndoubled = {{ file = {file:?} }}\n"),
    );
    let (code, s) = check(&stack, "3", "60");
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    for d in s["delivery"].as_array().unwrap() {
        let store = d["signal"] == "sentry doubled via store";
        assert_eq!(d["sent"], 3, "{d:#}");
        assert_eq!(d["duplicated"], if store { 3 } else { 0 }, "{d:#}");
        assert_eq!(d["missing"], 0, "{d:#}");
    }
    assert!(
        s["summary"].as_str().unwrap().contains("duplicated"),
        "{s:#}"
    );
}

/// Listens on a free loopback port and forwards each request twice to `upstream`, answering
/// the first answer. One request per connection (`Connection: close` both ways).
fn doubling_proxy(upstream: SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = relay_twice(conn, upstream);
            });
        }
    });
    port
}

fn relay_twice(mut client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
    let request = read_request(&mut client)?;
    let first = forward(upstream, &request)?;
    let _second = forward(upstream, &request)?;
    client.write_all(&first)
}

/// One HTTP/1.1 request, its `Connection` header replaced by `close`.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    loop {
        let body = &buf[head_end..];
        let done = if chunked {
            body.ends_with(b"0\r\n\r\n")
        } else {
            body.len() >= length
        };
        if done {
            break;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut out: Vec<u8> = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&buf[head_end..]);
    Ok(out)
}

fn forward(upstream: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(upstream)?;
    s.write_all(request)?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    Ok(answer)
}

/// A GlitchTip browser session (allauth), to make API tokens: GlitchTip creates tokens only
/// for a logged-in session, never for a token. CSRF is Django's double submit: any value,
/// sent as both the cookie and the header.
struct Session {
    addr: String,
    cookies: Vec<(String, String)>,
}

const CSRF: &str = "TelltaleTestCsrfToken00000000000";

impl Session {
    fn login(url: &str, email: &str, password_file: &str) -> Session {
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let mut s = Session {
            addr,
            cookies: vec![("csrftoken".into(), CSRF.into())],
        };
        let password = std::fs::read_to_string(password_file).unwrap();
        let body = serde_json::json!({ "email": email, "password": password.trim_end() });
        let (status, _) = s.call("POST", "/_allauth/browser/v1/auth/login", Some(&body));
        assert_eq!(status, 200, "session login");
        s
    }

    fn create_token(&self, label: &str, scopes: &[&str]) -> (u64, String) {
        let body = serde_json::json!({ "label": label, "scopes": scopes });
        let (status, answer) = self.call_ro("POST", "/api/0/api-tokens/", Some(&body));
        assert_eq!(status, 201, "create token");
        let v: Value = serde_json::from_slice(&answer).unwrap();
        let id = v["id"]
            .as_u64()
            .or_else(|| v["id"].as_str()?.parse().ok())
            .unwrap();
        (id, v["token"].as_str().unwrap().to_owned())
    }

    fn delete_token(&self, id: u64) {
        let (status, _) = self.call_ro("DELETE", &format!("/api/0/api-tokens/{id}/"), None);
        assert_eq!(status, 204, "delete token {id}");
    }

    fn call(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
        let (status, set_cookies, answer) = self.send(method, path, body);
        for (k, v) in set_cookies {
            // Keep our own CSRF value: the header always carries it.
            if k != "csrftoken" {
                self.cookies.retain(|(name, _)| *name != k);
                self.cookies.push((k, v));
            }
        }
        (status, answer)
    }

    fn call_ro(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
        let (status, _, answer) = self.send(method, path, body);
        (status, answer)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-CSRFToken: {CSRF}\r\nReferer: http://{}/\r\nCookie: {cookie}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.addr,
            body.len()
        );
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        let head_end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(answer.len(), |i| i + 4);
        let head = String::from_utf8_lossy(&answer[..head_end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let cookies = head
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                if !k.eq_ignore_ascii_case("set-cookie") {
                    return None;
                }
                let (name, value) = v.trim().split(';').next()?.split_once('=')?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect();
        let mut body = answer[head_end..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, cookies, body)
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
    out
}
