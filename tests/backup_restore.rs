//! Backups of live databases: consistency under concurrent writers, restore round trips,
//! corruption detection.

mod common;

use common::*;
use serde_json::json;
use sqlkeep::{BackupRequest, Kind, VerifyLevel};

fn backups_under_writers_keep_the_invariant(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), mode, 4 << 20);
    let expected = ACCOUNTS * OPENING_BALANCE;
    let k = keeper(&db, json!({}));
    // Each returns after its writer's first commit: the backups below run under load.
    let w1 = Writer::start(&db, 1);
    let w2 = Writer::start(&db, 2);
    let proc_writer = WriterProcess::start(&db, &dir.path().join("stop"));
    let mut backups = Vec::new();
    for i in 0..6 {
        let m = k
            .backup(&BackupRequest {
                kind: Kind::Manual,
                label: Some(format!("under load {i}")),
                full: false,
            })
            .unwrap();
        assert!(m.verified(), "{:?}", m.verification);
        assert_eq!(m.journal_mode, mode);
        backups.push(m);
    }
    let proc_commits = proc_writer.stop();
    let thread_commits = w1.stop() + w2.stop();
    assert!(
        thread_commits > 0 && proc_commits > 0,
        "writers made progress: {thread_commits} {proc_commits}"
    );
    assert_eq!(total(&db), expected);
    for (i, m) in backups.iter().enumerate() {
        let to = dir.path().join(format!("restored-{i}.db"));
        k.restore(&m.id, Some(&to), false).unwrap();
        assert_eq!(total(&to), expected, "backup {} broke the invariant", m.id);
        assert_eq!(integrity(&to), "ok");
    }
}

#[test]
fn wal_backups_under_writer_threads_and_process_are_consistent() {
    backups_under_writers_keep_the_invariant("wal");
}

#[test]
fn rollback_backups_under_writer_threads_and_process_are_consistent() {
    backups_under_writers_keep_the_invariant("delete");
}

#[test]
fn restore_round_trip_gives_the_same_dump_for_every_compression() {
    for mode in ["wal", "delete"] {
        for compression in ["gzip", "zstd", "none"] {
            let dir = tempfile::tempdir().unwrap();
            let db = bank(dir.path(), mode, 1 << 20);
            let k = keeper(&db, json!({"compression": compression}));
            let before = dump(&db);
            let m = k.backup(&BackupRequest::manual()).unwrap();
            assert!(m.file.ends_with(match compression {
                "gzip" => ".sqlite3.gz",
                "zstd" => ".sqlite3.zst",
                _ => ".sqlite3",
            }));
            let to = dir.path().join("copy.db");
            k.restore(&m.id, Some(&to), false).unwrap();
            assert_eq!(dump(&to), before, "{mode} {compression}");
            assert_eq!(integrity(&to), "ok");
        }
    }
}

#[test]
fn restore_into_live_database_is_seen_by_an_open_connection() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "wal", 256 << 10);
    let k = keeper(&db, json!({}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    let app = rusqlite::Connection::open(&db).unwrap();
    app.execute("UPDATE accounts SET balance = 0", []).unwrap();
    assert_eq!(
        app.query_row("SELECT sum(balance) FROM accounts", [], |r| r
            .get::<_, i64>(0))
            .unwrap(),
        0
    );
    let out = k.restore(&m.id, None, false).unwrap();
    let safety = out.safety_backup.expect("a pre-restore backup is taken");
    assert_eq!(safety.kind, Kind::PreRestore);
    assert_eq!(
        app.query_row("SELECT sum(balance) FROM accounts", [], |r| r
            .get::<_, i64>(0))
            .unwrap(),
        ACCOUNTS * OPENING_BALANCE,
        "the application's open connection sees the restored data"
    );
    // The safety copy holds the zeroed state.
    let back = dir.path().join("safety.db");
    k.restore(&safety.id, Some(&back), false).unwrap();
    assert_eq!(total(&back), 0);
}

/// The restore writes into the live file while its safety backup is still being written,
/// and commits once that backup is kept, not after its observers: an observer that reads
/// the live database when the safety backup succeeds (the restore holds the database's
/// write lock then, in rollback modes) is answered once the restore commits, instead of
/// the two waiting for each other until the observer's busy timeout.
#[test]
fn an_observer_reading_the_live_database_when_the_safety_backup_succeeds_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    // Larger than SQLite's page cache: the restore's writes spill into the file, which
    // takes the exclusive lock before the commit.
    let db = bank(dir.path(), "delete", 12 << 20);
    let k = keeper(&db, json!({}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE accounts SET balance = 0", [])
        .unwrap();
    let reads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (live, seen) = (db.clone(), reads.clone());
    k.subscribe(move |e| {
        if let sqlkeep::Event::BackupSucceeded {
            kind: Kind::PreRestore,
            ..
        } = e
        {
            let c = rusqlite::Connection::open(&live).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(60)).unwrap();
            let sum = c.query_row("SELECT sum(balance) FROM accounts", [], |r| {
                r.get::<_, i64>(0)
            });
            seen.lock().unwrap().push(sum.map_err(|e| e.to_string()));
        }
    });
    let out = k.restore(&m.id, None, false).unwrap();
    assert!(out.safety_backup.is_some());
    let reads = reads.lock().unwrap().clone();
    assert_eq!(reads.len(), 1, "{reads:?}");
    // It read one whole state, old or restored (whichever was committed when it got in).
    let sum = reads[0].clone().expect("the observer's read was answered");
    assert!(sum == 0 || sum == ACCOUNTS * OPENING_BALANCE, "{sum}");
    assert_eq!(total(&db), ACCOUNTS * OPENING_BALANCE);
    assert_eq!(integrity(&db), "ok");
}

/// The day a database is damaged is the day a restore is needed: the safety backup keeps
/// the damaged content as it is (quick check) instead of failing its integrity check and
/// blocking the restore.
#[test]
fn a_damaged_live_database_can_be_replaced_and_its_damage_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 1 << 20);
    let k = keeper(&db, json!({}));
    let good = k.backup(&BackupRequest::manual()).unwrap();
    // Overwrite the header of the accounts table's root page: the file still opens,
    // integrity_check fails.
    let (root, page): (i64, i64) = {
        let c = rusqlite::Connection::open(&db).unwrap();
        let root = c
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'accounts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let page = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        (root, page)
    };
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(((root - 1) * page) as u64)).unwrap();
        f.write_all(&[0xff; 16]).unwrap();
    }
    assert_ne!(integrity(&db), "ok");
    let out = k.restore(&good.id, None, false).unwrap();
    assert_eq!(integrity(&db), "ok");
    assert_eq!(total(&db), ACCOUNTS * OPENING_BALANCE);
    let safety = out
        .safety_backup
        .expect("the damaged content was kept first");
    let v = safety.verification.as_ref().unwrap();
    assert!(v.ok && v.level == VerifyLevel::Quick, "{v:?}");
    // Restoring the safety copy is refused by its full check: it holds the damage.
    let e = k
        .restore(&safety.id, Some(&dir.path().join("damaged.db")), false)
        .unwrap_err();
    assert_eq!(e.kind(), sqlkeep::ErrorKind::Corrupt, "{e}");
}

#[test]
fn damaged_backups_are_reported_and_never_restored() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 512 << 10);
    let k = keeper(&db, json!({}));
    let flipped = k.backup(&BackupRequest::manual()).unwrap();
    let truncated = k.backup(&BackupRequest::manual()).unwrap();
    let orphan = k.backup(&BackupRequest::manual()).unwrap();
    let bdir = k.config().backup_dir;
    // Flip one bit in the middle of the first file.
    let p = bdir.join(&flipped.file);
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&p, &bytes).unwrap();
    // Truncate the second.
    let p = bdir.join(&truncated.file);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    // Remove the manifest of the third.
    std::fs::remove_file(bdir.join(format!("{}.json", orphan.id))).unwrap();

    for level in [VerifyLevel::Quick, VerifyLevel::Full] {
        for id in [&flipped.id, &truncated.id, &orphan.id] {
            let v = k.verify(id, level).unwrap();
            assert!(!v.ok, "{id} passed {level:?}: {}", v.detail);
        }
    }
    let all = k.verify_all(VerifyLevel::Quick).unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|(_, v)| !v.ok));
    let before = dump(&db);
    for id in [&flipped.id, &truncated.id, &orphan.id] {
        let e = k.restore(id, None, false).unwrap_err();
        assert_eq!(e.kind(), sqlkeep::ErrorKind::Corrupt, "{e}");
        let e = k
            .restore(id, Some(&dir.path().join("x.db")), false)
            .unwrap_err();
        assert_eq!(e.kind(), sqlkeep::ErrorKind::Corrupt, "{e}");
        assert!(!dir.path().join("x.db").exists());
    }
    assert_eq!(
        dump(&db),
        before,
        "a refused restore leaves the database alone"
    );
}

#[test]
fn restore_from_a_backup_file_elsewhere_needs_its_manifest_and_a_full_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 256 << 10);
    let k = keeper(&db, json!({}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    // Copy the backup and its manifest to a "USB stick".
    let stick = dir.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let bdir = k.config().backup_dir;
    std::fs::copy(bdir.join(&m.file), stick.join(&m.file)).unwrap();
    std::fs::copy(
        bdir.join(format!("{}.json", m.id)),
        stick.join(format!("{}.json", m.id)),
    )
    .unwrap();
    let before = dump(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM accounts", [])
        .unwrap();
    let out = k.restore_file(&stick.join(&m.file), None, false).unwrap();
    assert_eq!(out.safety_backup.unwrap().kind, Kind::PreRestore);
    assert_eq!(dump(&db), before);
    // Without its manifest the file is refused.
    std::fs::remove_file(stick.join(format!("{}.json", m.id))).unwrap();
    let e = k
        .restore_file(&stick.join(&m.file), None, false)
        .unwrap_err();
    assert_eq!(e.kind(), sqlkeep::ErrorKind::Corrupt, "{e}");
    let e = k
        .restore_file(&dir.path().join("notes.txt"), None, false)
        .unwrap_err();
    assert_eq!(e.kind(), sqlkeep::ErrorKind::InvalidArgument);
}

#[test]
fn an_id_is_never_handed_out_twice_even_after_a_deletion_in_the_same_second() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 64 << 10);
    let clock = std::sync::Arc::new(sqlkeep::ManualClock::new(
        "2026-08-01T10:00:00Z".parse().unwrap(),
    ));
    let k = sqlkeep::Keeper::with_clock(sqlkeep::Config::new(&db).unwrap(), clock);
    let a = k.backup(&BackupRequest::manual()).unwrap();
    k.delete(&a.id).unwrap();
    let b = k.backup(&BackupRequest::manual()).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(b.id, format!("{}-2", a.id));
    let h = k.history(10, 0).unwrap();
    assert_eq!(h[1].status.as_str(), "deleted");
    assert_eq!(h[0].status.as_str(), "verified");
}

#[test]
fn verify_all_is_not_disturbed_by_a_concurrent_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 64 << 10);
    let k = keeper(&db, json!({"verify_after_backup": "quick"}));
    for _ in 0..30 {
        k.backup(&BackupRequest {
            kind: Kind::Scheduled,
            label: None,
            full: false,
        })
        .unwrap();
    }
    let k2 = k.clone();
    let verifying = std::thread::spawn(move || k2.verify_all(VerifyLevel::Full));
    let plan = k.rotate(false).unwrap();
    let checked = verifying.join().unwrap().unwrap();
    // Either the verification saw all 30 (rotation waited), or only what rotation kept.
    assert!(
        checked.len() == 30 || checked.len() == plan.kept.len(),
        "{}",
        checked.len()
    );
    assert!(checked.iter().all(|(_, v)| v.ok));
}

#[test]
fn a_restore_sweeps_what_a_killed_restore_left_in_the_target_folder() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 64 << 10);
    let k = keeper(&db, json!({}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Leftovers of a killed restore (unlocked, an hour old) and a fresh file of one in
    // progress (must stay).
    let stale = out.join(".sqlkeep-tmp-app.restore-00000000000000aa");
    let fresh = out.join(".sqlkeep-tmp-app.restore-00000000000000bb");
    std::fs::write(&stale, b"partial").unwrap();
    std::fs::write(&fresh, b"partial").unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    k.restore(&m.id, Some(&out.join("copy.db")), false).unwrap();
    assert!(!stale.exists());
    assert!(fresh.exists());
    assert_eq!(total(&out.join("copy.db")), ACCOUNTS * OPENING_BALANCE);
}
