//! What a bench found: per-step figures, the checks that decide whether a step held, the
//! verdict, and the versioned JSON report (`telltale-bench-report` v2, documented in
//! `docs/bench.md`) with its human rendering.
//!
//! A step holds only when every check against the stack's answers held: the rate the receiver
//! accepted, nothing refused, nothing lost, and (when one is set) the latency budget. The
//! checks are pure functions of the step's figures, so their edges are unit-tested here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::Settings;
use crate::report::{Check, Delivery, LatencyMs};

/// The `schema` field of every bench report.
pub const REPORT_SCHEMA: &str = "telltale-bench-report";

/// The `version` field: 2 since a fixed run's `outcome.passed` also requires the rate and the
/// latency budget (see `docs/bench.md`, "Changes").
pub const REPORT_VERSION: u32 = 2;

/// The least share of the asked rate, in percent, that the receiver must accept for a step to
/// hold: items accepted per second over the send window ([`per_second`]).
pub const MIN_RATE_PERCENT: u32 = 95;

const MIB: f64 = 1024.0 * 1024.0;

/// One step: a rate held for the step length, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// 1-based.
    pub step: u32,
    /// Items per second asked for.
    pub target_items_per_s: f64,
    /// Seconds from the first push's start to the last push's end.
    pub send_s: f64,
    /// Items sent.
    pub sent: u64,
    /// Bytes of lines sent (what Loki counts against its rate limits).
    pub bytes: u64,
    /// Items sent per second over the send window ([`per_second`]).
    pub achieved_items_per_s: f64,
    /// Items the receiver accepted per second over the send window ([`per_second`]): what the
    /// `rate` check compares with the asked rate.
    pub accepted_items_per_s: f64,
    /// MiB of lines per second achieved (Loki's `ingestion_rate_mb` counts MiB).
    pub achieved_mib_per_s: f64,
    /// Push requests made.
    pub requests: u64,
    /// Compressed bytes on the wire.
    pub wire_bytes: u64,
    /// Items Loki answered 204 for.
    pub accepted: u64,
    /// Items Loki refused.
    pub rejected: u64,
    /// Items whose fate the push could not settle.
    pub unknown: u64,
    /// Refused items by Loki's reason class (`rate_limited`, `stream_rate_limited`…).
    pub rejections: BTreeMap<String, u64>,
    /// Loki's own words for the first refusal.
    pub first_rejection: Option<String>,
    /// Push round trips, in milliseconds.
    pub push_ms: LatencyMs,
    /// Delivery accounting from the read-back; latency is send to first visible.
    pub delivery: Delivery,
    /// The two complete read-backs: right after the polls, and after the settle period.
    pub read_back: ReadBack,
    /// Milliseconds between polls for newly visible items: latencies are this coarse.
    pub poll_interval_ms: f64,
    /// Every item delivered exactly once, in order, and nothing refused.
    pub clean: bool,
    /// Why this step counts as saturated, if it does.
    pub saturation: Option<Saturation>,
    /// The checks that decide whether the step held ([`step_checks`]).
    pub checks: Vec<Check>,
    /// telltale's own CPU.
    pub cpu: CpuUse,
}

impl Step {
    /// Every check ran and held, and nothing saturated: this rate is held.
    pub fn sustained(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed) && self.saturation.is_none()
    }

    /// `held`, or the checks that failed in words, e.g. `rate 212/s of 1000/s asked (21.2 %)`.
    pub fn verdict(&self) -> String {
        if self.sustained() {
            return "held".into();
        }
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} {}", c.name, c.actual))
            .collect();
        match (&self.saturation, failed.is_empty()) {
            (_, false) => failed.join("; "),
            (Some(sat), true) => format!("{}: {}", sat.kind, sat.detail),
            (None, true) => "not judged: no check ran".into(),
        }
    }
}

/// What the complete read-backs of a step found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadBack {
    /// Copies of the step's items the first complete read-back found.
    pub first: u64,
    /// Copies the settle re-read found, after [`ReadBack::settle_ms`]: more than `first` means
    /// a copy arrived late (a collector's retry), which the ledger then counts.
    pub settled: u64,
    /// Milliseconds waited between the two reads.
    pub settle_ms: f64,
    /// Whether the settle re-read was a count (`count_over_time`) equal to `first`, so the
    /// items were not read again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled_by_count: bool,
    /// When items the receiver took were missing: the search for them under any labels (the
    /// label names and queries, the streams they were found in, or why it could not be made).
    /// `null` when nothing was missing or the store has one place for the items.
    pub elsewhere: Option<serde_json::Value>,
}

/// Items per second over a send window of `send_s` seconds (first send's start to last send's
/// end) at `target` items/s asked. The window gets one item's share of the schedule (`1 /
/// target`) added, because `n` items evenly spaced at the asked rate span `(n - 1) / target`
/// seconds from the first send to the last but fill `n / target`: a receiver that keeps up
/// scores the asked rate, less only the last send's round trip, and a slow one scores less.
pub fn per_second(items: u64, send_s: f64, target: f64) -> f64 {
    let window = send_s + 1.0 / target;
    if send_s >= 0.0 && window.is_finite() && window > 0.0 {
        items as f64 / window
    } else {
        0.0
    }
}

/// A rate for people: whole items above 100/s, one decimal below.
fn per_s(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}/s")
    } else {
        format!("{rate:.1}/s")
    }
}

/// `part` of `whole` in percent, rounded down to a tenth, so 94.99 % never reads as 95.0 %.
fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        (part / whole * 1000.0).floor() / 10.0
    } else {
        0.0
    }
}

/// The `rate` check: the receiver accepted at least `min_percent` of the asked rate.
pub fn rate_check(target: f64, accepted_per_s: f64, min_percent: u32) -> Check {
    // Compared in whole percent on both sides, so exactly 95 % of the asked rate passes.
    let passed = target > 0.0 && accepted_per_s * 100.0 >= target * f64::from(min_percent);
    Check {
        name: "rate".into(),
        passed,
        expected: format!(
            ">= {} ({min_percent} % of {} asked)",
            per_s(target * f64::from(min_percent) / 100.0),
            per_s(target)
        ),
        actual: format!(
            "{} of {} asked ({:.1} %)",
            per_s(accepted_per_s),
            per_s(target),
            percent(accepted_per_s, target)
        ),
    }
}

/// The checks that decide whether a step held, each on what the stack answered:
/// - `rate`: items accepted per second over the send window, at least `min_percent` % of
///   the asked rate;
/// - `refused`: no item refused by the receiver or of unknown fate;
/// - `loss`: every item sent read back exactly once (visible, where copies cannot be told
///   apart), in order, and nothing unexpected;
/// - `latency p99` (only with a budget): p99 send-to-visible at most `max_p99_ms`, and
///   something was seen to measure it on.
pub fn step_checks(s: &Step, min_percent: u32, max_p99_ms: Option<f64>) -> Vec<Check> {
    let mut checks = vec![rate_check(
        s.target_items_per_s,
        s.accepted_items_per_s,
        min_percent,
    )];
    let refused = s.rejected + s.unknown;
    let classes: Vec<String> = s
        .rejections
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    checks.push(Check {
        name: "refused".into(),
        passed: refused == 0,
        expected: format!("0 of {} items", s.sent),
        actual: if classes.is_empty() {
            format!("{refused} of {} items", s.sent)
        } else {
            format!("{refused} of {} items ({})", s.sent, classes.join(", "))
        },
    });
    let d = &s.delivery;
    let described = d.describe();
    // The counts alone: "20 sent: 18 delivered, 2 missing (missing 7-8); latency …".
    let counts = described
        .split_once(": ")
        .map_or(described.as_str(), |(_, rest)| rest);
    let counts = counts.split("; latency").next().unwrap_or(counts);
    checks.push(Check {
        name: "loss".into(),
        passed: s.sent > 0 && d.sent == s.sent && d.is_clean(),
        expected: format!("0 of {} items", s.sent),
        actual: format!(
            "{} of {} items ({counts})",
            s.sent.saturating_sub(d.delivered),
            s.sent
        ),
    });
    if let Some(budget) = max_p99_ms {
        // Seen where promised: misrouted items are not in the percentiles.
        let seen = d.sent.saturating_sub(d.missing + d.misrouted);
        let p99 = d.latency_ms.p99;
        checks.push(Check {
            name: "latency p99".into(),
            passed: seen > 0 && p99 <= budget,
            expected: format!("<= {budget:.0} ms"),
            actual: if seen == 0 {
                "not measured: nothing was read back where promised".into()
            } else if p99 <= budget {
                format!("{p99:.0} ms within the {budget:.0} ms budget")
            } else {
                format!("{p99:.0} ms over the {budget:.0} ms budget")
            },
        });
    }
    checks
}

/// telltale's own CPU time for a number of items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpuUse {
    /// Items.
    pub items: u64,
    /// CPU seconds of the generator thread: making lines, encoding, compressing, sending.
    pub generator_s: f64,
    /// CPU seconds of the whole process, the read-back and accounting included.
    pub process_s: f64,
    /// Generator CPU microseconds per item.
    pub generator_us_per_item: f64,
    /// Process CPU microseconds per item.
    pub process_us_per_item: f64,
}

impl CpuUse {
    /// Per-item figures from totals.
    pub fn of(generator_s: f64, process_s: f64, items: u64) -> CpuUse {
        let per = |s: f64| {
            if items == 0 {
                0.0
            } else {
                s * 1e6 / items as f64
            }
        };
        CpuUse {
            items,
            generator_s,
            process_s,
            generator_us_per_item: per(generator_s),
            process_us_per_item: per(process_s),
        }
    }
}

/// Why a step counts as saturated, naming the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Saturation {
    /// `rate_limited`, `stream_rate_limited`, `stream_limit`, `errors`, `loss`, `latency`,
    /// `throughput` or `none`.
    pub kind: String,
    /// The setting or resource that stopped it, e.g. `limits_config.ingestion_rate_mb`.
    pub limit: String,
    /// The numbers and the server's words.
    pub detail: String,
}

/// The ingestion limits Loki's `/config` declares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// `limits_config.ingestion_rate_mb` (MiB/s per tenant).
    pub ingestion_rate_mib: f64,
    /// `limits_config.ingestion_burst_size_mb` (MiB).
    pub ingestion_burst_mib: f64,
    /// `limits_config.max_line_size` in bytes (0: none).
    pub max_line_size: u64,
    /// `limits_config.max_entries_limit_per_query`.
    pub max_entries_per_query: u64,
}

/// The highest rate held with zero loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Highest {
    /// The step that held it.
    pub step: u32,
    /// Items per second achieved.
    pub items_per_s: f64,
    /// MiB of lines per second achieved.
    pub mib_per_s: f64,
    /// Its latency percentiles, in milliseconds.
    pub latency_ms: LatencyMs,
}

impl Highest {
    pub(super) fn of(s: &Step) -> Highest {
        Highest {
            step: s.step,
            items_per_s: s.achieved_items_per_s,
            mib_per_s: s.achieved_mib_per_s,
            latency_ms: s.delivery.latency_ms,
        }
    }
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Fixed rate: every check of the step held (rate, refused, loss, latency budget). Ramp:
    /// some step held.
    pub passed: bool,
    /// The checks that failed, in words (fixed rate: the step's; ramp: empty unless no step
    /// held, then the first step's).
    pub failed_checks: Vec<String>,
    /// The highest rate held with zero loss.
    pub highest_sustained: Option<Highest>,
    /// The limit that stopped the ramp (or that the fixed rate ran into).
    pub stopped_by: Option<Saturation>,
    /// The highest sustained MiB/s over the configured `ingestion_rate_mb`.
    pub ceiling_fraction: Option<f64>,
    /// `ingestion_burst_size_mb` over the step length: how far above the configured rate a
    /// step can run before Loki's token bucket empties and it answers 429.
    pub burst_allowance_mib_per_s: Option<f64>,
}

/// The settings a report was made with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsEcho {
    /// Bytes per line.
    pub line_bytes: usize,
    /// Streams.
    pub streams: u32,
    /// Seconds per step.
    pub step_secs: f64,
    /// Milliseconds between the generator's sends.
    pub batch_interval_ms: f64,
    /// Largest push, in bytes of lines.
    pub max_batch_bytes: usize,
    /// Whether refused pushes were retried.
    pub retries: bool,
    /// Seconds the read-back waits after the last push.
    pub deadline_secs: f64,
    /// p99 latency above which a ramp step counts as saturated, in milliseconds.
    pub latency_limit_ms: f64,
    /// The least share of the asked rate, in percent, a step must have accepted to hold.
    pub min_rate_percent: u32,
    /// The latency budget (p99, milliseconds) every step is held to, if one was set.
    pub max_p99_ms: Option<f64>,
    /// Seconds between the first complete read-back and the settle re-read.
    pub settle_secs: f64,
    /// Seconds the read-back window reaches before the step and after now, for clocks of the
    /// harness and the collector that disagree.
    pub clock_skew_secs: f64,
}

impl SettingsEcho {
    pub(super) fn of(s: &Settings) -> SettingsEcho {
        SettingsEcho {
            min_rate_percent: MIN_RATE_PERCENT,
            max_p99_ms: s.max_p99.map(crate::report::millis),
            settle_secs: s.settle.as_secs_f64(),
            clock_skew_secs: s.clock_skew.as_secs_f64(),
            line_bytes: s.line_bytes,
            streams: s.streams,
            step_secs: s.step.as_secs_f64(),
            batch_interval_ms: crate::report::millis(s.batch_interval),
            max_batch_bytes: s.max_batch_bytes,
            retries: s.retries,
            deadline_secs: s.deadline.as_secs_f64(),
            latency_limit_ms: crate::report::millis(s.latency_limit),
        }
    }
}

/// The whole report; `--report json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Always [`REPORT_SCHEMA`].
    pub schema: String,
    /// Schema version: [`REPORT_VERSION`].
    pub version: u32,
    /// telltale's version.
    pub telltale_version: String,
    /// `logs`, `otlp`, `faro` or `sentry`.
    pub signal: String,
    /// `fixed` or `ramp`.
    pub mode: String,
    /// Carried by every item.
    pub run_id: String,
    /// Where the load went.
    pub endpoint: String,
    /// The server's version, when it says.
    pub server_version: Option<String>,
    /// How the bench ran.
    pub settings: SettingsEcho,
    /// The server's configured limits, when it publishes them.
    pub limits: Option<Limits>,
    /// telltale's CPU over every step.
    pub cpu: CpuUse,
    /// Each step.
    pub steps: Vec<Step>,
    /// The verdict.
    pub outcome: Outcome,
}

impl BenchReport {
    /// Exit code: 0 passed, 1 not. A report without a step that held is never 0.
    pub fn exit_code(&self) -> u8 {
        if self.outcome.passed && self.steps.iter().any(Step::sustained) {
            0
        } else {
            1
        }
    }

    /// The report as a readable table.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "telltale bench {} ({}) against {}{}, run {}",
            self.signal,
            self.mode,
            self.endpoint,
            self.server_version
                .as_deref()
                .map(|v| format!(
                    " ({} {v})",
                    if self.signal == "sentry" {
                        "GlitchTip"
                    } else {
                        "Loki"
                    }
                ))
                .unwrap_or_default(),
            self.run_id
        );
        let _ = writeln!(
            out,
            "{}{:.0} s per step{}",
            // Only `logs` is shaped by --line-bytes and --streams; the other signals send
            // what their scenarios send.
            if self.signal == "logs" {
                format!(
                    "{} B lines over {} streams, ",
                    self.settings.line_bytes, self.settings.streams
                )
            } else {
                String::new()
            },
            self.settings.step_secs,
            match &self.limits {
                Some(l) => format!(
                    "; Loki's configured ceiling: ingestion_rate_mb {} MiB/s, burst {} MiB",
                    l.ingestion_rate_mib, l.ingestion_burst_mib
                ),
                None => String::new(),
            }
        );
        let _ = writeln!(
            out,
            "a step holds when the receiver accepted at least {} % of the asked rate, refused nothing and lost nothing{}",
            self.settings.min_rate_percent,
            match self.settings.max_p99_ms {
                Some(ms) => format!(", with p99 latency at most {ms:.0} ms"),
                None if self.mode == "ramp" => format!(
                    ", with p99 latency at most {:.0} ms",
                    self.settings.latency_limit_ms
                ),
                None => String::new(),
            }
        );
        let _ = writeln!(
            out,
            "{:>4} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8}  verdict",
            "step",
            "target/s",
            "accepted/s",
            "MiB/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "cpu µs"
        );
        for s in &self.steps {
            let l = s.delivery.latency_ms;
            let verdict = s.verdict();
            let _ = writeln!(
                out,
                "{:>4} {:>10.0} {:>10.0} {:>8.3} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.2}  {verdict}",
                s.step,
                s.target_items_per_s,
                s.accepted_items_per_s,
                s.achieved_mib_per_s,
                l.p50,
                l.p95,
                l.p99,
                l.max,
                s.cpu.generator_us_per_item,
            );
        }
        match &self.outcome.highest_sustained {
            Some(h) => {
                let _ = writeln!(
                    out,
                    "highest rate held with zero loss: {:.0} items/s, {:.3} MiB/s (step {}){}",
                    h.items_per_s,
                    h.mib_per_s,
                    h.step,
                    self.outcome
                        .ceiling_fraction
                        .map(|f| format!(", {:.1} % of the configured ceiling", f * 100.0))
                        .unwrap_or_default()
                );
                if let (Some(f), Some(b)) = (
                    self.outcome.ceiling_fraction,
                    self.outcome.burst_allowance_mib_per_s,
                ) {
                    if f > 1.0 {
                        let _ = writeln!(
                            out,
                            "(above the configured rate because the burst lets a {:.0} s step run {b:.2} MiB/s over it; lengthen --duration for a tighter bound)",
                            self.settings.step_secs
                        );
                    }
                }
            }
            None if self.mode == "ramp" => {
                let _ = writeln!(out, "no rate was held with zero loss");
            }
            None => {}
        }
        if let Some(stop) = &self.outcome.stopped_by {
            let _ = writeln!(
                out,
                "stopped by {} ({}): {}",
                stop.limit, stop.kind, stop.detail
            );
        }
        let _ = writeln!(
            out,
            "telltale CPU: generator {:.2} µs/item, whole process {:.2} µs/item over {} items",
            self.cpu.generator_us_per_item, self.cpu.process_us_per_item, self.cpu.items
        );
        if self.exit_code() == 0 {
            let _ = writeln!(out, "PASSED");
        } else if self.outcome.failed_checks.is_empty() {
            let _ = writeln!(out, "FAILED");
        } else {
            let _ = writeln!(out, "FAILED: {}", self.outcome.failed_checks.join("; "));
        }
        out
    }
}

/// Whether, and why, a step counts as saturated: the limit behind a failed check. Refusals
/// name Loki's limit; then loss; then a rate the receiver did not accept in time
/// (`min_percent` of the asked rate, as the `rate` check); then p99 latency over
/// `latency_budget_ms` (a ramp's limit, or a fixed run's budget when one is set).
pub(super) fn judge(
    s: &Step,
    limits: Option<&Limits>,
    settings: &Settings,
    min_percent: u32,
    latency_budget_ms: Option<f64>,
) -> Option<Saturation> {
    let words = s.first_rejection.clone().unwrap_or_default();
    let count = |kind: &str| s.rejections.get(kind).copied().unwrap_or(0);
    if count("rate_limited") > 0 {
        let configured = match limits {
            Some(l) => format!(
                "configured ingestion_rate_mb = {} MiB/s, ingestion_burst_size_mb = {} MiB (from /config)",
                l.ingestion_rate_mib, l.ingestion_burst_mib
            ),
            None => "the configured rate is unknown (/config unreadable); Loki's default is 4 MiB/s".into(),
        };
        return Some(Saturation {
            kind: "rate_limited".into(),
            limit: "limits_config.ingestion_rate_mb".into(),
            detail: format!(
                "Loki answered 429 for {} items at {:.3} MiB/s; {configured}; Loki said: {words}",
                count("rate_limited"),
                s.achieved_mib_per_s
            ),
        });
    }
    if count("stream_rate_limited") > 0 {
        return Some(Saturation {
            kind: "stream_rate_limited".into(),
            limit: "limits_config.per_stream_rate_limit".into(),
            detail: format!(
                "Loki answered 429 for {} items at {:.3} MiB/s over {} streams (default 3 MiB/s per stream; spread over more --streams); Loki said: {words}",
                count("stream_rate_limited"),
                s.achieved_mib_per_s,
                settings.streams
            ),
        });
    }
    if count("stream_limit") > 0 {
        return Some(Saturation {
            kind: "stream_limit".into(),
            limit: "limits_config.max_global_streams_per_user".into(),
            detail: format!("Loki refused new streams; Loki said: {words}"),
        });
    }
    if s.rejected > 0 || s.unknown > 0 {
        return Some(Saturation {
            kind: "errors".into(),
            limit: "push errors".into(),
            detail: format!(
                "{} items refused and {} of unknown fate ({:?}); first: {words}",
                s.rejected, s.unknown, s.rejections
            ),
        });
    }
    if !s.clean {
        return Some(Saturation {
            kind: "loss".into(),
            limit: "delivery".into(),
            detail: format!(
                "Loki accepted every push, yet the read-back found {}",
                s.delivery.describe()
            ),
        });
    }
    if !rate_check(s.target_items_per_s, s.accepted_items_per_s, min_percent).passed {
        return Some(Saturation {
            kind: "throughput".into(),
            limit: "push throughput (Loki's or this machine's CPU)".into(),
            detail: format!(
                "pushes reached {:.0} of {:.0} items/s; push round trips p50 {:.1} ms, p99 {:.1} ms",
                s.accepted_items_per_s, s.target_items_per_s, s.push_ms.p50, s.push_ms.p99
            ),
        });
    }
    match latency_budget_ms {
        Some(limit_ms) if s.delivery.latency_ms.p99 > limit_ms => Some(Saturation {
            kind: "latency".into(),
            limit: format!("p99 delivery latency over {limit_ms:.0} ms"),
            detail: format!(
                "p99 send-to-visible latency was {:.0} ms",
                s.delivery.latency_ms.p99
            ),
        }),
        _ => None,
    }
}

/// Percentiles of unsorted durations, in milliseconds.
pub(super) fn latency_ms(mut d: Vec<Duration>) -> LatencyMs {
    d.sort();
    let p = crate::accounting::Percentiles::of(&d);
    LatencyMs {
        p50: crate::report::millis(p.p50),
        p95: crate::report::millis(p.p95),
        p99: crate::report::millis(p.p99),
        max: crate::report::millis(p.max),
    }
}

/// MiB from bytes.
pub(super) fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::Summary;

    /// A step of `sent` items at 1000/s asked, `delivered` of them read back, every item
    /// accepted, sent over a window that scores exactly the asked rate.
    fn step(sent: u64, delivered: u64) -> Step {
        let summary = Summary {
            sent,
            delivered,
            missing: sent - delivered,
            ..Summary::default()
        };
        let mut delivery = Delivery::from_summary("logs", &summary);
        delivery.latency_ms = LatencyMs {
            p50: 50.0,
            p95: 90.0,
            p99: 120.0,
            max: 150.0,
        };
        let mut s = Step {
            step: 1,
            target_items_per_s: 1000.0,
            send_s: (sent as f64 - 1.0) / 1000.0,
            sent,
            bytes: sent * 100,
            achieved_items_per_s: 1000.0,
            accepted_items_per_s: 1000.0,
            achieved_mib_per_s: 0.095,
            requests: 100,
            wire_bytes: 1,
            accepted: sent,
            rejected: 0,
            unknown: 0,
            rejections: BTreeMap::new(),
            first_rejection: None,
            push_ms: LatencyMs::default(),
            delivery,
            read_back: ReadBack::default(),
            poll_interval_ms: 100.0,
            clean: sent == delivered,
            saturation: None,
            checks: Vec::new(),
            cpu: CpuUse::of(0.1, 0.2, sent),
        };
        s.checks = step_checks(&s, MIN_RATE_PERCENT, None);
        s
    }

    fn limits() -> Limits {
        Limits {
            ingestion_rate_mib: 4.0,
            ingestion_burst_mib: 6.0,
            max_line_size: 262_144,
            max_entries_per_query: 5000,
        }
    }

    fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
    }

    #[test]
    fn evenly_spaced_items_score_exactly_the_asked_rate() {
        // 1000 items at 1000/s: the first sent at 0 s, the last at 0.999 s.
        assert!((per_second(1000, 0.999, 1000.0) - 1000.0).abs() < 1e-9);
        // The schedule is never credited: a slow receiver stretches the window.
        assert!((per_second(1000, 1.999, 1000.0) - 500.0).abs() < 1e-9);
        assert_eq!(per_second(0, 1.0, 1000.0), 0.0, "nothing accepted, no rate");
        assert_eq!(per_second(5, 1.0, 0.0), 0.0, "no asked rate, no window");
        assert_eq!(per_second(5, f64::NAN, 10.0), 0.0);
        // One item of a one-item window: its share of the schedule, never more.
        assert!((per_second(1, 0.0, 4.0) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn the_rate_check_holds_from_exactly_95_percent_of_the_asked_rate() {
        assert!(
            rate_check(1000.0, 950.0, 95).passed,
            "the edge itself holds"
        );
        assert!(!rate_check(1000.0, 949.99, 95).passed, "just under fails");
        assert!(rate_check(1000.0, 1000.0, 95).passed);
        assert!(rate_check(3.0, 2.85, 95).passed, "fractional rates too");
        assert!(!rate_check(3.0, 2.849, 95).passed);
        assert!(
            !rate_check(0.0, 0.0, 95).passed,
            "no asked rate proves nothing"
        );
        assert!(!rate_check(1000.0, f64::NAN, 95).passed);
        // The case: a fifth of the asked rate.
        let c = rate_check(1000.0, 212.0, 95);
        assert!(!c.passed);
        assert_eq!(c.actual, "212/s of 1000/s asked (21.2 %)");
        assert_eq!(c.expected, ">= 950/s (95 % of 1000/s asked)");
        // Rounded down, so a rate under the line never reads as on it.
        let c = rate_check(1000.0, 949.99, 95);
        assert!(c.actual.ends_with("(94.9 %)"), "{}", c.actual);
        assert_eq!(
            rate_check(4.0, 3.0, 95).actual,
            "3.0/s of 4.0/s asked (75.0 %)"
        );
    }

    #[test]
    fn a_step_holds_only_when_every_check_held() {
        let held = step(1000, 1000);
        let names: Vec<&str> = held.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["rate", "refused", "loss"],
            "no budget, no latency check"
        );
        assert!(held.sustained());
        assert_eq!(held.verdict(), "held");

        // Delivered everything, but at a fifth of the rate: the false "held".
        let mut slow = step(1000, 1000);
        slow.accepted_items_per_s = 212.0;
        slow.achieved_items_per_s = 212.0;
        slow.checks = step_checks(&slow, MIN_RATE_PERCENT, None);
        assert!(!slow.sustained());
        assert_eq!(slow.verdict(), "rate 212/s of 1000/s asked (21.2 %)");

        // Sent at the rate, but a fifth refused: the accepted rate fails with the refusals.
        let mut refused = step(1000, 800);
        refused.accepted = 800;
        refused.rejected = 200;
        refused.accepted_items_per_s = 800.0;
        refused.rejections.insert("rate_limited".into(), 200);
        refused.checks = step_checks(&refused, MIN_RATE_PERCENT, None);
        let v = refused.verdict();
        assert!(v.starts_with("rate 800/s of 1000/s asked (80.0 %)"), "{v}");
        assert!(
            v.contains("refused 200 of 1000 items (rate_limited 200)"),
            "{v}"
        );
        assert!(
            v.contains("loss 200 of 1000 items (800 delivered, 200 missing"),
            "{v}"
        );

        // Everything accepted, one item lost after.
        let lost = step(1000, 999);
        assert!(!lost.sustained());
        assert!(!check(&lost.checks, "loss").passed);
        assert!(check(&lost.checks, "rate").passed);
        assert!(check(&lost.checks, "refused").passed);

        // A duplicate is not loss-free either.
        let mut doubled = step(1000, 999);
        doubled.delivery.missing = 0;
        doubled.delivery.duplicated = 1;
        doubled.checks = step_checks(&doubled, MIN_RATE_PERCENT, None);
        assert!(check(&doubled.checks, "loss")
            .actual
            .contains("1 duplicated"));
        assert!(!doubled.sustained());

        // No check at all is never "held".
        let mut unjudged = step(1000, 1000);
        unjudged.checks.clear();
        assert!(!unjudged.sustained());
        assert_eq!(unjudged.verdict(), "not judged: no check ran");
    }

    #[test]
    fn the_latency_budget_is_judged_only_when_set_and_only_on_something_seen() {
        let s = step(1000, 1000);
        let within = step_checks(&s, MIN_RATE_PERCENT, Some(120.0));
        let c = check(&within, "latency p99");
        assert!(c.passed, "p99 equal to the budget holds");
        assert_eq!(c.actual, "120 ms within the 120 ms budget");
        let over = step_checks(&s, MIN_RATE_PERCENT, Some(119.0));
        let c = check(&over, "latency p99");
        assert!(!c.passed);
        assert_eq!(c.actual, "120 ms over the 119 ms budget");
        // Nothing read back: a p99 of 0 ms measured nothing.
        let mut none = step(1000, 0);
        none.delivery.latency_ms = LatencyMs::default();
        let c = step_checks(&none, MIN_RATE_PERCENT, Some(500.0));
        let c = check(&c, "latency p99");
        assert!(!c.passed);
        assert!(c.actual.starts_with("not measured"), "{}", c.actual);
    }

    #[test]
    fn a_delivery_that_cannot_see_copies_says_visible() {
        let mut s = step(10, 10);
        s.delivery = s.delivery.clone().duplicates_unobservable();
        let checks = step_checks(&s, MIN_RATE_PERCENT, None);
        let c = check(&checks, "loss");
        assert!(c.passed);
        assert_eq!(c.actual, "0 of 10 items (10 visible)");
    }

    #[test]
    fn a_429_names_the_ingestion_rate_with_its_configured_value() {
        let mut s = step(1000, 800);
        s.rejected = 200;
        s.accepted = 800;
        s.rejections.insert("rate_limited".into(), 200);
        s.first_rejection = Some("ingestion rate limit exceeded for user fake".into());
        let sat = judge(&s, Some(&limits()), &Settings::default(), 95, Some(5000.0)).unwrap();
        assert_eq!(sat.kind, "rate_limited");
        assert_eq!(sat.limit, "limits_config.ingestion_rate_mb");
        assert!(
            sat.detail.contains("ingestion_rate_mb = 4 MiB/s"),
            "{}",
            sat.detail
        );
        assert!(
            sat.detail.contains("ingestion rate limit exceeded"),
            "{}",
            sat.detail
        );
    }

    #[test]
    fn each_kind_of_saturation_is_told_apart() {
        let settings = Settings::default();
        let held = step(1000, 1000);
        assert_eq!(judge(&held, None, &settings, 95, Some(5000.0)), None);

        let mut per_stream = step(1000, 900);
        per_stream
            .rejections
            .insert("stream_rate_limited".into(), 100);
        per_stream.rejected = 100;
        let sat = judge(&per_stream, None, &settings, 95, None).unwrap();
        assert_eq!(sat.limit, "limits_config.per_stream_rate_limit");

        let lost = step(1000, 990);
        assert_eq!(
            judge(&lost, None, &settings, 95, None).unwrap().kind,
            "loss"
        );

        let mut slow = step(1000, 1000);
        slow.accepted_items_per_s = 900.0;
        let sat = judge(&slow, None, &settings, 95, None).unwrap();
        assert_eq!(sat.kind, "throughput", "fixed runs are judged on rate too");
        assert!(sat.detail.contains("900 of 1000"), "{}", sat.detail);

        let mut late = step(1000, 1000);
        late.delivery.latency_ms.p99 = 6000.0;
        assert_eq!(
            judge(&late, None, &settings, 95, Some(5000.0))
                .unwrap()
                .kind,
            "latency"
        );
        assert_eq!(
            judge(&late, None, &settings, 95, None),
            None,
            "without a budget latency is reported, not judged"
        );
    }

    fn report(mode: &str, steps: Vec<Step>, passed: bool) -> BenchReport {
        BenchReport {
            schema: REPORT_SCHEMA.into(),
            version: REPORT_VERSION,
            telltale_version: "0".into(),
            signal: "logs".into(),
            mode: mode.into(),
            run_id: "tt-<&>".into(),
            endpoint: "http://x".into(),
            server_version: None,
            settings: SettingsEcho::of(&Settings::default()),
            limits: Some(limits()),
            cpu: CpuUse::default(),
            steps,
            outcome: Outcome {
                passed,
                failed_checks: Vec::new(),
                highest_sustained: None,
                stopped_by: None,
                ceiling_fraction: None,
                burst_allowance_mib_per_s: None,
            },
        }
    }

    #[test]
    fn exit_0_needs_a_step_that_held() {
        assert_eq!(report("fixed", vec![step(10, 10)], true).exit_code(), 0);
        assert_eq!(report("fixed", vec![step(10, 9)], false).exit_code(), 1);
        // A report claiming a pass without a held step is still not one.
        assert_eq!(report("fixed", vec![step(10, 9)], true).exit_code(), 1);
        assert_eq!(report("ramp", Vec::new(), true).exit_code(), 1);
    }

    #[test]
    fn the_table_says_held_only_for_steps_whose_checks_all_held() {
        let mut slow = step(1000, 1000);
        slow.accepted_items_per_s = 212.0;
        slow.checks = step_checks(&slow, MIN_RATE_PERCENT, None);
        let mut r = report("fixed", vec![slow], false);
        r.outcome.failed_checks = vec!["rate 212/s of 1000/s asked (21.2 %)".into()];
        let human = r.human();
        assert!(!human.contains("held\n"), "{human}");
        assert!(
            human.contains("rate 212/s of 1000/s asked (21.2 %)"),
            "{human}"
        );
        assert!(
            human.ends_with("FAILED: rate 212/s of 1000/s asked (21.2 %)\n"),
            "{human}"
        );
        assert!(human.contains("at least 95 % of the asked rate"), "{human}");
        let human = report("fixed", vec![step(10, 10)], true).human();
        assert!(
            human.contains("  held\n") && human.ends_with("PASSED\n"),
            "{human}"
        );
    }

    #[test]
    fn the_plot_is_one_svg_document_with_a_point_per_step_and_line() {
        let mut saturated = step(1000, 900);
        saturated.step = 2;
        saturated.achieved_mib_per_s = 0.2;
        saturated.saturation = Some(Saturation {
            kind: "loss".into(),
            limit: "delivery".into(),
            detail: String::new(),
        });
        let report = report("ramp", vec![step(1000, 1000), saturated], true);
        let svg = super::super::plot::svg(&report);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<circle").count(),
            2 * 3 + 1,
            "two steps × three percentiles + legend"
        );
        assert!(svg.contains("tt-&lt;&amp;&gt;"), "text is escaped");
        assert!(svg.contains("ingestion_rate_mb 4"));
        let human = report.human();
        assert!(human.contains("held") && human.contains("loss"), "{human}");
    }
}
