//! Property test: random valid expositions (every type of each format, label values of any
//! Unicode, NaN and infinities, timestamps, exemplars, quoted UTF-8 names) survive
//! `render` then `parse` unchanged, in both formats.

use proptest::prelude::*;
use telltale_prometheus::exposition::{
    self, Exemplar, Exposition, Format, MetricFamily, MetricType, Sample,
};

/// Raw material for one metric (one label set) of a family; the builder shapes it to the
/// family's type.
#[derive(Debug, Clone)]
struct MetricSpec {
    labels: Vec<(String, String)>,
    timestamp: Option<i64>,
    values: Vec<f64>,
    bounds: Vec<f64>,
    increments: Vec<u32>,
    flags: [bool; 4],
    exemplar: Option<ExemplarSpec>,
    states: Vec<(String, bool)>,
}

/// An exemplar's labels, value and timestamp.
type ExemplarSpec = (Vec<(String, String)>, f64, Option<i64>);

#[derive(Debug, Clone)]
struct FamilySpec {
    kind: usize,
    base: String,
    quoted: Option<String>,
    help: Option<String>,
    unit: Option<String>,
    metrics: Vec<MetricSpec>,
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>().prop_filter("finite", |v| v.is_finite()),
        2 => (-1000i32..1000).prop_map(f64::from),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
    ]
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        // Legacy names; none is "le", "quantile" or "id", none starts like a family name.
        4 => "[a-hjk_][a-z0-9_]{0,4}",
        1 => any::<String>().prop_filter("non-empty", |s| !s.is_empty()).prop_map(|s| format!("u.{s}")),
    ]
}

fn label_set() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map(label_name(), any::<String>(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn metric_spec() -> impl Strategy<Value = MetricSpec> {
    (
        label_set(),
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(any_value(), 8),
        proptest::collection::vec(any::<f64>().prop_filter("finite", |v| v.is_finite()), 0..4),
        proptest::collection::vec(0u32..1000, 5),
        any::<[bool; 4]>(),
        proptest::option::of((
            proptest::collection::btree_map("[a-z]{1,5}", ".{0,20}", 0..3),
            any_value(),
            proptest::option::of(any::<i64>()),
        )),
        proptest::collection::btree_map(any::<String>(), any::<bool>(), 1..4),
    )
        .prop_map(
            |(labels, timestamp, values, bounds, increments, flags, exemplar, states)| MetricSpec {
                labels,
                timestamp,
                values,
                bounds,
                increments,
                flags,
                exemplar: exemplar.map(|(l, v, t)| (l.into_iter().collect(), v, t)),
                states: states.into_iter().collect(),
            },
        )
}

fn family_spec() -> impl Strategy<Value = FamilySpec> {
    (
        0usize..8,
        "[a-z][a-z0-9_]{0,6}",
        proptest::option::weighted(0.2, any::<String>()),
        proptest::option::of(any::<String>()),
        proptest::option::weighted(0.3, "[a-z][a-z0-9]{0,5}"),
        proptest::collection::vec(metric_spec(), 0..4),
    )
        .prop_map(|(kind, base, quoted, help, unit, metrics)| FamilySpec {
            kind,
            base,
            quoted,
            help,
            unit,
            metrics,
        })
}

/// `le` and `quantile` values as an exposer writes them (and both formats read).
fn number_label(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".to_owned()
    } else {
        format!("{v:?}")
    }
}

fn with(labels: &[(String, String)], extra: (&str, String)) -> Vec<(String, String)> {
    let mut out = labels.to_vec();
    out.push((extra.0.to_owned(), extra.1));
    out
}

/// Builds a valid family of `format` from the spec.
fn build(index: usize, spec: &FamilySpec, format: Format) -> MetricFamily {
    let om = format == Format::OpenMetrics1;
    let kinds: &[MetricType] = if om {
        &[
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::Summary,
            MetricType::Unknown,
            MetricType::GaugeHistogram,
            MetricType::Info,
            MetricType::StateSet,
        ]
    } else {
        &[
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::Summary,
            MetricType::Unknown,
        ]
    };
    let kind = kinds[spec.kind % kinds.len()];
    // A unique prefix per family keeps names from clashing.
    let mut name = match &spec.quoted {
        Some(tail) => format!("m{index}x.{tail}"),
        None => format!("m{index}x_{}", spec.base),
    };
    let unit = spec
        .unit
        .clone()
        .filter(|_| om && !matches!(kind, MetricType::Info | MetricType::StateSet));
    if let Some(unit) = &unit {
        name = format!("{name}_{unit}");
    }
    let help = spec.help.clone().map(|mut h| {
        // A help text ending in '\r' would end its line with "\r\n", which is refused.
        if h.ends_with('\r') {
            h.push('.');
        }
        h
    });
    let help = help.filter(|h| !(om && h.is_empty()));
    let mut family = MetricFamily {
        name: name.clone(),
        kind,
        help,
        unit,
        samples: Vec::new(),
    };
    for (j, m) in spec.metrics.iter().enumerate() {
        let labels = with(&m.labels, ("id", j.to_string()));
        let ts = m.timestamp.map(|t| if om { t } else { t.saturating_abs() });
        let sample = |suffix: &str, labels: Vec<(String, String)>, value: f64| Sample {
            name: format!("{name}{suffix}"),
            labels,
            value,
            timestamp_ms: ts,
            exemplar: None,
        };
        let non_negative = |v: f64| {
            if v.is_nan() {
                0.0
            } else {
                v.abs()
            }
        };
        let exemplar = || {
            m.exemplar.as_ref().map(|(labels, value, ts)| Exemplar {
                labels: labels.clone(),
                value: *value,
                timestamp_ms: *ts,
            })
        };
        match kind {
            MetricType::Gauge | MetricType::Unknown => {
                family.samples.push(sample("", labels, m.values[0]));
            }
            MetricType::Counter if !om => family.samples.push(sample("", labels, m.values[0])),
            MetricType::Counter => {
                let mut total = sample("_total", labels.clone(), non_negative(m.values[0]));
                total.exemplar = exemplar();
                family.samples.push(total);
                if m.flags[0] {
                    let created = if m.values[1].is_nan() {
                        0.0
                    } else {
                        m.values[1]
                    };
                    family.samples.push(sample("_created", labels, created));
                }
            }
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let mut bounds: Vec<f64> = m
                    .bounds
                    .iter()
                    .map(|&b| if b == 0.0 { 0.0 } else { b })
                    .collect();
                bounds.sort_by(f64::total_cmp);
                bounds.dedup();
                bounds.push(f64::INFINITY);
                let mut count = 0.0;
                for (k, le) in bounds.iter().enumerate() {
                    count += f64::from(m.increments[k % m.increments.len()]);
                    let mut bucket =
                        sample("_bucket", with(&labels, ("le", number_label(*le))), count);
                    if om && m.flags[1] && k == bounds.len() - 1 {
                        bucket.exemplar = exemplar();
                    }
                    family.samples.push(bucket);
                }
                let negative = bounds[0] < 0.0;
                let gauge = kind == MetricType::GaugeHistogram;
                let (sum_suffix, count_suffix) = if gauge {
                    ("_gsum", "_gcount")
                } else {
                    ("_sum", "_count")
                };
                // OpenMetrics: _sum and _count together or not at all, and no histogram
                // _sum with a negative bucket; text: both, always.
                let with_sum = if om {
                    m.flags[2] && (gauge || !negative)
                } else {
                    true
                };
                if with_sum {
                    let sum = if !om || (gauge && negative) {
                        m.values[2]
                    } else {
                        non_negative(m.values[2])
                    };
                    let sum = if om && sum.is_nan() { 0.0 } else { sum };
                    family
                        .samples
                        .push(sample(count_suffix, labels.clone(), count));
                    family.samples.push(sample(sum_suffix, labels.clone(), sum));
                }
                if om && !gauge && m.flags[3] {
                    family.samples.push(sample("_created", labels, m.values[3]));
                }
            }
            MetricType::Summary => {
                let quantiles = [0.0, 0.25, 0.5, 0.9, 0.99, 1.0];
                for (k, q) in quantiles.iter().enumerate() {
                    if m.increments[k % m.increments.len()] % 2 == 0 {
                        continue;
                    }
                    let v = m.values[k % m.values.len()];
                    let v = if om && v < 0.0 { -v } else { v };
                    family.samples.push(sample(
                        "",
                        with(&labels, ("quantile", number_label(*q))),
                        v,
                    ));
                }
                if m.flags[0] {
                    let count = f64::from(m.increments[0]);
                    family.samples.push(sample("_count", labels.clone(), count));
                }
                if m.flags[1] {
                    let sum = if om {
                        non_negative(m.values[6])
                    } else {
                        m.values[6]
                    };
                    family.samples.push(sample("_sum", labels.clone(), sum));
                }
                if om && m.flags[2] {
                    family.samples.push(sample("_created", labels, m.values[7]));
                }
            }
            MetricType::Info => family.samples.push(sample("_info", labels, 1.0)),
            MetricType::StateSet => {
                for (state, set) in &m.states {
                    family.samples.push(sample(
                        "",
                        with(&labels, (name.as_str(), state.clone())),
                        if *set { 1.0 } else { 0.0 },
                    ));
                }
            }
            other => panic!("unexpected type {other:?}"),
        }
    }
    family
}

fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(expected: &Exposition, got: &Exposition) -> Result<(), TestCaseError> {
    prop_assert_eq!(expected.format, got.format);
    prop_assert_eq!(expected.families.len(), got.families.len());
    for (e, g) in expected.families.iter().zip(&got.families) {
        prop_assert_eq!(&e.name, &g.name);
        prop_assert_eq!(e.kind, g.kind);
        prop_assert_eq!(&e.help, &g.help);
        prop_assert_eq!(&e.unit, &g.unit);
        prop_assert_eq!(e.samples.len(), g.samples.len());
        for (s, t) in e.samples.iter().zip(&g.samples) {
            prop_assert_eq!(&s.name, &t.name);
            prop_assert_eq!(&s.labels, &t.labels);
            prop_assert!(same_value(s.value, t.value), "{} vs {}", s.value, t.value);
            prop_assert_eq!(s.timestamp_ms, t.timestamp_ms);
            match (&s.exemplar, &t.exemplar) {
                (None, None) => {}
                (Some(x), Some(y)) => {
                    prop_assert_eq!(&x.labels, &y.labels);
                    prop_assert!(same_value(x.value, y.value));
                    prop_assert_eq!(x.timestamp_ms, y.timestamp_ms);
                }
                (x, y) => prop_assert!(false, "exemplar {:?} became {:?}", x, y),
            }
        }
    }
    Ok(())
}

fn round_trip(specs: &[FamilySpec], format: Format) -> Result<(), TestCaseError> {
    let expected = Exposition {
        format,
        families: specs
            .iter()
            .enumerate()
            .map(|(i, s)| build(i, s, format))
            .collect(),
    };
    let rendered = exposition::render(&expected);
    let parsed = exposition::parse(&rendered, format)
        .map_err(|e| TestCaseError::fail(format!("{e}\n--- rendered:\n{rendered}")))?;
    assert_same(&expected, &parsed)?;
    // The grouped view never panics and sees every metric.
    for family in &parsed.families {
        let _ = family.metrics();
    }
    // Rendering is stable.
    prop_assert_eq!(exposition::render(&parsed), rendered);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_round_trip(specs in proptest::collection::vec(family_spec(), 0..6)) {
        round_trip(&specs, Format::Text004)?;
    }

    #[test]
    fn openmetrics_round_trip(specs in proptest::collection::vec(family_spec(), 0..6)) {
        round_trip(&specs, Format::OpenMetrics1)?;
    }

    #[test]
    fn gzip_bytes_round_trip(specs in proptest::collection::vec(family_spec(), 0..3)) {
        use std::io::Write as _;
        let expected = Exposition {
            format: Format::OpenMetrics1,
            families: specs.iter().enumerate().map(|(i, s)| build(i, s, Format::OpenMetrics1)).collect(),
        };
        let rendered = exposition::render(&expected);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(rendered.as_bytes()).unwrap();
        let body = gz.finish().unwrap();
        let parsed = exposition::parse_bytes(&body, Some(Format::OpenMetrics1.content_type()), None)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&expected, &parsed)?;
    }

    /// A valid exposition with random edits never panics: it parses or fails with a position
    /// inside the body.
    #[test]
    fn edited_input_never_panics(
        specs in proptest::collection::vec(family_spec(), 1..4),
        om in any::<bool>(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0usize..12), 1..6),
    ) {
        let format = if om { Format::OpenMetrics1 } else { Format::Text004 };
        let expected = Exposition {
            format,
            families: specs.iter().enumerate().map(|(i, s)| build(i, s, format)).collect(),
        };
        let mut body: Vec<char> = exposition::render(&expected).chars().collect();
        for (at, edit) in edits {
            if body.is_empty() {
                break;
            }
            let i = at.index(body.len());
            let insert = ['{', '}', '"', ',', '=', '#', '\n', '\\', ' ', '\t', '\r'];
            if edit < insert.len() {
                body.insert(i, insert[edit]);
            } else {
                body.remove(i);
            }
        }
        let body: String = body.into_iter().collect();
        if let Err(telltale_prometheus::Error::Parse { line, column, .. }) = exposition::parse(&body, format) {
            prop_assert!(line >= 1 && column >= 1);
            prop_assert!(line <= body.split('\n').count(), "line {} of {:?}", line, body);
        }
    }

    /// Arbitrary input never panics: it parses or fails with a position inside the body.
    #[test]
    fn arbitrary_input_never_panics(body in ".{0,200}", om in any::<bool>()) {
        let format = if om { Format::OpenMetrics1 } else { Format::Text004 };
        if let Err(telltale_prometheus::Error::Parse { line, column, .. }) = exposition::parse(&body, format) {
            prop_assert!(line >= 1 && column >= 1);
            prop_assert!(line <= body.split('\n').count());
        }
    }
}
