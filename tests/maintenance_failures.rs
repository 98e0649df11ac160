//! The failures that used to be silent: an automatic rotation or a periodic test restore
//! that cannot run is an event (with the core's severity), a backup-log entry, part of
//! the scheduler's status and of the statistics, while the backup itself stands; and a
//! progress callback that panics does not take its backup down.
//!
//! The failures are real file-system conditions in the backup folder, not fakes: a
//! directory where rotation must delete a file, a directory where the lock file must be.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlkeep::testing::BackupLog;
use sqlkeep::{BackupRequest, Clock, Config, Event, Keeper, ManualClock, Severity, TickOutcome};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn keeper(dir: &Path, changes: serde_json::Value) -> (Keeper, Arc<ManualClock>) {
    let db = dir.join("app.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x');")
        .unwrap();
    let start: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let cfg = Config::new(&db).unwrap().with_changes(&changes).unwrap();
    (Keeper::with_clock(cfg, clock.clone()), clock)
}

/// Runs the next scheduled slot and expects a backup; returns its id.
fn next_slot(k: &Keeper, clock: &ManualClock) -> String {
    let t = k.upcoming_runs(clock.now(), 1)[0];
    clock.set(t);
    match k.run_pending() {
        TickOutcome::BackedUp(m) => m.id,
        other => panic!("{other:?}"),
    }
}

fn seen(k: &Keeper) -> Arc<Mutex<Vec<Event>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    k.subscribe(move |ev| e.lock().unwrap().push(ev.clone()));
    events
}

fn logged(k: &Keeper) -> Vec<Event> {
    BackupLog::new(&k.config().backup_dir).read().unwrap()
}

#[test]
fn a_failed_automatic_rotation_is_an_event_a_log_entry_a_status_and_a_statistic() {
    let dir = tempfile::tempdir().unwrap();
    let (k, clock) = keeper(
        dir.path(),
        json!({"schedule": "02:00", "timezone": "UTC", "test_restore_every_days": 0,
               "retention": {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}}),
    );
    let events = seen(&k);
    // What an observer reads from the status while the failure event is delivered.
    let status_on_event = Arc::new(Mutex::new(None));
    let (k2, s) = (k.clone(), status_on_event.clone());
    k.subscribe(move |e| {
        if matches!(e, Event::RotationFailed { .. }) {
            *s.lock().unwrap() = Some(k2.status().last_rotation_error);
        }
    });
    let first = next_slot(&k, &clock);
    // Rotation will have to delete `first`: a non-empty directory where one of its
    // possible data files would be makes that deletion fail (as it would for root too).
    let blocker = k.config().backup_dir.join(format!("{first}.sqlite3.zst"));
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("keep"), b"x").unwrap();
    let second = next_slot(&k, &clock);

    let ids: Vec<String> = k.list().unwrap().into_iter().map(|m| m.id).collect();
    assert!(ids.contains(&second), "the new backup stands: {ids:?}");
    let status = k.status();
    let error = status
        .last_rotation_error
        .clone()
        .expect("the status shows the failure");
    assert!(error.contains("cannot delete backup file"), "{error}");
    let failed: Vec<Event> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::RotationFailed { .. }))
        .cloned()
        .collect();
    assert_eq!(failed.len(), 1, "one rotation_failed event");
    assert_eq!(failed[0].severity(), Severity::Error);
    assert_eq!(failed[0].to_value()["error_kind"], "io");
    assert!(
        logged(&k).contains(&failed[0]),
        "the failure is in the backup log"
    );
    assert_eq!(
        status_on_event.lock().unwrap().clone(),
        Some(Some(error.clone())),
        "the status already shows the failure when its event arrives"
    );
    let stats = k.stats().unwrap();
    assert_eq!(stats.rotation_failures, 1);
    assert_eq!(stats.last_rotation_failure, Some(failed[0].time()));

    // Once the folder is fixed the next rotation works and the status clears.
    std::fs::remove_dir_all(&blocker).unwrap();
    let third = next_slot(&k, &clock);
    assert_eq!(k.status().last_rotation_error, None);
    let ids: Vec<String> = k.list().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![third]);
    assert_eq!(
        k.stats().unwrap().rotation_failures,
        1,
        "history keeps the failure"
    );
}

#[test]
fn a_test_restore_that_cannot_run_is_an_event_a_log_entry_a_status_and_a_statistic() {
    let dir = tempfile::tempdir().unwrap();
    let (k, clock) = keeper(
        dir.path(),
        json!({"schedule": "02:00", "timezone": "UTC", "test_restore_every_days": 1,
               "retention": {"auto": false}}),
    );
    let events = seen(&k);
    next_slot(&k, &clock);
    // Right after the next backup succeeds, the folder's lock file turns into a
    // directory (a broken folder, an administrator's mistake): the test restore, due
    // now, cannot take its lock.
    let lock = k.config().backup_dir.join(".sqlkeep.lock");
    let armed = Arc::new(Mutex::new(true));
    let (l, a) = (lock.clone(), armed.clone());
    k.subscribe(move |e| {
        if matches!(e, Event::BackupSucceeded { .. }) && std::mem::take(&mut *a.lock().unwrap()) {
            std::fs::remove_file(&l).unwrap();
            std::fs::create_dir(&l).unwrap();
        }
    });
    clock.set(clock.now() + Duration::days(2));
    next_slot(&k, &clock);

    let error = k
        .status()
        .last_test_restore_error
        .expect("the status shows the failure");
    assert!(error.contains(".sqlkeep.lock"), "{error}");
    let failed: Vec<Event> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::TestRestoreFailed { .. }))
        .cloned()
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].severity(), Severity::Error);
    let v = failed[0].to_value();
    assert_eq!(v["type"], "test_restore_failed");
    assert!(v["id"].is_string(), "it names the backup it chose: {v}");
    assert!(logged(&k).contains(&failed[0]));
    assert_eq!(k.stats().unwrap().test_restore_failures, 1);

    // Fixed: the next due test restore runs and the status clears.
    std::fs::remove_dir(&lock).unwrap();
    clock.set(clock.now() + Duration::days(2));
    next_slot(&k, &clock);
    assert_eq!(k.status().last_test_restore_error, None);
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Event::TestRestoreFinished { ok: true, .. })));
}

#[test]
fn a_panicking_progress_callback_does_not_take_the_backup_down() {
    let dir = tempfile::tempdir().unwrap();
    let (k, _clock) = keeper(dir.path(), json!({}));
    let calls = std::sync::atomic::AtomicU64::new(0);
    let progress = |_done: u64, _total: u64| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        panic!("a bug in the application's progress bar");
    };
    let m = k
        .backup_with_progress(&BackupRequest::manual(), &progress)
        .expect("the backup succeeds");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "not called again"
    );
    assert!(k.verify(&m.id, sqlkeep::VerifyLevel::Full).unwrap().ok);
}
