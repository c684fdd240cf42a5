//! Sentry envelopes: a reader and a writer for `Headers { "\n" Item } [ "\n" ]`, items with or
//! without `length`, attachments, sessions, transactions, unknown items skipped, and gzip,
//! deflate and brotli bodies. Malformed input gives [`Error::Envelope`] with the byte offset
//! and line where reading stopped.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};

use serde_json::{Map, Value};

use crate::event::NewEvent;
use crate::types::tags_of;
use crate::Error;

/// Decompressed bodies larger than this are refused (Sentry's documented envelope limit).
pub const DEFAULT_MAX_DECOMPRESSED: usize = 100 * 1024 * 1024;

/// A JSON object of envelope or item headers, in the order they were read or set.
///
/// `Debug` hides `dsn` and `public_key` values, which hold DSN keys.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Headers(Map<String, Value>);

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Headers from one JSON object text.
    pub fn from_json(text: &str) -> Result<Headers, Error> {
        parse_headers(text.as_bytes(), 0, text.len(), "header")
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// A non-negative integer value.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.0.get(key).and_then(Value::as_u64)
    }

    /// Any value, as compact JSON text.
    pub fn get_json(&self, key: &str) -> Option<String> {
        self.0.get(key).map(Value::to_string)
    }

    /// Whether the key is present.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Sets a string value.
    pub fn set_str(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), Value::String(value.into()));
    }

    /// Sets an integer value.
    pub fn set_u64(&mut self, key: impl Into<String>, value: u64) {
        self.0.insert(key.into(), Value::from(value));
    }

    /// Sets a value given as JSON text.
    pub fn set_json(&mut self, key: impl Into<String>, json: &str) -> Result<(), Error> {
        let v: Value = serde_json::from_str(json).map_err(|e| Error::Config {
            reason: format!("header value is not JSON: {e}"),
            source: None,
        })?;
        self.0.insert(key.into(), v);
        Ok(())
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) {
        self.0.shift_remove(key);
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The headers as one line of compact JSON.
    pub fn to_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

fn redacted(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if matches!(k.as_str(), "dsn" | "public_key" | "sentry_key") {
                        Value::String("<redacted>".into())
                    } else {
                        redacted(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Headers({})", redacted(&Value::Object(self.0.clone())))
    }
}

/// The type of an envelope item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemType {
    /// `event`: an error or message event.
    Event,
    /// `transaction`.
    Transaction,
    /// `attachment`: a file, with `filename`.
    Attachment,
    /// `session`: one release-health session update.
    Session,
    /// `sessions`: aggregated sessions.
    Sessions,
    /// `client_report`: what the SDK dropped.
    ClientReport,
    /// `user_report`.
    UserReport,
    /// `feedback`.
    Feedback,
    /// `check_in`: a cron monitor check-in.
    CheckIn,
    /// `profile`.
    Profile,
    /// `profile_chunk`.
    ProfileChunk,
    /// `replay_event`.
    ReplayEvent,
    /// `replay_recording`.
    ReplayRecording,
    /// `replay_video`.
    ReplayVideo,
    /// `span`.
    Span,
    /// `log`.
    Log,
    /// `statsd`.
    Statsd,
    /// `otel_log`, `trace_metric` or any other type this reader does not know; such items
    /// are skipped when reading.
    Unknown(String),
}

impl ItemType {
    const KNOWN: &'static [(&'static str, ItemType)] = &[
        ("event", ItemType::Event),
        ("transaction", ItemType::Transaction),
        ("attachment", ItemType::Attachment),
        ("session", ItemType::Session),
        ("sessions", ItemType::Sessions),
        ("client_report", ItemType::ClientReport),
        ("user_report", ItemType::UserReport),
        ("feedback", ItemType::Feedback),
        ("check_in", ItemType::CheckIn),
        ("profile", ItemType::Profile),
        ("profile_chunk", ItemType::ProfileChunk),
        ("replay_event", ItemType::ReplayEvent),
        ("replay_recording", ItemType::ReplayRecording),
        ("replay_video", ItemType::ReplayVideo),
        ("span", ItemType::Span),
        ("log", ItemType::Log),
        ("statsd", ItemType::Statsd),
    ];

    /// Reads a `type` header value.
    pub fn parse(s: &str) -> ItemType {
        ItemType::KNOWN
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| ItemType::Unknown(s.to_owned()))
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Unknown(s) => s,
            known => ItemType::KNOWN
                .iter()
                .find(|(_, t)| t == known)
                .map(|(name, _)| *name)
                .unwrap_or("unknown"),
        }
    }

    /// Whether this reader knows the type.
    pub fn is_known(&self) -> bool {
        !matches!(self, ItemType::Unknown(_))
    }

    /// Whether the type's payload is a JSON object, so that the reader refuses anything else.
    ///
    /// From Sentry's item type list (`develop-docs/sdk/data-model/envelope-items.mdx` in
    /// getsentry/sentry-docs): `event`, `transaction`, `feedback`, `user_report`,
    /// `client_report`, `replay_event`, `profile`, `profile_chunk`, `check_in` and `log` are
    /// "encoded in JSON"; `session` and `sessions` carry the JSON session payloads of the
    /// sessions protocol; `span` the span protocol's JSON (`application/vnd.sentry.items.span.v2+json`).
    /// Not JSON: `attachment` (raw file bytes), `replay_recording` ("JSON *or* a gzipped
    /// JSON"), `replay_video` (binary) and `statsd` (statsd text); unknown types are skipped.
    pub fn payload_is_json(&self) -> bool {
        matches!(
            self,
            ItemType::Event
                | ItemType::Transaction
                | ItemType::Session
                | ItemType::Sessions
                | ItemType::ClientReport
                | ItemType::UserReport
                | ItemType::Feedback
                | ItemType::CheckIn
                | ItemType::Profile
                | ItemType::ProfileChunk
                | ItemType::ReplayEvent
                | ItemType::Span
                | ItemType::Log
        )
    }
}

/// One item: headers (with `type`) and a payload.
///
/// Item headers never hold `length`: the reader removes it and the writer computes it.
#[derive(Debug, Clone)]
pub struct Item {
    headers: Headers,
    payload: Vec<u8>,
    had_length: bool,
}

impl PartialEq for Item {
    fn eq(&self, other: &Item) -> bool {
        self.headers == other.headers && self.payload == other.payload
    }
}

impl Eq for Item {}

impl Item {
    /// An item of this type.
    pub fn new(item_type: ItemType, payload: impl Into<Vec<u8>>) -> Item {
        let mut headers = Headers::new();
        headers.set_str("type", item_type.as_str());
        Item {
            headers,
            payload: payload.into(),
            had_length: false,
        }
    }

    /// An item with these headers (which must hold a string `type`).
    pub fn with_headers(headers: Headers, payload: impl Into<Vec<u8>>) -> Result<Item, Error> {
        if headers.get_str("type").is_none() {
            return Err(Error::config("an item header needs a string \"type\""));
        }
        let mut headers = headers;
        headers.remove("length");
        Ok(Item {
            headers,
            payload: payload.into(),
            had_length: false,
        })
    }

    /// An `event` item holding this event's JSON.
    pub fn event(event: &NewEvent) -> Item {
        let mut item = Item::new(ItemType::Event, event.to_json());
        item.headers.set_str("content_type", "application/json");
        item
    }

    /// An `attachment` item.
    pub fn attachment(filename: &str, content_type: &str, bytes: impl Into<Vec<u8>>) -> Item {
        let mut item = Item::new(ItemType::Attachment, bytes);
        item.headers.set_str("filename", filename);
        item.headers.set_str("content_type", content_type);
        item.headers.set_str("attachment_type", "event.attachment");
        item
    }

    /// The item's type.
    pub fn item_type(&self) -> ItemType {
        ItemType::parse(self.headers.get_str("type").unwrap_or(""))
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The attachment's file name, if set.
    pub fn filename(&self) -> Option<&str> {
        self.headers.get_str("filename")
    }

    /// Whether the item was read with a `length` header.
    pub fn had_length(&self) -> bool {
        self.had_length
    }

    /// Reads an `event` or `transaction` payload's main fields.
    pub fn event_summary(&self) -> Result<EventSummary, Error> {
        EventSummary::from_json(&self.payload)
    }
}

/// The main fields of an event or transaction payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EventSummary {
    /// `event_id`.
    pub event_id: Option<String>,
    /// `level`.
    pub level: Option<String>,
    /// The message (`message`, or `logentry.formatted`).
    pub message: Option<String>,
    /// The type of the last exception value.
    pub exception_type: Option<String>,
    /// The value of the last exception value.
    pub exception_value: Option<String>,
    /// The tags (object or list form).
    pub tags: BTreeMap<String, String>,
    /// `environment`.
    pub environment: Option<String>,
    /// `release`.
    pub release: Option<String>,
    /// `transaction`.
    pub transaction: Option<String>,
    /// `platform`.
    pub platform: Option<String>,
}

impl EventSummary {
    fn from_json(payload: &[u8]) -> Result<EventSummary, Error> {
        // Positions are within the payload: an item built in memory has no envelope around it.
        let v: Value = serde_json::from_slice(payload).map_err(|e| {
            envelope_error(
                payload,
                json_error_offset(payload, &e),
                &format!("the event payload is not JSON: {e}"),
            )
        })?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let text_of = |m: &Value| match m {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("formatted")
                .or_else(|| o.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        let message = v
            .get("message")
            .and_then(text_of)
            .or_else(|| v.get("logentry").and_then(text_of));
        let last_exception = v
            .get("exception")
            .and_then(|e| e.get("values").or(Some(e)))
            .and_then(Value::as_array)
            .and_then(|a| a.last());
        Ok(EventSummary {
            event_id: s("event_id"),
            level: s("level"),
            message,
            exception_type: last_exception
                .and_then(|e| e.get("type"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            exception_value: last_exception
                .and_then(|e| e.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            tags: v.get("tags").map(tags_of).unwrap_or_default(),
            environment: s("environment"),
            release: s("release"),
            transaction: s("transaction"),
            platform: s("platform"),
        })
    }
}

/// An item the reader skipped because its type is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedItem {
    /// The item's `type`.
    pub item_type: String,
    /// Byte offset of its header.
    pub offset: usize,
    /// Its payload's length.
    pub length: usize,
}

/// Whether the writer puts `length` in item headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Lengths {
    /// Every item gets a `length` (what the Python and Rust SDKs do).
    #[default]
    Always,
    /// Only items whose payload holds a newline get one (what the JavaScript SDK does for
    /// JSON items); the others run to the next newline.
    WhenNeeded,
}

/// A body compression, as `Content-Encoding` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// `gzip`.
    Gzip,
    /// `deflate` (zlib-wrapped, as HTTP means it).
    Deflate,
    /// `br`.
    Brotli,
}

impl Compression {
    /// The `Content-Encoding` value, `None` for no compression.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Deflate => Some("deflate"),
            Compression::Brotli => Some("br"),
        }
    }

    /// Reads a `Content-Encoding` value (`identity` and empty mean none).
    pub fn from_content_encoding(value: &str) -> Result<Compression, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Compression::None),
            "gzip" | "x-gzip" => Ok(Compression::Gzip),
            "deflate" => Ok(Compression::Deflate),
            "br" => Ok(Compression::Brotli),
            other => Err(Error::Compression {
                encoding: other.to_owned(),
                reason: "this content encoding is not supported".into(),
            }),
        }
    }

    /// Compresses `bytes`.
    pub fn compress(self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let fail = |e: std::io::Error| Error::Compression {
            encoding: self.content_encoding().unwrap_or("identity").to_owned(),
            reason: e.to_string(),
        };
        match self {
            Compression::None => Ok(bytes.to_vec()),
            Compression::Gzip => {
                let mut w =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                w.write_all(bytes).map_err(fail)?;
                w.finish().map_err(fail)
            }
            Compression::Deflate => {
                let mut w =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                w.write_all(bytes).map_err(fail)?;
                w.finish().map_err(fail)
            }
            Compression::Brotli => {
                let mut out = Vec::new();
                {
                    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    w.write_all(bytes).map_err(fail)?;
                    w.flush().map_err(fail)?;
                }
                Ok(out)
            }
        }
    }

    /// Decompresses `bytes`, refusing output larger than `max` bytes. A corrupt or truncated
    /// body is refused with where it went wrong: the compressed byte the decoder stopped at
    /// (gzip, deflate; brotli reads ahead, so only "within the first N bytes") and how many
    /// bytes it had inflated by then.
    pub fn decompress(self, bytes: &[u8], max: usize) -> Result<Vec<u8>, Error> {
        let name = self.content_encoding().unwrap_or("identity");
        // The `bufread` decoders take exactly what they use from `rest`, so what is left of
        // it says where the stream broke.
        let fail = |e: std::io::Error, rest: usize, out: &[u8], exact: bool| Error::Compression {
            encoding: name.to_owned(),
            reason: format!(
                "{e} at compressed byte {}{} of {} (after {} bytes inflated)",
                if exact { "" } else { "≤ " },
                bytes.len() - rest,
                bytes.len(),
                out.len()
            ),
        };
        let limit = max as u64 + 1;
        let mut out = Vec::new();
        match self {
            Compression::None => out.extend_from_slice(bytes),
            Compression::Gzip => {
                let mut rest = bytes;
                let read = flate2::bufread::MultiGzDecoder::new(&mut rest)
                    .take(limit)
                    .read_to_end(&mut out);
                read.map_err(|e| fail(e, rest.len(), &out, true))?;
            }
            Compression::Deflate => {
                let mut rest = bytes;
                let zlib = flate2::bufread::ZlibDecoder::new(&mut rest)
                    .take(limit)
                    .read_to_end(&mut out);
                if zlib.is_err() {
                    // Some senders mean raw deflate by `deflate`.
                    out.clear();
                    let mut rest = bytes;
                    let read = flate2::bufread::DeflateDecoder::new(&mut rest)
                        .take(limit)
                        .read_to_end(&mut out);
                    read.map_err(|e| fail(e, rest.len(), &out, true))?;
                }
            }
            Compression::Brotli => {
                let mut reader = Counted {
                    inner: bytes,
                    taken: 0,
                };
                let read = brotli::Decompressor::new(&mut reader, 4096)
                    .take(limit)
                    .read_to_end(&mut out);
                let taken = reader.taken;
                read.map_err(|e| fail(e, bytes.len() - taken, &out, false))?;
            }
        }
        if out.len() > max {
            return Err(Error::Compression {
                encoding: name.to_owned(),
                reason: format!("the body inflates past {max} bytes"),
            });
        }
        Ok(out)
    }
}

/// A reader that counts what was taken from it (brotli's decoder reads ahead in blocks).
struct Counted<'a> {
    inner: &'a [u8],
    taken: usize,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n;
        Ok(n)
    }
}

/// A Sentry envelope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    headers: Headers,
    items: Vec<Item>,
    skipped: Vec<SkippedItem>,
}

impl Envelope {
    /// An envelope with empty headers and no items.
    pub fn new() -> Envelope {
        Envelope::default()
    }

    /// An envelope carrying one event, with `event_id` and `sent_at` headers.
    pub fn for_event(event: &NewEvent) -> Envelope {
        let mut env = Envelope::new();
        env.headers.set_str("event_id", event.event_id());
        env.headers.set_str(
            "sent_at",
            crate::time::format_rfc3339(std::time::SystemTime::now()),
        );
        env.headers.0.insert(
            "sdk".into(),
            serde_json::json!({ "name": "telltale-glitchtip", "version": env!("CARGO_PKG_VERSION") }),
        );
        env.items.push(Item::event(event));
        env
    }

    /// The envelope headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The envelope headers, to change.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The items read or added (unknown ones skipped when reading).
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Adds an item.
    pub fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    /// Items the reader skipped because their type is unknown.
    pub fn skipped(&self) -> &[SkippedItem] {
        &self.skipped
    }

    /// The envelope header's `event_id`.
    pub fn event_id(&self) -> Option<&str> {
        self.headers.get_str("event_id")
    }

    /// The first item of this type.
    pub fn item(&self, item_type: &ItemType) -> Option<&Item> {
        self.items.iter().find(|i| &i.item_type() == item_type)
    }

    /// Decompresses a body as its `Content-Encoding` says, then reads it.
    pub fn decode(body: &[u8], content_encoding: Option<&str>) -> Result<Envelope, Error> {
        let compression = Compression::from_content_encoding(content_encoding.unwrap_or(""))?;
        let bytes = compression.decompress(body, DEFAULT_MAX_DECOMPRESSED)?;
        Envelope::parse(&bytes)
    }

    /// Reads an uncompressed envelope.
    pub fn parse(b: &[u8]) -> Result<Envelope, Error> {
        if b.is_empty() {
            return Err(envelope_error(b, 0, "the envelope is empty"));
        }
        let (end, mut pos) = line_end(b, 0);
        let headers = parse_headers(b, 0, end, "envelope header")?;
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        let mut index = 0;
        loop {
            while pos < b.len() && b[pos] == b'\n' {
                pos += 1;
            }
            if pos >= b.len() {
                break;
            }
            let start = pos;
            let (h_end, after) = line_end(b, pos);
            let mut headers = parse_headers(b, start, h_end, "item header")?;
            let Some(ty) = headers.get_str("type").map(str::to_owned) else {
                return Err(envelope_error(
                    b,
                    start,
                    "the item header has no string \"type\"",
                ));
            };
            let length = match headers.0.get("length") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| {
                    envelope_error(
                        b,
                        start,
                        "the item's \"length\" is not a non-negative integer",
                    )
                })? as usize),
            };
            headers.remove("length");
            let payload_start = after;
            let payload = match length {
                Some(n) => {
                    if h_end == b.len() && n > 0 {
                        return Err(envelope_error(
                            b,
                            h_end,
                            &format!("the item declares length {n} but the envelope ends after its header"),
                        ));
                    }
                    let remaining = b.len() - payload_start;
                    if n > remaining {
                        return Err(envelope_error(
                            b,
                            payload_start,
                            &format!(
                                "the item declares length {n} but only {remaining} bytes remain"
                            ),
                        ));
                    }
                    pos = payload_start + n;
                    if pos < b.len() {
                        if b[pos] != b'\n' {
                            return Err(envelope_error(
                                b,
                                pos,
                                &format!("expected a newline after the item's {n}-byte payload"),
                            ));
                        }
                        pos += 1;
                    }
                    &b[payload_start..payload_start + n]
                }
                None => {
                    let (p_end, next) = line_end(b, payload_start);
                    pos = next;
                    &b[payload_start..p_end]
                }
            };
            let item_type = ItemType::parse(&ty);
            if item_type.payload_is_json() {
                check_json_object(b, payload_start, payload, index, &ty)?;
            }
            index += 1;
            if item_type.is_known() {
                items.push(Item {
                    headers,
                    payload: payload.to_vec(),
                    had_length: length.is_some(),
                });
            } else {
                skipped.push(SkippedItem {
                    item_type: ty,
                    offset: start,
                    length: payload.len(),
                });
            }
        }
        Ok(Envelope {
            headers,
            items,
            skipped,
        })
    }

    /// Writes the envelope, every item with a `length`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with(Lengths::Always)
    }

    /// Writes the envelope with the given `length` policy.
    pub fn to_bytes_with(&self, lengths: Lengths) -> Vec<u8> {
        let mut out = self.headers.to_json().into_bytes();
        out.push(b'\n');
        for item in &self.items {
            let mut headers = item.headers.clone();
            let needs = item.payload.contains(&b'\n');
            if lengths == Lengths::Always || needs {
                headers.set_u64("length", item.payload.len() as u64);
            }
            out.extend_from_slice(headers.to_json().as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&item.payload);
            out.push(b'\n');
        }
        out
    }

    /// Writes and compresses the envelope.
    pub fn encode(&self, lengths: Lengths, compression: Compression) -> Result<Vec<u8>, Error> {
        compression.compress(&self.to_bytes_with(lengths))
    }
}

/// The end of the line starting at `from` (exclusive) and where the next line starts.
fn line_end(b: &[u8], from: usize) -> (usize, usize) {
    match b[from.min(b.len())..].iter().position(|&c| c == b'\n') {
        Some(i) => (from + i, from + i + 1),
        None => (b.len(), b.len()),
    }
}

fn line_of(b: &[u8], offset: usize) -> usize {
    b[..offset.min(b.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

/// The 1-based column of `offset`, in bytes from the start of its line.
fn column_of(b: &[u8], offset: usize) -> usize {
    let offset = offset.min(b.len());
    offset
        - b[..offset]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
        + 1
}

fn envelope_error(b: &[u8], offset: usize, reason: &str) -> Error {
    Error::Envelope {
        offset,
        line: line_of(b, offset),
        column: column_of(b, offset),
        reason: reason.to_owned(),
    }
}

/// Where in `text` serde_json stopped: its line and column (1-based, in bytes) turned back
/// into an offset, at most the end of `text`.
fn json_error_offset(text: &[u8], e: &serde_json::Error) -> usize {
    let line_start = if e.line() <= 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|(_, &c)| c == b'\n')
            .nth(e.line() - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    (line_start + e.column().saturating_sub(1)).min(text.len())
}

/// Refuses a payload that is not one JSON object, with the position in the whole envelope
/// `b` where it goes wrong (`start` is the payload's offset in it).
fn check_json_object(
    b: &[u8],
    start: usize,
    payload: &[u8],
    index: usize,
    item_type: &str,
) -> Result<(), Error> {
    let fail = |at: usize, reason: String| {
        let offset = start + at;
        Err(Error::EnvelopeItem {
            index,
            item_type: item_type.to_owned(),
            offset,
            line: line_of(b, offset),
            column: column_of(b, offset),
            reason,
        })
    };
    match payload.iter().position(|c| !c.is_ascii_whitespace()) {
        None => fail(
            payload.len(),
            "the payload is empty, not a JSON object".into(),
        ),
        Some(first) if payload[first] != b'{' => fail(
            first,
            "the payload is not a JSON object (it must start with '{')".into(),
        ),
        Some(_) => match serde_json::from_slice::<serde::de::IgnoredAny>(payload) {
            Ok(_) => Ok(()),
            Err(e) => fail(
                json_error_offset(payload, &e),
                format!("the payload is not valid JSON: {e}"),
            ),
        },
    }
}

fn parse_headers(b: &[u8], start: usize, end: usize, what: &str) -> Result<Headers, Error> {
    let line = &b[start..end];
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(envelope_error(b, start, &format!("the {what} is empty")));
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(m)) => Ok(Headers(m)),
        Ok(_) => Err(envelope_error(
            b,
            start,
            &format!("the {what} is not a JSON object"),
        )),
        Err(e) => {
            let col = e.column().saturating_sub(1);
            let offset = (start + col).min(end);
            Err(envelope_error(
                b,
                offset,
                &format!("the {what} is not valid JSON: {e}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_items_with_and_without_length_and_skips_unknown() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n\
{\"type\":\"attachment\",\"length\":10,\"filename\":\"a.txt\"}\n\
\xef\xbb\xbfHello\r\n\n\
{\"type\":\"event\"}\n\
{\"message\":\"hi\",\"tags\":[[\"run\",\"r1\"]]}\n\
{\"type\":\"future_thing\",\"length\":3}\nabc\n\
{\"type\":\"session\"}\n{\"sid\":\"x\"}";
        let env = Envelope::parse(body).unwrap();
        assert_eq!(env.event_id(), Some("9ec79c33ec9942ab8353589fcb2e04dc"));
        assert_eq!(env.items().len(), 3);
        assert_eq!(env.items()[0].payload(), b"\xef\xbb\xbfHello\r\n");
        assert!(env.items()[0].had_length() && !env.items()[1].had_length());
        assert!(!env.items()[0].headers().contains("length"));
        let ev = env.items()[1].event_summary().unwrap();
        assert_eq!(
            (ev.message.as_deref(), ev.tags["run"].as_str()),
            (Some("hi"), "r1")
        );
        assert_eq!(env.skipped()[0].item_type, "future_thing");
        assert_eq!(env.items()[2].item_type(), ItemType::Session);
    }

    #[test]
    fn errors_say_where() {
        let cases: &[(&[u8], usize, usize, &str)] = &[
            (b"", 0, 1, "empty"),
            (
                b"{\"a\":1}\n{\"type\":\"event\",\"length\":50}\n{}",
                37,
                3,
                "only 2 bytes remain",
            ),
            (b"{}\n{\"length\":2}\nab", 3, 2, "no string \"type\""),
            (
                b"{}\n{\"type\":\"event\",\"length\":2}\nabc\n",
                33,
                3,
                "expected a newline",
            ),
            (
                b"{}\n{\"type\":\"event\",\"length\":-1}\n",
                3,
                2,
                "non-negative",
            ),
            (b"[1]\n", 0, 1, "not a JSON object"),
            (b"{\"a\":}\n", 5, 1, "not valid JSON"),
        ];
        for (body, offset, line, words) in cases {
            match Envelope::parse(body) {
                Err(Error::Envelope {
                    offset: o,
                    line: l,
                    column,
                    reason,
                }) => {
                    assert!(reason.contains(words), "{reason}");
                    assert_eq!((o, l), (*offset, *line), "{reason}");
                    assert_eq!(column, column_of(body, o));
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn json_items_must_hold_a_json_object_and_errors_name_the_item() {
        // (envelope, item index, type, offset, line, column, words)
        type Case<'a> = (&'a [u8], usize, &'a str, usize, usize, usize, &'a str);
        let cases: &[Case<'_>] = &[
            // Without length: the payload runs to the newline, cut mid-object.
            (
                b"{}\n{\"type\":\"event\"}\n{\"message\":\"hi\",\n",
                0,
                "event",
                35,
                3,
                16,
                "EOF while parsing",
            ),
            // With length, a bad token on the payload's second line.
            (
                b"{}\n{\"type\":\"attachment\",\"length\":1}\nx\n{\"type\":\"transaction\",\"length\":12}\n{\"a\":1,\n\"b\"}\n",
                1,
                "transaction",
                84,
                6,
                4,
                "expected `:`",
            ),
            (
                b"{}\n{\"type\":\"session\",\"length\":0}\n\n",
                0,
                "session",
                33,
                3,
                1,
                "empty",
            ),
            (
                b"{}\n{\"type\":\"span\"}\n  [1]\n",
                0,
                "span",
                21,
                3,
                3,
                "not a JSON object",
            ),
            (
                b"{}\n{\"type\":\"log\",\"length\":9}\n{\"a\":1} x\n",
                0,
                "log",
                37,
                3,
                9,
                "trailing characters",
            ),
            // An unknown item before counts in the index; its payload is not judged.
            (
                b"{}\n{\"type\":\"future\"}\nnot json\n{\"type\":\"client_report\"}\nnope\n",
                1,
                "client_report",
                55,
                5,
                1,
                "not a JSON object",
            ),
        ];
        for (body, index, ty, offset, line, column, words) in cases {
            match &Envelope::parse(body) {
                Err(
                    e @ Error::EnvelopeItem {
                        index: i,
                        item_type: t,
                        offset: o,
                        line: l,
                        column: c,
                        ..
                    },
                ) => {
                    let shown = e.to_string();
                    assert!(shown.contains(words), "{shown}");
                    assert_eq!(
                        (*i, t.as_str(), *o, *l, *c),
                        (*index, *ty, *offset, *line, *column),
                        "{shown}"
                    );
                    assert!(
                        shown.contains(&format!("item {} (type {ty:?})", index + 1)),
                        "{shown}"
                    );
                    assert_eq!(line_of(body, *offset), *line);
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        // Binary and text types are not judged as JSON; neither are unknown ones.
        let fine = b"{}\n{\"type\":\"attachment\",\"length\":3}\n{x}\n{\"type\":\"statsd\"}\nc:1|c\n{\"type\":\"replay_recording\",\"length\":2}\n\x1f\x8b\n{\"type\":\"nope\"}\n[\n";
        let env = Envelope::parse(fine).unwrap();
        assert_eq!((env.items().len(), env.skipped().len()), (3, 1));
        for ty in [
            "event",
            "transaction",
            "session",
            "sessions",
            "client_report",
            "user_report",
            "feedback",
            "check_in",
            "profile",
            "profile_chunk",
            "replay_event",
            "span",
            "log",
        ] {
            assert!(ItemType::parse(ty).payload_is_json(), "{ty}");
        }
    }

    #[test]
    fn writes_lengths_when_needed_and_compresses() {
        let mut env = Envelope::new();
        env.headers_mut().set_str("event_id", "abc");
        env.push(Item::new(ItemType::Event, "{\"a\":1}"));
        env.push(Item::attachment("f", "text/plain", "x\ny"));
        let text = String::from_utf8(env.to_bytes_with(Lengths::WhenNeeded)).unwrap();
        assert_eq!(
            text,
            "{\"event_id\":\"abc\"}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"attachment\",\"filename\":\"f\",\"content_type\":\"text/plain\",\"attachment_type\":\"event.attachment\",\"length\":3}\nx\ny\n"
        );
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Deflate,
            Compression::Brotli,
        ] {
            let body = env.encode(Lengths::Always, c).unwrap();
            let back = Envelope::decode(&body, c.content_encoding()).unwrap();
            assert_eq!(back, env, "{c:?}");
        }
        // A corrupt stream says where it broke.
        let mut gz = Compression::Gzip.compress(b"hello hello hello").unwrap();
        let n = gz.len();
        gz.truncate(n - 6);
        let err = Compression::Gzip
            .decompress(&gz, 1000)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("at compressed byte {} of {}", n - 6, n - 6)),
            "{err}"
        );
        let err = Compression::Deflate
            .decompress(b"\x78\x9c\xff\xff", 1000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at compressed byte"), "{err}");
        let err = Compression::Brotli
            .decompress(b"\xff\xff\xff\xff", 1000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at compressed byte ≤ 4 of 4"), "{err}");
        let big = Compression::Gzip.compress(&vec![b'a'; 5000]).unwrap();
        assert!(matches!(
            Compression::Gzip.decompress(&big, 4000),
            Err(Error::Compression { .. })
        ));
        assert!(Compression::from_content_encoding("zstd").is_err());
    }

    #[test]
    fn debug_hides_keys() {
        let h = Headers::from_json(
            r#"{"dsn":"http://0123456789abcdef0123456789abcdef@h/1","trace":{"public_key":"0123456789abcdef0123456789abcdef"}}"#,
        )
        .unwrap();
        assert!(!format!("{h:?}").contains("0123456789abcdef"));
    }
}
