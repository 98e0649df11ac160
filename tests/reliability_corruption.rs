//! Corruption detection: backups (gzip, zstd, none) damaged on purpose in many ways, at
//! random places drawn from a seeded RNG (the seed is printed; replay with
//! `SQLKEEP_RELIABILITY_SEED`). Every damaged backup must fail quick or full verification,
//! and `Keeper::restore` must refuse it with `ErrorKind::Corrupt`, into the live database
//! (left byte-for-byte unchanged, no safety backup taken) as into a new path (not created).
//!
//! Damage to the backup *file* and to the pairing of manifest and file must be detected
//! every time. A bit flip in a manifest may land in free text (a label, a date), so there
//! the rule is: detected, or harmless (the restore gives exactly the backed-up content).
//! Each case prints `RELIABILITY corruption <case>: trials=N detected=N`.

mod common;
mod reliability_common;

use common::bank;
use reliability_common::*;
use serde_json::{json, Value};
use sqlkeep::{BackupRequest, ErrorKind, Keeper, Manifest, VerifyLevel};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A change to one manifest field.
type Edit = fn(&Value) -> Value;

const BIT_FLIPS: usize = 200;
const TRUNCATIONS: usize = 50;
const OVERWRITES: usize = 50;
const APPENDS: usize = 20;
const MANIFEST_FLIPS: usize = 100;
const DB_BYTES: u64 = 256 << 10;

struct Lab {
    tmp: tempfile::TempDir,
    db: PathBuf,
    bdir: PathBuf,
    keeper: Keeper,
    /// Two backups per compression, of different content.
    backups: Vec<Manifest>,
    /// Content digest of each backup.
    content: HashMap<String, String>,
    /// Original bytes of every file in the backup directory.
    pristine: HashMap<PathBuf, Vec<u8>>,
    live_sha: String,
    rng: fastrand::Rng,
}

/// Tally of one case.
#[derive(Default)]
struct Tally {
    trials: usize,
    detected: usize,
    by_quick: usize,
    harmless: usize,
}

impl Lab {
    fn new(seed: u64) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let db = bank(tmp.path(), "delete", DB_BYTES);
        let bdir = tmp.path().join("backups");
        let keeper = common::keeper(&db, json!({"backup_dir": bdir.to_str().unwrap()}));
        let mut backups = Vec::new();
        let mut content = HashMap::new();
        for (i, c) in ["gzip", "zstd", "none"].into_iter().enumerate() {
            let k = common::keeper(
                &db,
                json!({"backup_dir": bdir.to_str().unwrap(), "compression": c}),
            );
            for j in 0..2 {
                open(&db)
                    .execute(
                        "UPDATE accounts SET balance = balance + 1 WHERE id = ?1",
                        [(i * 2 + j) as i64],
                    )
                    .unwrap();
                let m = k
                    .backup(&BackupRequest {
                        kind: sqlkeep::Kind::Manual,
                        label: Some(format!("{c} {j}")),
                        full: false,
                    })
                    .unwrap();
                content.insert(m.id.clone(), digest(&db));
                backups.push(m);
            }
        }
        let mut lab = Lab {
            live_sha: file_sha(&db),
            tmp,
            db,
            bdir,
            keeper,
            backups,
            content,
            pristine: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        };
        lab.snapshot();
        lab
    }

    fn snapshot(&mut self) {
        self.pristine.clear();
        for e in std::fs::read_dir(&self.bdir).unwrap() {
            let p = e.unwrap().path();
            self.pristine.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }

    /// Puts every backup file and manifest back as it was, and removes what a damage
    /// added.
    fn heal(&self) {
        for e in std::fs::read_dir(&self.bdir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap();
            if !self.pristine.contains_key(&p) && name != sqlkeep::testing::LOG_FILE {
                std::fs::remove_file(&p).unwrap();
            }
        }
        for (p, bytes) in &self.pristine {
            if p.file_name().unwrap() == sqlkeep::testing::LOG_FILE {
                continue;
            }
            if std::fs::read(p).ok().as_deref() != Some(bytes.as_slice()) {
                std::fs::write(p, bytes).unwrap();
            }
        }
    }

    fn data(&self, m: &Manifest) -> PathBuf {
        self.bdir.join(&m.file)
    }

    fn manifest(&self, m: &Manifest) -> PathBuf {
        self.bdir.join(format!("{}.json", m.id))
    }

    /// Runs every check on damaged backup `id`: quick and full verification, restore into
    /// the live database and into a new path. Returns (detected, detected by quick).
    fn damaged(&self, id: &str, case: &str, f: &mut Failures) -> (bool, bool) {
        let quick = self.keeper.verify(id, VerifyLevel::Quick).unwrap();
        let full = self.keeper.verify(id, VerifyLevel::Full).unwrap();
        let detected = !quick.ok || !full.ok;
        f.check(detected, || {
            format!("{case}: damage to {id} passed verification: quick {quick:?}, full {full:?}")
        });
        let listed = self.keeper.list().unwrap().len();
        match self.keeper.restore(id, None, false) {
            Ok(o) => f.check(false, || {
                format!("{case}: damaged {id} was restored into the live database: {o:?}")
            }),
            Err(e) => f.check(e.kind() == ErrorKind::Corrupt, || {
                format!(
                    "{case}: restore of {id} failed with {:?}, not Corrupt: {e}",
                    e.kind()
                )
            }),
        }
        f.check(file_sha(&self.db) == self.live_sha, || {
            format!("{case}: a refused restore of {id} changed the live database")
        });
        let after = self.keeper.list().unwrap().len();
        f.check(after <= listed, || {
            format!("{case}: a refused restore of {id} left a safety backup")
        });
        let to = self.tmp.path().join("never.db");
        match self.keeper.restore(id, Some(&to), false) {
            Ok(_) => f.check(false, || format!("{case}: damaged {id} restored to a path")),
            Err(e) => f.check(e.kind() == ErrorKind::Corrupt, || {
                format!(
                    "{case}: restore of {id} to a path failed with {:?}: {e}",
                    e.kind()
                )
            }),
        }
        f.check(!to.exists(), || {
            format!("{case}: a refused restore created {}", to.display())
        });
        let mut strays = temp_files(self.tmp.path());
        strays.extend(temp_files(&self.bdir));
        f.check(strays.is_empty(), || {
            format!("{case}: verification or a refused restore left {strays:?}")
        });
        remove_db(&to);
        (detected, !quick.ok)
    }

    /// Damages backup `m` with `damage`, checks, heals.
    fn trial(
        &mut self,
        m: &Manifest,
        case: &str,
        t: &mut Tally,
        f: &mut Failures,
        damage: impl FnOnce(&mut fastrand::Rng, &Path, &Path),
    ) {
        let (data, manifest) = (self.data(m), self.manifest(m));
        damage(&mut self.rng, &data, &manifest);
        let (detected, quick) = self.damaged(&m.id, case, f);
        t.trials += 1;
        t.detected += detected as usize;
        t.by_quick += quick as usize;
        self.heal();
    }
}

fn report(case: &str, t: &Tally) {
    println!(
        "RELIABILITY corruption {case}: trials={} detected={} (by quick verification: {})",
        t.trials, t.detected, t.by_quick
    );
}

fn compression_of(m: &Manifest) -> &'static str {
    m.compression.as_str()
}

#[test]
fn damaged_backup_files_are_always_detected_and_never_restored() {
    let mut lab = Lab::new(seed("damaged_backup_files"));
    let mut f = Failures::default();
    let firsts: Vec<Manifest> = lab.backups.iter().step_by(2).cloned().collect();
    for m in &firsts {
        let c = compression_of(m);
        let len = std::fs::metadata(lab.data(m)).unwrap().len() as usize;

        let mut t = Tally::default();
        for i in 0..BIT_FLIPS {
            // The first and last byte always, then anywhere.
            lab.trial(
                m,
                &format!("bitflip-{c} #{i}"),
                &mut t,
                &mut f,
                |rng, data, _| {
                    let mut bytes = std::fs::read(data).unwrap();
                    let at = match i {
                        0 => 0,
                        1 => len - 1,
                        _ => rng.usize(..len),
                    };
                    bytes[at] ^= 1 << rng.u8(..8);
                    std::fs::write(data, &bytes).unwrap();
                },
            );
        }
        report(&format!("bitflip-{c}"), &t);

        let mut t = Tally::default();
        for i in 0..TRUNCATIONS {
            lab.trial(
                m,
                &format!("truncate-{c} #{i}"),
                &mut t,
                &mut f,
                |rng, data, _| {
                    let keep = if i == 0 { len - 1 } else { rng.usize(..len) };
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(data)
                        .unwrap()
                        .set_len(keep as u64)
                        .unwrap();
                },
            );
        }
        report(&format!("truncate-{c}"), &t);

        // A torn or misdirected write: a stretch overwritten, the size unchanged.
        let mut t = Tally::default();
        for i in 0..OVERWRITES {
            lab.trial(
                m,
                &format!("overwrite-{c} #{i}"),
                &mut t,
                &mut f,
                |rng, data, _| {
                    let mut bytes = std::fs::read(data).unwrap();
                    let n = rng.usize(1..=4096.min(len));
                    let at = rng.usize(..=len - n);
                    let before = bytes[at..at + n].to_vec();
                    loop {
                        let zero = rng.bool();
                        for b in &mut bytes[at..at + n] {
                            *b = if zero { 0 } else { rng.u8(..) };
                        }
                        if bytes[at..at + n] != before[..] {
                            break;
                        }
                    }
                    std::fs::write(data, &bytes).unwrap();
                },
            );
        }
        report(&format!("overwrite-{c}"), &t);

        let mut t = Tally::default();
        for i in 0..APPENDS {
            lab.trial(
                m,
                &format!("append-{c} #{i}"),
                &mut t,
                &mut f,
                |rng, data, _| {
                    let mut bytes = std::fs::read(data).unwrap();
                    let n = rng.usize(1..1000);
                    bytes.extend((0..n).map(|_| rng.u8(..)));
                    std::fs::write(data, &bytes).unwrap();
                },
            );
        }
        report(&format!("append-{c}"), &t);

        let mut t = Tally::default();
        lab.trial(
            m,
            &format!("data-deleted-{c}"),
            &mut t,
            &mut f,
            |_, data, _| {
                std::fs::remove_file(data).unwrap();
            },
        );
        report(&format!("data-deleted-{c}"), &t);
    }
    // The originals are intact: the damage was the test's, not the healing's.
    for m in &lab.backups {
        assert!(lab.keeper.verify(&m.id, VerifyLevel::Full).unwrap().ok);
    }
    println!(
        "RELIABILITY corruption data-file: failures={} (every case above must detect all)",
        f.len()
    );
    f.assert_none("damaged backup files");
}

#[test]
fn mismatched_and_missing_manifests_are_always_detected() {
    let mut lab = Lab::new(seed("mismatched_manifests"));
    let mut f = Failures::default();
    let all = lab.backups.clone();
    let pairs: Vec<(Manifest, Manifest)> = all
        .iter()
        .flat_map(|a| all.iter().map(move |b| (a.clone(), b.clone())))
        .filter(|(a, b)| a.id != b.id)
        .collect();

    // Manifests exchanged between two backups (same or different compression).
    let mut t = Tally::default();
    for (a, b) in &pairs {
        let (ma, mb) = (lab.manifest(a), lab.manifest(b));
        lab.trial(
            a,
            &format!("manifest-swap {} {}", a.id, b.id),
            &mut t,
            &mut f,
            |_, _, _| {
                let (x, y) = (std::fs::read(&ma).unwrap(), std::fs::read(&mb).unwrap());
                std::fs::write(&ma, y).unwrap();
                std::fs::write(&mb, x).unwrap();
            },
        );
    }
    report("manifest-swap", &t);

    // Another backup's manifest under this one's name, its id and file name edited to
    // match (as when manifests are copied between folders): only the data checks can
    // tell.
    let mut t = Tally::default();
    for (a, b) in &pairs {
        let mb = lab.manifest(b);
        let da = lab.data(a);
        // With a different compression the file the edited manifest names is missing:
        // give it one (this backup's own data).
        let named = lab
            .bdir
            .join(format!("{}{}", a.id, b.compression.extension()));
        let case = format!("manifest-from-other {} {}", a.id, b.id);
        lab.trial(a, &case, &mut t, &mut f, |_, _, ma| {
            let mut v: Value = serde_json::from_slice(&std::fs::read(&mb).unwrap()).unwrap();
            v["id"] = json!(a.id);
            v["file"] = json!(named.file_name().unwrap().to_str().unwrap());
            std::fs::write(ma, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
            if named != da {
                std::fs::copy(&da, &named).unwrap();
            }
        });
    }
    report("manifest-from-other", &t);

    // Data files exchanged between two backups of the same compression.
    let mut t = Tally::default();
    for (a, b) in pairs.iter().filter(|(a, b)| a.compression == b.compression) {
        let (da, db) = (lab.data(a), lab.data(b));
        lab.trial(
            a,
            &format!("data-swap {} {}", a.id, b.id),
            &mut t,
            &mut f,
            |_, _, _| {
                let (x, y) = (std::fs::read(&da).unwrap(), std::fs::read(&db).unwrap());
                std::fs::write(&da, y).unwrap();
                std::fs::write(&db, x).unwrap();
            },
        );
    }
    report("data-swap", &t);

    let mut t = Tally::default();
    for m in &all {
        lab.trial(
            m,
            &format!("manifest-deleted {}", m.id),
            &mut t,
            &mut f,
            |_, _, mf| {
                std::fs::remove_file(mf).unwrap();
            },
        );
    }
    report("manifest-deleted", &t);

    // A manifest that is not JSON at all, or empty.
    let mut t = Tally::default();
    for m in &all {
        for (what, bytes) in [("empty", &b""[..]), ("garbage", &b"\x00\xffnot json"[..])] {
            lab.trial(
                m,
                &format!("manifest-{what} {}", m.id),
                &mut t,
                &mut f,
                |_, _, mf| {
                    std::fs::write(mf, bytes).unwrap();
                },
            );
        }
    }
    report("manifest-unreadable", &t);

    // Each field the checks rely on, changed.
    let mut t = Tally::default();
    let edits: [(&str, Edit); 6] = [
        ("size_bytes", |v| json!(v.as_u64().unwrap() + 1)),
        ("sha256", |v| {
            let s = v.as_str().unwrap();
            let flipped = if s.starts_with('0') { "1" } else { "0" };
            json!(format!("{flipped}{}", &s[1..]))
        }),
        ("raw_size_bytes", |v| json!(v.as_u64().unwrap() - 1)),
        ("page_count", |v| json!(v.as_u64().unwrap() + 1)),
        ("page_size", |v| json!(v.as_u64().unwrap() * 2)),
        ("user_version", |v| json!(v.as_i64().unwrap() + 1)),
    ];
    for m in &all {
        for (field, edit) in &edits {
            let case = format!("manifest-field {field} {}", m.id);
            lab.trial(m, &case, &mut t, &mut f, |_, _, mf| {
                let mut v: Value = serde_json::from_slice(&std::fs::read(mf).unwrap()).unwrap();
                v[*field] = edit(&v[*field]);
                std::fs::write(mf, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
            });
        }
    }
    report("manifest-field", &t);
    for m in &lab.backups {
        assert!(lab.keeper.verify(&m.id, VerifyLevel::Full).unwrap().ok);
    }
    f.assert_none("mismatched manifests");
}

#[test]
fn a_bit_flip_in_a_manifest_is_detected_or_harmless() {
    let mut lab = Lab::new(seed("manifest_bit_flips"));
    let mut f = Failures::default();
    let firsts: Vec<Manifest> = lab.backups.iter().step_by(2).cloned().collect();
    for m in &firsts {
        let c = compression_of(m);
        let mf = lab.manifest(m);
        let original = std::fs::read(&mf).unwrap();
        let mut t = Tally::default();
        for i in 0..MANIFEST_FLIPS {
            let case = format!("manifest-bitflip-{c} #{i}");
            let mut bytes = original.clone();
            let at = lab.rng.usize(..bytes.len());
            bytes[at] ^= 1 << lab.rng.u8(..8);
            std::fs::write(&mf, &bytes).unwrap();
            t.trials += 1;
            let quick = lab.keeper.verify(&m.id, VerifyLevel::Quick).unwrap();
            let full = lab.keeper.verify(&m.id, VerifyLevel::Full).unwrap();
            if !quick.ok || !full.ok {
                t.detected += 1;
                t.by_quick += !quick.ok as usize;
                // Refused like any damaged backup.
                std::fs::write(&mf, &bytes).unwrap();
                lab.damaged(&m.id, &case, &mut f);
            } else {
                // Undetected: then the flip must not matter for the data.
                std::fs::write(&mf, &bytes).unwrap();
                let to = lab.tmp.path().join("flip.db");
                remove_db(&to);
                match lab.keeper.restore(&m.id, Some(&to), false) {
                    Ok(_) => {
                        let same = digest(&to) == lab.content[&m.id];
                        f.check(same, || {
                            format!(
                                "{case}: undetected flip at byte {at} changed the restored content"
                            )
                        });
                        t.harmless += same as usize;
                    }
                    Err(e) => f.check(false, || {
                        format!("{case}: verification passed but restore failed: {e}")
                    }),
                }
                remove_db(&to);
            }
            lab.heal();
        }
        println!(
            "RELIABILITY corruption manifest-bitflip-{c}: trials={} detected={} harmless={}",
            t.trials, t.detected, t.harmless
        );
        f.check(t.detected + t.harmless == t.trials, || {
            format!("manifest-bitflip-{c}: some flips were neither detected nor harmless")
        });
    }
    f.assert_none("manifest bit flips");
}
