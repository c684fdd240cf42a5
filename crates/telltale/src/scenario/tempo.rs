//! `otlp-traces-to-tempo`: tagged traces sent through the collector (or straight into Tempo's
//! own OTLP receiver) are read back from Tempo, every span accounted for, with its parent, its
//! attributes of every type, its events and its links as sent.
//!
//! The read-back relies on two Tempo APIs (`telltale_otlp::TempoClient`): a fetch of every sent
//! trace by id (alternating API v1 and v2, protobuf and JSON), repeated until each holds all its
//! spans, returns every span Tempo holds and when it became visible; then TraceQL search by the
//! run id (`{ span.telltale.run = "<run>" }`) proves the traces are findable as a user would find
//! them. Tempo 3.1's search sees a trace only once the live store has cut it (idle 5 s, then a
//! flush; about 40 s here), so one deadline covers both. Tempo combines the copies of a span by span id when it
//! answers, so a second copy of a span cannot be seen: the delivery says "visible".

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use telltale_otlp::{Batch, RunTag, Span, SpanId, Synth, TempoClient, TraceFormat, TraceId, Value};

use super::readback::CLOCK_SKEW;
use super::{Context, Name, Outcome, Stop};
use crate::accounting::{Ledger, Sighting};
use crate::report::Delivery;

/// The two services traces come from, alternately: a collector pipeline that drops one of
/// them shows as exactly that service's spans missing.
pub(crate) const SERVICES: [&str; 2] = ["telltale", "telltale-other"];
/// Child spans per trace (each trace has one root more).
const CHILDREN: usize = 3;

/// The checks a passing run must have recorded.
pub(crate) const FOUND_BY_SEARCH: &str = "every trace is found by TraceQL search on the run id";
pub(crate) const PARENTS_INTACT: &str = "every child span keeps its parent";
pub(crate) const CONTENT_INTACT: &str =
    "every span keeps its name, kind, times, attributes of every type, events and links";

/// `otlp-traces-to-tempo`.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let Some(cfg) = ctx.stack.tempo.as_ref() else {
        return Err(Stop::unavailable(
            "tempo",
            "the stack description has no [tempo] section",
            "add `[tempo] port = 3200` when the stack keeps traces in Tempo",
        ));
    };
    let url = cfg.base_url(&ctx.stack.host);
    let mut b = TempoClient::builder(&url).timeout(Duration::from_secs(30));
    if let Some(auth) = ctx.auth("tempo.auth", &cfg.auth)? {
        b = b.auth(auth);
    }
    let send_to = cfg
        .otlp_http_url
        .clone()
        .unwrap_or_else(|| ctx.alloy_url(ctx.stack.alloy.otlp_http_port));
    let mut s = telltale_otlp::Client::builder(&send_to)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5));
    if let Some(tenant) = &cfg.tenant {
        b = b.header("X-Scope-OrgID", tenant.clone());
        s = s.header("X-Scope-OrgID", tenant.clone());
    }
    let tempo = b.build().map_err(|e| Stop::from_error(&url, &e))?;
    let sink = s.build().map_err(|e| Stop::from_error(&send_to, &e))?;
    via(ctx, out, &sink, &tempo).await
}

/// What was sent for one span, to compare with what came back.
struct Sent {
    service: &'static str,
    span: Span,
}

/// Sends `ctx.options.items` traces to `sink` and reads them back from `tempo`.
pub(crate) async fn via(
    ctx: &Context,
    out: &mut Outcome,
    sink: &telltale_otlp::Client,
    tempo: &TempoClient,
) -> Result<(), Stop> {
    out.requires(&[FOUND_BY_SEARCH, PARENTS_INTACT, CONTENT_INTACT]);
    let run = ctx.run_id.as_str();
    let tag = RunTag::new(run);
    let traces = ctx.options.items.max(1) as usize;
    let mut synth = Synth::new(tag.clone(), SERVICES[0]);
    let mut sent: BTreeMap<u64, Sent> = BTreeMap::new();
    let mut trace_ids = Vec::with_capacity(traces);
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    let mut reports = Vec::new();
    let started_unix = unix_secs(SystemTime::now());
    for i in 0..traces {
        let service = SERVICES[i % 2];
        let mut batch: Batch<Span> = synth.rich_trace(CHILDREN);
        for resource in &mut batch.resources {
            resource.attributes = vec![("service.name".into(), Value::from(service))];
        }
        let sent_at = ctx.elapsed();
        for span in batch.items() {
            let seq = tag.seq_of(&span.attributes).expect("Synth tags every span");
            ledger.sent(seq, sent_at);
            sent.insert(
                seq,
                Sent {
                    service,
                    span: span.clone(),
                },
            );
        }
        trace_ids.push(batch.items().next().expect("a root").trace_id);
        reports.push(super::otlp::export(out, sink, "traces", &batch).await?);
    }
    super::otlp::no_rejections(out, "traces", &reports);
    out.evidence.record(
        "sent",
        json!({"traces": traces, "spans": sent.len(), "spans_per_trace": CHILDREN + 1,
               "services": SERVICES, "endpoint": sink.base_url(),
               "attributes": ["telltale.run", "telltale.seq", "telltale.string", "telltale.bool",
                              "telltale.int", "telltale.double", "telltale.bytes",
                              "telltale.array", "telltale.map"]}),
    );

    // Every sent trace by id until each holds all its spans: Tempo answers by id as soon as
    // the live store has the spans, so this is when a span became visible. The formats
    // alternate, so every API version and encoding is read.
    let formats = [
        (TraceFormat::Protobuf, false),
        (TraceFormat::Json, false),
        (TraceFormat::Protobuf, true),
        (TraceFormat::Json, true),
    ];
    let mut by_format: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_seen: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut last: BTreeMap<usize, Batch<Span>> = BTreeMap::new();
    let mut fetches = 0usize;
    let began = Instant::now();
    let mut progress = ctx.progress(Name::OtlpTracesToTempo, sent.len() as u64);
    loop {
        let mut complete = true;
        for (i, id) in trace_ids.iter().enumerate() {
            if last.get(&i).is_some_and(|b| b.len() > CHILDREN) {
                continue;
            }
            let (format, v2) = formats[fetches % formats.len()];
            fetches += 1;
            let got = tempo
                .trace(*id, format, v2)
                .await
                .map_err(|e| Stop::from_error(tempo.base_url(), &e))?;
            *by_format
                .entry(format!("{}{format:?}", if v2 { "v2 " } else { "v1 " }))
                .or_insert(0) += 1;
            let now = ctx.elapsed();
            let batch = got.unwrap_or(Batch {
                resources: Vec::new(),
            });
            for span in batch.items() {
                if let Some(seq) = tag.seq_of(&span.attributes) {
                    first_seen.entry(seq).or_insert(now);
                }
            }
            complete &= batch.len() > CHILDREN;
            last.insert(i, batch);
        }
        progress.update(first_seen.len() as u64);
        if complete || began.elapsed() >= ctx.options.deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(progress);

    // Then TraceQL search by the run id, as a user would look: Tempo's search sees a trace
    // only once its live store has cut it (idle 5 s, then a flush), tens of seconds later.
    let traceql = format!("{{ span.telltale.run = \"{run}\" }}");
    let mut found: HashSet<TraceId> = HashSet::new();
    let mut searches = 0;
    let search_began = Instant::now();
    loop {
        let now = unix_secs(SystemTime::now() + CLOCK_SKEW);
        let range = (started_unix.saturating_sub(CLOCK_SKEW.as_secs()), now + 1);
        let result = tempo
            .search(&traceql, Some(range), (2 * traces + 10) as u32, 1)
            .await
            .map_err(|e| Stop::from_error(tempo.base_url(), &e))?;
        searches += 1;
        found.extend(result.traces.iter().map(|t| t.trace_id));
        // One deadline for both read-backs, from the first poll.
        if trace_ids.iter().all(|t| found.contains(t)) || began.elapsed() >= ctx.options.deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let search_secs = search_began.elapsed().as_secs_f64();
    let unfound: Vec<String> = trace_ids
        .iter()
        .filter(|t| !found.contains(t))
        .map(ToString::to_string)
        .collect();
    out.check(
        FOUND_BY_SEARCH,
        unfound.is_empty(),
        format!("{traces} traces for {traceql}"),
        if unfound.is_empty() {
            format!("{traces} found in {searches} searches")
        } else {
            format!(
                "{} of {traces} not found, e.g. {}",
                unfound.len(),
                unfound[..unfound.len().min(3)].join(", ")
            )
        },
    );
    let foreign = found.iter().filter(|t| !trace_ids.contains(t)).count();

    // The last answer for each trace is what Tempo holds: account for it, first seen when the
    // polls first saw each span.
    let mut sightings = Vec::new();
    let mut wrong_parent = Vec::new();
    let mut wrong_content = Vec::new();
    let mut unexpected_spans = 0u64;
    for batch in last.values() {
        for (resource, span) in batch.items_with_resource() {
            let Some(seq) = tag.seq_of(&span.attributes) else {
                unexpected_spans += 1;
                continue;
            };
            let seen_at = first_seen
                .get(&seq)
                .copied()
                .unwrap_or_else(|| ctx.elapsed());
            sightings.push(Sighting { seq, seen_at });
            let Some(want) = sent.get(&seq) else {
                continue;
            };
            if span.parent_span_id != want.span.parent_span_id {
                wrong_parent.push(format!(
                    "seq {seq}: parent {} instead of {}",
                    show(span.parent_span_id),
                    show(want.span.parent_span_id)
                ));
            }
            if let Some(diff) = differs(want, resource, span) {
                wrong_content.push(format!("seq {seq}: {diff}"));
            }
        }
    }
    ledger.observe(sightings);
    let sample = |v: &[String]| v.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    out.check(
        PARENTS_INTACT,
        wrong_parent.is_empty(),
        "each child's parent span id = its root's",
        if wrong_parent.is_empty() {
            "all intact".to_owned()
        } else {
            format!("{} wrong: {}", wrong_parent.len(), sample(&wrong_parent))
        },
    );
    out.check(
        CONTENT_INTACT,
        wrong_content.is_empty(),
        "every span read back equal to the one sent",
        if wrong_content.is_empty() {
            "all equal".to_owned()
        } else {
            format!("{} differ: {}", wrong_content.len(), sample(&wrong_content))
        },
    );
    out.evidence.record(
        "seen",
        json!({"traceql": traceql, "searches": searches, "search_seconds": search_secs,
               "traces_found": found.len(), "traces_found_of_other_runs": foreign,
               "fetches_by_id": fetches, "fetched_by": by_format,
               "untagged_spans": unexpected_spans, "tempo": tempo.base_url()}),
    );
    out.delivery(
        Delivery::from_summary(
            format!("otlp traces services={}", SERVICES.join(",")),
            &ledger.summary(),
        )
        .duplicates_unobservable(),
    );
    Ok(())
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn show(id: Option<SpanId>) -> String {
    id.map_or_else(|| "none".to_owned(), |i| i.to_string())
}

/// Attributes as a sorted list: stores need not keep their order.
fn sorted(attrs: &[(String, Value)]) -> Vec<String> {
    let mut v: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    v.sort();
    v
}

/// How a span read back differs from the one sent, if it does.
fn differs(want: &Sent, resource: &[(String, Value)], got: &Span) -> Option<String> {
    let w = &want.span;
    let service = telltale_otlp::attribute(resource, "service.name").and_then(Value::as_str);
    if service != Some(want.service) {
        return Some(format!(
            "service.name {service:?} instead of {:?}",
            want.service
        ));
    }
    if (got.trace_id, got.span_id) != (w.trace_id, w.span_id) {
        return Some(format!(
            "ids {}/{} instead of {}/{}",
            got.trace_id, got.span_id, w.trace_id, w.span_id
        ));
    }
    if (&got.name, got.kind) != (&w.name, w.kind) {
        return Some(format!(
            "name/kind {:?}/{:?} instead of {:?}/{:?}",
            got.name, got.kind, w.name, w.kind
        ));
    }
    if (got.start_time_unix_nano, got.end_time_unix_nano)
        != (w.start_time_unix_nano, w.end_time_unix_nano)
    {
        return Some("start or end time changed".to_owned());
    }
    if got.status != w.status {
        return Some(format!("status {:?} instead of {:?}", got.status, w.status));
    }
    let (ga, wa) = (sorted(&got.attributes), sorted(&w.attributes));
    if ga != wa {
        let lost: Vec<&String> = wa.iter().filter(|a| !ga.contains(a)).collect();
        let new: Vec<&String> = ga.iter().filter(|a| !wa.contains(a)).collect();
        return Some(format!("attributes: sent {lost:?}, read back {new:?}"));
    }
    let events = |s: &Span| {
        s.events
            .iter()
            .map(|e| (e.name.clone(), e.time_unix_nano, sorted(&e.attributes)))
            .collect::<Vec<_>>()
    };
    if events(got) != events(w) {
        return Some(format!(
            "events {:?} instead of {:?}",
            events(got),
            events(w)
        ));
    }
    let links = |s: &Span| {
        s.links
            .iter()
            .map(|l| (l.trace_id, l.span_id, sorted(&l.attributes)))
            .collect::<Vec<_>>()
    };
    if links(got) != links(w) {
        return Some(format!("links {:?} instead of {:?}", links(got), links(w)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ScenarioReport, Status};
    use telltale_testsupport::{find_binary, free_port, skip, Proc, TempDir};

    /// The real Tempo named by `TEMPO_URL` (query API) and `TEMPO_OTLP_HTTP_URL` (its own OTLP/HTTP
    /// receiver).
    fn tempo_urls(what: &str) -> Option<(String, String)> {
        match (
            std::env::var("TEMPO_URL").ok(),
            std::env::var("TEMPO_OTLP_HTTP_URL").ok(),
        ) {
            (Some(api), Some(otlp)) => Some((api, otlp)),
            _ => {
                skip(&format!(
                    "otlp-traces-to-tempo {what} (set TEMPO_URL and TEMPO_OTLP_HTTP_URL)"
                ));
                None
            }
        }
    }

    async fn into(api: &str, otlp: &str, traces: u32) -> ScenarioReport {
        let mut stack = crate::stack::Stack::default();
        stack.tempo = Some(crate::stack::Tempo {
            url: Some(api.to_owned()),
            otlp_http_url: Some(otlp.to_owned()),
            ..Default::default()
        });
        let ctx = Context::new(
            stack,
            super::super::Options {
                items: traces,
                deadline: Duration::from_secs(75),
                settle: Duration::ZERO,
                progress: false,
                ..Default::default()
            },
        );
        let mut out = Outcome::default();
        let end = run(&ctx, &mut out).await;
        out.finish(Name::OtlpTracesToTempo, Duration::ZERO, end)
    }

    #[tokio::test]
    async fn traces_sent_to_tempos_receiver_are_read_back_whole() {
        let Some((api, otlp)) = tempo_urls("straight into Tempo") else {
            return;
        };
        let r = into(&api, &otlp, 6).await;
        assert_eq!(r.status, Status::Passed, "{r:#?}");
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.delivered), (24, 24), "{d:?}");
        assert!(r.summary.contains("visible"), "{}", r.summary);
        let evidence = serde_json::to_value(&r.evidence).unwrap();
        // Every API version and format was used to read back.
        assert_eq!(
            evidence["seen"]["fetched_by"].as_object().unwrap().len(),
            4,
            "{evidence:#}"
        );
    }

    #[tokio::test]
    async fn a_tempo_with_nothing_sent_to_it_fails_search_and_delivery() {
        let Some((api, _)) = tempo_urls("spans sent nowhere") else {
            return;
        };
        // A real OTLP receiver that keeps nothing: the shared Agent drops traces (its pipeline
        // has no trace exporter), so Tempo never sees them.
        let Ok(agent) = std::env::var("OTLP_HTTP_URL") else {
            skip("otlp-traces-to-tempo through a trace-dropping collector (set OTLP_HTTP_URL)");
            return;
        };
        let r = into(&api, &agent, 2).await;
        assert_eq!(r.status, Status::Failed, "{r:#?}");
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, [FOUND_BY_SEARCH], "{r:#?}");
        let d = &r.delivery[0];
        assert_eq!((d.sent, d.missing, d.delivered), (8, 8, 0), "{d:?}");
    }

    /// A Grafana Agent (flow mode, `AGENT_FLOW_BIN`) started for one test, receiving OTLP/HTTP and
    /// exporting traces to Tempo's receiver, with `processors` (River) in between.
    struct Agent {
        url: String,
        proc: Proc,
        _dir: TempDir,
    }

    async fn agent(what: &str, tempo_otlp: &str, keep_only: Option<&str>) -> Option<Agent> {
        let Some(bin) = find_binary("AGENT_FLOW_BIN", Some("grafana-agent-flow")) else {
            skip(&format!("otlp-traces-to-tempo {what} (set AGENT_FLOW_BIN)"));
            return None;
        };
        let dir = TempDir::new("tempo-agent");
        let (admin, otlp) = (free_port(), free_port());
        let next = if keep_only.is_some() {
            "otelcol.processor.tail_sampling.keep.input"
        } else {
            "otelcol.exporter.otlphttp.tempo.input"
        };
        let sampling = keep_only.map_or(String::new(), |service| {
            format!(
                r#"otelcol.processor.tail_sampling "keep" {{
  decision_wait = "1s"
  policy {{
    name = "one-service"
    type = "string_attribute"
    string_attribute {{
      key    = "service.name"
      values = ["{service}"]
    }}
  }}
  output {{ traces = [otelcol.exporter.otlphttp.tempo.input] }}
}}
"#
            )
        });
        let config = format!(
            r#"otelcol.receiver.otlp "in" {{
  http {{ endpoint = "127.0.0.1:{otlp}" }}
  output {{ traces = [{next}] }}
}}
{sampling}otelcol.exporter.otlphttp "tempo" {{
  client {{
    endpoint = "{tempo_otlp}"
    tls {{ insecure = true }}
  }}
}}
"#
        );
        let file = dir.0.join("config.river");
        std::fs::write(&file, config).unwrap();
        let args = vec![
            "run".to_owned(),
            "--disable-reporting".to_owned(),
            format!("--server.http.listen-addr=127.0.0.1:{admin}"),
            format!("--storage.path={}", dir.0.join("data").display()),
            file.display().to_string(),
        ];
        let proc = Proc::spawn(&bin, &args, dir.0.join("agent.log"));
        let ready = format!("http://127.0.0.1:{admin}");
        let up = telltale_testsupport::eventually(Duration::from_secs(30), || {
            let ready = ready.clone();
            async move {
                let http = telltale_http::HttpConfig::new(ready.as_str(), "t")
                    .build()
                    .ok()?;
                let a = http
                    .exchange(telltale_http::Method::Get, "/-/ready", &[], None, &[])
                    .await
                    .ok()?;
                a.is_success().then_some(())
            }
        })
        .await;
        assert!(up.is_some(), "the agent did not start:\n{}", proc.tail());
        Some(Agent {
            url: format!("http://127.0.0.1:{otlp}"),
            proc,
            _dir: dir,
        })
    }

    #[tokio::test]
    async fn traces_through_a_collector_reach_tempo() {
        let Some((api, otlp)) = tempo_urls("through a collector") else {
            return;
        };
        let Some(agent) = agent("through a collector", &otlp, None).await else {
            return;
        };
        let r = into(&api, &agent.url, 4).await;
        assert_eq!(r.status, Status::Passed, "{r:#?}\n{}", agent.proc.tail());
        assert_eq!(r.delivery[0].delivered, 16, "{:?}", r.delivery[0]);
    }

    #[tokio::test]
    async fn a_collector_that_drops_one_service_fails_naming_the_search_and_the_missing_spans() {
        let Some((api, otlp)) = tempo_urls("through a collector dropping a service") else {
            return;
        };
        let Some(agent) = agent(
            "through a collector dropping a service",
            &otlp,
            Some(SERVICES[0]),
        )
        .await
        else {
            return;
        };
        let r = into(&api, &agent.url, 4).await;
        assert_eq!(r.status, Status::Failed, "{r:#?}\n{}", agent.proc.tail());
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(failed, [FOUND_BY_SEARCH], "{r:#?}");
        let d = &r.delivery[0];
        // Traces 1 and 3 (of 0..4) come from the dropped service: 2 × 4 spans.
        assert_eq!((d.sent, d.delivered, d.missing), (16, 8, 8), "{d:?}");
    }

    #[test]
    fn a_changed_attribute_is_named() {
        let mut synth = Synth::new(RunTag::new("r"), SERVICES[0]);
        let batch = synth.rich_trace(1);
        let span = batch.items().nth(1).unwrap().clone();
        let want = Sent {
            service: SERVICES[0],
            span: span.clone(),
        };
        let resource = vec![("service.name".to_owned(), Value::from(SERVICES[0]))];
        assert_eq!(differs(&want, &resource, &span), None);
        let mut got = span.clone();
        got.attributes.retain(|(k, _)| k != "telltale.map");
        got.attributes
            .push(("telltale.map".into(), Value::from("{\"seq\":1}")));
        let diff = differs(&want, &resource, &got).unwrap();
        assert!(
            diff.starts_with("attributes: sent [\"telltale.map=Map"),
            "{diff}"
        );
        let mut got = span.clone();
        got.links.clear();
        assert!(differs(&want, &resource, &got)
            .unwrap()
            .starts_with("links"));
        let other = vec![("service.name".to_owned(), Value::from("x"))];
        assert!(differs(&want, &other, &span)
            .unwrap()
            .starts_with("service.name"));
    }
}
