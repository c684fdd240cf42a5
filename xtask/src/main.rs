//! Project automation, reached as `cargo xtask <task>` (the cargo-xtask convention).
//!
//! `cargo xtask ci` runs exactly what CI runs, so a green local run means a green CI.

mod tidy;
mod vm_check;
mod vm_test;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

const HELP: &str = "\
cargo xtask <task>

Tasks:
  ci      run what CI runs: fmt check, clippy (warnings denied), tests, docs build
  tidy    check house rules (module docs, no #[ignore], no trailing whitespace)
  vm-test build and run the meridian NixOS VM tests (`cargo xtask vm-test --help`)
  help    print this list
";

fn main() -> Result<()> {
    let task = std::env::args().nth(1);
    let root = project_root();
    match task.as_deref() {
        Some("ci") => ci(&root),
        Some("vm-test") => {
            if std::env::args().any(|a| a == "--help" || a == "-h") {
                print!("{}", vm_test::HELP);
                return Ok(());
            }
            // Exit codes 0/1/2 like the harness: 2 means Nix, KVM or nixpkgs is missing here.
            std::process::exit(vm_test::run(&root, std::env::args().skip(2))?)
        }
        Some("tidy") => tidy::check(&root).map(|n| println!("tidy: {n} files checked")),
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}\n\n{HELP}"),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the root")
        .to_path_buf()
}

fn ci(root: &Path) -> Result<()> {
    run(root, "cargo", &["fmt", "--all", "--check"], &[])?;
    run(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run(
        root,
        "cargo",
        &["test", "--workspace", "--all-targets", "--locked"],
        &[],
    )?;
    run(
        root,
        "cargo",
        &["test", "--workspace", "--doc", "--locked"],
        &[],
    )?;
    run(
        root,
        "cargo",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    if let Some(n_files) = vm_test::parse_check(root)? {
        eprintln!("nix parse check: {n_files} .nix files parse");
    }
    if let Some(n_tests) = vm_check::lint_sources(root)? {
        eprintln!("testScript lints: {n_tests} VM tests");
    }
    Ok(())
}

fn run(root: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
