//! Real servers the scenario tests start themselves, each on a free loopback port and stopped
//! when the test ends: Prometheus with a chosen retention and scrape jobs, Loki with a chosen
//! retention, and a throwaway systemd user manager that holds test units.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use telltale_testsupport::{free_port, skip, TempDir};

/// A server process and its base URL; killed on drop.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port.
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `bin` and waits until `GET ready` on `port` answers 200.
    pub fn start(bin: &Path, args: &[String], log: PathBuf, port: u16, ready: &str) -> Server {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        let server = Server {
            url: format!("http://127.0.0.1:{port}"),
            port,
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_status(port, ready) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "{} never answered 200 on {ready}:\n{}",
                bin.display(),
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }
}

/// The status of `GET path` on 127.0.0.1:port, or `None` without an answer.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Prometheus kept for `retention` (e.g. `90d`), scraping itself as job `prometheus` plus
/// `jobs` (job name, `host:port` targets), every second.
pub fn prometheus_with_jobs(
    bin: &Path,
    dir: &TempDir,
    retention: &str,
    jobs: &[(&str, Vec<String>)],
) -> Server {
    let port = free_port();
    let mut config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    );
    for (job, targets) in jobs {
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: [{list}]\n"
        ));
    }
    let tag = format!("prometheus-{port}");
    let conf = dir.0.join(format!("{tag}.yml"));
    std::fs::write(&conf, config).unwrap();
    let args = vec![
        format!("--config.file={}", conf.display()),
        format!("--storage.tsdb.path={}", dir.0.join(&tag).display()),
        format!("--storage.tsdb.retention.time={retention}"),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    Server::start(
        bin,
        &args,
        dir.0.join(format!("{tag}.log")),
        port,
        "/-/ready",
    )
}

/// Prometheus with the remote-write receiver on, evaluating `rules` (a rule file's YAML) every
/// second and sending alerts to the Alertmanager on `alertmanager_port`.
pub fn prometheus_alerting(
    bin: &Path,
    dir: &TempDir,
    rules: &str,
    alertmanager_port: u16,
) -> Server {
    let port = free_port();
    let tag = format!("prometheus-{port}");
    let rule_file = dir.0.join(format!("{tag}-rules.yml"));
    std::fs::write(&rule_file, rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 1s\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{alertmanager_port}']\n",
        rule_file.display()
    );
    let conf = dir.0.join(format!("{tag}.yml"));
    std::fs::write(&conf, config).unwrap();
    let args = vec![
        format!("--config.file={}", conf.display()),
        format!("--storage.tsdb.path={}", dir.0.join(&tag).display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".into(),
    ];
    Server::start(
        bin,
        &args,
        dir.0.join(format!("{tag}.log")),
        port,
        "/-/ready",
    )
}

/// Alertmanager on `port` with `config` (YAML), gossip off, its state in `dir`.
pub fn alertmanager(bin: &Path, dir: &TempDir, port: u16, config: &str) -> Server {
    let tag = format!("alertmanager-{port}");
    let conf = dir.0.join(format!("{tag}.yml"));
    std::fs::write(&conf, config).unwrap();
    let args = vec![
        format!("--config.file={}", conf.display()),
        format!("--storage.path={}", dir.0.join(&tag).display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--cluster.listen-address=".into(),
    ];
    Server::start(
        bin,
        &args,
        dir.0.join(format!("{tag}.log")),
        port,
        "/-/ready",
    )
}

/// Prometheus kept for `retention`, scraping only itself.
/// VictoriaMetrics single-node (`VICTORIA_METRICS_BIN`; `.ci/unstable-tools.sh` fetches it) with
/// its remote-write receiver at `/api/v1/write` and the Prometheus query API, fresh samples
/// visible at once (`-search.latencyOffset=0s`); `None` after one `skipped:` line naming `test`.
pub fn victoria_metrics(test: &str, dir: &TempDir, extra: &[String]) -> Option<Server> {
    let Some(bin) =
        telltale_testsupport::find_binary("VICTORIA_METRICS_BIN", Some("victoria-metrics"))
    else {
        skip(&format!(
            "{test} against VictoriaMetrics (set VICTORIA_METRICS_BIN; .ci/unstable-tools.sh fetches it)"
        ));
        return None;
    };
    let port = free_port();
    let mut args = vec![
        format!("-httpListenAddr=127.0.0.1:{port}"),
        format!("-storageDataPath={}", dir.0.join("vm-data").display()),
        "-search.latencyOffset=0s".into(),
        "-search.disableCache".into(),
    ];
    args.extend_from_slice(extra);
    Some(Server::start(
        &bin,
        &args,
        dir.0.join("vm.log"),
        port,
        "/health",
    ))
}

pub fn prometheus(bin: &Path, dir: &TempDir, retention: &str) -> Server {
    prometheus_with_jobs(bin, dir, retention, &[])
}

/// The configuration of a single-binary Loki on loopback: filesystem store, in-memory ring,
/// ready at once, the compactor enforcing retention, and `limits` (YAML lines) under
/// `limits_config`. The query frontend is pinned to loopback: by default it advertises the
/// first interface's address while gRPC listens on 127.0.0.1 only, and every query hangs.
pub fn loki_config(http: u16, grpc: u16, data: &Path, limits: &[&str]) -> String {
    let d = data.display();
    let limits: String = limits.iter().map(|l| format!("  {l}\n")).collect();
    format!(
        "auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  log_level: warn
common:
  path_prefix: {d}
  replication_factor: 1
  ring:
    instance_addr: 127.0.0.1
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: {d}/chunks
      rules_directory: {d}/rules
ingester:
  lifecycler:
    min_ready_duration: 0s
    final_sleep: 0s
frontend:
  address: 127.0.0.1
schema_config:
  configs:
    - from: \"2024-01-01\"
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  allow_structured_metadata: true
{limits}compactor:
  working_directory: {d}/compactor
  retention_enabled: true
  delete_request_store: filesystem
analytics:
  reporting_enabled: false
"
    )
}

/// A single-binary Loki whose compactor enforces `retention_period` (e.g. `168h`).
pub fn loki(bin: &Path, dir: &TempDir, retention_period: &str) -> Server {
    let (port, grpc) = (free_port(), free_port());
    let data = dir.0.join(format!("loki-{port}"));
    let config = loki_config(
        port,
        grpc,
        &data,
        &[&format!("retention_period: {retention_period}")],
    );
    let conf = dir.0.join(format!("loki-{port}.yaml"));
    std::fs::write(&conf, config).unwrap();
    let args = vec![format!("-config.file={}", conf.display())];
    Server::start(
        bin,
        &args,
        dir.0.join(format!("loki-{port}.log")),
        port,
        "/ready",
    )
}

/// A `systemd --user` manager in a private mount namespace (a tmpfs over `/run` holds the
/// `/run/systemd/system` it wants, so the host is untouched), with its units in a temp dir.
pub struct UserManager {
    child: Child,
    /// Its folder: `rt/` (XDG_RUNTIME_DIR), `config/systemd/user/` (units), free room besides.
    pub dir: PathBuf,
    _tmp: TempDir,
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a user manager, or prints a `skipped:` line and returns `None` where it cannot run
/// (not root, no systemd); with `TELLTALE_SYSTEMD_REQUIRED=1` that is a failure instead.
pub fn user_manager(test: &str) -> Option<UserManager> {
    let missing = if !is_root() {
        Some("not root (a private mount namespace needs it)")
    } else if !Path::new("/lib/systemd/systemd").exists() {
        Some("no /lib/systemd/systemd (apt install systemd)")
    } else {
        None
    };
    if let Some(reason) = missing {
        if std::env::var_os("TELLTALE_SYSTEMD_REQUIRED").is_some_and(|v| v == "1") {
            panic!("{test}: a systemd user manager is required (TELLTALE_SYSTEMD_REQUIRED=1) but {reason}");
        }
        skip(&format!(
            "{test}: needs a throwaway systemd user manager: {reason} (set TELLTALE_SYSTEMD_REQUIRED=1 to fail instead)"
        ));
        return None;
    }
    let tmp = TempDir::new("user-manager");
    let dir = tmp.0.clone();
    let rt = dir.join("rt");
    let units = dir.join("config/systemd/user");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    std::fs::create_dir_all(&rt).unwrap();
    std::fs::set_permissions(&rt, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // A target of its own, so the manager starts none of the host's user units.
    std::fs::write(
        units.join("telltale.target"),
        "[Unit]\nDescription=telltale tests\n",
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("manager.log")).unwrap();
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec /lib/systemd/systemd --user --unit=telltale.target")
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", dir.join("home"))
        .env("XDG_RUNTIME_DIR", &rt)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("unshare runs");
    let manager = UserManager {
        child,
        dir,
        _tmp: tmp,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rt.join("systemd/private").exists() {
        assert!(
            Instant::now() < deadline,
            "the user manager never opened its socket:\n{}",
            std::fs::read_to_string(manager.dir.join("manager.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(manager)
}

impl UserManager {
    /// What `telltale` needs to ask this manager: `TELLTALE_SYSTEMCTL` and its runtime dir.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("TELLTALE_SYSTEMCTL".into(), "systemctl --user".into()),
            (
                "XDG_RUNTIME_DIR".into(),
                self.dir.join("rt").display().to_string(),
            ),
        ]
    }

    /// Writes a unit and reloads the manager.
    pub fn unit(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join("config/systemd/user").join(name), text).unwrap();
        assert!(self.systemctl(&["daemon-reload"]), "daemon-reload failed");
    }

    /// Runs `systemctl --user ARGS` against this manager; whether it succeeded.
    pub fn systemctl(&self, args: &[&str]) -> bool {
        Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", self.dir.join("rt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A private PostgreSQL cluster (Debian's `postgresql` package: `initdb` on `PATH`,
/// `INITDB_BIN`, or `/usr/lib/postgresql/*/bin`), listening only on a Unix socket in its temp
/// dir, trust auth, superuser `postgres`; run as the `postgres` user when the test is root.
pub struct Postgres {
    pg_ctl: PathBuf,
    data: PathBuf,
    as_user: Option<String>,
    /// The socket directory.
    pub socket_dir: PathBuf,
    _tmp: TempDir,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command(&self.pg_ctl)
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Starts a private cluster, or prints a `skipped:` line and returns `None` where PostgreSQL
/// is not installed; with `TELLTALE_POSTGRES_REQUIRED=1` that is a failure instead.
pub fn postgres(test: &str) -> Option<Postgres> {
    let initdb = telltale_testsupport::find_binary("INITDB_BIN", Some("initdb")).or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin/initdb"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    });
    let as_user = is_root().then(|| "postgres".to_owned());
    let missing = match &initdb {
        None => Some("no initdb (apt install postgresql)".to_owned()),
        Some(_) if as_user.is_some() && !user_exists("postgres") => {
            Some("no postgres user to run the cluster as (apt install postgresql)".to_owned())
        }
        Some(_) => None,
    };
    if let Some(reason) = missing {
        if std::env::var_os("TELLTALE_POSTGRES_REQUIRED").is_some_and(|v| v == "1") {
            panic!("{test}: PostgreSQL is required (TELLTALE_POSTGRES_REQUIRED=1) but {reason}");
        }
        skip(&format!(
            "{test}: needs a private PostgreSQL cluster: {reason}"
        ));
        return None;
    }
    let initdb = initdb.unwrap();
    // Debian's /usr/bin/initdb may be a wrapper; pg_ctl is the real one beside the real initdb.
    let bin = std::fs::canonicalize(&initdb).unwrap();
    let pg_ctl = bin.with_file_name("pg_ctl");
    let tmp = TempDir::new("postgres");
    let data = tmp.0.join("data");
    if let Some(user) = &as_user {
        let ok = Command::new("chown")
            .arg(format!("{user}:"))
            .arg(&tmp.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown of the cluster dir failed");
    }
    let pg = Postgres {
        pg_ctl,
        data: data.clone(),
        as_user,
        socket_dir: tmp.0.clone(),
        _tmp: tmp,
    };
    let out = pg
        .command(&bin)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pg
        .command(&pg.pg_ctl)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(pg.socket_dir.join("postgres.log"))
        .arg("-o")
        .arg(format!(
            "-k {} -c listen_addresses='' -c fsync=off",
            pg.socket_dir.display()
        ))
        .args(["-w", "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(pg.socket_dir.join("postgres.log")).unwrap_or_default()
    );
    Some(pg)
}

impl Postgres {
    fn command(&self, program: &Path) -> Command {
        match &self.as_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// A libpq connection string for `db`.
    pub fn conn(&self, db: &str) -> String {
        format!(
            "host={} user=postgres dbname={db}",
            self.socket_dir.display()
        )
    }

    /// Runs `sql` in `db` with psql and returns its unaligned output; panics on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.conn(db),
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
