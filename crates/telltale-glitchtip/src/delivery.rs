//! The delivery check: send N events tagged with a run id and a sequence number (through the
//! SDK, envelopes or store), then poll the issues and events API until every one is visible or
//! a deadline passes. It reports each event's send→visible latency and lists the missing ones
//! by tag, because GlitchTip answers 200 before it stores anything.
//!
//! Polling stops at the first sight of each event, so it cannot tell one stored copy from two.
//! With [`DeliveryCheck::settle`], the check waits that long once polling is done and then
//! reads every event of the run's issues, counting the stored copies of each `seq`: a resend
//! with a new event id, or the same id through the store endpoint (which GlitchTip stores
//! twice; envelopes with a known id are folded into one), shows up as two.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::client::{Client, IssueQuery};
use crate::envelope::Compression;
use crate::event::NewEvent;
use crate::ingest::{AuthPlacement, Ingestor, SendOptions};
use crate::sdk::SdkSender;
use crate::{Dsn, Error};

/// How the check sends its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IngestPath {
    /// Through the `sentry` crate's client and reqwest transport.
    Sdk,
    /// One envelope per event, `POST /api/<id>/envelope/`.
    Envelope,
    /// One legacy store request per event, `POST /api/<id>/store/`.
    Store,
}

impl IngestPath {
    /// `sdk`, `envelope` or `store`.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestPath::Sdk => "sdk",
            IngestPath::Envelope => "envelope",
            IngestPath::Store => "store",
        }
    }
}

/// A delivery check against one project.
#[derive(Debug, Clone)]
pub struct DeliveryCheck {
    organization: String,
    project_id: u64,
    dsn: Dsn,
    path: IngestPath,
    count: u32,
    deadline: Duration,
    poll_interval: Duration,
    run_id: String,
    options: SendOptions,
    environment: Option<String>,
    ca_files: Vec<std::path::PathBuf>,
    sdk_flush_every: Option<usize>,
    settle: Option<Duration>,
}

/// The fate of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventOutcome {
    /// The `seq` tag (0-based).
    pub seq: u32,
    /// The event id.
    pub event_id: String,
    /// When it was handed to ingest (or to the SDK).
    pub sent_at: SystemTime,
    /// The send error, if ingest refused it or did not answer.
    pub send_error: Option<String>,
    /// Whether the send error got no HTTP answer at all (connection refused, TLS, timeout):
    /// then nothing reached GlitchTip, and the event proves nothing either way.
    pub send_unanswered: bool,
    /// Send→visible latency, if it became visible. On the SDK path every event is timed from
    /// the moment the batch was handed to the SDK.
    pub latency: Option<Duration>,
    /// The issue holding it, once visible.
    pub issue_id: Option<u64>,
    /// GlitchTip's `dateReceived`, once visible.
    pub received_at: Option<SystemTime>,
    /// Stored events carrying this `seq` (and the run's tag), as the final count after the
    /// settle period found them; 0 when it did not run ([`DeliveryReport::copies_counted`]).
    pub copies: u32,
}

impl EventOutcome {
    /// An event handed to ingest at `sent_at` and not seen yet, for reports built outside
    /// [`DeliveryCheck`] (another sender, a test of what a caller makes of a report).
    pub fn new(seq: u32, event_id: impl Into<String>, sent_at: SystemTime) -> EventOutcome {
        outcome(seq, &event_id.into(), sent_at, None)
    }

    /// Whether the event was read back.
    pub fn is_visible(&self) -> bool {
        self.latency.is_some()
    }
}

/// Latency summary over the visible events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Fastest.
    pub min: Duration,
    /// Median.
    pub median: Duration,
    /// 95th percentile (nearest rank).
    pub p95: Duration,
    /// Slowest.
    pub max: Duration,
}

/// What a [`DeliveryCheck`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The run id every event was tagged with (`run=<id>`).
    pub run_id: String,
    /// How the events were sent.
    pub path: IngestPath,
    /// One outcome per event, by `seq`.
    pub events: Vec<EventOutcome>,
    /// Polls of the API made.
    pub polls: u32,
    /// Time from the first send to the end of the check.
    pub elapsed: Duration,
    /// For the SDK path: whether the SDK's flush completed.
    pub sdk_flushed: Option<bool>,
    /// Whether every stored copy was counted after a settle period ([`DeliveryCheck::settle`]);
    /// without it, `copies` is 0 and duplicates cannot be seen.
    pub copies_counted: bool,
    /// `seq` tags of the run that were never sent (from the final count).
    pub unexpected: Vec<u32>,
    /// Every issue holding an event of the run (from the final count, else from polling).
    pub issues: Vec<u64>,
}

impl DeliveryReport {
    /// A report of `events` sent under `run_id` via `path`, before any polling (see
    /// [`EventOutcome::new`]); its fields say the rest.
    pub fn new(run_id: impl Into<String>, path: IngestPath, events: Vec<EventOutcome>) -> Self {
        DeliveryReport {
            run_id: run_id.into(),
            path,
            events,
            polls: 0,
            elapsed: Duration::ZERO,
            sdk_flushed: None,
            copies_counted: false,
            unexpected: Vec::new(),
            issues: Vec::new(),
        }
    }

    /// Events stored more than once (only known when [`DeliveryReport::copies_counted`]).
    pub fn duplicated(&self) -> Vec<&EventOutcome> {
        self.events.iter().filter(|e| e.copies > 1).collect()
    }

    /// Whether every event was read back.
    pub fn is_complete(&self) -> bool {
        self.events.iter().all(EventOutcome::is_visible)
    }

    /// Events not read back.
    pub fn missing(&self) -> Vec<&EventOutcome> {
        self.events.iter().filter(|e| !e.is_visible()).collect()
    }

    /// The tags of the missing events, `run=<id>,seq=<n>`.
    pub fn missing_tags(&self) -> Vec<String> {
        self.missing()
            .iter()
            .map(|e| format!("run={},seq={}", self.run_id, e.seq))
            .collect()
    }

    /// Latency summary, `None` when nothing became visible.
    pub fn latency(&self) -> Option<LatencySummary> {
        let mut l: Vec<Duration> = self.events.iter().filter_map(|e| e.latency).collect();
        if l.is_empty() {
            return None;
        }
        l.sort();
        let rank = |q: f64| l[((q * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1];
        Some(LatencySummary {
            min: l[0],
            median: rank(0.5),
            p95: rank(0.95),
            max: l[l.len() - 1],
        })
    }

    /// The distinct issues the visible events landed in.
    pub fn issue_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.events.iter().filter_map(|e| e.issue_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let visible = self.events.len() - self.missing().len();
        write!(
            f,
            "run {} via {}: {visible}/{} visible after {:.2?} ({} polls)",
            self.run_id,
            self.path.as_str(),
            self.events.len(),
            self.elapsed,
            self.polls
        )?;
        if let Some(l) = self.latency() {
            write!(
                f,
                "; send→visible min {:.2?} median {:.2?} p95 {:.2?} max {:.2?}",
                l.min, l.median, l.p95, l.max
            )?;
        }
        let missing = self.missing_tags();
        if !missing.is_empty() {
            write!(f, "; missing: {}", missing.join(" "))?;
        }
        let duplicated: Vec<String> = self
            .duplicated()
            .iter()
            .map(|e| format!("seq={}×{}", e.seq, e.copies))
            .collect();
        if !duplicated.is_empty() {
            write!(f, "; stored more than once: {}", duplicated.join(" "))?;
        }
        if !self.copies_counted {
            write!(f, "; copies not counted")?;
        }
        Ok(())
    }
}

/// A new run id: `tt-` and 12 hex digits.
pub fn new_run_id() -> String {
    format!("tt-{}", &crate::event::new_event_id()[..12])
}

impl DeliveryCheck {
    /// A check that sends `count` events to the project (`project_id` must be the DSN's) of
    /// `organization`, with a 30 s deadline and a 250 ms poll interval.
    pub fn new(organization: impl Into<String>, dsn: Dsn, path: IngestPath, count: u32) -> Self {
        DeliveryCheck {
            organization: organization.into(),
            project_id: dsn.project_id(),
            dsn,
            path,
            count,
            deadline: Duration::from_secs(30),
            poll_interval: Duration::from_millis(250),
            run_id: new_run_id(),
            options: SendOptions::default(),
            environment: None,
            ca_files: Vec::new(),
            sdk_flush_every: None,
            settle: None,
        }
    }

    /// After polling, waits this long and then counts every stored copy of each event, so a
    /// duplicate (a resend that arrives after the first copy was seen) is caught. Without it
    /// the report cannot tell one copy from two.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = Some(settle);
        self
    }

    /// How long to wait, from the last send, for every event to be visible.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How often to poll.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(20));
        self
    }

    /// Uses this run id instead of a random one.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    /// Where the key goes (envelope and store paths).
    pub fn auth(mut self, auth: AuthPlacement) -> Self {
        self.options.auth = auth;
        self
    }

    /// Body compression (envelope and store paths).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.options.compression = compression;
        self
    }

    /// Tags every event with this environment too.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// SDK path: flush after every `n` events, so bursts above the SDK's 30-envelope transport
    /// queue are not dropped (see [`SdkSender::flush_every`]). Default: one flush at the end,
    /// as an app would.
    pub fn sdk_flush_every(mut self, n: usize) -> Self {
        self.sdk_flush_every = Some(n.max(1));
        self
    }

    /// Trusts this CA for ingest over https.
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// The run id.
    pub fn run(&self) -> &str {
        &self.run_id
    }

    /// The events the check sends: `seq` 0..count, tagged `run` and `seq`, fingerprinted by
    /// run so a run forms one issue.
    pub fn events(&self) -> Vec<NewEvent> {
        (0..self.count)
            .map(|seq| {
                let mut e = NewEvent::exception(
                    "TelltaleDelivery",
                    format!("delivery check {} via {}", self.run_id, self.path.as_str()),
                )
                .tag("run", &self.run_id)
                .tag("seq", seq.to_string())
                .tag("path", self.path.as_str())
                .fingerprint(["telltale-delivery", self.run_id.as_str()]);
                if let Some(env) = &self.environment {
                    e = e.environment(env);
                }
                e
            })
            .collect()
    }

    /// Sends the events and polls until all are visible or the deadline passes. Send errors
    /// are recorded per event, not returned; API errors while polling are returned.
    pub async fn run_with(&self, client: &Client) -> Result<DeliveryReport, Error> {
        let events = self.events();
        let started = Instant::now();
        let mut outcomes: Vec<EventOutcome> = Vec::with_capacity(events.len());
        let mut sent_instants = Vec::with_capacity(events.len());
        let mut sdk_flushed = None;
        match self.path {
            IngestPath::Sdk => {
                let mut sender = SdkSender::new(self.dsn.clone());
                for ca in &self.ca_files {
                    sender = sender.ca_file(ca);
                }
                if let Some(n) = self.sdk_flush_every {
                    sender = sender.flush_every(n);
                }
                let at = SystemTime::now();
                let instant = Instant::now();
                let report = sender.send(events.clone()).await?;
                sdk_flushed = Some(report.flushed);
                for (seq, e) in events.iter().enumerate() {
                    // The SDK answers the nil id for an event it dropped (sampling, a
                    // `before_send`, a full queue).
                    let dropped = report
                        .event_ids
                        .get(seq)
                        .is_none_or(|id| id.bytes().all(|b| b == b'0'));
                    let error = dropped.then(|| "the sentry SDK dropped the event".to_owned());
                    outcomes.push(outcome(seq as u32, e.event_id(), at, error));
                    sent_instants.push(instant);
                }
            }
            IngestPath::Envelope | IngestPath::Store => {
                let mut builder = Ingestor::builder(self.dsn.clone());
                for ca in &self.ca_files {
                    builder = builder.ca_file(ca);
                }
                let ingestor = builder.build()?;
                for (seq, e) in events.iter().enumerate() {
                    let at = SystemTime::now();
                    sent_instants.push(Instant::now());
                    let res = match self.path {
                        IngestPath::Store => ingestor.store(e, self.options).await,
                        _ => ingestor.envelope_event(e, self.options).await,
                    };
                    let mut o = outcome(
                        seq as u32,
                        e.event_id(),
                        at,
                        res.as_ref().err().map(|err| err.to_string()),
                    );
                    o.send_unanswered =
                        matches!(res, Err(Error::Transport { .. } | Error::Timeout { .. }));
                    outcomes.push(o);
                }
            }
        }
        let last_send = Instant::now();
        let mut polls = 0;
        loop {
            let pending: BTreeMap<String, usize> = outcomes
                .iter()
                .enumerate()
                .filter(|(_, o)| o.latency.is_none() && o.send_error.is_none())
                .map(|(i, o)| (o.event_id.clone(), i))
                .collect();
            if pending.is_empty() {
                break;
            }
            polls += 1;
            self.poll(client, &pending, &mut outcomes, &sent_instants)
                .await?;
            if outcomes
                .iter()
                .all(|o| o.latency.is_some() || o.send_error.is_some())
                || last_send.elapsed() >= self.deadline
            {
                break;
            }
            tokio::time::sleep(self.poll_interval).await;
        }
        let mut issues: Vec<u64> = outcomes.iter().filter_map(|o| o.issue_id).collect();
        let mut unexpected = Vec::new();
        let copies_counted = match self.settle {
            // Nothing reached ingest: there is nothing stored to count.
            Some(_) if outcomes.iter().all(|o| o.send_error.is_some()) => false,
            Some(settle) => {
                tokio::time::sleep(settle).await;
                polls += 1;
                let count = self.count(client, &mut outcomes, &sent_instants).await?;
                issues.extend(count.issues);
                unexpected = count.unexpected;
                true
            }
            None => false,
        };
        issues.sort_unstable();
        issues.dedup();
        Ok(DeliveryReport {
            run_id: self.run_id.clone(),
            path: self.path,
            events: outcomes,
            polls,
            elapsed: started.elapsed(),
            sdk_flushed,
            copies_counted,
            unexpected,
            issues,
        })
    }

    /// Reads every event of every issue tagged with the run and counts the stored copies of
    /// each `seq`. An event seen only now becomes visible with its latency measured now.
    async fn count(
        &self,
        client: &Client,
        outcomes: &mut [EventOutcome],
        sent: &[Instant],
    ) -> Result<Count, Error> {
        let query = IssueQuery::new()
            .tag("run", &self.run_id)
            .project(self.project_id)
            .limit(100);
        let mut count = Count::default();
        for o in outcomes.iter_mut() {
            o.copies = 0;
        }
        for issue in client.issues(&self.organization, &query).await? {
            count.issues.push(issue.id);
            let events = client.issue_events(issue.id).await?;
            let seen_at = Instant::now();
            for ev in &events {
                if ev.tag("run") != Some(self.run_id.as_str()) {
                    continue;
                }
                let Some(seq) = ev.tag("seq").and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let Some(o) = outcomes.get_mut(seq as usize) else {
                    count.unexpected.push(seq);
                    continue;
                };
                o.copies += 1;
                if o.latency.is_none() {
                    o.latency = Some(seen_at.saturating_duration_since(sent[seq as usize]));
                    o.issue_id = Some(issue.id);
                    o.received_at = ev
                        .date_received
                        .as_deref()
                        .and_then(crate::time::parse_rfc3339);
                }
            }
        }
        count.unexpected.sort_unstable();
        count.unexpected.dedup();
        Ok(count)
    }

    async fn poll(
        &self,
        client: &Client,
        pending: &BTreeMap<String, usize>,
        outcomes: &mut [EventOutcome],
        sent: &[Instant],
    ) -> Result<(), Error> {
        let query = IssueQuery::new()
            .tag("run", &self.run_id)
            .project(self.project_id)
            .limit(100);
        let issues = client.issues(&self.organization, &query).await?;
        let mut left = pending.len();
        for issue in issues {
            let mut cursor = None;
            loop {
                let page = client
                    .issue_events_page(issue.id, Some(100), cursor.as_ref())
                    .await?;
                let seen_at = Instant::now();
                for ev in &page.items {
                    let id = ev.event_id.to_ascii_lowercase();
                    let Some(&i) = pending.get(&id) else {
                        continue;
                    };
                    if outcomes[i].latency.is_none() {
                        outcomes[i].latency = Some(seen_at.saturating_duration_since(sent[i]));
                        outcomes[i].issue_id = Some(issue.id);
                        outcomes[i].received_at = ev
                            .date_received
                            .as_deref()
                            .and_then(crate::time::parse_rfc3339);
                        left -= 1;
                    }
                }
                match page.next {
                    Some(next) if left > 0 && !page.items.is_empty() => cursor = Some(next),
                    _ => break,
                }
            }
            if left == 0 {
                break;
            }
        }
        Ok(())
    }
}

/// What the final count found besides the copies.
#[derive(Default)]
struct Count {
    issues: Vec<u64>,
    unexpected: Vec<u32>,
}

fn outcome(seq: u32, id: &str, at: SystemTime, send_error: Option<String>) -> EventOutcome {
    EventOutcome {
        seq,
        event_id: id.to_owned(),
        sent_at: at,
        send_error,
        send_unanswered: false,
        latency: None,
        issue_id: None,
        received_at: None,
        copies: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(latencies: &[Option<u64>]) -> DeliveryReport {
        DeliveryReport {
            run_id: "tt-x".into(),
            path: IngestPath::Store,
            events: latencies
                .iter()
                .enumerate()
                .map(|(i, l)| EventOutcome {
                    latency: l.map(Duration::from_millis),
                    ..outcome(i as u32, "e", SystemTime::UNIX_EPOCH, None)
                })
                .collect(),
            polls: 3,
            elapsed: Duration::from_secs(2),
            sdk_flushed: None,
            copies_counted: true,
            unexpected: Vec::new(),
            issues: Vec::new(),
        }
    }

    #[test]
    fn summary_and_missing_tags() {
        let r = report(&[Some(1500), None, Some(1000), Some(2000), None]);
        assert!(!r.is_complete());
        assert_eq!(r.missing_tags(), ["run=tt-x,seq=1", "run=tt-x,seq=4"]);
        let l = r.latency().unwrap();
        assert_eq!(
            (l.min, l.median, l.max),
            (
                Duration::from_millis(1000),
                Duration::from_millis(1500),
                Duration::from_millis(2000)
            )
        );
        let shown = r.to_string();
        assert!(
            shown.contains("3/5 visible") && shown.contains("missing: run=tt-x,seq=1"),
            "{shown}"
        );
        assert!(!shown.contains("stored more than once"), "{shown}");
        assert_eq!(report(&[None]).latency(), None);
        let mut twice = report(&[Some(10), Some(10)]);
        twice.events[1].copies = 2;
        assert_eq!(twice.duplicated().len(), 1);
        assert!(
            twice.to_string().contains("stored more than once: seq=1×2"),
            "{twice}"
        );
        twice.copies_counted = false;
        assert!(twice.to_string().ends_with("copies not counted"), "{twice}");
    }

    #[test]
    fn events_carry_run_and_seq() {
        let dsn = Dsn::parse("http://0123456789abcdef0123456789abcdef@127.0.0.1:1/3").unwrap();
        let check = DeliveryCheck::new("o", dsn, IngestPath::Store, 3).run_id("tt-abc");
        let events = check.events();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].tags()["seq"], "2");
        assert_eq!(events[0].tags()["run"], "tt-abc");
        assert_ne!(events[0].event_id(), events[1].event_id());
    }
}
