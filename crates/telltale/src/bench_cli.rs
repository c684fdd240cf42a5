//! `telltale bench`: the command line of the ingestion benchmark ([`telltale::bench`]).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use telltale::bench::{self, Bench, BenchError, Settings, Step};
use telltale::scenario::{Context, Options};
use telltale::stack::Stack;

/// What to load.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Signal {
    /// Loki pushes.
    Logs,
    /// OTLP logs through Alloy.
    Otlp,
    /// Faro payloads through Alloy.
    Faro,
    /// Sentry events into GlitchTip.
    Sentry,
}

/// `telltale bench` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The signal to load.
    #[arg(value_enum)]
    pub(crate) signal: Signal,
    /// The stack description (`stack.toml` or the module's JSON).
    #[arg(long)]
    pub(crate) stack: PathBuf,
    /// A fixed rate, in items per second.
    #[arg(long, conflicts_with = "ramp")]
    pub(crate) rate: Option<u32>,
    /// Raise the rate step by step until the stack saturates.
    #[arg(long)]
    pub(crate) ramp: bool,
    /// Seconds per step (or of the whole run at a fixed rate).
    #[arg(long, default_value_t = 10)]
    pub(crate) duration: u32,
    /// Bytes per log line.
    #[arg(long, default_value_t = 100)]
    pub(crate) line_bytes: u32,
    /// Streams the lines spread over.
    #[arg(long, default_value_t = 4)]
    pub(crate) streams: u32,
    /// Latency budget: a step whose p99 send-to-visible latency is over this many
    /// milliseconds does not hold (default: the stack description's `[load] max_p99_ms`).
    #[arg(long)]
    pub(crate) max_p99_ms: Option<u32>,
    /// Draw rate against latency as SVG.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) report: crate::ReportFormat,
}

/// Runs the bench; the exit code is 0 when it passed (every check of a fixed run held, or a
/// ramp step held), 1 when a check failed, 2 when it could not run or could prove nothing.
pub(crate) async fn run(args: Args) -> Result<u8> {
    let stack = match Stack::from_file(&args.stack) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "telltale bench: could not run: {e}\n  what to do: fix the stack description"
            );
            return Ok(2);
        }
    };
    let signal = match args.signal {
        Signal::Logs => bench::Signal::Logs,
        Signal::Otlp => bench::Signal::Otlp,
        Signal::Faro => bench::Signal::Faro,
        Signal::Sentry => bench::Signal::Sentry,
    };
    // A fixed run without `--rate` uses the stack description's burst rate, and without
    // `--max-p99-ms` its latency budget.
    if !args.ramp && args.rate.is_none() && stack.load.rate == 0 {
        eprintln!(
            "telltale bench: could not run: no --rate given, and the stack description's `[load] rate` is 0: nothing would be sent\n  what to do: pass --rate N (items per second) or set `[load] rate`"
        );
        return Ok(2);
    }
    let rate = f64::from(args.rate.unwrap_or(stack.load.rate));
    let max_p99_ms = args.max_p99_ms.or(stack.load.max_p99_ms);
    let settings = Settings {
        line_bytes: args.line_bytes as usize,
        streams: args.streams,
        step: Duration::from_secs(u64::from(args.duration)),
        max_p99: max_p99_ms.map(|ms| Duration::from_millis(u64::from(ms))),
        ..Settings::default()
    };
    let ctx = Context::new(stack, Options::default());
    let human = matches!(args.report, crate::ReportFormat::Human);
    let progress = std::io::stderr().is_terminal() || human;
    let on_step = |s: &Step| {
        if progress {
            eprintln!(
                "step {:>2}: {:>8.0} items/s asked, {:>8.0} accepted, {:.3} MiB/s, p99 {:.0} ms, {}",
                s.step,
                s.target_items_per_s,
                s.accepted_items_per_s,
                s.achieved_mib_per_s,
                s.delivery.latency_ms.p99,
                s.verdict()
            );
        }
    };
    let result = match Bench::new(&ctx, signal, settings) {
        Ok(b) if args.ramp => b.ramp(signal.ramp_start(), on_step).await,
        Ok(b) => b.fixed(rate, on_step).await,
        Err(e) => Err(e),
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => return Ok(could_not_run(&e)),
    };
    if let Some(path) = &args.plot {
        std::fs::write(path, bench::plot::svg(&report))
            .with_context(|| format!("write the plot {}", path.display()))?;
    }
    let text = match args.report {
        crate::ReportFormat::Human => report.human(),
        crate::ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
    };
    crate::print_out(&text)?;
    Ok(report.exit_code())
}

/// Says why the bench could not run and what to do; exit code 2.
fn could_not_run(e: &BenchError) -> u8 {
    eprintln!(
        "telltale bench: could not run: {e}\n  what to do: {}",
        e.hint()
    );
    2
}
