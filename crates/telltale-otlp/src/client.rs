//! The OTLP/HTTP client: configuration (on top of `telltale-http`), one export per call with
//! the specification's response handling and retry rules.

use std::path::PathBuf;
use std::time::Duration;

use telltale_http::{Auth, Body, Http, HttpConfig, Method, RetryPolicy};

use crate::codec::{self, Compression, Encoding, PartialSuccess, Signal, SignalKind};
use crate::error::ApiError;
use crate::model::Batch;
use crate::Error;

/// What one export achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Items sent: log records, metric data points or spans.
    pub items: usize,
    /// What the receiver said it rejected, if anything. Rejected items are never resent.
    pub partial_success: Option<PartialSuccess>,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// The body size on the wire (after compression), bytes.
    pub wire_bytes: usize,
    /// False when the 2xx body was not an export response (some receivers answer with an
    /// empty or non-OTLP body); the export still counts as accepted.
    pub response_decoded: bool,
}

impl ExportReport {
    /// Items the receiver rejected (0 on full success).
    pub fn rejected(&self) -> i64 {
        self.partial_success.as_ref().map_or(0, |p| p.rejected)
    }

    /// Items the receiver took: those sent less those it rejected.
    pub fn accepted(&self) -> usize {
        self.items
            .saturating_sub(usize::try_from(self.rejected().max(0)).unwrap_or(usize::MAX))
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    http: HttpConfig,
    retry: RetryPolicy,
    encoding: Encoding,
    compression: Compression,
    paths: [String; 3],
}

impl ClientBuilder {
    /// Authenticates every request.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.http.set_auth(auth);
        self
    }

    /// Trusts the CA certificates in this PEM file, besides the Mozilla roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.http.add_ca_file(path);
        self
    }

    /// Sends an extra header on every request (`X-Scope-OrgID`, a proxy's token, …).
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

    /// How failed exports are retried. Only what the specification calls retryable is
    /// (429, 502, 503, 504, transport failures and timeouts), honouring `Retry-After`.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The body encoding. Default protobuf.
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Body compression. Default none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The path one signal is posted to, below the base URL. Defaults `/v1/logs`,
    /// `/v1/metrics`, `/v1/traces`; Loki takes logs at `/otlp/v1/logs`, VictoriaMetrics
    /// metrics at `/opentelemetry/v1/metrics`, Prometheus at `/api/v1/otlp/v1/metrics`.
    pub fn path(mut self, signal: SignalKind, path: impl Into<String>) -> Self {
        self.paths[signal as usize] = path.into();
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        Ok(Client {
            http: self.http.build()?,
            retry: self.retry,
            encoding: self.encoding,
            compression: self.compression,
            paths: self.paths,
        })
    }
}

/// An OTLP/HTTP client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: Http,
    retry: RetryPolicy,
    encoding: Encoding,
    compression: Compression,
    paths: [String; 3],
}

impl Client {
    /// Starts configuring a client for the receiver at `base_url` (e.g.
    /// `http://127.0.0.1:4318`). A path prefix is kept.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            http: HttpConfig::new(
                base_url,
                concat!("telltale-otlp/", env!("CARGO_PKG_VERSION")),
            ),
            retry: RetryPolicy::default(),
            encoding: Encoding::default(),
            compression: Compression::default(),
            paths: [SignalKind::Logs, SignalKind::Metrics, SignalKind::Traces]
                .map(|k| k.default_path().to_owned()),
        }
    }

    /// A client with default settings.
    pub fn new(base_url: impl Into<String>) -> Result<Client, Error> {
        Client::builder(base_url).build()
    }

    /// The base URL requests are made against.
    pub fn base_url(&self) -> &str {
        self.http.base_url()
    }

    /// The path a signal is posted to.
    pub fn path(&self, signal: SignalKind) -> &str {
        &self.paths[signal as usize]
    }

    /// Exports one batch in one request.
    ///
    /// A 2xx answer is `Ok`, with any `partial_success` in the report (those items are
    /// rejected for good and never resent). A retryable failure is retried under the client's
    /// [`RetryPolicy`]; anything else, 400 above all, fails at once with [`Error::Api`]
    /// carrying the decoded `google.rpc.Status` message (or the body text from a proxy).
    pub async fn export<T: Signal>(&self, batch: &Batch<T>) -> Result<ExportReport, Error> {
        let path = self.path(T::KIND);
        let mut body = codec::encode(batch, self.encoding);
        let content_encoding = match self.compression {
            Compression::None => None,
            Compression::Gzip => {
                body = codec::gzip(&body);
                Some("gzip")
            }
        };
        let mut attempts = 0;
        let hint = |err: &Error| {
            err.is_retryable()
                .then(|| err.api().and_then(ApiError::retry_after))
        };
        let (partial_success, response_decoded) = self
            .retry
            .run(
                &mut attempts,
                || self.attempt::<T>(path, &body, content_encoding),
                hint,
            )
            .await?;
        Ok(ExportReport {
            items: T::count(batch),
            partial_success,
            attempts,
            wire_bytes: body.len(),
            response_decoded,
        })
    }

    async fn attempt<T: Signal>(
        &self,
        path: &str,
        body: &[u8],
        content_encoding: Option<&str>,
    ) -> Result<(Option<PartialSuccess>, bool), Error> {
        let answer = self
            .http
            .exchange(
                Method::Post,
                path,
                &[],
                Some(Body {
                    bytes: body,
                    content_type: self.encoding.content_type(),
                    content_encoding,
                }),
                &[],
            )
            .await?;
        if answer.is_success() {
            let encoding = answer
                .content_type
                .as_deref()
                .and_then(Encoding::from_content_type)
                .unwrap_or(self.encoding);
            return Ok(match codec::read_success::<T>(&answer.body, encoding) {
                Ok(partial) => (partial, true),
                Err(()) => (None, false),
            });
        }
        let (message, from_status) =
            codec::read_error_body(&answer.body, answer.content_type.as_deref());
        Err(Error::Api(ApiError::http(
            answer.status,
            path,
            message,
            from_status,
            answer.retry_after,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_default_to_the_spec_and_can_be_moved() {
        let c = Client::builder("http://127.0.0.1:3100")
            .path(SignalKind::Logs, "/otlp/v1/logs")
            .build()
            .unwrap();
        assert_eq!(c.path(SignalKind::Logs), "/otlp/v1/logs");
        assert_eq!(c.path(SignalKind::Metrics), "/v1/metrics");
        assert_eq!(c.path(SignalKind::Traces), "/v1/traces");
        assert!(matches!(Client::new("nope"), Err(Error::Config { .. })));
    }

    #[test]
    fn report_counts_accepted_items() {
        let r = ExportReport {
            items: 10,
            partial_success: Some(PartialSuccess {
                rejected: 4,
                error_message: "old".into(),
            }),
            attempts: 1,
            wire_bytes: 0,
            response_decoded: true,
        };
        assert_eq!((r.rejected(), r.accepted()), (4, 6));
    }
}
