//! The signal-independent half of a bench step: the paced generator thread, the poller that
//! records when each item first shows, the one complete read-back into the
//! [`Ledger`](crate::accounting::Ledger), and the step's figures. Each signal supplies only a
//! [`Sender`] (how a batch of sequence numbers goes out, and what the receiver said) and a
//! [`Probe`] (how the far side is queried), so every signal is measured the same way.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::report::{latency_ms, mib, CpuUse, Step};
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
}

/// What the generator thread hands back.
#[derive(Debug, Default)]
struct Generated {
    /// Per item: when its send began, on the step's clock.
    sent_at: Vec<Duration>,
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
    let mut seen_at: Vec<Option<Duration>> = vec![None; total as usize];
    let mut seen_count: u64 = 0;
    let mut generated: Option<Result<Generated, String>> = None;
    let mut done_at: Option<Instant> = None;
    loop {
        let polled = Instant::now();
        let seqs = probe.poll().await?;
        let now = clock.elapsed();
        for seq in seqs {
            if let Some(slot) = seen_at.get_mut(seq as usize) {
                if slot.is_none() {
                    *slot = Some(now);
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

    // One complete read-back of the step decides delivered, duplicated and missing; the polls
    // only said when each item first showed.
    let read = probe.read_back().await?;
    let end = clock.elapsed();
    let mut ledger = Ledger::new(None);
    for (seq, at) in generated.sent_at.iter().enumerate() {
        ledger.sent(seq as u64, *at);
    }
    ledger.observe(read.into_iter().map(|seq| Sighting {
        seq,
        seen_at: seen_at.get(seq as usize).copied().flatten().unwrap_or(end),
    }));
    let summary = ledger.summary();
    let process_s = match (proc_cpu0, cpu::process_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    };
    let sent = generated.sent_at.len() as u64;
    let tally = generated.tally;
    let send_s = generated
        .last_push_end
        .saturating_sub(generated.first_push)
        .as_secs_f64();
    // Never credit more than the plan: a step of one send has no duration of its own.
    let send_s = send_s.max(total as f64 / rate);
    let achieved = sent as f64 / send_s;
    let delivery = Delivery::from_summary(signal, &summary);
    let clean = delivery.is_clean() && tally.rejected == 0 && tally.unknown == 0;
    Ok(Step {
        step: n,
        target_items_per_s: rate,
        send_s,
        sent,
        bytes: tally.bytes,
        achieved_items_per_s: achieved,
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
        poll_interval_ms: crate::report::millis(poll_interval),
        clean,
        saturation: None,
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
        sent_at: Vec::with_capacity(total as usize),
        ..Generated::default()
    };
    let per_batch = sender.batch_items().max(1);
    let start = Instant::now();
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
            out.sent_at
                .extend(std::iter::repeat_n(sent_at, count as usize));
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
        let next = start + interval * tick;
        if next > Instant::now() {
            tokio::time::sleep_until(next.into()).await;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An in-process receiver for the driver's own bookkeeping: it stores what it accepts in
    /// memory, refuses every fifth batch, and the probe reads that memory back.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Vec<u64>>>);

    struct MemorySender {
        store: Memory,
        batches: u64,
    }

    impl Sender for MemorySender {
        fn batch_items(&self) -> u64 {
            3
        }
        async fn send(&mut self, first: u64, count: u64, tally: &mut Tally) {
            self.batches += 1;
            tally.bytes += count * 10;
            if self.batches.is_multiple_of(5) {
                tally.reject("throttled", "429 slow down", count);
                return;
            }
            tally.accepted += count;
            self.store.0.lock().unwrap().extend(first..first + count);
        }
    }

    impl Probe for Memory {
        async fn poll(&mut self) -> Result<Vec<u64>, BenchError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn read_back(&mut self) -> Result<Vec<u64>, BenchError> {
            Ok(self.0.lock().unwrap().clone())
        }
    }

    #[tokio::test]
    async fn refused_batches_are_counted_and_missing_and_the_rest_delivered_once() {
        let settings = Settings {
            step: Duration::from_millis(500),
            batch_interval: Duration::from_millis(20),
            ..Settings::default()
        };
        let mut store = Memory::default();
        let sender = MemorySender {
            store: store.clone(),
            batches: 0,
        };
        let step = step(
            &settings,
            "memory",
            1,
            100.0,
            sender,
            &mut store,
            Duration::from_millis(10),
        )
        .await
        .unwrap();
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
    }
}
