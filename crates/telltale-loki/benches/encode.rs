//! Encoding and compression throughput of push batches: protobuf+snappy against JSON (plain and
//! gzip), for 100 B and 1 KiB lines across 10 streams, measured side by side in one run.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telltale_loki::{encode_push, Entry, LabelSet, PushEncoding, Stream, Timestamp};

fn batch(line_len: usize, lines: usize) -> Vec<Stream> {
    let base = Timestamp::from_unix_nanos(1_795_315_329_000_000_000);
    (0..10)
        .map(|s| {
            let labels = LabelSet::new([("app", "bench"), ("host", "meridian"), ("stream", &format!("s{s}"))]).unwrap();
            let entries = (0..lines / 10)
                .map(|i| {
                    // Varied text so snappy and gzip see realistic, not trivially repetitive, input.
                    let head = format!("level=info seq={i} stream={s} msg=\"request served\" took={}us ", (i * 37) % 9973);
                    let mut line = head;
                    while line.len() < line_len {
                        line.push(char::from(b'a' + ((line.len() * 7 + i) % 26) as u8));
                    }
                    line.truncate(line_len);
                    Entry::new(base.add(std::time::Duration::from_nanos(i as u64)), line)
                })
                .collect();
            Stream::new(labels, entries)
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    for (name, line_len) in [("100B", 100), ("1KiB", 1024)] {
        let lines = 10_000;
        let streams = batch(line_len, lines);
        let raw_bytes: u64 = streams.iter().flat_map(|s| &s.entries).map(|e| e.line.len() as u64).sum();
        for (enc_name, enc) in [("protobuf+snappy", PushEncoding::Protobuf), ("json", PushEncoding::Json { gzip: false }), ("json+gzip", PushEncoding::Json { gzip: true })] {
            let mut group = c.benchmark_group(format!("encode/{name}"));
            group.throughput(Throughput::Elements(lines as u64));
            group.bench_function(format!("{enc_name}/lines"), |b| b.iter(|| black_box(encode_push(black_box(&streams), enc))));
            group.throughput(Throughput::Bytes(raw_bytes));
            group.bench_function(format!("{enc_name}/bytes"), |b| b.iter(|| black_box(encode_push(black_box(&streams), enc))));
            group.finish();
        }
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
