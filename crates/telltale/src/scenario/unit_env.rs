//! The environment a systemd unit gives its processes, read as systemd builds it: `systemctl show`
//! for the unit's load state, `Environment=` and `EnvironmentFile=`, then the environment files
//! themselves, parsed by the rules of systemd.exec(5).
//!
//! systemd.exec(5) (systemd 252, Debian bookworm; the wording dates from systemd's 2011 commit
//! "man: document changed EnvironmentFile= behaviour"): "Settings from these files override
//! settings made with Environment=. If the same variable is set twice from these files, the files
//! will be read in the order they are specified and the later setting will override the earlier
//! setting." A file name prefixed with `-` may be missing; any other missing file keeps the
//! unit from starting. A name may be a wildcard expression, read in sorted order.
//!
//! `systemctl show` of a unit that does not exist exits 0 with an empty environment, so the load
//! state is read first: only a `loaded` unit says anything about what the service runs with.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable naming another `systemctl` (with arguments, split on whitespace), for a unit
/// that a user manager runs (`systemctl --user`).
pub(crate) const SYSTEMCTL_VAR: &str = "TELLTALE_SYSTEMCTL";

/// What `systemctl show` says of a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UnitShow {
    /// `LoadState`: `loaded`, `not-found`, `masked`, `bad-setting`, `error`…
    pub(crate) load_state: String,
    /// `LoadError`, when systemd gave one.
    pub(crate) load_error: Option<String>,
    /// `FragmentPath`: the unit file.
    pub(crate) fragment_path: Option<String>,
    /// `Environment=`, in order (a later assignment of a name overrides an earlier one).
    pub(crate) environment: Vec<(String, String)>,
    /// `EnvironmentFile=`, in order.
    pub(crate) environment_files: Vec<EnvFile>,
    /// `ExecStart`, as systemctl shows it (`{ path=… ; argv[]=… ; … }`), one entry per command.
    pub(crate) exec_start: Vec<String>,
}

/// One `EnvironmentFile=` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvFile {
    /// The file name or wildcard expression, without the `-` prefix.
    pub(crate) pattern: String,
    /// Written with a `-` prefix: a missing file is skipped.
    pub(crate) optional: bool,
}

/// Why the unit's settings could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShowError {
    /// `systemctl` could not run, or refused (no systemd here, no bus).
    Systemctl(String),
    /// It ran but printed something this parser does not know.
    Output(String),
}

/// Runs `systemctl show` for `unit` (or the command in [`SYSTEMCTL_VAR`]) and reads the
/// settings this module needs.
pub(crate) fn show(unit: &str) -> Result<UnitShow, ShowError> {
    let text = show_properties(
        unit,
        &[
            "LoadState",
            "LoadError",
            "FragmentPath",
            "Environment",
            "EnvironmentFiles",
            "ExecStart",
        ],
    )?;
    parse_show(&text).map_err(ShowError::Output)
}

/// The `Name=value` lines `systemctl show --property=…` prints for `unit`, run as `show` runs
/// it; every caller of `systemctl` goes through here.
pub(crate) fn show_properties(unit: &str, properties: &[&str]) -> Result<String, ShowError> {
    let (program, mut args) = systemctl_command();
    args.extend([
        "show".to_owned(),
        format!("--property={}", properties.join(",")),
        "--".to_owned(),
        unit.to_owned(),
    ]);
    let shown = format!("{program} {}", args.join(" "));
    let output = Command::new(&program)
        .args(&args)
        .output()
        .map_err(|e| ShowError::Systemctl(format!("cannot run `{shown}`: {e}")))?;
    if !output.status.success() {
        return Err(ShowError::Systemctl(format!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn systemctl_command() -> (String, Vec<String>) {
    let configured = std::env::var(SYSTEMCTL_VAR).unwrap_or_default();
    let mut words = configured.split_whitespace().map(str::to_owned);
    match words.next() {
        Some(program) => (program, words.collect()),
        None => ("systemctl".to_owned(), Vec::new()),
    }
}

/// Reads `systemctl show --property=…` output (`Name=value` lines; `EnvironmentFiles` once per
/// file, as `PATH (ignore_errors=yes|no)`).
pub(crate) fn parse_show(text: &str) -> Result<UnitShow, String> {
    let mut show = UnitShow::default();
    let mut load_state = None;
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        match name {
            "LoadState" => load_state = Some(value.to_owned()),
            "LoadError" if !value.is_empty() => show.load_error = Some(value.to_owned()),
            "FragmentPath" if !value.is_empty() => show.fragment_path = Some(value.to_owned()),
            "Environment" => show.environment.extend(parse_environment(value)),
            "ExecStart" if !value.is_empty() => show.exec_start.push(value.to_owned()),
            "EnvironmentFiles" if !value.is_empty() => {
                let (pattern, flag) = value
                    .rsplit_once(" (ignore_errors=")
                    .ok_or_else(|| format!("unexpected EnvironmentFiles line {line:?}"))?;
                show.environment_files.push(EnvFile {
                    pattern: pattern.to_owned(),
                    optional: flag.trim_end_matches(')') == "yes",
                });
            }
            _ => {}
        }
    }
    show.load_state =
        load_state.ok_or_else(|| format!("no LoadState in systemctl's answer {text:?}"))?;
    Ok(show)
}

/// Splits `A=1 "B=two words" "C=a\\b"`, systemctl's quoting of `Environment=`.
pub(crate) fn parse_environment(text: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.trim().chars();
    while let Some(ch) = chars.next() {
        match (ch, quote) {
            ('\\', _) => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ('"' | '\'', None) => quote = Some(ch),
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if !current.is_empty() {
                    items.push(std::mem::take(&mut current));
                }
            }
            (c, _) => current.push(c),
        }
    }
    if !current.is_empty() {
        items.push(current);
    }
    items
        .into_iter()
        .filter_map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Parses an environment file as systemd does (systemd.exec(5), "EnvironmentFile="): comments
/// start a line with `#` or `;` (since systemd 254 a trailing backslash no longer carries a
/// comment onto the next line, and NixOS runs a later systemd), a line without `=` is
/// ignored, unquoted values lose leading and trailing blanks and take backslash escapes and
/// line continuations, `'…'` is verbatim, `"…"` takes the escapes of `"\`$` and continuations.
/// Names that are not valid variable names are dropped, as systemd drops them.
pub(crate) fn parse_env_file(text: &str) -> Vec<(String, String)> {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        Single,
        Double,
        DoubleEscape,
        Comment,
        CommentEscape,
    }
    const BLANK: [char; 4] = [' ', '\t', '\r', '\n'];
    let mut out = Vec::new();
    let mut state = S::PreKey;
    let (mut key, mut value) = (String::new(), String::new());
    // Byte length of `value` before its trailing unescaped blanks, which are dropped.
    let mut value_end = 0;
    let mut emit = |key: &mut String, value: &mut String, end: Option<usize>| {
        if let Some(end) = end {
            value.truncate(end);
        }
        let name = key.trim_end_matches(BLANK);
        if valid_name(name) {
            out.push((name.to_owned(), std::mem::take(value)));
        }
        key.clear();
        value.clear();
    };
    for c in text.chars() {
        state = match state {
            S::PreKey if c == '#' || c == ';' => S::Comment,
            S::PreKey if BLANK.contains(&c) => S::PreKey,
            S::PreKey => {
                key.push(c);
                S::Key
            }
            S::Key if c == '\n' => {
                key.clear();
                S::PreKey
            }
            S::Key if c == '=' => S::PreValue,
            S::Key => {
                key.push(c);
                S::Key
            }
            S::PreValue if c == '\n' => {
                emit(&mut key, &mut value, None);
                S::PreKey
            }
            S::PreValue if c == '\'' => S::Single,
            S::PreValue if c == '"' => S::Double,
            S::PreValue if c == '\\' => S::ValueEscape,
            S::PreValue if BLANK.contains(&c) => S::PreValue,
            S::PreValue => {
                value.push(c);
                value_end = value.len();
                S::Value
            }
            S::Value if c != '\n' && c != '\\' => {
                value.push(c);
                if !BLANK.contains(&c) {
                    value_end = value.len();
                }
                S::Value
            }
            S::Value if c == '\n' => {
                emit(&mut key, &mut value, Some(value_end));
                value_end = 0;
                S::PreKey
            }
            S::Value => S::ValueEscape,
            S::ValueEscape => {
                if c != '\n' {
                    value.push(c);
                    value_end = value.len();
                }
                S::Value
            }
            S::Single if c == '\'' => {
                value_end = value.len();
                S::PreValue
            }
            S::Single => {
                value.push(c);
                S::Single
            }
            S::Double if c == '"' => {
                value_end = value.len();
                S::PreValue
            }
            S::Double if c == '\\' => S::DoubleEscape,
            S::Double => {
                value.push(c);
                S::Double
            }
            S::DoubleEscape => {
                match c {
                    '"' | '\\' | '`' | '$' => value.push(c),
                    '\n' => {}
                    _ => {
                        value.push('\\');
                        value.push(c);
                    }
                }
                S::Double
            }
            S::Comment if c == '\\' => S::CommentEscape,
            S::Comment if c == '\n' => S::PreKey,
            S::Comment => S::Comment,
            // systemd 254 and later end the comment here; 252 also swallowed the next line.
            S::CommentEscape if c == '\n' => S::PreKey,
            S::CommentEscape => S::Comment,
        };
        // A value that went back to `PreValue` after a quote keeps what it has so far: text
        // after the closing quote is appended (`A="x"y` is `xy`), blanks after it are not.
        if state == S::PreValue && !value.is_empty() {
            value_end = value.len();
        }
    }
    match state {
        S::PreValue | S::Single | S::Double | S::DoubleEscape => emit(&mut key, &mut value, None),
        S::Value | S::ValueEscape => emit(&mut key, &mut value, Some(value_end)),
        _ => {}
    }
    out
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where a variable's value came from, and what was read on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// The value the unit's processes get, if any.
    pub(crate) value: Option<String>,
    /// `Environment=` or `EnvironmentFile=<path>`.
    pub(crate) source: Option<String>,
    /// Every environment file read, in order.
    pub(crate) files_read: Vec<PathBuf>,
    /// Optional files (`-` prefix) that did not exist.
    pub(crate) files_skipped: Vec<String>,
}

/// Why an environment file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileError {
    /// A file without the `-` prefix does not exist: systemd refuses to start the unit.
    Missing(String),
    /// It exists but this user cannot read it (or it is not UTF-8).
    Unreadable(String, String),
}

/// The value `name` has in the environment of `show`'s processes: `Environment=` first, then
/// every environment file in order, a later assignment overriding an earlier one.
pub(crate) fn lookup(show: &UnitShow, name: &str) -> Result<Lookup, FileError> {
    let mut found = Lookup::default();
    if let Some((_, v)) = show.environment.iter().rev().find(|(k, _)| k == name) {
        found.value = Some(v.clone());
        found.source = Some("Environment=".into());
    }
    found.files_skipped = each_file(show, |path, vars| {
        // Only the one variable is kept: the same file holds secrets.
        if let Some((_, v)) = vars.into_iter().rev().find(|(k, _)| k == name) {
            found.value = Some(v);
            found.source = Some(format!("EnvironmentFile={}", path.display()));
        }
        found.files_read.push(path.to_owned());
    })?;
    Ok(found)
}

/// The names (never the values: the files hold secrets) of every variable the unit's
/// processes get from `Environment=` and its environment files.
pub(crate) fn variable_names(show: &UnitShow) -> Result<BTreeSet<String>, FileError> {
    let mut names: BTreeSet<String> = show.environment.iter().map(|(k, _)| k.clone()).collect();
    each_file(show, |_, vars| {
        names.extend(vars.into_iter().map(|(k, _)| k))
    })?;
    Ok(names)
}

/// Reads each environment file of `show` in order, handing its variables to `visit`; returns
/// the optional files that did not exist.
fn each_file(
    show: &UnitShow,
    mut visit: impl FnMut(&Path, Vec<(String, String)>),
) -> Result<Vec<String>, FileError> {
    let mut skipped = Vec::new();
    for file in &show.environment_files {
        let paths = expand(&file.pattern);
        if paths.is_empty() {
            if file.optional {
                skipped.push(file.pattern.clone());
                continue;
            }
            return Err(FileError::Missing(file.pattern.clone()));
        }
        for path in paths {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.optional => {
                    skipped.push(path.display().to_string());
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(FileError::Missing(path.display().to_string()))
                }
                Err(e) => {
                    return Err(FileError::Unreadable(
                        path.display().to_string(),
                        e.to_string(),
                    ))
                }
            };
            visit(&path, parse_env_file(&text));
        }
    }
    Ok(skipped)
}

/// The files a name or wildcard expression stands for, sorted as glob(3) sorts them. A plain
/// name stands for itself whether or not it exists; a wildcard for the files that match.
fn expand(pattern: &str) -> Vec<PathBuf> {
    if !has_wildcard(pattern) {
        return vec![PathBuf::from(pattern)];
    }
    let mut bases = vec![PathBuf::from(if pattern.starts_with('/') {
        "/"
    } else {
        "."
    })];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for base in &bases {
            if has_wildcard(part) {
                let Ok(entries) = std::fs::read_dir(base) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| fnmatch(part, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(part));
            }
        }
        bases = next;
    }
    bases
        .into_iter()
        .filter(|p| Path::new(p).symlink_metadata().is_ok())
        .collect()
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// fnmatch(3) without flags beyond glob's default: `*`, `?`, `[…]` with ranges and `!`/`^`,
/// and a leading `.` matched only by a literal `.`.
fn fnmatch(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

fn matches(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| matches(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && matches(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class(&p[1..], *c) {
                Some((hit, rest)) => hit && matches(rest, &n[1..]),
                // An unclosed `[` is a literal.
                None => *c == '[' && matches(&p[1..], &n[1..]),
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && matches(&p[2..], &n[1..]),
        Some(lit) => n.first() == Some(lit) && matches(&p[1..], &n[1..]),
    }
}

/// Whether `c` is in the class that starts at `p` (after `[`), and the pattern after `]`.
fn class(p: &[char], c: char) -> Option<(bool, &[char])> {
    let (negate, mut i) = match p.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, &p[i + 1..]));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/systemd/252")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn systemctl_show_of_a_real_loaded_unit_is_read() {
        let show = parse_show(&fixture("show-loaded.txt")).unwrap();
        assert_eq!(show.load_state, "loaded");
        assert_eq!(
            show.environment,
            vec![
                ("GLITCHTIP_MAX_EVENT_LIFE_DAYS".into(), "90".into()),
                (
                    "GLITCHTIP_DOMAIN".into(),
                    "http://glitchtip.example:8000".into()
                ),
                ("X".into(), "two words".into()),
                ("Y".into(), "a\\b".into()),
            ]
        );
        let files: Vec<(&str, bool)> = show
            .environment_files
            .iter()
            .map(|f| (f.pattern.as_str(), f.optional))
            .collect();
        assert_eq!(
            files,
            vec![
                ("/etc/telltale-fixture/first.env", false),
                ("/etc/telltale-fixture/missing.env", true),
                ("/etc/telltale-fixture/tricky*.env", false),
            ]
        );
        assert!(show
            .fragment_path
            .as_deref()
            .is_some_and(|p| p.ends_with("glitchtip-fixture.service")));
    }

    #[test]
    fn systemctl_show_of_a_unit_that_does_not_exist_says_not_found() {
        // systemctl exits 0 here, with an empty environment: only LoadState tells.
        let show = parse_show(&fixture("show-not-found.txt")).unwrap();
        assert_eq!(show.load_state, "not-found");
        assert!(show.environment.is_empty() && show.environment_files.is_empty());
        assert!(show
            .load_error
            .as_deref()
            .is_some_and(|e| e.contains("not found")));
        assert!(parse_show("Environment=A=1\n").is_err());
    }

    /// `tricky.env` was read by a real systemd 252 for a unit that ran `env`: the parser
    /// must give exactly what the process got (`tricky-env-seen.txt`).
    #[test]
    fn environment_files_parse_as_systemd_parsed_them() {
        let parsed = parse_env_file(&fixture("tricky.env"));
        let seen: Vec<(String, String)> = fixture("tricky-env-seen.txt")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // The file assigns some names twice; the process sees the last value.
        let mut last: Vec<(String, String)> = Vec::new();
        for (k, v) in parsed {
            last.retain(|(k2, _)| *k2 != k);
            last.push((k, v));
        }
        last.sort();
        let mut seen_sorted = seen.clone();
        seen_sorted.sort();
        assert_eq!(last, seen_sorted);
    }

    #[test]
    fn env_file_details() {
        assert_eq!(
            parse_env_file("A=1\nA=2\n"),
            vec![("A".into(), "1".into()), ("A".into(), "2".into())]
        );
        assert_eq!(
            parse_env_file("  K = \"x\"y  \nE=\nlast=no newline "),
            vec![
                ("K".into(), "xy".into()),
                ("E".into(), String::new()),
                ("last".into(), "no newline".into())
            ]
        );
        assert_eq!(
            parse_env_file("# c \\\nA=1\n;B=2"),
            vec![("A".into(), "1".into())]
        );
        assert_eq!(parse_env_file("1BAD=x\nnoequals\n"), vec![]);
    }

    #[test]
    fn later_files_override_environment_and_earlier_files() {
        let dir = std::env::temp_dir().join(format!("telltale-unit-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.env"), "V=from-a\nSECRET_KEY=x\n").unwrap();
        std::fs::write(dir.join("b.env"), "V=from-b\n").unwrap();
        std::fs::write(dir.join(".hidden.env"), "V=hidden\n").unwrap();
        let show = UnitShow {
            load_state: "loaded".into(),
            environment: vec![("V".into(), "env".into())],
            environment_files: vec![
                EnvFile {
                    pattern: format!("{}/*.env", dir.display()),
                    optional: false,
                },
                EnvFile {
                    pattern: format!("{}/absent.env", dir.display()),
                    optional: true,
                },
            ],
            ..Default::default()
        };
        let found = lookup(&show, "V").unwrap();
        assert_eq!(found.value.as_deref(), Some("from-b"));
        assert_eq!(
            found.source.as_deref(),
            Some(format!("EnvironmentFile={}/b.env", dir.display()).as_str())
        );
        assert_eq!(found.files_read.len(), 2, "{found:?}");
        assert_eq!(found.files_skipped.len(), 1);

        let mut required = show.clone();
        required.environment_files[1].optional = false;
        assert!(matches!(
            lookup(&required, "V"),
            Err(FileError::Missing(p)) if p.ends_with("absent.env")
        ));
        let mut no_match = show.clone();
        no_match.environment_files = vec![EnvFile {
            pattern: format!("{}/*.conf", dir.display()),
            optional: false,
        }];
        assert!(matches!(lookup(&no_match, "V"), Err(FileError::Missing(_))));
        no_match.environment_files[0].optional = true;
        assert_eq!(
            lookup(&no_match, "V").unwrap().source.as_deref(),
            Some("Environment=")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wildcards_match_as_fnmatch() {
        assert!(fnmatch("*.env", "a.env") && !fnmatch("*.env", ".a.env"));
        assert!(fnmatch("g?-[0-9][!x].env", "g1-5y.env"));
        assert!(!fnmatch("g?-[0-9][!x].env", "g1-5x.env"));
        assert!(fnmatch("[]]", "]") && fnmatch("a[", "a["));
    }

    #[test]
    fn systemctl_quoting_of_environment_is_split() {
        let env = parse_environment(
            "GLITCHTIP_MAX_EVENT_LIFE_DAYS=90 \"GLITCHTIP_DOMAIN=http://a b\" X=1\n",
        );
        assert_eq!(
            env,
            vec![
                ("GLITCHTIP_MAX_EVENT_LIFE_DAYS".into(), "90".into()),
                ("GLITCHTIP_DOMAIN".into(), "http://a b".into()),
                ("X".into(), "1".into())
            ]
        );
        assert!(parse_environment("").is_empty());
    }
}
