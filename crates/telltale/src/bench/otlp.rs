//! The `otlp` bench: OTLP/HTTP log records (`telltale-otlp`'s `Synth`) to Alloy's receiver,
//! found in Loki the way the `otlp-logs-to-loki` scenario finds them: `{service_name="telltale"}`
//! with the step's run tag as a line filter, the body `telltale <tag> seq=<n>` read back either
//! verbatim (Loki's native OTLP) or inside the JSON `otelcol.exporter.loki` writes.

use std::time::Duration;

use telltale_otlp::{Client, ErrorKind, RetryPolicy, RunTag, Synth};

use super::drive::{Sender, Tally};
use super::logs::{self, Tagged};
use super::report::Step;
use super::{BenchError, Settings};
use crate::scenario::{chain, Context};

/// The `service.name` of every record, as in the scenario.
const SERVICE: &str = "telltale";
/// Records per export: a few hundred KiB of protobuf, under any receiver's body limit.
const BATCH_RECORDS: u64 = 1000;

/// Where the records go and where they are looked for.
#[derive(Debug)]
pub(super) struct Target {
    /// The receiver's base URL (the client adds `/v1/logs`).
    pub(super) base_url: String,
    pub(super) loki: logs::Target,
}

impl Target {
    /// The export URL, for the report.
    pub(super) fn endpoint(&self) -> String {
        format!("{}/v1/logs", self.base_url.trim_end_matches('/'))
    }
}

/// The run tag of step `n`: each step's records form their own set in Loki.
pub(super) fn tag(run: &str, n: u32) -> String {
    format!("{run}-s{n}")
}

struct OtlpSender {
    client: Client,
    synth: Synth,
}

impl Sender for OtlpSender {
    fn batch_items(&self) -> u64 {
        BATCH_RECORDS
    }

    async fn send(&mut self, first: u64, count: u64, tally: &mut Tally) {
        debug_assert_eq!(self.synth.next_seq(), first, "records go out in sequence");
        let batch = self.synth.logs(count as usize);
        // What Loki counts against its rate: the bodies.
        tally.bytes += body_bytes(self.synth.tag().run(), first, count);
        account(self.client.export(&batch).await, count, tally);
    }
}

/// Bytes of the bodies `telltale <tag> seq=<n>` of items `first..first + count`.
pub(super) fn body_bytes(tag: &str, first: u64, count: u64) -> u64 {
    let fixed = "telltale  seq=".len() + tag.len();
    (first..first + count)
        .map(|seq| (fixed + seq.checked_ilog10().map_or(1, |d| d as usize + 1)) as u64)
        .sum()
}

/// Records an export's answer: a refusal of the whole request, or a `partial_success` that
/// names how many records were dropped.
fn account(
    result: Result<telltale_otlp::ExportReport, telltale_otlp::Error>,
    count: u64,
    tally: &mut Tally,
) {
    match result {
        Ok(report) => {
            tally.wire_bytes += report.wire_bytes as u64;
            let rejected = (report.rejected().max(0) as u64).min(count);
            tally.accepted += count - rejected;
            if rejected > 0 {
                let words = report
                    .partial_success
                    .as_ref()
                    .map(|p| p.error_message.clone())
                    .unwrap_or_default();
                tally.reject(
                    "partial_success",
                    &format!("partial_success: {rejected} rejected: {words}"),
                    rejected,
                );
            }
        }
        Err(err) => {
            let words = chain(&err);
            let kind = match err.api() {
                // Through Loki's native OTLP endpoint the 429 is Loki's own limiter; name it
                // as the `logs` bench does.
                Some(a) if a.kind() == ErrorKind::Throttled && is_loki_rate_limit(a.message()) => {
                    "rate_limited"
                }
                Some(a) => match a.kind() {
                    ErrorKind::Throttled => "throttled",
                    ErrorKind::Unavailable => "not_ready",
                    ErrorKind::TooLarge => "request_too_large",
                    ErrorKind::Unauthorized => "unauthorized",
                    ErrorKind::NotFound => "not_found",
                    _ => "other",
                },
                None => "error",
            };
            let words = match err.api().and_then(|a| a.retry_after()) {
                Some(after) => format!("{words} (Retry-After {} s)", after.as_secs()),
                None => words,
            };
            tally.reject(kind, &words, count);
        }
    }
}

/// Loki's words for `limits_config.ingestion_rate_mb`.
fn is_loki_rate_limit(message: &str) -> bool {
    message.contains("ingestion rate limit exceeded")
}

/// Runs one step at `rate` records per second.
pub(super) async fn step(
    ctx: &Context,
    target: &Target,
    settings: &Settings,
    n: u32,
    rate: f64,
) -> Result<Step, BenchError> {
    let url = target.base_url.clone();
    let mut builder = Client::builder(&url)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5));
    if !settings.retries {
        builder = builder.retry(RetryPolicy::none());
    }
    let client = builder.build().map_err(|e| BenchError::Setup {
        endpoint: url.clone(),
        message: chain(&e),
        hint: "fix alloy.otlp_http_port or the stack's host".into(),
    })?;
    let tag = tag(&ctx.run_id, n);
    let tagged = Tagged {
        loki: &target.loki,
        label: ("service_name", SERVICE),
        tag: &tag,
        // `otelcol.exporter.loki` wraps the body in JSON with the attributes: a few hundred
        // bytes a line.
        line_bytes: 400,
    };
    let sender = OtlpSender {
        client,
        synth: Synth::new(RunTag::new(tag.as_str()), SERVICE),
    };
    logs::tagged_step(settings, "otlp", n, rate, tagged, sender).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::seq_after_run;

    #[test]
    fn step_tags_never_prefix_one_another_in_a_line() {
        let (a, b) = (tag("tt-1", 1), tag("tt-1", 10));
        let line = format!("telltale {b} seq=3");
        assert_eq!(seq_after_run(&line, &b), Some(3));
        assert_eq!(seq_after_run(&line, &a), None);
        assert_eq!(
            seq_after_run(&format!(r#"{{"body":"telltale {a} seq=7"}}"#), &a),
            Some(7)
        );
    }

    #[test]
    fn body_bytes_count_every_digit() {
        let one = "telltale tt-1-s1 seq=0".len() as u64;
        assert_eq!(body_bytes("tt-1-s1", 0, 1), one);
        assert_eq!(body_bytes("tt-1-s1", 9, 2), one + one + 1);
    }

    #[test]
    fn a_partial_success_is_counted_as_refused_with_the_receivers_words() {
        let mut tally = Tally::default();
        let report = telltale_otlp::ExportReport {
            items: 10,
            partial_success: Some(telltale_otlp::PartialSuccess {
                rejected: 4,
                error_message: "too old".into(),
            }),
            attempts: 1,
            wire_bytes: 100,
            response_decoded: true,
        };
        account(Ok(report), 10, &mut tally);
        assert_eq!((tally.accepted, tally.rejected), (6, 4));
        assert_eq!(tally.rejections["partial_success"], 4);
        assert!(tally.first_rejection.unwrap().contains("too old"));
    }
}
