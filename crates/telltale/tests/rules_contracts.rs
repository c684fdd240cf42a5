//! The rule pack's metrics contracts (`rules/contracts/`): every metric and label the rules in
//! `rules/*.rules.yml` select is promised by a contract; the contracts hold on what real
//! exposers served (node_exporter 1.5.0 and Loki 3.7.6, recorded in `fixtures/`); and a
//! contract refuses an exposition that breaks its cardinality or privacy budget.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use telltale_testsupport::{run, TempDir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Family name → (type, labels) for every family in the contracts.
fn contract_families(contracts: &[String]) -> Vec<(String, String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for text in contracts {
        // The real loader must accept it first.
        telltale_prometheus::MetricsContract::from_toml(text).unwrap();
        let value: toml::Table = toml::from_str(text).unwrap();
        for f in value["family"].as_array().unwrap() {
            let labels = f
                .get("labels")
                .and_then(|l| l.as_array())
                .map(|l| l.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            out.push((
                f["name"].as_str().unwrap().to_owned(),
                f["type"].as_str().unwrap().to_owned(),
                labels,
            ));
        }
    }
    out
}

/// What the rule files read that no contract promises, one line each.
fn uncovered(rule_files: &[PathBuf], contracts: &[String]) -> Vec<String> {
    let families = contract_families(contracts);
    // Target labels Prometheus adds, and the bucket bound, are no exposer's promise.
    let implicit: BTreeSet<&str> = ["job", "instance", "le"].into();
    let mut recorded = BTreeSet::new();
    let mut read = Vec::new();
    for f in rule_files {
        let deps = telltale_promql::rule_file_dependencies(f).unwrap();
        recorded.extend(deps.recorded);
        read.extend(deps.metrics);
    }
    let mut problems = Vec::new();
    for (metric, labels) in read {
        if recorded.contains(&metric) || metric == "up" {
            continue;
        }
        let family = families.iter().find(|(name, kind, _)| {
            metric == *name
                || (kind == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| metric == format!("{name}{s}")))
                || (kind == "counter"
                    && (metric == format!("{name}_total") || name == &format!("{metric}_total")))
        });
        let Some((_, _, promised)) = family else {
            problems.push(format!("{metric}: no contract declares it"));
            continue;
        };
        for l in labels {
            if !implicit.contains(l.as_str()) && !promised.contains(&l) {
                problems.push(format!(
                    "{metric}: the rules use label {l:?}, the contract does not promise it"
                ));
            }
        }
    }
    problems
}

fn pack() -> (Vec<PathBuf>, Vec<String>) {
    let mut rules = Vec::new();
    let mut contracts = Vec::new();
    for e in std::fs::read_dir(root().join("rules")).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".rules.yml") {
            rules.push(p);
        }
    }
    for e in std::fs::read_dir(root().join("rules/contracts")).unwrap() {
        contracts.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    rules.sort();
    (rules, contracts)
}

#[test]
fn every_metric_and_label_the_rule_pack_reads_is_promised_by_a_contract() {
    let (rules, contracts) = pack();
    assert_eq!(rules.len(), 3, "{rules:?}");
    let problems = uncovered(&rules, &contracts);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_contract_missing_a_label_the_rules_use_is_caught() {
    let (rules, contracts) = pack();
    // Drop `outcome` and `mode` (and the value lists that name them) from the contracts.
    let broken: Vec<String> = contracts
        .iter()
        .map(|c| {
            c.replace("labels = [\"outcome\"]", "labels = []")
                .replace(
                    "[family.allowed_values]\noutcome = [\"ok\", \"error\"]\n",
                    "",
                )
                .replace("labels = [\"cpu\", \"mode\"]", "labels = [\"cpu\"]")
                .replace("[family.allowed_values]\nmode = ", "# mode = ")
        })
        .collect();
    let problems = uncovered(&rules, &broken);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("p2p_relay_ws_connect_total") && p.contains("\"outcome\"")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("node_cpu_seconds_total") && p.contains("\"mode\"")),
        "{problems:?}"
    );
    let without_loki: Vec<String> = contracts
        .iter()
        .filter(|c| !c.contains("loki_request_duration_seconds"))
        .cloned()
        .collect();
    let problems = uncovered(&rules, &without_loki);
    assert!(
        problems
            .iter()
            .any(|p| p == "loki_request_duration_seconds_count: no contract declares it"),
        "{problems:?}"
    );
}

fn lint(contract: &str, target: &Path) -> (i32, String) {
    let root = root();
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_telltale"),
        &[
            "metrics",
            "lint",
            "--contract",
            root.join(contract).to_str().unwrap(),
            target.to_str().unwrap(),
        ],
    );
    (code, format!("{out}{err}"))
}

#[test]
fn real_exposers_keep_the_contracts_the_rules_rely_on() {
    let root = root();
    let (code, out) = lint(
        "rules/contracts/node-exporter.toml",
        &root.join("fixtures/prometheus/exposition/node_exporter-1.5.0.txt"),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = lint(
        "rules/contracts/stack.toml",
        &root.join("fixtures/loki/3.7.6/metrics/metrics.txt"),
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_p2p_contract_enforces_its_label_privacy_and_cardinality_budgets() {
    let dir = TempDir::new("p2p-contract");
    let good = "# HELP p2p_relay_ws_connect_total WebSocket connects.\n# TYPE p2p_relay_ws_connect_total counter\n\
        p2p_relay_ws_connect_total{outcome=\"ok\"} 990\np2p_relay_ws_connect_total{outcome=\"error\"} 10\n\
        # HELP p2p_replay_sync_lag_seconds Replay lag.\n# TYPE p2p_replay_sync_lag_seconds gauge\np2p_replay_sync_lag_seconds 1.5\n\
        # HELP p2p_replay_mailbox_depth Deepest mailbox.\n# TYPE p2p_replay_mailbox_depth gauge\np2p_replay_mailbox_depth 12\n\
        # HELP p2p_relay_peer_dial_duration_seconds Dial time.\n# TYPE p2p_relay_peer_dial_duration_seconds histogram\n\
        p2p_relay_peer_dial_duration_seconds_bucket{le=\"1\"} 3\np2p_relay_peer_dial_duration_seconds_bucket{le=\"+Inf\"} 4\n\
        p2p_relay_peer_dial_duration_seconds_sum 5\np2p_relay_peer_dial_duration_seconds_count 4\n\
        # HELP p2p_storage_write_duration_seconds Write time.\n# TYPE p2p_storage_write_duration_seconds histogram\n\
        p2p_storage_write_duration_seconds_bucket{le=\"0.1\"} 3\np2p_storage_write_duration_seconds_bucket{le=\"+Inf\"} 4\n\
        p2p_storage_write_duration_seconds_sum 0.5\np2p_storage_write_duration_seconds_count 4\n";
    let path = dir.0.join("good.txt");
    std::fs::write(&path, good).unwrap();
    let (code, out) = lint("rules/contracts/p2p-app.toml", &path);
    assert_eq!(code, 0, "{out}");

    // A peer id as a label: the privacy scan refuses it, without repeating it.
    let peer = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    let leaky = good.replace(
        "p2p_replay_mailbox_depth 12",
        &format!("p2p_replay_mailbox_depth{{peer=\"{peer}\"}} 12"),
    );
    std::fs::write(&path, leaky).unwrap();
    let (code, out) = lint("rules/contracts/p2p-app.toml", &path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("p2p_replay_mailbox_depth") && !out.contains(peer),
        "{out}"
    );

    // An outcome per error kind: outside the allowed values and over the budget of 2.
    let wide = good.replace(
        "p2p_relay_ws_connect_total{outcome=\"error\"} 10",
        "p2p_relay_ws_connect_total{outcome=\"error\"} 10\np2p_relay_ws_connect_total{outcome=\"timeout\"} 3",
    );
    std::fs::write(&path, wide).unwrap();
    let (code, out) = lint("rules/contracts/p2p-app.toml", &path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("timeout") || out.contains("3 series"), "{out}");
}
