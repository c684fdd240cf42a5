//! Exposition parsing throughput: this crate's parser against `prometheus-parse` 0.2 on the
//! same bodies, in one criterion group: the node_exporter 1.5.0 recording (283 families, 507
//! samples), a synthetic node_exporter-sized body (300 families, ~2,000 samples) and a
//! synthetic 50,000-sample body. The synthetic bodies are also parsed as OpenMetrics (ours
//! only: `prometheus-parse` reads text 0.0.4 only).
//!
//! Criterion reports samples/s. Each timing includes freeing the result, as a caller pays for
//! it; `telltale-parse-only` leaves that out. `prometheus-parse` takes an iterator of owned
//! lines, so its timing includes splitting the body into `String`s, as any caller of it must.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use telltale_prometheus::exposition::{self, Exposition, Format, MetricType};

/// A deterministic xorshift stream for values and label choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    /// A value shaped like node_exporter's: counters of seconds or bytes, small gauges.
    fn value(&mut self) -> String {
        match self.next() % 4 {
            0 => format!("{}", self.next() % 100_000),
            1 => format!("{:.2}", (self.next() % 10_000_000) as f64 / 100.0),
            2 => format!("{:e}", (self.next() % 1_000_000_000_000) as f64),
            _ => format!("{}", (self.next() % 1000) as f64 / 1000.0),
        }
    }
}

const DEVICES: &[&str] = &[
    "sda",
    "sda1",
    "nvme0n1",
    "nvme0n1p2",
    "eth0",
    "lo",
    "docker0",
];
const MODES: &[&str] = &[
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const MOUNTS: &[&str] = &["/", "/boot", "/var/lib/docker", "/run", "/home/user data"];

/// A text 0.0.4 body of `families` families and about `samples` samples, in the shape of
/// node_exporter's: mostly labelled counters and gauges, some histograms and summaries.
fn synthetic(families: usize, samples: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let per_family = samples.div_ceil(families);
    let mut out = String::with_capacity(samples * 80);
    for f in 0..families {
        let kind = f % 10;
        let name = format!("node_synthetic_{f}_{}", ["bytes", "seconds", "info"][f % 3]);
        match kind {
            0..=3 => {
                let name = format!("{name}_total");
                out.push_str(&format!(
                    "# HELP {name} Seconds the CPUs spent in each mode.\n# TYPE {name} counter\n"
                ));
                for i in 0..per_family {
                    out.push_str(&format!(
                        "{name}{{cpu=\"{}\",mode=\"{}\"}} {}\n",
                        i / MODES.len(),
                        MODES[i % MODES.len()],
                        rng.value()
                    ));
                }
            }
            4..=6 => {
                out.push_str(&format!(
                    "# HELP {name} Filesystem space available to non-root users in bytes.\n# TYPE {name} gauge\n"
                ));
                for i in 0..per_family {
                    out.push_str(&format!(
                        "{name}{{device=\"{}\",fstype=\"ext4\",mountpoint=\"{}\",n=\"{i}\"}} {}\n",
                        rng.pick(DEVICES),
                        rng.pick(MOUNTS),
                        rng.value()
                    ));
                }
            }
            7 => {
                out.push_str(&format!(
                    "# HELP {name} Request latency.\n# TYPE {name} histogram\n"
                ));
                let bounds = [
                    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf",
                ];
                for i in 0..per_family.div_ceil(bounds.len() + 2) {
                    let mut count = 0;
                    for le in bounds {
                        count += rng.next() % 100;
                        out.push_str(&format!(
                            "{name}_bucket{{handler=\"/api/v{i}\",le=\"{le}\"}} {count}\n"
                        ));
                    }
                    out.push_str(&format!(
                        "{name}_sum{{handler=\"/api/v{i}\"}} {}\n{name}_count{{handler=\"/api/v{i}\"}} {count}\n",
                        rng.value()
                    ));
                }
            }
            8 => {
                out.push_str(&format!(
                    "# HELP {name} A summary of the pause duration of garbage collection cycles.\n# TYPE {name} summary\n"
                ));
                for i in 0..per_family.div_ceil(7) {
                    for q in ["0", "0.25", "0.5", "0.75", "1"] {
                        out.push_str(&format!(
                            "{name}{{gc=\"{i}\",quantile=\"{q}\"}} {}\n",
                            rng.value()
                        ));
                    }
                    out.push_str(&format!(
                        "{name}_sum{{gc=\"{i}\"}} {}\n{name}_count{{gc=\"{i}\"}} {}\n",
                        rng.value(),
                        rng.next() % 1000
                    ));
                }
            }
            _ => {
                out.push_str(&format!(
                    "# HELP {name} Untyped value from a textfile.\n# TYPE {name} untyped\n"
                ));
                for i in 0..per_family {
                    out.push_str(&format!("{name}{{file=\"f{i}.prom\"}} {}\n", rng.value()));
                }
            }
        }
    }
    out
}

/// The same families as OpenMetrics: counter families lose their `_total`, then the whole is
/// rendered with `# EOF`.
fn as_openmetrics(text: &Exposition) -> String {
    let mut om = text.clone();
    om.format = Format::OpenMetrics1;
    for family in &mut om.families {
        if family.kind == MetricType::Counter {
            if let Some(base) = family.name.strip_suffix("_total") {
                family.name = base.to_owned();
            }
        }
    }
    exposition::render(&om)
}

fn prometheus_parse(body: &str) -> usize {
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    scrape.samples.len()
}

fn parse(c: &mut Criterion) {
    let node_exporter = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/prometheus/exposition/node_exporter-1.5.0.txt"),
    )
    .expect("the node_exporter fixture");
    let inputs = [
        ("node_exporter-1.5.0", node_exporter),
        ("synthetic-2k", synthetic(300, 2_000)),
        ("synthetic-50k", synthetic(1_000, 50_000)),
    ];
    let mut group = c.benchmark_group("parse");
    for (name, body) in &inputs {
        let parsed = exposition::parse(body, Format::Text004).expect("valid text body");
        let samples = parsed.sample_count() as u64;
        println!(
            "{name}: {} families, {samples} samples, {} bytes",
            parsed.families.len(),
            body.len()
        );
        group.throughput(Throughput::Elements(samples));
        group.bench_with_input(BenchmarkId::new("telltale", name), body, |b, body| {
            b.iter(|| exposition::parse(black_box(body), Format::Text004).unwrap())
        });
        // The same parse with the result freed outside the timing: how much of the above is
        // dropping the owned model (a `String` per name, label name and label value).
        group.bench_with_input(
            BenchmarkId::new("telltale-parse-only", name),
            body,
            |b, body| {
                b.iter_with_large_drop(|| {
                    exposition::parse(black_box(body), Format::Text004).unwrap()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("prometheus-parse", name),
            body,
            |b, body| b.iter(|| prometheus_parse(black_box(body))),
        );
        if name.starts_with("synthetic") {
            let om = as_openmetrics(&parsed);
            exposition::parse(&om, Format::OpenMetrics1).expect("valid OpenMetrics body");
            group.bench_with_input(
                BenchmarkId::new("telltale-openmetrics", name),
                &om,
                |b, body| {
                    b.iter(|| exposition::parse(black_box(body), Format::OpenMetrics1).unwrap())
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
