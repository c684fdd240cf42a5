//! The running stack: its containers, the harness's description of it, GlitchTip's DSNs, and
//! the captured output printed when a test fails while the stack is alive.

use std::io::Write;
use std::path::{Path, PathBuf};

use telltale_glitchtip::Dsn;

use crate::glitchtip::GlitchTip;
use crate::plan::{Plan, Service, StackBuilder};
use crate::start::Running;

/// A running stack. Dropping it removes its containers and their network; dropping it while
/// the thread panics (a failed assertion) first writes every container's output to stderr.
///
/// Drop it inside the Tokio runtime that started it (as `#[tokio::test]` does):
/// testcontainers removes containers asynchronously on drop.
pub struct Stack {
    run_id: String,
    network: String,
    engine: String,
    services: Vec<Service>,
    description: telltale::stack::Stack,
    glitchtip: Option<GlitchTip>,
    // Containers go before the directory holding the token and password files.
    containers: Vec<Running>,
    _dir: TempDir,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("run_id", &self.run_id)
            .field("network", &self.network)
            .field("engine", &self.engine)
            .field("services", &self.services)
            .field("containers", &self.containers)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A builder with no services chosen: add them with `.loki()`, `.prometheus()`,
    /// `.alloy()`, `.grafana()`, `.glitchtip()`, then `.start().await`.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    pub(crate) fn new(
        plan: Plan,
        engine: String,
        description: telltale::stack::Stack,
        containers: Vec<Running>,
        glitchtip: Option<GlitchTip>,
        dir: TempDir,
    ) -> Stack {
        Stack {
            run_id: plan.run_id,
            network: plan.names.network,
            engine,
            services: plan.services,
            description,
            glitchtip,
            containers,
            _dir: dir,
        }
    }

    /// The stack as the harness models it (`stack.toml`'s model): host, published ports,
    /// retention, scrape jobs, and secrets as files. Services not started point at
    /// `http://<service>.not-started.invalid` (Alloy at port 0).
    pub fn description(&self) -> &telltale::stack::Stack {
        &self.description
    }

    /// The services started, in a fixed order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The id in this run's container and network names.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The network every container joined.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The engine endpoint used, as `DOCKER_HOST` spells it.
    pub fn engine(&self) -> &str {
        &self.engine
    }

    fn url_of(&self, service: Service, url: String) -> Option<String> {
        self.services.contains(&service).then_some(url)
    }

    /// Loki's base URL, when it runs.
    pub fn loki_url(&self) -> Option<String> {
        let d = &self.description;
        self.url_of(Service::Loki, d.loki.base_url(&d.host))
    }

    /// Prometheus's base URL, when it runs.
    pub fn prometheus_url(&self) -> Option<String> {
        let d = &self.description;
        self.url_of(Service::Prometheus, d.prometheus.base_url(&d.host))
    }

    /// Grafana's base URL, when it runs. The admin password is in the file
    /// `description().grafana.admin_password` names.
    pub fn grafana_url(&self) -> Option<String> {
        let d = &self.description;
        self.url_of(Service::Grafana, d.grafana.base_url(&d.host))
    }

    /// GlitchTip's base URL, when it runs.
    pub fn glitchtip_url(&self) -> Option<String> {
        let d = &self.description;
        self.url_of(Service::GlitchTip, d.glitchtip.base_url(&d.host))
    }

    /// Alloy's OTLP/HTTP base URL (append `/v1/logs`, `/v1/metrics`), when it runs.
    pub fn alloy_otlp_http_url(&self) -> Option<String> {
        self.alloy_url(self.description.alloy.otlp_http_port)
    }

    /// Alloy's OTLP/gRPC endpoint, when it runs.
    pub fn alloy_otlp_grpc_url(&self) -> Option<String> {
        self.alloy_url(self.description.alloy.otlp_grpc_port)
    }

    /// Alloy's Faro receiver base URL (it takes `POST /collect`), when it runs.
    pub fn alloy_faro_url(&self) -> Option<String> {
        self.alloy_url(self.description.alloy.faro_port)
    }

    /// Alloy's admin and self-metrics base URL, when it runs.
    pub fn alloy_admin_url(&self) -> Option<String> {
        self.alloy_url(self.description.alloy.admin_port)
    }

    fn alloy_url(&self, port: u16) -> Option<String> {
        let host = &self.description.host;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        self.url_of(Service::Alloy, format!("http://{host}:{port}"))
    }

    /// The bootstrapped GlitchTip (API client, organization, DSNs), when it runs.
    pub fn glitchtip(&self) -> Option<&GlitchTip> {
        self.glitchtip.as_ref()
    }

    /// The DSN of a GlitchTip project the builder named (`be-platform` and `be-pwa` unless
    /// told otherwise). Its host is the engine's published port, so an app on the test's
    /// machine can use `dsn.expose()` as it is.
    pub fn glitchtip_dsn(&self, project: &str) -> Option<&Dsn> {
        self.glitchtip.as_ref()?.dsn(project)
    }

    /// Every container's captured output so far, each block headed by the container's label.
    pub fn logs(&self) -> String {
        let mut out = Vec::new();
        print_logs(&self.containers, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The captured output of one container (`loki`, `glitchtip-web`, `postgres`, …).
    pub fn container_logs(&self, label: &str) -> Option<String> {
        self.containers
            .iter()
            .find(|c| c.label == label)
            .map(|c| c.logs.text())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            print_logs(&self.containers, &mut std::io::stderr());
        }
    }
}

/// Writes each container's output, headed by its label. Uses `write_all` on the given
/// writer so that, on stderr, libtest does not capture it.
pub(crate) fn print_logs(containers: &[Running], out: &mut dyn Write) {
    for c in containers {
        let text = c.logs.text();
        let block = format!(
            "\n----- telltale-testkit: {} output ({} bytes kept) -----\n{}{}",
            c.label,
            text.len(),
            text,
            if text.ends_with('\n') || text.is_empty() {
                ""
            } else {
                "\n"
            }
        );
        let _ = out.write_all(block.as_bytes());
    }
}

/// A private directory for the stack's secret files, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(run_id: &str) -> std::io::Result<TempDir> {
        let dir =
            std::env::temp_dir().join(format!("telltale-testkit-{run_id}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o700)?;
        Ok(TempDir(dir))
    }

    /// Writes a secret readable by the owner only; returns its path.
    pub(crate) fn write_secret(&self, name: &str, value: &str) -> Result<PathBuf, crate::Error> {
        let path = self.0.join(name);
        let io = |source| crate::Error::Io {
            what: path.display().to_string(),
            source,
        };
        std::fs::write(&path, value).map_err(io)?;
        set_mode(&path, 0o600).map_err(io)?;
        Ok(path)
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_owner_only_and_gone_after_drop() {
        let dir = TempDir::new("unit").unwrap();
        let path = dir.write_secret("token", "s3cret").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let root = dir.path().to_owned();
        drop(dir);
        assert!(!root.exists());
    }
}
