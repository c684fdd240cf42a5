//! `sentry-to-glitchtip`: for every GlitchTip project of the stack, N events sent through each
//! ingest path an app uses — the `sentry` SDK, a raw envelope, the legacy store endpoint — are
//! read back through GlitchTip's API.
//!
//! GlitchTip answers 200 before it stores anything (ingest is queued), so a 200 proves nothing:
//! `telltale_glitchtip::DeliveryCheck` tags every event `run`/`seq`, then polls the issues of
//! the run and their events until each event id is there or the deadline passes. The DSN is the
//! one the deployment hands out — the project's first key, read through the API with the
//! stack's token — so the check sends where the apps send.

use std::time::{Duration, SystemTime};

use serde_json::json;
use telltale_glitchtip::{DeliveryCheck, DeliveryReport, Dsn, IngestPath};

use super::{Context, Outcome, Stop};
use crate::accounting::{Ledger, Sighting};
use crate::report::Delivery;

const PATHS: [IngestPath; 3] = [IngestPath::Sdk, IngestPath::Envelope, IngestPath::Store];

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let client = ctx.glitchtip()?;
    let url = ctx.glitchtip_url();
    let org = &ctx.stack.glitchtip.organization;
    let projects = &ctx.stack.glitchtip.projects;
    if projects.is_empty() {
        return Err(Stop::error(
            "glitchtip.projects",
            "the stack description lists no GlitchTip projects",
            "add `projects = [\"be-platform\", \"be-pwa\"]` under `[glitchtip]`",
        ));
    }
    let n = ctx.options.items;

    // Every project × path runs at once: each mostly waits for GlitchTip's worker.
    let mut running = Vec::new();
    for project in projects {
        let endpoint = format!(
            "{}/api/0/projects/{org}/{project}/keys/",
            url.trim_end_matches('/')
        );
        let keys = client
            .keys(org, project)
            .await
            .map_err(|e| Stop::from_error(&endpoint, &e))?;
        let Some(key) = keys.first() else {
            out.check(
                format!("{project}: has a DSN"),
                false,
                "at least one client key",
                "none",
            );
            continue;
        };
        let dsn = key.dsn().clone();
        out.evidence.push(
            "projects",
            json!({"project": project, "project_id": dsn.project_id(), "dsn": dsn.to_string(), "keys_endpoint": endpoint}),
        );
        for path in PATHS {
            let check = delivery_check(ctx, org, dsn.clone(), path, n);
            let (client, wall, at) = (client.clone(), SystemTime::now(), ctx.elapsed());
            let task = tokio::spawn(async move { check.run_with(&client).await });
            running.push((project.clone(), dsn.clone(), wall, at, task));
        }
    }

    for (project, dsn, wall, at, task) in running {
        let issues_endpoint = format!(
            "{}/api/0/organizations/{org}/issues/",
            url.trim_end_matches('/')
        );
        let report = task
            .await
            .map_err(|e| Stop::error(&issues_endpoint, e.to_string(), "a telltale bug"))?
            .map_err(|e| Stop::from_error(&issues_endpoint, &e))?;
        account(
            ctx,
            out,
            &project,
            &dsn,
            &report,
            wall,
            at,
            &issues_endpoint,
        );
    }
    Ok(())
}

/// The check for one project and path; its run id names the harness run and the path, so each
/// path's events form their own issue.
fn delivery_check(ctx: &Context, org: &str, dsn: Dsn, path: IngestPath, n: u32) -> DeliveryCheck {
    DeliveryCheck::new(org, dsn, path, n)
        .run_id(run_tag(&ctx.run_id, path))
        .deadline(ctx.options.deadline)
        .poll_interval(Duration::from_millis(500))
}

fn run_tag(run: &str, path: IngestPath) -> String {
    format!("{run}-{}", path.as_str())
}

/// Turns one check's report into checks, evidence and a ledger.
///
/// `wall`/`at` are the same instant on the wall clock and on the run's clock, so each event's
/// send time maps onto the ledger's clock. GlitchTip promises no order between events, so they
/// are observed in sequence order: the ledger judges loss and latency here, not order.
#[allow(clippy::too_many_arguments)]
fn account(
    ctx: &Context,
    out: &mut Outcome,
    project: &str,
    dsn: &Dsn,
    report: &DeliveryReport,
    wall: SystemTime,
    at: Duration,
    issues_endpoint: &str,
) {
    let path = report.path.as_str();
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    let mut sightings = Vec::new();
    for e in &report.events {
        let sent = at + e.sent_at.duration_since(wall).unwrap_or_default();
        ledger.sent(u64::from(e.seq), sent);
        if let Some(latency) = e.latency {
            sightings.push(Sighting {
                seq: u64::from(e.seq),
                seen_at: sent + latency,
            });
        }
    }
    ledger.observe(sightings);

    let refused: Vec<&str> = report
        .events
        .iter()
        .filter_map(|e| e.send_error.as_deref())
        .collect();
    out.check(
        format!("{project} via {path}: ingest accepts every event"),
        refused.is_empty(),
        format!("{} accepted", report.events.len()),
        match refused.first() {
            None => format!("{} accepted", report.events.len()),
            Some(first) => format!("{} refused, first: {first}", refused.len()),
        },
    );
    if let Some(flushed) = report.sdk_flushed {
        out.check(
            format!("{project} via sdk: the SDK flushed"),
            flushed,
            true,
            flushed,
        );
    }
    out.evidence.push(
        "deliveries",
        json!({
            "project": project,
            "path": path,
            "ingest": match report.path {
                IngestPath::Store => dsn.store_url(),
                _ => dsn.envelope_url(),
            },
            "sent": report.events.len(),
            "sample_event_id": report.events.first().map(|e| e.event_id.clone()),
            "tags": {"run": report.run_id, "seq": "0..n", "path": path},
            "query": {"endpoint": issues_endpoint, "query": format!("run:{}", report.run_id), "project": dsn.project_id()},
            "polls": report.polls,
            "visible": report.events.iter().filter(|e| e.is_visible()).count(),
            "issues": report.issue_ids(),
            "missing": report.missing_tags().into_iter().take(10).collect::<Vec<_>>(),
            "summary": report.to_string(),
        }),
    );
    out.delivery(Delivery::from_summary(
        format!("sentry {project} via {path}"),
        &ledger.summary(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Options;
    use crate::stack::Stack;

    #[test]
    fn each_path_gets_its_own_run_tag_and_the_scenarios_deadline() {
        let ctx = Context::new(
            Stack::default(),
            Options {
                items: 3,
                deadline: Duration::from_secs(7),
                ..Options::default()
            },
        );
        let dsn = Dsn::parse("http://0123456789abcdef0123456789abcdef@127.0.0.1:1/3").unwrap();
        let tags: Vec<String> = PATHS.iter().map(|&p| run_tag(&ctx.run_id, p)).collect();
        assert_eq!(tags[0], format!("{}-sdk", ctx.run_id));
        assert_eq!(tags[2], format!("{}-store", ctx.run_id));
        let check = delivery_check(&ctx, "meridian", dsn, IngestPath::Envelope, 3);
        assert_eq!(check.run(), format!("{}-envelope", ctx.run_id));
        let events = check.events();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].tags()["run"], format!("{}-envelope", ctx.run_id));
    }
}
