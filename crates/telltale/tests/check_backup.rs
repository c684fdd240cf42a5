//! `telltale check --scenario backup` on real artefacts: a SQLite database made by the real
//! `sqlite3`, and a custom-format archive from a real PostgreSQL 15 read by the real
//! `pg_restore`. Fresh and sound passes; stale, corrupt, missing or unrotated fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use telltale_testsupport::{find_binary, skip, TempDir};

struct Fixture {
    dir: TempDir,
    grafana: PathBuf,
    glitchtip: PathBuf,
}

fn fixture(name: &str) -> Option<Fixture> {
    if find_binary("SQLITE3_BIN", Some("sqlite3")).is_none()
        || find_binary("PG_RESTORE_BIN", Some("pg_restore")).is_none()
    {
        skip("backup scenario tests need sqlite3 and pg_restore on PATH (apt install sqlite3 postgresql-client)");
        return None;
    }
    let dir = TempDir::new(name);
    let grafana = dir.0.join("grafana");
    let glitchtip = dir.0.join("glitchtip");
    std::fs::create_dir_all(&grafana).unwrap();
    std::fs::create_dir_all(&glitchtip).unwrap();
    let db = grafana.join("grafana-2026-11-22.db");
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg("create table dashboard (uid text primary key, title text); insert into dashboard values ('abc', 'Meridian');")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/backup/postgresql-15.18/glitchtip-fixture.dump"),
        glitchtip.join("glitchtip-2026-11-22.dump"),
    )
    .unwrap();
    Some(Fixture {
        dir,
        grafana,
        glitchtip,
    })
}

fn check(f: &Fixture) -> (i32, serde_json::Value) {
    let stack = f.dir.0.join("stack.toml");
    std::fs::write(
        &stack,
        format!(
            "[backup]\ngrafana_dir = {:?}\nglitchtip_dir = {:?}\nmax_age_hours = 26\nkeep_grafana = 2\n",
            f.grafana, f.glitchtip
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_telltale"))
        .args(["check", "--stack"])
        .arg(&stack)
        .args(["--scenario", "backup", "--report", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn failed_checks(report: &serde_json::Value) -> Vec<String> {
    report["scenarios"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn fresh_sound_backups_pass() {
    let Some(f) = fixture("backup-ok") else {
        return;
    };
    let (code, report) = check(&f);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["scenarios"][0]["status"], "passed");
    let names: Vec<&str> = report["scenarios"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("integrity_check")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("pg_restore --list")),
        "{names:?}"
    );
}

#[test]
fn corrupt_stale_and_unrotated_backups_fail() {
    let Some(f) = fixture("backup-bad") else {
        return;
    };
    // A snapshot whose pages were overwritten: sqlite reports it malformed.
    let db = f.grafana.join("grafana-2026-11-22.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 2..] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    // A dump truncated mid-archive.
    let dump = f.glitchtip.join("glitchtip-2026-11-22.dump");
    let bytes = std::fs::read(&dump).unwrap();
    std::fs::write(&dump, &bytes[..40]).unwrap();
    // Two more snapshots than `keep_grafana = 2` allows, the newest of them two days old.
    for i in 0..2 {
        let old = f.grafana.join(format!("grafana-old-{i}.db"));
        std::fs::write(&old, b"x").unwrap();
        let two_days_ago = SystemTime::now() - Duration::from_secs(48 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
    }
    let (code, report) = check(&f);
    assert_eq!(code, 1, "{report:#}");
    let failed = failed_checks(&report);
    assert!(
        failed.iter().any(|n| n.contains("integrity_check")),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|n| n.contains("pg_restore")),
        "{failed:?}"
    );
    assert!(
        failed.contains(&"grafana snapshots rotated".to_owned()),
        "{failed:?}"
    );

    // The only dump, three days old: stale.
    std::fs::write(&dump, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&dump)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(72 * 3600))
        .unwrap();
    let (_, report) = check(&f);
    let failed = failed_checks(&report);
    assert!(
        failed.contains(&"newest glitchtip dump is fresh".to_owned()),
        "{failed:?}"
    );
}

#[test]
fn a_missing_directory_is_unavailable_not_passed() {
    let Some(f) = fixture("backup-missing") else {
        return;
    };
    std::fs::remove_dir_all(&f.glitchtip).unwrap();
    std::fs::remove_dir_all(&f.grafana).unwrap();
    let (code, report) = check(&f);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["scenarios"][0]["status"], "unavailable");
    assert!(report["scenarios"][0]["problem"]["hint"]
        .as_str()
        .unwrap()
        .contains("host that keeps the backups"));
}
