//! Reading a log query page by page without keeping its lines: each page is decoded with its
//! lines borrowed from the answer body, handed to the caller entry by entry, and dropped
//! before the next page is asked for. Structured metadata stays raw JSON until asked for.
//!
//! Memory is one page (its body and one small view per entry) plus the entries that share
//! the page's edge timestamp, whatever the number of pages: a million-line read costs what a
//! 5000-line one does.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::entry::{ReadEntry, ReadStream, Timestamp};
use crate::query::Direction;
use crate::{Error, LabelSet};

const WHERE: &str = "/loki/api/v1/query_range";

/// One entry of a page being read by [`Client::read_each`](crate::Client::read_each),
/// borrowed from Loki's answer: it lives only as long as the call that handed it over.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    timestamp: Timestamp,
    line: &'a str,
    categories: Categories<'a>,
    page: u32,
}

/// Structured metadata and parsed labels: Loki's raw JSON object, decoded only when asked
/// for, or already decoded.
#[derive(Debug, Clone, Copy)]
enum Categories<'a> {
    Raw(Option<&'a RawValue>),
    Decoded {
        structured_metadata: &'a [(String, String)],
        parsed: &'a [(String, String)],
    },
}

impl<'a> EntryRef<'a> {
    /// The entry's timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The line.
    pub fn line(&self) -> &'a str {
        self.line
    }

    /// Which page of the read it came in, from 0. Pages advance in the read's direction, so
    /// an entry of a later page is never on the near side of one of an earlier page: sorting
    /// each page by time puts the whole read in time order.
    pub fn page(&self) -> u32 {
        self.page
    }

    /// An owned copy, with structured metadata and parsed labels decoded; `None` when Loki
    /// sent them in a shape its API reference does not document.
    pub fn to_owned_entry(&self) -> Option<ReadEntry> {
        let (structured_metadata, parsed) = self.categories()?;
        Some(ReadEntry {
            timestamp: self.timestamp,
            line: self.line.to_owned(),
            structured_metadata,
            parsed,
        })
    }

    #[allow(clippy::type_complexity)]
    fn categories(&self) -> Option<(Vec<(String, String)>, Vec<(String, String)>)> {
        match self.categories {
            Categories::Raw(None) => Some((Vec::new(), Vec::new())),
            Categories::Raw(Some(raw)) => {
                let cats: WireCategories = serde_json::from_str(raw.get()).ok()?;
                Some((
                    cats.structured_metadata.into_iter().collect(),
                    cats.parsed.into_iter().collect(),
                ))
            }
            Categories::Decoded {
                structured_metadata,
                parsed,
            } => Some((structured_metadata.to_vec(), parsed.to_vec())),
        }
    }
}

/// A view of an owned entry, as [`Client::read_each`](crate::Client::read_each) hands them out
/// (for code that handles both, and for fakes).
impl<'a> From<&'a ReadEntry> for EntryRef<'a> {
    fn from(entry: &'a ReadEntry) -> EntryRef<'a> {
        EntryRef {
            timestamp: entry.timestamp,
            line: &entry.line,
            categories: Categories::Decoded {
                structured_metadata: &entry.structured_metadata,
                parsed: &entry.parsed,
            },
            page: 0,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireCategories {
    #[serde(default)]
    structured_metadata: BTreeMap<String, String>,
    #[serde(default)]
    parsed: BTreeMap<String, String>,
}

// Wire shapes of a streams answer, borrowing from the body.

#[derive(Deserialize)]
struct PageEnvelope<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<PageData<'a>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageData<'a> {
    #[serde(borrow)]
    result_type: Cow<'a, str>,
    // Kept raw until the result type is known: a metric answer is a different shape.
    #[serde(borrow)]
    result: &'a RawValue,
}

#[derive(Deserialize)]
struct PageStream<'a> {
    stream: BTreeMap<String, String>,
    #[serde(borrow)]
    values: Vec<PageValue<'a>>,
}

/// `[ts, line]` or `[ts, line, categories]`.
struct PageValue<'a> {
    ns: i64,
    line: Cow<'a, str>,
    categories: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for PageValue<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = PageValue<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[timestamp, line] or [timestamp, line, categories]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let Text(ts) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let ns = ts
                    .parse()
                    .map_err(|_| de::Error::custom(format!("timestamp {ts:?}")))?;
                let Text(line) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let categories = seq.next_element::<&'a RawValue>()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(PageValue {
                    ns,
                    line,
                    categories,
                })
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// One decoded page: per stream, its labels and its entries' views.
pub(crate) type Page<'a> = Vec<(LabelSet, Vec<EntryRef<'a>>)>;

/// Decodes a `query_range` answer to a log query, borrowing from `body`, and passes the page
/// to `take`.
pub(crate) fn with_page<R>(
    body: &[u8],
    take: impl FnOnce(&Page<'_>) -> Result<R, Error>,
) -> Result<R, Error> {
    let env: PageEnvelope<'_> = serde_json::from_slice(body)
        .map_err(|e| Error::decode(WHERE, format!("not the documented JSON: {e}"), body))?;
    if env.status != "success" {
        return Err(Error::decode(
            WHERE,
            format!("status {:?}: {}", env.status, env.error.unwrap_or_default()),
            body,
        ));
    }
    let data = env
        .data
        .ok_or_else(|| Error::decode(WHERE, "no data", body))?;
    if data.result_type != "streams" {
        return Err(Error::decode(
            WHERE,
            format!(
                "a log read needs a log query, got a {:?} result",
                data.result_type
            ),
            b"",
        ));
    }
    let streams: Vec<PageStream<'_>> = serde_json::from_str(data.result.get()).map_err(|e| {
        Error::decode(
            WHERE,
            format!("streams result is not in the documented shape: {e}"),
            body,
        )
    })?;
    let page: Page<'_> = streams
        .iter()
        .map(|s| {
            let labels = LabelSet::from_map_unchecked(s.stream.clone());
            let entries = s
                .values
                .iter()
                .map(|v| EntryRef {
                    timestamp: Timestamp::from_unix_nanos(v.ns),
                    line: &v.line,
                    categories: Categories::Raw(v.categories),
                    page: 0,
                })
                .collect();
            (labels, entries)
        })
        .collect();
    take(&page)
}

/// What makes two read entries of one timestamp the same entry, for de-duplication at page
/// edges.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EdgeKey {
    labels: LabelSet,
    line: String,
    metadata: Vec<(String, String)>,
}

impl EdgeKey {
    fn of(labels: &LabelSet, e: &EntryRef<'_>) -> Result<EdgeKey, Error> {
        let (metadata, _) = e.categories().ok_or_else(|| {
            Error::decode(
                WHERE,
                "streams result is not in the documented shape: entry categories",
                b"",
            )
        })?;
        Ok(EdgeKey {
            labels: labels.clone(),
            line: e.line.to_owned(),
            metadata,
        })
    }
}

/// [`Client::read_each`](crate::Client::read_each)'s paging, apart from the HTTP: which range
/// to ask for next, and which entries of a page were already read on the one before.
pub(crate) struct Pager {
    direction: Direction,
    page_size: u32,
    lo: Timestamp,
    hi: Timestamp,
    /// The previous page's boundary timestamp and the entries there, with how many times each
    /// came: the next page reads that timestamp again and skips each key only that many
    /// times, so a real second copy that begins the next page is kept.
    edge: Option<(i64, HashMap<EdgeKey, usize>)>,
    pages: u32,
}

impl Pager {
    pub(crate) fn new(
        start: Timestamp,
        end: Timestamp,
        direction: Direction,
        page_size: u32,
    ) -> Pager {
        Pager {
            direction,
            page_size,
            lo: start,
            hi: end,
            edge: None,
            pages: 0,
        }
    }

    /// The `[start, end)` of the next page.
    pub(crate) fn range(&self) -> (Timestamp, Timestamp) {
        (self.lo, self.hi)
    }

    /// Takes one page, handing `visit` every entry the page before did not; whether there is
    /// another page to read.
    pub(crate) fn take(
        &mut self,
        page: &Page<'_>,
        visit: &mut dyn FnMut(&LabelSet, EntryRef<'_>) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let direction = self.direction;
        let n: usize = page.iter().map(|(_, e)| e.len()).sum();
        let edge = page
            .iter()
            .flat_map(|(_, e)| e.iter().map(|e| e.timestamp.unix_nanos()))
            .reduce(|a, b| match direction {
                Direction::Forward => a.max(b),
                Direction::Backward => a.min(b),
            });
        let mut next_edge: HashMap<EdgeKey, usize> = HashMap::new();
        for (labels, entries) in page {
            for entry in entries {
                let ns = entry.timestamp.unix_nanos();
                // Keys are built only at the two edges: elsewhere an entry is just visited.
                if Some(ns) == edge {
                    *next_edge.entry(EdgeKey::of(labels, entry)?).or_default() += 1;
                }
                if let Some((_, seen)) = self.edge.as_mut().filter(|(at, _)| *at == ns) {
                    if let Some(left) = seen
                        .get_mut(&EdgeKey::of(labels, entry)?)
                        .filter(|c| **c > 0)
                    {
                        *left -= 1;
                        continue;
                    }
                }
                visit(
                    labels,
                    EntryRef {
                        page: self.pages,
                        ..*entry
                    },
                )?;
            }
        }
        self.pages += 1;
        if n < self.page_size as usize {
            return Ok(false);
        }
        let edge = edge.expect("a full page has entries");
        let stalled = match direction {
            Direction::Forward => edge == self.lo.unix_nanos(),
            Direction::Backward => edge + 1 == self.hi.unix_nanos(),
        };
        if stalled {
            return Err(Error::PagingStalled {
                timestamp_ns: edge,
                limit: self.page_size,
            });
        }
        match direction {
            Direction::Forward => self.lo = Timestamp::from_unix_nanos(edge),
            // `end` is exclusive: one nanosecond past the edge re-reads the edge itself.
            Direction::Backward => self.hi = Timestamp::from_unix_nanos(edge + 1),
        }
        self.edge = Some((edge, next_edge));
        Ok(true)
    }
}

/// Gathers visited entries into streams, sorted by labels, entries in the order read.
#[derive(Default)]
pub(crate) struct Collect {
    out: BTreeMap<LabelSet, Vec<ReadEntry>>,
}

impl Collect {
    pub(crate) fn add(&mut self, labels: &LabelSet, entry: EntryRef<'_>) -> Result<(), Error> {
        let owned = entry.to_owned_entry().ok_or_else(|| {
            Error::decode(
                WHERE,
                "streams result is not in the documented shape: entry categories",
                b"",
            )
        })?;
        match self.out.get_mut(labels) {
            Some(v) => v.push(owned),
            None => {
                self.out.insert(labels.clone(), vec![owned]);
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<ReadStream> {
        self.out
            .into_iter()
            .map(|(labels, entries)| ReadStream { labels, entries })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_borrowed_and_categories_decoded_on_demand() {
        let body = br#"{"status":"success","data":{"resultType":"streams","encodingFlags":["categorize-labels"],"result":[{"stream":{"job":"x"},"values":[["5","plain",{"structuredMetadata":{"k":"v"}}],["6","quoted \"q\""]]}],"stats":{}}}"#;
        let mut seen = Vec::new();
        with_page(body, |page| {
            for (labels, entries) in page {
                for e in entries {
                    seen.push((labels.to_string(), e.to_owned_entry().unwrap()));
                }
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, r#"{job="x"}"#);
        assert_eq!(seen[0].1.timestamp.unix_nanos(), 5);
        assert_eq!(
            seen[0].1.structured_metadata,
            vec![("k".into(), "v".into())]
        );
        assert_eq!(seen[1].1.line, "quoted \"q\"");
        assert!(seen[1].1.structured_metadata.is_empty());
    }

    #[test]
    fn a_metric_answer_or_a_bad_entry_is_a_decode_error() {
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"]]}]}}"#;
        let err = with_page(matrix, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("log query"), "{err}");
        let bad_ts = br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["x","a"]]}]}}"#;
        assert!(with_page(bad_ts, |_| Ok(())).is_err());
        let four = br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["1","a",{},{}]]}]}}"#;
        assert!(with_page(four, |_| Ok(())).is_err());
    }
}
