//! Putting a checked image into a live SQLite database: through SQLite's online backup
//! API writing into the live file inside one transaction, so connections that other
//! threads or processes hold see the restored data on their next read, and a crash
//! mid-way leaves the old content (SQLite rolls the transaction back), never a mix.

use crate::error::{Error, Operation, Result};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::ffi::c_int;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a restore waits for other connections to let go of the database.
pub const RESTORE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Replaces the content of the database at `target` with that of `source`, in one SQLite
/// transaction on `target` that commits only after `before_commit` returned `Ok`.
///
/// Every page but the last is copied first, inside the open transaction (SQLite journals
/// what each write overwrites, so the pages that reach the file before the commit are
/// rolled back by an error or a crash); `before_commit` can then wait for whatever must
/// be true before the change is made durable (a restore: its safety backup) while the
/// copy is already done. The step that copies the last page commits.
pub(crate) fn replace_through_sqlite(
    source: &Path,
    target: &Path,
    before_commit: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let op = Operation::Restore;
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::sqlite(op, "cannot open restored copy", source, e))?;
    let mut dst = Connection::open_with_flags(
        target,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::sqlite(op, "cannot open", target, e))?;
    dst.busy_timeout(RESTORE_BUSY_TIMEOUT)
        .map_err(|e| Error::sqlite(op, "cannot configure", target, e))?;
    let deadline = Instant::now() + RESTORE_BUSY_TIMEOUT;
    // Dropped before it is done, the backup rolls the transaction on `target` back.
    let backup = Backup::new(&src, &mut dst)
        .map_err(|e| Error::sqlite(op, "cannot start writing", target, e))?;
    let step = |pages: c_int| -> Result<StepResult> {
        loop {
            let step = backup.step(pages).map_err(|e| {
                let readonly = e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly);
                let err = Error::sqlite(op, "cannot write restored content into", target, e);
                if readonly {
                    err.with_hint("the live database is in WAL mode with a different page size than the backup; restore to a new path (--to) and swap the files while the application is closed")
                } else {
                    err
                }
            })?;
            if matches!(step, StepResult::Done | StepResult::More) {
                return Ok(step);
            }
            if Instant::now() >= deadline {
                return Err(Error::busy(
                    op,
                    format!(
                        "{} stayed locked by another connection for {} s",
                        target.display(),
                        RESTORE_BUSY_TIMEOUT.as_secs()
                    ),
                )
                .with_hint("finish or close long transactions in the application, then retry"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Opens the transaction on `target` and learns the page count without copying.
    step(0)?;
    while backup.progress().remaining > 1 {
        step(backup.progress().remaining - 1)?;
    }
    before_commit()?;
    while step(-1)? != StepResult::Done {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A database of `rows` rows of 1 KiB labelled `label`, in `mode`.
    fn db(path: &Path, label: &str, rows: i64, mode: &str) {
        let c = Connection::open(path).unwrap();
        c.pragma_update(None, "journal_mode", mode).unwrap();
        c.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, label TEXT, pad BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO t SELECT i, ?2, randomblob(1024) FROM n;"
                .replace("?1", &rows.to_string())
                .replace("?2", &format!("'{label}'"))
                .as_str(),
        )
        .unwrap();
    }

    fn labels(path: &Path) -> Vec<(String, i64)> {
        let c = Connection::open(path).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let mut s = c
            .prepare("SELECT label, count(*) FROM t GROUP BY label")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn the_copy_waits_for_the_commit_and_a_refusal_rolls_it_back() {
        for mode in ["delete", "wal"] {
            let dir = tempfile::tempdir().unwrap();
            let (image, live) = (dir.path().join("image.db"), dir.path().join("live.db"));
            // 8 MB: more than SQLite's page cache, so pages reach the live file (and
            // the journal or the WAL) before the commit.
            db(&image, "new", 8000, "delete");
            db(&live, "old", 6000, mode);
            let before = labels(&live);
            let mut asked = 0;
            let refused = replace_through_sqlite(&image, &live, &mut || {
                asked += 1;
                let side = if mode == "wal" { "-wal" } else { "-journal" };
                let mut p = live.as_os_str().to_owned();
                p.push(side);
                let written = std::fs::metadata(&p).map_or(0, |m| m.len());
                assert!(
                    written > 4 << 20,
                    "{mode}: {written} bytes in {side} before the commit"
                );
                Err(Error::new(
                    ErrorKind::Io,
                    Operation::Restore,
                    "the safety backup failed",
                ))
            });
            assert_eq!(asked, 1);
            let e = refused.unwrap_err();
            assert!(e.to_string().contains("the safety backup failed"), "{e}");
            assert_eq!(labels(&live), before, "{mode}: the old content stays");

            replace_through_sqlite(&image, &live, &mut || Ok(())).unwrap();
            assert_eq!(labels(&live), vec![("new".to_string(), 8000)], "{mode}");
        }
    }
}
