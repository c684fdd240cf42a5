//! Property tests: any envelope written (with or without lengths, any compression) reads back
//! equal, and the reader never panics on arbitrary bytes, giving positioned errors instead.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use telltale_glitchtip::{Compression, Envelope, Error, Headers, Item, ItemType, Lengths};

fn item_type() -> impl Strategy<Value = ItemType> {
    prop::sample::select(vec![
        ItemType::Event,
        ItemType::Transaction,
        ItemType::Attachment,
        ItemType::Session,
        ItemType::Sessions,
        ItemType::ClientReport,
        ItemType::CheckIn,
        ItemType::Span,
        ItemType::Log,
    ])
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::btree_map("[a-z_]{1,12}", any::<String>(), 0..4).prop_map(|m| {
        let mut h = Headers::new();
        for (k, v) in m {
            h.set_str(k, v);
        }
        h
    })
}

/// A JSON object, compact (one line, as SDKs write items without `length`) or pretty (with
/// newlines, which forces a `length`).
fn json_object() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::btree_map("[a-z_]{1,8}", any::<String>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(map, pretty)| {
            if pretty {
                serde_json::to_vec_pretty(&map).unwrap()
            } else {
                serde_json::to_vec(&map).unwrap()
            }
        })
}

fn item() -> impl Strategy<Value = Item> {
    (
        item_type(),
        prop::collection::btree_map("[a-z_]{1,10}", "[ -~]{0,20}", 0..3),
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
        json_object(),
    )
        .prop_map(|(ty, extra, mut payload, text, json)| {
            if ty.payload_is_json() {
                payload = json;
            } else if text {
                // Text payloads without newlines, the common case without `length`.
                payload.retain(|b| *b != b'\n');
            }
            let mut item = Item::new(ty, payload);
            for (k, v) in extra {
                if k != "type" && k != "length" {
                    item.headers_mut().set_str(k, v);
                }
            }
            item
        })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (headers(), prop::collection::vec(item(), 0..6)).prop_map(|(h, items)| {
        let mut env = Envelope::new();
        *env.headers_mut() = h;
        for i in items {
            env.push(i);
        }
        env
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn write_then_read_is_identity(env in envelope()) {
        for lengths in [Lengths::Always, Lengths::WhenNeeded] {
            let bytes = env.to_bytes_with(lengths);
            let back = Envelope::parse(&bytes).unwrap();
            prop_assert_eq!(back.headers(), env.headers());
            prop_assert_eq!(back.items(), env.items());
            prop_assert!(back.skipped().is_empty());
        }
    }

    #[test]
    fn compressed_round_trips(env in envelope(), which in 0usize..4) {
        let c = [Compression::None, Compression::Gzip, Compression::Deflate, Compression::Brotli][which];
        let body = env.encode(Lengths::WhenNeeded, c).unwrap();
        let back = Envelope::decode(&body, c.content_encoding()).unwrap();
        prop_assert_eq!(back.items(), env.items());
    }

    #[test]
    fn unknown_items_are_skipped_wherever_they_are(env in envelope(), at in 0usize..6, payload in prop::collection::vec(any::<u8>(), 0..50)) {
        let mut with = Envelope::new();
        *with.headers_mut() = env.headers().clone();
        let at = at.min(env.items().len());
        for (i, item) in env.items().iter().enumerate() {
            if i == at {
                with.push(Item::new(ItemType::Unknown("some_future_type".into()), payload.clone()));
            }
            with.push(item.clone());
        }
        if at == env.items().len() {
            with.push(Item::new(ItemType::Unknown("some_future_type".into()), payload.clone()));
        }
        let back = Envelope::parse(&with.to_bytes()).unwrap();
        prop_assert_eq!(back.items(), env.items());
        prop_assert_eq!(back.skipped().len(), 1);
        prop_assert_eq!(back.skipped()[0].length, payload.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_point_inside(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let (offset, line, column) = match Envelope::parse(&bytes) {
            Ok(_) => return Ok(()),
            Err(Error::Envelope { offset, line, column, .. }) => (offset, line, column),
            Err(Error::EnvelopeItem { offset, line, column, .. }) => (offset, line, column),
            Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
        };
        prop_assert!(offset <= bytes.len());
        prop_assert_eq!(line, bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1);
        let line_start = bytes[..offset].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        prop_assert_eq!(column, offset - line_start + 1);
    }

    #[test]
    fn a_json_item_with_a_broken_payload_is_refused_inside_that_payload(
        env in envelope().prop_filter("needs a JSON item", |e| e.items().iter().any(|i| i.item_type().payload_is_json())),
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Cut one JSON item's payload short (an object cut anywhere is never a whole object)
        // and check the error names that item and points into its payload.
        let json: Vec<usize> = env.items().iter().enumerate()
            .filter(|(_, i)| i.item_type().payload_is_json()).map(|(n, _)| n).collect();
        let victim = *pick.get(&json);
        let mut broken = Envelope::new();
        *broken.headers_mut() = env.headers().clone();
        for (n, item) in env.items().iter().enumerate() {
            if n == victim {
                let p = item.payload();
                let keep = cut.index(p.len());
                let mut headers = item.headers().clone();
                headers.remove("length");
                broken.push(Item::with_headers(headers, p[..keep].to_vec()).unwrap());
            } else {
                broken.push(item.clone());
            }
        }
        let bytes = broken.to_bytes();
        // Where the victim's payload starts: after the envelope header and every item before it.
        let mut start = broken.headers().to_json().len() + 1;
        for item in &broken.items()[..victim] {
            let mut h = item.headers().clone();
            h.set_u64("length", item.payload().len() as u64);
            start += h.to_json().len() + 1 + item.payload().len() + 1;
        }
        let victim_item = &broken.items()[victim];
        let mut h = victim_item.headers().clone();
        h.set_u64("length", victim_item.payload().len() as u64);
        start += h.to_json().len() + 1;
        match Envelope::parse(&bytes) {
            Err(Error::EnvelopeItem { index, item_type, offset, .. }) => {
                prop_assert_eq!(index, victim);
                prop_assert_eq!(item_type, victim_item.item_type().as_str().to_owned());
                prop_assert!(offset >= start && offset <= start + victim_item.payload().len(),
                    "offset {} outside the payload at {}..={}", offset, start, start + victim_item.payload().len());
            }
            other => prop_assert!(false, "{:?}", other.map(|e| e.items().len())),
        }
    }

    #[test]
    fn truncated_envelopes_fail_at_the_cut(env in envelope().prop_filter("needs a payload", |e| e.items().iter().any(|i| !i.payload().is_empty()))) {
        let bytes = env.to_bytes();
        // Cut inside the last non-empty payload: the reader must refuse, not invent data.
        let last = env.items().iter().rposition(|i| !i.payload().is_empty()).unwrap();
        let tail: usize = env.items()[last..].iter().skip(1).map(|i| {
            let mut h = i.headers().clone();
            h.set_u64("length", i.payload().len() as u64);
            h.to_json().len() + 2 + i.payload().len()
        }).sum();
        let cut = bytes.len() - tail - 2;
        match Envelope::parse(&bytes[..cut]) {
            Err(Error::Envelope { reason, .. }) => prop_assert!(reason.contains("length"), "{}", reason),
            other => prop_assert!(false, "{:?}", other.map(|e| e.items().len())),
        }
    }
}
