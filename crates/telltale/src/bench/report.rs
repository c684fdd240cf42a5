//! What a bench found: per-step figures, the verdict, and the versioned JSON report
//! (`telltale-bench-report` v1, documented in `docs/bench.md`) with its human rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::Settings;
use crate::report::{Delivery, LatencyMs};

/// The `schema` field of every bench report.
pub const REPORT_SCHEMA: &str = "telltale-bench-report";

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
    /// Items per second achieved.
    pub achieved_items_per_s: f64,
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
    /// Milliseconds between polls for newly visible items: latencies are this coarse.
    pub poll_interval_ms: f64,
    /// Every item delivered exactly once, in order, and nothing refused.
    pub clean: bool,
    /// Why this step counts as saturated, if it does.
    pub saturation: Option<Saturation>,
    /// telltale's own CPU.
    pub cpu: CpuUse,
}

impl Step {
    /// Clean and not saturated: this rate is held.
    pub fn sustained(&self) -> bool {
        self.clean && self.saturation.is_none()
    }
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
    /// Fixed rate: every item delivered exactly once. Ramp: some rate was held.
    pub passed: bool,
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
}

impl SettingsEcho {
    pub(super) fn of(s: &Settings) -> SettingsEcho {
        SettingsEcho {
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
    /// Schema version: 1.
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
    /// Exit code: 0 passed, 1 not.
    pub fn exit_code(&self) -> u8 {
        if self.outcome.passed {
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
            "{:>4} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8}  verdict",
            "step",
            "target/s",
            "items/s",
            "MiB/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "cpu µs"
        );
        for s in &self.steps {
            let l = s.delivery.latency_ms;
            let verdict = match (&s.saturation, s.clean) {
                (None, true) => "held".to_owned(),
                (Some(sat), _) => format!("{}: {}", sat.kind, s.delivery.describe()),
                (None, false) => s.delivery.describe(),
            };
            let _ = writeln!(
                out,
                "{:>4} {:>10.0} {:>10.0} {:>8.3} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.2}  {verdict}",
                s.step,
                s.target_items_per_s,
                s.achieved_items_per_s,
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
            None => {
                let _ = writeln!(out, "no rate was held with zero loss");
            }
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
        let _ = writeln!(
            out,
            "{}",
            if self.outcome.passed {
                "PASSED"
            } else {
                "FAILED"
            }
        );
        out
    }
}

/// Whether, and why, a step counts as saturated. Refusals name Loki's limit; then loss; then
/// (in a ramp) a rate the pushes could not reach or latency over the limit.
pub(super) fn judge(
    s: &Step,
    limits: Option<&Limits>,
    settings: &Settings,
    ramp: bool,
    keep_up: f64,
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
    if !ramp {
        return None;
    }
    if s.achieved_items_per_s < keep_up * s.target_items_per_s {
        return Some(Saturation {
            kind: "throughput".into(),
            limit: "push throughput (Loki's or this machine's CPU)".into(),
            detail: format!(
                "pushes reached {:.0} of {:.0} items/s; push round trips p50 {:.1} ms, p99 {:.1} ms",
                s.achieved_items_per_s, s.target_items_per_s, s.push_ms.p50, s.push_ms.p99
            ),
        });
    }
    let limit_ms = crate::report::millis(settings.latency_limit);
    if s.delivery.latency_ms.p99 > limit_ms {
        return Some(Saturation {
            kind: "latency".into(),
            limit: format!("p99 delivery latency over {limit_ms:.0} ms"),
            detail: format!(
                "p99 send-to-visible latency was {:.0} ms",
                s.delivery.latency_ms.p99
            ),
        });
    }
    None
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

    fn step(sent: u64, delivered: u64) -> Step {
        let summary = Summary {
            sent,
            delivered,
            missing: sent - delivered,
            ..Summary::default()
        };
        Step {
            step: 1,
            target_items_per_s: 1000.0,
            send_s: 10.0,
            sent,
            bytes: sent * 100,
            achieved_items_per_s: 1000.0,
            achieved_mib_per_s: 0.095,
            requests: 100,
            wire_bytes: 1,
            accepted: sent,
            rejected: 0,
            unknown: 0,
            rejections: BTreeMap::new(),
            first_rejection: None,
            push_ms: LatencyMs::default(),
            delivery: Delivery::from_summary("logs", &summary),
            poll_interval_ms: 100.0,
            clean: sent == delivered,
            saturation: None,
            cpu: CpuUse::of(0.1, 0.2, sent),
        }
    }

    fn limits() -> Limits {
        Limits {
            ingestion_rate_mib: 4.0,
            ingestion_burst_mib: 6.0,
            max_line_size: 262_144,
            max_entries_per_query: 5000,
        }
    }

    #[test]
    fn a_429_names_the_ingestion_rate_with_its_configured_value() {
        let mut s = step(1000, 800);
        s.rejected = 200;
        s.accepted = 800;
        s.rejections.insert("rate_limited".into(), 200);
        s.first_rejection = Some("ingestion rate limit exceeded for user fake".into());
        let sat = judge(&s, Some(&limits()), &Settings::default(), true, 0.95).unwrap();
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
        assert_eq!(judge(&held, None, &settings, true, 0.95), None);

        let mut per_stream = step(1000, 900);
        per_stream
            .rejections
            .insert("stream_rate_limited".into(), 100);
        per_stream.rejected = 100;
        let sat = judge(&per_stream, None, &settings, true, 0.95).unwrap();
        assert_eq!(sat.limit, "limits_config.per_stream_rate_limit");

        let lost = step(1000, 990);
        assert_eq!(
            judge(&lost, None, &settings, true, 0.95).unwrap().kind,
            "loss"
        );

        let mut slow = step(1000, 1000);
        slow.achieved_items_per_s = 900.0;
        assert_eq!(
            judge(&slow, None, &settings, true, 0.95).unwrap().kind,
            "throughput"
        );
        assert_eq!(
            judge(&slow, None, &settings, false, 0.95),
            None,
            "a fixed run only judges delivery"
        );

        let mut late = step(1000, 1000);
        late.delivery.latency_ms.p99 = 6000.0;
        assert_eq!(
            judge(&late, None, &settings, true, 0.95).unwrap().kind,
            "latency"
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
        let report = BenchReport {
            schema: REPORT_SCHEMA.into(),
            version: 1,
            telltale_version: "0".into(),
            signal: "logs".into(),
            mode: "ramp".into(),
            run_id: "tt-<&>".into(),
            endpoint: "http://x".into(),
            server_version: None,
            settings: SettingsEcho::of(&Settings::default()),
            limits: Some(limits()),
            cpu: CpuUse::default(),
            steps: vec![step(1000, 1000), saturated],
            outcome: Outcome {
                passed: true,
                highest_sustained: None,
                stopped_by: None,
                ceiling_fraction: None,
                burst_allowance_mib_per_s: None,
            },
        };
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
