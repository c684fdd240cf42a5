//! Property tests: whatever fields are encoded in the native protocol decode back unchanged,
//! and field names are accepted exactly when systemd's `journal_field_valid` would.

use proptest::collection::vec;
use proptest::prelude::*;
use telltale_journald::{decode, encode, Entry, Field, FieldName, Writer};

fn field_name() -> impl Strategy<Value = FieldName> {
    "[A-Z][A-Z0-9_]{0,63}".prop_map(|n| FieldName::new(n).expect("valid by construction"))
}

/// Values biased towards what makes the encoding interesting: newlines, NUL, `=`, invalid
/// UTF-8, and bytes that look like a length prefix.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        vec(
            prop_oneof![Just(b'\n'), Just(0u8), Just(b'='), Just(0xff), any::<u8>()],
            0..64
        ),
        "[^\n]{0,40}".prop_map(String::into_bytes),
        vec(any::<u8>(), 1000..3000),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    vec((field_name(), value()), 1..20).prop_map(|fields| {
        fields
            .into_iter()
            .map(|(name, value)| Field { name, value })
            .collect()
    })
}

/// systemd's `journal_field_valid(p, l, allow_protected = false)`, transcribed.
fn reference_valid(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name[0] != b'_'
        && !name[0].is_ascii_digit()
        && name
            .iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

proptest! {
    #[test]
    fn encode_then_decode_gives_the_same_fields(entry in entry()) {
        let mut wire = Vec::new();
        encode(&entry, &mut wire);
        prop_assert_eq!(wire.len(), entry.encoded_len());
        let back = decode(&wire).unwrap();
        prop_assert_eq!(back, vec![entry]);
    }

    #[test]
    fn plain_form_exactly_when_the_value_has_no_newline(name in field_name(), value in value()) {
        let mut wire = Vec::new();
        encode(&Entry::new().with(name.clone(), value.clone()), &mut wire);
        let plain_prefix = format!("{name}=");
        prop_assert_eq!(wire.starts_with(plain_prefix.as_bytes()), !value.contains(&b'\n'));
    }

    #[test]
    fn writer_encoding_decodes_to_the_entry_plus_run_and_seq(entry in entry(), seq in any::<u64>()) {
        let writer = Writer::builder("prop-run").unwrap().build().unwrap();
        prop_assume!(entry.get("TELLTALE_RUN").is_none() && entry.get("TELLTALE_SEQ").is_none());
        let mut wire = Vec::new();
        writer.encode(&entry, seq, &mut wire).unwrap();
        let back = decode(&wire).unwrap();
        prop_assert_eq!(back.len(), 1);
        let back = &back[0];
        prop_assert_eq!(&back.fields()[..entry.len()], entry.fields());
        prop_assert_eq!(back.get("TELLTALE_RUN"), Some(&b"prop-run"[..]));
        let seq_text = seq.to_string();
        prop_assert_eq!(back.get("TELLTALE_SEQ"), Some(seq_text.as_bytes()));
        prop_assert_eq!(back.len(), entry.len() + 2);
    }

    #[test]
    fn names_are_valid_exactly_when_systemd_says_so(name in "[A-Za-z0-9_=. -]{0,70}") {
        prop_assert_eq!(FieldName::new(name.as_str()).is_ok(), reference_valid(name.as_bytes()));
    }

    #[test]
    fn several_entries_in_one_message_split_on_empty_lines(a in entry(), b in entry()) {
        let mut wire = Vec::new();
        encode(&a, &mut wire);
        wire.push(b'\n');
        encode(&b, &mut wire);
        prop_assert_eq!(decode(&wire).unwrap(), vec![a, b]);
    }
}
