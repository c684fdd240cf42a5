//! Prometheus remote-write 1.0: the `WriteRequest` protobuf, written by hand and compressed with
//! snappy's block format, as Prometheus's receiver (`--web.enable-remote-write-receiver`),
//! VictoriaMetrics, Mimir and managed stores read it.
//!
//! The encoder writes exactly what prost writes for `prometheus.WriteRequest`
//! (`prompb/remote.proto`, `prompb/types.proto`): proto3 defaults (a `0.0` value, a zero
//! timestamp, an empty string) are left out, labels are sorted by name as the spec requires.
//! The tests check it byte for byte against prost messages with the same tags.

/// One series to write: its labels (with `__name__`) and its samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteSeries {
    /// Label pairs, `__name__` among them; sorted by name when encoded.
    pub labels: Vec<(String, String)>,
    /// Samples in time order.
    pub samples: Vec<WriteSample>,
}

/// One sample: a value at a time in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WriteSample {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value.
    pub value: f64,
}

impl WriteSeries {
    /// A series named `name` with `labels` besides the name, and no samples yet.
    pub fn new<'a>(name: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut all = vec![("__name__".to_owned(), name.to_owned())];
        all.extend(
            labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        WriteSeries {
            labels: all,
            samples: Vec::new(),
        }
    }

    /// Adds a sample.
    pub fn sample(mut self, timestamp_ms: i64, value: f64) -> Self {
        self.samples.push(WriteSample {
            timestamp_ms,
            value,
        });
        self
    }
}

/// What a read-back through the query API found for samples written by remote-write: every
/// sample is in exactly one of `found` (same time, same value bits), `wrong_value` or `missing`;
/// `unexpected` lists samples of the written series the writer never sent.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ReadBack {
    /// Samples written.
    pub written: usize,
    /// Samples read back exactly.
    pub found: usize,
    /// `(series, timestamp_ms)` of samples not read back.
    pub missing: Vec<(String, i64)>,
    /// `(series, timestamp_ms, written, read)` of samples read back with another value.
    pub wrong_value: Vec<(String, i64, f64, f64)>,
    /// `(series, timestamp_ms)` of samples read back, within the span of the expected ones,
    /// that were never written.
    pub unexpected: Vec<(String, i64)>,
}

impl ReadBack {
    /// Every sample read back exactly once, and nothing else.
    pub fn is_exact(&self) -> bool {
        self.found == self.written
            && self.missing.is_empty()
            && self.wrong_value.is_empty()
            && self.unexpected.is_empty()
    }

    pub(crate) fn compare(series: &WriteSeries, read: &[(i64, f64)], into: &mut ReadBack) {
        let name = selector(series);
        let mut got: std::collections::BTreeMap<i64, f64> = read.iter().copied().collect();
        for s in &series.samples {
            into.written += 1;
            match got.remove(&s.timestamp_ms) {
                Some(v) if v.to_bits() == s.value.to_bits() || (v.is_nan() && s.value.is_nan()) => {
                    into.found += 1
                }
                Some(v) => into
                    .wrong_value
                    .push((name.clone(), s.timestamp_ms, s.value, v)),
                None => into.missing.push((name.clone(), s.timestamp_ms)),
            }
        }
        into.unexpected
            .extend(got.into_keys().map(|t| (name.clone(), t)));
    }
}

/// The series' exact selector, `{__name__="x", job="a"}`, labels sorted, values escaped as PromQL
/// strings.
pub fn selector(series: &WriteSeries) -> String {
    let mut labels: Vec<&(String, String)> = series.labels.iter().collect();
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// The `Content-Type`, `Content-Encoding` and version header remote-write 1.0 sends.
pub(crate) const CONTENT_TYPE: &str = "application/x-protobuf";
pub(crate) const CONTENT_ENCODING: &str = "snappy";
pub(crate) const VERSION_HEADER: (&str, &str) = ("X-Prometheus-Remote-Write-Version", "0.1.0");

/// The `WriteRequest` protobuf, uncompressed.
pub fn encode_write_request(series: &[WriteSeries]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(series.len() * 64);
    for s in series {
        let mut labels: Vec<&(String, String)> = s.labels.iter().collect();
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        let label_lens: Vec<usize> = labels.iter().map(|(n, v)| label_len(n, v)).collect();
        let sample_lens: Vec<usize> = s.samples.iter().map(sample_len).collect();
        let body: usize = label_lens.iter().map(|l| field_len(*l)).sum::<usize>()
            + sample_lens.iter().map(|l| field_len(*l)).sum::<usize>();
        buf.push(0x0a);
        put_varint(&mut buf, body as u64);
        for ((name, value), len) in labels.iter().zip(&label_lens) {
            buf.push(0x0a);
            put_varint(&mut buf, *len as u64);
            put_string(&mut buf, 0x0a, name);
            put_string(&mut buf, 0x12, value);
        }
        for (sample, len) in s.samples.iter().zip(&sample_lens) {
            buf.push(0x12);
            put_varint(&mut buf, *len as u64);
            if sample.value != 0.0 {
                buf.push(0x09);
                buf.extend_from_slice(&sample.value.to_le_bytes());
            }
            if sample.timestamp_ms != 0 {
                buf.push(0x10);
                put_varint(&mut buf, sample.timestamp_ms as u64);
            }
        }
    }
    buf
}

/// The body remote-write sends: [`encode_write_request`] in snappy's block format.
pub fn encode_snappy(series: &[WriteSeries]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&encode_write_request(series))
        .expect("snappy compresses any input that fits in memory")
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn string_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        field_len(s.len())
    }
}

fn put_string(buf: &mut Vec<u8>, key: u8, s: &str) {
    if !s.is_empty() {
        buf.push(key);
        put_varint(buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }
}

fn label_len(name: &str, value: &str) -> usize {
    string_len(name) + string_len(value)
}

fn sample_len(s: &WriteSample) -> usize {
    let value = if s.value != 0.0 { 9 } else { 0 };
    let ts = if s.timestamp_ms != 0 {
        1 + varint_len(s.timestamp_ms as u64)
    } else {
        0
    };
    value + ts
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// `prompb.WriteRequest` as prost would generate it from Prometheus's `.proto` files.
    #[derive(Clone, PartialEq, prost::Message)]
    struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        samples: Vec<Sample>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Label {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(string, tag = "2")]
        value: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Sample {
        #[prost(double, tag = "1")]
        value: f64,
        #[prost(int64, tag = "2")]
        timestamp: i64,
    }

    fn with_prost(series: &[WriteSeries]) -> Vec<u8> {
        WriteRequest {
            timeseries: series
                .iter()
                .map(|s| {
                    let mut labels: Vec<Label> = s
                        .labels
                        .iter()
                        .map(|(n, v)| Label {
                            name: n.clone(),
                            value: v.clone(),
                        })
                        .collect();
                    labels.sort_by(|a, b| a.name.cmp(&b.name));
                    TimeSeries {
                        labels,
                        samples: s
                            .samples
                            .iter()
                            .map(|x| Sample {
                                value: x.value,
                                timestamp: x.timestamp_ms,
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
        .encode_to_vec()
    }

    #[test]
    fn encodes_byte_for_byte_as_prost_including_defaults_and_edge_values() {
        let long = "v".repeat(300);
        let cases = vec![
            vec![],
            vec![WriteSeries::new("up", [("job", "a")]).sample(1_700_000_000_123, 1.0)],
            vec![
                // Unsorted labels, an empty value, a zero value, a zero and a negative timestamp.
                WriteSeries::new("x_total", [("zeta", "1"), ("alpha", ""), ("run", "tt-1")])
                    .sample(0, 0.0)
                    .sample(-5, -0.5)
                    .sample(i64::MAX, f64::NAN)
                    .sample(1, f64::INFINITY),
                WriteSeries::new(&long, [("big", long.as_str())]).sample(1 << 40, 1e300),
                WriteSeries::new("no_samples", []),
            ],
        ];
        for series in cases {
            let ours = encode_write_request(&series);
            assert_eq!(ours, with_prost(&series), "{series:?}");
            let decoded = WriteRequest::decode(ours.as_slice()).unwrap();
            assert_eq!(decoded.timeseries.len(), series.len());
        }
    }

    #[test]
    fn read_back_puts_every_sample_in_one_place() {
        let series = WriteSeries::new("m", [("q", "a\"b\\c\nd")])
            .sample(1, 1.0)
            .sample(2, 2.0)
            .sample(3, f64::NAN)
            .sample(4, 4.0);
        assert_eq!(selector(&series), r#"{__name__="m", q="a\"b\\c\nd"}"#);
        let mut rb = ReadBack::default();
        ReadBack::compare(
            &series,
            &[(1, 1.0), (2, 2.5), (3, f64::NAN), (9, 0.0)],
            &mut rb,
        );
        assert_eq!((rb.written, rb.found), (4, 2));
        assert_eq!(rb.wrong_value.len(), 1);
        assert_eq!(rb.missing.len(), 1);
        assert_eq!(rb.unexpected.len(), 1);
        assert!(!rb.is_exact());
        let mut rb = ReadBack::default();
        ReadBack::compare(
            &series,
            &[(1, 1.0), (2, 2.0), (3, f64::NAN), (4, 4.0)],
            &mut rb,
        );
        assert!(rb.is_exact(), "{rb:?}");
    }

    #[test]
    fn the_body_is_snappy_block_format() {
        let series = [WriteSeries::new("up", [("job", "a")]).sample(1000, 1.0)];
        let body = encode_snappy(&series);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(raw, encode_write_request(&series));
    }
}
