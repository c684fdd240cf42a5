//! The crate's one error type: exposition parse errors with their position, contract-file
//! errors, and HTTP API errors with Prometheus' own `errorType` and message.

use std::time::Duration;

pub(crate) use telltale_http::BoxError;

/// Everything that can go wrong in this crate.
///
/// Messages are lowercase fragments that read well after "failed to …".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An exposition body is malformed. Line and column are 1-based; the column counts
    /// characters, not bytes.
    #[error("parse exposition at line {line}, column {column}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What was wrong there.
        reason: String,
    },
    /// A metrics contract (Rust-built or TOML) is itself invalid.
    #[error("load metrics contract: {reason}")]
    Contract {
        /// What is wrong.
        reason: String,
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
    /// A secret could not be read from its file or environment variable.
    #[error("could not read secret from {origin}")]
    Secret {
        /// Where the secret was expected.
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
    /// No answer arrived within the configured timeout.
    #[error("get an answer from {endpoint} within {timeout:?}")]
    Timeout {
        /// The path that was called.
        endpoint: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The server (or a proxy in front of it) answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// A 2xx answer whose body is not what the API documents.
    #[error("decode the answer from {endpoint}: {reason} (body starts {body_start:?})")]
    Decode {
        /// The path that was called.
        endpoint: String,
        /// What did not match.
        reason: String,
        /// The first bytes of the body, for diagnosis.
        body_start: String,
    },
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
    /// Whether retrying the same request may succeed: 429, 502, 503, 504, timeouts and
    /// transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(api) => api.is_retryable(),
            Error::Timeout { .. } | Error::Transport { .. } => true,
            _ => false,
        }
    }

    /// The API error inside, if the server answered with an error.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    pub(crate) fn decode(endpoint: &str, reason: impl Into<String>, body: &[u8]) -> Error {
        let end = body.len().min(200);
        Error::Decode {
            endpoint: endpoint.to_owned(),
            reason: reason.into(),
            body_start: String::from_utf8_lossy(&body[..end]).into_owned(),
        }
    }
}

/// What the server said when it answered with an error.
///
/// Prometheus answers errors as `{"status":"error","errorType":"…","error":"…"}`; a proxy may
/// answer anything, so a body that is not that envelope keeps its text as the message and
/// [`ApiErrorType::NotPrometheus`] as its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) status: u16,
    pub(crate) endpoint: String,
    pub(crate) error_type: ApiErrorType,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "call {}: server answered {} ({}): {}",
            self.endpoint,
            self.status,
            self.error_type.as_str(),
            self.message
        )
    }
}

impl ApiError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The API path that was called.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Prometheus' `errorType`.
    pub fn error_type(&self) -> ApiErrorType {
        self.error_type
    }

    /// Prometheus' `error` message, or the proxy's body text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// 429, 502, 503 and 504 are retryable; a 503 `timeout` or `canceled` query is too.
    pub fn is_retryable(&self) -> bool {
        matches!(self.status, 429 | 502 | 503 | 504)
    }
}

/// Prometheus' `errorType` values (`web/api/v1/api.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorType {
    /// `timeout` (503).
    Timeout,
    /// `canceled` (503).
    Canceled,
    /// `execution` (422): the query could not run.
    Execution,
    /// `bad_data` (400): a bad parameter or expression.
    BadData,
    /// `internal` (500).
    Internal,
    /// `unavailable` (503).
    Unavailable,
    /// `not_found` (404).
    NotFound,
    /// `not_acceptable` (406).
    NotAcceptable,
    /// An `errorType` this client does not know.
    Other,
    /// The body was not Prometheus' error envelope (a proxy page, plain text, empty).
    NotPrometheus,
}

impl ApiErrorType {
    pub(crate) fn parse(s: &str) -> ApiErrorType {
        match s {
            "timeout" => ApiErrorType::Timeout,
            "canceled" => ApiErrorType::Canceled,
            "execution" => ApiErrorType::Execution,
            "bad_data" => ApiErrorType::BadData,
            "internal" => ApiErrorType::Internal,
            "unavailable" => ApiErrorType::Unavailable,
            "not_found" => ApiErrorType::NotFound,
            "not_acceptable" => ApiErrorType::NotAcceptable,
            _ => ApiErrorType::Other,
        }
    }

    /// The wire spelling (`not_prometheus` for a foreign body).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorType::Timeout => "timeout",
            ApiErrorType::Canceled => "canceled",
            ApiErrorType::Execution => "execution",
            ApiErrorType::BadData => "bad_data",
            ApiErrorType::Internal => "internal",
            ApiErrorType::Unavailable => "unavailable",
            ApiErrorType::NotFound => "not_found",
            ApiErrorType::NotAcceptable => "not_acceptable",
            ApiErrorType::Other => "other",
            ApiErrorType::NotPrometheus => "not_prometheus",
        }
    }
}
