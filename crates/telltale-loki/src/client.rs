//! The HTTP client: configuration, TLS, auth and tenant headers, timeouts and retries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::{Auth, Secret};
use crate::encode::PushEncoding;
use crate::error::{ApiError, BoxError};
use crate::labels::LabelLimits;
use crate::Error;

/// How failed requests are retried.
///
/// Only retryable failures are retried: 429, 5xx (but not Loki's oversize 500), timeouts and
/// transport errors. The wait before attempt `n` is drawn uniformly from
/// `[0, min(max_backoff, initial_backoff * 2^n)]` ("full jitter"), and is at least the server's
/// `Retry-After` when it sent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. 1 disables retries.
    pub max_attempts: u32,
    /// The backoff ceiling for the first retry.
    pub initial_backoff: Duration,
    /// The backoff ceiling for any retry.
    pub max_backoff: Duration,
    /// Give up once this much time has passed since the first attempt, or when the next wait
    /// (including a `Retry-After`) would end past it.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (0-based), given the server's `Retry-After`.
    pub(crate) fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let jitter = ceiling.mul_f64(fastrand::f64());
        match retry_after {
            Some(after) => after.max(jitter),
            None => jitter,
        }
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    auth: Option<Auth>,
    tenant: Option<String>,
    ca_files: Vec<PathBuf>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    encoding: PushEncoding,
    label_limits: LabelLimits,
    max_line_size: Option<usize>,
}

impl ClientBuilder {
    /// Replaces the base URL, keeping every other setting.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Authenticate every request (push, query and tail).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Send `X-Scope-OrgID: <tenant>` on every request, as multi-tenant Lokis require.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Trust the CA certificates in this PEM file, besides the Mozilla roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Send an extra header on every request (e.g. a proxy's access token name and value).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The deadline for one HTTP exchange, body included. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline for establishing a connection. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How failed requests are retried.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The push body encoding. Default protobuf + snappy.
    pub fn encoding(mut self, encoding: PushEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Limits checked on structured-metadata names and values, and used by
    /// [`LabelSet::with_limits`](crate::LabelSet::with_limits) callers that mirror the server.
    pub fn label_limits(mut self, limits: LabelLimits) -> Self {
        self.label_limits = limits;
        self
    }

    /// Refuse lines longer than this many bytes before sending them, as Loki's
    /// `max_line_size` would (default 256 KiB). `None` sends every line and lets Loki decide.
    pub fn max_line_size(mut self, max: Option<usize>) -> Self {
        self.max_line_size = max;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let base = url::Url::parse(&self.base_url).map_err(|e| Error::Config {
            reason: format!("invalid base URL {:?}", self.base_url),
            source: Some(Box::new(e)),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::config(format!(
                "base URL {:?} must be http or https",
                self.base_url
            )));
        }
        let tls = Arc::new(tls_config(&self.ca_files)?);
        let mut headers = reqwest::header::HeaderMap::new();
        let mut put = |name: &str, value: &str, sensitive: bool| -> Result<(), Error> {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                Error::Config {
                    reason: format!("invalid header name {name:?}"),
                    source: Some(Box::new(e)),
                }
            })?;
            let mut value =
                reqwest::header::HeaderValue::from_str(value).map_err(|e| Error::Config {
                    reason: format!("invalid value for header {name}"),
                    source: Some(Box::new(e)),
                })?;
            value.set_sensitive(sensitive);
            headers.insert(name, value);
            Ok(())
        };
        if let Some(auth) = &self.auth {
            put("authorization", &auth.header_value(), true)?;
        }
        if let Some(tenant) = &self.tenant {
            put("x-scope-orgid", tenant, false)?;
        }
        for (name, value) in &self.headers {
            put(name, value, false)?;
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("telltale-loki/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers.clone())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .tls_backend_preconfigured((*tls).clone())
            .build()
            .map_err(|e| Error::Config {
                reason: "could not build the HTTP client".into(),
                source: Some(Box::new(e)),
            })?;
        let mut base = base;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                headers,
                tls,
                timeout: self.timeout,
                retry: self.retry,
                encoding: self.encoding,
                label_limits: self.label_limits,
                max_line_size: self.max_line_size,
            }),
        })
    }
}

fn tls_config(ca_files: &[PathBuf]) -> Result<rustls::ClientConfig, Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in ca_files {
        let bad = |reason: String, source: Option<BoxError>| Error::Config { reason, source };
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                bad(
                    format!("could not read CA file {}", path.display()),
                    Some(Box::new(e)),
                )
            })?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                bad(
                    format!("CA file {} is not valid PEM", path.display()),
                    Some(Box::new(e)),
                )
            })?;
        if certs.is_empty() {
            return Err(bad(
                format!("CA file {} holds no certificate", path.display()),
                None,
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                bad(
                    format!("CA file {} holds an unusable certificate", path.display()),
                    Some(Box::new(e)),
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config {
            reason: "TLS setup failed".into(),
            source: Some(Box::new(e)),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// A Loki client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: url::Url,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) encoding: PushEncoding,
    pub(crate) label_limits: LabelLimits,
    pub(crate) max_line_size: Option<usize>,
}

/// A request body with its content headers.
pub(crate) struct Body<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) content_type: &'static str,
    pub(crate) content_encoding: Option<&'static str>,
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// An HTTP method this client uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Get,
    Post,
}

impl Client {
    /// Starts configuring a client for the Loki at `base_url` (e.g. `http://127.0.0.1:3100`).
    /// A path prefix, as proxies use, is kept: `https://host/loki` calls `https://host/loki/loki/api/v1/…`.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            auth: None,
            tenant: None,
            ca_files: Vec::new(),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            encoding: PushEncoding::default(),
            label_limits: LabelLimits::default(),
            max_line_size: Some(256 * 1024),
        }
    }

    /// A client with default settings.
    pub fn new(base_url: impl Into<String>) -> Result<Client, Error> {
        Client::builder(base_url).build()
    }

    /// Configures a client from the environment, the way logcli does, or `None` when neither
    /// `LOKI_URL` nor `LOKI_ADDR` is set.
    ///
    /// Reads `LOKI_URL` (or `LOKI_ADDR`); `LOKI_USERNAME` with `LOKI_PASSWORD_FILE` or
    /// `LOKI_PASSWORD`; `LOKI_BEARER_TOKEN_FILE` or `LOKI_BEARER_TOKEN`; `LOKI_ORG_ID` (or
    /// `LOKI_TENANT_ID`); `LOKI_CA_CERT_PATH`.
    pub fn builder_from_env() -> Result<Option<ClientBuilder>, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(url) = var("LOKI_URL").or_else(|| var("LOKI_ADDR")) else {
            return Ok(None);
        };
        let mut builder = Client::builder(url);
        if let Some(username) = var("LOKI_USERNAME") {
            let password = match var("LOKI_PASSWORD_FILE") {
                Some(path) => Secret::from_file(path)?,
                None => Secret::from_env("LOKI_PASSWORD")?,
            };
            builder = builder.auth(Auth::Basic { username, password });
        } else if let Some(path) = var("LOKI_BEARER_TOKEN_FILE") {
            builder = builder.auth(Auth::Bearer(Secret::from_file(path)?));
        } else if var("LOKI_BEARER_TOKEN").is_some() {
            builder = builder.auth(Auth::Bearer(Secret::from_env("LOKI_BEARER_TOKEN")?));
        }
        if let Some(tenant) = var("LOKI_ORG_ID").or_else(|| var("LOKI_TENANT_ID")) {
            builder = builder.tenant(tenant);
        }
        if let Some(ca) = var("LOKI_CA_CERT_PATH") {
            builder = builder.ca_file(ca);
        }
        Ok(Some(builder))
    }

    /// The base URL requests are made against.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    pub(crate) fn url(&self, path: &str) -> url::Url {
        self.inner
            .base
            .join(path.trim_start_matches('/'))
            .expect("API paths are valid relative URLs")
    }

    /// One exchange, no retries. Non-2xx answers come back as `Ok` for the caller to judge.
    pub(crate) async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Body<'_>>,
        extra_headers: &[(&'static str, &'static str)],
    ) -> Result<Answer, Error> {
        let url = self.url(path);
        let mut req = match method {
            Method::Get => self.inner.http.get(url),
            Method::Post => self.inner.http.post(url),
        };
        if !query.is_empty() {
            req = req.query(query);
        }
        for (name, value) in extra_headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", body.content_type)
                .body(body.bytes.to_vec());
            if let Some(enc) = body.content_encoding {
                req = req.header("content-encoding", enc);
            }
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout {
                    endpoint: path.to_owned(),
                    timeout: self.inner.timeout,
                }
            } else {
                Error::Transport {
                    endpoint: path.to_owned(),
                    source: Box::new(e),
                }
            }
        };
        let res = req.send().await.map_err(transport)?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = res.bytes().await.map_err(transport)?.to_vec();
        if (200..300).contains(&status) {
            Ok(Answer {
                status,
                body: bytes,
            })
        } else {
            Err(Error::Api(ApiError::new(status, path, &bytes, retry_after)))
        }
    }

    /// An exchange with the client's retry policy applied.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Body<'_>>,
        extra_headers: &[(&'static str, &'static str)],
    ) -> Result<Answer, Error> {
        let mut attempts = 0;
        self.call_counting(method, path, query, body, extra_headers, &mut attempts)
            .await
    }

    /// [`Client::call`], counting attempts into `attempts` so callers can report them.
    pub(crate) async fn call_counting(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Body<'_>>,
        extra_headers: &[(&'static str, &'static str)],
        attempts: &mut u32,
    ) -> Result<Answer, Error> {
        let policy = self.inner.retry;
        let started = Instant::now();
        loop {
            *attempts += 1;
            let err = match self
                .exchange(method, path, query, body, extra_headers)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            if !err.is_retryable() || *attempts >= policy.max_attempts {
                return Err(err);
            }
            let wait = policy.backoff(*attempts - 1, err.api().and_then(ApiError::retry_after));
            if started.elapsed() + wait > policy.max_elapsed {
                return Err(err);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// GET a JSON document and decode it.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let answer = self.call(Method::Get, path, query, None, &[]).await?;
        decode_json(path, &answer.body)
    }
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    path: &str,
    body: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::decode(path, format!("not the documented JSON: {e}"), body))
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for retry in 0..40 {
            assert!(p.backoff(retry, None) <= p.max_backoff);
        }
        assert!(p.backoff(0, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }

    #[test]
    fn base_url_prefix_is_kept() {
        let c = Client::new("https://example.invalid/loki").unwrap();
        assert_eq!(
            c.url("/loki/api/v1/push").as_str(),
            "https://example.invalid/loki/loki/api/v1/push"
        );
        let c = Client::new("http://127.0.0.1:3100").unwrap();
        assert_eq!(c.url("/ready").as_str(), "http://127.0.0.1:3100/ready");
    }

    #[test]
    fn bad_settings_are_typed_errors() {
        assert!(matches!(
            Client::new("not a url"),
            Err(Error::Config { .. })
        ));
        assert!(matches!(Client::new("ftp://x"), Err(Error::Config { .. })));
        let err = Client::builder("http://x")
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        assert!(matches!(
            Client::builder("http://x")
                .header("bad header", "v")
                .build(),
            Err(Error::Config { .. })
        ));
    }
}
