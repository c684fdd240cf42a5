//! `backup`: the backups exist, are complete, fresh and rotated, and restore.
//!
//! Only files named as the NixOS module's backup jobs name them count
//! (`nixos-tests/module/default.nix`: `grafana-YYYYMMDDTHHMMSSZ.db`, `glitchtip-…Z.dump`); the
//! jobs' unfinished `.grafana-….db.part`/`.glitchtip-….dump.part` files and anything else in the
//! folders are listed in the evidence, never counted. A counted backup must be complete:
//!
//! - Grafana: the SQLite header `SQLite format 3\0` and `PRAGMA integrity_check` answering `ok`
//!   (opened `immutable`, so nothing is written beside the backup). The newest complete snapshot
//!   is then restored as `meridian-restore-grafana` restores it (a copy Grafana would open) into a
//!   scratch file, and must hold the tables Grafana needs: only then is it "restorable". An empty
//!   database passes `integrity_check`; it is not a Grafana backup.
//! - GlitchTip: the custom-format magic `PGDMP` and a `pg_restore --list` table of contents, which
//!   must list GlitchTip's core tables ("readable"). With `backup.scratch_database`, the newest
//!   dump is restored into it inside one transaction that is rolled back, and the tables must
//!   exist afterwards ("restorable"); without one, no restore is claimed.
//! - With `state_file` and `phase = "record"`, the dashboards and users Grafana has and the
//!   issues GlitchTip has are written down; with `phase = "verify"` (after a restore) each one
//!   recorded must be back.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use telltale_http::Method;

use crate::stack::{Backup, BackupPhase};

use super::parts::{merge, named};
use super::{Context, Outcome, Stop};

/// Tables a Grafana database holds once its migrations ran (Grafana's `sqlstore/migrations`):
/// without them Grafana would start empty, not restored.
const GRAFANA_TABLES: &[&str] = &["dashboard", "data_source", "migration_log", "org", "user"];

/// GlitchTip 5's core tables (its Django apps' models, read from a real GlitchTip 5.1 database:
/// `fixtures/backup/postgresql-15.18/glitchtip-5.1-schema.dump`).
const GLITCHTIP_TABLES: &[&str] = &[
    "django_migrations",
    "issue_events_issue",
    "issue_events_issueevent",
    "organizations_ext_organization",
    "projects_project",
    "projects_projectkey",
    "users_user",
];

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let Some(backup) = ctx.stack.backup.clone() else {
        return Err(Stop::unavailable(
            "backup",
            "the stack description declares no backups",
            "add a `[backup]` section (grafana_dir, glitchtip_dir, max_age_hours)",
        ));
    };
    out.requires(&["grafana backup", "glitchtip backup"]);
    let grafana = grafana(out, &backup);
    let glitchtip = glitchtip(out, &backup);
    if let (Ok(g), Ok(p)) = (&grafana, &glitchtip) {
        out.summary(format!("grafana: {g}; glitchtip: {p}"));
    }
    let state = match (&backup.state_file, backup.phase) {
        (Some(path), Some(phase)) => restore_state(ctx, out, path, phase).await,
        (None, None) => {
            out.evidence.record(
                "restore",
                "not checked: set `state_file` and `phase` to record before and verify after a restore",
            );
            Ok(())
        }
        _ => Err(Stop::error(
            "backup",
            "`state_file` and `phase` go together",
            "set both, or neither",
        )),
    };
    merge([
        grafana.err().map(|s| named("grafana", s)),
        glitchtip.err().map(|s| named("glitchtip", s)),
        state.err(),
    ])
}

/// One file in a backup folder.
#[derive(Debug, Clone)]
struct Artefact {
    path: PathBuf,
    name: String,
    modified: SystemTime,
    len: u64,
}

/// A backup folder sorted out: what counts, what a job left unfinished, and the rest.
#[derive(Debug, Default)]
struct Listing {
    /// Named as the backup job names its output, newest first.
    backups: Vec<Artefact>,
    /// The job's unfinished `.part` files.
    partial: Vec<Artefact>,
    /// Anything else.
    ignored: Vec<Artefact>,
}

impl Listing {
    fn evidence(&self) -> serde_json::Value {
        let list = |files: &[Artefact]| -> Vec<serde_json::Value> {
            files
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "path": a.path.display().to_string(),
                        "modified": telltale_glitchtip::format_rfc3339(a.modified),
                        "bytes": a.len,
                    })
                })
                .collect()
        };
        serde_json::json!({
            "backups": list(&self.backups),
            "partial_not_counted": list(&self.partial),
            "other_files_not_counted": list(&self.ignored),
        })
    }
}

/// Whether `name` is `<prefix>-YYYYMMDDTHHMMSSZ.<ext>`, what the module's jobs write.
fn is_backup_name(name: &str, prefix: &str, ext: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(ext))
        .and_then(|r| r.strip_suffix('.'))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
}

/// Regular files in `dir`, sorted out by name.
fn list(dir: &Path, prefix: &str, ext: &str) -> Result<Listing, Stop> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Stop::unavailable(
            &dir.display().to_string(),
            format!("cannot list the backup directory: {e}"),
            "run telltale on the host that keeps the backups, as a user that may read them",
        )
    })?;
    let mut listing = Listing::default();
    let partial_prefix = format!(".{prefix}-");
    let partial_suffix = format!(".{ext}.part");
    for entry in entries.filter_map(Result::ok) {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let artefact = Artefact {
            path: entry.path(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            len: meta.len(),
            name: name.clone(),
        };
        if is_backup_name(&name, prefix, ext) {
            listing.backups.push(artefact);
        } else if name.starts_with(&partial_prefix) && name.ends_with(&partial_suffix) {
            listing.partial.push(artefact);
        } else {
            listing.ignored.push(artefact);
        }
    }
    listing
        .backups
        .sort_by(|a, b| b.modified.cmp(&a.modified).then(b.name.cmp(&a.name)));
    Ok(listing)
}

/// The checks every kind of backup shares: one exists, the count is rotated, and the newest
/// *complete* one (a fresh broken file does not make the backups fresh) is young enough.
fn common_checks<'a>(
    out: &mut Outcome,
    part: &str,
    listing: &Listing,
    complete: &'a [Artefact],
    keep: u32,
    max_age: Duration,
) -> Option<&'a Artefact> {
    if listing.backups.is_empty() {
        out.check(
            format!("{part} backup: a backup exists"),
            false,
            format!("a {part}-YYYYMMDDTHHMMSSZ file"),
            format!(
                "none ({} unfinished .part, {} other files, not counted)",
                listing.partial.len(),
                listing.ignored.len()
            ),
        );
        return None;
    }
    out.check(
        format!("{part} backup: rotated"),
        listing.backups.len() <= keep as usize,
        format!("at most {keep}"),
        listing.backups.len(),
    );
    let Some(newest) = complete.first() else {
        out.check(
            format!("{part} backup: a complete backup exists"),
            false,
            "1 or more",
            format!("0 of {}", listing.backups.len()),
        );
        return None;
    };
    let age = SystemTime::now()
        .duration_since(newest.modified)
        .unwrap_or_default();
    out.check(
        format!("{part} backup: newest complete backup is fresh"),
        age <= max_age,
        format!("younger than {}h", max_age.as_secs() / 3600),
        format!(
            "{} is {}h{}m old",
            newest.name,
            age.as_secs() / 3600,
            age.as_secs() / 60 % 60
        ),
    );
    Some(newest)
}

fn grafana(out: &mut Outcome, backup: &Backup) -> Result<String, Stop> {
    let max_age = Duration::from_secs(u64::from(backup.max_age_hours) * 3600);
    let listing = list(&backup.grafana_dir, "grafana", "db")?;
    out.evidence.record("grafana_snapshots", listing.evidence());
    let mut complete = Vec::new();
    for a in &listing.backups {
        let verdict = sqlite_complete(&a.path)?;
        out.check(
            format!("grafana backup: {} is a complete SQLite database", a.name),
            verdict.is_ok(),
            "SQLite header and integrity_check ok",
            verdict.as_ref().err().map_or("ok", String::as_str),
        );
        if verdict.is_ok() {
            complete.push(a.clone());
        }
    }
    let Some(newest) = common_checks(
        out,
        "grafana",
        &listing,
        &complete,
        backup.keep_grafana,
        max_age,
    ) else {
        return Ok("no complete snapshot".into());
    };
    let restored = sqlite_restore(&newest.path)?;
    let (tables, counts) = match restored {
        Ok(found) => found,
        Err(why) => {
            out.check(
                format!(
                    "grafana backup: {} restores with Grafana's tables",
                    newest.name
                ),
                false,
                "a copy that opens",
                why,
            );
            return Ok("not restorable".into());
        }
    };
    out.evidence.record(
        "grafana_restore",
        serde_json::json!({"snapshot": newest.name, "tables": tables.len(), "rows": counts}),
    );
    let missing: Vec<&str> = GRAFANA_TABLES
        .iter()
        .copied()
        .filter(|t| !tables.iter().any(|have| have == t))
        .collect();
    out.check(
        format!(
            "grafana backup: {} restores with Grafana's tables",
            newest.name
        ),
        missing.is_empty(),
        GRAFANA_TABLES.join(", "),
        if missing.is_empty() {
            format!("all present ({} tables)", tables.len())
        } else {
            format!(
                "missing {} ({} tables in all)",
                missing.join(", "),
                tables.len()
            )
        },
    );
    Ok(format!(
        "{} restorable (restored into a scratch copy with Grafana's tables)",
        newest.name
    ))
}

fn glitchtip(out: &mut Outcome, backup: &Backup) -> Result<String, Stop> {
    let max_age = Duration::from_secs(u64::from(backup.max_age_hours) * 3600);
    let listing = list(&backup.glitchtip_dir, "glitchtip", "dump")?;
    out.evidence.record("glitchtip_dumps", listing.evidence());
    let mut complete = Vec::new();
    let mut tables_of = std::collections::HashMap::new();
    for a in &listing.backups {
        let verdict = dump_contents(&a.path)?;
        out.check(
            format!("glitchtip backup: {} is a complete pg_dump archive", a.name),
            verdict.is_ok(),
            "PGDMP magic and a pg_restore --list table of contents",
            match &verdict {
                Ok(tables) => format!("{} tables listed", tables.len()),
                Err(why) => why.clone(),
            },
        );
        if let Ok(tables) = verdict {
            tables_of.insert(a.name.clone(), tables);
            complete.push(a.clone());
        }
    }
    let Some(newest) = common_checks(
        out,
        "glitchtip",
        &listing,
        &complete,
        backup.keep_glitchtip,
        max_age,
    ) else {
        return Ok("no complete dump".into());
    };
    let listed = &tables_of[&newest.name];
    let missing = missing_tables(listed);
    out.check(
        format!("glitchtip backup: {} lists GlitchTip's tables", newest.name),
        missing.is_empty(),
        GLITCHTIP_TABLES.join(", "),
        if missing.is_empty() {
            format!("all listed ({} tables)", listed.len())
        } else {
            format!(
                "missing {} ({} tables listed)",
                missing.join(", "),
                listed.len()
            )
        },
    );
    let Some(conn) = &backup.scratch_database else {
        out.evidence.record(
            "glitchtip_restore",
            "not run: set `backup.scratch_database` to restore the newest dump (in a transaction that is rolled back)",
        );
        return Ok(format!(
            "{} readable (pg_restore --list; no scratch database to restore into)",
            newest.name
        ));
    };
    let restored = pg_restore_into(&newest.path, conn)?;
    let (passed, actual) = match &restored {
        Ok(tables) => {
            let missing = missing_tables(tables);
            out.evidence.record(
                "glitchtip_restore",
                serde_json::json!({"dump": newest.name, "tables": tables.len(), "rolled_back": true}),
            );
            (
                missing.is_empty(),
                if missing.is_empty() {
                    format!("restored, {} tables", tables.len())
                } else {
                    format!("restored, but missing {}", missing.join(", "))
                },
            )
        }
        Err(why) => (false, why.clone()),
    };
    out.check(
        format!(
            "glitchtip backup: {} restores into the scratch database",
            newest.name
        ),
        passed,
        "a restore that succeeds, with GlitchTip's tables",
        actual,
    );
    Ok(format!(
        "{} restorable (restored into the scratch database, rolled back)",
        newest.name
    ))
}

fn missing_tables(have: &[String]) -> Vec<&'static str> {
    GLITCHTIP_TABLES
        .iter()
        .copied()
        .filter(|t| !have.iter().any(|h| h == t))
        .collect()
}

/// `Ok(Ok(()))` when `path` has SQLite's header and passes `integrity_check`; `Ok(Err(why))`
/// when it does not; `Err` when `sqlite3` cannot run.
fn sqlite_complete(path: &Path) -> Result<Result<(), String>, Stop> {
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header));
    if let Err(e) = read {
        return Ok(Err(format!("unreadable header: {e}")));
    }
    if &header != b"SQLite format 3\0" {
        return Ok(Err(format!(
            "not an SQLite database (starts {:?})",
            String::from_utf8_lossy(&header)
        )));
    }
    // `immutable`: no lock, no -wal/-shm files written beside the backup.
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let (ok, said) = run_tool(
        "sqlite3",
        &[
            "-readonly".as_ref(),
            uri.as_ref(),
            "PRAGMA integrity_check;".as_ref(),
        ],
    )?;
    Ok(if ok && said.trim() == "ok" {
        Ok(())
    } else {
        Err(format!(
            "integrity_check: {}",
            said.lines().take(3).collect::<Vec<_>>().join(" ")
        ))
    })
}

fn uri_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

/// Restores a snapshot as the module's restore script does (a copy Grafana opens), into a
/// scratch file, and reads its tables and the rows of the ones a restore is judged by.
type Restored = (Vec<String>, serde_json::Value);

fn sqlite_restore(path: &Path) -> Result<Result<Restored, String>, Stop> {
    let scratch = std::env::temp_dir().join(format!(
        "telltale-restore-{}-{}.db",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    if let Err(e) = std::fs::copy(path, &scratch) {
        let _ = std::fs::remove_file(&scratch);
        return Err(Stop::error(
            &scratch.display().to_string(),
            format!("cannot copy the snapshot to a scratch file: {e}"),
            "give telltale a writable temporary directory (TMPDIR) with room for one snapshot",
        ));
    }
    let result = (|| {
        let (ok, said) = run_tool(
            "sqlite3",
            &[
                scratch.as_os_str(),
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;".as_ref(),
            ],
        )?;
        if !ok {
            return Ok(Err(said.lines().take(3).collect::<Vec<_>>().join(" ")));
        }
        let tables: Vec<String> = said.lines().map(str::to_owned).collect();
        let mut rows = serde_json::Map::new();
        for t in ["dashboard", "user"] {
            if tables.iter().any(|have| have == t) {
                let (ok, n) = run_tool(
                    "sqlite3",
                    &[
                        scratch.as_os_str(),
                        format!("SELECT count(*) FROM \"{t}\";").as_ref(),
                    ],
                )?;
                if ok {
                    rows.insert(t.to_owned(), serde_json::json!(n.trim()));
                }
            }
        }
        Ok(Ok((tables, serde_json::Value::Object(rows))))
    })();
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", scratch.display()));
    }
    result
}

/// `Ok(Ok(tables))` when `path` is a custom-format archive whose table of contents
/// `pg_restore --list` reads, with the tables it holds; `Ok(Err(why))` when it is not.
fn dump_contents(path: &Path) -> Result<Result<Vec<String>, String>, Stop> {
    let mut magic = [0u8; 5];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    if let Err(e) = read {
        return Ok(Err(format!("unreadable header: {e}")));
    }
    if &magic != b"PGDMP" {
        return Ok(Err(format!(
            "not a pg_dump custom-format archive (starts {:?})",
            String::from_utf8_lossy(&magic)
        )));
    }
    let (ok, said) = run_tool("pg_restore", &["--list".as_ref(), path.as_os_str()])?;
    if !ok {
        return Ok(Err(said.lines().take(3).collect::<Vec<_>>().join(" ")));
    }
    Ok(Ok(toc_tables(&said)))
}

/// The `TABLE` entries of a `pg_restore --list` table of contents
/// (`215; 1259 27006 TABLE public issue postgres`).
fn toc_tables(list: &str) -> Vec<String> {
    list.lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.len() >= 6 && words[3] == "TABLE" && words[4] != "DATA")
                .then(|| words[5].to_owned())
        })
        .collect()
}

/// Restores `dump` into the scratch database inside one transaction, lists the tables it made,
/// and rolls back: `Ok(Err(why))` when the restore failed. A database that cannot be reached is
/// `unavailable`, not a failed backup.
fn pg_restore_into(dump: &Path, conn: &str) -> Result<Result<Vec<String>, String>, Stop> {
    let (ok, said) = run_tool(
        "psql",
        &[
            "-X".as_ref(),
            "-At".as_ref(),
            "-d".as_ref(),
            conn.as_ref(),
            "-c".as_ref(),
            "SELECT 1".as_ref(),
        ],
    )?;
    if !ok {
        return Err(Stop::unavailable(
            "backup.scratch_database",
            format!(
                "cannot connect to the scratch database: {}",
                said.lines().take(2).collect::<Vec<_>>().join(" ")
            ),
            "start the PostgreSQL server named by `backup.scratch_database`, or fix the connection string (its password comes from PGPASSFILE or PGPASSWORD)",
        ));
    }
    let spawn_failed = |tool: &str, e: std::io::Error| {
        Stop::error(
            tool,
            format!("cannot run {tool}: {e}"),
            "install the PostgreSQL client tools where telltale runs (Debian: postgresql-client)",
        )
    };
    let mut restore = Command::new("pg_restore")
        .args(["--no-owner", "--no-privileges", "--file=-"])
        .arg(dump)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_failed("pg_restore", e))?;
    let mut psql = Command::new("psql")
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", conn])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_failed("psql", e))?;
    let mut sql = restore.stdout.take().expect("piped");
    let mut input = psql.stdin.take().expect("piped");
    // The script streams through: a production dump may be larger than memory.
    let feeder = std::thread::spawn(move || -> std::io::Result<()> {
        input.write_all(b"BEGIN;\n")?;
        std::io::copy(&mut sql, &mut input)?;
        input.write_all(
            b"\nSELECT 'telltale-table:' || tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public';\nROLLBACK;\n",
        )?;
        Ok(())
    });
    let psql_out = psql
        .wait_with_output()
        .map_err(|e| spawn_failed("psql", e))?;
    let _ = feeder.join();
    let restore_out = restore
        .wait_with_output()
        .map_err(|e| spawn_failed("pg_restore", e))?;
    let first_lines = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !restore_out.status.success() {
        return Ok(Err(format!(
            "pg_restore failed: {}",
            first_lines(&restore_out.stderr)
        )));
    }
    if !psql_out.status.success() {
        return Ok(Err(format!(
            "the restore script failed: {}",
            first_lines(&psql_out.stderr)
        )));
    }
    Ok(Ok(String::from_utf8_lossy(&psql_out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("telltale-table:"))
        .map(str::to_owned)
        .collect()))
}

/// Runs a tool the check needs; a missing tool is the harness's problem, not the stack's.
fn run_tool(tool: &str, args: &[&std::ffi::OsStr]) -> Result<(bool, String), Stop> {
    let output = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Stop::error(
                tool,
                format!("cannot run {tool}: {e}"),
                format!("install {tool} where telltale runs (Debian: sqlite3, postgresql-client; Nix: sqlite, postgresql)"),
            )
        })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        text.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    Ok((output.status.success(), text))
}

/// What must survive a restore.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    dashboards: BTreeSet<String>,
    users: BTreeSet<String>,
    issues: BTreeSet<String>,
}

async fn restore_state(
    ctx: &Context,
    out: &mut Outcome,
    path: &Path,
    phase: BackupPhase,
) -> Result<(), Stop> {
    let now = current_state(ctx).await?;
    match phase {
        BackupPhase::Record => {
            let text = serde_json::to_string_pretty(&now).expect("state serializes");
            std::fs::write(path, text).map_err(|e| {
                Stop::error(
                    &path.display().to_string(),
                    format!("cannot write the state file: {e}"),
                    "point `backup.state_file` at a writable path",
                )
            })?;
            out.evidence.record("recorded", &now);
            out.check(
                "state recorded before the restore",
                !(now.dashboards.is_empty() && now.users.is_empty() && now.issues.is_empty()),
                "some dashboards, users or issues to compare after the restore",
                format!(
                    "{} dashboards, {} users, {} issues",
                    now.dashboards.len(),
                    now.users.len(),
                    now.issues.len()
                ),
            );
        }
        BackupPhase::Verify => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Stop::error(
                    &path.display().to_string(),
                    format!("cannot read the state file: {e}"),
                    "run the scenario with `phase = \"record\"` before the restore",
                )
            })?;
            let before: State = serde_json::from_str(&text).map_err(|e| {
                Stop::error(
                    &path.display().to_string(),
                    format!("not a state file: {e}"),
                    "record it again",
                )
            })?;
            out.evidence.record("recorded", &before);
            out.evidence.record("after_restore", &now);
            for (what, was, is) in [
                ("dashboards", &before.dashboards, &now.dashboards),
                ("users", &before.users, &now.users),
                ("issues", &before.issues, &now.issues),
            ] {
                let lost: Vec<&String> = was.difference(is).collect();
                out.check(
                    format!("{what} back after the restore"),
                    lost.is_empty(),
                    format!("all {} recorded", was.len()),
                    if lost.is_empty() {
                        format!("all {}", was.len())
                    } else {
                        format!("{} missing: {:?}", lost.len(), lost)
                    },
                );
            }
        }
    }
    Ok(())
}

async fn current_state(ctx: &Context) -> Result<State, Stop> {
    let url = ctx.grafana_url();
    let Some(auth) = ctx.grafana_auth()? else {
        return Err(Stop::unavailable(
            &url,
            "no Grafana credential is configured, so dashboards and users cannot be recorded",
            "set `[grafana] admin_password = { file = … }`",
        ));
    };
    let grafana = ctx.http(&url, Some(auth))?;
    let fetch = |path: &'static str, query: Vec<(&'static str, String)>| {
        let grafana = grafana.clone();
        let url = url.clone();
        async move {
            let answer = grafana
                .exchange(Method::Get, path, &query, None, &[])
                .await
                .map_err(|e| Stop::from_error(&format!("{url}{path}"), &e))?;
            if answer.status != 200 {
                return Err(Stop::failed(
                    &format!("{url}{path}"),
                    format!("Grafana answered {}", answer.status),
                    "check the credential and Grafana's log",
                ));
            }
            serde_json::from_slice::<Vec<serde_json::Value>>(&answer.body).map_err(|e| {
                Stop::failed(
                    &format!("{url}{path}"),
                    format!("not a list: {e}"),
                    "is this Grafana 11?",
                )
            })
        }
    };
    let field = |items: Vec<serde_json::Value>, key: &str| -> BTreeSet<String> {
        items
            .iter()
            .filter_map(|v| v.get(key).and_then(|s| s.as_str()).map(str::to_owned))
            .collect()
    };
    let dashboards = field(
        fetch(
            "/api/search",
            vec![("type", "dash-db".into()), ("limit", "5000".into())],
        )
        .await?,
        "uid",
    );
    let users = field(
        fetch("/api/users", vec![("perpage", "1000".into())]).await?,
        "login",
    );

    let glitchtip = ctx.glitchtip()?;
    let org = &ctx.stack.glitchtip.organization;
    let issues = glitchtip
        .issues(org, &telltale_glitchtip::IssueQuery::new())
        .await
        .map_err(|e| Stop::from_error(&ctx.glitchtip_url(), &e))?
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    Ok(State {
        dashboards,
        users,
        issues,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_the_backup_jobs_write_count() {
        assert!(is_backup_name(
            "grafana-20261122T030000Z.db",
            "grafana",
            "db"
        ));
        assert!(is_backup_name(
            "glitchtip-20261122T030000Z.dump",
            "glitchtip",
            "dump"
        ));
        for stray in [
            ".grafana-20261122T030000Z.db.part",
            "grafana-20261122T030000Z.db.part",
            "grafana-2026-11-22.db",
            "grafana-20261122T030000.db",
            "grafana-manual.db",
            "notes.txt",
        ] {
            assert!(!is_backup_name(stray, "grafana", "db"), "{stray}");
        }
    }

    #[test]
    fn the_table_of_contents_of_a_real_glitchtip_dump_lists_its_core_tables() {
        let dump = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/backup/postgresql-15.18/glitchtip-5.1-schema.dump");
        let (ok, list) = match run_tool("pg_restore", &["--list".as_ref(), dump.as_os_str()]) {
            Ok(answer) => answer,
            Err(_) => {
                telltale_testsupport::skip(
                    "GlitchTip dump table of contents (apt install postgresql-client)",
                );
                return;
            }
        };
        assert!(ok, "{list}");
        let tables = toc_tables(&list);
        assert!(missing_tables(&tables).is_empty(), "{tables:?}");
        assert!(!tables.iter().any(|t| t == "DATA"));
        assert_eq!(
            toc_tables("3343; 0 27006 TABLE DATA public issue postgres\n215; 1259 27006 TABLE public issue postgres\n"),
            vec!["issue"]
        );
    }
}
