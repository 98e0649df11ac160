//! Putting a checked image into a live SQLite database: through SQLite's online backup
//! API writing into the live file inside one transaction, so connections that other
//! threads or processes hold see the restored data on their next read, and a crash
//! mid-way leaves the old content (SQLite rolls the transaction back), never a mix.

use crate::error::{Error, Operation, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a restore waits for other connections to let go of the database.
pub const RESTORE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Replaces the content of the database at `target` with that of `source`, in one SQLite
/// transaction on `target`.
pub(crate) fn replace_through_sqlite(source: &Path, target: &Path) -> Result<()> {
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
    let backup = rusqlite::backup::Backup::new(&src, &mut dst)
        .map_err(|e| Error::sqlite(op, "cannot start writing", target, e))?;
    loop {
        let step = backup.step(-1).map_err(|e| {
            let readonly = e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly);
            let err = Error::sqlite(op, "cannot write restored content into", target, e);
            if readonly {
                err.with_hint("the live database is in WAL mode with a different page size than the backup; restore to a new path (--to) and swap the files while the application is closed")
            } else {
                err
            }
        })?;
        match step {
            rusqlite::backup::StepResult::Done => return Ok(()),
            rusqlite::backup::StepResult::More => {}
            _ => {
                if Instant::now() >= deadline {
                    return Err(Error::busy(
                        op,
                        format!(
                            "{} stayed locked by another connection for {} s",
                            target.display(),
                            RESTORE_BUSY_TIMEOUT.as_secs()
                        ),
                    )
                    .with_hint(
                        "finish or close long transactions in the application, then retry",
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
