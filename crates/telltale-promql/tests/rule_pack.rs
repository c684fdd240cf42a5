//! The repository's rule tests through the library runner, without promtool: every file under
//! `rules/tests/` passes except those under `rules/tests/negative/`, where every test group (or
//! the file as a whole) fails. `crates/telltale/tests/rules_promtool.rs` runs the same files
//! through promtool too.

use std::path::{Path, PathBuf};

use telltale_promql::{run_file, GroupVerdict};

fn test_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            test_files(&path, out);
        } else if path.to_string_lossy().ends_with(".test.yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_rule_test_has_its_expected_verdict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/tests");
    let mut files = Vec::new();
    test_files(&root, &mut files);
    files.sort();
    assert!(files.len() >= 5, "found only {files:?}");
    let mut wrong = Vec::new();
    for f in &files {
        let negative = f.components().any(|c| c.as_os_str() == "negative");
        let report = run_file(f);
        assert!(!report.unsupported(), "{}: {report:#?}", f.display());
        if negative {
            if matches!(report.file_error, Some(GroupVerdict::Failed(_))) {
                continue;
            }
            for g in &report.groups {
                if g.verdict == GroupVerdict::Passed {
                    wrong.push(format!(
                        "{} test {} passed but must fail",
                        f.display(),
                        g.index
                    ));
                }
            }
        } else if !report.passed() {
            wrong.push(format!("{}: {report:#?}", f.display()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
