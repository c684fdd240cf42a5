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
//!   check accepts the line as the body or as JSON whose `body` is it.
//! - **Metrics.** `otelcol.exporter.prometheus` (Alloy reference; `add_metric_suffixes`
//!   defaults to true) and Prometheus's own OTLP receiver both follow the OpenTelemetry →
//!   Prometheus compatibility rules: attribute keys become labels with characters outside
//!   `[a-zA-Z0-9_]` replaced by `_` (`telltale.run` → `telltale_run`), a monotonic sum gets
//!   `_total`, a gauge without a unit keeps its name, and `service.name` becomes `job`. The
//!   query matches the counter with or without the suffix so that `add_metric_suffixes =
//!   false` fails the suffix check, not the delivery.
//! - **Traces.** Only the receiver's answer can be checked: 2xx, and no `partial_success` with
//!   rejected spans, over OTLP/HTTP and OTLP/gRPC.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use telltale_loki::{Selector, Timestamp};
use telltale_otlp::{Batch, ExportReport, GrpcClient, RunTag, Signal, Synth};
use telltale_prometheus::api::QueryData;
use telltale_prometheus::QueryOptions;

use super::{read_back, seq_after_run, Context, Name, Outcome, Stop};
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

/// Records an export's answer as checks and evidence.
fn accepted(out: &mut Outcome, what: &str, endpoint: &str, report: &ExportReport) -> bool {
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
    out.check(
        format!("{what}: no item rejected"),
        report.rejected() == 0,
        "partial_success.rejected = 0",
        match &report.partial_success {
            None => "0".to_owned(),
            Some(p) => format!("{} ({})", p.rejected, p.error_message),
        },
    )
}

async fn export<T: Signal>(
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
    let report = client
        .export(batch)
        .await
        .map_err(|e| Stop::from_error(&endpoint, &e))?;
    out.check(format!("{what}: receiver answers 2xx"), true, "2xx", "2xx");
    accepted(out, what, &endpoint, &report);
    Ok(report)
}

/// `otlp-logs-to-loki`.
pub(super) async fn logs(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let client = client(ctx)?;
    let loki = ctx.loki()?;
    logs_via(ctx, out, &client, &loki).await
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

fn logs_selector(run: &str) -> Result<String, Stop> {
    Ok(Selector::new()
        .eq("service_name", SERVICE)
        .map_err(|e| Stop::error("otlp", e.to_string(), "a telltale bug"))?
        .logs()
        .contains(run)
        .to_string())
}

async fn logs_via(
    ctx: &Context,
    out: &mut Outcome,
    client: &telltale_otlp::Client,
    loki: &telltale_loki::Client,
) -> Result<(), Stop> {
    let run = &ctx.run_id;
    let n = u64::from(ctx.options.items);
    let mut synth = Synth::new(RunTag::new(run.as_str()), SERVICE);
    let batch = synth.logs(n as usize);
    let start = Timestamp::now().minus(Duration::from_secs(300));
    let sent_at = ctx.elapsed();
    export(out, client, "logs", &batch).await?;
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    for seq in 0..n {
        ledger.sent(seq, sent_at);
    }
    out.evidence.record(
        "sent",
        json!({"records": n, "service.name": SERVICE, "sample_body": body(run, 0),
               "attributes": ["telltale.run", "telltale.seq"]}),
    );

    let query = logs_selector(run)?;
    let back = read_back(ctx, loki, Name::OtlpLogsToLoki, &query, start, n, |seen| {
        let mut seqs: Vec<u64> = seen
            .iter()
            .filter_map(|s| seq_after_run(&s.entry.line, run))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.len() as u64 >= n
    })
    .await?;
    out.evidence.push(
        "queries",
        json!({"endpoint": loki.base_url(), "query": query, "polls": back.polls,
               "complete_before_deadline": back.complete}),
    );

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
    out.check(
        "log bodies arrive byte for byte",
        wrong.is_empty(),
        format!("every body = {:?}", body(run, 0)),
        match wrong.first() {
            None => format!("{} lines, all exact", back.entries.len()),
            Some(first) => format!(
                "{} of {} differ, first {first:?}",
                wrong.len(),
                back.entries.len()
            ),
        },
    );
    out.evidence.record(
        "seen",
        json!({
            "entries": back.entries.len(),
            "line_forms": forms,
            "streams": back.entries.iter().map(|s| s.labels.to_string()).collect::<std::collections::BTreeSet<_>>(),
            "sample_line": back.entries.first().map(|s| s.entry.line.clone()),
            "sample_structured_metadata": back.entries.first().map(|s| s.entry.structured_metadata.clone()),
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
    let run = &ctx.run_id;
    let n = u64::from(ctx.options.items);
    let mut synth = Synth::new(RunTag::new(run.as_str()), SERVICE);
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    let mut expected: BTreeMap<u64, (&str, f64)> = BTreeMap::new();
    // One gauge point per request, each its own series by `telltale_seq`, value = seq.
    for _ in 0..n {
        let seq = synth.next_seq();
        let batch = synth.gauge(GAUGE, seq as f64);
        ledger.sent(seq, ctx.elapsed());
        export(out, &client, "metrics gauge", &batch).await?;
        expected.insert(seq, (GAUGE, seq as f64));
    }
    let seq = synth.next_seq();
    let batch = synth.counter(COUNTER, 7.0);
    ledger.sent(seq, ctx.elapsed());
    export(out, &client, "metrics counter", &batch).await?;
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
        let answer = prom
            .query(&query, None, &QueryOptions::default())
            .await
            .map_err(|e| Stop::from_error(&url, &e))?;
        polls += 1;
        let now = ctx.elapsed();
        if let QueryData::Vector(found) = &answer.data {
            for s in found {
                let Some(seq) = s.metric.get("telltale_seq").and_then(|v| v.parse().ok()) else {
                    continue;
                };
                first_seen.entry(seq).or_insert(now);
                let value = s.sample.map_or(f64::NAN, |x| x.value);
                series.insert(seq, (s.metric.clone().into_iter().collect(), value));
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
        json!({"endpoint": url, "query": query, "polls": polls}),
    );
    // A metric has no order to keep: series are observed by sequence number.
    ledger.observe(
        first_seen
            .iter()
            .map(|(&seq, &seen_at)| Sighting { seq, seen_at }),
    );
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
    out.evidence.record(
        "seen",
        json!({"series": series.len(), "sample_labels": series.values().next().map(|(l, _)| l.clone())}),
    );
    out.delivery(Delivery::from_summary(
        format!("otlp metrics {GAUGE}"),
        &ledger.summary(),
    ));
    Ok(())
}

/// Every series of the run: the gauge, and the counter with or without its `_total`.
fn metrics_query(run: &str) -> String {
    format!(
        "{{__name__=~\"{GAUGE}|{COUNTER}|{COUNTER}_total\", telltale_run=\"{}\"}}",
        run.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// `otlp-traces-accepted`.
pub(super) async fn traces(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let client = client(ctx)?;
    let n = ctx.options.items.max(1) as usize;
    let mut synth = Synth::new(RunTag::new(ctx.run_id.as_str()), SERVICE);
    let batch = synth.trace(n - 1);
    let http = export(out, &client, "traces over OTLP/HTTP", &batch).await?;
    out.expect_eq("traces over OTLP/HTTP: spans accepted", n, http.accepted());

    let grpc_url = ctx.alloy_url(ctx.stack.alloy.otlp_grpc_port);
    let grpc = GrpcClient::builder(&grpc_url)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| Stop::from_error(&grpc_url, &e))?;
    let batch = synth.trace(n - 1);
    match grpc.export(&batch).await {
        Ok(report) => {
            out.check(
                "traces over OTLP/gRPC: receiver answers OK",
                true,
                "OK",
                "OK",
            );
            accepted(out, "traces over OTLP/gRPC", &grpc_url, &report);
            out.expect_eq(
                "traces over OTLP/gRPC: spans accepted",
                n,
                report.accepted(),
            );
        }
        Err(e) => {
            let stop = Stop::from_error(&grpc_url, &e);
            if stop.status == Status::Failed {
                out.check(
                    "traces over OTLP/gRPC: receiver answers OK",
                    false,
                    "OK",
                    super::chain(&e),
                );
            } else {
                // HTTP's checks stay in the report; the gRPC port keeps it from passing.
                return Err(stop);
            }
        }
    }
    out.evidence.record(
        "sent",
        json!({"spans_per_export": n, "service.name": SERVICE,
               "note": "the stack has no trace store, so only the receivers' answers are checked"}),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            logs_selector("tt-1").unwrap(),
            r#"{service_name="telltale"} |= "tt-1""#
        );
        assert_eq!(
            metrics_query("tt-1"),
            r#"{__name__=~"telltale_otlp_probe|telltale_otlp_probe_events|telltale_otlp_probe_events_total", telltale_run="tt-1"}"#
        );
        // The label names the query relies on are the client crate's translation.
        assert_eq!(RunTag::label_name("telltale.run"), "telltale_run");
        assert_eq!(RunTag::label_name("telltale.seq"), "telltale_seq");
    }

    fn loki_ctx(url: &str, items: u32) -> Context {
        let mut stack = crate::stack::Stack::default();
        stack.loki.url = Some(url.to_owned());
        Context::new(
            stack,
            super::super::Options {
                items,
                deadline: Duration::from_secs(30),
                late_after: Duration::from_secs(30),
                progress: false,
            },
        )
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
        let Ok(url) = std::env::var("LOKI_URL") else {
            telltale_testsupport::skip("otlp-logs-to-loki against a real Loki (set LOKI_URL)");
            return;
        };
        let ctx = loki_ctx(&url, 25);
        let mut out = Outcome::default();
        let end = logs_via(&ctx, &mut out, &loki_otlp(&url), &ctx.loki().unwrap()).await;
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
        let Ok(url) = std::env::var("LOKI_URL") else {
            telltale_testsupport::skip("otlp-logs-to-loki duplicate detection (set LOKI_URL)");
            return;
        };
        let ctx = loki_ctx(&url, 5);
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
        let end = logs_via(&ctx, &mut out, &loki_otlp(&url), &loki).await;
        let r = out.finish(Name::OtlpLogsToLoki, Duration::ZERO, end);
        assert_eq!(r.status, Status::Failed, "{r:#?}");
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.duplicated, d.delivered), (5, 1, 4), "{d:?}");
    }
}
