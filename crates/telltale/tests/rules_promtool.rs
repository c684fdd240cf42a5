//! `telltale rules test` against promtool itself: every promtool-format rule test file in the
//! repository is run by both, one test group at a time, and both must give the same verdict for
//! every group (and for the file as a whole). Files under a `negative/` folder are deliberately
//! wrong and must fail in both; every other file must pass in both.
//!
//! promtool comes from Debian's `prometheus` package (2.42 on bookworm), installed by `.ci/run`.

use std::path::{Path, PathBuf};
use std::process::Command;

use telltale_testsupport::{find_binary, output, skip, TempDir};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn test_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                test_files(&path, out);
            }
        } else if name.ends_with(".test.yml") || name.ends_with(".test.yaml") {
            out.push(path);
        }
    }
}

/// Exit code of `promtool test rules` / `telltale rules test` on one file.
fn verdicts(promtool: &Path, file: &Path) -> (i32, i32, String) {
    let (p, p_out, p_err) = output(Command::new(promtool).args(["test", "rules"]).arg(file));
    let (t, t_out, t_err) = output(
        Command::new(env!("CARGO_BIN_EXE_telltale"))
            .args(["rules", "test"])
            .arg(file),
    );
    (
        p,
        t,
        format!("promtool ({p}):\n{p_out}{p_err}\ntelltale ({t}):\n{t_out}{t_err}"),
    )
}

/// The file with only test group `index`, its rule files made absolute so it runs from anywhere.
fn one_group(file: &Path, doc: &serde_yaml_ng::Value, index: usize, dir: &Path) -> PathBuf {
    let mut doc = doc.clone();
    let base = file.parent().unwrap();
    if let Some(rules) = doc.get_mut("rule_files").and_then(|r| r.as_sequence_mut()) {
        for r in rules.iter_mut() {
            let abs = base.join(r.as_str().unwrap());
            *r = serde_yaml_ng::Value::String(abs.to_string_lossy().into_owned());
        }
    }
    let group = doc["tests"][index].clone();
    doc["tests"] = serde_yaml_ng::Value::Sequence(vec![group]);
    let out = dir.join(format!(
        "{}-{index}.test.yml",
        file.file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".test.yml")
    ));
    std::fs::write(&out, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    out
}

/// Runs one file whole and group by group; returns disagreements, wrong expectations, groups
/// checked and groups promtool failed.
fn check_file(
    root: &Path,
    promtool: &Path,
    file: &Path,
    tmp: &Path,
) -> (Vec<String>, Vec<String>, usize, usize) {
    let mut disagreements = Vec::new();
    let mut wrong_expectations = Vec::new();
    let (mut groups_checked, mut failing_groups) = (0, 0);
    let rel = file.strip_prefix(root).unwrap().display().to_string();
    let negative = file.components().any(|c| c.as_os_str() == "negative");
    let (p, t, log) = verdicts(promtool, file);
    if p != t {
        disagreements.push(format!("{rel} (whole file): {log}"));
    }
    if (p == 0) == negative {
        wrong_expectations.push(format!(
            "{rel}: promtool exit {p}, expected {}",
            if negative { "a failure" } else { "a pass" }
        ));
    }
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let groups = doc["tests"].as_sequence().map_or(0, |s| s.len());
    for i in 0..groups {
        let single = one_group(file, &doc, i, tmp);
        let (p, t, log) = verdicts(promtool, &single);
        groups_checked += 1;
        if p != 0 {
            failing_groups += 1;
        }
        if p != t {
            disagreements.push(format!("{rel} test group {i}: {log}"));
        }
        if negative && p == 0 {
            wrong_expectations.push(format!(
                "{rel} test group {i} passes under promtool but sits in negative/"
            ));
        }
    }
    (
        disagreements,
        wrong_expectations,
        groups_checked,
        failing_groups,
    )
}

#[test]
fn telltale_and_promtool_agree_on_every_rule_test_in_the_repository() {
    let Some(promtool) = find_binary("PROMTOOL_BIN", Some("promtool")) else {
        // CI installs promtool, so there a missing one is a broken install, not a skip.
        assert!(
            std::env::var_os("TELLTALE_PROMTOOL_REQUIRED").is_none(),
            "promtool not found and TELLTALE_PROMTOOL_REQUIRED is set"
        );
        skip("promtool not found: the agreement test needs Debian's prometheus package (set PROMTOOL_BIN)");
        return;
    };
    let root = repo_root();
    let mut files = Vec::new();
    test_files(&root, &mut files);
    files.sort();
    assert!(files.len() >= 6, "rule test files found: {files:?}");
    let tmp = TempDir::new("rules-promtool");
    // One thread per file: each group is two short-lived processes, so this halves the wall time.
    let results: Vec<(Vec<String>, Vec<String>, usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|file| {
                let (root, promtool, tmp) = (&root, &promtool, &tmp.0);
                scope.spawn(move || check_file(root, promtool, file, tmp))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut disagreements = Vec::new();
    let mut wrong_expectations = Vec::new();
    let (mut groups_checked, mut failing_groups) = (0, 0);
    for (d, w, checked, failing) in results {
        disagreements.extend(d);
        wrong_expectations.extend(w);
        groups_checked += checked;
        failing_groups += failing;
    }
    assert!(
        disagreements.is_empty() && wrong_expectations.is_empty(),
        "{} disagreement(s):\n{}\n\nwrong expectations:\n{}",
        disagreements.len(),
        disagreements.join("\n---\n"),
        wrong_expectations.join("\n")
    );
    // The negative files must really exercise failing groups, or the agreement proves little.
    assert!(
        failing_groups >= 8,
        "only {failing_groups} failing groups of {groups_checked}"
    );
    assert!(groups_checked >= 20, "only {groups_checked} groups");
}

#[test]
fn a_construct_the_engine_does_not_implement_exits_2_naming_it() {
    // promtool would pass this file; telltale must say it cannot judge it, never pass or fail it.
    let dir = TempDir::new("rules-unsupported");
    let file = dir.0.join("topk.test.yml");
    std::fs::write(
        &file,
        "rule_files: []\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'x{a=\"1\"}'\n        values: '1'\n    promql_expr_test:\n      - expr: topk(1, x)\n        eval_time: 0m\n        exp_samples:\n          - labels: 'x{a=\"1\"}'\n            value: 1\n",
    )
    .unwrap();
    let (code, out, err) = output(
        Command::new(env!("CARGO_BIN_EXE_telltale"))
            .args(["rules", "test"])
            .arg(&file),
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("unsupported aggregation topk"), "{out}");
}
