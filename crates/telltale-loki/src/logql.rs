//! A small LogQL builder for stream selectors, line filters and common metric queries, so callers
//! never splice strings.
//!
//! Every value goes through [`quote`](crate::quote), which produces literals Go's
//! `strconv.Unquote` (and so Loki) reads back exactly, whatever the characters.

use std::fmt;
use std::time::Duration;

use crate::labels::{quote, validate_name};
use crate::{Error, LabelSet};

/// A label matcher operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// A stream selector, `{app="x", env!="dev"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    matchers: Vec<(String, MatchOp, String)>,
}

impl Selector {
    /// An empty selector; add at least one non-empty-compatible matcher before querying, as
    /// Loki requires.
    pub fn new() -> Selector {
        Selector::default()
    }

    /// Adds `name <op> "value"`. The name is checked against Loki's label-name rule.
    pub fn matcher(mut self, name: &str, op: MatchOp, value: &str) -> Result<Selector, Error> {
        validate_name(name, usize::MAX)?;
        self.matchers.push((name.to_owned(), op, value.to_owned()));
        Ok(self)
    }

    /// Adds `name="value"`.
    pub fn eq(self, name: &str, value: &str) -> Result<Selector, Error> {
        self.matcher(name, MatchOp::Eq, value)
    }

    /// Adds `name!="value"`.
    pub fn neq(self, name: &str, value: &str) -> Result<Selector, Error> {
        self.matcher(name, MatchOp::Neq, value)
    }

    /// Adds `name=~"regex"`.
    pub fn re(self, name: &str, regex: &str) -> Result<Selector, Error> {
        self.matcher(name, MatchOp::Re, regex)
    }

    /// Adds `name!~"regex"`.
    pub fn nre(self, name: &str, regex: &str) -> Result<Selector, Error> {
        self.matcher(name, MatchOp::Nre, regex)
    }

    /// Starts a log query over this selector.
    pub fn logs(self) -> LogQuery {
        LogQuery {
            selector: self,
            stages: Vec::new(),
        }
    }
}

impl From<&LabelSet> for Selector {
    fn from(set: &LabelSet) -> Selector {
        let matchers = set
            .iter()
            .map(|(k, v)| (k.to_owned(), MatchOp::Eq, v.to_owned()))
            .collect();
        Selector { matchers }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (idx, (name, op, value)) in self.matchers.iter().enumerate() {
            if idx > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}{}{}", op.as_str(), quote(value))?;
        }
        f.write_str("}")
    }
}

/// A log query: a selector followed by pipeline stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    selector: Selector,
    stages: Vec<String>,
}

impl LogQuery {
    /// `|= "text"`: keeps lines containing the text.
    pub fn contains(self, text: &str) -> LogQuery {
        self.stage(format!("|= {}", quote(text)))
    }

    /// `!= "text"`: drops lines containing the text.
    pub fn not_contains(self, text: &str) -> LogQuery {
        self.stage(format!("!= {}", quote(text)))
    }

    /// `|~ "regex"`: keeps lines matching the RE2 regex.
    pub fn matches(self, regex: &str) -> LogQuery {
        self.stage(format!("|~ {}", quote(regex)))
    }

    /// `!~ "regex"`: drops lines matching the RE2 regex.
    pub fn not_matches(self, regex: &str) -> LogQuery {
        self.stage(format!("!~ {}", quote(regex)))
    }

    /// `| json`: extracts labels from JSON lines.
    pub fn json(self) -> LogQuery {
        self.stage("| json".to_owned())
    }

    /// `| logfmt`: extracts labels from logfmt lines.
    pub fn logfmt(self) -> LogQuery {
        self.stage("| logfmt".to_owned())
    }

    /// `| name="value"` (or another operator): a label filter, usually after a parser or on
    /// structured metadata.
    pub fn label(self, name: &str, op: MatchOp, value: &str) -> Result<LogQuery, Error> {
        validate_name(name, usize::MAX)?;
        Ok(self.stage(format!("| {name}{}{}", op.as_str(), quote(value))))
    }

    /// `count_over_time(<this>[range])`.
    pub fn count_over_time(&self, range: Duration) -> MetricQuery {
        MetricQuery(format!("count_over_time({self} [{}])", duration(range)))
    }

    /// `rate(<this>[range])`.
    pub fn rate(&self, range: Duration) -> MetricQuery {
        MetricQuery(format!("rate({self} [{}])", duration(range)))
    }

    /// `bytes_over_time(<this>[range])`.
    pub fn bytes_over_time(&self, range: Duration) -> MetricQuery {
        MetricQuery(format!("bytes_over_time({self} [{}])", duration(range)))
    }

    fn stage(mut self, stage: String) -> LogQuery {
        self.stages.push(stage);
        self
    }
}

impl fmt::Display for LogQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.selector)?;
        for stage in &self.stages {
            write!(f, " {stage}")?;
        }
        Ok(())
    }
}

/// A metric query, built from a [`LogQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricQuery(String);

impl MetricQuery {
    /// `sum by (labels) (<this>)`; `sum (<this>)` when `labels` is empty.
    pub fn sum_by(&self, labels: &[&str]) -> Result<MetricQuery, Error> {
        for name in labels {
            validate_name(name, usize::MAX)?;
        }
        if labels.is_empty() {
            return Ok(MetricQuery(format!("sum ({})", self.0)));
        }
        Ok(MetricQuery(format!(
            "sum by ({}) ({})",
            labels.join(", "),
            self.0
        )))
    }
}

impl fmt::Display for MetricQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Renders a duration in LogQL's unit syntax, exact to the millisecond.
fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "1ms".to_owned();
    }
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_selectors_and_filters() {
        let q = Selector::new()
            .eq("app", "be-platform")
            .unwrap()
            .re("service_unit", "podman-.*\\.service")
            .unwrap()
            .logs()
            .contains("run=\"42\"")
            .not_matches("héllo\n");
        assert_eq!(
            q.to_string(),
            r#"{app="be-platform", service_unit=~"podman-.*\\.service"} |= "run=\"42\"" !~ "héllo\n""#
        );
    }

    #[test]
    fn metric_queries_render() {
        let q = Selector::new().eq("job", "x").unwrap().logs();
        let m = q
            .count_over_time(Duration::from_secs(300))
            .sum_by(&["env"])
            .unwrap();
        assert_eq!(
            m.to_string(),
            r#"sum by (env) (count_over_time({job="x"} [5m]))"#
        );
        assert_eq!(
            q.rate(Duration::from_millis(1500)).to_string(),
            r#"rate({job="x"} [1500ms])"#
        );
    }

    #[test]
    fn refuses_bad_label_names() {
        assert!(Selector::new().eq("a-b", "x").is_err());
        assert!(Selector::new()
            .eq("ok", "x")
            .unwrap()
            .logs()
            .label("9", MatchOp::Eq, "v")
            .is_err());
    }
}
