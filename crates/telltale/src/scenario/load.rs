//! The `load-burst` scenario: one burst at the stack description's `[load]` rate and duration
//! for its signal, through the bench generator ([`crate::bench`]). It passes only when the
//! bench's checks held on what the stack answered: the receiver accepted at least
//! [`MIN_RATE_PERCENT`] of the asked rate, refused nothing, lost nothing (the delivery ledger,
//! read back twice), and, when `[load] max_p99_ms` sets a budget, met it.

use std::time::Duration;

use super::{Context, Outcome, Stop};
use crate::bench::{Bench, Settings, Signal, MIN_RATE_PERCENT};

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let load = &ctx.stack.load;
    // Declared before any work, so no early return can pass without them.
    out.requires(&["rate", "refused", "loss"]);
    if load.max_p99_ms.is_some() {
        out.requires(&["latency p99"]);
    }
    let Some(signal) = Signal::parse(&load.signal) else {
        return Err(Stop::error(
            "load.signal",
            format!("unknown load signal {:?}", load.signal),
            "set `[load] signal` to logs, otlp, faro or sentry",
        ));
    };
    if load.rate == 0 || load.duration_secs == 0 {
        return Err(Stop::error(
            "load",
            "the burst has no items: rate or duration_secs is zero",
            "set `[load] rate` and `duration_secs` above zero",
        ));
    }
    if load.max_p99_ms == Some(0) {
        return Err(Stop::error(
            "load.max_p99_ms",
            "a latency budget of 0 ms can never be met",
            "remove `[load] max_p99_ms` or set it above zero",
        ));
    }
    let settings = Settings {
        line_bytes: load.line_bytes as usize,
        streams: load.streams,
        step: Duration::from_secs(u64::from(load.duration_secs)),
        deadline: ctx.options.deadline,
        max_p99: load
            .max_p99_ms
            .map(|ms| Duration::from_millis(u64::from(ms))),
        ..Settings::default()
    };
    let bench = Bench::new(ctx, signal, settings)?;
    let report = bench.fixed(f64::from(load.rate), |_| {}).await?;
    let Some(step) = report.steps.first() else {
        return Err(Stop::error(
            "",
            "the burst produced no step",
            "this is a telltale bug; please report it",
        ));
    };
    out.delivery(step.delivery.clone());
    for c in &step.checks {
        out.check(c.name.clone(), c.passed, &c.expected, &c.actual);
    }
    out.evidence
        .record("target_items_per_s", step.target_items_per_s);
    out.evidence
        .record("achieved_items_per_s", step.achieved_items_per_s);
    out.evidence
        .record("accepted_items_per_s", step.accepted_items_per_s);
    out.evidence.record("min_rate_percent", MIN_RATE_PERCENT);
    out.evidence.record("send_s", step.send_s);
    out.evidence
        .record("achieved_mib_per_s", step.achieved_mib_per_s);
    out.evidence.record("requests", step.requests);
    out.evidence.record("wire_bytes", step.wire_bytes);
    out.evidence.record("push_ms", step.push_ms);
    out.evidence.record("read_back", &step.read_back);
    out.evidence.record("telltale_cpu", step.cpu);
    if let Some(first) = &step.first_rejection {
        out.evidence.record("first_rejection", first);
    }
    if let Some(sat) = &step.saturation {
        out.evidence.record("saturation", sat);
    }
    if let Some(limits) = &report.limits {
        out.evidence.record("loki_limits", limits);
    }
    out.summary(format!(
        "{} items at {:.0}/s accepted of {:.0}/s asked ({:.3} MiB/s): {}; latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms{}",
        step.sent,
        step.accepted_items_per_s,
        step.target_items_per_s,
        step.achieved_mib_per_s,
        step.delivery.describe(),
        step.delivery.latency_ms.p50,
        step.delivery.latency_ms.p99,
        step.delivery.latency_ms.max,
        match load.max_p99_ms {
            Some(ms) => format!(" (budget {ms} ms)"),
            None => String::new(),
        }
    ));
    Ok(())
}
