//! Concurrency: 8 threads (clones of one in-process `Keeper`) and 2 `sqlkeep` processes
//! at a time back up, verify and rotate one backup directory for [`duration`] (60 s;
//! `SQLKEEP_SOAK_SECONDS` overrides, e.g. to soak for an hour locally).
//!
//! - No call fails except with `ErrorKind::Busy` (CLI: exit 1 with "busy" in the
//!   message); no verification reports a healthy backup as damaged. (Verifying one id
//!   picked from an earlier listing may find it rotated away meanwhile: `NotFound` is
//!   accepted there, and only for an id some rotation reported deleting.)
//! - Nothing is lost or duplicated: every successful backup call's id is unique (never
//!   given again, not even after its backup was deleted) and is, at the end, either
//!   listed exactly once with its own label or reported deleted by exactly one rotation;
//!   nothing else is listed, and rotation deletes only scheduled backups.
//! - Every listed backup verifies fully at the end, and no temporary file survives the
//!   next backup run.
//!
//! Prints `RELIABILITY concurrency: calls=N busy=N errors=0`.

mod common;
mod reliability_common;

use common::bank;
use reliability_common::*;
use serde_json::{json, Value};
use sqlkeep::{BackupRequest, Error, ErrorKind, Keeper, Kind, Manifest, VerifyLevel};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const THREADS: usize = 8;
const PROCESSES: usize = 2;
const DB_BYTES: u64 = 512 << 10;

/// How long the threads and processes keep going: `SQLKEEP_SOAK_SECONDS`, 60 s unless set.
fn duration() -> Duration {
    let seconds = match std::env::var("SQLKEEP_SOAK_SECONDS") {
        Ok(s) => s
            .trim()
            .parse()
            .expect("SQLKEEP_SOAK_SECONDS is a whole number of seconds"),
        Err(_) => 60,
    };
    Duration::from_secs(seconds)
}

#[derive(Default)]
struct Outcomes {
    calls: u64,
    busy: u64,
    backups: u64,
    verifications: u64,
    rotations: u64,
    errors: Vec<String>,
    /// Successful backup calls: (id, label, kind).
    made: Vec<(String, String, Kind)>,
    /// Ids each successful rotation reported deleting.
    rotated: Vec<String>,
    /// Ids a single verification did not find (picked from an earlier listing).
    not_found: Vec<String>,
}

impl Outcomes {
    fn merge(&mut self, o: Outcomes) {
        self.calls += o.calls;
        self.busy += o.busy;
        self.backups += o.backups;
        self.verifications += o.verifications;
        self.rotations += o.rotations;
        self.errors.extend(o.errors);
        self.made.extend(o.made);
        self.rotated.extend(o.rotated);
        self.not_found.extend(o.not_found);
    }
}

/// Some listed backup, if any.
fn pick(k: &Keeper, rng: &mut fastrand::Rng) -> Option<String> {
    let list = k.list().ok()?;
    (!list.is_empty()).then(|| list[rng.usize(..list.len())].id.clone())
}

fn kind_for(rng: &mut fastrand::Rng) -> Kind {
    if rng.bool() {
        Kind::Manual
    } else {
        Kind::Scheduled
    }
}

fn thread_loop(k: Keeper, who: usize, seed: u64, deadline: Instant) -> Outcomes {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut o = Outcomes::default();
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        o.calls += 1;
        let roll = rng.u8(..100);
        let op = match roll {
            0..45 => "backup",
            45..80 => "verify",
            80..95 => "verify_all",
            _ => "rotate",
        };
        let result: Result<(), Error> = if roll < 45 {
            let label = format!("thread {who} call {n}");
            let kind = kind_for(&mut rng);
            k.backup(&BackupRequest {
                kind,
                label: Some(label.clone()),
                full: false,
            })
            .map(|m| {
                o.backups += 1;
                o.made.push((m.id, label, kind));
            })
        } else if roll < 80 {
            let Some(id) = pick(&k, &mut rng) else {
                continue;
            };
            let level = if rng.bool() {
                VerifyLevel::Quick
            } else {
                VerifyLevel::Full
            };
            match k.verify(&id, level) {
                Ok(v) => {
                    o.verifications += 1;
                    if !v.ok {
                        o.errors
                            .push(format!("thread {who}: {id} failed {level:?}: {}", v.detail));
                    }
                    Ok(())
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    o.not_found.push(id);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else if roll < 95 {
            k.verify_all(VerifyLevel::Quick).map(|all| {
                o.verifications += all.len() as u64;
                for (id, v) in all.iter().filter(|(_, v)| !v.ok) {
                    o.errors.push(format!(
                        "thread {who}: verify_all reports {id} damaged: {}",
                        v.detail
                    ));
                }
            })
        } else {
            k.rotate(false).map(|plan| {
                o.rotations += 1;
                o.rotated.extend(plan.deleted);
            })
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Busy => o.busy += 1,
            Err(e) => o
                .errors
                .push(format!("thread {who}: {op}: {:?} error: {e}", e.kind())),
        }
    }
    o
}

fn process_loop(db: &Path, bdir: &Path, who: usize, seed: u64, deadline: Instant) -> Outcomes {
    let mut rng = fastrand::Rng::with_seed(seed);
    let k = common::keeper(db, json!({"backup_dir": bdir.to_str().unwrap()}));
    let mut o = Outcomes::default();
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        o.calls += 1;
        let roll = rng.u8(..100);
        let label = format!("process {who} call {n}");
        let kind = kind_for(&mut rng);
        let mut picked = None;
        let args: Vec<String> = if roll < 45 {
            let kind = kind.as_str().to_string();
            vec![
                "backup".into(),
                "--kind".into(),
                kind,
                "--label".into(),
                label.clone(),
            ]
        } else if roll < 75 {
            let Some(id) = pick(&k, &mut rng) else {
                continue;
            };
            picked = Some(id.clone());
            let mut a = vec!["verify".to_string(), id];
            if rng.bool() {
                a.push("--quick".into());
            }
            a
        } else if roll < 90 {
            vec!["verify".into(), "--all".into(), "--quick".into()]
        } else {
            vec!["rotate".into()]
        };
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli(db, bdir, &argv)
            .output()
            .expect("the sqlkeep binary starts");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            match argv[0] {
                "backup" => {
                    let m: Manifest = serde_json::from_str(&stdout).unwrap();
                    o.backups += 1;
                    o.made.push((m.id, label, kind));
                }
                "rotate" => {
                    let plan: Value = serde_json::from_str(&stdout).unwrap();
                    o.rotations += 1;
                    o.rotated.extend(
                        plan["deleted"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap().to_string()),
                    );
                }
                _ => {
                    let v: Value = serde_json::from_str(&stdout).unwrap();
                    o.verifications += v.as_array().map_or(0, |a| a.len() as u64);
                }
            }
            continue;
        }
        // With --json, an error is a JSON document on stdout; a failed verification is
        // the list of results.
        let doc: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        let kind = doc["error"]["kind"].as_str().unwrap_or("");
        let message = doc["error"]["message"].as_str().unwrap_or("");
        if out.status.code() == Some(1) && kind == "busy" && message.contains("busy") {
            o.busy += 1;
        } else if let (Some(id), Some(1), "not_found") = (&picked, out.status.code(), kind) {
            o.not_found.push(id.clone());
        } else {
            o.errors.push(format!(
                "process {who}: `sqlkeep {}` exited with {}: {stdout}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    o
}

#[test]
fn threads_and_processes_share_one_backup_directory() {
    let seed = seed("concurrency");
    let duration = duration();
    let tmp = tempfile::tempdir().unwrap();
    let db = bank(tmp.path(), "wal", DB_BYTES);
    let bdir = tmp.path().join("backups");
    let keeper = common::keeper(&db, json!({"backup_dir": bdir.to_str().unwrap()}));
    let deadline = Instant::now() + duration;
    let total = Mutex::new(Outcomes::default());
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let (k, total) = (keeper.clone(), &total);
            s.spawn(move || {
                let o = thread_loop(k, i, seed.wrapping_add(i as u64), deadline);
                total.lock().unwrap().merge(o);
            });
        }
        for i in 0..PROCESSES {
            let (db, bdir, total) = (&db, &bdir, &total);
            s.spawn(move || {
                let o = process_loop(db, bdir, i, seed.wrapping_add(100 + i as u64), deadline);
                total.lock().unwrap().merge(o);
            });
        }
    });
    let o = total.into_inner().unwrap();
    let mut errors = o.errors.clone();

    // Nothing lost, nothing duplicated, nothing extra.
    let (listed, broken) = keeper.scan().unwrap();
    if !broken.is_empty() {
        errors.push(format!("broken backups at the end: {broken:?}"));
    }
    let mut ids = HashSet::new();
    for m in &listed {
        if !ids.insert(m.id.clone()) {
            errors.push(format!("{} is listed twice", m.id));
        }
    }
    // Per id: the successful calls that returned it, the rotations that deleted it and
    // whether it is listed. Each backup made is listed or rotated away: made = rotated
    // + listed, id by id. And an id names one backup only: made is at most 1.
    let mut made: HashMap<&str, Vec<(&str, Kind)>> = HashMap::new();
    for (id, label, kind) in &o.made {
        made.entry(id.as_str())
            .or_default()
            .push((label.as_str(), *kind));
    }
    let mut rotated: HashMap<&str, usize> = HashMap::new();
    for id in &o.rotated {
        *rotated.entry(id.as_str()).or_default() += 1;
    }
    let labels: HashMap<&str, Option<&str>> = listed
        .iter()
        .map(|m| (m.id.as_str(), m.label.as_deref()))
        .collect();
    let reused: Vec<&str> = made
        .iter()
        .filter(|(_, calls)| calls.len() > 1)
        .map(|(id, _)| *id)
        .collect();
    if !reused.is_empty() {
        errors.push(format!(
            "{} id(s) were returned by more than one successful backup call (an id reused after its backup was deleted), e.g. {:?}",
            reused.len(),
            &reused[..reused.len().min(3)]
        ));
    }
    for (id, calls) in &made {
        let (r, l) = (
            rotated.get(id).copied().unwrap_or(0),
            labels.contains_key(id) as usize,
        );
        if calls.len() != r + l {
            errors.push(format!(
                "{id}: made by {} call(s), deleted by {r} rotation(s), listed {l} time(s): a backup was lost or appeared",
                calls.len()
            ));
        }
        if r > 0 && calls.iter().any(|(_, k)| !k.is_automatic()) {
            errors.push(format!("rotation deleted {id}, made as {:?}", calls));
        }
        if let Some(l) = labels.get(id) {
            if !calls.iter().any(|(label, _)| *l == Some(*label)) {
                errors.push(format!("{id} has label {l:?}, its call(s) gave {calls:?}"));
            }
        }
    }
    for id in rotated.keys() {
        if !made.contains_key(id) {
            errors.push(format!("rotation deleted {id}, which no call made"));
        }
    }
    for m in &listed {
        if !made.contains_key(m.id.as_str()) {
            errors.push(format!("{} is listed but no call reported it", m.id));
        }
    }
    for id in &o.not_found {
        if !rotated.contains_key(id.as_str()) {
            errors.push(format!("verifying listed backup {id} gave NotFound"));
        }
    }
    // Everything listed is sound.
    for m in &listed {
        let v = keeper.verify(&m.id, VerifyLevel::Full).unwrap();
        if !v.ok {
            errors.push(format!("{} fails full verification: {}", m.id, v.detail));
        }
    }
    keeper.backup(&BackupRequest::manual()).unwrap();
    let left = temp_files(&bdir);
    if !left.is_empty() {
        errors.push(format!("temporary files after the next backup: {left:?}"));
    }
    println!(
        "RELIABILITY concurrency: calls={} busy={} errors={} backups={} verifications={} rotations={} rotated_away={} listed={} threads={THREADS} processes={PROCESSES} seconds={}",
        o.calls,
        o.busy,
        errors.len(),
        o.backups,
        o.verifications,
        o.rotations,
        o.rotated.len(),
        listed.len(),
        duration.as_secs()
    );
    assert!(
        o.backups > 0 && o.verifications > 0 && o.rotations > 0,
        "no work was done"
    );
    assert!(
        errors.is_empty(),
        "{} error(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
}
