//! The stack model: where each service of the stack listens, how to authenticate, which journald
//! units and labels to expect, and the retention each store promises.
//!
//! One serde model reads both a hand-written `stack.toml` and the JSON the NixOS module writes
//! from its own settings, so the harness checks the running stack against what was declared.
//! Every field has a default taken from the meridian deployment (`STACK.md`), so an empty file
//! describes meridian on `127.0.0.1`. Secrets are never inline: only file paths or environment
//! variable names are accepted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The schema version this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Errors reading a stack description.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// The file could not be read.
    #[error("read stack description {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid stack description.
    #[error("stack description {origin}: {reason}")]
    Invalid {
        /// The file, or `TOML`/`JSON` for text.
        origin: String,
        /// What is wrong, with the position when the parser gave one.
        reason: String,
    },
}

/// A whole stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stack {
    /// Schema version; 1.
    pub version: u32,
    /// The host the services are reached on (the tailnet name or address), used by every
    /// endpoint that does not give its own URL.
    pub host: String,
    /// Loki.
    pub loki: Service,
    /// Prometheus.
    pub prometheus: Service,
    /// Grafana.
    pub grafana: Grafana,
    /// Grafana Alloy's receivers and admin port.
    pub alloy: Alloy,
    /// GlitchTip.
    pub glitchtip: GlitchTip,
    /// The public edge that forwards only GlitchTip's ingestion paths, if any.
    pub edge: Option<Edge>,
    /// The journald units whose lines Alloy ships, and the labels it gives them.
    pub journald: Journald,
    /// The retention each store promises.
    pub retention: Retention,
    /// The Prometheus scrape jobs that must be `up`.
    pub scrape: Scrape,
    /// Reachability expectations from where telltale runs; absent means the `firewall`
    /// scenario is unavailable.
    pub firewall: Option<Firewall>,
    /// Where the backups are; absent means the `backup` scenario is unavailable.
    pub backup: Option<Backup>,
    /// The burst the `load-burst` scenario sends.
    pub load: Load,
    /// Alertmanager and the canary alert rule it routes to telltale's webhook; absent means the
    /// `alert-delivery` scenario is unavailable.
    pub alertmanager: Option<Alertmanager>,
    /// Tempo, if the stack keeps traces; absent means `otlp-traces-to-tempo` is not run and
    /// `otlp-traces-accepted` proves acceptance only.
    pub tempo: Option<Tempo>,
    /// Pyroscope, if the stack keeps profiles; absent means `profiles-to-pyroscope` is not run.
    pub pyroscope: Option<Service>,
}

impl Default for Stack {
    fn default() -> Self {
        Stack {
            version: SCHEMA_VERSION,
            host: "127.0.0.1".into(),
            loki: Service::port(3100),
            prometheus: Service::port(9090),
            grafana: Grafana::default(),
            alloy: Alloy::default(),
            glitchtip: GlitchTip::default(),
            edge: None,
            journald: Journald::default(),
            retention: Retention::default(),
            scrape: Scrape::default(),
            firewall: None,
            backup: None,
            load: Load::default(),
            alertmanager: None,
            tempo: None,
            pyroscope: None,
        }
    }
}

/// Tempo: its query API, and where the traces it should hold are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tempo {
    /// Port of the HTTP API (`/api/traces`, `/api/search`) on [`Stack::host`]; default 3200.
    pub port: u16,
    /// Full base URL of the HTTP API, overriding host and port.
    pub url: Option<String>,
    /// Credentials for the HTTP API, if it wants them.
    pub auth: Option<Credential>,
    /// An OTLP/HTTP receiver to send traces to instead of Alloy's (Tempo's own distributor,
    /// e.g. `http://127.0.0.1:4318`); absent means through the collector, as applications do.
    pub otlp_http_url: Option<String>,
    /// `X-Scope-OrgID` for a multi-tenant Tempo; absent for single-tenant.
    pub tenant: Option<String>,
}

impl Default for Tempo {
    fn default() -> Self {
        Tempo {
            port: 3200,
            url: None,
            auth: None,
            otlp_http_url: None,
            tenant: None,
        }
    }
}

impl Tempo {
    /// The base URL of the HTTP API on `host`.
    pub fn base_url(&self, host: &str) -> String {
        base_url(&self.url, host, self.port)
    }
}

/// A service reached over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Port on [`Stack::host`]; ignored when `url` is set.
    #[serde(default)]
    pub port: u16,
    /// Full base URL, overriding host and port (e.g. behind a proxy).
    #[serde(default)]
    pub url: Option<String>,
    /// Credentials, if the service wants them.
    #[serde(default)]
    pub auth: Option<Credential>,
    /// The tenant (`X-Scope-OrgID`) of a multi-tenant store: Mimir, Loki with auth on, a
    /// managed Prometheus-compatible endpoint. Not a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl Service {
    fn port(port: u16) -> Service {
        Service {
            port,
            url: None,
            auth: None,
            tenant: None,
        }
    }

    /// The base URL on `host`.
    pub fn base_url(&self, host: &str) -> String {
        base_url(&self.url, host, self.port)
    }
}

impl Grafana {
    /// The base URL on `host`.
    pub fn base_url(&self, host: &str) -> String {
        base_url(&self.url, host, self.port)
    }
}

impl GlitchTip {
    /// The base URL on `host`.
    pub fn base_url(&self, host: &str) -> String {
        base_url(&self.url, host, self.port)
    }
}

pub(crate) fn base_url(url: &Option<String>, host: &str, port: u16) -> String {
    url.clone()
        .unwrap_or_else(|| format!("http://{}:{port}", bracket(host)))
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Where a secret comes from: a file (as sops-nix or agenix write them) or an environment
/// variable. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// User name, for basic auth; absent for a bearer token.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password or token.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// An environment variable holding the password or token.
    #[serde(default)]
    pub env: Option<String>,
}

/// Grafana.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grafana {
    /// Port on [`Stack::host`]; ignored when `url` is set.
    pub port: u16,
    /// Full base URL, overriding host and port.
    pub url: Option<String>,
    /// Credentials for the HTTP API (a service-account token or basic auth).
    pub auth: Option<Credential>,
    /// The admin user.
    pub admin_user: String,
    /// Where the admin password is.
    pub admin_password: Option<Credential>,
    /// The shared operator user that must exist.
    pub operator_user: String,
}

impl Default for Grafana {
    fn default() -> Self {
        Grafana {
            port: 3000,
            url: None,
            auth: None,
            admin_user: "admin".into(),
            admin_password: None,
            operator_user: "operator".into(),
        }
    }
}

/// Grafana Alloy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alloy {
    /// Admin UI and self-metrics.
    pub admin_port: u16,
    /// OTLP over gRPC.
    pub otlp_grpc_port: u16,
    /// OTLP over HTTP.
    pub otlp_http_port: u16,
    /// Faro receiver.
    pub faro_port: u16,
    /// Where Faro's API key is, if the receiver wants one.
    pub faro_api_key: Option<Credential>,
    /// The `meta.app.name` of every Faro payload the harness sends (Loki's `app_name`), so
    /// dashboards and alerts on the real app can leave the harness's traffic out.
    pub faro_app_name: String,
    /// The `meta.app.environment` of every Faro payload the harness sends.
    pub faro_environment: String,
    /// Which receiver writes the Faro lines, so they are judged against its format: `agent`
    /// (the Grafana Agent's `app_agent_receiver`), `alloy-1.5` (1.5 to 1.11) or `alloy-1.12`
    /// (1.12 and later). Unset: the release the admin port's `/metrics` reports
    /// (`agent_build_info`, `alloy_build_info`), else any release this telltale knows.
    pub faro_receiver: Option<String>,
    /// A browser origin the Faro receiver must allow (its CORS `allowed_origins`), checked with a
    /// preflight beside one from an origin it must refuse. Unset: CORS is not checked.
    pub faro_allowed_origin: Option<String>,
    /// The receiver's `max_allowed_payload_size`, checked by sending a body of exactly that size
    /// (accepted) and one byte more (refused with 413). Unset: not checked.
    pub faro_max_payload_bytes: Option<u64>,
    /// The receiver's rate-limit burst, checked by sending that many requests plus five at
    /// once: at least one must be refused with 429. Unset: not checked (the probe takes the
    /// real app's budget for about a second).
    pub faro_rate_limit_burst: Option<u32>,
}

impl Default for Alloy {
    fn default() -> Self {
        Alloy {
            admin_port: 12345,
            otlp_grpc_port: 4317,
            otlp_http_port: 4318,
            faro_port: 12347,
            faro_api_key: None,
            faro_app_name: "telltale".into(),
            faro_environment: "telltale".into(),
            faro_receiver: None,
            faro_allowed_origin: None,
            faro_max_payload_bytes: None,
            faro_rate_limit_burst: None,
        }
    }
}

/// GlitchTip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlitchTip {
    /// Port on [`Stack::host`]; ignored when `url` is set.
    pub port: u16,
    /// Full base URL, overriding host and port.
    pub url: Option<String>,
    /// The API token.
    pub auth: Option<Credential>,
    /// The organization.
    pub organization: String,
    /// The team.
    pub team: String,
    /// The projects, whose DSNs the deployment hands back.
    pub projects: Vec<String>,
    /// The systemd unit that runs GlitchTip with its settings (`GLITCHTIP_MAX_EVENT_LIFE_DAYS`),
    /// read with `systemctl show` and its `EnvironmentFile=`s when telltale runs on the host
    /// (`TELLTALE_SYSTEMCTL` names another systemctl command, e.g. `systemctl --user`);
    /// GlitchTip's API does not expose its retention.
    pub settings_unit: Option<String>,
    /// The `environment` every event the harness sends carries, so alert rules and people can
    /// tell the harness's events from the apps'.
    pub environment: String,
    /// A project only the harness sends to. When set, `sentry-to-glitchtip` (and the Sentry
    /// bench) send their events there, and only check that each of `projects` exists and has
    /// a DSN; when absent, they send to every project in `projects`, which creates issues
    /// (resolved afterwards, see `cleanup`) where the apps' alerts fire.
    pub canary_project: Option<String>,
    /// What happens to the issues a run created once it has read them back.
    pub cleanup: Cleanup,
    /// The DSNs the deployment hands to the apps, by project, read from a file or the
    /// environment. A project listed here is sent to through this DSN, as its app does, and
    /// checked to be one of the project's keys; the others use the project's first key.
    pub dsns: std::collections::BTreeMap<String, Credential>,
}

impl Default for GlitchTip {
    fn default() -> Self {
        GlitchTip {
            port: 8200,
            url: None,
            auth: None,
            organization: "meridian".into(),
            team: "backend".into(),
            projects: vec!["be-platform".into(), "be-pwa".into()],
            settings_unit: None,
            environment: "telltale".into(),
            canary_project: None,
            cleanup: Cleanup::Resolve,
            dsns: Default::default(),
        }
    }
}

impl GlitchTip {
    /// The projects the harness sends events to: the canary project when one is set, else
    /// every project.
    pub fn delivery_projects(&self) -> Vec<String> {
        match &self.canary_project {
            Some(canary) => vec![canary.clone()],
            None => self.projects.clone(),
        }
    }
}

/// What to do with the GlitchTip issues a run created, after reading them back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleanup {
    /// Mark them resolved (`PUT /api/0/issues/<id>/`, the token needs `event:write`).
    #[default]
    Resolve,
    /// Delete them with their events (`DELETE /api/0/issues/<id>/`, `event:write` too).
    Delete,
    /// Leave them, for debugging a run.
    Keep,
}

impl Cleanup {
    /// `resolve`, `delete` or `keep`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cleanup::Resolve => "resolve",
            Cleanup::Delete => "delete",
            Cleanup::Keep => "keep",
        }
    }
}

/// The public edge in front of GlitchTip's ingestion paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Its public base URL.
    pub url: String,
    /// A DSN of one project, pointing at the edge, read from a file or the environment. With it,
    /// the `firewall` scenario proves the ingestion paths pass by sending a real event through
    /// each; without it, only the refusals are checked.
    #[serde(default)]
    pub dsn: Option<Credential>,
    /// A CA certificate (PEM) to trust for the edge, besides the web's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// The journald side of the logs pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Journald {
    /// The value Alloy gives the `host` label.
    pub host_label: String,
    /// The units Alloy ships, each with its `app` label.
    pub units: Vec<Unit>,
}

impl Default for Journald {
    fn default() -> Self {
        Journald {
            host_label: "meridian".into(),
            units: vec![
                Unit {
                    unit: "podman-balanced-engineering-platform.service".into(),
                    app: "be-platform".into(),
                },
                Unit {
                    unit: "podman-be-pwa.service".into(),
                    app: "be-pwa".into(),
                },
            ],
        }
    }
}

/// One journald unit and the `app` label its lines get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// The systemd unit, e.g. `podman-balanced-engineering-platform.service`.
    pub unit: String,
    /// The `app` label.
    pub app: String,
}

/// Promised retention, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Loki, enforced by its compactor.
    pub loki_days: u32,
    /// Prometheus.
    pub prometheus_days: u32,
    /// GlitchTip events.
    pub glitchtip_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            loki_days: 30,
            prometheus_days: 90,
            glitchtip_days: 90,
        }
    }
}

/// The scrape jobs Prometheus must have `up`, by their `job` label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scrape {
    /// Job names, e.g. `be-platform`, `node`, `alloy`.
    pub jobs: Vec<String>,
    /// A target's last scrape must be at most this old, in seconds (the meridian interval is
    /// 15 s, so the default allows three missed scrapes and a bit).
    pub max_age_secs: u32,
}

impl Default for Scrape {
    fn default() -> Self {
        Scrape {
            jobs: vec!["be-platform".into(), "node".into(), "alloy".into()],
            max_age_secs: 60,
        }
    }
}

/// Alertmanager, and the canary alert the `alert-delivery` scenario makes fire.
///
/// The deployment holds a rule named `alert_name` that fires while `metric` is above 0 and
/// keeps its `run` label, and an Alertmanager route that sends alerts with that name (grouped
/// by `alertname` and `run`) to a webhook receiver named `receiver`, whose URL is telltale's
/// listener at `webhook_listen`. The scenario pushes the series to Prometheus by remote-write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alertmanager {
    /// Port on [`Stack::host`]; ignored when `url` is set.
    pub port: u16,
    /// Full base URL, overriding host and port.
    pub url: Option<String>,
    /// Credentials, if Alertmanager sits behind a proxy that wants them.
    pub auth: Option<Credential>,
    /// The `host:port` telltale's webhook receiver listens on; the route's webhook URL points
    /// here (any path).
    pub webhook_listen: String,
    /// The receiver the route must pick for the canary alert.
    pub receiver: String,
    /// The canary rule's alert name.
    pub alert_name: String,
    /// The series the canary rule watches; telltale writes it with a `run` label.
    pub metric: String,
    /// Prometheus's remote-write path (the receiver must be on:
    /// `--web.enable-remote-write-receiver`).
    pub remote_write_path: String,
    /// Labels the notification's alert must carry besides `alertname` and `run`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Annotations it must carry; `{run}` stands for the run id.
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl Default for Alertmanager {
    fn default() -> Self {
        Alertmanager {
            port: 9093,
            url: None,
            auth: None,
            webhook_listen: "127.0.0.1:9099".into(),
            receiver: "telltale".into(),
            alert_name: "TelltaleAlertProbe".into(),
            metric: "telltale_alert_probe".into(),
            remote_write_path: "/api/v1/write".into(),
            labels: [("severity".to_owned(), "info".to_owned())].into(),
            annotations: [(
                "summary".to_owned(),
                "telltale alert-delivery probe {run}".to_owned(),
            )]
            .into(),
        }
    }
}

impl Alertmanager {
    /// The base URL on `host`.
    pub fn base_url(&self, host: &str) -> String {
        base_url(&self.url, host, self.port)
    }
}

/// What must be reachable, and what must not, from the vantage point telltale runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Firewall {
    /// A name for the vantage point, for the report (e.g. `tailnet-peer`, `internet`).
    pub vantage: String,
    /// TCP expectations.
    pub expect: Vec<PortExpectation>,
    /// Whether to probe the public edge: only GlitchTip's ingestion paths may pass. Needs
    /// [`Stack::edge`].
    pub probe_edge: bool,
}

/// One `host:port` and whether a TCP connection to it must succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortExpectation {
    /// `host:port`, e.g. `meridian:3100` or `[fd7a::1]:9090`. Every address the name resolves
    /// to is probed.
    pub target: String,
    /// `open`, `closed` or `filtered`.
    pub state: PortState,
}

/// What a TCP connection to a port must meet.
///
/// Silence is never evidence on its own: a timeout (or an ICMP unreachable) only counts as
/// `filtered`, or as `closed`, when the same address answered on another declared port
/// (connected, or refused with a reset), which proves the host is up. Otherwise the host may
/// simply be down or unroutable, and the scenario cannot prove the expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortState {
    /// A TCP connection succeeds.
    Open,
    /// No connection: refused with a reset, or filtered on a host proven up.
    Closed,
    /// No answer at all (the packets are dropped, or rejected with an ICMP unreachable) on a
    /// host proven up; a reset fails this expectation.
    Filtered,
}

impl PortState {
    /// The word in the stack description and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

/// Splits a firewall target into host and port: `host:port`, `1.2.3.4:port` or `[v6]:port`.
pub fn split_target(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        // An unbracketed IPv6 address would be ambiguous (`::1:80`).
        None if host.contains(':') => return None,
        None => host,
    };
    (!host.is_empty()).then_some((host, port))
}

/// Where the backups are and how fresh they must be. Only files named as the NixOS module's
/// backup jobs name them count (`grafana-YYYYMMDDTHHMMSSZ.db`, `glitchtip-YYYYMMDDTHHMMSSZ.dump`);
/// their `.part` files and anything else in the folders are listed, never counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backup {
    /// The directory of Grafana's daily SQLite snapshots.
    pub grafana_dir: PathBuf,
    /// The directory of GlitchTip's daily `pg_dump` archives.
    pub glitchtip_dir: PathBuf,
    /// The newest artefact of each kind must be at most this old, in hours.
    pub max_age_hours: u32,
    /// Snapshots kept: Grafana 7, GlitchTip 14; more on disk is a failed rotation.
    pub keep_grafana: u32,
    /// See `keep_grafana`.
    pub keep_glitchtip: u32,
    /// A file where `check` records dashboards, users and issues before a restore
    /// (`record`) or compares them after one (`verify`); absent skips that part.
    pub state_file: Option<PathBuf>,
    /// `record` or `verify`, with `state_file`.
    pub phase: Option<BackupPhase>,
    /// A PostgreSQL database GlitchTip's newest dump may be restored into, as a libpq connection
    /// string or URI without a password (libpq reads one from `PGPASSFILE` or `PGPASSWORD`).
    /// The restore runs in one transaction that is rolled back, so the database is left as it
    /// was. Without it the dump is only proven readable (`pg_restore --list`), not restorable.
    pub scratch_database: Option<String>,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            grafana_dir: "/var/lib/observability/backup/grafana".into(),
            glitchtip_dir: "/var/lib/observability/backup/glitchtip".into(),
            max_age_hours: 26,
            keep_grafana: 7,
            keep_glitchtip: 14,
            state_file: None,
            phase: None,
            scratch_database: None,
        }
    }
}

/// The two halves of a restore check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupPhase {
    /// Write what exists now to the state file.
    Record,
    /// Compare what exists now with the state file.
    Verify,
}

/// The burst `load-burst` sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Load {
    /// `logs` (Loki push), `otlp`, `faro` or `sentry`.
    pub signal: String,
    /// Items per second.
    pub rate: u32,
    /// Seconds.
    pub duration_secs: u32,
    /// Bytes per log line.
    pub line_bytes: u32,
    /// Streams the lines spread over.
    pub streams: u32,
    /// The latency budget: the burst fails when its p99 send-to-visible latency, in
    /// milliseconds, is over it. Unset: latency is reported, not judged.
    pub max_p99_ms: Option<u32>,
}

impl Default for Load {
    fn default() -> Self {
        Load {
            signal: "logs".into(),
            rate: 500,
            duration_secs: 10,
            line_bytes: 100,
            streams: 4,
            max_p99_ms: None,
        }
    }
}

/// Field names that would hold a secret inline, refused with advice instead of a bare
/// "unknown field".
const INLINE_SECRET_NAMES: &[&str] = &["password", "token", "secret", "api_key", "key"];

impl Stack {
    /// Reads `stack.toml`.
    pub fn from_toml(text: &str) -> Result<Stack, StackError> {
        // toml's own message quotes the offending line, which may hold a secret; give the
        // position and the message only.
        let stack: Stack = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: ")
            });
            invalid("TOML", format!("{}{}", at.unwrap_or_default(), e.message()))
        })?;
        stack.validate("TOML")
    }

    /// Reads the JSON the NixOS module writes.
    pub fn from_json(text: &str) -> Result<Stack, StackError> {
        let stack: Stack =
            serde_json::from_str(text).map_err(|e| invalid("JSON", e.to_string()))?;
        stack.validate("JSON")
    }

    /// Reads a file: JSON when it ends in `.json`, TOML otherwise.
    pub fn from_file(path: &Path) -> Result<Stack, StackError> {
        let text = std::fs::read_to_string(path).map_err(|source| StackError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parsed = if path.extension().is_some_and(|e| e == "json") {
            Stack::from_json(&text)
        } else {
            Stack::from_toml(&text)
        };
        parsed.map_err(|e| match e {
            StackError::Invalid { reason, .. } => StackError::Invalid {
                origin: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// The JSON form, as the NixOS module writes it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the stack model always serializes")
    }

    fn validate(self, origin: &str) -> Result<Stack, StackError> {
        if self.version != SCHEMA_VERSION {
            return Err(invalid(
                origin,
                format!(
                    "schema version {} is not {SCHEMA_VERSION}, the one this telltale reads",
                    self.version
                ),
            ));
        }
        for (name, cred) in self.credentials() {
            if cred.file.is_some() == cred.env.is_some() {
                return Err(invalid(
                    origin,
                    format!("{name}: give exactly one of `file` or `env`"),
                ));
            }
        }
        for (what, value) in [
            ("glitchtip.environment", &self.glitchtip.environment),
            ("alloy.faro_app_name", &self.alloy.faro_app_name),
            ("alloy.faro_environment", &self.alloy.faro_environment),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(
                    origin,
                    format!(
                        "{what} is empty: the harness's traffic must be told apart from the apps'"
                    ),
                ));
            }
        }
        if let Some(r) = &self.alloy.faro_receiver {
            if telltale_faro::AlloyVersion::parse(r).is_none() {
                return Err(invalid(
                    origin,
                    format!(
                        "alloy.faro_receiver {r:?} is not one of `agent`, `alloy-1.5`, `alloy-1.12`"
                    ),
                ));
            }
        }
        if self
            .glitchtip
            .canary_project
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(invalid(
                origin,
                "glitchtip.canary_project is empty: name the project or leave the key out".into(),
            ));
        }
        for e in self.firewall.iter().flat_map(|f| &f.expect) {
            if split_target(&e.target).is_none() {
                return Err(invalid(
                    origin,
                    format!(
                        "firewall target {:?} is not `host:port` (an IPv6 address goes in brackets: `[fd7a::1]:9090`)",
                        e.target
                    ),
                ));
            }
        }
        if let Some(conn) = self
            .backup
            .as_ref()
            .and_then(|b| b.scratch_database.as_deref())
        {
            // `postgresql://user:secret@host/db` or `password=secret`: a secret inline.
            let authority = conn
                .split_once("://")
                .map_or("", |(_, rest)| rest.split(['/', '?']).next().unwrap_or(""));
            let userinfo = authority.rsplit_once('@').map_or("", |(u, _)| u);
            if conn.to_ascii_lowercase().contains("password") || userinfo.contains(':') {
                return Err(invalid(
                    origin,
                    "backup.scratch_database: secrets are never written inline; leave the password out and give it to libpq through PGPASSFILE or PGPASSWORD".into(),
                ));
            }
        }
        if let Some(am) = &self.alertmanager {
            if am.webhook_listen.parse::<std::net::SocketAddr>().is_err() {
                return Err(invalid(
                    origin,
                    format!(
                        "alertmanager.webhook_listen {:?} is not `ip:port` (the address telltale's webhook receiver binds)",
                        am.webhook_listen
                    ),
                ));
            }
            let metric_ok = !am.metric.is_empty()
                && am
                    .metric
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !am.metric.starts_with(|c: char| c.is_ascii_digit());
            if !metric_ok || am.alert_name.trim().is_empty() || am.receiver.trim().is_empty() {
                return Err(invalid(
                    origin,
                    "alertmanager: metric must be a metric name, and alert_name and receiver non-empty".into(),
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for unit in &self.journald.units {
            if !seen.insert(&unit.unit) {
                return Err(invalid(
                    origin,
                    format!("journald unit {:?} is listed twice", unit.unit),
                ));
            }
        }
        Ok(self)
    }

    fn credentials(&self) -> Vec<(&'static str, Credential)> {
        let edge_dsn = self.edge.as_ref().and_then(|e| e.dsn.clone());
        let dsns = self
            .glitchtip
            .dsns
            .values()
            .map(|c| ("glitchtip.dsns", Some(c.clone())));
        [
            ("loki.auth", self.loki.auth.clone()),
            ("prometheus.auth", self.prometheus.auth.clone()),
            ("grafana.auth", self.grafana.auth.clone()),
            (
                "grafana.admin_password",
                self.grafana.admin_password.clone(),
            ),
            ("alloy.faro_api_key", self.alloy.faro_api_key.clone()),
            ("glitchtip.auth", self.glitchtip.auth.clone()),
            ("edge.dsn", edge_dsn),
            (
                "alertmanager.auth",
                self.alertmanager.as_ref().and_then(|a| a.auth.clone()),
            ),
        ]
        .into_iter()
        .chain(dsns)
        .filter_map(|(name, c)| c.map(|c| (name, c)))
        .collect()
    }
}

fn invalid(origin: &str, reason: String) -> StackError {
    // serde names the unknown field; if it looks like an inline secret, say what to do instead.
    let reason = match INLINE_SECRET_NAMES.iter().find(|n| reason.contains(&format!("unknown field `{n}`"))) {
        Some(name) => format!("{reason}\nsecrets are never written inline: instead of `{name} = …`, use an `auth = {{ file = \"/run/secrets/…\" }}` or `{{ env = \"VAR\" }}` credential"),
        None => reason,
    };
    StackError::Invalid {
        origin: origin.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faro_receiver_must_be_a_release_telltale_renders() {
        let stack = Stack::from_toml("[alloy]\nfaro_receiver = \"agent\"\n").unwrap();
        assert_eq!(stack.alloy.faro_receiver.as_deref(), Some("agent"));
        let err = Stack::from_toml("[alloy]\nfaro_receiver = \"alloy-1.2\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("alloy.faro_receiver"), "{err}");
    }

    #[test]
    fn an_empty_file_is_meridian_on_loopback() {
        let stack = Stack::from_toml("").unwrap();
        assert_eq!(stack, Stack::default());
        assert_eq!(stack.loki.base_url(&stack.host), "http://127.0.0.1:3100");
        assert_eq!(
            stack.glitchtip.base_url(&stack.host),
            "http://127.0.0.1:8200"
        );
        assert_eq!(stack.grafana.base_url(&stack.host), "http://127.0.0.1:3000");
        assert_eq!(
            (stack.alloy.otlp_http_port, stack.alloy.faro_port),
            (4318, 12347)
        );
        assert_eq!(
            stack.retention,
            Retention {
                loki_days: 30,
                prometheus_days: 90,
                glitchtip_days: 90
            }
        );
    }

    #[test]
    fn toml_and_json_are_one_model() {
        let toml = r#"
host = "meridian.tailnet.ts.net"
[loki]
port = 3100
auth = { username = "ops", file = "/run/secrets/loki" }
[glitchtip]
port = 8200
auth = { env = "GLITCHTIP_TOKEN" }
projects = ["be-platform"]
[edge]
url = "https://errors.example.org"
[[journald.units]]
unit = "demo.service"
app = "demo"
"#;
        let from_toml = Stack::from_toml(toml).unwrap();
        let from_json = Stack::from_json(&from_toml.to_json()).unwrap();
        assert_eq!(from_toml, from_json);
        assert_eq!(
            from_toml.prometheus.base_url(&from_toml.host),
            "http://meridian.tailnet.ts.net:9090"
        );
        assert_eq!(from_toml.journald.units.len(), 1);
    }

    #[test]
    fn inline_secrets_are_refused_with_advice() {
        let err = Stack::from_toml("[grafana]\npassword = \"hunter2\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("never written inline") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(
            err.contains("line 2, column 1"),
            "the position, not the line itself: {err}"
        );
        let err = Stack::from_toml("[loki]\nauth = { file = \"/a\", env = \"B\" }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("loki.auth: give exactly one"), "{err}");
        let err = Stack::from_json(r#"{"version": 2}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("schema version 2"), "{err}");
        let err = Stack::from_toml("[lokii]\nport = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lokii"), "{err}");
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../docs/stack.example.toml");
        let stack = Stack::from_toml(text).unwrap();
        assert_eq!(stack.host, "meridian.tailnet.ts.net");
        assert!(stack.firewall.as_ref().is_some_and(|f| f.probe_edge));
        assert_eq!(
            stack.glitchtip.settings_unit.as_deref(),
            Some("glitchtip.service")
        );
        assert_eq!(stack.glitchtip.environment, "telltale");
        assert_eq!(
            stack.glitchtip.canary_project.as_deref(),
            Some("telltale-canary")
        );
        assert_eq!(stack.glitchtip.delivery_projects(), ["telltale-canary"]);
        assert_eq!(stack.glitchtip.cleanup, Cleanup::Resolve);
        assert!(stack.glitchtip.dsns["be-platform"].file.is_some());
        assert_eq!(stack.alloy.faro_app_name, "telltale-canary");
        assert_eq!(stack.alertmanager, Some(Alertmanager::default()));
        let tempo = stack.tempo.as_ref().unwrap();
        assert_eq!(
            tempo.base_url(&stack.host),
            "http://meridian.tailnet.ts.net:3200"
        );
        assert_eq!(
            (tempo.otlp_http_url.as_deref(), tempo.tenant.as_deref()),
            (None, None)
        );
        assert_eq!(stack.pyroscope.as_ref().map(|p| p.port), Some(4040));
        assert_eq!(Stack::from_json(&stack.to_json()).unwrap(), stack);
        // Without the sections (what meridian v1's module writes), neither is assumed.
        let bare = Stack::from_json(r#"{"version":1}"#).unwrap();
        assert_eq!((bare.tempo, bare.pyroscope), (None, None));
        let err = Stack::from_toml("[tempo]\nprot = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn a_managed_metrics_endpoint_is_a_url_a_credential_file_and_a_tenant() {
        let stack = Stack::from_toml(
            "[prometheus]\nurl = \"https://metrics.example.org/select/0/prometheus\"\nauth = { username = \"ops\", file = \"/run/secrets/metrics\" }\ntenant = \"meridian\"\n",
        )
        .unwrap();
        assert_eq!(stack.prometheus.tenant.as_deref(), Some("meridian"));
        assert_eq!(
            stack.prometheus.base_url(&stack.host),
            "https://metrics.example.org/select/0/prometheus"
        );
        assert_eq!(Stack::from_json(&stack.to_json()).unwrap(), stack);
        assert_eq!(Stack::default().loki.tenant, None);
    }

    #[test]
    fn the_alertmanager_section_is_optional_and_checked() {
        assert_eq!(Stack::from_toml("").unwrap().alertmanager, None);
        let stack = Stack::from_toml(
            "[alertmanager]\nurl = \"https://am.example.org\"\nwebhook_listen = \"[::1]:9099\"\nauth = { username = \"ops\", file = \"/run/secrets/am\" }\n",
        )
        .unwrap();
        let am = stack.alertmanager.unwrap();
        assert_eq!(am.base_url("meridian"), "https://am.example.org");
        assert_eq!(am.alert_name, "TelltaleAlertProbe");
        for (bad, says) in [
            ("webhook_listen = \"localhost\"", "webhook_listen"),
            ("metric = \"telltale-probe\"", "metric"),
            ("receiver = \" \"", "receiver"),
            ("auth = { file = \"/a\", env = \"B\" }", "alertmanager.auth"),
            ("password = \"hunter2\"", "password"),
        ] {
            let err = Stack::from_toml(&format!("[alertmanager]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn the_leave_no_mess_settings_are_optional_and_checked() {
        // What the NixOS module writes today (no new keys) still reads, with the defaults.
        let stack = Stack::from_json(
            r#"{"version":1,"glitchtip":{"port":8200,"organization":"meridian","team":"backend","projects":["be-platform"]},"alloy":{"faro_port":12347}}"#,
        )
        .unwrap();
        assert_eq!(stack.glitchtip.environment, "telltale");
        assert_eq!(stack.glitchtip.canary_project, None);
        assert_eq!(stack.glitchtip.delivery_projects(), ["be-platform"]);
        assert_eq!(stack.alloy.faro_app_name, "telltale");
        let stack = Stack::from_toml("[glitchtip]\ncleanup = \"delete\"\n").unwrap();
        assert_eq!(stack.glitchtip.cleanup, Cleanup::Delete);
        let err = Stack::from_toml("[glitchtip]\ncleanup = \"burn\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("burn") || err.contains("variant"), "{err}");
        let err = Stack::from_toml("[glitchtip]\nenvironment = \" \"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("glitchtip.environment is empty"), "{err}");
        let err =
            Stack::from_toml("[glitchtip.dsns]\nbe-platform = { file = \"/a\", env = \"B\" }\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("glitchtip.dsns: give exactly one"), "{err}");
    }

    #[test]
    fn firewall_states_and_targets_are_read() {
        let stack = Stack::from_toml(
            "[firewall]\nvantage = \"internet\"\nexpect = [\n  { target = \"meridian:3100\", state = \"closed\" },\n  { target = \"[fd7a::1]:9100\", state = \"filtered\" },\n  { target = \"10.0.0.1:8080\", state = \"open\" },\n]\n",
        )
        .unwrap();
        let states: Vec<PortState> = stack
            .firewall
            .as_ref()
            .unwrap()
            .expect
            .iter()
            .map(|e| e.state)
            .collect();
        assert_eq!(
            states,
            [PortState::Closed, PortState::Filtered, PortState::Open]
        );
        // The JSON the NixOS module's tests write round-trips, `filtered` included.
        assert_eq!(Stack::from_json(&stack.to_json()).unwrap(), stack);
        assert_eq!(split_target("meridian:3100"), Some(("meridian", 3100)));
        assert_eq!(split_target("[fd7a::1]:9100"), Some(("fd7a::1", 9100)));
        for bad in [
            "meridian",
            "meridian:",
            "meridian:0",
            ":80",
            "fd7a::1:9100",
            "[fd7a::1:9100",
            "h:99999",
        ] {
            assert_eq!(split_target(bad), None, "{bad}");
        }
        let err = Stack::from_toml(
            "[firewall]\nexpect = [{ target = \"meridian\", state = \"closed\" }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"meridian\" is not `host:port`"), "{err}");
        assert!(Stack::from_toml(
            "[firewall]\nexpect = [{ target = \"m:1\", state = \"stealth\" }]\n"
        )
        .is_err());
    }

    #[test]
    fn a_scratch_database_with_a_password_is_refused() {
        for conn in [
            "postgresql://telltale:hunter2@127.0.0.1/scratch",
            "host=/run/postgresql dbname=scratch password=hunter2",
        ] {
            let err = Stack::from_toml(&format!("[backup]\nscratch_database = {conn:?}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("never written inline") && !err.contains("hunter2"),
                "{err}"
            );
        }
        for conn in [
            "postgresql://telltale@127.0.0.1:5433/scratch",
            "host=/run/postgresql dbname=scratch user=postgres",
        ] {
            let stack =
                Stack::from_toml(&format!("[backup]\nscratch_database = {conn:?}\n")).unwrap();
            assert_eq!(
                stack.backup.unwrap().scratch_database.as_deref(),
                Some(conn)
            );
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(
            Service::port(3100).base_url("fd7a:115c:a1e0::1"),
            "http://[fd7a:115c:a1e0::1]:3100"
        );
    }
}
