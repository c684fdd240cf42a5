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
//! An item is recognised by its tag (run id and sequence number, wherever the receiver put them:
//! `telltale_faro::item_tag`), never by one renderer, so a line in another receiver's format is
//! delivered, not missing. Only then is its content judged: each line must equal, byte for byte,
//! the logfmt line `telltale_faro` renders for the item for the receiver's release — the one
//! `[alloy] faro_receiver` declares, else the one its admin port's `/metrics` reports
//! (`agent_build_info`: the Grafana Agent's `app_agent_receiver`; `alloy_build_info`: Alloy 1.5
//! or 1.12+), else any release telltale knows. A line that differs is a content finding naming
//! the fields that differ and the release it is closest to.
//!
//! Then, where the stack declares them, the receiver behaviour the PWA depends on: a wrong and a
//! missing API key refused (401), CORS preflights from the allowed origin and from another one,
//! the size limit at the byte, and the rate limiter past its burst (`receiver_checks`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use telltale_faro::{AlloyVersion, ApiKey, ItemKind, LogLevel, LokiLine, PayloadBuilder};
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
    let release = receiver_release(ctx, out).await;
    run_via(ctx, out, &Sink::Receiver(&client), &loki, release).await?;
    receiver_checks(ctx, &url, out).await;
    Ok(())
}

/// The receiver behaviour the PWA depends on, each checked only where the stack declares it:
/// the API key (a wrong and a missing one refused with 401), CORS (a preflight from the
/// allowed origin allowed, one from another origin refused), the payload size limit (a body of
/// exactly the limit accepted, one byte more refused with 413) and the rate limiter (past the
/// declared burst, 429). The probe bodies are empty payloads: they never become Loki lines.
/// A probe that gets no answer records no check (no answer proves nothing either way).
async fn receiver_checks(ctx: &Context, url: &str, out: &mut Outcome) {
    let alloy = &ctx.stack.alloy;
    let probe = |key: Option<ApiKey>, max: usize| {
        let mut b = telltale_faro::Client::builder(url)
            .retry(telltale_faro::RetryPolicy::none())
            .max_payload_size(max)
            .timeout(Duration::from_secs(30));
        if let Some(k) = key {
            b = b.api_key(k);
        }
        b.build().ok()
    };
    let empty = br#"{"meta":{}}"#;
    let mut unanswered = Vec::new();
    if alloy.faro_api_key.is_some() {
        let wrong = ApiKey::new("telltale-deliberately-wrong-key").ok();
        for (what, key) in [("a wrong", wrong), ("a missing", None)] {
            let Some(c) = probe(key, 1 << 16) else {
                continue;
            };
            match probe_status(&c, empty).await {
                Some(s) => {
                    out.check(
                        format!("the receiver refuses {what} API key"),
                        s == 401,
                        "401",
                        s.to_string(),
                    );
                }
                None => {
                    unanswered.push(format!("{what} API key"));
                    continue;
                }
            }
        }
    }
    if let (Some(origin), Some(c)) = (&alloy.faro_allowed_origin, probe(None, 1 << 16)) {
        let refused = "https://telltale-refused.invalid";
        for (from, want) in [(origin.as_str(), true), (refused, false)] {
            match c.preflight(from).await {
                Ok(p) => {
                    out.check(
                        format!(
                            "CORS preflight from {from} is {}",
                            if want { "allowed" } else { "refused" }
                        ),
                        p.allows(from) == want,
                        if want {
                            format!("Access-Control-Allow-Origin {from} with x-api-key allowed")
                        } else {
                            "no Access-Control-Allow-Origin for it".to_owned()
                        },
                        format!(
                        "{} Access-Control-Allow-Origin {:?}, Access-Control-Allow-Headers {:?}",
                        p.status, p.allow_origin, p.allow_headers
                    ),
                    );
                }
                Err(_) => {
                    unanswered.push(format!("CORS preflight from {from}"));
                    continue;
                }
            }
        }
    }
    let key = || {
        alloy
            .faro_api_key
            .as_ref()
            .and_then(|cred| match (&cred.file, &cred.env) {
                (Some(path), _) => ApiKey::from_file(path).ok(),
                (None, Some(var)) => ApiKey::from_env(var).ok(),
                _ => None,
            })
    };
    if let Some(limit) = alloy
        .faro_max_payload_bytes
        .and_then(|l| usize::try_from(l).ok())
    {
        if let Some(c) = probe(key(), limit + 2) {
            for (len, want) in [(limit, 202), (limit + 1, 413)] {
                match probe_status(&c, &padded(len)).await {
                    Some(s) => {
                        out.check(
                            format!(
                                "the receiver {} a body of {len} bytes (limit {limit})",
                                if want == 202 { "accepts" } else { "refuses" }
                            ),
                            s == want,
                            want.to_string(),
                            s.to_string(),
                        );
                    }
                    None => {
                        unanswered.push(format!("a body of {len} bytes"));
                        continue;
                    }
                }
            }
        }
    }
    if let (Some(burst), Some(c)) = (alloy.faro_rate_limit_burst, probe(key(), 1 << 16)) {
        let mut statuses: BTreeMap<u16, u32> = BTreeMap::new();
        for _ in 0..burst + 5 {
            match answer(c.send_json(empty).await) {
                Some(s) => *statuses.entry(s).or_insert(0) += 1,
                None => break,
            }
        }
        let refused = statuses.get(&429).copied().unwrap_or(0);
        if statuses.is_empty() {
            unanswered.push("the rate-limit burst".to_owned());
        } else {
            out.check(
                format!("the receiver rate-limits past a burst of {burst}"),
                refused > 0,
                format!("at least one 429 among {} requests sent at once", burst + 5),
                format!("{statuses:?}"),
            );
        }
    }
    if !unanswered.is_empty() {
        out.evidence
            .record("receiver_probes_unanswered", &unanswered);
    }
}

/// The status a probe got, `None` when it got no answer.
fn answer(r: Result<telltale_faro::SendReport, telltale_faro::Error>) -> Option<u16> {
    match r {
        Ok(r) => Some(r.status),
        Err(telltale_faro::Error::Api(e)) => Some(e.status()),
        Err(_) => None,
    }
}

/// Sends a probe body; a 429 is the rate limiter, which the receiver consults before anything
/// else, not an answer about the key or the size, so it is waited out (up to 5 s).
async fn probe_status(c: &telltale_faro::Client, body: &[u8]) -> Option<u16> {
    for _ in 0..5 {
        match answer(c.send_json(body).await)? {
            429 => tokio::time::sleep(Duration::from_millis(1100)).await,
            s => return Some(s),
        }
    }
    Some(429)
}

/// A body of exactly `len` bytes (at least 20) that decodes to an empty payload: an unknown
/// member holds the padding, which every receiver ignores.
fn padded(len: usize) -> Vec<u8> {
    let mut body = br#"{"meta":{},"pad":""#.to_vec();
    let room = len.saturating_sub(body.len() + 2);
    body.extend(std::iter::repeat_n(b'x', room));
    body.extend(br#""}"#);
    body
}

/// The receiver release whose lines to expect: declared in the stack, else reported by the
/// receiver's self-metrics. `None` (any known release) when neither says.
async fn receiver_release(ctx: &Context, out: &mut Outcome) -> Option<AlloyVersion> {
    if let Some(declared) = &ctx.stack.alloy.faro_receiver {
        // The stack model refuses names that do not parse.
        let v = AlloyVersion::parse(declared);
        out.evidence.record(
            "receiver_release",
            json!({"from": "stack alloy.faro_receiver", "release": v.map(AlloyVersion::as_str)}),
        );
        return v;
    }
    let url = format!("{}/metrics", ctx.alloy_url(ctx.stack.alloy.admin_port));
    // The text format, not OpenMetrics: the Agent's client_golang writes an OpenMetrics
    // exposition a strict parser refuses (go_memstats_alloc_bytes' HELP after its samples),
    // and only the build_info sample matters here.
    let options = telltale_prometheus::ScrapeOptions {
        accept: "text/plain;version=0.0.4".to_owned(),
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let mut why = None;
    let found = match telltale_prometheus::scrape(&url, &options).await {
        Ok(scrape) => match scrape.exposition() {
            Ok(e) => e.samples().find_map(|(_, s)| {
                let version = s.label("version")?;
                let release = AlloyVersion::from_build_info(&s.name, version)?;
                Some((s.name.clone(), version.to_owned(), release))
            }),
            Err(e) => {
                why = Some(super::chain(&e));
                None
            }
        },
        Err(e) => {
            why = Some(super::chain(&e));
            None
        }
    };
    match found {
        Some((metric, version, release)) => {
            out.evidence.record(
                "receiver_release",
                json!({"from": url, "metric": metric, "version": version, "release": release.as_str()}),
            );
            Some(release)
        }
        None => {
            // An admin port that does not answer says nothing about the receiver: judge
            // against every release rather than guess one.
            out.evidence.record(
                "receiver_release",
                json!({"from": url, "release": null, "why": why, "judged_against": AlloyVersion::ALL.map(AlloyVersion::as_str)}),
            );
            None
        }
    }
}

/// Where payloads go.
enum Sink<'a> {
    /// Alloy's `faro.receiver`.
    Receiver(&'a telltale_faro::Client),
    /// Straight into Loki as the lines Alloy 1.5 writes, through a stand-in collector that
    /// may misbehave on purpose: for proving the read-back side against a real Loki where no
    /// Alloy runs.
    #[cfg(test)]
    Pipe(
        &'a super::readback::pipe::Pipe,
        &'a telltale_loki::Client,
        AlloyVersion,
    ),
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
            Sink::Pipe(pipe, loki, writes) => {
                let items: Vec<(u64, String)> = payload
                    .loki_lines(*writes)
                    .into_iter()
                    .filter_map(|l| l.line())
                    .filter_map(|line| Some((telltale_faro::item_seq(&line, run)?, line)))
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
            Sink::Pipe(_, loki, _) => format!("{}/loki/api/v1/push", loki.base_url()),
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
    release: Option<AlloyVersion>,
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
    // The line each receiver release would write for each item, the expected release first.
    let mut order: Vec<AlloyVersion> = release.into_iter().collect();
    order.extend(AlloyVersion::ALL.iter().filter(|v| Some(**v) != release));
    let mut expected: BTreeMap<u64, Vec<LokiLine>> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sample: Option<String> = None;
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for i in 0..n {
        let seq = payloads.next_seq();
        let kind = add_item(&mut payloads, i)?;
        *kinds.entry(kind.as_str()).or_insert(0) += 1;
        let payload = payloads.take();
        let lines: Vec<LokiLine> = order
            .iter()
            .filter_map(|v| payload.loki_lines(*v).into_iter().next())
            .collect();
        if sample.is_none() {
            sample = lines.first().and_then(LokiLine::line);
        }
        expected.insert(seq, lines);
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
        json!({"items": n, "kinds": kinds, "one_item_per_payload": true, "sample_line": sample, "sample_release": order[0].as_str()}),
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
        |line| telltale_faro::item_seq(line, run),
    )
    .await?;
    out.evidence.push("queries", back.evidence());

    let mut wrong = Vec::new();
    let mut matched: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sightings = Vec::new();
    for seen in &back.entries {
        let line = &seen.entry.line;
        // Recognised by its tag first: a delivered item stays delivered whatever its format.
        let Some(seq) = telltale_faro::item_seq(line, run) else {
            wrong.push(format!("a line of this run without an item tag: {line:?}"));
            continue;
        };
        sightings.push(Sighting {
            seq,
            seen_at: seen.first_seen,
        });
        if let Some(finding) = content_finding(seq, line, expected.get(&seq), release) {
            wrong.push(finding);
        } else if let Some(m) = expected
            .get(&seq)
            .and_then(|e| telltale_faro::compare(line, e).exact)
        {
            *matched.entry(m.as_str()).or_insert(0) += 1;
        }
    }
    ledger.observe(sightings);
    // Items the receiver wrote under other labels (an `extra_log_labels`/`logs_labels` that
    // lost `source`) are misrouted, with the label difference, not missing.
    back.observe_elsewhere(&mut ledger, |line| telltale_faro::item_seq(line, run));
    out.evidence.record("lines_matched_release", &matched);
    back.check_content(
        out,
        "lines are exactly what the receiver renders for each item",
        match release {
            Some(v) => format!("every line byte-identical to telltale-faro's rendering for {}", v.as_str()),
            None => "every line byte-identical to telltale-faro's rendering for one known receiver release".to_owned(),
        },
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

/// What is wrong with the content of item `seq`'s line, if anything: `None` when it equals the
/// expected release's rendering (any known release's when none is expected).
fn content_finding(
    seq: u64,
    line: &str,
    renderings: Option<&Vec<LokiLine>>,
    release: Option<AlloyVersion>,
) -> Option<String> {
    let Some(renderings) = renderings else {
        return Some(format!("item {seq} was never sent in this run: {line:?}"));
    };
    let m = telltale_faro::compare(line, renderings);
    match (m.exact, release) {
        (Some(found), Some(want)) if found != want => {
            let vs = renderings
                .first()
                .map(|first| telltale_faro::compare(line, std::slice::from_ref(first)));
            Some(format!(
                "item {seq} is written as {} writes it, not as the expected {} does; differs in: {}",
                found.as_str(),
                want.as_str(),
                vs.map(|v| v.differing.join(", ")).unwrap_or_default()
            ))
        }
        (Some(_), _) => None,
        (None, _) => {
            // The first rendering is the expected release's; name what differs from it (and
            // which release the line is closest to, when that is another).
            let want =
                release.map_or_else(|| "any known release".to_owned(), |v| v.as_str().to_owned());
            let vs = renderings
                .first()
                .map(|first| telltale_faro::compare(line, std::slice::from_ref(first)));
            let fields = vs.map_or(m.differing.clone(), |v| v.differing);
            let closest = match m.closest {
                Some(c) if Some(c) != release => format!(" (closest to {})", c.as_str()),
                _ => String::new(),
            };
            Some(format!(
                "item {seq} differs from {want}'s rendering in: {}{closest}",
                fields.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::readback::pipe::{fault_ctx, loki_fault_tests, Pipe};
    use super::*;

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
            assert_eq!(telltale_faro::item_seq(&line, "tt-9"), Some(seq), "{line}");
            assert_eq!(
                telltale_faro::item_seq(&line, "tt-99"),
                None,
                "another run's line"
            );
        }
        assert_eq!(telltale_faro::item_seq("kind=log message=x", "tt-9"), None);
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
        let end = run_via(
            ctx,
            &mut out,
            &Sink::Pipe(pipe, &loki, AlloyVersion::V1_5),
            &loki,
            Some(AlloyVersion::V1_5),
        )
        .await;
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
        let end = run_via(&ctx, &mut out, &Sink::Dropping, &loki, None).await;
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

    /// The issue's false "missing": lines in the Grafana Agent's format (exceptions and
    /// measurements without their context) pushed into a real Loki. Recognised by tag, every
    /// item is delivered; judged against Alloy 1.5 the content check names the fields, and
    /// against the Agent it passes.
    #[tokio::test]
    async fn lines_in_another_receivers_format_are_delivered_and_named_as_content() {
        let Some(url) = loki_url("receiver formats") else {
            return;
        };
        for (expected, passes) in [(AlloyVersion::V1_5, false), (AlloyVersion::Agent, true)] {
            let ctx = fault_ctx(&url, 8, 20, 0);
            let loki = ctx.loki().unwrap();
            let pipe = Pipe::to(&[SOURCE]);
            let mut out = Outcome::default();
            let sink = Sink::Pipe(&pipe, &loki, AlloyVersion::Agent);
            let end = run_via(&ctx, &mut out, &sink, &loki, Some(expected)).await;
            let r = out.finish(Name::FaroToLoki, Duration::ZERO, end);
            let d = &r.delivery[0];
            assert_eq!((d.sent, d.delivered, d.missing), (8, 8, 0), "{d:?}");
            let content = r
                .checks
                .iter()
                .find(|c| c.name.starts_with("lines are exactly"))
                .expect("the content check ran");
            assert_eq!(content.passed, passes, "{content:?}");
            if passes {
                assert_eq!(r.status, crate::report::Status::Passed, "{r:#?}");
            } else {
                assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
                // Items 2 and 3 are an exception and a measurement: fields the Agent leaves out.
                assert!(
                    content.actual.contains("4 of 8 differ")
                        && content.actual.contains("hash (missing)")
                        && content
                            .actual
                            .contains("written as agent-app_agent_receiver writes it"),
                    "{content:?}"
                );
            }
        }
    }

    /// The stack for a real Faro receiver and Loki from the environment (`tt-servers`).
    fn receiver_ctx(receiver: &str, items: u32, deadline: u64) -> Option<Context> {
        let (Ok(loki), Ok(key)) = (
            std::env::var("LOKI_URL"),
            std::env::var("FARO_API_KEY_FILE"),
        ) else {
            telltale_testsupport::skip(
                "faro-to-loki against a real receiver needs its Loki and key (set LOKI_URL and FARO_API_KEY_FILE)",
            );
            return None;
        };
        let port = |url: &str| url::Url::parse(url).ok()?.port();
        let mut ctx = fault_ctx(&loki, items, deadline, 1);
        let alloy = &mut ctx.stack.alloy;
        alloy.faro_port = port(receiver).expect("a receiver URL with a port");
        alloy.admin_port = std::env::var("FARO_RECEIVER_ADMIN_URL")
            .ok()
            .and_then(|u| port(&u))
            .unwrap_or(1);
        alloy.faro_api_key = Some(crate::stack::Credential {
            username: None,
            file: Some(key.into()),
            env: None,
        });
        Some(ctx)
    }

    async fn check(ctx: &Context) -> crate::report::ScenarioReport {
        let mut out = Outcome::default();
        let end = run(ctx, &mut out).await;
        out.finish(Name::FaroToLoki, Duration::ZERO, end)
    }

    /// Done-when 1: the real Grafana Agent `app_agent_receiver` (`FARO_RECEIVER_URL`), every
    /// item delivered and every line exactly the Agent's rendering, the release read from its
    /// `/metrics`.
    #[tokio::test]
    async fn faro_to_loki_passes_against_the_real_receiver() {
        let Ok(url) = std::env::var("FARO_RECEIVER_URL") else {
            telltale_testsupport::skip(
                "faro-to-loki against a real receiver (set FARO_RECEIVER_URL)",
            );
            return;
        };
        let Some(mut ctx) = receiver_ctx(&url, 20, 30) else {
            return;
        };
        // The receiver's declared CORS origin and size limit (tt-servers' config.yaml).
        ctx.stack.alloy.faro_allowed_origin = std::env::var("FARO_ALLOWED_ORIGIN").ok();
        ctx.stack.alloy.faro_max_payload_bytes = Some(1 << 20);
        let r = check(&ctx).await;
        assert_eq!(r.status, crate::report::Status::Passed, "{r:#?}");
        let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
        assert!(
            names.contains(&"the receiver refuses a wrong API key")
                && names.contains(&"the receiver refuses a body of 1048577 bytes (limit 1048576)"),
            "{names:?}"
        );
        if ctx.stack.alloy.faro_allowed_origin.is_some() {
            assert_eq!(names.iter().filter(|n| n.starts_with("CORS")).count(), 2);
        }
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.delivered, d.missing), (20, 20, 0), "{d:?}");
        let evidence = serde_json::to_value(&r.evidence).unwrap();
        if std::env::var("FARO_RECEIVER_ADMIN_URL").is_ok() {
            assert_eq!(
                evidence["receiver_release"]["release"], "agent-app_agent_receiver",
                "{evidence:#}"
            );
        }
        assert_eq!(
            evidence["lines_matched_release"]["agent-app_agent_receiver"], 20,
            "{evidence:#}"
        );
    }

    /// Done-when 2: the same receiver whose log pipeline is cut (`FARO_CUT_RECEIVER_URL`: its
    /// `logs_instance` ships to a Loki that is not there) answers 202 to every payload, and the
    /// scenario fails with every item missing.
    #[tokio::test]
    async fn a_real_receiver_whose_log_pipeline_is_cut_fails_with_items_missing() {
        let Ok(url) = std::env::var("FARO_CUT_RECEIVER_URL") else {
            telltale_testsupport::skip(
                "faro-to-loki against a receiver with its log pipeline cut (set FARO_CUT_RECEIVER_URL)",
            );
            return;
        };
        let Some(ctx) = receiver_ctx(&url, 8, 5) else {
            return;
        };
        let r = check(&ctx).await;
        assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.delivered, d.missing), (8, 0, 8), "{d:?}");
        let evidence = serde_json::to_value(&r.evidence).unwrap();
        assert_eq!(evidence["receiver_statuses"]["202"], 8, "{evidence:#}");
    }

    /// Negative control: a real receiver left open (`FARO_OPEN_RECEIVER_URL`: no API key, CORS
    /// `*`, burst 50) judged against a stack that declares a key, an origin and a burst of 3.
    /// Delivery is fine; the scenario fails naming each check that caught it.
    #[tokio::test]
    async fn a_real_receiver_left_open_fails_the_key_cors_and_rate_checks() {
        let Ok(url) = std::env::var("FARO_OPEN_RECEIVER_URL") else {
            telltale_testsupport::skip(
                "faro-to-loki against a receiver with no key (set FARO_OPEN_RECEIVER_URL)",
            );
            return;
        };
        let Some(mut ctx) = receiver_ctx(&url, 4, 30) else {
            return;
        };
        ctx.stack.alloy.faro_allowed_origin = Some("https://pwa.meridian.example".into());
        ctx.stack.alloy.faro_rate_limit_burst = Some(3);
        let r = check(&ctx).await;
        assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
        assert_eq!(r.delivery[0].delivered, 4, "{:?}", r.delivery);
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "the receiver refuses a wrong API key",
                "the receiver refuses a missing API key",
                "CORS preflight from https://telltale-refused.invalid is refused",
                "the receiver rate-limits past a burst of 3",
            ],
            "{r:#?}"
        );
    }

    /// The size limit and the rate limiter of a real receiver (`FARO_TIGHT_RECEIVER_URL`: 4096
    /// bytes, 1 request/s, burst 3): declared right they pass; declared as 1 MiB the size check
    /// fails (a 413 where 202 was promised).
    #[tokio::test]
    async fn a_real_receivers_size_limit_and_rate_limiter_are_checked() {
        let Ok(url) = std::env::var("FARO_TIGHT_RECEIVER_URL") else {
            telltale_testsupport::skip(
                "faro-to-loki against a receiver with tight limits (set FARO_TIGHT_RECEIVER_URL)",
            );
            return;
        };
        for (declared, passes) in [(4096, true), (1 << 20, false)] {
            let Some(mut ctx) = receiver_ctx(&url, 1, 30) else {
                return;
            };
            ctx.stack.alloy.faro_max_payload_bytes = Some(declared);
            ctx.stack.alloy.faro_rate_limit_burst = Some(3);
            // A full bucket: one item and two size probes fit in the burst of 3.
            tokio::time::sleep(Duration::from_secs(4)).await;
            let r = check(&ctx).await;
            let failed: Vec<&str> = r
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name.as_str())
                .collect();
            if passes {
                assert_eq!(r.status, crate::report::Status::Passed, "{r:#?}");
            } else {
                assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
                assert_eq!(
                    failed,
                    ["the receiver accepts a body of 1048576 bytes (limit 1048576)"],
                    "{r:#?}"
                );
            }
        }
    }
}
