//! The OTLP scenarios: logs through Alloy reach Loki, metrics through Alloy reach Prometheus,
//! traces are accepted (and dropped: the stack has no Tempo).
//!
//! What the far side looks like, and what the checks rely on:
//!
//! - **Logs.** Alloy can write OTLP logs to Loki two ways. Through Loki's native OTLP endpoint
//!   (`otelcol.exporter.otlphttp` → `/otlp/v1/logs`, Loki 3 docs "Ingesting logs to Loki using
//!   OpenTelemetry Collector"): the resource attribute `service.name` becomes the index label
//!   `service_name`, the body is the line, and log attributes become structured metadata with
//!   `.` turned into `_` (`telltale_run`, `telltale_seq`). Through `otelcol.exporter.loki`
//!   (Alloy reference): no attribute becomes a label unless hinted, the exporter adds
//!   `exporter="OTLP"` and `job="<service.name>"`, and the line is JSON with the body under
//!   `body`; Loki 3 then derives `service_name` from `job` (`discover_service_name`, on by
//!   default). So the selector is `{service_name="telltale"}` with the run id as a line filter,
//!   the body text `telltale <run> seq=<n>` is found verbatim in both forms, and the content
//!   check accepts the line as the body or as JSON whose `body` is it. Records found only
//!   under other labels (an older exporter sets no `job`, so Loki files them under
//!   `service_name="unknown_service"`) are reported misrouted, naming the label difference.
//! - **Metrics.** `otelcol.exporter.prometheus` (Alloy reference; `add_metric_suffixes`
//!   defaults to true) and Prometheus's own OTLP receiver both follow the OpenTelemetry →
//!   Prometheus compatibility rules: attribute keys become labels with characters outside
//!   `[a-zA-Z0-9_]` replaced by `_` (`telltale.run` → `telltale_run`), a monotonic sum gets
//!   `_total`, a gauge without a unit keeps its name, and `service.name` becomes `job`. The
//!   query matches the counter with or without the suffix so that `add_metric_suffixes =
//!   false` fails the suffix check, not the delivery. Prometheus folds a repeated sample into
//!   the first, so a copy cannot be seen: the delivery says "visible", never "exactly once".
//! - **Traces.** Only the receiver's answer can be checked: 2xx (HTTP) or `OK` (gRPC), with a
//!   body that is an export response and no `partial_success` rejecting spans. That proves
//!   the receivers accept traces, never that they were delivered anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use telltale_loki::{LabelSet, Timestamp};
use telltale_otlp::{Batch, ExportReport, GrpcClient, RunTag, Signal, Synth};
use telltale_prometheus::api::QueryData;
use telltale_prometheus::QueryOptions;

use super::{read_back, seq_after_run, Context, Name, Outcome, Promised, Stop};
use crate::accounting::{Ledger, Sighting};
use crate::report::{Delivery, Status};

/// The `service.name` every synthetic record carries.
const SERVICE: &str = "telltale";
/// The gauge, one data point (and so one series) per sequence number.
const GAUGE: &str = "telltale_otlp_probe";
/// The counter; Prometheus sees it as `telltale_otlp_probe_events_total`.
const COUNTER: &str = "telltale_otlp_probe_events";

fn client(ctx: &Context) -> Result<telltale_otlp::Client, Stop> {
    let url = ctx.alloy_url(ctx.stack.alloy.otlp_http_port);
    telltale_otlp::Client::builder(&url)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| Stop::from_error(&url, &e))
}

/// Sends `batch` and records the receiver's answer as evidence: on the way to a read-back, a
/// 2xx proves nothing by itself. A refusal (4xx, 5xx) or no answer ends the scenario.
pub(super) async fn export<T: Signal>(
    out: &mut Outcome,
    client: &telltale_otlp::Client,
    what: &str,
    batch: &Batch<T>,
) -> Result<ExportReport, Stop> {
    let endpoint = format!(
        "{}{}",
        client.base_url().trim_end_matches('/'),
        client.path(T::KIND)
    );
    let report = client.export(batch).await.map_err(|e| {
        let stop = Stop::from_error(&endpoint, &e);
        if stop.status == Status::Failed {
            // The receiver answered and refused: name it as the check that failed.
            out.check(
                format!("{what}: accepted by the receiver"),
                false,
                "2xx",
                super::chain(&e),
            );
        }
        stop
    })?;
    export_evidence(out, what, &endpoint, &report);
    Ok(report)
}

fn export_evidence(out: &mut Outcome, what: &str, endpoint: &str, report: &ExportReport) {
    out.evidence.push(
        "exports",
        json!({
            "what": what,
            "endpoint": endpoint,
            "items": report.items,
            "attempts": report.attempts,
            "wire_bytes": report.wire_bytes,
            "rejected": report.rejected(),
            "partial_success_message": report.partial_success.as_ref().map(|p| p.error_message.clone()),
            "response_decoded": report.response_decoded,
        }),
    );
}

/// The receiver's own word on what it refused: `partial_success` in its answers. Items it
/// refused also show up as missing; this names the reason.
pub(super) fn no_rejections(out: &mut Outcome, what: &str, reports: &[ExportReport]) {
    let rejected: i64 = reports.iter().map(ExportReport::rejected).sum();
    let reasons: BTreeSet<&str> = reports
        .iter()
        .filter_map(|r| r.partial_success.as_ref())
        .filter(|p| p.rejected != 0 || !p.error_message.is_empty())
        .map(|p| p.error_message.as_str())
        .collect();
    out.check(
        format!("{what}: the receiver rejects nothing"),
        rejected == 0,
        "partial_success.rejected = 0 in every answer",
        if reasons.is_empty() {
            format!("{rejected}")
        } else {
            format!(
                "{rejected} ({})",
                reasons.into_iter().collect::<Vec<_>>().join("; ")
            )
        },
    );
}

/// `otlp-logs-to-loki`.
pub(super) async fn logs(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let client = client(ctx)?;
    let loki = ctx.loki()?;
    logs_via(ctx, out, &LogSink::Otlp(&client), &loki).await
}

/// Where log records go.
enum LogSink<'a> {
    /// An OTLP receiver (Alloy's).
    Otlp(&'a telltale_otlp::Client),
    /// Straight into Loki as the bodies Loki's OTLP endpoint stores, through a stand-in
    /// collector that may misbehave on purpose.
    #[cfg(test)]
    Pipe(&'a super::readback::pipe::Pipe, &'a telltale_loki::Client),
}

/// The body of log record `seq` as `Synth` writes it.
fn body(run: &str, seq: u64) -> String {
    format!("telltale {run} seq={seq}")
}

/// The OTLP body a Loki line carries: the line itself (Loki's native OTLP endpoint) or the
/// `body` of the JSON `otelcol.exporter.loki` writes.
fn body_of(line: &str) -> String {
    if line.starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) {
            if let Some(body) = map.get("body").and_then(|b| b.as_str()) {
                return body.to_owned();
            }
        }
    }
    line.to_owned()
}

/// `{service_name="telltale"}`: where Loki puts the records either way (see the module docs).
fn logs_labels() -> LabelSet {
    LabelSet::new([("service_name", SERVICE)]).expect("a valid label")
}

async fn logs_via(
    ctx: &Context,
    out: &mut Outcome,
    sink: &LogSink<'_>,
    loki: &telltale_loki::Client,
) -> Result<(), Stop> {
    let run = &ctx.run_id;
    let n = u64::from(ctx.options.items);
    let mut synth = Synth::new(RunTag::new(run.as_str()), SERVICE);
    let batch = synth.logs(n as usize);
    let sent_from = Timestamp::now();
    let sent_at = ctx.elapsed();
    match sink {
        LogSink::Otlp(client) => {
            let report = export(out, client, "logs", &batch).await?;
            no_rejections(out, "logs", &[report]);
        }
        #[cfg(test)]
        LogSink::Pipe(pipe, loki) => {
            let items: Vec<(u64, String)> = (0..n).map(|seq| (seq, body(run, seq))).collect();
            pipe.carry(loki, &items).await;
        }
    }
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    for seq in 0..n {
        ledger.sent(seq, sent_at);
    }
    out.evidence.record(
        "sent",
        json!({"records": n, "service.name": SERVICE, "sample_body": body(run, 0),
               "attributes": ["telltale.run", "telltale.seq"]}),
    );

    let labels = logs_labels();
    let back = read_back(
        ctx,
        loki,
        Name::OtlpLogsToLoki,
        &Promised {
            labels: &labels,
            run,
            items: n,
            sent_from,
        },
        |line| seq_after_run(line, run),
    )
    .await?;
    out.evidence.push("queries", back.evidence());

    let mut wrong = Vec::new();
    let mut sightings = Vec::new();
    let mut forms = BTreeMap::new();
    for seen in &back.entries {
        let line = &seen.entry.line;
        *forms
            .entry(if line.starts_with('{') {
                "json (otelcol.exporter.loki)"
            } else {
                "body (native OTLP)"
            })
            .or_insert(0u64) += 1;
        match seq_after_run(line, run) {
            Some(seq) if body_of(line) == body(run, seq) => sightings.push(Sighting {
                seq,
                seen_at: seen.first_seen,
            }),
            Some(seq) => {
                wrong.push(line.clone());
                sightings.push(Sighting {
                    seq,
                    seen_at: seen.first_seen,
                });
            }
            None => wrong.push(line.clone()),
        }
    }
    ledger.observe(sightings);
    // Records that reached Loki under other labels (an exporter that sets no `job`, a
    // pipeline that relabels) are misrouted, with the label difference, not missing.
    back.observe_elsewhere(&mut ledger, |line| seq_after_run(line, run));
    back.check_content(
        out,
        "log bodies arrive byte for byte",
        format!("every body = {:?}", body(run, 0)),
        &wrong,
    );
    out.evidence.record(
        "seen",
        json!({
            "entries": back.entries.len(),
            "line_forms": forms,
            "streams": back.entries.iter().map(|s| s.labels.to_string()).collect::<std::collections::BTreeSet<_>>(),
            "sample_line": back.entries.first().map(|s| s.entry.line.clone()),
            "sample_structured_metadata": back.entries.first().map(|s| s.entry.structured_metadata.clone()),
            "entries_elsewhere": back.elsewhere.len(),
            "sample_line_elsewhere": back.elsewhere.first().map(|m| m.seen.entry.line.clone()),
        }),
    );
    out.delivery(Delivery::from_summary(
        format!("otlp logs service_name={SERVICE}"),
        &ledger.summary(),
    ));
    Ok(())
}

/// `otlp-metrics-to-prometheus`.
pub(super) async fn metrics(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let client = client(ctx)?;
    let prom = ctx.prometheus()?;
    metrics_via(ctx, out, &client, &prom).await
}

async fn metrics_via(
    ctx: &Context,
    out: &mut Outcome,
    client: &telltale_otlp::Client,
    prom: &telltale_prometheus::Client,
) -> Result<(), Stop> {
    let run = &ctx.run_id;
    let n = u64::from(ctx.options.items);
    let mut synth = Synth::new(RunTag::new(run.as_str()), SERVICE);
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    let mut expected: BTreeMap<u64, (&str, f64)> = BTreeMap::new();
    let mut reports = Vec::new();
    // One gauge point per request, each its own series by `telltale_seq`, value = seq.
    for _ in 0..n {
        let seq = synth.next_seq();
        let batch = synth.gauge(GAUGE, seq as f64);
        ledger.sent(seq, ctx.elapsed());
        reports.push(export(out, client, "metrics gauge", &batch).await?);
        expected.insert(seq, (GAUGE, seq as f64));
    }
    let seq = synth.next_seq();
    let batch = synth.counter(COUNTER, 7.0);
    ledger.sent(seq, ctx.elapsed());
    reports.push(export(out, client, "metrics counter", &batch).await?);
    no_rejections(out, "metrics", &reports);
    let counter_name = format!("{COUNTER}_total");
    expected.insert(seq, (counter_name.as_str(), 7.0));
    out.evidence.record(
        "sent",
        json!({"gauge": GAUGE, "gauge_points": n, "counter": COUNTER, "counter_value": 7.0,
               "service.name": SERVICE, "attributes": ["telltale.run", "telltale.seq"]}),
    );

    let query = metrics_query(run);
    let url = ctx.prometheus_url();
    let total = n + 1;
    let mut progress = ctx.progress(Name::OtlpMetricsToPrometheus, total);
    let began = std::time::Instant::now();
    let mut first_seen: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut series: BTreeMap<u64, (BTreeMap<String, String>, f64)> = BTreeMap::new();
    let mut polls = 0;
    loop {
        // Evaluated a skew allowance ahead, so the range reaches as far back as forward: a
        // sample stamped by a clock up to that far from ours, either way, is still seen.
        let at = std::time::SystemTime::now() + super::readback::CLOCK_SKEW;
        let answer = prom
            .query(&query, Some(at), &QueryOptions::default())
            .await
            .map_err(|e| Stop::from_error(&url, &e))?;
        polls += 1;
        let now = ctx.elapsed();
        if let QueryData::Matrix(found) = &answer.data {
            for s in found {
                let Some(seq) = s.metric.get("telltale_seq").and_then(|v| v.parse().ok()) else {
                    continue;
                };
                let Some(last) = s.values.last() else {
                    continue;
                };
                first_seen.entry(seq).or_insert(now);
                series.insert(seq, (s.metric.clone(), last.value));
            }
        }
        progress.update(series.len() as u64);
        if series.len() as u64 >= total || began.elapsed() >= ctx.options.deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(progress);
    out.evidence.push(
        "queries",
        json!({"endpoint": url, "query": query, "polls": polls,
               "evaluated_at": "now + skew allowance",
               "skew_allowance_s": super::readback::CLOCK_SKEW.as_secs()}),
    );
    // A metric has no order to keep: series are observed by sequence number. A second copy of
    // a sample folds into the first in Prometheus, so "delivered" here means visible.
    ledger.observe(
        first_seen
            .iter()
            .map(|(&seq, &seen_at)| Sighting { seq, seen_at }),
    );
    // Series the promised query missed may be stored under other label or metric names (a
    // translation that keeps `telltale.run`): look once by the probe's name in any spelling.
    let mut elsewhere = 0;
    if (series.len() as u64) < total {
        let wide = wide_metrics_query();
        let answer = prom
            .query(
                &wide,
                Some(std::time::SystemTime::now() + super::readback::CLOCK_SKEW),
                &QueryOptions::default(),
            )
            .await
            .map_err(|e| Stop::from_error(&url, &e))?;
        let now = ctx.elapsed();
        if let QueryData::Matrix(found) = &answer.data {
            for s in found {
                if let Some((seq, place)) = metric_place(&s.metric, run, &expected) {
                    if !series.contains_key(&seq) {
                        ledger.observe_misrouted(seq, now, place);
                        elsewhere += 1;
                    }
                }
            }
        }
        out.evidence.push(
            "queries",
            json!({"endpoint": url, "query": wide, "why": "series were missing under the promised names and labels"}),
        );
    }
    let mut wrong = Vec::new();
    for (seq, (labels, value)) in &series {
        match expected.get(seq) {
            Some((name, want)) => {
                let got = labels.get("__name__").map(String::as_str).unwrap_or("");
                if got != *name || value != want {
                    wrong.push(format!("seq {seq}: {got} = {value} (want {name} = {want})"));
                }
            }
            None => wrong.push(format!("seq {seq}: never sent")),
        }
    }
    // With no series found there is nothing to judge: the delivery says what happened.
    if !series.is_empty() {
        out.check(
            "metric names (OTLP → Prometheus translation) and values",
            wrong.is_empty(),
            format!("{GAUGE}{{telltale_seq=\"n\"}} = n; {counter_name} = 7"),
            if wrong.is_empty() {
                format!("{} series, all as sent", series.len())
            } else {
                wrong.join("; ")
            },
        );
    }
    out.evidence.record(
        "seen",
        json!({"series": series.len(), "series_elsewhere": elsewhere,
               "sample_labels": series.values().next().map(|(l, _)| l.clone())}),
    );
    out.delivery(
        Delivery::from_summary(format!("otlp metrics {GAUGE}"), &ledger.summary())
            .duplicates_unobservable(),
    );
    Ok(())
}

/// Every series of the run over twice the skew allowance: the gauge, and the counter with or
/// without its `_total`. A range selector keeps `__name__`, which the name check needs.
fn metrics_query(run: &str) -> String {
    format!(
        "{{__name__=~\"{GAUGE}|{COUNTER}|{COUNTER}_total\", telltale_run=\"{}\"}}[{}s]",
        run.replace('\\', "\\\\").replace('"', "\\\""),
        2 * super::readback::CLOCK_SKEW.as_secs()
    )
}

/// The probe's metrics under any spelling of their name (`_` or `.`, any suffix), whatever
/// labels they carry.
fn wide_metrics_query() -> String {
    format!(
        "{{__name__=~\"telltale[._]otlp[._]probe.*\"}}[{}s]",
        2 * super::readback::CLOCK_SKEW.as_secs()
    )
}

/// For a series of run `run` found by [`wide_metrics_query`]: its sequence number and how its
/// names differ from the promised ones, e.g. `labels telltale.run, telltale.seq instead of
/// telltale_run, telltale_seq`. `None` for another run's series.
fn metric_place(
    metric: &BTreeMap<String, String>,
    run: &str,
    expected: &BTreeMap<u64, (&str, f64)>,
) -> Option<(u64, String)> {
    let (run_label, _) = metric.iter().find(|(_, v)| v.as_str() == run)?;
    let seq_label = format!("{}seq", run_label.strip_suffix("run")?);
    let seq: u64 = metric.get(&seq_label)?.parse().ok()?;
    let mut parts = Vec::new();
    if run_label != "telltale_run" {
        parts.push(format!(
            "labels {run_label}, {seq_label} instead of telltale_run, telltale_seq"
        ));
    }
    let name = metric.get("__name__").map(String::as_str).unwrap_or("");
    if let Some((want, _)) = expected.get(&seq) {
        if name != *want {
            parts.push(format!("__name__={name:?} instead of {want:?}"));
        }
    }
    (!parts.is_empty()).then(|| (seq, parts.join("; ")))
}

/// `otlp-traces-accepted`: the stack keeps no traces, so all this can prove is that both
/// receivers accept them: an OTLP answer (2xx over HTTP, `OK` over gRPC) whose body is an
/// export response with no spans rejected. It never says "delivered".
pub(super) async fn traces(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    out.requires(&[TRACES_HTTP, TRACES_GRPC]);
    let client = client(ctx)?;
    let n = ctx.options.items.max(1) as usize;
    let mut synth = Synth::new(RunTag::new(ctx.run_id.as_str()), SERVICE);
    out.evidence.record(
        "sent",
        json!({"spans_per_export": n, "service.name": SERVICE,
               "note": "the stack has no trace store: only the receivers' answers are checked, so this proves acceptance, not delivery"}),
    );

    let endpoint = format!(
        "{}{}",
        client.base_url().trim_end_matches('/'),
        client.path(telltale_otlp::SignalKind::Traces)
    );
    let grpc_url = ctx.alloy_url(ctx.stack.alloy.otlp_grpc_port);
    let grpc_client = GrpcClient::builder(&grpc_url)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| Stop::from_error(&grpc_url, &e))?;
    let http = client.export(&synth.trace(n - 1)).await;
    let grpc = grpc_client.export(&synth.trace(n - 1)).await;

    // Both answers are recorded before either can end the scenario, so a receiver that
    // refuses is reported even when the other one is unreachable.
    let mut stop = None;
    for (what, endpoint, answer) in [
        (TRACES_HTTP, endpoint.as_str(), http),
        (TRACES_GRPC, grpc_url.as_str(), grpc),
    ] {
        if let Err(s) = accepted(out, what, endpoint, n, answer) {
            stop.get_or_insert(s);
        }
    }
    stop.map_or(Ok(()), Err)
}

const TRACES_HTTP: &str = "traces over OTLP/HTTP";
const TRACES_GRPC: &str = "traces over OTLP/gRPC";

/// Records whether a receiver accepted an export: it answered (2xx / `OK`), with an export
/// response (not a proxy's page), rejecting no span. No answer is a [`Stop`], never a check.
fn accepted(
    out: &mut Outcome,
    what: &str,
    endpoint: &str,
    spans: usize,
    answer: Result<ExportReport, telltale_otlp::Error>,
) -> Result<(), Stop> {
    let name = format!("{what}: accepted by the receiver");
    let expected = format!("an export response rejecting none of {spans} spans");
    match answer {
        Ok(report) => {
            export_evidence(out, what, endpoint, &report);
            let (passed, actual) = match (&report.partial_success, report.response_decoded) {
                (_, false) => (
                    false,
                    "a 2xx whose body is not an OTLP export response (is something else answering on this port?)".to_owned(),
                ),
                (Some(p), true) if p.rejected != 0 => (
                    false,
                    format!("{} of {spans} spans rejected: {}", p.rejected, p.error_message),
                ),
                (Some(p), true) if !p.error_message.is_empty() => {
                    (true, format!("none rejected (warning: {})", p.error_message))
                }
                _ => (true, "none rejected".to_owned()),
            };
            out.check(name, passed, expected, actual);
            Ok(())
        }
        Err(e) => {
            let stop = Stop::from_error(endpoint, &e);
            if stop.status == Status::Failed {
                // The receiver answered, and refused.
                out.check(name, false, expected, super::chain(&e));
                Ok(())
            } else {
                Err(stop)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::readback::pipe::{fault_ctx, loki_fault_tests, Pipe};
    use super::*;
    use crate::report::Status;

    #[test]
    fn bodies_are_read_from_native_and_json_lines() {
        let b = body("tt-1", 4);
        assert_eq!(b, "telltale tt-1 seq=4");
        assert_eq!(body_of(&b), b);
        let json = format!(r#"{{"body":"{b}","attributes":{{"telltale.run":"tt-1"}}}}"#);
        assert_eq!(body_of(&json), b);
        assert_eq!(seq_after_run(&json, "tt-1"), Some(4));
        // JSON without a body is compared as it is, and so fails the content check.
        assert_eq!(body_of(r#"{"msg":"x"}"#), r#"{"msg":"x"}"#);
    }

    #[test]
    fn queries_follow_the_translation_rules() {
        let labels = logs_labels();
        let want = Promised {
            labels: &labels,
            run: "tt-1",
            items: 1,
            sent_from: Timestamp::now(),
        };
        assert_eq!(want.query(), r#"{service_name="telltale"} |= "tt-1""#);
        assert_eq!(
            metrics_query("tt-1"),
            r#"{__name__=~"telltale_otlp_probe|telltale_otlp_probe_events|telltale_otlp_probe_events_total", telltale_run="tt-1"}[600s]"#
        );
        // The label names the query relies on are the client crate's translation.
        assert_eq!(RunTag::label_name("telltale.run"), "telltale_run");
        assert_eq!(RunTag::label_name("telltale.seq"), "telltale_seq");
    }

    /// Through a stand-in collector writing the bodies into a real Loki as Loki's OTLP
    /// endpoint stores them: the read-back, diagnosis and accounting are proven, the Alloy hop
    /// is not.
    async fn through(ctx: &Context, pipe: &Pipe) -> crate::report::ScenarioReport {
        let loki = ctx.loki().unwrap();
        let mut out = Outcome::default();
        let end = logs_via(ctx, &mut out, &LogSink::Pipe(pipe, &loki), &loki).await;
        out.finish(Name::OtlpLogsToLoki, Duration::ZERO, end)
    }

    loki_fault_tests! {
        scenario: "otlp-logs-to-loki",
        promised: &[("service_name", SERVICE)],
        // What an `otelcol.exporter.loki` that sets no `job` label writes.
        wrong: &[("exporter", "OTLP")],
        place: r#"service_name="unknown_service" instead of "telltale"; extra exporter="OTLP""#,
    }

    /// Loki's own OTLP endpoint stands in for Alloy (there is no Alloy here): the records take
    /// the path `otelcol.exporter.otlphttp` would give them, so the read-back, the content check
    /// and the accounting are proven against a real Loki; the Alloy hop is not.
    fn loki_otlp(url: &str) -> telltale_otlp::Client {
        telltale_otlp::Client::builder(url)
            .path(telltale_otlp::SignalKind::Logs, "/otlp/v1/logs")
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn logs_reach_a_real_loki_through_its_otlp_endpoint() {
        let Some(url) = loki_url("through Loki's OTLP endpoint") else {
            return;
        };
        let ctx = fault_ctx(&url, 25, 30, 1);
        let mut out = Outcome::default();
        let end = logs_via(
            &ctx,
            &mut out,
            &LogSink::Otlp(&loki_otlp(&url)),
            &ctx.loki().unwrap(),
        )
        .await;
        let r = out.finish(Name::OtlpLogsToLoki, Duration::ZERO, end);
        assert_eq!(r.status, Status::Passed, "{r:#?}");
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.delivered), (25, 25), "{d:?}");
        let evidence = serde_json::to_value(&r.evidence).unwrap();
        assert_eq!(
            evidence["seen"]["line_forms"]["body (native OTLP)"], 25,
            "{evidence:#}"
        );
    }

    #[tokio::test]
    async fn a_line_seen_twice_fails_the_scenario() {
        let Some(url) = loki_url("duplicate detection") else {
            return;
        };
        let ctx = fault_ctx(&url, 5, 30, 1);
        let loki = ctx.loki().unwrap();
        // The same body as record 3, already in the stream before the run sends anything.
        let labels = telltale_loki::LabelSet::new([("service_name", SERVICE)]).unwrap();
        let early = Timestamp::now().minus(Duration::from_secs(2));
        loki.push(&[telltale_loki::Stream::new(
            labels,
            vec![telltale_loki::Entry::new(early, body(&ctx.run_id, 3))],
        )])
        .await
        .unwrap();
        let mut out = Outcome::default();
        let end = logs_via(&ctx, &mut out, &LogSink::Otlp(&loki_otlp(&url)), &loki).await;
        let r = out.finish(Name::OtlpLogsToLoki, Duration::ZERO, end);
        assert_eq!(r.status, Status::Failed, "{r:#?}");
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.duplicated, d.delivered), (5, 1, 4), "{d:?}");
    }

    /// A VictoriaMetrics started for one test (`VICTORIA_METRICS_BIN`, which
    /// `.ci/unstable-tools.sh` fetches in CI): a real store with an OTLP metrics receiver
    /// (`/opentelemetry/v1/metrics`) and the Prometheus query API. It stands in for the Alloy →
    /// Prometheus hop, so the export, the Prometheus-API read-back, the name check and the
    /// accounting are proven against a real server; Prometheus itself and Alloy are not.
    struct Victoria {
        url: String,
        proc: telltale_testsupport::Proc,
        _dir: telltale_testsupport::TempDir,
    }

    async fn victoria(test: &str, args: &[&str]) -> Option<Victoria> {
        use telltale_testsupport::{find_binary, free_port, Proc, TempDir};
        let Some(bin) = find_binary("VICTORIA_METRICS_BIN", Some("victoria-metrics")) else {
            telltale_testsupport::skip(&format!(
                "otlp-metrics-to-prometheus {test} (set VICTORIA_METRICS_BIN)"
            ));
            return None;
        };
        let dir = TempDir::new("otlp-vm");
        let port = free_port();
        let mut all = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.0.join("data").display()),
            "-search.latencyOffset=0s".to_owned(),
            "-search.disableCache".to_owned(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let proc = Proc::spawn(&bin, &all, dir.0.join("vm.log"));
        let url = format!("http://127.0.0.1:{port}");
        let prom = telltale_prometheus::Client::builder(&url).build().unwrap();
        let up = telltale_testsupport::eventually(Duration::from_secs(20), || async {
            prom.query("vector(1)", None, &QueryOptions::default())
                .await
                .ok()
        })
        .await;
        assert!(
            up.is_some(),
            "VictoriaMetrics did not start:\n{}",
            proc.tail()
        );
        Some(Victoria {
            url,
            proc,
            _dir: dir,
        })
    }

    async fn metrics_into(vm: &Victoria, path: &str, items: u32) -> crate::report::ScenarioReport {
        let mut stack = crate::stack::Stack::default();
        stack.prometheus.url = Some(vm.url.clone());
        let ctx = Context::new(
            stack,
            super::super::Options {
                items,
                deadline: Duration::from_secs(15),
                settle: Duration::ZERO,
                progress: false,
                ..Default::default()
            },
        );
        let client = telltale_otlp::Client::builder(&vm.url)
            .path(telltale_otlp::SignalKind::Metrics, path)
            .build()
            .unwrap();
        let mut out = Outcome::default();
        let end = metrics_via(&ctx, &mut out, &client, &ctx.prometheus().unwrap()).await;
        out.finish(Name::OtlpMetricsToPrometheus, Duration::ZERO, end)
    }

    #[tokio::test]
    async fn metrics_with_prometheus_naming_are_visible_never_exactly_once() {
        let Some(vm) = victoria("positive control", &["-opentelemetry.usePrometheusNaming"]).await
        else {
            return;
        };
        let r = metrics_into(&vm, "/opentelemetry/v1/metrics", 5).await;
        assert_eq!(r.status, Status::Passed, "{r:#?}\n{}", vm.proc.tail());
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.delivered), (6, 6), "{d:?}");
        assert!(!d.duplicates_observable);
        assert!(r.summary.contains("visible"), "{}", r.summary);
        assert!(!r.summary.contains("exactly once"), "{}", r.summary);
        assert!(
            r.checks.iter().all(|c| !c.name.contains("2xx")),
            "{:?}",
            r.checks
        );
    }

    #[tokio::test]
    async fn metrics_stored_without_prometheus_naming_are_misrouted_naming_the_labels() {
        let Some(vm) = victoria("without Prometheus naming", &[]).await else {
            return;
        };
        let r = metrics_into(&vm, "/opentelemetry/v1/metrics", 3).await;
        assert_eq!(r.status, Status::Failed, "{r:#?}\n{}", vm.proc.tail());
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.misrouted, d.missing), (4, 4, 0), "{d:?}");
        assert_eq!(
            d.misrouted_to[0].found,
            "labels telltale.run, telltale.seq instead of telltale_run, telltale_seq",
            "{d:?}"
        );
        assert!(
            r.checks.iter().all(|c| !c.name.starts_with("metric names")),
            "no name check without series to judge: {:?}",
            r.checks
        );
    }

    #[tokio::test]
    async fn metrics_posted_where_no_receiver_listens_fail_accepted_by_the_receiver() {
        let Some(vm) = victoria(
            "wrong receiver path",
            &["-opentelemetry.usePrometheusNaming"],
        )
        .await
        else {
            return;
        };
        // The OTLP default path, which this store does not serve.
        let r = metrics_into(&vm, "/v1/metrics", 3).await;
        assert_eq!(r.status, Status::Failed, "{r:#?}");
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            ["metrics gauge: accepted by the receiver"],
            "{r:#?}"
        );
    }
}
