//! Grouping a family's samples into metrics and metric points, shared by the parser's checks
//! and [`MetricFamily::metrics`](super::MetricFamily::metrics).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::model::{Metric, MetricFamily, MetricType, MetricValue, Sample};
use super::number;

/// What a sample is within its family, from its name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A gauge's or unknown metric's value.
    Value,
    /// A counter's total (`x_total` in OpenMetrics, `x` in text 0.0.4).
    Total,
    /// `x_created`.
    Created,
    /// `x_bucket`.
    Bucket,
    /// `x_sum`.
    Sum,
    /// `x_count`.
    Count,
    /// `x_gsum`.
    GSum,
    /// `x_gcount`.
    GCount,
    /// A summary quantile (`x{quantile="…"}`).
    Quantile,
    /// `x_info`.
    Info,
    /// A stateset state (`x{x="state"}`).
    State,
    /// Not a sample this family's type has (only in hand-built families).
    Other,
}

impl Role {
    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// Roles of which one point may hold several samples, told apart by a label.
    pub(crate) fn is_keyed(self) -> bool {
        matches!(self, Role::Bucket | Role::Quantile | Role::State)
    }

    /// The sample-name suffix of this role, for messages.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Role::Total => "_total",
            Role::Created => "_created",
            Role::Bucket => "_bucket",
            Role::Sum => "_sum",
            Role::Count => "_count",
            Role::GSum => "_gsum",
            Role::GCount => "_gcount",
            Role::Info => "_info",
            Role::Value | Role::Quantile | Role::State | Role::Other => "",
        }
    }
}

/// Every suffix any type gives its samples.
pub(crate) const ALL_SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_sum", "_count", "_gsum", "_gcount", "_info",
];

/// The role a sample named `family + suffix` has in a family of `kind`, or `None` if such a
/// sample does not belong to it.
pub(crate) fn role_of(kind: MetricType, om: bool, suffix: &str) -> Option<Role> {
    let role = match (kind, om, suffix) {
        (MetricType::Counter, false, "") => Role::Total,
        (MetricType::Counter, true, "_total") => Role::Total,
        (MetricType::Counter, true, "_created") => Role::Created,
        (MetricType::Gauge | MetricType::Unknown, _, "") => Role::Value,
        (MetricType::StateSet, true, "") => Role::State,
        (MetricType::Info, true, "_info") => Role::Info,
        (MetricType::Histogram | MetricType::GaugeHistogram, _, "_bucket") => Role::Bucket,
        (MetricType::Histogram | MetricType::Summary, _, "_sum") => Role::Sum,
        (MetricType::Histogram | MetricType::Summary, _, "_count") => Role::Count,
        (MetricType::Histogram | MetricType::Summary, true, "_created") => Role::Created,
        (MetricType::GaugeHistogram, true, "_gsum") => Role::GSum,
        (MetricType::GaugeHistogram, true, "_gcount") => Role::GCount,
        (MetricType::Summary, _, "") => Role::Quantile,
        _ => return None,
    };
    if kind == MetricType::GaugeHistogram && !om {
        return None;
    }
    Some(role)
}

/// The suffixes of `kind` in the given format.
pub(crate) fn suffixes(kind: MetricType, om: bool) -> &'static [&'static str] {
    match (kind, om) {
        (MetricType::Counter, false) => &[""],
        (MetricType::Counter, true) => &["_total", "_created"],
        (MetricType::Gauge | MetricType::Unknown, _) => &[""],
        (MetricType::StateSet, true) => &[""],
        (MetricType::Info, true) => &["_info"],
        (MetricType::Histogram, false) => &["_bucket", "_sum", "_count"],
        (MetricType::Histogram, true) => &["_bucket", "_sum", "_count", "_created"],
        (MetricType::GaugeHistogram, true) => &["_bucket", "_gsum", "_gcount"],
        (MetricType::Summary, false) => &["", "_sum", "_count"],
        (MetricType::Summary, true) => &["", "_sum", "_count", "_created"],
        (MetricType::StateSet | MetricType::Info | MetricType::GaugeHistogram, false) => &[],
    }
}

/// What sets a keyed sample apart within its point: the index of its `le`, `quantile` or state
/// label and the number it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Special {
    /// Index into the sample's labels of the label left out of the metric's identity.
    pub(crate) label: Option<u32>,
    /// The `le` or `quantile` value (NaN for others).
    pub(crate) num: f64,
}

impl Special {
    pub(crate) const NONE: Special = Special {
        label: None,
        num: f64::NAN,
    };
}

/// Roles and specials for a family built by hand or already validated: never fails.
pub(crate) fn classify(family: &MetricFamily) -> (Vec<Role>, Vec<Special>) {
    let mut roles = Vec::with_capacity(family.samples.len());
    let mut specials = Vec::with_capacity(family.samples.len());
    for s in &family.samples {
        let suffix = s.name.strip_prefix(family.name.as_str());
        let role = suffix
            .and_then(|suffix| {
                role_of(family.kind, true, suffix).or_else(|| role_of(family.kind, false, suffix))
            })
            .unwrap_or(Role::Other);
        let label_name = match role {
            Role::Bucket => Some("le"),
            Role::Quantile => Some("quantile"),
            Role::State => Some(family.name.as_str()),
            _ => None,
        };
        let mut special = Special::NONE;
        if let Some(name) = label_name {
            if let Some(i) = s.labels.iter().position(|(k, _)| k == name) {
                special.label = Some(i as u32);
                if role != Role::State {
                    special.num = number::parse_value(&s.labels[i].1).unwrap_or(f64::NAN);
                }
            }
        }
        roles.push(role);
        specials.push(special);
    }
    (roles, specials)
}

/// Samples grouped into metrics (same labels less the special one) and points.
pub(crate) struct Grouped {
    /// Sample indices, metric by metric (exposition order within a metric).
    pub(crate) order: Vec<u32>,
    /// Each point as a range of `order`, with its metric number.
    pub(crate) points: Vec<PointRange>,
    /// The first sample (index) that came back to a metric after another metric's samples.
    pub(crate) interleaved_at: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct PointRange {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) metric: u32,
}

/// One point's sample indices.
pub(crate) struct Point<'g> {
    pub(crate) samples: &'g [u32],
    pub(crate) metric: u32,
}

impl Grouped {
    pub(crate) fn points(&self) -> impl Iterator<Item = Point<'_>> {
        self.points.iter().map(|p| Point {
            samples: &self.order[p.start as usize..p.end as usize],
            metric: p.metric,
        })
    }
}

/// A pass-through hasher for keys that are already hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fx(bytes, self.0);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const FX: u64 = 0x517c_c1b7_2722_0a95;

/// FxHash (rustc's), folding 8 bytes at a time.
fn fx(bytes: &[u8], mut h: u64) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(FX);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(FX);
    }
    (h.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(FX)
}

/// An order-independent hash of a label set, leaving out one label.
fn key_hash(labels: &[(String, String)], skip: Option<u32>) -> u64 {
    let mut sum: u64 = 0;
    let mut n: u64 = 0;
    for (i, (k, v)) in labels.iter().enumerate() {
        if Some(i as u32) == skip {
            continue;
        }
        sum = sum.wrapping_add(fx(v.as_bytes(), fx(k.as_bytes(), 0)));
        n += 1;
    }
    (sum ^ n).wrapping_mul(FX)
}

/// Whether two label sets, each less one label, are equal as sets.
pub(crate) fn same_key(
    a: &[(String, String)],
    skip_a: Option<u32>,
    b: &[(String, String)],
    skip_b: Option<u32>,
) -> bool {
    let len_a = a.len() - usize::from(skip_a.is_some());
    let len_b = b.len() - usize::from(skip_b.is_some());
    if len_a != len_b {
        return false;
    }
    a.iter().enumerate().all(|(i, (k, v))| {
        Some(i as u32) == skip_a
            || b.iter()
                .enumerate()
                .any(|(j, (k2, v2))| Some(j as u32) != skip_b && k == k2 && v == v2)
    })
}

/// Whether two samples of one metric occupy the same slot of a point.
fn same_slot(samples: &[Sample], roles: &[Role], specials: &[Special], a: usize, b: usize) -> bool {
    if roles[a] != roles[b] {
        return false;
    }
    match roles[a] {
        Role::Bucket | Role::Quantile => {
            let (x, y) = (specials[a].num, specials[b].num);
            x == y || (x.is_nan() && y.is_nan())
        }
        Role::State => {
            let value = |i: usize| {
                specials[i]
                    .label
                    .map(|l| samples[i].labels[l as usize].1.as_str())
            };
            value(a) == value(b)
        }
        _ => true,
    }
}

/// Groups samples into metrics by label set (less the special label) and splits each metric
/// into points wherever a sample repeats a slot already filled in the current point.
pub(crate) fn group(samples: &[Sample], roles: &[Role], specials: &[Special]) -> Grouped {
    let n = samples.len();
    let mut heads: HashMap<u64, u32, BuildHasherDefault<PreHashed>> =
        HashMap::with_capacity_and_hasher(n.min(1 << 16), Default::default());
    // For each metric: a representative sample and the next metric with the same hash.
    let mut rep: Vec<u32> = Vec::new();
    let mut chain: Vec<u32> = Vec::new();
    let mut metric_of: Vec<u32> = Vec::with_capacity(n);
    let mut interleaved_at = None;
    let mut sorted = true;
    let mut last: Option<u32> = None;
    for (i, s) in samples.iter().enumerate() {
        let skip = specials[i].label;
        // Fast path: the same metric as the previous sample.
        if let Some(prev) = last {
            let r = rep[prev as usize] as usize;
            if same_key(&samples[r].labels, specials[r].label, &s.labels, skip) {
                metric_of.push(prev);
                continue;
            }
        }
        let h = key_hash(&s.labels, skip);
        let mut found = None;
        let mut cursor = heads.get(&h).copied();
        while let Some(m) = cursor {
            let r = rep[m as usize] as usize;
            if same_key(&samples[r].labels, specials[r].label, &s.labels, skip) {
                found = Some(m);
                break;
            }
            cursor = (chain[m as usize] != u32::MAX).then(|| chain[m as usize]);
        }
        let m = match found {
            Some(m) => {
                if interleaved_at.is_none() {
                    interleaved_at = Some(i);
                }
                sorted = false;
                m
            }
            None => {
                let m = rep.len() as u32;
                rep.push(i as u32);
                chain.push(heads.insert(h, m).unwrap_or(u32::MAX));
                m
            }
        };
        metric_of.push(m);
        last = Some(m);
    }
    let order: Vec<u32> = if sorted {
        (0..n as u32).collect()
    } else {
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| metric_of[i as usize]);
        order
    };
    // Split each metric's run into points.
    let mut points = Vec::new();
    let mut start = 0usize;
    let mut single_roles: u32 = 0;
    let mut keyed: Vec<usize> = Vec::new();
    for pos in 0..order.len() {
        let i = order[pos] as usize;
        let new_metric = pos == 0 || metric_of[order[pos - 1] as usize] != metric_of[i];
        let repeat = !new_metric
            && if roles[i].is_keyed() {
                keyed
                    .iter()
                    .any(|&j| same_slot(samples, roles, specials, i, j))
            } else {
                single_roles & roles[i].bit() != 0
            };
        if pos > 0 && (new_metric || repeat) {
            points.push(PointRange {
                start: start as u32,
                end: pos as u32,
                metric: metric_of[order[start] as usize],
            });
            start = pos;
            single_roles = 0;
            keyed.clear();
        }
        if roles[i].is_keyed() {
            keyed.push(i);
        } else {
            single_roles |= roles[i].bit();
        }
    }
    if !order.is_empty() {
        points.push(PointRange {
            start: start as u32,
            end: order.len() as u32,
            metric: metric_of[order[start] as usize],
        });
    }
    Grouped {
        order,
        points,
        interleaved_at,
    }
}

/// Assembles one point's value (best effort; the parser has checked parsed families).
pub(crate) fn build_metric(
    family: &MetricFamily,
    roles: &[Role],
    specials: &[Special],
    point: Point<'_>,
) -> Metric {
    let first = point.samples[0] as usize;
    let first_sample = &family.samples[first];
    let labels = first_sample
        .labels
        .iter()
        .enumerate()
        .filter(|(i, _)| specials[first].label != Some(*i as u32))
        .map(|(_, kv)| kv.clone())
        .collect();
    let find = |role: Role| {
        point
            .samples
            .iter()
            .map(|&i| i as usize)
            .find(|&i| roles[i] == role)
            .map(|i| family.samples[i].value)
    };
    let keyed = |role: Role| -> Vec<(f64, f64)> {
        point
            .samples
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| roles[i] == role)
            .map(|i| (specials[i].num, family.samples[i].value))
            .collect()
    };
    let value = match family.kind {
        MetricType::Counter => MetricValue::Counter {
            total: find(Role::Total).unwrap_or(f64::NAN),
            created: find(Role::Created),
        },
        MetricType::Gauge => MetricValue::Gauge(find(Role::Value).unwrap_or(f64::NAN)),
        MetricType::Unknown => MetricValue::Unknown(find(Role::Value).unwrap_or(f64::NAN)),
        MetricType::Histogram => MetricValue::Histogram {
            buckets: keyed(Role::Bucket),
            sum: find(Role::Sum),
            count: find(Role::Count),
            created: find(Role::Created),
        },
        MetricType::GaugeHistogram => MetricValue::GaugeHistogram {
            buckets: keyed(Role::Bucket),
            gsum: find(Role::GSum),
            gcount: find(Role::GCount),
        },
        MetricType::Summary => MetricValue::Summary {
            quantiles: keyed(Role::Quantile),
            sum: find(Role::Sum),
            count: find(Role::Count),
            created: find(Role::Created),
        },
        MetricType::Info => MetricValue::Info,
        MetricType::StateSet => MetricValue::StateSet {
            states: point
                .samples
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| roles[i] == Role::State)
                .filter_map(|i| {
                    let s = &family.samples[i];
                    let l = specials[i].label? as usize;
                    Some((s.labels[l].1.clone(), s.value != 0.0))
                })
                .collect(),
        },
    };
    Metric {
        labels,
        timestamp_ms: first_sample.timestamp_ms,
        value,
    }
}
