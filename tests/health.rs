//! The health verdict (issue 15): one answer, computed in the core from the backup log,
//! the backups present, the schedule and an injectable clock, with its reasons. The
//! failures are real: a database file that is not a database, a backup file damaged on
//! disk, a folder entry that blocks rotation.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlkeep::{
    BackupRequest, Clock, Config, ErrorKind, HealthLevel, Keeper, ManualClock, TickOutcome,
    VerifyLevel,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn keeper(dir: &Path, changes: serde_json::Value) -> (Keeper, Arc<ManualClock>, PathBuf) {
    let db = dir.join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x');")
        .unwrap();
    let start: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let base = json!({"schedule": "02:00", "timezone": "UTC", "test_restore_every_days": 0,
                      "retention": {"auto": false}});
    let cfg = Config::new(&db)
        .unwrap()
        .with_changes(&base)
        .unwrap()
        .with_changes(&changes)
        .unwrap();
    (Keeper::with_clock(cfg, clock.clone()), clock, db)
}

/// Moves the clock to the next slot and runs it.
fn next_slot(k: &Keeper, clock: &ManualClock) -> TickOutcome {
    clock.set(k.upcoming_runs(clock.now(), 1)[0]);
    k.run_pending()
}

fn codes(k: &Keeper) -> Vec<&'static str> {
    k.health().unwrap().reasons.iter().map(|r| r.code).collect()
}

#[test]
fn a_week_with_the_app_closed_is_failing_and_the_catch_up_backup_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (k, clock, _) = keeper(dir.path(), json!({}));
    let h = k.health().unwrap();
    assert_eq!(h.verdict, HealthLevel::Warning);
    assert_eq!(codes(&k), ["no_backup"]);
    assert_eq!(h.headline, "No backup yet · next tonight 02:00");

    assert!(matches!(next_slot(&k, &clock), TickOutcome::BackedUp(_)));
    clock.advance(Duration::hours(3));
    let h = k.health().unwrap();
    assert_eq!(h.verdict, HealthLevel::Ok, "{:?}", h.reasons);
    assert!(h.reasons.is_empty());
    assert_eq!(
        h.headline,
        "Last backup 3 h ago · verified · next tonight 02:00"
    );
    assert_eq!(
        h.last_success,
        Some("2026-03-02T02:00:00Z".parse().unwrap())
    );

    // The next slot (03-03 02:00) passes unseen: still ok within 36 hours of it.
    clock.set("2026-03-04T13:00:00Z".parse().unwrap());
    assert_eq!(k.health().unwrap().verdict, HealthLevel::Ok);
    // A week later, without the scheduler having run: failing, and it says why.
    clock.set("2026-03-09T12:00:00Z".parse().unwrap());
    let h = k.health().unwrap();
    assert_eq!(h.verdict, HealthLevel::Failing);
    assert_eq!(h.reasons.len(), 1, "{:?}", h.reasons);
    assert_eq!(h.reasons[0].code, "stale");
    assert!(
        h.reasons[0]
            .message
            .contains("no successful backup since 7 days ago")
            && h.reasons[0].message.contains("more than 36 h"),
        "{}",
        h.reasons[0].message
    );
    // The app starts and catches up: healthy again.
    assert!(matches!(k.run_pending(), TickOutcome::BackedUp(_)));
    assert_eq!(k.health().unwrap().verdict, HealthLevel::Ok);
}

#[test]
fn stale_after_hours_is_configurable_and_validated_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (k, clock, _) = keeper(dir.path(), json!({"notify": {"stale_after_hours": 2}}));
    assert_eq!(
        k.config().to_value()["notify"],
        json!({"channels": [], "stale_after_hours": 2, "repeat_hours": 24, "timeout_seconds": 10})
    );
    assert!(matches!(next_slot(&k, &clock), TickOutcome::BackedUp(_)));
    clock.set("2026-03-03T03:59:00Z".parse().unwrap());
    assert_eq!(k.health().unwrap().verdict, HealthLevel::Ok);
    clock.set("2026-03-03T04:00:00Z".parse().unwrap());
    assert_eq!(codes(&k), ["stale"]);

    for (bad, key, says) in [
        (
            json!({"notify": {"stale_after_hours": 0}}),
            "notify.stale_after_hours",
            "at least 1",
        ),
        (
            json!({"notify": {"stale_after_hours": "36"}}),
            "notify.stale_after_hours",
            "whole number",
        ),
        (
            json!({"notify": {"stale_after_hour": 3}}),
            "notify.stale_after_hour",
            "did you mean `stale_after_hours`",
        ),
        (json!({"notify": 36}), "notify", "stale_after_hours"),
    ] {
        let e = k.config().with_changes(&bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let text = e.to_string();
        assert!(text.contains(key) && text.contains(says), "{bad}: {text}");
    }
    // The default.
    let cfg = Config::new(dir.path().join("other.db")).unwrap();
    assert_eq!(cfg.notify.stale_after_hours, 36);
}

#[test]
fn a_failed_scheduled_backup_is_failing_until_one_succeeds_and_a_failed_manual_one_warns() {
    let dir = tempfile::tempdir().unwrap();
    let (k, clock, db) = keeper(dir.path(), json!({}));
    assert!(matches!(next_slot(&k, &clock), TickOutcome::BackedUp(_)));
    let good = std::fs::read(&db).unwrap();
    // The database file is replaced by something that is not a database.
    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    assert!(matches!(next_slot(&k, &clock), TickOutcome::Failed(..)));
    let h = k.health().unwrap();
    assert_eq!(h.verdict, HealthLevel::Failing);
    assert_eq!(h.reasons[0].code, "last_backup_failed");
    assert!(
        h.reasons[0]
            .message
            .starts_with("the last scheduled backup failed just now: "),
        "{}",
        h.reasons[0].message
    );
    // The headline still names the last good backup.
    assert!(
        h.headline.starts_with("Last backup 24 h ago · verified"),
        "{}",
        h.headline
    );

    std::fs::write(&db, &good).unwrap();
    assert!(matches!(next_slot(&k, &clock), TickOutcome::BackedUp(_)));
    assert_eq!(k.health().unwrap().verdict, HealthLevel::Ok);

    std::fs::write(&db, vec![0x5a; 8192]).unwrap();
    k.backup(&BackupRequest::manual()).unwrap_err();
    assert_eq!(k.health().unwrap().verdict, HealthLevel::Warning);
    assert_eq!(codes(&k), ["backup_failed"]);
    std::fs::write(&db, &good).unwrap();
    k.backup(&BackupRequest::manual()).unwrap();
    assert_eq!(k.health().unwrap().verdict, HealthLevel::Ok);
}

#[test]
fn a_damaged_newest_backup_is_failing_and_a_failed_rotation_warns() {
    let dir = tempfile::tempdir().unwrap();
    let (k, clock, _) = keeper(
        dir.path(),
        json!({"retention": {"auto": true, "keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}}),
    );
    let TickOutcome::BackedUp(first) = next_slot(&k, &clock) else {
        panic!()
    };
    // Rotation will have to delete `first`: a non-empty directory where one of its
    // possible data files would be makes that deletion fail.
    let blocker = k
        .config()
        .backup_dir
        .join(format!("{}.sqlite3.zst", first.id));
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), b"x").unwrap();
    let TickOutcome::BackedUp(second) = next_slot(&k, &clock) else {
        panic!()
    };
    let h = k.health().unwrap();
    assert_eq!(h.verdict, HealthLevel::Warning);
    assert_eq!(h.reasons[0].code, "rotation_failed");
    assert!(
        h.reasons[0].message.contains("cannot delete backup file"),
        "{:?}",
        h.reasons
    );

    // The newest backup's file is damaged on disk and a verification finds it.
    let file = k.config().backup_dir.join(&second.file);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    assert!(!k.verify(&second.id, VerifyLevel::Quick).unwrap().ok);
    let h = k.health().unwrap();
    assert_eq!(h.verdict, HealthLevel::Failing);
    assert_eq!(
        h.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        ["newest_backup_damaged", "rotation_failed"],
        "worst first"
    );
    assert!(h.headline.contains("· corrupt ·"), "{}", h.headline);

    // Fixed folder: the next rotation works and clears the warning.
    std::fs::remove_dir_all(&blocker).unwrap();
    assert!(matches!(next_slot(&k, &clock), TickOutcome::BackedUp(_)));
    assert_eq!(
        k.health().unwrap().verdict,
        HealthLevel::Ok,
        "{:?}",
        codes(&k)
    );
    assert!(clock.now() > first.created_at);
}

#[test]
fn the_verdict_serializes_with_stable_names() {
    let dir = tempfile::tempdir().unwrap();
    let (k, _, _) = keeper(dir.path(), json!({}));
    let v = serde_json::to_value(k.health().unwrap()).unwrap();
    assert_eq!(v["verdict"], "warning");
    assert_eq!(v["reasons"][0]["code"], "no_backup");
    assert_eq!(v["reasons"][0]["level"], "warning");
    assert_eq!(v["next_run"], "2026-03-02T02:00:00.000Z");
    assert_eq!(v["checked_at"], "2026-03-01T12:00:00.000Z");
    assert!(v["last_success"].is_null() && v["last_backup"].is_null());
}
