//! The single-pass parser for both formats: a byte cursor over the body that builds families
//! as it goes and checks each family's invariants when the next one starts.
//!
//! Grammar sources: Prometheus `model/textparse/promlex.l` and `promparse.go` (text 0.0.4),
//! `openmetricslex.l` and `openmetricsparse.go` (OpenMetrics), the text format document
//! (`docs/instrumenting/exposition_formats.md`) and the OpenMetrics 1.0 specification and its
//! ABNF. Where Prometheus accepts something those documents forbid, this parser follows the
//! documents; each such place says so.

use std::borrow::Cow;
use std::collections::HashMap;

use super::group::{self, Role, Special, ALL_SUFFIXES};
use super::model::{Exemplar, Exposition, Format, MetricFamily, MetricType, Sample};
use super::number;
use super::render;
use crate::Error;

/// An error at a byte offset, turned into a line and column only when reported.
#[derive(Debug)]
pub(crate) struct PErr {
    pub(crate) at: usize,
    pub(crate) reason: String,
}

type PResult<T> = Result<T, PErr>;

fn fail<T>(at: usize, reason: impl Into<String>) -> PResult<T> {
    Err(PErr {
        at,
        reason: reason.into(),
    })
}

impl PErr {
    pub(crate) fn into_error(self, src: &str) -> Error {
        let (line, column) = position(src, self.at);
        Error::Parse {
            line,
            column,
            reason: self.reason,
        }
    }
}

/// The 1-based line and column (in characters) of a byte offset.
pub(crate) fn position(src: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let before = &src[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|&c| c == b'\n').count() + 1;
    (line, src[line_start..at].chars().count() + 1)
}

/// Parses a whole body.
pub(crate) fn parse(src: &str, format: Format) -> Result<Exposition, Error> {
    let mut parser = Parser::new(src, format);
    match parser.run() {
        Ok(()) => Ok(Exposition {
            format,
            families: parser.families,
        }),
        Err(e) => Err(e.into_error(src)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    Help,
    Type,
    Unit,
}

impl Meta {
    fn word(self) -> &'static str {
        match self {
            Meta::Help => "HELP",
            Meta::Type => "TYPE",
            Meta::Unit => "UNIT",
        }
    }
}

/// Which metadata lines the current family has had.
#[derive(Debug, Default)]
struct Seen {
    help: bool,
    kind: bool,
    unit: bool,
}

/// Where a sample's parts are, for errors found after the line was read.
#[derive(Debug, Clone, Copy)]
struct At {
    line: usize,
    name: usize,
    value: usize,
    timestamp: usize,
    special: usize,
    exemplar: usize,
}

/// What a quoted string is, for the message when it is not closed.
#[derive(Clone, Copy)]
enum Quoted<'n> {
    MetricName,
    LabelName,
    LabelValue(&'n str),
}

impl Quoted<'_> {
    fn describe(self) -> String {
        match self {
            Quoted::MetricName => "quoted metric name".to_owned(),
            Quoted::LabelName => "quoted label name".to_owned(),
            Quoted::LabelValue(name) => format!("value of label {name:?}"),
        }
    }
}

fn is_metric_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_metric_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn is_label_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    om: bool,
    format: Format,
    families: Vec<MetricFamily>,
    /// Family name to index, for interleaving and clash checks.
    names: HashMap<String, usize>,
    /// The metadata state of the last family, while it can still take lines.
    seen: Option<Seen>,
    /// Per sample of the current family: positions, roles and special labels.
    at: Vec<At>,
    roles: Vec<Role>,
    specials: Vec<Special>,
    /// Per label of the sample being read: where its name and opening quote are.
    label_at: Vec<(usize, usize)>,
    /// How many labels the previous sample had.
    label_hint: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, format: Format) -> Parser<'a> {
        Parser {
            src,
            b: src.as_bytes(),
            pos: 0,
            om: format == Format::OpenMetrics1,
            format,
            families: Vec::new(),
            names: HashMap::new(),
            seen: None,
            at: Vec::new(),
            roles: Vec::new(),
            specials: Vec::new(),
            label_at: Vec::new(),
            label_hint: 0,
        }
    }

    fn run(&mut self) -> PResult<()> {
        if self.src.starts_with('\u{feff}') {
            return fail(
                0,
                "the body starts with a byte order mark (U+FEFF), which is not allowed",
            );
        }
        loop {
            if self.pos >= self.b.len() {
                if self.om {
                    return fail(self.pos, "missing # EOF at the end of the exposition");
                }
                break;
            }
            if self.om {
                if self.b[self.pos] == b'#' {
                    if self.om_hash_line()? {
                        break;
                    }
                } else {
                    let line = self.pos;
                    self.sample_line(line)?;
                }
            } else {
                self.text_line()?;
            }
        }
        self.finish_family()
    }

    // ---- small cursor helpers ----

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Describes the character at `at` for a message: `'x'`, `end of line`, `end of input`.
    fn describe(&self, at: usize) -> String {
        match self.src.get(at..).and_then(|s| s.chars().next()) {
            None => "end of input".to_owned(),
            Some('\n') => "end of line".to_owned(),
            Some(c) => format!("{c:?}"),
        }
    }

    /// Text format: skips blanks and tabs. OpenMetrics allows no optional whitespace.
    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        if !self.om {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
        }
        self.pos > start
    }

    /// The error for input ending inside a line.
    fn unterminated<T>(&self, at: usize) -> PResult<T> {
        if self.om {
            fail(at, "missing # EOF at the end of the exposition")
        } else {
            fail(at, "the last line does not end with a line feed")
        }
    }

    fn crlf<T>(at: usize) -> PResult<T> {
        fail(
            at,
            "carriage return before the line feed: lines must end with \\n alone",
        )
    }

    /// Expects the end of the line at the cursor and steps past it.
    fn end_of_line(&mut self, after: &str) -> PResult<()> {
        self.skip_blanks();
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                Ok(())
            }
            None => self.unterminated(self.pos),
            Some(b'\r') if self.b.get(self.pos + 1) == Some(&b'\n') => Self::crlf(self.pos),
            Some(_) => fail(
                self.pos,
                format!("unexpected {} after {after}", self.describe(self.pos)),
            ),
        }
    }

    /// The end of a space-separated token starting at the cursor (text: blank or tab).
    fn token_end(&self) -> usize {
        let mut i = self.pos;
        if self.om {
            while i < self.b.len() && self.b[i] != b' ' && self.b[i] != b'\n' {
                i += 1;
            }
        } else {
            while i < self.b.len() && !matches!(self.b[i], b' ' | b'\t' | b'\n') {
                i += 1;
            }
        }
        i
    }

    /// Reads a token; a `\r` that ends the line is reported as such.
    fn token(&mut self) -> PResult<(usize, &'a str)> {
        let start = self.pos;
        let end = self.token_end();
        if end > start && self.b[end - 1] == b'\r' && self.b.get(end) == Some(&b'\n') {
            return Self::crlf(end - 1);
        }
        self.pos = end;
        Ok((start, &self.src[start..end]))
    }

    fn find_line_end(&self, from: usize) -> Option<usize> {
        self.b[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|i| from + i)
    }

    fn identifier(&mut self, start: fn(u8) -> bool, rest: fn(u8) -> bool) -> Option<&'a str> {
        let begin = self.pos;
        if !self.peek().is_some_and(start) {
            return None;
        }
        self.pos += 1;
        while self.peek().is_some_and(rest) {
            self.pos += 1;
        }
        Some(&self.src[begin..self.pos])
    }

    /// Reads a double-quoted string at the cursor, unescaping `\\`, `\"` and `\n`.
    ///
    /// Any other escape is kept as written (`\z` stays `\z`), as Prometheus' `lvalReplacer`
    /// does and as the OpenMetrics ABNF (`BS normal-char`) allows. A raw line feed ends the
    /// string with an error: OpenMetrics forbids it, and the text format says line feeds must
    /// be escaped (Prometheus' text lexer lets a raw one through; this parser does not).
    fn quoted(&mut self, what: Quoted<'_>) -> PResult<Cow<'a, str>> {
        let open = self.pos;
        let start = open + 1;
        let mut i = start;
        let b = self.b;
        loop {
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.src[start..i]));
                }
                Some(b'\\') => break,
                Some(b'\n') | None => {
                    return fail(
                        open,
                        format!(
                            "{} has no closing '\"' before the end of the line",
                            what.describe()
                        ),
                    )
                }
                Some(_) => i += 1,
            }
        }
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.src[start..i]);
        let mut run = i;
        loop {
            match b.get(i) {
                Some(b'"') => {
                    out.push_str(&self.src[run..i]);
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    out.push_str(&self.src[run..i]);
                    match b.get(i + 1) {
                        Some(b'\\') => out.push('\\'),
                        Some(b'"') => out.push('"'),
                        Some(b'n') => out.push('\n'),
                        Some(b'\n') | None => {
                            return fail(
                                i,
                                format!(
                                    "{} ends in a backslash at the end of the line",
                                    what.describe()
                                ),
                            )
                        }
                        Some(_) => {
                            out.push('\\');
                            i += 1;
                            run = i;
                            continue;
                        }
                    }
                    i += 2;
                    run = i;
                }
                Some(b'\n') | None => {
                    return fail(
                        open,
                        format!(
                            "{} has no closing '\"' before the end of the line",
                            what.describe()
                        ),
                    )
                }
                Some(_) => i += 1,
            }
        }
    }

    // ---- lines ----

    /// One text-format line: blank, comment, metadata or sample.
    fn text_line(&mut self) -> PResult<()> {
        let line = self.pos;
        self.skip_blanks();
        match self.peek() {
            None => self.unterminated(self.pos),
            Some(b'\n') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'\r') if self.b.get(self.pos + 1) == Some(&b'\n') => Self::crlf(self.pos),
            Some(b'#') => self.text_comment(line),
            Some(_) => self.sample_line(line),
        }
    }

    /// A text-format line starting with `#`: `# HELP`/`# TYPE` (as `promlex.l` reads them:
    /// `#`, blanks, the word, blanks) or a comment, which is skipped.
    fn text_comment(&mut self, line: usize) -> PResult<()> {
        self.pos += 1;
        if self.skip_blanks() {
            let rest = &self.b[self.pos..];
            let meta = if rest.starts_with(b"HELP") {
                Some(Meta::Help)
            } else if rest.starts_with(b"TYPE") {
                Some(Meta::Type)
            } else {
                None
            };
            if let Some(meta) = meta {
                if matches!(rest.get(4), Some(b' ' | b'\t')) {
                    self.pos += 4;
                    self.skip_blanks();
                    return self.metadata_line(meta, line);
                }
            }
        }
        let Some(end) = self.find_line_end(self.pos) else {
            return self.unterminated(self.b.len());
        };
        if end > line && self.b[end - 1] == b'\r' {
            return Self::crlf(end - 1);
        }
        self.pos = end + 1;
        Ok(())
    }

    /// An OpenMetrics line starting with `#`. Returns whether it was `# EOF`.
    fn om_hash_line(&mut self) -> PResult<bool> {
        let line = self.pos;
        let rest = &self.b[line..];
        if rest.starts_with(b"# EOF") {
            let after = line + 5;
            return match self.b.get(after) {
                None => {
                    self.pos = after;
                    Ok(true)
                }
                Some(b'\n') if after + 1 == self.b.len() => {
                    self.pos = after + 1;
                    Ok(true)
                }
                Some(b'\n') => fail(after + 1, "content after # EOF"),
                Some(_) => fail(after, "content after # EOF"),
            };
        }
        for (word, meta) in [
            (&b"# HELP"[..], Meta::Help),
            (b"# TYPE", Meta::Type),
            (b"# UNIT", Meta::Unit),
        ] {
            if rest.starts_with(word) {
                if rest.get(6) != Some(&b' ') {
                    return fail(
                        line + 6,
                        format!(
                            "expected ' ' and a metric name after # {}, found {}",
                            meta.word(),
                            self.describe(line + 6)
                        ),
                    );
                }
                self.pos = line + 7;
                return self.metadata_line(meta, line).map(|()| false);
            }
        }
        fail(
            line,
            "OpenMetrics has no comments: a line starting with '#' must be # HELP, # TYPE, # UNIT or # EOF",
        )
    }

    /// The rest of a `# HELP`, `# TYPE` or `# UNIT` line, from the metric name on.
    fn metadata_line(&mut self, meta: Meta, line: usize) -> PResult<()> {
        let name_at = self.pos;
        let name: Cow<'a, str> = match self.peek() {
            Some(b'"') => {
                let name = self.quoted(Quoted::MetricName)?;
                if name.is_empty() {
                    return fail(name_at, "empty metric name");
                }
                name
            }
            _ => match self.identifier(is_metric_start, is_metric_char) {
                Some(name) => Cow::Borrowed(name),
                None => {
                    return fail(
                        name_at,
                        format!(
                            "expected a metric name after # {}, found {}",
                            meta.word(),
                            self.describe(name_at)
                        ),
                    )
                }
            },
        };
        let what = match meta {
            Meta::Help => "help text",
            Meta::Type => "a type",
            Meta::Unit => "a unit",
        };
        // One separator, then the rest of the line (text: Prometheus strips exactly one
        // blank or tab and keeps the rest, trailing blanks included).
        let text_at = match self.peek() {
            Some(b' ') => self.pos + 1,
            Some(b'\t') if !self.om => self.pos + 1,
            Some(b'\n') if !self.om => self.pos,
            None => return self.unterminated(self.pos),
            Some(_) => {
                return fail(
                    self.pos,
                    format!(
                        "expected ' ' and {what} after metric name {name:?}, found {}",
                        self.describe(self.pos)
                    ),
                )
            }
        };
        let Some(end) = self.find_line_end(text_at) else {
            return self.unterminated(self.b.len());
        };
        if end > text_at && self.b[end - 1] == b'\r' {
            return Self::crlf(end - 1);
        }
        let text = &self.src[text_at..end];
        self.pos = end + 1;
        self.metadata(meta, name, line, text, text_at)
    }

    /// Attaches one metadata line to its family, starting the family if it is new.
    fn metadata(
        &mut self,
        meta: Meta,
        name: Cow<'a, str>,
        line: usize,
        text: &'a str,
        text_at: usize,
    ) -> PResult<()> {
        let current = self.seen.is_some()
            && self
                .families
                .last()
                .is_some_and(|f| f.name.as_str() == name.as_ref());
        if current {
            let family = self.families.last().expect("current family");
            if !family.samples.is_empty() {
                return fail(
                    line,
                    format!(
                        "# {} line for metric family {name:?} comes after its samples; metadata must come first",
                        meta.word()
                    ),
                );
            }
            let seen = self.seen.as_ref().expect("current family");
            let repeated = match meta {
                Meta::Help => seen.help,
                Meta::Type => seen.kind,
                Meta::Unit => seen.unit,
            };
            if repeated {
                return fail(
                    line,
                    format!("second # {} line for metric family {name:?}", meta.word()),
                );
            }
        } else {
            if self.names.contains_key(name.as_ref()) {
                let between = self.families.last().map_or("", |f| f.name.as_str());
                return fail(
                    line,
                    format!("metric family {name:?} is interleaved with {between:?}"),
                );
            }
            self.finish_family()?;
            self.start_family(name.into_owned(), line)?;
        }
        let om = self.om;
        let format = self.format;
        let family = self.families.last_mut().expect("current family");
        let seen = self.seen.as_mut().expect("current family");
        match meta {
            Meta::Help => {
                seen.help = true;
                let help = unescape_help(text, om);
                family.help = if om && help.is_empty() {
                    None
                } else {
                    Some(help.into_owned())
                };
            }
            Meta::Type => {
                seen.kind = true;
                let Some(kind) = MetricType::parse(text, format) else {
                    let known = if om {
                        "counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"
                    } else {
                        "counter, gauge, histogram, summary or untyped"
                    };
                    return fail(
                        text_at,
                        format!("unknown metric type {text:?}; expected {known}"),
                    );
                };
                family.kind = kind;
                if om {
                    if family.unit.is_some()
                        && matches!(kind, MetricType::Info | MetricType::StateSet)
                    {
                        return fail(
                            line,
                            format!(
                                "metric family {:?} is of type {} and has a unit; {} families must have none",
                                family.name,
                                kind.as_str(format),
                                kind.as_str(format)
                            ),
                        );
                    }
                    self.check_type_clash(line)?;
                }
            }
            Meta::Unit => {
                seen.unit = true;
                if let Some(bad) = text.bytes().position(|c| !is_metric_char(c)) {
                    let c = text[bad..].chars().next().unwrap_or('?');
                    return fail(
                        text_at + bad,
                        format!("invalid character {c:?} in unit {text:?}"),
                    );
                }
                if text.is_empty() {
                    family.unit = None;
                    return Ok(());
                }
                let name = family.name.as_str();
                let suffixed = name.len() > text.len()
                    && name.ends_with(text)
                    && name.as_bytes()[name.len() - text.len() - 1] == b'_';
                if !suffixed {
                    return fail(
                        text_at,
                        format!(
                            "unit {text:?} is not a suffix of metric family name {name:?} (it must end in \"_{text}\")"
                        ),
                    );
                }
                if matches!(family.kind, MetricType::Info | MetricType::StateSet) {
                    return fail(
                        text_at,
                        format!(
                            "metric family {name:?} is of type {} and has a unit; {} families must have none",
                            family.kind.as_str(format),
                            family.kind.as_str(format)
                        ),
                    );
                }
                family.unit = Some(text.to_owned());
            }
        }
        Ok(())
    }

    /// Starts a new family (type unknown until a `# TYPE` says otherwise).
    fn start_family(&mut self, name: String, line: usize) -> PResult<()> {
        if self.om {
            // OpenMetrics, "Suffixes": a family's name must not be a sample name another
            // family can produce (a gauge `a_created` next to a counter `a`).
            for suffix in ALL_SUFFIXES {
                let Some(base) = name.strip_suffix(suffix) else {
                    continue;
                };
                if let Some(&i) = self.names.get(base) {
                    let other = &self.families[i];
                    if group::role_of(other.kind, true, suffix).is_some() {
                        return fail(
                            line,
                            format!(
                                "metric family {name:?} clashes with {} {base:?}, whose samples can be named {name:?}",
                                other.kind.as_str(self.format)
                            ),
                        );
                    }
                }
            }
        }
        self.names.insert(name.clone(), self.families.len());
        self.families
            .push(MetricFamily::new(name, MetricType::Unknown));
        self.seen = Some(Seen::default());
        Ok(())
    }

    /// OpenMetrics: once the current family has a type, none of its sample names may be the
    /// name of an earlier family.
    fn check_type_clash(&self, line: usize) -> PResult<()> {
        let family = self.families.last().expect("current family");
        for suffix in group::suffixes(family.kind, true) {
            if suffix.is_empty() {
                continue;
            }
            let sample_name = format!("{}{suffix}", family.name);
            if self.names.contains_key(&sample_name) {
                return fail(
                    line,
                    format!(
                        "metric family {:?} ({}) clashes with metric family {sample_name:?}: its samples can be named {sample_name:?}",
                        family.name,
                        family.kind.as_str(self.format)
                    ),
                );
            }
        }
        Ok(())
    }

    /// One sample line, from the metric name (or `{`) on.
    fn sample_line(&mut self, line: usize) -> PResult<()> {
        let name_at = self.pos;
        let mut name: Option<(Cow<'a, str>, usize)> = self
            .identifier(is_metric_start, is_metric_char)
            .map(|n| (Cow::Borrowed(n), name_at));
        if name.is_none() && self.peek() != Some(b'{') {
            let expected = if self.om {
                "a metric name, '{' or '#'"
            } else {
                "a metric name, '{', '#' or a blank line"
            };
            return fail(
                name_at,
                format!(
                    "expected {expected} at the start of a line, found {}",
                    self.describe(name_at)
                ),
            );
        }
        let blanks = name.is_some() && self.skip_blanks();
        let mut labels = Vec::new();
        let braces = self.peek() == Some(b'{');
        if braces {
            labels = self.labels(Some(&mut name))?;
        } else {
            self.label_at.clear();
        }
        let Some((name, name_at)) = name else {
            return fail(
                name_at,
                "the sample has no metric name: give it before '{' or quoted as the first item inside the braces",
            );
        };
        // The value, after a separator (the text format takes none after '}').
        if self.om {
            match self.peek() {
                Some(b' ') => self.pos += 1,
                None => return self.unterminated(self.pos),
                Some(_) => {
                    let after = if braces {
                        "the labels".to_owned()
                    } else {
                        format!("metric name {name:?}")
                    };
                    return fail(
                        self.pos,
                        format!(
                            "expected ' ' and a value after {after}, found {}",
                            self.describe(self.pos)
                        ),
                    );
                }
            }
        } else {
            let more = self.skip_blanks();
            if !(braces || blanks || more) {
                return fail(
                    self.pos,
                    format!(
                        "unexpected {} after metric name {name:?}",
                        self.describe(self.pos)
                    ),
                );
            }
        }
        let (value_at, value_text) = self.token()?;
        if value_text.is_empty() {
            return match self.peek() {
                None => self.unterminated(self.pos),
                _ => fail(
                    value_at,
                    format!(
                        "expected a value for {name:?}, found {}",
                        self.describe(value_at)
                    ),
                ),
            };
        }
        let value = number::parse_value(value_text).map_err(|reason| PErr {
            at: value_at,
            reason,
        })?;
        let mut at = At {
            line,
            name: name_at,
            value: value_at,
            timestamp: value_at,
            special: line,
            exemplar: line,
        };
        let mut timestamp_ms = None;
        let mut exemplar = None;
        if self.om {
            self.om_line_rest(&mut at, &mut timestamp_ms, &mut exemplar)?;
        } else {
            self.skip_blanks();
            let at_line_end = match self.peek() {
                Some(b'\n') | None => true,
                Some(b'\r') => self.b.get(self.pos + 1) == Some(&b'\n'),
                Some(_) => false,
            };
            if !at_line_end {
                let (ts_at, ts) = self.token()?;
                if ts.starts_with('#') {
                    return fail(
                        ts_at,
                        "exemplars (' # {…} value') exist only in OpenMetrics, not in text 0.0.4",
                    );
                }
                at.timestamp = ts_at;
                timestamp_ms = Some(
                    number::parse_text_timestamp(ts)
                        .map_err(|reason| PErr { at: ts_at, reason })?,
                );
                self.end_of_line("the timestamp")?;
            } else {
                self.end_of_line("the value")?;
            }
        }
        let sample = Sample {
            name: name.into_owned(),
            labels,
            value,
            timestamp_ms,
            exemplar,
        };
        self.add_sample(sample, at)
    }

    /// OpenMetrics: after the value, `[SP timestamp] [SP # SP exemplar] LF`.
    fn om_line_rest(
        &mut self,
        at: &mut At,
        timestamp_ms: &mut Option<i64>,
        exemplar: &mut Option<Exemplar>,
    ) -> PResult<()> {
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                return Ok(());
            }
            Some(b' ') => self.pos += 1,
            None => return self.unterminated(self.pos),
            Some(_) => {
                return fail(
                    self.pos,
                    format!("unexpected {} after the value", self.describe(self.pos)),
                )
            }
        }
        if self.peek() != Some(b'#') {
            let (ts_at, ts) = self.token()?;
            if ts.is_empty() {
                return fail(
                    ts_at,
                    format!(
                        "expected a timestamp or '# ' and an exemplar after ' ', found {}",
                        self.describe(ts_at)
                    ),
                );
            }
            at.timestamp = ts_at;
            *timestamp_ms =
                Some(number::parse_om_timestamp(ts).map_err(|reason| PErr { at: ts_at, reason })?);
            match self.peek() {
                Some(b'\n') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b' ') if self.b.get(self.pos + 1) == Some(&b'#') => self.pos += 1,
                None => return self.unterminated(self.pos),
                Some(_) => {
                    let at = self.pos + usize::from(self.peek() == Some(b' '));
                    return fail(
                        at,
                        format!("unexpected {} after the timestamp", self.describe(at)),
                    );
                }
            }
        }
        // The exemplar: `# {labels} value [timestamp]`.
        at.exemplar = self.pos;
        if !self.b[self.pos..].starts_with(b"# {") {
            return fail(
                self.pos,
                "expected an exemplar, '# {labels} value [timestamp]', after ' #'",
            );
        }
        self.pos += 2;
        let labels = self.labels(None)?;
        let length: usize = labels
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum();
        if length > 128 {
            return fail(
                at.exemplar,
                format!(
                    "exemplar labels are {length} characters long; OpenMetrics allows at most 128"
                ),
            );
        }
        if self.peek() != Some(b' ') {
            return fail(
                self.pos,
                format!(
                    "expected ' ' and a value after the exemplar's labels, found {}",
                    self.describe(self.pos)
                ),
            );
        }
        self.pos += 1;
        let (value_at, value_text) = self.token()?;
        if value_text.is_empty() {
            return fail(
                value_at,
                format!(
                    "expected the exemplar's value, found {}",
                    self.describe(value_at)
                ),
            );
        }
        let value = number::parse_value(value_text).map_err(|reason| PErr {
            at: value_at,
            reason: format!("exemplar: {reason}"),
        })?;
        let mut ts = None;
        if self.peek() == Some(b' ') {
            self.pos += 1;
            let (ts_at, text) = self.token()?;
            if text.is_empty() {
                return fail(
                    ts_at,
                    format!(
                        "expected the exemplar's timestamp after ' ', found {}",
                        self.describe(ts_at)
                    ),
                );
            }
            ts = Some(number::parse_om_timestamp(text).map_err(|reason| PErr {
                at: ts_at,
                reason: format!("exemplar: {reason}"),
            })?);
        }
        match self.peek() {
            Some(b'\n') => self.pos += 1,
            None => return self.unterminated(self.pos),
            Some(_) => {
                return fail(
                    self.pos,
                    format!("unexpected {} after the exemplar", self.describe(self.pos)),
                )
            }
        }
        *exemplar = Some(Exemplar {
            labels,
            value,
            timestamp_ms: ts,
        });
        Ok(())
    }

    /// Reads `{…}` at the cursor. `metric_name` is `None` for an exemplar's labels (which
    /// cannot carry a quoted metric name) and otherwise the name read before the braces.
    fn labels(
        &mut self,
        mut metric_name: Option<&mut Option<(Cow<'a, str>, usize)>>,
    ) -> PResult<Vec<(String, String)>> {
        self.pos += 1; // '{'
                       // Label positions are kept for the sample's own labels, not an exemplar's.
        let record = metric_name.is_some();
        if record {
            self.label_at.clear();
        }
        // Sized like the previous sample's labels: exact for the usual family of alike series.
        let mut labels: Vec<(String, String)> =
            Vec::with_capacity(if record { self.label_hint } else { 0 });
        let mut after_comma = false;
        let mut first = true;
        loop {
            self.skip_blanks();
            let name_at = self.pos;
            let name: Cow<'a, str> = match self.peek() {
                Some(b'}') => {
                    if after_comma && self.om {
                        return fail(
                            name_at - 1,
                            "trailing ',' before '}': OpenMetrics does not allow it",
                        );
                    }
                    self.pos += 1;
                    if record {
                        self.label_hint = labels.len();
                    }
                    return Ok(labels);
                }
                Some(b'"') => {
                    let quoted = self.quoted(Quoted::LabelName)?;
                    self.skip_blanks();
                    if matches!(self.peek(), Some(b',' | b'}')) {
                        // `{"metric.name", …}`: a quoted metric name.
                        let Some(slot) = metric_name.as_deref_mut() else {
                            return fail(
                                self.pos,
                                format!(
                                    "expected '=' after label name {quoted:?}, found {}",
                                    self.describe(self.pos)
                                ),
                            );
                        };
                        if let Some((outside, _)) = slot {
                            return fail(
                                name_at,
                                format!(
                                    "metric name given twice: {outside:?} before the braces and {quoted:?} inside"
                                ),
                            );
                        }
                        if !first {
                            return fail(
                                name_at,
                                "a quoted metric name must be the first item inside the braces",
                            );
                        }
                        if quoted.is_empty() {
                            return fail(name_at, "empty metric name");
                        }
                        *slot = Some((quoted, name_at));
                        first = false;
                        if self.peek() == Some(b',') {
                            self.pos += 1;
                            after_comma = true;
                        } else {
                            after_comma = false;
                        }
                        continue;
                    }
                    if quoted.is_empty() {
                        return fail(name_at, "empty label name");
                    }
                    quoted
                }
                Some(c) if is_label_start(c) => Cow::Borrowed(
                    self.identifier(is_label_start, is_label_char)
                        .expect("label start"),
                ),
                Some(b',') => return fail(name_at, "unexpected ',': expected a label name or '}'"),
                _ => {
                    return fail(
                        name_at,
                        format!(
                            "expected a label name or '}}', found {}",
                            self.describe(name_at)
                        ),
                    )
                }
            };
            first = false;
            self.skip_blanks();
            if self.peek() != Some(b'=') {
                return fail(
                    self.pos,
                    format!(
                        "expected '=' after label name {name:?}, found {}",
                        self.describe(self.pos)
                    ),
                );
            }
            self.pos += 1;
            self.skip_blanks();
            if self.peek() != Some(b'"') {
                return fail(
                    self.pos,
                    format!(
                        "expected '\"' to open the value of label {name:?}, found {}",
                        self.describe(self.pos)
                    ),
                );
            }
            let value_at = self.pos;
            let value = self.quoted(Quoted::LabelValue(&name))?;
            if labels.iter().any(|(k, _)| k.as_str() == name.as_ref()) {
                return fail(name_at, format!("duplicate label {name:?}"));
            }
            if record {
                self.label_at.push((name_at, value_at));
            }
            self.skip_blanks();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    after_comma = true;
                }
                Some(b'}') => {
                    self.pos += 1;
                    labels.push((name.into_owned(), value.into_owned()));
                    if record {
                        self.label_hint = labels.len();
                    }
                    return Ok(labels);
                }
                _ => {
                    return fail(
                        self.pos,
                        format!(
                            "expected ',' or '}}' after the value of label {name:?}, found {}",
                            self.describe(self.pos)
                        ),
                    )
                }
            }
            labels.push((name.into_owned(), value.into_owned()));
        }
    }

    // ---- families ----

    /// Finds the sample's family (starting a new one if needed) and its role there.
    fn place(&mut self, name: &str, at: &At) -> PResult<Role> {
        if self.seen.is_some() {
            let family = self.families.last().expect("current family");
            if let Some(suffix) = name.strip_prefix(family.name.as_str()) {
                if let Some(role) = group::role_of(family.kind, self.om, suffix) {
                    return Ok(role);
                }
                if suffix.is_empty() {
                    return fail(at.name, naming_rule(family, self.om));
                }
            }
        }
        let between = self.families.last().map_or("", |f| f.name.as_str());
        if self.names.contains_key(name) {
            return fail(
                at.name,
                format!("metric family {name:?} is interleaved with {between:?}"),
            );
        }
        for suffix in ALL_SUFFIXES {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(&i) = self.names.get(base) {
                    if group::role_of(self.families[i].kind, self.om, suffix).is_some() {
                        return fail(
                            at.name,
                            format!(
                                "metric family {base:?} is interleaved with {between:?} (sample {name:?} belongs to {base:?})"
                            ),
                        );
                    }
                }
            }
        }
        self.finish_family()?;
        self.start_family(name.to_owned(), at.line)?;
        Ok(Role::Value)
    }

    /// Adds a sample to its family after the checks that need only the sample itself.
    fn add_sample(&mut self, sample: Sample, mut at: At) -> PResult<()> {
        let role = self.place(&sample.name, &at)?;
        let family = self.families.last().expect("current family");
        let kind = family.kind;
        let special_label = match role {
            Role::Bucket => Some("le"),
            Role::Quantile => Some("quantile"),
            Role::State => Some(family.name.as_str()),
            _ => None,
        };
        let mut special = Special::NONE;
        if let Some(label) = special_label {
            let Some(i) = sample.labels.iter().position(|(k, _)| k == label) else {
                let reason = match role {
                    Role::Bucket => {
                        format!("histogram bucket {:?} has no \"le\" label", sample.name)
                    }
                    Role::Quantile => {
                        format!("summary sample {:?} has no \"quantile\" label", sample.name)
                    }
                    _ => format!(
                        "stateset sample {:?} has no {label:?} label naming its state",
                        sample.name
                    ),
                };
                return fail(at.name, reason);
            };
            special.label = Some(i as u32);
            at.special = self.label_at[i].1 + 1;
            if role != Role::State {
                let text = sample.labels[i].1.as_str();
                let parsed = if self.om {
                    number::parse_om_threshold(text)
                } else {
                    number::parse_value(text)
                };
                let num = parsed.map_err(|reason| PErr {
                    at: at.special,
                    reason: format!("{label:?} label: {reason}"),
                })?;
                if num.is_nan() {
                    return fail(at.special, format!("{label:?} label is NaN"));
                }
                if role == Role::Quantile && !(0.0..=1.0).contains(&num) {
                    return fail(at.special, format!("quantile {text:?} is outside [0, 1]"));
                }
                special.num = num;
            }
        }
        let forbidden = match (kind, role) {
            (MetricType::Histogram | MetricType::GaugeHistogram, r) if r != Role::Bucket => {
                Some(("le", "_bucket"))
            }
            (MetricType::Summary, r) if r != Role::Quantile => Some(("quantile", "")),
            _ => None,
        };
        if let Some((label, on)) = forbidden {
            if let Some(i) = sample.labels.iter().position(|(k, _)| k == label) {
                return fail(
                    self.label_at[i].0,
                    format!(
                        "{label:?} label on {:?}: only {:?} samples of {} {:?} have one",
                        sample.name,
                        format!("{}{on}", family.name),
                        kind.as_str(self.format),
                        family.name
                    ),
                );
            }
        }
        if self.om {
            if let Some(reason) = om_value_rule(family, kind, role, sample.value) {
                return fail(at.value, reason);
            }
            if sample.exemplar.is_some() && !role.allows_exemplar() {
                return fail(
                    at.exemplar,
                    format!(
                        "exemplars are allowed only on counter _total and histogram _bucket samples, not on {:?}",
                        sample.name
                    ),
                );
            }
        }
        self.families
            .last_mut()
            .expect("current family")
            .samples
            .push(sample);
        self.at.push(at);
        self.roles.push(role);
        self.specials.push(special);
        Ok(())
    }

    /// Checks the current family as a whole and closes it.
    fn finish_family(&mut self) -> PResult<()> {
        if self.seen.take().is_none() {
            return Ok(());
        }
        let result = self.check_family();
        self.at.clear();
        self.roles.clear();
        self.specials.clear();
        result
    }

    fn line_of(&self, at: usize) -> usize {
        position(self.src, at).0
    }

    fn series(&self, i: usize) -> String {
        let family = self.families.last().expect("current family");
        let s = &family.samples[i];
        let mut out = String::new();
        render::write_series(&mut out, &s.name, &s.labels);
        out
    }

    /// The family-level rules: metrics and points not interleaved (OpenMetrics), no duplicate
    /// series, histogram and summary structure.
    fn check_family(&self) -> PResult<()> {
        let family = self.families.last().expect("current family");
        if family.samples.is_empty() {
            return Ok(());
        }
        let samples = &family.samples;
        let grouped = group::group(samples, &self.roles, &self.specials);
        if self.om {
            if let Some(i) = grouped.interleaved_at {
                return fail(
                    self.at[i].line,
                    format!(
                        "{} is interleaved with other metrics of family {:?}; a metric's samples must be together",
                        self.series(i),
                        family.name
                    ),
                );
            }
        }
        let mut previous: Option<group::Point<'_>> = None;
        for point in grouped.points() {
            if let Some(prev) = previous.as_ref().filter(|p| p.metric == point.metric) {
                self.check_repeat(prev, &point)?;
            }
            if self.om {
                let first = point.samples[0] as usize;
                let ts = samples[first].timestamp_ms;
                for &i in &point.samples[1..] {
                    let i = i as usize;
                    if samples[i].timestamp_ms != ts {
                        return fail(
                            self.at[i].line,
                            format!(
                                "{} has timestamp {} but its metric point began on line {} with {}; samples of one point share a timestamp and points must not be interleaved",
                                self.series(i),
                                show_ts(samples[i].timestamp_ms),
                                self.line_of(self.at[first].line),
                                show_ts(ts)
                            ),
                        );
                    }
                }
            }
            self.check_point(&point)?;
            previous = Some(point);
        }
        Ok(())
    }

    /// A metric's point that repeats one of its samples: an error in text 0.0.4; in
    /// OpenMetrics a new MetricPoint, which needs timestamps that do not go backwards.
    fn check_repeat(&self, prev: &group::Point<'_>, point: &group::Point<'_>) -> PResult<()> {
        let samples = &self.families.last().expect("current family").samples;
        let first = point.samples[0] as usize;
        let earlier = prev
            .samples
            .iter()
            .map(|&i| i as usize)
            .find(|&j| {
                self.roles[j] == self.roles[first]
                    && (!self.roles[first].is_keyed()
                        || group::same_key(&samples[j].labels, None, &samples[first].labels, None))
            })
            .unwrap_or(prev.samples[0] as usize);
        let earlier_line = self.line_of(self.at[earlier].line);
        if !self.om {
            return fail(
                self.at[first].line,
                format!(
                    "duplicate series {}: also on line {earlier_line}",
                    self.series(first)
                ),
            );
        }
        match (
            samples[prev.samples[0] as usize].timestamp_ms,
            samples[first].timestamp_ms,
        ) {
            (Some(before), Some(now)) if now >= before => Ok(()),
            (Some(before), Some(now)) => fail(
                self.at[first].timestamp,
                format!(
                    "{} goes back in time: timestamp {} after {} on line {earlier_line}",
                    self.series(first),
                    show_ts(Some(now)),
                    show_ts(Some(before))
                ),
            ),
            _ => fail(
                self.at[first].line,
                format!(
                    "duplicate series {} (also on line {earlier_line}): OpenMetrics repeats a series only as a new point with a timestamp on both",
                    self.series(first)
                ),
            ),
        }
    }

    /// The rules for one metric point of a histogram, summary or counter.
    fn check_point(&self, point: &group::Point<'_>) -> PResult<()> {
        let family = self.families.last().expect("current family");
        let samples = &family.samples;
        let name = family.name.as_str();
        let of = |role: Role| {
            point
                .samples
                .iter()
                .map(|&i| i as usize)
                .find(|&i| self.roles[i] == role)
        };
        let metric = |i: usize| {
            let s = &samples[i];
            let skip = self.specials[i].label;
            let rest: Vec<(String, String)> = s
                .labels
                .iter()
                .enumerate()
                .filter(|(j, _)| skip != Some(*j as u32))
                .map(|(_, kv)| kv.clone())
                .collect();
            if rest.is_empty() {
                String::new()
            } else {
                let mut out = String::from(" for ");
                render::write_series(&mut out, "", &rest);
                out
            }
        };
        let last = *point.samples.last().expect("points are not empty") as usize;
        match family.kind {
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let what = if family.kind == MetricType::Histogram {
                    "histogram"
                } else {
                    "gauge histogram"
                };
                let mut prev: Option<usize> = None;
                let mut negative_bound = false;
                for &i in point.samples {
                    let i = i as usize;
                    if self.roles[i] != Role::Bucket {
                        continue;
                    }
                    let le = self.specials[i].num;
                    negative_bound |= le < 0.0;
                    if let Some(p) = prev {
                        let p_le = self.specials[p].num;
                        if le <= p_le {
                            return fail(
                                self.at[i].special,
                                format!(
                                    "{what} {name:?}: bucket le={:?} comes after le={:?}; buckets must be in ascending order of le",
                                    self.le_text(i),
                                    self.le_text(p)
                                ),
                            );
                        }
                        if samples[i].value < samples[p].value {
                            return fail(
                                self.at[i].value,
                                format!(
                                    "{what} {name:?}: bucket le={:?} counts {} but bucket le={:?} before it counts {}; buckets are cumulative",
                                    self.le_text(i),
                                    samples[i].value,
                                    self.le_text(p),
                                    samples[p].value
                                ),
                            );
                        }
                    }
                    prev = Some(i);
                }
                let inf = match prev {
                    Some(p) if self.specials[p].num == f64::INFINITY => p,
                    _ => {
                        return fail(
                            self.at[last].line,
                            format!("{what} {name:?} has no +Inf bucket{}", metric(last)),
                        )
                    }
                };
                let (sum_role, count_role) = if family.kind == MetricType::Histogram {
                    (Role::Sum, Role::Count)
                } else {
                    (Role::GSum, Role::GCount)
                };
                let count = of(count_role);
                let sum = of(sum_role);
                if let Some(c) = count {
                    let (a, b) = (samples[c].value, samples[inf].value);
                    if !(a == b || (a.is_nan() && b.is_nan())) {
                        return fail(
                            self.at[c].value,
                            format!(
                                "{what} {name:?}: {name}{} is {a} but the +Inf bucket is {b}; they must be equal",
                                count_role.suffix()
                            ),
                        );
                    }
                }
                if self.om {
                    match (sum, count) {
                        (Some(s), None) => {
                            return fail(
                                self.at[s].line,
                                format!(
                                    "{what} {name:?} has {name}{} but no {name}{}{}",
                                    sum_role.suffix(),
                                    count_role.suffix(),
                                    metric(s)
                                ),
                            )
                        }
                        (None, Some(c)) => {
                            return fail(
                                self.at[c].line,
                                format!(
                                    "{what} {name:?} has {name}{} but no {name}{}{}",
                                    count_role.suffix(),
                                    sum_role.suffix(),
                                    metric(c)
                                ),
                            )
                        }
                        _ => {}
                    }
                    if let Some(s) = sum {
                        if family.kind == MetricType::Histogram && negative_bound {
                            return fail(
                                self.at[s].line,
                                format!(
                                    "histogram {name:?} has a negative bucket bound, so it must not have {name}_sum"
                                ),
                            );
                        }
                        if family.kind == MetricType::GaugeHistogram
                            && samples[s].value < 0.0
                            && !negative_bound
                        {
                            return fail(
                                self.at[s].value,
                                format!(
                                    "gauge histogram {name:?}: {name}_gsum is negative but no bucket bound is"
                                ),
                            );
                        }
                    }
                }
            }
            MetricType::Summary if !self.om => {
                let mut prev: Option<usize> = None;
                for &i in point.samples {
                    let i = i as usize;
                    if self.roles[i] != Role::Quantile {
                        continue;
                    }
                    if let Some(p) = prev {
                        if self.specials[i].num <= self.specials[p].num {
                            return fail(
                                self.at[i].special,
                                format!(
                                    "summary {name:?}: quantile {:?} comes after {:?}; quantiles must be in ascending order",
                                    self.le_text(i),
                                    self.le_text(p)
                                ),
                            );
                        }
                    }
                    prev = Some(i);
                }
            }
            MetricType::Counter if self.om && of(Role::Total).is_none() => {
                let first = point.samples[0] as usize;
                return fail(
                    self.at[first].line,
                    format!(
                        "counter {name:?} has {name}_created but no {name}_total{}",
                        metric(first)
                    ),
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// The text of sample `i`'s `le` or `quantile` label.
    fn le_text(&self, i: usize) -> &str {
        let family = self.families.last().expect("current family");
        self.specials[i]
            .label
            .map_or("", |l| family.samples[i].labels[l as usize].1.as_str())
    }
}

/// The naming rule a sample broke by being named like its family.
fn naming_rule(family: &MetricFamily, om: bool) -> String {
    let n = family.name.as_str();
    match family.kind {
        MetricType::Counter => {
            format!("OpenMetrics counter sample must be named {n}_total or {n}_created")
        }
        MetricType::Histogram if om => {
            format!("histogram sample must be named {n}_bucket, {n}_sum, {n}_count or {n}_created")
        }
        MetricType::Histogram => {
            format!("histogram sample must be named {n}_bucket, {n}_sum or {n}_count")
        }
        MetricType::GaugeHistogram => {
            format!("gauge histogram sample must be named {n}_bucket, {n}_gsum or {n}_gcount")
        }
        MetricType::Info => format!("info sample must be named {n}_info"),
        _ => format!("sample {n:?} does not fit its family"),
    }
}

/// OpenMetrics rules on one sample's value, by type and role.
fn om_value_rule(family: &MetricFamily, kind: MetricType, role: Role, v: f64) -> Option<String> {
    // What the value must be; messages are built only for a value that breaks its rule.
    enum Rule {
        NonNegative,
        Count,
        NotNan,
        QuantileValue,
        One,
        ZeroOrOne,
    }
    let rule = match (kind, role) {
        (MetricType::Counter, Role::Total)
        | (MetricType::Histogram | MetricType::Summary, Role::Sum) => Rule::NonNegative,
        (MetricType::Histogram | MetricType::GaugeHistogram, Role::Bucket)
        | (MetricType::Histogram | MetricType::Summary, Role::Count)
        | (MetricType::GaugeHistogram, Role::GCount) => Rule::Count,
        (MetricType::GaugeHistogram, Role::GSum) => Rule::NotNan,
        (MetricType::Summary, Role::Quantile) => Rule::QuantileValue,
        (MetricType::Info, Role::Info) => Rule::One,
        (MetricType::StateSet, Role::State) => Rule::ZeroOrOne,
        _ => return None,
    };
    let ok = match rule {
        Rule::NonNegative => v >= 0.0,
        Rule::Count => v >= 0.0 && v.is_finite() && v.fract() == 0.0,
        Rule::NotNan => !v.is_nan(),
        Rule::QuantileValue => v >= 0.0 || v.is_nan(),
        Rule::One => v == 1.0,
        Rule::ZeroOrOne => v == 0.0 || v == 1.0,
    };
    if ok {
        return None;
    }
    let name = family.name.as_str();
    let what = match role {
        Role::Total => format!("counter {name:?} total"),
        Role::Bucket => format!("bucket count of {name:?}"),
        _ => format!("{name}{}", role.suffix()),
    };
    Some(match rule {
        Rule::NonNegative | Rule::Count | Rule::NotNan if v.is_nan() => format!("{what} is NaN"),
        Rule::NonNegative | Rule::Count if v < 0.0 => format!("{what} is negative ({v})"),
        Rule::Count => format!("{what} is {v}, not an integer"),
        Rule::QuantileValue => format!("summary {name:?} quantile value is negative ({v})"),
        Rule::One => format!("info {name:?} value must be 1, not {v}"),
        Rule::ZeroOrOne => format!("stateset {name:?} value must be 0 or 1, not {v}"),
        Rule::NonNegative | Rule::NotNan => format!("{what} is {v}"),
    })
}

fn show_ts(ts: Option<i64>) -> String {
    ts.map_or_else(|| "none".to_owned(), |t| format!("{t} ms"))
}

/// Unescapes a `# HELP` text: `\\` and `\n` in both formats, `\"` in OpenMetrics (whose help
/// is an `escaped-string`); any other backslash is kept, as Prometheus does.
fn unescape_help(text: &str, om: bool) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut lookahead = chars.clone();
        match lookahead.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if om => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars = lookahead;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = "ab\nčd\n";
        assert_eq!(position(src, 0), (1, 1));
        assert_eq!(position(src, 3), (2, 1));
        assert_eq!(position(src, 5), (2, 2)); // after the two-byte 'č'
        assert_eq!(position(src, 7), (3, 1));
        assert_eq!(position(src, 99), (3, 1));
    }

    #[test]
    fn help_unescaping_differs_between_formats() {
        assert_eq!(unescape_help(r"a\\b\nc", false), "a\\b\nc");
        assert_eq!(unescape_help(r#"a\"b"#, false), r#"a\"b"#);
        assert_eq!(unescape_help(r#"a\"b"#, true), "a\"b");
        assert_eq!(unescape_help(r"\foo\", true), r"\foo\");
        assert_eq!(unescape_help(r"\\\n", true), "\\\n");
    }
}
