//! The configuration files each container is given, rendered as text so unit tests can check
//! them without an engine. Shapes follow the NixOS module's: Loki single binary on the
//! filesystem with a TSDB index, one tenant and a compactor enforcing retention.

use std::fmt::Write as _;
use std::time::Duration;

use crate::plan::{Names, ScrapeTarget};

/// The name containers use for the machine running the test (Docker's `host-gateway`).
pub(crate) const HOST_GATEWAY_NAME: &str = "host.docker.internal";

/// Ports inside the containers, as the images and `STACK.md` have them.
pub(crate) mod port {
    pub(crate) const LOKI: u16 = 3100;
    pub(crate) const PROMETHEUS: u16 = 9090;
    pub(crate) const GRAFANA: u16 = 3000;
    pub(crate) const ALLOY_ADMIN: u16 = 12345;
    pub(crate) const ALLOY_OTLP_GRPC: u16 = 4317;
    pub(crate) const ALLOY_OTLP_HTTP: u16 = 4318;
    pub(crate) const ALLOY_FARO: u16 = 12347;
    pub(crate) const GLITCHTIP: u16 = 8000;
    pub(crate) const POSTGRES: u16 = 5432;
    pub(crate) const REDIS: u16 = 6379;
}

/// Loki's config: `auth_enabled: false`, filesystem chunks, TSDB v13 index, in-memory ring,
/// and the compactor deleting after `retention_days`.
pub(crate) fn loki(retention_days: u32) -> String {
    format!(
        r#"# Rendered by telltale-testkit: the NixOS module's shape, in a container.
auth_enabled: false
server:
  http_listen_port: {http}
  grpc_listen_port: 9096
  log_level: info
common:
  instance_addr: 127.0.0.1
  path_prefix: /loki
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: /loki/chunks
      rules_directory: /loki/rules
schema_config:
  configs:
    - from: "2024-01-01"
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
storage_config:
  tsdb_shipper:
    active_index_directory: /loki/tsdb-index
    cache_location: /loki/tsdb-cache
compactor:
  working_directory: /loki/compactor
  compaction_interval: 10m
  retention_enabled: true
  retention_delete_delay: 2h
  delete_request_store: filesystem
limits_config:
  retention_period: {hours}h
  allow_structured_metadata: true
  volume_enabled: true
analytics:
  reporting_enabled: false
"#,
        http = port::LOKI,
        hours = u64::from(retention_days) * 24,
    )
}

/// Prometheus's config: itself, each host target through the host gateway, and Alloy's
/// self-metrics when Alloy runs.
pub(crate) fn prometheus(
    names: &Names,
    interval: Duration,
    targets: &[ScrapeTarget],
    alloy: bool,
) -> String {
    let interval = format!("{}s", interval.as_secs().max(1));
    let mut out = format!(
        "# Rendered by telltale-testkit.\nglobal:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [\"localhost:{}\"]\n",
        port::PROMETHEUS
    );
    for target in targets {
        let _ = write!(
            out,
            "  - job_name: {job:?}\n    metrics_path: {path:?}\n    static_configs:\n      - targets: [\"{HOST_GATEWAY_NAME}:{port}\"]\n",
            job = target.job,
            path = target.path,
            port = target.port,
        );
    }
    if alloy {
        let _ = write!(
            out,
            "  - job_name: alloy\n    static_configs:\n      - targets: [\"{}:{}\"]\n",
            names.alloy,
            port::ALLOY_ADMIN
        );
    }
    out
}

/// The command line Prometheus runs with: retention as meridian's, and the remote-write
/// receiver Alloy's OTLP metrics arrive through.
pub(crate) fn prometheus_args(retention_days: u32) -> Vec<String> {
    vec![
        "--config.file=/etc/prometheus/telltale.yml".into(),
        "--storage.tsdb.path=/prometheus".into(),
        format!("--storage.tsdb.retention.time={retention_days}d"),
        "--web.enable-remote-write-receiver".into(),
        "--web.enable-lifecycle".into(),
    ]
}

/// Alloy's pipelines without journald (a container has none): OTLP logs to Loki, OTLP metrics
/// to Prometheus when it runs (dropped otherwise), traces accepted and dropped, Faro to Loki
/// labelled `source=pwa-faro`.
pub(crate) fn alloy(names: &Names, prometheus: bool) -> String {
    let mut out = String::from("// Rendered by telltale-testkit: meridian's pipelines 2 and 3; a container has no journald.\n");
    let metrics = if prometheus {
        "    metrics = [otelcol.exporter.prometheus.default.input]\n"
    } else {
        ""
    };
    let _ = write!(
        out,
        r#"
otelcol.receiver.otlp "default" {{
  grpc {{
    endpoint = "0.0.0.0:{grpc}"
  }}
  http {{
    endpoint = "0.0.0.0:{http}"
  }}
  output {{
    logs    = [otelcol.exporter.loki.default.input]
{metrics}  }}
}}

otelcol.exporter.loki "default" {{
  forward_to = [loki.write.default.receiver]
}}

faro.receiver "default" {{
  server {{
    listen_address       = "0.0.0.0"
    listen_port          = {faro}
    cors_allowed_origins = ["*"]
  }}
  extra_log_labels = {{
    source = "pwa-faro",
  }}
  output {{
    logs = [loki.write.default.receiver]
  }}
}}

loki.write "default" {{
  endpoint {{
    url = "http://{loki}:{loki_port}/loki/api/v1/push"
  }}
}}
"#,
        grpc = port::ALLOY_OTLP_GRPC,
        http = port::ALLOY_OTLP_HTTP,
        faro = port::ALLOY_FARO,
        loki = names.loki,
        loki_port = port::LOKI,
    );
    if prometheus {
        let _ = write!(
            out,
            r#"
otelcol.exporter.prometheus "default" {{
  forward_to = [prometheus.remote_write.default.receiver]
}}

prometheus.remote_write "default" {{
  endpoint {{
    url = "http://{prom}:{prom_port}/api/v1/write"
  }}
}}
"#,
            prom = names.prometheus,
            prom_port = port::PROMETHEUS,
        );
    }
    out
}

/// The command line Alloy runs with.
pub(crate) fn alloy_args() -> Vec<String> {
    vec![
        "run".into(),
        format!("--server.http.listen-addr=0.0.0.0:{}", port::ALLOY_ADMIN),
        "--storage.path=/var/lib/alloy/data".into(),
        "/etc/alloy/telltale.alloy".into(),
    ]
}

/// Grafana's datasource provisioning: Loki and Prometheus from config, never from the UI,
/// each only when it runs.
pub(crate) fn grafana_datasources(names: &Names, loki: bool, prometheus: bool) -> String {
    let mut out = String::from("# Rendered by telltale-testkit.\napiVersion: 1\ndatasources:");
    if !loki && !prometheus {
        out.push_str(" []\n");
        return out;
    }
    out.push('\n');
    if prometheus {
        let _ = write!(
            out,
            "  - name: Prometheus\n    type: prometheus\n    uid: prometheus\n    access: proxy\n    url: http://{}:{}\n    isDefault: true\n    editable: false\n",
            names.prometheus,
            port::PROMETHEUS
        );
    }
    if loki {
        let _ = write!(
            out,
            "  - name: Loki\n    type: loki\n    uid: loki\n    access: proxy\n    url: http://{}:{}\n    isDefault: {}\n    editable: false\n",
            names.loki,
            port::LOKI,
            !prometheus
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names::new("r1")
    }

    #[test]
    fn loki_is_single_tenant_tsdb_on_the_filesystem_with_compactor_retention() {
        let text = loki(30);
        for needle in [
            "auth_enabled: false",
            "store: tsdb",
            "object_store: filesystem",
            "schema: v13",
            "retention_enabled: true",
            "retention_period: 720h",
            "delete_request_store: filesystem",
            "http_listen_port: 3100",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert!(!text.contains('\t'), "YAML must not hold tabs");
    }

    #[test]
    fn prometheus_scrapes_the_host_app_through_the_gateway() {
        let targets = [ScrapeTarget {
            job: "be-platform".into(),
            port: 8000,
            path: "/metrics".into(),
        }];
        let text = prometheus(&names(), Duration::from_secs(5), &targets, true);
        assert!(text.contains("scrape_interval: 5s"), "{text}");
        assert!(text.contains("job_name: \"be-platform\""), "{text}");
        assert!(text.contains("metrics_path: \"/metrics\""), "{text}");
        assert!(
            text.contains("targets: [\"host.docker.internal:8000\"]"),
            "{text}"
        );
        assert!(text.contains("job_name: alloy"), "{text}");
        assert!(text.contains("telltale-r1-alloy:12345"), "{text}");
        let without = prometheus(&names(), Duration::from_millis(10), &[], false);
        assert!(without.contains("scrape_interval: 1s"), "{without}");
        assert!(!without.contains("alloy"), "{without}");
        assert!(prometheus_args(90).contains(&"--storage.tsdb.retention.time=90d".to_owned()));
        assert!(prometheus_args(90).contains(&"--web.enable-remote-write-receiver".to_owned()));
    }

    #[test]
    fn alloy_sends_otlp_and_faro_to_the_loki_container() {
        let text = alloy(&names(), true);
        assert!(
            text.contains("url = \"http://telltale-r1-loki:3100/loki/api/v1/push\""),
            "{text}"
        );
        assert!(text.contains("endpoint = \"0.0.0.0:4318\""), "{text}");
        assert!(text.contains("endpoint = \"0.0.0.0:4317\""), "{text}");
        assert!(text.contains("listen_port          = 12347"), "{text}");
        assert!(text.contains("source = \"pwa-faro\""), "{text}");
        assert!(
            text.contains("url = \"http://telltale-r1-prometheus:9090/api/v1/write\""),
            "{text}"
        );
        assert!(
            !text.contains("traces"),
            "traces are accepted and dropped: {text}"
        );
        assert!(!text.contains("loki.source.journal"), "{text}");
        let alone = alloy(&names(), false);
        assert!(!alone.contains("prometheus"), "{alone}");
        assert_eq!(
            alone.matches('{').count(),
            alone.matches('}').count(),
            "{alone}"
        );
        assert_eq!(
            text.matches('{').count(),
            text.matches('}').count(),
            "{text}"
        );
        assert_eq!(alloy_args()[3], "/etc/alloy/telltale.alloy");
    }

    #[test]
    fn grafana_provisions_what_runs() {
        let both = grafana_datasources(&names(), true, true);
        assert!(both.contains("url: http://telltale-r1-loki:3100"), "{both}");
        assert!(
            both.contains("url: http://telltale-r1-prometheus:9090"),
            "{both}"
        );
        assert_eq!(both.matches("isDefault: true").count(), 1, "{both}");
        let loki_only = grafana_datasources(&names(), true, false);
        assert!(loki_only.contains("type: loki") && loki_only.contains("isDefault: true"));
        assert!(!loki_only.contains("prometheus"), "{loki_only}");
        assert!(grafana_datasources(&names(), false, false).ends_with("datasources: []\n"));
    }
}
