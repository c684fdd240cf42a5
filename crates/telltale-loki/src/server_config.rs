//! A typed view of Loki's `/config`: the retention and limits settings a harness checks.
//!
//! `/config` prints durations in Prometheus' form (`30d`, `30d1h`, `2h0m0s`, `1w`) and sizes in
//! base-2 units (`256KB` = 262144 bytes), as recorded in `fixtures/loki/config.yaml`.

use std::time::Duration;

use serde::Deserialize;

use crate::{Client, Error};
use telltale_http::Method;

/// The settings of a running Loki that decide what it keeps and what it refuses.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `target` (e.g. `all` for the single binary).
    pub target: String,
    /// `compactor.retention_enabled`: without it `retention_period` is not enforced.
    pub compactor_retention_enabled: bool,
    /// `compactor.delete_request_store`, required by Loki 3 when retention is on.
    pub delete_request_store: Option<String>,
    /// `compactor.compaction_interval`.
    pub compaction_interval: Option<Duration>,
    /// `compactor.retention_delete_delay`.
    pub retention_delete_delay: Option<Duration>,
    /// `limits_config.retention_period` (zero means "keep forever").
    pub retention_period: Duration,
    /// `limits_config.retention_stream`: per-selector overrides.
    pub retention_streams: Vec<StreamRetention>,
    /// The ingest and query limits.
    pub limits: Limits,
}

/// One `retention_stream` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRetention {
    /// The stream selector.
    pub selector: String,
    /// Rule priority.
    pub priority: i64,
    /// Retention for matching streams.
    pub period: Duration,
}

/// `limits_config` values that decide what a push or query may do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// `ingestion_rate_mb`, MiB per second.
    pub ingestion_rate_mb: f64,
    /// `ingestion_burst_size_mb`, MiB.
    pub ingestion_burst_size_mb: f64,
    /// `max_line_size`, bytes (0 means no limit).
    pub max_line_size: u64,
    /// `max_label_names_per_series`.
    pub max_label_names_per_series: u64,
    /// `max_label_name_length`.
    pub max_label_name_length: u64,
    /// `max_label_value_length`.
    pub max_label_value_length: u64,
    /// `reject_old_samples`.
    pub reject_old_samples: bool,
    /// `reject_old_samples_max_age`.
    pub reject_old_samples_max_age: Duration,
    /// `creation_grace_period`.
    pub creation_grace_period: Duration,
    /// `max_entries_limit_per_query`.
    pub max_entries_limit_per_query: u64,
    /// `max_query_length`.
    pub max_query_length: Duration,
    /// `allow_structured_metadata`.
    pub allow_structured_metadata: bool,
    /// `volume_enabled`.
    pub volume_enabled: bool,
    /// `max_global_streams_per_user`.
    pub max_global_streams_per_user: u64,
}

impl ServerConfig {
    /// The retention Loki actually enforces: the period when the compactor applies retention and
    /// the period is non-zero, else `None` (data is kept forever).
    pub fn enforced_retention(&self) -> Option<Duration> {
        (self.compactor_retention_enabled && !self.retention_period.is_zero())
            .then_some(self.retention_period)
    }

    /// Parses the YAML `/config` returns.
    pub fn parse(yaml: &str) -> Result<ServerConfig, Error> {
        let raw: Raw = serde_yaml_ng::from_str(yaml).map_err(|e| {
            Error::decode(
                "/config",
                format!("not Loki's config YAML: {e}"),
                yaml.as_bytes(),
            )
        })?;
        let bad = |field: &str, value: &str| {
            Error::decode(
                "/config",
                format!("{field} has an unreadable value {value:?}"),
                yaml.as_bytes(),
            )
        };
        let dur = |field: &str, value: &Option<String>| -> Result<Option<Duration>, Error> {
            value
                .as_deref()
                .map(|v| parse_duration(v).ok_or_else(|| bad(field, v)))
                .transpose()
        };
        let req_dur = |field: &str, value: &Option<String>| -> Result<Duration, Error> {
            Ok(dur(field, value)?.unwrap_or_default())
        };
        let l = raw.limits_config;
        let limits = Limits {
            ingestion_rate_mb: l.ingestion_rate_mb.unwrap_or_default(),
            ingestion_burst_size_mb: l.ingestion_burst_size_mb.unwrap_or_default(),
            max_line_size: l
                .max_line_size
                .as_deref()
                .map(|v| parse_size(v).ok_or_else(|| bad("max_line_size", v)))
                .transpose()?
                .unwrap_or(0),
            max_label_names_per_series: l.max_label_names_per_series.unwrap_or_default(),
            max_label_name_length: l.max_label_name_length.unwrap_or_default(),
            max_label_value_length: l.max_label_value_length.unwrap_or_default(),
            reject_old_samples: l.reject_old_samples.unwrap_or_default(),
            reject_old_samples_max_age: req_dur(
                "reject_old_samples_max_age",
                &l.reject_old_samples_max_age,
            )?,
            creation_grace_period: req_dur("creation_grace_period", &l.creation_grace_period)?,
            max_entries_limit_per_query: l.max_entries_limit_per_query.unwrap_or_default(),
            max_query_length: req_dur("max_query_length", &l.max_query_length)?,
            allow_structured_metadata: l.allow_structured_metadata.unwrap_or_default(),
            volume_enabled: l.volume_enabled.unwrap_or_default(),
            max_global_streams_per_user: l.max_global_streams_per_user.unwrap_or_default(),
        };
        let retention_streams = l
            .retention_stream
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                Ok(StreamRetention {
                    selector: r.selector,
                    priority: r.priority,
                    period: req_dur("retention_stream.period", &Some(r.period))?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(ServerConfig {
            target: raw.target.unwrap_or_default(),
            compactor_retention_enabled: raw.compactor.retention_enabled.unwrap_or_default(),
            delete_request_store: raw.compactor.delete_request_store.filter(|s| !s.is_empty()),
            compaction_interval: dur("compaction_interval", &raw.compactor.compaction_interval)?,
            retention_delete_delay: dur(
                "retention_delete_delay",
                &raw.compactor.retention_delete_delay,
            )?,
            retention_period: req_dur("retention_period", &l.retention_period)?,
            retention_streams,
            limits,
        })
    }
}

#[derive(Deserialize)]
struct Raw {
    target: Option<String>,
    #[serde(default)]
    compactor: RawCompactor,
    #[serde(default)]
    limits_config: RawLimits,
}

#[derive(Deserialize, Default)]
struct RawCompactor {
    retention_enabled: Option<bool>,
    delete_request_store: Option<String>,
    compaction_interval: Option<String>,
    retention_delete_delay: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawLimits {
    ingestion_rate_mb: Option<f64>,
    ingestion_burst_size_mb: Option<f64>,
    max_line_size: Option<String>,
    max_label_names_per_series: Option<u64>,
    max_label_name_length: Option<u64>,
    max_label_value_length: Option<u64>,
    reject_old_samples: Option<bool>,
    reject_old_samples_max_age: Option<String>,
    creation_grace_period: Option<String>,
    max_entries_limit_per_query: Option<u64>,
    max_query_length: Option<String>,
    allow_structured_metadata: Option<bool>,
    volume_enabled: Option<bool>,
    max_global_streams_per_user: Option<u64>,
    retention_period: Option<String>,
    retention_stream: Option<Vec<RawStreamRetention>>,
}

#[derive(Deserialize)]
struct RawStreamRetention {
    selector: String,
    #[serde(default)]
    priority: i64,
    period: String,
}

/// Parses Prometheus-style durations: `30d1h`, `2h0m0s`, `1w`, `1.5h`, `500ms`, `0`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "y" => 365.0 * 86_400.0,
            "w" => 7.0 * 86_400.0,
            "d" => 86_400.0,
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * unit;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

/// Parses base-2 sizes as Loki prints them (`256KB`, `3MB`, `1536KB`, `5MiB`, `0B`, `100`).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let value: f64 = text[..split].parse().ok()?;
    let mult: f64 = match text[split..].trim() {
        "" | "B" => 1.0,
        "KB" | "KiB" | "K" => 1024.0,
        "MB" | "MiB" | "M" => 1024.0 * 1024.0,
        "GB" | "GiB" | "G" => 1024.0 * 1024.0 * 1024.0,
        "TB" | "TiB" | "T" => 1024f64.powi(4),
        _ => return None,
    };
    Some((value * mult) as u64)
}

impl Client {
    /// `GET /config`, parsed into the settings that matter for retention and limits.
    pub async fn server_config(&self) -> Result<ServerConfig, Error> {
        let answer = self.call(Method::Get, "/config", &[], None, &[]).await?;
        let text = String::from_utf8(answer.body)
            .map_err(|e| Error::decode("/config", "not UTF-8", e.as_bytes()))?;
        ServerConfig::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30d1h"),
            Some(Duration::from_secs(30 * 86_400 + 3600))
        );
        assert_eq!(parse_duration("2h0m0s"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1w"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256KB"), Some(262_144));
        assert_eq!(parse_size("3MB"), Some(3 * 1024 * 1024));
        assert_eq!(parse_size("0B"), Some(0));
        assert_eq!(parse_size("12 parsecs"), None);
    }

    #[test]
    fn retention_needs_the_compactor() {
        let yaml = "target: all\ncompactor:\n  retention_enabled: false\nlimits_config:\n  retention_period: 30d\n";
        let cfg = ServerConfig::parse(yaml).unwrap();
        assert_eq!(cfg.retention_period, Duration::from_secs(30 * 86_400));
        assert_eq!(cfg.enforced_retention(), None);
    }
}
