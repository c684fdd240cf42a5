//! Property tests: any envelope written (with or without lengths, any compression) reads back
//! equal, and the reader never panics on arbitrary bytes, giving positioned errors instead.

use proptest::prelude::*;
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

fn item() -> impl Strategy<Value = Item> {
    (
        item_type(),
        prop::collection::btree_map("[a-z_]{1,10}", "[ -~]{0,20}", 0..3),
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(ty, extra, mut payload, text)| {
            if text {
                // JSON-like payloads without newlines, the common case without `length`.
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
        match Envelope::parse(&bytes) {
            Ok(_) => {}
            Err(Error::Envelope { offset, line, .. }) => {
                prop_assert!(offset <= bytes.len());
                prop_assert_eq!(line, bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1);
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
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
