//! Prometheus rule files (recording and alerting rules) and their evaluation step by step, as
//! Prometheus 2.42's rule manager does: recording rules write their output (and stale markers
//! for series that disappeared) back into the store; alerting rules move alerts from pending to
//! firing once `for:` has elapsed, keep resolved alerts for 15 minutes, and template their
//! labels and annotations with `$labels` and `$value`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use promql_parser::label::METRIC_NAME;
use promql_parser::parser::Expr;
use serde::Deserialize;

use crate::engine::{self, QueryResult, Sample};
use crate::store::{Labels, Store};
use crate::template::{self, Data};
use crate::Error;

const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroupFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroupFile {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    rules: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    expr: serde_yaml_ng::Value,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Inactive,
    Pending,
    Firing,
}

#[derive(Debug, Clone)]
pub(crate) struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: State,
    active_at: i64,
    resolved_at: Option<i64>,
}

pub(crate) enum Rule {
    Recording {
        name: String,
        expr: Expr,
        labels: BTreeMap<String, String>,
        previous: HashSet<Labels>,
    },
    Alerting {
        name: String,
        expr: Expr,
        hold_ms: i64,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
        active: HashMap<Labels, Alert>,
    },
}

pub(crate) struct Group {
    pub rules: Vec<Rule>,
}

/// Prometheus's `model.Duration` syntax (`1h30m`, `90s`, `0`): units y w d h m s ms, each at
/// most once, largest first.
pub(crate) fn duration_ms(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    let bad = || format!("not a valid duration string: {s:?}");
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // Longest unit name first, so `ms` is not read as `m` then `s`.
        let (i, len) = UNITS
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u))
            .map(|(i, (u, _))| (i, u.len()))
            .max_by_key(|&(_, len)| len)
            .ok_or_else(bad)?;
        if i < next_unit {
            return Err(bad());
        }
        next_unit = i + 1;
        total = total
            .checked_add(n.checked_mul(UNITS[i].1).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        rest = &rest[len..];
    }
    if s.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// Reads a rule file into groups, checking what Prometheus checks when it loads one.
pub(crate) fn load(path: &Path) -> Result<Vec<Group>, Error> {
    let file = path.display().to_string();
    let err = |message: String| Error::File {
        file: file.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let parsed: RuleFile = serde_yaml_ng::from_str(&text).map_err(|e| err(e.to_string()))?;
    let mut names = HashSet::new();
    let mut groups = Vec::new();
    for g in parsed.groups {
        if !names.insert(g.name.clone()) {
            return Err(err(format!(
                "groupname: {:?} is repeated in the same file",
                g.name
            )));
        }
        if let Some(i) = &g.interval {
            duration_ms(i).map_err(&err)?;
        }
        if g.limit.is_some_and(|l| l > 0) {
            return Err(Error::unsupported("rule group limit"));
        }
        let mut rules = Vec::new();
        for r in g.rules {
            let expr_text = match &r.expr {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                _ => return Err(err("a rule's expr must be a string".into())),
            };
            if expr_text.trim().is_empty() {
                return Err(err("field 'expr' must be set in rule".into()));
            }
            let expr = engine::parse(&expr_text)?;
            if r.keep_firing_for.is_some() {
                return Err(Error::unsupported("keep_firing_for"));
            }
            for name in r.labels.keys().chain(r.annotations.keys()) {
                if !valid_label_name(name) {
                    return Err(err(format!("invalid label name: {name}")));
                }
            }
            rules.push(match (r.record, r.alert) {
                (Some(name), None) => {
                    if r.for_.is_some() || !r.annotations.is_empty() {
                        return Err(err(format!(
                            "invalid field 'for' or 'annotations' in recording rule {name}"
                        )));
                    }
                    if !valid_metric_name(&name) {
                        return Err(err(format!("invalid recording rule name: {name}")));
                    }
                    Rule::Recording {
                        name,
                        expr,
                        labels: r.labels,
                        previous: HashSet::new(),
                    }
                }
                (None, Some(name)) => Rule::Alerting {
                    hold_ms: r
                        .for_
                        .as_deref()
                        .map(duration_ms)
                        .transpose()
                        .map_err(&err)?
                        .unwrap_or(0),
                    name,
                    expr,
                    labels: r.labels,
                    annotations: r.annotations,
                    active: HashMap::new(),
                },
                _ => return Err(err("one of 'record' or 'alert' must be set".into())),
            });
        }
        groups.push(Group { rules });
    }
    Ok(groups)
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

pub(crate) struct Env<'a> {
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
}

fn as_vector(r: QueryResult) -> Vec<Sample> {
    match r {
        QueryResult::Vector(v) => v,
        QueryResult::Scalar(v) => vec![Sample {
            labels: Labels::new(),
            value: v,
        }],
    }
}

impl Group {
    /// Evaluates every rule in order at `t`, as `Group.Eval` does; the first rule error ends the
    /// step (promtool stops the test group on it).
    pub(crate) fn eval(&mut self, store: &mut Store, t: i64, env: &Env<'_>) -> Result<(), Error> {
        for rule in &mut self.rules {
            match rule {
                Rule::Recording {
                    name,
                    expr,
                    labels,
                    previous,
                } => {
                    let out = as_vector(
                        engine::query_parsed(store, expr, t).map_err(|e| ctx(name, t, e))?,
                    );
                    let mut seen = HashSet::new();
                    for s in out {
                        let mut l = s.labels;
                        l.insert(METRIC_NAME.to_owned(), name.clone());
                        for (k, v) in labels.iter() {
                            if v.is_empty() {
                                l.remove(k);
                            } else {
                                l.insert(k.clone(), v.clone());
                            }
                        }
                        if !seen.insert(l.clone()) {
                            return Err(ctx(name, t, Error::eval("vector contains metrics with the same labelset after applying rule labels")));
                        }
                        store.push(&l, t, s.value);
                    }
                    for gone in previous.difference(&seen) {
                        store.push_stale(gone, t);
                    }
                    *previous = seen;
                }
                Rule::Alerting {
                    name,
                    expr,
                    hold_ms,
                    labels,
                    annotations,
                    active,
                } => {
                    let out = as_vector(
                        engine::query_parsed(store, expr, t).map_err(|e| ctx(name, t, e))?,
                    );
                    let mut current: HashMap<Labels, (Labels, f64)> = HashMap::new();
                    for s in out {
                        let data = Data {
                            labels: &s.labels,
                            external_labels: env.external_labels,
                            external_url: env.external_url,
                            value: s.value,
                        };
                        let mut l = s.labels.clone();
                        l.remove(METRIC_NAME);
                        for (k, v) in labels.iter() {
                            let v = template::expand(v, &data)?;
                            if v.is_empty() {
                                l.remove(k);
                            } else {
                                l.insert(k.clone(), v);
                            }
                        }
                        l.insert("alertname".to_owned(), name.clone());
                        let mut a = Labels::new();
                        for (k, v) in annotations.iter() {
                            a.insert(k.clone(), template::expand(v, &data)?);
                        }
                        if current.insert(l, (a, s.value)).is_some() {
                            return Err(ctx(name, t, Error::eval("vector contains metrics with the same labelset after applying alert labels")));
                        }
                    }
                    for (l, (a, _value)) in &current {
                        match active.get_mut(l) {
                            Some(alert) if alert.state != State::Inactive => {
                                alert.annotations = a.clone()
                            }
                            _ => {
                                active.insert(
                                    l.clone(),
                                    Alert {
                                        labels: l.clone(),
                                        annotations: a.clone(),
                                        state: State::Pending,
                                        active_at: t,
                                        resolved_at: None,
                                    },
                                );
                            }
                        }
                    }
                    active.retain(|l, alert| {
                        if current.contains_key(l) {
                            return true;
                        }
                        if alert.state == State::Pending
                            || alert
                                .resolved_at
                                .is_some_and(|r| t - r > RESOLVED_RETENTION_MS)
                        {
                            return false;
                        }
                        if alert.state != State::Inactive {
                            alert.state = State::Inactive;
                            alert.resolved_at = Some(t);
                        }
                        true
                    });
                    for alert in active.values_mut() {
                        if alert.state == State::Pending && t - alert.active_at >= *hold_ms {
                            alert.state = State::Firing;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn ctx(rule: &str, t: i64, e: Error) -> Error {
    match e {
        Error::Eval { message } => {
            Error::eval(format!("rule: {rule}, time: {}s, err: {message}", t / 1000))
        }
        other => other,
    }
}

impl Rule {
    pub(crate) fn alert_name(&self) -> Option<&str> {
        match self {
            Rule::Alerting { name, .. } => Some(name),
            Rule::Recording { .. } => None,
        }
    }

    pub(crate) fn firing(&self) -> Vec<&Alert> {
        match self {
            Rule::Alerting { active, .. } => active
                .values()
                .filter(|a| a.state == State::Firing)
                .collect(),
            Rule::Recording { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn reads_prometheus_durations() {
        assert_eq!(duration_ms("0"), Ok(0));
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(duration_ms("150s"), Ok(150_000));
        assert_eq!(duration_ms("1m500ms"), Ok(60_500));
        assert!(duration_ms("5m1h").is_err());
        assert!(duration_ms("1.5m").is_err());
        assert!(duration_ms("").is_err());
    }
}
