//! Encoding and compression throughput of push batches: protobuf+snappy against JSON (plain and
//! gzip), for 100 B and 1 KiB lines across 10 streams, measured side by side in one run.
//!
//! Criterion reports lines/s; MB/s is lines/s times the line length. The wire size of each
//! encoding is printed first, since a fast encoding that sends more bytes is not a win.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telltale_loki::{encode_push, Entry, LabelSet, PushEncoding, Stream, Timestamp};

const WORDS: &[&str] = &[
    "request",
    "served",
    "user",
    "session",
    "GET",
    "POST",
    "/api/v1/items",
    "200",
    "404",
    "took",
    "ms",
    "cache",
    "miss",
    "hit",
    "db",
    "query",
    "rows=12",
    "peer",
    "sync",
    "ok",
    "retry",
    "backoff",
    "latency_us=8731",
    "bytes=5120",
    "trace_id=4bf92f3577b34da6",
];

fn batch(line_len: usize, lines: usize) -> Vec<Stream> {
    let base = Timestamp::from_unix_nanos(1_795_315_329_000_000_000);
    (0..10)
        .map(|s| {
            let labels = LabelSet::new([
                ("app", "bench"),
                ("host", "meridian"),
                ("stream", &format!("s{s}")),
            ])
            .unwrap();
            let entries = (0..lines / 10)
                .map(|i| {
                    let mut line = format!("level=info seq={i} stream={s} msg=\"");
                    // Words drawn by a xorshift PRNG: log-like text that compresses like real logs,
                    // not like a repeated pattern.
                    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ s as u64;
                    while line.len() < line_len {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        line.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
                        line.push(' ');
                    }
                    line.truncate(line_len);
                    Entry::new(base.plus(std::time::Duration::from_nanos(i as u64)), line)
                })
                .collect();
            Stream::new(labels, entries)
        })
        .collect()
}

const ENCODINGS: [(&str, PushEncoding); 3] = [
    ("protobuf+snappy", PushEncoding::Protobuf),
    ("json", PushEncoding::Json { gzip: false }),
    ("json+gzip", PushEncoding::Json { gzip: true }),
];

fn encode(c: &mut Criterion) {
    for (name, line_len) in [("100B", 100), ("1KiB", 1024)] {
        let lines = 10_000;
        let streams = batch(line_len, lines);
        let raw_bytes: u64 = streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len() as u64)
            .sum();
        // Wire size matters as much as speed: print it once per encoding, beside the timings.
        for (enc_name, enc) in ENCODINGS {
            let body = encode_push(&streams, enc).body.len();
            let pct = 100.0 * body as f64 / raw_bytes as f64;
            println!("wire size {name}/{enc_name}: {body} bytes for {raw_bytes} bytes of lines ({pct:.1}%)");
        }
        for (enc_name, enc) in ENCODINGS {
            let mut group = c.benchmark_group(format!("encode/{name}"));
            group.throughput(Throughput::Elements(lines as u64));
            group.bench_function(enc_name, |b| {
                b.iter(|| black_box(encode_push(black_box(&streams), enc)))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
