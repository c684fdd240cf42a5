//! `telltale up`: a local stack from whatever binaries this machine has, on 127.0.0.1, with
//! configs equivalent to the NixOS module's, and the `stack.toml` that describes it.
//!
//! Every part that is missing is said plainly, with how to get it, and is described in the
//! stack so that `check` reports its scenarios `unavailable`, never passed: a missing service's
//! port is one nothing listens on.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

/// One service `up` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Loki,
    Prometheus,
    NodeExporter,
    Alloy,
    Grafana,
}

impl Part {
    const ALL: [Part; 5] = [
        Part::Loki,
        Part::Prometheus,
        Part::NodeExporter,
        Part::Alloy,
        Part::Grafana,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::Loki => "loki",
            Part::Prometheus => "prometheus",
            Part::NodeExporter => "node-exporter",
            Part::Alloy => "alloy",
            Part::Grafana => "grafana",
        }
    }

    /// The variable that names the binary, and the names tried on `PATH`.
    fn lookup(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Part::Loki => ("LOKI_BIN", &["loki"]),
            Part::Prometheus => ("PROMETHEUS_BIN", &["prometheus"]),
            Part::NodeExporter => (
                "NODE_EXPORTER_BIN",
                &["prometheus-node-exporter", "node_exporter"],
            ),
            Part::Alloy => ("ALLOY_BIN", &["alloy"]),
            Part::Grafana => ("GRAFANA_BIN", &["grafana", "grafana-server"]),
        }
    }

    fn how_to_get(self) -> &'static str {
        match self {
            Part::Loki => "`nix shell nixpkgs#grafana-loki`, or a release binary from github.com/grafana/loki, then LOKI_BIN=… or put `loki` on PATH",
            Part::Prometheus => "`nix shell nixpkgs#prometheus` or `apt install prometheus`, or PROMETHEUS_BIN=…",
            Part::NodeExporter => "`nix shell nixpkgs#prometheus-node-exporter` or `apt install prometheus-node-exporter`, or NODE_EXPORTER_BIN=…",
            Part::Alloy => "`nix shell nixpkgs#grafana-alloy`, or ALLOY_BIN=…",
            Part::Grafana => "`nix shell nixpkgs#grafana`, or GRAFANA_BIN=… (the `grafana` binary, run as `grafana server`)",
        }
    }
}

/// Finds a part's binary: its variable first, then `PATH`.
fn find(part: Part) -> Option<PathBuf> {
    let (var, names) = part.lookup();
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A port nothing listens on right now, for a part to take (or, for a missing part, for
/// `check` to find closed).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The ports of one local stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) loki: u16,
    pub(crate) loki_grpc: u16,
    pub(crate) prometheus: u16,
    pub(crate) node_exporter: u16,
    pub(crate) alloy: u16,
    pub(crate) alloy_otlp_grpc: u16,
    pub(crate) alloy_otlp_http: u16,
    pub(crate) alloy_faro: u16,
    pub(crate) grafana: u16,
}

impl Ports {
    fn pick() -> Result<Ports> {
        // Bind them all at once so no two picks collide, then release them for the children.
        let listeners: Vec<TcpListener> = (0..9)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<std::io::Result<_>>()?;
        let p: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<_>>()?;
        Ok(Ports {
            loki: p[0],
            loki_grpc: p[1],
            prometheus: p[2],
            node_exporter: p[3],
            alloy: p[4],
            alloy_otlp_grpc: p[5],
            alloy_otlp_http: p[6],
            alloy_faro: p[7],
            grafana: p[8],
        })
    }
}

/// Loki as the module runs it: single binary, filesystem, TSDB, one tenant, compactor
/// retention of 30 days.
pub(crate) fn loki_config(dir: &Path, ports: Ports) -> String {
    let data = dir.join("loki");
    let d = data.display();
    format!(
        "# Written by `telltale up`: the NixOS module's Loki settings, on loopback.
target: all
auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: {d}
  replication_factor: 1
  storage:
    filesystem:
      chunks_directory: {d}/chunks
      rules_directory: {d}/rules
  ring:
    kvstore:
      store: inmemory
frontend:
  address: 127.0.0.1
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
compactor:
  working_directory: {d}/compactor
  retention_enabled: true
  delete_request_store: filesystem
limits_config:
  retention_period: 720h
  allow_structured_metadata: true
  volume_enabled: true
analytics:
  reporting_enabled: false
",
        http = ports.loki,
        grpc = ports.loki_grpc,
    )
}

/// Prometheus's scrape config: the jobs of the parts that run.
pub(crate) fn prometheus_config(ports: Ports, node_exporter: bool, alloy: bool) -> String {
    let mut out = String::from(
        "# Written by `telltale up`: the NixOS module's scrape jobs, for the parts that run.\nglobal:\n  scrape_interval: 15s\nscrape_configs:\n",
    );
    if node_exporter {
        let _ = write!(
            out,
            "  - job_name: node\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
            ports.node_exporter
        );
    }
    if alloy {
        let _ = write!(
            out,
            "  - job_name: alloy\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
            ports.alloy
        );
    }
    if !node_exporter && !alloy {
        out.push_str("  []\n");
    }
    out
}

/// Alloy's pipelines as the module writes them, minus journald when this is not a systemd
/// host: OTLP to Loki and Prometheus (traces dropped), Faro to Loki with `source=pwa-faro`.
pub(crate) fn alloy_config(ports: Ports, journald: bool, host: &str) -> String {
    let journal = if journald {
        format!(
            r#"
loki.relabel "journal" {{
  forward_to = []
  rule {{
    source_labels = ["__journal__systemd_unit"]
    target_label  = "service_unit"
  }}
}}

loki.source.journal "units" {{
  forward_to    = [loki.write.local.receiver]
  relabel_rules = loki.relabel.journal.rules
  labels        = {{ host = "{host}" }}
}}
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"// Written by `telltale up`: the NixOS module's Alloy pipelines, on loopback.
loki.write "local" {{
  endpoint {{
    url = "http://127.0.0.1:{loki}/loki/api/v1/push"
  }}
}}

prometheus.remote_write "local" {{
  endpoint {{
    url = "http://127.0.0.1:{prom}/api/v1/write"
  }}
}}
{journal}
otelcol.receiver.otlp "default" {{
  grpc {{
    endpoint = "127.0.0.1:{grpc}"
  }}
  http {{
    endpoint = "127.0.0.1:{http}"
  }}
  output {{
    logs    = [otelcol.exporter.loki.local.input]
    metrics = [otelcol.exporter.prometheus.local.input]
  }}
}}

otelcol.exporter.loki "local" {{
  forward_to = [loki.write.local.receiver]
}}

otelcol.exporter.prometheus "local" {{
  forward_to = [prometheus.remote_write.local.receiver]
}}

faro.receiver "pwa" {{
  server {{
    listen_address = "127.0.0.1"
    listen_port    = {faro}
  }}
  extra_log_labels = {{ source = "pwa-faro" }}
  output {{
    logs = [loki.write.local.receiver]
  }}
}}
"#,
        loki = ports.loki,
        prom = ports.prometheus,
        grpc = ports.alloy_otlp_grpc,
        http = ports.alloy_otlp_http,
        faro = ports.alloy_faro,
    )
}

/// Grafana's datasources, provisioned from files as the module does.
pub(crate) fn grafana_datasources(ports: Ports) -> String {
    format!(
        "# Written by `telltale up`: provisioned, so read-only in Grafana's API.
apiVersion: 1
datasources:
  - name: Loki
    uid: loki
    type: loki
    access: proxy
    url: http://127.0.0.1:{loki}
  - name: Prometheus
    uid: prometheus
    type: prometheus
    access: proxy
    url: http://127.0.0.1:{prom}
    isDefault: true
",
        loki = ports.loki,
        prom = ports.prometheus
    )
}

/// The stack description of what runs.
pub(crate) fn stack_toml(
    ports: Ports,
    closed: u16,
    running: &[Part],
    grafana_password: &Path,
    glitchtip: Option<(&str, Option<&str>)>,
) -> String {
    let port = |part: Part, p: u16| if running.contains(&part) { p } else { closed };
    let mut jobs = Vec::new();
    if running.contains(&Part::NodeExporter) {
        jobs.push("\"node\"");
    }
    if running.contains(&Part::Alloy) {
        jobs.push("\"alloy\"");
    }
    let alloy = running.contains(&Part::Alloy);
    let mut out = format!(
        "# Written by `telltale up`. Parts that are not running point at port {closed}, where nothing
# listens, so `telltale check` reports their scenarios unavailable.
version = 1
host = \"127.0.0.1\"

[loki]
port = {loki}

[prometheus]
port = {prom}

[grafana]
port = {grafana}
admin_password = {{ file = {password:?} }}

[alloy]
admin_port = {alloy_admin}
otlp_grpc_port = {grpc}
otlp_http_port = {http}
faro_port = {faro}

[scrape]
jobs = [{jobs}]
",
        loki = port(Part::Loki, ports.loki),
        prom = port(Part::Prometheus, ports.prometheus),
        grafana = port(Part::Grafana, ports.grafana),
        password = grafana_password.display().to_string(),
        alloy_admin = if alloy { ports.alloy } else { closed },
        grpc = if alloy { ports.alloy_otlp_grpc } else { closed },
        http = if alloy { ports.alloy_otlp_http } else { closed },
        faro = if alloy { ports.alloy_faro } else { closed },
        jobs = jobs.join(", "),
    );
    match glitchtip {
        Some((url, token_file)) => {
            let _ = write!(out, "\n[glitchtip]\nurl = {url:?}\n");
            if let Some(token) = token_file {
                let _ = writeln!(out, "auth = {{ file = {token:?} }}");
            }
        }
        None => {
            let _ = write!(out, "\n[glitchtip]\nurl = \"http://127.0.0.1:{closed}\"\n");
        }
    }
    out
}

/// A child process that is stopped when dropped.
struct Running {
    part: Part,
    child: Child,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

fn spawn(part: Part, bin: &Path, args: &[String], dir: &Path) -> Result<Running> {
    let log = dir.join(format!("{}.log", part.name()));
    let file = std::fs::File::create(&log)?;
    let child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("start {} ({})", part.name(), bin.display()))?;
    Ok(Running { part, child, log })
}

/// Waits until `url` answers 200, the process dies, or a minute passes.
async fn ready(running: &mut Running, url: &str) -> Result<()> {
    let http = probe(url);
    let started = Instant::now();
    loop {
        if let Some(status) = running.child.try_wait()? {
            bail!(
                "{} exited ({status}) before it was ready; its log ends:\n{}",
                running.part.name(),
                running.tail()
            );
        }
        if http.await_ok().await {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "{} was not ready at {url} within 60s; its log ends:\n{}",
                running.part.name(),
                running.tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A readiness probe through the shared HTTP plumbing.
struct Probe {
    http: Option<telltale_http::Http>,
    path: String,
}

fn probe(url: &str) -> Probe {
    let parsed = url::Url::parse(url).ok();
    let (base, path) = match &parsed {
        Some(u) => (
            format!("{}://{}", u.scheme(), u.host_str().unwrap_or("127.0.0.1"))
                + &u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path().to_owned(),
        ),
        None => (url.to_owned(), "/".to_owned()),
    };
    let mut config = telltale_http::HttpConfig::new(base, "telltale-up");
    config.set_timeout(Duration::from_secs(2));
    Probe {
        http: config.build().ok(),
        path,
    }
}

impl Probe {
    async fn await_ok(&self) -> bool {
        let Some(http) = &self.http else { return false };
        matches!(
            http.exchange(telltale_http::Method::Get, &self.path, &[], None, &[]).await,
            Ok(a) if a.status == 200
        )
    }
}

/// What `up` found and started.
pub(crate) struct Stack {
    _running: Vec<Running>,
    /// The stack description.
    pub(crate) stack_file: PathBuf,
    /// Parts not found, with how to get them.
    pub(crate) missing: Vec<(String, String)>,
}

/// Starts every part found, writes the configs and `stack.toml` under `dir`.
pub(crate) async fn up(dir: &Path) -> Result<Stack> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolve {}", dir.display()))?;
    let ports = Ports::pick()?;
    let closed = free_port()?;
    let found: Vec<(Part, Option<PathBuf>)> = Part::ALL.iter().map(|&p| (p, find(p))).collect();
    let has = |part: Part| found.iter().any(|(p, b)| *p == part && b.is_some());
    let bin = |part: Part| {
        found
            .iter()
            .find(|(p, _)| *p == part)
            .and_then(|(_, b)| b.clone())
    };
    let mut missing: Vec<(String, String)> = found
        .iter()
        .filter(|(_, b)| b.is_none())
        .map(|(p, _)| (p.name().to_owned(), p.how_to_get().to_owned()))
        .collect();
    let glitchtip_url = std::env::var("GLITCHTIP_URL").ok();
    let glitchtip_token = std::env::var("GLITCHTIP_TOKEN_FILE").ok();
    if glitchtip_url.is_none() {
        missing.push((
            "glitchtip".into(),
            "GlitchTip is not started by `up`: set GLITCHTIP_URL (and GLITCHTIP_TOKEN_FILE, a file with an API token) to a running one, e.g. nixpkgs' services.glitchtip or the telltale-testkit container".into(),
        ));
    }
    let journald = Path::new("/run/systemd/journal/socket").exists();

    let password = dir.join("grafana-admin-password");
    if !password.exists() {
        // Local and throwaway, but still never on a command line.
        std::fs::write(&password, format!("tt-{}\n", crate_run_id()))?;
    }

    let mut running: Vec<Running> = Vec::new();
    if let Some(b) = bin(Part::NodeExporter) {
        let mut r = spawn(
            Part::NodeExporter,
            &b,
            &[format!(
                "--web.listen-address=127.0.0.1:{}",
                ports.node_exporter
            )],
            &dir,
        )?;
        ready(
            &mut r,
            &format!("http://127.0.0.1:{}/metrics", ports.node_exporter),
        )
        .await?;
        running.push(r);
    }
    if let Some(b) = bin(Part::Loki) {
        std::fs::write(dir.join("loki.yaml"), loki_config(&dir, ports))?;
        let mut r = spawn(
            Part::Loki,
            &b,
            &[format!("-config.file={}", dir.join("loki.yaml").display())],
            &dir,
        )?;
        ready(&mut r, &format!("http://127.0.0.1:{}/ready", ports.loki)).await?;
        running.push(r);
    }
    if let Some(b) = bin(Part::Prometheus) {
        std::fs::write(
            dir.join("prometheus.yml"),
            prometheus_config(ports, has(Part::NodeExporter), has(Part::Alloy)),
        )?;
        let mut r = spawn(
            Part::Prometheus,
            &b,
            &[
                format!("--config.file={}", dir.join("prometheus.yml").display()),
                format!("--storage.tsdb.path={}", dir.join("prometheus").display()),
                "--storage.tsdb.retention.time=90d".into(),
                format!("--web.listen-address=127.0.0.1:{}", ports.prometheus),
                // Alloy's OTLP metrics arrive by remote write, as on meridian.
                "--web.enable-remote-write-receiver".into(),
            ],
            &dir,
        )?;
        ready(
            &mut r,
            &format!("http://127.0.0.1:{}/-/ready", ports.prometheus),
        )
        .await?;
        running.push(r);
    }
    if let Some(b) = bin(Part::Alloy) {
        std::fs::write(
            dir.join("config.alloy"),
            alloy_config(ports, journald, "local"),
        )?;
        let mut r = spawn(
            Part::Alloy,
            &b,
            &[
                "run".into(),
                format!("--server.http.listen-addr=127.0.0.1:{}", ports.alloy),
                format!("--storage.path={}", dir.join("alloy").display()),
                dir.join("config.alloy").display().to_string(),
            ],
            &dir,
        )?;
        ready(&mut r, &format!("http://127.0.0.1:{}/-/ready", ports.alloy)).await?;
        running.push(r);
    }
    if let Some(b) = bin(Part::Grafana) {
        let prov = dir.join("grafana-provisioning");
        std::fs::create_dir_all(prov.join("datasources"))?;
        std::fs::write(
            prov.join("datasources/telltale.yaml"),
            grafana_datasources(ports),
        )?;
        let ini = dir.join("grafana.ini");
        std::fs::write(
            &ini,
            format!(
                "[server]\nhttp_addr = 127.0.0.1\nhttp_port = {}\n[paths]\ndata = {}\nprovisioning = {}\n[auth.anonymous]\nenabled = false\n[security]\nadmin_user = admin\nadmin_password = $__file{{{}}}\n[analytics]\nreporting_enabled = false\ncheck_for_updates = false\n",
                ports.grafana,
                dir.join("grafana").display(),
                prov.display(),
                password.display()
            ),
        )?;
        let server_args: Vec<String> = if b.file_name().is_some_and(|n| n == "grafana") {
            vec!["server".into()]
        } else {
            Vec::new()
        };
        let mut args = server_args;
        args.push(format!("--config={}", ini.display()));
        let mut r = spawn(Part::Grafana, &b, &args, &dir)?;
        ready(
            &mut r,
            &format!("http://127.0.0.1:{}/api/health", ports.grafana),
        )
        .await?;
        running.push(r);
    }

    let started: Vec<Part> = running.iter().map(|r| r.part).collect();
    let stack_file = dir.join("stack.toml");
    std::fs::write(
        &stack_file,
        stack_toml(
            ports,
            closed,
            &started,
            &password,
            glitchtip_url
                .as_deref()
                .map(|u| (u, glitchtip_token.as_deref())),
        ),
    )?;
    Ok(Stack {
        _running: running,
        stack_file,
        missing,
    })
}

fn crate_run_id() -> String {
    telltale::scenario::new_run_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Ports {
        Ports {
            loki: 3100,
            loki_grpc: 9095,
            prometheus: 9090,
            node_exporter: 9100,
            alloy: 12345,
            alloy_otlp_grpc: 4317,
            alloy_otlp_http: 4318,
            alloy_faro: 12347,
            grafana: 3000,
        }
    }

    #[test]
    fn the_stack_description_points_missing_parts_at_a_closed_port() {
        let text = stack_toml(
            ports(),
            1,
            &[Part::Prometheus, Part::NodeExporter],
            Path::new("/tmp/pw"),
            None,
        );
        let stack = telltale::stack::Stack::from_toml(&text).unwrap();
        assert_eq!(stack.prometheus.port, 9090);
        assert_eq!(
            (
                stack.loki.port,
                stack.grafana.port,
                stack.alloy.otlp_http_port
            ),
            (1, 1, 1)
        );
        assert_eq!(stack.scrape.jobs, vec!["node".to_owned()]);
        assert_eq!(stack.glitchtip.url.as_deref(), Some("http://127.0.0.1:1"));
    }

    #[test]
    fn configs_carry_the_module_settings() {
        let loki = loki_config(Path::new("/d"), ports());
        assert!(
            loki.contains("retention_period: 720h") && loki.contains("retention_enabled: true")
        );
        assert!(loki.contains("http_listen_address: 127.0.0.1"));
        let alloy = alloy_config(ports(), true, "meridian");
        assert!(alloy.contains("source = \"pwa-faro\""));
        assert!(alloy.contains("target_label  = \"service_unit\""));
        assert!(!alloy_config(ports(), false, "x").contains("loki.source.journal"));
        let prom = prometheus_config(ports(), true, false);
        assert!(prom.contains("job_name: node") && !prom.contains("job_name: alloy"));
        assert!(grafana_datasources(ports()).contains("type: loki"));
    }
}
