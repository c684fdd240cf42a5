//! The ingestion benchmark behind `telltale bench` and the `load-burst` scenario.
//!
//! A paced generator sends items that each carry the run id and a sequence number; a poller
//! records when each first becomes visible by query; after the step one complete read-back feeds
//! the [`Ledger`](crate::accounting::Ledger), so loss, duplicates and reordering are judged from
//! a single exact query (read once more after a settle period, so a late copy is seen), never
//! from overlapping polls. A step holds only when its checks held ([`report::step_checks`]):
//! the receiver accepted at least [`MIN_RATE_PERCENT`] of the asked rate, refused nothing, lost
//! nothing, and met the latency budget when one is set. A fixed-rate run is one step and passes
//! only when it held; a ramp raises the rate by half each step until a step does not hold,
//! then bisects, and names the limit that stopped it.
//!
//! The generator runs on its own thread with its own single-threaded runtime, so its CPU time
//! (read from `/proc`, see [`cpu`]) is telltale's cost of producing, encoding and sending the
//! load, apart from the cost of checking it.

pub mod cpu;
mod drive;
mod faro;
pub mod line;
mod logs;
mod otlp;
pub mod plot;
mod report;
mod sentry;

use std::time::Duration;

pub use line::LineMaker;
pub use report::{
    per_second, rate_check, step_checks, BenchReport, CpuUse, Limits, Outcome, ReadBack,
    Saturation, Step, MIN_RATE_PERCENT, REPORT_SCHEMA, REPORT_VERSION,
};

use crate::report::Problem;
use crate::scenario::{Context, Stop};

/// Why a bench could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The part of the stack the signal needs is absent or unreachable.
    #[error("reach {endpoint}: {message}")]
    Unavailable {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The settings or the stack description cannot work.
    #[error("set up the bench against {endpoint}: {message}")]
    Setup {
        /// The endpoint or setting involved.
        endpoint: String,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The stack answered so wrongly that the bench cannot go on.
    #[error("load {endpoint}: {message}")]
    Failed {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The generator thread could not start, or panicked.
    #[error("run the load generator thread: {message}")]
    Generator {
        /// What happened.
        message: String,
    },
}

impl BenchError {
    /// What the user should do about it.
    pub fn hint(&self) -> &str {
        match self {
            BenchError::Unavailable { hint, .. }
            | BenchError::Setup { hint, .. }
            | BenchError::Failed { hint, .. } => hint,
            BenchError::Generator { .. } => {
                "this is a telltale bug or the machine is out of threads; please report it"
            }
        }
    }
}

impl From<Stop> for BenchError {
    fn from(stop: Stop) -> BenchError {
        let Problem {
            endpoint,
            message,
            hint,
        } = stop.problem;
        match stop.status {
            crate::report::Status::Unavailable => BenchError::Unavailable {
                endpoint,
                message,
                hint,
            },
            crate::report::Status::Failed => BenchError::Failed {
                endpoint,
                message,
                hint,
            },
            _ => BenchError::Setup {
                endpoint,
                message,
                hint,
            },
        }
    }
}

impl From<BenchError> for Stop {
    fn from(err: BenchError) -> Stop {
        let hint = err.hint().to_owned();
        match err {
            BenchError::Unavailable {
                endpoint, message, ..
            } => Stop::unavailable(&endpoint, message, hint),
            BenchError::Failed {
                endpoint, message, ..
            } => Stop::failed(&endpoint, message, hint),
            BenchError::Setup {
                endpoint, message, ..
            } => Stop::error(&endpoint, message, hint),
            BenchError::Generator { message } => Stop::error("", message, hint),
        }
    }
}

/// The signal a bench loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// Loki pushes (protobuf + snappy), straight to Loki.
    Logs,
    /// OTLP logs through Alloy.
    Otlp,
    /// Faro payloads through Alloy.
    Faro,
    /// Sentry events into GlitchTip.
    Sentry,
}

impl Signal {
    /// The name on the command line, in `stack.toml` and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Otlp => "otlp",
            Signal::Faro => "faro",
            Signal::Sentry => "sentry",
        }
    }

    /// Where a ramp starts: low enough for any stack to hold. GlitchTip takes each event in
    /// a request of its own and processes it in a worker, so it starts far lower than Loki.
    pub fn ramp_start(self) -> f64 {
        match self {
            Signal::Logs | Signal::Otlp => 1000.0,
            Signal::Faro => 200.0,
            Signal::Sentry => 10.0,
        }
    }

    /// Parses a name.
    pub fn parse(text: &str) -> Option<Signal> {
        [Signal::Logs, Signal::Otlp, Signal::Faro, Signal::Sentry]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// How a bench sends and judges.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bytes per log line.
    pub line_bytes: usize,
    /// Streams the lines spread over (round robin).
    pub streams: u32,
    /// Length of a fixed run, or of each ramp step.
    pub step: Duration,
    /// How often the generator sends what has come due.
    pub batch_interval: Duration,
    /// The largest push body, in bytes of lines, before a batch is split.
    pub max_batch_bytes: usize,
    /// Retry refused pushes (429, 5xx) per the client's policy. Off for the bench, so a refusal
    /// shows as loss at the rate that caused it instead of being smoothed over.
    pub retries: bool,
    /// How long to keep polling for accepted items after the last push.
    pub deadline: Duration,
    /// In a ramp, a step whose p99 latency exceeds this counts as saturated (unless
    /// `max_p99` sets a budget).
    pub latency_limit: Duration,
    /// The latency budget: a step whose p99 send-to-visible latency exceeds it does not hold.
    /// `None` for a fixed run without one (then latency is reported, not judged).
    pub max_p99: Option<Duration>,
    /// How long to wait after the first complete read-back before reading the step once more,
    /// so a copy that arrives late (a collector's retry) is counted as a duplicate.
    pub settle: Duration,
    /// How far the read-back window reaches before the step's start and past now: a collector
    /// that stamps items with its own clock (Alloy's `faro.receiver` stamps `time.Now()`) may
    /// disagree with this machine's by this much without its items reading as lost.
    pub clock_skew: Duration,
    /// The most steps a ramp takes.
    pub max_steps: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            line_bytes: 100,
            streams: 4,
            step: Duration::from_secs(10),
            batch_interval: Duration::from_millis(100),
            max_batch_bytes: 1024 * 1024,
            retries: false,
            deadline: Duration::from_secs(30),
            latency_limit: Duration::from_secs(5),
            max_p99: None,
            settle: Duration::from_secs(5),
            clock_skew: Duration::from_secs(300),
            max_steps: 24,
        }
    }
}

/// A ramp's rate grows by this factor per step until a step saturates.
const RAMP_FACTOR: f64 = 1.5;
/// Bisection stops once the bracket is this narrow, relative to its top.
const BISECT_PRECISION: f64 = 0.03;
/// The fewest items a fixed run sends: the rate is measured between sends, so one item alone
/// (one send) would prove no rate at all.
pub const MIN_ITEMS: u64 = 2;

/// The bench against one stack.
#[derive(Debug)]
pub struct Bench<'a> {
    ctx: &'a Context,
    signal: Signal,
    settings: Settings,
    receiver: Option<String>,
}

/// The receiver under load, and where its items are read back.
#[derive(Debug)]
enum Target {
    Logs(logs::Target),
    Otlp(otlp::Target),
    Faro(faro::Target),
    Sentry(sentry::Target),
}

impl Target {
    fn endpoint(&self) -> String {
        match self {
            Target::Logs(t) => t.endpoint.clone(),
            Target::Otlp(t) => t.endpoint(),
            Target::Faro(t) => t.endpoint(),
            Target::Sentry(t) => t.endpoint.clone(),
        }
    }

    fn version(&self) -> Option<String> {
        match self {
            Target::Logs(t) => t.version.clone(),
            Target::Otlp(t) => t.loki.version.clone(),
            Target::Faro(t) => t.loki.version.clone(),
            Target::Sentry(t) => t.version.clone(),
        }
    }

    /// Loki's ingestion limits, which OTLP and Faro lines meet too once Alloy writes them.
    fn limits(&self) -> Option<&Limits> {
        match self {
            Target::Logs(t) => t.limits.as_ref(),
            Target::Otlp(t) => t.loki.limits.as_ref(),
            Target::Faro(t) => t.loki.limits.as_ref(),
            Target::Sentry(_) => None,
        }
    }

    /// `judge` words its verdicts for Loki; another receiver gets its own name in them.
    fn reword(&self, mut sat: Saturation) -> Saturation {
        let receiver = match self {
            Target::Logs(_) => return sat,
            Target::Otlp(_) => "the OTLP receiver",
            Target::Faro(_) => "Alloy's Faro receiver",
            Target::Sentry(_) => "GlitchTip's ingest",
        };
        match sat.kind.as_str() {
            "throughput" => {
                sat.limit = format!(
                    "send throughput ({receiver}: its request handling, or this machine's CPU)"
                );
            }
            "loss" => {
                sat.detail = sat.detail.replacen(
                    "Loki accepted every push",
                    &format!("{receiver} accepted every item"),
                    1,
                );
            }
            _ => {}
        }
        sat
    }

    /// The limit a 429 from this receiver names.
    fn throttle_limit(&self) -> &'static str {
        match self {
            Target::Logs(_) => "limits_config.ingestion_rate_mb",
            Target::Otlp(_) => "the OTLP receiver's throttling (429: Alloy's otelcol.receiver.otlp refusing while an exporter or memory_limiter pushes back)",
            Target::Faro(_) => "faro.receiver rate_limiting (rate, burst_size)",
            Target::Sentry(_) => "GlitchTip ingest throttling (429 from the store/envelope endpoint)",
        }
    }
}

impl<'a> Bench<'a> {
    /// A bench of `signal` against the stack of `ctx`; items carry `ctx.run_id`.
    pub fn new(ctx: &'a Context, signal: Signal, settings: Settings) -> Result<Self, BenchError> {
        if settings.streams == 0 {
            return Err(setup("--streams", "at least one stream is needed"));
        }
        if settings.step.is_zero() {
            return Err(setup(
                "--duration",
                "the duration must be at least one second",
            ));
        }
        if LineMaker::new(&ctx.run_id, settings.line_bytes).is_none() {
            return Err(setup(
                "--line-bytes",
                format!(
                    "a line must hold the run id and sequence number: at least {} bytes",
                    LineMaker::min_bytes(&ctx.run_id)
                ),
            ));
        }
        if let Some(budget) = settings.max_p99 {
            if budget.is_zero() {
                return Err(setup(
                    "--max-p99-ms",
                    "a latency budget of 0 ms can never be met; leave it unset or give milliseconds above zero",
                ));
            }
        }
        if settings.line_bytes > settings.max_batch_bytes {
            return Err(setup(
                "--line-bytes",
                format!(
                    "lines over {} bytes do not fit one push",
                    settings.max_batch_bytes
                ),
            ));
        }
        Ok(Bench {
            ctx,
            signal,
            settings,
            receiver: None,
        })
    }

    /// Sends to `base_url` instead of the receiver the stack description names: for `otlp`,
    /// Loki's own OTLP endpoint (`http://loki:3100/otlp`) benches the Loki side without Alloy;
    /// for `faro`, another `faro.receiver`. Not for `logs` or `sentry`, whose endpoints come
    /// from Loki's and GlitchTip's own addresses.
    pub fn receiver(mut self, base_url: impl Into<String>) -> Self {
        self.receiver = Some(base_url.into());
        self
    }

    /// Checks the signal's receiver is there and reads its configured limits.
    async fn prepare(&self) -> Result<Target, BenchError> {
        let stack = &self.ctx.stack;
        match self.signal {
            Signal::Logs => Ok(Target::Logs(logs::Target::connect(self.ctx).await?)),
            Signal::Otlp => {
                let base_url = self
                    .receiver
                    .clone()
                    .unwrap_or_else(|| self.ctx.alloy_url(stack.alloy.otlp_http_port));
                self.reachable(&base_url, "Alloy's OTLP/HTTP receiver")
                    .await?;
                let loki = logs::Target::connect(self.ctx).await?;
                Ok(Target::Otlp(otlp::Target { base_url, loki }))
            }
            Signal::Faro => {
                let base_url = self
                    .receiver
                    .clone()
                    .unwrap_or_else(|| self.ctx.alloy_url(stack.alloy.faro_port));
                self.reachable(&base_url, "Alloy's Faro receiver").await?;
                let api_key = faro::Target::api_key(self.ctx)?;
                let loki = logs::Target::connect(self.ctx).await?;
                Ok(Target::Faro(faro::Target {
                    base_url,
                    api_key,
                    loki,
                }))
            }
            Signal::Sentry => {
                self.reachable(&self.ctx.glitchtip_url(), "GlitchTip")
                    .await?;
                Ok(Target::Sentry(sentry::Target::connect(self.ctx).await?))
            }
        }
    }

    /// Whether anything answers on the receiver's address: when nothing does, the bench is
    /// unavailable (exit 2), never a pass.
    async fn reachable(&self, endpoint: &str, what: &str) -> Result<(), BenchError> {
        let authority = endpoint
            .split("://")
            .nth(1)
            .unwrap_or(endpoint)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let reachable = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(authority.as_str()),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        if reachable {
            return Ok(());
        }
        Err(BenchError::Unavailable {
            endpoint: endpoint.to_owned(),
            message: format!("{what} is unavailable: nothing answers on {authority}"),
            hint: format!(
                "start {what} or fix its address in the stack description; `telltale bench {}` needs it",
                self.signal.as_str()
            ),
        })
    }

    /// One run at `rate` items per second for the step length.
    pub async fn fixed(
        &self,
        rate: f64,
        mut on_step: impl FnMut(&Step),
    ) -> Result<BenchReport, BenchError> {
        self.check_fixed(rate)?;
        let target = self.prepare().await?;
        let step = self.step(&target, 1, rate, false).await?;
        on_step(&step);
        let outcome = Outcome {
            passed: step.sustained(),
            failed_checks: failed_checks(&step),
            highest_sustained: step.sustained().then(|| report::Highest::of(&step)),
            stopped_by: step.saturation.clone(),
            ceiling_fraction: None,
            burst_allowance_mib_per_s: None,
        };
        Ok(self.report("fixed", &target, vec![step], outcome))
    }

    /// Refuses a fixed run that could prove nothing, before anything is sent: no rate, or
    /// so few items that the rate cannot be measured between two sends.
    pub fn check_fixed(&self, rate: f64) -> Result<(), BenchError> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(setup(
                "--rate",
                "the rate must be above zero: at 0 items/s nothing is sent and nothing is proven",
            ));
        }
        let items = drive::items(&self.settings, rate);
        if items < MIN_ITEMS {
            return Err(setup(
                "--rate",
                format!(
                    "{rate} items/s for {} s is {items} item: the rate is measured between sends, so at least {MIN_ITEMS} items are needed",
                    self.settings.step.as_secs_f64()
                ),
            ));
        }
        Ok(())
    }

    /// Raises the rate from `start` by half each step until a step saturates, then bisects
    /// between the last sustained rate and the first saturated one.
    pub async fn ramp(
        &self,
        start: f64,
        mut on_step: impl FnMut(&Step),
    ) -> Result<BenchReport, BenchError> {
        self.check_fixed(start)?;
        let target = self.prepare().await?;
        let mut steps: Vec<Step> = Vec::new();
        let mut good: Option<f64> = None;
        let mut bad: Option<f64> = None;
        let mut rate = start.max(1.0);
        let mut first_stop: Option<Saturation> = None;
        for n in 1..=self.settings.max_steps {
            let step = self.step(&target, n, rate, true).await?;
            on_step(&step);
            let sustained = step.sustained();
            if sustained {
                good = Some(good.map_or(rate, |g: f64| g.max(rate)));
            } else {
                bad = Some(bad.map_or(rate, |b: f64| b.min(rate)));
                // The first limit hit on the way up names the ceiling; later ones only refine it.
                if first_stop.is_none() {
                    first_stop = step.saturation.clone();
                }
            }
            steps.push(step);
            rate = match (good, bad) {
                (_, None) => rate * RAMP_FACTOR,
                // Even the first rate saturated: halve until one holds.
                (None, Some(b)) => b / 2.0,
                (Some(g), Some(b)) if (b - g) / b <= BISECT_PRECISION => break,
                (Some(g), Some(b)) => (g + b) / 2.0,
            };
            // A step of one item measures no rate; the bracket is as narrow as it gets.
            if rate < 1.0 || drive::items(&self.settings, rate) < MIN_ITEMS {
                break;
            }
        }
        let highest = steps
            .iter()
            .filter(|s| s.sustained())
            .max_by(|a, b| a.achieved_items_per_s.total_cmp(&b.achieved_items_per_s))
            .map(report::Highest::of);
        let ceiling_fraction = match (&highest, target.limits()) {
            (Some(h), Some(l)) if l.ingestion_rate_mib > 0.0 => {
                Some(h.mib_per_s / l.ingestion_rate_mib)
            }
            _ => None,
        };
        let stopped_by = first_stop.or_else(|| {
            (bad.is_none()).then(|| Saturation {
                kind: "none".into(),
                limit: "max steps".into(),
                detail: format!(
                    "no step saturated within {} steps; raise --duration or start higher",
                    self.settings.max_steps
                ),
            })
        });
        let burst_allowance_mib_per_s = target
            .limits()
            .map(|l| l.ingestion_burst_mib / self.settings.step.as_secs_f64());
        let outcome = Outcome {
            passed: highest.is_some(),
            failed_checks: match (&highest, steps.first()) {
                (None, Some(first)) => failed_checks(first),
                _ => Vec::new(),
            },
            highest_sustained: highest,
            stopped_by,
            ceiling_fraction,
            burst_allowance_mib_per_s,
        };
        Ok(self.report("ramp", &target, steps, outcome))
    }

    async fn step(
        &self,
        target: &Target,
        n: u32,
        rate: f64,
        ramp: bool,
    ) -> Result<Step, BenchError> {
        let (ctx, settings) = (self.ctx, &self.settings);
        let mut step = match target {
            Target::Logs(t) => logs::step(ctx, t, settings, n, rate).await?,
            Target::Otlp(t) => otlp::step(ctx, t, settings, n, rate).await?,
            Target::Faro(t) => faro::step(ctx, t, settings, n, rate).await?,
            Target::Sentry(t) => sentry::step(ctx, t, settings, n, rate).await?,
        };
        // A ramp holds every step to its latency limit; a fixed run only to a budget it was
        // given.
        let budget = settings
            .max_p99
            .or(ramp.then_some(settings.latency_limit))
            .map(crate::report::millis);
        step.checks = report::step_checks(&step, MIN_RATE_PERCENT, budget);
        step.saturation = throttled(&step, target.throttle_limit())
            .or_else(|| report::judge(&step, target.limits(), settings, MIN_RATE_PERCENT, budget))
            .map(|sat| target.reword(sat));
        Ok(step)
    }

    fn report(
        &self,
        mode: &str,
        target: &Target,
        steps: Vec<Step>,
        outcome: Outcome,
    ) -> BenchReport {
        let items: u64 = steps.iter().map(|s| s.sent).sum();
        let gen: f64 = steps.iter().map(|s| s.cpu.generator_s).sum();
        let process: f64 = steps.iter().map(|s| s.cpu.process_s).sum();
        BenchReport {
            schema: REPORT_SCHEMA.into(),
            version: REPORT_VERSION,
            telltale_version: env!("CARGO_PKG_VERSION").into(),
            signal: self.signal.as_str().into(),
            mode: mode.into(),
            run_id: self.ctx.run_id.clone(),
            endpoint: target.endpoint(),
            server_version: target.version(),
            settings: report::SettingsEcho::of(&self.settings),
            limits: target.limits().cloned(),
            cpu: CpuUse::of(gen, process, items),
            steps,
            outcome,
        }
    }
}

/// A receiver other than Loki answered 429 (`throttled`): the step is saturated by that
/// receiver's own throttling, named with its words and `Retry-After`.
fn throttled(step: &Step, limit: &str) -> Option<Saturation> {
    let count = step
        .rejections
        .get("throttled")
        .copied()
        .filter(|&c| c > 0)?;
    Some(Saturation {
        kind: "throttled".into(),
        limit: limit.into(),
        detail: format!(
            "the receiver answered 429 for {count} of {} items at {:.1} items/s; it said: {}",
            step.sent,
            step.achieved_items_per_s,
            step.first_rejection.as_deref().unwrap_or_default()
        ),
    })
}

/// The failed checks of a step in words, for the outcome.
fn failed_checks(step: &Step) -> Vec<String> {
    if step.sustained() {
        return Vec::new();
    }
    let failed: Vec<String> = step
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{} {}", c.name, c.actual))
        .collect();
    if failed.is_empty() {
        vec![step.verdict()]
    } else {
        failed
    }
}

fn setup(setting: &str, message: impl Into<String>) -> BenchError {
    BenchError::Setup {
        endpoint: setting.into(),
        message: message.into(),
        hint: format!("change {setting}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Options;
    use crate::stack::Stack;

    fn refused(err: Result<impl std::fmt::Debug, BenchError>, setting: &str) -> String {
        match err {
            Err(BenchError::Setup {
                endpoint, message, ..
            }) => {
                assert_eq!(endpoint, setting, "{message}");
                message
            }
            other => panic!("expected a setup error for {setting}, got {other:?}"),
        }
    }

    /// Every knob that would let a bench prove nothing is refused before anything is sent.
    #[test]
    fn vacuous_settings_are_refused_before_anything_is_sent() {
        let ctx = Context::new(Stack::default(), Options::default());
        let bench = |settings: Settings| Bench::new(&ctx, Signal::Logs, settings);
        refused(
            bench(Settings {
                step: Duration::ZERO,
                ..Settings::default()
            }),
            "--duration",
        );
        refused(
            bench(Settings {
                streams: 0,
                ..Settings::default()
            }),
            "--streams",
        );
        refused(
            bench(Settings {
                max_p99: Some(Duration::ZERO),
                ..Settings::default()
            }),
            "--max-p99-ms",
        );
        refused(
            bench(Settings {
                line_bytes: 0,
                ..Settings::default()
            }),
            "--line-bytes",
        );
        let one_second = bench(Settings {
            step: Duration::from_secs(1),
            ..Settings::default()
        })
        .unwrap();
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let m = refused(one_second.check_fixed(rate), "--rate");
            assert!(m.contains("above zero"), "{m}");
        }
        let m = refused(one_second.check_fixed(1.0), "--rate");
        assert!(m.contains("at least 2 items"), "{m}");
        assert!(one_second.check_fixed(2.0).is_ok());
        // A rate too low for one item a step rounds to none: refused, never a pass.
        assert!(one_second.check_fixed(0.4).is_err());
    }
}
