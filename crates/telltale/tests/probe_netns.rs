//! `telltale probe` against a host that really goes away: a network namespace joined to this one
//! by a veth pair, `python3 -m http.server` inside, and the namespace torn down mid-run. The
//! probe's alerts go to telltale's own webhook receiver (`telltale::webhook`), run in the test.
//!
//! A link that goes down and comes back yields one `down` then one `recovered` alert.
//!
//! Negative controls: a healthy host yields a pass and no alert; a host that never answered
//! yields `unavailable` (exit 2) and no alert, never "detected dead".
//!
//! A test prints one `skipped:` line when root (for namespaces), `ip` or `python3` are missing;
//! `TELLTALE_NETNS_REQUIRED=1` (set by `.ci/run` as root) turns those skips into failures. Each
//! test prints its measured detection time on stderr (`probe detection: …`), which
//! `docs/probe.md` quotes.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use telltale::webhook::{Post, Receiver};
use telltale_testsupport::{
    check_named, failed_checks, find_binary, first_scenario, is_root, run_ok, system_binary,
    veth_into, Proc, TempDir,
};

const PORT: u16 = 8080;
const INTERVAL: &str = "1s";
const DEAD_AFTER: &str = "3";
/// `interval × (dead_after + 1)`, what `docs/probe.md` states.
const STATED: Duration = Duration::from_secs(4);

fn skip(test: &str, reason: &str) {
    if std::env::var_os("TELLTALE_NETNS_REQUIRED").is_some_and(|v| v == "1") {
        panic!("{test}: the probe tests' prerequisites are required (TELLTALE_NETNS_REQUIRED=1) but {reason}");
    }
    telltale_testsupport::skip(&format!("probe test {test} ({reason})"));
}

/// A namespace with an HTTP server on 10.214.K.2:8080, reached from here over a veth pair.
struct Host {
    name: String,
    ip: PathBuf,
    server: Option<Proc>,
    addr: String,
    /// An address on the link that nobody has.
    nobody: String,
    /// The `unreachable` route that outlives the link.
    fence: String,
    /// This side of the veth pair.
    link: String,
    dir: TempDir,
}

impl Host {
    /// Kills the server and deletes the namespace (and the veth pair with it): the host is gone.
    fn go_away(&mut self) {
        // `ip netns exec` forks, so killing it leaves the server (and the namespace) alive: kill
        // what runs inside, which only this test started.
        if let Ok(out) = Command::new(&self.ip)
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        drop(self.server.take());
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.name])
            .status();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.go_away();
        let _ = Command::new(&self.ip)
            .args(["route", "del", "unreachable", &self.fence])
            .status();
    }
}

fn host(test: &str) -> Option<Host> {
    if !is_root() {
        skip(test, "network namespaces need root");
        return None;
    }
    let Some(ip) = system_binary("IP_BIN", "ip") else {
        skip(test, "no ip (apt install iproute2)");
        return None;
    };
    let Some(python) = find_binary("PYTHON3_BIN", Some("python3")) else {
        skip(test, "no python3 (set PYTHON3_BIN)");
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let k = (std::process::id() % 40) * 6 + NEXT.fetch_add(1, Ordering::SeqCst) % 6;
    let name = format!("ttpr{k}");
    let (host_if, ns_if) = (format!("ttprh{k}"), format!("ttprn{k}"));
    // Left over from a killed run.
    let _ = Command::new(&ip).args(["netns", "del", &name]).output();
    let _ = Command::new(&ip).args(["link", "del", &host_if]).output();
    // Once the link is gone, the address must be gone too: without this route it would go to
    // the default gateway, and a transparent proxy there (this machine has one) answers for any
    // address, which the probe would rightly count as alive.
    let fence = format!("10.214.{k}.0/24");
    run_ok(&ip, &["route", "replace", "unreachable", &fence]);
    run_ok(&ip, &["netns", "add", &name]);
    let addr = format!("10.214.{k}.2");
    let mut h = Host {
        name: name.clone(),
        ip: ip.clone(),
        server: None,
        addr: addr.clone(),
        nobody: format!("10.214.{k}.3"),
        fence,
        link: host_if.clone(),
        dir: TempDir::new(test),
    };
    veth_into(
        &ip,
        &name,
        &host_if,
        &ns_if,
        &format!("10.214.{k}.1/29"),
        &format!("{addr}/29"),
    );
    let args: Vec<String> = [
        "netns",
        "exec",
        &name,
        python.to_str().unwrap(),
        "-m",
        "http.server",
        &PORT.to_string(),
        "--bind",
        &addr,
        "--directory",
        h.dir.0.to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    h.server = Some(Proc::spawn(&ip, &args, h.dir.0.join("server.log")));
    let target: SocketAddr = format!("{addr}:{PORT}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server in {name} never listened: {}",
            h.server.as_ref().unwrap().tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(h)
}

/// Every service of the stack on `addr:8080`, so the probe watches one target.
fn stack_file(dir: &Path, addr: &str) -> PathBuf {
    let path = dir.join("stack.toml");
    std::fs::write(
        &path,
        format!(
            "host = {addr:?}\n[loki]\nport = {PORT}\n[prometheus]\nport = {PORT}\n[grafana]\nport = {PORT}\n\
             [glitchtip]\nport = {PORT}\n[alloy]\nadmin_port = {PORT}\n"
        ),
    )
    .unwrap();
    path
}

/// `telltale probe` on `stack`, alerts to `hook`, started now; the caller waits for it.
fn probe(stack: &Path, hook: SocketAddr, run_for: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_telltale"))
        .args([
            "probe",
            "--stack",
            stack.to_str().unwrap(),
            "--interval",
            INTERVAL,
            "--dead-after",
            DEAD_AFTER,
            "--for",
            run_for,
            "--webhook",
            &format!("http://{hook}/hook"),
            "--report",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> (i32, Value) {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    (
        out.status.code().unwrap_or(-1),
        first_scenario(&stdout, &stderr),
    )
}

fn events(posts: &[Post]) -> Vec<(String, Instant)> {
    posts
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_slice(&p.body).unwrap();
            assert!(v["text"].is_string(), "not Slack's shape: {v}");
            (v["telltale"]["event"].as_str().unwrap().to_owned(), p.at)
        })
        .collect()
}

fn runtime_and_hook() -> (tokio::runtime::Runtime, Receiver) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hook = rt
        .block_on(Receiver::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    (rt, hook)
}

#[test]
fn a_host_torn_down_mid_run_is_detected_dead_within_the_stated_time_and_alerted_once() {
    let test = "probe-host-goes-away";
    let Some(mut h) = host(test) else { return };
    let (_rt, hook) = runtime_and_hook();
    let stack = stack_file(&h.dir.0, &h.addr);
    let child = probe(&stack, hook.addr(), "10s");
    // Anywhere in the third interval, so repeated runs measure the spread across a probe's phase.
    let phase = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    std::thread::sleep(Duration::from_millis(2000 + u64::from(phase)));
    let gone = Instant::now();
    h.go_away();
    let (code, scenario) = finish(child);
    assert_eq!(code, 1, "{scenario:#}");
    assert_eq!(scenario["status"], "failed", "{scenario:#}");
    let url = format!("http://{}:{PORT}", h.addr);
    assert_eq!(
        failed_checks(&scenario),
        vec![format!("probe: loki ({url}) alive")],
        "{scenario:#}"
    );
    let posts = hook.posts();
    let ev = events(&posts);
    assert_eq!(
        ev.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        vec!["down"],
        "exactly one down alert, no recovery: {ev:?}"
    );
    let detected = ev[0].1.saturating_duration_since(gone);
    let _ = std::io::stderr().write_all(
        format!(
            "probe detection: {} ms from teardown to the down alert (stated {} ms)\n",
            detected.as_millis(),
            STATED.as_millis()
        )
        .as_bytes(),
    );
    assert!(
        detected <= STATED,
        "detected after {detected:?}, stated {STATED:?}: {scenario:#}"
    );
    let outage = &scenario["evidence"]["targets"][0]["outages"][0];
    assert!(outage["detection_ms"].as_u64().unwrap() <= STATED.as_millis() as u64);
    assert!(outage["recovered_ms"].is_null());
    assert!(check_named(&scenario, "webhook: down alert for loki accepted")["passed"] == true);
}

#[test]
fn a_healthy_host_passes_without_an_alert() {
    let test = "probe-healthy";
    let Some(h) = host(test) else { return };
    let (_rt, hook) = runtime_and_hook();
    let stack = stack_file(&h.dir.0, &h.addr);
    let (code, scenario) = finish(probe(&stack, hook.addr(), "5s"));
    assert_eq!(
        (code, scenario["status"].as_str()),
        (0, Some("passed")),
        "{scenario:#}"
    );
    assert!(failed_checks(&scenario).is_empty());
    assert!(hook.posts().is_empty(), "{:?}", events(&hook.posts()));
}

#[test]
fn a_host_that_never_answered_is_unavailable_not_dead() {
    let test = "probe-never-up";
    let Some(h) = host(test) else { return };
    let (_rt, hook) = runtime_and_hook();
    let stack = stack_file(&h.dir.0, &h.nobody);
    let (code, scenario) = finish(probe(&stack, hook.addr(), "5s"));
    assert_eq!(
        (code, scenario["status"].as_str()),
        (2, Some("unavailable")),
        "{scenario:#}"
    );
    assert!(failed_checks(&scenario).is_empty(), "{scenario:#}");
    assert!(
        scenario["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("never answered"),
        "{scenario:#}"
    );
    assert!(hook.posts().is_empty(), "{:?}", events(&hook.posts()));
}

#[test]
fn a_link_that_goes_down_and_comes_back_is_alerted_down_once_then_recovered_once() {
    let test = "probe-link-flap";
    let Some(h) = host(test) else { return };
    let (_rt, hook) = runtime_and_hook();
    let stack = stack_file(&h.dir.0, &h.addr);
    let child = probe(&stack, hook.addr(), "11s");
    std::thread::sleep(Duration::from_millis(2500));
    run_ok(&h.ip, &["link", "set", &h.link, "down"]);
    std::thread::sleep(Duration::from_millis(5000));
    run_ok(&h.ip, &["link", "set", &h.link, "up"]);
    let (code, scenario) = finish(child);
    // The outage happened, so the run fails even though the host came back.
    assert_eq!(
        (code, scenario["status"].as_str()),
        (1, Some("failed")),
        "{scenario:#}"
    );
    let ev = events(&hook.posts());
    assert_eq!(
        ev.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        vec!["down", "recovered"],
        "{scenario:#}"
    );
    let outage = &scenario["evidence"]["targets"][0]["outages"][0];
    assert!(outage["recovered_ms"].is_u64(), "{scenario:#}");
    assert_eq!(
        scenario["evidence"]["targets"][0]["outages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(check_named(&scenario, "webhook: recovered alert for loki accepted")["passed"] == true);
}
