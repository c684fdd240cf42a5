//! The `check` report's JSON is a contract with the NixOS testScripts: a report built from fixed
//! inputs must serialize exactly to `fixtures/report/check-v2.json`, and the example in
//! `docs/report.md` must have the same shape. Set `UPDATE_SNAPSHOTS=1` to rewrite the snapshot
//! after a deliberate change (and bump `report::VERSION` when a field is renamed or removed).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use telltale::accounting::{Ledger, Sighting};
use telltale::report::{
    Check, Delivery, Evidence, Problem, Report, ScenarioReport, StackRef, Status,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sample() -> Report {
    let mut ledger = Ledger::new(Some(Duration::from_secs(30)));
    for seq in 0..20 {
        ledger.sent(seq, Duration::from_millis(100 * seq));
    }
    ledger.observe(
        (0..20)
            .filter(|s| ![7, 8, 12].contains(s))
            .map(|seq| Sighting {
                seq,
                seen_at: Duration::from_millis(100 * seq + 800),
            }),
    );
    ledger.observe_misrouted(
        12,
        Duration::from_millis(2100),
        "{app=\"be-pwa\", service_unit=\"other.service\"}",
    );
    let mut evidence = Evidence::default();
    evidence.push(
        "queries",
        serde_json::json!({"endpoint": "http://127.0.0.1:3100", "query": "{app=\"be-pwa\"} |= \"tt-1b2c3d4e\""}),
    );
    let failed = ScenarioReport {
        name: "journald-to-loki".into(),
        status: Status::Failed,
        summary:
            "journald podman-be-pwa.service: 20 sent: 17 delivered, 1 misrouted, 2 missing (missing 7-8)"
                .into(),
        duration_ms: 4210.0,
        checks: vec![Check {
            name: "podman-be-pwa.service lines delivered".into(),
            passed: false,
            expected: "20".into(),
            actual: "18".into(),
        }],
        delivery: vec![Delivery::from_summary(
            "journald podman-be-pwa.service",
            &ledger.summary(),
        )],
        evidence,
        problem: None,
    };
    let unavailable = ScenarioReport {
        name: "grafana".into(),
        status: Status::Unavailable,
        summary: "connection refused".into(),
        duration_ms: 3.5,
        checks: vec![],
        delivery: vec![],
        evidence: Evidence::default(),
        problem: Some(Problem {
            endpoint: "http://127.0.0.1:3000".into(),
            message: "connection refused".into(),
            hint: "start Grafana".into(),
        }),
    };
    let mut report = Report::new(
        "tt-1b2c3d4e".into(),
        "2026-11-22T10:00:00Z".into(),
        Duration::from_millis(5123),
        StackRef {
            host: "127.0.0.1".into(),
            source: "/etc/telltale/stack.json".into(),
        },
        vec![failed, unavailable],
    );
    // The version moves with every release; the snapshot pins the shape, not the release.
    report.telltale = "0.1.0";
    report
}

/// Every key path, with `[]` for array elements: the shape a reader depends on.
fn shape(value: &serde_json::Value, path: String, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{path}.{k}");
                out.insert(p.clone());
                // Evidence is free-form per scenario.
                if k != "evidence" {
                    shape(v, p, out);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                shape(item, format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_report_matches_its_snapshot() {
    let json = sample().to_json();
    let path = root().join("fixtures/report/check-v2.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{json}\n")).unwrap();
    }
    let snapshot = std::fs::read_to_string(&path).expect("the snapshot exists");
    assert_eq!(
        json.trim_end(),
        snapshot.trim_end(),
        "the report's JSON changed; if deliberate, rerun with UPDATE_SNAPSHOTS=1 and update docs/report.md"
    );
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["schema"], "telltale-check-report");
    assert_eq!(value["version"], 2);
    assert_eq!(value["exit_code"], 1);
    let d = &value["scenarios"][0]["delivery"][0];
    let buckets: u64 = [
        "delivered",
        "late",
        "duplicated",
        "out_of_order",
        "misrouted",
        "missing",
    ]
    .iter()
    .map(|k| d[k].as_u64().unwrap())
    .sum();
    assert_eq!(
        buckets,
        d["sent"].as_u64().unwrap(),
        "every item in one bucket"
    );
    assert_eq!(d["missing_ranges"], serde_json::json!([[7, 8]]));
}

#[test]
fn the_documented_example_has_the_reports_shape() {
    let doc = std::fs::read_to_string(root().join("docs/report.md")).unwrap();
    let example = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("docs/report.md has a JSON example");
    let documented: serde_json::Value =
        serde_json::from_str(example).expect("the documented example is valid JSON");
    let actual: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    shape(&documented, String::new(), &mut a);
    shape(&actual, String::new(), &mut b);
    // The sample has a `problem` object; the doc's example scenario has `null`.
    let missing: Vec<_> = b
        .difference(&a)
        .filter(|p| !p.contains(".problem."))
        .collect();
    let extra: Vec<_> = a.difference(&b).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/report.md and the report differ: undocumented {missing:?}, documented but absent {extra:?}"
    );
}
