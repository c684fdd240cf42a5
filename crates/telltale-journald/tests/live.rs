//! Live tests against a real systemd-journald that each test starts in a private mount namespace.
//!
//! Each test runs its own journald: `unshare --mount --propagation private` bind-mounts a fresh
//! folder over `/run` in a new mount namespace and execs `systemd-journald` there, so journald
//! binds `/run/systemd/journal/socket` and writes `/run/log/journal/<machine-id>/` inside that
//! folder, where this process (outside the namespace) reaches both by their real paths. The
//! writer is pointed at the socket's real path; the reader at the journal folder. See
//! `fixtures/journald/README.md` for the exact commands and what else was tried.
//!
//! A test prints one `skipped: …` line and returns when root, `unshare`, `systemd-journald` or
//! `journalctl` are missing; `TELLTALE_JOURNALD_REQUIRED=1` turns those skips into failures.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use telltale_journald::{
    Collected, Entry, Error, FieldName, JournalEntry, Priority, Query, Reader, Via, Writer,
    WriterBuilder,
};

/// Settings for the test journald: keep everything, forward nothing, leave the kernel alone.
const JOURNALD_CONF: &str = "\
[Journal]
Storage=volatile
RateLimitBurst=0
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
Audit=
";

fn skip(test: &str, reason: &str) {
    if std::env::var_os("TELLTALE_JOURNALD_REQUIRED").is_some_and(|v| v == "1") {
        panic!("{test}: live journald required (TELLTALE_JOURNALD_REQUIRED=1) but {reason}");
    }
    // Written whole to the stderr handle: libtest captures `println!`, and a skip must show.
    let line = format!("\nskipped: live journald test {test} ({reason})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn journald_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TELLTALE_JOURNALD_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    [
        "/lib/systemd/systemd-journald",
        "/usr/lib/systemd/systemd-journald",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// A systemd-journald running in its own mount namespace, killed on drop.
struct Journald {
    child: Child,
    /// Bind-mounted over `/run` inside the namespace.
    run: PathBuf,
    /// journald's own log (`SYSTEMD_LOG_LEVEL=debug`).
    log: PathBuf,
    base: PathBuf,
}

impl Journald {
    fn start(test: &str) -> Option<Journald> {
        if !cfg!(target_os = "linux") {
            skip(test, "journald runs on Linux only");
            return None;
        }
        if !is_root() {
            skip(test, "needs root for `unshare --mount`");
            return None;
        }
        let Some(journald) = journald_binary() else {
            skip(
                test,
                "no systemd-journald at TELLTALE_JOURNALD_BIN or /lib/systemd; apt-get install systemd",
            );
            return None;
        };
        if !runs("unshare", "--version") {
            skip(test, "no `unshare`; apt-get install util-linux");
            return None;
        }
        if !runs("journalctl", "--version") {
            skip(test, "no `journalctl`; apt-get install systemd");
            return None;
        }
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("journald-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let run = base.join("run");
        fs::create_dir_all(run.join("systemd/journald.conf.d")).unwrap();
        fs::write(
            run.join("systemd/journald.conf.d/telltale.conf"),
            JOURNALD_CONF,
        )
        .unwrap();
        let log = base.join("journald.log");
        let log_file = fs::File::create(&log).unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$1" /run && exec "$2""#)
            .arg("sh")
            .arg(&run)
            .arg(&journald)
            .env("SYSTEMD_LOG_LEVEL", "debug")
            .env("SYSTEMD_LOG_TARGET", "console")
            .env("SYSTEMD_LOG_COLOR", "0")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("spawn unshare");
        let mut j = Journald {
            child,
            run,
            log,
            base,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = j.child.try_wait().unwrap() {
                let log = j.log_text();
                if log.contains("Operation not permitted") || log.contains("Permission denied") {
                    skip(
                        test,
                        &format!(
                            "cannot make a mount namespace here ({status}): {}",
                            log.trim()
                        ),
                    );
                    return None;
                }
                panic!("journald exited with {status} before listening; its log:\n{log}");
            }
            if j.socket().exists() && j.journal_file().is_some() {
                return Some(j);
            }
            assert!(
                Instant::now() < deadline,
                "journald did not come up within 20 s; its log:\n{}",
                j.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn socket(&self) -> PathBuf {
        self.run.join("systemd/journal/socket")
    }

    /// `run/log/journal/<machine-id>`.
    fn journal_dir(&self) -> Option<PathBuf> {
        fs::read_dir(self.run.join("log/journal"))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.is_dir())
    }

    fn journal_file(&self) -> Option<PathBuf> {
        let f = self.journal_dir()?.join("system.journal");
        f.exists().then_some(f)
    }

    fn writer(&self, run: &str) -> WriterBuilder {
        Writer::builder(run).unwrap().socket(self.socket())
    }

    fn reader(&self) -> Reader {
        Reader::directory(self.journal_dir().expect("journal dir"))
            .poll_interval(Duration::from_millis(50))
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The one entry of a run, waiting up to 10 s for it.
    fn read_one(&self, writer: &Writer) -> JournalEntry {
        let c = self
            .reader()
            .wait_for(&Query::for_writer(writer), 1, deadline(10))
            .unwrap_or_else(|e| panic!("{e}; journald log:\n{}", self.log_text()));
        c.entries.into_iter().next().unwrap()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let line = format!(
                "\njournald files kept for inspection in {}\n",
                self.base.display()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        } else {
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}

fn deadline(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

fn run_id(test: &str) -> String {
    telltale_journald::unique_run_id(test)
}

#[test]
fn plain_fields_round_trip_with_trusted_fields_added() {
    let Some(j) = Journald::start("plain") else {
        return;
    };
    let w = j.writer(&run_id("plain")).build().unwrap();
    let entry = Entry::message("hello journald")
        .with_priority(Priority::Warning)
        .with_identifier("telltale-test")
        .field("REQUEST_ID", "4bf92f3577b34da6")
        .unwrap()
        .field("EMPTY", "")
        .unwrap();
    let sent = w.send(&entry).unwrap();
    assert_eq!(sent.via, Via::Datagram);
    assert_eq!(sent.seq, 0);

    let got = j.read_one(&w);
    assert_eq!(got.message(), Some(&b"hello journald"[..]));
    assert_eq!(got.priority(), Some(Priority::Warning));
    assert_eq!(got.get_str("SYSLOG_IDENTIFIER"), Some("telltale-test"));
    assert_eq!(got.get_str("REQUEST_ID"), Some("4bf92f3577b34da6"));
    assert_eq!(got.get_str("EMPTY"), Some(""));
    assert_eq!(got.get_str("TELLTALE_RUN"), Some(w.run_id()));
    assert_eq!(got.number("TELLTALE_SEQ"), Some(0));
    // What journald adds from the socket credentials.
    assert_eq!(got.get_str("_TRANSPORT"), Some("journal"));
    assert_eq!(
        got.get_str("_PID"),
        Some(std::process::id().to_string().as_str())
    );
    assert_eq!(got.get_str("_UID"), Some("0"));
    assert!(got.cursor().is_some() && got.realtime().is_some());
}

#[test]
fn every_priority_is_stored() {
    let Some(j) = Journald::start("priority") else {
        return;
    };
    let w = j.writer(&run_id("priority")).build().unwrap();
    for p in Priority::ALL {
        w.send(&Entry::message(format!("at {p}")).with_priority(p))
            .unwrap();
    }
    let c = j
        .reader()
        .wait_for(&Query::for_writer(&w), 8, deadline(10))
        .unwrap();
    let got: Vec<_> = c.entries.iter().map(|e| e.priority().unwrap()).collect();
    assert_eq!(got, Priority::ALL);
}

#[test]
fn multi_line_message_is_length_prefixed_and_kept_exactly() {
    let Some(j) = Journald::start("multiline") else {
        return;
    };
    let w = j.writer(&run_id("multiline")).build().unwrap();
    let text = "panic: boom\n  at main.rs:1\n\n  at lib.rs:2\n";
    let entry = Entry::message(text);
    let mut wire = Vec::new();
    w.encode(&entry, 0, &mut wire).unwrap();
    let mut prefix = b"MESSAGE\n".to_vec();
    prefix.extend_from_slice(&(text.len() as u64).to_le_bytes());
    assert!(wire.starts_with(&prefix), "length-prefixed form");
    w.send(&entry).unwrap();
    let got = j.read_one(&w);
    assert_eq!(got.get_str("MESSAGE"), Some(text));
}

#[test]
fn nul_bytes_invalid_utf8_and_control_characters_come_back_as_bytes() {
    let Some(j) = Journald::start("binary") else {
        return;
    };
    let w = j.writer(&run_id("binary")).build().unwrap();
    let nul: &[u8] = b"before\0after";
    let invalid: &[u8] = b"caf\xe9 \xff\xfe";
    let control: &[u8] = b"tab\there\x1b[31mred";
    let both: &[u8] = b"nul\0and\nnewline";
    let entry = Entry::message(nul)
        .field("INVALID_UTF8", invalid)
        .unwrap()
        .field("CONTROL", control)
        .unwrap()
        .field("BOTH", both)
        .unwrap();
    w.send(&entry).unwrap();
    let got = j.read_one(&w);
    assert_eq!(got.message(), Some(nul));
    assert_eq!(got.get("INVALID_UTF8"), Some(invalid));
    assert_eq!(got.get("CONTROL"), Some(control));
    assert_eq!(got.get("BOTH"), Some(both));
}

#[test]
fn utf8_text_round_trips() {
    let Some(j) = Journald::start("utf8") else {
        return;
    };
    let w = j.writer(&run_id("utf8")).build().unwrap();
    let text = "Grüße, 世界! Привет — مرحبا 🎉👩‍💻 e\u{301} \u{feff}zero-width\u{200b}";
    w.send(&Entry::message(text).field("EMOJI", "🦀").unwrap())
        .unwrap();
    let got = j.read_one(&w);
    assert_eq!(got.get_str("MESSAGE"), Some(text));
    assert_eq!(got.get_str("EMOJI"), Some("🦀"));
}

#[test]
fn repeated_fields_keep_every_distinct_value() {
    let Some(j) = Journald::start("repeated") else {
        return;
    };
    let w = j.writer(&run_id("repeated")).build().unwrap();
    let tag = FieldName::new("TAG").unwrap();
    let entry = Entry::message("tags")
        .with(tag.clone(), "zeta")
        .with(tag.clone(), "alpha")
        .with(tag.clone(), &b"bin\xff"[..])
        .with(tag.clone(), "alpha")
        .with(tag, "multi\nline");
    w.send(&entry).unwrap();
    let got = j.read_one(&w);
    let mut values = got.values("TAG").to_vec();
    values.sort();
    // journald stores each distinct FIELD=value once per entry (identical data objects are
    // shared), and journalctl prints them in storage order, not sending order.
    let mut want: Vec<Vec<u8>> = vec![
        b"zeta".to_vec(),
        b"alpha".to_vec(),
        b"bin\xff".to_vec(),
        b"multi\nline".to_vec(),
    ];
    want.sort();
    assert_eq!(values, want, "as printed: {:?}", got.values("TAG"));
}

#[test]
fn entries_over_512_kib_go_through_a_sealed_memfd() {
    let Some(j) = Journald::start("memfd") else {
        return;
    };
    let message: Vec<u8> = (0..600 * 1024)
        .map(|i| {
            if i % 100 == 99 {
                b'\n'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect();
    let entry = Entry::message(message.clone());

    // A send buffer far below the entry: the writer goes straight to a memfd.
    let w = j
        .writer(&run_id("memfd"))
        .send_buffer_size(64 * 1024)
        .build()
        .unwrap();
    assert!(w.max_datagram() < message.len());
    let sent = w.send(&entry).unwrap();
    assert_eq!(sent.via, Via::Memfd { fallback: false });
    assert!(sent.bytes > 600 * 1024);
    let got = j.read_one(&w);
    assert_eq!(got.message().map(<[u8]>::len), Some(message.len()));
    assert!(got.message() == Some(&message[..]), "content differs");

    // Told to try a datagram anyway: the kernel's EMSGSIZE triggers the fallback.
    let w = j
        .writer(&run_id("memfd-fallback"))
        .send_buffer_size(64 * 1024)
        .max_datagram(usize::MAX)
        .build()
        .unwrap();
    let sent = w.send(&entry).unwrap();
    assert_eq!(sent.via, Via::Memfd { fallback: true });
    assert!(j.read_one(&w).message() == Some(&message[..]));

    // Default settings: whichever way the kernel's default buffer dictates, it arrives.
    let w = j.writer(&run_id("memfd-default")).build().unwrap();
    let sent = w.send(&entry).unwrap();
    let line = format!(
        "\nnote: default SO_SNDBUF {} bytes; a {} byte entry went {:?}\n",
        w.send_buffer_size(),
        sent.bytes,
        sent.via
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    assert!(j.read_one(&w).message() == Some(&message[..]));
}

#[test]
fn a_thousand_lines_are_accounted_exactly() {
    let Some(j) = Journald::start("thousand") else {
        return;
    };
    let w = j
        .writer(&run_id("thousand"))
        .identifier("telltale-load")
        .build()
        .unwrap();
    for i in 0..1000 {
        let sent = w
            .send(&Entry::message(format!("line {i} of 1000")).with_priority(Priority::Info))
            .unwrap();
        assert_eq!(sent.seq, i);
        assert_eq!(sent.via, Via::Datagram);
    }
    let reader = j.reader();
    let query = Query::for_writer(&w)
        .output_fields(["MESSAGE", "SYSLOG_IDENTIFIER"])
        .unwrap();
    let c = reader
        .wait_for(&query, 1000, deadline(30))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.is_exact());
    assert_eq!(c.entries.len(), 1000);
    for (i, e) in c.entries.iter().enumerate() {
        assert_eq!(e.number("TELLTALE_SEQ"), Some(i as u64));
        assert_eq!(
            e.get_str("MESSAGE"),
            Some(format!("line {i} of 1000").as_str())
        );
        assert_eq!(e.get_str("SYSLOG_IDENTIFIER"), Some("telltale-load"));
        assert!(e.get("_PID").is_none(), "--output-fields limits the output");
    }

    // One more expected than sent: reported missing at the deadline.
    let err = reader
        .wait_for(&query, 1001, Instant::now() + Duration::from_millis(300))
        .unwrap_err();
    let collected: &Collected = err.collected().expect("incomplete");
    assert_eq!(collected.missing, [1000]);
    assert!(err.to_string().contains("1000 of 1001 found"), "{err}");

    // A second writer reusing numbers 5 and 6 under the same run id: duplicates, reported at
    // once since every expected number is present.
    let again = j.writer(w.run_id()).first_seq(5).build().unwrap();
    again.send(&Entry::message("dup 5")).unwrap();
    again.send(&Entry::message("dup 6")).unwrap();
    let started = Instant::now();
    let mut err = None;
    while started.elapsed() < Duration::from_secs(10) {
        match reader.wait_for(&query, 1000, deadline(10)) {
            Err(e) if !e.collected().unwrap().duplicated.is_empty() => {
                err = Some(e);
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let err = err.expect("duplicates reported");
    assert_eq!(err.collected().unwrap().duplicated, [(5, 2), (6, 2)]);
}

#[test]
fn journalctl_sources_directory_file_and_root_agree() {
    let Some(j) = Journald::start("sources") else {
        return;
    };
    let w = j.writer(&run_id("sources")).build().unwrap();
    for i in 0..3 {
        w.send(&Entry::message(format!("s{i}"))).unwrap();
    }
    let q = Query::for_writer(&w);
    let by_dir = j.reader().wait_for(&q, 3, deadline(10)).unwrap();
    let by_file = Reader::files([j.journal_file().unwrap()])
        .wait_for(&q, 3, deadline(10))
        .unwrap();
    // --root=<dir> reads <dir>/run/log/journal and <dir>/var/log/journal.
    let by_root = Reader::root(&j.base).wait_for(&q, 3, deadline(10)).unwrap();
    let by_parent = Reader::directory(j.run.join("log/journal"))
        .wait_for(&q, 3, deadline(10))
        .unwrap();
    let cursors = |c: &Collected| -> Vec<String> {
        c.entries
            .iter()
            .map(|e| e.cursor().unwrap().to_owned())
            .collect()
    };
    assert_eq!(cursors(&by_dir), cursors(&by_file));
    assert_eq!(cursors(&by_dir), cursors(&by_root));
    assert_eq!(cursors(&by_dir), cursors(&by_parent));

    let err = Reader::directory(j.base.join("does-not-exist"))
        .read(&q)
        .unwrap_err();
    assert!(matches!(err, Error::Journalctl { .. }), "{err}");
}

/// The cgroup v2 mount point, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next() != Some("cgroup2") {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// Removes a cgroup (after its processes exited) and its slice on drop.
struct Cgroup(Vec<PathBuf>);

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[test]
fn entries_from_a_process_in_a_unit_cgroup_carry_that_unit() {
    let Some(j) = Journald::start("unit") else {
        return;
    };
    let Some(root) = cgroup2_mount() else {
        skip("unit", "no cgroup2 mount in /proc/self/mountinfo");
        return;
    };
    // journald derives _SYSTEMD_UNIT from the sender's cgroup path; a unit's processes live in
    // <slice>/<unit>. Outside a systemd-run VM, make such a cgroup by hand.
    let slice = root.join(format!("telltale-{}.slice", std::process::id()));
    let unit_name = "telltale-fake-app.service";
    let unit = slice.join(unit_name);
    if let Err(e) = fs::create_dir_all(&unit) {
        skip("unit", &format!("cannot create {}: {e}", unit.display()));
        return;
    }
    let _cleanup = Cgroup(vec![slice.clone(), unit.clone()]);
    let run = run_id("unit");
    // The shell moves itself into the unit's cgroup, then becomes the sender.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#)
        .arg("sh")
        .arg(&unit)
        .arg(env!("CARGO_BIN_EXE_telltale-journald-send"))
        // journald reads the sender's cgroup from /proc when it handles each datagram; a sender
        // gone by then is logged without _SYSTEMD_UNIT (seen as a flaky run), so it lingers.
        .args([
            "--run",
            &run,
            "--count",
            "3",
            "--identifier",
            "fake-app",
            "--linger-ms",
            "2000",
        ])
        .arg("--socket")
        .arg(j.socket())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sent 3 entries run={run} seq=0..2 datagrams=3 memfds=0")
    );
    let q = Query::run(&run)
        .matching("_SYSTEMD_UNIT", unit_name)
        .unwrap();
    let c = j.reader().wait_for(&q, 3, deadline(10)).unwrap();
    for e in &c.entries {
        assert_eq!(e.systemd_unit(), Some(unit_name));
        assert_eq!(
            e.get_str("_SYSTEMD_SLICE"),
            slice.file_name().and_then(|s| s.to_str())
        );
        assert_eq!(e.get_str("SYSLOG_IDENTIFIER"), Some("fake-app"));
        assert_eq!(
            e.get_str("_COMM"),
            Some("telltale-journa"),
            "comm is cut to 15 bytes"
        );
    }
    assert_eq!(c.entries[1].get_str("MESSAGE"), Some("telltale line 1"));
}

#[test]
fn sending_to_a_stopped_journald_is_an_error() {
    let Some(mut j) = Journald::start("stopped") else {
        return;
    };
    let w = j.writer(&run_id("stopped")).build().unwrap();
    w.send(&Entry::message("before")).unwrap();
    // A successful send means the kernel queued the datagram, not that journald stored it:
    // killed at once, journald loses what is still queued. Wait until the entry is readable.
    let before = j.read_one(&w);
    j.child.kill().unwrap();
    j.child.wait().unwrap();
    let err = w.send(&Entry::message("after")).unwrap_err();
    match &err {
        Error::Send { source, .. } => assert_eq!(
            source.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{err}"
        ),
        other => panic!("{other}"),
    }
    assert_eq!(w.next_seq(), 2, "the failed send used up number 1");
    // The journal written before the stop is still readable.
    let c = j
        .reader()
        .wait_for(&Query::for_writer(&w), 1, deadline(10))
        .unwrap();
    assert_eq!(c.entries, [before]);
}
