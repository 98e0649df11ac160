//! Page-level incremental backups (issue 12) on real SQLite files: what a backup stores,
//! that every backup restores to exactly its moment whatever else is deleted, damage of a
//! shared file reported by exactly the backups that need it, and garbage collection.

mod common;

use common::*;
use rusqlite::Connection;
use serde_json::json;
use sqlkeep::{BackupRequest, Keeper, Kind, Manifest, VerifyLevel};
use std::path::{Path, PathBuf};

fn backup(k: &Keeper, full: bool) -> Manifest {
    k.backup(&BackupRequest {
        kind: Kind::Manual,
        label: None,
        full,
    })
    .unwrap()
}

/// Changes about `n` rows of the sample data and moves money in the bank.
fn day(db: &Path, seed: i64, n: i64) {
    let c = Connection::open(db).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..n {
        tx.execute(
            "UPDATE accounts SET balance = balance + 1 WHERE id = ?1",
            [(seed * 31 + i * 7) % ACCOUNTS],
        )
        .unwrap();
        tx.execute(
            "UPDATE accounts SET balance = balance - 1 WHERE id = ?1",
            [(seed * 17 + i * 13 + 1) % ACCOUNTS],
        )
        .unwrap();
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)",
        [],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO notes (body) VALUES (?1)",
        [format!("day {seed} {}", "x".repeat(3000))],
    )
    .unwrap();
    tx.commit().unwrap();
}

fn restored(k: &Keeper, dir: &Path, m: &Manifest) -> PathBuf {
    let to = dir.join(format!("restored-{}.db", m.id));
    let _ = std::fs::remove_file(&to);
    k.restore(&m.id, Some(&to), false).unwrap();
    to
}

fn setup(mode: &str) -> (tempfile::TempDir, PathBuf, Keeper) {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), mode, 2 << 20);
    let k = keeper(&db, json!({"incremental": true, "schedule": "off"}));
    (dir, db, k)
}

#[test]
fn incremental_backups_store_changed_pages_and_each_restores_its_moment() {
    for mode in ["wal", "delete"] {
        let (dir, db, k) = setup(mode);
        let first = backup(&k, false);
        assert!(
            first.incremental.is_none(),
            "the first backup is a full one"
        );
        assert_eq!(
            first.full_because.as_deref(),
            Some("there is no earlier backup to compare with")
        );
        let mut dumps = vec![(first.clone(), dump(&db))];
        for d in 1..=4 {
            day(&db, d, 5);
            let m = backup(&k, false);
            let inc = m.incremental.as_ref().expect("an incremental backup");
            assert_eq!(inc.chain.len(), d as usize + 1);
            assert_eq!(inc.chain[0].id, first.id);
            assert!(m.requires.contains(&"incremental".to_string()));
            assert!(m.file.ends_with(".pages.zst"), "{}", m.file);
            assert!(
                m.size_bytes * 10 < first.size_bytes,
                "stored {} bytes against a full {}",
                m.size_bytes,
                first.size_bytes
            );
            assert!(m.verified(), "{:?}", m.verification);
            assert!(
                m.raw_sha256.is_some(),
                "the full check vouches for the image"
            );
            dumps.push((m, dump(&db)));
        }
        for (m, expected) in &dumps {
            let to = restored(&k, dir.path(), m);
            assert_eq!(&dump(&to), expected, "{mode}: {} restores its moment", m.id);
            assert_eq!(integrity(&to), "ok");
        }
        // A full backup on request, and the next incremental builds on it.
        let full = backup(&k, true);
        assert!(full.incremental.is_none());
        assert_eq!(
            full.full_because.as_deref(),
            Some("a full backup was asked for")
        );
        day(&db, 9, 3);
        let next = backup(&k, false);
        assert_eq!(next.incremental.as_ref().unwrap().chain[0].id, full.id);
        for (_, level) in [(0, VerifyLevel::Quick), (1, VerifyLevel::Full)] {
            for (m, _) in &dumps {
                assert!(k.verify(&m.id, level).unwrap().ok);
            }
        }
    }
}

#[test]
fn deleting_any_backup_keeps_every_other_restorable_and_collection_frees_the_rest() {
    let (dir, db, k) = setup("wal");
    let mut all = vec![(backup(&k, false), dump(&db))];
    for d in 1..=3 {
        day(&db, d, 4);
        all.push((backup(&k, false), dump(&db)));
    }
    // Delete the full backup and a middle one: the newest still restores.
    k.delete(&all[0].0.id).unwrap();
    k.delete(&all[2].0.id).unwrap();
    let pieces = k.config().backup_dir.join("pieces");
    assert!(pieces.join(&all[0].0.file).exists());
    assert!(pieces.join(&all[2].0.file).exists());
    for i in [1, 3] {
        let (m, expected) = &all[i];
        assert!(k.verify(&m.id, VerifyLevel::Full).unwrap().ok);
        assert_eq!(&dump(&restored(&k, dir.path(), m)), expected);
    }
    // Once no backup needs them, the kept files go.
    k.delete(&all[3].0.id).unwrap();
    assert!(!pieces.join(&all[2].0.file).exists());
    assert!(
        pieces.join(&all[0].0.file).exists(),
        "backup 1 still needs the full"
    );
    k.delete(&all[1].0.id).unwrap();
    let left: Vec<_> = std::fs::read_dir(&pieces)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".pagehash"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_damaged_shared_file_is_damage_for_every_backup_that_needs_it_and_no_other() {
    let (dir, db, k) = setup("delete");
    let full = backup(&k, false);
    day(&db, 1, 4);
    let a = backup(&k, false);
    day(&db, 2, 4);
    let b = backup(&k, false);
    let other = backup(&k, true);
    let path = k.config().backup_dir.join(&a.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    for m in [&a, &b] {
        for level in [VerifyLevel::Quick, VerifyLevel::Full] {
            let v = k.verify(&m.id, level).unwrap();
            assert!(!v.ok, "{} {level:?}", m.id);
            assert!(v.detail.contains(&a.file), "{}", v.detail);
        }
        let to = dir.path().join("never.db");
        let err = k.restore(&m.id, Some(&to), false).unwrap_err();
        assert_eq!(err.kind(), sqlkeep::ErrorKind::Corrupt, "{err}");
        assert!(!to.exists());
    }
    for m in [&full, &other] {
        assert!(k.verify(&m.id, VerifyLevel::Full).unwrap().ok);
    }
}

#[test]
fn export_writes_any_backup_as_a_self_contained_file() {
    let (dir, db, k) = setup("wal");
    backup(&k, false);
    day(&db, 1, 6);
    let inc = backup(&k, false);
    let expected = dump(&db);
    for ext in ["sqlite3.gz", "sqlite3.zst"] {
        let to = dir.path().join(format!("exported.{ext}"));
        let out = k.export(&inc.id, &to).unwrap();
        assert_eq!(out.raw_size_bytes, inc.raw_size_bytes);
        assert_eq!(std::fs::metadata(&to).unwrap().len(), out.size_bytes);
        // Decoded by the ordinary tools' library, not by sqlkeep's rebuild.
        let raw = dir.path().join(format!("plain-{ext}.db"));
        let bytes = std::fs::read(&to).unwrap();
        let plain = if ext.ends_with("gz") {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut v)
                .unwrap();
            v
        } else {
            zstd::decode_all(&bytes[..]).unwrap()
        };
        std::fs::write(&raw, plain).unwrap();
        assert_eq!(dump(&raw), expected);
        assert_eq!(integrity(&raw), "ok");
        // An existing file is never overwritten; a name without .gz/.zst is refused.
        let again = k.export(&inc.id, &to).unwrap_err();
        assert_eq!(again.kind(), sqlkeep::ErrorKind::InvalidArgument);
    }
    let bad = k.export(&inc.id, &dir.path().join("x.db")).unwrap_err();
    assert!(bad.to_string().contains(".gz or .zst"), "{bad}");
}

#[test]
fn statistics_set_bytes_on_disk_against_the_databases() {
    let (_dir, db, k) = setup("delete");
    let full = backup(&k, false);
    day(&db, 1, 3);
    let inc = backup(&k, false);
    let s = k.stats().unwrap();
    assert_eq!(s.incremental, 1);
    assert_eq!(s.total_bytes, full.size_bytes + inc.size_bytes);
    assert_eq!(s.raw_bytes, full.raw_size_bytes + inc.raw_size_bytes);
    assert!(
        s.bytes_on_disk > s.total_bytes,
        "page hashes are on disk too"
    );
    k.delete(&full.id).unwrap();
    let s = k.stats().unwrap();
    assert!(
        s.bytes_on_disk >= full.size_bytes + inc.size_bytes,
        "the kept full counts"
    );
}

/// A remote holds whole backups: an incremental one goes there as the full backup of
/// the same moment, which restores with the local folder gone.
#[test]
fn an_incremental_backup_goes_offsite_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "wal", 1 << 20);
    let nas = dir.path().join("nas");
    let k = keeper(
        &db,
        json!({"incremental": true, "schedule": "off",
               "remotes": [{"name": "nas", "url": format!("file://{}", nas.display())}]}),
    );
    backup(&k, false);
    day(&db, 1, 5);
    let inc = backup(&k, false);
    assert!(inc.incremental.is_some());
    let expected = dump(&db);
    let there = k.list_remote("nas").unwrap();
    let copy = there.iter().find(|m| m.id == inc.id).expect("pushed");
    assert!(copy.incremental.is_none(), "{copy:?}");
    assert!(copy.file.ends_with(".sqlite3.gz"), "{}", copy.file);
    assert_eq!(copy.raw_sha256, inc.raw_sha256);
    assert!(
        k.verify_remote("nas", &inc.id, VerifyLevel::Full)
            .unwrap()
            .ok
    );
    std::fs::remove_dir_all(k.config().backup_dir).unwrap();
    let to = dir.path().join("from-nas.db");
    k.restore_remote("nas", &inc.id, Some(&to), Default::default())
        .unwrap();
    assert_eq!(dump(&to), expected);
}

/// A folder written with `incremental` on keeps working with it off: new backups are
/// full, the old incremental ones stay restorable, and turning it on again builds on the
/// newest full one.
#[test]
fn turning_incremental_off_adds_full_backups_and_keeps_the_old_ones() {
    let (dir, db, k) = setup("wal");
    backup(&k, false);
    day(&db, 1, 3);
    let inc = backup(&k, false);
    let inc_dump = dump(&db);
    let off = keeper(&db, json!({"incremental": false, "schedule": "off"}));
    day(&db, 2, 3);
    let full = backup(&off, false);
    assert!(full.incremental.is_none());
    assert_eq!(dump(&restored(&off, dir.path(), &inc)), inc_dump);
    assert!(off.verify(&inc.id, VerifyLevel::Full).unwrap().ok);
    // The full backup taken with it off wrote no page hashes: the next one is full too.
    let on = keeper(&db, json!({"incremental": true, "schedule": "off"}));
    day(&db, 3, 3);
    let again = backup(&on, false);
    assert!(
        again.incremental.is_none(),
        "no page hashes to compare with"
    );
    assert!(
        again
            .full_because
            .as_deref()
            .unwrap()
            .contains("no page hashes"),
        "{:?}",
        again.full_because
    );
    assert!(
        full.full_because.is_none(),
        "incremental was off: nothing to say"
    );
    day(&db, 4, 3);
    let next = backup(&on, false);
    assert_eq!(next.incremental.unwrap().parent, again.id);
}

/// A chain ends at MAX_LINKS files: the next backup is a full one, and the one after
/// starts a new chain on it.
#[test]
fn a_new_full_backup_is_due_after_thirty_files() {
    let (_dir, db, k) = setup("delete");
    let cfg = k
        .config()
        .with_changes(&json!({"verify_after_backup": "quick"}))
        .unwrap();
    let k = Keeper::open(cfg);
    let first = backup(&k, false);
    let mut last = first.clone();
    for d in 1..30 {
        day(&db, d, 1);
        last = backup(&k, false);
        assert_eq!(
            last.incremental.as_ref().unwrap().chain.len(),
            d as usize + 1
        );
    }
    day(&db, 31, 1);
    let full = backup(&k, false);
    assert!(full.incremental.is_none(), "after {} files", 30);
    assert_eq!(
        full.full_because.as_deref(),
        Some("the chain of the newest backup has 30 files")
    );
    day(&db, 32, 1);
    let next = backup(&k, false);
    assert_eq!(next.incremental.unwrap().chain[0].id, full.id);
    assert!(k.verify(&last.id, VerifyLevel::Full).unwrap().ok);
}

/// Rotation keeps its grandfather-father-son choice; a kept incremental backup whose
/// full backup and parents were rotated away still restores its moment.
#[test]
fn rotation_keeps_what_kept_incremental_backups_need() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "wal", 1 << 20);
    let cfg = sqlkeep::Config::new(&db)
        .unwrap()
        .with_changes(
            &json!({"incremental": true, "schedule": "off", "verify_after_backup": "quick",
            "retention": {"daily": 3, "weekly": 0, "monthly": 2, "yearly": 0}}),
        )
        .unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T02:00:00Z").unwrap();
    let clock = std::sync::Arc::new(sqlkeep::ManualClock::new(start.to_utc()));
    let k = Keeper::with_clock(cfg, clock.clone());
    let mut moments = std::collections::HashMap::new();
    for d in 0..70 {
        day(&db, d, 2);
        let m = k
            .backup(&BackupRequest {
                kind: Kind::Scheduled,
                label: None,
                full: false,
            })
            .unwrap();
        moments.insert(m.id.clone(), dump(&db));
        k.rotate(false).unwrap();
        clock.advance(chrono::Duration::days(1));
    }
    let kept = k.list().unwrap();
    assert!(kept.len() <= 5, "{}", kept.len());
    assert!(kept.iter().any(|m| m.incremental.is_some()));
    for m in &kept {
        assert!(k.verify(&m.id, VerifyLevel::Full).unwrap().ok, "{}", m.id);
        assert_eq!(
            &dump(&restored(&k, dir.path(), m)),
            &moments[&m.id],
            "{}",
            m.id
        );
    }
    // The folder holds the kept backups and what their chains need, not 70 backups.
    let s = k.stats().unwrap();
    let needed: std::collections::HashSet<&str> = kept
        .iter()
        .flat_map(|m| match &m.incremental {
            Some(i) => i.chain.iter().map(|l| l.file.as_str()).collect::<Vec<_>>(),
            None => vec![m.file.as_str()],
        })
        .collect();
    let pieces = k.config().backup_dir.join("pieces");
    for e in std::fs::read_dir(&pieces).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            n.ends_with(".pagehash") || needed.contains(n.as_str()),
            "{n} kept"
        );
    }
    assert!(s.bytes_on_disk >= s.total_bytes);
}

/// A live restore of an incremental backup puts back exactly its moment, after a safety
/// backup of what the database held.
#[test]
fn an_incremental_backup_restores_into_the_live_database() {
    let (dir, db, k) = setup("wal");
    backup(&k, false);
    day(&db, 1, 4);
    let inc = backup(&k, false);
    let expected = dump(&db);
    day(&db, 2, 9);
    let damaged = dump(&db);
    assert_ne!(damaged, expected);
    let out = k.restore(&inc.id, None, false).unwrap();
    assert_eq!(dump(&db), expected);
    assert_eq!(integrity(&db), "ok");
    let safety = out.safety_backup.expect("a safety backup first");
    assert!(
        safety.incremental.is_none(),
        "the safety backup stands on its own"
    );
    let to = dir.path().join("safety.db");
    k.restore(&safety.id, Some(&to), false).unwrap();
    assert_eq!(dump(&to), damaged);
}

/// The id of a deleted backup whose file a chain keeps is never given to a new backup,
/// even with the backup log gone and the clock on the same second.
#[test]
fn a_kept_file_keeps_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "wal", 1 << 20);
    let cfg = sqlkeep::Config::new(&db)
        .unwrap()
        .with_changes(&json!({"incremental": true, "schedule": "off"}))
        .unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-04T02:00:00Z").unwrap();
    let clock = std::sync::Arc::new(sqlkeep::ManualClock::new(at.to_utc()));
    let k = Keeper::with_clock(cfg, clock);
    let full = backup(&k, false);
    day(&db, 1, 3);
    let inc = backup(&k, false);
    let expected = dump(&db);
    k.delete(&full.id).unwrap();
    std::fs::remove_file(k.config().backup_dir.join("sqlkeep-log.jsonl")).unwrap();
    day(&db, 2, 3);
    let next = backup(&k, true);
    assert_ne!(next.id, full.id);
    assert_eq!(dump(&restored(&k, dir.path(), &inc)), expected);
}
