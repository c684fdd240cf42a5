//! The `logs` bench: pushes straight to Loki (protobuf + snappy through `telltale-loki`), polls
//! for what became visible, then reads the whole step back once for the ledger.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use telltale_loki::{
    Client, Direction, Entry, EntryStatus, ErrorKind, LabelSet, RetryPolicy, Selector, Stream,
    Timestamp,
};
use tokio::sync::oneshot;

use super::report::{latency_ms, mib, CpuUse, Limits, Step};
use super::{cpu, BenchError, LineMaker, Settings};
use crate::accounting::{Ledger, Sighting};
use crate::report::Delivery;
use crate::scenario::{chain, Context, Stop};

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

/// What the generator thread hands back.
#[derive(Debug, Default)]
struct Generated {
    /// Per item: when its push began, on the step's clock.
    sent_at: Vec<Duration>,
    accepted: u64,
    rejected: u64,
    unknown: u64,
    rejections: BTreeMap<String, u64>,
    first_rejection: Option<String>,
    requests: u64,
    wire_bytes: u64,
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

/// The generator's plan for one step.
#[derive(Debug)]
struct Plan {
    total: u64,
    rate: f64,
    labels: Vec<LabelSet>,
    maker: LineMaker,
    interval: Duration,
    max_batch_bytes: usize,
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
    let total = ((rate * settings.step.as_secs_f64()).round() as u64).max(1);
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
    let window_start = Timestamp::now().minus(Duration::from_secs(1));
    let clock = Instant::now();
    let proc_cpu0 = cpu::process_cpu();
    let shared = Arc::new(Shared::default());
    let (tx, mut rx) = oneshot::channel();
    let plan = Plan {
        total,
        rate,
        labels,
        maker: maker.clone(),
        interval: settings.batch_interval,
        max_batch_bytes: settings.max_batch_bytes,
    };
    let gen_shared = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("telltale-gen".into())
        .spawn(move || {
            let out = generate(push, plan, clock, &gen_shared);
            gen_shared.done.store(true, Ordering::Release);
            let _ = tx.send(out);
        })
        .map_err(|e| BenchError::Generator {
            message: e.to_string(),
        })?;

    // Poll for newly visible items while the generator runs, and until every accepted item
    // is seen or the deadline passes.
    let poll_interval = Duration::from_millis(100);
    let page = target.page_size(settings.line_bytes);
    let mut seen_at: Vec<Option<Duration>> = vec![None; total as usize];
    let mut seen_ts: Vec<i64> = vec![0; total as usize];
    let mut seen_count: u64 = 0;
    let mut cursor = window_start;
    let mut contiguous = 0usize;
    let mut highest_seen: Option<usize> = None;
    let mut gap: Option<(usize, Instant)> = None;
    let mut generated: Option<Result<Generated, String>> = None;
    let mut done_at: Option<Instant> = None;
    loop {
        let polled = Instant::now();
        let streams = target
            .read
            .read_all(
                &selector,
                cursor,
                Timestamp::now().plus(Duration::from_secs(1)),
                Direction::Forward,
                page,
            )
            .await
            .map_err(|e| BenchError::from(Stop::from_error(&endpoint, &e)))?;
        let now = clock.elapsed();
        for e in streams.iter().flat_map(|s| &s.entries) {
            let Some(seq) = maker.seq_of(&e.line).map(|s| s as usize) else {
                continue;
            };
            if seq < seen_at.len() && seen_at[seq].is_none() {
                seen_at[seq] = Some(now);
                seen_ts[seq] = e.timestamp.unix_nanos();
                seen_count += 1;
                highest_seen = Some(highest_seen.map_or(seq, |h| h.max(seq)));
            }
        }
        // Move the window's start past the items seen in sequence. An item still unseen while
        // later ones have been visible for 5 s is left to the final read-back, so one lost item
        // does not make every poll re-read from it.
        loop {
            while contiguous < seen_at.len() && seen_at[contiguous].is_some() {
                cursor = Timestamp::from_unix_nanos(seen_ts[contiguous]);
                contiguous += 1;
            }
            let Some(h) = highest_seen.filter(|&h| h > contiguous) else {
                gap = None;
                break;
            };
            match gap {
                Some((at, since)) if at == contiguous => {
                    if since.elapsed() < Duration::from_secs(5) {
                        break;
                    }
                    // `h` itself is seen, so this finds an index.
                    contiguous = (contiguous..=h)
                        .find(|&i| seen_at[i].is_some())
                        .unwrap_or(h);
                    gap = None;
                }
                _ => {
                    gap = Some((contiguous, Instant::now()));
                    break;
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
        let next = polled + poll_interval;
        tokio::time::sleep_until(next.into()).await;
    }
    let generated = match generated {
        Some(Ok(g)) => g,
        Some(Err(message)) => return Err(BenchError::Generator { message }),
        None => unreachable!("the loop ends only after the generator reported"),
    };

    // One complete read-back of the step decides delivered, duplicated and missing; the polls
    // only said when each item first showed.
    let streams = target
        .read
        .read_all(
            &selector,
            window_start,
            Timestamp::now().plus(Duration::from_secs(1)),
            Direction::Forward,
            page,
        )
        .await
        .map_err(|e| BenchError::from(Stop::from_error(&endpoint, &e)))?;
    let end = clock.elapsed();
    let mut ledger = Ledger::new(None);
    for (seq, at) in generated.sent_at.iter().enumerate() {
        ledger.sent(seq as u64, *at);
    }
    let mut read: Vec<(i64, u64)> = streams
        .iter()
        .flat_map(|s| &s.entries)
        .filter_map(|e| Some((e.timestamp.unix_nanos(), maker.seq_of(&e.line)?)))
        .collect();
    read.sort_unstable();
    ledger.observe(read.into_iter().map(|(_, seq)| Sighting {
        seq,
        seen_at: seen_at.get(seq as usize).copied().flatten().unwrap_or(end),
    }));
    let summary = ledger.summary();
    let process_s = match (proc_cpu0, cpu::process_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    };
    let sent = generated.sent_at.len() as u64;
    let bytes = sent * settings.line_bytes as u64;
    let send_s = generated
        .last_push_end
        .saturating_sub(generated.first_push)
        .as_secs_f64();
    // Never credit more than the plan: a step of one push has no duration of its own.
    let send_s = send_s.max(total as f64 / rate);
    let achieved = sent as f64 / send_s;
    let delivery = Delivery::from_summary("logs", &summary);
    let clean = delivery.is_clean() && generated.rejected == 0 && generated.unknown == 0;
    Ok(Step {
        step: n,
        target_items_per_s: rate,
        send_s,
        sent,
        bytes,
        achieved_items_per_s: achieved,
        achieved_mib_per_s: mib(bytes) / sent.max(1) as f64 * achieved,
        requests: generated.requests,
        wire_bytes: generated.wire_bytes,
        accepted: generated.accepted,
        rejected: generated.rejected,
        unknown: generated.unknown,
        rejections: generated.rejections,
        first_rejection: generated.first_rejection,
        push_ms: latency_ms(generated.push_times),
        delivery,
        poll_interval_ms: crate::report::millis(poll_interval),
        clean,
        saturation: None,
        cpu: CpuUse::of(generated.cpu.as_secs_f64(), process_s, sent),
    })
}

fn setup_error(endpoint: &str, e: &telltale_loki::Error) -> BenchError {
    BenchError::Setup {
        endpoint: endpoint.into(),
        message: chain(e),
        hint: "fix Loki's address or credential in the stack description".into(),
    }
}

/// The generator thread: a single-threaded runtime that sends what has come due every
/// `interval`, so its CPU time is the cost of the load alone.
fn generate(
    push: Client,
    plan: Plan,
    clock: Instant,
    shared: &Shared,
) -> Result<Generated, String> {
    let cpu0 = cpu::thread_cpu();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start the generator's runtime: {e}"))?;
    let mut out = rt.block_on(send_all(&push, &plan, clock, shared));
    drop(rt);
    out.cpu = match (cpu0, cpu::thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => Duration::ZERO,
    };
    Ok(out)
}

async fn send_all(push: &Client, plan: &Plan, clock: Instant, shared: &Shared) -> Generated {
    let mut out = Generated {
        sent_at: Vec::with_capacity(plan.total as usize),
        ..Generated::default()
    };
    let streams = plan.labels.len() as u64;
    let line_bytes = plan.maker.line_bytes();
    let per_batch = (plan.max_batch_bytes / line_bytes).max(1) as u64;
    let start = Instant::now();
    let mut made = 0u64;
    let mut tick = 0u32;
    let mut last_ts = 0i64;
    while made < plan.total {
        let due = ((start.elapsed().as_secs_f64() * plan.rate) as u64 + 1).min(plan.total);
        while made < due {
            let count = (due - made).min(per_batch);
            let per_stream = (count / streams + 1) as usize;
            let mut batch: Vec<Stream> = plan
                .labels
                .iter()
                .map(|l| Stream::new(l.clone(), Vec::with_capacity(per_stream)))
                .collect();
            let now_ts = Timestamp::now().unix_nanos();
            for seq in made..made + count {
                // Strictly increasing timestamps: unique per item, and the read-back's time
                // order is the send order.
                last_ts = now_ts.max(last_ts + 1);
                let entry = Entry::new(Timestamp::from_unix_nanos(last_ts), plan.maker.line(seq));
                batch[(seq % streams) as usize].entries.push(entry);
            }
            let first = made;
            made += count;
            let sent_at = clock.elapsed();
            if out.requests == 0 {
                out.first_push = sent_at;
            }
            out.sent_at
                .extend(std::iter::repeat_n(sent_at, count as usize));
            // By value: accepted entries are neither copied nor listed one by one.
            let result = push.push_owned(batch).await;
            let ended = clock.elapsed();
            out.push_times.push(ended.saturating_sub(sent_at));
            out.last_push_end = ended;
            out.requests += 1;
            let mut accepted = 0u64;
            match result {
                Ok(report) => {
                    out.wire_bytes += report.request_bytes() as u64;
                    accepted += report.accepted() as u64;
                    for o in report.exceptions() {
                        match &o.status {
                            EntryStatus::Accepted => accepted += 1,
                            EntryStatus::Rejected { kind, reason } => {
                                out.rejected += 1;
                                note(&mut out, kind_name(*kind), reason);
                            }
                            EntryStatus::NotSent { reason } => {
                                out.rejected += 1;
                                note(&mut out, "not_sent", reason);
                            }
                            EntryStatus::Unknown { reason } => {
                                out.unknown += 1;
                                note(&mut out, "unknown", reason);
                            }
                        }
                    }
                }
                Err(err) => {
                    // Refused as a whole: nothing of this batch was stored.
                    let kind = err.api().map_or("error", |a| kind_name(a.kind()));
                    out.rejected += made - first;
                    note(&mut out, kind, &chain(&err));
                    *out.rejections.entry(kind.into()).or_default() += made - first - 1;
                }
            }
            out.accepted += accepted;
            shared.accepted.fetch_add(accepted, Ordering::Release);
        }
        if made >= plan.total {
            break;
        }
        tick += 1;
        let next = start + plan.interval * tick;
        if next > Instant::now() {
            tokio::time::sleep_until(next.into()).await;
        }
    }
    out
}

fn note(out: &mut Generated, kind: &str, reason: &str) {
    *out.rejections.entry(kind.to_owned()).or_default() += 1;
    if out.first_rejection.is_none() {
        out.first_rejection = Some(reason.to_owned());
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
