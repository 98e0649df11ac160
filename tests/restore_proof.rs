//! Faster restores (issue 19): the image hash recorded at backup time proves a restored
//! copy passed `integrity_check`, so the check is not repeated; a hash that does not match
//! is corruption; older manifests without it get the full check; `paranoid` runs it
//! anyway; backups decode on all cores, and damage in the middle of one is found.

mod common;

use common::{bank, dump, keeper};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlkeep::testing::hex;
use sqlkeep::{BackupRequest, ErrorKind, Manifest, RestoreOptions, VerifyLevel};
use std::path::{Path, PathBuf};

const FILLER: u64 = 12 << 20;

fn manifest_path(k: &sqlkeep::Keeper, id: &str) -> PathBuf {
    k.config().backup_dir.join(format!("{id}.json"))
}

fn edit_manifest(k: &sqlkeep::Keeper, id: &str, edit: impl FnOnce(&mut Value)) {
    let path = manifest_path(k, id);
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

fn detail(k: &sqlkeep::Keeper, id: &str) -> String {
    let m = k.list().unwrap().into_iter().find(|m| m.id == id).unwrap();
    m.verification.expect("verified").detail
}

fn sha256_file(p: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(p).unwrap()))
}

fn paranoid() -> RestoreOptions {
    RestoreOptions {
        paranoid: true,
        ..RestoreOptions::default()
    }
}

#[test]
fn the_recorded_image_hash_replaces_the_repeated_check_and_paranoid_runs_it() {
    for compression in ["gzip", "zstd", "none"] {
        let dir = tempfile::tempdir().unwrap();
        let db = bank(dir.path(), "wal", FILLER);
        let k = keeper(&db, json!({"compression": compression}));
        let m = k.backup(&BackupRequest::manual()).unwrap();
        let raw = m
            .raw_sha256
            .clone()
            .expect("a fully checked backup records its image hash");

        let fast = dir.path().join("fast.db");
        k.restore(&m.id, Some(&fast), false).unwrap();
        assert_eq!(
            sha256_file(&fast),
            raw,
            "{compression}: the hash is the image's"
        );
        assert_eq!(dump(&fast), dump(&db), "{compression}");
        let d = detail(&k, &m.id);
        assert!(
            d.contains("not repeated") && !d.contains("integrity_check ok"),
            "{compression}: {d}"
        );

        let slow = dir.path().join("slow.db");
        k.restore_with(&m.id, Some(&slow), paranoid()).unwrap();
        assert_eq!(sha256_file(&slow), raw);
        let d = detail(&k, &m.id);
        assert!(d.contains("integrity_check ok"), "{compression}: {d}");

        // verify --full always runs the check.
        let v = k.verify(&m.id, VerifyLevel::Full).unwrap();
        assert!(
            v.ok && v.detail.contains("integrity_check ok"),
            "{}",
            v.detail
        );
    }
}

#[test]
fn a_backup_checked_only_quickly_records_no_image_hash_and_restores_with_the_full_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 1 << 20);
    for level in ["quick", "off"] {
        let k = keeper(&db, json!({"verify_after_backup": level}));
        let m = k.backup(&BackupRequest::manual()).unwrap();
        assert_eq!(m.raw_sha256, None, "{level}");
        let to = dir.path().join(format!("{level}.db"));
        k.restore(&m.id, Some(&to), false).unwrap();
        let d = detail(&k, &m.id);
        assert!(d.contains("integrity_check ok"), "{level}: {d}");
    }
}

#[test]
fn a_manifest_whose_image_hash_does_not_match_is_refused_as_corrupt_even_when_paranoid() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "wal", 2 << 20);
    let k = keeper(&db, json!({}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    let wrong = hex(&Sha256::digest(b"some other image"));
    edit_manifest(&k, &m.id, |doc| doc["raw_sha256"] = json!(wrong));
    for options in [RestoreOptions::default(), paranoid()] {
        let to = dir.path().join("never.db");
        let e = k.restore_with(&m.id, Some(&to), options).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains(&wrong), "{e}");
        assert!(!to.exists(), "nothing is restored");
    }
    // Into the live database: refused, the data untouched. The safety backup is taken
    // while the backup is checked, and deleted when the check fails.
    let deleted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = deleted.clone();
    k.subscribe(move |e| {
        if let sqlkeep::Event::BackupDeleted { kind, reason, .. } = e {
            seen.lock().unwrap().push((*kind, reason.clone()));
        }
    });
    let before = dump(&db);
    let e = k.restore(&m.id, None, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert_eq!(dump(&db), before);
    assert_eq!(k.list().unwrap().len(), 1, "no safety backup is left");
    assert_eq!(
        *deleted.lock().unwrap(),
        [(
            sqlkeep::Kind::PreRestore,
            "the restore it was taken for did not happen".to_string()
        )]
    );
    let v = k.list().unwrap()[0].verification.clone().unwrap();
    assert!(
        !v.ok && v.detail.contains("passed its check"),
        "{}",
        v.detail
    );
}

/// The image hash proves the bytes, not the manifest around them: a manifest whose other
/// recorded facts no longer match its backup (found by the manifest reliability tests) is
/// refused by the plain restore too, without the full check.
#[test]
fn a_proven_image_whose_manifest_facts_differ_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "wal", 2 << 20);
    let k = keeper(&db, json!({}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    let original = std::fs::read(manifest_path(&k, &m.id)).unwrap();
    type Edit = fn(&Value) -> Value;
    let edits: [(&str, Edit, &str); 3] = [
        (
            "page_count",
            |v| json!(v.as_u64().unwrap() + 1),
            "page count",
        ),
        ("page_size", |v| json!(v.as_u64().unwrap() * 2), "page size"),
        (
            "user_version",
            |v| json!(v.as_i64().unwrap() + 7),
            "user_version",
        ),
    ];
    for (field, edit, named) in edits {
        std::fs::write(manifest_path(&k, &m.id), &original).unwrap();
        edit_manifest(&k, &m.id, |doc| doc[field] = edit(&doc[field]));
        let to = dir.path().join("never.db");
        let e = k.restore(&m.id, Some(&to), false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{field}: {e}");
        assert!(e.to_string().contains(named), "{field}: {e}");
        assert!(!to.exists(), "{field}: nothing is restored");
    }
    std::fs::write(manifest_path(&k, &m.id), &original).unwrap();
    let to = dir.path().join("fine.db");
    k.restore(&m.id, Some(&to), false).unwrap();
    assert_eq!(dump(&to), dump(&db));
}

#[test]
fn an_older_backup_without_framing_or_image_hash_restores_with_the_full_check() {
    // What sqlkeep wrote before: one gzip stream (here from the gzip tool) and a
    // manifest without raw_sha256.
    for (compression, tool, ext) in [("gzip", "gzip", "gz"), ("zstd", "zstd", "zst")] {
        let dir = tempfile::tempdir().unwrap();
        let db = bank(dir.path(), "delete", 3 << 20);
        let k = keeper(&db, json!({"compression": compression}));
        let m = k.backup(&BackupRequest::manual()).unwrap();
        let image = dir.path().join("image.db");
        k.restore(&m.id, Some(&image), false).unwrap();
        let data = k.config().backup_dir.join(&m.file);
        let out = std::process::Command::new(tool)
            .args(["-q", "-c"])
            .arg(&image)
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(&data, &out.stdout).unwrap();
        assert!(m.file.ends_with(ext));
        edit_manifest(&k, &m.id, |doc| {
            doc.as_object_mut().unwrap().remove("raw_sha256");
            doc["sha256"] = json!(hex(&Sha256::digest(&out.stdout)));
            doc["size_bytes"] = json!(out.stdout.len());
        });
        let to = dir.path().join("old.db");
        k.restore(&m.id, Some(&to), false).unwrap();
        assert_eq!(dump(&to), dump(&db), "{compression}");
        let d = detail(&k, &m.id);
        assert!(d.contains("integrity_check ok"), "{compression}: {d}");
    }
}

#[test]
fn damage_in_a_middle_member_is_found_by_the_parallel_decoder_and_never_restored() {
    for compression in ["gzip", "zstd"] {
        let dir = tempfile::tempdir().unwrap();
        let db = bank(dir.path(), "wal", FILLER);
        let k = keeper(&db, json!({"compression": compression}));
        let m = k.backup(&BackupRequest::manual()).unwrap();
        let data = k.config().backup_dir.join(&m.file);
        let mut bytes = std::fs::read(&data).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        std::fs::write(&data, &bytes).unwrap();
        // Re-hash so only the decoder can find the damage.
        edit_manifest(&k, &m.id, |doc| {
            doc["sha256"] = json!(hex(&Sha256::digest(&bytes)))
        });
        let v = k.verify(&m.id, VerifyLevel::Quick).unwrap();
        assert!(!v.ok, "{compression}: {}", v.detail);
        assert!(
            v.detail
                .contains(&format!("{compression} stream is damaged after")),
            "{}",
            v.detail
        );
        let after: u64 = v
            .detail
            .split("damaged after ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(
            after > 0 && after < m.raw_size_bytes,
            "{compression}: damage reported at {after}"
        );
        let to = dir.path().join("never.db");
        let e = k.restore(&m.id, Some(&to), false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(!to.exists());
    }
}

#[test]
fn the_manifest_field_round_trips_and_is_absent_when_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = bank(dir.path(), "delete", 1 << 20);
    let k = keeper(&db, json!({}));
    let m = k.backup(&BackupRequest::manual()).unwrap();
    let text = std::fs::read_to_string(manifest_path(&k, &m.id)).unwrap();
    let parsed = Manifest::parse(text.as_bytes(), &manifest_path(&k, &m.id)).unwrap();
    assert_eq!(parsed.raw_sha256, m.raw_sha256);
    let mut old = parsed.clone();
    old.raw_sha256 = None;
    let doc = serde_json::to_value(&old).unwrap();
    assert!(doc.get("raw_sha256").is_none());
}
