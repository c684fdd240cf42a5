//! Payload encoding throughput, in payload items (logs, exceptions, measurements, events) per
//! second: JSON encoding of builder payloads (the client's hot path), with and without gzip,
//! rendering Alloy's Loki lines for them, and decoding for comparison.
//!
//! The payload mixes items as a busy page would: per 10 items, 4 logs, 2 exceptions with 8
//! frames each, 2 measurements with 4 values and 2 events, each tagged with run id and
//! sequence number, under the web SDK's usual meta.

use std::hint::black_box;
use std::io::Write as _;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telltale_faro::{AlloyVersion, Frame, LogLevel, Payload, PayloadBuilder};

fn payload(items: usize) -> Payload {
    let mut b = PayloadBuilder::new("bench-run-0001").unwrap();
    let meta = b.meta_mut();
    meta.app.name = Some("be-pwa".into());
    meta.app.version = Some("1.4.2".into());
    meta.app.environment = Some("production".into());
    meta.browser.name = Some("Chrome".into());
    meta.browser.version = Some("156.0.0.0".into());
    meta.browser.os = Some("Linux unknown".into());
    meta.browser.mobile = Some(false);
    meta.browser.user_agent = Some(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
            .into(),
    );
    meta.browser.language = Some("en-US".into());
    meta.browser.viewport_width = Some("1280".into());
    meta.browser.viewport_height = Some("720".into());
    meta.page.url = Some("https://pwa.example.invalid/settings?tab=sync".into());
    meta.view.name = Some("settings".into());
    for i in 0..items {
        match i % 10 {
            0..=3 => {
                b.log(
                    LogLevel::Info,
                    format!("sync finished: {i} records in 83 ms, \"peer\" ok"),
                );
            }
            4 | 5 => {
                let frames = (0..8)
                    .map(|f| {
                        Frame::new(
                            format!("module{f}.handler"),
                            "https://pwa.example.invalid/assets/index-4f9a2c.js",
                            1000 + f * 37,
                            12 + f,
                        )
                    })
                    .collect();
                b.exception(
                    "TypeError",
                    format!("Cannot read properties of undefined (reading 'id{i}')"),
                    frames,
                );
            }
            6 | 7 => {
                b.measurement(
                    "web-vitals",
                    [
                        ("lcp", 1834.5),
                        ("fcp", 612.25),
                        ("ttfb", 88.0),
                        ("cls", 0.031),
                    ],
                )
                .unwrap();
            }
            _ => {
                b.event("route_change", "navigation")
                    .attributes
                    .insert("to".into(), "/settings".into());
            }
        }
    }
    b.take()
}

fn encode(c: &mut Criterion) {
    for items in [10, 500] {
        let p = payload(items);
        let json = p.to_json();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&json).unwrap();
        let gz_len = gz.finish().unwrap().len();
        println!(
            "{items} items: {} bytes of JSON ({} per item), {gz_len} bytes gzipped",
            json.len(),
            json.len() / items
        );
        let mut group = c.benchmark_group(format!("payload/{items}-items"));
        group.throughput(Throughput::Elements(items as u64));
        let mut buf = Vec::with_capacity(json.len());
        group.bench_function("to_json", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&p).encode_into(&mut buf);
                black_box(buf.len())
            })
        });
        group.bench_function("to_json+gzip", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&p).encode_into(&mut buf);
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&buf).unwrap();
                black_box(gz.finish().unwrap().len())
            })
        });
        group.bench_function("alloy_lines", |b| {
            b.iter(|| {
                let lines = black_box(&p).loki_lines(AlloyVersion::V1_5);
                black_box(
                    lines
                        .iter()
                        .map(|l| l.line().map_or(0, |s| s.len()))
                        .sum::<usize>(),
                )
            })
        });
        group.bench_function("from_json", |b| {
            b.iter(|| black_box(Payload::from_json(black_box(&json)).unwrap()))
        });
        group.finish();
    }
}

criterion_group!(benches, encode);
criterion_main!(benches);
