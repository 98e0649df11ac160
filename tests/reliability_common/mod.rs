//! Shared helpers of the reliability tests (crash, corruption, disk full, concurrency):
//! the CLI as a real child process, seeds that can be replayed, canonical digests of
//! databases and the temporary files a backup directory holds.
#![allow(dead_code)]

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use sqlkeep::testing::TMP_PREFIX;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The `sqlkeep` binary of this build, with stdin closed and output captured.
pub fn sqlkeep() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sqlkeep"));
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// `sqlkeep --db DB --dir DIR --json ARGS...`
pub fn cli(db: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = sqlkeep();
    c.arg("--db").arg(db).arg("--dir").arg(dir).arg("--json");
    c.args(args);
    c
}

/// The seed of a randomised test: `SQLKEEP_RELIABILITY_SEED` when set (to replay a
/// failure), a fresh one otherwise. Printed either way.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("SQLKEEP_RELIABILITY_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .expect("SQLKEEP_RELIABILITY_SEED is a number"),
        Err(_) => fastrand::u64(..),
    };
    println!("{test}: seed {seed} (replay with SQLKEEP_RELIABILITY_SEED={seed})");
    seed
}

/// `default`, or `SQLKEEP_RELIABILITY_TRIALS` when set (to run longer locally).
pub fn trials(default: usize) -> usize {
    std::env::var("SQLKEEP_RELIABILITY_TRIALS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Names of the files in `dir` that start with sqlkeep's temporary prefix.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with(TMP_PREFIX))
        .collect();
    names.sort();
    names
}

/// A connection that waits for writers instead of failing with SQLITE_BUSY.
pub fn open(db: &Path) -> Connection {
    let c = Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    c
}

/// `PRAGMA integrity_check`, all lines joined (`"ok"` when healthy).
pub fn integrity(db: &Path) -> String {
    let c = open(db);
    let mut stmt = c.prepare("PRAGMA integrity_check").unwrap();
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    lines.join("; ")
}

/// Sum of the bank balances (the invariant of `common::bank`).
pub fn balance_sum(db: &Path) -> i64 {
    open(db)
        .query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))
        .unwrap()
}

/// A canonical digest of a database's content: schema and every row of every table in
/// rowid order, read in one transaction. Equal digests mean equal content.
pub fn digest(db: &Path) -> String {
    let mut c = open(db);
    let tx = c.transaction().unwrap();
    let mut h = Sha256::new();
    let tables: Vec<(String, String)> = tx
        .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (name, sql) in &tables {
        h.update(b"S");
        h.update(sql.as_bytes());
        if !sql.starts_with("CREATE TABLE") {
            continue;
        }
        let mut stmt = tx
            .prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"))
            .unwrap();
        let cols = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            h.update(b"R");
            for i in 0..cols {
                match r.get_ref(i).unwrap() {
                    ValueRef::Null => h.update(b"n"),
                    ValueRef::Integer(v) => {
                        h.update(b"i");
                        h.update(v.to_le_bytes());
                    }
                    ValueRef::Real(v) => {
                        h.update(b"f");
                        h.update(v.to_le_bytes());
                    }
                    ValueRef::Text(t) => {
                        h.update(b"t");
                        h.update((t.len() as u64).to_le_bytes());
                        h.update(t);
                    }
                    ValueRef::Blob(b) => {
                        h.update(b"b");
                        h.update((b.len() as u64).to_le_bytes());
                        h.update(b);
                    }
                }
            }
        }
    }
    drop(tx);
    sqlkeep::testing::hex(&h.finalize())
}

/// SHA-256 of a file's bytes.
pub fn file_sha(path: &Path) -> String {
    sqlkeep::testing::hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

/// Removes a database file and its SQLite side files.
pub fn remove_db(path: &Path) {
    sqlkeep::testing::remove_with_sqlite_siblings(path);
}

/// How a child process that was sent SIGKILL ended.
#[derive(Debug)]
pub struct Ending {
    /// The kill landed while the process still ran.
    pub killed: bool,
    /// When it ended by itself: how long it ran.
    pub ran: Option<Duration>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Starts `cmd` and sends it SIGKILL `after` its start, unless it ended before. The
/// output goes to files, so a child is never blocked on a full pipe.
pub fn run_and_kill(mut cmd: Command, after: Duration) -> Ending {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the sqlkeep binary starts");
    let deadline = started + after;
    // Poll for an early end, so that the duration of a completed run is known.
    let (status, ran) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, Some(started.elapsed()));
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            break (child.wait().unwrap(), None);
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Ending {
        killed: status.signal() == Some(libc::SIGKILL),
        ran,
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// The expected duration of an operation under the current load, from which kill delays
/// are drawn: measured on complete runs first, then kept up to date by every trial (a
/// run that completed tells its duration; one killed at t ran longer than t).
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    pub duration: Duration,
}

impl Estimate {
    /// Kill delays are drawn from [0, SPREAD x the duration): most land mid-run, some
    /// after the end.
    pub const SPREAD: f64 = 1.3;

    pub fn new(duration: Duration) -> Estimate {
        Estimate { duration }
    }

    /// A kill delay.
    pub fn draw(&self, rng: &mut fastrand::Rng) -> Duration {
        self.duration.mul_f64(rng.f64() * Self::SPREAD)
    }

    /// Learns from how a run killed after `delay` ended.
    pub fn learn(&mut self, delay: Duration, end: &Ending) {
        match end.ran {
            Some(d) => self.duration = (self.duration + d) / 2,
            None if end.killed && delay > self.duration => self.duration = delay,
            None => {}
        }
    }
}

/// Runs `cmd` to completion; panics unless it succeeds. Returns stdout and the wall time.
pub fn run_ok(mut cmd: Command) -> (String, Duration) {
    let started = Instant::now();
    let out = cmd.output().expect("the sqlkeep binary starts");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), took)
}

/// The uninterrupted duration of an operation, process start to exit: the median of
/// `runs` complete runs (the kill delays are spread over it).
pub fn measure(runs: usize, mut make: impl FnMut() -> Command) -> Duration {
    let mut d: Vec<Duration> = (0..runs).map(|_| run_ok(make()).1).collect();
    d.sort();
    d[d.len() / 2]
}

/// Failures collected over many trials, reported together at the end.
#[derive(Debug, Default)]
pub struct Failures(pub Vec<String>);

impl Failures {
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let msg = what();
            eprintln!("FAILURE: {msg}");
            self.0.push(msg);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Panics with every failure when there was any.
    pub fn assert_none(&self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} failure(s):\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// An application thread moving money between the bank's accounts in small
/// transactions, paced (a pause of `pause` between commits) so that it leaves the
/// machine's two cores to the operations under test. `synchronous=OFF`: its own
/// durability is not what is tested. Stops (and returns its commit count) on `stop`.
pub struct PacedWriter {
    stop: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl PacedWriter {
    pub fn start(db: &Path, seed: u64, pause: Duration) -> PacedWriter {
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let (s, n, db) = (stop.clone(), commits.clone(), db.to_path_buf());
        let handle = std::thread::spawn(move || {
            let mut c = open(&db);
            c.pragma_update(None, "synchronous", "OFF").unwrap();
            let mut rng = fastrand::Rng::with_seed(seed);
            let accounts = 200;
            while !s.load(Ordering::Relaxed) {
                let (a, b, amt) = (rng.i64(0..accounts), rng.i64(0..accounts), rng.i64(1..50));
                let tx = c.transaction().unwrap();
                tx.execute(
                    "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2",
                    (amt, a),
                )
                .unwrap();
                tx.execute(
                    "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2",
                    (amt, b),
                )
                .unwrap();
                tx.commit().unwrap();
                n.fetch_add(1, Ordering::Relaxed);
                std::thread::park_timeout(pause);
            }
        });
        PacedWriter {
            stop,
            commits,
            handle: Some(handle),
        }
    }

    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let h = self.handle.take().unwrap();
        h.thread().unpark();
        h.join().unwrap();
        self.commits.load(Ordering::Relaxed)
    }
}

/// Classifies how a killed process ended: mid-run, or completed with status 0. Any other
/// ending (an error exit) is a failure.
pub fn classify(end: &Ending, f: &mut Failures, trial: &str, mid_run: &mut usize) {
    if end.killed {
        *mid_run += 1;
    } else {
        f.check(end.status.success(), || {
            format!(
                "{trial}: exited with {} before the kill: {}{}",
                end.status, end.stdout, end.stderr
            )
        });
    }
}

/// Starts `cmd`, kills it after a delay drawn from `est`, and lets `est` learn.
pub fn kill(cmd: std::process::Command, est: &mut Estimate, rng: &mut fastrand::Rng) -> Ending {
    let delay = est.draw(rng);
    let end = run_and_kill(cmd, delay);
    est.learn(delay, &end);
    end
}

pub fn report(
    op: &str,
    started: std::time::Instant,
    trials: usize,
    mid_run: usize,
    extra: &str,
    f: &Failures,
) {
    println!(
        "RELIABILITY crash {op}: trials={trials} killed_mid_run={mid_run} failures={}{extra} ({:.1} s)",
        f.len(),
        started.elapsed().as_secs_f64()
    );
    f.assert_none(&format!("crash {op}"));
    // Kills that all landed after completion would prove nothing.
    assert!(
        mid_run * 4 >= trials,
        "only {mid_run} of {trials} kills landed mid-run"
    );
}

/// The backups `keeper` lists; a broken one (a data file without its manifest) is a
/// failure unless it is an interrupted commit or deletion, whose intent file the next
/// sweep resolves.
pub fn listed_or_interrupted(
    keeper: &sqlkeep::Keeper,
    bdir: &Path,
    f: &mut Failures,
    trial: &str,
) -> Vec<sqlkeep::Manifest> {
    let (good, broken) = keeper.scan().unwrap();
    for b in &broken {
        let intent = |what: &str| bdir.join(format!("{TMP_PREFIX}{}.{what}.json", b.id));
        f.check(
            intent("pending").exists() || intent("deleting").exists(),
            || {
                format!(
                    "{trial}: broken backup {} ({}) with no interrupted commit or deletion",
                    b.id, b.reason
                )
            },
        );
    }
    good
}
