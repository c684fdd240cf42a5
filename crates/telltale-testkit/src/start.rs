//! Turning a plan into running containers: testcontainers requests built from each
//! [`ContainerSpec`], log capture, published ports, then GlitchTip's bootstrap. The only
//! module (with `glitchtip.rs`) that touches testcontainers types.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use testcontainers::core::logs::LogFrame;
use testcontainers::core::wait::HttpWaitStrategy;
use testcontainers::core::{ContainerPort, Host, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, Image, ImageExt};
use testcontainers_modules::{postgres::Postgres, redis::Redis};

use crate::config::{self, port};
use crate::engine::Engine;
use crate::plan::{self, ContainerSpec, Kind, Plan, Published, Ready, SecretFiles};
use crate::{Error, Stack};

/// How much of each container's output is kept for failure reports.
const LOG_CAPACITY: usize = 256 * 1024;

/// A container's output, kept from creation on, capped at [`LOG_CAPACITY`] bytes (the
/// oldest dropped first).
#[derive(Debug, Clone, Default)]
pub(crate) struct LogBuffer(Arc<Mutex<VecDeque<u8>>>);

impl LogBuffer {
    fn push(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        buf.extend(bytes);
        let excess = buf.len().saturating_sub(LOG_CAPACITY);
        buf.drain(..excess);
    }

    pub(crate) fn text(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = buf.as_slices();
        let mut bytes = Vec::with_capacity(buf.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The last `n` lines.
    pub(crate) fn tail(&self, n: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// A running container, kept alive until the stack drops; dropping it removes it.
pub(crate) enum Handle {
    Generic(ContainerAsync<GenericImage>),
    Postgres(ContainerAsync<Postgres>),
    Redis(ContainerAsync<Redis>),
}

/// One started container with its captured output.
pub(crate) struct Running {
    pub(crate) label: &'static str,
    pub(crate) logs: LogBuffer,
    pub(crate) handle: Handle,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = match &self.handle {
            Handle::Generic(c) => c.id(),
            Handle::Postgres(c) => c.id(),
            Handle::Redis(c) => c.id(),
        };
        f.debug_struct("Running")
            .field("label", &self.label)
            .field("id", &id)
            .finish()
    }
}

impl Running {
    pub(crate) fn generic(&self) -> Option<&ContainerAsync<GenericImage>> {
        match &self.handle {
            Handle::Generic(c) => Some(c),
            _ => None,
        }
    }
}

fn readiness(ready: &Ready) -> Option<WaitFor> {
    match ready {
        Ready::Http { port, path } => Some(WaitFor::http(
            HttpWaitStrategy::new(*path)
                .with_port(port.tcp())
                .with_expected_status_code(200u16),
        )),
        // The module images carry their own log conditions; these mirror them for the plan.
        Ready::Log(_) => None,
        // Checked after start, by the bootstrap.
        Ready::GlitchTipCanary => None,
    }
}

fn configure<I: Image>(
    request: ContainerRequest<I>,
    spec: &ContainerSpec,
    plan: &Plan,
    logs: &LogBuffer,
) -> ContainerRequest<I> {
    let sink = logs.clone();
    let mut request = request
        .with_container_name(&spec.name)
        .with_network(&plan.names.network)
        .with_startup_timeout(plan.startup_timeout)
        .with_label("org.telltale.run", &plan.run_id)
        .with_log_consumer(move |frame: &LogFrame| sink.push(frame.bytes()));
    for (name, value) in &spec.env {
        request = request.with_env_var(name, value);
    }
    for (path, contents) in &spec.files {
        request = request.with_copy_to(path.as_str(), contents.clone().into_bytes());
    }
    if spec.host_gateway {
        request = request.with_host(config::HOST_GATEWAY_NAME, Host::HostGateway);
    }
    if let Some((host, container)) = spec.fixed {
        request = request.with_mapped_port(host, container.tcp());
    }
    if let Some(cmd) = &spec.cmd {
        request = request.with_cmd(cmd.clone());
    }
    request
}

async fn start_one(spec: &ContainerSpec, plan: &Plan) -> Result<Running, Error> {
    let logs = LogBuffer::default();
    let fail = |logs: &LogBuffer, e: testcontainers::TestcontainersError| {
        Error::start(spec.label, logs.tail(80), e)
    };
    let handle = match spec.kind {
        Kind::Generic => {
            let mut image = GenericImage::new(spec.image.name, spec.image.tag);
            for port in &spec.exposed {
                image = image.with_exposed_port(port.tcp());
            }
            if let Some((_, container)) = spec.fixed {
                image = image.with_exposed_port(container.tcp());
            }
            if let Some(wait) = readiness(&spec.ready) {
                image = image.with_wait_for(wait);
            }
            let request = configure(image.into(), spec, plan, &logs);
            Handle::Generic(request.start().await.map_err(|e| fail(&logs, e))?)
        }
        Kind::Postgres => {
            let request = configure(
                Postgres::default().with_tag(spec.image.tag),
                spec,
                plan,
                &logs,
            );
            Handle::Postgres(request.start().await.map_err(|e| fail(&logs, e))?)
        }
        Kind::Redis => {
            let request = configure(Redis::default().with_tag(spec.image.tag), spec, plan, &logs);
            Handle::Redis(request.start().await.map_err(|e| fail(&logs, e))?)
        }
    };
    Ok(Running {
        label: spec.label,
        logs,
        handle,
    })
}

async fn host_port(running: &Running, container: u16) -> Result<u16, Error> {
    let c = running
        .generic()
        .ok_or_else(|| Error::Config(format!("{} publishes no port", running.label)))?;
    c.get_host_port_ipv4(ContainerPort::Tcp(container))
        .await
        .map_err(|e| Error::start(running.label, running.logs.tail(20), e))
}

/// Starts every container of `plan` in order (dependencies first), then bootstraps GlitchTip.
/// On any failure the containers already started are dropped, and so removed.
pub(crate) async fn start(plan: Plan, engine: Engine) -> Result<Stack, Error> {
    let dir = crate::stack::TempDir::new(&plan.run_id).map_err(|source| Error::Io {
        what: "the stack's temporary directory".into(),
        source,
    })?;
    let mut running: Vec<Running> = Vec::new();
    for spec in &plan.containers {
        match start_one(spec, &plan).await {
            Ok(r) => running.push(r),
            Err(e) => {
                crate::stack::print_logs(&running, &mut std::io::stderr());
                return Err(e);
            }
        }
    }
    let find = |label: &str| running.iter().find(|r| r.label == label);
    let mut published = Published::default();
    if let Some(r) = find("loki") {
        published.loki = Some(host_port(r, port::LOKI).await?);
    }
    if let Some(r) = find("prometheus") {
        published.prometheus = Some(host_port(r, port::PROMETHEUS).await?);
    }
    if let Some(r) = find("grafana") {
        published.grafana = Some(host_port(r, port::GRAFANA).await?);
    }
    if let Some(r) = find("alloy") {
        published.alloy = Some([
            host_port(r, port::ALLOY_ADMIN).await?,
            host_port(r, port::ALLOY_OTLP_GRPC).await?,
            host_port(r, port::ALLOY_OTLP_HTTP).await?,
            host_port(r, port::ALLOY_FARO).await?,
        ]);
    }
    let grafana_password = match &plan.grafana_password {
        Some(password) => Some(dir.write_secret("grafana-admin-password", password)?),
        None => None,
    };
    let mut glitchtip = None;
    let mut token_file = None;
    if let Some(gt) = &plan.glitchtip {
        published.glitchtip = Some(gt.host_port);
        let web = find("glitchtip-web").expect("the plan starts glitchtip-web with glitchtip");
        let base_url = format!("http://{}:{}", bracket(&engine.host), gt.host_port);
        let boot = crate::glitchtip::bootstrap(web, &base_url, gt, &plan.run_id, &dir).await;
        match boot {
            Ok((handle, file)) => {
                glitchtip = Some(handle);
                token_file = Some(file);
            }
            Err(e) => {
                crate::stack::print_logs(&running, &mut std::io::stderr());
                return Err(e);
            }
        }
    }
    let description = plan::describe(
        &plan,
        &engine.host,
        &published,
        SecretFiles {
            grafana_password: grafana_password.as_deref(),
            glitchtip_token: token_file.as_deref(),
        },
    );
    Ok(Stack::new(
        plan,
        engine.endpoint,
        description,
        running,
        glitchtip,
        dir,
    ))
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buffers_keep_the_newest_output() {
        let logs = LogBuffer::default();
        logs.push(b"first\n");
        logs.push(&vec![b'x'; LOG_CAPACITY]);
        logs.push(b"\nlast line\n");
        let text = logs.text();
        assert_eq!(text.len(), LOG_CAPACITY);
        assert!(!text.contains("first"));
        assert_eq!(logs.tail(1), "last line");
    }

    #[test]
    fn every_planned_readiness_maps_to_a_wait_or_a_documented_check() {
        let plan = Stack::builder().all().plan("r", "127.0.0.1", 1).unwrap();
        for spec in &plan.containers {
            let wait = readiness(&spec.ready);
            match (&spec.kind, &spec.ready) {
                (Kind::Generic, Ready::Http { .. }) => {
                    assert!(matches!(wait, Some(WaitFor::Http(_))))
                }
                (Kind::Postgres | Kind::Redis, Ready::Log(_)) => assert!(wait.is_none()),
                (Kind::Generic, Ready::GlitchTipCanary) => assert!(wait.is_none()),
                other => panic!("{}: unexpected {other:?}", spec.label),
            }
            assert!(
                !matches!(wait, Some(WaitFor::Duration { .. })),
                "never a sleep"
            );
        }
        // The modules' own conditions match what the plan records.
        let pg = Postgres::default().ready_conditions();
        assert!(format!("{pg:?}").contains("database system is ready to accept connections"));
        let redis = Redis::default().ready_conditions();
        assert!(format!("{redis:?}").contains("Ready to accept connections"));
    }
}
