//! `cargo xtask vm-test --check`: everything a build of the VM tests would check, short of
//! building: the texts nixpkgs' builders check (shellcheck on every `writeShellApplication`,
//! `loki -verify-config`, promtool, nginx, the test driver's ty and ruff) taken from the
//! evaluated systems (`nixos-tests/lib/checks.nix`) and fed to the same checkers installed here,
//! plus what no build checks: mypy of every testScript, lints of the testScripts, the Faro key
//! copy, and the stack description read into the harness's own model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result};
use serde::Deserialize;

const LINT: &str = include_str!("vm_check_lint.py");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checks {
    systems: Vec<System>,
    test_scripts: Vec<TestScript>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct System {
    label: String,
    shell_applications: Vec<ShellApplication>,
    loki: Option<String>,
    prometheus: Option<Prometheus>,
    nginx: Option<String>,
    alloy: Option<String>,
    faro: Option<Faro>,
    stack_json: Option<String>,
    glitchtip_environment: BTreeMap<String, String>,
    has_telltale: bool,
    tmpfiles_dirs: Vec<String>,
}

/// What the testScript lints know of one node.
#[derive(Debug, serde::Serialize)]
struct NodeFacts {
    telltale: bool,
    dirs: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
struct ShellApplication {
    name: String,
    text: String,
    check_phase: String,
}

#[derive(Debug, Deserialize)]
struct Prometheus {
    config: String,
    rules: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Faro {
    pre_start: Vec<String>,
    runtime_directory: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestScript {
    name: String,
    nodes: Vec<String>,
    script: String,
    build_command: String,
}

/// Tallies checker results; every line printed is `ok`, `FAIL` or `skipped:`.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: Vec<String>,
    skipped: Vec<String>,
}

impl Tally {
    fn record(&mut self, what: &str, result: std::result::Result<(), String>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                println!("ok   {what}");
            }
            Err(why) => {
                println!("FAIL {what}\n{}", indent(&why));
                self.failed.push(what.to_owned());
            }
        }
    }

    fn skip(&mut self, why: &str) {
        if !self.skipped.iter().any(|s| s == why) {
            println!("skipped: {why}");
            self.skipped.push(why.to_owned());
        }
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("     {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs every check; returns whether all that ran passed.
pub(crate) fn run(
    root: &Path,
    dir: &Path,
    nix_args: &[String],
    nixpkgs: Option<&Path>,
) -> Result<bool> {
    eprintln!(
        "$ nix-instantiate --eval --strict --json -A checks {}",
        nix_args.join(" ")
    );
    let out = Command::new("nix-instantiate")
        .arg(dir)
        .args(["--eval", "--strict", "--json", "-A", "checks"])
        .args(nix_args)
        .output()
        .context("could not start nix-instantiate")?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        println!("FAIL evaluating nixos-tests/lib/checks.nix");
        return Ok(false);
    }
    let checks: Checks =
        serde_json::from_slice(&out.stdout).context("checks.nix gave unexpected JSON")?;

    let work = root.join("target/vm-check");
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("{}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;

    let mut tally = Tally::default();
    print_versions();
    shell_applications(&checks, &work, &mut tally)?;
    for system in &checks.systems {
        let label = &system.label;
        if let Some(loki) = &system.loki {
            loki_config(label, loki, &work, &mut tally)?;
        }
        if let Some(prom) = &system.prometheus {
            prometheus(label, prom, &work, &mut tally)?;
        }
        if let Some(nginx) = &system.nginx {
            nginx_config(label, nginx, &work, &mut tally)?;
        }
        if let Some(alloy) = &system.alloy {
            alloy_config(label, alloy, &work, &mut tally)?;
            let result = faro_key(system, alloy, &checks, &work);
            tally.record(&format!("faro key without newline {label}"), result);
        }
        if let Some(stack) = &system.stack_json {
            let result = stack_description(stack, &system.glitchtip_environment);
            tally.record(&format!("stack description {label}"), result);
        }
    }
    for test in &checks.test_scripts {
        test_script(test, &checks.systems, nixpkgs, &work, &mut tally)?;
    }

    println!(
        "{} checks passed, {} failed, {} checkers skipped",
        tally.ok,
        tally.failed.len(),
        tally.skipped.len()
    );
    Ok(tally.failed.is_empty())
}

fn tool(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn version_line(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn print_versions() {
    let probes: &[(&str, &str, &[&str])] = &[
        ("NIX", "nix-instantiate", &["--version"]),
        ("SHELLCHECK", "shellcheck", &["--version"]),
        ("LOKI_BIN", "loki", &["-version"]),
        ("PROMTOOL", "promtool", &["--version"]),
        ("NGINX", "nginx", &["-v"]),
        ("ALLOY_BIN", "alloy", &["--version"]),
        ("RUFF", "ruff", &["--version"]),
        ("TY", "ty", &["--version"]),
        ("MYPY", "mypy", &["--version"]),
    ];
    for (var, name, args) in probes {
        if let Some(program) = tool(var, name) {
            let mut line = version_line(&program, args);
            if *name == "shellcheck" {
                line = version_line(&program, args)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                if let Ok(o) = Command::new(&program).arg("--version").output() {
                    if let Some(v) = String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .find(|l| l.starts_with("version:"))
                    {
                        line = v.to_owned();
                    }
                }
            }
            println!("tool {name}: {} ({line})", program.display());
        }
    }
}

fn run_tool(program: &Path, args: &[&str], cwd: &Path) -> Result<Output> {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .with_context(|| format!("could not start {}", program.display()))
}

fn verdict(out: &Output) -> std::result::Result<(), String> {
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The arguments writeShellApplication's checkPhase gives shellcheck (its `--exclude` and
/// `extraShellCheckFlags`), from the line that runs it.
pub(crate) fn shellcheck_args(check_phase: &str) -> Option<Vec<String>> {
    // The executable is `shellcheck` (nixpkgs' ShellCheck names it so; a stubbed Hackage set
    // gives `ShellCheck`), so the name is matched without case.
    let (line, at) = check_phase.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .find("/bin/shellcheck")
            .map(|at| (l, at + "/bin/shellcheck".len()))
    })?;
    let rest = line[at..].trim().strip_suffix("\"$target\"")?.trim();
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in rest.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    args.push(std::mem::take(&mut current));
                    any = false;
                }
            }
            c => {
                current.push(c);
                any = true;
            }
        }
    }
    if any {
        args.push(current);
    }
    Some(args)
}

fn shell_applications(checks: &Checks, work: &Path, tally: &mut Tally) -> Result<()> {
    let mut apps: Vec<&ShellApplication> = checks
        .systems
        .iter()
        .flat_map(|s| &s.shell_applications)
        .collect();
    apps.sort();
    apps.dedup();
    let Some(shellcheck) = tool("SHELLCHECK", "shellcheck") else {
        tally.skip("shellcheck (apt-get install shellcheck)");
        return Ok(());
    };
    let dir = work.join("shell");
    std::fs::create_dir_all(&dir)?;
    for (i, app) in apps.iter().enumerate() {
        let file = dir.join(format!("{}-{i}", app.name));
        std::fs::write(&file, &app.text)?;
        let file_arg = file.to_str().context("non-UTF-8 path")?;
        // stdenv.shellDryRun first, as the builder does.
        let dry = run_tool(Path::new("bash"), &["-n", "-O", "extglob", file_arg], work)?;
        tally.record(&format!("bash -n {}", app.name), verdict(&dry));
        let Some(args) = shellcheck_args(&app.check_phase) else {
            tally.record(
                &format!("shellcheck {}", app.name),
                Err("no shellcheck command in its checkPhase".into()),
            );
            continue;
        };
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.push(file_arg);
        let out = run_tool(&shellcheck, &all, work)?;
        tally.record(&format!("shellcheck {}", app.name), verdict(&out));
    }
    Ok(())
}

fn safe(label: &str) -> String {
    label.replace('/', "-")
}

fn loki_config(label: &str, config: &str, work: &Path, tally: &mut Tally) -> Result<()> {
    let Some(loki) = tool("LOKI_BIN", "loki") else {
        tally.skip("loki -verify-config (set LOKI_BIN)");
        return Ok(());
    };
    let file = work.join(format!("loki-{}.json", safe(label)));
    std::fs::write(&file, config)?;
    let arg = format!("-config.file={}", file.display());
    let out = run_tool(&loki, &["-verify-config", &arg], work)?;
    tally.record(&format!("loki -verify-config {label}"), verdict(&out));
    Ok(())
}

fn prometheus(label: &str, prom: &Prometheus, work: &Path, tally: &mut Tally) -> Result<()> {
    let Some(promtool) = tool("PROMTOOL", "promtool") else {
        tally.skip("promtool (set PROMTOOL or apt-get install prometheus)");
        return Ok(());
    };
    let config = work.join(format!("prometheus-{}.yml", safe(label)));
    let mut value: serde_json::Value = serde_json::from_str(&prom.config)?;
    if !prom.rules.trim().is_empty() {
        let rules = work.join(format!("prometheus-{}.rules", safe(label)));
        std::fs::write(&rules, &prom.rules)?;
        let out = run_tool(
            &promtool,
            &["check", "rules", rules.to_str().context("non-UTF-8 path")?],
            work,
        )?;
        tally.record(&format!("promtool check rules {label}"), verdict(&out));
        value["rule_files"] = serde_json::json!([rules]);
    }
    std::fs::write(&config, serde_json::to_string_pretty(&value)?)?;
    let out = run_tool(
        &promtool,
        &[
            "check",
            "config",
            config.to_str().context("non-UTF-8 path")?,
        ],
        work,
    )?;
    tally.record(&format!("promtool check config {label}"), verdict(&out));
    Ok(())
}

/// The nginx.conf the module generates, with its store paths pointed at this machine's nginx
/// (mime.types) and its runtime paths at a scratch directory, for `nginx -t`.
pub(crate) fn localise_nginx(text: &str, scratch: &Path) -> String {
    let scratch = scratch.display().to_string();
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("include ") && trimmed.contains("/nix/store/") {
                if trimmed.contains("mime.types") {
                    return "include /etc/nginx/mime.types;".to_owned();
                }
                return format!("# (store include dropped) {trimmed}");
            }
            if trimmed.starts_with("pid ") {
                return format!("pid {scratch}/nginx.pid;");
            }
            if trimmed.starts_with("error_log ") {
                return format!("error_log {scratch}/error.log;");
            }
            if trimmed.starts_with("access_log ") && !trimmed.contains("off") {
                return format!("access_log {scratch}/access.log;");
            }
            line.replace("/var/spool/nginx", &scratch)
                .replace("/var/cache/nginx", &scratch)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn nginx_config(label: &str, text: &str, work: &Path, tally: &mut Tally) -> Result<()> {
    let Some(nginx) = tool("NGINX", "nginx") else {
        tally.skip("nginx -t (apt-get install nginx)");
        return Ok(());
    };
    let scratch = work.join(format!("nginx-{}", safe(label)));
    std::fs::create_dir_all(&scratch)?;
    let file = scratch.join("nginx.conf");
    std::fs::write(&file, localise_nginx(text, &scratch))?;
    let prefix = format!("{}/", scratch.display());
    let out = run_tool(
        &nginx,
        &[
            "-t",
            "-q",
            "-p",
            &prefix,
            "-e",
            &format!("{prefix}error.log"),
            "-c",
            file.to_str().context("non-UTF-8 path")?,
        ],
        work,
    )?;
    tally.record(&format!("nginx -t {label}"), verdict(&out));
    Ok(())
}

fn alloy_config(label: &str, text: &str, work: &Path, tally: &mut Tally) -> Result<()> {
    let Some(alloy) = tool("ALLOY_BIN", "alloy") else {
        tally.skip("alloy fmt (set ALLOY_BIN to an Alloy or Grafana Agent flow binary)");
        return Ok(());
    };
    let file = work.join(format!("alloy-{}.alloy", safe(label)));
    std::fs::write(&file, text)?;
    let out = Command::new(&alloy)
        .args(["fmt", file.to_str().context("non-UTF-8 path")?])
        .env("AGENT_MODE", "flow")
        .current_dir(work)
        .output()
        .with_context(|| format!("could not start {}", alloy.display()))?;
    tally.record(&format!("alloy fmt {label}"), verdict(&out));
    Ok(())
}

/// The file Alloy's `local.file "faro_api_key"` block reads, if any.
pub(crate) fn faro_key_filename(alloy: &str) -> Option<String> {
    let block = alloy.split("local.file \"faro_api_key\"").nth(1)?;
    let line = block
        .lines()
        .find(|l| l.trim_start().starts_with("filename"))?;
    let value = line.split_once('=')?.1.trim();
    serde_json::from_str(value).ok()
}

/// Runs what Alloy's unit runs before it starts on a key file written the usual way (with a
/// trailing newline) and checks that the file Alloy reads holds the key alone: faro.receiver
/// compares the header byte for byte.
fn faro_key(
    system: &System,
    alloy: &str,
    checks: &Checks,
    work: &Path,
) -> std::result::Result<(), String> {
    let Some(faro) = &system.faro else {
        return Ok(());
    };
    let Some(filename) = faro_key_filename(alloy) else {
        return Err("Alloy's config has no local.file \"faro_api_key\" block".into());
    };
    let base = work.join(format!("faro-{}", safe(&system.label)));
    let creds = base.join("credentials");
    let runtime = base.join("runtime");
    for dir in [&creds, &runtime] {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let key = "telltale-faro-key";
    std::fs::write(creds.join("faro-api-key"), format!("{key}\n")).map_err(|e| e.to_string())?;
    for exec in &faro.pre_start {
        let name = exec.rsplit('/').next().unwrap_or(exec);
        let app = checks
            .systems
            .iter()
            .flat_map(|s| &s.shell_applications)
            .find(|a| a.name == name)
            .ok_or_else(|| format!("ExecStartPre {exec} is not a writeShellApplication"))?;
        let script = base.join(name);
        std::fs::write(&script, &app.text).map_err(|e| e.to_string())?;
        let out = Command::new("bash")
            .arg(&script)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .env("RUNTIME_DIRECTORY", &runtime)
            .output()
            .map_err(|e| e.to_string())?;
        verdict(&out)?;
    }
    let read = if let Some(rest) = filename.strip_prefix("/run/credentials/alloy.service/") {
        creds.join(rest)
    } else if let Some(rest) = faro
        .runtime_directory
        .as_deref()
        .and_then(|d| filename.strip_prefix(&format!("/run/{d}/")))
    {
        runtime.join(rest)
    } else {
        return Err(format!(
            "Alloy reads {filename}, which is neither its credential nor its runtime directory"
        ));
    };
    let got = std::fs::read(&read).map_err(|e| format!("{filename}: {e}"))?;
    if got != key.as_bytes() {
        return Err(format!(
            "Alloy reads {filename} holding {:?} from a key file holding {:?}: \
             faro.receiver would answer 401 to the right key",
            String::from_utf8_lossy(&got),
            format!("{key}\n")
        ));
    }
    Ok(())
}

/// The description read into the harness's own model, and its GlitchTip settings unit set
/// with the retention the harness compares against.
fn stack_description(
    text: &str,
    glitchtip_environment: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    let stack = telltale::stack::Stack::from_json(text).map_err(|e| e.to_string())?;
    let Some(unit) = stack.glitchtip.settings_unit.as_deref() else {
        return Err(
            "glitchtip.settings_unit is not set: the retention scenario cannot read \
             GLITCHTIP_MAX_EVENT_LIFE_DAYS"
                .into(),
        );
    };
    if unit != "glitchtip.service" {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let days = value["retention"]["glitchtip_days"].to_string();
    match glitchtip_environment.get("GLITCHTIP_MAX_EVENT_LIFE_DAYS") {
        Some(set) if *set == days => Ok(()),
        other => Err(format!(
            "glitchtip.service sets GLITCHTIP_MAX_EVENT_LIFE_DAYS={other:?}, the description says {days}"
        )),
    }
}

/// The type hints the driver's build prepends (one `name = create_fake_…()` line per machine),
/// from its build command.
pub(crate) fn type_hints(build_command: &str) -> Option<String> {
    let after = build_command.split("test-script-prepend.py\"").nth(1)?;
    let start = after.find("echo \"")? + "echo \"".len();
    let end = after[start..].find("\" >> testScriptWithTypes")?;
    Some(after[start..start + end].to_owned())
}

fn python_name(node: &str) -> String {
    node.chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphanumeric() && !(i == 0 && c.is_ascii_digit()) || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn test_script(
    test: &TestScript,
    systems: &[System],
    nixpkgs: Option<&Path>,
    work: &Path,
    tally: &mut Tally,
) -> Result<()> {
    let name = &test.name;
    let dir = work.join(format!("script-{name}"));
    std::fs::create_dir_all(&dir)?;
    let script_file = dir.join("testScript.py");
    std::fs::write(&script_file, &test.script)?;

    // Lints first: they need only python3.
    let nodes: BTreeMap<String, NodeFacts> = test
        .nodes
        .iter()
        .map(|node| {
            let system = systems.iter().find(|s| s.label == format!("{name}/{node}"));
            let facts = NodeFacts {
                telltale: system.is_some_and(|s| s.has_telltale),
                dirs: system.map(|s| s.tmpfiles_dirs.clone()).unwrap_or_default(),
            };
            (python_name(node), facts)
        })
        .collect();
    let lint = work.join("vm_check_lint.py");
    std::fs::write(&lint, LINT)?;
    match tool("PYTHON3", "python3") {
        None => tally.skip("testScript lints (install python3)"),
        Some(python) => {
            let out = run_tool(
                &python,
                &[
                    lint.to_str().context("non-UTF-8 path")?,
                    script_file.to_str().context("non-UTF-8 path")?,
                    &serde_json::to_string(&nodes)?,
                ],
                work,
            )?;
            tally.record(&format!("testScript lints {name}"), verdict(&out));
        }
    }

    let Some(nixpkgs) = nixpkgs else {
        tally.skip(
            "ty, ruff and mypy of the testScripts (give --nixpkgs PATH for the driver's sources)",
        );
        return Ok(());
    };
    let Some(hints) = type_hints(&test.build_command) else {
        tally.record(
            &format!("type hints of {name}"),
            Err("the driver's build command prepends no type hints".into()),
        );
        return Ok(());
    };
    let prepend = std::fs::read_to_string(nixpkgs.join("nixos/lib/test-script-prepend.py"))
        .context("the nixpkgs tree has no nixos/lib/test-script-prepend.py")?;
    let typed = dir.join("testScriptWithTypes.py");
    // As driver.nix writes it: the prelude, `echo "<hints>"`, then the script.
    std::fs::write(&typed, format!("{prepend}{hints}\n{}", test.script))?;
    let typed_arg = typed.to_str().context("non-UTF-8 path")?;
    let driver_src = nixpkgs.join("nixos/lib/test-driver/src");
    let driver_arg = driver_src.to_str().context("non-UTF-8 path")?;

    match tool("RUFF", "ruff") {
        None => tally.skip("ruff (pip install ruff)"),
        Some(ruff) => {
            let out = run_tool(
                &ruff,
                &[
                    "check",
                    "--no-cache",
                    "--isolated",
                    "--select",
                    "F",
                    typed_arg,
                ],
                &dir,
            )?;
            tally.record(&format!("ruff check --select F {name}"), verdict(&out));
        }
    }
    match tool("TY", "ty") {
        None => tally.skip("ty (pip install ty)"),
        Some(ty) => {
            let out = run_tool(
                &ty,
                &["check", "--extra-search-path", driver_arg, typed_arg],
                &dir,
            )?;
            tally.record(&format!("ty check {name}"), verdict(&out));
        }
    }
    match tool("MYPY", "mypy") {
        None => tally.skip("mypy (pip install mypy)"),
        Some(mypy) => {
            // The driver's third-party imports (ptpython, junit-xml, …) are not installed here;
            // the driver's own modules and the testScript are checked.
            let out = Command::new(&mypy)
                .args([
                    "--no-implicit-optional",
                    "--ignore-missing-imports",
                    "--follow-imports=silent",
                    "--no-error-summary",
                    "--cache-dir",
                    "/dev/null",
                    typed_arg,
                ])
                .env("MYPYPATH", &driver_src)
                .current_dir(&dir)
                .output()
                .context("could not start mypy")?;
            tally.record(&format!("mypy {name}"), verdict(&out));
        }
    }
    Ok(())
}

/// A test file's testScript as the driver gets it, read from the source: the text after
/// `testScript = harness + ''` up to the closing `'';`, without the Nix indentation and with
/// Nix's `''$` and `'''` escapes undone. `None` when the file does not follow that form.
pub(crate) fn script_from_source(nix: &str) -> Option<String> {
    let body = nix.split_once("testScript = harness + ''")?.1;
    let body = &body[..body.rfind("'';")?];
    let body = body.strip_prefix('\n').unwrap_or(body);
    let indent = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = body
        .lines()
        .map(|l| l.get(indent..).unwrap_or_else(|| l.trim_start()))
        .collect();
    Some(
        lines
            .join("\n")
            .trim_end()
            .replace("''$", "$")
            .replace("'''", "''"),
    )
}

/// `cargo xtask ci`'s part of the check, which needs no nixpkgs: the testScript lints that need
/// no node facts (asserting subtests, Loki queries matched with `grep -q result`), on the test
/// sources with lib/harness.py prepended. Returns how many tests were linted, or `None` (after a
/// `skipped:` line) without python3.
pub(crate) fn lint_sources(root: &Path) -> Result<Option<usize>> {
    let Some(python) = tool("PYTHON3", "python3") else {
        eprintln!("skipped: testScript lints (install python3)");
        return Ok(None);
    };
    let dir = root.join("nixos-tests");
    let harness = std::fs::read_to_string(dir.join("lib/harness.py"))?;
    let work = root.join("target/vm-lint");
    std::fs::create_dir_all(&work)?;
    let lint = work.join("vm_check_lint.py");
    std::fs::write(&lint, LINT)?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir.join("tests"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.retain(|p| p.extension().is_some_and(|e| e == "nix"));
    entries.sort();
    let mut failed = Vec::new();
    for path in &entries {
        let text = std::fs::read_to_string(path)?;
        let script = script_from_source(&text).with_context(|| {
            format!("{}: no `testScript = harness + ''` … `'';`", path.display())
        })?;
        let name = path.with_extension("py");
        let file = work.join(name.file_name().context("a test file")?);
        std::fs::write(&file, format!("{harness}{script}\n"))?;
        let out = run_tool(
            &python,
            &[
                lint.to_str().context("non-UTF-8 path")?,
                file.to_str().context("non-UTF-8 path")?,
                "{}",
            ],
            &work,
        )?;
        if let Err(why) = verdict(&out) {
            failed.push(format!("{}:\n{}", path.display(), indent(&why)));
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("testScript lints failed:\n{}", failed.join("\n"));
    }
    Ok(Some(entries.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shellcheck_arguments_from_the_check_phase() {
        let phase = "runHook preCheck\n/nix/store/x-stdenv/bin/bash -n -O extglob \"$target\"\n  \
                     /nix/store/y-shellcheck-minimal/bin/shellcheck '--exclude' 'SC2012,SC2086' \
                     '-x' \"$target\"\nrunHook postCheck\n";
        assert_eq!(
            shellcheck_args(phase).unwrap(),
            ["--exclude", "SC2012,SC2086", "-x"]
        );
        let bare = "/nix/store/y-ShellCheck-0.10.0/bin/ShellCheck  \"$target\"";
        assert!(shellcheck_args(bare).unwrap().is_empty());
        assert!(shellcheck_args("runHook preCheck").is_none());
    }

    #[test]
    fn type_hints_from_the_driver() {
        let cmd = "cat \"/nix/store/p-test-script-prepend.py\" >> testScriptWithTypes\n\
                   echo \"vlan1 = create_fake_vlan()\nmeridian = create_fake_qemu_machine()\" \
                   >> testScriptWithTypes\necho -n \"$testScript\" >> testScriptWithTypes";
        assert_eq!(
            type_hints(cmd).unwrap(),
            "vlan1 = create_fake_vlan()\nmeridian = create_fake_qemu_machine()"
        );
        assert!(type_hints("ln -s a b").is_none());
    }

    #[test]
    fn faro_key_file_is_found_in_the_alloy_config() {
        let config = "local.file \"faro_api_key\" {\n  filename  = \"/run/alloy/faro-api-key\"\n  \
                      is_secret = true\n}\n";
        assert_eq!(
            faro_key_filename(config).as_deref(),
            Some("/run/alloy/faro-api-key")
        );
        assert!(faro_key_filename("faro.receiver \"pwa\" {}").is_none());
    }

    #[test]
    fn nginx_store_paths_are_localised() {
        let text = "pid /run/nginx/nginx.pid;\nerror_log stderr;\nhttp {\n  include \
                    /nix/store/a-mailcap/etc/nginx/mime.types;\n  include /nix/store/b-nginx/conf/fastcgi.conf;\n}";
        let out = localise_nginx(text, Path::new("/tmp/x"));
        assert!(out.contains("pid /tmp/x/nginx.pid;"));
        assert!(out.contains("include /etc/nginx/mime.types;"));
        assert!(out
            .lines()
            .filter(|l| l.contains("/nix/store/"))
            .all(|l| l.starts_with("# (store include dropped)")));
        assert!(out.contains("error_log /tmp/x/error.log;"));
    }

    #[test]
    fn stack_description_needs_the_settings_unit_and_its_retention() {
        let stack = telltale::stack::Stack::default().to_json();
        let mut value: serde_json::Value = serde_json::from_str(&stack).unwrap();
        let env = BTreeMap::from([(
            "GLITCHTIP_MAX_EVENT_LIFE_DAYS".to_owned(),
            value["retention"]["glitchtip_days"].to_string(),
        )]);
        value["glitchtip"]["settings_unit"] = serde_json::json!("glitchtip.service");
        assert!(stack_description(&value.to_string(), &env).is_ok());
        assert!(stack_description(&value.to_string(), &BTreeMap::new()).is_err());
        value["glitchtip"]["settings_unit"] = serde_json::Value::Null;
        let err = stack_description(&value.to_string(), &env).unwrap_err();
        assert!(err.contains("settings_unit"), "{err}");
    }

    #[test]
    fn scripts_are_read_from_the_test_sources() {
        let nix = "{ harness, ... }:\n{\n  testScript = harness + ''\n    start_all()\n    \
                   if x:\n        y(\"''${HOME}\")\n  '';\n}\n";
        assert_eq!(
            script_from_source(nix).unwrap(),
            "start_all()\nif x:\n    y(\"${HOME}\")"
        );
        assert!(script_from_source("{ }").is_none());
    }

    #[test]
    fn the_test_sources_pass_the_lints() {
        if tool("PYTHON3", "python3").is_none() {
            eprintln!("skipped: testScript lints (install python3)");
            return;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert!(lint_sources(&root).unwrap().unwrap() >= 8);
    }

    #[test]
    fn python_names_follow_the_driver() {
        assert_eq!(python_name("meridian"), "meridian");
        assert_eq!(python_name("backup-host"), "backup_host");
        assert_eq!(python_name("1st"), "_st");
    }
}
