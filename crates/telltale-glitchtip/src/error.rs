//! The crate's one error type, and the typed view of what GlitchTip said when it refused a
//! request: status, class, the server's own words, field messages and `Retry-After`.

use std::time::Duration;

use serde::Deserialize;

pub(crate) use telltale_http::BoxError;

/// Everything that can go wrong in this crate.
///
/// Messages are lowercase fragments that read well after "failed to …". No message ever holds
/// the API token or a DSN key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A DSN could not be parsed or is not one GlitchTip accepts.
    #[error("parse dsn: {reason}")]
    InvalidDsn {
        /// What is wrong (the key itself is never quoted).
        reason: String,
    },
    /// An envelope is malformed. `offset` is the byte where reading stopped, `line` and
    /// `column` its 1-based position.
    #[error("read envelope at byte {offset} (line {line}, column {column}): {reason}")]
    Envelope {
        /// Byte offset into the (decompressed) envelope.
        offset: usize,
        /// 1-based line number of that byte.
        line: usize,
        /// 1-based column of that byte, counted in bytes from the start of its line.
        column: usize,
        /// What was expected there.
        reason: String,
    },
    /// An envelope item whose type defines a JSON payload (`event`, `transaction`,
    /// `session`, `span`, `log`…) holds something else. The envelope's framing was fine; the
    /// position is where the payload stops being a JSON object, in the whole envelope.
    #[error(
        "read envelope item {} (type {item_type:?}) at byte {offset} (line {line}, column {column}): {reason}",
        .index + 1
    )]
    EnvelopeItem {
        /// 0-based position of the item among all items of the envelope, skipped ones
        /// included (the message counts from 1).
        index: usize,
        /// The item's `type`.
        item_type: String,
        /// Byte offset into the (decompressed) envelope.
        offset: usize,
        /// 1-based line number of that byte.
        line: usize,
        /// 1-based column of that byte, counted in bytes from the start of its line.
        column: usize,
        /// What is wrong with the payload.
        reason: String,
    },
    /// A body could not be compressed or decompressed.
    #[error("decode {encoding} body: {reason}")]
    Compression {
        /// The content encoding (`gzip`, `deflate`, `br`).
        encoding: String,
        /// What went wrong.
        reason: String,
    },
    /// A caller-supplied setting or argument is unusable.
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
        /// Where the secret was expected, e.g. `file /run/secrets/glitchtip-token`.
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
    /// GlitchTip (or a proxy in front of it) answered with an error status.
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
    /// The `sentry` SDK could not be set up or did not flush in time.
    #[error("send through the sentry sdk: {reason}")]
    Sdk {
        /// What went wrong.
        reason: String,
    },
    /// Something awaited did not become visible through the API before the deadline.
    #[error("see {what} through the api within {waited:?}")]
    NotVisible {
        /// What was waited for, e.g. `event 5e30f800…`.
        what: String,
        /// How long was waited.
        waited: Duration,
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

    /// The API error inside, if GlitchTip answered with an error status.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// The class of the API error inside, if any.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.api().map(ApiError::kind)
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

/// One field message of a validation error (django-ninja's `detail` list).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldError {
    /// Where the error is, e.g. `["body", "payload", "name"]` or `["query", "cursor"]`. Empty
    /// when the server named no location (ingest's `{"message": …}` form).
    pub location: Vec<String>,
    /// The pydantic error type, e.g. `missing`, `int_parsing`, `uuid_parsing`.
    pub kind: Option<String>,
    /// The server's message, e.g. `Field required`.
    pub message: String,
}

impl FieldError {
    /// The field's name: the last element of the location.
    pub fn field(&self) -> Option<&str> {
        self.location.last().map(String::as_str)
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location.join("."), self.message)
        }
    }
}

/// What GlitchTip said when it answered with an error status.
///
/// GlitchTip answers JSON errors as `{"detail": "…"}`, validation errors as
/// `{"detail": [{"loc": […], "msg": "…"}]}`, throttling as `{"message": "Please retry later"}`,
/// and some failures (500, oversize 400, 404 on unknown routes) as HTML pages; the message is
/// the detail, the joined field messages, or the page's `<title>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) status: u16,
    pub(crate) endpoint: String,
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) fields: Vec<FieldError>,
    pub(crate) retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "call {}: glitchtip answered {} ({}): {}",
            self.endpoint,
            self.status,
            self.kind.as_str(),
            self.message
        )?;
        if let Some(after) = self.retry_after {
            write!(f, " (retry after {}s)", after.as_secs())?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    detail: Option<WireDetail>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WireDetail {
    Text(String),
    Fields(Vec<WireField>),
}

#[derive(Deserialize)]
struct WireField {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    loc: Vec<serde_json::Value>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ApiError {
    /// Reads an error answer.
    pub(crate) fn new(
        status: u16,
        endpoint: &str,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> ApiError {
        let mut fields = Vec::new();
        let message = match serde_json::from_slice::<WireError>(body) {
            Ok(WireError {
                detail: Some(WireDetail::Text(text)),
                ..
            }) => text,
            Ok(WireError {
                detail: Some(WireDetail::Fields(list)),
                ..
            }) => {
                fields = list
                    .into_iter()
                    .map(|f| FieldError {
                        location: f
                            .loc
                            .iter()
                            .map(|v| match v {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect(),
                        kind: f.kind,
                        message: f.msg.or(f.message).unwrap_or_default(),
                    })
                    .collect();
                fields
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            }
            Ok(WireError {
                message: Some(text),
                ..
            }) => text,
            _ => text_of(body),
        };
        ApiError {
            status,
            endpoint: endpoint.to_owned(),
            kind: ErrorKind::from_status(status, !fields.is_empty()),
            message,
            fields,
            retry_after,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The API path that was called (without query string, so never a key).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The class of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The server's words: the `detail` text, the joined field messages, or an HTML page's
    /// title.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field messages of a validation error (422, and ingest's malformed-key 422).
    pub fn fields(&self) -> &[FieldError] {
        &self.fields
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// 429, 502, 503 and 504 are retryable. GlitchTip's 500s come from bugs that repeat
    /// (a non-numeric id, a missing auth header), so they are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self.status, 429 | 502 | 503 | 504)
    }

    /// Whether this is ingest's answer to an unknown or wrong DSN key: 401 `Invalid DSN` from
    /// the store endpoint, 403 `Denied` from the envelope endpoint. Within 30 s of a wrong key
    /// GlitchTip gives the same answer to the project's correct key too.
    pub fn is_dsn_rejection(&self) -> bool {
        (self.status == 401 && self.message == "Invalid DSN")
            || (self.status == 403 && self.message == "Denied")
    }
}

/// The text of a non-JSON body: an HTML page's `<title>`, else the trimmed text (at most 300
/// characters).
fn text_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    if let (Some(start), Some(end)) = (lower.find("<title>"), lower.find("</title>")) {
        if start + 7 <= end {
            return text[start + 7..end].trim().to_owned();
        }
    }
    text.trim().chars().take(300).collect()
}

/// A class of GlitchTip error, from the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: unparsable body (`Cannot parse request body`, `Invalid envelope header`), or an
    /// HTML 400 for a compressed body that inflates past GlitchTip's limit.
    BadRequest,
    /// 401: missing or invalid API token, or ingest's `Invalid DSN`.
    Unauthorized,
    /// 403: the token lacks a scope (`Permission denied`), or ingest's `Denied`.
    Forbidden,
    /// 404: unknown organization, project, issue or event.
    NotFound,
    /// 405: wrong method for the endpoint.
    MethodNotAllowed,
    /// 413: body too large (from a proxy; GlitchTip itself answers 400).
    PayloadTooLarge,
    /// 422: validation errors with field messages.
    Validation,
    /// 429: throttled; see `Retry-After`.
    RateLimited,
    /// 503: maintenance (`MAINTENANCE_EVENT_FREEZE`) or a proxy with no backend.
    Unavailable,
    /// Any other 5xx.
    ServerError,
    /// Any other status.
    Other,
}

impl ErrorKind {
    fn from_status(status: u16, has_fields: bool) -> ErrorKind {
        match status {
            400 if has_fields => ErrorKind::Validation,
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            413 => ErrorKind::PayloadTooLarge,
            422 => ErrorKind::Validation,
            429 => ErrorKind::RateLimited,
            503 => ErrorKind::Unavailable,
            500..=599 => ErrorKind::ServerError,
            _ => ErrorKind::Other,
        }
    }

    /// A short name: `bad_request`, `unauthorized`, …
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::Validation => "validation",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_text_fields_and_html_are_read() {
        let e = ApiError::new(404, "/api/0/issues/9/", br#"{"detail": "Not Found"}"#, None);
        assert_eq!((e.kind(), e.message()), (ErrorKind::NotFound, "Not Found"));
        let e = ApiError::new(
            422,
            "/api/0/teams/o/t/projects/",
            br#"{"detail": [{"type": "missing", "loc": ["body", "payload", "name"], "msg": "Field required"}]}"#,
            None,
        );
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert_eq!(e.fields()[0].field(), Some("name"));
        assert_eq!(e.message(), "body.payload.name: Field required");
        let e = ApiError::new(
            422,
            "/api/2/store/",
            br#"{"detail": [{"message": "dsn key badly formed hexadecimal UUID string"}]}"#,
            None,
        );
        assert_eq!(e.message(), "dsn key badly formed hexadecimal UUID string");
        let e = ApiError::new(
            500,
            "/api/2/store/",
            b"\n<!doctype html>\n<html><head>\n  <title>Server Error (500)</title>\n</head></html>",
            None,
        );
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::ServerError, "Server Error (500)")
        );
        let e = ApiError::new(
            429,
            "/api/3/store/",
            br#"{"message": "Please retry later"}"#,
            Some(Duration::from_secs(600)),
        );
        assert!(e.is_retryable());
        assert!(e
            .to_string()
            .ends_with("Please retry later (retry after 600s)"));
        let e = ApiError::new(403, "/api/3/envelope/", br#"{"detail": "Denied"}"#, None);
        assert!(e.is_dsn_rejection());
    }
}
