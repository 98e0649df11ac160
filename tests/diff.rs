//! `diff` (issue 18) on real databases in the shape of the Chinook sample (artists,
//! albums, tracks, invoices and their lines with foreign keys), with a view, a trigger, a
//! WITHOUT ROWID table, an FTS5 table and blobs: counts checked against hand-made changes.

mod common;

use common::chinook;
use sqlkeep::{BackupRequest, Config, ErrorKind, Keeper};

fn table<'a>(d: &'a sqlkeep::Diff, name: &str) -> &'a sqlkeep::TableDiff {
    d.tables.iter().find(|t| t.name == name).unwrap()
}

#[test]
fn a_diff_counts_exactly_the_rows_and_schema_objects_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("music.db");
    chinook(&db);
    let k = Keeper::open(Config::new(&db).unwrap());
    let a = k.backup(&BackupRequest::manual()).unwrap();
    let same = k.diff(&a.id, None).unwrap();
    assert!(same.identical, "{}", same.summary());
    assert_eq!(same.summary(), "identical");
    assert_eq!(table(&same, "tracks").rows.from, 3000);

    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DELETE FROM tracks WHERE id BETWEEN 2989 AND 3000;          -- 12 removed
         UPDATE tracks SET price = 1.29 WHERE id IN (1, 2, 3);       -- 3 changed
         UPDATE tracks SET cover = NULL WHERE id = 4;                -- a blob to NULL
         UPDATE invoices SET note = NULL WHERE id = 5;               -- NULL to NULL: same
         INSERT INTO invoices (customer, total) VALUES ('new', 1), ('new', 2); -- +2, trigger +2 log
         UPDATE invoice_lines SET qty = 3 WHERE invoice_id <= 5;     -- 5 changed, no rowid
         DELETE FROM invoice_lines WHERE invoice_id = 6;             -- 1 removed
         CREATE INDEX tracks_album ON tracks(album_id);
         DROP VIEW long_tracks;
         CREATE VIEW long_tracks AS SELECT * FROM tracks WHERE ms > 600000;
         CREATE TABLE playlists (id INTEGER PRIMARY KEY, name TEXT);
         PRAGMA user_version = 4;",
    )
    .unwrap();
    drop(c);

    let d = k.diff(&a.id, None).unwrap();
    assert!(!d.identical);
    assert_eq!((d.user_version.from, d.user_version.to), (3, 4));
    let t = table(&d, "tracks");
    assert_eq!((t.added, t.removed, t.changed), (0, 12, 4), "{t:?}");
    assert_eq!((t.rows.from, t.rows.to), (3000, 2988));
    assert_eq!(t.key, ["rowid"]);
    let inv = table(&d, "invoices");
    assert_eq!((inv.added, inv.removed, inv.changed), (2, 0, 0));
    assert_eq!((table(&d, "log").added, table(&d, "log").removed), (2, 0));
    let lines = table(&d, "invoice_lines");
    assert_eq!((lines.added, lines.removed, lines.changed), (0, 1, 5));
    assert_eq!(lines.key, ["invoice_id", "track_id"]);
    for untouched in ["artists", "albums"] {
        assert!(!table(&d, untouched).differs(), "{untouched}");
    }
    // The FTS5 table itself is not compared row by row (its shadow tables are).
    assert!(d.tables.iter().all(|t| t.name != "track_search"));
    let schema: Vec<(&str, &str, &str)> = d
        .schema
        .iter()
        .map(|c| (c.kind.as_str(), c.name.as_str(), c.change.as_str()))
        .collect();
    assert_eq!(
        schema,
        [
            ("index", "tracks_album", "added"),
            ("table", "playlists", "added"),
            ("view", "long_tracks", "changed"),
        ]
    );
    let summary = d.summary();
    assert!(summary.contains("tracks +0 −12 ~4"), "{summary}");
    assert!(summary.contains("user_version 3 → 4"), "{summary}");

    // Backup against backup says the same as backup against the live database.
    let b = k.backup(&BackupRequest::manual()).unwrap();
    let between = k.diff(&a.id, Some(&b.id)).unwrap();
    assert_eq!(
        (between.tables.clone(), between.schema.clone()),
        (d.tables.clone(), d.schema.clone())
    );
    assert_eq!(between.to, b.id);
    assert!(k.diff(&b.id, None).unwrap().identical);
    // The rows themselves, paged: the 12 removed tracks first (key order), then the 4
    // changed ones.
    let rows = k.diff_rows(&a.id, None, "tracks", 100, 0).unwrap();
    assert_eq!(rows.len(), 16);
    assert!(rows[..12]
        .iter()
        .all(|r| r.change == "removed" && r.to.is_none()));
    assert_eq!(rows[0].key["rowid"], 2989);
    assert_eq!(rows[0].from.as_ref().unwrap()["name"], "track 2989");
    let cover = rows[0].from.as_ref().unwrap()["cover"].as_str().unwrap();
    assert!(
        cover.starts_with("x'") && cover.ends_with("(64 bytes)"),
        "{cover}"
    );
    assert_eq!(rows[12].change, "changed");
    assert_eq!(rows[12].key["rowid"], 1);
    assert_eq!(rows[12].from.as_ref().unwrap()["price"], 0.99);
    assert_eq!(rows[12].to.as_ref().unwrap()["price"], 1.29);
    let page: Vec<_> = k.diff_rows(&a.id, None, "tracks", 3, 11).unwrap();
    let keys: Vec<_> = page
        .iter()
        .map(|r| (r.change.as_str(), r.key["rowid"].as_i64().unwrap()))
        .collect();
    assert_eq!(keys, [("removed", 3000), ("changed", 1), ("changed", 2)]);
    // WITHOUT ROWID: the primary key's columns.
    let lines = k.diff_rows(&a.id, None, "invoice_lines", 10, 0).unwrap();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0].change, "removed");
    assert_eq!(lines[0].key["invoice_id"], 6);
    assert!(lines[0].key.contains_key("track_id"));
    let added = k.diff_rows(&a.id, None, "invoices", 10, 0).unwrap();
    assert_eq!(added.len(), 2);
    assert!(added
        .iter()
        .all(|r| r.change == "added" && r.from.is_none()));
    for missing in ["playlists", "track_search", "nope\"; DROP TABLE tracks; --"] {
        let e = k.diff_rows(&a.id, None, missing, 10, 0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{missing}: {e}");
    }
    assert_eq!(
        table(&k.diff(&a.id, None).unwrap(), "tracks").rows.to,
        2988,
        "nothing was dropped"
    );

    // The JSON shape.
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["schema"][0]["type"], "index");
    assert_eq!(v["tables"].as_array().unwrap().len(), d.tables.len());
}

#[test]
fn a_damaged_or_unknown_backup_is_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("music.db");
    chinook(&db);
    let k = Keeper::open(Config::new(&db).unwrap());
    let a = k.backup(&BackupRequest::manual()).unwrap();
    assert_eq!(
        k.diff("music-20990101T000000Z-manual", None)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let file = k.config().backup_dir.join(&a.file);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let e = k.diff(&a.id, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("was not compared"), "{e}");
    // Nothing was left behind in the folders.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .chain(std::fs::read_dir(k.config().backup_dir).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".sqlkeep-tmp-")),
        "{names:?}"
    );
}

/// A backup file copied elsewhere (a USB stick) is compared with the live database as
/// `restore_file` would restore it: the same diff as for the backup in its folder.
#[test]
fn a_backup_file_anywhere_is_compared_with_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("music.db");
    chinook(&db);
    let k = Keeper::open(Config::new(&db).unwrap());
    let a = k.backup(&BackupRequest::manual()).unwrap();
    let stick = dir.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    let backup_dir = k.config().backup_dir;
    for name in [a.file.clone(), format!("{}.json", a.id)] {
        std::fs::copy(backup_dir.join(&name), stick.join(&name)).unwrap();
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DELETE FROM invoice_lines WHERE invoice_id > 395; DELETE FROM invoices WHERE id > 395;",
    )
    .unwrap();
    drop(c);
    let here = k.diff(&a.id, None).unwrap();
    for path in [stick.join(&a.file), stick.join(format!("{}.json", a.id))] {
        let there = k.diff_file(&path).unwrap();
        assert_eq!(there.tables, here.tables);
        assert_eq!(there.restore_preview, here.restore_preview);
        assert!(
            there.restore_preview.contains("brings back 10 rows"),
            "{}",
            there.restore_preview
        );
    }
    let e = k.diff_file(&stick.join("notes.txt")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string().contains("is not a sqlkeep backup file"),
        "{e}"
    );
    std::fs::remove_file(stick.join(&a.file)).unwrap();
    let e = k
        .diff_file(&stick.join(format!("{}.json", a.id)))
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Corrupt,
        "a missing data file is damage: {e}"
    );
}

/// The command: exit 0 identical, 1 different; `--table T --rows` lists rows; `--rows`
/// without a table is a usage error.
#[test]
fn the_cli_diff_and_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("music.db");
    chinook(&db);
    let k = Keeper::open(Config::new(&db).unwrap());
    let a = k.backup(&BackupRequest::manual()).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sqlkeep"))
            .current_dir(dir.path())
            .args(["--db", "music.db"])
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["diff", &a.id]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("identical"));
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("DELETE FROM tracks WHERE id > 2995")
        .unwrap();
    drop(c);
    let o = run(&["diff", &a.id]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("tracks +0 −5 ~0"),
        "{o:?}"
    );
    let o = run(&[
        "--json", "diff", &a.id, "--table", "tracks", "--rows", "--limit", "2", "--offset", "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["key"]["rowid"], 2997);
    assert_eq!(rows[0]["change"], "removed");
    assert_eq!(run(&["diff", &a.id, "--rows"]).status.code(), Some(2));
}
