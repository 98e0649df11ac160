//! `sqlkeep demo`: the tour a new user runs first. Everything happens in one folder it
//! names, on a sample database it builds, with a writer busy the whole time.

use super::output::Output;
use rusqlite::Connection;
use serde_json::json;
use sqlkeep::format_size as human_bytes;
use sqlkeep::{BackupRequest, Config, Error, Keeper, Kind, Operation, VerifyLevel};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const MARKER: &str = ".sqlkeep-demo";

fn step(out: &Output, n: u32, text: &str) {
    if !out.json {
        println!("\n[{n}] {text}");
    }
}

fn sql_err(db: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::sqlite(Operation::Backup, "demo database", db, e)
}

fn count(db: &Path) -> Result<i64, Error> {
    let c = Connection::open(db).map_err(sql_err(db))?;
    c.query_row("SELECT count(*) FROM employees", [], |r| r.get(0))
        .map_err(sql_err(db))
}

pub fn run(folder: &Path, size_mb: u64, out: &Output) -> Result<u8, Error> {
    let op = Operation::Backup;
    let folder =
        std::path::absolute(folder).map_err(|e| Error::io(op, "cannot resolve", folder, e))?;
    if folder.exists() {
        let reused = folder.join(MARKER).exists();
        let empty = std::fs::read_dir(&folder)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !reused && !empty {
            return Err(Error::invalid_argument(
                Operation::Config,
                format!(
                    "{} exists and is not an earlier demo folder",
                    folder.display()
                ),
            )
            .with_hint("name a new folder: sqlkeep demo FOLDER"));
        }
        if reused {
            std::fs::remove_dir_all(&folder)
                .map_err(|e| Error::io(op, "cannot clear demo folder", &folder, e))?;
        }
    }
    std::fs::create_dir_all(&folder).map_err(|e| Error::io(op, "cannot create", &folder, e))?;
    std::fs::write(folder.join(MARKER), b"made by sqlkeep demo\n")
        .map_err(|e| Error::io(op, "cannot write", &folder, e))?;
    let db = folder.join("employees.db");
    let mut report = serde_json::Map::new();

    step(
        out,
        1,
        &format!(
            "Building a sample employee register of about {size_mb} MB in {}",
            db.display()
        ),
    );
    let info = sqlkeep::sample::create_sample_database(&db, size_mb << 20, 2026, "wal")
        .map_err(sql_err(&db))?;
    if !out.json {
        println!(
            "    {} employees, {} documents, {} (WAL mode)",
            info.employees,
            info.documents,
            human_bytes(info.bytes)
        );
    }

    // The application keeps writing while sqlkeep works: backups are online.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, writes, db) = (stop.clone(), writes.clone(), db.clone());
        std::thread::spawn(move || -> rusqlite::Result<()> {
            let c = Connection::open(&db)?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            while !stop.load(Ordering::Relaxed) {
                c.execute("UPDATE employees SET salary_cents = salary_cents + 1 WHERE id = 1 + abs(random()) % 1000", [])?;
                writes.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    };

    let config = Config::from_value(
        &json!({"database": db, "backup_dir": folder.join("backups")}),
        None,
    )?;
    let keeper = Keeper::open(config);
    step(
        out,
        2,
        "Backing up while the application writes (gzip, then full verification)",
    );
    let backup = keeper.backup(&BackupRequest {
        kind: Kind::Manual,
        label: Some("demo: first backup".into()),
        full: false,
    })?;
    if !out.json {
        println!("    {}", backup.id);
        println!(
            "    {} -> {} ({:.1}x) in {} ms, {} commits by the writer meanwhile",
            human_bytes(backup.raw_size_bytes),
            human_bytes(backup.size_bytes),
            backup.raw_size_bytes as f64 / backup.size_bytes.max(1) as f64,
            backup.duration_ms,
            writes.load(Ordering::Relaxed)
        );
        if let Some(v) = &backup.verification {
            println!("    verified: {}", v.detail);
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer
        .join()
        .expect("the demo writer does not panic")
        .map_err(sql_err(&db))?;
    report.insert(
        "backup".into(),
        serde_json::to_value(&backup).expect("serialises"),
    );

    step(
        out,
        3,
        "Checking the backup again from disk (checksum, decompression, integrity_check)",
    );
    let v = keeper.verify(&backup.id, VerifyLevel::Full)?;
    if !out.json {
        println!("    {}: {}", if v.ok { "ok" } else { "CORRUPT" }, v.detail);
    }
    report.insert("verify".into(), v.report(&backup.id));

    step(
        out,
        4,
        "An accident: someone deletes the Engineering department",
    );
    let before = count(&db)?;
    {
        let c = Connection::open(&db).map_err(sql_err(&db))?;
        c.execute("DELETE FROM documents WHERE employee_id IN (SELECT id FROM employees WHERE department_id = 3)", [])
            .map_err(sql_err(&db))?;
        c.execute("DELETE FROM employees WHERE department_id = 3", [])
            .map_err(sql_err(&db))?;
    }
    let damaged = count(&db)?;
    if !out.json {
        println!("    employees: {before} -> {damaged}");
    }

    step(
        out,
        5,
        "Restoring the backup into the live database (a safety backup is taken first)",
    );
    let outcome = keeper.restore(&backup.id, None, false)?;
    let after = count(&db)?;
    if !out.json {
        println!(
            "    employees: {damaged} -> {after}; the damaged state is kept as {}",
            outcome
                .safety_backup
                .as_ref()
                .map(|m| m.id.as_str())
                .unwrap_or("-")
        );
    }
    report.insert("restore".into(), super::output::restore_json(&outcome));
    report.insert(
        "employees".into(),
        json!({"before": before, "after_accident": damaged, "after_restore": after}),
    );

    step(out, 6, "The backups and the run statistics");
    let list = keeper.list()?;
    let stats = keeper.stats()?;
    if !out.json {
        out.list(&list);
        println!();
        out.stats(&stats);
        println!(
            "\nEverything is in {}. Try:\n    sqlkeep --db {} list\n    sqlkeep --db {} history\n    gunzip -c {} | head -c 16; echo",
            folder.display(),
            db.display(),
            db.display(),
            folder.join("backups").join(&backup.file).display()
        );
        let _ = std::io::stdout().flush();
    } else {
        report.insert(
            "stats".into(),
            serde_json::to_value(&stats).expect("serialises"),
        );
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialises")
        );
    }
    Ok(if v.ok && after == before { 0 } else { 1 })
}
