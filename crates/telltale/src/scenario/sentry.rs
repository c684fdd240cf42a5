//! `sentry-to-glitchtip`: N events sent through each ingest path an app uses — the `sentry`
//! SDK, a raw envelope, the legacy store endpoint — are read back through GlitchTip's API, and
//! every app project is checked to exist and to hand out a DSN that is one of its keys.
//!
//! GlitchTip answers 200 before it stores anything (ingest is queued), so a 200 proves nothing
//! and is evidence, not a check; only a refusal is a (failed) check. `DeliveryCheck` tags every
//! event `run`/`seq`, polls the run's issues until each event id is there or the deadline
//! passes, then waits `--settle` and counts the stored copies of each `seq`, so a
//! duplicate is seen (GlitchTip folds an envelope resent with the same event id into one, but
//! stores a store-endpoint resend, or a resend with a new id, twice).
//!
//! Leaving no mess: every event carries `environment = [glitchtip] environment`; with
//! `[glitchtip] canary_project` the events go only there and the app projects are only
//! checked; afterwards the issues the run created are resolved (or deleted, or kept, per
//! `[glitchtip] cleanup`), and a failure to clean up is a warning in the evidence, never a
//! verdict on delivery.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde_json::json;
use telltale_glitchtip::{DeliveryCheck, DeliveryReport, Dsn, IngestPath};

use super::{Context, Outcome, Stop};
use crate::accounting::{Ledger, Sighting};
use crate::report::Delivery;
use crate::stack::Cleanup;

const PATHS: [IngestPath; 3] = [IngestPath::Sdk, IngestPath::Envelope, IngestPath::Store];

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let gt = &ctx.stack.glitchtip;
    let client = ctx.glitchtip()?;
    let url = ctx.glitchtip_url();
    let org = &gt.organization;
    if gt.projects.is_empty() && gt.canary_project.is_none() {
        return Err(Stop::error(
            "glitchtip.projects",
            "the stack description lists no GlitchTip projects",
            "add `projects = [\"be-platform\", \"be-pwa\"]` under `[glitchtip]`",
        ));
    }
    scopes(ctx, out, &client).await?;
    let n = ctx.options.items;
    let targets = gt.delivery_projects();
    out.evidence.record(
        "leave_no_mess",
        json!({
            "environment": gt.environment,
            "canary_project": gt.canary_project,
            "sent_to": targets,
            "cleanup": gt.cleanup.as_str(),
        }),
    );

    // Every project the apps use, and the canary: it exists and hands out a working key.
    let mut checked: Vec<&String> = gt.projects.iter().collect();
    checked.extend(
        gt.canary_project
            .iter()
            .filter(|c| !gt.projects.contains(c)),
    );
    let mut running = Vec::new();
    for project in checked {
        let Some(dsn) = project_dsn(ctx, out, &client, project).await? else {
            continue;
        };
        if !targets.contains(project) {
            continue;
        }
        for path in PATHS {
            let check = delivery_check(ctx, org, dsn.clone(), path, n);
            let (client, wall, at) = (client.clone(), SystemTime::now(), ctx.elapsed());
            let task = tokio::spawn(async move { check.run_with(&client).await });
            running.push((project.clone(), dsn.clone(), wall, at, task));
        }
    }

    // Every check is accounted for, and every issue found cleaned up, before a stop is
    // returned: one failed read-back must not leave the others' issues behind.
    let issues_endpoint = format!(
        "{}/api/0/organizations/{org}/issues/",
        url.trim_end_matches('/')
    );
    let mut stop = None;
    let mut issues = BTreeSet::new();
    for (project, dsn, wall, at, task) in running {
        let report = match task.await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                stop.get_or_insert(Stop::from_error(&issues_endpoint, &e));
                continue;
            }
            Err(e) => {
                stop.get_or_insert(Stop::error(
                    &issues_endpoint,
                    e.to_string(),
                    "a telltale bug",
                ));
                continue;
            }
        };
        issues.extend(report.issues.iter().copied());
        if let Some(unanswered) = account(ctx, out, &project, &dsn, &report, wall, at) {
            stop.get_or_insert(unanswered);
        }
    }
    clean_up(ctx, out, &client, &issues).await;
    match stop {
        Some(stop) => Err(stop),
        None => Ok(()),
    }
}

/// Refuses, before anything is sent, a token that cannot read back what the scenario sends
/// (events sent and then unreadable would stay behind, unresolved); warns when it cannot clean
/// up. `GET /api/0/` names the token's scopes; a server that cannot answer it (GlitchTip 5
/// answers 500 for some users) skips this, and the reads themselves decide.
async fn scopes(
    ctx: &Context,
    out: &mut Outcome,
    client: &telltale_glitchtip::Client,
) -> Result<(), Stop> {
    let endpoint = format!("{}/api/0/", ctx.glitchtip_url().trim_end_matches('/'));
    let root = match client.whoami().await {
        Ok(root) => root,
        Err(e) if e.api().is_some_and(|api| api.status() >= 500) => {
            out.evidence
                .record("token_scopes", format!("not known: {}", super::chain(&e)));
            return Ok(());
        }
        Err(e) => return Err(Stop::from_error(&endpoint, &e)),
    };
    let Some(token) = root.auth else {
        return Err(Stop::error(
            &endpoint,
            "GlitchTip did not accept the API token (GET /api/0/ names no token)",
            "point `[glitchtip] auth` at a valid API token",
        ));
    };
    out.evidence.record("token_scopes", &token.scopes);
    let any = |kind: &str, levels: &[&str]| {
        levels
            .iter()
            .any(|l| token.has_scope(&format!("{kind}:{l}")))
    };
    let mut lacking = Vec::new();
    if !any("project", &["read", "write", "admin"]) {
        lacking.push("project:read (to read each project's keys)");
    }
    if !any("event", &["read", "write", "admin"]) {
        lacking.push("event:read (to read the events back)");
    }
    if !lacking.is_empty() {
        return Err(Stop::error(
            &endpoint,
            format!(
                "the API token lacks {}; nothing was sent",
                lacking.join(" and ")
            ),
            "give the token those scopes (Profile → Auth Tokens), or point `[glitchtip] auth` at one that has them",
        ));
    }
    if ctx.stack.glitchtip.cleanup != Cleanup::Keep && !any("event", &["write", "admin"]) {
        out.evidence.push(
            "warnings",
            format!(
                "the API token lacks event:write, so the issues this run creates cannot be {}d; give it event:write, or set `[glitchtip] cleanup = \"keep\"`",
                ctx.stack.glitchtip.cleanup.as_str()
            ),
        );
    }
    Ok(())
}

/// The DSN to send to `project` with, after checking the project: it exists, it has a key,
/// and the DSN the deployment hands its app (when `[glitchtip.dsns]` names it) is one of its
/// keys. `None` when there is nothing to send with; the failed check says why.
async fn project_dsn(
    ctx: &Context,
    out: &mut Outcome,
    client: &telltale_glitchtip::Client,
    project: &str,
) -> Result<Option<Dsn>, Stop> {
    let gt = &ctx.stack.glitchtip;
    let org = &gt.organization;
    let endpoint = format!(
        "{}/api/0/projects/{org}/{project}/keys/",
        ctx.glitchtip_url().trim_end_matches('/')
    );
    let missing = |out: &mut Outcome, from: &str| {
        out.check(
            format!("{project}: exists in GlitchTip"),
            false,
            format!("project {org}/{project}"),
            format!("404 from {from}"),
        );
    };
    let keys = match client.keys(org, project).await {
        Ok(keys) => keys,
        Err(e) if e.api().is_some_and(|api| api.status() == 404) => {
            missing(out, &endpoint);
            return Ok(None);
        }
        Err(e) => return Err(Stop::from_error(&endpoint, &e)),
    };
    if keys.is_empty() {
        // GlitchTip lists the keys of a project it does not have as `[]`: ask for the project.
        let project_endpoint = endpoint.trim_end_matches("keys/").to_owned();
        match client.project(org, project).await {
            Ok(_) => {}
            Err(e) if e.api().is_some_and(|api| api.status() == 404) => {
                missing(out, &project_endpoint);
                return Ok(None);
            }
            Err(e) => return Err(Stop::from_error(&project_endpoint, &e)),
        }
    }
    out.check(
        format!("{project}: has a DSN"),
        !keys.is_empty(),
        "at least one client key",
        format!("{} keys", keys.len()),
    );
    let declared = match gt.dsns.get(project) {
        Some(cred) => {
            let what = format!("glitchtip.dsns.{project}");
            let text = super::read_secret_text(&what, cred)?;
            let dsn = Dsn::parse(&text).map_err(|e| {
                Stop::error(
                    &what,
                    super::chain(&e),
                    "point it at the DSN the deployment hands to the app",
                )
            })?;
            let live = keys.iter().any(|k| k.dsn().same_key_and_project(&dsn));
            out.check(
                format!("{project}: the DSN handed to the app is one of its keys"),
                live,
                format!(
                    "a key of project {}",
                    keys.first().map_or(0, |k| k.project_id())
                ),
                if live {
                    format!("a key of project {}", dsn.project_id())
                } else {
                    format!(
                        "no key of the project matches (the DSN names project {})",
                        dsn.project_id()
                    )
                },
            );
            Some(dsn)
        }
        None => None,
    };
    let dsn = declared.or_else(|| keys.first().map(|k| k.dsn().clone()));
    if let Some(dsn) = &dsn {
        out.evidence.push(
            "projects",
            json!({
                "project": project,
                "project_id": dsn.project_id(),
                "dsn": dsn.to_string(),
                "dsn_from": if gt.dsns.contains_key(project) { "glitchtip.dsns" } else { "the project's first key" },
                "keys_endpoint": endpoint,
            }),
        );
    }
    Ok(dsn)
}

/// The check for one project and path; its run id names the harness run and the path, so each
/// path's events form their own issue.
fn delivery_check(ctx: &Context, org: &str, dsn: Dsn, path: IngestPath, n: u32) -> DeliveryCheck {
    DeliveryCheck::new(org, dsn, path, n)
        .run_id(run_tag(&ctx.run_id, path))
        .deadline(ctx.options.deadline)
        .poll_interval(Duration::from_millis(500))
        .environment(&ctx.stack.glitchtip.environment)
        // `--settle`: long enough for a retry by the SDK or a proxy to land.
        .settle(ctx.options.settle)
}

fn run_tag(run: &str, path: IngestPath) -> String {
    format!("{run}-{}", path.as_str())
}

/// Turns one check's report into checks, evidence and a ledger; returns a stop when events got
/// no answer from ingest at all (they are left out of the ledger: nothing reached GlitchTip).
///
/// `wall`/`at` are the same instant on the wall clock and on the run's clock, so each event's
/// send time maps onto the ledger's clock. GlitchTip promises no order between events, so they
/// are observed in sequence order: the ledger judges loss, copies and latency here, not order.
fn account(
    ctx: &Context,
    out: &mut Outcome,
    project: &str,
    dsn: &Dsn,
    report: &DeliveryReport,
    wall: SystemTime,
    at: Duration,
) -> Option<Stop> {
    let path = report.path.as_str();
    let ingest = match report.path {
        IngestPath::Store => dsn.store_url(),
        _ => dsn.envelope_url(),
    };
    let ledger = ledger(ctx, report, wall, at);

    let refused: Vec<&str> = report
        .events
        .iter()
        .filter(|e| !e.send_unanswered)
        .filter_map(|e| e.send_error.as_deref())
        .collect();
    // An accepted send is what every later check stands on, not a check of its own; a refusal
    // is the stack answering wrongly, and names the path it happened on.
    if let Some(first) = refused.first() {
        out.check(
            format!("{project} via {path}: ingest accepts every event"),
            false,
            format!("{} accepted", report.events.len()),
            format!("{} refused, first: {first}", refused.len()),
        );
    }
    let unanswered: Vec<&str> = report
        .events
        .iter()
        .filter(|e| e.send_unanswered)
        .filter_map(|e| e.send_error.as_deref())
        .collect();
    let duplicated: Vec<String> = report
        .duplicated()
        .iter()
        .map(|e| format!("seq={}×{}", e.seq, e.copies))
        .collect();
    out.evidence.push(
        "deliveries",
        json!({
            "project": project,
            "path": path,
            "ingest": ingest,
            "environment": ctx.stack.glitchtip.environment,
            "sent": report.events.len() - unanswered.len(),
            "accepted": report.events.iter().filter(|e| e.send_error.is_none()).count(),
            "unanswered": unanswered.len(),
            "sdk_flushed": report.sdk_flushed,
            "sample_event_id": report.events.first().map(|e| e.event_id.clone()),
            "tags": {"run": report.run_id, "seq": "0..n", "path": path},
            "query": {"endpoint": format!("{}/api/0/organizations/{}/issues/", ctx.glitchtip_url().trim_end_matches('/'), ctx.stack.glitchtip.organization), "query": format!("run:{}", report.run_id), "project": dsn.project_id()},
            "polls": report.polls,
            "visible": report.events.iter().filter(|e| e.is_visible()).count(),
            "copies_counted_after_settle_ms": report.copies_counted.then_some(ctx.options.settle.as_millis() as u64),
            "duplicated": duplicated,
            "unexpected_seqs": report.unexpected,
            "issues": report.issues,
            "missing": report.missing_tags().into_iter().take(10).collect::<Vec<_>>(),
            "summary": report.to_string(),
        }),
    );
    let mut delivery =
        Delivery::from_summary(format!("sentry {project} via {path}"), &ledger.summary());
    if !report.copies_counted {
        delivery = delivery.duplicates_unobservable();
    }
    out.delivery(delivery);
    unanswered.first().map(|first| {
        Stop::unavailable(
            &ingest,
            format!(
                "{} of {} events via {path} got no answer from ingest: {first}",
                unanswered.len(),
                report.events.len()
            ),
            "check that this machine reaches the host in the project's DSN (GlitchTip hands out DSNs with its own GLITCHTIP_DOMAIN)",
        )
    })
}

/// The ledger of one report: every event that reached ingest is sent; each stored copy the
/// final count found is a sighting (one when copies were not counted).
fn ledger(ctx: &Context, report: &DeliveryReport, wall: SystemTime, at: Duration) -> Ledger {
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    let mut sightings = Vec::new();
    let mut last_seen = at;
    for e in report.events.iter().filter(|e| !e.send_unanswered) {
        let sent = at + e.sent_at.duration_since(wall).unwrap_or_default();
        ledger.sent(u64::from(e.seq), sent);
        if let Some(latency) = e.latency {
            let seen_at = sent + latency;
            last_seen = last_seen.max(seen_at);
            let copies = if report.copies_counted {
                e.copies.max(1)
            } else {
                1
            };
            for _ in 0..copies {
                sightings.push(Sighting {
                    seq: u64::from(e.seq),
                    seen_at,
                });
            }
        }
    }
    sightings.extend(report.unexpected.iter().map(|&seq| Sighting {
        seq: u64::from(seq),
        seen_at: last_seen,
    }));
    ledger.observe(sightings);
    ledger
}

/// Resolves, deletes or keeps the issues the run created, as `[glitchtip] cleanup` says, and
/// records what happened. A failure is a warning: delivery was already judged.
async fn clean_up(
    ctx: &Context,
    out: &mut Outcome,
    client: &telltale_glitchtip::Client,
    issues: &BTreeSet<u64>,
) {
    let action = ctx.stack.glitchtip.cleanup;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for &id in issues {
        let result = match action {
            Cleanup::Keep => continue,
            Cleanup::Resolve => client.resolve_issue(id).await.map(|_| ()),
            Cleanup::Delete => client.delete_issue(id).await,
        };
        match result {
            Ok(()) => done.push(id),
            Err(e) => failed.push(json!({ "issue": id, "error": super::chain(&e) })),
        }
    }
    out.evidence.record(
        "cleanup",
        json!({
            "action": action.as_str(),
            "issues": issues,
            "done": done,
            "failed": failed,
        }),
    );
    if !failed.is_empty() {
        out.evidence.push(
            "warnings",
            format!(
                "could not {} {} of {} issues this run created (first: {}); give the API token event:write, or clean them up by hand",
                action.as_str(),
                failed.len(),
                issues.len(),
                failed[0]["error"].as_str().unwrap_or("")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;
    use crate::scenario::{Name, Options};
    use crate::stack::Stack;

    fn ctx(items: u32) -> Context {
        Context::new(
            Stack::default(),
            Options {
                items,
                deadline: Duration::from_secs(7),
                ..Options::default()
            },
        )
    }

    fn dsn() -> Dsn {
        Dsn::parse("http://0123456789abcdef0123456789abcdef@127.0.0.1:1/3").unwrap()
    }

    #[test]
    fn each_path_gets_its_own_run_tag_the_deadline_and_the_environment() {
        let ctx = ctx(3);
        let tags: Vec<String> = PATHS.iter().map(|&p| run_tag(&ctx.run_id, p)).collect();
        assert_eq!(tags[0], format!("{}-sdk", ctx.run_id));
        assert_eq!(tags[2], format!("{}-store", ctx.run_id));
        let check = delivery_check(&ctx, "meridian", dsn(), IngestPath::Envelope, 3);
        assert_eq!(check.run(), format!("{}-envelope", ctx.run_id));
        let events = check.events();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].tags()["run"], format!("{}-envelope", ctx.run_id));
        let json: serde_json::Value = serde_json::from_str(&events[0].to_json()).unwrap();
        assert_eq!(json["environment"], "telltale");
    }

    /// A report as `DeliveryCheck` would return it: `copies[seq]` stored copies (0: never
    /// seen), `errors[seq]` a send error and whether it got no answer.
    fn report(copies: &[u32], counted: bool, errors: &[(u32, bool)]) -> DeliveryReport {
        let events = (0..copies.len() as u32)
            .map(|seq| {
                telltale_glitchtip::EventOutcome::new(seq, format!("{seq:032x}"), SystemTime::now())
            })
            .collect();
        let mut r = DeliveryReport::new("tt-x-store", IngestPath::Store, events);
        r.copies_counted = counted;
        for (seq, &c) in copies.iter().enumerate() {
            let e = &mut r.events[seq];
            if c > 0 {
                e.latency = Some(Duration::from_millis(100));
                e.copies = if counted { c } else { 0 };
            }
        }
        for &(seq, unanswered) in errors {
            let e = &mut r.events[seq as usize];
            e.send_error = Some("boom".into());
            e.send_unanswered = unanswered;
            e.latency = None;
        }
        r
    }

    fn finish(out: Outcome) -> crate::report::ScenarioReport {
        out.finish(Name::SentryToGlitchtip, Duration::ZERO, Ok(()))
    }

    #[test]
    fn a_stored_duplicate_fails_and_accepted_sends_are_not_checks() {
        let ctx = ctx(3);
        let mut out = Outcome::default();
        let stop = account(
            &ctx,
            &mut out,
            "be-platform",
            &dsn(),
            &report(&[1, 2, 1], true, &[]),
            SystemTime::now(),
            Duration::ZERO,
        );
        assert!(stop.is_none());
        let r = finish(out);
        assert_eq!(r.status, Status::Failed, "{r:?}");
        assert!(r.checks.is_empty(), "a 2xx is evidence: {:?}", r.checks);
        assert_eq!(r.delivery[0].duplicated, 1);
        assert!(r.delivery[0].duplicates_observable);

        let mut out = Outcome::default();
        account(
            &ctx,
            &mut out,
            "be-platform",
            &dsn(),
            &report(&[1, 1, 1], true, &[]),
            SystemTime::now(),
            Duration::ZERO,
        );
        let r = finish(out);
        assert_eq!(r.status, Status::Passed, "{r:?}");
        assert!(r.summary.contains("exactly once"), "{}", r.summary);
    }

    #[test]
    fn uncounted_copies_say_visible_not_exactly_once() {
        let ctx = ctx(2);
        let mut out = Outcome::default();
        account(
            &ctx,
            &mut out,
            "be-platform",
            &dsn(),
            &report(&[1, 1], false, &[]),
            SystemTime::now(),
            Duration::ZERO,
        );
        let r = finish(out);
        assert_eq!(r.status, Status::Passed);
        assert!(r.summary.contains("visible"), "{}", r.summary);
        assert!(!r.summary.contains("exactly once"), "{}", r.summary);
    }

    #[test]
    fn a_refusal_is_a_failed_check_and_no_answer_is_unavailable() {
        let ctx = ctx(2);
        let mut out = Outcome::default();
        let stop = account(
            &ctx,
            &mut out,
            "be-platform",
            &dsn(),
            &report(&[0, 1], true, &[(0, false)]),
            SystemTime::now(),
            Duration::ZERO,
        );
        assert!(stop.is_none());
        let r = finish(out);
        assert_eq!(r.status, Status::Failed);
        assert_eq!(
            r.checks[0].name,
            "be-platform via store: ingest accepts every event"
        );

        // Nothing answered: nothing reached GlitchTip, so nothing was sent and nothing missed.
        let mut out = Outcome::default();
        let stop = account(
            &ctx,
            &mut out,
            "be-platform",
            &dsn(),
            &report(&[0, 0], true, &[(0, true), (1, true)]),
            SystemTime::now(),
            Duration::ZERO,
        )
        .expect("a stop");
        let r = out.finish(Name::SentryToGlitchtip, Duration::ZERO, Err(stop));
        assert_eq!(r.status, Status::Unavailable, "{r:?}");
        assert!(r.summary.contains("got no answer"), "{}", r.summary);
    }

    #[test]
    fn events_of_the_run_never_sent_are_unexpected() {
        let ctx = ctx(1);
        let mut rep = report(&[1], true, &[]);
        rep.unexpected = vec![7];
        let mut out = Outcome::default();
        account(
            &ctx,
            &mut out,
            "be-platform",
            &dsn(),
            &rep,
            SystemTime::now(),
            Duration::ZERO,
        );
        let r = finish(out);
        assert_eq!(r.delivery[0].unexpected, 1, "{r:?}");
    }
}
