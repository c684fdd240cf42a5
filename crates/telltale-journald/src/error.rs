//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

use crate::reader::Collected;

/// A boxed error from a lower layer, kept as `source()` so no dependency type is public.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in this crate.
///
/// Messages are lowercase fragments that read well after "failed to …".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field name breaks journald's rules (see [`FieldName`](crate::FieldName)).
    #[error("use {name:?} as a journal field name: {reason}")]
    InvalidFieldName {
        /// The offending name (lossily decoded if it was not UTF-8).
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An entry journald would drop or the writer refuses: too many fields, a value or the whole
    /// entry over journald's size limits, or a field the writer sets itself.
    #[error("send entry: {reason}")]
    InvalidEntry {
        /// What is wrong with the entry.
        reason: String,
    },
    /// A caller-supplied setting is unusable (socket path too long, bad priority text).
    #[error("invalid configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The socket could not be created or configured.
    #[error("set up a datagram socket for {path}")]
    Socket {
        /// The journald socket the writer is for.
        path: PathBuf,
        /// The underlying cause.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused the datagram: journald is not listening (`ENOENT`, `ECONNREFUSED`),
    /// or permission was denied.
    #[error("send entry to {path}")]
    Send {
        /// The journald socket.
        path: PathBuf,
        /// The underlying cause.
        #[source]
        source: std::io::Error,
    },
    /// journald's receive queue stayed full for the whole send timeout.
    #[error("send entry to {path} within {timeout:?}: journald's queue stayed full")]
    Timeout {
        /// The journald socket.
        path: PathBuf,
        /// The send timeout that expired.
        timeout: Duration,
    },
    /// Creating, filling, sealing or passing the memfd for a large entry failed.
    #[error("pass a large entry to {path} through a sealed memfd ({step})")]
    Memfd {
        /// The journald socket.
        path: PathBuf,
        /// The step that failed: `memfd_create`, `write`, `seal` or `send`.
        step: &'static str,
        /// The underlying cause.
        #[source]
        source: std::io::Error,
    },
    /// Bytes that are not a well-formed native-protocol message.
    #[error("decode native journal message at byte {offset}: {reason}")]
    NativeDecode {
        /// Byte offset where decoding stopped.
        offset: usize,
        /// What was expected there.
        reason: String,
    },
    /// `journalctl` could not be started.
    #[error("run {program}")]
    Spawn {
        /// The program that was run.
        program: PathBuf,
        /// The underlying cause.
        #[source]
        source: std::io::Error,
    },
    /// `journalctl` exited with an error.
    #[error("read the journal: {program} exited with {status}: {stderr}")]
    Journalctl {
        /// The program that was run.
        program: PathBuf,
        /// Its exit status, as printed by the standard library.
        status: String,
        /// What it printed on stderr (trimmed, at most 2000 bytes).
        stderr: String,
    },
    /// A line of `journalctl -o json` output is not what this crate understands.
    #[error("decode journalctl json line {line}: {reason} (line starts {line_start:?})")]
    JsonDecode {
        /// 1-based line number in the output.
        line: usize,
        /// What did not match.
        reason: String,
        /// The first bytes of the line, for diagnosis.
        line_start: String,
        /// The underlying parse error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// [`Reader::wait_for`](crate::Reader::wait_for) did not find exactly the expected entries
    /// before its deadline: some sequence numbers are missing, duplicated, or unexpected.
    #[error("find exactly {expected} entries within {waited:?}: {summary}", summary = collected.summary())]
    Incomplete {
        /// The number of entries expected (sequence numbers `0..expected`).
        expected: u64,
        /// How long the wait lasted.
        waited: Duration,
        /// What the last poll found.
        collected: Box<Collected>,
    },
}

impl Error {
    pub(crate) fn config(reason: impl Into<String>) -> Error {
        Error::Config {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_entry(reason: impl Into<String>) -> Error {
        Error::InvalidEntry {
            reason: reason.into(),
        }
    }

    pub(crate) fn native(offset: usize, reason: impl Into<String>) -> Error {
        Error::NativeDecode {
            offset,
            reason: reason.into(),
        }
    }

    /// What [`Reader::wait_for`](crate::Reader::wait_for) found, if this is an
    /// [`Error::Incomplete`].
    pub fn collected(&self) -> Option<&Collected> {
        match self {
            Error::Incomplete { collected, .. } => Some(collected),
            _ => None,
        }
    }
}

/// The first 200 bytes of a line, lossily decoded, for error messages.
pub(crate) fn line_start(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()
}
