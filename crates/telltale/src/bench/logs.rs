//! The `logs` bench: pushes straight to Loki (protobuf + snappy through `telltale-loki`), polls
//! for what became visible, then reads the whole step back once for the ledger.

use std::time::{Duration, Instant};

use telltale_loki::{
    Client, Direction, Entry, EntryStatus, ErrorKind, LabelSet, RetryPolicy, Selector, Stream,
    Timestamp,
};

use super::drive::{self, Elsewhere, Missing, Probe, Sender, Tally};
use super::report::{Limits, Step};
use super::{BenchError, LineMaker, Settings};
use crate::scenario::{chain, readback, Context, Promised, Stop};

/// The Loki under load: where it is, what it says it is, and the limits it declares.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) endpoint: String,
    pub(super) version: Option<String>,
    pub(super) limits: Option<Limits>,
    read: Client,
}

impl Target {
    /// Checks Loki answers and reads its version and `/config` limits (optional: a Loki behind
    /// a proxy may hide `/config`).
    pub(super) async fn connect(ctx: &Context) -> Result<Target, BenchError> {
        let endpoint = ctx.loki_url();
        let read = ctx.loki()?;
        let ready = read
            .ready()
            .await
            .map_err(|e| BenchError::from(Stop::from_error(&endpoint, &e)))?;
        if !ready {
            return Err(BenchError::Unavailable {
                endpoint,
                message: "Loki answers but is not ready".into(),
                hint: "wait for /ready to say `ready`, then run the bench again".into(),
            });
        }
        let version = read.build_info().await.ok().map(|b| b.version);
        let limits = read.server_config().await.ok().map(|c| Limits {
            ingestion_rate_mib: c.limits.ingestion_rate_mb,
            ingestion_burst_mib: c.limits.ingestion_burst_size_mb,
            max_line_size: c.limits.max_line_size,
            max_entries_per_query: c.limits.max_entries_limit_per_query,
        });
        Ok(Target {
            endpoint,
            version,
            limits,
            read,
        })
    }

    /// Entries per query page: under `max_entries_limit_per_query`, and small enough in bytes
    /// that the querier's answer to the frontend stays under Loki's 4 MiB gRPC message limit
    /// (`server.grpc_server_max_recv_msg_size`): past it, Loki 3.5 retries the page internally
    /// until the HTTP request times out instead of answering with an error.
    fn page_size(&self, line_bytes: usize) -> u32 {
        let by_entries = match &self.limits {
            Some(l) if l.max_entries_per_query > 0 => l.max_entries_per_query.min(5000),
            _ => 5000,
        };
        // 2 MiB of lines, with ~200 bytes per entry for labels, timestamps and framing.
        let by_bytes = (2 * 1024 * 1024 / (line_bytes as u64 + 200)).max(1);
        by_entries.min(by_bytes) as u32
    }
}

/// Sends the `logs` bench's lines: grouped by stream, at most `max_batch_bytes` of lines a push.
struct LogsSender {
    push: Client,
    labels: Vec<LabelSet>,
    maker: LineMaker,
    per_batch: u64,
    last_ts: i64,
}

impl Sender for LogsSender {
    fn batch_items(&self) -> u64 {
        self.per_batch
    }

    async fn send(&mut self, first: u64, count: u64, tally: &mut Tally) {
        let streams = self.labels.len() as u64;
        let per_stream = (count / streams + 1) as usize;
        let mut batch: Vec<Stream> = self
            .labels
            .iter()
            .map(|l| Stream::new(l.clone(), Vec::with_capacity(per_stream)))
            .collect();
        let now_ts = Timestamp::now().unix_nanos();
        for seq in first..first + count {
            // Strictly increasing timestamps: unique per item, and the read-back's time
            // order is the send order.
            self.last_ts = now_ts.max(self.last_ts + 1);
            let entry = Entry::new(
                Timestamp::from_unix_nanos(self.last_ts),
                self.maker.line(seq),
            );
            batch[(seq % streams) as usize].entries.push(entry);
        }
        tally.bytes += count * self.maker.line_bytes() as u64;
        // By value: accepted entries are neither copied nor listed one by one.
        let result = self.push.push_owned(batch).await;
        match result {
            Ok(report) => {
                tally.wire_bytes += report.request_bytes() as u64;
                tally.accepted += report.accepted() as u64;
                for o in report.exceptions() {
                    match &o.status {
                        EntryStatus::Accepted => tally.accepted += 1,
                        EntryStatus::Rejected { kind, reason } => {
                            tally.reject(kind_name(*kind), reason, 1)
                        }
                        EntryStatus::NotSent { reason } => tally.reject("not_sent", reason, 1),
                        EntryStatus::Unknown { reason } => tally.unknown(reason, 1),
                    }
                }
            }
            Err(err) => {
                // Refused as a whole: nothing of this batch was stored.
                let kind = err.api().map_or("error", |a| kind_name(a.kind()));
                tally.reject(kind, &chain(&err), count);
            }
        }
    }
}

/// [`LokiProbe`]'s mark of an item not read yet (8 bytes an item, where `Option<i64>` took 16).
const NOT_SEEN: i64 = i64::MIN;

/// Reads an item's sequence number from its Loki line; `None` for a line not of the step.
pub(super) type SeqOf = Box<dyn Fn(&str) -> Option<u64> + Send + Sync>;

/// Finds a step's items in Loki by query: the `logs` bench's own streams, or the lines Alloy
/// wrote for OTLP and Faro. Polls read forward from the oldest item not yet seen.
pub(super) struct LokiProbe<'a> {
    target: &'a Target,
    endpoint: String,
    query: String,
    seq_of: SeqOf,
    page: u32,
    window_start: Timestamp,
    skew: Duration,
    cursor: Timestamp,
    /// Per item, the timestamp it was first read with ([`NOT_SEEN`]: not yet).
    seen_ts: Vec<i64>,
    contiguous: usize,
    highest_seen: Option<usize>,
    gap: Option<(usize, Instant)>,
    /// Where the items belong, for a search under any labels when some are missing: `None`
    /// for the `logs` bench (below).
    promised: Option<(LabelSet, String)>,
    created: Timestamp,
}

impl<'a> LokiProbe<'a> {
    /// A probe for `total` items matched by `query`, whose lines `seq_of` reads; lines of
    /// about `line_bytes` size its pages. Its window reaches `skew` before now and past the
    /// moment of each read: Alloy stamps OTLP and Faro lines with its own clock, and a
    /// collector whose clock runs behind this machine's must not make every item read as lost.
    pub(super) fn new(
        target: &'a Target,
        query: String,
        total: u64,
        line_bytes: usize,
        skew: Duration,
        seq_of: SeqOf,
    ) -> LokiProbe<'a> {
        let window_start = window_start(Timestamp::now(), skew);
        LokiProbe {
            target,
            endpoint: target.endpoint.clone(),
            query,
            seq_of,
            page: target.page_size(line_bytes),
            window_start,
            skew,
            cursor: window_start,
            seen_ts: vec![NOT_SEEN; total as usize],
            contiguous: 0,
            highest_seen: None,
            gap: None,
            promised: None,
            created: Timestamp::now(),
        }
    }

    /// Items missing at the end of the step are looked for under any labels carrying `run`
    /// in the line (`readback::search_for_missing`, as the check scenarios do): a collector
    /// that writes them under other labels (`service_name="unknown_service"`) misroutes them.
    /// Not for the `logs` bench: Loki stores a pushed stream under the labels pushed (it may
    /// add one, never change one), and its lines carry the run but not the step, so a search
    /// by run would take another step's lines for this one's.
    pub(super) fn look_elsewhere(mut self, labels: LabelSet, run: &str) -> LokiProbe<'a> {
        self.promised = Some((labels, run.to_owned()));
        self
    }
}

impl Probe for LokiProbe<'_> {
    async fn poll(&mut self) -> Result<Vec<u64>, BenchError> {
        let mut seqs = Vec::new();
        let (seen_ts, highest_seen) = (&mut self.seen_ts, &mut self.highest_seen);
        self.target
            .read
            .read_each(
                &self.query,
                self.cursor,
                window_end(Timestamp::now(), self.skew),
                Direction::Forward,
                self.page,
                |_, e| {
                    let Some(seq) = (self.seq_of)(e.line()) else {
                        return;
                    };
                    let i = seq as usize;
                    if i < seen_ts.len() && seen_ts[i] == NOT_SEEN {
                        seen_ts[i] = e.timestamp().unix_nanos();
                        *highest_seen = Some(highest_seen.map_or(i, |h| h.max(i)));
                        seqs.push(seq);
                    }
                },
            )
            .await
            .map_err(|e| BenchError::from(Stop::from_error(&self.endpoint, &e)))?;
        // Move the window's start past the items seen in sequence. An item still unseen while
        // later ones have been visible for 5 s is left to the final read-back, so one lost item
        // does not make every poll re-read from it.
        loop {
            while let Some(&ts) = self
                .seen_ts
                .get(self.contiguous)
                .filter(|&&t| t != NOT_SEEN)
            {
                self.cursor = Timestamp::from_unix_nanos(ts);
                self.contiguous += 1;
            }
            let Some(h) = self.highest_seen.filter(|&h| h > self.contiguous) else {
                self.gap = None;
                break;
            };
            match self.gap {
                Some((at, since)) if at == self.contiguous => {
                    if since.elapsed() < Duration::from_secs(5) {
                        break;
                    }
                    // `h` itself is seen, so this finds an index.
                    self.contiguous = (self.contiguous..=h)
                        .find(|&i| self.seen_ts[i] != NOT_SEEN)
                        .unwrap_or(h);
                    self.gap = None;
                }
                _ => {
                    self.gap = Some((self.contiguous, Instant::now()));
                    break;
                }
            }
        }
        Ok(seqs)
    }

    async fn count(&mut self) -> Result<Option<u64>, BenchError> {
        // The read-back's window, as an instant query's range ending at its end.
        let end = window_end(Timestamp::now(), self.skew);
        let range_ms = (end.unix_nanos() - self.window_start.unix_nanos()) / 1_000_000;
        let query = format!("sum(count_over_time({}[{range_ms}ms]))", self.query);
        // The count only spares a read: where it cannot be had (a proxy that passes
        // `query_range` alone, a Loki that refuses the range), the step is read again.
        let Ok(answer) = self.target.read.query(&query, Some(end), None).await else {
            return Ok(None);
        };
        let Some(series) = answer.result.series() else {
            return Ok(None);
        };
        // No series: nothing matched.
        let total: f64 = series
            .iter()
            .flat_map(|s| &s.samples)
            .map(|s| s.value)
            .sum();
        Ok((total.is_finite() && total >= 0.0).then_some(total as u64))
    }

    async fn read_back(&mut self) -> Result<Vec<u64>, BenchError> {
        // The polls are over: their per-item state is not needed any more.
        self.seen_ts = Vec::new();
        // Pages come in time order, each stream by stream: one page at a time is sorted by
        // time, and only the sequence numbers are kept (8 bytes an item).
        let mut read: Vec<u64> = Vec::new();
        let mut page: Vec<(i64, u64)> = Vec::new();
        let mut current = 0;
        let flush = |page: &mut Vec<(i64, u64)>, read: &mut Vec<u64>| {
            page.sort_unstable();
            read.extend(page.drain(..).map(|(_, seq)| seq));
        };
        let seq_of = &self.seq_of;
        self.target
            .read
            .read_each(
                &self.query,
                self.window_start,
                window_end(Timestamp::now(), self.skew),
                Direction::Forward,
                self.page,
                |_, e| {
                    let Some(seq) = seq_of(e.line()) else {
                        return;
                    };
                    if e.page() != current {
                        flush(&mut page, &mut read);
                        current = e.page();
                    }
                    page.push((e.timestamp().unix_nanos(), seq));
                },
            )
            .await
            .map_err(|e| BenchError::from(Stop::from_error(&self.endpoint, &e)))?;
        flush(&mut page, &mut read);
        Ok(read)
    }

    async fn search_elsewhere(&mut self, missing: Missing<'_>) -> Result<Elsewhere, BenchError> {
        let Some((labels, run)) = &self.promised else {
            return Ok(Elsewhere::default());
        };
        let (found, now) = (missing.found, missing.now);
        let want = Promised {
            labels,
            run,
            items: missing.items,
            sent_from: self.created,
        };
        let wide = match readback::search_for_missing(
            &self.target.read,
            &want,
            found.iter().copied(),
            now,
            &self.seq_of,
        )
        .await
        {
            Ok(wide) => wide,
            // The promised query answered, so the items are missing from it either way; only
            // where else they went is unknown, and the report says why.
            Err(stop) => {
                return Ok(Elsewhere {
                    evidence: Some(serde_json::json!({
                        "why": "items were missing under the promised labels",
                        "endpoint": stop.problem.endpoint,
                        "error": stop.problem.message,
                        "hint": stop.problem.hint,
                    })),
                    ..Elsewhere::default()
                })
            }
        };
        let seq = |e: &readback::LokiSeen| (self.seq_of)(&e.entry.line);
        Ok(Elsewhere {
            // The search reads the promised labels again: only items the read-back lacked
            // are new sightings there.
            in_place: wide
                .in_place
                .iter()
                .filter_map(|e| Some((seq(e)?, e.first_seen)))
                .filter(|(s, _)| found.binary_search(s).is_err())
                .collect(),
            misrouted: wide
                .elsewhere
                .iter()
                .filter_map(|m| Some((seq(&m.seen)?, m.seen.first_seen, m.place.clone())))
                .collect(),
            evidence: Some(wide.evidence),
        })
    }
}

/// Where a read-back window starts: `skew` before the step (and at least a second, as
/// before the allowance existed, for Loki's nanosecond timestamps against this clock).
fn window_start(now: Timestamp, skew: Duration) -> Timestamp {
    now.minus(skew.max(Duration::from_secs(1)))
}

/// Where a read ends: `skew` past now (Loki's `end` is exclusive, and a collector whose clock
/// runs ahead stamps items in this machine's future).
fn window_end(now: Timestamp, skew: Duration) -> Timestamp {
    now.plus(skew.max(Duration::from_secs(1)))
}

/// Runs one step at `rate` items per second.
pub(super) async fn step(
    ctx: &Context,
    target: &Target,
    settings: &Settings,
    n: u32,
    rate: f64,
) -> Result<Step, BenchError> {
    let endpoint = target.endpoint.clone();
    let total = drive::items(settings, rate);
    let step_label = n.to_string();
    let labels = (0..settings.streams)
        .map(|i| {
            LabelSet::new([
                ("app", "telltale-bench"),
                ("run", ctx.run_id.as_str()),
                ("step", step_label.as_str()),
                ("stream", &format!("s{i}")),
            ])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup_error(&endpoint, &e))?;
    let maker =
        LineMaker::new(&ctx.run_id, settings.line_bytes).ok_or_else(|| BenchError::Setup {
            endpoint: "--line-bytes".into(),
            message: "too short for the run id and sequence number".into(),
            hint: "raise --line-bytes".into(),
        })?;
    // A client of its own: its connections live on the generator thread's runtime.
    let mut builder = Client::builder(endpoint.clone()).timeout(Duration::from_secs(30));
    if let Some(auth) = ctx.auth("loki.auth", &ctx.stack.loki.auth)? {
        builder = builder.auth(auth);
    }
    if !settings.retries {
        builder = builder.retry(RetryPolicy::none());
    }
    let push = builder.build().map_err(|e| setup_error(&endpoint, &e))?;

    let selector = Selector::new()
        .eq("app", "telltale-bench")
        .and_then(|s| s.eq("run", &ctx.run_id))
        .and_then(|s| s.eq("step", &step_label))
        .map_err(|e| setup_error(&endpoint, &e))?
        .logs();
    let reader = maker.clone();
    let mut probe = LokiProbe::new(
        target,
        selector.to_string(),
        total,
        settings.line_bytes,
        settings.clock_skew,
        Box::new(move |line| reader.seq_of(line)),
    );
    let per_batch = (settings.max_batch_bytes / maker.line_bytes()).max(1) as u64;
    let sender = LogsSender {
        push,
        labels,
        per_batch,
        maker,
        last_ts: 0,
    };
    let settings = Settings {
        batch_interval: push_interval(settings.batch_interval, rate, per_batch),
        ..settings.clone()
    };
    drive::step(
        &settings,
        "logs",
        n,
        rate,
        sender,
        &mut probe,
        Duration::from_millis(100),
    )
    .await
}

/// Lines a push should carry at least: each push has a fixed cost (the HTTP exchange and
/// the runtime's wake-ups, about 0.8 ms), which 2 000 lines a push left at twice the encoding.
const LINES_PER_PUSH: u64 = 8_000;

/// The generator's interval at `rate` lines/s: long enough for [`LINES_PER_PUSH`] (or a full
/// batch of `per_batch`, if smaller), never under `base`, and at most 500 ms unless `base` is.
/// Latency is still measured from each push's own send time.
fn push_interval(base: Duration, rate: f64, per_batch: u64) -> Duration {
    let lines = LINES_PER_PUSH.min(per_batch) as f64;
    let fill = Duration::from_secs_f64((lines / rate.max(1.0)).min(0.5));
    base.max(fill)
}

/// Where a step's items show in Loki once Alloy writes them (OTLP, Faro): the stream
/// `{label="value"}`, each line carrying `telltale <tag> seq=<n>`.
pub(super) struct Tagged<'a> {
    pub(super) loki: &'a Target,
    pub(super) label: (&'a str, &'a str),
    pub(super) tag: &'a str,
    /// About how long a line is, to size query pages.
    pub(super) line_bytes: usize,
}

/// Runs one step of a signal that Alloy writes to Loki: `sender` sends, and the query
/// `{label="value"} |= "<tag>"` reads back.
pub(super) async fn tagged_step(
    settings: &Settings,
    signal: &str,
    n: u32,
    rate: f64,
    tagged: Tagged<'_>,
    sender: impl Sender,
) -> Result<Step, BenchError> {
    let endpoint = tagged.loki.endpoint.clone();
    let query = Selector::new()
        .eq(tagged.label.0, tagged.label.1)
        .map_err(|e| setup_error(&endpoint, &e))?
        .logs()
        .contains(tagged.tag)
        .to_string();
    let promised = LabelSet::new([tagged.label]).map_err(|e| setup_error(&endpoint, &e))?;
    let reader = tagged.tag.to_owned();
    let mut probe = LokiProbe::new(
        tagged.loki,
        query,
        drive::items(settings, rate),
        tagged.line_bytes,
        settings.clock_skew,
        Box::new(move |line| crate::scenario::seq_after_run(line, &reader)),
    )
    .look_elsewhere(promised, tagged.tag);
    drive::step(
        settings,
        signal,
        n,
        rate,
        sender,
        &mut probe,
        Duration::from_millis(100),
    )
    .await
}

fn setup_error(endpoint: &str, e: &telltale_loki::Error) -> BenchError {
    BenchError::Setup {
        endpoint: endpoint.into(),
        message: chain(e),
        hint: "fix Loki's address or credential in the stack description".into(),
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::StreamRateLimited => "stream_rate_limited",
        ErrorKind::StreamLimit => "stream_limit",
        ErrorKind::TooOld => "too_old",
        ErrorKind::TooNew => "too_new",
        ErrorKind::TooFarBehind => "too_far_behind",
        ErrorKind::LineTooLong => "line_too_long",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::Unauthorized => "unauthorized",
        ErrorKind::NotFound => "not_found",
        ErrorKind::NotReady => "not_ready",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_back_window_allows_for_a_collector_clock_that_disagrees() {
        let now = Timestamp::from_unix_nanos(1_000_000_000_000_000_000);
        let skew = Settings::default().clock_skew;
        assert_eq!(skew, Duration::from_secs(300));
        // A Faro line stamped by an Alloy whose clock runs two minutes behind this machine's,
        // or ahead of it, is inside the window; with the old 1 s start it was "lost".
        let behind = now.minus(Duration::from_secs(120));
        let ahead = now.plus(Duration::from_secs(120));
        for ts in [behind, ahead] {
            assert!(window_start(now, skew) <= ts && ts < window_end(now, skew));
        }
        assert!(window_start(now, Duration::from_secs(1)) > behind);
        // No allowance still leaves Loki's exclusive end a second of room.
        assert_eq!(
            window_start(now, Duration::ZERO),
            now.minus(Duration::from_secs(1))
        );
        assert_eq!(
            window_end(now, Duration::ZERO),
            now.plus(Duration::from_secs(1))
        );
    }

    #[test]
    fn pushes_carry_thousands_of_lines_at_high_rates() {
        let base = Duration::from_millis(100);
        let ms = |rate, per_batch| push_interval(base, rate, per_batch).as_millis();
        assert_eq!(ms(20_000.0, 10_485), 400);
        assert_eq!(ms(80_000.0, 10_485), 100, "never under the base interval");
        assert_eq!(ms(1_000.0, 10_485), 500, "capped");
        assert_eq!(ms(20_000.0, 1_024), 100, "no wait past a full batch");
        assert_eq!(
            push_interval(Duration::from_secs(1), 1_000.0, 10_485),
            Duration::from_secs(1)
        );
    }
}
