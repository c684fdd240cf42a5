//! Decoding tests on what a real systemd-journald stored and journalctl printed
//! (`fixtures/journald/<version>/`, recorded by `fixtures/journald/record.sh`), and on the bytes
//! libsystemd's own `sd_journal_send()` put on the wire, checked against this crate's encoder.

use std::path::PathBuf;

use crate::{encode, parse_json_output, Entry, Error, JournalEntry, Priority};

const VERSIONS: &[&str] = &["252"];

fn load(version: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/journald")
        .join(version)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn by_seq(entries: &[JournalEntry], seq: u64) -> &JournalEntry {
    let found: Vec<_> = entries
        .iter()
        .filter(|e| e.number("TELLTALE_SEQ") == Some(seq))
        .collect();
    assert_eq!(found.len(), 1, "seq {seq}");
    found[0]
}

#[test]
fn encoder_matches_sd_journal_send_byte_for_byte() {
    for v in VERSIONS {
        let captured = load(v, "sd_journal_send.bin");
        let mut ours = Vec::new();
        encode(
            &Entry::message("multi\nline")
                .with_priority(Priority::Info)
                .with_identifier("t"),
            &mut ours,
        );
        assert_eq!(ours, captured, "{v}");
    }
}

#[test]
fn json_with_all_decodes_every_value_exactly() {
    for v in VERSIONS {
        let entries = parse_json_output(&load(v, "json-all.jsonl")).unwrap();
        assert_eq!(entries.len(), 6, "{v}");

        let plain = by_seq(&entries, 0);
        assert_eq!(plain.get_str("MESSAGE"), Some("plain text"));
        assert_eq!(plain.priority(), Some(Priority::Warning));
        assert_eq!(plain.get_str("EMPTY"), Some(""));
        assert_eq!(plain.get_str("REQUEST_ID"), Some("4bf92f3577b34da6"));
        assert_eq!(plain.get_str("SYSLOG_IDENTIFIER"), Some("recorder"));
        assert_eq!(plain.get_str("_TRANSPORT"), Some("journal"));
        assert!(plain.cursor().is_some() && plain.realtime().is_some());

        assert_eq!(
            by_seq(&entries, 1).get_str("MESSAGE"),
            Some("line one\nline two\n"),
            "newlines stay in a JSON string"
        );

        let binary = by_seq(&entries, 2);
        assert_eq!(binary.get("BIN"), Some(&b"before\0after"[..]));
        assert_eq!(binary.get("INVALID_UTF8"), Some(&b"caf\xe9 \xff\xfe"[..]));
        assert_eq!(binary.get("CONTROL"), Some(&b"tab\there\x1b[31mred"[..]));

        assert_eq!(
            by_seq(&entries, 3).get_str("MESSAGE"),
            Some("Grüße, 世界! Привет — مرحبا 🎉👩\u{200d}💻")
        );

        // Sent zeta, alpha, bin\xff, alpha, multi\nline: the second alpha is not stored.
        let tags = by_seq(&entries, 4).values("TAG");
        let want: [&[u8]; 4] = [b"zeta", b"alpha", b"bin\xff", b"multi\nline"];
        assert_eq!(tags, want.map(<[u8]>::to_vec));

        assert_eq!(by_seq(&entries, 5).get("BIG"), Some(&[b'x'; 5000][..]));
    }
}

#[test]
fn json_without_all_prints_null_for_big_values_and_that_is_an_error() {
    for v in VERSIONS {
        let err = parse_json_output(&load(v, "json-default.jsonl")).unwrap_err();
        match &err {
            Error::JsonDecode { line, reason, .. } => {
                assert_eq!(*line, 6, "{v}: {err}");
                assert!(reason.contains("BIG") && reason.contains("--all"), "{err}");
            }
            other => panic!("{v}: {other}"),
        }
    }
}

#[test]
fn output_fields_keeps_the_address_fields() {
    for v in VERSIONS {
        let entries = parse_json_output(&load(v, "json-output-fields.jsonl")).unwrap();
        assert_eq!(entries.len(), 6);
        for e in &entries {
            let names: Vec<_> = e.names().collect();
            assert_eq!(
                names,
                [
                    "MESSAGE",
                    "_BOOT_ID",
                    "__CURSOR",
                    "__MONOTONIC_TIMESTAMP",
                    "__REALTIME_TIMESTAMP"
                ],
                "{v}"
            );
        }
    }
}
