//! The `telltale` command line: `check`, `probe`, `bench`, `canary`, `up`, `decode`, `metrics lint`,
//! `rules test` and `glitchtip bootstrap`.
//!
//! Exit codes: 0 when everything passed, 1 when a check failed, 2 when the command could not run
//! (bad arguments, unreadable files, unreachable servers).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

mod bench_cli;
mod decode;
mod rules_cli;
mod up;

#[derive(Parser)]
#[command(
    name = "telltale",
    version,
    about = "End-to-end checks of a self-hosted observability stack"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// A table, with details of what did not pass.
    Human,
    /// Versioned JSON (`docs/report.md`).
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Runs scenarios against a stack and reports, for each, what was sent and what came back.
    ///
    /// Exit codes: 0 every scenario passed; 1 a check failed; 2 a scenario could not run (a part
    /// is unavailable, a credential unreadable) or the stack description is bad.
    Check {
        /// The stack description: `stack.toml`, or the JSON the NixOS module writes.
        #[arg(long)]
        stack: PathBuf,
        /// A scenario to run (repeat for several); without it, every scenario the stack
        /// description configures, except `load-burst`.
        #[arg(long = "scenario", value_parser = parse_scenario)]
        scenarios: Vec<telltale::scenario::Name>,
        /// `human` (a table) or `json` (the versioned report).
        #[arg(long, value_enum, default_value = "human")]
        report: ReportFormat,
        /// Also write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Items sent per signal (per unit, per project).
        #[arg(long, default_value_t = 20)]
        items: u32,
        /// Seconds to keep querying for items not yet seen.
        #[arg(long, default_value_t = 90)]
        deadline: u64,
        /// Seconds to wait, once every item is seen, before reading back once more to catch
        /// late copies (a collector's retry); cut short by the deadline.
        #[arg(long, default_value_t = 3)]
        settle: u64,
    },
    /// The break-glass probe: from outside the host, checks that the stack's public edge and
    /// service URLs answer, declares a target dead after `--dead-after` probes in a row without
    /// an answer, and POSTs one alert per outage (and one when it recovers) to `--webhook`
    /// (`docs/probe.md`).
    ///
    /// Exit codes: 0 every target answered throughout; 1 a target was detected dead (it had
    /// answered, then stopped) or the webhook refused an alert; 2 a target never answered
    /// (unavailable: no outage can be detected without one answer) or bad options.
    Probe {
        /// The stack description: `stack.toml`, or the JSON the NixOS module writes.
        #[arg(long)]
        stack: PathBuf,
        /// Time between two probes of a target, and each probe's timeout (`1s`, `500ms`).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: std::time::Duration,
        /// Probes in a row without an answer that make a target dead.
        #[arg(long, default_value_t = 3)]
        dead_after: u32,
        /// Where alerts are POSTed as `{"text": …}` (Slack, Discord's `/slack` URL, any JSON
        /// receiver).
        #[arg(long)]
        webhook: Option<String>,
        /// How long to probe (`30s`, `10m`, `24h`).
        #[arg(long = "for", default_value = "30s", value_parser = parse_duration)]
        duration: std::time::Duration,
        /// `human` (a table) or `json` (the versioned report).
        #[arg(long, value_enum, default_value = "human")]
        report: ReportFormat,
    },
    /// Starts a local stack from the binaries found on PATH or in `*_BIN` variables, on
    /// 127.0.0.1 with the NixOS module's settings, and writes its `stack.toml`. Says which parts
    /// are missing and how to get them; with `--check`, checks the stack and stops it.
    Up {
        /// Where configs, data, logs and `stack.toml` go.
        #[arg(long, default_value = ".telltale-up")]
        dir: PathBuf,
        /// Run `check` against the stack, then stop it; exits as `check` does.
        #[arg(long)]
        check: bool,
        /// With `--check`: `human` or `json`.
        #[arg(long, value_enum, default_value = "human")]
        report: ReportFormat,
        /// With `--check`: also write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Loads one signal at a fixed or ramping rate and reports the highest rate the stack
    /// sustains with zero loss, latency percentiles, and telltale's own CPU per item.
    Bench(bench_cli::Args),
    /// Pushes a steady trickle of numbered lines to Loki for as long as it runs and accounts
    /// for each by query (delivered, duplicated, missing), serving `/metrics` with
    /// loki-canary's names where they mean the same.
    ///
    /// Exit codes: 0 every line judged came back exactly once; 1 a line was refused, missing,
    /// duplicated or unexpected; 2 it could not run or sent nothing.
    Canary {
        /// The stack description (`[loki]` is used).
        #[arg(long)]
        stack: PathBuf,
        /// Lines per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Bytes per line.
        #[arg(long, default_value_t = 100)]
        line_bytes: u32,
        /// Milliseconds between pushes.
        #[arg(long, default_value_t = 1000)]
        push_every_ms: u64,
        /// Seconds between read-backs.
        #[arg(long, default_value_t = 10)]
        check_every: u64,
        /// Seconds a line may take to show before it counts as missing.
        #[arg(long, default_value_t = 60)]
        max_wait: u64,
        /// Seconds to push; without it, until Ctrl-C.
        #[arg(long)]
        duration: Option<u64>,
        /// Serve `/metrics` here, e.g. `127.0.0.1:3501`.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Prints a payload as normalised JSON; exits 1 with a positioned error when it is malformed.
    Decode {
        /// What the file holds.
        #[arg(value_enum)]
        kind: decode::Kind,
        /// The payload, as sent on the wire.
        file: PathBuf,
        /// How the file is compressed.
        #[arg(long, value_enum, default_value = "identity")]
        encoding: decode::BodyEncoding,
        /// For OTLP: protobuf or JSON (guessed from the first byte when absent).
        #[arg(long, value_enum)]
        content_type: Option<decode::OtlpContentType>,
    },
    /// Checks of Prometheus expositions.
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
    /// Alerting and recording rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// GlitchTip administration.
    Glitchtip {
        #[command(subcommand)]
        command: GlitchtipCommand,
    },
}

#[derive(Subcommand)]
enum MetricsCommand {
    /// Checks an exposition (a URL to scrape, or a file) against a metrics contract.
    Lint {
        /// The contract, as TOML.
        #[arg(long)]
        contract: PathBuf,
        /// `http(s)://…/metrics` to scrape as Prometheus 3 does, or a file (OpenMetrics when it
        /// ends with `# EOF`, text 0.0.4 otherwise).
        target: String,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Runs rule unit tests in promtool's `test rules` format with telltale's PromQL subset
    /// engine. Exit codes: 0 every test group passed; 1 one failed; 2 the engine refused a
    /// construct it does not implement (`docs/rules.md`).
    Test {
        /// Test files (YAML, promtool's format).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GlitchtipCommand {
    /// Creates the organization, team, projects and keys when missing, and prints
    /// `{"<project>": {"id": …, "dsn": "…"}}`. Running it twice changes nothing.
    Bootstrap {
        /// GlitchTip's base URL.
        #[arg(long)]
        url: String,
        /// A file holding an API token with org, team and project write scopes.
        #[arg(long)]
        token_file: PathBuf,
        /// Organization name.
        #[arg(long)]
        org: String,
        /// Team name.
        #[arg(long)]
        team: String,
        /// Project names (repeat the flag for several).
        #[arg(long = "project", required = true)]
        projects: Vec<String>,
    },
}

/// A failed check (exit 1), as opposed to a failure to run (exit 2).
#[derive(Debug)]
struct CheckFailed;

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("check failed")
    }
}

impl std::error::Error for CheckFailed {}

/// Ends the process with this exit code, the report already printed.
#[derive(Debug)]
struct Exit(u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn parse_scenario(text: &str) -> Result<telltale::scenario::Name, String> {
    telltale::scenario::Name::parse(text).ok_or_else(|| {
        let names: Vec<&str> = telltale::scenario::Name::ALL
            .iter()
            .map(|n| n.as_str())
            .collect();
        format!("unknown scenario {text:?}; one of: {}", names.join(", "))
    })
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    telltale_prometheus::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 500ms, 1s, 2m or 1h30m"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<CheckFailed>() => ExitCode::from(1),
        Err(e) if e.is::<Exit>() => ExitCode::from(e.downcast_ref::<Exit>().map_or(2, |x| x.0)),
        Err(e) if e.is::<decode::Malformed>() => {
            eprintln!("malformed: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Check {
            stack,
            scenarios,
            report,
            junit,
            items,
            deadline,
            settle,
        } => {
            let options = telltale::scenario::Options {
                items,
                deadline: std::time::Duration::from_secs(deadline),
                settle: std::time::Duration::from_secs(settle),
                ..Default::default()
            };
            let code = check(&stack, scenarios, report, junit.as_deref(), options).await?;
            match code {
                0 => Ok(()),
                code => Err(Exit(code).into()),
            }
        }
        Command::Probe {
            stack,
            interval,
            dead_after,
            webhook,
            duration,
            report,
        } => {
            let probe = telltale::scenario::ProbeOptions {
                interval,
                dead_after,
                webhook,
                duration,
            };
            if let Err(why) = probe.validate() {
                bail!("{why}");
            }
            let options = telltale::scenario::Options {
                probe,
                ..Default::default()
            };
            let code = check(
                &stack,
                vec![telltale::scenario::Name::Probe],
                report,
                None,
                options,
            )
            .await?;
            match code {
                0 => Ok(()),
                code => Err(Exit(code).into()),
            }
        }
        Command::Up {
            dir,
            check: run_check,
            report,
            junit,
        } => {
            let stack = up::up(&dir).await?;
            eprintln!("stack description: {}", stack.stack_file.display());
            for (part, how) in &stack.missing {
                eprintln!("missing: {part}: {how}");
            }
            if !stack.missing.is_empty() {
                eprintln!(
                    "the scenarios that need a missing part are reported unavailable, never passed"
                );
            }
            if run_check {
                let code = check(
                    &stack.stack_file,
                    Vec::new(),
                    report,
                    junit.as_deref(),
                    telltale::scenario::Options::default(),
                )
                .await?;
                drop(stack);
                return match code {
                    0 => Ok(()),
                    code => Err(Exit(code).into()),
                };
            }
            eprintln!("running; press Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
            drop(stack);
            Ok(())
        }
        Command::Bench(args) => match bench_cli::run(args).await? {
            0 => Ok(()),
            code => Err(Exit(code).into()),
        },
        Command::Canary {
            stack,
            rate,
            line_bytes,
            push_every_ms,
            check_every,
            max_wait,
            duration,
            listen,
        } => {
            if rate == 0 || push_every_ms == 0 || check_every == 0 || max_wait == 0 {
                eprintln!("telltale canary: could not run: --rate, --push-every-ms, --check-every and --max-wait must be above 0");
                return Err(Exit(2).into());
            }
            let stack = telltale::stack::Stack::from_file(&stack)?;
            let ctx =
                telltale::scenario::Context::new(stack, telltale::scenario::Options::default());
            let settings = telltale::canary::Settings {
                rate: f64::from(rate),
                line_bytes: line_bytes as usize,
                push_every: std::time::Duration::from_millis(push_every_ms),
                check_every: std::time::Duration::from_secs(check_every),
                max_wait: std::time::Duration::from_secs(max_wait),
                duration: duration.map(std::time::Duration::from_secs),
                listen,
            };
            match telltale::canary::run(&ctx, &settings).await {
                Err(stop) => {
                    eprintln!("telltale canary: could not run: {}", stop.problem.message);
                    Err(Exit(2).into())
                }
                Ok(totals) => {
                    print_out(&format!("{}\n", serde_json::to_string(&totals)?))?;
                    if totals.sent == 0 {
                        eprintln!("telltale canary: nothing was sent");
                        Err(Exit(2).into())
                    } else if totals.is_clean() {
                        Ok(())
                    } else {
                        Err(CheckFailed.into())
                    }
                }
            }
        }
        Command::Decode {
            kind,
            file,
            encoding,
            content_type,
        } => {
            let body = std::fs::read(&file).with_context(|| format!("read {}", file.display()))?;
            let value = decode::decode(kind, &body, encoding, content_type)?;
            print_out(&format!("{}\n", serde_json::to_string_pretty(&value)?))
        }
        Command::Metrics {
            command: MetricsCommand::Lint { contract, target },
        } => metrics_lint(&contract, &target).await,
        Command::Rules {
            command: RulesCommand::Test { files },
        } => match rules_cli::test(&files) {
            0 => Ok(()),
            code => Err(Exit(code).into()),
        },
        Command::Glitchtip {
            command:
                GlitchtipCommand::Bootstrap {
                    url,
                    token_file,
                    org,
                    team,
                    projects,
                },
        } => glitchtip_bootstrap(&url, &token_file, &org, &team, &projects).await,
    }
}

/// Writes to stdout; a closed pipe (`telltale decode … | head`) is not an error.
/// Runs `check` and prints its report; returns the exit code the report implies.
pub(crate) async fn check(
    stack_path: &std::path::Path,
    scenarios: Vec<telltale::scenario::Name>,
    format: ReportFormat,
    junit: Option<&std::path::Path>,
    options: telltale::scenario::Options,
) -> Result<u8> {
    use telltale::scenario::{self, Context, Name};
    if let Err(why) = options.validate() {
        anyhow::bail!("{why}");
    }
    let stack = telltale::stack::Stack::from_file(stack_path).context(
        "the stack description is unusable (see docs/report.md and crates/telltale/src/stack.rs)",
    )?;
    let mut names = if scenarios.is_empty() {
        Name::defaults(&stack)
    } else {
        scenarios
    };
    names.dedup();
    let started_at = telltale_glitchtip::format_rfc3339(std::time::SystemTime::now());
    let started = std::time::Instant::now();
    let host = stack.host.clone();
    let ctx = Context::new(stack, options);
    let mut reports = Vec::new();
    for name in names {
        if format == ReportFormat::Human {
            eprintln!("running {name}…");
        }
        reports.push(scenario::run(name, &ctx).await);
    }
    let report = telltale::report::Report::new(
        ctx.run_id.clone(),
        started_at,
        started.elapsed(),
        telltale::report::StackRef {
            host,
            source: stack_path.display().to_string(),
        },
        reports,
    );
    if let Some(path) = junit {
        std::fs::write(path, report.to_junit())
            .with_context(|| format!("write the JUnit report to {}", path.display()))?;
    }
    match format {
        ReportFormat::Human => print_out(&report.to_human())?,
        ReportFormat::Json => print_out(&format!("{}\n", report.to_json()))?,
    }
    Ok(report.exit_code)
}

fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

async fn metrics_lint(contract_path: &PathBuf, target: &str) -> Result<()> {
    use telltale_prometheus::exposition::{parse_bytes, Format};
    use telltale_prometheus::{scrape, MetricsContract, ScrapeOptions};

    let contract = MetricsContract::from_toml_file(contract_path)?;
    let (exposition, content_type_problem) =
        if target.starts_with("http://") || target.starts_with("https://") {
            let scraped = scrape(target, &ScrapeOptions::default())
                .await
                .with_context(|| format!("scrape {target}"))?;
            if scraped.status != 200 {
                bail!(
                    "scrape {target}: the endpoint answered HTTP {}",
                    scraped.status
                );
            }
            let problem = (!scraped.content_type_check.prometheus3_accepts()).then(|| {
                format!(
                    "Prometheus 3 would refuse this target's Content-Type: {:?}",
                    scraped.content_type_check
                )
            });
            (
                scraped
                    .exposition()
                    .with_context(|| format!("parse what {target} served"))?,
                problem,
            )
        } else {
            let body = std::fs::read(target).with_context(|| format!("read {target}"))?;
            let format = if body.trim_ascii_end().ends_with(b"# EOF") {
                Format::OpenMetrics1
            } else {
                Format::Text004
            };
            (
                parse_bytes(&body, Some(format.content_type()), None)
                    .with_context(|| format!("parse {target}"))?,
                None,
            )
        };
    let report = contract.check(&exposition);
    print!("{report}");
    if let Some(problem) = &content_type_problem {
        println!("  error   {target}: {problem}");
    }
    if report.is_ok() && content_type_problem.is_none() {
        Ok(())
    } else {
        Err(CheckFailed.into())
    }
}

async fn glitchtip_bootstrap(
    url: &str,
    token_file: &PathBuf,
    org: &str,
    team: &str,
    projects: &[String],
) -> Result<()> {
    use telltale_glitchtip::{Client, NewProject, Secret, StackSpec};

    let token = Secret::from_file(token_file)?;
    let client = Client::builder(url).token(token).build()?;
    let spec = projects.iter().fold(StackSpec::new(org, team), |spec, p| {
        spec.project(NewProject::new(p.as_str()))
    });
    let report = client
        .ensure_stack(&spec)
        .await
        .with_context(|| format!("bootstrap GlitchTip at {url}"))?;
    let mut out: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for p in &report.projects {
        out.insert(
            p.project.name.clone(),
            serde_json::json!({ "id": p.project.id, "dsn": p.dsn.expose() }),
        );
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    for created in &report.created {
        eprintln!("created {created:?}");
    }
    Ok(())
}
