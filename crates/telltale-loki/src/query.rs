//! The read API: instant and range queries with every result type, paging past the entry
//! limit, labels, series, index stats and volume, and the status endpoints.
//!
//! Shapes follow `docs/sources/reference/loki-http-api.md` in grafana/loki and the recordings in
//! `fixtures/loki/`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;

use telltale_http::{Body, Method};

use crate::client::decode_json;
use crate::entry::{ReadEntry, ReadStream, Timestamp};
use crate::page::{with_page, Collect, EntryRef, Pager};
use crate::{Client, Error, LabelSet};

/// The order entries come back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    #[default]
    Backward,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// A range query. `start` is inclusive and `end` exclusive, as in Loki.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    /// The LogQL expression.
    pub query: String,
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Maximum entries for a log query (Loki's default is 100).
    pub limit: Option<u32>,
    /// Entry order for a log query.
    pub direction: Direction,
    /// Resolution of a metric query.
    pub step: Option<Duration>,
    /// Only return entries at this interval or longer apart (log queries).
    pub interval: Option<Duration>,
}

impl RangeQuery {
    /// A range query with Loki's defaults for everything else.
    pub fn new(query: impl ToString, start: Timestamp, end: Timestamp) -> RangeQuery {
        RangeQuery {
            query: query.to_string(),
            start,
            end,
            limit: None,
            direction: Direction::default(),
            step: None,
            interval: None,
        }
    }

    /// Sets the entry limit.
    pub fn limit(mut self, limit: u32) -> RangeQuery {
        self.limit = Some(limit);
        self
    }

    /// Sets the direction.
    pub fn direction(mut self, direction: Direction) -> RangeQuery {
        self.direction = direction;
        self
    }

    /// Sets the step of a metric query.
    pub fn step(mut self, step: Duration) -> RangeQuery {
        self.step = Some(step);
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("query", self.query.clone()),
            ("start", self.start.unix_nanos().to_string()),
            ("end", self.end.unix_nanos().to_string()),
            ("direction", self.direction.as_str().to_owned()),
        ];
        if let Some(limit) = self.limit {
            p.push(("limit", limit.to_string()));
        }
        if let Some(step) = self.step {
            p.push(("step", seconds(step)));
        }
        if let Some(interval) = self.interval {
            p.push(("interval", seconds(interval)));
        }
        p
    }
}

fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// A metric series: labels and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series labels (may be empty, e.g. after `sum`).
    pub labels: BTreeMap<String, String>,
    /// Samples in time order.
    pub samples: Vec<Sample>,
}

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When, to the millisecond Loki reports.
    pub timestamp: Timestamp,
    /// The value; NaN and ±Inf are possible.
    pub value: f64,
}

/// The `result` of a query, by `resultType`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueryResult {
    /// Log lines.
    Streams(Vec<ReadStream>),
    /// Range-query metric series.
    Matrix(Vec<Series>),
    /// Instant-query metric samples: each series holds one sample.
    Vector(Vec<Series>),
    /// A single number.
    Scalar(Sample),
}

impl QueryResult {
    /// The streams of a log query, or `None` for a metric result.
    pub fn streams(&self) -> Option<&[ReadStream]> {
        match self {
            QueryResult::Streams(s) => Some(s),
            _ => None,
        }
    }

    /// Series of a matrix or vector result.
    pub fn series(&self) -> Option<&[Series]> {
        match self {
            QueryResult::Matrix(s) | QueryResult::Vector(s) => Some(s),
            _ => None,
        }
    }

    /// Entries across all streams.
    pub fn entry_count(&self) -> usize {
        self.streams()
            .map(|s| s.iter().map(|s| s.entries.len()).sum())
            .unwrap_or(0)
    }
}

/// A query answer: the result and Loki's execution statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    /// The result.
    pub result: QueryResult,
    /// The `stats` block.
    pub stats: QueryStats,
}

/// Loki's query statistics, the parts that say how much work a query did.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueryStats {
    /// Totals for the whole query.
    pub summary: StatsSummary,
    /// Work done by queriers against the store.
    pub querier: QuerierStats,
    /// Work done by ingesters (recent, unflushed data).
    pub ingester: IngesterStats,
}

/// `stats.summary`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct StatsSummary {
    /// Bytes processed per second.
    pub bytes_processed_per_second: f64,
    /// Lines processed per second.
    pub lines_processed_per_second: f64,
    /// Bytes processed.
    pub total_bytes_processed: f64,
    /// Lines processed.
    pub total_lines_processed: f64,
    /// Execution time, seconds.
    pub exec_time: f64,
    /// Time queued, seconds.
    pub queue_time: f64,
    /// Entries returned.
    pub total_entries_returned: f64,
    /// Splits the query was cut into.
    pub splits: f64,
    /// Shards the query ran on.
    pub shards: f64,
}

/// `stats.querier`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct QuerierStats {
    /// Store access.
    pub store: StoreStats,
}

/// `stats.ingester`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct IngesterStats {
    /// Ingesters reached.
    pub total_reached: f64,
    /// Chunks matched in ingesters.
    pub total_chunks_matched: f64,
    /// Batches sent by ingesters.
    pub total_batches: f64,
    /// Lines sent by ingesters.
    pub total_lines_sent: f64,
    /// Chunk decoding inside ingesters.
    pub store: StoreStats,
}

/// Store statistics, shared by queriers and ingesters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct StoreStats {
    /// Chunk references found in the index.
    pub total_chunks_ref: f64,
    /// Chunks downloaded.
    pub total_chunks_downloaded: f64,
    /// Time spent downloading chunks, seconds.
    pub chunks_download_time: f64,
    /// Chunk decoding.
    pub chunk: ChunkStats,
}

/// Chunk decoding statistics.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChunkStats {
    /// Bytes read from head chunks.
    pub head_chunk_bytes: f64,
    /// Lines read from head chunks.
    pub head_chunk_lines: f64,
    /// Bytes decompressed.
    pub decompressed_bytes: f64,
    /// Lines decompressed.
    pub decompressed_lines: f64,
    /// Compressed bytes read.
    pub compressed_bytes: f64,
    /// Duplicate entries dropped.
    pub total_duplicates: f64,
}

/// `index/stats`: what the index knows of a selector's data (ingester data excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct IndexStats {
    /// Streams.
    pub streams: u64,
    /// Chunks.
    pub chunks: u64,
    /// Bytes.
    pub bytes: u64,
    /// Entries.
    pub entries: u64,
}

/// `status/buildinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct BuildInfo {
    /// Version, e.g. `3.5.3`.
    pub version: String,
    /// Git revision.
    pub revision: String,
    /// Git branch.
    pub branch: String,
    /// Who built it.
    pub build_user: String,
    /// When.
    pub build_date: String,
    /// The Go version.
    pub go_version: String,
}

/// Options for `index/volume` and `index/volume_range`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeOptions {
    /// Maximum series returned.
    pub limit: Option<u32>,
    /// Aggregate by these labels instead of the selector's.
    pub target_labels: Vec<String>,
    /// `series` (default) or `labels`.
    pub aggregate_by_labels: bool,
    /// Step of `volume_range`.
    pub step: Option<Duration>,
}

// Wire shapes, private: the public API is the typed structs above.

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireData {
    result_type: String,
    result: serde_json::Value,
    #[serde(default)]
    stats: QueryStats,
}

#[derive(Deserialize)]
pub(crate) struct WireStream {
    pub(crate) stream: BTreeMap<String, String>,
    pub(crate) values: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct WireSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireCategories {
    #[serde(default)]
    structured_metadata: BTreeMap<String, String>,
    #[serde(default)]
    parsed: BTreeMap<String, String>,
}

pub(crate) fn decode_stream_values(
    labels: BTreeMap<String, String>,
    values: Vec<Vec<serde_json::Value>>,
) -> Option<ReadStream> {
    let mut entries = Vec::with_capacity(values.len());
    for value in values {
        let (ts, line, cats) = match value.as_slice() {
            [ts, line] => (ts, line, None),
            [ts, line, cats] => (ts, line, Some(cats)),
            _ => return None,
        };
        let ts: i64 = ts.as_str()?.parse().ok()?;
        let cats: WireCategories = match cats {
            Some(c) => serde_json::from_value(c.clone()).ok()?,
            None => WireCategories::default(),
        };
        entries.push(ReadEntry {
            timestamp: Timestamp::from_unix_nanos(ts),
            line: line.as_str()?.to_owned(),
            structured_metadata: cats.structured_metadata.into_iter().collect(),
            parsed: cats.parsed.into_iter().collect(),
        });
    }
    Some(ReadStream {
        labels: LabelSet::from_map_unchecked(labels),
        entries,
    })
}

fn sample(t: f64, v: &str) -> Option<Sample> {
    let value = match v {
        "NaN" => f64::NAN,
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    // Saturating: a proxy or a Loki quirk may send times far outside the representable range.
    Some(Sample {
        timestamp: Timestamp::from_unix_nanos(((t * 1e3).round() as i64).saturating_mul(1_000_000)),
        value,
    })
}

/// Decodes a `query` or `query_range` answer body. Public so recorded bodies can be checked.
pub fn decode_query_response(body: &[u8]) -> Result<QueryResponse, Error> {
    const WHERE: &str = "/loki/api/v1/query_range";
    let env: Envelope<WireData> = decode_json(WHERE, body)?;
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
    let bad = |what: &str| {
        Error::decode(
            WHERE,
            format!("{what} result is not in the documented shape"),
            body,
        )
    };
    let result = match data.result_type.as_str() {
        "streams" => {
            let streams: Vec<WireStream> =
                serde_json::from_value(data.result).map_err(|_| bad("streams"))?;
            QueryResult::Streams(
                streams
                    .into_iter()
                    .map(|s| decode_stream_values(s.stream, s.values))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("streams"))?,
            )
        }
        kind @ ("matrix" | "vector") => {
            let series: Vec<WireSeries> =
                serde_json::from_value(data.result).map_err(|_| bad(kind))?;
            let series = series
                .into_iter()
                .map(|s| {
                    let points = if kind == "vector" {
                        s.value.into_iter().collect::<Vec<_>>()
                    } else {
                        s.values
                    };
                    let samples = points
                        .iter()
                        .map(|(t, v)| sample(*t, v))
                        .collect::<Option<Vec<_>>>()?;
                    Some(Series {
                        labels: s.metric,
                        samples,
                    })
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(kind))?;
            if kind == "vector" {
                QueryResult::Vector(series)
            } else {
                QueryResult::Matrix(series)
            }
        }
        "scalar" => {
            let (t, v): (f64, String) =
                serde_json::from_value(data.result).map_err(|_| bad("scalar"))?;
            QueryResult::Scalar(sample(t, &v).ok_or_else(|| bad("scalar"))?)
        }
        other => {
            return Err(Error::decode(
                WHERE,
                format!("unknown resultType {other:?}"),
                body,
            ))
        }
    };
    Ok(QueryResponse {
        result,
        stats: data.stats,
    })
}

// Asks Loki to return structured metadata and parsed labels apart from stream labels, so a
// stream read back has exactly the labels it was pushed with (plus any Loki adds).
const CATEGORIZE: (&str, &str) = ("X-Loki-Response-Encoding-Flags", "categorize-labels");

impl Client {
    /// `GET /loki/api/v1/query_range`.
    pub async fn query_range(&self, query: &RangeQuery) -> Result<QueryResponse, Error> {
        let path = "/loki/api/v1/query_range";
        let answer = self
            .call(Method::Get, path, &query.params(), None, &[CATEGORIZE])
            .await?;
        decode_query_response(&answer.body).map_err(|e| relabel(e, path))
    }

    /// `GET /loki/api/v1/query`: an instant query. Loki accepts only metric queries here.
    pub async fn query(
        &self,
        query: impl ToString,
        time: Option<Timestamp>,
        limit: Option<u32>,
    ) -> Result<QueryResponse, Error> {
        let path = "/loki/api/v1/query";
        let mut params = vec![("query", query.to_string())];
        if let Some(time) = time {
            params.push(("time", time.unix_nanos().to_string()));
        }
        if let Some(limit) = limit {
            params.push(("limit", limit.to_string()));
        }
        let answer = self
            .call(Method::Get, path, &params, None, &[CATEGORIZE])
            .await?;
        decode_query_response(&answer.body).map_err(|e| relabel(e, path))
    }

    /// Reads every entry a log query matches in `[start, end)`, paging past Loki's per-query
    /// entry limit (`max_entries_limit_per_query`, 5000 by default) with pages of `page_size`.
    ///
    /// Pages advance in `direction`; the boundary timestamp of each page is queried again and the
    /// entries already seen there are skipped, each as many times as it was seen (two identical
    /// copies straddling the edge are both kept), so nothing is lost or doubled at page edges.
    /// Streams come back sorted by labels, their entries in `direction` order. Holds every
    /// line: to count or identify lines, [`Client::read_each`] keeps none.
    pub async fn read_all(
        &self,
        query: impl ToString,
        start: Timestamp,
        end: Timestamp,
        direction: Direction,
        page_size: u32,
    ) -> Result<Vec<ReadStream>, Error> {
        let mut out = Collect::default();
        self.read_pages(
            &query.to_string(),
            start,
            end,
            direction,
            page_size,
            &mut |labels, entry| out.add(labels, entry),
        )
        .await?;
        Ok(out.finish())
    }

    /// Reads what [`Client::read_all`] reads, with the same paging, but hands each entry to
    /// `visit` as it is decoded, its line borrowed from the page, and keeps nothing: memory is
    /// one page whatever the number of entries. Within a page, entries come stream by stream,
    /// each stream's in `direction` order. Answers how many entries were visited.
    pub async fn read_each(
        &self,
        query: impl ToString,
        start: Timestamp,
        end: Timestamp,
        direction: Direction,
        page_size: u32,
        mut visit: impl FnMut(&LabelSet, EntryRef<'_>) + Send,
    ) -> Result<u64, Error> {
        let mut n = 0u64;
        self.read_pages(
            &query.to_string(),
            start,
            end,
            direction,
            page_size,
            &mut |labels, entry| {
                n += 1;
                visit(labels, entry);
                Ok(())
            },
        )
        .await?;
        Ok(n)
    }

    async fn read_pages(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        direction: Direction,
        page_size: u32,
        visit: &mut (dyn FnMut(&LabelSet, EntryRef<'_>) -> Result<(), Error> + Send),
    ) -> Result<(), Error> {
        let path = "/loki/api/v1/query_range";
        let mut pager = Pager::new(start, end, direction, page_size);
        loop {
            let (lo, hi) = pager.range();
            let req = RangeQuery {
                query: query.to_owned(),
                start: lo,
                end: hi,
                limit: Some(page_size),
                direction,
                step: None,
                interval: None,
            };
            let answer = self
                .call(Method::Get, path, &req.params(), None, &[CATEGORIZE])
                .await?;
            let more = with_page(&answer.body, |page| pager.take(page, visit))
                .map_err(|e| relabel(e, path))?;
            if !more {
                return Ok(());
            }
        }
    }

    /// `GET /loki/api/v1/labels`.
    pub async fn labels(
        &self,
        start: Timestamp,
        end: Timestamp,
        query: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        self.string_list("/loki/api/v1/labels", start, end, query)
            .await
    }

    /// `GET /loki/api/v1/label/<name>/values`. An unknown label gives an empty list.
    pub async fn label_values(
        &self,
        name: &str,
        start: Timestamp,
        end: Timestamp,
        query: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        crate::labels::validate_name(name, usize::MAX)?;
        self.string_list(
            &format!("/loki/api/v1/label/{name}/values"),
            start,
            end,
            query,
        )
        .await
    }

    async fn string_list(
        &self,
        path: &str,
        start: Timestamp,
        end: Timestamp,
        query: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let mut params = vec![
            ("start", start.unix_nanos().to_string()),
            ("end", end.unix_nanos().to_string()),
        ];
        if let Some(q) = query {
            params.push(("query", q.to_owned()));
        }
        let env: Envelope<Vec<String>> = self.get_json(path, &params).await?;
        check_status(path, &env)?;
        // Loki omits `data` for a label it has never seen.
        Ok(env.data.unwrap_or_default())
    }

    /// `POST /loki/api/v1/series` (form-encoded, so long selectors fit).
    pub async fn series(
        &self,
        matchers: &[&str],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<BTreeMap<String, String>>, Error> {
        let path = "/loki/api/v1/series";
        if matchers.is_empty() {
            return Err(Error::config("series needs at least one match[] selector"));
        }
        let mut form: Vec<(&str, String)> = matchers
            .iter()
            .map(|m| ("match[]", (*m).to_owned()))
            .collect();
        form.push(("start", start.unix_nanos().to_string()));
        form.push(("end", end.unix_nanos().to_string()));
        let encoded = form_urlencode(&form);
        let body = Body {
            bytes: encoded.as_bytes(),
            content_type: "application/x-www-form-urlencoded",
            content_encoding: None,
        };
        let answer = self.call(Method::Post, path, &[], Some(body), &[]).await?;
        let env: Envelope<Vec<BTreeMap<String, String>>> = decode_json(path, &answer.body)?;
        check_status(path, &env)?;
        Ok(env.data.unwrap_or_default())
    }

    /// `GET /loki/api/v1/index/stats`. Loki leaves ingester data out, so fresh data reads 0.
    pub async fn index_stats(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<IndexStats, Error> {
        let params = [
            ("query", query.to_owned()),
            ("start", start.unix_nanos().to_string()),
            ("end", end.unix_nanos().to_string()),
        ];
        self.get_json("/loki/api/v1/index/stats", &params).await
    }

    /// `GET /loki/api/v1/index/volume` (a vector), or `index/volume_range` (a matrix) when
    /// `options.step` is set. Needs `volume_enabled: true` on the server.
    pub async fn index_volume(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        options: &VolumeOptions,
    ) -> Result<QueryResponse, Error> {
        let path = if options.step.is_some() {
            "/loki/api/v1/index/volume_range"
        } else {
            "/loki/api/v1/index/volume"
        };
        let mut params = vec![
            ("query", query.to_owned()),
            ("start", start.unix_nanos().to_string()),
            ("end", end.unix_nanos().to_string()),
        ];
        if let Some(limit) = options.limit {
            params.push(("limit", limit.to_string()));
        }
        if !options.target_labels.is_empty() {
            params.push(("targetLabels", options.target_labels.join(",")));
        }
        if options.aggregate_by_labels {
            params.push(("aggregateBy", "labels".to_owned()));
        }
        if let Some(step) = options.step {
            params.push(("step", seconds(step)));
        }
        let answer = self.call(Method::Get, path, &params, None, &[]).await?;
        decode_query_response(&answer.body).map_err(|e| relabel(e, path))
    }

    /// `GET /ready`: `Ok(true)` when Loki says `ready`, `Ok(false)` while it starts (503).
    pub async fn ready(&self) -> Result<bool, Error> {
        match self.exchange(Method::Get, "/ready", &[], None, &[]).await {
            Ok(answer) => Ok(String::from_utf8_lossy(&answer.body).trim() == "ready"),
            Err(Error::Api(api)) if api.status() == 503 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Polls `/ready` until Loki is ready or `deadline` passes.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<(), Error> {
        let started = std::time::Instant::now();
        loop {
            let last = match self.ready().await {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(err) => Some(err),
            };
            if started.elapsed() >= deadline {
                return Err(last.unwrap_or(Error::Timeout {
                    endpoint: "/ready".into(),
                    timeout: deadline,
                }));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `GET /loki/api/v1/status/buildinfo`.
    pub async fn build_info(&self) -> Result<BuildInfo, Error> {
        self.get_json("/loki/api/v1/status/buildinfo", &[]).await
    }

    /// `POST /flush`: flushes in-memory chunks to the store (useful before checking stored data).
    pub async fn flush(&self) -> Result<(), Error> {
        self.call(Method::Post, "/flush", &[], None, &[])
            .await
            .map(drop)
    }
}

fn check_status<T>(path: &str, env: &Envelope<T>) -> Result<(), Error> {
    if env.status == "success" {
        Ok(())
    } else {
        Err(Error::decode(
            path,
            format!(
                "status {:?}: {}",
                env.status,
                env.error.clone().unwrap_or_default()
            ),
            b"",
        ))
    }
}

fn relabel(err: Error, path: &str) -> Error {
    match err {
        Error::Decode {
            reason, body_start, ..
        } => Error::Decode {
            endpoint: path.to_owned(),
            reason,
            body_start,
        },
        other => other,
    }
}

fn form_urlencode(pairs: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

/// Merges streams by labels; used by callers that gather several answers.
pub fn merge_streams(streams: impl IntoIterator<Item = ReadStream>) -> Vec<ReadStream> {
    let mut map: HashMap<LabelSet, Vec<ReadEntry>> = HashMap::new();
    for s in streams {
        map.entry(s.labels).or_default().extend(s.entries);
    }
    let mut out: Vec<ReadStream> = map
        .into_iter()
        .map(|(labels, entries)| ReadStream { labels, entries })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-process stand-in for Loki's `query_range` over `held`, for the paging logic only:
    /// entries in `[lo, hi)`, ordered by time in `direction` (stable among equal timestamps),
    /// cut at `limit`, grouped by stream.
    fn fake_page(
        held: &[(LabelSet, ReadEntry)],
        (lo, hi): (Timestamp, Timestamp),
        direction: Direction,
        limit: u32,
    ) -> Vec<ReadStream> {
        let mut hits: Vec<&(LabelSet, ReadEntry)> = held
            .iter()
            .filter(|(_, e)| e.timestamp >= lo && e.timestamp < hi)
            .collect();
        hits.sort_by_key(|(_, e)| e.timestamp.unix_nanos());
        if matches!(direction, Direction::Backward) {
            hits.reverse();
        }
        hits.truncate(limit as usize);
        merge_streams(hits.into_iter().map(|(labels, e)| ReadStream {
            labels: labels.clone(),
            entries: vec![e.clone()],
        }))
    }

    fn read_all_fake(
        held: &[(LabelSet, ReadEntry)],
        direction: Direction,
        page_size: u32,
    ) -> Vec<ReadStream> {
        let mut pager = Pager::new(
            Timestamp::from_unix_nanos(0),
            Timestamp::from_unix_nanos(1_000),
            direction,
            page_size,
        );
        let mut out = Collect::default();
        let mut pages = 0;
        loop {
            let streams = fake_page(held, pager.range(), direction, page_size);
            let page: Vec<(LabelSet, Vec<EntryRef<'_>>)> = streams
                .iter()
                .map(|s| {
                    (
                        s.labels.clone(),
                        s.entries.iter().map(EntryRef::from).collect(),
                    )
                })
                .collect();
            if !pager
                .take(&page, &mut |labels, entry| out.add(labels, entry))
                .unwrap()
            {
                break;
            }
            pages += 1;
            assert!(pages < 100, "paging does not end");
        }
        out.finish()
    }

    #[test]
    fn a_second_identical_copy_beginning_the_next_page_is_kept() {
        let labels = LabelSet::new([("app", "x")]).unwrap();
        let at = |ns: i64, line: &str| {
            (
                labels.clone(),
                ReadEntry {
                    timestamp: Timestamp::from_unix_nanos(ns),
                    line: line.into(),
                    structured_metadata: vec![("id".into(), line.into())],
                    parsed: Vec::new(),
                },
            )
        };
        // Two identical copies of `c` at 30: with pages of 3, the first page ends with one copy
        // and the next begins with the other, in either direction.
        let held = vec![
            at(10, "a"),
            at(20, "b"),
            at(30, "c"),
            at(30, "c"),
            at(35, "d"),
            at(40, "e"),
        ];
        for direction in [Direction::Forward, Direction::Backward] {
            for page_size in [3, 4, 5, 6, 7, 100] {
                let read = read_all_fake(&held, direction, page_size);
                let mut lines: Vec<&str> =
                    read[0].entries.iter().map(|e| e.line.as_str()).collect();
                lines.sort_unstable();
                assert_eq!(
                    lines,
                    ["a", "b", "c", "c", "d", "e"],
                    "{direction:?}, pages of {page_size}"
                );
            }
        }
    }

    /// Sorting each page by time puts the whole read in time order: no entry of a later page
    /// is older (forward) than one of an earlier page, across streams.
    #[test]
    fn pages_are_numbered_in_the_reads_direction() {
        let held: Vec<(LabelSet, ReadEntry)> = (0..10)
            .map(|i: i64| {
                let labels = LabelSet::new([("s", if i % 2 == 0 { "a" } else { "b" })]).unwrap();
                let e = ReadEntry {
                    timestamp: Timestamp::from_unix_nanos(10 + i * 10),
                    line: i.to_string(),
                    structured_metadata: Vec::new(),
                    parsed: Vec::new(),
                };
                (labels, e)
            })
            .collect();
        let mut pager = Pager::new(
            Timestamp::from_unix_nanos(0),
            Timestamp::from_unix_nanos(1_000),
            Direction::Forward,
            3,
        );
        let mut seen: Vec<(u32, i64)> = Vec::new();
        loop {
            let streams = fake_page(&held, pager.range(), Direction::Forward, 3);
            let page: Vec<(LabelSet, Vec<EntryRef<'_>>)> = streams
                .iter()
                .map(|s| {
                    (
                        s.labels.clone(),
                        s.entries.iter().map(EntryRef::from).collect(),
                    )
                })
                .collect();
            let more = pager
                .take(&page, &mut |_, e| {
                    seen.push((e.page(), e.timestamp().unix_nanos()));
                    Ok(())
                })
                .unwrap();
            if !more {
                break;
            }
        }
        seen.sort_unstable();
        let times: Vec<i64> = seen.iter().map(|&(_, t)| t).collect();
        assert_eq!(times, (0..10).map(|i| 10 + i * 10).collect::<Vec<_>>());
        assert!(seen.last().unwrap().0 >= 3, "{seen:?}");
    }

    #[test]
    fn decodes_every_result_type() {
        let streams = br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{"job":"x"},"values":[["5","a",{"structuredMetadata":{"k":"v"},"parsed":{"p":"q"}}],["6","b"]]}],"stats":{"summary":{"execTime":0.5,"totalEntriesReturned":2}}}}"#;
        let res = decode_query_response(streams).unwrap();
        let s = res.result.streams().unwrap();
        assert_eq!(
            s[0].entries[0].structured_metadata,
            vec![("k".to_owned(), "v".to_owned())]
        );
        assert_eq!(
            s[0].entries[0].parsed,
            vec![("p".to_owned(), "q".to_owned())]
        );
        assert_eq!(s[0].entries[1].timestamp.unix_nanos(), 6);
        assert_eq!(res.stats.summary.exec_time, 0.5);

        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"env":"a"},"values":[[1.5,"1"],[2,"NaN"]]}]}}"#;
        let res = decode_query_response(matrix).unwrap();
        let QueryResult::Matrix(m) = res.result else {
            panic!("matrix")
        };
        assert_eq!(m[0].samples[0].timestamp.unix_nanos(), 1_500_000_000);
        assert!(m[0].samples[1].value.is_nan());

        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[3,"+Inf"]}]}}"#;
        let QueryResult::Vector(v) = decode_query_response(vector).unwrap().result else {
            panic!("vector")
        };
        assert_eq!(v[0].samples[0].value, f64::INFINITY);

        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}"#;
        assert_eq!(
            decode_query_response(scalar).unwrap().result,
            QueryResult::Scalar(Sample {
                timestamp: Timestamp::from_unix_nanos(4_000_000_000),
                value: 2.0
            })
        );
    }

    #[test]
    fn proxy_html_is_a_decode_error_not_a_panic() {
        let err = decode_query_response(b"<html><body>502 Bad Gateway</body></html>").unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err}");
        assert!(err.to_string().contains("502 Bad Gateway"), "{err}");
    }
}
