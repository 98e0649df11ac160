//! Crash safety: the `sqlkeep` CLI killed with SIGKILL at random moments during backup,
//! verification, restore and rotation, on real databases of a few MB. After every kill:
//! - every listed backup verifies fully, and none is a temporary file;
//! - what the kill left behind is swept away by the next backup run;
//! - the source database passes `integrity_check` and its invariant holds;
//! - a restore into the live database left either all of the old content or all of the
//!   backup's, never a mix; a restore into a new path left nothing or the whole backup;
//! - a rotation deleted only what its plan deletes, each backup whole or not at all.
//!
//! The kill delays are drawn from a seeded RNG (the seed is printed; replay with
//! `SQLKEEP_RELIABILITY_SEED`) over the measured duration of an uninterrupted run. Each
//! test prints `RELIABILITY crash <operation>: trials=N killed_mid_run=N failures=0`.

mod common;
mod reliability_common;

use common::{bank, ACCOUNTS, OPENING_BALANCE};
use reliability_common::*;
use serde_json::json;
use sqlkeep::testing::TMP_PREFIX;
use sqlkeep::{BackupRequest, Config, Keeper, Kind, Manifest, ManualClock, VerifyLevel};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Kills per operation (`SQLKEEP_RELIABILITY_TRIALS` overrides).
const TRIALS: usize = 25;
/// Size of the sample data in each database.
const DB_BYTES: u64 = 3 << 20;
/// Scheduled backups added before each rotation (most of which it deletes).
const ROTATED: usize = 8;
const EXPECTED: i64 = ACCOUNTS * OPENING_BALANCE;

/// The tests of this file run one at a time, so that the duration measured before the
/// kills is the duration under the same load as the kills.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A database with its backup directory, and a keeper on both.
struct World {
    tmp: TempDir,
    mode: &'static str,
    db: PathBuf,
    bdir: PathBuf,
    keeper: Keeper,
    /// Backups that passed a full verification in this test already.
    checked: HashSet<String>,
}

impl World {
    fn new(mode: &'static str) -> World {
        World::sized(mode, DB_BYTES)
    }

    fn sized(mode: &'static str, bytes: u64) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let db = bank(tmp.path(), mode, bytes);
        open(&db)
            .execute_batch(
                "CREATE TABLE marker (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
                 INSERT INTO marker VALUES (1, 'initial');",
            )
            .unwrap();
        let bdir = tmp.path().join("backups");
        let keeper = common::keeper(&db, json!({"backup_dir": bdir.to_str().unwrap()}));
        World {
            tmp,
            mode,
            db,
            bdir,
            keeper,
            checked: HashSet::new(),
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Command {
        cli(&self.db, &self.bdir, args)
    }

    /// Checks the catalogue as a kill left it: every listed backup is a real one and
    /// verifies fully (each checked once). A data file without manifest is allowed only
    /// as an interrupted commit or deletion, whose intent file the next sweep resolves.
    /// Returns the backups seen for the first time.
    fn check_catalogue(&mut self, f: &mut Failures, trial: &str) -> Vec<Manifest> {
        let good = listed_or_interrupted(&self.keeper, &self.bdir, f, trial);
        let mut new = Vec::new();
        for m in good {
            f.check(
                !m.id.starts_with('.') && !m.file.starts_with(TMP_PREFIX),
                || format!("{trial}: a temporary file is listed as backup {}", m.id),
            );
            if self.checked.contains(&m.id) {
                continue;
            }
            let v = self.keeper.verify(&m.id, VerifyLevel::Full).unwrap();
            f.check(v.ok, || {
                format!(
                    "{trial}: listed backup {} fails full verification: {}",
                    m.id, v.detail
                )
            });
            self.checked.insert(m.id.clone());
            new.push(m);
        }
        new
    }

    /// The content digest of backup `id`, restored into a scratch file.
    fn backup_digest(&self, id: &str) -> (String, i64) {
        let to = self.tmp.path().join("scratch.db");
        remove_db(&to);
        self.keeper.restore(id, Some(&to), false).unwrap();
        assert_eq!(integrity(&to), "ok", "backup {id} restores to a sound file");
        let d = (digest(&to), balance_sum(&to));
        remove_db(&to);
        d
    }

    /// If a kill left temporary files, runs the next backup to completion and checks it
    /// swept them all. Returns the id of that backup, if one was run.
    fn sweep_with_next_backup(&mut self, f: &mut Failures, trial: &str) -> Option<String> {
        if temp_files(&self.bdir).is_empty() {
            return None;
        }
        let (out, _) = run_ok(self.cli(&["backup"]));
        let m: Manifest = serde_json::from_str(&out).unwrap();
        let left = temp_files(&self.bdir);
        f.check(left.is_empty(), || {
            format!("{trial}: the next backup run left temporary files {left:?}")
        });
        let (_, broken) = self.keeper.scan().unwrap();
        f.check(broken.is_empty(), || {
            format!("{trial}: after the sweep, broken backups remain: {broken:?}")
        });
        Some(m.id)
    }
}

#[test]
fn kill_during_backup() {
    let _serial = serial();
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed("kill_during_backup"));
    let trials = trials(TRIALS);
    let mut worlds = [World::new("wal"), World::new("delete")];
    // Applications keep writing while backups are killed.
    let writers: Vec<PacedWriter> = worlds
        .iter()
        .enumerate()
        .map(|(i, w)| PacedWriter::start(&w.db, 100 + i as u64, Duration::from_millis(2)))
        .collect();
    let mut durations = Vec::new();
    for w in &worlds {
        let d = measure(3, || w.cli(&["backup"]));
        println!(
            "backup of {} ({}): {d:?} uninterrupted",
            w.db.display(),
            w.mode
        );
        durations.push(Estimate::new(d));
    }
    let mut f = Failures::default();
    let (mut mid_run, mut left_temps, mut completed) = (0, 0, 0);
    for t in 0..trials {
        let i = t % worlds.len();
        let w = &mut worlds[i];
        let trial = format!("backup trial {t} ({})", w.mode);
        let end = kill(w.cli(&["backup"]), &mut durations[i], &mut rng);
        classify(&end, &mut f, &trial, &mut mid_run);
        let new = w.check_catalogue(&mut f, &trial);
        if end.status.success() {
            completed += 1;
            let m: Manifest = serde_json::from_str(&end.stdout).unwrap();
            f.check(new.iter().any(|n| n.id == m.id), || {
                format!("{trial}: completed backup {} is not listed", m.id)
            });
        }
        // Every backup that appeared is a consistent snapshot of the live database.
        for m in &new {
            let (_, sum) = w.backup_digest(&m.id);
            f.check(sum == EXPECTED, || {
                format!("{trial}: backup {} breaks the invariant: {sum}", m.id)
            });
        }
        let ic = integrity(&w.db);
        f.check(ic == "ok", || {
            format!("{trial}: source integrity_check: {ic}")
        });
        let sum = balance_sum(&w.db);
        f.check(sum == EXPECTED, || format!("{trial}: source sum is {sum}"));
        if !temp_files(&w.bdir).is_empty() {
            left_temps += 1;
            w.sweep_with_next_backup(&mut f, &trial);
            w.check_catalogue(&mut f, &trial);
        }
        // The log stays readable whatever was cut short.
        f.check(w.keeper.history(1000, 0).is_ok(), || {
            format!("{trial}: history unreadable")
        });
    }
    for (w, writer) in worlds.iter().zip(writers) {
        assert!(writer.stop() > 0, "the writer of {} made progress", w.mode);
        assert_eq!(integrity(&w.db), "ok");
        assert_eq!(balance_sum(&w.db), EXPECTED);
    }
    report(
        "backup",
        started,
        trials,
        mid_run,
        &format!(" completed={completed} left_temp_files={left_temps}"),
        &f,
    );
}

#[test]
fn kill_during_verification() {
    let _serial = serial();
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed("kill_during_verification"));
    let trials = trials(TRIALS);
    let mut w = World::new("wal");
    for i in 0..4 {
        open(&w.db)
            .execute("UPDATE marker SET v = ?1", [format!("state {i}")])
            .unwrap();
        w.keeper.backup(&BackupRequest::manual()).unwrap();
    }
    let ids: HashSet<String> = w.keeper.list().unwrap().into_iter().map(|m| m.id).collect();
    let mut est = Estimate::new(measure(3, || w.cli(&["verify", "--all"])));
    println!(
        "verify --all of {} backups: {:?} uninterrupted",
        ids.len(),
        est.duration
    );
    let mut f = Failures::default();
    let (mut mid_run, mut left_temps) = (0, 0);
    for t in 0..trials {
        let trial = format!("verify trial {t}");
        let end = kill(w.cli(&["verify", "--all"]), &mut est, &mut rng);
        classify(&end, &mut f, &trial, &mut mid_run);
        // Verification rewrites manifests: each must still parse, name the same backup,
        // and never record a failure that did not happen.
        let (good, broken) = w.keeper.scan().unwrap();
        f.check(broken.is_empty(), || {
            format!("{trial}: broken after the kill: {broken:?}")
        });
        let now: HashSet<String> = good.iter().map(|m| m.id.clone()).collect();
        f.check(now == ids, || {
            format!("{trial}: the backups changed: {now:?} vs {ids:?}")
        });
        for m in &good {
            f.check(m.verification.as_ref().is_none_or(|v| v.ok), || {
                format!(
                    "{trial}: {} records a failed verification: {:?}",
                    m.id, m.verification
                )
            });
            let v = w.keeper.verify(&m.id, VerifyLevel::Full).unwrap();
            f.check(v.ok, || format!("{trial}: {} fails: {}", m.id, v.detail));
        }
        if let Some(id) = w.sweep_with_next_backup(&mut f, &trial) {
            left_temps += 1;
            // Keep the set (and so the duration of verify --all) constant.
            w.keeper.delete(&id).unwrap();
        }
    }
    report(
        "verify",
        started,
        trials,
        mid_run,
        &format!(" left_temp_files={left_temps}"),
        &f,
    );
}

/// Sets the live database to a new "old" content for trial `t`: different from the
/// backup's on every employees page, the marker and one balance.
fn make_old(db: &Path, t: usize) -> (String, i64) {
    let c = open(db);
    c.execute_batch(&format!(
        "BEGIN;
         UPDATE employees SET salary_cents = salary_cents + 1;
         UPDATE marker SET v = 'old {t}';
         UPDATE accounts SET balance = balance + 1 WHERE id = {};
         COMMIT;",
        t as i64 % ACCOUNTS
    ))
    .unwrap();
    drop(c);
    (digest(db), balance_sum(db))
}

#[test]
fn kill_during_restore_into_the_live_database() {
    let _serial = serial();
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed("kill_during_restore_into_the_live_database"));
    let trials = trials(TRIALS);
    let mut worlds = [World::new("wal"), World::new("delete")];
    let mut setups = Vec::new();
    for w in &mut worlds {
        open(&w.db)
            .execute("UPDATE marker SET v = 'backup'", [])
            .unwrap();
        let b = w.keeper.backup(&BackupRequest::manual()).unwrap();
        let backup_digest = digest(&w.db);
        w.checked.insert(b.id.clone());
        make_old(&w.db, 0);
        let full = measure(3, || w.cli(&["restore", &b.id, "--yes"]));
        println!(
            "restore into live {} ({}): {full:?}",
            w.db.display(),
            w.mode
        );
        assert_eq!(digest(&w.db), backup_digest);
        w.check_catalogue(&mut Failures::default(), "setup");
        setups.push((b.id, backup_digest, Estimate::new(full)));
    }
    let mut f = Failures::default();
    let (mut mid_run, mut kept_old, mut restored, mut left_temps) = (0, 0, 0, 0);
    for t in 0..trials {
        let i = t % worlds.len();
        let w = &mut worlds[i];
        let (id, backup_digest, est) = &mut setups[i];
        let trial = format!("restore-live trial {t} ({})", w.mode);
        let (old_digest, old_sum) = make_old(&w.db, t + 1);
        let end = kill(w.cli(&["restore", id, "--yes"]), est, &mut rng);
        classify(&end, &mut f, &trial, &mut mid_run);
        // Opening the database rolls back what the kill interrupted.
        let ic = integrity(&w.db);
        f.check(ic == "ok", || {
            format!("{trial}: live integrity_check: {ic}")
        });
        let now = digest(&w.db);
        let sum = balance_sum(&w.db);
        if now == old_digest {
            kept_old += 1;
            f.check(sum == old_sum, || format!("{trial}: old sum {sum}"));
            f.check(!end.status.success(), || {
                format!("{trial}: restore reported success but the old content is there")
            });
        } else if now == *backup_digest {
            restored += 1;
            f.check(sum == EXPECTED, || format!("{trial}: restored sum {sum}"));
        } else {
            f.check(false, || {
                format!("{trial}: the live database is neither the old content nor the backup (sum {sum})")
            });
        }
        // A safety backup that made it holds exactly the content it replaced.
        for m in w.check_catalogue(&mut f, &trial) {
            let (d, _) = w.backup_digest(&m.id);
            f.check(d == old_digest, || {
                format!(
                    "{trial}: safety backup {} does not hold the pre-restore content",
                    m.id
                )
            });
        }
        if w.sweep_with_next_backup(&mut f, &trial).is_some() {
            left_temps += 1;
            w.check_catalogue(&mut f, &trial);
        }
    }
    report(
        "restore-live",
        started,
        trials,
        mid_run,
        &format!(" kept_old={kept_old} restored={restored} left_temp_files={left_temps}"),
        &f,
    );
}

#[test]
fn kill_during_restore_into_a_new_path() {
    let _serial = serial();
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed("kill_during_restore_into_a_new_path"));
    let trials = trials(TRIALS);
    let mut w = World::new("delete");
    let b = w.keeper.backup(&BackupRequest::manual()).unwrap();
    w.checked.insert(b.id.clone());
    let backup_digest = digest(&w.db);
    // Another database to be overwritten by half of the trials.
    let (other_digest, _) = make_old(&w.db, 0);
    let other = w.tmp.path().join("other.db");
    std::fs::copy(&w.db, &other).unwrap();
    let live_digest = digest(&w.db);
    let target_dir = w.tmp.path().join("restored");
    std::fs::create_dir(&target_dir).unwrap();
    let target = target_dir.join("copy.db");
    let to = target.to_str().unwrap().to_string();
    let full = measure(3, || {
        remove_db(&target);
        w.cli(&["restore", &b.id, "--to", &to, "--yes"])
    });
    println!("restore into a new path: {full:?}");
    // New file, overwrite: each learns its own duration.
    let mut ests = [Estimate::new(full), Estimate::new(full)];
    let mut f = Failures::default();
    let (mut mid_run, mut absent, mut whole, mut kept_other, mut stray) = (0, 0, 0, 0, 0);
    for t in 0..trials {
        let overwrite = t % 2 == 1;
        let trial = format!(
            "restore-to trial {t} ({})",
            if overwrite { "overwrite" } else { "new file" }
        );
        remove_db(&target);
        for name in temp_files(&target_dir) {
            std::fs::remove_file(target_dir.join(name)).unwrap();
        }
        if overwrite {
            std::fs::copy(&other, &target).unwrap();
        }
        let end = kill(
            w.cli(&["restore", &b.id, "--to", &to, "--yes"]),
            &mut ests[overwrite as usize],
            &mut rng,
        );
        classify(&end, &mut f, &trial, &mut mid_run);
        if !target.exists() {
            absent += 1;
            f.check(!overwrite, || {
                format!("{trial}: the overwritten file vanished")
            });
            f.check(!end.status.success(), || {
                format!("{trial}: success reported but no file")
            });
            for side in ["-journal", "-wal"] {
                let p = target_dir.join(format!("copy.db{side}"));
                f.check(!p.exists(), || {
                    format!("{trial}: {} left without its database", p.display())
                });
            }
        } else {
            let ic = integrity(&target);
            f.check(ic == "ok", || {
                format!("{trial}: target integrity_check: {ic}")
            });
            let d = digest(&target);
            if d == backup_digest {
                whole += 1;
            } else if overwrite && d == other_digest {
                kept_other += 1;
            } else {
                f.check(false, || {
                    format!("{trial}: the target holds neither the backup nor its old content")
                });
            }
        }
        // Half-written copies in the target's folder are hidden temporary files that no
        // sweep visits (sweeps cover backup_dir only); counted and reported.
        stray += temp_files(&target_dir).len();
        let new = w.check_catalogue(&mut f, &trial);
        f.check(new.is_empty(), || {
            format!("{trial}: a restore into a new path created a backup")
        });
        if w.sweep_with_next_backup(&mut f, &trial).is_some() {
            w.check_catalogue(&mut f, &trial);
        }
        if t % 5 == 4 {
            let d = digest(&w.db);
            f.check(d == live_digest, || {
                format!("{trial}: the live database changed")
            });
        }
    }
    // The sweep runs took backups of the live database, which must be unchanged.
    assert_eq!(digest(&w.db), live_digest);
    report(
        "restore-to",
        started,
        trials,
        mid_run,
        &format!(
            " target_absent={absent} target_whole={whole} target_kept_old={kept_other} stray_temp_files_in_target_dir={stray}"
        ),
        &f,
    );
}

#[test]
fn kill_during_rotation() {
    let _serial = serial();
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed("kill_during_rotation"));
    let trials = trials(TRIALS);
    let mut w = World::sized("wal", 256 << 10);
    let retention = json!({"keep_last": 2, "daily": 3, "weekly": 0, "monthly": 0, "yearly": 0});
    let changes = json!({"backup_dir": w.bdir.to_str().unwrap(), "retention": retention});
    let config_file = w.tmp.path().join("sqlkeep.json");
    let mut doc = changes.clone();
    doc["database"] = json!(w.db.to_str().unwrap());
    std::fs::write(&config_file, doc.to_string()).unwrap();
    let cfg = Config::new(&w.db).unwrap().with_changes(&changes).unwrap();
    // Quick checks keep the many backups cheap to make; each is checked fully once below.
    let quick = json!({"verify_after_backup": "quick"});
    let maker_cfg = cfg.with_changes(&quick).unwrap();
    // Scheduled backups, 12 hours apart on a manual clock, for rotation to thin out.
    let start = chrono::DateTime::parse_from_rfc3339("2025-01-01T02:00:00Z").unwrap();
    let clock = Arc::new(ManualClock::new(start.with_timezone(&chrono::Utc)));
    let maker = Keeper::with_clock(maker_cfg, clock.clone());
    let planner = Keeper::open(cfg);
    let fill = || {
        for _ in 0..ROTATED {
            clock.advance(chrono::Duration::hours(12));
            let m = maker
                .backup(&BackupRequest {
                    kind: Kind::Scheduled,
                    label: None,
                    full: false,
                })
                .unwrap();
            assert!(m.verified());
        }
    };
    // Backups rotation must never delete.
    let mut protected = Vec::new();
    for kind in [Kind::Manual, Kind::PreOperation] {
        let m = maker
            .backup(&BackupRequest {
                kind,
                label: None,
                full: false,
            })
            .unwrap();
        protected.push(m.id);
    }
    let cmd = |w: &World| w.cli(&["--config", config_file.to_str().unwrap(), "rotate"]);
    let mut runs = Vec::new();
    for _ in 0..3 {
        fill();
        runs.push(run_ok(cmd(&w)).1);
    }
    runs.sort();
    let mut est = Estimate::new(runs[1]);
    println!(
        "rotation after {ROTATED} new backups: {:?} uninterrupted",
        est.duration
    );
    let mut f = Failures::default();
    let (mut mid_run, mut partial, mut deleted, mut left_temps) = (0, 0, 0, 0);
    for t in 0..trials {
        let trial = format!("rotate trial {t}");
        fill();
        let plan = planner.rotate(true).unwrap();
        let before: HashSet<String> = w.keeper.list().unwrap().into_iter().map(|m| m.id).collect();
        let end = kill(cmd(&w), &mut est, &mut rng);
        classify(&end, &mut f, &trial, &mut mid_run);
        // A deletion in flight shows as a data file whose manifest became the intent.
        let (good, broken) = w.keeper.scan().unwrap();
        for b in &broken {
            let intent = w.bdir.join(format!("{TMP_PREFIX}{}.deleting.json", b.id));
            f.check(intent.exists() && plan.deleted.contains(&b.id), || {
                format!(
                    "{trial}: broken backup {} ({}) without a deletion intent",
                    b.id, b.reason
                )
            });
        }
        let now: HashSet<String> = good.iter().map(|m| m.id.clone()).collect();
        for id in plan.kept.iter().chain(&protected) {
            f.check(now.contains(id), || {
                format!("{trial}: kept backup {id} was deleted")
            });
        }
        f.check(now.is_subset(&before), || {
            format!("{trial}: backups appeared")
        });
        let gone = before.len() - now.len();
        deleted += gone;
        if end.killed && gone > 0 && gone < plan.deleted.len() {
            partial += 1;
        }
        if end.status.success() {
            let kept: HashSet<String> = plan.kept.iter().cloned().collect();
            f.check(now == kept, || {
                format!("{trial}: a completed rotation kept {now:?}, its plan {kept:?}")
            });
        }
        // What is listed is whole: re-check every file, not just the new ones.
        for m in &good {
            let v = w.keeper.verify(&m.id, VerifyLevel::Quick).unwrap();
            f.check(v.ok, || {
                format!("{trial}: {} fails after the kill: {}", m.id, v.detail)
            });
        }
        w.check_catalogue(&mut f, &trial);
        if w.sweep_with_next_backup(&mut f, &trial).is_some() {
            left_temps += 1;
            w.check_catalogue(&mut f, &trial);
        }
        // Once swept, a backup the plan deletes is entirely there or entirely gone.
        let listed: HashSet<String> = w.keeper.list().unwrap().into_iter().map(|m| m.id).collect();
        for id in &plan.deleted {
            if listed.contains(id) {
                continue;
            }
            let traces: Vec<_> = std::fs::read_dir(&w.bdir)
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(id.as_str()))
                .collect();
            f.check(traces.is_empty(), || {
                format!("{trial}: deleted {id} left {traces:?}")
            });
        }
    }
    report(
        "rotate",
        started,
        trials,
        mid_run,
        &format!(
            " partial_rotations={partial} backups_deleted={deleted} left_temp_files={left_temps}"
        ),
        &f,
    );
}
