//! Crash safety of incremental backups (issue 12): the `sqlkeep` CLI killed with SIGKILL
//! at random moments while it takes an incremental backup, rotates a folder of chains, or
//! deletes a backup other chains need (and collects what they no longer need). After
//! every kill:
//! - every listed backup verifies fully and restores to a sound database whose invariant
//!   holds, and to the same content every time it is restored (no deletion changes what
//!   another backup restores to);
//! - what the kill left is gone after the next completed run: no temporary file in the
//!   folder or in `pieces/`, and `pieces/` holds only what a listed chain names.
//!
//! Each test prints `RELIABILITY crash <operation>: trials=N killed_mid_run=N failures=0`.

mod common;
mod reliability_common;

use common::{bank, ACCOUNTS, OPENING_BALANCE};
use reliability_common::*;
use serde_json::json;
use sqlkeep::{BackupRequest, Config, Keeper, Kind, Manifest, ManualClock, VerifyLevel};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const TRIALS: usize = 12;
const EXPECTED: i64 = ACCOUNTS * OPENING_BALANCE;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct World {
    tmp: TempDir,
    db: PathBuf,
    bdir: PathBuf,
    config: PathBuf,
    keeper: Keeper,
    /// What each backup restored to when first seen.
    digests: HashMap<String, String>,
}

impl World {
    fn new(mode: &str, bytes: u64, extra: serde_json::Value) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let db = bank(tmp.path(), mode, bytes);
        let bdir = tmp.path().join("backups");
        let mut doc = json!({"database": db.to_str().unwrap(), "backup_dir": bdir.to_str().unwrap(),
                             "incremental": true, "schedule": "off"});
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let config = tmp.path().join("sqlkeep.json");
        std::fs::write(&config, doc.to_string()).unwrap();
        let keeper = Keeper::open(Config::from_json(&doc.to_string()).unwrap());
        World {
            tmp,
            db,
            bdir,
            config,
            keeper,
            digests: HashMap::new(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = sqlkeep();
        c.arg("--config").arg(&self.config).arg("--json").args(args);
        c
    }

    /// Every listed backup verifies fully and restores to what it restored to before.
    fn check_catalogue(&mut self, f: &mut Failures, trial: &str) -> Vec<Manifest> {
        let good = listed_or_interrupted(&self.keeper, &self.bdir, f, trial);
        for m in &good {
            let v = self.keeper.verify(&m.id, VerifyLevel::Full).unwrap();
            f.check(v.ok, || {
                format!("{trial}: backup {} fails: {}", m.id, v.detail)
            });
            if !v.ok {
                continue;
            }
            let to = self.tmp.path().join("scratch.db");
            remove_db(&to);
            self.keeper.restore(&m.id, Some(&to), false).unwrap();
            let ic = integrity(&to);
            f.check(ic == "ok", || format!("{trial}: {} restores to {ic}", m.id));
            let sum = balance_sum(&to);
            f.check(sum == EXPECTED, || {
                format!("{trial}: {} sums to {sum}", m.id)
            });
            let d = digest(&to);
            let first = self
                .digests
                .entry(m.id.clone())
                .or_insert_with(|| d.clone());
            f.check(*first == d, || {
                format!("{trial}: {} restores to other content than before", m.id)
            });
            remove_db(&to);
        }
        good
    }

    /// After a completed run: no temporary file anywhere, and `pieces/` holds only what
    /// a listed chain names (and at most four page-hash files).
    fn check_clean(&self, f: &mut Failures, trial: &str) {
        let pieces = self.bdir.join("pieces");
        for dir in [&self.bdir, &pieces] {
            let left = temp_files(dir);
            f.check(left.is_empty(), || {
                format!("{trial}: temporary files {left:?}")
            });
        }
        let named: HashSet<String> = self
            .keeper
            .list()
            .unwrap()
            .iter()
            .filter_map(|m| m.incremental.as_ref())
            .flat_map(|i| i.chain.iter().map(|l| l.file.clone()))
            .collect();
        let held = names(&pieces);
        let stray: Vec<&String> = held
            .iter()
            .filter(|n| !n.ends_with(".pagehash") && !named.contains(*n))
            .collect();
        f.check(stray.is_empty(), || {
            format!("{trial}: pieces/ keeps {stray:?}")
        });
        // The newest three keep theirs at each sweep, and a backup adds its own after it.
        let hashes = held.iter().filter(|n| n.ends_with(".pagehash")).count();
        f.check(hashes <= 4, || format!("{trial}: {hashes} page-hash files"));
    }
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_during_incremental_backup() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed("kill_during_incremental_backup"));
    let trials = trials(TRIALS);
    let mut worlds = [
        World::new("wal", 3 << 20, json!({})),
        World::new("delete", 3 << 20, json!({})),
    ];
    let writers: Vec<PacedWriter> = worlds
        .iter()
        .enumerate()
        .map(|(i, w)| PacedWriter::start(&w.db, 300 + i as u64, Duration::from_millis(2)))
        .collect();
    let mut est = Vec::new();
    for w in &worlds {
        run_ok(w.cmd(&["backup"]));
        // Incremental runs from here on: each builds on the newest backup.
        est.push(Estimate::new(measure(3, || w.cmd(&["backup"]))));
    }
    let mut f = Failures::default();
    let mut mid_run = 0;
    for t in 0..trials {
        let i = t % 2;
        let w = &mut worlds[i];
        let trial = format!("incremental backup trial {t}");
        let end = kill(w.cmd(&["backup"]), &mut est[i], &mut rng);
        classify(&end, &mut f, &trial, &mut mid_run);
        let listed = w.check_catalogue(&mut f, &trial);
        if end.status.success() {
            let m: Manifest = serde_json::from_str(&end.stdout).unwrap();
            f.check(m.incremental.is_some(), || {
                format!("{trial}: {} is not incremental", m.id)
            });
            f.check(listed.iter().any(|l| l.id == m.id), || {
                format!("{trial}: {} not listed", m.id)
            });
        }
        // The next backup sweeps what the kill left, and builds on a listed backup.
        let (out, _) = run_ok(w.cmd(&["backup"]));
        let next: Manifest = serde_json::from_str(&out).unwrap();
        if let Some(inc) = &next.incremental {
            f.check(listed.iter().any(|l| l.id == inc.parent), || {
                format!(
                    "{trial}: {} builds on {}, which was not listed",
                    next.id, inc.parent
                )
            });
        }
        w.check_catalogue(&mut f, &trial);
        w.check_clean(&mut f, &trial);
    }
    for (w, writer) in worlds.iter().zip(writers) {
        assert!(writer.stop() > 0);
        assert_eq!(integrity(&w.db), "ok");
        assert_eq!(balance_sum(&w.db), EXPECTED);
    }
    report("incremental backup", started, trials, mid_run, "", &f);
}

/// Rotation and deletion of backups other chains need, killed: what a kept backup needs
/// is never lost, and the next completed rotation collects the rest.
#[test]
fn kill_during_rotation_and_deletion_of_chains() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed("kill_during_rotation_and_deletion_of_chains"));
    let trials = trials(TRIALS);
    let retention = json!({"keep_last": 2, "daily": 3, "weekly": 0, "monthly": 0, "yearly": 0});
    let mut w = World::new("wal", 1 << 20, json!({"retention": retention}));
    let start = chrono::DateTime::parse_from_rfc3339("2025-01-01T02:00:00Z").unwrap();
    let clock = Arc::new(ManualClock::new(start.with_timezone(&chrono::Utc)));
    let maker = Keeper::with_clock(w.keeper.config(), clock.clone());
    let db = w.db.clone();
    let mut day = 0i64;
    let mut fill = |n: usize| {
        for _ in 0..n {
            day += 1;
            reliability_common::open(&db)
                .execute(
                    "UPDATE accounts SET balance = balance + 1 - (id % 2) * 2 WHERE id IN (?1, ?2)",
                    [day % ACCOUNTS, (day + 1) % ACCOUNTS],
                )
                .unwrap();
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
    fill(6);
    let mut est_rotate = Estimate::new(measure(1, || w.cmd(&["rotate"])));
    let mut est_delete = est_rotate;
    let mut f = Failures::default();
    let mut mid_run = 0;
    for t in 0..trials {
        fill(3);
        let listed = w.keeper.list().unwrap();
        let end = if t % 2 == 0 {
            kill(w.cmd(&["rotate"]), &mut est_rotate, &mut rng)
        } else {
            // The oldest backup: the full one every chain of the folder may start from.
            let oldest = listed.last().unwrap().id.clone();
            kill(
                w.cmd(&["delete", &oldest, "--yes"]),
                &mut est_delete,
                &mut rng,
            )
        };
        let trial = format!("rotation/deletion trial {t}");
        classify(&end, &mut f, &trial, &mut mid_run);
        w.check_catalogue(&mut f, &trial);
        run_ok(w.cmd(&["rotate"]));
        w.check_catalogue(&mut f, &trial);
        w.check_clean(&mut f, &trial);
    }
    report(
        "rotation and deletion of chains",
        started,
        trials,
        mid_run,
        "",
        &f,
    );
}
