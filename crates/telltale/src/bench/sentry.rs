//! The `sentry` bench: Sentry events to each GlitchTip project of the stack, alternately
//! through the store and the envelope endpoint, with the DSN the deployment hands out (the
//! project's first key, read through the API as the `sentry-to-glitchtip` scenario does), and
//! confirmed through GlitchTip's API: the issues tagged with the step's run tag, and their
//! events.
//!
//! GlitchTip answers 200 before it stores anything, so only the API read-back proves delivery.
//! Each event id is derived from the step's tag and the sequence number, so an id read back
//! names its item without a lookup table shared between the generator and the probe.

use std::time::Duration;

use telltale_glitchtip::{
    Dsn, ErrorKind, Ingestor, IssueQuery, NewEvent, RetryPolicy, SendOptions,
};
use tokio::task::JoinSet;

use super::drive::{self, Probe, Sender, Tally};
use super::otlp::tag;
use super::report::Step;
use super::{BenchError, Settings};
use crate::scenario::{chain, Context, Stop};

/// Events in flight at once: GlitchTip takes each event in a request of its own.
const IN_FLIGHT: u64 = 32;

/// The GlitchTip under load.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) endpoint: String,
    pub(super) version: Option<String>,
    api: telltale_glitchtip::Client,
    organization: String,
    /// Each project's name and DSN.
    projects: Vec<(String, Dsn)>,
    /// The environment every event carries (`[glitchtip] environment`).
    environment: String,
}

impl Target {
    /// Checks GlitchTip's API answers and reads each project's DSN.
    pub(super) async fn connect(ctx: &Context) -> Result<Target, BenchError> {
        let endpoint = ctx.glitchtip_url();
        let api = ctx.glitchtip()?;
        let organization = ctx.stack.glitchtip.organization.clone();
        // The canary project when one is set: a load test must not flood the apps' projects.
        let targets = ctx.stack.glitchtip.delivery_projects();
        if targets.is_empty() {
            return Err(BenchError::Setup {
                endpoint: "glitchtip.projects".into(),
                message: "the stack description lists no GlitchTip projects".into(),
                hint: "add `projects = [\"be-platform\", \"be-pwa\"]` under `[glitchtip]`".into(),
            });
        }
        let version = api
            .settings()
            .await
            .map_err(|e| BenchError::from(Stop::from_error(&endpoint, &e)))?
            .version;
        let mut projects = Vec::new();
        for project in &targets {
            let keys_endpoint = format!(
                "{}/api/0/projects/{organization}/{project}/keys/",
                endpoint.trim_end_matches('/')
            );
            let keys = api
                .keys(&organization, project)
                .await
                .map_err(|e| BenchError::from(Stop::from_error(&keys_endpoint, &e)))?;
            let Some(key) = keys.first() else {
                return Err(BenchError::Setup {
                    endpoint: keys_endpoint,
                    message: format!("project {project} has no client key, so no DSN"),
                    hint: "create a key for the project (`telltale glitchtip bootstrap` does)"
                        .into(),
                });
            };
            projects.push((project.clone(), key.dsn().clone()));
        }
        Ok(Target {
            endpoint,
            version: (!version.is_empty()).then_some(version),
            api,
            organization,
            projects,
            environment: ctx.stack.glitchtip.environment.clone(),
        })
    }
}

/// A 64-bit FNV-1a hash: the event ids of a step share its hash of the tag.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The event id of item `seq` of the step whose tag hashes to `hash`: 32 hex digits.
fn event_id(hash: u64, seq: u64) -> String {
    format!("{hash:016x}{seq:016x}")
}

/// The item an event id names, if it is of the step whose tag hashes to `hash`.
fn seq_of(hash: u64, id: &str) -> Option<u64> {
    let id = id.replace('-', "").to_ascii_lowercase();
    if id.len() != 32 || id[..16] != format!("{hash:016x}") {
        return None;
    }
    u64::from_str_radix(&id[16..], 16).ok()
}

/// Where item `seq` goes: projects in turn, and within a project store and envelope in turn.
fn route(seq: u64, projects: usize) -> (usize, bool) {
    let project = (seq % projects as u64) as usize;
    let store = (seq / projects as u64).is_multiple_of(2);
    (project, store)
}

struct SentrySender {
    ingestors: Vec<Ingestor>,
    tag: String,
    hash: u64,
    environment: String,
}

impl SentrySender {
    fn event(&self, seq: u64) -> NewEvent {
        NewEvent::exception("TelltaleBench", format!("telltale {} seq={seq}", self.tag))
            .tag("run", &self.tag)
            .tag("seq", seq.to_string())
            .fingerprint(["telltale-bench", self.tag.as_str()])
            .environment(&self.environment)
            .with_event_id(&event_id(self.hash, seq))
    }
}

impl Sender for SentrySender {
    fn batch_items(&self) -> u64 {
        IN_FLIGHT
    }

    async fn send(&mut self, first: u64, count: u64, tally: &mut Tally) {
        let mut running = JoinSet::new();
        for seq in first..first + count {
            let (project, store) = route(seq, self.ingestors.len());
            let ingestor = self.ingestors[project].clone();
            let event = self.event(seq);
            tally.bytes += event.to_json().len() as u64;
            running.spawn(async move {
                let options = SendOptions::default();
                if store {
                    ingestor.store(&event, options).await
                } else {
                    ingestor.envelope_event(&event, options).await
                }
            });
        }
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok(result) => account(result, tally),
                Err(e) => tally.unknown(&format!("the send task failed: {e}"), 1),
            }
        }
    }
}

/// Records GlitchTip's answer to one event. A 429 is GlitchTip throttling ingest.
fn account(
    result: Result<telltale_glitchtip::Accepted, telltale_glitchtip::Error>,
    tally: &mut Tally,
) {
    match result {
        Ok(_) => tally.accepted += 1,
        Err(err) => {
            let kind = match err.api().map(|a| a.kind()) {
                Some(ErrorKind::RateLimited) => "throttled",
                Some(ErrorKind::Unauthorized) => "unauthorized",
                Some(ErrorKind::NotFound) => "not_found",
                Some(_) => "other",
                None => "error",
            };
            let words = chain(&err);
            let words = match err.api().and_then(|a| a.retry_after()) {
                Some(after) => format!("{words} (Retry-After {} s)", after.as_secs()),
                None => words,
            };
            tally.reject(kind, &words, 1);
        }
    }
}

/// Reads a step's events back through the API: the issues tagged with the step's tag in each
/// project, and every event of each.
struct ApiProbe<'a> {
    target: &'a Target,
    tag: String,
    hash: u64,
}

impl ApiProbe<'_> {
    async fn seen(&self) -> Result<Vec<u64>, BenchError> {
        let issues_endpoint = format!(
            "{}/api/0/organizations/{}/issues/",
            self.target.endpoint.trim_end_matches('/'),
            self.target.organization
        );
        let failed =
            |e: &telltale_glitchtip::Error| BenchError::from(Stop::from_error(&issues_endpoint, e));
        let mut seqs = Vec::new();
        for (_, dsn) in &self.target.projects {
            let query = IssueQuery::new()
                .tag("run", &self.tag)
                .project(dsn.project_id())
                .limit(100);
            let issues = self
                .target
                .api
                .issues(&self.target.organization, &query)
                .await
                .map_err(|e| failed(&e))?;
            for issue in issues {
                let events = self
                    .target
                    .api
                    .issue_events(issue.id)
                    .await
                    .map_err(|e| failed(&e))?;
                seqs.extend(events.iter().filter_map(|e| seq_of(self.hash, &e.event_id)));
            }
        }
        Ok(seqs)
    }
}

impl Probe for ApiProbe<'_> {
    async fn poll(&mut self) -> Result<Vec<u64>, BenchError> {
        self.seen().await
    }

    /// GlitchTip keys an event by its id, and every copy of an item carries the same id, so a
    /// second copy can never be listed: the read-back proves an event visible, not exactly once.
    fn duplicates_observable(&self) -> bool {
        false
    }

    async fn read_back(&mut self) -> Result<Vec<u64>, BenchError> {
        // GlitchTip promises no order between events: observed in sequence order, the ledger
        // judges loss and duplicates here, not order.
        let mut seqs = self.seen().await?;
        seqs.sort_unstable();
        Ok(seqs)
    }
}

/// Runs one step at `rate` events per second.
pub(super) async fn step(
    ctx: &Context,
    target: &Target,
    settings: &Settings,
    n: u32,
    rate: f64,
) -> Result<Step, BenchError> {
    let tag = tag(&ctx.run_id, n);
    let hash = fnv(&tag);
    let mut ingestors = Vec::new();
    for (project, dsn) in &target.projects {
        let mut builder = Ingestor::builder(dsn.clone()).timeout(Duration::from_secs(30));
        if !settings.retries {
            builder = builder.retry(RetryPolicy::none());
        }
        ingestors.push(builder.build().map_err(|e| BenchError::Setup {
            endpoint: format!("glitchtip project {project}"),
            message: chain(&e),
            hint: "check the project's DSN in GlitchTip".into(),
        })?);
    }
    let mut probe = ApiProbe {
        target,
        tag: tag.clone(),
        hash,
    };
    let sender = SentrySender {
        ingestors,
        tag,
        hash,
        environment: target.environment.clone(),
    };
    // The API pages through every event of the step each poll: once a second is enough.
    drive::step(
        settings,
        "sentry",
        n,
        rate,
        sender,
        &mut probe,
        Duration::from_secs(1),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_names_its_item_and_only_in_its_own_step() {
        let (a, b) = (fnv("tt-1-s1"), fnv("tt-1-s2"));
        assert_ne!(a, b);
        let id = event_id(a, 12345);
        assert_eq!(id.len(), 32);
        assert_eq!(seq_of(a, &id), Some(12345));
        assert_eq!(seq_of(b, &id), None);
        // The API may answer ids as hyphenated UUIDs.
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &id[..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..]
        );
        assert_eq!(seq_of(a, &uuid), Some(12345));
    }

    #[test]
    fn items_spread_over_projects_and_both_ingest_paths() {
        let routes: Vec<(usize, bool)> = (0..4).map(|s| route(s, 2)).collect();
        assert_eq!(routes, vec![(0, true), (1, true), (0, false), (1, false)]);
        assert_eq!(route(3, 1), (0, false));
    }
}
