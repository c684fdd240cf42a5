//! Typed shapes of the Prometheus HTTP API v1 answers (`docs/querying/api.md` in
//! prometheus/prometheus), shared by Prometheus 2.x, 3.x and compatible servers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// A successful answer: the data plus any warnings and infos the server attached.
#[derive(Debug, Clone, PartialEq)]
pub struct Response<T> {
    /// The `data` field.
    pub data: T,
    /// `warnings`: the answer may be incomplete or imprecise.
    pub warnings: Vec<String>,
    /// `infos` (Prometheus 3): notes about the query, such as a counter-looking name used with `rate`.
    pub infos: Vec<String>,
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix time in seconds (millisecond precision).
    pub time: f64,
    /// The value; NaN and ±Inf are possible, since Prometheus sends values as strings.
    pub value: f64,
}

/// One native-histogram sample.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    /// Unix time in seconds.
    pub time: f64,
    /// Observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Buckets as `(boundary rule, lower, upper, count)`; the rule is 0 for open-left, 1 for
    /// open-right, 2 for open both, 3 for closed both.
    pub buckets: Vec<(u8, f64, f64, f64)>,
}

/// A labelled series with one sample, from an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSeries {
    /// The series labels, `__name__` included when the result keeps it.
    pub metric: BTreeMap<String, String>,
    /// The float sample, unless the series holds a native histogram.
    pub sample: Option<Sample>,
    /// The native-histogram sample, if any.
    pub histogram: Option<HistogramSample>,
}

/// A labelled series with samples over time, from a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series labels.
    pub metric: BTreeMap<String, String>,
    /// Float samples in time order.
    pub values: Vec<Sample>,
    /// Native-histogram samples in time order.
    pub histograms: Vec<HistogramSample>,
}

/// The `result` of a query, by `resultType`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryData {
    /// `vector`.
    Vector(Vec<InstantSeries>),
    /// `matrix`.
    Matrix(Vec<RangeSeries>),
    /// `scalar`.
    Scalar(Sample),
    /// `string`: time and text.
    String(f64, String),
}

impl QueryData {
    /// The series of a vector result.
    pub fn vector(&self) -> Option<&[InstantSeries]> {
        match self {
            QueryData::Vector(v) => Some(v),
            _ => None,
        }
    }

    /// The series of a matrix result.
    pub fn matrix(&self) -> Option<&[RangeSeries]> {
        match self {
            QueryData::Matrix(m) => Some(m),
            _ => None,
        }
    }
}

/// `GET /api/v1/targets` data.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Targets {
    /// Targets being scraped.
    #[serde(default)]
    pub active_targets: Vec<ActiveTarget>,
    /// Targets dropped by relabelling.
    #[serde(default)]
    pub dropped_targets: Vec<DroppedTarget>,
}

/// Health of a target's last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
    /// Not scraped yet.
    Unknown,
}

/// An active target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ActiveTarget {
    /// Labels before relabelling.
    #[serde(default)]
    pub discovered_labels: BTreeMap<String, String>,
    /// Labels after relabelling.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The scrape pool (job).
    #[serde(default)]
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// The last scrape's error, empty when it succeeded.
    #[serde(default)]
    pub last_error: String,
    /// When it was last scraped (RFC 3339).
    #[serde(default)]
    pub last_scrape: String,
    /// How long the last scrape took, in seconds.
    #[serde(default)]
    pub last_scrape_duration: f64,
    /// The last scrape's health.
    pub health: Health,
    /// The scrape interval, e.g. `15s` (Prometheus 2.28 and later).
    #[serde(default)]
    pub scrape_interval: Option<String>,
    /// The scrape timeout (Prometheus 2.28 and later).
    #[serde(default)]
    pub scrape_timeout: Option<String>,
}

/// A dropped target.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DroppedTarget {
    /// Labels before relabelling.
    #[serde(default)]
    pub discovered_labels: BTreeMap<String, String>,
}

/// Metadata of one metric, from `/api/v1/metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The HELP text.
    #[serde(default)]
    pub help: String,
    /// The unit, if declared.
    #[serde(default)]
    pub unit: String,
}

/// Metadata of a metric as one target exposes it, from `/api/v1/targets/metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TargetMetadata {
    /// The target's labels.
    #[serde(default)]
    pub target: BTreeMap<String, String>,
    /// The metric name (absent when the query named one).
    #[serde(default)]
    pub metric: Option<String>,
    /// `counter`, `gauge`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The HELP text.
    #[serde(default)]
    pub help: String,
    /// The unit.
    #[serde(default)]
    pub unit: String,
}

/// A rule group, from `/api/v1/rules`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// The rule file it came from.
    #[serde(default)]
    pub file: String,
    /// Evaluation interval in seconds.
    #[serde(default)]
    pub interval: f64,
    /// Its rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Rule {
    /// Rule name (alert name or recorded series name).
    pub name: String,
    /// The PromQL expression.
    pub query: String,
    /// `alerting` or `recording`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `ok`, `err` or `unknown`.
    #[serde(default)]
    pub health: String,
    /// The last evaluation error, if any.
    #[serde(default)]
    pub last_error: Option<String>,
    /// For alerting rules: `inactive`, `pending` or `firing`.
    #[serde(default)]
    pub state: Option<String>,
    /// Rule labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// For alerting rules: the active alerts.
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// An active alert, from `/api/v1/alerts` or inside a rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Alert {
    /// Alert labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `pending` or `firing`.
    pub state: String,
    /// When it became active (RFC 3339).
    #[serde(default)]
    pub active_at: Option<String>,
    /// The value of the expression that fired it, as text.
    #[serde(default)]
    pub value: String,
}

/// `/api/v1/status/runtimeinfo` data.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuntimeInfo {
    /// Start time (RFC 3339).
    #[serde(default)]
    pub start_time: String,
    /// Working directory.
    #[serde(default, rename = "CWD")]
    pub cwd: String,
    /// Whether the last config reload succeeded.
    #[serde(default)]
    pub reload_config_success: bool,
    /// When the config was last loaded.
    #[serde(default)]
    pub last_config_time: String,
    /// Head series count.
    #[serde(default)]
    pub time_series_count: i64,
    /// TSDB corruptions seen.
    #[serde(default)]
    pub corruption_count: i64,
    /// Goroutines.
    #[serde(default)]
    pub goroutine_count: i64,
    /// `GOMAXPROCS`.
    #[serde(default, rename = "GOMAXPROCS")]
    pub gomaxprocs: i64,
    /// `GOGC`.
    #[serde(default, rename = "GOGC")]
    pub gogc: String,
    /// `GODEBUG`.
    #[serde(default, rename = "GODEBUG")]
    pub godebug: String,
    /// Retention as Prometheus describes it: `90d`, `10GiB`, or `90d or 10GiB`.
    #[serde(default)]
    pub storage_retention: String,
}

impl RuntimeInfo {
    /// The time-based part of `storageRetention`, if there is one.
    pub fn retention_time(&self) -> Option<Duration> {
        self.storage_retention
            .split(" or ")
            .find_map(|part| parse_duration(part.trim()))
    }
}

/// `/api/v1/status/buildinfo` data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct BuildInfo {
    /// Version, e.g. `2.42.0`.
    pub version: String,
    /// Git revision.
    pub revision: String,
    /// Git branch.
    pub branch: String,
    /// Who built it.
    pub build_user: String,
    /// When.
    pub build_date: String,
    /// Go version.
    pub go_version: String,
}

impl BuildInfo {
    /// The major version, e.g. 2 or 3, when the version string starts with one.
    pub fn major(&self) -> Option<u32> {
        self.version
            .trim_start_matches('v')
            .split('.')
            .next()?
            .parse()
            .ok()
    }
}

/// `/api/v1/status/tsdb` data.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct TsdbStatus {
    /// Head block statistics.
    pub head_stats: HeadStats,
    /// Series per metric name (top 10 by default).
    pub series_count_by_metric_name: Vec<NameValue>,
    /// Distinct values per label name.
    pub label_value_count_by_label_name: Vec<NameValue>,
    /// Memory per label name.
    pub memory_in_bytes_by_label_name: Vec<NameValue>,
    /// Series per label pair.
    pub series_count_by_label_value_pair: Vec<NameValue>,
}

/// Head block statistics.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct HeadStats {
    /// Series in the head.
    pub num_series: u64,
    /// Label pairs in the head.
    pub num_label_pairs: u64,
    /// Chunks in the head.
    pub chunk_count: u64,
    /// Earliest sample (ms).
    pub min_time: i64,
    /// Latest sample (ms).
    pub max_time: i64,
}

/// A `{name, value}` pair of the TSDB status lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct NameValue {
    /// The name.
    pub name: String,
    /// The count.
    pub value: u64,
}

/// Parses Prometheus durations: `90d`, `15d`, `1h30m`, `2w`, `1y`, `500ms`; `None` when
/// malformed.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u128;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms: u128 = match &rest[..unit_len] {
            "y" => 365 * 86_400_000,
            "w" => 7 * 86_400_000,
            "d" => 86_400_000,
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1000,
            "ms" => 1,
            _ => return None,
        };
        total += n * ms;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_millis(u64::try_from(total).ok()?))
}

// Wire helpers, private: values arrive as `[<number>, "<string>"]`.

#[derive(Deserialize)]
pub(crate) struct WireQueryData {
    #[serde(rename = "resultType")]
    pub(crate) result_type: String,
    pub(crate) result: serde_json::Value,
}

#[derive(Deserialize)]
struct WireInstant {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<WireSample>,
    #[serde(default)]
    histogram: Option<WireHistogramSample>,
}

#[derive(Deserialize)]
struct WireRange {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<WireSample>,
    #[serde(default)]
    histograms: Vec<WireHistogramSample>,
}

struct WireSample(Sample);

impl<'de> Deserialize<'de> for WireSample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (time, value): (f64, String) = Deserialize::deserialize(d)?;
        Ok(WireSample(Sample {
            time,
            value: parse_value(&value).map_err(de::Error::custom)?,
        }))
    }
}

struct WireHistogramSample(HistogramSample);

#[derive(Deserialize)]
struct WireHistogram {
    count: String,
    sum: String,
    #[serde(default)]
    buckets: Vec<(u8, String, String, String)>,
}

impl<'de> Deserialize<'de> for WireHistogramSample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (time, h): (f64, WireHistogram) = Deserialize::deserialize(d)?;
        let num = |s: &str| parse_value(s).map_err(de::Error::custom);
        let buckets = h
            .buckets
            .iter()
            .map(|(rule, lo, hi, n)| Ok((*rule, num(lo)?, num(hi)?, num(n)?)))
            .collect::<Result<Vec<_>, D::Error>>()?;
        Ok(WireHistogramSample(HistogramSample {
            time,
            count: num(&h.count)?,
            sum: num(&h.sum)?,
            buckets,
        }))
    }
}

/// Parses a sample value as Prometheus writes it (`NaN`, `+Inf`, `-Inf`, decimal).
pub(crate) fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other
            .parse()
            .map_err(|_| format!("sample value {other:?} is not a number")),
    }
}

pub(crate) fn decode_query_data(data: WireQueryData) -> Result<QueryData, String> {
    let bad = |e: serde_json::Error| e.to_string();
    Ok(match data.result_type.as_str() {
        "vector" => {
            let series: Vec<WireInstant> = serde_json::from_value(data.result).map_err(bad)?;
            QueryData::Vector(
                series
                    .into_iter()
                    .map(|s| InstantSeries {
                        metric: s.metric,
                        sample: s.value.map(|v| v.0),
                        histogram: s.histogram.map(|h| h.0),
                    })
                    .collect(),
            )
        }
        "matrix" => {
            let series: Vec<WireRange> = serde_json::from_value(data.result).map_err(bad)?;
            QueryData::Matrix(
                series
                    .into_iter()
                    .map(|s| RangeSeries {
                        metric: s.metric,
                        values: s.values.into_iter().map(|v| v.0).collect(),
                        histograms: s.histograms.into_iter().map(|h| h.0).collect(),
                    })
                    .collect(),
            )
        }
        "scalar" => QueryData::Scalar(
            serde_json::from_value::<WireSample>(data.result)
                .map_err(bad)?
                .0,
        ),
        "string" => {
            let (t, s): (f64, String) = serde_json::from_value(data.result).map_err(bad)?;
            QueryData::String(t, s)
        }
        other => return Err(format!("unknown resultType {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("90d"),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10GiB"), None);
        let info = RuntimeInfo {
            storage_retention: "90d or 10GiB".into(),
            ..RuntimeInfo::default()
        };
        assert_eq!(
            info.retention_time(),
            Some(Duration::from_secs(90 * 86_400))
        );
    }

    #[test]
    fn decodes_every_result_type() {
        let v: WireQueryData = serde_json::from_str(r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"x"},"value":[1.5,"1"]},{"metric":{},"value":[1.5,"NaN"]}]}"#).unwrap();
        let QueryData::Vector(v) = decode_query_data(v).unwrap() else {
            panic!("vector")
        };
        assert_eq!(
            v[0].sample,
            Some(Sample {
                time: 1.5,
                value: 1.0
            })
        );
        assert!(v[1].sample.unwrap().value.is_nan());
        let m: WireQueryData = serde_json::from_str(r#"{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"-Inf"],[2,"3.5"]]}]}"#).unwrap();
        let QueryData::Matrix(m) = decode_query_data(m).unwrap() else {
            panic!("matrix")
        };
        assert_eq!(
            m[0].values[1],
            Sample {
                time: 2.0,
                value: 3.5
            }
        );
        let s: WireQueryData =
            serde_json::from_str(r#"{"resultType":"scalar","result":[3,"+Inf"]}"#).unwrap();
        assert_eq!(
            decode_query_data(s).unwrap(),
            QueryData::Scalar(Sample {
                time: 3.0,
                value: f64::INFINITY
            })
        );
        let h: WireQueryData = serde_json::from_str(r#"{"resultType":"vector","result":[{"metric":{},"histogram":[4,{"count":"3","sum":"6","buckets":[[0,"1","2","3"]]}]}]}"#).unwrap();
        let QueryData::Vector(h) = decode_query_data(h).unwrap() else {
            panic!("vector")
        };
        assert_eq!(
            h[0].histogram.as_ref().unwrap().buckets,
            vec![(0, 1.0, 2.0, 3.0)]
        );
        let bad: WireQueryData = serde_json::from_str(
            r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}"#,
        )
        .unwrap();
        assert!(decode_query_data(bad).unwrap_err().contains("\"x\""));
    }
}
