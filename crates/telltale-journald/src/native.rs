//! journald's native protocol: the bytes of one datagram (or memfd), encoded and decoded.
//!
//! The format, as `sd_journal_sendv()` writes it (`src/libsystemd/sd-journal/journal-send.c`)
//! and journald's `manager_process_entry()` reads it (`src/journal/journald-native.c`):
//!
//! - a field whose value holds no `\n` is the line `NAME=value\n`;
//! - any other field is `NAME\n`, the value's length as a 64-bit little-endian integer, the
//!   value, and `\n`;
//! - an empty line ends an entry, so one message may carry several entries (`sd_journal_sendv`
//!   never does that; this crate neither);
//! - lines starting with `.` or `#` are skipped ("control commands" and comments);
//! - a field with an invalid name is dropped silently; an entry with more than
//!   [`ENTRY_FIELD_COUNT_MAX`] fields, a value over [`DATA_SIZE_MAX`] or a total over
//!   [`ENTRY_SIZE_MAX`] is dropped whole.

use crate::field::check;
use crate::{Entry, Error, Field, FieldName};

/// Most fields journald keeps in one entry (`ENTRY_FIELD_COUNT_MAX` in systemd's
/// `journal-importer.h`/`journal-def.h`); an entry with more is dropped whole.
pub const ENTRY_FIELD_COUNT_MAX: usize = 1024;

/// Largest value journald accepts in one field: 768 MiB (`DATA_SIZE_MAX`).
pub const DATA_SIZE_MAX: usize = 768 * 1024 * 1024;

/// Largest entry journald accepts, counting `NAME=value` bytes plus one per field:
/// 770 MiB (`ENTRY_SIZE_MAX`). It is also the largest memfd journald will map.
pub const ENTRY_SIZE_MAX: usize = 770 * 1024 * 1024;

/// Bytes one field takes on the wire.
pub(crate) fn field_len(name_len: usize, value: &[u8]) -> usize {
    if value.contains(&b'\n') {
        name_len + 1 + 8 + value.len() + 1
    } else {
        name_len + 1 + value.len() + 1
    }
}

/// Appends one field in the native format: `NAME=value\n`, or the length-prefixed form when the
/// value holds a newline.
pub(crate) fn encode_field(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    if value.contains(&b'\n') {
        out.reserve(name.len() + value.len() + 10);
        out.extend_from_slice(name);
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
    } else {
        out.reserve(name.len() + value.len() + 2);
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
    out.push(b'\n');
}

/// Appends `entry` in journald's native format to `out`, exactly as `sd_journal_sendv()` lays
/// it out (without the `SYSLOG_IDENTIFIER` it adds when missing).
///
/// ```
/// use telltale_journald::{encode, Entry};
///
/// let mut out = Vec::new();
/// encode(&Entry::message("a\nb").field("X", "1")?, &mut out);
/// assert_eq!(out, b"MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\nX=1\n");
/// # Ok::<(), telltale_journald::Error>(())
/// ```
pub fn encode(entry: &Entry, out: &mut Vec<u8>) {
    out.reserve(entry.encoded_len());
    for f in entry.fields() {
        encode_field(f.name.as_str().as_bytes(), &f.value, out);
    }
}

/// Decodes a native-protocol message into its entries, the way journald parses it, but strictly:
/// whatever journald would drop or stop at (an invalid name, a truncated length-prefixed value,
/// bytes after the last newline, an entry over the limits) is an error here, so tests notice.
///
/// Lines starting with `.` or `#` are skipped as journald skips them. Empty entries (from
/// consecutive empty lines) are left out.
pub fn decode(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    let mut current_size = 0usize;
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(Error::native(
                pos,
                "bytes after the last newline (journald ignores them as trailing noise)",
            ));
        };
        if nl == 0 {
            finish(&mut entries, &mut current, &mut current_size);
            pos += 1;
            continue;
        }
        if matches!(rest[0], b'.' | b'#') {
            pos += nl + 1;
            continue;
        }
        let line = &rest[..nl];
        let (name, value, consumed) = match line.iter().position(|&b| b == b'=') {
            Some(eq) => (&line[..eq], &line[eq + 1..], nl + 1),
            None => {
                let header = nl + 1;
                if rest.len() < header + 8 + 1 {
                    return Err(Error::native(pos, "length-prefixed field cut short"));
                }
                let len_bytes: [u8; 8] = rest[header..header + 8].try_into().expect("8 bytes");
                let len = u64::from_le_bytes(len_bytes);
                if len > DATA_SIZE_MAX as u64 {
                    return Err(Error::native(
                        pos,
                        format!("value of {len} bytes is over journald's DATA_SIZE_MAX"),
                    ));
                }
                let len = len as usize;
                let end = header + 8 + len;
                if rest.len() < end + 1 {
                    return Err(Error::native(pos, "length-prefixed value cut short"));
                }
                if rest[end] != b'\n' {
                    return Err(Error::native(
                        pos + end,
                        "length-prefixed value not followed by a newline",
                    ));
                }
                (line, &rest[header + 8..end], end + 1)
            }
        };
        check(name, false).map_err(|e| Error::native(pos, e.to_string()))?;
        if current.len() >= ENTRY_FIELD_COUNT_MAX {
            return Err(Error::native(
                pos,
                format!("entry has more than {ENTRY_FIELD_COUNT_MAX} fields"),
            ));
        }
        current_size += name.len() + 1 + value.len() + 1;
        if current_size > ENTRY_SIZE_MAX {
            return Err(Error::native(
                pos,
                "entry is over journald's ENTRY_SIZE_MAX",
            ));
        }
        let name = String::from_utf8(name.to_vec()).expect("checked to be ASCII");
        current.push(Field {
            name: FieldName::new(name).expect("checked"),
            value: value.to_vec(),
        });
        pos += consumed;
    }
    finish(&mut entries, &mut current, &mut current_size);
    Ok(entries)
}

fn finish(entries: &mut Vec<Entry>, current: &mut Vec<Field>, size: &mut usize) {
    if !current.is_empty() {
        entries.push(current.drain(..).collect());
    }
    *size = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Priority;

    fn enc(entry: &Entry) -> Vec<u8> {
        let mut out = Vec::new();
        encode(entry, &mut out);
        assert_eq!(out.len(), entry.encoded_len());
        out
    }

    #[test]
    fn plain_values_are_name_equals_value_newline() {
        let entry = Entry::message("hello world")
            .with_priority(Priority::Error)
            .with_identifier("app");
        assert_eq!(
            enc(&entry),
            b"MESSAGE=hello world\nPRIORITY=3\nSYSLOG_IDENTIFIER=app\n"
        );
    }

    #[test]
    fn values_with_newlines_are_length_prefixed() {
        let entry = Entry::message("line one\nline two\n");
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&[18, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(b"line one\nline two\n");
        want.push(b'\n');
        assert_eq!(enc(&entry), want);
        assert_eq!(decode(&want).unwrap(), vec![entry]);
    }

    #[test]
    fn nul_and_invalid_utf8_stay_plain_when_there_is_no_newline() {
        let entry = Entry::new().field("BIN", &b"a\0b\xff="[..]).unwrap();
        assert_eq!(enc(&entry), b"BIN=a\0b\xff=\n");
        assert_eq!(decode(&enc(&entry)).unwrap(), vec![entry]);
    }

    #[test]
    fn a_lone_newline_and_an_empty_value() {
        let entry = Entry::new()
            .field("NL", "\n")
            .unwrap()
            .field("EMPTY", "")
            .unwrap();
        assert_eq!(enc(&entry), b"NL\n\x01\0\0\0\0\0\0\0\n\nEMPTY=\n".to_vec());
        assert_eq!(decode(&enc(&entry)).unwrap(), vec![entry]);
    }

    #[test]
    fn length_is_little_endian_u64() {
        let value = "x\n".repeat(0x0102 / 2);
        let out = enc(&Entry::new().field("V", value.as_str()).unwrap());
        assert_eq!(&out[..10], b"V\n\x02\x01\0\0\0\0\0\0");
        assert_eq!(out.len(), 2 + 8 + 0x0102 + 1);
    }

    #[test]
    fn repeated_fields_keep_their_order() {
        let entry = Entry::new()
            .field("T", "1")
            .unwrap()
            .field("U", "x")
            .unwrap()
            .field("T", "2")
            .unwrap();
        assert_eq!(enc(&entry), b"T=1\nU=x\nT=2\n");
        let back = decode(&enc(&entry)).unwrap();
        assert_eq!(back[0].values("T").collect::<Vec<_>>(), [b"1", b"2"]);
    }

    #[test]
    fn decodes_several_entries_comments_and_control_lines() {
        let bytes = b"A=1\n#comment\n.control\n\nB=2\n\n\nC\n\x01\0\0\0\0\0\0\0\n\n";
        let got = decode(bytes).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].get("A"), Some(&b"1"[..]));
        assert_eq!(got[1].get("B"), Some(&b"2"[..]));
        assert_eq!(got[2].get("C"), Some(&b"\n"[..]));
    }

    #[test]
    fn decoder_reports_what_journald_would_drop() {
        let cases: &[(&[u8], &str)] = &[
            (b"A=1\nB=2", "after the last newline"),
            (b"_PID=1\n", "trusted"),
            (b"lower=1\n", "A-Z"),
            (b"A\n\x05\0\0\0\0\0\0\0abc", "cut short"),
            (b"A\n\x01\0\0\0", "cut short"),
            (b"A\n\x01\0\0\0\0\0\0\0xy\n", "not followed by a newline"),
            (b"A\n\xff\xff\xff\xff\xff\xff\xff\xff\n", "DATA_SIZE_MAX"),
        ];
        for (bytes, want) in cases {
            let err = decode(bytes).unwrap_err().to_string();
            assert!(err.contains(want), "{bytes:?}: {err}");
        }
    }

    #[test]
    fn decoder_refuses_more_fields_than_journald_keeps() {
        let mut bytes = Vec::new();
        for _ in 0..ENTRY_FIELD_COUNT_MAX {
            bytes.extend_from_slice(b"F=x\n");
        }
        assert_eq!(decode(&bytes).unwrap()[0].len(), ENTRY_FIELD_COUNT_MAX);
        bytes.extend_from_slice(b"F=x\n");
        assert!(decode(&bytes).is_err());
    }
}
