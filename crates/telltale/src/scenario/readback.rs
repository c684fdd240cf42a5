//! Reading tagged lines back from Loki: under the labels the stack promises, once more after a
//! settle period (for copies a collector's retry adds late), and, for items still missing, by
//! the run id under any labels, so "lost" and "arrived, labelled differently" are told apart.
//!
//! Time windows allow for clock skew: a line's timestamp is set by whoever stamps it (journald,
//! the collector on receipt, the OTLP record), not by telltale, so the query window reaches
//! [`CLOCK_SKEW`] before the first send and after now. No item is dropped for a timestamp
//! earlier than its send time; latency is measured on telltale's own clock, from send to the
//! poll that first returned the line.
//!
//! Copies: Loki itself keeps one of two entries identical in stream, timestamp and line, so a
//! retry that re-sends the exact entry leaves nothing to see; the copies counted here differ in
//! timestamp (a collector that stamps on receipt) or arrive under a second promised stream.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::json;
use telltale_loki::{quote, Direction, LabelSet, ReadEntry, ReadStream, Selector, Timestamp};

use super::{Context, Name, Stop};

/// How far the stack's clocks may be from telltale's, either way, before a line is missed.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// At most this many label names are searched for a run's missing lines: one query each.
const WIDE_SEARCH_LABELS: usize = 32;

/// Items still missing this long after the read-back began are searched for under any labels
/// once before the deadline too.
const WIDE_SEARCH_AFTER: Duration = Duration::from_secs(5);

/// Entries per page of a read.
const PAGE: u32 = 1000;

/// One entry a Loki read-back found, with when the harness first saw it.
#[derive(Debug, Clone)]
pub(crate) struct LokiSeen {
    /// The stream's labels.
    pub(crate) labels: LabelSet,
    /// The entry.
    pub(crate) entry: ReadEntry,
    /// When a poll first returned it, on the run's clock ([`Context::elapsed`]).
    pub(crate) first_seen: Duration,
}

/// An entry of the run found outside the promised labels.
#[derive(Debug, Clone)]
pub(crate) struct Misplaced {
    /// The entry, its labels and when the wide search saw it.
    pub(crate) seen: LokiSeen,
    /// How its labels differ from the promised ones ([`label_difference`]).
    pub(crate) place: String,
}

/// What [`read_back`] found.
#[derive(Debug, Clone)]
pub(crate) struct LokiReadBack {
    /// Every entry under the promised labels in the last read, oldest first across streams
    /// (stable, so a stream keeps its order).
    pub(crate) entries: Vec<LokiSeen>,
    /// Entries of the run the wide search found under other labels; searched only when
    /// items were still missing at the deadline.
    pub(crate) elsewhere: Vec<Misplaced>,
    /// The polls, the settle read, the window and the wide search, for the report.
    evidence: serde_json::Value,
}

impl LokiReadBack {
    /// The queries made and what each window and wait was, for the report's evidence.
    pub(crate) fn evidence(&self) -> &serde_json::Value {
        &self.evidence
    }

    /// Records the run's items the wide search found under other labels as misrouted, with
    /// the label difference, so they are not counted missing; `seq_of` reads a line's item.
    pub(crate) fn observe_elsewhere(
        &self,
        ledger: &mut crate::accounting::Ledger,
        seq_of: impl Fn(&str) -> Option<u64>,
    ) {
        for m in &self.elsewhere {
            if let Some(seq) = seq_of(&m.seen.entry.line) {
                ledger.observe_misrouted(seq, m.seen.first_seen, &m.place);
            }
        }
    }

    /// Checks that every line read under the promised labels is as sent (`wrong` holds those
    /// that are not). With no line there, there is no content to judge and no check: the
    /// delivery says what happened to the items.
    pub(crate) fn check_content(
        &self,
        out: &mut super::Outcome,
        name: impl Into<String>,
        expected: impl std::fmt::Display,
        wrong: &[String],
    ) {
        if self.entries.is_empty() {
            return;
        }
        out.check(
            name,
            wrong.is_empty(),
            expected,
            match wrong.first() {
                None => format!("{} lines, all exact", self.entries.len()),
                Some(first) => format!(
                    "{} of {} differ, first {first:?}",
                    wrong.len(),
                    self.entries.len()
                ),
            },
        );
    }
}

/// The lines of one run under the labels the stack promises.
#[derive(Debug, Clone)]
pub(crate) struct Promised<'a> {
    /// The labels every line must carry (more are allowed).
    pub(crate) labels: &'a LabelSet,
    /// The run id every line carries.
    pub(crate) run: &'a str,
    /// Distinct items sent.
    pub(crate) items: u64,
    /// When the first item was sent, on the wall clock.
    pub(crate) sent_from: Timestamp,
}

impl Promised<'_> {
    /// `{labels} |= "<run>"`.
    pub(crate) fn query(&self) -> String {
        Selector::from(self.labels)
            .logs()
            .contains(self.run)
            .to_string()
    }

    fn start(&self) -> Timestamp {
        self.sent_from.minus(CLOCK_SKEW)
    }
}

/// Reads a run's lines under the promised labels, every page of them (never a tail, so a
/// reconnect cannot replay lines as duplicates, and never only the first page, so a large run
/// is not cut at the entry limit), until every item is seen or [`super::Options::deadline`]
/// passes; `seq_of` reads an item's sequence number from its line.
///
/// Every poll re-reads the whole window: an entry counts from the poll that first returned it,
/// while order, duplicates and content are judged on the last, fullest read. Once every item
/// is seen it reads once more after [`super::Options::settle`] (cut short by the deadline), so
/// a copy a collector's retry adds late is counted. Items still missing are looked for under
/// any labels ([`wide_search`]): once [`WIDE_SEARCH_AFTER`] in, which ends the wait when every
/// item is accounted for, and again at the deadline.
pub(crate) async fn read_back(
    ctx: &Context,
    loki: &telltale_loki::Client,
    name: Name,
    want: &Promised<'_>,
    seq_of: impl Fn(&str) -> Option<u64>,
) -> Result<LokiReadBack, Stop> {
    let query = want.query();
    let now = || ctx.elapsed();
    let began = Instant::now();
    let mut first: FirstSeen = HashMap::new();
    let mut progress = ctx.progress(name, want.items);
    let mut polls = 0;
    let mut settled: Option<Duration> = None;
    // An early wide search: it stamps lines found elsewhere near when they arrived, and ends
    // the wait when every item is accounted for, instead of waiting out the deadline.
    let mut early: Option<Wide> = None;
    let (mut entries, complete) = loop {
        let streams = read(loki, &query, want.start()).await?;
        polls += 1;
        let mut entries = sightings(streams, &mut first, ctx.elapsed());
        entries.sort_by_key(|e| e.entry.timestamp);
        let found = distinct(entries.iter().map(|e| e.entry.line.as_str()), &seq_of);
        progress.update(found as u64);
        let done = found as u64 >= want.items;
        if settled.is_some() {
            break (entries, true);
        }
        let left = ctx.options.deadline.saturating_sub(began.elapsed());
        if done {
            let wait = ctx.options.settle.min(left);
            if wait.is_zero() {
                break (entries, true);
            }
            settled = Some(wait);
            tokio::time::sleep(wait).await;
            continue;
        }
        if left.is_zero() {
            break (entries, false);
        }
        if early.is_none() && began.elapsed() >= WIDE_SEARCH_AFTER {
            let search = Search::new(want.labels, &entries, &seq_of);
            let wide = wide_search(loki, want, search, &mut first, &now, &seq_of).await?;
            let all = wide.accounted_all;
            early = Some(wide);
            if all {
                break (entries, false);
            }
        }
        tokio::time::sleep(Duration::from_millis(500).min(left)).await;
    };
    drop(progress);

    let mut evidence = json!({
        "endpoint": loki.base_url(),
        "query": query,
        "window": window_evidence(want.start()),
        "polls": polls,
        "complete_before_deadline": complete,
        "settle_read_after_ms": settled.map(|d| d.as_millis() as u64),
    });
    let mut elsewhere = Vec::new();
    if !complete {
        // The early search is the last word when it accounted for every item; otherwise one
        // more at the deadline (sightings keep the time the early one first saw them).
        let wide = match early {
            Some(wide) if wide.accounted_all => wide,
            _ => {
                let search = Search::new(want.labels, &entries, &seq_of);
                wide_search(loki, want, search, &mut first, &now, &seq_of).await?
            }
        };
        // A line that reached the promised labels after the last poll is a sighting there.
        entries.extend(wide.in_place);
        entries.sort_by_key(|e| e.entry.timestamp);
        evidence["wide_search"] = wide.evidence;
        elsewhere = wide.elsewhere;
    }
    Ok(LokiReadBack {
        entries,
        elsewhere,
        evidence,
    })
}

/// An entry's identity: its stream, timestamp and line.
type Key = (LabelSet, i64, String);

type FirstSeen = HashMap<Key, Duration>;

fn key(e: &LokiSeen) -> Key {
    (
        e.labels.clone(),
        e.entry.timestamp.unix_nanos(),
        e.entry.line.clone(),
    )
}

/// Every entry of `[start, now + CLOCK_SKEW)`. Loki's `end` is exclusive, and the stack's
/// clock may run ahead of ours.
async fn read(
    loki: &telltale_loki::Client,
    query: &str,
    start: Timestamp,
) -> Result<Vec<ReadStream>, Stop> {
    let end = Timestamp::now().plus(CLOCK_SKEW);
    loki.read_all(query, start, end, Direction::Forward, PAGE)
        .await
        .map_err(|e| Stop::from_error(loki.base_url(), &e))
}

/// The streams' entries, each stamped with the first time any read returned it. Keyed by
/// labels, timestamp and line, so the same entry read by two queries is one entry.
fn sightings(streams: Vec<ReadStream>, first: &mut FirstSeen, now: Duration) -> Vec<LokiSeen> {
    streams
        .into_iter()
        .flat_map(|s| {
            let labels = s.labels;
            s.entries
                .into_iter()
                .map(move |entry| (labels.clone(), entry))
        })
        .map(|(labels, entry)| {
            let key = (
                labels.clone(),
                entry.timestamp.unix_nanos(),
                entry.line.clone(),
            );
            let first_seen = *first.entry(key).or_insert(now);
            LokiSeen {
                labels,
                entry,
                first_seen,
            }
        })
        .collect()
}

fn distinct<'a>(
    lines: impl Iterator<Item = &'a str>,
    seq_of: &impl Fn(&str) -> Option<u64>,
) -> usize {
    lines.filter_map(seq_of).collect::<BTreeSet<u64>>().len()
}

fn window_evidence(start: Timestamp) -> serde_json::Value {
    json!({
        "start_ns": start.unix_nanos(),
        "skew_allowance_s": CLOCK_SKEW.as_secs(),
        "end": "now + skew allowance, at each read",
    })
}

/// What the wide search found.
pub(crate) struct Wide {
    /// Entries under the promised labels that the last poll had not returned.
    pub(crate) in_place: Vec<LokiSeen>,
    /// Entries under other labels.
    pub(crate) elsewhere: Vec<Misplaced>,
    /// Whether every item was found, in place or elsewhere.
    accounted_all: bool,
    /// The label names and queries, for the report.
    pub(crate) evidence: serde_json::Value,
}

/// The wide search for a reader that keeps only the sequence numbers it found under the
/// promised labels (the bench, whose polls and read-backs count items, not entries): `found`
/// are those, and the search looks for the rest. Entries it returns under the promised labels
/// may include items of `found` again; `now` stamps sightings on the caller's clock.
pub(crate) async fn search_for_missing(
    loki: &telltale_loki::Client,
    want: &Promised<'_>,
    found: impl IntoIterator<Item = u64>,
    now: &(dyn Fn() -> Duration + Sync),
    seq_of: &impl Fn(&str) -> Option<u64>,
) -> Result<Wide, Stop> {
    let mut search = Search::new(want.labels, &[], seq_of);
    search.accounted.extend(found);
    wide_search(loki, want, search, &mut FirstSeen::new(), now, seq_of).await
}

/// Looks for a run's lines under any labels: Loki refuses a selector without a matcher that
/// cannot match the empty string (`{}` or `{a=~".*"}`: "queries require at least one regexp or
/// equality matcher that does not have an empty-compatible value", Loki's
/// `errAtleastOneEqualityMatcherRequired`, recorded in the shared Loki reference as
/// `71-query_range-empty-matcher`). So it lists the label names in the window
/// (`/loki/api/v1/labels`) and reads `{<name>=~".+"} |= "<run>"` for each (every page), the
/// promised names first, stopping once every item is accounted for or after
/// [`WIDE_SEARCH_LABELS`] names. A stream without any label cannot exist in Loki, so every
/// line of the run is under some name.
/// `search` holds what is already accounted for; `now` is the caller's clock.
async fn wide_search(
    loki: &telltale_loki::Client,
    want: &Promised<'_>,
    mut search: Search<'_>,
    first: &mut FirstSeen,
    now: &(dyn Fn() -> Duration + Sync),
    seq_of: &impl Fn(&str) -> Option<u64>,
) -> Result<Wide, Stop> {
    let start = want.start();
    let names = loki
        .labels(start, Timestamp::now().plus(CLOCK_SKEW), None)
        .await
        .map_err(|e| Stop::from_error(loki.base_url(), &e))?;
    let (order, left_out) = wide_order(names, want.labels);
    let mut queries = Vec::new();
    for name in &order {
        if search.done(want.items) {
            break;
        }
        let query = wide_query(name, want.run)?;
        let streams = read(loki, &query, start).await?;
        queries.push(query);
        search.take(sightings(streams, first, now()), seq_of);
    }
    let streams: BTreeSet<String> = search
        .elsewhere
        .iter()
        .map(|m| m.seen.labels.to_string())
        .collect();
    Ok(Wide {
        accounted_all: search.done(want.items),
        in_place: search.in_place,
        elsewhere: search.elsewhere,
        evidence: json!({
            "why": "items were missing under the promised labels",
            "searched_at_ms": now().as_millis() as u64,
            "label_names_in_window": order.len() + left_out,
            "label_names_not_searched": left_out,
            "queries": queries,
            "streams_found_elsewhere": streams,
        }),
    })
}

/// One wide search's findings, query by query.
struct Search<'p> {
    promised: &'p LabelSet,
    /// Items found anywhere so far.
    accounted: BTreeSet<u64>,
    /// Entries already taken, by identity.
    seen: BTreeSet<Key>,
    in_place: Vec<LokiSeen>,
    elsewhere: Vec<Misplaced>,
}

impl<'p> Search<'p> {
    /// A search for what the last poll under the promised labels (`already`) did not find:
    /// those entries are neither found again in place nor counted twice.
    fn new(
        promised: &'p LabelSet,
        already: &[LokiSeen],
        seq_of: &impl Fn(&str) -> Option<u64>,
    ) -> Search<'p> {
        Search {
            promised,
            accounted: already
                .iter()
                .filter_map(|e| seq_of(&e.entry.line))
                .collect(),
            seen: already.iter().map(key).collect(),
            in_place: Vec::new(),
            elsewhere: Vec::new(),
        }
    }

    /// Whether all `items` are accounted for, so no further query can tell more.
    fn done(&self, items: u64) -> bool {
        self.accounted.len() as u64 >= items
    }

    /// Takes the entries one wide query returned.
    fn take(&mut self, entries: Vec<LokiSeen>, seq_of: &impl Fn(&str) -> Option<u64>) {
        let (here, there) = sort_out(entries, self.promised, &mut self.seen);
        self.accounted.extend(
            here.iter()
                .chain(there.iter().map(|m| &m.seen))
                .filter_map(|e| seq_of(&e.entry.line)),
        );
        self.in_place.extend(here);
        self.elsewhere.extend(there);
    }
}

/// The label names to search, promised ones first, then `service_name` and `job` (where
/// collectors and Loki put a source's name), then the rest by name; Loki's internal `__…`
/// names are skipped. Returns the names and how many were left out by the bound.
fn wide_order(names: Vec<String>, promised: &LabelSet) -> (Vec<String>, usize) {
    let rank = |n: &str| {
        if promised.get(n).is_some() {
            0
        } else if n == "service_name" || n == "job" {
            1
        } else {
            2
        }
    };
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| !n.starts_with("__"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    names.sort_by_key(|n| rank(n));
    let left_out = names.len().saturating_sub(WIDE_SEARCH_LABELS);
    names.truncate(WIDE_SEARCH_LABELS);
    (names, left_out)
}

/// `{<name>=~".+"} |= "<run>"`: every stream that has the label, filtered to the run.
fn wide_query(name: &str, run: &str) -> Result<String, Stop> {
    Ok(Selector::new()
        .re(name, ".+")
        .map_err(|e| {
            Stop::failed(
                name,
                format!("Loki listed a label name it cannot be queried by: {e}"),
                "see Loki's /loki/api/v1/labels answer",
            )
        })?
        .logs()
        .contains(run)
        .to_string())
}

/// Splits entries into those under the promised labels and those elsewhere, skipping any
/// entry an earlier query of the same search returned.
fn sort_out(
    entries: Vec<LokiSeen>,
    promised: &LabelSet,
    seen: &mut BTreeSet<Key>,
) -> (Vec<LokiSeen>, Vec<Misplaced>) {
    let mut in_place = Vec::new();
    let mut elsewhere = Vec::new();
    for e in entries {
        if !seen.insert(key(&e)) {
            continue;
        }
        match label_difference(promised, &e.labels) {
            None => in_place.push(e),
            Some(place) => elsewhere.push(Misplaced { seen: e, place }),
        }
    }
    (in_place, elsewhere)
}

/// How `found` differs from the `promised` labels, or `None` when it carries them all:
/// `service_name="unknown_service" instead of "telltale"; extra exporter="OTLP"`, or
/// `missing service_unit="a.service"; extra service_name="be-pwa"`. Labels beyond the
/// promised ones are listed because they say where the lines went.
pub(crate) fn label_difference(promised: &LabelSet, found: &LabelSet) -> Option<String> {
    let mut parts = Vec::new();
    for (name, want) in promised.iter() {
        match found.get(name) {
            Some(got) if got == want => {}
            Some(got) => parts.push(format!("{name}={} instead of {}", quote(got), quote(want))),
            None => parts.push(format!("missing {name}={}", quote(want))),
        }
    }
    if parts.is_empty() {
        return None;
    }
    let extra: Vec<String> = found
        .iter()
        .filter(|(name, _)| promised.get(name).is_none())
        .map(|(name, value)| format!("{name}={}", quote(value)))
        .collect();
    if !extra.is_empty() {
        parts.push(format!("extra {}", extra.join(", ")));
    }
    Some(parts.join("; "))
}

/// A stand-in for the collector hop in tests: it writes into a real Loki what a collector,
/// healthy or misconfigured, would write (under given labels; dropping, doubling, re-stamping
/// or later re-sending some items). It proves the read-back and the diagnosis against a real
/// Loki, never the collector hop itself.
#[cfg(test)]
pub(crate) mod pipe {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use telltale_loki::{Entry, LabelSet, Stream, Timestamp};

    /// What the stand-in collector does to the items it carries.
    #[derive(Debug, Clone)]
    pub(crate) struct Pipe {
        /// The labels every line gets.
        pub(crate) labels: LabelSet,
        /// Items never written.
        pub(crate) drop: BTreeSet<u64>,
        /// Items written twice, a millisecond apart (a retry that re-stamps).
        pub(crate) twice: BTreeSet<u64>,
        /// Items written under these labels instead.
        pub(crate) elsewhere: Option<(LabelSet, BTreeSet<u64>)>,
        /// One item written again this long after the first write: a retry that lands after
        /// the read-back first saw every item.
        pub(crate) late_copy: Option<(u64, Duration)>,
        /// How far behind telltale's clock the stand-in's clock stamps lines.
        pub(crate) clock_behind: Duration,
    }

    impl Pipe {
        /// A healthy pipe writing every item once under `labels`.
        pub(crate) fn to(labels: &[(&str, &str)]) -> Pipe {
            Pipe {
                labels: LabelSet::new(labels.iter().copied()).unwrap(),
                drop: BTreeSet::new(),
                twice: BTreeSet::new(),
                elsewhere: None,
                late_copy: None,
                clock_behind: Duration::ZERO,
            }
        }

        /// Writes `(seq, line)` items as configured. Lines get increasing timestamps, so a
        /// stream keeps the order they were given in.
        pub(crate) async fn carry(&self, loki: &telltale_loki::Client, items: &[(u64, String)]) {
            let base = Timestamp::now().minus(self.clock_behind);
            let mut home = Vec::new();
            let mut away = Vec::new();
            for (i, (seq, line)) in items.iter().enumerate() {
                if self.drop.contains(seq) {
                    continue;
                }
                let at = base.plus(Duration::from_micros(10 * i as u64));
                let entry = Entry::new(at, line.clone());
                let moved = self
                    .elsewhere
                    .as_ref()
                    .is_some_and(|(_, seqs)| seqs.contains(seq));
                let bucket = if moved { &mut away } else { &mut home };
                bucket.push(entry);
                if self.twice.contains(seq) {
                    bucket.push(Entry::new(at.plus(Duration::from_millis(1)), line.clone()));
                }
            }
            let mut streams = vec![Stream::new(self.labels.clone(), home)];
            if let Some((labels, _)) = &self.elsewhere {
                streams.push(Stream::new(labels.clone(), away));
            }
            streams.retain(|s| !s.entries.is_empty());
            if !streams.is_empty() {
                let report = loki.push(&streams).await.unwrap();
                assert_eq!(report.rejected(), 0, "{report:?}");
            }
            if let Some((seq, after)) = self.late_copy {
                let Some((_, line)) = items.iter().find(|(s, _)| *s == seq) else {
                    return;
                };
                let (loki, labels, line) = (loki.clone(), self.labels.clone(), line.clone());
                let behind = self.clock_behind;
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let at = Timestamp::now().minus(behind);
                    loki.push(&[Stream::new(labels, vec![Entry::new(at, line)])])
                        .await
                        .unwrap();
                });
            }
        }
    }

    /// A run's context for a fault test against the real Loki at `url`.
    pub(crate) fn fault_ctx(url: &str, items: u32, deadline: u64, settle: u64) -> super::Context {
        let mut stack = crate::stack::Stack::default();
        stack.loki.url = Some(url.to_owned());
        super::Context::new(
            stack,
            super::super::Options {
                items,
                deadline: Duration::from_secs(deadline),
                late_after: Duration::from_secs(30),
                settle: Duration::from_secs(settle),
                progress: false,
                probe: Default::default(),
            },
        )
    }

    /// The fault matrix every Loki-backed delivery scenario shares, run against the real Loki
    /// named by `LOKI_URL` through a [`Pipe`]. The calling test module defines
    /// `async fn through(ctx: &Context, pipe: &Pipe) -> ScenarioReport`, which sends the
    /// scenario's items through the pipe and judges them as the scenario does.
    macro_rules! loki_fault_tests {
        (scenario: $scenario:literal, promised: $promised:expr, wrong: $wrong:expr, place: $place:expr $(,)?) => {
            fn loki_url(what: &str) -> Option<String> {
                let url = std::env::var("LOKI_URL").ok();
                if url.is_none() {
                    telltale_testsupport::skip(&format!(
                        "{} {what} against a real Loki (set LOKI_URL)",
                        $scenario
                    ));
                }
                url
            }

            #[tokio::test]
            async fn lines_under_the_promised_labels_are_delivered() {
                let Some(url) = loki_url("positive control") else {
                    return;
                };
                let ctx = fault_ctx(&url, 6, 20, 1);
                let r = through(&ctx, &Pipe::to($promised)).await;
                assert_eq!(r.status, crate::report::Status::Passed, "{r:#?}");
                let d = &r.delivery[0];
                assert_eq!((d.sent, d.delivered), (6, 6), "{d:?}");
            }

            #[tokio::test]
            async fn lines_under_other_labels_are_misrouted_naming_the_difference() {
                let Some(url) = loki_url("misrouting") else {
                    return;
                };
                let ctx = fault_ctx(&url, 4, 60, 0);
                let r = through(&ctx, &Pipe::to($wrong)).await;
                assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
                let d = &r.delivery[0];
                assert_eq!((d.sent, d.misrouted, d.missing), (4, 4, 0), "{d:?}");
                assert_eq!(d.misrouted_to.len(), 1, "{d:?}");
                assert_eq!(d.misrouted_to[0].found, $place);
                assert_eq!(d.misrouted_to[0].items, 4);
                assert!(r.summary.contains("4 misrouted"), "{}", r.summary);
                // Every item accounted for by the early wide search: no waiting out the deadline.
                let evidence = serde_json::to_value(&r.evidence).unwrap();
                let at = evidence["queries"][0]["wide_search"]["searched_at_ms"]
                    .as_u64()
                    .unwrap();
                assert!(at < 60_000, "{evidence:#}");
            }

            #[tokio::test]
            async fn lines_dropped_are_missing_and_lines_elsewhere_misrouted() {
                let Some(url) = loki_url("loss and misrouting apart") else {
                    return;
                };
                let ctx = fault_ctx(&url, 6, 2, 0);
                let mut pipe = Pipe::to($promised);
                pipe.drop.insert(1);
                let wrong = telltale_loki::LabelSet::new($wrong.iter().copied()).unwrap();
                pipe.elsewhere = Some((wrong, [3].into()));
                let r = through(&ctx, &pipe).await;
                assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
                let d = &r.delivery[0];
                assert_eq!(
                    (d.sent, d.delivered, d.misrouted, d.missing),
                    (6, 4, 1, 1),
                    "{d:?}"
                );
                assert_eq!(d.missing_ranges, vec![(1, 1)]);
                assert_eq!(d.misrouted_to[0].found, $place);
            }

            #[tokio::test]
            async fn lines_pushed_twice_are_duplicated() {
                let Some(url) = loki_url("duplicates") else {
                    return;
                };
                let ctx = fault_ctx(&url, 4, 20, 0);
                let mut pipe = Pipe::to($promised);
                pipe.twice.insert(2);
                let r = through(&ctx, &pipe).await;
                assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
                let d = &r.delivery[0];
                assert_eq!((d.delivered, d.duplicated), (3, 1), "{d:?}");
            }

            #[tokio::test]
            async fn a_copy_landing_after_the_first_complete_read_is_duplicated() {
                let Some(url) = loki_url("late duplicates") else {
                    return;
                };
                // The copy lands 2 s after the items; the settle read 4 s after the first
                // complete one sees it.
                let ctx = fault_ctx(&url, 4, 30, 4);
                let mut pipe = Pipe::to($promised);
                pipe.late_copy = Some((1, Duration::from_secs(2)));
                let r = through(&ctx, &pipe).await;
                assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}");
                let d = &r.delivery[0];
                assert_eq!((d.delivered, d.duplicated), (3, 1), "{d:?}");
                // Without the settle read the same copy goes unseen: the read is what caught it.
                let ctx = fault_ctx(&url, 4, 30, 0);
                let r = through(&ctx, &pipe).await;
                assert_eq!(r.status, crate::report::Status::Passed, "{r:#?}");
            }

            #[tokio::test]
            async fn lines_stamped_by_a_clock_two_minutes_behind_are_delivered() {
                let Some(url) = loki_url("clock skew") else {
                    return;
                };
                let ctx = fault_ctx(&url, 4, 20, 0);
                let mut pipe = Pipe::to($promised);
                pipe.clock_behind = Duration::from_secs(120);
                let r = through(&ctx, &pipe).await;
                assert_eq!(r.status, crate::report::Status::Passed, "{r:#?}");
                assert_eq!(r.delivery[0].delivered, 4);
            }
        };
    }
    pub(crate) use loki_fault_tests;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(pairs.iter().copied()).unwrap()
    }

    /// Loki 3.7.6's own answers (`fixtures/loki/record-wide-search.sh`): items 0-2 under the
    /// promised labels, 3 and 4 under `{exporter="OTLP"}`, a copy of 1 under
    /// `{job="otlp-gateway"}`, 5 never written. The search runs over the recorded answers as it
    /// runs over live ones.
    #[test]
    fn recorded_loki_answers_tell_misrouted_items_from_missing_ones() {
        use crate::accounting::{Ledger, Sighting};
        use telltale_loki::{decode_query_response, QueryResult};

        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/loki/3.7.6/wide-search");
        let read = |name: &str| {
            std::fs::read(dir.join(format!("{name}.body")))
                .unwrap_or_else(|e| panic!("{name}: {e} (the recording covers every label name)"))
        };
        let run = std::fs::read_to_string(dir.join("run")).unwrap();
        let run = run.trim();
        let seq_of = |line: &str| super::super::seq_after_run(line, run);
        let streams = |name: &str| match decode_query_response(&read(name)).unwrap().result {
            QueryResult::Streams(s) => s,
            other => panic!("{name}: {other:?}"),
        };
        let promised = labels(&[("service_name", "telltale")]);
        let mut first = HashMap::new();
        let already = sightings(streams("promised"), &mut first, Duration::from_millis(100));
        assert_eq!(already.len(), 3);

        let labels_answer: serde_json::Value = serde_json::from_slice(&read("labels")).unwrap();
        let names: Vec<String> = labels_answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        let (order, left_out) = wide_order(names, &promised);
        assert_eq!((order[0].as_str(), left_out), ("service_name", 0));
        let mut search = Search::new(&promised, &already, &seq_of);
        for name in &order {
            if search.done(6) {
                break;
            }
            let found = sightings(
                streams(&format!("wide-{name}")),
                &mut first,
                Duration::from_millis(200),
            );
            search.take(found, &seq_of);
        }
        assert!(search.in_place.is_empty(), "nothing new in place");

        let mut ledger = Ledger::new(None);
        for seq in 0..6 {
            ledger.sent(seq, Duration::ZERO);
        }
        ledger.observe(already.iter().map(|e| Sighting {
            seq: seq_of(&e.entry.line).unwrap(),
            seen_at: e.first_seen,
        }));
        for m in &search.elsewhere {
            ledger.observe_misrouted(
                seq_of(&m.seen.entry.line).unwrap(),
                m.seen.first_seen,
                &m.place,
            );
        }
        let s = ledger.summary();
        assert_eq!((s.delivered, s.misrouted, s.missing), (3, 2, 1), "{s:?}");
        assert_eq!(
            s.misrouted_to,
            vec![(
                r#"service_name="unknown_service" instead of "telltale"; extra exporter="OTLP""#
                    .to_owned(),
                2
            )]
        );
        assert_eq!(s.missing_ranges, vec![(5, 5)]);

        // The rule the search is built around: a matcher that matches "" selects nothing.
        let status = std::fs::read_to_string(dir.join("empty-compatible.status")).unwrap();
        assert_eq!(status.trim(), "400");
        assert!(String::from_utf8(read("empty-compatible"))
            .unwrap()
            .contains("empty-compatible value"));
    }

    #[test]
    fn the_difference_names_changed_missing_and_extra_labels() {
        let promised = labels(&[
            ("app", "be-pwa"),
            ("host", "meridian"),
            ("service_unit", "a.service"),
        ]);
        assert_eq!(
            label_difference(
                &promised,
                &labels(&[
                    ("app", "be-pwa"),
                    ("host", "meridian"),
                    ("service_unit", "a.service"),
                    ("service_name", "be-pwa")
                ])
            ),
            None,
            "extra labels alone are still the promised place"
        );
        assert_eq!(
            label_difference(
                &promised,
                &labels(&[
                    ("app", "be-pwa"),
                    ("host", "meridian"),
                    ("service_unit", "b.service")
                ])
            )
            .unwrap(),
            r#"service_unit="b.service" instead of "a.service""#
        );
        assert_eq!(
            label_difference(
                &promised,
                &labels(&[
                    ("app", "be-pwa"),
                    ("host", "meridian"),
                    ("service_name", "x\"y")
                ])
            )
            .unwrap(),
            r#"missing service_unit="a.service"; extra service_name="x\"y""#
        );
    }

    #[test]
    fn the_wide_search_asks_promised_names_first_and_is_bounded() {
        let promised = labels(&[("app", "be-pwa"), ("service_unit", "u")]);
        let names: Vec<String> = [
            "zeta",
            "job",
            "__stream_shard__",
            "app",
            "service_name",
            "a",
        ]
        .into_iter()
        .map(String::from)
        .chain((0..40).map(|i| format!("n{i:02}")))
        .collect();
        let (order, left_out) = wide_order(names, &promised);
        assert_eq!(&order[..4], ["app", "job", "service_name", "a"]);
        assert!(!order.iter().any(|n| n.starts_with("__")));
        assert_eq!(order.len(), WIDE_SEARCH_LABELS);
        assert_eq!(left_out, 45 - WIDE_SEARCH_LABELS);
        assert_eq!(
            wide_query("service_name", "tt-1").unwrap(),
            r#"{service_name=~".+"} |= "tt-1""#
        );
    }

    #[test]
    fn an_entry_returned_by_two_wide_queries_counts_once() {
        let promised = labels(&[("service_name", "telltale")]);
        let e = |l: &LabelSet, ts: i64, line: &str| LokiSeen {
            labels: l.clone(),
            entry: ReadEntry {
                timestamp: Timestamp::from_unix_nanos(ts),
                line: line.into(),
                structured_metadata: Vec::new(),
                parsed: Vec::new(),
            },
            first_seen: Duration::ZERO,
        };
        let other = labels(&[("exporter", "OTLP"), ("service_name", "unknown_service")]);
        let mut seen = BTreeSet::new();
        let (a_in, a_out) = sort_out(
            vec![e(&other, 1, "x"), e(&promised, 2, "y")],
            &promised,
            &mut seen,
        );
        let (b_in, b_out) = sort_out(
            vec![e(&other, 1, "x"), e(&other, 3, "x")],
            &promised,
            &mut seen,
        );
        assert_eq!(
            (a_in.len(), a_out.len(), b_in.len(), b_out.len()),
            (1, 1, 0, 1)
        );
        assert_eq!(
            a_out[0].place,
            r#"service_name="unknown_service" instead of "telltale"; extra exporter="OTLP""#
        );
    }
}
