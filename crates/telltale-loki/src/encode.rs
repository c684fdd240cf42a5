//! Push body encodings: protobuf in snappy's block format (Loki's native form) and JSON, plus
//! decoders for both so tests and in-process fakes can read what a client sent.
//!
//! Wire contract: `pkg/push/push.proto` and `docs/sources/reference/loki-http-api.md` in
//! grafana/loki. Loki decodes protobuf bodies with `snappy.Decode`, the block format, not the
//! framed stream format.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::entry::{Entry, Stream, Timestamp};
use crate::{Error, LabelLimits, LabelSet};

/// How a push body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushEncoding {
    /// `application/x-protobuf`, snappy block compression. Loki's own and fastest form.
    #[default]
    Protobuf,
    /// `application/json` with nanosecond timestamps as strings, optionally gzip-compressed.
    Json {
        /// Compress with gzip and send `Content-Encoding: gzip`.
        gzip: bool,
    },
}

/// An encoded push body with the headers that describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPush {
    /// The body bytes, as sent.
    pub body: Vec<u8>,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The `Content-Encoding` header value, if any.
    pub content_encoding: Option<&'static str>,
    /// Size of the body before compression.
    pub uncompressed_len: usize,
}

/// Encodes streams into a push body.
pub fn encode_push(streams: &[Stream], encoding: PushEncoding) -> EncodedPush {
    match encoding {
        PushEncoding::Protobuf => {
            let raw = encode_protobuf(streams);
            let body = snap::raw::Encoder::new()
                .compress_vec(&raw)
                .expect("snappy block encoding only fails past 4 GiB, far over Loki's limits");
            EncodedPush {
                uncompressed_len: raw.len(),
                body,
                content_type: "application/x-protobuf",
                content_encoding: None,
            }
        }
        PushEncoding::Json { gzip } => {
            let raw = encode_json(streams);
            if gzip {
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(raw.len() / 4),
                    flate2::Compression::fast(),
                );
                gz.write_all(&raw).expect("writing to a Vec cannot fail");
                let body = gz.finish().expect("writing to a Vec cannot fail");
                EncodedPush {
                    uncompressed_len: raw.len(),
                    body,
                    content_type: "application/json",
                    content_encoding: Some("gzip"),
                }
            } else {
                EncodedPush {
                    uncompressed_len: raw.len(),
                    body: raw,
                    content_type: "application/json",
                    content_encoding: None,
                }
            }
        }
    }
}

/// Decodes a push body, as Loki's `ParseRequest` would.
///
/// `content_type` decides the format: `application/json` is JSON, anything else protobuf
/// (Loki treats unknown types as protobuf too). `content_encoding` may be `gzip`.
pub fn decode_push(
    body: &[u8],
    content_type: &str,
    content_encoding: Option<&str>,
) -> Result<Vec<Stream>, Error> {
    const WHERE: &str = "push body";
    let inflated;
    let body = match content_encoding {
        None | Some("") | Some("snappy") => body,
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .map_err(|e| Error::decode(WHERE, format!("gzip: {e}"), body))?;
            inflated = out;
            &inflated
        }
        Some(other) => {
            return Err(Error::decode(
                WHERE,
                format!("unsupported content encoding {other:?}"),
                body,
            ))
        }
    };
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime == "application/json" {
        decode_json(body)
    } else {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(body)
            .map_err(|e| Error::decode(WHERE, format!("snappy: {e}"), body))?;
        decode_protobuf(&raw)
    }
}

// Protobuf field keys: (field number << 3) | wire type 2 (length-delimited) or 0 (varint).
const KEY_1_LEN: u8 = 0x0a;
const KEY_2_LEN: u8 = 0x12;
const KEY_3_LEN: u8 = 0x1a;
const KEY_1_VARINT: u8 = 0x08;
const KEY_2_VARINT: u8 = 0x10;

fn varint_len(v: u64) -> usize {
    // Each byte carries 7 bits; 0 still takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, key: u8, bytes: &[u8]) {
    buf.push(key);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn split_timestamp(ts: Timestamp) -> (i64, i32) {
    let ns = ts.unix_nanos();
    (
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as i32,
    )
}

fn timestamp_len(ts: Timestamp) -> usize {
    let (secs, nanos) = split_timestamp(ts);
    let mut len = 0;
    if secs != 0 {
        len += 1 + varint_len(secs as u64);
    }
    if nanos != 0 {
        len += 1 + varint_len(nanos as u64);
    }
    len
}

fn entry_len(entry: &Entry) -> usize {
    let mut len = field_len(timestamp_len(entry.timestamp));
    if !entry.line.is_empty() {
        len += field_len(entry.line.len());
    }
    for (name, value) in &entry.structured_metadata {
        len += field_len(pair_len(name, value));
    }
    len
}

fn pair_len(name: &str, value: &str) -> usize {
    let mut len = 0;
    if !name.is_empty() {
        len += field_len(name.len());
    }
    if !value.is_empty() {
        len += field_len(value.len());
    }
    len
}

/// Encodes a `logproto.PushRequest` without building intermediate messages: sizes are computed
/// first, then bytes are written once into a buffer of the exact final size.
pub(crate) fn encode_protobuf(streams: &[Stream]) -> Vec<u8> {
    let labels: Vec<String> = streams.iter().map(|s| s.labels.to_string()).collect();
    let stream_lens: Vec<usize> = streams
        .iter()
        .zip(&labels)
        .map(|(s, l)| {
            field_len(l.len())
                + s.entries
                    .iter()
                    .map(|e| field_len(entry_len(e)))
                    .sum::<usize>()
        })
        .collect();
    let total: usize = stream_lens.iter().map(|&l| field_len(l)).sum();
    let mut buf = Vec::with_capacity(total);
    for ((stream, label_text), &stream_len) in streams.iter().zip(&labels).zip(&stream_lens) {
        buf.push(KEY_1_LEN);
        put_varint(&mut buf, stream_len as u64);
        put_bytes(&mut buf, KEY_1_LEN, label_text.as_bytes());
        for entry in &stream.entries {
            buf.push(KEY_2_LEN);
            put_varint(&mut buf, entry_len(entry) as u64);
            let (secs, nanos) = split_timestamp(entry.timestamp);
            buf.push(KEY_1_LEN);
            put_varint(&mut buf, timestamp_len(entry.timestamp) as u64);
            if secs != 0 {
                buf.push(KEY_1_VARINT);
                put_varint(&mut buf, secs as u64);
            }
            if nanos != 0 {
                buf.push(KEY_2_VARINT);
                put_varint(&mut buf, nanos as u64);
            }
            if !entry.line.is_empty() {
                put_bytes(&mut buf, KEY_2_LEN, entry.line.as_bytes());
            }
            for (name, value) in &entry.structured_metadata {
                buf.push(KEY_3_LEN);
                put_varint(&mut buf, pair_len(name, value) as u64);
                if !name.is_empty() {
                    put_bytes(&mut buf, KEY_1_LEN, name.as_bytes());
                }
                if !value.is_empty() {
                    put_bytes(&mut buf, KEY_2_LEN, value.as_bytes());
                }
            }
        }
    }
    debug_assert_eq!(buf.len(), total);
    buf
}

/// prost messages mirroring `logproto`, used to decode (and, in tests, to cross-check the
/// hand-written encoder).
pub(crate) mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub(crate) streams: Vec<StreamAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct StreamAdapter {
        #[prost(string, tag = "1")]
        pub(crate) labels: String,
        #[prost(message, repeated, tag = "2")]
        pub(crate) entries: Vec<EntryAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub(crate) timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub(crate) line: String,
        #[prost(message, repeated, tag = "3")]
        pub(crate) structured_metadata: Vec<LabelPairAdapter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct LabelPairAdapter {
        #[prost(string, tag = "1")]
        pub(crate) name: String,
        #[prost(string, tag = "2")]
        pub(crate) value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Timestamp {
        #[prost(int64, tag = "1")]
        pub(crate) seconds: i64,
        #[prost(int32, tag = "2")]
        pub(crate) nanos: i32,
    }
}

fn decode_protobuf(raw: &[u8]) -> Result<Vec<Stream>, Error> {
    use prost::Message;
    let req = proto::PushRequest::decode(raw)
        .map_err(|e| Error::decode("push body", format!("protobuf: {e}"), raw))?;
    req.streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let labels = LabelSet::parse(&s.labels).map_err(|e| {
                Error::decode("push body", format!("streams[{i}].labels: {e}"), raw)
            })?;
            let entries = s
                .entries
                .into_iter()
                .map(|e| {
                    let ts = e.timestamp.unwrap_or_default();
                    Entry {
                        timestamp: Timestamp::from_unix_nanos(
                            ts.seconds * 1_000_000_000 + i64::from(ts.nanos),
                        ),
                        line: e.line,
                        structured_metadata: e
                            .structured_metadata
                            .into_iter()
                            .map(|p| (p.name, p.value))
                            .collect(),
                    }
                })
                .collect();
            Ok(Stream { labels, entries })
        })
        .collect()
}

struct JsonStreams<'a>(&'a [Stream]);
struct JsonStream<'a>(&'a Stream);
struct JsonEntries<'a>(&'a [Entry]);
struct JsonEntry<'a>(&'a Entry);
struct JsonPairs<'a>(&'a [(String, String)]);

impl Serialize for JsonStreams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("streams", &JsonList(self.0.iter().map(JsonStream)))?;
        map.end()
    }
}

struct JsonList<I>(I);

impl<I, T> Serialize for JsonList<I>
where
    I: Iterator<Item = T> + Clone,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

impl Serialize for JsonStream<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("stream", &JsonLabelMap(&self.0.labels))?;
        map.serialize_entry("values", &JsonEntries(&self.0.entries))?;
        map.end()
    }
}

struct JsonLabelMap<'a>(&'a LabelSet);

impl Serialize for JsonLabelMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

impl Serialize for JsonEntries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JsonEntry))
    }
}

impl Serialize for JsonEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let with_meta = !self.0.structured_metadata.is_empty();
        let mut seq = s.serialize_seq(Some(if with_meta { 3 } else { 2 }))?;
        // Loki refuses numeric timestamps: they must be strings of integer nanoseconds.
        seq.serialize_element(&self.0.timestamp.unix_nanos().to_string())?;
        seq.serialize_element(&self.0.line)?;
        if with_meta {
            seq.serialize_element(&JsonPairs(&self.0.structured_metadata))?;
        }
        seq.end()
    }
}

impl Serialize for JsonPairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

pub(crate) fn encode_json(streams: &[Stream]) -> Vec<u8> {
    serde_json::to_vec(&JsonStreams(streams)).expect("serializing strings to JSON cannot fail")
}

#[derive(serde::Deserialize)]
struct JsonPushIn {
    streams: Vec<JsonStreamIn>,
}

#[derive(serde::Deserialize)]
struct JsonStreamIn {
    stream: BTreeMap<String, String>,
    values: Vec<Vec<serde_json::Value>>,
}

fn decode_json(body: &[u8]) -> Result<Vec<Stream>, Error> {
    const WHERE: &str = "push body";
    let req: JsonPushIn = serde_json::from_slice(body)
        .map_err(|e| Error::decode(WHERE, format!("json: {e}"), body))?;
    // Errors name the element (`streams[i].values[j]`): serde_json's line and column are
    // gone once the body is a tree of values.
    req.streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            // Decoding reads what a sender wrote; limits are the server's business, not the reader's.
            let labels = LabelSet::with_limits(s.stream, LabelLimits::UNBOUNDED)
                .map_err(|e| Error::decode(WHERE, format!("streams[{i}].stream: {e}"), body))?;
            let entries = s
                .values
                .into_iter()
                .enumerate()
                .map(|(j, value)| {
                    parse_json_entry(&value).ok_or_else(|| {
                        Error::decode(
                            WHERE,
                            format!("streams[{i}].values[{j}] is not [\"<ns>\", \"line\", {{metadata}}?] with string values"),
                            body,
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Stream { labels, entries })
        })
        .collect()
}

fn parse_json_entry(value: &[serde_json::Value]) -> Option<Entry> {
    let (ts, line, meta) = match value {
        [ts, line] => (ts, line, None),
        [ts, line, meta] => (ts, line, Some(meta)),
        _ => return None,
    };
    let ts: i64 = ts.as_str()?.parse().ok()?;
    let structured_metadata = match meta {
        None => Vec::new(),
        Some(meta) => meta
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect::<Option<Vec<_>>>()?,
    };
    Some(Entry {
        timestamp: Timestamp::from_unix_nanos(ts),
        line: line.as_str()?.to_owned(),
        structured_metadata,
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn sample() -> Vec<Stream> {
        vec![Stream::new(
            LabelSet::new([("job", "t"), ("env", "dev")]).unwrap(),
            vec![
                Entry::new(
                    Timestamp::from_unix_nanos(1_795_315_328_449_691_664),
                    "protobuf line 1",
                ),
                Entry::new(
                    Timestamp::from_unix_nanos(1_795_315_328_549_691_664),
                    "with metadata",
                )
                .with_metadata("trace_id", "def456")
                .with_metadata("pod", "p-1"),
                Entry::new(Timestamp::from_unix_nanos(0), ""),
                Entry::new(Timestamp::from_unix_nanos(-1), "before the epoch"),
            ],
        )]
    }

    fn via_prost(streams: &[Stream]) -> Vec<u8> {
        let req = proto::PushRequest {
            streams: streams
                .iter()
                .map(|s| proto::StreamAdapter {
                    labels: s.labels.to_string(),
                    entries: s
                        .entries
                        .iter()
                        .map(|e| {
                            let (seconds, nanos) = split_timestamp(e.timestamp);
                            proto::EntryAdapter {
                                timestamp: Some(proto::Timestamp { seconds, nanos }),
                                line: e.line.clone(),
                                structured_metadata: e
                                    .structured_metadata
                                    .iter()
                                    .map(|(name, value)| proto::LabelPairAdapter {
                                        name: name.clone(),
                                        value: value.clone(),
                                    })
                                    .collect(),
                            }
                        })
                        .collect(),
                })
                .collect(),
        };
        req.encode_to_vec()
    }

    #[test]
    fn hand_encoder_matches_prost_byte_for_byte() {
        assert_eq!(encode_protobuf(&sample()), via_prost(&sample()));
    }

    #[test]
    fn both_encodings_round_trip() {
        for encoding in [
            PushEncoding::Protobuf,
            PushEncoding::Json { gzip: false },
            PushEncoding::Json { gzip: true },
        ] {
            let enc = encode_push(&sample(), encoding);
            let back = decode_push(&enc.body, enc.content_type, enc.content_encoding).unwrap();
            assert_eq!(back, sample(), "{encoding:?}");
        }
    }

    #[test]
    fn json_timestamps_are_strings() {
        let json = String::from_utf8(encode_json(&sample())).unwrap();
        assert!(
            json.contains(r#"["1795315328449691664","protobuf line 1"]"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"trace_id":"def456","pod":"p-1"}"#),
            "{json}"
        );
    }

    #[test]
    fn malformed_pushes_name_the_element() {
        let json = |body: &str| {
            decode_push(body.as_bytes(), "application/json", None)
                .unwrap_err()
                .to_string()
        };
        let err =
            json(r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["2","y",{"k":1}]]}]}"#);
        assert!(err.contains("streams[0].values[1] is not"), "{err}");
        let err = json(
            r#"{"streams":[{"stream":{"a":"b"},"values":[]},{"stream":{"1a":"b"},"values":[]}]}"#,
        );
        assert!(
            err.contains("streams[1].stream: invalid label name"),
            "{err}"
        );
        let err = json(r#"{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}"#);
        assert!(err.contains("streams[0].values[0]"), "{err}");
        // serde's own position for a syntax error.
        let err = json(r#"{"streams":[}"#);
        assert!(err.contains("line 1 column 13"), "{err}");
        let mut raw = Vec::new();
        put_bytes(&mut raw, KEY_1_LEN, &{
            let mut s = Vec::new();
            put_bytes(&mut s, KEY_1_LEN, b"{a=\"b\"");
            s
        });
        let err = decode_protobuf(&raw).unwrap_err().to_string();
        assert!(err.contains("streams[0].labels"), "{err}");
    }

    #[test]
    fn varint_len_is_exact() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
        }
    }
}
