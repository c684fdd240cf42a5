//! Test-only helpers shared by telltale's crates: one `skipped:` line libtest does not capture,
//! free loopback ports, binaries found by environment variable or `PATH`, child servers and
//! temporary directories that are cleaned up when the test ends, polling with a deadline, and
//! reading the JSON report of `telltale check --report json`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

use std::io::Write;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Prints one `skipped:` line that libtest does not capture.
pub fn skip(message: &str) {
    let line = format!("\nskipped: {message}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Runs a program to completion and returns its exit code (-1 when a signal ended it), stdout
/// and stderr as text: how the CLI tests run the `telltale` binary.
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> (i32, String, String) {
    output(Command::new(program).args(args))
}

/// Runs a command the test has set up (environment, arguments that are paths) to completion and
/// returns its exit code (-1 when a signal ended it), stdout and stderr as text.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the program runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON document a `--report json` run printed on `stdout`; panics showing stdout and stderr
/// when it is not JSON, because then stderr says why the program did not report.
pub fn json(stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

/// The first scenario of the report on `stdout` (`report["scenarios"][0]`, `Null` when there is
/// none); panics like [`json`] when stdout is not JSON.
pub fn first_scenario(stdout: &str, stderr: &str) -> Value {
    json(stdout, stderr)["scenarios"][0].clone()
}

/// Runs `program` with `args`, a `check … --scenario NAME … --report json` command line, and
/// returns the exit code and the report of its FIRST scenario (not the whole report: these tests
/// run one scenario at a time). Panics with stdout and stderr when stdout is not JSON.
pub fn check_json(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> (i32, Value) {
    let (code, out, err) = run(program, args);
    (code, first_scenario(&out, &err))
}

/// [`check_json`] for a command the test has set up (environment, arguments that are paths).
pub fn check_json_command(cmd: &mut Command) -> (i32, Value) {
    let (code, out, err) = output(cmd);
    (code, first_scenario(&out, &err))
}

/// The names of a scenario's (or bench step's) checks whose `passed` is `passed`, in report
/// order; panics showing the scenario when it has no `checks` list.
pub fn checks_with(scenario: &Value, passed: bool) -> Vec<String> {
    scenario["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks list: {scenario:#}"))
        .iter()
        .filter(|c| c["passed"] == passed)
        .map(|c| c["name"].as_str().expect("a check has a name").to_owned())
        .collect()
}

/// The names of a scenario's (or bench step's) failed checks, in report order.
pub fn failed_checks(scenario: &Value) -> Vec<String> {
    checks_with(scenario, false)
}

/// The names of all a scenario's checks, passed or not, in report order.
pub fn check_names(scenario: &Value) -> Vec<&str> {
    scenario["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks list: {scenario:#}"))
        .iter()
        .map(|c| c["name"].as_str().expect("a check has a name"))
        .collect()
}

/// The check called exactly `name` in a scenario's report; panics showing the scenario when there
/// is none.
pub fn check_named<'a>(scenario: &'a Value, name: &str) -> &'a Value {
    scenario["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks list: {scenario:#}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?}: {scenario:#}"))
}

/// A free TCP port on 127.0.0.1 (bound, then released for a child to take).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether this process runs as root (network namespaces, private mounts).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A system binary named by `env_var`, else on `PATH`, else in the sbin folders a non-root
/// `PATH` may lack.
pub fn system_binary(env_var: &str, name: &str) -> Option<PathBuf> {
    find_binary(env_var, Some(name)).or_else(|| {
        ["/usr/sbin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    })
}

/// Runs `bin args…` and panics with its stderr unless it succeeds (test set-up commands such as
/// `ip` and `nft`, whose failure leaves nothing worth testing).
pub fn run_ok(bin: &Path, args: &[&str]) {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {}: {}",
        bin.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Joins the existing network namespace `netns` to this host by a veth pair: `host_if` here with
/// `host_cidr`, `ns_if` inside with `ns_cidr`, both up, and the namespace's loopback up.
pub fn veth_into(
    ip: &Path,
    netns: &str,
    host_if: &str,
    ns_if: &str,
    host_cidr: &str,
    ns_cidr: &str,
) {
    run_ok(
        ip,
        &[
            "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", netns,
        ],
    );
    run_ok(ip, &["addr", "add", host_cidr, "dev", host_if]);
    run_ok(ip, &["link", "set", host_if, "up"]);
    run_ok(ip, &["-n", netns, "addr", "add", ns_cidr, "dev", ns_if]);
    run_ok(ip, &["-n", netns, "link", "set", ns_if, "up"]);
    run_ok(ip, &["-n", netns, "link", "set", "lo", "up"]);
}

/// A binary named by `env_var`, else found on `PATH` as `fallback`.
pub fn find_binary(env_var: &str, fallback: Option<&str>) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env_var) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let name = fallback?;
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// A child process killed on drop, with its output kept in a log file shown on request.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    /// Where the process's stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args`, its output going to `log`.
    pub fn spawn(program: &Path, args: &[String], log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
        Proc { child, log }
    }

    /// The process id, for tests that signal the server (stop and continue it).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the process's output, for failure messages.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir, named after `tag`.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "telltale-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `check` every 250 ms until it returns `Some` or `deadline` passes.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let stop = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= stop {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
