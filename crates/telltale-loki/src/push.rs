//! Pushing streams, and accounting for every entry: accepted, rejected (with Loki's reason),
//! not sent, or unknown.
//!
//! Loki keeps the valid entries of a request and answers 400 naming the rejected ones, in one of
//! these wordings (`pkg/validation/validate.go`, `pkg/ingester/stream.go`, and the recordings
//! in `fixtures/loki/`):
//!
//! - `entry for stream '{…}' has timestamp too old: <RFC3339>, oldest acceptable timestamp is: …`
//! - `entry for stream '{…}' has timestamp too new: <RFC3339>`
//! - `max entry size '<n>' bytes exceeded for stream '{…}' while adding an entry with length '<n>' bytes`
//! - `entry for stream '{…}' has <n> label names; limit <n>` (and the other per-stream label limits)
//! - `entry with timestamp <Go time> ignored, reason: '…',` repeated, then
//!   `user '<tenant>', total ignored: <n> out of <m> for stream: {…}`
//!
//! Stream text in those messages is the stream as Loki stored it, which may carry labels Loki
//! added (`service_name`), so a message's stream matches ours when ours is a subset of it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::encode::{encode_push, PushEncoding};
use crate::entry::{Stream, Timestamp};
use crate::error::ErrorKind;
use crate::{Client, Error, LabelSet};
use telltale_http::{Answer, Body, Method};

/// What happened to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryStatus {
    /// Loki stored it.
    Accepted,
    /// Loki refused it, for the reason given.
    Rejected {
        /// The class of refusal.
        kind: ErrorKind,
        /// Loki's own words.
        reason: String,
    },
    /// This client refused to send it (e.g. a line over `max_line_size`).
    NotSent {
        /// Why.
        reason: String,
    },
    /// Its fate could not be established: the request failed without a clear answer, or Loki's
    /// answer did not say which entries it refused. Query for it before resending.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl EntryStatus {
    /// The class of refusal, for a rejected entry.
    pub fn rejection_kind(&self) -> Option<ErrorKind> {
        match self {
            EntryStatus::Rejected { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// The fate of one entry of a push, addressed by its position in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryOutcome {
    /// Index of the stream in the pushed slice.
    pub stream: usize,
    /// Index of the entry within that stream.
    pub entry: usize,
    /// What happened to it.
    pub status: EntryStatus,
}

/// Per-entry accounting of one push.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushReport {
    outcomes: Vec<EntryOutcome>,
    attempts: u32,
    http_status: Option<u16>,
    request_bytes: usize,
}

impl PushReport {
    /// Every entry's outcome, in request order.
    pub fn outcomes(&self) -> &[EntryOutcome] {
        &self.outcomes
    }

    /// Entries Loki stored.
    pub fn accepted(&self) -> usize {
        self.count(|s| matches!(s, EntryStatus::Accepted))
    }

    /// Entries Loki refused.
    pub fn rejected(&self) -> usize {
        self.count(|s| matches!(s, EntryStatus::Rejected { .. }))
    }

    /// Entries this client did not send.
    pub fn not_sent(&self) -> usize {
        self.count(|s| matches!(s, EntryStatus::NotSent { .. }))
    }

    /// Entries of unknown fate.
    pub fn unknown(&self) -> usize {
        self.count(|s| matches!(s, EntryStatus::Unknown { .. }))
    }

    /// Entries in the request.
    pub fn total(&self) -> usize {
        self.outcomes.len()
    }

    /// HTTP attempts made (0 when nothing was sent).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The status of the last HTTP answer, if one came.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }

    /// Size of the last request body sent, in bytes, after compression.
    pub fn request_bytes(&self) -> usize {
        self.request_bytes
    }

    /// Whether every entry was accepted.
    pub fn is_complete(&self) -> bool {
        self.accepted() == self.total()
    }

    /// `Ok` when every entry was accepted; otherwise [`Error::Rejected`] carrying this report.
    pub fn into_result(self) -> Result<PushReport, Error> {
        if self.is_complete() {
            return Ok(self);
        }
        let first_reason = self
            .outcomes
            .iter()
            .find_map(|o| match &o.status {
                EntryStatus::Accepted => None,
                EntryStatus::Rejected { reason, .. }
                | EntryStatus::NotSent { reason }
                | EntryStatus::Unknown { reason } => Some(reason.clone()),
            })
            .unwrap_or_default();
        Err(Error::Rejected {
            rejected: self.rejected() + self.not_sent(),
            unknown: self.unknown(),
            total: self.total(),
            first_reason,
            report: Box::new(self),
        })
    }

    fn count(&self, f: impl Fn(&EntryStatus) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(&o.status)).count()
    }
}

/// The account of a push made with [`Client::push_owned`]: counts, and an [`EntryOutcome`] only
/// for the entries Loki did not accept.
///
/// [`PushReport`] holds one outcome per entry, which costs a push of thousands of lines as
/// much again as encoding it; when every entry is accepted this holds none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushSummary {
    /// Entries per stream, in the pushed order, so [`PushSummary::into_report`] can name the
    /// accepted ones.
    lens: Vec<usize>,
    accepted: usize,
    exceptions: Vec<EntryOutcome>,
    attempts: u32,
    http_status: Option<u16>,
    request_bytes: usize,
}

impl PushSummary {
    fn from_statuses(
        lens: Vec<usize>,
        statuses: Vec<Vec<EntryStatus>>,
        report: &PushReport,
    ) -> PushSummary {
        let mut summary = PushSummary {
            lens,
            attempts: report.attempts,
            http_status: report.http_status,
            request_bytes: report.request_bytes,
            ..PushSummary::default()
        };
        for (stream, entries) in statuses.into_iter().enumerate() {
            for (entry, status) in entries.into_iter().enumerate() {
                summary.note(EntryOutcome {
                    stream,
                    entry,
                    status,
                });
            }
        }
        summary
    }

    fn from_report(lens: Vec<usize>, report: PushReport) -> PushSummary {
        let mut summary = PushSummary {
            lens,
            attempts: report.attempts,
            http_status: report.http_status,
            request_bytes: report.request_bytes,
            ..PushSummary::default()
        };
        for outcome in report.outcomes {
            summary.note(outcome);
        }
        summary
    }

    fn note(&mut self, outcome: EntryOutcome) {
        if outcome.status == EntryStatus::Accepted {
            self.accepted += 1;
        } else {
            self.exceptions.push(outcome);
        }
    }

    /// The outcomes of the entries Loki did not accept, in request order; empty when it
    /// accepted them all.
    pub fn exceptions(&self) -> &[EntryOutcome] {
        &self.exceptions
    }

    /// Entries Loki stored.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// Entries Loki refused.
    pub fn rejected(&self) -> usize {
        self.count(|s| matches!(s, EntryStatus::Rejected { .. }))
    }

    /// Entries this client did not send.
    pub fn not_sent(&self) -> usize {
        self.count(|s| matches!(s, EntryStatus::NotSent { .. }))
    }

    /// Entries of unknown fate.
    pub fn unknown(&self) -> usize {
        self.count(|s| matches!(s, EntryStatus::Unknown { .. }))
    }

    /// Entries in the request.
    pub fn total(&self) -> usize {
        self.lens.iter().sum()
    }

    /// HTTP attempts made (0 when nothing was sent).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The status of the last HTTP answer, if one came.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }

    /// Size of the last request body sent, in bytes, after compression.
    pub fn request_bytes(&self) -> usize {
        self.request_bytes
    }

    /// Whether every entry was accepted.
    pub fn is_complete(&self) -> bool {
        self.exceptions.is_empty()
    }

    /// The same account with one outcome per entry, as [`Client::push_accounted`] gives it.
    pub fn into_report(self) -> PushReport {
        let mut outcomes = Vec::with_capacity(self.total());
        let mut exceptions = self.exceptions.into_iter().peekable();
        for (stream, &len) in self.lens.iter().enumerate() {
            for entry in 0..len {
                let status = match exceptions.next_if(|o| (o.stream, o.entry) == (stream, entry)) {
                    Some(outcome) => outcome.status,
                    None => EntryStatus::Accepted,
                };
                outcomes.push(EntryOutcome {
                    stream,
                    entry,
                    status,
                });
            }
        }
        PushReport {
            outcomes,
            attempts: self.attempts,
            http_status: self.http_status,
            request_bytes: self.request_bytes,
        }
    }

    /// `Ok` when every entry was accepted; otherwise [`Error::Rejected`], as
    /// [`PushReport::into_result`] gives it.
    pub fn into_result(self) -> Result<PushSummary, Error> {
        if self.is_complete() {
            return Ok(self);
        }
        self.into_report().into_result().map(|report| {
            // Unreachable in practice: a summary with exceptions is never a complete report.
            PushSummary::from_report(Vec::new(), report)
        })
    }

    fn count(&self, f: impl Fn(&EntryStatus) -> bool) -> usize {
        self.exceptions.iter().filter(|o| f(&o.status)).count()
    }
}

impl Client {
    /// Pushes streams and fails unless Loki accepted every entry.
    ///
    /// On a partial rejection the error is [`Error::Rejected`], whose report says which entries
    /// were stored and why the others were not. Request-level failures (401, 404, 422, retries
    /// exhausted) come back as [`Error::Api`] and friends: nothing was stored, except that after
    /// a 5xx or a timeout Loki may have stored some of it; see [`Client::push_accounted`].
    pub async fn push(&self, streams: &[Stream]) -> Result<PushReport, Error> {
        let report = self.push_accounted(streams).await?;
        report.into_result()
    }

    /// Pushes streams and accounts for every entry.
    ///
    /// Returns `Err` only for request-level failures that stored nothing for certain: a
    /// permanent 4xx other than 400, or a configuration error. A 400 that names rejected entries,
    /// and a request whose fate is unclear after retries (5xx, timeout, connection reset), come
    /// back as `Ok` with each entry marked.
    ///
    /// Retrying a whole request after a 5xx is safe for reads: Loki drops entries identical in
    /// stream, timestamp and line when it queries them.
    pub async fn push_accounted(&self, streams: &[Stream]) -> Result<PushReport, Error> {
        let mut outcomes = Vec::new();
        let mut to_send: Vec<Stream> = Vec::with_capacity(streams.len());
        // Where each sent entry came from, so outcomes refer to the caller's indices.
        let mut origin: Vec<Vec<(usize, usize)>> = Vec::with_capacity(streams.len());
        let mut merged: HashMap<&LabelSet, usize> = HashMap::new();
        for (stream_idx, stream) in streams.iter().enumerate() {
            let slot = *merged.entry(&stream.labels).or_insert_with(|| {
                to_send.push(Stream {
                    labels: stream.labels.clone(),
                    entries: Vec::new(),
                });
                origin.push(Vec::new());
                to_send.len() - 1
            });
            for (entry_idx, entry) in stream.entries.iter().enumerate() {
                if let Some(reason) = self.refuse_locally(entry) {
                    outcomes.push(EntryOutcome {
                        stream: stream_idx,
                        entry: entry_idx,
                        status: EntryStatus::NotSent { reason },
                    });
                    continue;
                }
                to_send[slot].entries.push(entry.clone());
                origin[slot].push((stream_idx, entry_idx));
            }
        }
        to_send.retain(|s| !s.entries.is_empty());
        origin.retain(|o| !o.is_empty());
        let mut report = PushReport {
            outcomes,
            ..PushReport::default()
        };
        if to_send.is_empty() {
            sort_outcomes(&mut report.outcomes);
            return Ok(report);
        }

        let statuses = self.send_with_retries(&to_send, &mut report, None).await?;
        for (slot, stream_statuses) in statuses.into_iter().enumerate() {
            for (pos, status) in stream_statuses.into_iter().enumerate() {
                let (stream, entry) = origin[slot][pos];
                report.outcomes.push(EntryOutcome {
                    stream,
                    entry,
                    status,
                });
            }
        }
        sort_outcomes(&mut report.outcomes);
        Ok(report)
    }

    /// [`Client::push_accounted`] for streams the caller hands over, accounted compactly.
    ///
    /// The streams are encoded once as they are and sent; when Loki accepts the request, no entry
    /// is copied and no per-entry outcome is made, which is most of what `push_accounted` costs
    /// beyond encoding. Only when an attempt is refused in part or fails does it settle each
    /// entry as `push_accounted` does, and retries then resend only the entries still in doubt.
    /// Streams that need reshaping before they can be sent (two with the same labels, an empty
    /// one, or an entry this client refuses locally) take `push_accounted`'s path.
    ///
    /// Returns `Err` in the same cases as `push_accounted`.
    pub async fn push_owned(&self, streams: Vec<Stream>) -> Result<PushSummary, Error> {
        let lens: Vec<usize> = streams.iter().map(|s| s.entries.len()).collect();
        if !self.sendable_as_is(&streams) {
            let report = self.push_accounted(&streams).await?;
            return Ok(PushSummary::from_report(lens, report));
        }
        let encoded = encode_push(&streams, self.inner.encoding);
        let mut report = PushReport {
            request_bytes: encoded.body.len(),
            ..PushReport::default()
        };
        let body = Body {
            bytes: &encoded.body,
            content_type: encoded.content_type,
            content_encoding: encoded.content_encoding,
        };
        let attempt = self
            .exchange(Method::Post, "/loki/api/v1/push", &[], Some(body), &[])
            .await;
        drop(encoded);
        if let Ok(answer) = &attempt {
            return Ok(PushSummary {
                accepted: lens.iter().sum(),
                lens,
                exceptions: Vec::new(),
                attempts: 1,
                http_status: Some(answer.status),
                request_bytes: report.request_bytes,
            });
        }
        let statuses = self
            .send_with_retries(&streams, &mut report, Some(attempt))
            .await?;
        Ok(PushSummary::from_statuses(lens, statuses, &report))
    }

    /// Whether `streams` can go in one request exactly as they are, with entry indices that
    /// are the caller's: no empty stream, no label set twice (Loki's messages name streams by
    /// labels, so two alike could not be told apart), no entry refused locally.
    fn sendable_as_is(&self, streams: &[Stream]) -> bool {
        let mut seen = HashSet::with_capacity(streams.len());
        streams.iter().all(|s| {
            !s.entries.is_empty()
                && seen.insert(&s.labels)
                && s.entries.iter().all(|e| self.refuse_locally(e).is_none())
        })
    }

    /// Sends `streams`, retrying per the client's policy, and settles each entry's status.
    ///
    /// Only entries still in doubt are resent: an entry Loki stored on an earlier attempt stays
    /// accepted, and one it refused for good (too old, too long) is not sent again. Entries
    /// refused for a retryable reason (per-stream rate limit, stream limit) or lost to a 5xx or
    /// a timeout are resent until the policy is spent.
    ///
    /// `first` is an attempt the caller already made with all of `streams` (its
    /// `request_bytes` already in `report`), so [`Client::push_owned`] can send before it
    /// knows whether per-entry accounting will be needed at all.
    async fn send_with_retries(
        &self,
        streams: &[Stream],
        report: &mut PushReport,
        mut first: Option<Result<Answer, Error>>,
    ) -> Result<Vec<Vec<EntryStatus>>, Error> {
        let policy = self.inner.retry;
        let started = std::time::Instant::now();
        let mut settled: Vec<Vec<Option<EntryStatus>>> = streams
            .iter()
            .map(|s| vec![None; s.entries.len()])
            .collect();
        loop {
            // The entries still pending, with their positions in `streams`. While nothing is
            // settled (the first attempt) that is all of `streams`, borrowed: copying every entry
            // only pays off once some are left out.
            let mut positions: Vec<(usize, Vec<usize>)> = Vec::new();
            let all_open = settled.iter().flatten().all(Option::is_none);
            let pending: Cow<'_, [Stream]> = if all_open {
                for (idx, stream) in streams.iter().enumerate() {
                    if !stream.entries.is_empty() {
                        positions.push((idx, (0..stream.entries.len()).collect()));
                    }
                }
                let sent: Vec<usize> = positions.iter().map(|(idx, _)| *idx).collect();
                if sent.len() == streams.len() {
                    Cow::Borrowed(streams)
                } else {
                    Cow::Owned(sent.iter().map(|&idx| streams[idx].clone()).collect())
                }
            } else {
                let mut pending: Vec<Stream> = Vec::new();
                for (idx, stream) in streams.iter().enumerate() {
                    let open: Vec<usize> = (0..stream.entries.len())
                        .filter(|&i| settled[idx][i].is_none())
                        .collect();
                    if !open.is_empty() {
                        pending.push(Stream {
                            labels: stream.labels.clone(),
                            entries: open.iter().map(|&i| stream.entries[i].clone()).collect(),
                        });
                        positions.push((idx, open));
                    }
                }
                Cow::Owned(pending)
            };
            if pending.is_empty() {
                break;
            }
            report.attempts += 1;
            let attempt = match first.take() {
                Some(attempt) => attempt,
                None => {
                    let encoded = encode_push(&pending, self.inner.encoding);
                    report.request_bytes = encoded.body.len();
                    let body = Body {
                        bytes: &encoded.body,
                        content_type: encoded.content_type,
                        content_encoding: encoded.content_encoding,
                    };
                    self.exchange(Method::Post, "/loki/api/v1/push", &[], Some(body), &[])
                        .await
                }
            };
            let retries_left = report.attempts < policy.max_attempts;
            // Per pending entry: `Some(status)` settles it, `None` leaves it for another attempt.
            let (outcome, retry_after, last_error): (
                Vec<Vec<Option<EntryStatus>>>,
                Option<Duration>,
                Option<Error>,
            ) = match attempt {
                Ok(answer) => {
                    report.http_status = Some(answer.status);
                    (
                        pending
                            .iter()
                            .map(|s| vec![Some(EntryStatus::Accepted); s.entries.len()])
                            .collect(),
                        None,
                        None,
                    )
                }
                Err(Error::Api(api)) if api.status() == 400 || api.status() == 429 => {
                    report.http_status = Some(api.status());
                    let retry_after = api.retry_after();
                    // A 400 is final; a 429 is worth another try for what it refused.
                    let resend = retries_left && api.status() == 429;
                    let statuses = if api.kind() == ErrorKind::RateLimited {
                        // The tenant-wide rate limit refuses the whole request before storing anything.
                        let reason = api.message().to_owned();
                        pending
                            .iter()
                            .map(|s| {
                                vec![
                                    EntryStatus::Rejected {
                                        kind: ErrorKind::RateLimited,
                                        reason: reason.clone()
                                    };
                                    s.entries.len()
                                ]
                            })
                            .collect()
                    } else {
                        attribute_rejections(&pending, api.message())
                    };
                    let outcome = statuses
                        .into_iter()
                        .map(|stream| {
                            stream
                                .into_iter()
                                .map(|status| {
                                    if resend && is_worth_retrying(&status) {
                                        None
                                    } else {
                                        Some(status)
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    (outcome, retry_after, None)
                }
                Err(err) if err.is_retryable() => {
                    report.http_status = err.api().map(|a| a.status());
                    let retry_after = err.api().and_then(|a| a.retry_after());
                    (
                        pending
                            .iter()
                            .map(|s| vec![None; s.entries.len()])
                            .collect(),
                        retry_after,
                        Some(err),
                    )
                }
                // Refused as a whole (401, 404, 422, oversize): nothing of this attempt was stored.
                Err(err) if report.attempts == 1 => return Err(err),
                Err(err) => {
                    let reason = format!(
                        "a retry was refused ({err}); earlier attempts may have stored this entry"
                    );
                    (
                        pending
                            .iter()
                            .map(|s| {
                                vec![
                                    Some(EntryStatus::Unknown {
                                        reason: reason.clone()
                                    });
                                    s.entries.len()
                                ]
                            })
                            .collect(),
                        None,
                        None,
                    )
                }
            };
            for ((idx, open), stream_outcome) in positions.iter().zip(outcome) {
                for (&i, status) in open.iter().zip(stream_outcome) {
                    settled[*idx][i] = status;
                }
            }
            if settled.iter().flatten().all(Option::is_some) {
                break;
            }
            let wait = policy.backoff(report.attempts - 1, retry_after);
            if !retries_left || started.elapsed() + wait > policy.max_elapsed {
                let reason = match &last_error {
                    Some(err) => format!("request failed after {} attempts, Loki may or may not have stored it: {err}", report.attempts),
                    None => format!("still refused after {} attempts", report.attempts),
                };
                for status in settled.iter_mut().flatten().filter(|s| s.is_none()) {
                    *status = Some(EntryStatus::Unknown {
                        reason: reason.clone(),
                    });
                }
                break;
            }
            tokio::time::sleep(wait).await;
        }
        Ok(settled
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|st| st.expect("every entry is settled"))
                    .collect()
            })
            .collect())
    }

    fn refuse_locally(&self, entry: &crate::Entry) -> Option<String> {
        if let Some(max) = self.inner.max_line_size {
            if entry.line.len() > max {
                return Some(format!(
                    "line is {} bytes; max_line_size is {max}",
                    entry.line.len()
                ));
            }
        }
        let limits = self.inner.label_limits;
        for (idx, (name, value)) in entry.structured_metadata.iter().enumerate() {
            if entry.structured_metadata[..idx]
                .iter()
                .any(|(earlier, _)| earlier == name)
            {
                // Loki keeps structured metadata as a label set; a repeated name would lose a value.
                return Some(format!("structured metadata name {name:?} appears twice"));
            }
            if let Err(err) = crate::labels::validate_name(name, limits.max_name_len) {
                return Some(format!("structured metadata: {err}"));
            }
            if matches!(self.inner.encoding, PushEncoding::Json { .. })
                && value.chars().any(|c| c == '"' || c == '\\' || c < ' ')
            {
                // Loki's JSON decoder keeps structured-metadata strings in their escaped form, so
                // `a"b` would be stored as `a\"b` (seen on 3.5.12; fixtures/loki/README.md).
                return Some(format!(
                    "structured metadata {name:?} holds a quote, backslash or control character, which Loki's JSON push path stores escaped; use PushEncoding::Protobuf"
                ));
            }
            if value.len() > limits.max_value_len {
                return Some(format!(
                    "structured metadata {name:?} is {} bytes; the limit is {}",
                    value.len(),
                    limits.max_value_len
                ));
            }
        }
        None
    }
}

/// Whether an entry refused with this status may be stored by sending it again.
fn is_worth_retrying(status: &EntryStatus) -> bool {
    match status {
        EntryStatus::Rejected { kind, .. } => matches!(
            kind,
            ErrorKind::RateLimited | ErrorKind::StreamRateLimited | ErrorKind::StreamLimit
        ),
        EntryStatus::Unknown { .. } => true,
        EntryStatus::Accepted | EntryStatus::NotSent { .. } => false,
    }
}

fn sort_outcomes(outcomes: &mut [EntryOutcome]) {
    outcomes.sort_by_key(|o| (o.stream, o.entry));
}

/// One rejection named in a 400 body.
#[derive(Debug, PartialEq)]
enum Named {
    /// Entries of a stream within one wall-clock second (Loki prints RFC3339 without fraction).
    Second { stream: LabelSet, second: i64 },
    /// One entry at an exact nanosecond.
    Exact { stream: LabelSet, ns: i64 },
    /// An entry of a stream with a line of this length.
    LineLength { stream: LabelSet, len: usize },
    /// Every entry of a stream.
    WholeStream { stream: LabelSet },
    /// `total ignored: n out of m` for a stream.
    IgnoredCount { stream: LabelSet, ignored: usize },
}

/// Marks each entry of `sent` from a 400 body. Entries no message names were stored, unless some
/// message could not be read, in which case they are `Unknown`.
pub(crate) fn attribute_rejections(sent: &[Stream], body: &str) -> Vec<Vec<EntryStatus>> {
    let kind_of = |line: &str| crate::error::ApiError::new(400, "", line.as_bytes(), None).kind();
    let mut statuses: Vec<Vec<Option<EntryStatus>>> =
        sent.iter().map(|s| vec![None; s.entries.len()]).collect();
    let mut unreadable: Vec<String> = Vec::new();
    let mut ignored_counts: Vec<(usize, usize, String)> = Vec::new();
    let mut pending_ingester_lines: Vec<(Named, String)> = Vec::new();

    // Messages naming a second or a line length pick out "one of these entries"; count them per
    // candidate group first, so a group is marked rejected only when every candidate is named.
    let mut groups: Vec<(usize, Vec<usize>, usize, String)> = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some(named) = parse_named(line) else {
            unreadable.push(line.to_owned());
            continue;
        };
        // Ingester messages name the stream only on their last line; hold the entry lines until then.
        if let Named::Exact { .. } = named {
            pending_ingester_lines.push((named, line.to_owned()));
            continue;
        }
        let stream_labels = match &named {
            Named::Second { stream, .. }
            | Named::LineLength { stream, .. }
            | Named::WholeStream { stream }
            | Named::IgnoredCount { stream, .. }
            | Named::Exact { stream, .. } => stream,
        };
        let Some(idx) = match_stream(sent, stream_labels) else {
            unreadable.push(line.to_owned());
            continue;
        };
        let reject = |reason: &str| EntryStatus::Rejected {
            kind: kind_of(reason),
            reason: reason.to_owned(),
        };
        let candidates: Vec<usize> = match named {
            Named::Second { second, .. } => (0..sent[idx].entries.len())
                .filter(|&i| sent[idx].entries[i].timestamp.unix_seconds() == second)
                .collect(),
            Named::LineLength { len, .. } => (0..sent[idx].entries.len())
                .filter(|&i| sent[idx].entries[i].line.len() == len)
                .collect(),
            Named::WholeStream { .. } => {
                for status in statuses[idx].iter_mut() {
                    *status = Some(reject(line));
                }
                continue;
            }
            Named::IgnoredCount { ignored, .. } => {
                let mut listed = 0;
                for (pending, pending_line) in pending_ingester_lines.drain(..) {
                    if let Named::Exact { ns, .. } = pending {
                        let hit = (0..sent[idx].entries.len()).find(|&i| {
                            statuses[idx][i].is_none()
                                && sent[idx].entries[i].timestamp.unix_nanos() == ns
                        });
                        if let Some(i) = hit {
                            statuses[idx][i] = Some(reject(&pending_line));
                            listed += 1;
                        }
                    }
                }
                if ignored > listed {
                    // Loki lists at most `max_returned_stream_errors` entries (10 by default).
                    ignored_counts.push((idx, ignored - listed, line.to_owned()));
                }
                continue;
            }
            Named::Exact { .. } => unreachable!("held above"),
        };
        match groups
            .iter_mut()
            .find(|(i, c, _, _)| *i == idx && *c == candidates)
        {
            Some(group) => group.2 += 1,
            None => groups.push((idx, candidates, 1, line.to_owned())),
        }
    }
    for (idx, candidates, named, line) in groups {
        let status = if named >= candidates.len() {
            EntryStatus::Rejected {
                kind: kind_of(&line),
                reason: line,
            }
        } else {
            EntryStatus::Unknown {
                reason: format!("Loki rejected {named} of the {} entries its message fits, without saying which: {line}", candidates.len()),
            }
        };
        for i in candidates {
            statuses[idx][i] = Some(status.clone());
        }
    }
    for (_, line) in pending_ingester_lines {
        unreadable.push(line);
    }
    // A 400 that names no entry at all is a request-level refusal (unparsable labels or body).
    let none_named = statuses.iter().flatten().all(Option::is_none) && ignored_counts.is_empty();
    let whole_kind = kind_of(body);
    if none_named
        && matches!(
            whole_kind,
            ErrorKind::InvalidLabels | ErrorKind::MalformedBody | ErrorKind::EmptyRequest
        )
    {
        let reason = body.trim_end().to_owned();
        return sent
            .iter()
            .map(|s| {
                vec![
                    EntryStatus::Rejected {
                        kind: whole_kind,
                        reason: reason.clone()
                    };
                    s.entries.len()
                ]
            })
            .collect();
    }

    let unknown_streams: Vec<(usize, String)> = ignored_counts
        .into_iter()
        .map(|(idx, missing, line)| {
            (
                idx,
                format!(
                    "Loki ignored {missing} more entries of this stream than it listed: {line}"
                ),
            )
        })
        .collect();
    statuses
        .into_iter()
        .enumerate()
        .map(|(idx, stream)| {
            stream
                .into_iter()
                .map(|status| match status {
                    Some(status) => status,
                    None => {
                        if let Some((_, reason)) = unknown_streams.iter().find(|(i, _)| *i == idx) {
                            EntryStatus::Unknown { reason: reason.clone() }
                        } else if !unreadable.is_empty() {
                            EntryStatus::Unknown {
                                reason: format!("Loki answered 400 with a message this client cannot attribute: {}", unreadable.join(" | ")),
                            }
                        } else {
                            EntryStatus::Accepted
                        }
                    }
                })
                .collect()
        })
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

fn parse_named(line: &str) -> Option<Named> {
    if let Some(rest) = line.strip_prefix("entry for stream '") {
        let (stream_text, tail) = rest.split_once("' has ")?;
        let stream = LabelSet::parse(stream_text).ok()?;
        if let Some(ts) = tail
            .strip_prefix("timestamp too old: ")
            .or_else(|| tail.strip_prefix("timestamp too new: "))
        {
            let ts = ts.split(',').next()?.trim();
            return Some(Named::Second {
                stream,
                second: parse_rfc3339_seconds(ts)?,
            });
        }
        return Some(Named::WholeStream { stream });
    }
    if let Some(rest) =
        line.strip_prefix("maximum active stream limit exceeded when trying to create stream ")
    {
        // The stream text ends at the first "}, " (Loki goes on with advice after it).
        let end = rest.find("}, ").map(|i| i + 1).unwrap_or(rest.len());
        return Some(Named::WholeStream {
            stream: LabelSet::parse(&rest[..end]).ok()?,
        });
    }
    if line.starts_with("max entry size '") {
        let stream = LabelSet::parse(between(line, "for stream '", "' while")?).ok()?;
        let len = between(line, "with length '", "'")?.parse().ok()?;
        return Some(Named::LineLength { stream, len });
    }
    if let Some(rest) = line.strip_prefix("stream '") {
        // Label limits: `stream '{…}' has label value too long: …` and similar.
        let (stream_text, _) = rest.split_once("' has ")?;
        return Some(Named::WholeStream {
            stream: LabelSet::parse(stream_text).ok()?,
        });
    }
    if let Some(rest) = line.strip_prefix("entry with timestamp ") {
        let (go_time, _) = rest.split_once(" ignored, reason: ")?;
        // The stream is named on the closing line; a placeholder keeps the shape.
        let placeholder = LabelSet::from_map_unchecked(BTreeMap::new());
        return Some(Named::Exact {
            stream: placeholder,
            ns: parse_go_time(go_time)?,
        });
    }
    if line.starts_with("user '") && line.contains("total ignored: ") {
        let counts = between(line, "total ignored: ", " for stream: ")?;
        let ignored = counts.split(" out of ").next()?.trim().parse().ok()?;
        let stream_text = line.split(" for stream: ").nth(1)?;
        return Some(Named::IgnoredCount {
            stream: LabelSet::parse(stream_text.trim()).ok()?,
            ignored,
        });
    }
    None
}

fn match_stream(sent: &[Stream], named: &LabelSet) -> Option<usize> {
    // Loki adds `service_name` when a stream lacks one, so the named set may be a superset.
    sent.iter().position(|s| &s.labels == named).or_else(|| {
        sent.iter().position(|s| {
            s.labels.is_subset_of(named)
                && named
                    .iter()
                    .all(|(k, _)| s.labels.get(k).is_some() || k == "service_name")
        })
    })
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `2026-11-14T02:42:09Z` (Go's `time.RFC3339` in UTC) to Unix seconds.
fn parse_rfc3339_seconds(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let secs = parse_civil(date, time.split('.').next()?)?;
    Some(secs)
}

fn parse_civil(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (h, mi, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    Some(days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Parses Go's `time.Time.String()` in UTC: `2026-11-22 00:42:09.249691664 +0000 UTC`.
fn parse_go_time(text: &str) -> Option<i64> {
    let mut parts = text.split(' ');
    let date = parts.next()?;
    let clock = parts.next()?;
    if parts.next()? != "+0000" {
        return None;
    }
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let secs = parse_civil(date, hms)?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let digits = &frac[..frac.len().min(9)];
        nanos = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    }
    Some(secs * 1_000_000_000 + nanos)
}

impl Timestamp {
    /// Loki's RFC3339 rendering in error messages has whole seconds; used in tests.
    #[cfg(test)]
    fn from_secs(s: i64) -> Timestamp {
        Timestamp::from_unix_nanos(s * 1_000_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;

    fn stream(labels: &[(&str, &str)], entries: &[(i64, &str)]) -> Stream {
        Stream::new(
            LabelSet::new(labels.iter().copied()).unwrap(),
            entries
                .iter()
                .map(|(ts, line)| Entry::new(Timestamp::from_unix_nanos(*ts), *line))
                .collect(),
        )
    }

    #[test]
    fn parses_time_forms() {
        assert_eq!(parse_rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_seconds("2026-11-14T02:42:09Z"),
            Some(1_794_624_129)
        );
        assert_eq!(
            parse_go_time("2026-11-22 00:42:09.249691664 +0000 UTC"),
            Some(1_795_308_129_249_691_664)
        );
        assert_eq!(
            parse_go_time("1970-01-01 00:00:01 +0000 UTC"),
            Some(1_000_000_000)
        );
        assert_eq!(Timestamp::from_secs(2).unix_seconds(), 2);
    }

    #[test]
    fn partial_too_old_keeps_the_valid_entry() {
        // Recorded as 53-push-partial-valid-and-too-old.
        let sent = [stream(
            &[("env", "partial"), ("job", "reftest")],
            &[
                (1_794_624_129_000_000_000, "old"),
                (1_795_315_329_000_000_000, "new"),
            ],
        )];
        let body = "entry for stream '{env=\"partial\", job=\"reftest\", service_name=\"reftest\"}' has timestamp too old: 2026-11-14T02:42:09Z, oldest acceptable timestamp is: 2026-11-15T02:42:14Z\n";
        let got = attribute_rejections(&sent, body);
        assert!(
            matches!(
                &got[0][0],
                EntryStatus::Rejected {
                    kind: ErrorKind::TooOld,
                    ..
                }
            ),
            "{got:?}"
        );
        assert_eq!(got[0][1], EntryStatus::Accepted);
    }

    #[test]
    fn ingester_out_of_order_lines_name_exact_entries() {
        let sent = [stream(
            &[
                ("env", "dev"),
                ("job", "reftest"),
                ("service_name", "ref-svc"),
            ],
            &[
                (1_795_308_129_249_691_664, "late"),
                (1_795_315_329_000_000_000, "ok"),
            ],
        )];
        let body = "entry with timestamp 2026-11-22 00:42:09.249691664 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: 2026-11-22T00:42:09Z, oldest acceptable timestamp is: 2026-11-22T01:42:08Z',\nuser 'fake', total ignored: 1 out of 2 for stream: {env=\"dev\", job=\"reftest\", service_name=\"ref-svc\"}";
        let got = attribute_rejections(&sent, body);
        assert!(
            matches!(
                &got[0][0],
                EntryStatus::Rejected {
                    kind: ErrorKind::TooFarBehind,
                    ..
                }
            ),
            "{got:?}"
        );
        assert_eq!(got[0][1], EntryStatus::Accepted);
    }

    #[test]
    fn unlisted_ignored_entries_are_unknown_not_accepted() {
        let sent = [stream(&[("job", "x")], &[(1, "a"), (2, "b"), (3, "c")])];
        let body = "entry with timestamp 1970-01-01 00:00:00.000000001 +0000 UTC ignored, reason: 'entry too far behind',\nuser 'fake', total ignored: 2 out of 3 for stream: {job=\"x\", service_name=\"x\"}";
        let got = attribute_rejections(&sent, body);
        assert!(matches!(got[0][0], EntryStatus::Rejected { .. }));
        assert!(matches!(got[0][1], EntryStatus::Unknown { .. }));
        assert!(matches!(got[0][2], EntryStatus::Unknown { .. }));
    }

    #[test]
    fn line_too_long_and_label_limits() {
        let sent = [
            stream(
                &[("env", "long"), ("job", "reftest")],
                &[(1, "short"), (2, "xxxxxxxxxx")],
            ),
            stream(&[("big", "v"), ("job", "y")], &[(3, "a")]),
        ];
        let body = "max entry size '8' bytes exceeded for stream '{env=\"long\", job=\"reftest\", service_name=\"reftest\"}' while adding an entry with length '10' bytes\nstream '{big=\"v\", job=\"y\", service_name=\"y\"}' has label value too long: 1";
        let got = attribute_rejections(&sent, body);
        assert_eq!(got[0][0], EntryStatus::Accepted);
        assert!(matches!(
            &got[0][1],
            EntryStatus::Rejected {
                kind: ErrorKind::LineTooLong,
                ..
            }
        ));
        assert!(matches!(
            &got[1][0],
            EntryStatus::Rejected {
                kind: ErrorKind::LabelValueTooLong,
                ..
            }
        ));
    }

    #[test]
    fn stream_limit_and_stream_rate_limit_name_their_entries() {
        // Recorded from Loki 3.5.12 with max_global_streams_per_user: 3 and a 2KB per-stream rate.
        let sent = [
            stream(&[("job", "sc")], &[(1, "a")]),
            stream(&[("job", "ok")], &[(2, "b")]),
        ];
        let body = "maximum active stream limit exceeded when trying to create stream {job=\"sc\", service_name=\"sc\"}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: 'fake'";
        let got = attribute_rejections(&sent, body);
        assert!(
            matches!(
                &got[0][0],
                EntryStatus::Rejected {
                    kind: ErrorKind::StreamLimit,
                    ..
                }
            ),
            "{got:?}"
        );
        assert_eq!(got[1][0], EntryStatus::Accepted);
        let sent = [stream(
            &[("job", "rate")],
            &[
                (1_795_319_263_876_772_093, "x"),
                (1_795_319_263_876_772_094, "y"),
            ],
        )];
        let body = "entry with timestamp 2026-11-22 03:47:43.876772093 +0000 UTC ignored, reason: 'Per stream rate limit exceeded (limit: 2KB/sec) while attempting to ingest for stream '{job=\"rate\", service_name=\"rate\"}' totaling 3000B, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased',\nuser 'fake', total ignored: 1 out of 2 for stream: {job=\"rate\", service_name=\"rate\"}";
        let got = attribute_rejections(&sent, body);
        assert!(
            matches!(
                &got[0][0],
                EntryStatus::Rejected {
                    kind: ErrorKind::StreamRateLimited,
                    ..
                }
            ),
            "{got:?}"
        );
        assert_eq!(got[0][1], EntryStatus::Accepted);
    }

    #[test]
    fn unreadable_400_marks_everything_unknown() {
        let sent = [stream(&[("job", "x")], &[(1, "a")])];
        let got = attribute_rejections(&sent, "something new went wrong");
        assert!(matches!(got[0][0], EntryStatus::Unknown { .. }));
    }

    #[test]
    fn whole_request_parse_error_rejects_everything() {
        let sent = [stream(&[("job", "x")], &[(1, "a"), (2, "b")])];
        let got = attribute_rejections(&sent, "couldn't parse labels: 1:6: parse error");
        assert!(
            got[0].iter().all(|s| matches!(
                s,
                EntryStatus::Rejected {
                    kind: ErrorKind::InvalidLabels,
                    ..
                }
            )),
            "{got:?}"
        );
    }

    #[test]
    fn fewer_messages_than_candidates_in_one_second_is_unknown() {
        let sent = [stream(&[("job", "x")], &[(1, "a"), (2, "b")])];
        let body = "entry for stream '{job=\"x\", service_name=\"x\"}' has timestamp too old: 1970-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-15T02:42:14Z";
        let got = attribute_rejections(&sent, body);
        assert!(
            got[0]
                .iter()
                .all(|s| matches!(s, EntryStatus::Unknown { .. })),
            "{got:?}"
        );
        let two = format!("{body}\n{body}");
        let got = attribute_rejections(&sent, &two);
        assert!(
            got[0].iter().all(|s| matches!(
                s,
                EntryStatus::Rejected {
                    kind: ErrorKind::TooOld,
                    ..
                }
            )),
            "{got:?}"
        );
    }
}
