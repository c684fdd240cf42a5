//! Journal field names, validated by journald's own rule, and syslog priorities.

use std::borrow::Cow;
use std::fmt;

use crate::Error;

/// Longest field name journald accepts.
pub const FIELD_NAME_MAX: usize = 64;

/// A field name a client may send: 1 to 64 characters from `A-Z`, `0-9` and `_`, not starting
/// with a digit or with `_`.
///
/// This is systemd's `journal_field_valid(p, l, allow_protected = false)` from
/// `src/libsystemd/sd-journal/journal-file.c`, which journald's native-protocol parser
/// (`src/journal/journald-native.c`) calls on every field it receives. journald does not refuse
/// an entry with an invalid name: it silently drops that one field. So this crate refuses such
/// names before sending, where the mistake can still be reported.
///
/// Names starting with `_` are *trusted* fields (`_PID`, `_SYSTEMD_UNIT`, …) that journald sets
/// itself from the sender's credentials; clients cannot set them. Names starting with `__` are
/// address fields journalctl adds when printing (`__CURSOR`, `__REALTIME_TIMESTAMP`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldName(Cow<'static, str>);

impl FieldName {
    /// `MESSAGE`: the human-readable text of the entry.
    pub const MESSAGE: FieldName = FieldName(Cow::Borrowed("MESSAGE"));
    /// `PRIORITY`: a syslog level, `0` (emerg) to `7` (debug).
    pub const PRIORITY: FieldName = FieldName(Cow::Borrowed("PRIORITY"));
    /// `SYSLOG_IDENTIFIER`: the program name journalctl shows before the message.
    pub const SYSLOG_IDENTIFIER: FieldName = FieldName(Cow::Borrowed("SYSLOG_IDENTIFIER"));
    /// `TELLTALE_RUN`: the default field carrying the writer's run id.
    pub const TELLTALE_RUN: FieldName = FieldName(Cow::Borrowed("TELLTALE_RUN"));
    /// `TELLTALE_SEQ`: the default field carrying the writer's per-entry sequence number.
    pub const TELLTALE_SEQ: FieldName = FieldName(Cow::Borrowed("TELLTALE_SEQ"));

    /// Validates a name a client may send (see the type's docs).
    pub fn new(name: impl Into<String>) -> Result<FieldName, Error> {
        let name = name.into();
        check(name.as_bytes(), false)?;
        Ok(FieldName(Cow::Owned(name)))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for FieldName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for FieldName {
    type Error = Error;

    fn try_from(name: &str) -> Result<FieldName, Error> {
        FieldName::new(name)
    }
}

impl TryFrom<String> for FieldName {
    type Error = Error;

    fn try_from(name: String) -> Result<FieldName, Error> {
        FieldName::new(name)
    }
}

/// `journal_field_valid`: with `allow_protected`, names starting with `_` pass (for matches and
/// for reading), otherwise they are refused (for sending).
pub(crate) fn check(name: &[u8], allow_protected: bool) -> Result<(), Error> {
    let fail = |reason: &'static str| {
        Err(Error::InvalidFieldName {
            name: String::from_utf8_lossy(name).into_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > FIELD_NAME_MAX {
        return fail("it is longer than 64 characters");
    }
    if !allow_protected && name[0] == b'_' {
        return fail("names starting with '_' are trusted fields that only journald sets");
    }
    if name[0].is_ascii_digit() {
        return fail("it starts with a digit");
    }
    if !name
        .iter()
        .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return fail("only A-Z, 0-9 and '_' are allowed");
    }
    Ok(())
}

/// A syslog priority, stored by journald in `PRIORITY` as a single digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Priority {
    /// 0: the system is unusable.
    Emergency = 0,
    /// 1: action must be taken immediately.
    Alert = 1,
    /// 2: critical conditions.
    Critical = 2,
    /// 3: error conditions.
    Error = 3,
    /// 4: warning conditions.
    Warning = 4,
    /// 5: normal but significant.
    Notice = 5,
    /// 6: informational (what journald assumes when `PRIORITY` is absent).
    Info = 6,
    /// 7: debug-level messages.
    Debug = 7,
}

impl Priority {
    /// All eight priorities, most severe first.
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Info,
        Priority::Debug,
    ];

    /// The numeric level, 0 to 7.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The priority for a numeric level, if it is 0 to 7.
    pub fn from_u8(level: u8) -> Option<Priority> {
        Priority::ALL.get(usize::from(level)).copied()
    }

    /// The priority journalctl prints for a `PRIORITY` value (`"3"`), if it is one digit 0–7.
    pub fn from_field(value: &[u8]) -> Option<Priority> {
        match value {
            [d @ b'0'..=b'7'] => Priority::from_u8(d - b'0'),
            _ => None,
        }
    }

    /// The syslog keyword: `emerg`, `alert`, `crit`, `err`, `warning`, `notice`, `info`, `debug`
    /// (the names `journalctl --priority=` accepts).
    pub fn keyword(self) -> &'static str {
        match self {
            Priority::Emergency => "emerg",
            Priority::Alert => "alert",
            Priority::Critical => "crit",
            Priority::Error => "err",
            Priority::Warning => "warning",
            Priority::Notice => "notice",
            Priority::Info => "info",
            Priority::Debug => "debug",
        }
    }

    /// The `PRIORITY` field's value: the level as one ASCII digit.
    pub(crate) fn digit(self) -> [u8; 1] {
        [b'0' + self.as_u8()]
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

impl std::str::FromStr for Priority {
    type Err = Error;

    /// Accepts a digit `0`–`7` or a keyword as [`Priority::keyword`] prints it.
    fn from_str(s: &str) -> Result<Priority, Error> {
        Priority::from_field(s.as_bytes())
            .or_else(|| Priority::ALL.into_iter().find(|p| p.keyword() == s))
            .ok_or_else(|| {
                Error::config(format!(
                    "{s:?} is not a syslog priority (0-7 or emerg…debug)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_journald_accepts() {
        for name in ["MESSAGE", "A", "X_1", "CODE_FILE", &"A".repeat(64), "A__B"] {
            FieldName::new(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn refuses_what_journald_drops() {
        let cases = [
            ("", "empty"),
            (&"A".repeat(65) as &str, "longer than 64"),
            ("_PID", "trusted"),
            ("__CURSOR", "trusted"),
            ("1ABC", "digit"),
            ("message", "A-Z"),
            ("MES SAGE", "A-Z"),
            ("MES-SAGE", "A-Z"),
            ("MESSAGE=", "A-Z"),
            ("ÄRGER", "A-Z"),
        ];
        for (name, want) in cases {
            let err = FieldName::new(name).unwrap_err().to_string();
            assert!(err.contains(want), "{name:?}: {err}");
        }
    }

    #[test]
    fn trusted_names_are_fine_for_reading() {
        check(b"_SYSTEMD_UNIT", true).unwrap();
        check(b"__CURSOR", true).unwrap();
        assert!(check(b"_1", true).is_ok());
        assert!(check(b"1_", true).is_err());
    }

    #[test]
    fn priorities_round_trip() {
        for p in Priority::ALL {
            assert_eq!(Priority::from_u8(p.as_u8()), Some(p));
            assert_eq!(Priority::from_field(&p.digit()), Some(p));
            assert_eq!(p.keyword().parse::<Priority>().unwrap(), p);
            assert_eq!(p.as_u8().to_string().parse::<Priority>().unwrap(), p);
        }
        assert_eq!(Priority::from_u8(8), None);
        assert_eq!(Priority::from_field(b"8"), None);
        assert_eq!(Priority::from_field(b"06"), None);
        assert!("warn".parse::<Priority>().is_err());
    }
}
