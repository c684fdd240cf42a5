//! `journald-to-loki`: N lines per configured unit, written so that journald attributes them to
//! that unit, reach Loki labelled `app`, `host` and `service_unit`, with exact content and in
//! order.
//!
//! `_SYSTEMD_UNIT` is a trusted field: journald derives it from the sender's cgroup, read from
//! `/proc/<pid>/cgroup` when it handles each datagram (`journald-context.c`), and Alloy's
//! `loki.source.journal` exposes it as `__journal__systemd_unit`, which the stack relabels into
//! `service_unit`. So the harness must write *from inside the unit's cgroup*: it starts
//! `telltale-journald-send` through `sh`, which moves itself into the unit's cgroup
//! (`echo $$ > cgroup.procs`) and only then execs the sender, so no line leaves before the move.
//! The sender lingers after its last write because journald reads the cgroup late; a sender
//! gone by then is logged without its unit. That needs root, systemd as init and the unit
//! running, on the stack's host; anything less is `unavailable`, never passed.
//!
//! Read back by query (paged, until the deadline) with `{app, host, service_unit}` and the run
//! id, and independently with `journalctl _SYSTEMD_UNIT=<unit> TELLTALE_RUN=<run>`, so a report
//! tells "journald did not attribute the lines" apart from "Alloy did not ship them"; lines Alloy
//! shipped under other labels are reported misrouted, naming the difference, not missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use telltale_journald::{Query, Reader};
use telltale_loki::{LabelSet, Timestamp};

use super::{
    read_back, seq_after_run, Context, LokiReadBack, LokiSeen, Name, Outcome, Promised, Stop,
};
use crate::accounting::{Ledger, Sighting};
use crate::report::{Delivery, Status};
use crate::stack::Unit;

/// Names the sender binary when it is neither next to `telltale` nor on `PATH`.
const SEND_BIN_VAR: &str = "TELLTALE_JOURNALD_SEND_BIN";
const SEND_BIN: &str = "telltale-journald-send";
/// How long the sender stays alive after its last line, so journald can still read its cgroup
/// (see `--linger-ms` in `telltale-journald-send`).
const LINGER_MS: u64 = 2000;

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let units = &ctx.stack.journald.units;
    if units.is_empty() {
        return Err(Stop::error(
            "journald.units",
            "the stack description lists no journald units",
            "add `[[journald.units]]` entries (unit and app) to the stack description",
        ));
    }
    let host = Host::probe()?;
    let loki = ctx.loki()?;
    out.evidence.record(
        "sender",
        json!({"binary": host.sender.display().to_string(), "cgroup2": host.cgroup2.display().to_string(), "linger_ms": LINGER_MS}),
    );
    let mut unavailable: Vec<Stop> = Vec::new();
    for unit in units {
        if let Err(stop) = one_unit(ctx, out, &host, &loki, unit).await {
            if stop.status != Status::Unavailable {
                return Err(stop);
            }
            unavailable.push(stop);
        }
    }
    // The units that could be checked are in `out`; one that could not keeps the scenario
    // from passing.
    match unavailable.into_iter().next() {
        Some(stop) => Err(stop),
        None => Ok(()),
    }
}

/// What writing as a unit needs from this machine.
#[derive(Debug)]
struct Host {
    cgroup2: PathBuf,
    sender: PathBuf,
}

impl Host {
    fn probe() -> Result<Host, Stop> {
        if !is_root() {
            return Err(Stop::unavailable(
                "journald",
                "moving the sender into a unit's cgroup needs root, and telltale is not running as root",
                "run `sudo telltale check --scenario journald-to-loki …` on the stack's host",
            ));
        }
        // sd_booted(): systemd as init creates /run/systemd/system.
        if !Path::new("/run/systemd/system").is_dir() {
            return Err(Stop::unavailable(
                "journald",
                "systemd is not the init system here (no /run/systemd/system), so the stack's units cannot be running on this machine",
                "run telltale on the stack's host (meridian), where Alloy reads the journal",
            ));
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let Some(cgroup2) = cgroup2_mount(&mountinfo) else {
            return Err(Stop::unavailable(
                "/proc/self/mountinfo",
                "no cgroup v2 hierarchy is mounted",
                "boot with the unified cgroup hierarchy (the NixOS default)",
            ));
        };
        let Some(sender) = sender_binary() else {
            return Err(Stop::unavailable(
                SEND_BIN,
                format!("{SEND_BIN} was not found next to telltale, on PATH or in {SEND_BIN_VAR}"),
                format!(
                    "install it with telltale (`cargo build --release -p telltale-journald --bin {SEND_BIN}` puts it next to telltale), or set {SEND_BIN_VAR}=/path/to/{SEND_BIN}"
                ),
            ));
        };
        Ok(Host { cgroup2, sender })
    }
}

async fn one_unit(
    ctx: &Context,
    out: &mut Outcome,
    host: &Host,
    loki: &telltale_loki::Client,
    unit: &Unit,
) -> Result<(), Stop> {
    let name = &unit.unit;
    let state = unit_state(name)?;
    if state.active != "active" || state.control_group.is_empty() {
        return Err(Stop::unavailable(
            name,
            format!(
                "unit {name} is {} (sub-state {}), so no line can be written as it",
                state.active, state.sub
            ),
            format!("start it (`systemctl start {name}`), or fix `[[journald.units]]` in the stack description"),
        ));
    }
    let unit_dir = host
        .cgroup2
        .join(state.control_group.trim_start_matches('/'));
    let run = &ctx.run_id;
    let n = u64::from(ctx.options.items);
    let promised = promised(&unit.app, &ctx.stack.journald.host_label, name)?;
    let sent_from = Timestamp::now();
    let sent_at = ctx.elapsed();
    let sent = {
        let (sender, unit_dir, run, name) = (
            host.sender.clone(),
            unit_dir.clone(),
            run.clone(),
            name.clone(),
        );
        tokio::task::spawn_blocking(move || send_as_unit(&sender, &unit_dir, &run, &name, n, None))
            .await
            .map_err(|e| Stop::error(&unit.unit, e.to_string(), "a telltale bug"))??
    };
    let mut ledger = Ledger::new(Some(ctx.options.late_after));
    for seq in 0..n {
        ledger.sent(seq, sent_at);
    }

    // journald's own view: were the lines attributed to the unit?
    let journal = {
        let (run, name) = (run.clone(), name.clone());
        tokio::task::spawn_blocking(move || journal_count(&run, &name, n))
            .await
            .map_err(|e| Stop::error(&unit.unit, e.to_string(), "a telltale bug"))?
    };
    out.check(
        format!("{name}: journald attributes the lines to the unit"),
        journal.as_ref().is_ok_and(|found| *found == n),
        format!("{n} entries with _SYSTEMD_UNIT={name}"),
        match &journal {
            Ok(found) => format!("{found}"),
            Err(e) => e.clone(),
        },
    );

    let back = judge_loki(ctx, out, loki, &mut ledger, name, &promised, sent_from).await?;

    out.evidence.push(
        "units",
        json!({
            "unit": name,
            "control_group": state.control_group,
            "cgroup_dir": sent.cgroup_dir.display().to_string(),
            "sender": sent.report,
            "sent": n,
            "sample_sent": message(run, 0, name),
            "journal_entries": journal.as_ref().ok(),
            "loki_entries": back.entries.len(),
            "loki_streams": streams_of(&back.entries),
            "loki_entries_elsewhere": back.elsewhere.len(),
            "sample_seen": back.entries.first().map(|s| s.entry.line.clone()),
        }),
    );
    out.delivery(Delivery::from_summary(
        format!("journald {name}"),
        &ledger.summary(),
    ));
    Ok(())
}

/// Reads the unit's lines back from Loki under the promised labels and records what came
/// back: each line's content as a check, and every item, found in place or elsewhere, in
/// `ledger`.
async fn judge_loki(
    ctx: &Context,
    out: &mut Outcome,
    loki: &telltale_loki::Client,
    ledger: &mut Ledger,
    name: &str,
    promised: &LabelSet,
    sent_from: Timestamp,
) -> Result<LokiReadBack, Stop> {
    let run = &ctx.run_id;
    let n = u64::from(ctx.options.items);
    let back = read_back(
        ctx,
        loki,
        Name::JournaldToLoki,
        &Promised {
            labels: promised,
            run,
            items: n,
            sent_from,
        },
        |line| seq_after_run(line, run),
    )
    .await?;
    out.evidence.push("queries", back.evidence());

    let mut wrong: Vec<String> = Vec::new();
    let mut sightings = Vec::new();
    for seen in &back.entries {
        match seq_after_run(&seen.entry.line, run) {
            Some(seq) => {
                if message_of(&seen.entry.line).as_deref() != Some(message(run, seq, name).as_str())
                {
                    wrong.push(seen.entry.line.clone());
                }
                sightings.push(Sighting {
                    seq,
                    seen_at: seen.first_seen,
                });
            }
            None => wrong.push(seen.entry.line.clone()),
        }
    }
    ledger.observe(sightings);
    // Lines that missed the promised labels but reached Loki under others: misrouted, with
    // the label difference, not missing.
    back.observe_elsewhere(ledger, |line| seq_after_run(line, run));
    back.check_content(
        out,
        format!("{name}: lines arrive byte for byte"),
        format!("every line = {:?}", message(run, 0, name)),
        &wrong,
    );

    Ok(back)
}

/// The sender's `--message`; it replaces `{seq}` with each line's sequence number.
fn message_template(run: &str, unit: &str) -> String {
    format!("telltale {run} seq={{seq}} journald {unit}")
}

/// The line the sender writes for `seq`.
fn message(run: &str, seq: u64, unit: &str) -> String {
    message_template(run, unit).replace("{seq}", &seq.to_string())
}

/// The journald `MESSAGE` an Alloy line carries: the line itself, or the `MESSAGE` field when
/// `loki.source.journal` runs with `format_as_json = true`.
fn message_of(line: &str) -> Option<String> {
    if line.starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) {
            return map
                .get("MESSAGE")
                .and_then(|m| m.as_str())
                .map(str::to_owned);
        }
    }
    Some(line.to_owned())
}

fn streams_of(seen: &[LokiSeen]) -> Vec<String> {
    let mut out: Vec<String> = seen.iter().map(|s| s.labels.to_string()).collect();
    out.sort();
    out.dedup();
    out
}

/// `{app="…", host="…", service_unit="…"}`.
fn promised(app: &str, host: &str, unit: &str) -> Result<LabelSet, Stop> {
    LabelSet::new([("app", app), ("host", host), ("service_unit", unit)]).map_err(|e| {
        Stop::error(
            "journald",
            e.to_string(),
            "fix the journald labels in the stack description",
        )
    })
}

/// A unit's state as `systemctl show` reports it.
#[derive(Debug, Default, PartialEq, Eq)]
struct UnitState {
    active: String,
    sub: String,
    control_group: String,
}

fn unit_state(unit: &str) -> Result<UnitState, Stop> {
    let text = super::unit_env::show_properties(unit, &["ActiveState", "SubState", "ControlGroup"])
        .map_err(|e| {
            let (super::unit_env::ShowError::Systemctl(why)
            | super::unit_env::ShowError::Output(why)) = e;
            Stop::unavailable(
                unit,
                why,
                "run telltale on the stack's host, where systemd manages the unit",
            )
        })?;
    Ok(parse_show(&text))
}

/// `Key=value` lines of `systemctl show`.
fn parse_show(text: &str) -> UnitState {
    let mut state = UnitState::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("ActiveState", v)) => state.active = v.trim().to_owned(),
            Some(("SubState", v)) => state.sub = v.trim().to_owned(),
            Some(("ControlGroup", v)) => state.control_group = v.trim().to_owned(),
            _ => {}
        }
    }
    state
}

/// The first cgroup v2 mount point in `/proc/self/mountinfo` text.
fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next() != Some("cgroup2") {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// `$TELLTALE_JOURNALD_SEND_BIN`, else next to this executable (where `cargo build` and a
/// package put the workspace's binaries; `deps/` for tests), else on `PATH`.
fn sender_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(SEND_BIN_VAR) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok()?;
    let beside = exe.parent().into_iter().flat_map(|dir| {
        [
            dir.join(SEND_BIN),
            dir.parent().map(|p| p.join(SEND_BIN)).unwrap_or_default(),
        ]
    });
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(SEND_BIN))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside.chain(on_path).find(|p| p.is_file())
}

/// What the sender did.
#[derive(Debug)]
struct SentAsUnit {
    /// The cgroup it wrote from.
    cgroup_dir: PathBuf,
    /// Its one-line report.
    report: String,
}

/// Writes `n` lines as `unit`: `sh` moves itself into the unit's cgroup, then execs the sender.
/// `socket` overrides journald's socket (tests run a private journald).
///
/// A unit that delegates controllers to sub-cgroups (`Delegate=yes`, as podman's units do) has
/// no processes of its own — cgroup v2 forbids processes in a cgroup whose `subtree_control`
/// is set — so the sender goes into a leaf below it; journald still derives the unit from the
/// first unit name in the path.
fn send_as_unit(
    sender: &Path,
    unit_dir: &Path,
    run: &str,
    unit: &str,
    n: u64,
    socket: Option<&Path>,
) -> Result<SentAsUnit, Stop> {
    let delegated = std::fs::read_to_string(unit_dir.join("cgroup.subtree_control"))
        .map(|s| !s.trim().is_empty())
        .unwrap_or(false);
    let (dir, leaf) = if delegated {
        let leaf = unit_dir.join(format!("telltale-{run}"));
        std::fs::create_dir(&leaf).map_err(|e| {
            Stop::error(
                &leaf.display().to_string(),
                format!("cannot create a leaf cgroup in delegated unit {unit}: {e}"),
                "run telltale as root on the stack's host",
            )
        })?;
        (leaf.clone(), Some(leaf))
    } else {
        (unit_dir.to_path_buf(), None)
    };
    let mut command = sender_command(sender, &dir, run, unit, n);
    if let Some(socket) = socket {
        command.arg("--socket").arg(socket);
    }
    let result = command.output();
    if let Some(leaf) = &leaf {
        // Empty once the sender has exited; a failure leaves only an empty directory behind.
        let _ = std::fs::remove_dir(leaf);
    }
    let output = result.map_err(|e| {
        Stop::error(
            &sender.display().to_string(),
            format!("cannot start sh for {}: {e}", sender.display()),
            "check that /bin/sh and the sender binary are executable",
        )
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() {
        return Err(Stop::error(
            &dir.display().to_string(),
            format!(
                "writing as {unit} failed ({}): {} {}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            "the sender must be able to join the unit's cgroup (root, cgroup v2) and reach /run/systemd/journal/socket",
        ));
    }
    Ok(SentAsUnit {
        cgroup_dir: dir,
        report: stdout,
    })
}

fn sender_command(sender: &Path, dir: &Path, run: &str, unit: &str, n: u64) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#)
        .arg("sh")
        .arg(dir)
        .arg(sender)
        .args(["--run", run, "--count", &n.to_string(), "--first-seq", "0"])
        .args(["--message", &message_template(run, unit)])
        .args([
            "--identifier",
            "telltale",
            "--linger-ms",
            &LINGER_MS.to_string(),
        ]);
    cmd
}

/// Entries of the run journald attributed to `unit`, waiting up to 10 s for all `n`.
fn journal_count(run: &str, unit: &str, n: u64) -> Result<u64, String> {
    let query = Query::run(run)
        .matching("_SYSTEMD_UNIT", unit)
        .map_err(|e| e.to_string())?;
    match Reader::system().wait_for(&query, n, Instant::now() + Duration::from_secs(10)) {
        Ok(c) => Ok(c.expected - c.missing.len() as u64),
        Err(e) => match e.collected() {
            Some(c) => Ok(c.expected - c.missing.len() as u64),
            None => Err(format!("journalctl: {}", super::chain(&e))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::readback::pipe::{fault_ctx, loki_fault_tests, Pipe};
    use super::*;

    const UNIT: &str = "podman-be-pwa.service";

    /// The Loki half of the scenario: the unit's lines go into a real Loki through a stand-in
    /// for Alloy's `loki.source.journal`, then are judged as the scenario judges them. The
    /// journald half is proven by `lines_written_from_the_units_cgroup_carry_the_unit`.
    async fn through(ctx: &Context, pipe: &Pipe) -> crate::report::ScenarioReport {
        let loki = ctx.loki().unwrap();
        let run = &ctx.run_id;
        let n = u64::from(ctx.options.items);
        let promised = promised("be-pwa", "meridian", UNIT).unwrap();
        let sent_from = Timestamp::now();
        let mut ledger = Ledger::new(Some(ctx.options.late_after));
        for seq in 0..n {
            ledger.sent(seq, ctx.elapsed());
        }
        let items: Vec<(u64, String)> = (0..n).map(|seq| (seq, message(run, seq, UNIT))).collect();
        pipe.carry(&loki, &items).await;
        let mut out = Outcome::default();
        let end = judge_loki(
            ctx,
            &mut out,
            &loki,
            &mut ledger,
            UNIT,
            &promised,
            sent_from,
        )
        .await
        .map(drop);
        out.delivery(Delivery::from_summary(
            format!("journald {UNIT}"),
            &ledger.summary(),
        ));
        out.finish(Name::JournaldToLoki, Duration::ZERO, end)
    }

    loki_fault_tests! {
        scenario: "journald-to-loki",
        promised: &[("app", "be-pwa"), ("host", "meridian"), ("service_unit", UNIT)],
        // A relabel rule that took the unit from the wrong journal field.
        wrong: &[("app", "be-pwa"), ("host", "meridian"), ("service_unit", "init.scope")],
        place: r#"service_unit="init.scope" instead of "podman-be-pwa.service"; extra service_name="be-pwa""#,
    }

    #[test]
    fn systemctl_show_is_read() {
        let s = parse_show(
            "ActiveState=active\nSubState=running\nControlGroup=/system.slice/podman-be-pwa.service\n",
        );
        assert_eq!(
            s,
            UnitState {
                active: "active".into(),
                sub: "running".into(),
                control_group: "/system.slice/podman-be-pwa.service".into()
            }
        );
        // An inactive unit has an empty ControlGroup.
        let s = parse_show("ActiveState=inactive\nSubState=dead\nControlGroup=\n");
        assert_eq!(
            (s.active.as_str(), s.control_group.as_str()),
            ("inactive", "")
        );
    }

    #[test]
    fn cgroup2_mount_is_found_in_hybrid_and_unified_layouts() {
        let unified =
            "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let hybrid = "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                      31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            cgroup2_mount("30 25 0:26 / /x rw - ext4 /dev/sda rw\n"),
            None
        );
    }

    #[test]
    fn the_selector_names_all_three_labels() {
        let labels = promised("be-pwa", "meridian", "podman-be-pwa.service").unwrap();
        let want = Promised {
            labels: &labels,
            run: "tt-1",
            items: 1,
            sent_from: Timestamp::now(),
        };
        assert_eq!(
            want.query(),
            r#"{app="be-pwa", host="meridian", service_unit="podman-be-pwa.service"} |= "tt-1""#
        );
        assert_eq!(
            promised("be-pwa", "", "x").unwrap_err().status,
            Status::Error,
            "an empty label value can never match"
        );
    }

    #[test]
    fn lines_are_read_plain_or_as_alloys_json() {
        let plain = message("tt-1", 3, "u.service");
        assert_eq!(plain, "telltale tt-1 seq=3 journald u.service");
        assert_eq!(message_of(&plain).as_deref(), Some(plain.as_str()));
        let json = format!(r#"{{"MESSAGE":"{plain}","_SYSTEMD_UNIT":"u.service"}}"#);
        assert_eq!(message_of(&json).as_deref(), Some(plain.as_str()));
        assert_eq!(seq_after_run(&json, "tt-1"), Some(3));
    }

    #[test]
    fn the_sender_moves_itself_before_it_execs() {
        let cmd = sender_command(
            Path::new("/bin/send"),
            Path::new("/cg/u.service"),
            "tt-1",
            "u.service",
            5,
        );
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args[1],
            r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#
        );
        assert_eq!(&args[3..5], ["/cg/u.service", "/bin/send"]);
        let msg = args.iter().position(|a| a == "--message").unwrap();
        assert_eq!(args[msg + 1], "telltale tt-1 seq={seq} journald u.service");
        assert!(args.windows(2).any(|w| w == ["--linger-ms", "2000"]));
    }

    /// A private systemd-journald in a mount namespace with its own `/run` (as
    /// `telltale-journald`'s live tests run it), and a cgroup v2 directory named like a unit,
    /// which is all journald looks at to attribute a line to a unit. Needs root, `unshare`,
    /// systemd-journald, a cgroup2 mount and the sender binary; `Err` says which is missing.
    struct PrivateJournald {
        child: std::process::Child,
        socket: PathBuf,
        journal: PathBuf,
        sender: PathBuf,
        unit: String,
        unit_dir: PathBuf,
        slice: PathBuf,
        _base: telltale_testsupport::TempDir,
    }

    impl PrivateJournald {
        fn start(tag: &str) -> Result<PrivateJournald, String> {
            use std::process::Stdio;
            if !is_root() {
                return Err("needs root".into());
            }
            let Some(sender) = sender_binary() else {
                return Err(format!(
                    "no {SEND_BIN} (set {SEND_BIN_VAR} or `cargo build -p telltale-journald --bin {SEND_BIN}`)"
                ));
            };
            let Some(journald) = [
                "/lib/systemd/systemd-journald",
                "/usr/lib/systemd/systemd-journald",
            ]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file()) else {
                return Err("no systemd-journald (apt-get install systemd)".into());
            };
            let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            let Some(cg2) = cgroup2_mount(&mountinfo) else {
                return Err("no cgroup2 mount".into());
            };
            let base = telltale_testsupport::TempDir::new(&format!("journald-{tag}"));
            let run_dir = base.0.join("run");
            std::fs::create_dir_all(run_dir.join("systemd/journald.conf.d")).unwrap();
            std::fs::write(
                run_dir.join("systemd/journald.conf.d/t.conf"),
                "[Journal]\nStorage=volatile\nRateLimitBurst=0\nReadKMsg=no\nForwardToSyslog=no\nForwardToKMsg=no\nForwardToConsole=no\nForwardToWall=no\nAudit=\n",
            )
            .unwrap();
            let Ok(mut child) = Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(r#"mount --bind "$1" /run && exec "$2""#)
                .arg("sh")
                .arg(&run_dir)
                .arg(&journald)
                .env_remove("NOTIFY_SOCKET")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            else {
                return Err("no unshare (apt-get install util-linux)".into());
            };
            let socket = run_dir.join("systemd/journal/socket");
            let journal = run_dir.join("log/journal");
            let up = Instant::now() + Duration::from_secs(20);
            while !(socket.exists() && journal.is_dir()) {
                if let Some(status) = child.try_wait().unwrap() {
                    return Err(format!("journald could not start here ({status})"));
                }
                if Instant::now() > up {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err("journald did not come up within 20 s".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let slice = cg2.join(format!("telltale-{tag}-{}.slice", std::process::id()));
            let unit = format!("telltale-{tag}-app.service");
            let unit_dir = slice.join(&unit);
            let guard = PrivateJournald {
                child,
                socket,
                journal,
                sender,
                unit,
                unit_dir,
                slice,
                _base: base,
            };
            std::fs::create_dir_all(&guard.unit_dir)
                .map_err(|e| format!("cannot create {}: {e}", guard.unit_dir.display()))?;
            Ok(guard)
        }

        /// Writes `n` lines of `run` from inside the unit's cgroup.
        fn send(&self, run: &str, n: u64) -> SentAsUnit {
            send_as_unit(
                &self.sender,
                &self.unit_dir,
                run,
                &self.unit,
                n,
                Some(&self.socket),
            )
            .unwrap()
        }
    }

    impl Drop for PrivateJournald {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir(&self.unit_dir);
            let _ = std::fs::remove_dir(&self.slice);
        }
    }

    /// The sender path for real, short of systemd: lines written from a unit's cgroup into a
    /// private journald carry the unit.
    #[test]
    fn lines_written_from_the_units_cgroup_carry_the_unit() {
        let journald = match PrivateJournald::start("scen") {
            Ok(j) => j,
            Err(why) => {
                return telltale_testsupport::skip(&format!(
                    "journald-to-loki sender in a unit's cgroup: {why}"
                ))
            }
        };
        let run = "tt-unitcg01";
        let unit = journald.unit.as_str();
        let sent = journald.send(run, 5);
        assert!(
            sent.report
                .starts_with(&format!("sent 5 entries run={run} seq=0..4")),
            "{}",
            sent.report
        );
        let query = Query::run(run).matching("_SYSTEMD_UNIT", unit).unwrap();
        let found = Reader::directory(&journald.journal)
            .wait_for(&query, 5, Instant::now() + Duration::from_secs(10))
            .unwrap();
        for (seq, e) in found.entries.iter().enumerate() {
            assert_eq!(e.systemd_unit(), Some(unit));
            assert_eq!(
                e.get_str("MESSAGE"),
                Some(message(run, seq as u64, unit).as_str())
            );
        }
    }

    /// The meridian module's journald pipeline (`nixos-tests/module/default.nix`), reading the
    /// private journal's directory: `@DIR@`, `@KEEP@` (the units kept), `@UNIT@`, `@LOKI@` and
    /// `@UNIT_FIELD@` (where `service_unit` comes from) are filled in. Without the module's
    /// `labels = {}`: Grafana Agent v0.33's `loki.source.journal` refuses that attribute.
    const JOURNAL_PIPELINE: &str = r#"
loki.relabel "journal" {
  forward_to = []
  rule {
    source_labels = ["__journal__systemd_unit"]
    regex         = "@KEEP@"
    action        = "keep"
  }
  rule {
    source_labels = ["@UNIT_FIELD@"]
    target_label  = "service_unit"
  }
  rule {
    source_labels = ["__journal__systemd_unit"]
    regex         = "@UNIT@"
    target_label  = "app"
    replacement   = "be-pwa"
  }
  rule {
    target_label = "host"
    replacement  = "meridian"
  }
}
loki.source.journal "apps" {
  path          = "@DIR@"
  relabel_rules = loki.relabel.journal.rules
  forward_to    = [loki.write.local.receiver]
  max_age       = "12h"
}
loki.write "local" {
  endpoint { url = "@LOKI@/loki/api/v1/push" }
}
"#;

    /// journald → a real Grafana Agent's `loki.source.journal` → a real Loki, judged as the
    /// scenario judges a unit: the whole hop but systemd's own unit management (the unit is a
    /// cgroup named like one). Needs what [`PrivateJournald`] needs, `GRAFANA_AGENT_BIN` (or
    /// `grafana-agent-flow` on `PATH`) and `LOKI_URL`.
    async fn through_the_agent(
        tag: &str,
        keep: Option<&str>,
        unit_field: &str,
    ) -> Option<(crate::report::ScenarioReport, String)> {
        let what = format!("journald-to-loki through a real Grafana Agent ({tag})");
        let (Some(agent), Ok(loki_url)) = (
            telltale_testsupport::find_binary("GRAFANA_AGENT_BIN", Some("grafana-agent-flow")),
            std::env::var("LOKI_URL"),
        ) else {
            telltale_testsupport::skip(&format!("{what} (set GRAFANA_AGENT_BIN and LOKI_URL)"));
            return None;
        };
        let journald = match PrivateJournald::start(tag) {
            Ok(j) => j,
            Err(why) => {
                telltale_testsupport::skip(&format!("{what}: {why}"));
                return None;
            }
        };
        let unit = journald.unit.clone();
        let dir = telltale_testsupport::TempDir::new("journald-agent");
        let config = JOURNAL_PIPELINE
            .replace("@DIR@", &journald.journal.display().to_string())
            .replace("@KEEP@", &regex_quote(keep.unwrap_or(&unit)))
            .replace("@UNIT@", &regex_quote(&unit))
            .replace("@UNIT_FIELD@", unit_field)
            .replace("@LOKI@", loki_url.trim_end_matches('/'));
        std::fs::write(dir.0.join("config.river"), config).unwrap();
        let admin = telltale_testsupport::free_port();
        let proc = telltale_testsupport::Proc::spawn(
            &agent,
            &[
                "run".into(),
                "--disable-reporting".into(),
                format!("--server.http.listen-addr=127.0.0.1:{admin}"),
                format!("--storage.path={}", dir.0.join("data").display()),
                dir.0.join("config.river").display().to_string(),
            ],
            dir.0.join("agent.log"),
        );
        let ready = telltale_testsupport::eventually(Duration::from_secs(20), || async {
            agent_ready(admin).then_some(())
        })
        .await;
        assert!(ready.is_some(), "the agent did not start:\n{}", proc.tail());
        let ctx = fault_ctx(&loki_url, 5, 20, 1);
        let n = u64::from(ctx.options.items);
        let promised = promised("be-pwa", "meridian", &unit).unwrap();
        let sent_from = Timestamp::now();
        let mut ledger = Ledger::new(Some(ctx.options.late_after));
        for seq in 0..n {
            ledger.sent(seq, ctx.elapsed());
        }
        let (run, j) = (ctx.run_id.clone(), journald);
        let j = tokio::task::spawn_blocking(move || {
            j.send(&run, n);
            j
        })
        .await
        .unwrap();
        let loki = ctx.loki().unwrap();
        let mut out = Outcome::default();
        let end = judge_loki(
            &ctx,
            &mut out,
            &loki,
            &mut ledger,
            &unit,
            &promised,
            sent_from,
        )
        .await
        .map(drop);
        out.delivery(Delivery::from_summary(
            format!("journald {unit}"),
            &ledger.summary(),
        ));
        drop(j);
        let tail = proc.tail();
        Some((out.finish(Name::JournaldToLoki, Duration::ZERO, end), tail))
    }

    /// Whether the agent on `port` answers its readiness probe.
    fn agent_ready(port: u16) -> bool {
        use std::io::{Read, Write};
        let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let request = "GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        let mut answer = String::new();
        conn.write_all(request.as_bytes()).is_ok()
            && conn.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.0 200")
    }

    /// A Go regexp matching exactly `text`.
    fn regex_quote(text: &str) -> String {
        text.chars()
            .flat_map(|c| {
                let escape = "\\.+*?()|[]{}^$".contains(c);
                escape.then_some('\\').into_iter().chain([c])
            })
            .collect::<String>()
            .replace('\\', "\\\\")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_from_a_unit_reach_loki_through_the_agents_journal_source() {
        let Some((r, agent)) = through_the_agent("e2e-ok", None, "__journal__systemd_unit").await
        else {
            return;
        };
        assert_eq!(r.status, crate::report::Status::Passed, "{r:#?}\n{agent}");
        assert_eq!(r.delivery[0].delivered, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_labelled_from_the_wrong_journal_field_are_misrouted() {
        // service_unit taken from SYSLOG_IDENTIFIER (the sender's is "telltale").
        let Some((r, agent)) =
            through_the_agent("e2e-field", None, "__journal_syslog_identifier").await
        else {
            return;
        };
        assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}\n{agent}");
        let d = &r.delivery[0];
        assert_eq!((d.misrouted, d.missing), (5, 0), "{d:?}");
        assert!(
            d.misrouted_to[0].found.starts_with(
                r#"service_unit="telltale" instead of "telltale-e2e-field-app.service""#
            ),
            "{d:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_a_keep_rule_does_not_match_are_missing() {
        let Some((r, agent)) = through_the_agent(
            "e2e-keep",
            Some("podman-other.service"),
            "__journal__systemd_unit",
        )
        .await
        else {
            return;
        };
        assert_eq!(r.status, crate::report::Status::Failed, "{r:#?}\n{agent}");
        let d = &r.delivery[0];
        assert_eq!((d.missing, d.misrouted), (5, 0), "{d:?}");
    }
}
