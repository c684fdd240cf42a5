//! Scenarios: each sends what the stack promises to carry, or asks what it promises to hold,
//! and returns its checks, delivery accounting and evidence as a [`ScenarioReport`].
//!
//! A scenario is an `async fn(&Context, &mut Outcome) -> Result<(), Stop>`. It records every
//! assertion in the [`Outcome`], and returns a [`Stop`] when it cannot go on: the part it needs is
//! unreachable (`unavailable`), the harness itself is misconfigured (`error`), or the stack
//! answered so wrongly that nothing further can be checked (`failed`).

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::report::{Check, Delivery, Evidence, Problem, ScenarioReport, Status};
use crate::stack::{Credential, Stack};

mod alert;
mod backup;
mod faro;
mod firewall;
mod grafana;
mod journald;
mod load;
mod otlp;
mod parts;
mod probe;
pub(crate) mod readback;
mod retention;
mod scrape;
mod sentry;
mod tempo;
mod unit_env;

pub use probe::ProbeOptions;
pub(crate) use readback::{read_back, LokiReadBack, LokiSeen, Promised};
pub use telltale_http::{Auth, Secret};

/// Every scenario, in the order `check` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Name {
    /// N tagged lines per configured unit reach Loki with `app`, `host`, `service_unit`.
    JournaldToLoki,
    /// OTLP logs through Alloy reach Loki.
    OtlpLogsToLoki,
    /// OTLP metrics through Alloy reach Prometheus.
    OtlpMetricsToPrometheus,
    /// OTLP traces are accepted (and dropped: the stack has no Tempo).
    OtlpTracesAccepted,
    /// OTLP traces reach Tempo, every span read back with its parent and attributes.
    OtlpTracesToTempo,
    /// Faro events reach Loki labelled `source=pwa-faro`.
    FaroToLoki,
    /// Sentry events reach every GlitchTip project through the SDK, envelope and store paths.
    SentryToGlitchtip,
    /// Every configured scrape job is `up`, recently scraped.
    ScrapeTargetsUp,
    /// Loki, Prometheus and GlitchTip keep data as long as declared.
    Retention,
    /// Grafana's datasources are provisioned and healthy, anonymous access is refused, the
    /// operator user exists.
    Grafana,
    /// Ports and edge paths are open or closed as declared.
    Firewall,
    /// Backups exist, are fresh and restorable.
    Backup,
    /// A burst at a set rate arrives with zero loss; latency percentiles.
    LoadBurst,
    /// A canary alert fires, reaches telltale's webhook through Alertmanager once, and resolves.
    AlertDelivery,
    /// From outside the host, the edge and the service URLs answer; a target silent for
    /// `dead_after` probes in a row after answering is detected dead and alerted once.
    Probe,
}

impl Name {
    /// Every scenario.
    pub const ALL: [Name; 15] = [
        Name::JournaldToLoki,
        Name::OtlpLogsToLoki,
        Name::OtlpMetricsToPrometheus,
        Name::OtlpTracesAccepted,
        Name::OtlpTracesToTempo,
        Name::FaroToLoki,
        Name::SentryToGlitchtip,
        Name::ScrapeTargetsUp,
        Name::Retention,
        Name::Grafana,
        Name::Firewall,
        Name::Backup,
        Name::LoadBurst,
        Name::AlertDelivery,
        Name::Probe,
    ];

    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::JournaldToLoki => "journald-to-loki",
            Name::OtlpLogsToLoki => "otlp-logs-to-loki",
            Name::OtlpMetricsToPrometheus => "otlp-metrics-to-prometheus",
            Name::OtlpTracesAccepted => "otlp-traces-accepted",
            Name::OtlpTracesToTempo => "otlp-traces-to-tempo",
            Name::FaroToLoki => "faro-to-loki",
            Name::SentryToGlitchtip => "sentry-to-glitchtip",
            Name::ScrapeTargetsUp => "scrape-targets-up",
            Name::Retention => "retention",
            Name::Grafana => "grafana",
            Name::Firewall => "firewall",
            Name::Backup => "backup",
            Name::LoadBurst => "load-burst",
            Name::AlertDelivery => "alert-delivery",
            Name::Probe => "probe",
        }
    }

    /// Parses a command-line name.
    pub fn parse(text: &str) -> Option<Name> {
        Name::ALL.into_iter().find(|n| n.as_str() == text)
    }

    /// What `check` runs without `--scenario`: everything the stack description configures.
    /// `load-burst` only runs when named, because it is a load test, not a check; `probe` only
    /// runs when named, because it watches for as long as it is told.
    pub fn defaults(stack: &Stack) -> Vec<Name> {
        Name::ALL
            .into_iter()
            .filter(|n| match n {
                Name::LoadBurst | Name::Probe => false,
                Name::Firewall => stack.firewall.is_some(),
                Name::Backup => stack.backup.is_some(),
                Name::AlertDelivery => stack.alertmanager.is_some(),
                Name::OtlpTracesToTempo => stack.tempo.is_some(),
                _ => true,
            })
            .collect()
    }
}

impl Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Knobs every scenario shares.
#[derive(Debug, Clone)]
pub struct Options {
    /// Items sent per signal (per unit, per project…).
    pub items: u32,
    /// How long to keep querying for items not yet seen.
    pub deadline: Duration,
    /// An item first seen later than this after it was sent counts as late.
    pub late_after: Duration,
    /// Once every item is seen, wait this long (within the deadline) and read back once more,
    /// so a copy a collector's retry adds late is counted as a duplicate.
    pub settle: Duration,
    /// Draw progress on stderr when it is a terminal.
    pub progress: bool,
    /// The `probe` scenario's knobs.
    pub probe: ProbeOptions,
}

impl Options {
    /// Refuses knobs that would make a check vacuous: nothing sent, no time to look.
    pub fn validate(&self) -> Result<(), String> {
        if self.items == 0 {
            return Err(
                "--items must be at least 1: with nothing sent, delivery proves nothing".into(),
            );
        }
        if self.deadline < Duration::from_secs(1) {
            return Err(
                "--deadline must be at least 1 second: with no time to read back, every item would be missing".into(),
            );
        }
        if self.settle < Duration::from_secs(1) {
            return Err(
                "--settle must be at least 1 second: without a second read, a copy a collector's retry adds late is never seen".into(),
            );
        }
        Ok(())
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            items: 20,
            deadline: Duration::from_secs(90),
            late_after: Duration::from_secs(30),
            settle: Duration::from_secs(3),
            progress: std::io::stderr().is_terminal(),
            probe: ProbeOptions::default(),
        }
    }
}

/// What every scenario of one run shares: the stack, the run id every item carries, and the
/// clock the ledgers measure from.
#[derive(Debug)]
pub struct Context {
    /// The stack under test.
    pub stack: Stack,
    /// Carried by every item sent, so a run finds only its own items.
    pub run_id: String,
    /// Shared knobs.
    pub options: Options,
    epoch: Instant,
}

impl Context {
    /// A new run against `stack`.
    pub fn new(stack: Stack, options: Options) -> Context {
        Context {
            stack,
            run_id: new_run_id(),
            options,
            epoch: Instant::now(),
        }
    }

    /// Time since the run began; ledgers record send and sight times on this clock.
    pub fn elapsed(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Reads a credential named by the stack description.
    pub fn auth(&self, what: &str, cred: &Option<Credential>) -> Result<Option<Auth>, Stop> {
        let Some(cred) = cred else { return Ok(None) };
        let secret = secret(what, cred)?;
        Ok(Some(match &cred.username {
            Some(username) => Auth::Basic {
                username: username.clone(),
                password: secret,
            },
            None => Auth::Bearer(secret),
        }))
    }

    /// The credential for Grafana's API: `grafana.auth` when set, else the admin user with
    /// `grafana.admin_password` as basic auth; `None` when neither is configured.
    pub fn grafana_auth(&self) -> Result<Option<Auth>, Stop> {
        if let Some(auth) = self.auth("grafana.auth", &self.stack.grafana.auth)? {
            return Ok(Some(auth));
        }
        Ok(
            match self.auth("grafana.admin_password", &self.stack.grafana.admin_password)? {
                Some(Auth::Bearer(password)) => Some(Auth::Basic {
                    username: self.stack.grafana.admin_user.clone(),
                    password,
                }),
                other => other,
            },
        )
    }

    /// Loki's base URL.
    pub fn loki_url(&self) -> String {
        self.stack.loki.base_url(&self.stack.host)
    }

    /// Prometheus's base URL.
    pub fn prometheus_url(&self) -> String {
        self.stack.prometheus.base_url(&self.stack.host)
    }

    /// Grafana's base URL.
    pub fn grafana_url(&self) -> String {
        self.stack.grafana.base_url(&self.stack.host)
    }

    /// GlitchTip's base URL.
    pub fn glitchtip_url(&self) -> String {
        self.stack.glitchtip.base_url(&self.stack.host)
    }

    /// Alloy's URL on `port`.
    pub fn alloy_url(&self, port: u16) -> String {
        crate::stack::base_url(&None, &self.stack.host, port)
    }

    /// A Loki client for the stack.
    pub fn loki(&self) -> Result<telltale_loki::Client, Stop> {
        let url = self.loki_url();
        let mut b = telltale_loki::Client::builder(&url).timeout(Duration::from_secs(30));
        if let Some(auth) = self.auth("loki.auth", &self.stack.loki.auth)? {
            b = b.auth(auth);
        }
        if let Some(tenant) = &self.stack.loki.tenant {
            b = b.tenant(tenant);
        }
        b.build().map_err(|e| Stop::from_error(&url, &e))
    }

    /// A Prometheus client for the stack.
    pub fn prometheus(&self) -> Result<telltale_prometheus::Client, Stop> {
        let url = self.prometheus_url();
        let mut b = telltale_prometheus::Client::builder(&url).timeout(Duration::from_secs(30));
        if let Some(auth) = self.auth("prometheus.auth", &self.stack.prometheus.auth)? {
            b = b.auth(auth);
        }
        if let Some(tenant) = &self.stack.prometheus.tenant {
            b = b.tenant(tenant);
        }
        b.build().map_err(|e| Stop::from_error(&url, &e))
    }

    /// A GlitchTip API client for the stack; `unavailable` when no token is configured,
    /// because every check of GlitchTip's API needs one.
    pub fn glitchtip(&self) -> Result<telltale_glitchtip::Client, Stop> {
        let url = self.glitchtip_url();
        let Some(auth) = self.auth("glitchtip.auth", &self.stack.glitchtip.auth)? else {
            return Err(Stop::unavailable(
                &url,
                "no GlitchTip API token is configured",
                "add `[glitchtip] auth = { file = \"/run/secrets/glitchtip-token\" }` (a token with read scopes) to the stack description",
            ));
        };
        let b = telltale_glitchtip::Client::builder(&url)
            .auth(auth)
            .timeout(Duration::from_secs(30));
        b.build().map_err(|e| Stop::from_error(&url, &e))
    }

    /// Plain HTTP to `base_url`, for services without a client crate (Grafana, the edge).
    pub fn http(&self, base_url: &str, auth: Option<Auth>) -> Result<telltale_http::Http, Stop> {
        self.http_with_ca(base_url, auth, None)
    }

    /// [`Context::http`], trusting `ca_file` too.
    pub fn http_with_ca(
        &self,
        base_url: &str,
        auth: Option<Auth>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<telltale_http::Http, Stop> {
        let mut config = telltale_http::HttpConfig::new(
            base_url,
            concat!("telltale/", env!("CARGO_PKG_VERSION")),
        );
        config.set_timeout(Duration::from_secs(30));
        config.set_connect_timeout(Duration::from_secs(5));
        if let Some(auth) = auth {
            config.set_auth(auth);
        }
        if let Some(ca) = ca_file {
            config.add_ca_file(ca);
        }
        config.build().map_err(|e| Stop::from_error(base_url, &e))
    }

    /// A progress line for a wait longer than a second.
    pub fn progress(&self, scenario: Name, total: u64) -> Progress {
        Progress {
            label: scenario.as_str(),
            total,
            started: Instant::now(),
            enabled: self.options.progress,
            drawn: false,
        }
    }
}

fn secret(what: &str, cred: &Credential) -> Result<Secret, Stop> {
    let (read, origin) = match (&cred.file, &cred.env) {
        (Some(path), _) => (Secret::from_file(path), format!("file {}", path.display())),
        (None, Some(var)) => (Secret::from_env(var), format!("environment variable {var}")),
        (None, None) => unreachable!("the stack model validates credentials"),
    };
    read.map_err(|e| Stop {
        status: Status::Error,
        problem: Problem {
            endpoint: what.to_owned(),
            message: chain(&e),
            hint: format!("make {origin} readable by this user and non-empty, or fix `{what}` in the stack description"),
        },
    })
}

/// Reads a credential's text, for values the harness must parse itself (a DSN). The same rules
/// as [`Secret`]: one trailing newline trimmed, empty or multi-line refused.
pub(crate) fn read_secret_text(what: &str, cred: &Credential) -> Result<String, Stop> {
    let (read, origin) = match (&cred.file, &cred.env) {
        (Some(path), _) => (
            std::fs::read_to_string(path).map_err(|e| e.to_string()),
            format!("file {}", path.display()),
        ),
        (None, Some(var)) => (
            std::env::var(var).map_err(|e| e.to_string()),
            format!("environment variable {var}"),
        ),
        (None, None) => unreachable!("the stack model validates credentials"),
    };
    let text = read
        .map(|t| t.strip_suffix('\n').map(str::to_owned).unwrap_or(t))
        .and_then(|t| {
            if t.is_empty() || t.contains('\n') {
                Err("it is empty or spans several lines".to_owned())
            } else {
                Ok(t)
            }
        });
    text.map_err(|reason| {
        Stop::error(
            what,
            format!("could not read {origin}: {reason}"),
            format!(
                "make {origin} readable by this user, or fix `{what}` in the stack description"
            ),
        )
    })
}

/// A run id: `tt-` and 8 hex digits from the clock and the process id, enough to keep
/// concurrent runs on one stack apart.
pub fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    // SplitMix64's finaliser spreads nearby clock readings over the whole range.
    let mut z = mixed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    format!("tt-{:08x}", z as u32)
}

/// Why a scenario stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// `unavailable`, `error` or `failed`.
    pub status: Status,
    /// What happened and what to do.
    pub problem: Problem,
}

impl Stop {
    /// A part is absent or unreachable.
    pub fn unavailable(
        endpoint: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Stop {
        Stop {
            status: Status::Unavailable,
            problem: Problem {
                endpoint: endpoint.to_owned(),
                message: message.into(),
                hint: hint.into(),
            },
        }
    }

    /// The harness cannot run the scenario.
    pub fn error(endpoint: &str, message: impl Into<String>, hint: impl Into<String>) -> Stop {
        Stop {
            status: Status::Error,
            problem: Problem {
                endpoint: endpoint.to_owned(),
                message: message.into(),
                hint: hint.into(),
            },
        }
    }

    /// The stack answered, wrongly enough that the scenario cannot go on.
    pub fn failed(endpoint: &str, message: impl Into<String>, hint: impl Into<String>) -> Stop {
        Stop {
            status: Status::Failed,
            problem: Problem {
                endpoint: endpoint.to_owned(),
                message: message.into(),
                hint: hint.into(),
            },
        }
    }

    /// Classifies a client error: no answer is `unavailable`, our own settings are `error`,
    /// and an answer the client refused is `failed`.
    pub fn from_error<E: Failure>(endpoint: &str, err: &E) -> Stop {
        let message = chain(err);
        match err.class() {
            Class::Unreachable => Stop::unavailable(
                endpoint,
                message,
                "check that the service runs and that this machine may reach it (address and port in the stack description, firewall, tailnet)",
            ),
            Class::Setup => Stop::error(
                endpoint,
                message,
                "fix the stack description's address or credential for this service",
            ),
            Class::Unauthorized => Stop::error(
                endpoint,
                message,
                "the credential in the stack description was refused; point it at a valid token or password",
            ),
            Class::Answered => Stop::failed(
                endpoint,
                message,
                "the service answered but not as the stack promises; see the message and the service's logs",
            ),
        }
    }
}

/// What kind of trouble a client error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// No HTTP answer: refused, reset, timed out, TLS failed.
    Unreachable,
    /// Our settings: a bad URL, an unreadable secret.
    Setup,
    /// The server refused our credential.
    Unauthorized,
    /// The server answered, and the answer was wrong.
    Answered,
}

/// A client error the scenarios can classify.
pub trait Failure: std::error::Error {
    /// Its class.
    fn class(&self) -> Class;
}

impl Failure for telltale_http::Error {
    fn class(&self) -> Class {
        match self {
            telltale_http::Error::Transport { .. } | telltale_http::Error::Timeout { .. } => {
                Class::Unreachable
            }
            _ => Class::Setup,
        }
    }
}

macro_rules! client_failure {
    ($($krate:ident),*) => {$(
        impl Failure for $krate::Error {
            fn class(&self) -> Class {
                match self {
                    $krate::Error::Transport { .. } | $krate::Error::Timeout { .. } => Class::Unreachable,
                    $krate::Error::Config { .. } | $krate::Error::Secret { .. } => Class::Setup,
                    $krate::Error::Api(api) if matches!(api.status(), 401 | 403) => Class::Unauthorized,
                    _ => Class::Answered,
                }
            }
        }
    )*};
}

client_failure!(
    telltale_loki,
    telltale_prometheus,
    telltale_glitchtip,
    telltale_faro
);

impl Failure for telltale_otlp::Error {
    fn class(&self) -> Class {
        use telltale_otlp::{Error, Status};
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => Class::Unreachable,
            Error::Config { .. } | Error::Secret { .. } => Class::Setup,
            Error::Api(api) if matches!(api.status(), Status::Http(401 | 403)) => {
                Class::Unauthorized
            }
            _ => Class::Answered,
        }
    }
}

/// An error and its causes on one line.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What a scenario found, built up as it runs.
///
/// The verdict rule lives in [`Outcome::finish`], and only there:
/// - any failed check or unclean delivery makes the scenario `failed`, whatever else was
///   unavailable (the [`Stop`]'s problem is kept beside it);
/// - otherwise a [`Stop`] decides (`unavailable`, `error`);
/// - otherwise `passed` needs evidence from the stack: at least one check or one delivery
///   that sent something, every delivery with something sent, and every check declared with
///   [`Outcome::requires`] recorded. Anything less is `error`, naming what is missing.
///
/// What a scenario knows without asking the stack (its own counts, an HTTP 2xx on the way to
/// the real check) belongs in [`Outcome::evidence`], never in a check.
#[derive(Debug, Default)]
pub struct Outcome {
    checks: Vec<Check>,
    delivery: Vec<Delivery>,
    /// What was sent and seen.
    pub evidence: Evidence,
    summary: Option<String>,
    required: Vec<String>,
}

impl Outcome {
    /// Records an assertion about what the stack answered, and returns whether it held.
    pub fn check(
        &mut self,
        name: impl Into<String>,
        passed: bool,
        expected: impl Display,
        actual: impl Display,
    ) -> bool {
        self.checks.push(Check {
            name: name.into(),
            passed,
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
        passed
    }

    /// Records that `actual` equals `expected`.
    pub fn expect_eq<T: PartialEq + Display>(
        &mut self,
        name: impl Into<String>,
        expected: T,
        actual: T,
    ) -> bool {
        let passed = expected == actual;
        self.check(name, passed, expected, actual)
    }

    /// Declares checks the scenario exists for: it cannot pass unless a check named `name`,
    /// or starting with `name` and a space or colon, was recorded. Call it before the work,
    /// so an early `return Ok(())` cannot skip a guard silently.
    pub fn requires(&mut self, names: &[&str]) {
        self.required.extend(names.iter().map(|n| (*n).to_owned()));
    }

    /// Records one signal's delivery accounting; it passes only when clean.
    pub fn delivery(&mut self, delivery: Delivery) {
        self.delivery.push(delivery);
    }

    /// Sets the one-line summary; without it, one is made from the checks.
    pub fn summary(&mut self, summary: impl Into<String>) {
        self.summary = Some(summary.into());
    }

    /// Whether any check or delivery failed so far.
    pub fn has_failures(&self) -> bool {
        self.checks.iter().any(|c| !c.passed)
            || self.delivery.iter().any(|d| d.sent > 0 && !d.is_clean())
    }

    /// The required checks no recorded check answers.
    fn unmet(&self) -> Vec<&str> {
        self.required
            .iter()
            .filter(|r| {
                !self.checks.iter().any(|c| {
                    c.name == **r
                        || c.name
                            .strip_prefix(r.as_str())
                            .is_some_and(|rest| rest.starts_with([' ', ':']))
                })
            })
            .map(String::as_str)
            .collect()
    }

    /// The report, given how the scenario ended. See [`Outcome`] for the rule.
    pub fn finish(self, name: Name, duration: Duration, end: Result<(), Stop>) -> ScenarioReport {
        let failures: Vec<&Check> = self.checks.iter().filter(|c| !c.passed).collect();
        let unclean: Vec<&Delivery> = self
            .delivery
            .iter()
            .filter(|d| d.sent > 0 && !d.is_clean())
            .collect();
        let nothing_sent: Vec<&Delivery> = self.delivery.iter().filter(|d| d.sent == 0).collect();
        let unmet = self.unmet();
        let proven = self.checks.len() + self.delivery.iter().filter(|d| d.sent > 0).count();
        let harness_problem = |message: String, hint: &str| Problem {
            endpoint: String::new(),
            message,
            hint: hint.to_owned(),
        };
        let (status, problem) = if !failures.is_empty() || !unclean.is_empty() {
            // A wrong answer from the stack is never hidden behind a part that did not answer.
            (Status::Failed, end.err().map(|stop| stop.problem))
        } else if let Err(stop) = end {
            (stop.status, Some(stop.problem))
        } else if proven == 0 {
            // A scenario that asserted nothing proved nothing.
            (
                Status::Error,
                Some(harness_problem(
                    "the scenario made no assertion".into(),
                    "this is a telltale bug; please report it with the JSON report",
                )),
            )
        } else if !nothing_sent.is_empty() {
            let signals: Vec<&str> = nothing_sent.iter().map(|d| d.signal.as_str()).collect();
            (
                Status::Error,
                Some(harness_problem(
                    format!("nothing was sent for {}", signals.join(", ")),
                    "send at least one item per signal (`--items` of 1 or more)",
                )),
            )
        } else if !unmet.is_empty() {
            (
                Status::Error,
                Some(harness_problem(
                    format!("checks never ran: {}", unmet.join(", ")),
                    "this is a telltale bug; please report it with the JSON report",
                )),
            )
        } else {
            (Status::Passed, None)
        };
        let mut summary = match (&self.summary, &problem) {
            (_, Some(p)) if status != Status::Passed && status != Status::Failed => {
                p.message.clone()
            }
            (Some(s), _) if status == Status::Passed => s.clone(),
            (_, _) if !failures.is_empty() => failures
                .iter()
                .map(|c| format!("{}: expected {}, found {}", c.name, c.expected, c.actual))
                .collect::<Vec<_>>()
                .join("; "),
            (_, _) if !unclean.is_empty() => unclean
                .iter()
                .map(|d| format!("{}: {}", d.signal, d.describe()))
                .collect::<Vec<_>>()
                .join("; "),
            (Some(s), _) => s.clone(),
            (None, _) => {
                let items: u64 = self.delivery.iter().map(|d| d.sent).sum();
                let all_observable = self.delivery.iter().all(|d| d.duplicates_observable);
                match (items, all_observable) {
                    (0, _) => format!("{} checks passed", self.checks.len()),
                    (_, true) => format!(
                        "{} checks passed; {items} items delivered exactly once",
                        self.checks.len()
                    ),
                    (_, false) => format!(
                        "{} checks passed; {items} items visible (copies cannot be counted on every path)",
                        self.checks.len()
                    ),
                }
            }
        };
        if status == Status::Failed {
            if let Some(p) = &problem {
                summary = format!("{summary}; also: {}", p.message);
            }
        }
        // One line, so the table stays a table when a tool's message spans several.
        let summary = summary
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        ScenarioReport {
            name: name.as_str().to_owned(),
            status,
            summary,
            duration_ms: crate::report::millis(duration),
            checks: self.checks,
            delivery: self.delivery,
            evidence: self.evidence,
            problem,
        }
    }
}

/// A progress bar on stderr, drawn only on a terminal and only after the first second.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: u64,
    started: Instant,
    enabled: bool,
    drawn: bool,
}

impl Progress {
    /// Shows `done` of the total.
    pub fn update(&mut self, done: u64) {
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let width = 30u64;
        let filled = (done.min(self.total) * width)
            .checked_div(self.total)
            .unwrap_or(width);
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let _ = write!(
            std::io::stderr(),
            "\r{:<28} [{bar}] {done}/{} {:>4.0}s",
            self.label,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        self.drawn = true;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r{:79}\r", "");
        }
    }
}

/// The sequence number in a line that carries `<run> seq=<n>`, the tag the journald and OTLP
/// scenarios put in every line they send.
pub(crate) fn seq_after_run(line: &str, run: &str) -> Option<u64> {
    let needle = format!("{run} seq=");
    let at = line.find(&needle)? + needle.len();
    let digits = line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .filter(|d| !d.is_empty())?;
    digits.parse().ok()
}

/// Runs one scenario.
pub async fn run(name: Name, ctx: &Context) -> ScenarioReport {
    let started = Instant::now();
    let mut out = Outcome::default();
    let end = match name {
        Name::JournaldToLoki => journald::run(ctx, &mut out).await,
        Name::OtlpLogsToLoki => otlp::logs(ctx, &mut out).await,
        Name::OtlpMetricsToPrometheus => otlp::metrics(ctx, &mut out).await,
        Name::OtlpTracesAccepted => otlp::traces(ctx, &mut out).await,
        Name::OtlpTracesToTempo => tempo::run(ctx, &mut out).await,
        Name::FaroToLoki => faro::run(ctx, &mut out).await,
        Name::SentryToGlitchtip => sentry::run(ctx, &mut out).await,
        Name::ScrapeTargetsUp => scrape::run(ctx, &mut out).await,
        Name::Retention => retention::run(ctx, &mut out).await,
        Name::Grafana => grafana::run(ctx, &mut out).await,
        Name::Firewall => firewall::run(ctx, &mut out).await,
        Name::Backup => backup::run(ctx, &mut out).await,
        Name::LoadBurst => load::run(ctx, &mut out).await,
        Name::AlertDelivery => alert::run(ctx, &mut out).await,
        Name::Probe => probe::run(ctx, &mut out).await,
    };
    out.finish(name, started.elapsed(), end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_defaults_follow_the_stack() {
        for n in Name::ALL {
            assert_eq!(Name::parse(n.as_str()), Some(n));
        }
        assert_eq!(Name::parse("nope"), None);
        let mut stack = Stack::default();
        let defaults = Name::defaults(&stack);
        assert!(!defaults.contains(&Name::Firewall) && !defaults.contains(&Name::LoadBurst));
        stack.firewall = Some(Default::default());
        assert!(Name::defaults(&stack).contains(&Name::Firewall));
    }

    #[test]
    fn an_outcome_without_assertions_is_an_error() {
        let r = Outcome::default().finish(Name::Grafana, Duration::ZERO, Ok(()));
        assert_eq!(r.status, Status::Error);
        let mut out = Outcome::default();
        out.expect_eq("x", 1, 2);
        let r = out.finish(Name::Grafana, Duration::ZERO, Ok(()));
        assert_eq!(
            (r.status, r.summary.as_str()),
            (Status::Failed, "x: expected 1, found 2")
        );
        let r = Outcome::default().finish(
            Name::Grafana,
            Duration::ZERO,
            Err(Stop::unavailable("http://x", "refused", "start it")),
        );
        assert_eq!(
            (r.status, r.summary.as_str()),
            (Status::Unavailable, "refused")
        );
        let r = Outcome::default().finish(
            Name::Retention,
            Duration::ZERO,
            Err(Stop::unavailable("x", "first line\nsecond line\n", "y")),
        );
        assert_eq!(r.summary, "first line; second line");
    }

    fn delivery(sent: u64, delivered: u64) -> Delivery {
        let mut l = crate::accounting::Ledger::new(None);
        for seq in 0..sent {
            l.sent(seq, Duration::ZERO);
        }
        l.observe((0..delivered).map(|seq| crate::accounting::Sighting {
            seq,
            seen_at: Duration::from_millis(5),
        }));
        Delivery::from_summary("sig", &l.summary())
    }

    #[test]
    fn a_failed_check_fails_the_scenario_even_when_another_part_was_unavailable() {
        let mut out = Outcome::default();
        out.expect_eq("loki retention", "7d", "30d");
        let r = out.finish(
            Name::Retention,
            Duration::ZERO,
            Err(Stop::unavailable("glitchtip", "no answer", "start it")),
        );
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.problem.as_ref().unwrap().message, "no answer");
        assert_eq!(
            r.summary,
            "loki retention: expected 7d, found 30d; also: no answer"
        );
        // An unclean delivery fails too.
        let mut out = Outcome::default();
        out.delivery(delivery(3, 2));
        let r = out.finish(
            Name::JournaldToLoki,
            Duration::ZERO,
            Err(Stop::unavailable("x", "y", "z")),
        );
        assert_eq!(r.status, Status::Failed);
    }

    #[test]
    fn nothing_sent_or_a_skipped_guard_is_never_a_pass() {
        let mut out = Outcome::default();
        out.delivery(delivery(0, 0));
        let r = out.finish(Name::JournaldToLoki, Duration::ZERO, Ok(()));
        assert_eq!(r.status, Status::Error, "{r:?}");

        let mut out = Outcome::default();
        out.check("a", true, 1, 1);
        out.delivery(delivery(0, 0));
        let r = out.finish(Name::JournaldToLoki, Duration::ZERO, Ok(()));
        assert_eq!(r.status, Status::Error);
        assert!(
            r.summary.contains("nothing was sent for sig"),
            "{}",
            r.summary
        );

        let mut out = Outcome::default();
        out.requires(&["loki retention", "prometheus retention"]);
        out.check("loki retention period", true, "30d", "30d");
        out.check("prometheus retentionist", true, 1, 1);
        let r = out.finish(Name::Retention, Duration::ZERO, Ok(()));
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.summary, "checks never ran: prometheus retention");

        let mut out = Outcome::default();
        out.requires(&["loki retention", "prometheus retention"]);
        out.check("loki retention: period", true, "30d", "30d");
        out.check("prometheus retention", true, 1, 1);
        out.delivery(delivery(2, 2));
        let r = out.finish(Name::Retention, Duration::ZERO, Ok(()));
        assert_eq!(r.status, Status::Passed, "{r:?}");
        assert_eq!(r.summary, "2 checks passed; 2 items delivered exactly once");
    }

    #[test]
    fn a_store_that_folds_copies_is_reported_visible_not_exactly_once() {
        let mut out = Outcome::default();
        out.delivery(delivery(2, 2).duplicates_unobservable());
        let r = out.finish(Name::OtlpMetricsToPrometheus, Duration::ZERO, Ok(()));
        assert_eq!(r.status, Status::Passed);
        assert!(r.summary.contains("2 items visible"), "{}", r.summary);
        assert!(!r.summary.contains("exactly once"));
    }

    #[test]
    fn vacuous_options_are_refused() {
        let mut o = Options::default();
        assert!(o.validate().is_ok());
        o.items = 0;
        assert!(o.validate().unwrap_err().contains("--items"));
        o.items = 1;
        o.deadline = Duration::ZERO;
        assert!(o.validate().unwrap_err().contains("--deadline"));
        o.deadline = Duration::from_secs(5);
        o.settle = Duration::ZERO;
        assert!(o.validate().unwrap_err().contains("--settle"));
    }

    #[test]
    fn sequence_numbers_follow_the_run_tag_only() {
        assert_eq!(seq_after_run("telltale tt-1 seq=42", "tt-1"), Some(42));
        assert_eq!(
            seq_after_run(r#"{"body":"telltale tt-1 seq=7 x"}"#, "tt-1"),
            Some(7)
        );
        // Another run whose id starts with ours is not ours.
        assert_eq!(seq_after_run("telltale tt-12 seq=3", "tt-1"), None);
        assert_eq!(seq_after_run("telltale tt-1 seq=", "tt-1"), None);
        assert_eq!(seq_after_run("telltale tt-1 seq=x1", "tt-1"), None);
    }

    #[test]
    fn run_ids_differ() {
        let a = new_run_id();
        std::thread::sleep(Duration::from_millis(1));
        assert_ne!(a, new_run_id());
        assert!(a.starts_with("tt-") && a.len() == 11, "{a}");
    }

    #[test]
    fn an_unreadable_credential_is_an_error_naming_the_setting() {
        let ctx = Context::new(Stack::default(), Options::default());
        let cred = Some(Credential {
            username: None,
            file: Some("/nonexistent/telltale-token".into()),
            env: None,
        });
        let stop = ctx.auth("glitchtip.auth", &cred).unwrap_err();
        assert_eq!(stop.status, Status::Error);
        assert_eq!(stop.problem.endpoint, "glitchtip.auth");
        assert!(stop.problem.hint.contains("/nonexistent/telltale-token"));
    }
}
