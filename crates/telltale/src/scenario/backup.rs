//! `backup`: the backups exist, are fresh, are rotated, and restore.
//!
//! - Grafana: the newest snapshot in `grafana_dir` is younger than `max_age_hours` and passes
//!   `sqlite3 FILE 'PRAGMA integrity_check'` (answer `ok`); at most `keep_grafana` are kept.
//! - GlitchTip: the newest dump in `glitchtip_dir` is as fresh and lists under
//!   `pg_restore --list` (so it is a custom-format archive a restore can read); at most
//!   `keep_glitchtip` are kept.
//! - With `state_file` and `phase = "record"`, the dashboards and users Grafana has and the
//!   issues GlitchTip has are written down; with `phase = "verify"` (after a restore) each one
//!   recorded must be back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use telltale_http::Method;

use crate::stack::BackupPhase;

use super::{Context, Outcome, Stop};

/// Runs the scenario.
pub(super) async fn run(ctx: &Context, out: &mut Outcome) -> Result<(), Stop> {
    let Some(backup) = ctx.stack.backup.clone() else {
        return Err(Stop::unavailable(
            "backup",
            "the stack description declares no backups",
            "add a `[backup]` section (grafana_dir, glitchtip_dir, max_age_hours)",
        ));
    };
    let max_age = Duration::from_secs(u64::from(backup.max_age_hours) * 3600);

    let grafana = artefacts(&backup.grafana_dir)?;
    out.evidence.record("grafana_snapshots", listing(&grafana));
    if let Some(newest) = fresh(out, "grafana snapshot", &grafana, max_age) {
        let (ok, said) = run_tool(
            "sqlite3",
            &[newest.as_os_str(), "PRAGMA integrity_check;".as_ref()],
        )?;
        out.check(
            format!("{} passes sqlite integrity_check", newest.display()),
            ok && said.trim() == "ok",
            "ok",
            said.trim(),
        );
    }
    out.check(
        "grafana snapshots rotated",
        grafana.len() <= backup.keep_grafana as usize,
        format!("at most {}", backup.keep_grafana),
        grafana.len(),
    );

    let glitchtip = artefacts(&backup.glitchtip_dir)?;
    out.evidence.record("glitchtip_dumps", listing(&glitchtip));
    if let Some(newest) = fresh(out, "glitchtip dump", &glitchtip, max_age) {
        let (ok, said) = run_tool("pg_restore", &["--list".as_ref(), newest.as_os_str()])?;
        let entries = said
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .count();
        out.evidence.record("pg_restore_list_entries", entries);
        out.check(
            format!("{} lists under pg_restore --list", newest.display()),
            ok && entries > 0,
            "a table of contents",
            if ok {
                format!("{entries} entries")
            } else {
                said.lines().take(3).collect::<Vec<_>>().join(" ")
            },
        );
    }
    out.check(
        "glitchtip dumps rotated",
        glitchtip.len() <= backup.keep_glitchtip as usize,
        format!("at most {}", backup.keep_glitchtip),
        glitchtip.len(),
    );

    match (&backup.state_file, backup.phase) {
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
    }
}

/// Regular files in `dir`, newest first.
fn artefacts(dir: &Path) -> Result<Vec<(PathBuf, SystemTime, u64)>, Stop> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Stop::unavailable(
            &dir.display().to_string(),
            format!("cannot list the backup directory: {e}"),
            "run telltale on the host that keeps the backups, as a user that may read them",
        )
    })?;
    let mut files: Vec<(PathBuf, SystemTime, u64)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let modified = meta.modified().ok()?;
            meta.is_file().then(|| (e.path(), modified, meta.len()))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.1));
    Ok(files)
}

fn listing(files: &[(PathBuf, SystemTime, u64)]) -> Vec<serde_json::Value> {
    files
        .iter()
        .map(|(p, t, len)| {
            serde_json::json!({
                "path": p.display().to_string(),
                "modified": telltale_glitchtip::format_rfc3339(*t),
                "bytes": len,
            })
        })
        .collect()
}

/// Checks that the newest artefact exists and is young enough; returns it.
fn fresh(
    out: &mut Outcome,
    what: &str,
    files: &[(PathBuf, SystemTime, u64)],
    max_age: Duration,
) -> Option<PathBuf> {
    let Some((path, modified, len)) = files.first() else {
        out.check(format!("a {what} exists"), false, "1 or more", 0);
        return None;
    };
    let age = SystemTime::now()
        .duration_since(*modified)
        .unwrap_or_default();
    out.check(
        format!("newest {what} is fresh"),
        age <= max_age,
        format!("younger than {}h", max_age.as_secs() / 3600),
        format!(
            "{} is {}h{}m old",
            path.display(),
            age.as_secs() / 3600,
            age.as_secs() / 60 % 60
        ),
    );
    out.check(
        format!("newest {what} is not empty"),
        *len > 0,
        "more than 0 bytes",
        len,
    );
    Some(path.clone())
}

/// Runs a tool the check needs; a missing tool is the harness's problem, not the stack's.
fn run_tool(tool: &str, args: &[&std::ffi::OsStr]) -> Result<(bool, String), Stop> {
    let output = std::process::Command::new(tool)
        .args(args)
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
