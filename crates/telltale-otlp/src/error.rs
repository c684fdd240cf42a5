//! The crate's one error type, and the typed view of what an OTLP receiver said when it refused
//! an export (HTTP status or gRPC code, the `google.rpc.Status` message, the retry hint).

use std::time::Duration;

pub(crate) use telltale_http::BoxError;

/// Everything that can go wrong in this crate.
///
/// Messages are lowercase fragments that read well after "failed to …".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
        /// Where the secret was expected, e.g. `file /run/secrets/otlp` or `env OTLP_TOKEN`.
        origin: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The request never got an answer: connection refused, TLS failure, reset.
    #[error("send request to {endpoint}")]
    Transport {
        /// The path (HTTP) or method (gRPC) that was called.
        endpoint: String,
        /// The underlying cause.
        #[source]
        source: BoxError,
    },
    /// No answer arrived within the configured timeout.
    #[error("get an answer from {endpoint} within {timeout:?}")]
    Timeout {
        /// The path (HTTP) or method (gRPC) that was called.
        endpoint: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The receiver (or a proxy in front of it) refused the export.
    #[error("{0}")]
    Api(ApiError),
    /// A body is not a valid OTLP message in the encoding it claims.
    #[error("decode {what}: {reason} (body starts {body_start:?})")]
    Decode {
        /// What was being decoded, e.g. `ExportLogsServiceRequest (json)`.
        what: String,
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
    /// Whether the OTLP specification lets a client retry the same request: HTTP 429, 502,
    /// 503, 504; the retryable gRPC codes; timeouts and transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(api) => api.is_retryable(),
            Error::Timeout { .. } | Error::Transport { .. } => true,
            _ => false,
        }
    }

    /// The receiver's refusal, if it answered with an error.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    pub(crate) fn config(reason: impl Into<String>, source: Option<BoxError>) -> Error {
        Error::Config {
            reason: reason.into(),
            source,
        }
    }

    pub(crate) fn decode(what: impl Into<String>, reason: impl Into<String>, body: &[u8]) -> Error {
        Error::Decode {
            what: what.into(),
            reason: reason.into(),
            body_start: body_start(body),
        }
    }
}

/// The first 200 bytes of a body, lossily decoded, for error messages.
pub(crate) fn body_start(body: &[u8]) -> String {
    let end = body.len().min(200);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

/// Which protocol a refusal came over, with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// An OTLP/HTTP answer with this status code.
    Http(u16),
    /// An OTLP/gRPC answer with this gRPC status code (`14` is `UNAVAILABLE`, …).
    Grpc(i32),
}

/// A class of refusal, read from the status as the OTLP specification groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// HTTP 400 or gRPC `INVALID_ARGUMENT`: the data is bad; never retried.
    BadData,
    /// HTTP 401/403 or gRPC `UNAUTHENTICATED`/`PERMISSION_DENIED`.
    Unauthorized,
    /// HTTP 404 or gRPC `UNIMPLEMENTED`: wrong path, or a receiver without this signal.
    NotFound,
    /// HTTP 413: the request is larger than the receiver takes.
    TooLarge,
    /// HTTP 429 or gRPC `RESOURCE_EXHAUSTED`: the receiver is throttling.
    Throttled,
    /// HTTP 502/503/504 or gRPC `UNAVAILABLE` and the other transient codes.
    Unavailable,
    /// Anything else (HTTP 500, gRPC `INTERNAL`, `UNKNOWN`, …).
    Other,
}

/// What the receiver said when it refused an export.
///
/// `message` is the `google.rpc.Status` message when the body held one (HTTP) or the gRPC
/// status message; for a plain-text or HTML body (typically from a proxy) it is the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) status: Status,
    pub(crate) endpoint: String,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) retryable: bool,
    pub(crate) from_status_message: bool,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Status::Http(code) => {
                write!(f, "export to {}: receiver answered {code}", self.endpoint)?
            }
            Status::Grpc(code) => write!(
                f,
                "export to {}: receiver answered gRPC {} ({code})",
                self.endpoint,
                grpc_code_name(code)
            )?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl ApiError {
    /// The HTTP status or gRPC code.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The HTTP path or gRPC method that was called.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The class of refusal.
    pub fn kind(&self) -> ErrorKind {
        match self.status {
            Status::Http(400) => ErrorKind::BadData,
            Status::Http(401 | 403) => ErrorKind::Unauthorized,
            Status::Http(404 | 405) => ErrorKind::NotFound,
            Status::Http(413) => ErrorKind::TooLarge,
            Status::Http(429) => ErrorKind::Throttled,
            Status::Http(502..=504) => ErrorKind::Unavailable,
            Status::Http(_) => ErrorKind::Other,
            Status::Grpc(3) => ErrorKind::BadData,
            Status::Grpc(7 | 16) => ErrorKind::Unauthorized,
            Status::Grpc(5 | 12) => ErrorKind::NotFound,
            Status::Grpc(8) => ErrorKind::Throttled,
            Status::Grpc(1 | 4 | 10 | 11 | 14 | 15) => ErrorKind::Unavailable,
            Status::Grpc(_) => ErrorKind::Other,
        }
    }

    /// The receiver's own words: the `google.rpc.Status` message, the gRPC status message, or
    /// the body text when it was not a `Status`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether [`ApiError::message`] came from a decoded `google.rpc.Status` (false: it is the
    /// raw body text, as proxies send).
    pub fn is_status_message(&self) -> bool {
        self.from_status_message
    }

    /// The wait the receiver asked for: HTTP `Retry-After`, or gRPC `RetryInfo.retry_delay`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the specification lets the client retry: HTTP 429, 502, 503, 504; gRPC
    /// `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`,
    /// `DATA_LOSS`, and `RESOURCE_EXHAUSTED` only when it carries `RetryInfo`.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    pub(crate) fn http(
        status: u16,
        endpoint: &str,
        message: String,
        from_status_message: bool,
        retry_after: Option<Duration>,
    ) -> ApiError {
        ApiError {
            status: Status::Http(status),
            endpoint: endpoint.to_owned(),
            message,
            retry_after,
            retryable: http_retryable(status),
            from_status_message,
        }
    }

    pub(crate) fn grpc(
        code: i32,
        endpoint: &str,
        message: String,
        retry_delay: Option<Duration>,
    ) -> ApiError {
        ApiError {
            status: Status::Grpc(code),
            endpoint: endpoint.to_owned(),
            message,
            retry_after: retry_delay,
            retryable: grpc_retryable(code, retry_delay.is_some()),
            from_status_message: true,
        }
    }
}

/// HTTP statuses the OTLP specification calls retryable.
pub(crate) fn http_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// gRPC codes the OTLP specification calls retryable; `RESOURCE_EXHAUSTED` only with
/// `RetryInfo` ("the server signals that recovery is possible").
pub(crate) fn grpc_retryable(code: i32, has_retry_info: bool) -> bool {
    match code {
        1 | 4 | 10 | 11 | 14 | 15 => true,
        8 => has_retry_info,
        _ => false,
    }
}

/// The canonical name of a gRPC status code.
pub(crate) fn grpc_code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNRECOGNIZED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_retry_classes_follow_the_spec() {
        for status in [429, 502, 503, 504] {
            assert!(http_retryable(status), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 415, 500, 501] {
            assert!(!http_retryable(status), "{status}");
        }
    }

    #[test]
    fn grpc_retry_classes_follow_the_spec() {
        let retryable = [1, 4, 10, 11, 14, 15];
        for code in 0..=16 {
            assert_eq!(
                grpc_retryable(code, false),
                retryable.contains(&code),
                "{}",
                grpc_code_name(code)
            );
        }
        assert!(grpc_retryable(8, true));
        assert!(!grpc_retryable(8, false));
        assert_eq!(grpc_code_name(14), "UNAVAILABLE");
        assert_eq!(grpc_code_name(99), "UNRECOGNIZED");
    }

    #[test]
    fn display_reads_after_failed_to() {
        let e = ApiError::http(400, "/v1/logs", "bad timestamps".into(), true, None);
        assert_eq!(
            e.to_string(),
            "export to /v1/logs: receiver answered 400: bad timestamps"
        );
        assert_eq!(e.kind(), ErrorKind::BadData);
        let g = ApiError::grpc(8, "LogsService/Export", "slow down".into(), None);
        assert!(g.to_string().contains("RESOURCE_EXHAUSTED"), "{g}");
        assert!(!g.is_retryable());
    }
}
