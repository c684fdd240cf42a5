//! `faro-to-loki`: browser telemetry posted to Alloy's `faro.receiver` reaches Loki as the lines
//! Alloy promises, labelled `source=pwa-faro`, each item exactly once and in order.
//!
//! Items are sent one per payload, cycling through log, event, exception and measurement. One
//! per payload because Loki stamps a line with the time Alloy received its payload, not the
//! item's own time (`telltale_faro::LokiLine`), so items of one payload would share a timestamp
//! and their order in Loki would say nothing. A 202 only means the receiver decoded the
//! payload (evidence, not a check); delivery is proven by reading back
//! `{source="pwa-faro"} |= "<run>"`, and items found only under other labels are reported
//! misrouted, naming the difference. Loki's timestamp is the receiver's clock, so the window
//! allows for its skew from ours.
//!
//! Content: each line must equal, byte for byte, the logfmt line `telltale_faro` renders for the
//! item — for Alloy 1.5 to 1.11 (the stack pins 1.5.x) or for 1.12 and later, whichever matches.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use telltale_faro::{run_and_seq, AlloyVersion, ApiKey, ItemKind, LogLevel, PayloadBuilder};
use telltale_loki::{LabelSet, Timestamp};

use super::{read_back, Context, Name, Outcome, Promised, Stop};
use crate::accounting::{Ledger, Sighting};
use crate::report::Delivery;

/// The label the stack's Faro pipeline gives every line.
const SOURCE: (&str, &str) = ("source", "pwa-faro");

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let url = ctx.alloy_url(ctx.stack.alloy.faro_port);
    let mut builder = telltale_faro::Client::builder(&url).timeout(Duration::from_secs(30));
    if let Some(cred) = &ctx.stack.alloy.faro_api_key {
        let key = match (&cred.file, &cred.env) {
            (Some(path), _) => ApiKey::from_file(path),
            (None, Some(var)) => ApiKey::from_env(var),
            (None, None) => unreachable!("the stack model validates credentials"),
        }
        .map_err(|e| {
            Stop::error(
                "alloy.faro_api_key",
                super::chain(&e),
                "make the Faro API key file (or variable) readable and non-empty",
            )
        })?;
        builder = builder.api_key(key);
    }
    let client = builder.build().map_err(|e| Stop::from_error(&url, &e))?;
    let loki = ctx.loki()?;
    run_via(ctx, out, &Sink::Receiver(&client), &loki).await
}

/// Where payloads go.
enum Sink<'a> {
    /// Alloy's `faro.receiver`.
    Receiver(&'a telltale_faro::Client),
    /// Straight into Loki as the lines Alloy 1.5 writes, through a stand-in collector that
    /// may misbehave on purpose: for proving the read-back side against a real Loki where no
    /// Alloy runs.
    #[cfg(test)]
    Pipe(&'a super::readback::pipe::Pipe, &'a telltale_loki::Client),
    /// Answers 202 and keeps nothing, as a receiver whose pipeline is broken does.
    #[cfg(test)]
    Dropping,
}

impl Sink<'_> {
    /// Sends one payload of run `run`; returns the receiver's status and body.
    async fn send(
        &self,
        payload: &telltale_faro::Payload,
        #[cfg_attr(not(test), allow(unused_variables))] run: &str,
    ) -> Result<(u16, String), Stop> {
        match self {
            Sink::Receiver(client) => {
                let endpoint = format!("{}/collect", client.base_url().trim_end_matches('/'));
                let report = client
                    .send(payload)
                    .await
                    .map_err(|e| Stop::from_error(&endpoint, &e))?;
                Ok((report.status, report.message))
            }
            #[cfg(test)]
            Sink::Pipe(pipe, loki) => {
                let items: Vec<(u64, String)> = payload
                    .loki_lines(AlloyVersion::V1_5)
                    .into_iter()
                    .filter_map(|l| l.line())
                    .filter_map(|line| Some((item_seq(&line, run)?, line)))
                    .collect();
                pipe.carry(loki, &items).await;
                Ok((204, String::new()))
            }
            #[cfg(test)]
            Sink::Dropping => Ok((202, "ok".into())),
        }
    }

    fn endpoint(&self) -> String {
        match self {
            Sink::Receiver(client) => {
                format!("{}/collect", client.base_url().trim_end_matches('/'))
            }
            #[cfg(test)]
            Sink::Pipe(_, loki) => format!("{}/loki/api/v1/push", loki.base_url()),
            #[cfg(test)]
            Sink::Dropping => "nowhere".into(),
        }
    }
}

/// The run's payload builder, whose payloads say they come from the harness's app and
/// environment (`[alloy] faro_app_name`, `faro_environment`), not the PWA's, so dashboards and
/// alerts on the PWA can leave them out.
fn payload_builder(ctx: &Context) -> Result<PayloadBuilder, Stop> {
    let mut payloads = PayloadBuilder::new(ctx.run_id.as_str()).map_err(|e| {
        Stop::error(
            "faro",
            e.to_string(),
            "a telltale bug: the run id must suit Faro",
        )
    })?;
    let app = &mut payloads.meta_mut().app;
    app.name = Some(ctx.stack.alloy.faro_app_name.clone());
    app.environment = Some(ctx.stack.alloy.faro_environment.clone());
    Ok(payloads)
}

async fn run_via(
    ctx: &Context,
    out: &mut Outcome,
    sink: &Sink<'_>,
    loki: &telltale_loki::Client,
) -> Result<(), Stop> {
    let run = &ctx.run_id;
    let n = u64::from(ctx.options.items);
    let mut payloads = payload_builder(ctx)?;
    out.evidence.record(
        "app",
        json!({"name": ctx.stack.alloy.faro_app_name, "environment": ctx.stack.alloy.faro_environment}),
    );
    let sent_from = Timestamp::now();
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    // Every line each Alloy release would write for each item, to judge the content by.
    let mut expected: BTreeMap<u64, [Option<String>; 2]> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sample: Option<String> = None;
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for i in 0..n {
        let seq = payloads.next_seq();
        let kind = add_item(&mut payloads, i)?;
        *kinds.entry(kind.as_str()).or_insert(0) += 1;
        let payload = payloads.take();
        let [v15, v112] = [AlloyVersion::V1_5, AlloyVersion::V1_12].map(|v| {
            payload
                .loki_lines(v)
                .into_iter()
                .next()
                .and_then(|l| l.line())
        });
        if sample.is_none() {
            sample = v15.clone();
        }
        expected.insert(seq, [v15, v112]);
        ledger.sent(seq, ctx.elapsed());
        let (status, body) = sink.send(&payload, run).await?;
        *statuses.entry(status).or_insert(0) += 1;
        if i == 0 {
            out.evidence.record(
                "receiver",
                json!({"endpoint": sink.endpoint(), "status": status, "body": body}),
            );
        }
    }
    // A 2xx only says the receiver decoded the payload: evidence, not a check. A refusal
    // ended the scenario above.
    out.evidence.record("receiver_statuses", &statuses);
    out.evidence.record(
        "sent",
        json!({"items": n, "kinds": kinds, "one_item_per_payload": true, "sample_line_alloy_1_5": sample}),
    );

    let labels = LabelSet::new([SOURCE]).expect("a valid label");
    let back = read_back(
        ctx,
        loki,
        Name::FaroToLoki,
        &Promised {
            labels: &labels,
            run,
            items: n,
            sent_from,
        },
        |line| item_seq(line, run),
    )
    .await?;
    out.evidence.push("queries", back.evidence());

    let mut wrong = Vec::new();
    let mut sightings = Vec::new();
    for seen in &back.entries {
        let line = &seen.entry.line;
        match item_seq(line, run) {
            Some(seq) => {
                let exact = expected
                    .get(&seq)
                    .is_some_and(|lines| lines.iter().flatten().any(|l| l == line));
                if !exact {
                    wrong.push(line.clone());
                }
                sightings.push(Sighting {
                    seq,
                    seen_at: seen.first_seen,
                });
            }
            None => wrong.push(line.clone()),
        }
    }
    ledger.observe(sightings);
    // Items Alloy wrote under other labels (an `extra_log_labels` that lost `source`) are
    // misrouted, with the label difference, not missing.
    back.observe_elsewhere(&mut ledger, |line| item_seq(line, run));
    back.check_content(
        out,
        "lines are exactly what Alloy renders for each item",
        "every line byte-identical to telltale-faro's rendering (Alloy 1.5 or 1.12+)",
        &wrong,
    );
    out.evidence.record(
        "seen",
        json!({
            "entries": back.entries.len(),
            "streams": back.entries.iter().map(|s| s.labels.to_string()).collect::<std::collections::BTreeSet<_>>(),
            "sample_line": back.entries.first().map(|s| s.entry.line.clone()),
            "entries_elsewhere": back.elsewhere.len(),
        }),
    );
    out.delivery(Delivery::from_summary(
        "faro source=pwa-faro",
        &ledger.summary(),
    ));
    Ok(())
}

/// Adds the `i`-th item: log, event, exception, measurement in turn.
fn add_item(b: &mut PayloadBuilder, i: u64) -> Result<ItemKind, Stop> {
    Ok(match i % 4 {
        0 => {
            b.log(LogLevel::Info, format!("telltale faro log {i}"));
            ItemKind::Log
        }
        1 => {
            b.event("telltale_probe", "telltale");
            ItemKind::Event
        }
        2 => {
            b.exception(
                "TelltaleProbe",
                format!("telltale faro exception {i}"),
                Vec::new(),
            );
            ItemKind::Exception
        }
        _ => {
            b.measurement("telltale", [("probe", i as f64)])
                .map_err(|e| Stop::error("faro", e.to_string(), "a telltale bug"))?;
            ItemKind::Measurement
        }
    })
}

/// The item's sequence number, if the line is one of this run's items.
fn item_seq(line: &str, run: &str) -> Option<u64> {
    let fields = parse_logfmt(line);
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let kind = match get("kind")? {
        "log" => ItemKind::Log,
        "exception" => ItemKind::Exception,
        "measurement" => ItemKind::Measurement,
        "event" => ItemKind::Event,
        _ => return None,
    };
    let (found_run, seq) = run_and_seq(kind, get)?;
    (found_run == run).then_some(seq)
}

/// Splits a `go-logfmt` line into key/value pairs, unquoting quoted values.
fn parse_logfmt(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('r') => value.push('\r'),
                            Some('t') => value.push('\t'),
                            Some('u') => {
                                let hex: String = chars.by_ref().take(4).collect();
                                if let Some(c) =
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                                {
                                    value.push(c);
                                }
                            }
                            Some(other) => value.push(other),
                            None => break,
                        },
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::super::readback::pipe::{fault_ctx, loki_fault_tests, Pipe};
    use super::*;

    #[test]
    fn logfmt_values_are_unquoted() {
        let f = parse_logfmt(r#"a=1 b="two words" c="q\"\\\n\u0001" d= e"#);
        assert_eq!(
            f,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two words".into()),
                ("c".into(), "q\"\\\n\u{1}".into()),
                ("d".into(), String::new()),
                ("e".into(), String::new()),
            ]
        );
        assert!(parse_logfmt("").is_empty());
    }

    #[test]
    fn every_kind_is_found_again_in_alloys_line() {
        let mut b = PayloadBuilder::new("tt-9").unwrap();
        for i in 0..8 {
            let seq = b.next_seq();
            let kind = add_item(&mut b, i).unwrap();
            let lines = b.take().loki_lines(AlloyVersion::V1_5);
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0].kind(), kind);
            let line = lines[0].line().unwrap();
            assert_eq!(item_seq(&line, "tt-9"), Some(seq), "{line}");
            assert_eq!(item_seq(&line, "tt-99"), None, "another run's line");
        }
        assert_eq!(item_seq("kind=log message=x", "tt-9"), None);
    }

    #[test]
    fn payloads_carry_the_configured_app_and_environment() {
        let mut stack = crate::stack::Stack::default();
        stack.alloy.faro_app_name = "telltale-canary".into();
        let ctx = Context::new(stack, super::super::Options::default());
        let mut b = payload_builder(&ctx).unwrap();
        add_item(&mut b, 0).unwrap();
        let line = b.take().loki_lines(AlloyVersion::V1_5)[0].line().unwrap();
        assert!(
            line.contains("app_name=telltale-canary") && line.contains("app_environment=telltale"),
            "{line}"
        );
    }

    /// No Alloy here: the items go into a real Loki as the exact lines Alloy 1.5 writes
    /// (`telltale_faro::LokiLine`), through a stand-in collector, which proves the query,
    /// parsing, content check, diagnosis and accounting; the receiver hop is not proven.
    async fn through(ctx: &Context, pipe: &Pipe) -> crate::report::ScenarioReport {
        let loki = ctx.loki().unwrap();
        let mut out = Outcome::default();
        let end = run_via(ctx, &mut out, &Sink::Pipe(pipe, &loki), &loki).await;
        out.finish(Name::FaroToLoki, Duration::ZERO, end)
    }

    loki_fault_tests! {
        scenario: "faro-to-loki",
        promised: &[SOURCE],
        // `extra_log_labels` that lost `source`: Loki derives `service_name` from `app`.
        wrong: &[("app", "be-pwa")],
        place: r#"missing source="pwa-faro"; extra app="be-pwa", service_name="be-pwa""#,
    }

    #[tokio::test]
    async fn items_a_receiver_accepts_and_loses_are_missing() {
        let Some(url) = loki_url("loss detection") else {
            return;
        };
        let ctx = fault_ctx(&url, 3, 2, 0);
        let loki = ctx.loki().unwrap();
        let mut out = Outcome::default();
        let end = run_via(&ctx, &mut out, &Sink::Dropping, &loki).await;
        let r = out.finish(Name::FaroToLoki, Duration::ZERO, end);
        assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
        let d = &r.delivery[0];
        assert_eq!((d.missing, d.misrouted), (3, 0), "{d:?}");
        let evidence = serde_json::to_value(&r.evidence).unwrap();
        assert!(
            evidence["queries"][0]["wide_search"]["label_names_in_window"].as_u64() > Some(0),
            "the wide search looked: {evidence:#}"
        );
    }
}
