//! `cargo xtask vm-test`: builds and runs the meridian NixOS VM tests (`nixos-tests/`), or only
//! instantiates them (`--eval-only`), and `cargo xtask ci`'s parse check of every `.nix` file.
//!
//! Exit codes follow the harness: 0 every test passed, 1 a test failed, 2 the tests could not
//! run here (no Nix, no KVM, no nixpkgs).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub(crate) const HELP: &str = "\
cargo xtask vm-test [TEST]... [--module PATH | --flake REF] [--nixpkgs PATH]
                    [--interactive] [--keep-going] [--eval-only | --check]

Tests: delivery firewall backup-restore retention faults load resilience podman-apps
       (default: all of them)

  --module PATH   test this NixOS module instead of nixos-tests/module (a nixos-config's own)
  --flake REF     test the module a flake exports as nixosModules.meridian-observability
                  (or .default)
  --nixpkgs PATH  evaluate against this nixpkgs checkout instead of the pin in
                  nixos-tests/nixpkgs.json (NIX_PATH's nixpkgs= entry is used the same way)
  --interactive   start the named test's driver interactively (one test)
  --keep-going    run every test even after one fails
  --eval-only     instantiate every test and the module without building or booting anything
  --check         --eval-only, then everything a build would check, on the evaluated texts:
                  shellcheck on every writeShellApplication, loki -verify-config (LOKI_BIN),
                  promtool check config/rules, nginx -t, alloy fmt (ALLOY_BIN), ruff and ty
                  (what the driver build runs) and mypy of every testScript (needs --nixpkgs
                  or NIX_PATH for the driver's sources), lints of the testScripts, the Faro key
                  copy, the stack description read by the harness. A missing checker prints
                  `skipped: …`; tools come from PATH or SHELLCHECK, PROMTOOL, NGINX, RUFF, TY, MYPY
";

/// The tests in `nixos-tests/default.nix`, in the order they run.
pub(crate) const TESTS: &[&str] = &[
    "delivery",
    "firewall",
    "backup-restore",
    "retention",
    "faults",
    "load",
    "resilience",
    "podman-apps",
];

/// The Nix version the pinned nixpkgs requires (its `lib/minfeatures.nix`).
const MIN_NIX: (u32, u32) = (2, 18);

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Args {
    tests: Vec<String>,
    module: Option<PathBuf>,
    flake: Option<String>,
    nixpkgs: Option<PathBuf>,
    interactive: bool,
    keep_going: bool,
    eval_only: bool,
    check: bool,
}

pub(crate) fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Args> {
    let mut args = Args::default();
    while let Some(arg) = raw.next() {
        let mut value = |flag: &str| {
            raw.next()
                .with_context(|| format!("{flag} needs a value\n\n{HELP}"))
        };
        match arg.as_str() {
            "--module" => args.module = Some(PathBuf::from(value("--module")?)),
            "--flake" => args.flake = Some(value("--flake")?),
            "--nixpkgs" => args.nixpkgs = Some(PathBuf::from(value("--nixpkgs")?)),
            "--interactive" => args.interactive = true,
            "--keep-going" => args.keep_going = true,
            "--eval-only" => args.eval_only = true,
            "--check" => {
                args.eval_only = true;
                args.check = true;
            }
            flag if flag.starts_with('-') => bail!("unknown flag {flag:?}\n\n{HELP}"),
            test if TESTS.contains(&test) => args.tests.push(test.to_owned()),
            other => bail!("unknown test {other:?}; the tests are {}", TESTS.join(", ")),
        }
    }
    if args.module.is_some() && args.flake.is_some() {
        bail!("give --module or --flake, not both");
    }
    if args.interactive && (args.tests.len() != 1 || args.eval_only) {
        bail!("--interactive runs exactly one named test, and does not go with --eval-only");
    }
    Ok(args)
}

/// Runs the command and returns the process exit code.
pub(crate) fn run(root: &Path, raw: impl Iterator<Item = String>) -> Result<i32> {
    let args = parse_args(raw)?;
    let Some(nix_version) = nix_version() else {
        eprintln!(
            "vm-test: Nix is not installed (no `nix-instantiate` on PATH).\n\
             To evaluate only (--eval-only): `apt-get install nix-bin` on Debian/Ubuntu.\n\
             To build and boot the VMs: install Nix {}.{} or newer (https://nixos.org/download), \
             with access to a binary cache.",
            MIN_NIX.0, MIN_NIX.1
        );
        return Ok(2);
    };
    let old_nix = nix_version < MIN_NIX;
    if old_nix && !args.eval_only {
        eprintln!(
            "vm-test: Nix {}.{} is too old to build the pinned nixpkgs (it needs {}.{}); \
             install a newer Nix (https://nixos.org/download), or use --eval-only.",
            nix_version.0, nix_version.1, MIN_NIX.0, MIN_NIX.1
        );
        return Ok(2);
    }
    if !args.eval_only {
        if let Err(why) = kvm_usable() {
            eprintln!(
                "vm-test: KVM is not usable: {why}.\n\
                 The VM tests need hardware virtualisation: run on a machine with /dev/kvm (enable \
                 VT-x/AMD-V, `modprobe kvm_intel` or `kvm_amd`, add yourself to the `kvm` group), or \
                 on a CI runner with KVM (see .github/workflows/vm-tests.yml). --eval-only needs no KVM."
            );
            return Ok(2);
        }
    }

    let mut nix_args: Vec<String> = Vec::new();
    let nixpkgs = nixpkgs_path(&args);
    match &nixpkgs {
        Some(path) => {
            nix_args.extend(["--arg".into(), "nixpkgs".into(), nix_path_literal(path)?]);
        }
        None => {
            if let Err(why) = pin_is_complete(root) {
                eprintln!("vm-test: {why}");
                return Ok(2);
            }
        }
    }
    if let Some(module) = &args.module {
        nix_args.extend(["--arg".into(), "module".into(), nix_path_literal(module)?]);
    }
    if let Some(flake) = &args.flake {
        nix_args.extend([
            "--argstr".into(),
            "flake".into(),
            flake.clone(),
            "--extra-experimental-features".into(),
            "nix-command flakes".into(),
        ]);
    }
    if old_nix {
        // Evaluation only: see `allowOldNix` in nixos-tests/default.nix.
        eprintln!(
            "vm-test: Nix {}.{} is older than nixpkgs wants ({}.{}); evaluating past its version check",
            nix_version.0, nix_version.1, MIN_NIX.0, MIN_NIX.1
        );
        nix_args.extend(["--arg".into(), "allowOldNix".into(), "true".into()]);
    }

    let tests: Vec<String> = if args.tests.is_empty() {
        TESTS.iter().map(|t| (*t).to_owned()).collect()
    } else {
        args.tests.clone()
    };
    let dir = root.join("nixos-tests");

    if args.eval_only {
        let mut attrs = tests.clone();
        attrs.push("module".into());
        // The module inside a host that runs its own PostgreSQL on 5432 (default.nix asserts
        // the host's is untouched).
        attrs.push("hostPostgres".into());
        let mut failed = Vec::new();
        for attr in &attrs {
            let ok = nix(&dir, "nix-instantiate", &["-A", attr], &nix_args)?;
            println!("{} {attr}", if ok { "ok  " } else { "FAIL" });
            if !ok {
                failed.push(attr.clone());
            }
        }
        println!(
            "{} passed, {} failed",
            attrs.len() - failed.len(),
            failed.len()
        );
        if args.check {
            let checked = crate::vm_check::run(root, &dir, &nix_args, nixpkgs.as_deref())?;
            return Ok(if failed.is_empty() && checked { 0 } else { 1 });
        }
        return Ok(if failed.is_empty() { 0 } else { 1 });
    }

    if args.interactive {
        let attr = format!("{}.driverInteractive", tests[0]);
        let link = format!("result-vm-{}-interactive", tests[0]);
        if !nix(
            &dir,
            "nix-build",
            &["-A", &attr, "--out-link", &link],
            &nix_args,
        )? {
            return Ok(1);
        }
        let status = Command::new(dir.join(&link).join("bin/nixos-test-driver"))
            .current_dir(&dir)
            .status()
            .context("could not start the interactive driver")?;
        return Ok(if status.success() { 0 } else { 1 });
    }

    let mut failed = Vec::new();
    for test in &tests {
        let link = format!("result-vm-{test}");
        let mut build = vec!["-A", test.as_str(), "--out-link", link.as_str()];
        if args.keep_going {
            build.push("--keep-going");
        }
        let ok = nix(&dir, "nix-build", &build, &nix_args)?;
        println!(
            "{} {test}{}",
            if ok { "ok  " } else { "FAIL" },
            if ok {
                format!(" (output: nixos-tests/{link})")
            } else {
                String::new()
            }
        );
        if !ok {
            failed.push(test.clone());
            if !args.keep_going {
                break;
            }
        }
    }
    println!(
        "{} passed, {} failed",
        tests.len() - failed.len().min(tests.len()),
        failed.len()
    );
    Ok(if failed.is_empty() { 0 } else { 1 })
}

fn nix(dir: &Path, program: &str, args: &[&str], extra: &[String]) -> Result<bool> {
    eprintln!("$ {program} {} {}", args.join(" "), extra.join(" "));
    let status = Command::new(program)
        .arg(dir)
        .args(args)
        .args(extra)
        .status()
        .with_context(|| format!("could not start {program}"))?;
    Ok(status.success())
}

/// `nix-instantiate --version` as (major, minor), or `None` when Nix is missing.
fn nix_version() -> Option<(u32, u32)> {
    let out = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .ok()?;
    parse_nix_version(&String::from_utf8_lossy(&out.stdout))
}

pub(crate) fn parse_nix_version(text: &str) -> Option<(u32, u32)> {
    // "nix-instantiate (Nix) 2.8.0", "nix-instantiate (Lix, like Nix) 2.91.1"
    let version = text.split_whitespace().last()?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let minor = minor.parse().ok()?;
    Some((major, minor))
}

fn kvm_usable() -> std::result::Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ())
        .map_err(|e| format!("/dev/kvm: {e}"))
}

/// `--nixpkgs`, else the `nixpkgs=` entry of `NIX_PATH`.
fn nixpkgs_path(args: &Args) -> Option<PathBuf> {
    args.nixpkgs.clone().or_else(|| {
        std::env::var("NIX_PATH").ok().and_then(|nix_path| {
            nix_path
                .split(':')
                .find_map(|entry| entry.strip_prefix("nixpkgs=").map(PathBuf::from))
        })
    })
}

/// Nix reads an absolute path without quotes as a path literal, which `--arg` needs.
fn nix_path_literal(path: &Path) -> Result<String> {
    let absolute = std::fs::canonicalize(path)
        .with_context(|| format!("{} does not exist", path.display()))?;
    let text = absolute
        .to_str()
        .context("the path is not UTF-8")?
        .to_owned();
    if text.contains(|c: char| c.is_whitespace() || c == '"' || c == '$') {
        bail!("{text}: Nix path literals cannot hold spaces, quotes or `$`");
    }
    Ok(text)
}

fn pin_is_complete(root: &Path) -> std::result::Result<(), String> {
    let path = root.join("nixos-tests/nixpkgs.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |name: &str| {
        let key = format!("\"{name}\": \"");
        text.split_once(&key)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(value, _)| value.to_owned())
            .unwrap_or_default()
    };
    let (rev, sha256) = (field("rev"), field("sha256"));
    if rev.len() != 40 || sha256.is_empty() {
        return Err(format!(
            "the nixpkgs pin in {} is incomplete (rev {rev:?}, sha256 {sha256:?}). Fill in the hash with\n  \
             nix-prefetch-url --unpack https://github.com/NixOS/nixpkgs/archive/<rev>.tar.gz\n\
             or pass --nixpkgs PATH (or NIX_PATH=nixpkgs=PATH) to use a checkout.",
            path.display()
        ));
    }
    Ok(())
}

/// `nix-instantiate --parse` over every `.nix` file in the repository: syntax errors fail CI even
/// where nothing can be evaluated. Returns how many files were checked, or `None` (after printing
/// a `skipped:` line) when Nix is missing outside CI.
pub(crate) fn parse_check(root: &Path) -> Result<Option<usize>> {
    if nix_version().is_none() {
        if std::env::var_os("CI").is_some() {
            bail!("nix-instantiate is missing; .ci/run installs Debian's nix-bin");
        }
        eprintln!("skipped: nix parse check (install Debian's nix-bin, or Nix)");
        return Ok(None);
    }
    let mut files = Vec::new();
    collect_nix(root, &mut files)?;
    files.sort();
    let mut bad = Vec::new();
    for file in &files {
        let out = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(file)
            .output()
            .context("could not start nix-instantiate")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.contains("build-users-group"))
                .collect();
            bad.push(format!("{}: {}", file.display(), why.join("\n")));
        }
    }
    if !bad.is_empty() {
        bail!("{} .nix files do not parse:\n{}", bad.len(), bad.join("\n"));
    }
    Ok(Some(files.len()))
}

fn collect_nix(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | "node_modules")
                && !name.starts_with('.')
                && !name.starts_with("result")
            {
                collect_nix(&path, out)?;
            }
        } else if name.ends_with(".nix") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn arguments() {
        let args = parse(&["delivery", "--eval-only", "--module", "/m", "load"]).unwrap();
        assert_eq!(args.tests, ["delivery", "load"]);
        assert!(args.eval_only);
        assert_eq!(args.module, Some(PathBuf::from("/m")));
        assert!(parse(&["nope"])
            .unwrap_err()
            .to_string()
            .contains("unknown test"));
        assert!(parse(&["--module", "/m", "--flake", "."]).is_err());
        assert!(parse(&["--interactive"]).is_err());
        assert!(parse(&["--interactive", "faults"]).is_ok());
        assert!(parse(&["--module"]).is_err());
        let check = parse(&["--check"]).unwrap();
        assert!(check.check && check.eval_only);
        assert!(parse(&["--check", "--interactive", "faults"]).is_err());
    }

    #[test]
    fn nix_versions() {
        assert_eq!(
            parse_nix_version("nix-instantiate (Nix) 2.8.0\n"),
            Some((2, 8))
        );
        assert_eq!(
            parse_nix_version("nix-instantiate (Lix, like Nix) 2.91.1"),
            Some((2, 91))
        );
        assert_eq!(
            parse_nix_version("nix-instantiate (Nix) 2.24pre20240101_dirty"),
            Some((2, 24))
        );
        assert!((2, 8) < MIN_NIX && (2, 24) >= MIN_NIX);
    }

    #[test]
    fn every_test_has_a_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nixos-tests/tests");
        for test in TESTS {
            assert!(dir.join(format!("{test}.nix")).is_file(), "{test}");
        }
    }
}
