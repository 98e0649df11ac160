//! Encryption at rest (age): round trips with public keys and with a passphrase, interop
//! with the `age` command both ways, keys that do not open a backup, damaged ciphertext,
//! and proof that no plaintext and no secret reaches the backup folder, even when the
//! process is killed with SIGKILL mid-backup or mid-check.

mod common;
#[path = "reliability_common/mod.rs"]
mod reliability_common;

use reliability_common::{digest, run_and_kill, sqlkeep};
use serde_json::json;
use sqlkeep::{BackupRequest, Compression, ErrorKind, Keeper, Manifest, VerifyLevel};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// A database of a few MB in `dir` and a fresh key beside it.
fn setup(dir: &Path, filler: u64) -> (PathBuf, sqlkeep::NewKey) {
    let db = common::bank(dir, "wal", filler);
    let key = sqlkeep::keygen(&dir.join("key.txt")).unwrap();
    (db, key)
}

fn with_key(db: &Path, key: &sqlkeep::NewKey, extra: serde_json::Value) -> Keeper {
    let mut changes = json!({
        "encryption": {"recipients": [key.public_key], "identity_file": key.path},
    });
    changes
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    common::keeper(db, changes)
}

fn secret_of(key: &Path) -> String {
    std::fs::read_to_string(key)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("an identity file holds a secret key")
        .to_string()
}

/// Fails if any file under `dir` (recursively) contains one of `needles`.
fn assert_absent(dir: &Path, needles: &[&[u8]]) {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&p).unwrap_or_default();
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == *n),
                    "{} contains {:?}",
                    p.display(),
                    String::from_utf8_lossy(&n[..n.len().min(20)])
                );
            }
        }
    }
    assert!(files > 0, "{} is empty: nothing was checked", dir.display());
}

fn execute(db: &Path, sql: &str) {
    reliability_common::open(db).execute_batch(sql).unwrap();
}

fn data_file(dir: &Path, m: &Manifest) -> PathBuf {
    dir.join(&m.file)
}

#[test]
fn public_keys_round_trip_in_every_compression_and_nothing_plain_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = setup(dir.path(), 2 << 20);
    let original = digest(&db);
    for (i, c) in ["gzip", "zstd", "none"].into_iter().enumerate() {
        let k = with_key(&db, &key, json!({"compression": c}));
        let m = k.backup(&BackupRequest::manual()).unwrap();
        let c = Compression::parse(c).unwrap();
        assert_eq!(m.file, format!("{}{}.age", m.id, c.extension()));
        assert_eq!(m.requires, vec!["age".to_string()]);
        let enc = m.encryption.as_ref().unwrap();
        assert_eq!(enc.recipients, vec![key.public_key.clone()]);
        let after_backup = m.verification.as_ref().unwrap();
        assert!(
            after_backup.ok && after_backup.detail.contains("age ok"),
            "{after_backup:?}"
        );
        for level in [VerifyLevel::Quick, VerifyLevel::Full] {
            let v = k.verify(&m.id, level).unwrap();
            assert!(
                v.ok && v.detail.contains("age ok"),
                "{c:?} {level:?}: {v:?}"
            );
        }
        let to = dir.path().join(format!("restored-{i}.db"));
        k.restore(&m.id, Some(&to), false).unwrap();
        assert_eq!(digest(&to), original, "{c:?}");
    }
    // Into the live database: the safety copy taken first is encrypted as well.
    let k = with_key(&db, &key, json!({}));
    let first = k.list().unwrap().last().unwrap().clone();
    execute(&db, "UPDATE accounts SET balance = 0");
    let out = k.restore(&first.id, None, false).unwrap();
    assert_eq!(digest(&db), original);
    assert!(out.safety_backup.unwrap().is_encrypted());
    let backups = dir.path().join("backups");
    assert_absent(&backups, &[SQLITE_MAGIC, secret_of(&key.path).as_bytes()]);
    // The config a face shows names the public facts only.
    let shown = k.config().to_value().to_string();
    assert!(shown.contains(&key.public_key) && !shown.contains("AGE-SECRET-KEY"));
}

#[test]
fn a_passphrase_round_trips_and_is_written_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::bank(dir.path(), "delete", 1 << 20);
    let original = digest(&db);
    // A variable of this test's own: tests run in parallel in one process.
    let var = "SQLKEEP_TEST_PASSPHRASE_ROUND_TRIP";
    let passphrase = "correct horse battery staple 4417";
    std::env::set_var(var, passphrase);
    let k = common::keeper(&db, json!({"encryption": {"passphrase_env": var}}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    assert_eq!(
        m.encryption.as_ref().unwrap().passphrase_env.as_deref(),
        Some(var)
    );
    assert!(k.verify(&m.id, VerifyLevel::Full).unwrap().ok);
    let to = dir.path().join("restored.db");
    k.restore(&m.id, Some(&to), false).unwrap();
    assert_eq!(digest(&to), original);

    // The wrong passphrase: a key error naming the variable; nothing restored.
    std::env::set_var(var, "not the passphrase");
    let to2 = dir.path().join("restored-2.db");
    let e = k.restore(&m.id, Some(&to2), false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Key, "{e}");
    assert_eq!(e.key(), Some("encryption.passphrase_env"));
    assert!(e.to_string().contains(var), "{e}");
    assert!(!to2.exists());
    // The manifest still says the backup is good: a wrong key judges the key, not the file.
    assert!(k.get(&m.id).unwrap().verified());

    // No passphrase at all: the backup fails before writing anything.
    std::env::remove_var(var);
    let before = k.list().unwrap().len();
    let e = k.backup(&BackupRequest::manual()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Key, "{e}");
    assert!(e.to_string().contains(var), "{e}");
    assert_eq!(k.list().unwrap().len(), before);
    assert!(reliability_common::temp_files(&dir.path().join("backups")).is_empty());
    assert_absent(
        &dir.path().join("backups"),
        &[SQLITE_MAGIC, passphrase.as_bytes()],
    );
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_age_command_reads_sqlkeep_files_and_sqlkeep_reads_age_keygen_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = setup(dir.path(), 1 << 20);
    let original = digest(&db);
    // sqlkeep's key and file, opened by `age -d` and the decompressor alone.
    for (c, decompress) in [("gzip", "gunzip"), ("zstd", "unzstd")] {
        let k = with_key(&db, &key, json!({"compression": c}));
        let m = k.backup(&BackupRequest::manual()).unwrap();
        let file = data_file(&dir.path().join("backups"), &m);
        let out = dir.path().join(format!("by-age-{c}.db"));
        let plain = run(Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&key.path)
            .arg(&file));
        let mut child = Command::new(decompress)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&plain).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(digest(&out), original, "{c}");
    }
    // A key made by `age-keygen`, used by sqlkeep.
    let theirs = dir.path().join("age-keygen.txt");
    run(Command::new("age-keygen").arg("-o").arg(&theirs));
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = String::from_utf8(run(Command::new("age-keygen").arg("-y").arg(&theirs)))
        .unwrap()
        .trim()
        .to_string();
    let k = common::keeper(
        &db,
        json!({"encryption": {"recipients": [public], "identity_file": theirs}}),
    );
    let m = k.backup(&BackupRequest::manual()).unwrap();
    assert!(k.verify(&m.id, VerifyLevel::Full).unwrap().ok);
    let to = dir.path().join("restored.db");
    k.restore(&m.id, Some(&to), false).unwrap();
    assert_eq!(digest(&to), original);
}

#[test]
fn keys_that_cannot_open_a_backup_each_say_why_and_restore_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = setup(dir.path(), 1 << 20);
    let m = with_key(&db, &key, json!({}))
        .backup(&BackupRequest::manual())
        .unwrap();
    execute(
        &db,
        "UPDATE accounts SET balance = balance + 1 WHERE id = 1",
    );
    let live = digest(&db);
    let other = sqlkeep::keygen(&dir.path().join("other.txt")).unwrap();
    let target = dir.path().join("restored.db");
    let check = |k: &Keeper, setting: &str, says: &str| {
        let e = k.verify(&m.id, VerifyLevel::Full).unwrap_err();
        assert_eq!((e.kind(), e.key()), (ErrorKind::Key, Some(setting)), "{e}");
        assert!(e.to_string().contains(says), "{e}");
        for to in [None, Some(target.as_path())] {
            let e = k.restore(&m.id, to, false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Key, "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
        assert_eq!(digest(&db), live, "the live database is untouched");
        assert!(!target.exists());
        let kinds: Vec<_> = k.list().unwrap().iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            vec![sqlkeep::Kind::Manual],
            "no safety backup without a restore"
        );
    };
    // The wrong key: the message names the key file and the backup's recipients.
    let wrong = with_key(&db, &other, json!({}));
    check(&wrong, "encryption.identity_file", &key.public_key);
    // No key on this machine: quick verification still checks the ciphertext.
    let no_key = common::keeper(&db, json!({"encryption": {"recipients": [key.public_key]}}));
    let quick = no_key.verify(&m.id, VerifyLevel::Quick).unwrap();
    assert!(
        quick.ok && quick.detail.contains("not decrypted"),
        "{quick:?}"
    );
    check(&no_key, "encryption.identity_file", "no key");
    // A key file other users can read is not used.
    std::fs::set_permissions(&key.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let exposed = with_key(&db, &key, json!({}));
    check(&exposed, "encryption.identity_file", "chmod 600");
    let e = exposed.backup(&BackupRequest::manual()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Key);
    std::fs::set_permissions(&key.path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Through the CLI: exit status 1 (the operation failed), not 2 (usage).
    let cfg = dir.path().join("wrong.json");
    std::fs::write(
        &cfg,
        json!({"database": db, "encryption": {"recipients": [other.public_key], "identity_file": other.path}})
            .to_string(),
    )
    .unwrap();
    let out = sqlkeep()
        .arg("--config")
        .arg(&cfg)
        .args(["restore", &m.id, "--to"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open"));
    assert!(!target.exists());
    // Every failure above was logged; no secret key and no plaintext went with it.
    assert_absent(
        &dir.path().join("backups"),
        &[
            SQLITE_MAGIC,
            secret_of(&key.path).as_bytes(),
            secret_of(&other.path).as_bytes(),
        ],
    );
}

#[test]
fn damaged_ciphertext_is_corrupt_with_or_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = setup(dir.path(), 1 << 20);
    let live = digest(&db);
    let backups = dir.path().join("backups");
    let no_key = common::keeper(&db, json!({"encryption": {"recipients": [key.public_key]}}));
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 3] = [
        ("truncated", |b| b.truncate(b.len() - 100)),
        ("bit flipped in the body", |b| {
            let i = b.len() / 2;
            b[i] ^= 0x10
        }),
        ("bit flipped in the header", |b| b[40] ^= 0x01),
    ];
    for (what, damage) in damages {
        let k = with_key(&db, &key, json!({}));
        let m = k.backup(&BackupRequest::manual()).unwrap();
        let file = data_file(&backups, &m);
        let mut bytes = std::fs::read(&file).unwrap();
        damage(&mut bytes);
        std::fs::write(&file, &bytes).unwrap();
        for keeper in [&k, &no_key] {
            let v = keeper.verify(&m.id, VerifyLevel::Quick).unwrap();
            assert!(!v.ok, "{what}: {v:?}");
        }
        let v = k.verify(&m.id, VerifyLevel::Full).unwrap();
        assert!(!v.ok, "{what}: {v:?}");
        let e = k.restore(&m.id, None, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{what}: {e}");
        assert_eq!(digest(&db), live, "{what}: live database untouched");
        k.delete(&m.id).unwrap();
    }
}

#[test]
fn an_identity_file_with_old_and_new_keys_reads_backups_of_both() {
    let dir = tempfile::tempdir().unwrap();
    let (db, old) = setup(dir.path(), 1 << 20);
    let old_backup = with_key(&db, &old, json!({}))
        .backup(&BackupRequest::manual())
        .unwrap();
    // The key is replaced: new backups go to the new key; the machine keeps both secrets.
    let new = sqlkeep::keygen(&dir.path().join("new.txt")).unwrap();
    let both = dir.path().join("both.txt");
    let text =
        std::fs::read_to_string(&old.path).unwrap() + &std::fs::read_to_string(&new.path).unwrap();
    std::fs::write(&both, text).unwrap();
    std::fs::set_permissions(&both, std::fs::Permissions::from_mode(0o600)).unwrap();
    let k = common::keeper(
        &db,
        json!({"encryption": {"recipients": [new.public_key], "identity_file": both}}),
    );
    let new_backup = k.backup(&BackupRequest::manual()).unwrap();
    assert_eq!(
        new_backup.encryption.as_ref().unwrap().recipients,
        vec![new.public_key.clone()]
    );
    for m in [&old_backup, &new_backup] {
        assert!(k.verify(&m.id, VerifyLevel::Full).unwrap().ok, "{}", m.id);
    }
    // With only the new key, the old backup names the key it needs.
    let only_new = with_key(&db, &new, json!({}));
    let e = only_new
        .verify(&old_backup.id, VerifyLevel::Full)
        .unwrap_err();
    assert!(e.to_string().contains(&old.public_key), "{e}");
}

#[test]
fn keygen_never_overwrites_and_writes_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.txt");
    let k = sqlkeep::keygen(&path).unwrap();
    assert!(k.public_key.starts_with("age1") && k.public_key.len() == 62);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&path).unwrap();
    let e = sqlkeep::keygen(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left");
}

/// Backdates every sqlkeep temporary file in `dir`, so the next run's sweep (which leaves
/// files younger than a minute alone, in case they are being written) takes them.
fn age_temp_files(dir: &Path) {
    for name in reliability_common::temp_files(dir) {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(&name))
            .unwrap();
        f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
    }
}

#[test]
fn sigkill_mid_backup_or_check_leaves_no_plaintext_in_the_backup_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = setup(dir.path(), 24 << 20);
    let cfg = dir.path().join("sqlkeep.json");
    std::fs::write(
        &cfg,
        json!({"database": db, "encryption": {"recipients": [key.public_key], "identity_file": key.path}})
            .to_string(),
    )
    .unwrap();
    let backups = dir.path().join("backups");
    let cli = |args: &[&str]| {
        let mut c = sqlkeep();
        c.arg("--config").arg(&cfg).arg("--json").args(args);
        c
    };
    // How long a whole backup and a whole full check take here.
    let started = std::time::Instant::now();
    let out = cli(&["backup"]).output().unwrap();
    assert!(out.status.success());
    let backup_time = started.elapsed();
    let m: Manifest = serde_json::from_slice(&out.stdout).unwrap();
    let started = std::time::Instant::now();
    assert!(cli(&["verify", &m.id]).status().unwrap().success());
    let verify_time = started.elapsed();
    let secret = secret_of(&key.path);
    let mut killed = 0;
    for i in 0..8u32 {
        let (args, time) = if i % 2 == 0 {
            (vec!["backup"], backup_time)
        } else {
            (vec!["verify", m.id.as_str()], verify_time)
        };
        let end = run_and_kill(cli(&args), time * (i / 2 + 1) / 5);
        killed += end.killed as u32;
        assert_absent(&backups, &[SQLITE_MAGIC, secret.as_bytes()]);
    }
    assert!(killed >= 4, "only {killed} of 8 kills landed mid-run");
    // The next run sweeps the plaintext copies the kills left beside the database.
    age_temp_files(dir.path());
    age_temp_files(&backups);
    let out = cli(&["backup"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        reliability_common::temp_files(dir.path()),
        Vec::<String>::new()
    );
    assert_eq!(
        reliability_common::temp_files(&backups),
        Vec::<String>::new()
    );
    assert_absent(&backups, &[SQLITE_MAGIC, secret.as_bytes()]);
}
