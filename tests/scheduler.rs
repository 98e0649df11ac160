//! The scheduler, driven by a manual clock: years of simulated days in seconds, DST,
//! catch-up, retries, two schedulers racing, start/stop/configure of the real thread.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sqlkeep::Wake;
use sqlkeep::{
    Clock, Config, ConfigChange, Event, Keeper, Kind, ManualClock, SystemClock, TickOutcome,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};

fn small_db(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t (v) VALUES ('a'), ('b'), ('c');",
    )
    .unwrap();
    db
}

fn keeper_at(db: &Path, clock: &Arc<ManualClock>, changes: serde_json::Value) -> Keeper {
    let cfg = Config::new(db).unwrap().with_changes(&changes).unwrap();
    Keeper::with_clock(cfg, clock.clone())
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn scheduled(k: &Keeper) -> Vec<DateTime<Utc>> {
    let mut v: Vec<_> = k
        .list()
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == Kind::Scheduled)
        .map(|m| m.created_at)
        .collect();
    v.sort();
    v
}

/// Two years of daily runs; the app is open on random days (sometimes several sessions,
/// sometimes none for a week). Every start catches up the latest missed slot once; no
/// slot ever gets two backups; no backup is taken for a slot while it is not due.
#[test]
fn two_years_with_the_app_closed_on_random_days() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let start = utc("2025-01-01T00:00:00Z");
    let clock = Arc::new(ManualClock::new(start));
    let settings = json!({"schedule": "02:00", "timezone": "Europe/Berlin", "verify_after_backup": "quick",
                          "retention": {"auto": false}, "test_restore_every_days": 0});
    let mut rng = fastrand::Rng::with_seed(20251);
    println!("seed 20251");
    let mut expected_slots = std::collections::BTreeSet::new();
    let mut sessions = 0;
    let mut now = start;
    let end = start + Duration::days(730);
    while now < end {
        // Closed for 0 to 9 days, then open for 1 to 20 hours.
        now += Duration::hours(rng.i64(0..24 * 10));
        let session_end = now + Duration::hours(rng.i64(1..21));
        clock.set(now);
        // A new process: a fresh keeper, state only on disk.
        let k = keeper_at(&db, &clock, settings.clone());
        let schedule = k.config().schedule.clone();
        let zone = k.config().timezone;
        // On start, then at every slot while open, as the scheduler thread would.
        let mut t = now;
        let mut first_tick = true;
        loop {
            clock.set(t);
            let due = schedule.latest_at_or_before(zone, t).unwrap();
            let already = expected_slots.contains(&due);
            let outcome = k.run_pending();
            if first_tick {
                // The start catches up the latest slot exactly when it has no backup yet.
                match &outcome {
                    TickOutcome::BackedUp(_) => assert!(!already),
                    TickOutcome::Covered => assert!(already),
                    other => panic!("start: {other:?}"),
                }
                sessions += 1;
                first_tick = false;
            }
            if let TickOutcome::BackedUp(m) = &outcome {
                assert!(m.created_at >= due);
                assert!(expected_slots.insert(due), "slot {due} backed up twice");
            }
            assert!(
                !matches!(outcome, TickOutcome::Failed(..) | TickOutcome::Busy),
                "{outcome:?}"
            );
            // A second tick for the same slot never backs up again.
            assert!(matches!(k.run_pending(), TickOutcome::Idle));
            match schedule.next_after(zone, t) {
                Some(next) if next < session_end => t = next + Duration::seconds(rng.i64(0..90)),
                _ => break,
            }
        }
        now = session_end;
    }
    let taken = scheduled(&keeper_at(&db, &clock, settings.clone()));
    assert_eq!(taken.len(), expected_slots.len());
    // Every backup belongs to a distinct slot: no two between consecutive 02:00s.
    let k = keeper_at(&db, &clock, settings);
    let zone = k.config().timezone;
    let mut per_slot: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for t in &taken {
        let slot = k.config().schedule.latest_at_or_before(zone, *t).unwrap();
        *per_slot.entry(slot).or_default() += 1;
    }
    assert!(per_slot.values().all(|n| *n == 1), "a slot has two backups");
    assert!(
        sessions > 100 && taken.len() > 100,
        "sessions {sessions}, backups {}",
        taken.len()
    );
}

/// Runs `schedule` tick by tick (every minute) across `days` from `from` and returns the
/// instants of the scheduled backups.
fn simulate_minutes(schedule: &str, zone: &str, from: &str, days: i64) -> Vec<DateTime<Utc>> {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let start = utc(from);
    let clock = Arc::new(ManualClock::new(start));
    let k = keeper_at(
        &db,
        &clock,
        json!({"schedule": schedule, "timezone": zone, "verify_after_backup": "off", "catch_up": false,
               "retention": {"auto": false}, "test_restore_every_days": 0}),
    );
    for minute in 0..days * 24 * 60 {
        clock.set(start + Duration::minutes(minute));
        let outcome = k.run_pending();
        assert!(!matches!(outcome, TickOutcome::Failed(..)), "{outcome:?}");
    }
    scheduled(&k)
}

#[test]
fn dst_in_berlin_runs_once_after_the_gap_and_once_in_the_repeated_hour() {
    for schedule in ["02:30", "30 2 * * *"] {
        // Spring forward: 2025-03-30 02:00 CET -> 03:00 CEST; 02:30 does not exist.
        let runs = simulate_minutes(schedule, "Europe/Berlin", "2025-03-28T23:00:00Z", 3);
        assert_eq!(
            runs,
            vec![
                utc("2025-03-29T01:30:00Z"),
                utc("2025-03-30T01:00:00Z"),
                utc("2025-03-31T00:30:00Z")
            ],
            "{schedule}"
        );
        // Fall back: 2025-10-26 03:00 CEST -> 02:00 CET; 02:30 happens twice, runs once.
        let runs = simulate_minutes(schedule, "Europe/Berlin", "2025-10-24T23:00:00Z", 3);
        assert_eq!(
            runs,
            vec![
                utc("2025-10-25T00:30:00Z"),
                utc("2025-10-26T00:30:00Z"),
                utc("2025-10-27T01:30:00Z")
            ],
            "{schedule}"
        );
    }
}

#[test]
fn dst_in_new_york_for_daily_times_and_cron() {
    // Spring forward 2025-03-09 02:00 EST -> 03:00 EDT: 02:30 runs at 03:00 EDT.
    for schedule in ["02:30", "30 2 * * *"] {
        let runs = simulate_minutes(schedule, "America/New_York", "2025-03-08T05:00:00Z", 3);
        assert_eq!(
            runs,
            vec![
                utc("2025-03-08T07:30:00Z"),
                utc("2025-03-09T07:00:00Z"),
                utc("2025-03-10T06:30:00Z")
            ],
            "{schedule}"
        );
    }
    // Fall back 2025-11-02 02:00 EDT -> 01:00 EST: 01:30 happens twice, runs at the first.
    for schedule in ["01:30", "30 1 * * *"] {
        let runs = simulate_minutes(schedule, "America/New_York", "2025-11-01T04:00:00Z", 3);
        assert_eq!(
            runs,
            vec![
                utc("2025-11-01T05:30:00Z"),
                utc("2025-11-02T05:30:00Z"),
                utc("2025-11-03T06:30:00Z")
            ],
            "{schedule}"
        );
    }
    // A weekday cron expression across the change: Mondays and Fridays at 02:30.
    let runs = simulate_minutes(
        "30 2 * * 1,5",
        "America/New_York",
        "2025-03-06T05:00:00Z",
        5,
    );
    assert_eq!(
        runs,
        vec![utc("2025-03-07T07:30:00Z"), utc("2025-03-10T06:30:00Z")]
    );
}

#[test]
fn two_schedulers_racing_for_200_slots_take_exactly_one_backup_each() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let start = utc("2026-01-01T00:00:00Z");
    let clock = Arc::new(ManualClock::new(start));
    let settings = json!({"schedule": "*/15 * * * *", "timezone": "UTC", "verify_after_backup": "off",
                          "retention": {"auto": false}, "test_restore_every_days": 0});
    let a = keeper_at(&db, &clock, settings.clone());
    let b = keeper_at(&db, &clock, settings);
    let mut backed_up = 0;
    let mut covered = 0;
    for i in 1..=200 {
        clock.set(start + Duration::minutes(15 * i) + Duration::seconds(1));
        let barrier = Arc::new(Barrier::new(2));
        let outcomes: Vec<TickOutcome> = std::thread::scope(|s| {
            let handles: Vec<_> = [&a, &b]
                .into_iter()
                .map(|k| {
                    let barrier = barrier.clone();
                    s.spawn(move || {
                        barrier.wait();
                        k.run_pending()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for o in &outcomes {
            match o {
                TickOutcome::BackedUp(_) => backed_up += 1,
                TickOutcome::Covered => covered += 1,
                other => panic!("slot {i}: unexpected {other:?}"),
            }
        }
    }
    assert_eq!(backed_up, 200);
    assert_eq!(covered, 200);
    let taken = scheduled(&a);
    assert_eq!(taken.len(), 200);
    for (i, t) in taken.iter().enumerate() {
        assert_eq!(
            *t,
            start + Duration::minutes(15 * (i as i64 + 1)) + Duration::seconds(1)
        );
    }
}

#[test]
fn two_processes_racing_for_one_slot_take_one_backup() {
    let exe = env!("CARGO_BIN_EXE_sqlkeep");
    for trial in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let db = small_db(dir.path());
        let config = dir.path().join("sqlkeep.json");
        std::fs::write(
            &config,
            json!({"database": "app.db", "schedule": "* * * * *", "timezone": "UTC"}).to_string(),
        )
        .unwrap();
        let spawn = || {
            std::process::Command::new(exe)
                .args([
                    "--config",
                    config.to_str().unwrap(),
                    "--json",
                    "run",
                    "--once",
                ])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (p1, p2) = (spawn(), spawn());
        let outs = [
            p1.wait_with_output().unwrap(),
            p2.wait_with_output().unwrap(),
        ];
        let mut states: Vec<String> = outs
            .iter()
            .map(|o| {
                assert!(o.status.success(), "trial {trial}: {o:?}");
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                v["outcome"].as_str().unwrap().to_string()
            })
            .collect();
        states.sort();
        // Both ran within one minute, so the second one finds the slot covered; if the
        // minute turned between them, each took the backup of its own slot.
        let k = common::keeper(&db, json!({}));
        let taken = scheduled(&k);
        match states.as_slice() {
            [a, b] if a == "backed_up" && b == "covered" => {
                assert_eq!(taken.len(), 1, "trial {trial}")
            }
            [a, b] if a == "backed_up" && b == "backed_up" => {
                assert_eq!(taken.len(), 2);
                assert_ne!(
                    taken[0].timestamp() / 60,
                    taken[1].timestamp() / 60,
                    "two backups in one slot"
                );
            }
            other => panic!("trial {trial}: {other:?}"),
        }
    }
}

#[test]
fn a_failed_scheduled_backup_is_retried_after_1_5_15_minutes_then_waits_for_the_next_slot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    let slot = utc("2026-02-10T02:00:00Z");
    let clock = Arc::new(ManualClock::new(slot));
    let k = keeper_at(&db, &clock, json!({"schedule": "02:00", "timezone": "UTC"}));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    k.subscribe(move |e| sink.lock().unwrap().push(e.clone()));
    let at = |min: i64| slot + Duration::minutes(min);
    let expect_failed = |retry: Option<DateTime<Utc>>| match k.run_pending() {
        TickOutcome::Failed(e, r) => {
            assert_eq!(e.kind(), sqlkeep::ErrorKind::NotFound);
            assert_eq!(r, retry);
        }
        other => panic!("{other:?}"),
    };
    expect_failed(Some(at(1)));
    clock.set(at(0) + Duration::seconds(30));
    assert!(matches!(k.run_pending(), TickOutcome::Idle));
    clock.set(at(1));
    expect_failed(Some(at(6)));
    clock.set(at(6));
    expect_failed(Some(at(21)));
    clock.set(at(21));
    expect_failed(None);
    clock.set(at(22));
    assert!(
        matches!(k.run_pending(), TickOutcome::Idle),
        "gave up until the next slot"
    );
    assert_eq!(k.status().last_outcome.map(|o| o.as_str()), Some("failed"));
    // Every failure is an event and a log line, with its retry time.
    let failures: Vec<Option<DateTime<Utc>>> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::BackupFailed {
                retry_at,
                kind: Kind::Scheduled,
                ..
            } => Some(*retry_at),
            _ => None,
        })
        .collect();
    assert_eq!(failures, vec![Some(at(1)), Some(at(6)), Some(at(21)), None]);
    let logged = sqlkeep::testing::BackupLog::new(&k.config().backup_dir)
        .read()
        .unwrap();
    assert_eq!(
        logged
            .iter()
            .filter(|e| e.type_name() == "backup_failed")
            .count(),
        4
    );
    // The database comes back; the next slot works.
    small_db(dir.path());
    std::fs::rename(dir.path().join("app.db"), &db).unwrap();
    clock.set(slot + Duration::days(1));
    assert!(matches!(k.run_pending(), TickOutcome::BackedUp(_)));
    assert_eq!(k.status().last_outcome.map(|o| o.as_str()), Some("ok"));
}

#[test]
fn catch_up_off_skips_a_missed_slot_but_runs_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let clock = Arc::new(ManualClock::new(utc("2026-03-02T10:00:00Z")));
    let k = keeper_at(
        &db,
        &clock,
        json!({"schedule": "02:00", "timezone": "UTC", "catch_up": false}),
    );
    assert!(matches!(k.run_pending(), TickOutcome::Skipped));
    clock.set(utc("2026-03-03T02:00:20Z"));
    assert!(matches!(k.run_pending(), TickOutcome::BackedUp(_)));
    let on = keeper_at(&db, &clock, json!({"schedule": "02:00", "timezone": "UTC"}));
    clock.set(utc("2026-03-04T11:00:00Z"));
    assert!(
        matches!(on.run_pending(), TickOutcome::BackedUp(_)),
        "catch_up (default) backs up late"
    );
}

#[test]
fn test_restores_run_every_n_days_and_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let start = utc("2026-04-01T00:00:00Z");
    let clock = Arc::new(ManualClock::new(start));
    let k = keeper_at(
        &db,
        &clock,
        json!({"schedule": "03:00", "timezone": "UTC", "test_restore_every_days": 7}),
    );
    for day in 0..30 {
        clock.set(start + Duration::days(day) + Duration::hours(3));
        assert!(matches!(k.run_pending(), TickOutcome::BackedUp(_)));
    }
    let log = sqlkeep::testing::BackupLog::new(&k.config().backup_dir)
        .read()
        .unwrap();
    let restores: Vec<(DateTime<Utc>, bool)> = log
        .iter()
        .filter_map(|e| match e {
            Event::TestRestoreFinished { time, ok, .. } => Some((*time, *ok)),
            _ => None,
        })
        .collect();
    assert_eq!(restores.len(), 4, "days 7, 14, 21, 28: {restores:?}");
    assert!(restores.iter().all(|(_, ok)| *ok));
    for w in restores.windows(2) {
        assert_eq!(w[1].0 - w[0].0, Duration::days(7));
    }
}

#[test]
fn the_thread_catches_up_on_start_and_follows_a_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let clock = Arc::new(ManualClock::new(utc("2026-05-01T12:00:00Z")));
    let k = keeper_at(
        &db,
        &clock,
        json!({"schedule": "02:00", "timezone": "UTC", "backup_on_shutdown": true}),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let main_thread = std::thread::current().id();
    k.subscribe(move |e| {
        if let Event::BackupSucceeded { id, kind, .. } = e {
            let _ = tx.send((id.clone(), *kind, std::thread::current().id()));
        }
    });
    assert!(k.start().unwrap());
    assert!(
        !k.start().unwrap(),
        "starting twice is harmless and says so"
    );
    assert!(k.is_running());
    let wait = || {
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("a backup within 20 s")
    };
    let (_, kind, thread) = wait();
    assert_eq!(kind, Kind::Scheduled, "catch-up of the 02:00 slot on start");
    assert_ne!(thread, main_thread, "events come from the scheduler thread");
    for day in 2..=4 {
        clock.set(Utc.with_ymd_and_hms(2026, 5, day, 2, 0, 5).unwrap());
        let (id, kind, _) = wait();
        assert_eq!(kind, Kind::Scheduled);
        assert!(id.contains(&format!("202605{day:02}T020005Z")), "{id}");
    }
    let status = k.status();
    assert_eq!(status.last_outcome.map(|o| o.as_str()), Some("ok"));
    assert_eq!(status.next_run, Some(utc("2026-05-05T02:00:00Z")));
    assert!(k.stop());
    let (_, kind, _) = wait();
    assert_eq!(kind, Kind::Shutdown, "backup_on_shutdown");
    assert!(
        !k.stop(),
        "stopping a stopped scheduler is harmless and says so"
    );
    assert!(!k.is_running());
    assert_eq!(scheduled(&k).len(), 4);
}

/// The system clock, telling the test each time a thread starts waiting on it.
struct ReportingClock(Mutex<std::sync::mpsc::Sender<()>>);

impl Clock for ReportingClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>, wake: &Wake) {
        let _ = self.0.lock().unwrap().send(());
        SystemClock.sleep_until(deadline, wake)
    }
}

#[test]
fn stop_returns_within_a_second_while_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    // The real clock; the next slot is hours away.
    let (tx, sleeping) = std::sync::mpsc::channel();
    let cfg = Config::new(&db)
        .unwrap()
        .with_changes(&json!({"schedule": "off"}))
        .unwrap();
    let k = Keeper::with_clock(cfg, Arc::new(ReportingClock(Mutex::new(tx))));
    k.start().unwrap();
    sleeping
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the scheduler thread goes to sleep within 20 s");
    // Entering the clock's sleep is not yet waiting on its condition variable; a stop
    // in between is not lost (the Wake was armed before the stop flag was read: see
    // the next test), so no further handshake is needed.
    let t = std::time::Instant::now();
    assert!(k.stop());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "stop took {:?}",
        t.elapsed()
    );
}

/// The system clock, whose first sleep stops the scheduler from inside it: after the
/// thread has read its stop flag and before it waits, the one moment a notification
/// could be lost.
struct StopOnFirstSleep(std::sync::OnceLock<Keeper>, std::sync::atomic::AtomicBool);

impl Clock for StopOnFirstSleep {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>, wake: &Wake) {
        if !self.1.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // On the scheduler thread: stop() sets the flag and notifies without joining.
            assert!(self.0.get().unwrap().stop());
        }
        SystemClock.sleep_until(deadline, wake)
    }
}

#[test]
fn a_stop_between_the_flag_check_and_the_sleep_is_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let cfg = Config::new(&db)
        .unwrap()
        .with_changes(&json!({"schedule": "off"}))
        .unwrap();
    let clock = Arc::new(StopOnFirstSleep(
        std::sync::OnceLock::new(),
        std::sync::atomic::AtomicBool::new(false),
    ));
    let k = Keeper::with_clock(cfg, clock.clone());
    let (tx, stopped) = std::sync::mpsc::channel();
    k.subscribe(move |e| {
        if e.type_name() == "scheduler_stopped" {
            let _ = tx.send(());
        }
    });
    clock.0.set(k.clone()).unwrap();
    k.start().unwrap();
    // A lost notification would leave the thread in a one-minute wait.
    stopped
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the scheduler ends at once, not after its one-minute wait");
}

#[test]
fn configure_applies_to_the_running_scheduler_and_rejects_bad_changes_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let clock = Arc::new(ManualClock::new(utc("2026-06-01T10:00:00Z")));
    let k = keeper_at(&db, &clock, json!({"schedule": "02:00", "timezone": "UTC"}));
    let (tx, rx) = std::sync::mpsc::channel();
    k.subscribe(move |e| {
        if e.type_name() == "backup_succeeded" {
            let _ = tx.send(());
        }
    });
    k.start().unwrap();
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("the catch-up backup");
    assert_eq!(k.status().next_run, Some(utc("2026-06-02T02:00:00Z")));
    let before = k.config().to_value();
    let e = ConfigChange::from_value(
        &json!({"schedule": "03:15", "retention": {"daily": -3}}),
        None,
    )
    .and_then(|c| k.configure(&c))
    .unwrap_err();
    assert_eq!(e.key(), Some("retention.daily"));
    assert_eq!(
        k.config().to_value(),
        before,
        "an invalid change changes nothing"
    );
    let change = ConfigChange::from_value(
        &json!({"schedule": "03:15", "timezone": "Europe/Berlin"}),
        None,
    )
    .unwrap();
    let cfg = k.configure(&change).unwrap();
    assert_eq!(cfg.to_value()["schedule"], "03:15");
    assert_eq!(
        k.status().next_run,
        Some(utc("2026-06-02T01:15:00Z")),
        "03:15 CEST"
    );
    // The new schedule does not trigger a catch-up of its own past slot (01:15Z today).
    clock.set(utc("2026-06-01T10:00:30Z"));
    assert!(matches!(k.run_pending(), TickOutcome::Idle));
    k.stop();
    assert_eq!(
        scheduled(&k).len(),
        1,
        "only the catch-up of the original slot on start"
    );
}

#[test]
fn an_observer_on_the_scheduler_thread_may_stop_the_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let clock = Arc::new(ManualClock::new(utc("2026-07-01T12:00:00Z")));
    let k = keeper_at(&db, &clock, json!({"schedule": "02:00", "timezone": "UTC"}));
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = k.clone();
    k.subscribe(move |e| {
        if e.type_name() == "backup_succeeded" {
            // Runs on the scheduler thread: must not wait for itself.
            let _ = tx.send(handle.stop());
        }
    });
    k.start().unwrap();
    let stopped = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("no deadlock");
    assert!(stopped);
    assert!(!k.stop(), "already stopped");
}
