//! `telltale check --scenario backup` on real artefacts, named as the NixOS module's backup jobs
//! name them: SQLite databases made by the real `sqlite3` (with the tables Grafana's migrations
//! create, by name: no Grafana runs on this machine kind), a custom-format archive of a real
//! GlitchTip 5.1 schema from PostgreSQL 15 read by the real `pg_restore`, and restores into a
//! private PostgreSQL cluster the test starts (`TELLTALE_POSTGRES_REQUIRED=1` makes its absence
//! a failure, as CI sets it). Sound backups pass, "restorable" only where a restore ran; stale,
//! corrupt, foreign, stray, partial, unrotated or unrestorable backups fail naming the check.

mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use telltale_testsupport::{check_json_command, checks_with, find_binary, skip, TempDir};

const STAMP: &str = "20261122T030000Z";

/// The tables Grafana 11's migrations create that the scenario looks for, plus one more.
const GRAFANA_SCHEMA: &str =
    "create table migration_log (id integer primary key, migration_id text);
create table org (id integer primary key, name text);
create table user (id integer primary key, login text);
create table dashboard (id integer primary key, uid text, title text);
create table data_source (id integer primary key, name text, type text);
create table api_key (id integer primary key);
insert into org values (1, 'Main Org.');
insert into user values (1, 'admin');
insert into dashboard values (1, 'abc', 'Meridian');";

fn fixture_dump(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/backup/postgresql-15.18")
        .join(name)
}

struct Fixture {
    dir: TempDir,
    grafana: PathBuf,
    glitchtip: PathBuf,
    scratch: Option<String>,
}

impl Fixture {
    fn grafana_db(&self) -> PathBuf {
        self.grafana.join(format!("grafana-{STAMP}.db"))
    }
    fn glitchtip_dump(&self) -> PathBuf {
        self.glitchtip.join(format!("glitchtip-{STAMP}.dump"))
    }
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
    let f = Fixture {
        dir,
        grafana,
        glitchtip,
        scratch: None,
    };
    sqlite(&f.grafana_db(), GRAFANA_SCHEMA);
    std::fs::copy(
        fixture_dump("glitchtip-5.1-schema.dump"),
        f.glitchtip_dump(),
    )
    .unwrap();
    Some(f)
}

fn sqlite(db: &Path, sql: &str) {
    let status = Command::new("sqlite3").arg(db).arg(sql).status().unwrap();
    assert!(status.success());
}

fn age(path: &Path, hours: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(hours * 3600))
        .unwrap();
}

fn check(f: &Fixture) -> (i32, Value) {
    let stack = f.dir.0.join("stack.toml");
    let mut text = format!(
        "[backup]\ngrafana_dir = {:?}\nglitchtip_dir = {:?}\nmax_age_hours = 26\nkeep_grafana = 2\n",
        f.grafana, f.glitchtip
    );
    if let Some(conn) = &f.scratch {
        text.push_str(&format!("scratch_database = {conn:?}\n"));
    }
    std::fs::write(&stack, text).unwrap();
    check_json_command(
        Command::new(env!("CARGO_BIN_EXE_telltale"))
            .args(["check", "--stack"])
            .arg(&stack)
            .args(["--scenario", "backup", "--report", "json"]),
    )
}

#[test]
fn fresh_complete_backups_pass_grafana_restorable_glitchtip_only_readable() {
    let Some(f) = fixture("backup-ok") else {
        return;
    };
    let (code, s) = check(&f);
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    let passed = checks_with(&s, true);
    for expected in [
        format!("grafana backup: grafana-{STAMP}.db is a complete SQLite database"),
        format!("grafana backup: grafana-{STAMP}.db restores with Grafana's tables"),
        format!("glitchtip backup: glitchtip-{STAMP}.dump is a complete pg_dump archive"),
        format!("glitchtip backup: glitchtip-{STAMP}.dump lists GlitchTip's tables"),
        "grafana backup: newest complete backup is fresh".to_owned(),
        "glitchtip backup: rotated".to_owned(),
    ] {
        assert!(passed.contains(&expected), "{expected} not in {passed:?}");
    }
    // No restore of the dump ran, so it is not called restorable.
    let summary = s["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("grafana-{STAMP}.db restorable"))
            && summary.contains(&format!("glitchtip-{STAMP}.dump readable"))
            && !summary.contains("dump restorable"),
        "{summary}"
    );
    assert_eq!(s["evidence"]["grafana_restore"]["rows"]["dashboard"], "1");
}

#[test]
fn an_empty_sqlite_database_is_intact_but_not_a_grafana_backup() {
    let Some(f) = fixture("backup-empty") else {
        return;
    };
    std::fs::remove_file(f.grafana_db()).unwrap();
    sqlite(&f.grafana_db(), "PRAGMA user_version = 1;");
    let (code, s) = check(&f);
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert!(checks_with(&s, true).contains(&format!(
        "grafana backup: grafana-{STAMP}.db is a complete SQLite database"
    )));
    assert_eq!(
        checks_with(&s, false),
        vec![format!(
            "grafana backup: grafana-{STAMP}.db restores with Grafana's tables"
        )]
    );
}

#[test]
fn a_dump_of_another_database_is_readable_but_not_glitchtips() {
    let Some(f) = fixture("backup-foreign") else {
        return;
    };
    std::fs::copy(fixture_dump("glitchtip-fixture.dump"), f.glitchtip_dump()).unwrap();
    let (code, s) = check(&f);
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert_eq!(
        checks_with(&s, false),
        vec![format!(
            "glitchtip backup: glitchtip-{STAMP}.dump lists GlitchTip's tables"
        )]
    );
}

#[test]
fn stray_and_partial_files_are_not_counted_as_backups() {
    let Some(f) = fixture("backup-stray") else {
        return;
    };
    // The one real snapshot is three days old; a fresh unfinished one, a hand-made copy and
    // notes sit beside it, all sound SQLite or text.
    age(&f.grafana_db(), 72);
    let partial = f.grafana.join(".grafana-20261125T030000Z.db.part");
    sqlite(&partial, GRAFANA_SCHEMA);
    sqlite(&f.grafana.join("grafana-manual.db"), GRAFANA_SCHEMA);
    std::fs::write(f.grafana.join("notes.txt"), "restored by hand\n").unwrap();
    let (code, s) = check(&f);
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert_eq!(
        checks_with(&s, false),
        vec!["grafana backup: newest complete backup is fresh"]
    );
    let rotated = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "grafana backup: rotated")
        .unwrap();
    assert_eq!(
        rotated["actual"], "1",
        "only the named snapshot counts: {rotated}"
    );
    let listed = &s["evidence"]["grafana_snapshots"];
    assert_eq!(listed["partial_not_counted"].as_array().unwrap().len(), 1);
    assert_eq!(
        listed["other_files_not_counted"].as_array().unwrap().len(),
        2
    );

    // With no named snapshot at all, nothing is a backup.
    std::fs::remove_file(f.grafana_db()).unwrap();
    let (code, s) = check(&f);
    assert_eq!(code, 1, "{s:#}");
    assert_eq!(
        checks_with(&s, false),
        vec!["grafana backup: a backup exists"]
    );
}

#[test]
fn corrupt_truncated_and_unrotated_backups_fail() {
    let Some(f) = fixture("backup-bad") else {
        return;
    };
    // A snapshot whose pages were overwritten: sqlite reports it malformed.
    let db = f.grafana_db();
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 2..] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    // A dump cut short inside its header: the magic is there, the table of contents is not.
    let dump = f.glitchtip_dump();
    let good_dump = std::fs::read(&dump).unwrap();
    std::fs::write(&dump, &good_dump[..40]).unwrap();
    // Two more snapshots than `keep_grafana = 2` allows, named as the job names them.
    for day in ["20261120T030000Z", "20261121T030000Z"] {
        let old = f.grafana.join(format!("grafana-{day}.db"));
        std::fs::write(&old, b"x").unwrap();
        age(&old, 48);
    }
    let (code, s) = check(&f);
    assert_eq!(code, 1, "{s:#}");
    let failed = checks_with(&s, false);
    for expected in [
        format!("grafana backup: grafana-{STAMP}.db is a complete SQLite database"),
        "grafana backup: grafana-20261120T030000Z.db is a complete SQLite database".into(),
        format!("glitchtip backup: glitchtip-{STAMP}.dump is a complete pg_dump archive"),
        "grafana backup: rotated".into(),
        "grafana backup: a complete backup exists".into(),
        "glitchtip backup: a complete backup exists".into(),
    ] {
        assert!(failed.contains(&expected), "{expected} not in {failed:?}");
    }

    // The only dump, sound but three days old: stale.
    std::fs::write(&dump, &good_dump).unwrap();
    age(&dump, 72);
    let (_, s) = check(&f);
    assert!(
        checks_with(&s, false)
            .contains(&"glitchtip backup: newest complete backup is fresh".to_owned()),
        "{s:#}"
    );
}

#[test]
fn a_missing_directory_is_unavailable_not_passed() {
    let Some(f) = fixture("backup-missing") else {
        return;
    };
    std::fs::remove_dir_all(&f.glitchtip).unwrap();
    std::fs::remove_dir_all(&f.grafana).unwrap();
    let (code, s) = check(&f);
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    let message = s["problem"]["message"].as_str().unwrap();
    assert!(
        message.contains("grafana: cannot list") && message.contains("glitchtip: cannot list"),
        "{message}"
    );
    assert!(s["problem"]["hint"]
        .as_str()
        .unwrap()
        .contains("host that keeps the backups"));
}

#[test]
fn a_glitchtip_dump_restores_into_a_scratch_database_left_as_it_was() {
    let Some(mut f) = fixture("backup-restore") else {
        return;
    };
    let Some(pg) = servers::postgres("a_glitchtip_dump_restores_into_a_scratch_database") else {
        return;
    };
    pg.psql("postgres", "CREATE DATABASE scratch");
    f.scratch = Some(pg.conn("scratch"));
    let (code, s) = check(&f);
    assert_eq!((code, s["status"].as_str()), (0, Some("passed")), "{s:#}");
    assert!(checks_with(&s, true).contains(&format!(
        "glitchtip backup: glitchtip-{STAMP}.dump restores into the scratch database"
    )));
    assert!(
        s["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("glitchtip-{STAMP}.dump restorable")),
        "{s:#}"
    );
    // Rolled back: the scratch database holds nothing afterwards.
    assert_eq!(
        pg.psql(
            "scratch",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .trim(),
        "0"
    );
}

#[test]
fn a_dump_cut_off_in_its_data_is_readable_but_not_restorable() {
    let Some(mut f) = fixture("backup-cut") else {
        return;
    };
    let Some(pg) = servers::postgres("a_dump_cut_off_in_its_data") else {
        return;
    };
    // A real GlitchTip-shaped database with rows, dumped by the real pg_dump, then cut short in
    // its data: the table of contents at the front still lists, the restore cannot finish.
    pg.psql("postgres", "CREATE DATABASE source");
    pg.psql("postgres", "CREATE DATABASE scratch");
    let restored = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "-d", &pg.conn("source")])
        .arg(fixture_dump("glitchtip-5.1-schema.dump"))
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    pg.psql(
        "source",
        "INSERT INTO django_migrations (app, name, applied) SELECT 'telltale', md5(g::text) || md5((g * 7)::text), now() FROM generate_series(1, 20000) g",
    );
    let whole = f.dir.0.join("whole.dump");
    let dumped = Command::new("pg_dump")
        .args(["-Fc", "--compress=0", "-f"])
        .arg(&whole)
        .arg(pg.conn("source"))
        .output()
        .unwrap();
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let bytes = std::fs::read(&whole).unwrap();
    std::fs::write(f.glitchtip_dump(), &bytes[..bytes.len() - 200_000]).unwrap();
    f.scratch = Some(pg.conn("scratch"));
    let (code, s) = check(&f);
    assert_eq!((code, s["status"].as_str()), (1, Some("failed")), "{s:#}");
    assert!(checks_with(&s, true).contains(&format!(
        "glitchtip backup: glitchtip-{STAMP}.dump lists GlitchTip's tables"
    )));
    assert_eq!(
        checks_with(&s, false),
        vec![format!(
            "glitchtip backup: glitchtip-{STAMP}.dump restores into the scratch database"
        )]
    );

    // A scratch database that cannot be reached says so; it is not a broken backup.
    f.scratch = Some(format!(
        "host={} user=postgres dbname=scratch",
        f.dir.0.join("no-server").display()
    ));
    std::fs::copy(
        fixture_dump("glitchtip-5.1-schema.dump"),
        f.glitchtip_dump(),
    )
    .unwrap();
    let (code, s) = check(&f);
    assert_eq!(
        (code, s["status"].as_str()),
        (2, Some("unavailable")),
        "{s:#}"
    );
    assert!(s["problem"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot connect to the scratch database"));
}
