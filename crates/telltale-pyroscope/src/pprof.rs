//! The pprof codec: `google.v1.Profile` as prost messages (internal), and this crate's resolved
//! view of it.

use std::collections::HashMap;
use std::io::Read;

use prost::Message;

use crate::Error;

/// A sample type or the period type: `(type, unit)`, e.g. `("cpu", "nanoseconds")`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueType {
    /// What is measured (`cpu`, `samples`, `alloc_space`…).
    pub kind: String,
    /// Its unit (`nanoseconds`, `count`, `bytes`…).
    pub unit: String,
}

/// One sample: a stack and its values, one per sample type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sample {
    /// Function names, leaf first (inlined frames expanded as pprof lists them).
    pub stack: Vec<String>,
    /// One value per [`Profile::sample_types`] entry.
    pub values: Vec<i64>,
    /// String labels (`key`, `value`); numeric labels are kept as `key`, `num` in decimal.
    pub labels: Vec<(String, String)>,
}

/// A profile with every string and id resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// What each sample value measures.
    pub sample_types: Vec<ValueType>,
    /// The samples.
    pub samples: Vec<Sample>,
    /// When the profile was taken, Unix nanoseconds.
    pub time_nanos: i64,
    /// How long it covers, nanoseconds.
    pub duration_nanos: i64,
    /// What the period counts.
    pub period_type: Option<ValueType>,
    /// The sampling period.
    pub period: i64,
    /// Free-form comments.
    pub comments: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct PbProfile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<PbValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<PbSample>,
    #[prost(message, repeated, tag = "3")]
    mapping: Vec<PbMapping>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<PbLocation>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<PbFunction>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    time_nanos: i64,
    #[prost(int64, tag = "10")]
    duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    period_type: Option<PbValueType>,
    #[prost(int64, tag = "12")]
    period: i64,
    #[prost(int64, repeated, tag = "13")]
    comment: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct PbValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, Message)]
struct PbSample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    label: Vec<PbLabel>,
}

#[derive(Clone, PartialEq, Message)]
struct PbLabel {
    #[prost(int64, tag = "1")]
    key: i64,
    #[prost(int64, tag = "2")]
    str: i64,
    #[prost(int64, tag = "3")]
    num: i64,
}

#[derive(Clone, PartialEq, Message)]
struct PbMapping {
    #[prost(uint64, tag = "1")]
    id: u64,
}

#[derive(Clone, PartialEq, Message)]
struct PbLocation {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    mapping_id: u64,
    #[prost(uint64, tag = "3")]
    address: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<PbLine>,
}

#[derive(Clone, PartialEq, Message)]
struct PbLine {
    #[prost(uint64, tag = "1")]
    function_id: u64,
    #[prost(int64, tag = "2")]
    line: i64,
}

#[derive(Clone, PartialEq, Message)]
struct PbFunction {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
    #[prost(int64, tag = "3")]
    system_name: i64,
    #[prost(int64, tag = "4")]
    filename: i64,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Decode {
        reason: reason.into(),
    }
}

/// Decodes a pprof profile, gunzipping it first when it starts with the gzip magic (as
/// `runtime/pprof` and the Pyroscope SDKs send it).
pub fn decode(bytes: &[u8]) -> Result<Profile, Error> {
    let mut raw = Vec::new();
    let body = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(|e| bad(format!("gzip: {e}")))?;
        &raw[..]
    } else {
        bytes
    };
    let pb = PbProfile::decode(body).map_err(|e| bad(e.to_string()))?;
    let strings = &pb.string_table;
    if strings.first().is_some_and(|s| !s.is_empty()) {
        return Err(bad("string_table[0] is not empty"));
    }
    let s = |i: i64| -> Result<String, Error> {
        usize::try_from(i)
            .ok()
            .and_then(|i| strings.get(i))
            .cloned()
            .ok_or_else(|| {
                bad(format!(
                    "string index {i} outside a table of {}",
                    strings.len()
                ))
            })
    };
    let vt = |v: &PbValueType| -> Result<ValueType, Error> {
        Ok(ValueType {
            kind: s(v.r#type)?,
            unit: s(v.unit)?,
        })
    };
    let functions: HashMap<u64, i64> = pb.function.iter().map(|f| (f.id, f.name)).collect();
    let locations: HashMap<u64, &PbLocation> = pb.location.iter().map(|l| (l.id, l)).collect();
    let mut samples = Vec::with_capacity(pb.sample.len());
    for sample in &pb.sample {
        let mut stack = Vec::new();
        for id in &sample.location_id {
            let loc = locations
                .get(id)
                .ok_or_else(|| bad(format!("sample names location {id}, which is absent")))?;
            if loc.line.is_empty() {
                stack.push(format!("0x{:x}", loc.address));
            }
            for line in &loc.line {
                let name = functions.get(&line.function_id).ok_or_else(|| {
                    bad(format!(
                        "line names function {}, which is absent",
                        line.function_id
                    ))
                })?;
                stack.push(s(*name)?);
            }
        }
        let labels = sample
            .label
            .iter()
            .map(|l| {
                Ok((
                    s(l.key)?,
                    if l.str != 0 {
                        s(l.str)?
                    } else {
                        l.num.to_string()
                    },
                ))
            })
            .collect::<Result<_, Error>>()?;
        samples.push(Sample {
            stack,
            values: sample.value.clone(),
            labels,
        });
    }
    if let Some(sample) = samples
        .iter()
        .find(|x| x.values.len() != pb.sample_type.len())
    {
        return Err(bad(format!(
            "a sample has {} values for {} sample types",
            sample.values.len(),
            pb.sample_type.len()
        )));
    }
    Ok(Profile {
        sample_types: pb.sample_type.iter().map(vt).collect::<Result<_, _>>()?,
        samples,
        time_nanos: pb.time_nanos,
        duration_nanos: pb.duration_nanos,
        period_type: pb.period_type.as_ref().map(vt).transpose()?,
        period: pb.period,
        comments: pb.comment.iter().map(|&c| s(c)).collect::<Result<_, _>>()?,
    })
}

/// Encodes a profile as uncompressed pprof protobuf: one function and one location per distinct
/// frame name, strings interned in first-use order.
pub fn encode(profile: &Profile) -> Vec<u8> {
    let mut strings: Vec<String> = vec![String::new()];
    let mut index: HashMap<String, i64> = HashMap::from([(String::new(), 0)]);
    let mut intern = |text: &str| -> i64 {
        if let Some(&i) = index.get(text) {
            return i;
        }
        strings.push(text.to_owned());
        let i = strings.len() as i64 - 1;
        index.insert(text.to_owned(), i);
        i
    };
    let mut frames: HashMap<String, u64> = HashMap::new();
    let mut function = Vec::new();
    let mut location = Vec::new();
    let mut sample = Vec::new();
    let vt = |v: &ValueType, intern: &mut dyn FnMut(&str) -> i64| PbValueType {
        r#type: intern(&v.kind),
        unit: intern(&v.unit),
    };
    let sample_type = profile
        .sample_types
        .iter()
        .map(|v| vt(v, &mut intern))
        .collect();
    for s in &profile.samples {
        let mut location_id = Vec::with_capacity(s.stack.len());
        for name in &s.stack {
            let id = match frames.get(name) {
                Some(&id) => id,
                None => {
                    let id = frames.len() as u64 + 1;
                    frames.insert(name.clone(), id);
                    let n = intern(name);
                    function.push(PbFunction {
                        id,
                        name: n,
                        system_name: n,
                        filename: 0,
                    });
                    location.push(PbLocation {
                        id,
                        mapping_id: 0,
                        address: 0,
                        line: vec![PbLine {
                            function_id: id,
                            line: 0,
                        }],
                    });
                    id
                }
            };
            location_id.push(id);
        }
        let label = s
            .labels
            .iter()
            .map(|(k, v)| PbLabel {
                key: intern(k),
                str: intern(v),
                num: 0,
            })
            .collect();
        sample.push(PbSample {
            location_id,
            value: s.values.clone(),
            label,
        });
    }
    let period_type = profile.period_type.as_ref().map(|v| vt(v, &mut intern));
    let comment = profile.comments.iter().map(|c| intern(c)).collect();
    PbProfile {
        sample_type,
        sample,
        mapping: Vec::new(),
        location,
        function,
        string_table: strings,
        time_nanos: profile.time_nanos,
        duration_nanos: profile.duration_nanos,
        period_type,
        period: profile.period,
        comment,
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(run: &str) -> Profile {
        Profile {
            sample_types: vec![ValueType {
                kind: "cpu".into(),
                unit: "nanoseconds".into(),
            }],
            samples: vec![
                Sample {
                    stack: vec!["leaf".into(), "telltale_probe".into(), "main".into()],
                    values: vec![30_000_000],
                    labels: vec![("telltale_run".into(), run.into())],
                },
                Sample {
                    stack: vec!["other".into(), "main".into()],
                    values: vec![10_000_000],
                    labels: Vec::new(),
                },
            ],
            time_nanos: 1_700_000_000_000_000_000,
            duration_nanos: 10_000_000_000,
            period_type: Some(ValueType {
                kind: "cpu".into(),
                unit: "nanoseconds".into(),
            }),
            period: 10_000_000,
            comments: vec!["telltale".into()],
        }
    }

    #[test]
    fn a_profile_round_trips_plain_and_gzipped() {
        let p = cpu("r-1");
        let bytes = encode(&p);
        assert_eq!(decode(&bytes).unwrap(), p);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        assert_eq!(decode(&gz.finish().unwrap()).unwrap(), p);
    }

    #[test]
    fn broken_references_are_refused_by_name() {
        let mut pb = PbProfile::decode(&encode(&cpu("r"))[..]).unwrap();
        pb.sample[0].location_id.push(99);
        let err = decode(&pb.encode_to_vec()).unwrap_err().to_string();
        assert!(err.contains("location 99"), "{err}");
        let mut pb = PbProfile::decode(&encode(&cpu("r"))[..]).unwrap();
        pb.sample_type[0].unit = 500;
        let err = decode(&pb.encode_to_vec()).unwrap_err().to_string();
        assert!(err.contains("string index 500"), "{err}");
        assert!(decode(b"\x1f\x8bnot gzip").is_err());
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pprof/go1.26.10");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn go_runtime_heap_profile_decodes_with_its_allocation_site() {
        let p = decode(&fixture("heap.pb.gz")).unwrap();
        let types: Vec<(&str, &str)> = p
            .sample_types
            .iter()
            .map(|v| (v.kind.as_str(), v.unit.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("alloc_objects", "count"),
                ("alloc_space", "bytes"),
                ("inuse_objects", "count"),
                ("inuse_space", "bytes")
            ]
        );
        let ours: i64 = p
            .samples
            .iter()
            .filter(|s| s.stack.iter().any(|f| f == "main.telltaleAllocate"))
            .map(|s| s.values[3])
            .sum();
        // 64 live buffers of 64 KiB were kept.
        assert!(ours >= 64 * (64 << 10), "{ours}");
        assert!(p.time_nanos > 0);
    }

    #[test]
    fn go_runtime_goroutine_profile_decodes() {
        let p = decode(&fixture("goroutine.pb.gz")).unwrap();
        assert_eq!(p.sample_types[0].kind, "goroutine");
        assert!(
            p.samples
                .iter()
                .any(|s| s.stack.iter().any(|f| f == "main.main")),
            "{p:#?}"
        );
        // Re-encoding the resolved view and decoding it again loses nothing it models.
        assert_eq!(decode(&encode(&p)).unwrap(), p);
    }
}
