//! Grandfather-father-son retention over real backups, driven by a manual clock.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlkeep::testing::rotation_plan as plan;
use sqlkeep::Action;
use sqlkeep::{
    BackupRequest, Config, Keeper, Kind, ManualClock, Retention, RetentionChange, TickOutcome, Zone,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

fn small_db(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x');")
        .unwrap();
    db
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// 400 days of daily 02:00 backups in Europe/Berlin from 2025-01-01 to 2026-02-04, with
/// rotation after every backup (the default policy: 30 daily, 12 weekly, 12 monthly) and
/// a manual backup every 50 days.
#[test]
fn four_hundred_days_of_auto_rotation_keep_exactly_the_hand_computed_set() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let start: DateTime<Utc> = "2024-12-31T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let cfg = Config::new(&db)
        .unwrap()
        .with_changes(&json!({"schedule": "02:00", "timezone": "Europe/Berlin", "verify_after_backup": "quick",
                              "test_restore_every_days": 0}))
        .unwrap();
    let k = Keeper::with_clock(cfg, clock.clone());
    let zone = k.config().timezone;
    let mut t = start;
    let mut manual = Vec::new();
    for day in 0..400 {
        t = k.upcoming_runs(t, 1)[0];
        clock.set(t);
        match k.run_pending() {
            TickOutcome::BackedUp(_) => {}
            other => panic!("day {day}: {other:?}"),
        }
        if day % 50 == 0 {
            clock.set(t + Duration::hours(8));
            manual.push(k.backup(&BackupRequest::manual()).unwrap().id);
        }
    }
    let local_date = |m: &sqlkeep::Manifest| zone.naive_local(m.created_at).date();
    let list = k.list().unwrap();
    let kept: BTreeSet<NaiveDate> = list
        .iter()
        .filter(|m| m.kind == Kind::Scheduled)
        .map(local_date)
        .collect();

    // Worked out by hand (2026-02-04 is a Wednesday, ISO week 2026-W06):
    // daily: the last 30 days, 2026-01-06 .. 2026-02-04.
    let mut expected: BTreeSet<NaiveDate> = (0..30)
        .map(|i| d("2026-02-04") - Duration::days(i))
        .collect();
    // weekly: weeks W06..W02 of 2026 are used by dailies; then the Sunday (newest day) of
    // each of the 12 weeks before: 2026-01-04 back to 2025-10-19.
    for w in 0..12 {
        expected.insert(d("2026-01-04") - Duration::weeks(w));
    }
    // monthly: Feb and Jan 2026 are used by dailies, Nov 2025 by its weekly (Nov 30 is a
    // Sunday); the last day of every other month back to January 2025: 11 backups (fewer
    // than 12 months exist).
    for last_day in [
        "2025-12-31",
        "2025-10-31",
        "2025-09-30",
        "2025-08-31",
        "2025-07-31",
        "2025-06-30",
        "2025-05-31",
        "2025-04-30",
        "2025-03-31",
        "2025-02-28",
        "2025-01-31",
    ] {
        expected.insert(d(last_day));
    }
    assert_eq!(expected.len(), 30 + 12 + 11);
    assert_eq!(kept, expected);
    // Manual backups are never touched.
    let manual_left: Vec<String> = list
        .iter()
        .filter(|m| m.kind == Kind::Manual)
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(manual_left.len(), manual.len());
    for id in &manual {
        assert!(manual_left.contains(id));
    }
    // Previewing a stricter policy lists what it would delete, and changes nothing.
    let stricter = RetentionChange::from_value(&json!({"weekly": 4, "monthly": 0})).unwrap();
    let preview = k.preview_rotation(&stricter).unwrap();
    assert_eq!(preview.deleted.len(), 8 + 11);
    assert_eq!(k.config().retention.weekly, 12);
    assert_eq!(k.list().unwrap().len(), list.len());
    let e = RetentionChange::from_value(&json!({"weekly": "four"})).unwrap_err();
    assert_eq!(e.key(), Some("retention.weekly"));
    // A dry run now deletes nothing: the state is already what the policy wants.
    let p = k.rotate(true).unwrap();
    assert!(p.deleted.is_empty(), "{:?}", p.deleted);
    // Every deletion was logged.
    let deleted = sqlkeep::testing::BackupLog::new(&k.config().backup_dir)
        .read()
        .unwrap()
        .iter()
        .filter(|e| e.type_name() == "backup_deleted")
        .count();
    assert_eq!(deleted, 400 - expected.len());
    // No file of a deleted backup is left behind.
    let files = std::fs::read_dir(&k.config().backup_dir).unwrap().count();
    let hidden = [
        ".sqlkeep.lock",
        ".sqlkeep-schedule.lock",
        "sqlkeep-log.jsonl",
    ];
    assert_eq!(files - hidden.len(), 2 * list.len());
}

fn fake(id_day: u32, kind: Kind, verified: Option<bool>) -> sqlkeep::Manifest {
    let created: DateTime<Utc> = format!("2026-03-{id_day:02}T02:00:00Z").parse().unwrap();
    let id = format!("app-{}-{}", created.format("%Y%m%dT%H%M%SZ"), kind.as_str());
    sqlkeep::Manifest {
        format: 1,
        requires: vec![],
        file: format!("{id}.sqlite3.gz"),
        id,
        kind,
        label: None,
        created_at: created,
        database: "/x/app.db".into(),
        compression: sqlkeep::Compression::Gzip,
        compression_level: 6,
        size_bytes: 100,
        sha256: String::new(),
        raw_size_bytes: 300,
        page_size: 4096,
        page_count: 1,
        user_version: 0,
        journal_mode: "delete".into(),
        sqlite_version: "3".into(),
        sqlkeep_version: "0".into(),
        duration_ms: 1,
        copy_ms: 0,
        verification: verified.map(|ok| sqlkeep::Verification {
            level: sqlkeep::VerifyLevel::Full,
            ok,
            at: created,
            detail: String::new(),
        }),
        encryption: None,
        last_restored_at: None,
        extra: Default::default(),
    }
}

fn policy(keep_last: u32, daily: u32, weekly: u32) -> Retention {
    Retention {
        keep_last,
        daily,
        weekly,
        monthly: 0,
        yearly: 0,
        auto: true,
    }
}

#[test]
fn a_period_used_by_an_earlier_rule_does_not_count_toward_a_later_one() {
    // March 2026: 1st is a Sunday. Backups on days 1..=14, one a day.
    let backups: Vec<_> = (1..=14)
        .map(|day| fake(day, Kind::Scheduled, Some(true)))
        .collect();
    let p = plan(&backups, &policy(2, 0, 2), Zone::Utc);
    let kept: Vec<&str> = p.kept.iter().map(|s| &s[4..12]).collect();
    // keep_last keeps the 14th and 13th (week 2026-W11); the weekly rule finds W11 used,
    // then keeps the newest of W10 (the 8th) and of W09 (the 1st).
    assert_eq!(kept, vec!["20260314", "20260313", "20260308", "20260301"]);
    let reasons: Vec<&str> = p
        .entries
        .iter()
        .filter(|e| e.action == Action::Keep)
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        vec!["keep_last #1", "keep_last #2", "weekly #1", "weekly #2"]
    );
    assert_eq!(p.freed_bytes, 10 * 100);
}

#[test]
fn manual_and_safety_kinds_are_never_candidates_and_zero_backups_never_remain() {
    let mut backups: Vec<_> = (1..=5)
        .map(|day| fake(day, Kind::Scheduled, None))
        .collect();
    backups.push(fake(6, Kind::Manual, None));
    backups.push(fake(7, Kind::PreRestore, None));
    backups.push(fake(8, Kind::PreOperation, None));
    let p = plan(&backups, &policy(0, 0, 0), Zone::Utc);
    assert_eq!(p.kept.len(), 3, "only the three non-automatic backups stay");
    assert!(p
        .entries
        .iter()
        .filter(|e| !e.kind.is_automatic())
        .all(|e| e.action == Action::Keep));
    // With nothing but automatic backups and a policy that keeps none, the newest stays.
    let only_auto: Vec<_> = (1..=5)
        .map(|day| fake(day, Kind::Scheduled, None))
        .collect();
    let p = plan(&only_auto, &policy(0, 0, 0), Zone::Utc);
    assert_eq!(p.kept.len(), 1);
    assert_eq!(p.entries[0].reason, "never leave zero backups");
}

#[test]
fn the_newest_verified_backup_survives_and_a_corrupt_one_does_not_stand_for_its_day() {
    // Day 5 has two backups: the newer one failed verification.
    let mut backups = vec![fake(4, Kind::Scheduled, Some(true))];
    let mut good = fake(5, Kind::Scheduled, Some(true));
    good.created_at -= Duration::hours(1);
    good.id = format!("app-{}-scheduled", good.created_at.format("%Y%m%dT%H%M%SZ"));
    backups.push(good.clone());
    backups.push(fake(5, Kind::Scheduled, Some(false)));
    backups.push(fake(6, Kind::Scheduled, None)); // not verified
    let p = plan(&backups, &policy(0, 1, 0), Zone::Utc);
    let action = |id: &str| p.entries.iter().find(|e| e.id == id).unwrap();
    // daily #1 is the unverified day-6 backup; the newest *verified* one (day 5, good) is
    // kept by the safety net; the corrupt one is deleted.
    assert_eq!(action(&backups[3].id).reason, "daily #1");
    assert_eq!(action(&good.id).reason, "newest verified backup");
    assert_eq!(action(&backups[2].id).action, Action::Delete);
    assert_eq!(action(&backups[0].id).action, Action::Delete);
}
