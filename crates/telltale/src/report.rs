//! The outcome of a `telltale check` run: per-scenario checks, delivery accounting and evidence,
//! rendered as a table for humans, as versioned JSON (`docs/report.md`) or as JUnit XML.
//!
//! The JSON shape is a contract with the NixOS testScripts, which read it with `json.loads`;
//! `tests/report_schema.rs` snapshot-tests it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::accounting::Summary;

/// The schema name in every report.
pub const SCHEMA: &str = "telltale-check-report";
/// The schema version; bumped when a field is renamed or removed.
pub const VERSION: u32 = 2;

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every check passed.
    Passed,
    /// The stack was reached and a check failed.
    Failed,
    /// A part the scenario needs is absent or unreachable; never a pass.
    Unavailable,
    /// The harness could not run the scenario.
    Error,
}

impl Status {
    /// The word used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Unavailable => "unavailable",
            Status::Error => "error",
        }
    }
}

/// One assertion a scenario made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was expected, for humans.
    pub expected: String,
    /// What was found, for humans.
    pub actual: String,
}

/// Why a scenario could not run, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The endpoint (URL, `host:port` or path) involved.
    pub endpoint: String,
    /// What went wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// Delivery accounting for one signal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// What was sent, e.g. `journald podman-be-pwa.service`.
    pub signal: String,
    /// Items sent.
    pub sent: u64,
    /// Seen once, in order, in time.
    pub delivered: u64,
    /// Seen once, in order, after the lateness threshold.
    pub late: u64,
    /// Seen more than once.
    pub duplicated: u64,
    /// Seen before an item sent earlier.
    pub out_of_order: u64,
    /// Arrived, but only outside the place it was expected (other labels, another stream):
    /// the query the stack promises does not find it.
    pub misrouted: u64,
    /// Never seen, anywhere the read-back looked.
    pub missing: u64,
    /// Sightings of sequence numbers never sent.
    pub unexpected: u64,
    /// Whether a second copy of an item could have been seen. When `false` (a store that
    /// folds copies together, such as Prometheus samples), `delivered` means "visible", not
    /// "exactly once".
    pub duplicates_observable: bool,
    /// Where misrouted items were found (e.g. the labels they carried), with their counts.
    pub misrouted_to: Vec<Misroute>,
    /// Send to first sight, in milliseconds.
    pub latency_ms: LatencyMs,
    /// Missing sequence numbers as inclusive ranges.
    pub missing_ranges: Vec<(u64, u64)>,
}

/// Where some misrouted items were found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misroute {
    /// The place, e.g. `{job="otlp", service_name="pwa"}`, or the difference from the
    /// expected labels.
    pub found: String,
    /// Items found there.
    pub items: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Worst.
    pub max: f64,
}

/// Milliseconds with microsecond resolution, the unit every report uses.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

impl Delivery {
    /// The report form of a ledger's summary.
    pub fn from_summary(signal: impl Into<String>, s: &Summary) -> Delivery {
        Delivery {
            signal: signal.into(),
            sent: s.sent,
            delivered: s.delivered,
            late: s.late,
            duplicated: s.duplicated,
            out_of_order: s.out_of_order,
            misrouted: s.misrouted,
            missing: s.missing,
            unexpected: s.unexpected,
            duplicates_observable: true,
            misrouted_to: s
                .misrouted_to
                .iter()
                .map(|(found, items)| Misroute {
                    found: found.clone(),
                    items: *items,
                })
                .collect(),
            latency_ms: LatencyMs {
                p50: millis(s.latency.p50),
                p95: millis(s.latency.p95),
                p99: millis(s.latency.p99),
                max: millis(s.latency.max),
            },
            missing_ranges: s.missing_ranges.clone(),
        }
    }

    /// Marks a read-back that cannot tell one copy from two: `delivered` then means "visible".
    pub fn duplicates_unobservable(mut self) -> Delivery {
        self.duplicates_observable = false;
        self
    }

    /// Something was sent, every item was delivered (exactly once where copies are
    /// observable), in order, in time, and nothing unexpected showed up.
    pub fn is_clean(&self) -> bool {
        self.sent > 0 && self.delivered == self.sent && self.unexpected == 0
    }

    /// One line: `20 sent: 18 delivered, 2 missing (7-8)`.
    pub fn describe(&self) -> String {
        let word = if self.duplicates_observable {
            "delivered"
        } else {
            "visible"
        };
        let mut parts = vec![format!("{} {word}", self.delivered)];
        for (n, word) in [
            (self.late, "late"),
            (self.duplicated, "duplicated"),
            (self.out_of_order, "out of order"),
            (self.misrouted, "misrouted"),
            (self.missing, "missing"),
            (self.unexpected, "unexpected"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        let mut line = format!("{} sent: {}", self.sent, parts.join(", "));
        if !self.missing_ranges.is_empty() {
            let ranges: Vec<String> = self
                .missing_ranges
                .iter()
                .take(5)
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            let more = if self.missing_ranges.len() > 5 {
                ", …"
            } else {
                ""
            };
            let _ = write!(line, " (missing {}{more})", ranges.join(", "));
        }
        if !self.misrouted_to.is_empty() {
            let places: Vec<String> = self
                .misrouted_to
                .iter()
                .take(3)
                .map(|m| format!("{} under {}", m.items, m.found))
                .collect();
            let _ = write!(line, " (misrouted: {})", places.join(", "));
        }
        // Misrouted items are not in the percentiles: with nothing seen in place there is no
        // latency to state.
        if self.sent > self.missing + self.misrouted {
            let _ = write!(
                line,
                "; latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                self.latency_ms.p50, self.latency_ms.p99, self.latency_ms.max
            );
        }
        line
    }
}

/// Free-form evidence of one scenario: what was sent, the queries used, what came back.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Evidence(BTreeMap<String, serde_json::Value>);

impl Evidence {
    /// Records `value` under `key`, replacing what was there.
    pub fn record(&mut self, key: &str, value: impl Serialize) {
        self.0.insert(key.to_owned(), to_value(value));
    }

    /// Appends `value` to the list under `key`.
    pub fn push(&mut self, key: &str, value: impl Serialize) {
        let value = to_value(value);
        match self
            .0
            .entry(key.to_owned())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        {
            serde_json::Value::Array(items) => items.push(value),
            other => *other = serde_json::Value::Array(vec![other.take(), value]),
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Evidence is for humans: a value that cannot be JSON says so instead of failing the run.
fn to_value(value: impl Serialize) -> serde_json::Value {
    serde_json::to_value(value)
        .unwrap_or_else(|e| serde_json::Value::String(format!("(evidence not serializable: {e})")))
}

/// One scenario's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name, e.g. `journald-to-loki`.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// One line for humans.
    pub summary: String,
    /// Wall time.
    pub duration_ms: f64,
    /// Every assertion made.
    pub checks: Vec<Check>,
    /// Delivery accounting, one per signal sent.
    pub delivery: Vec<Delivery>,
    /// What was sent and seen.
    pub evidence: Evidence,
    /// Why it could not run.
    pub problem: Option<Problem>,
}

/// Where the stack description came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackRef {
    /// The host the services are reached on.
    pub host: String,
    /// The stack description's path.
    pub source: String,
}

/// Scenarios per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Passed.
    pub passed: u32,
    /// Failed.
    pub failed: u32,
    /// Unavailable.
    pub unavailable: u32,
    /// Could not run.
    pub error: u32,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// Always [`VERSION`].
    pub version: u32,
    /// The telltale version that wrote it.
    pub telltale: &'static str,
    /// The run id every item sent carries.
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Wall time of the whole run.
    pub duration_ms: f64,
    /// The stack checked.
    pub stack: StackRef,
    /// `passed`, `failed`, `unavailable` or `error`.
    pub status: Status,
    /// The process exit code this report implies.
    pub exit_code: u8,
    /// Scenarios per status.
    pub counts: Counts,
    /// In the order run.
    pub scenarios: Vec<ScenarioReport>,
}

impl Report {
    /// Assembles a report; the run's status and exit code follow from the scenarios.
    pub fn new(
        run_id: String,
        started_at: String,
        duration: Duration,
        stack: StackRef,
        scenarios: Vec<ScenarioReport>,
    ) -> Report {
        let mut counts = Counts::default();
        for s in &scenarios {
            match s.status {
                Status::Passed => counts.passed += 1,
                Status::Failed => counts.failed += 1,
                Status::Unavailable => counts.unavailable += 1,
                Status::Error => counts.error += 1,
            }
        }
        // A failure outranks everything: the stack was reached and is wrong. Then a harness
        // error, then a missing part. Passed only when nothing else happened, and an empty
        // run passes nothing.
        let (status, exit_code) = if counts.failed > 0 {
            (Status::Failed, 1)
        } else if counts.error > 0 {
            (Status::Error, 2)
        } else if counts.unavailable > 0 || scenarios.is_empty() {
            (Status::Unavailable, 2)
        } else {
            (Status::Passed, 0)
        };
        Report {
            schema: SCHEMA,
            version: VERSION,
            telltale: env!("CARGO_PKG_VERSION"),
            run_id,
            started_at,
            duration_ms: millis(duration),
            stack,
            status,
            exit_code,
            counts,
            scenarios,
        }
    }

    /// The JSON form (`docs/report.md`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report always serializes")
    }

    /// A table for humans, with the details of everything that did not pass.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let width = self
            .scenarios
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = writeln!(
            out,
            "telltale {} · run {} · stack {} ({})",
            self.telltale, self.run_id, self.stack.host, self.stack.source
        );
        let _ = writeln!(
            out,
            "{:<width$}  {:<11}  {:>8}  summary",
            "scenario", "status", "time"
        );
        for s in &self.scenarios {
            let _ = writeln!(
                out,
                "{:<width$}  {:<11}  {:>7.1}s  {}",
                s.name,
                s.status.as_str(),
                s.duration_ms / 1000.0,
                s.summary
            );
        }
        for s in self.scenarios.iter().filter(|s| s.status != Status::Passed) {
            let _ = writeln!(out, "\n{} ({}):", s.name, s.status.as_str());
            if let Some(p) = &s.problem {
                let _ = writeln!(out, "  endpoint: {}", p.endpoint);
                let _ = writeln!(out, "  problem:  {}", p.message);
                let _ = writeln!(out, "  to do:    {}", p.hint);
            }
            for c in s.checks.iter().filter(|c| !c.passed) {
                let _ = writeln!(
                    out,
                    "  ✗ {}: expected {}, found {}",
                    c.name, c.expected, c.actual
                );
            }
            for d in s.delivery.iter().filter(|d| !d.is_clean()) {
                let _ = writeln!(out, "  ✗ {}: {}", d.signal, d.describe());
            }
        }
        let c = self.counts;
        let _ = writeln!(
            out,
            "\n{}: {} passed, {} failed, {} unavailable, {} error in {:.1}s",
            self.status.as_str(),
            c.passed,
            c.failed,
            c.unavailable,
            c.error,
            self.duration_ms / 1000.0
        );
        out
    }

    /// JUnit XML: one test case per scenario; `failed` is a failure, `error` an error and
    /// `unavailable` an error too, because CI must not read a missing part as a pass.
    pub fn to_junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let c = self.counts;
        let _ = writeln!(
            out,
            "<testsuites name=\"telltale\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
            self.scenarios.len(),
            c.failed,
            c.error + c.unavailable,
            self.duration_ms / 1000.0
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"telltale check\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
            self.scenarios.len(),
            c.failed,
            c.error + c.unavailable,
            self.duration_ms / 1000.0,
            xml(&self.started_at)
        );
        for s in &self.scenarios {
            let _ = write!(
                out,
                "    <testcase classname=\"telltale.check\" name=\"{}\" time=\"{:.3}\"",
                xml(&s.name),
                s.duration_ms / 1000.0
            );
            let details = self.details(s);
            match s.status {
                Status::Passed => out.push_str(" />\n"),
                Status::Failed => {
                    let _ = write!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"failed\">{}</failure>\n    </testcase>\n",
                        xml(&s.summary),
                        xml(&details)
                    );
                }
                Status::Unavailable | Status::Error => {
                    let _ = write!(
                        out,
                        ">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>\n",
                        xml(&s.summary),
                        s.status.as_str(),
                        xml(&details)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    fn details(&self, s: &ScenarioReport) -> String {
        let mut out = String::new();
        if let Some(p) = &s.problem {
            let _ = writeln!(out, "{}: {}\nto do: {}", p.endpoint, p.message, p.hint);
        }
        for c in &s.checks {
            let mark = if c.passed { "ok" } else { "FAILED" };
            let _ = writeln!(
                out,
                "{mark} {}: expected {}, found {}",
                c.name, c.expected, c.actual
            );
        }
        for d in &s.delivery {
            let _ = writeln!(out, "{}: {}", d.signal, d.describe());
        }
        out
    }
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, status: Status) -> ScenarioReport {
        ScenarioReport {
            name: name.into(),
            status,
            summary: format!("{name} <&> \"summary\""),
            duration_ms: 12.5,
            checks: vec![Check {
                name: "a check".into(),
                passed: status == Status::Passed,
                expected: "1".into(),
                actual: "2".into(),
            }],
            delivery: vec![],
            evidence: Evidence::default(),
            problem: None,
        }
    }

    fn report(statuses: &[Status]) -> Report {
        let scenarios = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| scenario(&format!("s{i}"), *s))
            .collect();
        Report::new(
            "tt-1".into(),
            "2026-11-22T10:00:00Z".into(),
            Duration::from_millis(1500),
            StackRef {
                host: "127.0.0.1".into(),
                source: "stack.toml".into(),
            },
            scenarios,
        )
    }

    #[test]
    fn the_run_status_follows_the_worst_scenario() {
        use Status::*;
        let cases: &[(&[Status], Status, u8)] = &[
            (&[Passed, Passed], Passed, 0),
            (&[Passed, Unavailable], Unavailable, 2),
            (&[Passed, Error, Unavailable], Error, 2),
            (&[Failed, Error, Unavailable, Passed], Failed, 1),
            (&[], Unavailable, 2),
        ];
        for (statuses, status, code) in cases {
            let r = report(statuses);
            assert_eq!((r.status, r.exit_code), (*status, *code), "{statuses:?}");
        }
    }

    #[test]
    fn junit_escapes_and_counts_unavailable_as_an_error() {
        let junit = report(&[Status::Passed, Status::Failed, Status::Unavailable]).to_junit();
        assert!(
            junit.contains("tests=\"3\" failures=\"1\" errors=\"1\""),
            "{junit}"
        );
        assert!(
            junit.contains("&lt;&amp;&gt; &quot;summary&quot;"),
            "{junit}"
        );
        assert!(junit.contains("<error message=") && junit.contains("type=\"unavailable\""));
        assert_eq!(junit.matches("<testcase").count(), 3);
        assert_eq!(xml("a\u{1}b"), "a\u{FFFD}b");
    }

    #[test]
    fn the_table_details_what_did_not_pass() {
        let human = report(&[Status::Passed, Status::Failed]).to_human();
        assert!(human.contains("✗ a check: expected 1, found 2"), "{human}");
        assert!(human.contains("failed: 1 passed, 1 failed"), "{human}");
    }

    #[test]
    fn delivery_describes_gaps_and_latency() {
        let d = Delivery {
            signal: "x".into(),
            sent: 20,
            delivered: 17,
            late: 0,
            duplicated: 1,
            out_of_order: 0,
            misrouted: 0,
            missing: 2,
            unexpected: 0,
            duplicates_observable: true,
            misrouted_to: Vec::new(),
            latency_ms: LatencyMs {
                p50: 10.0,
                p95: 20.0,
                p99: 30.0,
                max: 40.0,
            },
            missing_ranges: vec![(7, 8)],
        };
        assert_eq!(
            d.describe(),
            "20 sent: 17 delivered, 1 duplicated, 2 missing (missing 7-8); latency p50 10 ms, p99 30 ms, max 40 ms"
        );
        assert!(!d.is_clean());
    }

    #[test]
    fn evidence_pushes_onto_lists() {
        let mut e = Evidence::default();
        e.push("queries", "a");
        e.push("queries", "b");
        e.record("sent", 3);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"queries":["a","b"],"sent":3}"#
        );
    }
}
