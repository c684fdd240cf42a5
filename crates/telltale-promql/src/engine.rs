//! The PromQL subset evaluator: instant queries over a [`Store`] with Prometheus 2.42's
//! semantics (5 m lookback, closed range windows, staleness, rate extrapolation, vector
//! matching). Anything else is refused with [`Error::Unsupported`].

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use promql_parser::label::{MatchOp, Matchers, METRIC_NAME};
use promql_parser::parser::{
    self, AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, Offset, VectorMatchCardinality,
    VectorSelector,
};

use crate::store::{Labels, Store};
use crate::Error;

/// Prometheus's default lookback delta.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels (`__name__` included when it survived the expression).
    pub labels: Labels,
    /// Its value.
    pub value: f64,
}

/// What an instant query returns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryResult {
    /// A number.
    Scalar(f64),
    /// Samples.
    Vector(Vec<Sample>),
}

/// One series of a range vector: its labels and (time, value) points.
type RangeSeries = (Labels, Vec<(i64, f64)>);

#[derive(Debug, Clone)]
enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
    Matrix(Vec<RangeSeries>),
    String,
}

/// Parses and evaluates `expr` at `t` (milliseconds).
pub fn query(store: &Store, expr: &str, t: i64) -> Result<QueryResult, Error> {
    let parsed = parse(expr)?;
    query_parsed(store, &parsed, t)
}

pub(crate) fn parse(expr: &str) -> Result<Expr, Error> {
    parser::parse(expr).map_err(|message| Error::Parse {
        expr: expr.to_owned(),
        message,
    })
}

pub(crate) fn query_parsed(store: &Store, expr: &Expr, t: i64) -> Result<QueryResult, Error> {
    match eval(store, expr, t)? {
        Value::Scalar(v) => Ok(QueryResult::Scalar(v)),
        Value::Vector(v) => Ok(QueryResult::Vector(v)),
        Value::Matrix(_) => Err(Error::unsupported("range vector as a query result")),
        Value::String => Err(Error::unsupported("string as a query result")),
    }
}

fn ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => ms(d),
        Some(Offset::Neg(d)) => -ms(d),
    }
}

fn eval(store: &Store, expr: &Expr, t: i64) -> Result<Value, Error> {
    match expr {
        Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
        Expr::StringLiteral(_) => Ok(Value::String),
        Expr::Paren(p) => eval(store, &p.expr, t),
        Expr::Unary(u) => match eval(store, &u.expr, t)? {
            Value::Scalar(v) => Ok(Value::Scalar(-v)),
            Value::Vector(v) => Ok(Value::Vector(
                v.into_iter()
                    .map(|s| Sample {
                        labels: drop_name(s.labels),
                        value: -s.value,
                    })
                    .collect(),
            )),
            _ => Err(Error::unsupported(
                "unary minus on a range vector or string",
            )),
        },
        Expr::VectorSelector(vs) => Ok(Value::Vector(instant(store, vs, t)?)),
        Expr::MatrixSelector(m) => {
            let end = t - offset_ms(&m.vs.offset);
            Ok(Value::Matrix(range(store, &m.vs, end - ms(&m.range), end)?))
        }
        Expr::Subquery(_) => Err(Error::unsupported("subquery")),
        Expr::Aggregate(a) => aggregate(store, a, t),
        Expr::Binary(b) => binary(store, b, t),
        Expr::Call(c) => call(store, c, t),
        Expr::Extension(_) => Err(Error::unsupported("extension expression")),
    }
}

fn selected<'a>(
    store: &'a Store,
    vs: &VectorSelector,
) -> Result<Vec<&'a crate::store::Series>, Error> {
    if vs.at.is_some() {
        return Err(Error::unsupported("@ modifier"));
    }
    let alerts = |n: &str| n == "ALERTS" || n == "ALERTS_FOR_STATE";
    if vs.name.as_deref().is_some_and(alerts)
        || vs
            .matchers
            .matchers
            .iter()
            .any(|m| m.name == METRIC_NAME && alerts(&m.value))
    {
        return Err(Error::unsupported("the ALERTS and ALERTS_FOR_STATE series"));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::unsupported("`or` inside a selector"));
    }
    let empty = String::new();
    Ok(store
        .series
        .iter()
        .filter(|s| {
            vs.name
                .as_ref()
                .is_none_or(|n| s.labels.get(METRIC_NAME) == Some(n))
                && vs
                    .matchers
                    .matchers
                    .iter()
                    .all(|m| m.is_match(s.labels.get(&m.name).unwrap_or(&empty)))
        })
        .collect())
}

fn instant(store: &Store, vs: &VectorSelector, t: i64) -> Result<Vec<Sample>, Error> {
    let at = t - offset_ms(&vs.offset);
    let mut out = Vec::new();
    for s in selected(store, vs)? {
        let idx = s.points.partition_point(|p| p.t <= at);
        if idx == 0 {
            continue;
        }
        let p = s.points[idx - 1];
        // Prometheus 2.x: the lookback window is closed at its start.
        if p.stale || p.t < at - LOOKBACK_MS {
            continue;
        }
        out.push(Sample {
            labels: s.labels.clone(),
            value: p.v,
        });
    }
    Ok(out)
}

fn range(
    store: &Store,
    vs: &VectorSelector,
    start: i64,
    end: i64,
) -> Result<Vec<RangeSeries>, Error> {
    let mut out = Vec::new();
    for s in selected(store, vs)? {
        let points: Vec<(i64, f64)> = s
            .points
            .iter()
            .filter(|p| p.t >= start && p.t <= end && !p.stale)
            .map(|p| (p.t, p.v))
            .collect();
        if !points.is_empty() {
            out.push((s.labels.clone(), points));
        }
    }
    Ok(out)
}

fn drop_name(mut l: Labels) -> Labels {
    l.remove(METRIC_NAME);
    l
}

fn want_vector(v: Value, what: &str) -> Result<Vec<Sample>, Error> {
    match v {
        Value::Vector(v) => Ok(v),
        _ => Err(Error::eval(format!("{what} expects an instant vector"))),
    }
}

fn want_scalar(v: Value, what: &str) -> Result<f64, Error> {
    match v {
        Value::Scalar(v) => Ok(v),
        _ => Err(Error::eval(format!("{what} expects a scalar"))),
    }
}

// ---- aggregation -------------------------------------------------------------------------

fn aggregate(store: &Store, a: &AggregateExpr, t: i64) -> Result<Value, Error> {
    let op = a.op.to_string();
    if !matches!(
        op.as_str(),
        "sum" | "avg" | "min" | "max" | "count" | "group"
    ) {
        return Err(Error::unsupported(format!("aggregation {op}")));
    }
    if a.param.is_some() {
        return Err(Error::unsupported(format!(
            "aggregation {op} with a parameter"
        )));
    }
    let input = want_vector(eval(store, &a.expr, t)?, &op)?;
    struct Group {
        labels: Labels,
        value: f64,
        mean: f64,
        count: f64,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let key = match &a.modifier {
            Some(LabelModifier::Include(by)) => s
                .labels
                .iter()
                .filter(|(k, _)| by.labels.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Some(LabelModifier::Exclude(without)) => s
                .labels
                .iter()
                .filter(|(k, _)| !without.labels.contains(k) && k.as_str() != METRIC_NAME)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => Labels::new(),
        };
        match index.get(&key) {
            None => {
                index.insert(key.clone(), groups.len());
                groups.push(Group {
                    labels: key,
                    value: s.value,
                    mean: s.value,
                    count: 1.0,
                });
            }
            Some(&i) => {
                let g = &mut groups[i];
                g.count += 1.0;
                match op.as_str() {
                    "sum" => g.value += s.value,
                    // Prometheus 2.42's incremental mean, so results round the same way.
                    "avg" => {
                        if g.mean.is_infinite() {
                            if s.value.is_infinite() && (g.mean > 0.0) == (s.value > 0.0) {
                                continue;
                            }
                            if !s.value.is_infinite() && !s.value.is_nan() {
                                continue;
                            }
                        }
                        g.mean += s.value / g.count - g.mean / g.count;
                    }
                    "min" if g.value > s.value || g.value.is_nan() => g.value = s.value,
                    "max" if g.value < s.value || g.value.is_nan() => g.value = s.value,
                    _ => {}
                }
            }
        }
    }
    Ok(Value::Vector(
        groups
            .into_iter()
            .map(|g| Sample {
                labels: g.labels,
                value: match op.as_str() {
                    "avg" => g.mean,
                    "count" => g.count,
                    "group" => 1.0,
                    _ => g.value,
                },
            })
            .collect(),
    ))
}

// ---- binary operators --------------------------------------------------------------------

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

fn is_set(op: &str) -> bool {
    matches!(op, "and" | "or" | "unless")
}

/// Go's `vectorElemBinop`: the value, and whether a comparison kept it.
fn elem(op: &str, l: f64, r: f64) -> Result<(f64, bool), Error> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(Error::unsupported(format!("operator {other}"))),
    })
}

fn binary(store: &Store, b: &BinaryExpr, t: i64) -> Result<Value, Error> {
    let op = b.op.to_string();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    if let Some(m) = &b.modifier {
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return Err(Error::unsupported("fill() modifier"));
        }
    }
    let lhs = eval(store, &b.lhs, t)?;
    let rhs = eval(store, &b.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = elem(&op, l, r)?;
            Ok(Value::Scalar(if is_comparison(&op) {
                if keep {
                    1.0
                } else {
                    0.0
                }
            } else {
                v
            }))
        }
        (Value::Vector(v), Value::Scalar(s)) => vector_scalar(&op, v, s, false, return_bool),
        (Value::Scalar(s), Value::Vector(v)) => vector_scalar(&op, v, s, true, return_bool),
        (Value::Vector(l), Value::Vector(r)) => {
            let (on, names) = match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
                Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
                None => (false, Vec::new()),
            };
            let sig = |l: &Labels| -> Labels {
                l.iter()
                    .filter(|(k, _)| {
                        if on {
                            names.contains(k)
                        } else {
                            !names.contains(k) && k.as_str() != METRIC_NAME
                        }
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            if is_set(&op) {
                return Ok(Value::Vector(set_op(&op, l, r, sig)));
            }
            let card = b
                .modifier
                .as_ref()
                .map(|m| m.card.clone())
                .unwrap_or(VectorMatchCardinality::OneToOne);
            vector_vector(&op, l, r, on, &names, card, return_bool, sig)
        }
        _ => Err(Error::eval(format!(
            "operator {op} on a range vector or a string"
        ))),
    }
}

fn vector_scalar(
    op: &str,
    v: Vec<Sample>,
    s: f64,
    swap: bool,
    return_bool: bool,
) -> Result<Value, Error> {
    if is_set(op) {
        return Err(Error::eval(format!(
            "set operator {op} needs vectors on both sides"
        )));
    }
    let mut out = Vec::new();
    for mut sample in v {
        let (l, r) = if swap {
            (s, sample.value)
        } else {
            (sample.value, s)
        };
        let (mut value, mut keep) = elem(op, l, r)?;
        // A comparison always keeps the vector's own value, whichever side it was on.
        if is_comparison(op) && swap {
            value = r;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            sample.value = value;
            if !is_comparison(op) || return_bool {
                sample.labels = drop_name(sample.labels);
            }
            out.push(sample);
        }
    }
    Ok(Value::Vector(out))
}

fn set_op(
    op: &str,
    l: Vec<Sample>,
    r: Vec<Sample>,
    sig: impl Fn(&Labels) -> Labels,
) -> Vec<Sample> {
    match op {
        "and" => {
            let right: HashSet<Labels> = r.iter().map(|s| sig(&s.labels)).collect();
            l.into_iter()
                .filter(|s| right.contains(&sig(&s.labels)))
                .collect()
        }
        "unless" => {
            let right: HashSet<Labels> = r.iter().map(|s| sig(&s.labels)).collect();
            l.into_iter()
                .filter(|s| !right.contains(&sig(&s.labels)))
                .collect()
        }
        _ => {
            let left: HashSet<Labels> = l.iter().map(|s| sig(&s.labels)).collect();
            let mut out = l;
            out.extend(r.into_iter().filter(|s| !left.contains(&sig(&s.labels))));
            out
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    on: bool,
    names: &[String],
    card: VectorMatchCardinality,
    return_bool: bool,
    sig: impl Fn(&Labels) -> Labels,
) -> Result<Value, Error> {
    let (include, one_to_many) = match &card {
        VectorMatchCardinality::OneToOne => (None, false),
        VectorMatchCardinality::ManyToOne(ls) => (Some(ls.labels.clone()), false),
        VectorMatchCardinality::OneToMany(ls) => (Some(ls.labels.clone()), true),
        VectorMatchCardinality::ManyToMany => {
            return Err(Error::eval("many-to-many only allowed for set operators"))
        }
    };
    let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut right: HashMap<Labels, Sample> = HashMap::new();
    for s in rhs {
        let key = sig(&s.labels);
        if right.contains_key(&key) {
            return Err(Error::eval(format!(
                "found duplicate series for the match group {key:?} on the {} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                if one_to_many { "left" } else { "right" }
            )));
        }
        right.insert(key, s);
    }
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in lhs {
        let key = sig(&ls.labels);
        let Some(rs) = right.get(&key) else { continue };
        let (vl, vr) = if one_to_many {
            (rs.value, ls.value)
        } else {
            (ls.value, rs.value)
        };
        let (mut value, keep) = elem(op, vl, vr)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut metric = ls.labels.clone();
        if !is_comparison(op) || return_bool {
            metric.remove(METRIC_NAME);
        }
        if include.is_none() {
            if on {
                metric.retain(|k, _| names.contains(k));
            } else {
                metric.retain(|k, _| !names.contains(k));
            }
        }
        if let Some(include) = &include {
            for name in include {
                match rs.labels.get(name) {
                    Some(v) if !v.is_empty() => {
                        metric.insert(name.clone(), v.clone());
                    }
                    _ => {
                        metric.remove(name);
                    }
                }
            }
        }
        let seen = matched.entry(key).or_default();
        if include.is_none() {
            if !seen.is_empty() {
                return Err(Error::eval(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if seen.contains(&metric) {
            return Err(Error::eval(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        seen.insert(metric.clone());
        out.push(Sample {
            labels: metric,
            value,
        });
    }
    Ok(Value::Vector(out))
}

// ---- functions ---------------------------------------------------------------------------

fn call(store: &Store, c: &Call, t: i64) -> Result<Value, Error> {
    let name = c.func.name;
    let arg = |i: usize| -> Result<Value, Error> {
        let e = c
            .args
            .args
            .get(i)
            .ok_or_else(|| Error::eval(format!("{name}: missing argument {i}")))?;
        eval(store, e, t)
    };
    match name {
        "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
        "vector" => Ok(Value::Vector(vec![Sample {
            labels: Labels::new(),
            value: want_scalar(arg(0)?, name)?,
        }])),
        "scalar" => {
            let v = want_vector(arg(0)?, name)?;
            Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }))
        }
        "abs" | "ceil" | "floor" | "sqrt" | "exp" | "ln" | "log2" | "log10" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "sqrt" => f64::sqrt,
                "exp" => f64::exp,
                "ln" => f64::ln,
                "log2" => f64::log2,
                _ => f64::log10,
            };
            map_vector(arg(0)?, name, f)
        }
        "clamp_min" => {
            let lo = want_scalar(arg(1)?, name)?;
            map_vector(arg(0)?, name, |v| v.max(lo))
        }
        "clamp_max" => {
            let hi = want_scalar(arg(1)?, name)?;
            map_vector(arg(0)?, name, |v| v.min(hi))
        }
        "clamp" => {
            let lo = want_scalar(arg(1)?, name)?;
            let hi = want_scalar(arg(2)?, name)?;
            if lo > hi {
                return Ok(Value::Vector(Vec::new()));
            }
            map_vector(arg(0)?, name, |v| v.max(lo).min(hi))
        }
        "absent" => {
            if !want_vector(arg(0)?, name)?.is_empty() {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(Value::Vector(vec![Sample {
                labels: absent_labels(&c.args.args[0]),
                value: 1.0,
            }]))
        }
        "absent_over_time" => {
            let Value::Matrix(m) = arg(0)? else {
                return Err(Error::eval("absent_over_time expects a range vector"));
            };
            if !m.is_empty() {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(Value::Vector(vec![Sample {
                labels: absent_labels(&c.args.args[0]),
                value: 1.0,
            }]))
        }
        "histogram_quantile" => {
            let q = want_scalar(arg(0)?, name)?;
            histogram_quantile(q, want_vector(arg(1)?, name)?)
        }
        "rate" | "increase" | "delta" | "irate" | "idelta" | "avg_over_time" | "min_over_time"
        | "max_over_time" | "sum_over_time" | "count_over_time" | "last_over_time"
        | "present_over_time" | "changes" | "resets" | "deriv" | "predict_linear" => {
            over_time(store, c, t)
        }
        other => Err(Error::unsupported(format!("function {other}"))),
    }
}

fn map_vector(v: Value, name: &str, f: impl Fn(f64) -> f64) -> Result<Value, Error> {
    Ok(Value::Vector(
        want_vector(v, name)?
            .into_iter()
            .map(|s| Sample {
                labels: drop_name(s.labels),
                value: f(s.value),
            })
            .collect(),
    ))
}

/// `absent`'s labels: the selector's equality matchers, when its argument is a selector.
fn absent_labels(e: &Expr) -> Labels {
    let matchers: Option<&Matchers> = match e {
        Expr::VectorSelector(vs) => Some(&vs.matchers),
        Expr::MatrixSelector(m) => Some(&m.vs.matchers),
        _ => None,
    };
    let mut out = Labels::new();
    let mut seen_twice = HashSet::new();
    for m in matchers.map(|m| m.matchers.as_slice()).unwrap_or_default() {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) {
            if out.contains_key(&m.name) {
                seen_twice.insert(m.name.clone());
            }
            out.insert(m.name.clone(), m.value.clone());
        }
    }
    // Prometheus drops a label matched for equality twice: it cannot pick one value.
    for n in seen_twice {
        out.remove(&n);
    }
    out
}

fn over_time(store: &Store, c: &Call, t: i64) -> Result<Value, Error> {
    let name = c.func.name;
    let Some(Expr::MatrixSelector(m)) = c.args.args.first().map(|b| b.as_ref()) else {
        return Err(Error::unsupported(format!(
            "{name} over anything but a range selector"
        )));
    };
    let range_ms = ms(&m.range);
    let end = t - offset_ms(&m.vs.offset);
    let start = end - range_ms;
    let mut out = Vec::new();
    for (labels, pts) in range(store, &m.vs, start, end)? {
        let values: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let v = match name {
            "rate" | "increase" | "delta" => {
                if pts.len() < 2 {
                    continue;
                }
                extrapolated(&pts, start, end, range_ms, name != "delta", name == "rate")
            }
            "irate" | "idelta" => {
                if pts.len() < 2 {
                    continue;
                }
                let (t0, v0) = pts[pts.len() - 2];
                let (t1, v1) = pts[pts.len() - 1];
                let mut d = v1 - v0;
                if name == "irate" {
                    if v1 < v0 {
                        d = v1;
                    }
                    if t1 == t0 {
                        continue;
                    }
                    d / ((t1 - t0) as f64 / 1000.0)
                } else {
                    d
                }
            }
            // 2.42's incremental mean with Kahan-Neumaier compensation.
            "avg_over_time" => {
                let (mut mean, mut count, mut comp) = (0.0f64, 0.0f64, 0.0f64);
                for &v in &values {
                    count += 1.0;
                    if mean.is_infinite() {
                        if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                            continue;
                        }
                        if !v.is_infinite() && !v.is_nan() {
                            continue;
                        }
                    }
                    (mean, comp) = kahan_inc(v / count - mean / count, mean, comp);
                }
                if mean.is_infinite() {
                    mean
                } else {
                    mean + comp
                }
            }
            "sum_over_time" => {
                let (mut sum, mut comp) = (0.0f64, 0.0f64);
                for &v in &values {
                    (sum, comp) = kahan_inc(v, sum, comp);
                }
                if sum.is_infinite() {
                    sum
                } else {
                    sum + comp
                }
            }
            "min_over_time" => {
                values
                    .iter()
                    .fold(values[0], |a, &v| if a > v || a.is_nan() { v } else { a })
            }
            "max_over_time" => {
                values
                    .iter()
                    .fold(values[0], |a, &v| if a < v || a.is_nan() { v } else { a })
            }
            "count_over_time" => values.len() as f64,
            "deriv" | "predict_linear" => {
                if pts.len() < 2 {
                    continue;
                }
                if name == "deriv" {
                    linear_regression(&pts, pts[0].0).0
                } else {
                    let ahead = match c.args.args.get(1).map(|e| eval(store, e, t)).transpose()? {
                        Some(Value::Scalar(s)) => s,
                        _ => return Err(Error::eval("predict_linear expects a scalar duration")),
                    };
                    let (slope, intercept) = linear_regression(&pts, t);
                    slope * ahead + intercept
                }
            }
            "last_over_time" => *values.last().unwrap_or(&f64::NAN),
            "present_over_time" => 1.0,
            "changes" => values
                .windows(2)
                .filter(|w| w[0] != w[1] && !(w[0].is_nan() && w[1].is_nan()))
                .count() as f64,
            _ => values.windows(2).filter(|w| w[1] < w[0]).count() as f64,
        };
        let labels = if name == "last_over_time" {
            labels
        } else {
            drop_name(labels)
        };
        out.push(Sample { labels, value: v });
    }
    Ok(Value::Vector(out))
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    // Neumaier's variant: compensate with whichever term is larger.
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus 2.42's `linearRegression` (least squares, x in seconds from `intercept_t`).
fn linear_regression(pts: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut sum_y, mut sum_xy, mut sum_x2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = pts[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in pts.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        sum_x += x;
        sum_y += v;
        sum_xy += x * v;
        sum_x2 += x * x;
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    (slope, sum_y / n - slope * sum_x / n)
}

/// Prometheus 2.42's `extrapolatedRate` (the 2.40+ form with one scaling factor).
fn extrapolated(
    pts: &[(i64, f64)],
    start: i64,
    end: i64,
    range_ms: i64,
    counter: bool,
    rate: bool,
) -> f64 {
    let (first_t, first_v) = pts[0];
    let (last_t, last_v) = pts[pts.len() - 1];
    let mut result = last_v - first_v;
    if counter {
        let mut last = 0.0;
        for &(_, v) in pts {
            if v < last {
                result += last;
            }
            last = v;
        }
    }
    let mut to_start = (first_t - start) as f64 / 1000.0;
    let to_end = (end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_step = sampled / (pts.len() - 1) as f64;
    if counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_step * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_step / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_step / 2.0
    };
    // One factor, then one multiplication, in 2.42's order (the rounding differs otherwise).
    let mut factor = interval / sampled;
    if rate {
        factor /= range_ms as f64 / 1000.0;
    }
    result * factor
}

/// Prometheus 2.42's classic-histogram `histogram_quantile` (`bucketQuantile`).
fn histogram_quantile(q: f64, v: Vec<Sample>) -> Result<Value, Error> {
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in v {
        let Some(le) = s.labels.get("le") else {
            continue;
        };
        let Some(upper) = parse_le(le) else { continue };
        let mut key = drop_name(s.labels.clone());
        key.remove("le");
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((upper, s.value));
    }
    let out = groups
        .into_iter()
        .map(|(labels, buckets)| Sample {
            labels,
            value: bucket_quantile(q, buckets),
        })
        .collect();
    Ok(Value::Vector(out))
}

fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same bound, then force counts monotonic, as Prometheus does.
    let mut c: Vec<(f64, f64)> = Vec::new();
    for (u, n) in b {
        match c.last_mut() {
            Some(last) if last.0 == u => last.1 += n,
            _ => c.push((u, n)),
        }
    }
    let mut max = f64::NEG_INFINITY;
    for x in c.iter_mut() {
        if x.1 > max {
            max = x.1;
        } else if x.1 < max {
            x.1 = max;
        }
    }
    if c.len() < 2 {
        return f64::NAN;
    }
    let observations = c[c.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let bi = c[..c.len() - 1].partition_point(|x| x.1 < rank);
    if bi == c.len() - 1 {
        return c[c.len() - 2].0;
    }
    if bi == 0 && c[0].0 <= 0.0 {
        return c[0].0;
    }
    let mut start = 0.0;
    let end = c[bi].0;
    let mut count = c[bi].1;
    if bi > 0 {
        start = c[bi - 1].0;
        count -= c[bi - 1].1;
        rank -= c[bi - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn vector(store: &Store, expr: &str, t: i64) -> Vec<Sample> {
        match query(store, expr, t).unwrap() {
            QueryResult::Vector(v) => v,
            other => panic!("{expr}: {other:?}"),
        }
    }

    #[test]
    fn lookback_and_staleness() {
        let mut s = Store::new();
        let up = labels(&[("__name__", "up"), ("job", "a")]);
        s.push(&up, 0, 1.0);
        assert_eq!(
            vector(&s, "up", 300_000).len(),
            1,
            "the 5 m window is closed at its start"
        );
        assert!(vector(&s, "up", 300_001).is_empty());
        s.push_stale(&up, 60_000);
        assert!(vector(&s, "up", 60_000).is_empty());
    }

    #[test]
    fn rate_extrapolates_like_prometheus() {
        let mut s = Store::new();
        let c = labels(&[("__name__", "c")]);
        for i in 0..=10 {
            s.push(&c, i * 60_000, (i * 60) as f64);
        }
        // One per second throughout: the extrapolated rate is exactly 1.
        let v = vector(&s, "rate(c[5m])", 600_000);
        assert_eq!(v[0].value, 1.0);
        assert!(v[0].labels.is_empty());
        assert_eq!(vector(&s, "increase(c[5m])", 600_000)[0].value, 300.0);
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        let s = Store::new();
        let err = query(&s, "stddev_over_time(c[5m])", 0).unwrap_err();
        assert!(err.is_unsupported(), "{err}");
        assert!(err.to_string().contains("stddev_over_time"), "{err}");
        assert!(query(&s, "topk(1, c)", 0).unwrap_err().is_unsupported());
        assert!(query(&s, "max_over_time(c[5m:1m])", 0)
            .unwrap_err()
            .is_unsupported());
    }

    #[test]
    fn one_to_one_matching_keeps_on_labels_only() {
        let mut s = Store::new();
        s.push(
            &labels(&[("__name__", "a"), ("job", "x"), ("i", "1")]),
            0,
            6.0,
        );
        s.push(
            &labels(&[("__name__", "b"), ("job", "x"), ("i", "2")]),
            0,
            3.0,
        );
        let v = vector(&s, "a / on(job) b", 0);
        assert_eq!(
            v,
            vec![Sample {
                labels: labels(&[("job", "x")]),
                value: 2.0
            }]
        );
    }

    #[test]
    fn histogram_quantile_interpolates() {
        let mut s = Store::new();
        for (le, n) in [("0.1", 50.0), ("1", 90.0), ("+Inf", 100.0)] {
            s.push(&labels(&[("__name__", "h_bucket"), ("le", le)]), 0, n);
        }
        let v = vector(&s, "histogram_quantile(0.5, h_bucket)", 0);
        assert_eq!(v[0].value, 0.1);
        let v = vector(&s, "histogram_quantile(0.99, h_bucket)", 0);
        assert_eq!(v[0].value, 1.0);
    }
}
