//! Cancelling a running backup (issue 16): it stops promptly, leaves nothing behind, is
//! logged as cancelled (not failed), and the scheduler does not retry it. From Rust, the
//! CLI (SIGINT) and the HTTP API (tests/serve.rs has the server; here the core and CLI).

mod common;

use serde_json::json;
use sqlkeep::{BackupRequest, ErrorKind, Event, Keeper, ManualClock, RunStatus, TickOutcome};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Files in the backup folder other than the log and the locks.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock") && n != "sqlkeep-log.jsonl")
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `run` on a thread and cancels it once its first progress event arrived.
fn cancel_mid_way<T: Send + 'static>(
    k: &Keeper,
    run: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let (tx, rx) = mpsc::channel();
    let sub = k.subscribe(move |e| {
        if matches!(e, Event::Progress { .. }) {
            let _ = tx.send(());
        }
    });
    let worker = std::thread::spawn(run);
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the backup made progress");
    let asked = Instant::now();
    assert!(k.cancel(), "a backup was running");
    let out = worker.join().unwrap();
    k.unsubscribe(sub);
    (out, asked.elapsed())
}

#[test]
fn a_cancelled_backup_leaves_nothing_and_is_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 60 << 20);
    let k = common::keeper(&db, json!({"verify_after_backup": "full"}));
    assert!(!k.cancel(), "nothing to cancel");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    k.subscribe(move |e| s.lock().unwrap().push(e.type_name()));
    let worker = k.clone();
    let (result, took) = cancel_mid_way(&k, move || worker.backup(&BackupRequest::manual()));
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(took < Duration::from_secs(5), "stopped promptly: {took:?}");
    assert!(
        leftovers(&k.config().backup_dir).is_empty(),
        "{:?}",
        leftovers(&k.config().backup_dir)
    );
    assert!(k.list().unwrap().is_empty());
    let types = seen.lock().unwrap().clone();
    assert!(types.contains(&"backup_cancelled"), "{types:?}");
    assert!(!types.contains(&"backup_failed"), "{types:?}");
    let h = k.history(10, 0).unwrap();
    assert_eq!(h[0].status, RunStatus::Cancelled);
    let st = k.stats().unwrap();
    assert_eq!((st.runs, st.failures, st.cancelled), (0, 0, 1));
    // The next backup is not affected.
    let m = k.backup(&BackupRequest::manual()).unwrap();
    assert!(k.verify(&m.id, sqlkeep::VerifyLevel::Full).unwrap().ok);
    assert_eq!(common::integrity(&db), "ok");
}

#[test]
fn a_cancelled_scheduled_backup_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "wal", 60 << 20);
    let cfg = sqlkeep::Config::new(&db)
        .unwrap()
        .with_changes(
            &json!({"schedule": "02:00", "timezone": "UTC", "verify_after_backup": "full"}),
        )
        .unwrap();
    let clock = Arc::new(ManualClock::new("2026-11-02T02:00:30Z".parse().unwrap()));
    let k = Keeper::with_clock(cfg, clock.clone());
    let worker = k.clone();
    let (outcome, _) = cancel_mid_way(&k, move || worker.run_pending());
    assert!(
        matches!(outcome, TickOutcome::Cancelled),
        "{}",
        outcome.as_str()
    );
    assert!(k.status().retry_at.is_none());
    clock.advance(chrono::Duration::minutes(30));
    assert!(
        matches!(k.run_pending(), TickOutcome::Idle),
        "no retry of a cancelled slot"
    );
    clock.advance(chrono::Duration::days(1));
    assert!(
        matches!(k.run_pending(), TickOutcome::BackedUp(_)),
        "the next slot runs"
    );
    assert!(k
        .health()
        .unwrap()
        .reasons
        .iter()
        .all(|r| r.code != "last_backup_failed"));
}

#[test]
fn ctrl_c_cancels_the_cli_backup() {
    let dir = tempfile::tempdir().unwrap();
    common::bank(dir.path(), "wal", 80 << 20);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
        .current_dir(dir.path())
        .args(["backup", "app.db"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the backup has begun writing.
    let backups = dir.path().join("backups");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !leftovers(&backups)
        .iter()
        .any(|n| n.starts_with(".sqlkeep-tmp-"))
    {
        assert!(Instant::now() < deadline, "the backup never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cancelled"),
        "{out:?}"
    );
    assert!(leftovers(&backups).is_empty(), "{:?}", leftovers(&backups));
}
