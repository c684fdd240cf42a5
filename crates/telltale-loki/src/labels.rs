//! Validated stream label sets, their selector rendering, and the Go-style string quoting LogQL uses.

use std::collections::BTreeMap;
use std::fmt;

use crate::Error;

/// Label limits checked before anything is sent.
///
/// The defaults are Loki's own (`pkg/validation/limits.go`): 15 names per series, names up to
/// 1024 bytes, values up to 2048 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelLimits {
    /// Loki's `max_label_names_per_series`.
    pub max_names: usize,
    /// Loki's `max_label_name_length`, in bytes.
    pub max_name_len: usize,
    /// Loki's `max_label_value_length`, in bytes.
    pub max_value_len: usize,
}

impl LabelLimits {
    /// No limits: for reading label sets someone else wrote, where limits are the server's business.
    pub const UNBOUNDED: LabelLimits = LabelLimits {
        max_names: usize::MAX,
        max_name_len: usize::MAX,
        max_value_len: usize::MAX,
    };
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_names: 15,
            max_name_len: 1024,
            max_value_len: 2048,
        }
    }
}

/// A stream's labels, validated against [`LabelLimits`] when built.
///
/// Names are kept sorted, which is the order Loki itself prints them in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet {
    labels: BTreeMap<String, String>,
}

impl LabelSet {
    /// Builds a label set with Loki's default limits.
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<LabelSet, Error>
    where
        K: Into<String>,
        V: Into<String>,
    {
        LabelSet::with_limits(pairs, LabelLimits::default())
    }

    /// Builds a label set, checking the given limits.
    pub fn with_limits<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
        limits: LabelLimits,
    ) -> Result<LabelSet, Error>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut labels = BTreeMap::new();
        for (name, value) in pairs {
            let name = name.into();
            let value = value.into();
            validate_name(&name, limits.max_name_len)?;
            if value.is_empty() {
                // Loki drops empty-valued labels, which would silently change the stream identity.
                return Err(Error::InvalidLabelValue {
                    name,
                    reason: "value is empty".into(),
                });
            }
            if value.len() > limits.max_value_len {
                return Err(Error::InvalidLabelValue {
                    name,
                    reason: format!(
                        "value is {} bytes; the limit is {}",
                        value.len(),
                        limits.max_value_len
                    ),
                });
            }
            if labels.insert(name.clone(), value).is_some() {
                return Err(Error::InvalidLabelName {
                    name,
                    reason: "name appears twice".into(),
                });
            }
        }
        if labels.is_empty() {
            return Err(Error::EmptyLabelSet);
        }
        if labels.len() > limits.max_names {
            return Err(Error::TooManyLabels {
                count: labels.len(),
                limit: limits.max_names,
            });
        }
        Ok(LabelSet { labels })
    }

    /// Parses Loki's text form, `{name="value", …}`, as found in push requests and error messages.
    pub fn parse(text: &str) -> Result<LabelSet, Error> {
        let pairs = parse_label_pairs(text)?;
        LabelSet::with_limits(pairs, LabelLimits::UNBOUNDED)
    }

    /// The value of one label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// Labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false: a label set is never empty. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether every label of `self` appears with the same value in `other`.
    pub fn is_subset_of(&self, other: &LabelSet) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| other.labels.get(k) == Some(v))
    }

    /// The exact-match stream selector, `{a="x", b="y"}`, with values escaped.
    pub fn selector(&self) -> String {
        self.to_string()
    }

    pub(crate) fn from_map_unchecked(labels: BTreeMap<String, String>) -> LabelSet {
        LabelSet { labels }
    }
}

impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (idx, (name, value)) in self.labels.iter().enumerate() {
            if idx > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
            f.write_str("=")?;
            f.write_str(&quote(value))?;
        }
        f.write_str("}")
    }
}

/// Checks a label name against Loki's rule `[a-zA-Z_][a-zA-Z0-9_]*` and a length limit.
pub(crate) fn validate_name(name: &str, max_len: usize) -> Result<(), Error> {
    let bad = |reason: &str| {
        Err(Error::InvalidLabelName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return bad("name is empty"),
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        Some(_) => return bad("must start with a letter or '_'"),
    }
    if let Some(pos) = name
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
    {
        let ch = name[pos..].chars().next().unwrap_or('?');
        return bad(&format!(
            "character {ch:?} at byte {pos} is not a letter, digit or '_'"
        ));
    }
    if name.len() > max_len {
        return bad(&format!(
            "name is {} bytes; the limit is {max_len}",
            name.len()
        ));
    }
    Ok(())
}

/// Quotes a string as a Go/LogQL double-quoted literal.
///
/// Loki unquotes label values and LogQL strings with Go's `strconv.Unquote`, so `\`, `"` and
/// control characters are escaped; every other character, ASCII or not, is written as UTF-8.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reverses [`quote`], and accepts every escape Go's `strconv.Unquote` accepts in a
/// double-quoted literal (or a backquoted raw literal).
pub fn unquote(literal: &str) -> Result<String, Error> {
    let mut parser = Parser {
        text: literal,
        pos: 0,
    };
    let value = parser.string()?;
    parser.skip_ws();
    if parser.pos != literal.len() {
        return Err(parser.error("trailing characters after the closing quote"));
    }
    Ok(value)
}

fn parse_label_pairs(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut parser = Parser { text, pos: 0 };
    parser.skip_ws();
    parser.expect('{')?;
    let mut pairs = Vec::new();
    loop {
        parser.skip_ws();
        if parser.eat('}') {
            break;
        }
        let name = parser.ident()?;
        parser.skip_ws();
        parser.expect('=')?;
        parser.skip_ws();
        let value = parser.string()?;
        pairs.push((name, value));
        parser.skip_ws();
        if parser.eat(',') {
            continue;
        }
        parser.expect('}')?;
        break;
    }
    parser.skip_ws();
    if parser.pos != text.len() {
        return Err(parser.error("trailing characters after '}'"));
    }
    Ok(pairs)
}

/// A tiny cursor over selector text, shared by label parsing and [`unquote`].
pub(crate) struct Parser<'a> {
    pub(crate) text: &'a str,
    pub(crate) pos: usize,
}

impl Parser<'_> {
    pub(crate) fn error(&self, reason: &str) -> Error {
        Error::InvalidSelector {
            offset: self.pos,
            reason: reason.to_owned(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.pos += 1;
        }
    }

    pub(crate) fn eat(&mut self, ch: char) -> bool {
        if self.peek() == Some(ch) {
            self.pos += ch.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, ch: char) -> Result<(), Error> {
        if self.eat(ch) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {ch:?}")))
        }
    }

    pub(crate) fn ident(&mut self) -> Result<String, Error> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected a label name"));
        }
        Ok(self.text[start..self.pos].to_owned())
    }

    pub(crate) fn string(&mut self) -> Result<String, Error> {
        match self.bump() {
            Some('"') => {}
            Some('`') => {
                let start = self.pos;
                let Some(len) = self.text[start..].find('`') else {
                    return Err(self.error("unterminated raw string"));
                };
                self.pos = start + len + 1;
                return Ok(self.text[start..start + len].to_owned());
            }
            _ => return Err(self.error("expected '\"' or '`'")),
        }
        let mut out = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(self.error("unterminated string")),
                Some('"') => return Ok(out),
                Some('\\') => self.escape(&mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let Some(ch) = self.bump() else {
            return Err(self.error("unterminated escape"));
        };
        let simple = match ch {
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{0b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            '\'' => Some('\''),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            return Ok(());
        }
        let (digits, radix) = match ch {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => {
                self.pos -= 1;
                (3, 8)
            }
            _ => return Err(self.error(&format!("unknown escape '\\{ch}'"))),
        };
        let start = self.pos;
        let end = start + digits;
        let Some(hex) = self.text.get(start..end) else {
            return Err(self.error("escape is cut short"));
        };
        let code =
            u32::from_str_radix(hex, radix).map_err(|_| self.error("escape has a bad digit"))?;
        self.pos = end;
        if ch == 'x' || radix == 8 {
            // Go writes \x and octal escapes as raw bytes; only ASCII ones form valid UTF-8 alone.
            if code > 0x7f {
                return Err(self.error("a byte escape above 0x7f is not valid UTF-8 on its own"));
            }
        }
        let Some(c) = char::from_u32(code) else {
            return Err(self.error("escape is not a Unicode scalar value"));
        };
        out.push(c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sorted_and_escaped() {
        let set = LabelSet::new([("job", "a\"b"), ("app", "x\\y\nz")]).unwrap();
        assert_eq!(set.selector(), r#"{app="x\\y\nz", job="a\"b"}"#);
    }

    #[test]
    fn parses_loki_error_text_form() {
        let set = LabelSet::parse(r#"{env="old", job="reftest", service_name="reftest"}"#).unwrap();
        assert_eq!(set.get("service_name"), Some("reftest"));
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn refuses_bad_names_with_position() {
        let err = LabelSet::new([("bad-name", "v")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid label name "bad-name": character '-' at byte 3 is not a letter, digit or '_'"#
        );
        assert!(matches!(
            LabelSet::new([("1x", "v")]),
            Err(Error::InvalidLabelName { .. })
        ));
        assert!(matches!(
            LabelSet::new([("", "v")]),
            Err(Error::InvalidLabelName { .. })
        ));
    }

    #[test]
    fn enforces_limits() {
        let many: Vec<_> = (0..16).map(|i| (format!("l{i}"), "v".to_owned())).collect();
        assert!(matches!(
            LabelSet::new(many),
            Err(Error::TooManyLabels {
                count: 16,
                limit: 15
            })
        ));
        let long = "v".repeat(2049);
        assert!(matches!(
            LabelSet::new([("big", long)]),
            Err(Error::InvalidLabelValue { .. })
        ));
        assert!(matches!(
            LabelSet::new([("empty", "")]),
            Err(Error::InvalidLabelValue { .. })
        ));
        assert!(matches!(
            LabelSet::new(Vec::<(String, String)>::new()),
            Err(Error::EmptyLabelSet)
        ));
    }

    #[test]
    fn unquote_accepts_go_escapes() {
        assert_eq!(
            unquote(r#""a\x41\u00e9\U0001F600\101\t""#).unwrap(),
            "aAé😀A\t"
        );
        assert_eq!(unquote("`raw \\n`").unwrap(), "raw \\n");
        assert!(unquote(r#""\q""#).is_err());
        assert!(unquote(r#""open"#).is_err());
    }
}
