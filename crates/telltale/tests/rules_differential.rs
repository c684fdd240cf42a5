//! Differential check of telltale's PromQL engine against promtool 2.42: random series (counters
//! with resets, gauges, classic histograms, gaps, stale markers, uneven intervals) and a fixed set
//! of expressions; telltale computes every answer, writes it into a promtool test file as the
//! expected samples, and promtool must pass the file, value for value (exact float equality).
//! The seeds are fixed, so a failure replays (the files are kept under the target's tmp dir).

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use telltale_promql::{query, Labels, QueryResult, Store};
use telltale_testsupport::{find_binary, output, skip, TempDir};

/// A small deterministic generator (SplitMix64), so the test needs no dependency and replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const EXPRS: &[&str] = &[
    "c",
    "g",
    "rate(c[5m])",
    "increase(c[3m])",
    "irate(c[5m])",
    "delta(g[4m])",
    "idelta(g[5m])",
    "resets(c[10m])",
    "changes(g[10m])",
    "avg_over_time(g[5m])",
    "sum_over_time(g[3m])",
    "min_over_time(g[5m]) - max_over_time(g[2m])",
    "count_over_time(g[4m])",
    "last_over_time(g[5m])",
    "deriv(g[10m])",
    "predict_linear(g[10m], 3600)",
    "sum by (job) (rate(c[5m]))",
    "avg without (i) (g)",
    "max by (job) (g) - min by (job) (g)",
    "count(g) * 2",
    "g > 50",
    "g <= bool 50",
    "50 < g",
    "g + on (job, i) group_left c",
    "sum by (job) (g) / on (job) sum by (job) (c)",
    "g and on (i) c",
    "g unless c > 100",
    "c or g",
    "histogram_quantile(0.9, sum by (job, le) (rate(h_bucket[5m])))",
    "histogram_quantile(0.5, h_bucket)",
    "clamp(g, 10, 60)",
    "abs(g - 50)",
    "absent(nothing{job=\"x\"})",
    "time() - 60",
    "scalar(sum(g)) * vector(2)",
    "sum(g offset 2m)",
];

fn labels_text(l: &Labels) -> String {
    let name = l.get("__name__").cloned().unwrap_or_default();
    let inner: Vec<String> = l
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", inner.join(", "))
}

fn yaml_float(v: f64) -> String {
    if v == f64::INFINITY {
        ".inf".into()
    } else if v == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        format!("{v:?}")
    }
}

/// One test group: its YAML, and how many expressions it compares.
fn group(seed: u64) -> (String, usize) {
    let mut rng = Rng(seed);
    let step_s = [15u64, 30, 60][rng.below(3) as usize];
    let steps = 40;
    // Aligned and unaligned evaluation times inside the series' span, chosen first: promtool
    // loads input only up to the last evaluation step (a multiple of evaluation_interval, 1m)
    // not after the latest eval_time, so later samples must stay out of telltale's store too.
    let times: Vec<i64> = EXPRS
        .iter()
        .map(|_| (rng.below(steps * step_s * 1000 / 500) * 500) as i64)
        .collect();
    let max_t = *times.iter().max().unwrap();
    let last_step = max_t - max_t % 60_000;
    let mut store = Store::new();
    let mut yaml = format!("  - interval: {step_s}s\n    input_series:\n");
    let mut add = |name: &str,
                   extra: &[(&str, String)],
                   values: Vec<Option<f64>>,
                   store: &mut Store,
                   rng: &mut Rng| {
        let mut l = Labels::new();
        l.insert("__name__".into(), name.into());
        for (k, v) in extra {
            l.insert((*k).into(), v.clone());
        }
        let mut words = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let t = i as i64 * step_s as i64 * 1000;
            let store = if t <= last_step {
                Some(&mut *store)
            } else {
                None
            };
            match v {
                Some(v) => {
                    if let Some(store) = store {
                        store.push(&l, t, *v);
                    }
                    words.push(format!("{v:?}"));
                }
                None if rng.below(4) == 0 && i > 0 => {
                    if let Some(store) = store {
                        store.push_stale(&l, t);
                    }
                    words.push("stale".into());
                }
                None => words.push("_".into()),
            }
        }
        let _ = writeln!(
            yaml,
            "      - series: '{}'\n        values: '{}'",
            labels_text(&l),
            words.join(" ")
        );
    };
    for job in ["a", "b"] {
        for i in ["1", "2"] {
            // A counter with occasional resets and gaps.
            let mut v = rng.below(100) as f64;
            let values = (0..steps)
                .map(|_| {
                    if rng.below(15) == 0 {
                        v = rng.below(20) as f64;
                    } else {
                        v += rng.below(30) as f64 + if rng.below(4) == 0 { 0.5 } else { 0.0 };
                    }
                    (rng.below(10) != 0).then_some(v)
                })
                .collect();
            add(
                "c",
                &[("job", job.into()), ("i", i.into())],
                values,
                &mut store,
                &mut rng,
            );
            let values = (0..steps)
                .map(|_| (rng.below(8) != 0).then(|| rng.below(100) as f64))
                .collect();
            add(
                "g",
                &[("job", job.into()), ("i", i.into())],
                values,
                &mut store,
                &mut rng,
            );
        }
        // A classic histogram: cumulative buckets that only grow.
        let mut counts = [0f64; 4];
        let mut series: Vec<Vec<Option<f64>>> = vec![Vec::new(); 4];
        for _ in 0..steps {
            let mut acc = 0.0;
            for (b, c) in counts.iter_mut().enumerate() {
                acc += rng.below(10) as f64;
                *c += acc;
                series[b].push(Some(*c));
            }
        }
        for (le, values) in ["0.1", "1", "10", "+Inf"].iter().zip(series) {
            add(
                "h_bucket",
                &[("job", job.into()), ("le", (*le).into())],
                values,
                &mut store,
                &mut rng,
            );
        }
    }
    yaml.push_str("    promql_expr_test:\n");
    let mut compared = 0;
    for (expr, &t_ms) in EXPRS.iter().zip(&times) {
        let samples = match query(&store, expr, t_ms).unwrap_or_else(|e| panic!("{expr}: {e}")) {
            QueryResult::Vector(v) => v
                .into_iter()
                .map(|s| (s.labels, s.value))
                .collect::<Vec<_>>(),
            QueryResult::Scalar(v) => vec![(Labels::new(), v)],
            other => panic!("{expr}: {other:?}"),
        };
        // promtool compares exactly, and NaN never equals NaN: leave such answers out.
        if samples.iter().any(|s| s.1.is_nan()) {
            continue;
        }
        compared += 1;
        let _ = writeln!(yaml, "      - expr: '{expr}'\n        eval_time: {t_ms}ms");
        if samples.is_empty() {
            yaml.push_str("        exp_samples: []\n");
        } else {
            yaml.push_str("        exp_samples:\n");
            for (l, v) in samples {
                let _ = writeln!(
                    yaml,
                    "          - labels: '{}'\n            value: {}",
                    labels_text(&l),
                    yaml_float(v)
                );
            }
        }
    }
    (yaml, compared)
}

#[test]
fn promtool_confirms_every_value_telltale_computes_on_random_series() {
    let Some(promtool) = find_binary("PROMTOOL_BIN", Some("promtool")) else {
        assert!(
            std::env::var_os("TELLTALE_PROMTOOL_REQUIRED").is_none(),
            "promtool not found and TELLTALE_PROMTOOL_REQUIRED is set"
        );
        skip("promtool not found: the differential test needs Debian's prometheus package (set PROMTOOL_BIN)");
        return;
    };
    // More seeds for a longer local run: TELLTALE_DIFFERENTIAL_SEEDS=500.
    let seeds: u64 = std::env::var("TELLTALE_DIFFERENTIAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let dir = TempDir::new("rules-differential");
    let mut compared = 0;
    let mut failures = Vec::new();
    for seed in 0..seeds {
        let (yaml, n) = group(seed);
        compared += n;
        let file = dir.0.join(format!("seed-{seed}.test.yml"));
        std::fs::write(
            &file,
            format!("rule_files: []\nevaluation_interval: 1m\ntests:\n{yaml}"),
        )
        .unwrap();
        let (code, out, err) = output(Command::new(&promtool).args(["test", "rules"]).arg(&file));
        if code != 0 {
            failures.push(format!("seed {seed} ({}):\n{out}{err}", file.display()));
        }
    }
    if !failures.is_empty() {
        // Keep the files for a look.
        let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rules-differential");
        let _ = std::fs::create_dir_all(&keep);
        for e in std::fs::read_dir(&dir.0).unwrap() {
            let p = e.unwrap().path();
            let _ = std::fs::copy(&p, keep.join(p.file_name().unwrap()));
        }
        panic!(
            "{} of {seeds} files disagree (kept in {}):\n{}",
            failures.len(),
            keep.display(),
            failures.join("\n")
        );
    }
    assert!(
        compared >= 24 * EXPRS.len() * 3 / 4,
        "only {compared} comparisons"
    );
}
