//! Raw ingestion: envelopes (`/api/<id>/envelope/`) and legacy store requests
//! (`/api/<id>/store/`), with the DSN key in `X-Sentry-Auth`, `Authorization` or the query
//! string, and optional body compression. A 200 means "queued", never "stored": read events back
//! through [`Client`](crate::Client) or [`DeliveryCheck`](crate::DeliveryCheck).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use telltale_http::{Body, Http, HttpConfig, Method, RetryPolicy};

use crate::envelope::{Compression, Envelope, Lengths};
use crate::error::ApiError;
use crate::event::NewEvent;
use crate::{Dsn, Error};

/// Where the DSN key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthPlacement {
    /// `X-Sentry-Auth: Sentry sentry_version=7, sentry_client=…, sentry_key=…` (the Rust and
    /// Python SDKs).
    #[default]
    Header,
    /// `Authorization: Sentry …` (accepted by GlitchTip as well).
    Authorization,
    /// `?sentry_version=7&sentry_client=…&sentry_key=…` (the JavaScript SDK).
    Query,
    /// `?glitchtip_key=…` (GlitchTip's own spelling).
    GlitchtipQuery,
    /// No auth at all (a negative test: GlitchTip 5 answers 500 on store, 403 on envelope).
    None,
}

/// How one request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// Where the key goes.
    pub auth: AuthPlacement,
    /// Body compression.
    pub compression: Compression,
    /// Item `length` policy for envelopes.
    pub lengths: Lengths,
}

impl SendOptions {
    /// Sets where the key goes.
    pub fn auth(mut self, auth: AuthPlacement) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the compression.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the `length` policy.
    pub fn lengths(mut self, lengths: Lengths) -> Self {
        self.lengths = lengths;
        self
    }
}

/// What ingest answered: the event id it queued (store's `event_id`, envelope's `id`; `None`
/// when the envelope header had none).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accepted {
    /// The queued event id.
    pub event_id: Option<String>,
    /// The HTTP status (200, or 201 for security reports).
    pub status: u16,
    /// Attempts made, the first included.
    pub attempts: u32,
}

/// Builds an [`Ingestor`].
#[derive(Debug, Clone)]
pub struct IngestorBuilder {
    dsn: Dsn,
    http: HttpConfig,
    retry: RetryPolicy,
    client_name: String,
}

impl IngestorBuilder {
    /// Trusts the CA certificates in this PEM file.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.http.add_ca_file(path);
        self
    }

    /// The deadline for one HTTP exchange. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// Retries for 429, 502, 503 and 504 (never after a transport error or timeout, when the
    /// server may have queued the event: store would keep a duplicate). Default: none.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The `sentry_client` value. Default `telltale-glitchtip/<version>`.
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// Builds the ingestor.
    pub fn build(self) -> Result<Ingestor, Error> {
        Ok(Ingestor {
            http: self.http.build()?,
            dsn: self.dsn,
            retry: self.retry,
            client_name: self.client_name,
        })
    }
}

/// Sends events to one project's ingest endpoints.
#[derive(Debug, Clone)]
pub struct Ingestor {
    http: Http,
    dsn: Dsn,
    retry: RetryPolicy,
    client_name: String,
}

#[derive(Deserialize)]
struct WireAccepted {
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// Which ingest endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Store,
    Envelope,
}

impl Ingestor {
    /// Starts configuring an ingestor for the DSN's project.
    pub fn builder(dsn: Dsn) -> IngestorBuilder {
        let name = concat!("telltale-glitchtip/", env!("CARGO_PKG_VERSION"));
        IngestorBuilder {
            http: HttpConfig::new(dsn.base_url(), name),
            dsn,
            retry: RetryPolicy::none(),
            client_name: name.to_owned(),
        }
    }

    /// An ingestor with default settings.
    pub fn new(dsn: Dsn) -> Result<Ingestor, Error> {
        Ingestor::builder(dsn).build()
    }

    /// The DSN.
    pub fn dsn(&self) -> &Dsn {
        &self.dsn
    }

    /// Sends an event through the legacy store endpoint.
    pub async fn store(&self, event: &NewEvent, options: SendOptions) -> Result<Accepted, Error> {
        self.store_raw(event.to_json().as_bytes(), options).await
    }

    /// Sends any JSON body to the store endpoint.
    pub async fn store_raw(&self, json: &[u8], options: SendOptions) -> Result<Accepted, Error> {
        self.send(Endpoint::Store, json, "application/json", options)
            .await
    }

    /// Sends an envelope.
    pub async fn envelope(
        &self,
        envelope: &Envelope,
        options: SendOptions,
    ) -> Result<Accepted, Error> {
        let bytes = envelope.to_bytes_with(options.lengths);
        self.envelope_raw(&bytes, options).await
    }

    /// Sends an event in an envelope of its own.
    pub async fn envelope_event(
        &self,
        event: &NewEvent,
        options: SendOptions,
    ) -> Result<Accepted, Error> {
        self.envelope(&Envelope::for_event(event), options).await
    }

    /// Sends raw (uncompressed) envelope bytes, compressed per `options`.
    pub async fn envelope_raw(
        &self,
        bytes: &[u8],
        options: SendOptions,
    ) -> Result<Accepted, Error> {
        self.send(
            Endpoint::Envelope,
            bytes,
            "application/x-sentry-envelope",
            options,
        )
        .await
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        raw: &[u8],
        content_type: &str,
        options: SendOptions,
    ) -> Result<Accepted, Error> {
        let path = match endpoint {
            Endpoint::Store => self.dsn.store_path(),
            Endpoint::Envelope => self.dsn.envelope_path(),
        };
        let body = options.compression.compress(raw)?;
        let mut query: Vec<(&str, String)> = Vec::new();
        let mut header = None;
        match options.auth {
            AuthPlacement::Header => {
                header = Some(("x-sentry-auth", self.dsn.auth_header(&self.client_name)))
            }
            AuthPlacement::Authorization => {
                header = Some(("authorization", self.dsn.auth_header(&self.client_name)))
            }
            AuthPlacement::Query => query = self.dsn.auth_query(&self.client_name),
            AuthPlacement::GlitchtipQuery => {
                query.push(("glitchtip_key", self.dsn.public_key().to_owned()))
            }
            AuthPlacement::None => {}
        }
        let headers: Vec<(&str, &str)> = header
            .as_ref()
            .map(|(k, v)| (*k, v.as_str()))
            .into_iter()
            .collect();
        let mut attempts = 0;
        let hint = |err: &Error| {
            err.api()
                .filter(|a| a.is_retryable())
                .map(ApiError::retry_after)
        };
        let shown = format!("/{path}");
        let answer = self
            .retry
            .run(
                &mut attempts,
                || async {
                    let answer = self
                        .http
                        .exchange(
                            Method::Post,
                            &path,
                            &query,
                            Some(Body {
                                bytes: &body,
                                content_type,
                                content_encoding: options.compression.content_encoding(),
                            }),
                            &headers,
                        )
                        .await
                        .map_err(|e| scrub(e.into()))?;
                    if answer.is_success() {
                        Ok(answer)
                    } else {
                        Err(Error::Api(ApiError::new(
                            answer.status,
                            &shown,
                            &answer.body,
                            answer.retry_after,
                        )))
                    }
                },
                hint,
            )
            .await?;
        let event_id = decode_accepted(&shown, &answer.body)?;
        Ok(Accepted {
            event_id,
            status: answer.status,
            attempts,
        })
    }
}

/// Reads ingest's 2xx body: store's `{"event_id": …}`, envelope's `{"id": …}` (or `{}`), or
/// nothing (security reports).
pub(crate) fn decode_accepted(path: &str, body: &[u8]) -> Result<Option<String>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let w: WireAccepted = serde_json::from_slice(body)
        .map_err(|e| Error::decode(path, format!("not ingest's JSON answer: {e}"), body))?;
    Ok(w.event_id.or(w.id))
}

/// Transport errors name the path only; make sure no query string (which may hold the key)
/// slips into a message through a source error.
fn scrub(err: Error) -> Error {
    match err {
        Error::Transport { endpoint, source } => {
            let mut text = source.to_string();
            let mut cause = source.source();
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            let text = hide_keys(&text);
            Error::Transport {
                endpoint,
                source: text.into(),
            }
        }
        other => other,
    }
}

/// Replaces the values of `sentry_key=` and `glitchtip_key=` in a text with `<hidden>`.
pub(crate) fn hide_keys(text: &str) -> String {
    let mut out = text.to_owned();
    for name in ["sentry_key=", "glitchtip_key="] {
        let mut from = 0;
        while let Some(i) = out[from..].find(name) {
            let start = from + i + name.len();
            let end = out[start..]
                .find(['&', ')', ' ', ',', '"', '\''])
                .map_or(out.len(), |j| start + j);
            out.replace_range(start..end, "<hidden>");
            from = start + "<hidden>".len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hidden_in_error_texts() {
        assert_eq!(
            hide_keys("error sending request for url (http://h/api/1/store/?sentry_version=7&sentry_key=abc123): refused"),
            "error sending request for url (http://h/api/1/store/?sentry_version=7&sentry_key=<hidden>): refused"
        );
        assert_eq!(hide_keys("x?glitchtip_key=k"), "x?glitchtip_key=<hidden>");
    }
}
