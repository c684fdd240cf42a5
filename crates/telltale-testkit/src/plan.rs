//! The builder and the plan it makes: which containers, on which network, with which files,
//! commands and readiness checks, and the stack description they add up to. All of it is
//! pure, so it is tested without an engine; `start.rs` turns a plan into containers.

use std::path::Path;
use std::time::Duration;

use telltale::stack::{self as description, Credential};

use crate::config::{self, port};
use crate::images::{self, ImagePin};

/// One service of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Service {
    /// Loki, single binary.
    Loki,
    /// Prometheus.
    Prometheus,
    /// Grafana Alloy with the OTLP and Faro pipelines.
    Alloy,
    /// Grafana with provisioned datasources.
    Grafana,
    /// GlitchTip web and worker, with PostgreSQL and Redis.
    GlitchTip,
}

impl Service {
    /// The service's name, as in container names and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Loki => "loki",
            Service::Prometheus => "prometheus",
            Service::Alloy => "alloy",
            Service::Grafana => "grafana",
            Service::GlitchTip => "glitchtip",
        }
    }
}

/// The container names of one run. Containers reach each other by these names on the run's
/// network, so configs are rendered with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) network: String,
    pub(crate) loki: String,
    pub(crate) prometheus: String,
    pub(crate) alloy: String,
    pub(crate) grafana: String,
    pub(crate) glitchtip_web: String,
    pub(crate) glitchtip_worker: String,
    pub(crate) postgres: String,
    pub(crate) redis: String,
}

impl Names {
    pub(crate) fn new(run_id: &str) -> Names {
        let name = |what: &str| format!("telltale-{run_id}-{what}");
        Names {
            network: name("net"),
            loki: name("loki"),
            prometheus: name("prometheus"),
            alloy: name("alloy"),
            grafana: name("grafana"),
            glitchtip_web: name("glitchtip-web"),
            glitchtip_worker: name("glitchtip-worker"),
            postgres: name("postgres"),
            redis: name("redis"),
        }
    }
}

/// A job Prometheus scrapes on the machine running the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScrapeTarget {
    pub(crate) job: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

/// When a container counts as ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ready {
    /// `GET path` on the container port answers 200.
    Http { port: u16, path: &'static str },
    /// The line appears on stdout or stderr.
    Log(&'static str),
    /// Proven after start by the GlitchTip canary: an event sent through a DSN is visible
    /// through the API, which only happens once the worker consumes.
    GlitchTipCanary,
}

/// Which image a container runs and how it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// testcontainers' `GenericImage`.
    Generic,
    /// testcontainers-modules' PostgreSQL.
    Postgres,
    /// testcontainers-modules' Redis.
    Redis,
}

/// One container of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerSpec {
    /// Label for errors and logs, e.g. `glitchtip-web`.
    pub(crate) label: &'static str,
    pub(crate) service: Service,
    pub(crate) kind: Kind,
    pub(crate) image: ImagePin,
    /// Container name, also its host name on the network.
    pub(crate) name: String,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) env: Vec<(String, String)>,
    /// Files copied in before start: (path in the container, contents).
    pub(crate) files: Vec<(String, String)>,
    /// Ports published on random host ports.
    pub(crate) exposed: Vec<u16>,
    /// A port published on a fixed host port: (host, container).
    pub(crate) fixed: Option<(u16, u16)>,
    /// Whether the container needs `host.docker.internal` mapped to the host gateway.
    pub(crate) host_gateway: bool,
    pub(crate) ready: Ready,
}

/// Everything the builder decided, before any container exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) run_id: String,
    pub(crate) names: Names,
    pub(crate) services: Vec<Service>,
    pub(crate) containers: Vec<ContainerSpec>,
    pub(crate) glitchtip: Option<GlitchTipPlan>,
    pub(crate) grafana_password: Option<String>,
    pub(crate) scrape_jobs: Vec<String>,
    pub(crate) startup_timeout: Duration,
}

/// What GlitchTip's bootstrap needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlitchTipPlan {
    pub(crate) organization: String,
    pub(crate) team: String,
    pub(crate) projects: Vec<String>,
    /// The host port the web container is published on; its `GLITCHTIP_DOMAIN` names it, so
    /// DSNs handed out work from the test's side as they are.
    pub(crate) host_port: u16,
}

/// The retention meridian promises; containers get the same so the description is true.
const RETENTION: description::Retention = description::Retention {
    loki_days: 30,
    prometheus_days: 90,
    glitchtip_days: 90,
};

/// The project that receives the readiness canary, kept apart from the test's own projects.
pub(crate) const CANARY_PROJECT: &str = "telltale-canary";

/// Chooses which services to start and how; see [`Stack::builder`](crate::Stack::builder).
#[derive(Debug, Clone)]
pub struct StackBuilder {
    services: Vec<Service>,
    scrape: Vec<ScrapeTarget>,
    scrape_interval: Duration,
    organization: String,
    team: String,
    projects: Vec<String>,
    startup_timeout: Duration,
}

impl Default for StackBuilder {
    fn default() -> Self {
        let meridian = description::GlitchTip::default();
        StackBuilder {
            services: Vec::new(),
            scrape: Vec::new(),
            scrape_interval: Duration::from_secs(5),
            organization: meridian.organization,
            team: meridian.team,
            projects: meridian.projects,
            startup_timeout: Duration::from_secs(180),
        }
    }
}

impl StackBuilder {
    fn with(mut self, service: Service) -> Self {
        if !self.services.contains(&service) {
            self.services.push(service);
        }
        self
    }

    /// Adds Loki.
    pub fn loki(self) -> Self {
        self.with(Service::Loki)
    }

    /// Adds Prometheus. It scrapes itself, Alloy when it runs, and every
    /// [`scrape_host`](Self::scrape_host) target.
    pub fn prometheus(self) -> Self {
        self.with(Service::Prometheus)
    }

    /// Adds Alloy (OTLP and Faro receivers). Alloy writes to Loki, so this adds Loki too.
    pub fn alloy(self) -> Self {
        self.with(Service::Alloy).with(Service::Loki)
    }

    /// Adds Grafana, with datasources for whichever of Loki and Prometheus run.
    pub fn grafana(self) -> Self {
        self.with(Service::Grafana)
    }

    /// Adds GlitchTip (web, worker, PostgreSQL, Redis), bootstrapped so that
    /// [`Stack::glitchtip_dsn`](crate::Stack::glitchtip_dsn) answers at once.
    pub fn glitchtip(self) -> Self {
        self.with(Service::GlitchTip)
    }

    /// Adds every service.
    pub fn all(self) -> Self {
        self.loki().prometheus().alloy().grafana().glitchtip()
    }

    /// Has Prometheus scrape `http://host.docker.internal:<port>/metrics` as job `job`: an app
    /// the test runs on its own machine. The app must listen on an address the containers can
    /// reach (`0.0.0.0`, not `127.0.0.1`). Adds Prometheus.
    pub fn scrape_host(self, job: impl Into<String>, port: u16) -> Self {
        self.scrape_host_path(job, port, "/metrics")
    }

    /// As [`scrape_host`](Self::scrape_host), with another metrics path.
    pub fn scrape_host_path(
        mut self,
        job: impl Into<String>,
        port: u16,
        path: impl Into<String>,
    ) -> Self {
        self.scrape.push(ScrapeTarget {
            job: job.into(),
            port,
            path: path.into(),
        });
        self.prometheus()
    }

    /// Prometheus's scrape interval; 5 s by default (meridian scrapes every 15 s; tests want
    /// answers sooner).
    pub fn scrape_interval(mut self, interval: Duration) -> Self {
        self.scrape_interval = interval;
        self
    }

    /// The GlitchTip organization and team to bootstrap; meridian's by default.
    pub fn glitchtip_organization(
        mut self,
        organization: impl Into<String>,
        team: impl Into<String>,
    ) -> Self {
        self.organization = organization.into();
        self.team = team.into();
        self
    }

    /// The GlitchTip projects whose DSNs the stack hands back; meridian's `be-platform` and
    /// `be-pwa` by default.
    pub fn glitchtip_projects<I, S>(mut self, projects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.projects = projects.into_iter().map(Into::into).collect();
        self
    }

    /// How long each container may take to become ready; 180 s by default (GlitchTip's
    /// migrations dominate).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the chosen services on one fresh network, bootstraps GlitchTip if chosen, and
    /// returns the running stack. [`Error::NoEngine`](crate::Error::NoEngine) when no Docker
    /// or Podman engine answers.
    pub async fn start(self) -> Result<crate::Stack, crate::Error> {
        let engine = crate::engine::engine().await?;
        let glitchtip_port = if self.services.contains(&Service::GlitchTip) {
            free_port()?
        } else {
            0
        };
        let plan = self.plan(&new_run_id(), &engine.host, glitchtip_port)?;
        crate::start::start(plan, engine).await
    }

    /// The plan for run `run_id`, GlitchTip published on `glitchtip_port` of `host`.
    pub(crate) fn plan(
        &self,
        run_id: &str,
        host: &str,
        glitchtip_port: u16,
    ) -> Result<Plan, crate::Error> {
        let names = Names::new(run_id);
        let mut services = self.services.clone();
        services.sort();
        let has = |s: Service| services.contains(&s);
        let mut containers = Vec::new();
        if has(Service::Loki) {
            containers.push(ContainerSpec {
                label: "loki",
                service: Service::Loki,
                kind: Kind::Generic,
                image: images::LOKI,
                name: names.loki.clone(),
                cmd: Some(vec!["-config.file=/etc/loki/telltale.yaml".into()]),
                env: Vec::new(),
                files: vec![(
                    "/etc/loki/telltale.yaml".into(),
                    config::loki(RETENTION.loki_days),
                )],
                exposed: vec![port::LOKI],
                fixed: None,
                host_gateway: false,
                ready: Ready::Http {
                    port: port::LOKI,
                    path: "/ready",
                },
            });
        }
        let mut scrape_jobs = Vec::new();
        if has(Service::Prometheus) {
            let mut seen = std::collections::BTreeSet::new();
            for target in &self.scrape {
                if target.job.is_empty() || !seen.insert(target.job.as_str()) {
                    return Err(crate::Error::Config(format!(
                        "scrape job {:?} is empty or given twice",
                        target.job
                    )));
                }
            }
            scrape_jobs.push("prometheus".to_owned());
            scrape_jobs.extend(self.scrape.iter().map(|t| t.job.clone()));
            if has(Service::Alloy) {
                scrape_jobs.push("alloy".to_owned());
            }
            containers.push(ContainerSpec {
                label: "prometheus",
                service: Service::Prometheus,
                kind: Kind::Generic,
                image: images::PROMETHEUS,
                name: names.prometheus.clone(),
                cmd: Some(config::prometheus_args(RETENTION.prometheus_days)),
                env: Vec::new(),
                files: vec![(
                    "/etc/prometheus/telltale.yml".into(),
                    config::prometheus(
                        &names,
                        self.scrape_interval,
                        &self.scrape,
                        has(Service::Alloy),
                    ),
                )],
                exposed: vec![port::PROMETHEUS],
                fixed: None,
                host_gateway: true,
                ready: Ready::Http {
                    port: port::PROMETHEUS,
                    path: "/-/ready",
                },
            });
        }
        if has(Service::Alloy) {
            containers.push(ContainerSpec {
                label: "alloy",
                service: Service::Alloy,
                kind: Kind::Generic,
                image: images::ALLOY,
                name: names.alloy.clone(),
                cmd: Some(config::alloy_args()),
                env: Vec::new(),
                files: vec![(
                    "/etc/alloy/telltale.alloy".into(),
                    config::alloy(&names, has(Service::Prometheus)),
                )],
                exposed: vec![
                    port::ALLOY_ADMIN,
                    port::ALLOY_OTLP_GRPC,
                    port::ALLOY_OTLP_HTTP,
                    port::ALLOY_FARO,
                ],
                fixed: None,
                host_gateway: false,
                ready: Ready::Http {
                    port: port::ALLOY_ADMIN,
                    path: "/-/ready",
                },
            });
        }
        let grafana_password = has(Service::Grafana).then(random_hex);
        if let Some(password) = &grafana_password {
            containers.push(ContainerSpec {
                label: "grafana",
                service: Service::Grafana,
                kind: Kind::Generic,
                image: images::GRAFANA,
                name: names.grafana.clone(),
                cmd: None,
                env: [
                    ("GF_SECURITY_ADMIN_USER", "admin"),
                    (
                        "GF_SECURITY_ADMIN_PASSWORD__FILE",
                        "/etc/grafana/telltale-admin-password",
                    ),
                    ("GF_AUTH_ANONYMOUS_ENABLED", "false"),
                    ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
                    ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                files: vec![
                    (
                        "/etc/grafana/provisioning/datasources/telltale.yaml".into(),
                        config::grafana_datasources(
                            &names,
                            has(Service::Loki),
                            has(Service::Prometheus),
                        ),
                    ),
                    (
                        "/etc/grafana/telltale-admin-password".into(),
                        password.clone(),
                    ),
                ],
                exposed: vec![port::GRAFANA],
                fixed: None,
                host_gateway: false,
                ready: Ready::Http {
                    port: port::GRAFANA,
                    path: "/api/health",
                },
            });
        }
        let mut glitchtip = None;
        if has(Service::GlitchTip) {
            for project in &self.projects {
                if project.is_empty() || project == CANARY_PROJECT {
                    return Err(crate::Error::Config(format!(
                        "GlitchTip project name {project:?} is empty or reserved"
                    )));
                }
            }
            let env = glitchtip_env(&names, &bracket(host), glitchtip_port);
            containers.push(ContainerSpec {
                label: "postgres",
                service: Service::GlitchTip,
                kind: Kind::Postgres,
                image: images::POSTGRES,
                name: names.postgres.clone(),
                cmd: None,
                env: Vec::new(),
                files: Vec::new(),
                exposed: Vec::new(),
                fixed: None,
                host_gateway: false,
                ready: Ready::Log("database system is ready to accept connections"),
            });
            containers.push(ContainerSpec {
                label: "redis",
                service: Service::GlitchTip,
                kind: Kind::Redis,
                image: images::REDIS,
                name: names.redis.clone(),
                cmd: None,
                env: Vec::new(),
                files: Vec::new(),
                exposed: Vec::new(),
                fixed: None,
                host_gateway: false,
                ready: Ready::Log("Ready to accept connections"),
            });
            containers.push(ContainerSpec {
                label: "glitchtip-web",
                service: Service::GlitchTip,
                kind: Kind::Generic,
                image: images::GLITCHTIP,
                name: names.glitchtip_web.clone(),
                // The image's web role does not migrate; the worker must not start before
                // the schema exists, so the web container migrates, then serves.
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "./bin/run-migrate.sh && exec ./bin/start.sh".into(),
                ]),
                env: env.clone(),
                files: Vec::new(),
                exposed: Vec::new(),
                fixed: Some((glitchtip_port, port::GLITCHTIP)),
                host_gateway: false,
                ready: Ready::Http {
                    port: port::GLITCHTIP,
                    path: "/_health/",
                },
            });
            let mut worker_env = env;
            worker_env.push(("SERVER_ROLE".into(), "worker".into()));
            containers.push(ContainerSpec {
                label: "glitchtip-worker",
                service: Service::GlitchTip,
                kind: Kind::Generic,
                image: images::GLITCHTIP,
                name: names.glitchtip_worker.clone(),
                cmd: None,
                env: worker_env,
                files: Vec::new(),
                exposed: Vec::new(),
                fixed: None,
                host_gateway: false,
                ready: Ready::GlitchTipCanary,
            });
            glitchtip = Some(GlitchTipPlan {
                organization: self.organization.clone(),
                team: self.team.clone(),
                projects: self.projects.clone(),
                host_port: glitchtip_port,
            });
        }
        Ok(Plan {
            run_id: run_id.to_owned(),
            names,
            services,
            containers,
            glitchtip,
            grafana_password,
            scrape_jobs,
            startup_timeout: self.startup_timeout,
        })
    }
}

fn glitchtip_env(names: &Names, host: &str, host_port: u16) -> Vec<(String, String)> {
    [
        (
            "DATABASE_URL",
            format!(
                "postgres://postgres:postgres@{}:{}/postgres",
                names.postgres,
                port::POSTGRES
            ),
        ),
        (
            "REDIS_URL",
            format!("redis://{}:{}/0", names.redis, port::REDIS),
        ),
        ("SECRET_KEY", random_hex()),
        ("PORT", port::GLITCHTIP.to_string()),
        ("GLITCHTIP_DOMAIN", format!("http://{host}:{host_port}")),
        ("DEFAULT_FROM_EMAIL", "glitchtip@telltale.invalid".into()),
        ("EMAIL_URL", "consolemail://".into()),
        ("ENABLE_USER_REGISTRATION", "false".into()),
        ("ENABLE_ORGANIZATION_CREATION", "true".into()),
        (
            "GLITCHTIP_MAX_EVENT_LIFE_DAYS",
            RETENTION.glitchtip_days.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Host ports of the started containers, as the engine published them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Published {
    pub(crate) loki: Option<u16>,
    pub(crate) prometheus: Option<u16>,
    pub(crate) grafana: Option<u16>,
    /// Admin, OTLP gRPC, OTLP HTTP, Faro.
    pub(crate) alloy: Option<[u16; 4]>,
    pub(crate) glitchtip: Option<u16>,
}

/// Files that hold the stack's secrets on the test's side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SecretFiles<'a> {
    pub(crate) grafana_password: Option<&'a Path>,
    pub(crate) glitchtip_token: Option<&'a Path>,
}

/// Where a service that was not started points: a reserved `.invalid` name, so a harness
/// scenario against it fails at once and says why, instead of finding something else there.
fn not_started(service: Service) -> Option<String> {
    Some(format!("http://{}.not-started.invalid", service.as_str()))
}

/// The stack description of a started plan: the same model the harness reads from
/// `stack.toml`, so every scenario can run against containers.
pub(crate) fn describe(
    plan: &Plan,
    host: &str,
    published: &Published,
    secrets: SecretFiles<'_>,
) -> description::Stack {
    let mut stack = description::Stack {
        host: host.to_owned(),
        ..description::Stack::default()
    };
    let service = |s: Service, port: Option<u16>| {
        let mut svc = description::Stack::default().loki;
        match port {
            Some(port) => svc.port = port,
            None => {
                svc.port = 0;
                svc.url = not_started(s);
            }
        }
        svc
    };
    stack.loki = service(Service::Loki, published.loki);
    stack.prometheus = service(Service::Prometheus, published.prometheus);
    match published.grafana {
        Some(port) => {
            stack.grafana.port = port;
            stack.grafana.admin_password = secrets.grafana_password.map(file_credential);
        }
        None => {
            stack.grafana.port = 0;
            stack.grafana.url = not_started(Service::Grafana);
        }
    }
    stack.alloy = match published.alloy {
        Some([admin, grpc, http, faro]) => description::Alloy {
            admin_port: admin,
            otlp_grpc_port: grpc,
            otlp_http_port: http,
            faro_port: faro,
            faro_api_key: None,
            ..description::Alloy::default()
        },
        // The model has no URL for Alloy; port 0 is never connectable.
        None => description::Alloy {
            admin_port: 0,
            otlp_grpc_port: 0,
            otlp_http_port: 0,
            faro_port: 0,
            faro_api_key: None,
            ..description::Alloy::default()
        },
    };
    match (&plan.glitchtip, published.glitchtip) {
        (Some(gt), Some(port)) => {
            stack.glitchtip.port = port;
            stack.glitchtip.auth = secrets.glitchtip_token.map(file_credential);
            stack.glitchtip.organization = gt.organization.clone();
            stack.glitchtip.team = gt.team.clone();
            stack.glitchtip.projects = gt.projects.clone();
        }
        _ => {
            stack.glitchtip.port = 0;
            stack.glitchtip.url = not_started(Service::GlitchTip);
            stack.glitchtip.projects = Vec::new();
        }
    }
    // A container has no journald: no unit's lines can arrive, so none is expected.
    stack.journald.units = Vec::new();
    stack.retention = RETENTION;
    stack.scrape.jobs = plan.scrape_jobs.clone();
    stack
}

fn file_credential(path: &Path) -> Credential {
    Credential {
        username: None,
        file: Some(path.to_owned()),
        env: None,
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A short random id naming one run's containers and network.
pub(crate) fn new_run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

fn random_hex() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A free TCP port on this machine: bound, then released for the engine to publish.
fn free_port() -> Result<u16, crate::Error> {
    std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| crate::Error::Config(format!("no free port for GlitchTip: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(plan: &Plan) -> Vec<&str> {
        plan.containers.iter().map(|c| c.label).collect()
    }

    #[test]
    fn a_subset_starts_only_what_was_asked_on_one_network() {
        let plan = Stack::builder()
            .loki()
            .prometheus()
            .plan("r1", "127.0.0.1", 0)
            .unwrap();
        assert_eq!(plan.services, [Service::Loki, Service::Prometheus]);
        assert_eq!(labels(&plan), ["loki", "prometheus"]);
        assert_eq!(plan.names.network, "telltale-r1-net");
        assert!(plan.glitchtip.is_none() && plan.grafana_password.is_none());
        let names: std::collections::HashSet<_> = plan.containers.iter().map(|c| &c.name).collect();
        assert_eq!(names.len(), plan.containers.len(), "names are unique");
        assert!(plan
            .containers
            .iter()
            .all(|c| c.name.starts_with("telltale-r1-")));
    }

    #[test]
    fn alloy_brings_loki_and_order_does_not_matter() {
        let a = Stack::builder().alloy().plan("r1", "127.0.0.1", 0).unwrap();
        assert_eq!(labels(&a), ["loki", "alloy"]);
        let b = Stack::builder()
            .prometheus()
            .loki()
            .plan("r1", "127.0.0.1", 0)
            .unwrap();
        let c = Stack::builder()
            .loki()
            .prometheus()
            .loki()
            .plan("r1", "127.0.0.1", 0)
            .unwrap();
        assert_eq!(b, c);
    }

    #[test]
    fn every_container_has_a_pinned_image_and_an_explicit_readiness_check() {
        let plan = Stack::builder()
            .all()
            .plan("r1", "127.0.0.1", 18200)
            .unwrap();
        assert_eq!(
            labels(&plan),
            [
                "loki",
                "prometheus",
                "alloy",
                "grafana",
                "postgres",
                "redis",
                "glitchtip-web",
                "glitchtip-worker"
            ]
        );
        for c in &plan.containers {
            assert!(
                images::ALL.contains(&c.image),
                "{} runs an unpinned image",
                c.label
            );
            match &c.ready {
                Ready::Http { port, path } => {
                    assert!(path.starts_with('/'));
                    assert!(
                        c.exposed.contains(port) || c.fixed.map(|f| f.1) == Some(*port),
                        "{}",
                        c.label
                    );
                }
                Ready::Log(line) => assert!(!line.is_empty()),
                Ready::GlitchTipCanary => assert_eq!(c.label, "glitchtip-worker"),
            }
        }
        let web = &plan.containers[6];
        assert_eq!(web.fixed, Some((18200, 8000)));
        let env =
            |c: &ContainerSpec, k: &str| c.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            env(web, "GLITCHTIP_DOMAIN").as_deref(),
            Some("http://127.0.0.1:18200")
        );
        assert_eq!(
            env(web, "DATABASE_URL").as_deref(),
            Some("postgres://postgres:postgres@telltale-r1-postgres:5432/postgres")
        );
        assert_eq!(
            env(web, "REDIS_URL").as_deref(),
            Some("redis://telltale-r1-redis:6379/0")
        );
        let worker = &plan.containers[7];
        assert_eq!(env(worker, "SERVER_ROLE").as_deref(), Some("worker"));
        assert_eq!(
            env(worker, "SECRET_KEY"),
            env(web, "SECRET_KEY"),
            "one key for both roles"
        );
        assert!(
            plan.containers[1].host_gateway,
            "Prometheus reaches the host app"
        );
    }

    #[test]
    fn bad_names_are_refused_before_anything_starts() {
        let err = Stack::builder()
            .glitchtip_projects([CANARY_PROJECT])
            .glitchtip()
            .plan("r", "h", 1)
            .unwrap_err();
        assert!(matches!(err, crate::Error::Config(_)), "{err}");
        let err = Stack::builder()
            .scrape_host("app", 1)
            .scrape_host("app", 2)
            .plan("r", "h", 0)
            .unwrap_err();
        assert!(err.to_string().contains("\"app\""), "{err}");
    }

    #[test]
    fn the_description_is_the_harness_model_with_published_ports() {
        let plan = Stack::builder()
            .loki()
            .scrape_host("be-platform", 8000)
            .glitchtip()
            .plan("r1", "127.0.0.1", 18200)
            .unwrap();
        let published = Published {
            loki: Some(32768),
            prometheus: Some(32769),
            glitchtip: Some(18200),
            ..Published::default()
        };
        let token = Path::new("/tmp/t/glitchtip-token");
        let stack = describe(
            &plan,
            "127.0.0.1",
            &published,
            SecretFiles {
                grafana_password: None,
                glitchtip_token: Some(token),
            },
        );
        assert_eq!(stack.loki.base_url(&stack.host), "http://127.0.0.1:32768");
        assert_eq!(
            stack.prometheus.base_url(&stack.host),
            "http://127.0.0.1:32769"
        );
        assert_eq!(
            stack.glitchtip.base_url(&stack.host),
            "http://127.0.0.1:18200"
        );
        assert_eq!(
            stack
                .glitchtip
                .auth
                .as_ref()
                .and_then(|c| c.file.as_deref()),
            Some(token)
        );
        assert_eq!(stack.glitchtip.projects, ["be-platform", "be-pwa"]);
        assert_eq!(stack.scrape.jobs, ["prometheus", "be-platform"]);
        assert_eq!(stack.retention.loki_days, 30);
        assert!(stack.journald.units.is_empty());
        assert_eq!(
            stack.grafana.base_url(&stack.host),
            "http://grafana.not-started.invalid"
        );
        assert_eq!(stack.alloy.otlp_http_port, 0);
        // The harness reads it back unchanged: it is the harness's own model, secrets by file.
        let json = stack.to_json();
        assert!(!json.contains("token\":"), "{json}");
        assert_eq!(description::Stack::from_json(&json).unwrap(), stack);
    }

    #[test]
    fn ipv6_engine_hosts_are_bracketed_in_the_glitchtip_domain() {
        let plan = Stack::builder()
            .glitchtip()
            .plan("r", "fd7a::1", 18200)
            .unwrap();
        let web = plan
            .containers
            .iter()
            .find(|c| c.label == "glitchtip-web")
            .unwrap();
        assert!(web
            .env
            .contains(&("GLITCHTIP_DOMAIN".into(), "http://[fd7a::1]:18200".into())));
    }

    use crate::Stack;
}
