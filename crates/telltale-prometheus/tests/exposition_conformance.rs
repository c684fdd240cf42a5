//! Runs the OpenMetrics project's own parser test suite through the OpenMetrics parser: every
//! case must parse or fail as its `test.json` says, except the documented deviations.
//!
//! The suite is third-party data and is not kept in this repository: point
//! `OPENMETRICS_TESTSUITE_DIR` at `tests/testdata/parsers/` of a checkout of
//! OpenObservability/OpenMetrics (commit 296468bc2359 was used); without it the test prints one
//! `skipped:` line.

use std::path::PathBuf;

use telltale_prometheus::exposition::{self, Format};

fn suite_dir() -> Option<PathBuf> {
    std::env::var_os("OPENMETRICS_TESTSUITE_DIR").map(PathBuf::from)
}

/// Cases where this parser knowingly disagrees with the suite, and why.
const DEVIATIONS: &[(&str, &str)] = &[(
    "timestamps",
    "a timestamp of 12345678901234567890.1234567890 s does not fit i64 milliseconds; \
     this parser reports it instead of overflowing as Prometheus does",
)];

#[test]
fn openmetrics_test_suite() {
    let Some(dir) = suite_dir() else {
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"\nskipped: OpenMetrics conformance suite (set OPENMETRICS_TESTSUITE_DIR to tests/testdata/parsers of OpenObservability/OpenMetrics)\n",
        );
        return;
    };
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("OPENMETRICS_TESTSUITE_DIR names a readable folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    assert!(
        entries.len() > 200,
        "only {} cases found; is the suite complete?",
        entries.len()
    );
    let mut wrong = Vec::new();
    let mut good = 0;
    let mut bad = 0;
    for dir in &entries {
        let case = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
        assert_eq!(spec["type"], "text", "{case}");
        let should_parse = spec["shouldParse"].as_bool().unwrap();
        let file = spec["file"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let result = match std::str::from_utf8(&bytes) {
            Ok(body) => exposition::parse(body, Format::OpenMetrics1),
            Err(_) => exposition::parse_bytes(
                &bytes,
                Some("application/openmetrics-text; version=1.0.0"),
                None,
            ),
        };
        if should_parse {
            good += 1;
        } else {
            bad += 1;
        }
        let deviation = DEVIATIONS.iter().find(|(name, _)| *name == case);
        match (should_parse, &result, deviation) {
            (true, Ok(_), None) | (false, Err(_), None) => {}
            (true, Err(_), Some(_)) => {}
            (_, _, Some((_, why))) => wrong.push(format!(
                "{case}: listed as a deviation ({why}) but now agrees with the suite"
            )),
            (true, Err(e), None) => wrong.push(format!("{case}: should parse, got: {e}")),
            (false, Ok(parsed), None) => wrong.push(format!(
                "{case}: should fail, parsed {} families",
                parsed.families.len()
            )),
        }
    }
    assert!(good > 40 && bad > 150, "{good} good and {bad} bad cases");
    assert!(
        wrong.is_empty(),
        "{} of {} cases disagree:\n{}",
        wrong.len(),
        entries.len(),
        wrong.join("\n")
    );
}

#[test]
fn rejected_cases_give_positioned_reasons() {
    let Some(suite) = suite_dir() else {
        use std::io::Write;
        let _ = std::io::stderr().write_all(b"\nskipped: positioned reasons on OpenMetrics suite cases (set OPENMETRICS_TESTSUITE_DIR)\n");
        return;
    };
    // A sample of the suite's bad cases, with the message each must give.
    for (case, line, needle) in [
        ("bad_no_eof", 1, "missing # EOF"),
        ("bad_text_after_eof_0", 3, "content after # EOF"),
        ("bad_blank_line", 2, "expected a metric name"),
        ("bad_counter_values_1", 2, "counter \"a\" total is negative"),
        (
            "bad_histograms_9",
            3,
            "buckets must be in ascending order of le",
        ),
        (
            "bad_clashing_names_2",
            2,
            "clashes with metric family \"a_created\"",
        ),
        ("bad_unit_4", 1, "unit \"seconds\" is not a suffix"),
        ("bad_exemplars_6", 2, "OpenMetrics allows at most 128"),
        ("bad_grouping_or_ordering_4", 3, "goes back in time"),
        ("bad_missing_or_extra_commas_2", 1, "trailing ','"),
        ("bad_invalid_labels_2", 1, "duplicate label \"a\""),
    ] {
        let dir = suite.join(case);
        let body = std::fs::read_to_string(dir.join("metrics")).unwrap();
        match exposition::parse(&body, Format::OpenMetrics1) {
            Err(telltale_prometheus::Error::Parse {
                line: l, reason, ..
            }) => {
                assert_eq!(l, line, "{case}: {reason}");
                assert!(
                    reason.contains(needle),
                    "{case}: {reason:?} lacks {needle:?}"
                );
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}
