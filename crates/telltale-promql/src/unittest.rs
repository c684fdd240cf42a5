//! promtool's `test rules` files: load the input series, evaluate every rule group at each
//! evaluation interval up to the last time a test asks about, compare firing alerts at each
//! `alert_rule_test`'s eval time, then run each `promql_expr_test` — the order, the time
//! alignment and the exact comparisons promtool 2.42 uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::{self, QueryResult};
use crate::notation::{self, Slot};
use crate::rules::{self, duration_ms, Env, Group};
use crate::store::{Labels, Store};
use crate::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// How one test group ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GroupVerdict {
    /// Every expectation held.
    Passed,
    /// Some did not; one line per mismatch, in promtool's words where it has them.
    Failed(Vec<String>),
    /// The engine refused a construct it does not implement: the test was not run.
    Unsupported(String),
}

/// One test group's result.
#[derive(Debug, Clone)]
pub struct GroupReport {
    /// Its position in `tests:` (0-based).
    pub index: usize,
    /// Its `name:`, if it has one.
    pub name: Option<String>,
    /// The verdict.
    pub verdict: GroupVerdict,
}

/// One test file's result.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// A problem with the file as a whole (unreadable, a bad rule file): promtool fails the
    /// file for it. `Unsupported` here means the engine could not run the file.
    pub file_error: Option<GroupVerdict>,
    /// Each test group.
    pub groups: Vec<GroupReport>,
}

impl FileReport {
    /// True when the file and every group passed.
    pub fn passed(&self) -> bool {
        self.file_error.is_none()
            && self
                .groups
                .iter()
                .all(|g| g.verdict == GroupVerdict::Passed)
    }

    /// True when the engine refused something, so the file's verdict is unknown.
    pub fn unsupported(&self) -> bool {
        matches!(self.file_error, Some(GroupVerdict::Unsupported(_)))
            || self
                .groups
                .iter()
                .any(|g| matches!(g.verdict, GroupVerdict::Unsupported(_)))
    }
}

fn verdict_of(e: Error) -> GroupVerdict {
    if e.is_unsupported() {
        GroupVerdict::Unsupported(e.to_string())
    } else {
        GroupVerdict::Failed(vec![e.to_string()])
    }
}

/// Runs one promtool-format test file.
pub fn run_file(path: &Path) -> FileReport {
    let mut report = FileReport {
        path: path.to_owned(),
        file_error: None,
        groups: Vec::new(),
    };
    let file = path.display().to_string();
    let parsed: Result<TestFile, Error> = std::fs::read_to_string(path)
        .map_err(|e| Error::File {
            file: file.clone(),
            message: e.to_string(),
        })
        .and_then(|t| {
            serde_yaml_ng::from_str(&t).map_err(|e| Error::File {
                file: file.clone(),
                message: e.to_string(),
            })
        });
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            report.file_error = Some(verdict_of(e));
            return report;
        }
    };
    let prepared = (|| -> Result<(i64, Vec<PathBuf>), Error> {
        let eval_ms = match &parsed.evaluation_interval {
            Some(s) => duration_ms(s).map_err(|message| Error::File {
                file: file.clone(),
                message,
            })?,
            None => 60_000,
        };
        if !parsed.group_eval_order.is_empty() {
            return Err(Error::unsupported("group_eval_order"));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut files = Vec::new();
        for f in &parsed.rule_files {
            if f.contains(['*', '?', '[']) {
                return Err(Error::unsupported("a glob in rule_files"));
            }
            let p = Path::new(f);
            files.push(if p.is_absolute() {
                p.to_owned()
            } else {
                dir.join(p)
            });
        }
        // Loading once up front surfaces a bad rule file as a file-level failure, as promtool does.
        for f in &files {
            rules::load(f)?;
        }
        Ok((eval_ms, files))
    })();
    let (eval_ms, files) = match prepared {
        Ok(p) => p,
        Err(e) => {
            report.file_error = Some(verdict_of(e));
            return report;
        }
    };
    for (index, tg) in parsed.tests.iter().enumerate() {
        let verdict = match run_group(tg, eval_ms, &files) {
            Ok(errors) if errors.is_empty() => GroupVerdict::Passed,
            Ok(errors) => GroupVerdict::Failed(errors),
            Err(e) => verdict_of(e),
        };
        report.groups.push(GroupReport {
            index,
            name: tg.name.clone(),
            verdict,
        });
    }
    report
}

/// Parses a series description (`metric{a="b"}`) into its labels, as promtool's `ParseMetric`.
fn series_labels(s: &str) -> Result<Labels, Error> {
    let t = s.trim();
    if t.is_empty() || t == "{}" {
        return Ok(Labels::new());
    }
    let expr = engine::parse(t)?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(Error::Parse {
            expr: s.to_owned(),
            message: "not a series description".into(),
        });
    };
    let mut out = Labels::new();
    if let Some(n) = vs.name {
        out.insert("__name__".into(), n);
    }
    for m in vs.matchers.matchers {
        if !matches!(m.op, promql_parser::label::MatchOp::Equal) {
            return Err(Error::Parse {
                expr: s.to_owned(),
                message: "a series description takes only `=` matchers".into(),
            });
        }
        out.insert(m.name, m.value);
    }
    out.retain(|_, v| !v.is_empty());
    Ok(out)
}

/// A time as promtool prints it (Prometheus's `model.Duration`: `0s`, `11m`, `1h30m`).
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn run_group(tg: &TestGroup, eval_ms: i64, files: &[PathBuf]) -> Result<Vec<String>, Error> {
    let step = match &tg.interval {
        Some(s) => duration_ms(s).map_err(|message| Error::File {
            file: "test group".into(),
            message,
        })?,
        None => eval_ms,
    };
    let mut store = Store::new();
    let mut input = Vec::new();
    for s in &tg.input_series {
        input.push((series_labels(&s.series)?, notation::expand(&s.values)?));
    }
    let mut groups: Vec<Group> = Vec::new();
    for f in files {
        groups.extend(rules::load(f)?);
    }
    let external_labels: Labels = tg.external_labels.clone().into_iter().collect();
    let env = Env {
        external_labels: &external_labels,
        external_url: &tg.external_url,
    };
    let bad = |message: String| Error::File {
        file: "test group".into(),
        message,
    };
    let mut alert_times: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
    for a in &tg.alert_rule_test {
        alert_times
            .entry(duration_ms(&a.eval_time).map_err(bad)?)
            .or_default()
            .push(a);
    }
    let mut max_t = alert_times.keys().next_back().copied().unwrap_or(0);
    for e in &tg.promql_expr_test {
        max_t = max_t.max(duration_ms(&e.eval_time).map_err(bad)?);
    }
    // promtool loads input samples lazily, up to each evaluation step; after the last step
    // (the last multiple of the evaluation interval not after the latest eval_time) nothing more
    // is loaded, so a promql_expr_test between steps sees only samples up to that step.
    let last_step = max_t - max_t.rem_euclid(eval_ms);
    for (labels, slots) in &input {
        for (i, slot) in slots.iter().enumerate() {
            let t = i as i64 * step;
            if t > last_step {
                break;
            }
            match slot {
                Slot::Value(v) => store.push(labels, t, *v),
                Slot::Stale => store.push_stale(labels, t),
                Slot::Omitted => {}
            }
        }
    }
    let mut errors = Vec::new();
    let times: Vec<i64> = alert_times.keys().copied().collect();
    let mut next = 0;
    let mut ts = 0;
    while ts <= max_t {
        for g in &mut groups {
            g.eval(&mut store, ts, &env).inspect_err(|e| {
                if !e.is_unsupported() {
                    errors.push(e.to_string());
                }
            })?;
        }
        // An alert test whose eval_time falls between two evaluations sees the earlier one.
        while next < times.len() && ts <= times[next] && times[next] < ts + eval_ms {
            let t = times[next];
            for case in &alert_times[&t] {
                let mut got: Vec<(Labels, Labels)> = Vec::new();
                for g in &groups {
                    for r in &g.rules {
                        if r.alert_name() == Some(case.alertname.as_str()) {
                            got.extend(
                                r.firing()
                                    .into_iter()
                                    .map(|a| (a.labels.clone(), a.annotations.clone())),
                            );
                        }
                    }
                }
                let mut exp: Vec<(Labels, Labels)> = case
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l: Labels = a.exp_labels.clone().into_iter().collect();
                        l.insert("alertname".into(), case.alertname.clone());
                        (l, a.exp_annotations.clone().into_iter().collect())
                    })
                    .collect();
                got.sort();
                exp.sort();
                if got != exp {
                    errors.push(format!(
                        "alertname: {}, time: {}, exp: {}, got: {}",
                        case.alertname,
                        go_duration(t),
                        show_alerts(&exp),
                        show_alerts(&got)
                    ));
                }
            }
            next += 1;
        }
        ts += eval_ms;
    }
    for case in &tg.promql_expr_test {
        let t = duration_ms(&case.eval_time).map_err(bad)?;
        let got = match engine::query(&store, &case.expr, t) {
            Ok(QueryResult::Vector(v)) => v
                .into_iter()
                .map(|s| (s.labels, s.value))
                .collect::<Vec<_>>(),
            Ok(QueryResult::Scalar(v)) => vec![(Labels::new(), v)],
            Err(e) if e.is_unsupported() => return Err(e),
            Err(e) => {
                errors.push(format!(
                    "expr: {:?}, time: {}, err: {e}",
                    case.expr,
                    go_duration(t)
                ));
                continue;
            }
        };
        let mut exp = Vec::new();
        for s in &case.exp_samples {
            exp.push((series_labels(&s.labels)?, s.value));
        }
        let mut got = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        // Exact float equality, as promtool 2.42's reflect.DeepEqual (NaN never equals NaN).
        let same =
            got.len() == exp.len() && got.iter().zip(&exp).all(|(g, e)| g.0 == e.0 && g.1 == e.1);
        if !same {
            errors.push(format!(
                "expr: {:?}, time: {}, exp: {}, got: {}",
                case.expr,
                go_duration(t),
                show_samples(&exp),
                show_samples(&got)
            ));
        }
    }
    Ok(errors)
}

fn show_labels(l: &Labels) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn show_alerts(a: &[(Labels, Labels)]) -> String {
    let parts: Vec<String> = a
        .iter()
        .map(|(l, ann)| {
            format!(
                "(labels: {}, annotations: {})",
                show_labels(l),
                show_labels(ann)
            )
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn show_samples(s: &[(Labels, f64)]) -> String {
    let parts: Vec<String> = s
        .iter()
        .map(|(l, v)| format!("{} {}", show_labels(l), crate::template::go_float_v(*v)))
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(300_000), "5m");
        assert_eq!(go_duration(4_200_000), "1h10m");
        assert_eq!(go_duration(90_500), "1m30s500ms");
    }

    #[test]
    fn parses_series_descriptions() {
        let l = series_labels("up{job=\"a\", instance=\"b\"}").unwrap();
        assert_eq!(l.len(), 3);
        assert!(series_labels("{}").unwrap().is_empty());
        assert!(series_labels("up{job=~\"a\"}").is_err());
    }
}
