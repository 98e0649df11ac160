//! The `sqlkeep` command as users and scripts run it: exit codes, JSON output, errors.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn sqlkeep(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn backup_list_verify_restore_stats_history_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 256 << 10);
    let cwd = dir.path();
    let o = sqlkeep(cwd, &["--json", "backup", "app.db", "--label", "first"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        o.stderr.is_empty(),
        "no progress bar when not on a terminal: {o:?}"
    );
    let m = json_of(&o);
    let id = m["id"].as_str().unwrap().to_string();
    assert_eq!(m["label"], "first");
    assert_eq!(m["verification"]["ok"], true);
    assert!(cwd
        .join("backups")
        .join(m["file"].as_str().unwrap())
        .exists());

    let list = json_of(&sqlkeep(cwd, &["--db", "app.db", "--json", "list"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    // With only --dir, the database comes from the newest manifest.
    let list2 = json_of(&sqlkeep(cwd, &["--dir", "backups", "--json", "list"]));
    assert_eq!(list, list2);

    let v = json_of(&sqlkeep(cwd, &["--db", "app.db", "--json", "verify", &id]));
    assert_eq!(v[0]["ok"], true);
    assert_eq!(v[0]["level"], "full");

    let o = sqlkeep(
        cwd,
        &[
            "--db", "app.db", "--json", "restore", &id, "--to", "copy.db",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(common::dump(&cwd.join("copy.db")), common::dump(&db));
    // Refuses to overwrite without --yes (stdin is not a terminal here).
    let o = sqlkeep(cwd, &["--db", "app.db", "restore", &id, "--to", "copy.db"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--yes"));
    // Into the live database with --yes: a safety backup is taken.
    let r = json_of(&sqlkeep(
        cwd,
        &["--db", "app.db", "--json", "restore", &id, "--yes"],
    ));
    assert_eq!(r["safety_backup"]["kind"], "pre-restore");

    let stats = json_of(&sqlkeep(cwd, &["--db", "app.db", "--json", "stats"]));
    assert_eq!(stats["count"], 2);
    assert_eq!(stats["runs"], 2);
    assert_eq!(stats["success_rate"], 1.0);
    let history = json_of(&sqlkeep(cwd, &["--db", "app.db", "--json", "history"]));
    assert_eq!(history[0]["kind"], "pre-restore");
    assert_eq!(history[1]["id"], id.as_str());

    let plan = json_of(&sqlkeep(
        cwd,
        &["--db", "app.db", "--json", "rotate", "--dry-run"],
    ));
    assert_eq!(
        plan["deleted"].as_array().unwrap().len(),
        0,
        "manual backups are never rotated"
    );
    let o = sqlkeep(cwd, &["--db", "app.db", "--json", "delete", &id, "--yes"]);
    assert!(o.status.success());
    assert_eq!(
        json_of(&sqlkeep(cwd, &["--db", "app.db", "--json", "list"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The timeline: one row per backup present; the deleted one only when asked for.
    let timeline = json_of(&sqlkeep(cwd, &["--db", "app.db", "--json", "timeline"]));
    assert_eq!(timeline.as_array().unwrap().len(), 1, "{timeline}");
    assert_eq!(timeline[0]["kind"], "pre-restore");
    let all = json_of(&sqlkeep(
        cwd,
        &["--db", "app.db", "--json", "timeline", "--include-deleted"],
    ));
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert_eq!(all[1]["status"], "deleted");
}

#[test]
fn exit_codes_and_messages_for_failures() {
    let dir = tempfile::tempdir().unwrap();
    common::bank(dir.path(), "delete", 64 << 10);
    let cwd = dir.path();
    // Usage errors: 2.
    assert_eq!(sqlkeep(cwd, &["verify"]).status.code(), Some(2));
    assert_eq!(sqlkeep(cwd, &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        sqlkeep(cwd, &["list"]).status.code(),
        Some(2),
        "no database known"
    );
    assert_eq!(
        sqlkeep(cwd, &["backup", "app.db", "--kind", "weekly"])
            .status
            .code(),
        Some(2)
    );
    // Configuration errors name the key: 2.
    std::fs::write(
        cwd.join("bad.json"),
        r#"{"database": "app.db", "retention_day": 3}"#,
    )
    .unwrap();
    let o = sqlkeep(cwd, &["--config", "bad.json", "--json", "list"]);
    assert_eq!(o.status.code(), Some(2));
    let e = json_of(&o);
    assert_eq!(e["error"]["kind"], "config");
    assert_eq!(e["error"]["key"], "retention_day");
    std::fs::write(
        cwd.join("bad2.json"),
        r#"{"database": "app.db", "compression_level": 12}"#,
    )
    .unwrap();
    let o = sqlkeep(cwd, &["--config", "bad2.json", "backup"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("compression_level"));
    // Operation failures: 1.
    let o = sqlkeep(cwd, &["backup", "missing.db"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    let o = sqlkeep(
        cwd,
        &["--db", "app.db", "verify", "app-20260101T000000Z-manual"],
    );
    assert_eq!(o.status.code(), Some(1), "unknown backup");
    // A corrupt backup: verify exits 1, restore refuses with 1.
    let m = json_of(&sqlkeep(cwd, &["--json", "backup", "app.db"]));
    let file = cwd.join("backups").join(m["file"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 3] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let id = m["id"].as_str().unwrap();
    let o = sqlkeep(cwd, &["--db", "app.db", "verify", "--all", "--quick"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("CORRUPT"));
    let o = sqlkeep(cwd, &["--db", "app.db", "restore", id, "--yes"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("damaged"),
        "{o:?}"
    );
}

#[test]
fn demo_runs_and_restores_the_deleted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
        .current_dir(dir.path())
        .args(["--json", "demo", "tour", "--size-mb", "4"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let r = json_of(&o);
    assert_eq!(r["verify"]["ok"], true);
    assert!(r["employees"]["after_accident"].as_i64() < r["employees"]["before"].as_i64());
    assert_eq!(r["employees"]["after_restore"], r["employees"]["before"]);
    // Running it again reuses its own folder; a foreign non-empty folder is refused.
    let again = sqlkeep(dir.path(), &["--json", "demo", "tour", "--size-mb", "1"]);
    assert!(again.status.success());
    std::fs::create_dir(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/notes.txt"), "keep me").unwrap();
    assert_eq!(
        sqlkeep(dir.path(), &["demo", "mine"]).status.code(),
        Some(2)
    );
    assert!(dir.path().join("mine/notes.txt").exists());
}

#[test]
fn restore_proves_by_the_image_hash_and_paranoid_runs_integrity_check_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 256 << 10);
    let cwd = dir.path();
    let m = json_of(&sqlkeep(cwd, &["--json", "backup", "app.db"]));
    let id = m["id"].as_str().unwrap().to_string();
    assert!(m["raw_sha256"].is_string(), "{m}");
    let detail = |cwd: &Path| {
        let list = json_of(&sqlkeep(cwd, &["--db", "app.db", "--json", "list"]));
        list[0]["verification"]["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (args, expected) in [
        (vec!["--to", "fast.db"], "not repeated"),
        (vec!["--to", "slow.db", "--paranoid"], "integrity_check ok"),
    ] {
        let mut argv = vec!["--db", "app.db", "restore", &id];
        argv.extend(args.iter().copied());
        let o = sqlkeep(cwd, &argv);
        assert!(o.status.success(), "{o:?}");
        let d = detail(cwd);
        assert!(d.contains(expected), "{args:?}: {d}");
        assert_eq!(common::dump(&cwd.join(args[1])), common::dump(&db));
    }
}

#[test]
fn status_prints_the_health_verdict_and_exits_1_unless_ok() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 64 << 10);
    let cwd = dir.path();
    // No backup yet: a warning, exit 1.
    let o = sqlkeep(cwd, &["--db", "app.db", "status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("warning: No backup yet · next "), "{text}");
    assert!(text.contains("no backup has been made yet"), "{text}");

    assert!(sqlkeep(cwd, &["backup", "app.db"]).status.success());
    let o = sqlkeep(cwd, &["--db", "app.db", "--json", "status"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let h = json_of(&o);
    assert_eq!(h["verdict"], "ok");
    assert_eq!(h["reasons"], serde_json::json!([]));
    assert!(h["headline"]
        .as_str()
        .unwrap()
        .starts_with("Last backup just now · verified"));

    // A failed manual backup: degraded, with the reason on its own line.
    let good = std::fs::read(&db).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(cwd.join(format!("app.db{suffix}")));
    }
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    assert_eq!(sqlkeep(cwd, &["backup", "app.db"]).status.code(), Some(1));
    let o = sqlkeep(cwd, &["--db", "app.db", "status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("warning: Last backup "), "{text}");
    assert!(
        text.contains("  warning  the last backup failed just now: "),
        "{text}"
    );
    std::fs::write(&db, good).unwrap();
}

/// Offsite copies from the command line (issue 13) with a `file://` remote: `backup`
/// copies, `list --remote`, `verify --remote`, `push`, then on a "new machine" (the local
/// backup folder gone) `restore --remote --to`, and `delete --remote-copies`.
#[test]
fn push_list_verify_restore_and_delete_on_a_remote() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 256 << 10);
    let cwd = dir.path();
    let nas = cwd.join("nas");
    let config = serde_json::json!({
        "database": "app.db",
        "verify_after_backup": "quick",
        "remotes": [{"name": "nas", "url": format!("file://{}", nas.display())}]
    });
    std::fs::write(cwd.join("sqlkeep.json"), config.to_string()).unwrap();
    let c = ["--config", "sqlkeep.json", "--json"];
    let run = |args: &[&str]| sqlkeep(cwd, &[&c[..], args].concat());
    let m = json_of(&run(&["backup"]));
    let id = m["id"].as_str().unwrap().to_string();
    let file = m["file"].as_str().unwrap().to_string();
    assert!(nas.join(&file).exists(), "the backup command copied it");
    let listed = json_of(&run(&["list", "--remote", "nas"]));
    assert_eq!(listed[0]["id"], id.as_str());
    let v = json_of(&run(&["verify", &id, "--remote", "nas"]));
    assert_eq!(v[0]["ok"], true, "{v}");
    let pushed = run(&["push"]);
    assert!(pushed.status.success(), "{pushed:?}");
    assert_eq!(json_of(&pushed)[0]["copied"], serde_json::json!([]));
    let o = run(&["push", "--remote", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_of(&o)["error"]["kind"], "not_found", "{o:?}");

    std::fs::remove_dir_all(cwd.join("backups")).unwrap();
    let o = run(&["restore", &id, "--remote", "nas", "--to", "again.db"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(common::dump(&cwd.join("again.db")), common::dump(&db));

    let o = run(&["backup"]);
    let second = json_of(&o)["id"].as_str().unwrap().to_string();
    let o = run(&["delete", &second, "--remote-copies", "--yes"]);
    assert!(o.status.success(), "{o:?}");
    let listed = json_of(&run(&["list", "--remote", "nas"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let stats = json_of(&run(&["stats"]));
    assert_eq!(stats["offsite"][0]["remote"], "nas");
    assert_eq!(stats["offsite"][0]["missing"], 0);
}

/// `incremental` in the configuration file, `backup --full`, `export`, and the list and
/// statistics that show what each backup added.
#[test]
fn incremental_backups_full_and_export_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 256 << 10);
    let cwd = dir.path();
    std::fs::write(
        cwd.join("sqlkeep.json"),
        r#"{"database": "app.db", "incremental": true, "schedule": "off"}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", "sqlkeep.json"];
        all.extend_from_slice(args);
        sqlkeep(cwd, &all)
    };
    let first = json_of(&run(&["--json", "backup"]));
    assert!(first.get("incremental").is_none(), "{first}");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE accounts SET balance = balance + 5 WHERE id = 3", [])
        .unwrap();
    let inc = json_of(&run(&["--json", "backup"]));
    assert_eq!(inc["incremental"]["parent"], first["id"], "{inc}");
    assert!(inc["file"].as_str().unwrap().ends_with(".pages.zst"));
    let full = json_of(&run(&["--json", "backup", "--full"]));
    assert!(full.get("incremental").is_none(), "{full}");
    let list = run(&["list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("incremental, 2 files"), "{text}");
    let stats = json_of(&run(&["--json", "stats"]));
    assert_eq!(stats["incremental"], 1);
    assert!(stats["bytes_on_disk"].as_u64().unwrap() > 0);
    let id = inc["id"].as_str().unwrap();
    let o = run(&["export", id, "--to", "out.sqlite3.gz"]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("exported"));
    let gz = std::fs::read(cwd.join("out.sqlite3.gz")).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    let again = run(&["export", id, "--to", "out.sqlite3.gz"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{again:?}"
    );
    std::fs::write(
        cwd.join("bad.json"),
        r#"{"database": "app.db", "incremental": "yes"}"#,
    )
    .unwrap();
    let bad = sqlkeep(cwd, &["--config", "bad.json", "list"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("incremental"),
        "{bad:?}"
    );
}
