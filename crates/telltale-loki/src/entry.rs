//! Log entries and streams: what a push carries and what a query returns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::LabelSet;

/// A point in time with nanosecond precision, as Loki stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Nanoseconds since the Unix epoch.
    pub const fn from_unix_nanos(ns: i64) -> Timestamp {
        Timestamp(ns)
    }

    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (floored).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// This time plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// This time minus `d` (saturating).
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Err(before) => {
                Timestamp(-i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX))
            }
        }
    }
}

/// One log line with its timestamp and optional structured metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// When the line was logged.
    pub timestamp: Timestamp,
    /// The line itself.
    pub line: String,
    /// Structured metadata (name/value pairs stored beside the line, not indexed).
    pub structured_metadata: Vec<(String, String)>,
}

impl Entry {
    /// An entry without structured metadata.
    pub fn new(timestamp: Timestamp, line: impl Into<String>) -> Entry {
        Entry {
            timestamp,
            line: line.into(),
            structured_metadata: Vec::new(),
        }
    }

    /// Adds one structured-metadata pair.
    pub fn with_metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Entry {
        self.structured_metadata.push((name.into(), value.into()));
        self
    }

    /// The size Loki counts against its rate limits: line plus metadata names and values.
    pub fn size(&self) -> usize {
        self.line.len()
            + self
                .structured_metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// A stream: one label set and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The stream's labels.
    pub labels: LabelSet,
    /// Its entries, in the order they are pushed.
    pub entries: Vec<Entry>,
}

impl Stream {
    /// A stream with the given labels and entries.
    pub fn new(labels: LabelSet, entries: Vec<Entry>) -> Stream {
        Stream { labels, entries }
    }
}

/// An entry read back from Loki, with what Loki stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEntry {
    /// The entry's timestamp.
    pub timestamp: Timestamp,
    /// The line.
    pub line: String,
    /// Structured metadata, including fields Loki adds itself such as `detected_level`.
    pub structured_metadata: Vec<(String, String)>,
    /// Labels extracted by parser stages of the query (`| json`, `| logfmt`).
    pub parsed: Vec<(String, String)>,
}

/// A stream read back from Loki.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadStream {
    /// The stream's labels, including any Loki added (such as `service_name`).
    pub labels: LabelSet,
    /// Entries in the order Loki returned them.
    pub entries: Vec<ReadEntry>,
}
