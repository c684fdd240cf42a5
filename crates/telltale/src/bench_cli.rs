//! `telltale bench`: the command line of the ingestion benchmark (being written).

use std::path::PathBuf;

use anyhow::{bail, Result};

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
    /// Draw rate against latency as SVG.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value = "human")]
    pub(crate) report: crate::ReportFormat,
}

pub(crate) async fn run(_args: Args) -> Result<u8> {
    bail!("telltale bench is not built yet")
}
