//! Native-protocol encoding throughput in records/s: what [`Writer::encode`] does for each
//! entry before the send syscall (the writer's fields, the run id and the sequence number
//! included), for a typical 100-byte line, a 1 KiB line, and a multi-line message that needs
//! the length-prefixed form. Also the decoder, which tests use.
//!
//! Criterion reports records/s (elements). The syscall itself is not measured here.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telltale_journald::{decode, Entry, Priority, Writer};

const RECORDS: usize = 1000;

fn line(len: usize, i: usize) -> String {
    let mut s = format!("level=info seq={i} msg=\"request served\" path=/api/v1/items took_ms=");
    while s.len() < len {
        s.push_str("8731 user=4bf92f3577b34da6 ");
    }
    s.truncate(len);
    s
}

fn entries(kind: &str) -> Vec<Entry> {
    (0..RECORDS)
        .map(|i| {
            let message = match kind {
                "100B" => line(100, i),
                "1KiB" => line(1024, i),
                _ => format!(
                    "panic: index out of range\n{}\n  at main.rs:{i}",
                    line(180, i)
                ),
            };
            Entry::message(message)
                .with_priority(Priority::Info)
                .with_identifier("bench-app")
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    let writer = Writer::builder("bench-run-4242")
        .expect("valid run id")
        .build()
        .expect("socket");
    for kind in ["100B", "1KiB", "multiline"] {
        let entries = entries(kind);
        let mut group = c.benchmark_group(format!("encode/{kind}"));
        group.throughput(Throughput::Elements(RECORDS as u64));
        let mut buf = Vec::with_capacity(4096);
        group.bench_function("writer", |b| {
            b.iter(|| {
                for (seq, e) in entries.iter().enumerate() {
                    buf.clear();
                    writer
                        .encode(black_box(e), seq as u64, &mut buf)
                        .expect("valid entry");
                    black_box(&buf);
                }
            })
        });
        let encoded: Vec<Vec<u8>> = entries
            .iter()
            .enumerate()
            .map(|(seq, e)| {
                let mut out = Vec::new();
                writer.encode(e, seq as u64, &mut out).expect("valid entry");
                out
            })
            .collect();
        group.bench_function("decode", |b| {
            b.iter(|| {
                for bytes in &encoded {
                    black_box(decode(black_box(bytes)).expect("decodes"));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
