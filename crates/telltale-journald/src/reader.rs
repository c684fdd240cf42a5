//! The reader: runs `journalctl -o json` with matches, parses what it prints, and polls until
//! exactly the expected sequence numbers of a run are there.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::field::check;
use crate::json::parse_json_output;
use crate::{Error, FieldName, JournalEntry, Writer};

/// Where and how to run `journalctl`.
///
/// Blocking: each call runs `journalctl` to completion. From async code, call it inside
/// `tokio::task::spawn_blocking` or similar.
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use telltale_journald::{Query, Reader};
///
/// let reader = Reader::directory("/run/log/journal");
/// let found = reader.wait_for(
///     &Query::run("smoke-1"),
///     100,
///     Instant::now() + Duration::from_secs(10),
/// )?;
/// assert_eq!(found.entries.len(), 100);
/// # Ok::<(), telltale_journald::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reader {
    program: PathBuf,
    source: Vec<OsString>,
    args: Vec<OsString>,
    poll_interval: Duration,
}

impl Reader {
    fn with_source(source: Vec<OsString>) -> Reader {
        Reader {
            program: PathBuf::from("journalctl"),
            source,
            args: Vec::new(),
            poll_interval: Duration::from_millis(100),
        }
    }

    /// The journals `journalctl` reads by default: the local system's (and, for root, every
    /// user's).
    pub fn system() -> Reader {
        Reader::with_source(Vec::new())
    }

    /// The journal files in a directory (`--directory`, alias `-D`), e.g.
    /// `/run/log/journal/<machine-id>`, or a directory holding such machine-id folders.
    pub fn directory(dir: impl AsRef<Path>) -> Reader {
        Reader::with_source(vec![prefixed("--directory=", dir.as_ref().as_os_str())])
    }

    /// Journal files named one by one (`--file`, repeated; globs are expanded by journalctl).
    pub fn files<I, P>(files: I) -> Reader
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        Reader::with_source(
            files
                .into_iter()
                .map(|f| prefixed("--file=", f.as_ref().as_os_str()))
                .collect(),
        )
    }

    /// The journals under another root directory (`--root`): its `var/log/journal` and
    /// `run/log/journal`.
    pub fn root(dir: impl AsRef<Path>) -> Reader {
        Reader::with_source(vec![prefixed("--root=", dir.as_ref().as_os_str())])
    }

    /// A journal namespace (`--namespace`), as written by `systemd-journald@<namespace>`.
    pub fn namespace(namespace: impl AsRef<OsStr>) -> Reader {
        Reader::with_source(vec![prefixed("--namespace=", namespace.as_ref())])
    }

    /// The `journalctl` to run. Default: `journalctl` from `PATH`.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Reader {
        self.program = program.into();
        self
    }

    /// An extra argument for every run, e.g. `--boot` or `--since=-5min`.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Reader {
        self.args.push(arg.into());
        self
    }

    /// Pause between polls in [`Reader::wait_for`]. Default: 100 ms.
    pub fn poll_interval(mut self, interval: Duration) -> Reader {
        self.poll_interval = interval;
        self
    }

    /// The command [`Reader::read`] runs for a query:
    /// `journalctl --output=json --all --no-pager --quiet <source> <args>
    /// [--output-fields=…] <matches>`.
    pub fn command(&self, query: &Query) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(["--output=json", "--all", "--no-pager", "--quiet"])
            .args(&self.source)
            .args(&self.args)
            .args(&query.args);
        if !query.output_fields.is_empty() {
            let mut fields = query.output_fields.clone();
            if !fields.iter().any(|f| f == query.seq_field.as_str()) {
                fields.push(query.seq_field.as_str().to_owned());
            }
            cmd.arg(format!("--output-fields={}", fields.join(",")));
        }
        cmd.args(&query.terms);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `journalctl` once and returns every entry the query matches, oldest first.
    pub fn read(&self, query: &Query) -> Result<Vec<JournalEntry>, Error> {
        let output = self
            .command(query)
            .output()
            .map_err(|source| Error::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr = stderr.trim();
            let mut end = stderr.len().min(2000);
            while !stderr.is_char_boundary(end) {
                end -= 1;
            }
            return Err(Error::Journalctl {
                program: self.program.clone(),
                status: output.status.to_string(),
                stderr: stderr[..end].to_owned(),
            });
        }
        parse_json_output(&output.stdout)
    }

    /// Polls until the query finds exactly one entry for each sequence number `0..expected`
    /// (in the query's sequence field) and nothing else, or until `deadline`.
    ///
    /// Returns as soon as every expected number is present: `Ok` if each appears once and no
    /// other entry matched, otherwise [`Error::Incomplete`] (a duplicate never goes away).
    /// At the deadline it returns [`Error::Incomplete`] with what the last poll found; use
    /// [`Error::collected`] for the missing and duplicated numbers. Errors from `journalctl`
    /// itself end the wait at once.
    pub fn wait_for(
        &self,
        query: &Query,
        expected: u64,
        deadline: Instant,
    ) -> Result<Collected, Error> {
        let start = Instant::now();
        let mut polls = 0;
        loop {
            let entries = self.read(query)?;
            polls += 1;
            let mut collected = Collected::tally(entries, query.seq_field.as_str(), expected);
            collected.polls = polls;
            let now = Instant::now();
            if collected.missing.is_empty() || now >= deadline {
                if collected.is_exact() {
                    return Ok(collected);
                }
                return Err(Error::Incomplete {
                    expected,
                    waited: now - start,
                    collected: Box::new(collected),
                });
            }
            std::thread::sleep(self.poll_interval.min(deadline - now));
        }
    }
}

fn prefixed(flag: &str, value: &OsStr) -> OsString {
    let mut s = OsString::from(flag);
    s.push(value);
    s
}

/// Which entries to read: `journalctl` match terms, the fields to print, and the field holding
/// sequence numbers.
///
/// Terms on different fields must all match; terms on the same field match either value; an
/// [`or`](Query::or) between terms separates alternatives (`journalctl`'s `+`).
#[derive(Debug, Clone)]
pub struct Query {
    terms: Vec<OsString>,
    output_fields: Vec<String>,
    seq_field: FieldName,
    args: Vec<OsString>,
}

impl Default for Query {
    fn default() -> Query {
        Query::new()
    }
}

impl Query {
    /// Every entry (no matches), sequence numbers in `TELLTALE_SEQ`.
    pub fn new() -> Query {
        Query {
            terms: Vec::new(),
            output_fields: Vec::new(),
            seq_field: FieldName::TELLTALE_SEQ,
            args: Vec::new(),
        }
    }

    /// The entries of one run with the default field names: `TELLTALE_RUN=<run_id>`.
    pub fn run(run_id: impl AsRef<OsStr>) -> Query {
        Query::new().term(FieldName::TELLTALE_RUN.as_str(), run_id.as_ref())
    }

    /// The entries of a writer's run, with its field names.
    pub fn for_writer(writer: &Writer) -> Query {
        Query::new()
            .term(writer.run_field().as_str(), OsStr::new(writer.run_id()))
            .seq_field(writer.seq_field().clone())
    }

    fn term(mut self, name: &str, value: &OsStr) -> Query {
        self.terms.push(prefixed(&format!("{name}="), value));
        self
    }

    /// Adds a match `NAME=value`. Trusted fields (`_SYSTEMD_UNIT`, `_PID`, …) are allowed.
    pub fn matching(self, name: &str, value: impl AsRef<OsStr>) -> Result<Query, Error> {
        check(name.as_bytes(), true)?;
        Ok(self.term(name, value.as_ref()))
    }

    /// Starts an alternative: entries matching the terms before or the terms after.
    pub fn or(mut self) -> Query {
        self.terms.push(OsString::from("+"));
        self
    }

    /// Prints only these fields (`--output-fields`; the sequence field is always added).
    /// journalctl adds `__CURSOR`, `__REALTIME_TIMESTAMP`, `__MONOTONIC_TIMESTAMP` and
    /// `_BOOT_ID` regardless. Default: all fields.
    pub fn output_fields<I, S>(mut self, names: I) -> Result<Query, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for name in names {
            let name = name.as_ref();
            check(name.as_bytes(), true)?;
            self.output_fields.push(name.to_owned());
        }
        Ok(self)
    }

    /// The field holding sequence numbers, for [`Reader::wait_for`]. Default: `TELLTALE_SEQ`.
    pub fn seq_field(mut self, name: FieldName) -> Query {
        self.seq_field = name;
        self
    }

    /// An extra `journalctl` argument for this query, e.g. `--since=…`.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Query {
        self.args.push(arg.into());
        self
    }
}

/// The entries of a run, accounted by sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Collected {
    /// How many entries were expected (sequence numbers `0..expected`).
    pub expected: u64,
    /// Every entry found: those with an expected sequence number first, in sequence order
    /// (duplicates next to each other), then the unexpected ones in journal order.
    pub entries: Vec<JournalEntry>,
    /// Expected sequence numbers no entry carries.
    pub missing: Vec<u64>,
    /// Sequence numbers carried by more than one entry, with how many.
    pub duplicated: Vec<(u64, usize)>,
    /// Entries without a usable sequence number, or with one outside `0..expected`.
    pub unexpected: usize,
    /// How many times `journalctl` ran (0 for [`Collected::tally`]).
    pub polls: u32,
}

impl Collected {
    /// Accounts entries by the decimal sequence number in `seq_field`.
    pub fn tally(entries: Vec<JournalEntry>, seq_field: &str, expected: u64) -> Collected {
        let mut by_seq: BTreeMap<u64, Vec<JournalEntry>> = BTreeMap::new();
        let mut others = Vec::new();
        for entry in entries {
            match entry.number(seq_field) {
                Some(seq) if seq < expected => by_seq.entry(seq).or_default().push(entry),
                _ => others.push(entry),
            }
        }
        let mut missing = Vec::new();
        let mut next = 0;
        for &seq in by_seq.keys() {
            missing.extend(next..seq);
            next = seq + 1;
        }
        missing.extend(next..expected);
        let duplicated = by_seq
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(&seq, v)| (seq, v.len()))
            .collect();
        let unexpected = others.len();
        let mut entries: Vec<JournalEntry> = by_seq.into_values().flatten().collect();
        entries.extend(others);
        Collected {
            expected,
            entries,
            missing,
            duplicated,
            unexpected,
            polls: 0,
        }
    }

    /// Whether every expected number appears exactly once and nothing else was found.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.duplicated.is_empty() && self.unexpected == 0
    }

    /// The entries carrying a sequence number.
    pub fn by_seq(&self, seq: u64, seq_field: &str) -> impl Iterator<Item = &JournalEntry> {
        let field = seq_field.to_owned();
        self.entries
            .iter()
            .filter(move |e| e.number(&field) == Some(seq))
    }

    /// One line for error messages: counts, and the first few missing and duplicated numbers.
    pub fn summary(&self) -> String {
        let distinct = self.expected - self.missing.len() as u64;
        let mut s = format!("{distinct} of {} found", self.expected);
        if !self.missing.is_empty() {
            s += &format!(
                ", {} missing (first {:?})",
                self.missing.len(),
                &self.missing[..self.missing.len().min(10)]
            );
        }
        if !self.duplicated.is_empty() {
            s += &format!(
                ", {} duplicated (first (seq, copies) {:?})",
                self.duplicated.len(),
                &self.duplicated[..self.duplicated.len().min(10)]
            );
        }
        if self.unexpected > 0 {
            s += &format!(
                ", {} unexpected (no sequence number or outside 0..{})",
                self.unexpected, self.expected
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: &str) -> JournalEntry {
        JournalEntry::from_fields([("TELLTALE_SEQ", seq)])
    }

    #[test]
    fn tally_reports_missing_duplicated_and_unexpected() {
        let entries = vec![
            entry("3"),
            entry("0"),
            entry("3"),
            entry("x"),
            entry("9"),
            JournalEntry::from_fields([("MESSAGE", "no seq")]),
            entry("1"),
        ];
        let c = Collected::tally(entries, "TELLTALE_SEQ", 6);
        assert_eq!(c.missing, [2, 4, 5]);
        assert_eq!(c.duplicated, [(3, 2)]);
        assert_eq!(c.unexpected, 3);
        assert!(!c.is_exact());
        assert_eq!(c.entries.len(), 7);
        assert_eq!(c.entries[0].number("TELLTALE_SEQ"), Some(0));
        assert_eq!(c.by_seq(3, "TELLTALE_SEQ").count(), 2);
        let s = c.summary();
        assert!(
            s.starts_with("3 of 6 found, 3 missing (first [2, 4, 5])"),
            "{s}"
        );
        assert!(
            s.contains("1 duplicated") && s.contains("3 unexpected"),
            "{s}"
        );
    }

    #[test]
    fn tally_exact_and_empty() {
        let c = Collected::tally(
            (0..5).map(|i| entry(&i.to_string())).collect(),
            "TELLTALE_SEQ",
            5,
        );
        assert!(c.is_exact(), "{}", c.summary());
        let none = Collected::tally(Vec::new(), "TELLTALE_SEQ", 3);
        assert_eq!(none.missing, [0, 1, 2]);
        assert!(Collected::tally(Vec::new(), "TELLTALE_SEQ", 0).is_exact());
    }

    #[test]
    fn command_line() {
        let q = Query::run("r-1")
            .matching("_SYSTEMD_UNIT", "a.service")
            .unwrap()
            .or()
            .matching("PRIORITY", "3")
            .unwrap()
            .output_fields(["MESSAGE"])
            .unwrap();
        let cmd = Reader::directory("/j").arg("--boot").command(&q);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "--output=json",
                "--all",
                "--no-pager",
                "--quiet",
                "--directory=/j",
                "--boot",
                "--output-fields=MESSAGE,TELLTALE_SEQ",
                "TELLTALE_RUN=r-1",
                "_SYSTEMD_UNIT=a.service",
                "+",
                "PRIORITY=3",
            ]
        );
        assert!(Query::new().matching("bad name", "x").is_err());
        assert!(Query::new().output_fields(["lower"]).is_err());
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = Reader::system()
            .program("/nonexistent/journalctl")
            .read(&Query::new())
            .unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err}");
    }
}
