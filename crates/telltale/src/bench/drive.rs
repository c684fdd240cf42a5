//! The signal-independent half of a bench step: the paced generator thread, the poller that
//! records when each item first shows, the complete read-back into the
//! [`Ledger`](crate::accounting::Ledger) (twice: once the polls end, and again after a settle
//! period, so a copy that arrives late is counted), and the step's figures. Each signal supplies only a
//! [`Sender`] (how a batch of sequence numbers goes out, and what the receiver said) and a
//! [`Probe`] (how the far side is queried), so every signal is measured the same way.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::report::{latency_ms, mib, per_second, CpuUse, ReadBack, Step};
use super::{cpu, BenchError, Settings};
use crate::accounting::{Ledger, Sighting};
use crate::report::Delivery;

/// What the receiver said about the items sent so far: the sender's side of the step.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) accepted: u64,
    pub(super) rejected: u64,
    pub(super) unknown: u64,
    pub(super) rejections: BTreeMap<String, u64>,
    pub(super) first_rejection: Option<String>,
    /// Bytes on the wire (after compression).
    pub(super) wire_bytes: u64,
    /// Bytes of payload the server counts (lines, bodies, events).
    pub(super) bytes: u64,
}

impl Tally {
    /// `count` items refused, classed `kind`, in the receiver's `reason`.
    pub(super) fn reject(&mut self, kind: &str, reason: &str, count: u64) {
        self.rejected += count;
        self.class(kind, reason, count);
    }

    /// `count` items whose fate the exchange could not settle.
    pub(super) fn unknown(&mut self, reason: &str, count: u64) {
        self.unknown += count;
        self.class("unknown", reason, count);
    }

    fn class(&mut self, kind: &str, reason: &str, count: u64) {
        *self.rejections.entry(kind.to_owned()).or_default() += count;
        if self.first_rejection.is_none() {
            self.first_rejection = Some(reason.to_owned());
        }
    }
}

/// How one signal's items go out. Lives on the generator thread, inside its own
/// single-threaded runtime, so nothing it does needs to be `Send` across tasks.
pub(super) trait Sender: Send + 'static {
    /// The most items one send carries.
    fn batch_items(&self) -> u64;
    /// Sends items `first..first + count` and records the receiver's answer for each of them
    /// in `tally` (every item must end up accepted, rejected or unknown).
    fn send(&mut self, first: u64, count: u64, tally: &mut Tally) -> impl Future<Output = ()>;
}

/// How one signal's items are found on the far side.
pub(super) trait Probe {
    /// Sequence numbers visible now (repeats of earlier polls allowed: the driver keeps the
    /// first sighting).
    fn poll(&mut self) -> impl Future<Output = Result<Vec<u64>, BenchError>> + Send;
    /// Every copy of every item of the step, in the order the server keeps them (sequence
    /// order where it promises none).
    fn read_back(&mut self) -> impl Future<Output = Result<Vec<u64>, BenchError>> + Send;
    /// How many copies the store holds now, counted by the store without sending them
    /// (`None`: it cannot count). After the settle period a count equal to the first
    /// read-back's proves no copy arrived since (a store only adds), so the items are not read
    /// a second time.
    fn count(&mut self) -> impl Future<Output = Result<Option<u64>, BenchError>> + Send {
        async { Ok(None) }
    }
    /// Whether the read-back can show a second copy of an item. A store that folds copies
    /// (GlitchTip keys events by their id) answers `false`: `delivered` then means visible.
    fn duplicates_observable(&self) -> bool {
        true
    }
    /// Looks for the items the read-back did not find anywhere else they could have gone; the
    /// driver asks only when items the receiver did not refuse are missing. A store with one
    /// place for the items (GlitchTip's project, the `logs` bench's own streams) has nowhere
    /// else to look.
    fn search_elsewhere(
        &mut self,
        missing: Missing<'_>,
    ) -> impl Future<Output = Result<Elsewhere, BenchError>> + Send {
        let _ = missing;
        async { Ok(Elsewhere::default()) }
    }
}

/// What a search outside the promised place starts from.
#[derive(Clone, Copy)]
pub(super) struct Missing<'a> {
    /// The items the read-back found, in order, once each.
    pub(super) found: &'a [u64],
    /// How many items could be stored (sent, less those refused): the search stops once this
    /// many are accounted for.
    pub(super) items: u64,
    /// The step's clock, to stamp sightings.
    pub(super) now: &'a (dyn Fn() -> Duration + Sync),
}

/// What a search outside the promised place found.
#[derive(Debug, Default)]
pub(super) struct Elsewhere {
    /// Items under the promised place that the read-back had not returned (they arrived
    /// after it), with when the search saw them.
    pub(super) in_place: Vec<(u64, Duration)>,
    /// Items found only outside it: when the search saw them, and how the place differs
    /// (`service_name="unknown_service" instead of "telltale"; extra exporter="OTLP"`).
    pub(super) misrouted: Vec<(u64, Duration, String)>,
    /// What was searched, for the report.
    pub(super) evidence: Option<serde_json::Value>,
}

/// What the generator thread hands back.
#[derive(Debug, Default)]
struct Generated {
    /// Per push: its first item, how many items, and when its send began on the step's clock
    /// (a few hundred pushes, where a time per item was 16 bytes an item).
    sent_at: Vec<(u64, u64, Duration)>,
    tally: Tally,
    requests: u64,
    push_times: Vec<Duration>,
    first_push: Duration,
    last_push_end: Duration,
    cpu: Duration,
}

/// What the generator and the poller share while a step runs.
#[derive(Debug, Default)]
struct Shared {
    accepted: AtomicU64,
    done: AtomicBool,
}

/// Runs one step of `total` items at `rate` items per second: the generator sends on its own
/// thread while `probe` polls every `poll_interval`; then one read-back feeds the ledger.
pub(super) async fn step<S: Sender>(
    settings: &Settings,
    signal: &str,
    n: u32,
    rate: f64,
    sender: S,
    probe: &mut impl Probe,
    poll_interval: Duration,
) -> Result<Step, BenchError> {
    let total = items(settings, rate);
    let clock = Instant::now();
    let proc_cpu0 = cpu::process_cpu();
    let shared = Arc::new(Shared::default());
    let (tx, mut rx) = oneshot::channel();
    let interval = settings.batch_interval;
    let gen_shared = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("telltale-gen".into())
        .spawn(move || {
            let out = generate(sender, total, rate, interval, clock, &gen_shared);
            gen_shared.done.store(true, Ordering::Release);
            let _ = tx.send(out);
        })
        .map_err(|e| BenchError::Generator {
            message: e.to_string(),
        })?;

    // Poll for newly visible items while the generator runs, and until every accepted item
    // is seen or the deadline passes.
    // When each item first showed, in whole milliseconds (`u32::MAX`: not yet), as the
    // ledger keeps it.
    let mut seen_at: Vec<u32> = vec![u32::MAX; total as usize];
    let mut seen_count: u64 = 0;
    let mut generated: Option<Result<Generated, String>> = None;
    let mut done_at: Option<Instant> = None;
    loop {
        let polled = Instant::now();
        let seqs = probe.poll().await?;
        let now = u32::try_from(clock.elapsed().as_millis()).unwrap_or(u32::MAX - 1);
        for seq in seqs {
            if let Some(slot) = seen_at.get_mut(seq as usize) {
                if *slot == u32::MAX {
                    *slot = now;
                    seen_count += 1;
                }
            }
        }
        if generated.is_none() {
            match rx.try_recv() {
                Ok(g) => {
                    generated = Some(g);
                    done_at = Some(Instant::now());
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(BenchError::Generator {
                        message: "the generator thread stopped without reporting".into(),
                    })
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
        }
        if let (Some(done), true) = (done_at, shared.done.load(Ordering::Acquire)) {
            let accepted = shared.accepted.load(Ordering::Acquire);
            if seen_count >= accepted || done.elapsed() > settings.deadline {
                break;
            }
        }
        tokio::time::sleep_until((polled + poll_interval).into()).await;
    }
    let generated = match generated {
        Some(Ok(g)) => g,
        Some(Err(message)) => return Err(BenchError::Generator { message }),
        None => unreachable!("the loop ends only after the generator reported"),
    };

    // A complete read-back of the step decides delivered, duplicated and missing; the polls
    // only said when each item first showed. It is read once more after the settle period:
    // a collector's retry can store a second copy after the first read was complete.
    let first = probe.read_back().await?;
    tokio::time::sleep(settings.settle).await;
    let counted = probe.count().await?;
    let (settled, settled_by_count) = match counted {
        Some(n) if n == first.len() as u64 => (Vec::new(), Some(n)),
        _ => (probe.read_back().await?, None),
    };
    let end = clock.elapsed();
    let read_back = ReadBack {
        first: first.len() as u64,
        settled: settled_by_count.unwrap_or(settled.len() as u64),
        settle_ms: crate::report::millis(settings.settle),
        settled_by_count: settled_by_count.is_some(),
        elsewhere: None,
    };
    // The fuller read decides (the later one on a tie): a copy seen by either read exists.
    let read = if settled_by_count.is_some() || first.len() > settled.len() {
        first
    } else {
        settled
    };
    // Items the receiver took but the promised place lacks may be stored elsewhere (under
    // other labels): look once, so they read as misrouted rather than missing. Only then: the
    // search reads the step again under every label name.
    let sent: u64 = generated.sent_at.iter().map(|&(_, n, _)| n).sum();
    let tally = generated.tally;
    // Distinct items found, counted in a bit an item: the sorted list the search starts from
    // is made only when a search is needed.
    let mut bits = vec![0u64; (sent as usize).div_ceil(64)];
    let mut distinct = 0u64;
    for &seq in read.iter().filter(|&&seq| seq < sent) {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if bits[w] & (1 << b) == 0 {
            bits[w] |= 1 << b;
            distinct += 1;
        }
    }
    let storable = sent.saturating_sub(tally.rejected);
    let elsewhere = if distinct < storable {
        let found: Vec<u64> = (0..sent)
            .filter(|&seq| bits[(seq / 64) as usize] & (1 << (seq % 64)) != 0)
            .collect();
        let now = || clock.elapsed();
        let missing = Missing {
            found: &found,
            items: storable,
            now: &now,
        };
        probe.search_elsewhere(missing).await?
    } else {
        Elsewhere::default()
    };
    let read_back = ReadBack {
        elsewhere: elsewhere.evidence,
        ..read_back
    };
    let mut ledger = Ledger::new(None);
    for &(first, count, at) in &generated.sent_at {
        for seq in first..first + count {
            ledger.sent(seq, at);
        }
    }
    ledger.observe(read.into_iter().map(|seq| Sighting {
        seq,
        seen_at: match seen_at.get(seq as usize) {
            Some(&ms) if ms != u32::MAX => Duration::from_millis(u64::from(ms)),
            _ => end,
        },
    }));
    ledger.observe(
        elsewhere
            .in_place
            .into_iter()
            .map(|(seq, seen_at)| Sighting { seq, seen_at }),
    );
    for (seq, seen_at, place) in &elsewhere.misrouted {
        ledger.observe_misrouted(*seq, *seen_at, place);
    }
    let summary = ledger.summary();
    let process_s = match (proc_cpu0, cpu::process_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    };
    // Measured from the send timestamps alone, never credited with the plan: a receiver that
    // answers slowly stretches the window and lowers the rate.
    let send_s = generated
        .last_push_end
        .saturating_sub(generated.first_push)
        .as_secs_f64();
    let achieved = per_second(sent, send_s, rate);
    let mut delivery = Delivery::from_summary(signal, &summary);
    if !probe.duplicates_observable() {
        delivery = delivery.duplicates_unobservable();
    }
    let clean = delivery.is_clean() && tally.rejected == 0 && tally.unknown == 0;
    Ok(Step {
        step: n,
        target_items_per_s: rate,
        send_s,
        sent,
        bytes: tally.bytes,
        achieved_items_per_s: achieved,
        accepted_items_per_s: per_second(tally.accepted, send_s, rate),
        achieved_mib_per_s: mib(tally.bytes) / sent.max(1) as f64 * achieved,
        requests: generated.requests,
        wire_bytes: tally.wire_bytes,
        accepted: tally.accepted,
        rejected: tally.rejected,
        unknown: tally.unknown,
        rejections: tally.rejections,
        first_rejection: tally.first_rejection,
        push_ms: latency_ms(generated.push_times),
        delivery,
        read_back,
        poll_interval_ms: crate::report::millis(poll_interval),
        clean,
        saturation: None,
        checks: Vec::new(),
        cpu: CpuUse::of(generated.cpu.as_secs_f64(), process_s, sent),
    })
}

/// Items in a step at `rate`: at least one.
pub(super) fn items(settings: &Settings, rate: f64) -> u64 {
    ((rate * settings.step.as_secs_f64()).round() as u64).max(1)
}

/// The generator thread: a single-threaded runtime that sends what has come due every
/// `interval`, so its CPU time is the cost of the load alone.
fn generate<S: Sender>(
    mut sender: S,
    total: u64,
    rate: f64,
    interval: Duration,
    clock: Instant,
    shared: &Shared,
) -> Result<Generated, String> {
    let cpu0 = cpu::thread_cpu();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start the generator's runtime: {e}"))?;
    let mut out = rt.block_on(send_all(&mut sender, total, rate, interval, clock, shared));
    drop(sender);
    drop(rt);
    out.cpu = match (cpu0, cpu::thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    Ok(out)
}

async fn send_all<S: Sender>(
    sender: &mut S,
    total: u64,
    rate: f64,
    interval: Duration,
    clock: Instant,
    shared: &Shared,
) -> Generated {
    let mut out = Generated {
        ..Generated::default()
    };
    let per_batch = sender.batch_items().max(1);
    let start = Instant::now();
    // The last item is due at (total - 1) / rate: the generator wakes for it then rather than
    // at the next tick, so the schedule itself never stretches the send window.
    let last_due = start + Duration::from_secs_f64((total.saturating_sub(1)) as f64 / rate);
    let mut made = 0u64;
    let mut tick = 0u32;
    while made < total {
        // A send that falls behind makes the next one larger, up to a batch.
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while made < due {
            let count = (due - made).min(per_batch);
            let sent_at = clock.elapsed();
            if out.requests == 0 {
                out.first_push = sent_at;
            }
            out.sent_at.push((made, count, sent_at));
            let before = out.tally.accepted;
            sender.send(made, count, &mut out.tally).await;
            made += count;
            let ended = clock.elapsed();
            out.push_times.push(ended.saturating_sub(sent_at));
            out.last_push_end = ended;
            out.requests += 1;
            shared
                .accepted
                .fetch_add(out.tally.accepted - before, Ordering::Release);
        }
        if made >= total {
            break;
        }
        tick += 1;
        let next = (start + interval * tick).min(last_due);
        if next > Instant::now() {
            tokio::time::sleep_until(next.into()).await;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::{step_checks, MIN_RATE_PERCENT};
    use std::sync::Mutex;

    /// An in-process receiver for the driver's own bookkeeping, not a contract with any real
    /// server: it stores what it accepts in memory, refuses every `refuse_every`th batch,
    /// answers each batch after `delay` (a slow receiver), and the probe reads that memory
    /// back. With `late_copy`, the first complete read-back makes a second copy of item 3
    /// appear afterwards, as a collector's retry would.
    /// With `misroute_every`, every such item is stored in a second place the read-back does
    /// not look at, which only `search_elsewhere` finds (the collector that writes records
    /// under other labels).
    #[derive(Clone, Default)]
    struct Memory {
        store: Arc<Mutex<Vec<u64>>>,
        elsewhere: Arc<Mutex<Vec<u64>>>,
        late_copy: bool,
        /// Whether it answers `count` (as Loki's `count_over_time` does).
        counts: bool,
        reads: u32,
        searches: Vec<(Vec<u64>, u64)>,
    }

    struct MemorySender {
        store: Memory,
        batches: u64,
        refuse_every: u64,
        misroute_every: u64,
        delay: Duration,
    }

    impl MemorySender {
        fn new(store: &Memory) -> MemorySender {
            MemorySender {
                store: store.clone(),
                batches: 0,
                refuse_every: 0,
                misroute_every: 0,
                delay: Duration::ZERO,
            }
        }
    }

    impl Sender for MemorySender {
        fn batch_items(&self) -> u64 {
            3
        }
        async fn send(&mut self, first: u64, count: u64, tally: &mut Tally) {
            self.batches += 1;
            tally.bytes += count * 10;
            tokio::time::sleep(self.delay).await;
            if self.refuse_every > 0 && self.batches.is_multiple_of(self.refuse_every) {
                tally.reject("throttled", "429 slow down", count);
                return;
            }
            tally.accepted += count;
            let every = self.misroute_every;
            for seq in first..first + count {
                let place = if every > 0 && seq % every == 0 {
                    &self.store.elsewhere
                } else {
                    &self.store.store
                };
                place.lock().unwrap().push(seq);
            }
        }
    }

    impl Probe for Memory {
        async fn poll(&mut self) -> Result<Vec<u64>, BenchError> {
            Ok(self.store.lock().unwrap().clone())
        }
        async fn count(&mut self) -> Result<Option<u64>, BenchError> {
            Ok(self.counts.then(|| self.store.lock().unwrap().len() as u64))
        }
        async fn read_back(&mut self) -> Result<Vec<u64>, BenchError> {
            self.reads += 1;
            let mut store = self.store.lock().unwrap();
            let mut read = store.clone();
            read.sort_unstable();
            if self.late_copy && self.reads == 1 {
                store.push(3);
            }
            Ok(read)
        }
        async fn search_elsewhere(
            &mut self,
            missing: Missing<'_>,
        ) -> Result<Elsewhere, BenchError> {
            self.searches.push((missing.found.to_vec(), missing.items));
            let at = (missing.now)();
            Ok(Elsewhere {
                in_place: Vec::new(),
                misrouted: self
                    .elsewhere
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|&seq| (seq, at, r#"job="x" instead of "y""#.to_owned()))
                    .collect(),
                evidence: Some(serde_json::json!({"searched": "memory"})),
            })
        }
    }

    /// Items the receiver took but the read-back lacks are looked for elsewhere, once, and
    /// those found there are misrouted (named by the place in the step's delivery, its `loss`
    /// check and the human table's verdict), not missing; a lossless step never searches.
    #[tokio::test]
    async fn items_found_only_elsewhere_are_misrouted_naming_the_place_not_missing() {
        let mut store = Memory::default();
        let mut sender = MemorySender::new(&store);
        sender.misroute_every = 5;
        // Items that never show in place keep the poller waiting until the deadline.
        let quick = |step_ms| Settings {
            deadline: Duration::from_millis(200),
            ..settings(step_ms, 20)
        };
        let step = run(&quick(300), 100.0, sender, &mut store).await;
        let d = &step.delivery;
        assert_eq!(
            (d.sent, d.delivered, d.misrouted, d.missing),
            (30, 24, 6, 0),
            "{d:?}"
        );
        assert_eq!(d.misrouted_to.len(), 1, "{d:?}");
        assert_eq!(d.misrouted_to[0].found, r#"job="x" instead of "y""#);
        assert_eq!(d.misrouted_to[0].items, 6);
        // One search, told what was found and how many items the receiver took.
        assert_eq!(store.searches.len(), 1);
        assert_eq!(store.searches[0].0.len(), 24);
        assert_eq!(store.searches[0].1, 30);
        assert_eq!(
            step.read_back.elsewhere,
            Some(serde_json::json!({"searched": "memory"}))
        );
        assert!(!step.clean && !passed(&step, "loss"));
        let verdict = step.verdict();
        assert!(
            verdict.contains(r#"6 misrouted (misrouted: 6 under job="x" instead of "y")"#),
            "{verdict}"
        );

        // Everything elsewhere: no latency is measured, and none is stated.
        let mut store = Memory::default();
        let mut sender = MemorySender::new(&store);
        sender.misroute_every = 1;
        let mut step = run(&quick(200), 100.0, sender, &mut store).await;
        assert_eq!(
            (step.delivery.misrouted, step.delivery.missing),
            (20, 0),
            "{:?}",
            step.delivery
        );
        assert!(!step.delivery.describe().contains("latency"));
        step.checks = step_checks(&step, MIN_RATE_PERCENT, Some(1000.0));
        let latency = step
            .checks
            .iter()
            .find(|c| c.name == "latency p99")
            .unwrap();
        assert!(!latency.passed && latency.actual.starts_with("not measured"));

        // Nothing missing: no search.
        let mut store = Memory::default();
        let sender = MemorySender::new(&store);
        let step = run(&settings(200, 20), 100.0, sender, &mut store).await;
        assert_eq!(step.delivery.delivered, 20);
        assert!(store.searches.is_empty() && step.read_back.elsewhere.is_none());
    }

    /// Items the receiver refused cannot be anywhere: their absence alone starts no search.
    #[tokio::test]
    async fn refused_items_alone_start_no_search_elsewhere() {
        let mut store = Memory::default();
        let mut sender = MemorySender::new(&store);
        sender.refuse_every = 3;
        let step = run(&settings(300, 20), 100.0, sender, &mut store).await;
        assert!(step.rejected > 0 && step.delivery.missing == step.rejected);
        assert!(store.searches.is_empty());
    }

    fn settings(step_ms: u64, interval_ms: u64) -> Settings {
        Settings {
            step: Duration::from_millis(step_ms),
            batch_interval: Duration::from_millis(interval_ms),
            settle: Duration::from_millis(10),
            ..Settings::default()
        }
    }

    async fn run(settings: &Settings, rate: f64, sender: MemorySender, store: &mut Memory) -> Step {
        let mut step = step(
            settings,
            "memory",
            1,
            rate,
            sender,
            store,
            Duration::from_millis(10),
        )
        .await
        .unwrap();
        step.checks = step_checks(&step, MIN_RATE_PERCENT, None);
        step
    }

    fn passed(step: &Step, name: &str) -> bool {
        step.checks.iter().find(|c| c.name == name).unwrap().passed
    }

    #[tokio::test]
    async fn refused_batches_are_counted_and_missing_and_the_rest_delivered_once() {
        let mut store = Memory::default();
        let mut sender = MemorySender::new(&store);
        sender.refuse_every = 5;
        let step = run(&settings(500, 20), 100.0, sender, &mut store).await;
        assert_eq!(step.sent, 50);
        assert_eq!(step.accepted + step.rejected, 50);
        assert!(step.rejected > 0);
        assert_eq!(step.rejections["throttled"], step.rejected);
        assert_eq!(step.first_rejection.as_deref(), Some("429 slow down"));
        assert_eq!(step.delivery.delivered, step.accepted);
        assert_eq!(step.delivery.missing, step.rejected);
        assert_eq!(step.delivery.duplicated, 0);
        assert_eq!(step.bytes, 500);
        assert!(!step.clean);
        assert!(!passed(&step, "refused") && !passed(&step, "loss"));
        assert!(
            step.accepted_items_per_s < step.achieved_items_per_s,
            "only accepted items count for the rate: {step:#?}"
        );
    }

    #[tokio::test]
    async fn a_copy_that_arrives_after_the_first_complete_read_is_counted() {
        let mut store = Memory {
            late_copy: true,
            ..Memory::default()
        };
        let sender = MemorySender::new(&store);
        let step = run(&settings(300, 20), 100.0, sender, &mut store).await;
        assert_eq!(step.sent, 30);
        assert_eq!(
            (step.read_back.first, step.read_back.settled),
            (30, 31),
            "{:?}",
            step.read_back
        );
        assert_eq!(step.delivery.duplicated, 1, "{:?}", step.delivery);
        assert_eq!(step.delivery.delivered, 29);
        assert!(!passed(&step, "loss"));
    }

    /// Where the store can count, a settle count equal to the first read replaces the second
    /// read; a count that grew (a late copy) still makes it, and the copy is counted.
    #[tokio::test]
    async fn a_settle_count_spares_the_second_read_only_when_nothing_was_added() {
        for late_copy in [false, true] {
            let mut store = Memory {
                late_copy,
                counts: true,
                ..Memory::default()
            };
            let sender = MemorySender::new(&store);
            let step = run(&settings(300, 20), 100.0, sender, &mut store).await;
            let rb = &step.read_back;
            assert_eq!(store.reads, if late_copy { 2 } else { 1 }, "{rb:?}");
            assert_eq!(rb.settled_by_count, !late_copy, "{rb:?}");
            assert_eq!(
                (rb.first, rb.settled),
                (30, if late_copy { 31 } else { 30 })
            );
            assert_eq!(step.delivery.duplicated, u64::from(late_copy));
        }
    }

    /// A slow receiver (every answer takes 50 ms, three items a batch) takes everything and
    /// loses nothing, yet cannot keep up with 100 items/s: the `rate` check fails, on the send
    /// timestamps alone.
    #[tokio::test]
    async fn a_receiver_that_answers_slowly_fails_the_rate_check_though_nothing_is_lost() {
        let mut store = Memory::default();
        let mut sender = MemorySender::new(&store);
        sender.delay = Duration::from_millis(50);
        let step = run(&settings(500, 20), 100.0, sender, &mut store).await;
        assert_eq!(step.delivery.delivered, 50, "{:?}", step.delivery);
        assert!(passed(&step, "loss") && passed(&step, "refused"));
        assert!(!passed(&step, "rate"), "{:#?}", step.checks);
        // 17 answers of 50 ms each: at most 50 items in 0.85 s.
        assert!(step.accepted_items_per_s < 60.0, "{step:#?}");
    }

    /// The generator sends the last item when it is due, not at the next tick: with ticks of
    /// 300 ms a 1 s step would otherwise end at 1.2 s and score 83 % of the asked rate on a
    /// receiver that answers at once.
    #[tokio::test]
    async fn the_schedule_alone_never_stretches_the_send_window() {
        let mut store = Memory::default();
        let sender = MemorySender::new(&store);
        let step = run(&settings(1000, 300), 100.0, sender, &mut store).await;
        assert_eq!(step.sent, 100);
        assert!(step.send_s < 1.05, "{step:#?}");
        assert!(passed(&step, "rate"), "{:#?}", step.checks);
    }
}
