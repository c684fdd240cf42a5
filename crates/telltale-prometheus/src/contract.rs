//! Metrics contracts: what a `/metrics` endpoint promises (families, types, labels, allowed
//! values, cardinality), checked against a parsed exposition, plus the naming lints of
//! `promtool check metrics` and a privacy scan of label values.
//!
//! The naming rules follow client_golang's `prometheus/testutil/promlint` (the code behind
//! `promtool check metrics`): `_total` on counters only, base units, no unit abbreviations, no
//! type names or `:` in names, snake_case names and labels, and HELP text present.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::exposition::{Exposition, Format, MetricFamily, MetricType};
use crate::Error;

/// What one metric family must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRule {
    name: String,
    kind: MetricType,
    labels: Vec<String>,
    allowed_values: BTreeMap<String, BTreeSet<String>>,
    max_series: Option<usize>,
    unit: Option<String>,
    optional: bool,
}

impl FamilyRule {
    /// A family of the given type. Counters may be named with or without `_total`.
    pub fn new(name: impl Into<String>, kind: MetricType) -> FamilyRule {
        FamilyRule {
            name: name.into(),
            kind,
            labels: Vec::new(),
            allowed_values: BTreeMap::new(),
            max_series: None,
            unit: None,
            optional: false,
        }
    }

    /// A counter.
    pub fn counter(name: impl Into<String>) -> FamilyRule {
        FamilyRule::new(name, MetricType::Counter)
    }

    /// A gauge.
    pub fn gauge(name: impl Into<String>) -> FamilyRule {
        FamilyRule::new(name, MetricType::Gauge)
    }

    /// A histogram.
    pub fn histogram(name: impl Into<String>) -> FamilyRule {
        FamilyRule::new(name, MetricType::Histogram)
    }

    /// A summary.
    pub fn summary(name: impl Into<String>) -> FamilyRule {
        FamilyRule::new(name, MetricType::Summary)
    }

    /// Labels every series of the family must carry.
    pub fn labels<I, S>(mut self, labels: I) -> FamilyRule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels.extend(labels.into_iter().map(Into::into));
        self
    }

    /// The only values `label` may take.
    pub fn allow<I, S>(mut self, label: impl Into<String>, values: I) -> FamilyRule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_values
            .entry(label.into())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// The most series the family may expose (its cardinality budget).
    pub fn max_series(mut self, max: usize) -> FamilyRule {
        self.max_series = Some(max);
        self
    }

    /// The family's unit (`seconds`, `bytes`, …): the name must end with it, and an OpenMetrics
    /// `# UNIT` line, when present, must agree.
    pub fn unit(mut self, unit: impl Into<String>) -> FamilyRule {
        self.unit = Some(unit.into());
        self
    }

    /// The family may be absent (for example until its first event); when present it is checked.
    pub fn optional(mut self) -> FamilyRule {
        self.optional = true;
        self
    }
}

/// A metrics contract: rules per family plus endpoint-wide checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsContract {
    families: Vec<FamilyRule>,
    default_max_series: Option<usize>,
    naming: bool,
    naming_is_error: bool,
    privacy: bool,
    privacy_ignore_labels: BTreeSet<String>,
}

impl Default for MetricsContract {
    fn default() -> Self {
        MetricsContract::new()
    }
}

impl MetricsContract {
    /// An empty contract with naming lints (as warnings) and the privacy scan (as errors) on.
    pub fn new() -> MetricsContract {
        MetricsContract {
            families: Vec::new(),
            default_max_series: None,
            naming: true,
            naming_is_error: false,
            privacy: true,
            privacy_ignore_labels: BTreeSet::new(),
        }
    }

    /// Adds a family rule.
    pub fn family(mut self, rule: FamilyRule) -> MetricsContract {
        self.families.push(rule);
        self
    }

    /// A cardinality budget for every family without its own.
    pub fn default_max_series(mut self, max: usize) -> MetricsContract {
        self.default_max_series = Some(max);
        self
    }

    /// Turns the naming lints off, or makes them errors instead of warnings.
    pub fn naming(mut self, enabled: bool, as_errors: bool) -> MetricsContract {
        self.naming = enabled;
        self.naming_is_error = as_errors;
        self
    }

    /// Turns the privacy scan off.
    pub fn without_privacy_scan(mut self) -> MetricsContract {
        self.privacy = false;
        self
    }

    /// Labels the privacy scan skips (e.g. `instance`, which holds an address by design).
    pub fn privacy_ignore_label(mut self, label: impl Into<String>) -> MetricsContract {
        self.privacy_ignore_labels.insert(label.into());
        self
    }

    /// Reads a contract from TOML; see the crate docs for the format.
    pub fn from_toml(text: &str) -> Result<MetricsContract, Error> {
        let raw: RawContract = toml::from_str(text).map_err(|e| Error::Contract {
            reason: e.to_string(),
        })?;
        let mut contract = MetricsContract::new();
        contract.default_max_series = raw.max_series;
        contract.naming = raw.naming.unwrap_or(true);
        contract.naming_is_error = raw.naming_is_error.unwrap_or(false);
        contract.privacy = raw.privacy.unwrap_or(true);
        contract.privacy_ignore_labels = raw.privacy_ignore_labels.into_iter().collect();
        for f in raw.family {
            let kind = parse_kind(&f.kind).ok_or_else(|| Error::Contract {
                reason: format!("family {:?} has unknown type {:?} (counter, gauge, histogram, summary, info, stateset, gaugehistogram, unknown)", f.name, f.kind),
            })?;
            let mut rule = FamilyRule::new(f.name, kind).labels(f.labels);
            for (label, values) in f.allowed_values {
                rule = rule.allow(label, values);
            }
            rule.max_series = f.max_series;
            rule.unit = f.unit;
            rule.optional = f.optional;
            contract = contract.family(rule);
        }
        contract.validate()?;
        Ok(contract)
    }

    /// Reads a contract from a TOML file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<MetricsContract, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Contract {
            reason: format!("read {}: {e}", path.display()),
        })?;
        MetricsContract::from_toml(&text).map_err(|e| match e {
            Error::Contract { reason } => Error::Contract {
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    fn validate(&self) -> Result<(), Error> {
        let mut seen = BTreeSet::new();
        for f in &self.families {
            if !seen.insert(base_name(&f.name, f.kind)) {
                return Err(Error::Contract {
                    reason: format!("family {:?} is declared twice", f.name),
                });
            }
            for label in f.allowed_values.keys() {
                if !f.labels.contains(label) {
                    return Err(Error::Contract {
                        reason: format!(
                            "family {:?} restricts values of {label:?}, which is not in its labels",
                            f.name
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Parses an exposition body (gzip and either format) and checks it.
    pub fn check_body(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Result<ContractReport, Error> {
        let exposition = crate::exposition::parse_bytes(body, content_type, content_encoding)?;
        Ok(self.check(&exposition))
    }

    /// Checks a parsed exposition against the contract.
    pub fn check(&self, exposition: &Exposition) -> ContractReport {
        let mut report = ContractReport {
            findings: Vec::new(),
            families_checked: exposition.families.len(),
        };
        for rule in &self.families {
            let want = base_name(&rule.name, rule.kind);
            let found = exposition
                .families
                .iter()
                .find(|f| base_name(&f.name, f.kind) == want || f.name == rule.name);
            match found {
                None if rule.optional => {}
                None => report.push(
                    Severity::Error,
                    &rule.name,
                    FindingKind::MissingFamily,
                    format!("family {:?} is missing", rule.name),
                ),
                Some(family) => self.check_family(rule, family, &mut report),
            }
        }
        for family in &exposition.families {
            let budget = self
                .families
                .iter()
                .find(|r| base_name(&r.name, r.kind) == base_name(&family.name, family.kind))
                .and_then(|r| r.max_series)
                .or(self.default_max_series);
            if let Some(max) = budget {
                let series = series_count(family);
                if series > max {
                    report.push(
                        Severity::Error,
                        &family.name,
                        FindingKind::CardinalityExceeded {
                            series,
                            budget: max,
                        },
                        format!("{series} series, over the budget of {max}"),
                    );
                }
            }
            if self.naming {
                let severity = if self.naming_is_error {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                for problem in naming_problems(family) {
                    report.push(severity, &family.name, FindingKind::Naming, problem);
                }
            }
            if self.privacy {
                self.scan_privacy(family, &mut report);
            }
        }
        report
    }

    fn check_family(&self, rule: &FamilyRule, family: &MetricFamily, report: &mut ContractReport) {
        if family.kind != rule.kind {
            report.push(
                Severity::Error,
                &rule.name,
                FindingKind::WrongType,
                format!(
                    "declared type is {:?}, the contract says {:?}",
                    family.kind, rule.kind
                ),
            );
        }
        let series = series_label_sets(family);
        for label in &rule.labels {
            let without = series
                .iter()
                .filter(|s| !s.iter().any(|(k, _)| k == label))
                .count();
            if without > 0 {
                report.push(
                    Severity::Error,
                    &rule.name,
                    FindingKind::MissingLabel {
                        label: label.clone(),
                    },
                    format!(
                        "label {label:?} is missing on {without} of {} series",
                        series.len()
                    ),
                );
            }
        }
        for (label, allowed) in &rule.allowed_values {
            let mut bad: BTreeSet<&str> = BTreeSet::new();
            for s in &series {
                if let Some((_, v)) = s.iter().find(|(k, _)| k == label) {
                    if !allowed.contains(v.as_str()) {
                        bad.insert(v);
                    }
                }
            }
            for value in bad {
                report.push(
                    Severity::Error,
                    &rule.name,
                    FindingKind::UnexpectedLabelValue {
                        label: label.clone(),
                        value: value.to_owned(),
                    },
                    format!("label {label:?} has value {value:?}, not one of {allowed:?}"),
                );
            }
        }
        if let Some(unit) = &rule.unit {
            let stem = family.name.strip_suffix("_total").unwrap_or(&family.name);
            if !stem.ends_with(&format!("_{unit}")) {
                report.push(
                    Severity::Error,
                    &rule.name,
                    FindingKind::UnitNotInName,
                    format!("name does not end with its unit \"_{unit}\""),
                );
            }
            if let Some(declared) = family.unit.as_deref().filter(|u| !u.is_empty()) {
                if declared != unit {
                    report.push(
                        Severity::Error,
                        &rule.name,
                        FindingKind::UnitNotInName,
                        format!("# UNIT says {declared:?}, the contract says {unit:?}"),
                    );
                }
            }
        }
    }

    fn scan_privacy(&self, family: &MetricFamily, report: &mut ContractReport) {
        let mut reported: BTreeSet<(String, PiiKind)> = BTreeSet::new();
        for sample in &family.samples {
            for (label, value) in &sample.labels {
                if self.privacy_ignore_labels.contains(label) {
                    continue;
                }
                // A bucket bound or quantile is a number Prometheus formats itself (Go's
                // `6.103515625000001e-08` read as a hex id was a false finding on Loki 3.7.6's /metrics).
                if (label == "le" || label == "quantile") && value.parse::<f64>().is_ok() {
                    continue;
                }
                if let Some(kind) = detect_pii(value) {
                    if reported.insert((label.clone(), kind)) {
                        report.push(
                            Severity::Error,
                            &family.name,
                            FindingKind::Privacy {
                                label: label.clone(),
                                kind,
                            },
                            format!(
                                "label {label:?} holds what looks like {} ({})",
                                kind.describe(),
                                redact(value)
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The contract is broken.
    Error,
    /// Worth fixing; does not fail [`ContractReport::is_ok`].
    Warning,
}

/// What kind of personal data a label value looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PiiKind {
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An e-mail address.
    Email,
    /// A long hexadecimal identifier (content hash, trace or session id): 16 hex digits or more.
    HexId,
    /// A UUID.
    Uuid,
    /// A long base58 identifier, such as a libp2p peer ID: 32 characters or more.
    Base58Id,
}

impl PiiKind {
    fn describe(self) -> &'static str {
        match self {
            PiiKind::Ipv4 => "an IPv4 address",
            PiiKind::Ipv6 => "an IPv6 address",
            PiiKind::Email => "an e-mail address",
            PiiKind::HexId => "a long hex identifier",
            PiiKind::Uuid => "a UUID",
            PiiKind::Base58Id => "a base58 identifier such as a peer ID",
        }
    }
}

/// The class of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// A required family is not exposed.
    MissingFamily,
    /// The family's declared type differs from the contract.
    WrongType,
    /// Some series lack a required label.
    MissingLabel {
        /// The label.
        label: String,
    },
    /// A label takes a value the contract does not allow.
    UnexpectedLabelValue {
        /// The label.
        label: String,
        /// The value.
        value: String,
    },
    /// More series than the budget.
    CardinalityExceeded {
        /// Series exposed.
        series: usize,
        /// The budget.
        budget: usize,
    },
    /// The name lacks the unit the contract declares, or `# UNIT` disagrees.
    UnitNotInName,
    /// A `promtool check metrics` naming problem.
    Naming,
    /// A label value that looks like personal data.
    Privacy {
        /// The label.
        label: String,
        /// What it looks like.
        kind: PiiKind,
    },
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// The family it concerns.
    pub family: String,
    /// Its class.
    pub kind: FindingKind,
    /// A human-readable explanation (label values in it are redacted for privacy findings).
    pub message: String,
}

/// The result of checking an exposition against a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractReport {
    findings: Vec<Finding>,
    families_checked: usize,
}

impl ContractReport {
    fn push(&mut self, severity: Severity, family: &str, kind: FindingKind, message: String) {
        self.findings.push(Finding {
            severity,
            family: family.to_owned(),
            kind,
            message,
        });
    }

    /// Whether no finding is an error.
    pub fn is_ok(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Every finding, errors first.
    pub fn findings(&self) -> Vec<&Finding> {
        let mut all: Vec<&Finding> = self.findings.iter().collect();
        all.sort_by_key(|f| f.severity);
        all
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// Panics with the whole report unless [`ContractReport::is_ok`]: the one-liner for tests.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(self.is_ok(), "{self}");
    }
}

impl fmt::Display for ContractReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        writeln!(
            f,
            "metrics contract: {errors} errors, {warnings} warnings ({} families exposed)",
            self.families_checked
        )?;
        for finding in self.findings() {
            let tag = match finding.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            writeln!(f, "  {tag:<7} {}: {}", finding.family, finding.message)?;
        }
        Ok(())
    }
}

/// The family name a counter has in OpenMetrics (without `_total`), for matching across formats.
fn base_name(name: &str, kind: MetricType) -> &str {
    match kind {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

/// Distinct label sets of a family, ignoring `le` and `quantile` (a histogram's buckets are one series).
fn series_label_sets(family: &MetricFamily) -> Vec<Vec<(String, String)>> {
    let mut sets: BTreeSet<Vec<(String, String)>> = BTreeSet::new();
    for s in &family.samples {
        let mut labels: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "le" && k != "quantile")
            .cloned()
            .collect();
        labels.sort();
        sets.insert(labels);
    }
    sets.into_iter().collect()
}

fn series_count(family: &MetricFamily) -> usize {
    series_label_sets(family).len()
}

const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

fn unit_of(name: &str) -> Option<(&str, &'static str)> {
    for part in name.split('_') {
        if let Some((_, base)) = UNITS.iter().find(|(u, _)| *u == part) {
            return Some((part, base));
        }
        for prefix in UNIT_PREFIXES {
            if let Some(rest) = part.strip_prefix(prefix) {
                if let Some((_, base)) = UNITS.iter().find(|(u, _)| *u == rest) {
                    return Some((part, base));
                }
            }
        }
    }
    None
}

fn has_camel_case(name: &str) -> bool {
    name.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

fn has_word(name: &str, word: &str) -> bool {
    name.contains(&format!("_{word}_")) || name.ends_with(&format!("_{word}"))
}

/// The problems `promtool check metrics` would report for a family.
pub fn naming_problems(family: &MetricFamily) -> Vec<String> {
    let mut problems = Vec::new();
    let name = family.name.as_str();
    let lower = name.to_ascii_lowercase();
    if family.help.as_deref().unwrap_or("").is_empty() {
        problems.push("no help text".to_owned());
    }
    if let Some((unit, base)) = unit_of(name) {
        if unit != base {
            problems.push(format!("use base unit {base:?} instead of {unit:?}"));
        }
    }
    match family.kind {
        MetricType::Counter => {
            let untotalled = family
                .samples
                .iter()
                .any(|s| !(s.name.ends_with("_total") || s.name.ends_with("_created")));
            if untotalled {
                problems.push("counter metrics should have \"_total\" suffix".to_owned());
            }
        }
        _ if name.ends_with("_total") => {
            problems.push("non-counter metrics should not have \"_total\" suffix".to_owned())
        }
        _ => {}
    }
    if family.kind != MetricType::Histogram {
        if name.ends_with("_bucket") {
            problems.push("non-histogram metrics should not have \"_bucket\" suffix".to_owned());
        }
        if family
            .samples
            .iter()
            .any(|s| s.labels.iter().any(|(k, _)| k == "le"))
        {
            problems.push("non-histogram metrics should not have \"le\" label".to_owned());
        }
    }
    if !matches!(family.kind, MetricType::Histogram | MetricType::Summary) {
        for suffix in ["_count", "_sum"] {
            if name.ends_with(suffix) {
                problems.push(format!(
                    "non-histogram and non-summary metrics should not have {:?} suffix",
                    suffix
                ));
            }
        }
    }
    if family.kind != MetricType::Summary
        && family
            .samples
            .iter()
            .any(|s| s.labels.iter().any(|(k, _)| k == "quantile"))
    {
        problems.push("non-summary metrics should not have \"quantile\" label".to_owned());
    }
    for type_name in ["counter", "gauge", "histogram", "summary"] {
        if has_word(&lower, type_name) {
            problems.push(format!("metric name should not include type '{type_name}'"));
        }
    }
    if name.contains(':') {
        problems.push("metric names should not contain ':'".to_owned());
    }
    if has_camel_case(name) {
        problems.push("metric names should be written in 'snake_case' not 'camelCase'".to_owned());
    }
    let labels: BTreeSet<&str> = family
        .samples
        .iter()
        .flat_map(|s| s.labels.iter().map(|(k, _)| k.as_str()))
        .collect();
    if labels.iter().any(|l| has_camel_case(l)) {
        problems.push("label names should be written in 'snake_case' not 'camelCase'".to_owned());
    }
    if UNIT_ABBREVIATIONS.iter().any(|a| has_word(&lower, a)) {
        problems.push("metric names should not contain abbreviated units".to_owned());
    }
    problems
}

/// What personal data, if any, a label value looks like.
pub fn detect_pii(value: &str) -> Option<PiiKind> {
    // Tokens are runs that can form an address or identifier; anything else separates them.
    let is_token_char = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '.' | ':' | '@' | '%' | '+' | '-' | '_' | '[' | ']')
    };
    for token in value
        .split(|c: char| !is_token_char(c))
        .filter(|t| !t.is_empty())
    {
        let trimmed = token.trim_matches(|c| c == '[' || c == ']' || c == '.' || c == ':');
        if looks_like_email(trimmed) {
            return Some(PiiKind::Email);
        }
        let host = trimmed.split('%').next().unwrap_or(trimmed);
        if host.parse::<std::net::Ipv4Addr>().is_ok()
            || strip_port(host).parse::<std::net::Ipv4Addr>().is_ok()
        {
            return Some(PiiKind::Ipv4);
        }
        if host.matches(':').count() >= 2 && host.parse::<std::net::Ipv6Addr>().is_ok() {
            return Some(PiiKind::Ipv6);
        }
        if is_uuid(trimmed) {
            return Some(PiiKind::Uuid);
        }
    }
    for run in value.split(|c: char| !c.is_ascii_alphanumeric()) {
        if run.len() >= 16
            && run.bytes().all(|b| b.is_ascii_hexdigit())
            && run.bytes().any(|b| b.is_ascii_digit())
        {
            return Some(PiiKind::HexId);
        }
        let base58 = |b: u8| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l');
        if run.len() >= 32
            && run.bytes().all(base58)
            && run.bytes().any(|b| b.is_ascii_digit())
            && run.bytes().any(|b| b.is_ascii_uppercase())
            && run.bytes().any(|b| b.is_ascii_lowercase())
        {
            return Some(PiiKind::Base58Id);
        }
    }
    None
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port))
            if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') =>
        {
            h
        }
        _ => host,
    }
}

fn looks_like_email(token: &str) -> bool {
    let Some((local, domain)) = token.split_once('@') else {
        return false;
    };
    let Some((_, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_uuid(token: &str) -> bool {
    let parts: Vec<&str> = token.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, len)| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Keeps the first and last two characters, so a report never repeats the personal data.
fn redact(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}, {} chars", chars.len())
}

fn parse_kind(s: &str) -> Option<MetricType> {
    // Either format's spelling: `untyped` (text 0.0.4) or `unknown` (OpenMetrics).
    MetricType::parse(s, Format::OpenMetrics1).or_else(|| MetricType::parse(s, Format::Text004))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    max_series: Option<usize>,
    naming: Option<bool>,
    naming_is_error: Option<bool>,
    privacy: Option<bool>,
    #[serde(default)]
    privacy_ignore_labels: Vec<String>,
    #[serde(default)]
    family: Vec<RawFamily>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFamily {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    allowed_values: BTreeMap<String, Vec<String>>,
    max_series: Option<usize>,
    unit: Option<String>,
    #[serde(default)]
    optional: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_personal_data() {
        let cases: &[(&str, Option<PiiKind>)] = &[
            ("10.0.0.12", Some(PiiKind::Ipv4)),
            ("peer at 192.168.1.7:4001", Some(PiiKind::Ipv4)),
            ("2001:db8::1", Some(PiiKind::Ipv6)),
            ("[fe80::1%eth0]:8080", Some(PiiKind::Ipv6)),
            ("alice@example.org", Some(PiiKind::Email)),
            ("e3b0c44298fc1c149afbf4c8996fb924", Some(PiiKind::HexId)),
            ("550e8400-e29b-41d4-a716-446655440000", Some(PiiKind::Uuid)),
            (
                "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN",
                Some(PiiKind::Base58Id),
            ),
            (
                "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
                Some(PiiKind::Base58Id),
            ),
            ("/api/v1/items", None),
            ("GET", None),
            ("0.005", None),
            ("1.2.3", None),
            ("12:30:45", None),
            ("podman-balanced-engineering-platform.service", None),
            ("v1.2.3-rc1", None),
            ("deadbeef", None),
        ];
        for (value, want) in cases {
            assert_eq!(detect_pii(value), *want, "{value}");
        }
    }

    #[test]
    fn bucket_bounds_are_not_personal_data() {
        // Loki 3.7.6 exposes Go runtime histograms with bounds like this one; the same text in
        // any other label is still reported.
        let body = "# TYPE h histogram\nh_bucket{le=\"6.103515625000001e-08\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n# TYPE g gauge\ng{id=\"6.103515625000001e-08\"} 1\n";
        let exposition = crate::exposition::parse(body, Format::Text004).unwrap();
        let report = MetricsContract::new()
            .naming(false, false)
            .check(&exposition);
        let text = report.to_string();
        assert!(!text.contains("\"le\""), "{text}");
        assert!(text.contains("\"id\""), "{text}");
    }

    #[test]
    fn redaction_hides_the_value() {
        assert_eq!(redact("alice@example.org"), "al…rg, 17 chars");
        assert_eq!(redact("1.2.3"), "*****");
    }

    #[test]
    fn toml_contract_errors_are_clear() {
        let err = MetricsContract::from_toml("[[family]]\nname = \"x\"\ntype = \"countr\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("unknown type \"countr\""), "{err}");
        let err =
            MetricsContract::from_toml("[[family]]\nname = \"x\"\ntype = \"gauge\"\nlables = []\n")
                .unwrap_err();
        assert!(err.to_string().contains("lables"), "{err}");
        let err = MetricsContract::from_toml(
            "[[family]]\nname = \"x\"\ntype = \"gauge\"\n[family.allowed_values]\nmode = [\"a\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("not in its labels"), "{err}");
        let twice = "[[family]]\nname = \"x_total\"\ntype = \"counter\"\n[[family]]\nname = \"x\"\ntype = \"counter\"\n";
        assert!(MetricsContract::from_toml(twice)
            .unwrap_err()
            .to_string()
            .contains("declared twice"));
    }
}
