//! The crate's one error type, and the typed view of what `faro.receiver` (or a proxy in front of
//! it) said when it refused a request.

use std::time::Duration;

pub(crate) use telltale_http::BoxError;

/// Everything that can go wrong in this crate.
///
/// Messages are lowercase fragments that read well after "failed to …".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// JSON that `faro.receiver` would refuse with 400: not JSON at all, or a known field of the
    /// wrong type (a number where Alloy's Go struct has a string, a timestamp that is not
    /// RFC 3339, …).
    #[error("decode faro payload at {path}: {reason}")]
    Decode {
        /// Where in the document, e.g. `meta.browser.viewportWidth` or `logs[2].timestamp`.
        path: String,
        /// What was wrong there.
        reason: String,
    },
    /// A timestamp that Go's `time.Time` would not read as RFC 3339.
    #[error("parse timestamp {value:?}: {reason}")]
    InvalidTimestamp {
        /// The text given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value handed to the builder or to [`crate::UnknownFields`] is unusable: a run id Loki
    /// lines could not be matched on exactly, a non-finite measurement, text that is not JSON.
    #[error("build payload: {reason}")]
    InvalidPayload {
        /// What is wrong.
        reason: String,
    },
    /// The body is larger than the receiver accepts, so it was not sent (`faro.receiver` answers
    /// 413 to a `Content-Length` over `max_allowed_payload_size`).
    #[error("send a {size}-byte body: the limit is {limit} bytes")]
    PayloadTooLarge {
        /// Bytes that would have been sent.
        size: usize,
        /// The client's limit ([`crate::ClientBuilder::max_payload_size`]).
        limit: usize,
    },
    /// A caller-supplied setting is unusable (bad URL, unreadable CA file, bad header).
    #[error("invalid configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A secret (the API key, or basic-auth password) could not be read.
    #[error("could not read secret from {origin}")]
    Secret {
        /// Where the secret was expected, e.g. `file /run/secrets/faro` or `env FARO_API_KEY`.
        origin: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The request never got an HTTP answer: connection refused, TLS failure, reset.
    #[error("send request to {endpoint}")]
    Transport {
        /// The path that was called.
        endpoint: String,
        /// The underlying cause.
        #[source]
        source: BoxError,
    },
    /// No answer arrived within the configured timeout. The payload may or may not have been
    /// taken, so this is never retried.
    #[error("get an answer from {endpoint} within {timeout:?}")]
    Timeout {
        /// The path that was called.
        endpoint: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The receiver (or a proxy in front of it) answered with a non-success status.
    #[error("{0}")]
    Api(ApiError),
}

impl From<telltale_http::Error> for Error {
    fn from(err: telltale_http::Error) -> Error {
        match err {
            telltale_http::Error::Config { reason, source } => Error::Config { reason, source },
            telltale_http::Error::Secret { origin, source } => Error::Secret { origin, source },
            telltale_http::Error::Transport { endpoint, source } => {
                Error::Transport { endpoint, source }
            }
            telltale_http::Error::Timeout { endpoint, timeout } => {
                Error::Timeout { endpoint, timeout }
            }
            other => Error::Config {
                reason: other.to_string(),
                source: Some(Box::new(other)),
            },
        }
    }
}

impl Error {
    /// Whether sending the same body again may succeed: 429, 502, 503, 504, and transport
    /// failures (connection refused while Alloy restarts). Timeouts are not retryable: the
    /// receiver may have taken the payload, and a resend would duplicate its lines in Loki.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(api) => api.is_retryable(),
            Error::Transport { .. } => true,
            _ => false,
        }
    }

    /// The API error inside, if the receiver answered with an error status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    pub(crate) fn decode(path: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Decode {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Error {
        Error::InvalidPayload {
            reason: reason.into(),
        }
    }
}

/// What the receiver said when it answered with an error status.
///
/// `faro.receiver` writes its errors with Go's `http.Error`: a plain-text body and no
/// `Retry-After`, even on 429. A `Retry-After` can only come from a proxy in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) status: u16,
    pub(crate) endpoint: String,
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "call {}: faro receiver answered {} ({:?}): {}",
            self.endpoint, self.status, self.kind, self.message
        )
    }
}

impl ApiError {
    pub(crate) fn new(
        status: u16,
        endpoint: &str,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> ApiError {
        let end = body.len().min(1024);
        let message = String::from_utf8_lossy(&body[..end]).trim_end().to_owned();
        ApiError {
            status,
            endpoint: endpoint.to_owned(),
            kind: ErrorKind::classify(status),
            message,
            retry_after,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The path that was called.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The class of error, read from the status.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The body the server sent (its first KiB), trailing newline removed. For a 400 from
    /// `faro.receiver` this is Go's JSON decoding error, e.g. `json: cannot unmarshal number
    /// into Go struct field Browser.meta.browser.viewportWidth of type string`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` the server (in practice, a proxy) sent, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// 429, 502, 503 and 504 are retryable; every other status fails the same way again.
    pub fn is_retryable(&self) -> bool {
        matches!(self.status, 429 | 502 | 503 | 504)
    }
}

/// A class of receiver error, from the status code (`handler.go` in Alloy's `faro.receiver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the body is not JSON, or a known field has the wrong type.
    BadPayload,
    /// 401 (`API key not provided or incorrect`) or 403 from a proxy.
    Unauthorized,
    /// 404: wrong base URL, or not a `faro.receiver`.
    NotFound,
    /// 413: `Content-Length` over `max_allowed_payload_size`.
    PayloadTooLarge,
    /// 429: the receiver's token bucket (`rate_limiting`) is empty.
    RateLimited,
    /// 502, 503 or 504, from a proxy or while Alloy restarts.
    Unavailable,
    /// Any other status.
    Other,
}

impl ErrorKind {
    fn classify(status: u16) -> ErrorKind {
        match status {
            400 => ErrorKind::BadPayload,
            401 | 403 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            502..=504 => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_and_retries_only_transient_ones() {
        let cases: &[(u16, ErrorKind, bool)] = &[
            (400, ErrorKind::BadPayload, false),
            (401, ErrorKind::Unauthorized, false),
            (404, ErrorKind::NotFound, false),
            (413, ErrorKind::PayloadTooLarge, false),
            (429, ErrorKind::RateLimited, true),
            (500, ErrorKind::Other, false),
            (503, ErrorKind::Unavailable, true),
        ];
        for (status, kind, retry) in cases {
            let err = ApiError::new(*status, "/collect", b"x\n", None);
            assert_eq!(
                (err.kind(), err.is_retryable()),
                (*kind, *retry),
                "{status}"
            );
            assert_eq!(err.message(), "x");
        }
    }

    #[test]
    fn timeouts_are_not_retried_but_refused_connections_are() {
        let timeout = Error::Timeout {
            endpoint: "/collect".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(!timeout.is_retryable());
        let refused = Error::Transport {
            endpoint: "/collect".into(),
            source: "connection refused".into(),
        };
        assert!(refused.is_retryable());
    }
}
