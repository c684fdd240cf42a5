//! What a rule file reads: each metric name its expressions select, with the labels they
//! match on, group by or join on, so metrics contracts can be checked to promise them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use promql_parser::label::METRIC_NAME;
use promql_parser::parser::{Expr, LabelModifier, VectorMatchCardinality};

use crate::rules::{self, Rule};
use crate::Error;

/// Metric names a rule file selects, each with the labels its expressions rely on, and the
/// names the file itself records (which need no contract).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleDependencies {
    /// Selected metric name → labels used with it (matchers, `by`, `without`, `on`,
    /// `ignoring`, `group_left`/`group_right`).
    pub metrics: BTreeMap<String, BTreeSet<String>>,
    /// Names written by the file's recording rules.
    pub recorded: BTreeSet<String>,
}

/// Reads a rule file and lists what its expressions select.
pub fn rule_file_dependencies(path: &Path) -> Result<RuleDependencies, Error> {
    let mut deps = RuleDependencies::default();
    for g in rules::load(path)? {
        for r in &g.rules {
            let (expr, recorded) = match r {
                Rule::Recording { name, expr, .. } => (expr, Some(name)),
                Rule::Alerting { expr, .. } => (expr, None),
            };
            if let Some(n) = recorded {
                deps.recorded.insert(n.clone());
            }
            walk(expr, &BTreeSet::new(), &mut deps.metrics)?;
        }
    }
    Ok(deps)
}

fn modifier_labels(m: &Option<LabelModifier>) -> Vec<String> {
    match m {
        Some(LabelModifier::Include(l)) | Some(LabelModifier::Exclude(l)) => l.labels.clone(),
        None => Vec::new(),
    }
}

fn walk(
    e: &Expr,
    context: &BTreeSet<String>,
    out: &mut BTreeMap<String, BTreeSet<String>>,
) -> Result<(), Error> {
    match e {
        Expr::VectorSelector(vs) => select(vs, context, out),
        Expr::MatrixSelector(m) => select(&m.vs, context, out),
        Expr::Aggregate(a) => {
            let mut inner = context.clone();
            inner.extend(modifier_labels(&a.modifier));
            walk(&a.expr, &inner, out)?;
            if let Some(p) = &a.param {
                walk(p, context, out)?;
            }
            Ok(())
        }
        Expr::Binary(b) => {
            let mut inner = context.clone();
            if let Some(m) = &b.modifier {
                inner.extend(modifier_labels(&m.matching));
                if let VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) =
                    &m.card
                {
                    inner.extend(l.labels.iter().cloned());
                }
            }
            walk(&b.lhs, &inner, out)?;
            walk(&b.rhs, &inner, out)
        }
        Expr::Paren(p) => walk(&p.expr, context, out),
        Expr::Unary(u) => walk(&u.expr, context, out),
        Expr::Subquery(s) => walk(&s.expr, context, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, context, out)?;
            }
            Ok(())
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Extension(_) => Err(Error::unsupported("extension expression")),
    }
}

fn select(
    vs: &promql_parser::parser::VectorSelector,
    context: &BTreeSet<String>,
    out: &mut BTreeMap<String, BTreeSet<String>>,
) -> Result<(), Error> {
    let name = vs
        .name
        .clone()
        .or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| m.name == METRIC_NAME)
                .map(|m| m.value.clone())
        })
        .ok_or_else(|| Error::unsupported("a selector without a metric name in a rule pack"))?;
    let labels = out.entry(name).or_default();
    labels.extend(context.iter().cloned());
    labels.extend(
        vs.matchers
            .matchers
            .iter()
            .filter(|m| m.name != METRIC_NAME)
            .map(|m| m.name.clone()),
    );
    Ok(())
}
