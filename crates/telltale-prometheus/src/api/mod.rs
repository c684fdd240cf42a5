//! The Prometheus HTTP API v1 client: queries, metadata, targets, rules, status, health and the
//! admin snapshot, against Prometheus 2.x and 3.x and compatible servers (Mimir,
//! VictoriaMetrics, Grafana Cloud).

mod types;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use telltale_http::{Answer, Auth, Body, Http, HttpConfig, Method, RetryPolicy, Secret};

pub use self::types::{
    parse_duration, ActiveTarget, Alert, BuildInfo, DroppedTarget, HeadStats, Health,
    HistogramSample, InstantSeries, MetricMetadata, NameValue, QueryData, RangeSeries, Response,
    Rule, RuleGroup, RuntimeInfo, Sample, TargetMetadata, Targets, TsdbStatus,
};
use crate::error::{ApiError, ApiErrorType};
use crate::Error;

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    http: HttpConfig,
    retry: RetryPolicy,
}

impl ClientBuilder {
    /// Replaces the base URL, keeping every other setting.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.http.set_base_url(base_url);
        self
    }

    /// Authenticates every request.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.http.set_auth(auth);
        self
    }

    /// Sends `X-Scope-OrgID: <tenant>`, as Mimir and Cortex require.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.http.add_header("x-scope-orgid", tenant);
        self
    }

    /// Trusts the CA certificates in this PEM file, besides the Mozilla roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.http.add_ca_file(path);
        self
    }

    /// Sends an extra header on every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http.add_header(name, value);
        self
    }

    /// The deadline for one HTTP exchange. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// How failed requests are retried: 429, 502, 503, 504, timeouts and transport errors.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        Ok(Client {
            inner: Arc::new(Inner {
                http: self.http.build()?,
                retry: self.retry,
            }),
        })
    }
}

/// A Prometheus API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: Http,
    retry: RetryPolicy,
}

/// Options shared by `query` and `query_range`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Server-side evaluation timeout.
    pub timeout: Option<Duration>,
    /// Maximum series returned (Prometheus 2.54 and later; older servers ignore it).
    pub limit: Option<u64>,
    /// Send the query as a form-encoded POST instead of a GET, for long expressions.
    pub post: bool,
}

/// Which targets `targets` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetState {
    /// Active and dropped.
    #[default]
    Any,
    /// Active only.
    Active,
    /// Dropped only.
    Dropped,
}

/// A time as Prometheus' API takes it: Unix seconds with a fraction.
fn unix_seconds(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => format!("{}.{:03}", d.as_secs(), d.subsec_millis()),
        Err(e) => format!("-{}", e.duration().as_secs_f64()),
    }
}

fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

impl Client {
    /// Starts configuring a client for the server at `base_url`, e.g. `http://127.0.0.1:9090`.
    /// A path prefix is kept (`https://host/prometheus` calls `…/prometheus/api/v1/…`), which is
    /// how Mimir (`/prometheus`) and VictoriaMetrics cluster (`/select/0/prometheus`) are reached.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            http: HttpConfig::new(
                base_url,
                concat!("telltale-prometheus/", env!("CARGO_PKG_VERSION")),
            ),
            retry: RetryPolicy::default(),
        }
    }

    /// A client with default settings.
    pub fn new(base_url: impl Into<String>) -> Result<Client, Error> {
        Client::builder(base_url).build()
    }

    /// Configures a client from `PROMETHEUS_URL`, or `None` when it is unset.
    ///
    /// Also reads `PROMETHEUS_USERNAME` with `PROMETHEUS_PASSWORD_FILE` or `PROMETHEUS_PASSWORD`;
    /// `PROMETHEUS_BEARER_TOKEN_FILE` or `PROMETHEUS_BEARER_TOKEN`; `PROMETHEUS_TENANT`;
    /// `PROMETHEUS_CA_CERT_PATH`.
    pub fn builder_from_env() -> Result<Option<ClientBuilder>, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(url) = var("PROMETHEUS_URL") else {
            return Ok(None);
        };
        let mut builder = Client::builder(url);
        if let Some(username) = var("PROMETHEUS_USERNAME") {
            let password = match var("PROMETHEUS_PASSWORD_FILE") {
                Some(path) => Secret::from_file(path)?,
                None => Secret::from_env("PROMETHEUS_PASSWORD")?,
            };
            builder = builder.auth(Auth::Basic { username, password });
        } else if let Some(path) = var("PROMETHEUS_BEARER_TOKEN_FILE") {
            builder = builder.auth(Auth::Bearer(Secret::from_file(path)?));
        } else if var("PROMETHEUS_BEARER_TOKEN").is_some() {
            builder = builder.auth(Auth::Bearer(Secret::from_env("PROMETHEUS_BEARER_TOKEN")?));
        }
        if let Some(tenant) = var("PROMETHEUS_TENANT") {
            builder = builder.tenant(tenant);
        }
        if let Some(ca) = var("PROMETHEUS_CA_CERT_PATH") {
            builder = builder.ca_file(ca);
        }
        Ok(Some(builder))
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        self.inner.http.base_url()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        post_form: bool,
    ) -> Result<Answer, Error> {
        let form;
        let (query, body) = if post_form {
            form = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            let body = Body {
                bytes: form.as_bytes(),
                content_type: "application/x-www-form-urlencoded",
                content_encoding: None,
            };
            (&[][..], Some(body))
        } else {
            (params, None)
        };
        let method = if post_form { Method::Post } else { method };
        self.exchange_retried(method, path, query, body, &[]).await
    }

    /// One exchange under the client's retry policy: a 2xx is the answer; 429 and 5xx are
    /// retried (honouring `Retry-After`), anything else is an [`Error::Api`] with the server's
    /// words.
    async fn exchange_retried(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body<'_>>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, Error> {
        let hint = |err: &Error| {
            err.is_retryable()
                .then(|| err.api().and_then(ApiError::retry_after))
        };
        let mut attempts = 0;
        self.inner
            .retry
            .run(
                &mut attempts,
                || async {
                    let answer = self
                        .inner
                        .http
                        .exchange(method, path, query, body, headers)
                        .await?;
                    if answer.is_success() {
                        Ok(answer)
                    } else {
                        Err(Error::Api(api_error(path, &answer)))
                    }
                },
                hint,
            )
            .await
    }

    /// `POST path` (`/api/v1/write` on Prometheus and VictoriaMetrics, `/api/v1/push` on Mimir):
    /// remote-write 1.0, a snappy-compressed `WriteRequest`. A 2xx means the receiver took every
    /// sample; 429 and 5xx are retried as the spec asks, any other answer is an [`Error::Api`]
    /// with the receiver's words (Prometheus answers 400 for out-of-order or duplicate samples).
    pub async fn remote_write(
        &self,
        path: &str,
        series: &[crate::remote_write::WriteSeries],
    ) -> Result<(), Error> {
        use crate::remote_write::{encode_snappy, CONTENT_ENCODING, CONTENT_TYPE, VERSION_HEADER};
        let bytes = encode_snappy(series);
        let body = Body {
            bytes: &bytes,
            content_type: CONTENT_TYPE,
            content_encoding: Some(CONTENT_ENCODING),
        };
        self.exchange_retried(Method::Post, path, &[], Some(body), &[VERSION_HEADER])
            .await
            .map(|_| ())
    }

    /// Reads `series` back through `query` (a range selector per series at the last sample's
    /// time, which returns raw samples) and accounts for every sample written: found exactly,
    /// with another value, missing, or read back without having been written.
    pub async fn read_back(
        &self,
        series: &[crate::remote_write::WriteSeries],
    ) -> Result<crate::remote_write::ReadBack, Error> {
        use crate::remote_write::{selector, ReadBack};
        let mut out = ReadBack::default();
        for s in series {
            let (Some(first), Some(last)) = (
                s.samples.iter().map(|x| x.timestamp_ms).min(),
                s.samples.iter().map(|x| x.timestamp_ms).max(),
            ) else {
                continue;
            };
            let window_ms = last - first + 1000;
            let query = format!("{}[{window_ms}ms]", selector(s));
            let at = UNIX_EPOCH + Duration::from_millis(last.max(0) as u64);
            let res = self
                .query(&query, Some(at), &QueryOptions::default())
                .await?;
            let mut want: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            want.sort();
            let read: Vec<(i64, f64)> = res
                .data
                .matrix()
                .unwrap_or_default()
                .iter()
                .filter(|r| {
                    let mut got: Vec<(&str, &str)> = r
                        .metric
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    got.sort();
                    got == want
                })
                .flat_map(|r| {
                    r.values
                        .iter()
                        .map(|v| ((v.time * 1000.0).round() as i64, v.value))
                })
                .collect();
            ReadBack::compare(s, &read, &mut out);
        }
        Ok(out)
    }

    /// Calls an API endpoint and unwraps Prometheus' envelope.
    async fn api<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        post_form: bool,
    ) -> Result<Response<T>, Error> {
        let answer = self.call(method, path, params, post_form).await?;
        decode_envelope(path, &answer.body)
    }

    /// `GET|POST /api/v1/query`: an instant query at `time` (the server's now when `None`).
    pub async fn query(
        &self,
        expr: &str,
        time: Option<SystemTime>,
        options: &QueryOptions,
    ) -> Result<Response<QueryData>, Error> {
        let mut params = vec![("query", expr.to_owned())];
        if let Some(t) = time {
            params.push(("time", unix_seconds(t)));
        }
        push_query_options(&mut params, options);
        self.query_data("/api/v1/query", &params, options.post)
            .await
    }

    /// `GET|POST /api/v1/query_range`.
    pub async fn query_range(
        &self,
        expr: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
        options: &QueryOptions,
    ) -> Result<Response<QueryData>, Error> {
        let mut params = vec![
            ("query", expr.to_owned()),
            ("start", unix_seconds(start)),
            ("end", unix_seconds(end)),
            ("step", seconds(step)),
        ];
        push_query_options(&mut params, options);
        self.query_data("/api/v1/query_range", &params, options.post)
            .await
    }

    async fn query_data(
        &self,
        path: &str,
        params: &[(&str, String)],
        post: bool,
    ) -> Result<Response<QueryData>, Error> {
        let raw: Response<types::WireQueryData> = self.api(Method::Get, path, params, post).await?;
        let data = types::decode_query_data(raw.data)
            .map_err(|reason| Error::decode(path, reason, b""))?;
        Ok(Response {
            data,
            warnings: raw.warnings,
            infos: raw.infos,
        })
    }

    /// `POST /api/v1/series`: series matching any of the selectors.
    pub async fn series(
        &self,
        matchers: &[&str],
        start: Option<SystemTime>,
        end: Option<SystemTime>,
    ) -> Result<Vec<BTreeMap<String, String>>, Error> {
        if matchers.is_empty() {
            return Err(Error::Config {
                reason: "series needs at least one match[] selector".into(),
                source: None,
            });
        }
        let params = range_params(matchers, start, end);
        Ok(self
            .api(Method::Post, "/api/v1/series", &params, true)
            .await?
            .data)
    }

    /// `GET /api/v1/labels`.
    pub async fn labels(
        &self,
        matchers: &[&str],
        start: Option<SystemTime>,
        end: Option<SystemTime>,
    ) -> Result<Vec<String>, Error> {
        let params = range_params(matchers, start, end);
        Ok(self
            .api::<Option<Vec<String>>>(Method::Get, "/api/v1/labels", &params, false)
            .await?
            .data
            .unwrap_or_default())
    }

    /// `GET /api/v1/label/<name>/values`.
    pub async fn label_values(
        &self,
        name: &str,
        matchers: &[&str],
        start: Option<SystemTime>,
        end: Option<SystemTime>,
    ) -> Result<Vec<String>, Error> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::Config {
                reason: format!("label name {name:?} cannot form a path segment"),
                source: None,
            });
        }
        let params = range_params(matchers, start, end);
        let path = format!("/api/v1/label/{name}/values");
        Ok(self
            .api::<Option<Vec<String>>>(Method::Get, &path, &params, false)
            .await?
            .data
            .unwrap_or_default())
    }

    /// `GET /api/v1/metadata`: metadata per metric name, optionally for one metric.
    pub async fn metadata(
        &self,
        metric: Option<&str>,
        limit: Option<u64>,
    ) -> Result<BTreeMap<String, Vec<MetricMetadata>>, Error> {
        let mut params = Vec::new();
        if let Some(m) = metric {
            params.push(("metric", m.to_owned()));
        }
        if let Some(l) = limit {
            params.push(("limit", l.to_string()));
        }
        Ok(self
            .api(Method::Get, "/api/v1/metadata", &params, false)
            .await?
            .data)
    }

    /// `GET /api/v1/targets/metadata`.
    pub async fn targets_metadata(
        &self,
        match_target: Option<&str>,
        metric: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<TargetMetadata>, Error> {
        let mut params = Vec::new();
        if let Some(t) = match_target {
            params.push(("match_target", t.to_owned()));
        }
        if let Some(m) = metric {
            params.push(("metric", m.to_owned()));
        }
        if let Some(l) = limit {
            params.push(("limit", l.to_string()));
        }
        Ok(self
            .api(Method::Get, "/api/v1/targets/metadata", &params, false)
            .await?
            .data)
    }

    /// `GET /api/v1/targets`.
    pub async fn targets(&self, state: TargetState) -> Result<Targets, Error> {
        let state = match state {
            TargetState::Any => "any",
            TargetState::Active => "active",
            TargetState::Dropped => "dropped",
        };
        Ok(self
            .api(
                Method::Get,
                "/api/v1/targets",
                &[("state", state.to_owned())],
                false,
            )
            .await?
            .data)
    }

    /// `GET /api/v1/rules`.
    pub async fn rules(&self) -> Result<Vec<RuleGroup>, Error> {
        #[derive(Deserialize)]
        struct Groups {
            groups: Vec<RuleGroup>,
        }
        Ok(self
            .api::<Groups>(Method::Get, "/api/v1/rules", &[], false)
            .await?
            .data
            .groups)
    }

    /// `GET /api/v1/alerts`.
    pub async fn alerts(&self) -> Result<Vec<Alert>, Error> {
        #[derive(Deserialize)]
        struct Alerts {
            alerts: Vec<Alert>,
        }
        Ok(self
            .api::<Alerts>(Method::Get, "/api/v1/alerts", &[], false)
            .await?
            .data
            .alerts)
    }

    /// `GET /api/v1/status/flags`: every command-line flag and its value.
    pub async fn flags(&self) -> Result<BTreeMap<String, String>, Error> {
        Ok(self
            .api(Method::Get, "/api/v1/status/flags", &[], false)
            .await?
            .data)
    }

    /// `GET /api/v1/status/runtimeinfo`.
    pub async fn runtime_info(&self) -> Result<RuntimeInfo, Error> {
        Ok(self
            .api(Method::Get, "/api/v1/status/runtimeinfo", &[], false)
            .await?
            .data)
    }

    /// `GET /api/v1/status/buildinfo`.
    pub async fn build_info(&self) -> Result<BuildInfo, Error> {
        Ok(self
            .api(Method::Get, "/api/v1/status/buildinfo", &[], false)
            .await?
            .data)
    }

    /// `GET /api/v1/status/tsdb`.
    pub async fn tsdb_status(&self) -> Result<TsdbStatus, Error> {
        Ok(self
            .api(Method::Get, "/api/v1/status/tsdb", &[], false)
            .await?
            .data)
    }

    /// The configured time retention, read from the `storage.tsdb.retention.time` flag and,
    /// when that is unset (`0s`), from `runtimeinfo`'s `storageRetention`.
    pub async fn retention(&self) -> Result<Option<Duration>, Error> {
        let flags = self.flags().await?;
        if let Some(d) = flags
            .get("storage.tsdb.retention.time")
            .and_then(|v| types::parse_duration(v))
            .filter(|d| !d.is_zero())
        {
            return Ok(Some(d));
        }
        Ok(self.runtime_info().await?.retention_time())
    }

    /// `GET /-/ready`: `Ok(true)` once the server serves queries, `Ok(false)` while it starts.
    pub async fn ready(&self) -> Result<bool, Error> {
        self.probe("/-/ready").await
    }

    /// `GET /-/healthy`.
    pub async fn healthy(&self) -> Result<bool, Error> {
        self.probe("/-/healthy").await
    }

    async fn probe(&self, path: &str) -> Result<bool, Error> {
        let answer = self
            .inner
            .http
            .exchange(Method::Get, path, &[], None, &[])
            .await?;
        Ok(answer.status == 200)
    }

    /// Polls `/-/ready` until the server is ready or `deadline` passes.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<(), Error> {
        let started = std::time::Instant::now();
        loop {
            let last = match self.ready().await {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(err) => Some(err),
            };
            if started.elapsed() >= deadline {
                return Err(last.unwrap_or(Error::Timeout {
                    endpoint: "/-/ready".into(),
                    timeout: deadline,
                }));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `POST /api/v1/admin/tsdb/snapshot` (needs `--web.enable-admin-api`): returns the
    /// snapshot's directory name under `<data dir>/snapshots/`.
    pub async fn snapshot(&self, skip_head: bool) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Snapshot {
            name: String,
        }
        let params = [("skip_head", skip_head.to_string())];
        Ok(self
            .api::<Snapshot>(Method::Post, "/api/v1/admin/tsdb/snapshot", &params, true)
            .await?
            .data
            .name)
    }
}

fn push_query_options(params: &mut Vec<(&'static str, String)>, options: &QueryOptions) {
    if let Some(t) = options.timeout {
        params.push(("timeout", seconds(t)));
    }
    if let Some(l) = options.limit {
        params.push(("limit", l.to_string()));
    }
}

fn range_params(
    matchers: &[&str],
    start: Option<SystemTime>,
    end: Option<SystemTime>,
) -> Vec<(&'static str, String)> {
    let mut params: Vec<(&str, String)> = matchers
        .iter()
        .map(|m| ("match[]", (*m).to_owned()))
        .collect();
    if let Some(s) = start {
        params.push(("start", unix_seconds(s)));
    }
    if let Some(e) = end {
        params.push(("end", unix_seconds(e)));
    }
    params
}

/// Reads an error answer: Prometheus' envelope when it is one, the raw text otherwise.
fn api_error(path: &str, answer: &Answer) -> ApiError {
    let envelope: Option<Envelope<serde_json::Value>> = serde_json::from_slice(&answer.body).ok();
    let (error_type, message) = match envelope {
        Some(env) if env.status == "error" => (
            env.error_type
                .as_deref()
                .map(ApiErrorType::parse)
                .unwrap_or(ApiErrorType::Other),
            env.error.unwrap_or_default(),
        ),
        _ => (
            ApiErrorType::NotPrometheus,
            String::from_utf8_lossy(&answer.body).trim().to_owned(),
        ),
    };
    ApiError {
        status: answer.status,
        endpoint: path.to_owned(),
        error_type,
        message,
        retry_after: answer.retry_after,
    }
}

/// Decodes a 2xx body as Prometheus' envelope around `T`.
fn decode_envelope<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<Response<T>, Error> {
    let env: Envelope<serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| Error::decode(path, format!("not Prometheus' JSON envelope: {e}"), body))?;
    if env.status != "success" {
        return Err(Error::Api(ApiError {
            status: 200,
            endpoint: path.to_owned(),
            error_type: env
                .error_type
                .as_deref()
                .map(ApiErrorType::parse)
                .unwrap_or(ApiErrorType::Other),
            message: env.error.unwrap_or_default(),
            retry_after: None,
        }));
    }
    let data = env.data.unwrap_or(serde_json::Value::Null);
    let data = serde_json::from_value(data).map_err(|e| {
        Error::decode(
            path,
            format!("data is not in the documented shape: {e}"),
            body,
        )
    })?;
    Ok(Response {
        data,
        warnings: env.warnings,
        infos: env.infos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
            content_type: None,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn api_errors_are_typed_and_proxy_pages_are_kept() {
        let e = api_error(
            "/api/v1/query",
            &answer(
                400,
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#,
            ),
        );
        assert_eq!((e.status(), e.error_type()), (400, ApiErrorType::BadData));
        assert!(e.message().contains("parse error"));
        let e = api_error(
            "/api/v1/query",
            &answer(502, "<html><body>Bad Gateway</body></html>"),
        );
        assert_eq!(e.error_type(), ApiErrorType::NotPrometheus);
        assert!(e.message().contains("Bad Gateway") && e.is_retryable());
    }

    #[test]
    fn envelope_with_warnings_and_infos() {
        let r: Response<Vec<String>> = decode_envelope(
            "/x",
            br#"{"status":"success","data":["a"],"warnings":["w"],"infos":["i"]}"#,
        )
        .unwrap();
        assert_eq!(
            (r.data, r.warnings, r.infos),
            (
                vec!["a".to_owned()],
                vec!["w".to_owned()],
                vec!["i".to_owned()]
            )
        );
        let err = decode_envelope::<Vec<String>>("/x", b"<html>oops</html>").unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err}");
        let err = decode_envelope::<Vec<String>>(
            "/x",
            br#"{"status":"success","data":{"not":"a list"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("documented shape"), "{err}");
    }

    #[test]
    fn times_are_unix_seconds() {
        assert_eq!(
            unix_seconds(UNIX_EPOCH + Duration::from_millis(1_500)),
            "1.500"
        );
        assert_eq!(seconds(Duration::from_secs(15)), "15");
    }
}
