//! Property tests: push encodings are lossless and agree, and label quoting round-trips any text.

use std::collections::BTreeMap;

use proptest::prelude::*;
use telltale_loki::{
    decode_push, encode_push, quote, unquote, Entry, LabelSet, PushEncoding, Stream, Timestamp,
};

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,12}"
}

fn label_set() -> impl Strategy<Value = LabelSet> {
    prop::collection::btree_map(
        label_name(),
        any::<String>().prop_filter("non-empty", |v| !v.is_empty()),
        1..6,
    )
    .prop_map(|m| LabelSet::new(m).expect("generated labels are valid"))
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        any::<i64>(),
        any::<String>(),
        prop::collection::btree_map(label_name(), any::<String>(), 0..4),
    )
        .prop_map(|(ts, line, meta)| Entry {
            timestamp: Timestamp::from_unix_nanos(ts),
            line,
            structured_metadata: meta.into_iter().collect(),
        })
}

fn streams() -> impl Strategy<Value = Vec<Stream>> {
    prop::collection::vec((label_set(), prop::collection::vec(entry(), 0..8)), 0..5).prop_map(|v| {
        v.into_iter()
            .map(|(labels, entries)| Stream::new(labels, entries))
            .collect()
    })
}

const ENCODINGS: [PushEncoding; 3] = [
    PushEncoding::Protobuf,
    PushEncoding::Json { gzip: false },
    PushEncoding::Json { gzip: true },
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_is_identity(streams in streams()) {
        for encoding in ENCODINGS {
            let enc = encode_push(&streams, encoding);
            let back = decode_push(&enc.body, enc.content_type, enc.content_encoding).unwrap();
            prop_assert_eq!(&back, &streams, "{:?}", encoding);
        }
    }

    #[test]
    fn json_and_protobuf_carry_the_same_content(streams in streams()) {
        let proto = encode_push(&streams, PushEncoding::Protobuf);
        let json = encode_push(&streams, PushEncoding::Json { gzip: false });
        let from_proto = decode_push(&proto.body, proto.content_type, None).unwrap();
        let from_json = decode_push(&json.body, json.content_type, None).unwrap();
        prop_assert_eq!(from_proto, from_json);
    }

    #[test]
    fn label_sets_round_trip_through_their_text_form(set in label_set()) {
        prop_assert_eq!(LabelSet::parse(&set.to_string()).unwrap(), set);
    }

    #[test]
    fn quoting_round_trips_any_unicode(text in any::<String>()) {
        prop_assert_eq!(unquote(&quote(&text)).unwrap(), text);
    }
}

#[test]
fn quoting_handles_the_awkward_cases() {
    for text in [
        "",
        "\"",
        "\\",
        "\n\r\t",
        "\u{0}\u{1f}\u{7f}",
        "é中😀",
        "\\\"",
        "`",
    ] {
        assert_eq!(unquote(&quote(text)).unwrap(), text, "{text:?}");
    }
    let labels: BTreeMap<&str, &str> = [("a", "x\"y"), ("b", "中")].into();
    let set = LabelSet::new(labels).unwrap();
    assert_eq!(set.to_string(), "{a=\"x\\\"y\", b=\"中\"}");
}
