//! Entries as `journalctl -o json` prints them, parsed back into bytes.
//!
//! journalctl (systemd's `src/shared/logs-show.c`, `output_json()`) prints one JSON object per
//! line. A value is a JSON string when it is valid, printable UTF-8 (newlines allowed; tabs and
//! other control characters are not), otherwise an array of byte numbers. A field with several
//! values is an array of those representations. A value of 4096 bytes or more is printed as
//! `null` unless `--all` is given, which is why [`Reader`](crate::Reader) always passes it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::line_start;
use crate::{Error, Priority};

/// One entry read back from the journal: every field journalctl printed, each with all its
/// values as raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalEntry {
    fields: BTreeMap<String, Vec<Vec<u8>>>,
}

impl JournalEntry {
    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.values(name).first().map(Vec::as_slice)
    }

    /// The first value of a field, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of a field (empty if the entry does not have it).
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.fields.get(name).map_or(&[], Vec::as_slice)
    }

    /// The field names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// Every field with all its values, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Vec<u8>])> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of distinct field names.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the entry has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `MESSAGE`, first value.
    pub fn message(&self) -> Option<&[u8]> {
        self.get("MESSAGE")
    }

    /// `PRIORITY`, if it is a single digit 0–7.
    pub fn priority(&self) -> Option<Priority> {
        self.get("PRIORITY").and_then(Priority::from_field)
    }

    /// `_SYSTEMD_UNIT`: the unit journald derived from the sender's cgroup.
    pub fn systemd_unit(&self) -> Option<&str> {
        self.get_str("_SYSTEMD_UNIT")
    }

    /// `__CURSOR`: the entry's position, for `journalctl --after-cursor`.
    pub fn cursor(&self) -> Option<&str> {
        self.get_str("__CURSOR")
    }

    /// `__REALTIME_TIMESTAMP`: when journald received the entry.
    pub fn realtime(&self) -> Option<SystemTime> {
        let usec: u64 = self.get_str("__REALTIME_TIMESTAMP")?.parse().ok()?;
        UNIX_EPOCH.checked_add(Duration::from_micros(usec))
    }

    /// A field holding one decimal number, such as the writer's sequence field. `None` when the
    /// field is absent, repeated, or not a number.
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.values(name) {
            [one] => std::str::from_utf8(one).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// An entry from fields, e.g. for tests of code that consumes entries.
    pub fn from_fields<I, K, V>(fields: I) -> JournalEntry
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Vec<u8>>,
    {
        let mut entry = JournalEntry::default();
        for (k, v) in fields {
            entry.fields.entry(k.into()).or_default().push(v.into());
        }
        entry
    }
}

/// Parses the whole output of `journalctl -o json`: one entry per non-empty line.
pub fn parse_json_output(output: &[u8]) -> Result<Vec<JournalEntry>, Error> {
    output
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| parse_json_line(line).map_err(|e| e.at_line(i + 1)))
        .collect()
}

/// Parses one line of `journalctl -o json` output.
pub fn parse_json_line(line: &[u8]) -> Result<JournalEntry, Error> {
    let object: serde_json::Map<String, Value> =
        serde_json::from_slice(line).map_err(|e| Error::JsonDecode {
            line: 1,
            reason: "not a JSON object".to_owned(),
            line_start: line_start(line),
            source: Some(Box::new(e)),
        })?;
    let fail = |reason: String| Error::JsonDecode {
        line: 1,
        reason,
        line_start: line_start(line),
        source: None,
    };
    let mut fields = BTreeMap::new();
    for (name, value) in object {
        let values = match value {
            Value::String(s) => vec![s.into_bytes()],
            Value::Number(n) => vec![n.to_string().into_bytes()],
            Value::Array(items) if items.iter().all(Value::is_number) => {
                vec![bytes(&items).map_err(|r| fail(format!("field {name}: {r}")))?]
            }
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone().into_bytes()),
                    Value::Array(b) => bytes(b),
                    Value::Null => Err(truncated()),
                    other => Err(format!("unexpected value {other}")),
                })
                .collect::<Result<_, _>>()
                .map_err(|r| fail(format!("field {name}: {r}")))?,
            Value::Null => return Err(fail(format!("field {name}: {}", truncated()))),
            other => return Err(fail(format!("field {name}: unexpected value {other}"))),
        };
        fields.insert(name, values);
    }
    Ok(JournalEntry { fields })
}

fn truncated() -> String {
    "journalctl printed null, which it does for values of 4096 bytes or more without --all"
        .to_owned()
}

/// A value journalctl printed as an array of byte numbers.
fn bytes(items: &[Value]) -> Result<Vec<u8>, String> {
    items
        .iter()
        .map(|v| {
            v.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| format!("{v} is not a byte"))
        })
        .collect()
}

impl Error {
    fn at_line(self, n: usize) -> Error {
        match self {
            Error::JsonDecode {
                reason,
                line_start,
                source,
                ..
            } => Error::JsonDecode {
                line: n,
                reason,
                line_start,
                source,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_byte_arrays_and_repeated_fields() {
        let line = br#"{"MESSAGE":"a\nb","BIN":[97,0,98],"B":["x",[255],"y"],"E":"","__REALTIME_TIMESTAMP":"1795319671478488","N":7}"#;
        let e = parse_json_line(line).unwrap();
        assert_eq!(e.message(), Some(&b"a\nb"[..]));
        assert_eq!(e.get("BIN"), Some(&b"a\0b"[..]));
        assert_eq!(e.values("B"), [b"x".to_vec(), vec![255], b"y".to_vec()]);
        assert_eq!(e.get("E"), Some(&b""[..]));
        assert_eq!(e.get("N"), Some(&b"7"[..]));
        assert_eq!(e.number("N"), Some(7));
        assert_eq!(e.number("B"), None);
        assert_eq!(
            e.realtime().unwrap(),
            UNIX_EPOCH + Duration::from_micros(1_795_319_671_478_488)
        );
        assert!(e.values("ABSENT").is_empty());
    }

    #[test]
    fn null_and_garbage_are_errors_with_line_numbers() {
        let out = b"{\"A\":\"1\"}\n\n{\"BIG\":null}\n";
        let err = parse_json_output(out).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("--all"), "{err}");
        let err = parse_json_output(b"{\"A\":\"1\"}\nnot json\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse_json_line(br#"{"A":[256]}"#).is_err());
        assert!(parse_json_line(br#"{"A":true}"#).is_err());
        assert!(parse_json_line(br#"{"A":[[1],{}]}"#).is_err());
    }

    #[test]
    fn empty_output_is_no_entries() {
        assert!(parse_json_output(b"").unwrap().is_empty());
        assert!(parse_json_output(b"\n").unwrap().is_empty());
    }
}
