//! The Loki client: configuration (on top of `telltale-http`), and the exchange and retry
//! layer every endpoint goes through.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use telltale_http::{Answer, Auth, Body, Http, HttpConfig, Method, RetryPolicy, Secret};

use crate::encode::PushEncoding;
use crate::error::ApiError;
use crate::labels::LabelLimits;
use crate::Error;

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    http: HttpConfig,
    retry: RetryPolicy,
    encoding: PushEncoding,
    label_limits: LabelLimits,
    max_line_size: Option<usize>,
}

impl ClientBuilder {
    /// Replaces the base URL, keeping every other setting.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.http.set_base_url(base_url);
        self
    }

    /// Authenticate every request (push, query and tail).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.http.set_auth(auth);
        self
    }

    /// Send `X-Scope-OrgID: <tenant>` on every request, as multi-tenant Lokis require.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.http.add_header("x-scope-orgid", tenant);
        self
    }

    /// Trust the CA certificates in this PEM file, besides the Mozilla roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.http.add_ca_file(path);
        self
    }

    /// Send an extra header on every request (e.g. a proxy's access token name and value).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http.add_header(name, value);
        self
    }

    /// The deadline for one HTTP exchange, body included. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// The deadline for establishing a connection. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.http.set_connect_timeout(timeout);
        self
    }

    /// How failed requests are retried: 429, 5xx (except Loki's oversize 500), timeouts and
    /// transport errors are retryable.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The push body encoding. Default protobuf + snappy.
    pub fn encoding(mut self, encoding: PushEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Limits checked on structured-metadata names and values before sending.
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
        let http = self.http.build()?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                retry: self.retry,
                encoding: self.encoding,
                label_limits: self.label_limits,
                max_line_size: self.max_line_size,
            }),
        })
    }
}

/// A Loki client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: Http,
    pub(crate) retry: RetryPolicy,
    pub(crate) encoding: PushEncoding,
    pub(crate) label_limits: LabelLimits,
    pub(crate) max_line_size: Option<usize>,
}

impl Client {
    /// Starts configuring a client for the Loki at `base_url` (e.g. `http://127.0.0.1:3100`).
    /// A path prefix, as proxies use, is kept: `https://host/loki` calls `https://host/loki/loki/api/v1/…`.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            http: HttpConfig::new(
                base_url,
                concat!("telltale-loki/", env!("CARGO_PKG_VERSION")),
            ),
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
        self.inner.http.base_url()
    }

    /// One exchange, no retries; a non-2xx answer becomes [`Error::Api`].
    pub(crate) async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body<'_>>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Answer, Error> {
        let answer = self
            .inner
            .http
            .exchange(method, path, query, body, extra_headers)
            .await?;
        if answer.is_success() {
            Ok(answer)
        } else {
            Err(Error::Api(ApiError::new(
                answer.status,
                path,
                &answer.body,
                answer.retry_after,
            )))
        }
    }

    /// An exchange with the client's retry policy applied.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Body<'_>>,
        extra_headers: &[(&str, &str)],
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
        body: Option<Body<'_>>,
        extra_headers: &[(&str, &str)],
        attempts: &mut u32,
    ) -> Result<Answer, Error> {
        let hint = |err: &Error| {
            err.is_retryable()
                .then(|| err.api().and_then(ApiError::retry_after))
        };
        self.inner
            .retry
            .run(
                attempts,
                || self.exchange(method, path, query, body, extra_headers),
                hint,
            )
            .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_typed_errors() {
        assert!(matches!(
            Client::new("not a url"),
            Err(Error::Config { .. })
        ));
        let err = Client::builder("http://x")
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn tenant_and_auth_become_default_headers() {
        let auth = Auth::Bearer(Secret::from_env("PATH").unwrap());
        let c = Client::builder("http://x")
            .tenant("team-a")
            .auth(auth)
            .build()
            .unwrap();
        let headers = c.inner.http.default_headers();
        assert_eq!(headers.get("x-scope-orgid").unwrap(), "team-a");
        assert!(headers.get("authorization").unwrap().is_sensitive());
    }
}
