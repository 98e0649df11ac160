//! Getting data back, only from a backup that passes full verification now.
//!
//! - Into the live database: a `pre-restore` safety backup of the current content first,
//!   then the content is replaced through SQLite (the online backup API writing into the
//!   live file inside one transaction). Connections that other threads or processes hold
//!   open see the restored data on their next read, and a crash mid-way leaves the old
//!   content (SQLite rolls the transaction back), never a mix.
//! - Into a new path: decompressed and checked next to the target, then renamed into
//!   place. An existing file is replaced only when asked, and then through SQLite too.

use crate::atomic_file::fsync_dir;
use crate::backup::{take_backup, BackupRequest};
use crate::config::VerifyLevel;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::events::Event;
use crate::keeper::Ctx;
use crate::lock::DirLock;
use crate::manifest::{Kind, Manifest, Verification};
use crate::store::Store;
use crate::verify::{materialize, passed_detail};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a restore waits for other connections to let go of the database.
pub const RESTORE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreOutcome {
    /// The backup restored.
    pub id: String,
    /// The database written.
    pub target: PathBuf,
    /// The safety copy taken first, when the live database was replaced.
    pub safety_backup: Option<Manifest>,
    /// Wall time.
    pub duration_ms: u64,
}

/// Restores backup `id` into `to` (default: the live database).
pub(crate) fn restore(
    ctx: &Ctx<'_>,
    source: &Store,
    id: &str,
    to: Option<&Path>,
    overwrite: bool,
) -> Result<RestoreOutcome> {
    let started = Instant::now();
    let target = match to {
        Some(p) => std::path::absolute(p)
            .map_err(|e| Error::io(Operation::Restore, "cannot resolve", p, e))?,
        None => ctx.cfg.database.clone(),
    };
    let result = restore_inner(ctx, source, id, &target, overwrite, started);
    let (ok, error, safety) = match &result {
        Ok(o) => (true, None, o.safety_backup.as_ref().map(|m| m.id.clone())),
        Err(e) => (false, Some(e.to_string()), None),
    };
    ctx.emit(Event::RestoreFinished {
        time: ctx.now(),
        id: id.to_string(),
        target: target.to_string_lossy().into_owned(),
        safety_backup: safety,
        ok,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    });
    result
}

fn restore_inner(
    ctx: &Ctx<'_>,
    store: &Store,
    id: &str,
    target: &Path,
    overwrite: bool,
    started: Instant,
) -> Result<RestoreOutcome> {
    let op = Operation::Restore;
    let _lock = DirLock::shared(store.dir(), op)?;
    let mut m = store.load(id).map_err(|e| e.during(op))?;
    let is_live = target == ctx.cfg.database;
    let exists = target.exists();
    if exists && !is_live && !overwrite {
        return Err(Error::invalid_argument(
            op,
            format!("{} already exists; not overwriting it", target.display()),
        )
        .with_hint("choose a new path, or ask for the existing file to be overwritten"));
    }
    let target_dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !exists {
        for suffix in ["-wal", "-journal"] {
            let mut side = target.as_os_str().to_owned();
            side.push(suffix);
            if Path::new(&side).exists() {
                return Err(Error::invalid_argument(
                    op,
                    format!("{} does not exist but {} does", target.display(), Path::new(&side).display()),
                )
                .with_hint("SQLite would apply that stale file to the restored database; move it away first"));
            }
        }
    }
    // Decompress and fully check, next to where the data will go.
    let work_dir = if exists { store.dir() } else { target_dir };
    if work_dir != store.dir() {
        // What an earlier, killed restore into this folder left behind.
        crate::atomic_file::sweep_abandoned(work_dir, crate::verify::RESTORE_MARKER);
    }
    let checked =
        materialize(store.dir(), &m, work_dir, VerifyLevel::Full).map_err(|e| e.during(op))?;
    let now = ctx.now();
    let copy = match checked {
        Ok(copy) => {
            m.verification = Some(Verification {
                level: VerifyLevel::Full,
                ok: true,
                at: now,
                detail: passed_detail(VerifyLevel::Full, &m),
            });
            copy
        }
        Err(reason) => {
            m.verification = Some(Verification {
                level: VerifyLevel::Full,
                ok: false,
                at: now,
                detail: reason.clone(),
            });
            let _ = store.save_manifest(&m, op);
            ctx.emit(Event::VerifyFinished {
                time: now,
                id: m.id.clone(),
                level: VerifyLevel::Full,
                ok: false,
                detail: reason.clone(),
            });
            return Err(Error::corrupt(
                op,
                format!("backup {id} is damaged and was not restored: {reason}"),
            )
            .with_hint("restore an older backup instead"));
        }
    };
    let mut safety = None;
    if exists {
        if is_live {
            let label = format!("before restoring {id}");
            let req = BackupRequest {
                kind: Kind::PreRestore,
                label: Some(label),
            };
            safety = Some(take_backup(ctx, &req, None).map_err(|e| {
                let kind = e.kind();
                Error::new(
                    if kind == ErrorKind::Busy { ErrorKind::Busy } else { ErrorKind::Io },
                    op,
                    format!("the safety backup of the current database failed, so nothing was restored: {e}"),
                )
            })?);
        }
        replace_through_sqlite(copy.path(), target)?;
    } else {
        std::fs::rename(copy.path(), target)
            .map_err(|e| Error::io(op, "cannot move restored database to", target, e))?;
        copy.keep();
        fsync_dir(target_dir).map_err(|e| Error::io(op, "cannot sync directory", target_dir, e))?;
    }
    m.last_restored_at = Some(ctx.now());
    let _ = store.save_manifest(&m, op);
    Ok(RestoreOutcome {
        id: id.to_string(),
        target: target.to_path_buf(),
        safety_backup: safety,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Replaces the content of the database at `target` with that of `source`, in one SQLite
/// transaction on `target`.
fn replace_through_sqlite(source: &Path, target: &Path) -> Result<()> {
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
