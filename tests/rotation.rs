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
    fake_at(created, kind, verified)
}

fn fake_at(created: DateTime<Utc>, kind: Kind, verified: Option<bool>) -> sqlkeep::Manifest {
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
        raw_sha256: None,
        page_size: 4096,
        page_count: 1,
        user_version: 0,
        journal_mode: "delete".into(),
        incremental: None,
        full_because: None,
        postgres: None,
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
        keep_within: None,
        keep_last,
        hourly: 0,
        daily,
        weekly,
        monthly: 0,
        yearly: 0,
        auto: true,
        ..Retention::default()
    }
}

#[test]
fn a_period_used_by_an_earlier_rule_does_not_count_toward_a_later_one() {
    // March 2026: 1st is a Sunday. Backups on days 1..=14, one a day.
    let backups: Vec<_> = (1..=14)
        .map(|day| fake(day, Kind::Scheduled, Some(true)))
        .collect();
    let p = plan(&backups, &policy(2, 0, 2), Zone::Utc, Utc::now());
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
    let p = plan(&backups, &policy(0, 0, 0), Zone::Utc, Utc::now());
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
    let p = plan(&only_auto, &policy(0, 0, 0), Zone::Utc, Utc::now());
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
    let p = plan(&backups, &policy(0, 1, 0), Zone::Utc, Utc::now());
    let action = |id: &str| p.entries.iter().find(|e| e.id == id).unwrap();
    // daily #1 is the unverified day-6 backup; the newest *verified* one (day 5, good) is
    // kept by the safety net; the corrupt one is deleted.
    assert_eq!(action(&backups[3].id).reason, "daily #1");
    assert_eq!(action(&good.id).reason, "newest verified backup");
    assert_eq!(action(&backups[2].id).action, Action::Delete);
    assert_eq!(action(&backups[0].id).action, Action::Delete);
}

/// `fake` with a size.
fn sized(day: u32, kind: Kind, size_bytes: u64) -> sqlkeep::Manifest {
    sqlkeep::Manifest {
        size_bytes,
        ..fake(day, kind, Some(true))
    }
}

#[test]
fn a_size_budget_removes_the_oldest_automatic_backups_the_rules_kept() {
    // Ten daily backups of 100 bytes each and a manual one of 250; the rules keep all.
    let mut backups: Vec<_> = (1..=10).map(|d| sized(d, Kind::Scheduled, 100)).collect();
    backups.push(sized(5, Kind::Manual, 250));
    let mut p30 = policy(0, 30, 0);
    assert_eq!(plan(&backups, &p30, Zone::Utc, Utc::now()).deleted.len(), 0);
    // A budget of 800 bytes: 250 manual + 5 x 100 = 750 fit; days 1 to 5 go, oldest first.
    p30.max_total_bytes = Some(800);
    let p = plan(&backups, &p30, Zone::Utc, Utc::now());
    let gone: Vec<&str> = p.deleted.iter().map(|s| &s[4..12]).collect();
    assert_eq!(
        gone,
        ["20260305", "20260304", "20260303", "20260302", "20260301"]
    );
    assert_eq!(
        (p.total_bytes, p.freed_bytes, p.max_total_bytes),
        (750, 500, Some(800))
    );
    assert!(p.warning.is_none());
    let reason = &p
        .entries
        .iter()
        .find(|e| e.id == p.deleted[0])
        .unwrap()
        .reason;
    assert_eq!(
        reason,
        "over the size budget of 800 B: the oldest automatic backups go first"
    );
    assert!(p
        .entries
        .iter()
        .any(|e| e.kind == Kind::Manual && e.action == Action::Keep));

    // Manual backups alone above the budget: the newest automatic backup and the manual
    // one stay, and the plan says why the budget is not met.
    p30.max_total_bytes = Some(200);
    let p = plan(&backups, &p30, Zone::Utc, Utc::now());
    assert_eq!(p.kept.len(), 2, "{:?}", p.kept);
    assert_eq!(p.total_bytes, 350);
    let w = p.warning.as_deref().unwrap();
    assert!(w.contains("manual backups alone take 250 B"), "{w}");
    assert!(w.contains("more than the budget of 200 B"), "{w}");

    // A share of the disk: 1% of 50,000 bytes is 500; the smaller budget applies.
    p30.max_total_bytes = Some(10_000);
    p30.max_total_percent_of_disk = Some(1);
    let p = sqlkeep::testing::rotation_plan_on_disk(
        &backups,
        &p30,
        Zone::Utc,
        Utc::now(),
        Some(50_000),
    );
    assert_eq!((p.max_total_bytes, p.total_bytes), (Some(500), 450));
}

#[test]
fn size_budget_settings_are_validated_by_name_and_reach_the_keeper() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let clock = Arc::new(sqlkeep::ManualClock::new(
        "2026-03-01T12:00:00Z".parse().unwrap(),
    ));
    let k = Keeper::with_clock(Config::new(&db).unwrap(), clock.clone());
    for (v, says) in [
        (
            json!({"retention": {"max_total_bytes": 0}}),
            "retention.max_total_bytes",
        ),
        (
            json!({"retention": {"max_total_bytes": "two gigs"}}),
            "retention.max_total_bytes",
        ),
        (
            json!({"retention": {"max_total_bytes": "0 MB"}}),
            "retention.max_total_bytes",
        ),
        (
            json!({"retention": {"max_total_percent_of_disk": 101}}),
            "retention.max_total_percent_of_disk",
        ),
    ] {
        let e = sqlkeep::ConfigChange::from_value(&v, None).unwrap_err();
        assert_eq!(e.key(), Some(says), "{v}: {e}");
    }
    // A size as people write it, decimal or binary.
    for (text, bytes) in [("2GB", 2_000_000_000u64), ("1.5 MiB", 1_572_864)] {
        let change = sqlkeep::ConfigChange::from_value(
            &json!({"retention": {"max_total_bytes": text}}),
            None,
        )
        .unwrap();
        assert_eq!(
            change.retention.unwrap().max_total_bytes,
            Some(Some(bytes)),
            "{text}"
        );
    }
    // The real thing: two backups, a budget below their total: rotation deletes the older
    // automatic one, the preview said so first.
    k.configure(
        &sqlkeep::ConfigChange::from_value(
            &json!({"retention": {"daily": 30, "keep_last": 5}}),
            None,
        )
        .unwrap(),
    )
    .unwrap();
    let first = k
        .backup(&sqlkeep::BackupRequest {
            kind: Kind::Scheduled,
            label: None,
            full: false,
        })
        .unwrap();
    clock.advance(Duration::hours(1));
    let second = k
        .backup(&sqlkeep::BackupRequest {
            kind: Kind::Scheduled,
            label: None,
            full: false,
        })
        .unwrap();
    let budget = first.size_bytes.max(second.size_bytes) + 1;
    let change =
        sqlkeep::ConfigChange::from_value(&json!({"retention": {"max_total_bytes": budget}}), None)
            .unwrap();
    let preview = k.preview_rotation(&change.retention.unwrap()).unwrap();
    assert_eq!(preview.deleted, std::slice::from_ref(&first.id));
    k.configure(&change).unwrap();
    assert_eq!(k.config().retention.max_total_bytes, Some(budget));
    let done = k.rotate(false).unwrap();
    assert_eq!(done.deleted, [first.id]);
    assert_eq!(k.list().unwrap().len(), 1);
}

/// Scheduled backups every hour from `from`, `n` of them.
fn hourly_backups(from: &str, n: i64) -> Vec<sqlkeep::Manifest> {
    let start: DateTime<Utc> = from.parse().unwrap();
    (0..n)
        .map(|h| fake_at(start + Duration::hours(h), Kind::Scheduled, None))
        .collect()
}

fn kept_times(p: &sqlkeep::RotationPlan) -> BTreeSet<String> {
    p.entries
        .iter()
        .filter(|e| e.action == Action::Keep)
        .map(|e| e.created_at.format("%m-%d %H").to_string())
        .collect()
}

fn within(text: &str) -> Option<sqlkeep::Within> {
    Some(sqlkeep::Within::parse(text).unwrap())
}

#[test]
fn ten_days_of_hourly_backups_keep_exactly_the_hand_computed_set() {
    // 2026-03-01 00:00 to 2026-03-10 23:00 UTC, one backup an hour: 240.
    let backups = hourly_backups("2026-03-01T00:00:00Z", 240);
    let now: DateTime<Utc> = "2026-03-10T23:30:00Z".parse().unwrap();
    let mut r = policy(0, 7, 0);
    r.hourly = 24;
    // hourly keeps the 24 hours of the 10th; daily finds the 10th used and keeps the
    // newest backup (23:00) of the 9th back to the 3rd.
    let p = plan(&backups, &r, Zone::Utc, now);
    let mut expected: BTreeSet<String> = (0..24).map(|h| format!("03-10 {h:02}")).collect();
    expected.extend((3..=9).map(|d| format!("03-{d:02} 23")));
    assert_eq!(kept_times(&p), expected);
    assert_eq!(p.deleted.len(), 240 - 31);

    // keep_within 36h first: everything after 2026-03-09 11:30 (36 backups). hourly then
    // counts the next 24 hours back (the 9th 11:00 to the 8th 12:00); daily finds the
    // 10th, 9th and 8th used and keeps 23:00 of the 7th back to the 1st.
    r.keep_within = within("36h");
    let p = plan(&backups, &r, Zone::Utc, now);
    let mut expected: BTreeSet<String> = BTreeSet::new();
    let first_kept: DateTime<Utc> = "2026-03-08T12:00:00Z".parse().unwrap();
    for h in 0..60 {
        expected.insert(
            (first_kept + Duration::hours(h))
                .format("%m-%d %H")
                .to_string(),
        );
    }
    expected.extend((1..=7).map(|d| format!("03-{d:02} 23")));
    assert_eq!(kept_times(&p), expected);
    let reason = |t: &str| {
        let e = p
            .entries
            .iter()
            .find(|e| e.created_at.format("%m-%d %H").to_string() == t)
            .unwrap();
        e.reason.clone()
    };
    assert_eq!(reason("03-10 23"), "keep_within 36h");
    assert_eq!(reason("03-09 12"), "keep_within 36h");
    assert_eq!(reason("03-09 11"), "hourly #1");
    assert_eq!(reason("03-08 12"), "hourly #24");
    assert_eq!(reason("03-07 23"), "daily #1");
    assert_eq!(reason("03-01 23"), "daily #7");
}

#[test]
fn keep_within_keeps_what_is_younger_than_the_span_and_not_what_is_exactly_that_old() {
    let now: DateTime<Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
    let at_boundary = now - Duration::hours(36);
    let backups = vec![
        fake_at(now - Duration::hours(1), Kind::Scheduled, None),
        fake_at(at_boundary + Duration::seconds(1), Kind::Scheduled, None),
        fake_at(at_boundary, Kind::Scheduled, None),
        fake_at(at_boundary - Duration::seconds(1), Kind::Scheduled, None),
    ];
    let mut r = policy(0, 0, 0);
    r.keep_within = within("36h");
    let p = plan(&backups, &r, Zone::Utc, now);
    let actions: Vec<Action> = p.entries.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![Action::Keep, Action::Keep, Action::Delete, Action::Delete]
    );
    // The same span written in days.
    r.keep_within = within("1d");
    let p = plan(&backups, &r, Zone::Utc, at_boundary + Duration::hours(24));
    assert_eq!(p.entries[2].action, Action::Delete, "exactly 1d old");
    assert_eq!(p.entries[1].action, Action::Keep);
}

#[test]
fn hourly_periods_follow_berlin_wall_clock_across_both_dst_changes() {
    let berlin: Zone = "Europe/Berlin".parse().unwrap();
    let mut r = policy(0, 0, 0);
    r.hourly = 100;
    // 2026-03-29 is 23 hours long in Berlin: 00:00 CET is 23:00Z the day before, 23:00
    // CEST is 21:00Z. 23 backups, 23 local hours: all kept.
    let spring = hourly_backups("2026-03-28T23:00:00Z", 23);
    let p = plan(&spring, &r, berlin, Utc::now());
    assert_eq!(p.kept.len(), 23);
    // 2026-10-25 is 25 hours long: 02:00 comes twice (00:00Z in CEST, 01:00Z in CET).
    // 25 backups, 24 local hours: the earlier 02:00 shares its hour with the later one
    // and goes.
    let autumn = hourly_backups("2026-10-24T22:00:00Z", 25);
    let p = plan(&autumn, &r, berlin, Utc::now());
    assert_eq!(p.kept.len(), 24);
    let gone: DateTime<Utc> = "2026-10-25T00:00:00Z".parse().unwrap();
    assert_eq!(p.deleted, vec![fake_at(gone, Kind::Scheduled, None).id]);
    // One day is one period for `daily`, whatever its length.
    let mut daily = policy(0, 1, 0);
    daily.hourly = 0;
    for day in [&spring, &autumn] {
        assert_eq!(plan(day, &daily, berlin, Utc::now()).kept.len(), 1);
    }
}

#[test]
fn a_schedule_more_frequent_than_the_policy_keeps_is_warned_about_once_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let hourly = json!({"schedule": "0 * * * *", "timezone": "UTC"});
    let cfg = Config::new(&db).unwrap().with_changes(&hourly).unwrap();
    let k = Keeper::open(cfg);
    let log = || {
        sqlkeep::testing::BackupLog::new(&dir.path().join("backups"))
            .read()
            .unwrap()
            .into_iter()
            .filter(|e| e.type_name() == "retention_warning")
            .collect::<Vec<_>>()
    };
    let warnings = log();
    assert_eq!(
        warnings.len(),
        1,
        "opening with an hourly schedule warns once"
    );
    let text = warnings[0].describe();
    assert!(
        text.contains("retention.hourly") && text.contains("retention.keep_within"),
        "{text}"
    );
    assert_eq!(warnings[0].severity(), sqlkeep::Severity::Warning);
    // A change that keeps them: no new warning. A change elsewhere: none either.
    let mut change = sqlkeep::ConfigChange::new();
    let mut r = RetentionChange::default();
    r.hourly = Some(24);
    change.retention = Some(r);
    k.configure(&change).unwrap();
    k.configure(&sqlkeep::ConfigChange::from_value(&json!({"compression": "zstd"}), None).unwrap())
        .unwrap();
    assert_eq!(log().len(), 1);
    // Back to a policy with one backup a day: warned again. A daily schedule: never.
    k.configure(
        &sqlkeep::ConfigChange::from_value(&json!({"retention": {"hourly": 0}}), None).unwrap(),
    )
    .unwrap();
    assert_eq!(log().len(), 2);
    k.configure(&sqlkeep::ConfigChange::from_value(&json!({"schedule": "02:00"}), None).unwrap())
        .unwrap();
    assert_eq!(log().len(), 2);
    let k2 = common_keeper_daily(&db);
    drop(k2);
    assert_eq!(log().len(), 2);
}

fn common_keeper_daily(db: &Path) -> Keeper {
    Keeper::open(Config::new(db).unwrap())
}
