//! Encoder throughput in records/s: log records and metric data points, as protobuf, JSON and
//! protobuf + gzip (conversion from the crate's types included, as `Client::export` does it).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use telltale_otlp::{
    encode, gzip, Batch, Encoding, Metric, MetricData, Number, NumberPoint, RunTag, Synth,
    Temporality, Value,
};

const N: usize = 1000;

fn logs() -> Batch<telltale_otlp::LogRecord> {
    let mut synth = Synth::new(RunTag::new("bench-run-0001"), "bench-service")
        .resource_attribute("host.name", "bench-host");
    let mut batch = synth.logs(N);
    for (i, r) in batch.resources[0].scopes[0].items.iter_mut().enumerate() {
        r.body = Value::String(format!(
            "GET /api/v1/orders/{i} 200 12ms user=u-{} trace=abc123 region=eu-west-1",
            i % 97
        ));
        r.attributes
            .push(("http.route".into(), "/api/v1/orders/{id}".into()));
    }
    batch
}

fn metrics() -> Batch<Metric> {
    let tag = RunTag::new("bench-run-0001");
    let points = (0..N as u64)
        .map(|seq| {
            let mut attributes = tag.attributes(seq);
            attributes.push(("http.route".into(), "/api/v1/orders/{id}".into()));
            NumberPoint {
                attributes,
                start_time_unix_nano: 1_700_000_000_000_000_000,
                time_unix_nano: 1_700_000_000_000_000_000 + seq,
                value: Number::Double(seq as f64 * 0.5),
            }
        })
        .collect();
    Batch::new(
        vec![("service.name".into(), "bench-service".into())],
        "bench",
        vec![Metric {
            name: "http.server.requests".into(),
            description: String::new(),
            unit: String::new(),
            data: MetricData::Sum {
                monotonic: true,
                temporality: Temporality::Cumulative,
                points,
            },
        }],
    )
}

fn bench(c: &mut Criterion) {
    let logs = logs();
    let metrics = metrics();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(N as u64));
    for (name, enc) in [("protobuf", Encoding::Protobuf), ("json", Encoding::Json)] {
        g.bench_with_input(BenchmarkId::new("logs", name), &logs, |b, batch| {
            b.iter(|| encode(batch, enc))
        });
        g.bench_with_input(
            BenchmarkId::new("data_points", name),
            &metrics,
            |b, batch| b.iter(|| encode(batch, enc)),
        );
    }
    g.bench_with_input(
        BenchmarkId::new("logs", "protobuf+gzip"),
        &logs,
        |b, batch| b.iter(|| gzip(&encode(batch, Encoding::Protobuf))),
    );
    g.bench_with_input(
        BenchmarkId::new("data_points", "protobuf+gzip"),
        &metrics,
        |b, batch| b.iter(|| gzip(&encode(batch, Encoding::Protobuf))),
    );
    g.finish();
    for (name, bytes) in [
        ("logs protobuf", encode(&logs, Encoding::Protobuf).len()),
        ("logs json", encode(&logs, Encoding::Json).len()),
        (
            "logs protobuf+gzip",
            gzip(&encode(&logs, Encoding::Protobuf)).len(),
        ),
        (
            "points protobuf",
            encode(&metrics, Encoding::Protobuf).len(),
        ),
        ("points json", encode(&metrics, Encoding::Json).len()),
        (
            "points protobuf+gzip",
            gzip(&encode(&metrics, Encoding::Protobuf)).len(),
        ),
    ] {
        println!("wire size, {N} {name}: {bytes} bytes");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
