//! Selective restore (issue 18) on a real database in the Chinook sample's shape (foreign
//! keys, a trigger, a WITHOUT ROWID table, FTS5, blobs): rows and whole tables come
//! back, foreign keys are honoured, the other tables stay byte for byte as they were,
//! bad requests change nothing, and a kill -9 mid-way leaves before or after.

mod common;

use common::chinook;
use rusqlite::Connection;
use sqlkeep::{BackupRequest, Config, ErrorKind, Keeper, Kind, TableRestore};
use std::path::Path;

/// The rows of `table` in key order, as text: for comparing content.
fn content(db: &Path, table: &str) -> String {
    let c = Connection::open(db).unwrap();
    let n = c
        .prepare(&format!("SELECT * FROM {table}"))
        .unwrap()
        .column_count();
    let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    let mut stmt = c
        .prepare(&format!(
            "SELECT * FROM {table} ORDER BY {}",
            order.join(", ")
        ))
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| Ok(format!("{:?}", r.get_ref(i)?)))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap();
    rows.map(|r| r.unwrap().join("|"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn all_content(db: &Path) -> String {
    [
        "artists",
        "albums",
        "tracks",
        "invoices",
        "invoice_lines",
        "log",
    ]
    .map(|t| content(db, t))
    .join("\n--\n")
}

fn exec(db: &Path, sql: &str) {
    Connection::open(db).unwrap().execute_batch(sql).unwrap();
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn pre_restore_backups(k: &Keeper) -> usize {
    k.list()
        .unwrap()
        .iter()
        .filter(|m| m.kind == Kind::PreRestore)
        .count()
}

struct Bench {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    k: Keeper,
    id: String,
}

/// The sample database, and a verified backup of it.
fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("music.db");
    chinook(&db);
    let k = Keeper::open(Config::new(&db).unwrap());
    let id = k.backup(&BackupRequest::manual()).unwrap().id;
    Bench {
        _dir: dir,
        db,
        k,
        id,
    }
}

#[test]
fn chosen_rows_come_back_and_every_other_row_stays() {
    let b = bench();
    let original_invoices = content(&b.db, "invoices");
    exec(
        &b.db,
        "DELETE FROM invoice_lines WHERE invoice_id BETWEEN 10 AND 20;
         DELETE FROM invoices WHERE id BETWEEN 10 AND 20;            -- the accident
         UPDATE invoices SET total = -1 WHERE id IN (1, 5, 300);     -- today's work
         INSERT INTO invoices VALUES (401, 'new customer', 9.5, 'today');
         UPDATE tracks SET name = name || ' (remastered)' WHERE id < 100;",
    );
    let tracks_before = content(&b.db, "tracks");
    let lines_before = content(&b.db, "invoice_lines");
    let log_before = count(&b.db, "SELECT count(*) FROM log");

    let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = targets.clone();
    b.k.subscribe(move |e| {
        if let sqlkeep::Event::RestoreFinished { target, ok, .. } = e {
            seen.lock().unwrap().push((target.clone(), *ok));
        }
    });
    let req = TableRestore::new("invoices").condition("id BETWEEN 10 AND 20");
    let o = b.k.restore_table(&b.id, &req).unwrap();
    assert_eq!(
        targets.lock().unwrap()[0],
        (format!("table `invoices` of {}", b.db.display()), true),
        "the log says what was restored"
    );
    assert_eq!(o.tables.len(), 1);
    assert_eq!(
        (o.tables[0].added, o.tables[0].replaced, o.tables[0].removed),
        (11, 0, 0)
    );
    assert_eq!(o.summary(), "invoices: 0 replaced, 11 added");
    let safety = o.safety_backup.expect("a safety backup first");
    assert_eq!(safety.kind, Kind::PreRestore);

    // The deleted invoices are back as they were; today's work outside the condition stays.
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM invoices WHERE id BETWEEN 10 AND 20"
        ),
        11
    );
    assert_eq!(
        count(&b.db, "SELECT count(*) FROM invoices WHERE total = -1"),
        3
    );
    assert_eq!(
        count(&b.db, "SELECT count(*) FROM invoices WHERE id = 401"),
        1
    );
    // The table's insert trigger ran for each row brought back, as for any insert.
    assert_eq!(count(&b.db, "SELECT count(*) FROM log"), log_before + 11);
    // Other tables: untouched.
    assert_eq!(content(&b.db, "tracks"), tracks_before);
    assert_eq!(content(&b.db, "invoice_lines"), lines_before);

    // Rows present in the live table are replaced by the backup's version.
    let o =
        b.k.restore_table(
            &b.id,
            &TableRestore::new("invoices").condition("id IN (5, 300)"),
        )
        .unwrap();
    assert_eq!((o.tables[0].added, o.tables[0].replaced), (0, 2));
    assert_eq!(
        count(&b.db, "SELECT count(*) FROM invoices WHERE total = -1"),
        1
    );

    // The whole table: merged by key, the new invoice 401 kept.
    let o =
        b.k.restore_table(&b.id, &TableRestore::new("invoices"))
            .unwrap();
    // Only invoice 1 still differs; the other 399 are left alone (no write, no trigger).
    assert_eq!(
        (
            o.tables[0].added,
            o.tables[0].replaced,
            o.tables[0].unchanged
        ),
        (0, 1, 399)
    );
    assert_eq!(o.summary(), "invoices: 1 replaced, 0 added, 399 unchanged");
    assert_eq!(count(&b.db, "SELECT count(*) FROM invoices"), 401);
    let without_new = {
        exec(&b.db, "DELETE FROM invoices WHERE id = 401");
        content(&b.db, "invoices")
    };
    assert_eq!(without_new, original_invoices);
}

#[test]
fn replace_table_makes_the_table_the_backups_unless_a_foreign_key_would_break() {
    let b = bench();
    exec(
        &b.db,
        "INSERT INTO invoices VALUES (401, 'new customer', 9.5, 'today');
         INSERT INTO invoice_lines VALUES (401, 7, 2);
         UPDATE invoices SET note = 'edited' WHERE id % 10 = 0;",
    );
    let before = all_content(&b.db);
    let safeties = pre_restore_backups(&b.k);
    // Invoice 401 would go, leaving its line pointing at nothing: refused, all rolled back.
    let req = TableRestore::new("invoices").replace_table(true);
    let e = b.k.restore_table(&b.id, &req).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("1 row(s) of `invoice_lines` would refer to rows of `invoices`"),
        "{text}"
    );
    assert!(text.contains("nothing was restored"), "{text}");
    assert_eq!(all_content(&b.db), before);
    // The safety backup was taken (the check happens inside the write), the data untouched.
    assert_eq!(pre_restore_backups(&b.k), safeties + 1);

    exec(&b.db, "DELETE FROM invoice_lines WHERE invoice_id = 401");
    let o = b.k.restore_table(&b.id, &req).unwrap();
    assert_eq!(o.tables[0].removed, 401);
    assert_eq!(o.tables[0].added, 400);
    assert_eq!(count(&b.db, "SELECT count(*) FROM invoices"), 400);
    assert_eq!(
        count(&b.db, "SELECT count(*) FROM invoices WHERE note = 'edited'"),
        0
    );
}

#[test]
fn foreign_keys_are_honoured_and_with_dependents_brings_the_tied_rows() {
    let b = bench();
    // Invoice 5 and its line are gone; a track one of its lines refers to too.
    let line_track: i64 = count(
        &b.db,
        "SELECT track_id FROM invoice_lines WHERE invoice_id = 5",
    );
    exec(
        &b.db,
        &format!(
            "DELETE FROM invoice_lines WHERE invoice_id = 5;
             DELETE FROM invoices WHERE id = 5;
             DELETE FROM tracks WHERE id = {line_track};"
        ),
    );
    let before = all_content(&b.db);
    // The lines alone would refer to a missing invoice and a missing track: refused.
    let lines = TableRestore::new("invoice_lines").condition("invoice_id = 5");
    let e = b.k.restore_table(&b.id, &lines).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("`invoice_lines` would refer to rows of `invoices`"),
        "{text}"
    );
    assert!(
        text.contains("`invoice_lines` would refer to rows of `tracks`"),
        "{text}"
    );
    assert!(format!("{e:?}").contains("--with-dependents"), "{e:?}");
    assert_eq!(all_content(&b.db), before);

    // With dependents: the invoice and the track they refer to come along.
    let o =
        b.k.restore_table(&b.id, &lines.clone().with_dependents(true))
            .unwrap();
    let names: Vec<&str> = o.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names[0], "invoice_lines");
    assert!(
        names.contains(&"invoices") && names.contains(&"tracks"),
        "{names:?}"
    );
    assert_eq!(
        count(&b.db, "SELECT count(*) FROM invoices WHERE id = 5"),
        1
    );
    assert_eq!(
        count(
            &b.db,
            &format!("SELECT count(*) FROM tracks WHERE id = {line_track}")
        ),
        1
    );
    assert_eq!(
        count(&b.db, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );

    // From the parent's side: an invoice with dependents brings its lines (WITHOUT ROWID).
    exec(
        &b.db,
        "DELETE FROM invoice_lines WHERE invoice_id = 6; DELETE FROM invoices WHERE id = 6;",
    );
    let o =
        b.k.restore_table(
            &b.id,
            &TableRestore::new("invoices")
                .condition("id = 6")
                .with_dependents(true),
        )
        .unwrap();
    let lines = o.tables.iter().find(|t| t.name == "invoice_lines").unwrap();
    assert_eq!(lines.added, 1);
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM invoice_lines WHERE invoice_id = 6"
        ),
        1
    );
    // Without dependents, the invoice alone breaks nothing and brings nothing else.
    exec(
        &b.db,
        "DELETE FROM invoice_lines WHERE invoice_id = 7; DELETE FROM invoices WHERE id = 7;",
    );
    let o =
        b.k.restore_table(&b.id, &TableRestore::new("invoices").condition("id = 7"))
            .unwrap();
    assert_eq!(o.tables.len(), 1);
    assert_eq!(
        count(
            &b.db,
            "SELECT count(*) FROM invoice_lines WHERE invoice_id = 7"
        ),
        0
    );
}

#[test]
fn bad_requests_change_nothing_and_take_no_safety_backup() {
    let b = bench();
    exec(
        &b.db,
        "DELETE FROM invoice_lines WHERE invoice_id > 390; DELETE FROM invoices WHERE id > 390;",
    );
    let before = all_content(&b.db);
    let safeties = pre_restore_backups(&b.k);
    let cases: Vec<(TableRestore, ErrorKind, &str)> = vec![
        (
            TableRestore::new("nope"),
            ErrorKind::NotFound,
            "the backup has no table `nope`",
        ),
        (
            TableRestore::new("track_search"),
            ErrorKind::NotFound,
            "virtual tables",
        ),
        (
            TableRestore::new("long_tracks"),
            ErrorKind::NotFound,
            "views",
        ),
        (
            TableRestore::new("invoices").condition("id = = 3"),
            ErrorKind::InvalidArgument,
            "the condition `id = = 3` cannot be applied to table `invoices`",
        ),
        (
            TableRestore::new("invoices").condition("1; DROP TABLE tracks"),
            ErrorKind::InvalidArgument,
            "cannot be applied",
        ),
        (
            TableRestore::new("invoices").condition("no_such_column > 3"),
            ErrorKind::InvalidArgument,
            "no such column",
        ),
        (
            TableRestore::new("invoices").condition("  "),
            ErrorKind::InvalidArgument,
            "the condition is empty",
        ),
        (
            TableRestore::new("invoices")
                .condition("id > 1")
                .replace_table(true),
            ErrorKind::InvalidArgument,
            "takes no condition",
        ),
        (
            TableRestore::new(""),
            ErrorKind::InvalidArgument,
            "no table named",
        ),
    ];
    for (req, kind, says) in cases {
        let e = b.k.restore_table(&b.id, &req).unwrap_err();
        assert_eq!(e.kind(), kind, "{req:?}: {e}");
        assert!(e.to_string().contains(says), "{req:?}: {e}");
    }
    // A schema that no longer matches.
    exec(&b.db, "ALTER TABLE invoices ADD COLUMN currency TEXT");
    let before_schema_change = all_content(&b.db);
    let e =
        b.k.restore_table(&b.id, &TableRestore::new("invoices"))
            .unwrap_err();
    assert!(
        e.to_string()
            .contains("the schema of table `invoices` no longer matches"),
        "{e}"
    );
    assert!(e.to_string().contains("currency"), "{e}");
    assert_eq!(all_content(&b.db), before_schema_change);
    exec(&b.db, "ALTER TABLE invoices DROP COLUMN currency");
    assert_eq!(all_content(&b.db), before);
    // An unknown backup.
    let e =
        b.k.restore_table(
            "music-20000101-000000-manual",
            &TableRestore::new("invoices"),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(pre_restore_backups(&b.k), safeties);
}

#[test]
fn a_damaged_backup_is_refused_as_corrupt() {
    let b = bench();
    exec(
        &b.db,
        "DELETE FROM invoice_lines WHERE invoice_id > 390; DELETE FROM invoices WHERE id > 390;",
    );
    let before = all_content(&b.db);
    let m = b.k.get(&b.id).unwrap();
    let file = b.k.config().backup_dir.join(&m.file);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let e =
        b.k.restore_table(&b.id, &TableRestore::new("invoices"))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("nothing was restored"), "{e}");
    assert_eq!(all_content(&b.db), before);
    assert_eq!(pre_restore_backups(&b.k), 0);
}

/// `kill -9` of `sqlkeep restore --table` at moments spread over its write: the database
/// afterwards holds every row as before or every row as restored, never a mix.
#[test]
fn a_kill_during_a_selective_restore_leaves_before_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    exec(
        &db,
        "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 150000)
         INSERT INTO big SELECT i, 'original ' || i, i FROM s;
         CREATE TABLE other (x);
         INSERT INTO other VALUES (1), (2), (3);",
    );
    let k = Keeper::open(Config::new(&db).unwrap());
    let id = k.backup(&BackupRequest::manual()).unwrap().id;
    drop(k);
    let other = content(&db, "other");
    let journal = dir.path().join("big.db-journal");
    let mut outcomes = std::collections::BTreeSet::new();
    let mut killed_in_write = 0;
    // Milliseconds after the write transaction opened (its rollback journal appears)
    // to kill; None lets the last run finish.
    let delays = [
        Some(0),
        Some(10),
        Some(30),
        Some(80),
        Some(200),
        Some(500),
        None,
    ];
    for (round, delay) in delays.into_iter().enumerate() {
        exec(&db, "UPDATE big SET v = 'changed', n = -id");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
            .args(["--db", db.to_str().unwrap()])
            .args(["restore", &id, "--table", "big", "--yes"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if let Some(ms) = delay {
            let waited = std::time::Instant::now();
            while !journal.exists()
                && waited.elapsed() < std::time::Duration::from_secs(60)
                && child.try_wait().unwrap().is_none()
            {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            std::thread::sleep(std::time::Duration::from_millis(ms));
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        if delay.is_some() && status.code().is_none() {
            killed_in_write += 1;
        }
        let changed = count(
            &db,
            "SELECT count(*) FROM big WHERE v = 'changed' AND n < 0",
        );
        let restored = count(
            &db,
            "SELECT count(*) FROM big WHERE v = 'original ' || id AND n = id",
        );
        assert!(
            (changed, restored) == (150_000, 0) || (changed, restored) == (0, 150_000),
            "round {round}: {changed} rows as before and {restored} as restored"
        );
        outcomes.insert(changed == 0);
        let ok: String = Connection::open(&db)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        assert_eq!(content(&db, "other"), other);
    }
    eprintln!("outcomes seen (restored?): {outcomes:?}, {killed_in_write} killed while writing");
    assert!(
        killed_in_write >= 3,
        "only {killed_in_write} kills landed in the write"
    );
    assert!(outcomes.contains(&true), "the run left alone restored");
}

/// The command: `restore ID --table T --where … --yes`, its JSON, and usage errors.
#[test]
fn the_cli_restores_rows_of_a_table() {
    let b = bench();
    exec(
        &b.db,
        "DELETE FROM invoice_lines WHERE invoice_id BETWEEN 100 AND 109;
         DELETE FROM invoices WHERE id BETWEEN 100 AND 109;",
    );
    let dir = b.db.parent().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
            .current_dir(dir)
            .args(["--db", "music.db"])
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&[
        "--json",
        "restore",
        &b.id,
        "--table",
        "invoices",
        "--where",
        "id BETWEEN 100 AND 104",
        "--yes",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["tables"][0]["name"], "invoices");
    assert_eq!(v["tables"][0]["added"], 5);
    assert!(v["safety_backup"]["id"]
        .as_str()
        .unwrap()
        .ends_with("pre-restore"));
    let o = run(&["restore", &b.id, "--table", "invoices", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("invoices: 0 replaced, 5 added, 395 unchanged"),
        "{text}"
    );
    assert_eq!(count(&b.db, "SELECT count(*) FROM invoices"), 400);
    // A condition without a table, a table with --to, and a bad condition.
    assert_eq!(
        run(&["restore", &b.id, "--where", "id = 1", "--yes"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["restore", &b.id, "--table", "invoices", "--to", "x.db", "--yes"])
            .status
            .code(),
        Some(2)
    );
    let o = run(&[
        "restore", &b.id, "--table", "invoices", "--where", "id ==", "--yes",
    ]);
    assert_ne!(o.status.code(), Some(0), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot be applied"),
        "{o:?}"
    );
}

/// A rowid table whose declared primary key is not the rowid (`code TEXT PRIMARY KEY`)
/// is matched by that key, in the diff and in the restore alike: a row deleted and
/// inserted again (a new rowid) is the same row, changed.
#[test]
fn rows_match_on_the_declared_primary_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("codes.db");
    exec(
        &db,
        "CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT);
         INSERT INTO codes VALUES ('a', 'first'), ('b', 'second'), ('c', 'third');",
    );
    let k = Keeper::open(Config::new(&db).unwrap());
    let id = k.backup(&BackupRequest::manual()).unwrap().id;
    exec(
        &db,
        "DELETE FROM codes WHERE code = 'a'; INSERT INTO codes VALUES ('a', 'again');",
    );
    let d = k.diff(&id, None).unwrap();
    let t = d.tables.iter().find(|t| t.name == "codes").unwrap();
    assert_eq!(t.key, ["code"]);
    assert_eq!((t.added, t.removed, t.changed), (0, 0, 1));
    assert_eq!(t.table_restore_preview, "reverts 1 row");
    let o = k.restore_table(&id, &TableRestore::new("codes")).unwrap();
    assert_eq!(
        (
            o.tables[0].replaced,
            o.tables[0].added,
            o.tables[0].unchanged
        ),
        (1, 0, 2)
    );
    let labels: Vec<(String, String)> = {
        let c = Connection::open(&db).unwrap();
        let mut stmt = c
            .prepare("SELECT code, label FROM codes ORDER BY code")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(labels[0], ("a".to_string(), "first".to_string()));
    assert_eq!(labels.len(), 3);
}

/// The application holds a write lock (rollback journal) when the restore starts: the
/// restore waits for it, as a full restore does, instead of failing at once.
#[test]
fn a_selective_restore_waits_for_the_applications_write_lock() {
    let b = bench();
    exec(
        &b.db,
        "PRAGMA journal_mode = DELETE;
         DELETE FROM invoice_lines WHERE invoice_id = 9; DELETE FROM invoices WHERE id = 9;",
    );
    let app = Connection::open(&b.db).unwrap();
    let mode: String = app
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    app.execute_batch("BEGIN EXCLUSIVE; UPDATE tracks SET ms = ms + 1 WHERE id = 1;")
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let req = TableRestore::new("invoices").condition("id = 9");
            tx.send(b.k.restore_table(&b.id, &req)).unwrap();
        });
        // Still waiting a moment later: the lock is held.
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err());
        app.execute_batch("COMMIT").unwrap();
        let o = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap()
            .unwrap();
        assert_eq!(o.tables[0].added, 1);
    });
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(
        count(&b.db, "SELECT count(*) FROM invoices WHERE id = 9"),
        1
    );
}
