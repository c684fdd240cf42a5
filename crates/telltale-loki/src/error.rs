//! The crate's one error type, and the typed view of what Loki said when it refused a request.

use std::time::Duration;

pub(crate) use telltale_http::BoxError;

/// Everything that can go wrong in this crate.
///
/// Messages are lowercase fragments that read well after "failed to …".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, or breaks a length limit.
    #[error("invalid label name {name:?}: {reason}")]
    InvalidLabelName {
        /// The offending name.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A label value is empty or too long.
    #[error("invalid value for label {name:?}: {reason}")]
    InvalidLabelValue {
        /// The label whose value was refused.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A label set has more names than the limit allows.
    #[error("label set has {count} label names; the limit is {limit}")]
    TooManyLabels {
        /// Names in the set.
        count: usize,
        /// The configured limit (Loki's `max_label_names_per_series`).
        limit: usize,
    },
    /// A label set is empty; Loki would file the entries under `service_name="unknown_service"`.
    #[error("label set is empty")]
    EmptyLabelSet,
    /// A selector or LogQL string could not be parsed.
    #[error("invalid selector at byte {offset}: {reason}")]
    InvalidSelector {
        /// Byte offset in the input where parsing stopped.
        offset: usize,
        /// What was expected there.
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
        /// Where the secret was expected, e.g. `file /run/secrets/loki` or `env LOKI_TOKEN`.
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
    /// Loki (or a proxy in front of it) answered with a non-success status.
    #[error("{0}")]
    Api(ApiError),
    /// A push was answered, but some entries were rejected or their fate is unknown.
    ///
    /// The report inside accounts for every entry of the request.
    #[error("push entries: {rejected} of {total} rejected and {unknown} unknown, first reason: {first_reason}")]
    Rejected {
        /// Entries Loki (or this client) refused.
        rejected: usize,
        /// Entries whose fate could not be established.
        unknown: usize,
        /// Entries in the request.
        total: usize,
        /// The first reason given.
        first_reason: String,
        /// Per-entry accounting.
        report: Box<crate::PushReport>,
    },
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
    /// Paging could not make progress: more entries share one timestamp than one page holds.
    #[error("page past {timestamp_ns}: more than {limit} entries share that nanosecond; raise the page size")]
    PagingStalled {
        /// The timestamp, in Unix nanoseconds, where paging stuck.
        timestamp_ns: i64,
        /// The page size in use.
        limit: u32,
    },
    /// The tail WebSocket failed or sent something that is not a tail frame.
    #[error("tail {query:?}: {reason}")]
    Tail {
        /// The LogQL query being tailed.
        query: String,
        /// What went wrong.
        reason: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<BoxError>,
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
    /// Whether retrying the same request may succeed: 429, 5xx (except oversize), timeouts and
    /// transport failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(api) => api.is_retryable(),
            Error::Timeout { .. } | Error::Transport { .. } => true,
            _ => false,
        }
    }

    /// The API error inside, if Loki answered with an error status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Error {
        Error::Config {
            reason: reason.into(),
            source: None,
        }
    }

    pub(crate) fn decode(endpoint: &str, reason: impl Into<String>, body: &[u8]) -> Error {
        Error::Decode {
            endpoint: endpoint.to_owned(),
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

/// What Loki said when it answered with an error status.
///
/// Loki's error bodies are plain text (sometimes from a proxy, sometimes HTML), so the message is
/// kept verbatim and classified into an [`ErrorKind`] by its wording.
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
            "call {}: loki answered {} ({:?}): {}",
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
        let message = String::from_utf8_lossy(body).trim_end().to_owned();
        let kind = ErrorKind::classify(status, &message);
        ApiError {
            status,
            endpoint: endpoint.to_owned(),
            kind,
            message,
            retry_after,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The API path that was called.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The class of error, read from the status and the wording.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The body Loki sent, verbatim (trailing newline removed).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// 429 and 5xx are retryable, except a 500 that says the request was larger than the
    /// distributor-to-ingester gRPC limit: it fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ErrorKind::RequestTooLarge => false,
            _ => self.status == 429 || self.status >= 500,
        }
    }
}

/// A class of Loki error, recognised from the status code and Loki's wording.
///
/// Wordings come from Loki's `pkg/validation/validate.go`, `pkg/ingester/stream.go` and the
/// recordings in `fixtures/loki/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `ingestion rate limit exceeded` (tenant-wide, 429).
    RateLimited,
    /// `Per stream rate limit exceeded` (429).
    StreamRateLimited,
    /// `maximum active stream limit exceeded` (429).
    StreamLimit,
    /// An entry older than `reject_old_samples_max_age`.
    TooOld,
    /// An entry further in the future than `creation_grace_period`.
    TooNew,
    /// `entry too far behind`: older than the stream's newest entry minus half `max_chunk_age`.
    TooFarBehind,
    /// A line over `max_line_size`.
    LineTooLong,
    /// A label set Loki cannot parse, or with an invalid name.
    InvalidLabels,
    /// More label names than `max_label_names_per_series`.
    TooManyLabels,
    /// A label name over `max_label_name_length`.
    LabelNameTooLong,
    /// A label value over `max_label_value_length`.
    LabelValueTooLong,
    /// Structured metadata over its size or count limit, or not allowed.
    StructuredMetadata,
    /// A request without streams (422).
    EmptyRequest,
    /// A body that could not be decoded (bad JSON, not snappy, bad gzip).
    MalformedBody,
    /// A request over the 4 MiB distributor-to-ingester gRPC message limit (500, not retryable).
    RequestTooLarge,
    /// A LogQL parse error.
    QueryParse,
    /// A query over a limit (`max_entries_limit_per_query`, `max_query_length`, series limits).
    QueryLimit,
    /// A bad query parameter (time, step, range order).
    BadParameter,
    /// 401 or 403, typically from a proxy or a multi-tenant gateway.
    Unauthorized,
    /// 404: the path does not exist (wrong base URL, or a Loki without that API).
    NotFound,
    /// 503 while Loki is starting (`/ready` says `Ingester not ready`).
    NotReady,
    /// Any other error.
    Other,
}

impl ErrorKind {
    fn classify(status: u16, message: &str) -> ErrorKind {
        let m = message.to_ascii_lowercase();
        let has = |needle: &str| m.contains(needle);
        match status {
            401 | 403 => return ErrorKind::Unauthorized,
            404 => return ErrorKind::NotFound,
            _ => {}
        }
        if has("received message larger than max") || has("message too large") {
            ErrorKind::RequestTooLarge
        } else if has("ingestion rate limit exceeded") {
            ErrorKind::RateLimited
        } else if has("per stream rate limit exceeded") {
            ErrorKind::StreamRateLimited
        } else if has("stream limit exceeded") {
            ErrorKind::StreamLimit
        } else if has("too far behind") {
            ErrorKind::TooFarBehind
        } else if has("timestamp too old") {
            ErrorKind::TooOld
        } else if has("timestamp too new") {
            ErrorKind::TooNew
        } else if has("max entry size") || has("line too long") {
            ErrorKind::LineTooLong
        } else if has("label names; limit") {
            ErrorKind::TooManyLabels
        } else if has("label name too long") {
            ErrorKind::LabelNameTooLong
        } else if has("label value too long") {
            ErrorKind::LabelValueTooLong
        } else if has("structured metadata") {
            ErrorKind::StructuredMetadata
        } else if has("couldn't parse labels")
            || has("invalid labels")
            || has("error parsing labels")
        {
            ErrorKind::InvalidLabels
        } else if has("at least one valid stream") {
            ErrorKind::EmptyRequest
        } else if has("snappy")
            || has("gzip")
            || has("loghttp.pushrequest")
            || has("unexpected end of json")
            || m == "eof"
        {
            ErrorKind::MalformedBody
        } else if has("parse error") {
            ErrorKind::QueryParse
        } else if has("limit exceeded") || has("limit per query") || has("query length") {
            ErrorKind::QueryLimit
        } else if has("parameter") || has("timestamp must not be before") || has("invalid duration")
        {
            ErrorKind::BadParameter
        } else if status == 503 && has("not ready") {
            ErrorKind::NotReady
        } else {
            ErrorKind::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_recorded_wordings() {
        let cases: &[(u16, &str, ErrorKind)] = &[
            (429, "ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec)", ErrorKind::RateLimited),
            (500, "rpc error: code = ResourceExhausted desc = grpc: received message larger than max (5121469 vs. 4194304)", ErrorKind::RequestTooLarge),
            (400, "entry for stream '{env=\"old\"}' has timestamp too old: 2026-11-14T02:42:09Z", ErrorKind::TooOld),
            (400, "entry for stream '{env=\"f\"}' has timestamp too new: 2026-11-22T03:42:09Z", ErrorKind::TooNew),
            (400, "entry with timestamp 2026-11-22 00:42:09.249691664 +0000 UTC ignored, reason: 'entry too far behind", ErrorKind::TooFarBehind),
            (400, "max entry size '262144' bytes exceeded for stream '{env=\"long\"}'", ErrorKind::LineTooLong),
            (400, "couldn't parse labels: 1:5: parse error: unexpected character inside braces: '-'", ErrorKind::InvalidLabels),
            (400, "entry for stream '{job=\"x\"}' has 17 label names; limit 15", ErrorKind::TooManyLabels),
            (422, "error at least one valid stream is required for ingestion", ErrorKind::EmptyRequest),
            (400, "snappy: corrupt input", ErrorKind::MalformedBody),
            (400, "EOF", ErrorKind::MalformedBody),
            (400, "parse error at line 1, col 15: syntax error: unexpected $end", ErrorKind::QueryParse),
            (400, "max entries limit per query exceeded, limit > max_entries_limit_per_query (100000 > 5000)", ErrorKind::QueryLimit),
            (400, "could not parse 'start' parameter: strconv.ParseInt", ErrorKind::BadParameter),
            (404, "404 page not found", ErrorKind::NotFound),
            (502, "<html>Bad Gateway</html>", ErrorKind::Other),
        ];
        for (status, message, want) in cases {
            assert_eq!(ErrorKind::classify(*status, message), *want, "{message}");
        }
    }

    #[test]
    fn oversize_500_is_not_retryable_but_other_5xx_are() {
        let big = ApiError::new(
            500,
            "/loki/api/v1/push",
            b"grpc: received message larger than max (1 vs. 0)",
            None,
        );
        assert!(!big.is_retryable());
        let bad_gateway =
            ApiError::new(502, "/loki/api/v1/push", b"<html>bad gateway</html>", None);
        assert!(bad_gateway.is_retryable());
        let bad = ApiError::new(400, "/loki/api/v1/push", b"EOF", None);
        assert!(!bad.is_retryable());
    }
}
