//! `telltale rules test FILE…`: runs promtool-format rule unit tests with telltale's PromQL
//! subset engine and prints a verdict per test group. Exit 0 when every group passed, 1 when one
//! failed (as promtool), 2 when the engine refused a construct it does not implement.

use std::fmt::Write;
use std::path::PathBuf;

use telltale_promql::{run_file, GroupVerdict};

/// Runs every file and prints the verdicts; returns the exit code.
pub(crate) fn test(files: &[PathBuf]) -> u8 {
    let mut out = String::new();
    let (mut failed, mut unsupported) = (false, false);
    let (mut passed_groups, mut failed_groups) = (0usize, 0usize);
    for path in files {
        let report = run_file(path);
        let _ = writeln!(out, "Unit Testing: {}", path.display());
        if let Some(e) = &report.file_error {
            print_verdict(&mut out, "file", e);
            failed_groups += 1;
        }
        for g in &report.groups {
            let who = match &g.name {
                Some(n) => format!("test {} ({n})", g.index),
                None => format!("test {}", g.index),
            };
            print_verdict(&mut out, &who, &g.verdict);
            if g.verdict == GroupVerdict::Passed {
                passed_groups += 1;
            } else {
                failed_groups += 1;
            }
        }
        unsupported |= report.unsupported();
        failed |= !report.passed() && !report.unsupported();
        let _ = writeln!(
            out,
            "  {}",
            if report.unsupported() {
                "UNSUPPORTED"
            } else if report.passed() {
                "SUCCESS"
            } else {
                "FAILED"
            }
        );
    }
    let _ = writeln!(out, "{passed_groups} passed, {failed_groups} failed");
    let _ = crate::print_out(&out);
    if failed {
        1
    } else if unsupported {
        2
    } else {
        0
    }
}

fn print_verdict(out: &mut String, who: &str, v: &GroupVerdict) {
    match v {
        GroupVerdict::Passed => {
            let _ = writeln!(out, "  {who}: passed");
        }
        GroupVerdict::Failed(errors) => {
            let _ = writeln!(out, "  {who}: FAILED");
            for e in errors {
                let _ = writeln!(out, "    {e}");
            }
        }
        GroupVerdict::Unsupported(why) => {
            let _ = writeln!(out, "  {who}: could not run: {why}");
        }
        _ => {
            let _ = writeln!(out, "  {who}: unknown verdict");
        }
    }
}
