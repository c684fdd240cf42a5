//! `telltale canary`: loki-canary's job, judged by query. A steady trickle of numbered lines
//! goes to one Loki stream for as long as it runs; every check reads the stream forward from
//! the oldest line not yet seen (pages streamed, no line kept) and each line is judged once it
//! is `max_wait` old: delivered, duplicated or missing. Only the lines still being waited for
//! are held, so memory is flat however long it runs.
//!
//! Its `/metrics` uses loki-canary's names where they mean the same thing
//! (`pkg/canary/comparator/comparator.go` in grafana/loki): `loki_canary_entries_total`,
//! `loki_canary_missing_entries_total`, `loki_canary_duplicate_entries_total`,
//! `loki_canary_unexpected_entries_total` and the `loki_canary_response_latency_seconds`
//! histogram with loki-canary's default buckets. Unlike loki-canary's WebSocket tail, a query
//! never replays old lines, so a reconnect cannot count as a duplicate.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telltale_loki::{Direction, Entry, LabelSet, Stream, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bench::LineMaker;
use crate::scenario::{chain, Context, Stop};

/// loki-canary's default `response_latency_seconds` buckets: `ExponentialBuckets(0.5, 2, 10)`.
const BUCKETS: [f64; 10] = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// One line still being waited for.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The entry's timestamp, as pushed (strictly increasing with the sequence number).
    ts: i64,
    sent: Duration,
    seen: bool,
    /// Copies seen by the check that saw the most: each check reads every copy from its
    /// start on, so the largest count is the number stored.
    copies: u32,
    /// The check that last counted this line, and how many copies it has counted so far.
    read: u32,
    in_read: u32,
}

/// The canary's accounting: the lines still being waited for, and totals for the rest.
#[derive(Debug, Default, Clone)]
pub struct Window {
    /// Sequence number of `pending[0]`.
    first: u64,
    pending: VecDeque<Pending>,
    read: u32,
    /// Totals so far.
    pub totals: Totals,
    latency: Histogram,
}

/// What the canary has counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Lines pushed (`loki_canary_entries_total`).
    pub sent: u64,
    /// Lines Loki refused, or whose push failed.
    pub refused: u64,
    /// Lines judged: seen exactly once within `max_wait`.
    pub delivered: u64,
    /// Lines judged: seen more than once.
    pub duplicated: u64,
    /// Extra copies of those lines (`loki_canary_duplicate_entries_total`: receipts beyond the
    /// first).
    pub extra_copies: u64,
    /// Lines judged: not seen within `max_wait` (`loki_canary_missing_entries_total`).
    pub missing: u64,
    /// Lines read that were never sent, or were already judged
    /// (`loki_canary_unexpected_entries_total`).
    pub unexpected: u64,
}

impl Totals {
    /// Whether every line judged so far came back exactly once and nothing was refused.
    pub fn is_clean(&self) -> bool {
        self.refused == 0 && self.duplicated == 0 && self.missing == 0 && self.unexpected == 0
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Window {
    /// Records line `seq` pushed with timestamp `ts` at `sent` on the canary's clock.
    pub fn sent(&mut self, seq: u64, ts: i64, sent: Duration) {
        if self.pending.is_empty() {
            self.first = seq;
        }
        debug_assert_eq!(seq, self.first + self.pending.len() as u64);
        self.pending.push_back(Pending {
            ts,
            sent,
            seen: false,
            copies: 0,
            read: 0,
            in_read: 0,
        });
        self.totals.sent += 1;
    }

    /// Records that Loki refused line `seq`: it is not waited for.
    pub fn refused(&mut self, seq: u64) {
        if let Some(p) = self.slot(seq) {
            p.copies = u32::MAX;
        }
        self.totals.refused += 1;
    }

    fn slot(&mut self, seq: u64) -> Option<&mut Pending> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.pending.get_mut(i)
    }

    /// Begins a check: the reads that follow count copies afresh.
    pub fn begin_read(&mut self) {
        self.read = self.read.wrapping_add(1);
    }

    /// Records one line read back at `now`.
    pub fn see(&mut self, seq: u64, now: Duration) {
        let read = self.read;
        let Some(p) = self.slot(seq).filter(|p| p.copies != u32::MAX) else {
            self.totals.unexpected += 1;
            return;
        };
        if p.read != read {
            p.read = read;
            p.in_read = 0;
        }
        p.in_read += 1;
        p.copies = p.copies.max(p.in_read);
        if !p.seen {
            p.seen = true;
            let latency = now.saturating_sub(p.sent).as_secs_f64();
            self.latency.observe(latency);
        }
    }

    /// Where the next check starts reading: the oldest line not yet seen, or the newest line
    /// if every one was (a copy is counted only by a check that starts at or before it).
    pub fn cursor(&self) -> Option<i64> {
        self.pending
            .iter()
            .find(|p| !p.seen && p.copies != u32::MAX)
            .or(self.pending.back())
            .map(|p| p.ts)
    }

    /// Judges every line sent `max_wait` or more before `now`, and forgets it.
    pub fn judge(&mut self, now: Duration, max_wait: Duration) {
        while let Some(p) = self.pending.front() {
            if now.saturating_sub(p.sent) < max_wait {
                break;
            }
            match p.copies {
                u32::MAX => {}
                0 => self.totals.missing += 1,
                1 => self.totals.delivered += 1,
                n => {
                    self.totals.duplicated += 1;
                    self.totals.extra_copies += u64::from(n - 1);
                }
            }
            self.pending.pop_front();
            self.first += 1;
        }
        // Flat memory: a queue that once held a burst gives the room back.
        if self.pending.capacity() > 4 * self.pending.len().max(1024) {
            self.pending.shrink_to_fit();
        }
    }

    /// Lines still waited for.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// The Prometheus text exposition of what was counted.
    pub fn render(&self) -> String {
        let t = &self.totals;
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            );
        };
        counter(
            &mut out,
            "loki_canary_entries_total",
            "counts log entries written",
            t.sent,
        );
        counter(
            &mut out,
            "loki_canary_missing_entries_total",
            "counts log entries not returned by a query within the wait duration",
            t.missing,
        );
        counter(
            &mut out,
            "loki_canary_duplicate_entries_total",
            "counts a log entry received more than one time",
            t.extra_copies,
        );
        counter(
            &mut out,
            "loki_canary_unexpected_entries_total",
            "counts a log entry received which was not expected (e.g. received after reported missing)",
            t.unexpected,
        );
        counter(
            &mut out,
            "telltale_canary_refused_entries_total",
            "log entries Loki refused or whose push failed",
            t.refused,
        );
        counter(
            &mut out,
            "telltale_canary_delivered_entries_total",
            "log entries returned exactly once within the wait duration",
            t.delivered,
        );
        let _ = write!(
            out,
            "# HELP telltale_canary_waiting_entries log entries sent and not yet judged\n# TYPE telltale_canary_waiting_entries gauge\ntelltale_canary_waiting_entries {}\n",
            self.pending.len()
        );
        let h = &self.latency;
        let name = "loki_canary_response_latency_seconds";
        let _ = write!(
            out,
            "# HELP {name} is how long it takes for log lines to be returned from Loki in seconds.\n# TYPE {name} histogram\n"
        );
        let mut below = 0;
        for (le, c) in BUCKETS.iter().zip(h.counts) {
            below += c;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {below}");
        }
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}\n",
            h.count, h.sum, h.count
        );
        out
    }
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if let Some(i) = BUCKETS.iter().position(|&le| v <= le) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// How the canary runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lines per second.
    pub rate: f64,
    /// Bytes per line.
    pub line_bytes: usize,
    /// How often lines are pushed.
    pub push_every: Duration,
    /// How often the stream is read back.
    pub check_every: Duration,
    /// How long a line may take to show before it counts as missing.
    pub max_wait: Duration,
    /// How long to push; `None`: until interrupted.
    pub duration: Option<Duration>,
    /// Where `/metrics` is served.
    pub listen: Option<std::net::SocketAddr>,
}

/// Runs the canary until `settings.duration` passes (then waits `max_wait` for the last lines
/// and judges them) or Ctrl-C, and answers the totals.
pub async fn run(ctx: &Context, settings: &Settings) -> Result<Totals, Stop> {
    let endpoint = ctx.loki_url();
    let loki = ctx.loki()?;
    let maker = LineMaker::new(&ctx.run_id, settings.line_bytes).ok_or_else(|| {
        Stop::error(
            "--line-bytes",
            "too short for the run id and sequence number",
            "raise --line-bytes",
        )
    })?;
    let labels = LabelSet::new([("app", "telltale-canary"), ("run", ctx.run_id.as_str())])
        .map_err(|e| Stop::error(&endpoint, chain(&e), "check the run id"))?;
    let query = telltale_loki::Selector::from(&labels).logs().to_string();
    let window = Arc::new(Mutex::new(Window::default()));
    if let Some(addr) = settings.listen {
        serve_metrics(addr, Arc::clone(&window))
            .await
            .map_err(|e| {
                Stop::error(
                    &addr.to_string(),
                    e.to_string(),
                    "pick a free --listen address",
                )
            })?;
    }
    let clock = Instant::now();
    let mut next_seq = 0u64;
    let mut last_ts = 0i64;
    let mut push_tick = tokio::time::interval(settings.push_every);
    let mut check_tick = tokio::time::interval(settings.check_every);
    let stop_at = settings.duration.map(|d| clock + d);
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let pushing = stop_at.is_none_or(|t| Instant::now() < t);
        if !pushing {
            let w = window.lock().expect("window lock");
            if w.waiting() == 0 {
                break;
            }
        }
        tokio::select! {
            _ = &mut interrupted => break,
            _ = push_tick.tick(), if pushing => {
                let due = ((clock.elapsed().as_secs_f64() * settings.rate) as u64).max(next_seq);
                if due == next_seq {
                    continue;
                }
                let now_ts = Timestamp::now().unix_nanos();
                let sent = clock.elapsed();
                let mut entries = Vec::with_capacity((due - next_seq) as usize);
                {
                    let mut w = window.lock().expect("window lock");
                    for seq in next_seq..due {
                        last_ts = now_ts.max(last_ts + 1);
                        entries.push(Entry::new(Timestamp::from_unix_nanos(last_ts), maker.line(seq)));
                        w.sent(seq, last_ts, sent);
                    }
                }
                let first = next_seq;
                next_seq = due;
                let refused: Vec<u64> = match loki.push_owned(vec![Stream::new(labels.clone(), entries)]).await {
                    Ok(report) => report
                        .exceptions()
                        .iter()
                        .filter(|o| !matches!(o.status, telltale_loki::EntryStatus::Accepted))
                        .map(|o| first + o.entry as u64)
                        .collect(),
                    Err(_) => (first..due).collect(),
                };
                let mut w = window.lock().expect("window lock");
                for seq in refused {
                    w.refused(seq);
                }
            }
            _ = check_tick.tick() => {
                check(&loki, &query, &window, &maker, &clock, settings).await;
            }
        }
    }
    // One last read, so a line that arrived since the last check is not judged missing.
    check(&loki, &query, &window, &maker, &clock, settings).await;
    let mut w = window.lock().expect("window lock");
    let end = clock.elapsed() + settings.max_wait;
    w.judge(end, settings.max_wait);
    Ok(w.totals)
}

/// Reads the stream from the oldest line not yet seen and judges the lines old enough. A
/// failed read leaves the lines waiting: they are judged missing only once `max_wait` passes.
async fn check(
    loki: &telltale_loki::Client,
    query: &str,
    window: &Mutex<Window>,
    maker: &LineMaker,
    clock: &Instant,
    settings: &Settings,
) {
    let from = {
        let mut w = window.lock().expect("window lock");
        w.begin_read();
        w.cursor()
    };
    if let Some(from) = from {
        let now = clock.elapsed();
        let end = Timestamp::now().plus(Duration::from_secs(1));
        let mut seen: Vec<u64> = Vec::new();
        let read = loki
            .read_each(
                query,
                Timestamp::from_unix_nanos(from),
                end,
                Direction::Forward,
                5000,
                |_, e| seen.extend(maker.seq_of(e.line())),
            )
            .await;
        if read.is_ok() {
            let mut w = window.lock().expect("window lock");
            for seq in seen {
                w.see(seq, now);
            }
        }
    }
    let mut w = window.lock().expect("window lock");
    w.judge(clock.elapsed(), settings.max_wait);
}

/// Serves the window's exposition at `GET /metrics` (anything else: 404) on `addr`.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    window: Arc<Mutex<Window>>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let window = Arc::clone(&window);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if head.starts_with("GET /metrics ") {
                    ("200 OK", window.lock().expect("window lock").render())
                } else {
                    ("404 Not Found", "not found\n".to_owned())
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn lines_are_judged_once_old_enough_and_then_forgotten() {
        let mut w = Window::default();
        for seq in 0..5 {
            w.sent(seq, 100 + seq as i64, s(seq));
        }
        w.refused(4);
        w.begin_read();
        // 0 once, 1 twice in one read, 2 never, 3 once; 9 was never sent.
        for seq in [0, 1, 1, 3, 9] {
            w.see(seq, s(6));
        }
        assert_eq!(w.cursor(), Some(102), "the oldest line not yet seen");
        // A later read from the cursor sees 3 again: one copy, not a second.
        w.begin_read();
        w.see(3, s(7));
        w.judge(s(10), s(5));
        let t = w.totals;
        assert_eq!(
            (
                t.sent,
                t.refused,
                t.delivered,
                t.duplicated,
                t.extra_copies,
                t.missing,
                t.unexpected
            ),
            (5, 1, 2, 1, 1, 1, 1),
            "{t:?}"
        );
        assert!(!t.is_clean());
        assert_eq!(w.waiting(), 0);
        // A copy of a line already judged is unexpected, as loki-canary counts it.
        w.see(0, s(11));
        assert_eq!(w.totals.unexpected, 2);
    }

    #[test]
    fn memory_is_flat_over_a_long_run() {
        let mut w = Window::default();
        let mut peak = 0;
        for seq in 0..200_000u64 {
            let at = Duration::from_millis(seq);
            w.sent(seq, seq as i64, at);
            w.see(seq, at + Duration::from_millis(50));
            if seq % 1000 == 0 {
                w.judge(at, s(5));
                peak = peak.max(w.pending.capacity());
            }
        }
        assert!(
            peak <= 16_384,
            "capacity {peak}: bounded by rate × max_wait"
        );
        assert_eq!(w.totals.delivered + w.waiting() as u64, 200_000);
        assert!(w.totals.is_clean());
    }

    #[test]
    fn the_exposition_parses_and_uses_loki_canarys_names() {
        let mut w = Window::default();
        w.sent(0, 1, s(0));
        w.begin_read();
        w.see(0, Duration::from_millis(700));
        w.judge(s(10), s(5));
        let text = w.render();
        let exp = telltale_prometheus::exposition::parse(
            &text,
            telltale_prometheus::exposition::Format::Text004,
        )
        .expect("the exposition parses");
        for name in [
            "loki_canary_entries_total",
            "loki_canary_missing_entries_total",
            "loki_canary_duplicate_entries_total",
            "loki_canary_unexpected_entries_total",
        ] {
            assert!(exp.find_sample(name, &[]).is_some(), "{name} in {text}");
        }
        let le1 = exp
            .find_sample(
                "loki_canary_response_latency_seconds_bucket",
                &[("le", "1")],
            )
            .expect("bucket le=1");
        assert_eq!(le1.value, 1.0);
        let le05 = exp
            .find_sample(
                "loki_canary_response_latency_seconds_bucket",
                &[("le", "0.5")],
            )
            .expect("bucket le=0.5");
        assert_eq!(le05.value, 0.0);
    }
}
