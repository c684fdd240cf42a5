//! The bench generator's CPU path without the network, beside the bare encoder on the very same
//! lines: `encode` is `telltale_loki::encode_push` (protobuf + snappy) of a ready batch, the
//! "encoder benchmark" `telltale bench logs` is compared with; `make+encode` adds what the
//! generator does before it (making each tagged line and grouping lines into streams).
//!
//! The batch is what the generator sends every 100 ms at 20 000 items/s over 4 streams:
//! 2 000 lines. `telltale bench logs` prints its generator thread's CPU per item; its ratio to
//! `encode` here, measured in the same session, is the figure `docs/bench.md` quotes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telltale::bench::LineMaker;
use telltale_loki::{encode_push, Entry, LabelSet, PushEncoding, Stream, Timestamp};

const STREAMS: u64 = 4;
const LINES: u64 = 2_000;

fn labels() -> Vec<LabelSet> {
    (0..STREAMS)
        .map(|i| {
            LabelSet::new([
                ("app", "telltale-bench"),
                ("run", "tt-0123abcd"),
                ("step", "1"),
                ("stream", &format!("s{i}")),
            ])
            .unwrap()
        })
        .collect()
}

/// The generator's batch building, as in `bench/logs.rs`.
fn make(maker: &LineMaker, labels: &[LabelSet], first: u64) -> Vec<Stream> {
    let mut batch: Vec<Stream> = labels
        .iter()
        .map(|l| {
            Stream::new(
                l.clone(),
                Vec::with_capacity((LINES / STREAMS + 1) as usize),
            )
        })
        .collect();
    let base = 1_795_315_329_000_000_000i64;
    for seq in first..first + LINES {
        let entry = Entry::new(
            Timestamp::from_unix_nanos(base + seq as i64),
            maker.line(seq),
        );
        batch[(seq % STREAMS) as usize].entries.push(entry);
    }
    batch
}

fn generator(c: &mut Criterion) {
    let labels = labels();
    for line_bytes in [100usize, 1024] {
        let maker = LineMaker::new("tt-0123abcd", line_bytes).unwrap();
        let ready = make(&maker, &labels, 0);
        let body = encode_push(&ready, PushEncoding::Protobuf).body.len();
        println!(
            "wire size {line_bytes}B: {body} bytes for {} bytes of lines",
            LINES as usize * line_bytes
        );
        let mut group = c.benchmark_group(format!("generator/{line_bytes}B"));
        group.throughput(Throughput::Elements(LINES));
        group.bench_function("encode", |b| {
            b.iter(|| black_box(encode_push(black_box(&ready), PushEncoding::Protobuf)))
        });
        group.bench_function("make+encode", |b| {
            let mut first = 0u64;
            b.iter(|| {
                first += LINES;
                let batch = make(&maker, &labels, first);
                black_box(encode_push(&batch, PushEncoding::Protobuf))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, generator);
criterion_main!(benches);
