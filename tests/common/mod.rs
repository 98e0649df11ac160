//! Shared helpers of the integration tests: real SQLite files, real writer threads and
//! writer processes.
#![allow(dead_code)]

pub mod pg;

use rusqlite::Connection;
use sqlkeep::{Config, Keeper};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a writer may take to make its first commit before the test fails: generous,
/// because a starting Python process on a busy 2-core machine can take seconds.
pub const WRITER_READY_TIMEOUT: Duration = Duration::from_secs(60);

pub const ACCOUNTS: i64 = 200;
pub const OPENING_BALANCE: i64 = 1_000;

/// A temp dir with `app.db`: the sample data (`filler_bytes` of it) plus a bank table
/// whose balances always sum to ACCOUNTS * OPENING_BALANCE.
pub fn bank(dir: &Path, journal_mode: &str, filler_bytes: u64) -> PathBuf {
    let db = dir.join("app.db");
    sqlkeep::sample::create_sample_database(&db, filler_bytes, 7, journal_mode).unwrap();
    let c = Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..ACCOUNTS {
        tx.execute("INSERT INTO accounts VALUES (?1, ?2)", (i, OPENING_BALANCE))
            .unwrap();
    }
    tx.commit().unwrap();
    db
}

pub fn total(db: &Path) -> i64 {
    let c = Connection::open(db).unwrap();
    c.query_row("SELECT sum(balance) FROM accounts", [], |r| r.get(0))
        .unwrap()
}

pub fn integrity(db: &Path) -> String {
    let c = Connection::open(db).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// A thread moving money between accounts in small transactions until stopped.
/// [`Writer::start`] returns once it has committed, so what follows runs under load.
pub struct Writer {
    stop: Arc<AtomicBool>,
    pub commits: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    pub fn start(db: &Path, seed: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let (s, n, db) = (stop.clone(), commits.clone(), db.to_path_buf());
        let (ready_tx, ready) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            let mut c = Connection::open(&db).unwrap();
            c.busy_timeout(Duration::from_secs(30)).unwrap();
            let mut rng = fastrand::Rng::with_seed(seed);
            while !s.load(Ordering::Relaxed) {
                let (a, b, amt) = (rng.i64(0..ACCOUNTS), rng.i64(0..ACCOUNTS), rng.i64(1..50));
                // IMMEDIATE, like a careful application: a deferred transaction that
                // upgrades to a write can meet another writer and fail with BUSY at once.
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .unwrap();
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
                if n.fetch_add(1, Ordering::Relaxed) == 0 {
                    let _ = ready_tx.send(());
                }
                // Application writers do other work between commits; two threads that
                // re-take the lock in a tight loop would starve the writer process.
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        // A writer thread that panics drops the sender: the error says so at once.
        ready
            .recv_timeout(WRITER_READY_TIMEOUT)
            .expect("the writer thread commits within the timeout");
        Writer {
            stop,
            commits,
            handle: Some(handle),
        }
    }

    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap();
        self.commits.load(Ordering::Relaxed)
    }
}

/// A separate process (python3's sqlite3) doing the same transfers until its stop file
/// appears. [`WriterProcess::start`] returns once it has committed: the script prints
/// `ready` after its first commit and its commit count when it stops.
pub struct WriterProcess {
    child: Child,
    stop_file: PathBuf,
    /// The lines of the child's stdout, read on a thread of their own so that waiting
    /// for `ready` can time out.
    lines: mpsc::Receiver<String>,
}

impl WriterProcess {
    pub fn start(db: &Path, stop_file: &Path) -> WriterProcess {
        let script = r#"
import os, random, sqlite3, sys
db, stop = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, timeout=30, isolation_level=None)
n = 0
while not os.path.exists(stop):
    a, b, amt = random.randrange(200), random.randrange(200), random.randrange(1, 50)
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amt, a))
    c.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amt, b))
    c.execute("COMMIT")
    n += 1
    if n == 1:
        print("ready", flush=True)
print(n)
"#;
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(db)
            .arg(stop_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is installed");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        match lines.recv_timeout(WRITER_READY_TIMEOUT) {
            Ok(line) if line == "ready" => {}
            other => {
                let _ = child.kill();
                panic!(
                    "the writer process did not commit within {WRITER_READY_TIMEOUT:?}: \
                     {other:?}, {:?}",
                    child.wait()
                );
            }
        }
        WriterProcess {
            child,
            stop_file: stop_file.to_path_buf(),
            lines,
        }
    }

    /// Creates the stop file, waits for the process and returns its commit count.
    pub fn stop(mut self) -> u64 {
        std::fs::write(&self.stop_file, b"").unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the writer process failed: {status}");
        let last = self
            .lines
            .iter()
            .last()
            .expect("the writer printed its count");
        last.trim().parse().unwrap()
    }
}

pub fn keeper(db: &Path, changes: serde_json::Value) -> Keeper {
    let cfg = Config::new(db).unwrap().with_changes(&changes).unwrap();
    Keeper::open(cfg)
}

/// A canonical dump: schema and every row of every table, in rowid order.
pub fn dump(db: &Path) -> Vec<String> {
    let c = Connection::open(db).unwrap();
    let mut out: Vec<String> = Vec::new();
    let tables: Vec<(String, String)> = c
        .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (name, sql) in tables {
        out.push(sql.clone());
        if !sql.starts_with("CREATE TABLE") {
            continue;
        }
        let mut stmt = c
            .prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"))
            .unwrap();
        let cols = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let vals: Vec<String> = (0..cols)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            out.push(vals.join("|"));
        }
    }
    out
}

/// A database in the shape of the Chinook sample (artists, albums, tracks, invoices and
/// their lines with foreign keys), with a view, a trigger, a WITHOUT ROWID table, an FTS5
/// table and blobs.
pub fn chinook(db: &Path) {
    let c = Connection::open(db).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA user_version = 3;
         CREATE TABLE artists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT, artist_id INTEGER REFERENCES artists(id));
         CREATE TABLE tracks (id INTEGER PRIMARY KEY, album_id INTEGER REFERENCES albums(id),
                              name TEXT, ms INTEGER, price REAL, cover BLOB);
         CREATE TABLE invoices (id INTEGER PRIMARY KEY, customer TEXT, total REAL, note TEXT);
         CREATE TABLE invoice_lines (invoice_id INTEGER REFERENCES invoices(id),
                                     track_id INTEGER REFERENCES tracks(id), qty INTEGER,
                                     PRIMARY KEY (invoice_id, track_id)) WITHOUT ROWID;
         CREATE TABLE log (at TEXT, what TEXT);
         CREATE VIRTUAL TABLE track_search USING fts5(name);
         CREATE VIEW long_tracks AS SELECT * FROM tracks WHERE ms > 300000;
         CREATE TRIGGER invoice_log AFTER INSERT ON invoices BEGIN
             INSERT INTO log VALUES (datetime('now'), 'invoice ' || new.id);
         END;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
         INSERT INTO artists SELECT i, 'artist ' || i FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
         INSERT INTO albums SELECT i, 'album ' || i, 1 + i % 50 FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO tracks SELECT i, 1 + i % 200, 'track ' || i, 1000 * i, 0.99,
                                   randomblob(64) FROM n;
         INSERT INTO track_search (rowid, name) SELECT id, name FROM tracks;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
         INSERT INTO invoices SELECT i, 'customer ' || (i % 37), i * 1.5, NULL FROM n;
         INSERT INTO invoice_lines SELECT id, 1 + (id * 7) % 3000, 1 FROM invoices;",
    )
    .unwrap();
}
