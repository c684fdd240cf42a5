//! Batching entries by size and by age, with a running account of every entry handed in.
//!
//! [`Batcher`] is the pure part (no IO, no clock of its own), so its rules are unit-tested;
//! [`BatchPusher`] drives it from a background task with a real clock and a [`Client`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::entry::{Entry, Stream};
use crate::push::{EntryStatus, PushReport};
use crate::{Client, Error, LabelSet};

/// When a batch is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Send once the entries' [`Entry::size`] plus label text reaches this many bytes. Keep it
    /// well under 4 MiB: Loki's distributor refuses larger gRPC messages to its ingesters.
    pub max_bytes: usize,
    /// Send once the oldest buffered entry has waited this long.
    pub max_age: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_bytes: 1024 * 1024,
            max_age: Duration::from_secs(1),
        }
    }
}

/// Buffers entries into streams and says when a batch is due.
#[derive(Debug)]
pub struct Batcher {
    config: BatchConfig,
    streams: Vec<Stream>,
    index: HashMap<LabelSet, usize>,
    bytes: usize,
    oldest: Option<Instant>,
}

impl Batcher {
    /// An empty batcher.
    pub fn new(config: BatchConfig) -> Batcher {
        Batcher {
            config,
            streams: Vec::new(),
            index: HashMap::new(),
            bytes: 0,
            oldest: None,
        }
    }

    /// Adds an entry at time `now`; returns a full batch when the size limit is reached.
    pub fn add(&mut self, labels: &LabelSet, entry: Entry, now: Instant) -> Option<Vec<Stream>> {
        let idx = match self.index.get(labels) {
            Some(&idx) => idx,
            None => {
                self.streams.push(Stream::new(labels.clone(), Vec::new()));
                self.index.insert(labels.clone(), self.streams.len() - 1);
                self.bytes += labels.to_string().len();
                self.streams.len() - 1
            }
        };
        self.bytes += entry.size();
        self.streams[idx].entries.push(entry);
        self.oldest.get_or_insert(now);
        (self.bytes >= self.config.max_bytes).then(|| self.take())
    }

    /// When the buffered entries become due by age, if any are buffered.
    pub fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|t| t + self.config.max_age)
    }

    /// The buffered batch if it is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<Vec<Stream>> {
        (self.deadline()? <= now).then(|| self.take())
    }

    /// Everything buffered, due or not.
    pub fn take(&mut self) -> Vec<Stream> {
        self.index.clear();
        self.bytes = 0;
        self.oldest = None;
        std::mem::take(&mut self.streams)
    }

    /// Entries buffered.
    pub fn len(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

/// Totals over every batch a [`BatchPusher`] sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushTotals {
    /// Entries handed in.
    pub submitted: usize,
    /// Entries Loki stored.
    pub accepted: usize,
    /// Entries Loki refused, with their reasons.
    pub rejected: Vec<(Entry, String)>,
    /// Entries this client did not send, with the reason.
    pub not_sent: Vec<(Entry, String)>,
    /// Entries of unknown fate, with the reason.
    pub unknown: Vec<(Entry, String)>,
    /// Batches sent.
    pub batches: usize,
}

impl PushTotals {
    /// Whether every entry handed in is accounted for.
    pub fn is_balanced(&self) -> bool {
        self.submitted
            == self.accepted + self.rejected.len() + self.not_sent.len() + self.unknown.len()
    }

    fn record(&mut self, sent: &[Stream], report: Result<PushReport, Error>) {
        self.batches += 1;
        match report {
            Ok(report) => {
                for o in report.outcomes() {
                    let entry = sent[o.stream].entries[o.entry].clone();
                    match &o.status {
                        EntryStatus::Accepted => self.accepted += 1,
                        EntryStatus::Rejected { reason, .. } => {
                            self.rejected.push((entry, reason.clone()))
                        }
                        EntryStatus::NotSent { reason } => {
                            self.not_sent.push((entry, reason.clone()))
                        }
                        EntryStatus::Unknown { reason } => {
                            self.unknown.push((entry, reason.clone()))
                        }
                    }
                }
            }
            Err(err) => {
                // A request-level refusal stored nothing.
                let reason = err.to_string();
                for e in sent.iter().flat_map(|s| &s.entries) {
                    self.rejected.push((e.clone(), reason.clone()));
                }
            }
        }
    }
}

enum Command {
    Entry(LabelSet, Entry),
    Finish(oneshot::Sender<PushTotals>),
}

/// Pushes entries in batches from a background task, by size and by age.
///
/// Call [`BatchPusher::finish`] to flush and get the totals: dropping the pusher without it
/// flushes nothing further, and the totals are lost.
#[derive(Debug)]
pub struct BatchPusher {
    tx: mpsc::Sender<Command>,
}

impl BatchPusher {
    /// Starts the background task on the current tokio runtime.
    pub fn spawn(client: Client, config: BatchConfig) -> BatchPusher {
        let (tx, mut rx) = mpsc::channel::<Command>(1024);
        tokio::spawn(async move {
            let mut batcher = Batcher::new(config);
            let mut totals = PushTotals::default();
            loop {
                let deadline = batcher.deadline();
                let cmd = match deadline {
                    Some(d) => match tokio::time::timeout_at(d.into(), rx.recv()).await {
                        Ok(cmd) => cmd,
                        Err(_) => {
                            if let Some(batch) = batcher.take_due(Instant::now()) {
                                let res = client.push_accounted(&batch).await;
                                totals.record(&batch, res);
                            }
                            continue;
                        }
                    },
                    None => rx.recv().await,
                };
                match cmd {
                    Some(Command::Entry(labels, entry)) => {
                        totals.submitted += 1;
                        if let Some(batch) = batcher.add(&labels, entry, Instant::now()) {
                            let res = client.push_accounted(&batch).await;
                            totals.record(&batch, res);
                        }
                    }
                    Some(Command::Finish(reply)) => {
                        if !batcher.is_empty() {
                            let batch = batcher.take();
                            let res = client.push_accounted(&batch).await;
                            totals.record(&batch, res);
                        }
                        let _ = reply.send(std::mem::take(&mut totals));
                        return;
                    }
                    None => return,
                }
            }
        });
        BatchPusher { tx }
    }

    /// Hands in one entry. Waits only when 1024 entries are already queued.
    pub async fn send(&self, labels: &LabelSet, entry: Entry) -> Result<(), Error> {
        self.tx
            .send(Command::Entry(labels.clone(), entry))
            .await
            .map_err(|_| Error::config("the batch pusher's task has stopped"))
    }

    /// Flushes what is buffered and returns the account of every entry handed in.
    pub async fn finish(self) -> Result<PushTotals, Error> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Finish(reply))
            .await
            .map_err(|_| Error::config("the batch pusher's task has stopped"))?;
        rx.await
            .map_err(|_| Error::config("the batch pusher's task stopped before reporting"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn entry(n: usize) -> Entry {
        Entry::new(Timestamp::from_unix_nanos(n as i64), "x".repeat(100))
    }

    #[test]
    fn flushes_by_size() {
        let labels = LabelSet::new([("job", "t")]).unwrap();
        let mut b = Batcher::new(BatchConfig {
            max_bytes: 1000,
            max_age: Duration::from_secs(60),
        });
        let now = Instant::now();
        let mut batches = Vec::new();
        for n in 0..25 {
            if let Some(batch) = b.add(&labels, entry(n), now) {
                batches.push(batch);
            }
        }
        assert_eq!(
            batches.len(),
            2,
            "1000 bytes hold 9 entries of 100 bytes plus labels"
        );
        assert_eq!(batches[0][0].entries.len(), 10);
        assert_eq!(b.len(), 5);
    }

    #[test]
    fn flushes_by_age_and_groups_streams() {
        let a = LabelSet::new([("job", "a")]).unwrap();
        let z = LabelSet::new([("job", "z")]).unwrap();
        let mut b = Batcher::new(BatchConfig {
            max_bytes: usize::MAX,
            max_age: Duration::from_millis(100),
        });
        let t0 = Instant::now();
        b.add(&a, entry(1), t0);
        b.add(&z, entry(2), t0 + Duration::from_millis(50));
        b.add(&a, entry(3), t0 + Duration::from_millis(60));
        assert!(b.take_due(t0 + Duration::from_millis(99)).is_none());
        let batch = b.take_due(t0 + Duration::from_millis(100)).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].entries.len(), 2);
        assert!(b.is_empty() && b.deadline().is_none());
    }
}
