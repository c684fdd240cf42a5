//! The error type of the shared HTTP plumbing; client crates map it into their own.

use std::time::Duration;

/// Boxed cause kept as `source()`, so no dependency's error type shows in a public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can fail below the level of an HTTP status: settings, secrets, the connection.
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
        /// Where the secret was expected, e.g. `file /run/secrets/token` or `env TOKEN`.
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
}

impl Error {
    pub(crate) fn config(reason: impl Into<String>, source: Option<BoxError>) -> Error {
        Error::Config {
            reason: reason.into(),
            source,
        }
    }
}
