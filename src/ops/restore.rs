//! Getting data back, only from a backup that passes full verification now.
//!
//! - Into the live database: a `pre-restore` safety backup of the current content, taken
//!   while the backup is decoded and checked, then the content is replaced through
//!   SQLite (the online backup API writing into the live file inside one transaction,
//!   which commits only once the safety backup succeeded: [`replace_live`]).
//!   Connections that other threads or processes hold open see the restored data on
//!   their next read, and a crash mid-way leaves the old content (SQLite rolls the
//!   transaction back), never a mix.
//! - Into a new path: decompressed and checked next to the target, then renamed into
//!   place. An existing file is replaced only when asked, and then through SQLite too.
//!
//! The full check is proved rather than repeated when the manifest records the SHA-256
//! of the image that passed the source's check at backup time: the decoded bytes are
//! hashed as they are written, and equal hashes mean they are that very image. A
//! mismatch is damage. [`RestoreOptions::paranoid`] runs the check anyway; manifests
//! without the hash (older backups, backups not fully checked) always get it.

use crate::config::{Compression, VerifyLevel};
use crate::context::Ctx;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::backup_id::BackupId;
use crate::model::events::Event;
use crate::model::manifest::{Kind, Manifest};
use crate::ops::backup::{take_backup_then, BackupRequest, Milestone, MilestoneFn};
use crate::ops::verify::{materialize, proven_detail, verification, FullCheck};
use crate::source::{Source, SourceKind};
use crate::storage::local::atomic_file::{fsync_dir, sweep_abandoned};
use crate::storage::local::lock::DirLock;
use crate::storage::local::store::Store;
use crate::storage::Storage;
use std::path::{Path, PathBuf};
use std::time::Instant;

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

/// How to restore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Replace a file that already exists at the target path (through SQLite).
    pub overwrite: bool,
    /// Run the source's full check (SQLite: `PRAGMA integrity_check`) on the decoded copy
    /// even when the backup's recorded image hash proves it passed at backup time.
    pub paranoid: bool,
}

/// Restores backup `id` into `to` (default: the live database).
pub(crate) fn restore(
    ctx: &Ctx<'_>,
    source: &Store,
    id: &str,
    to: Option<&Path>,
    options: RestoreOptions,
) -> Result<RestoreOutcome> {
    let started = Instant::now();
    let src = ctx.source();
    if src.kind() == SourceKind::Postgres {
        // The target is a database on the source's server, named, not a path.
        let target = match (to, ctx.cfg.postgres()) {
            (Some(name), _) => name.to_string_lossy().into_owned(),
            (None, Some(live)) => live.dbname,
            (None, None) => String::new(),
        };
        let result = restore_postgres(ctx, source, id, src.as_ref(), &target, options, started);
        let what = result.as_ref().map(|o| o.safety_backup.as_ref());
        emit_finished(ctx, id, target, started, what);
        return result;
    }
    let target = match to {
        Some(p) => std::path::absolute(p)
            .map_err(|e| Error::io(Operation::Restore, "cannot resolve", p, e))?,
        None => ctx.cfg.database.clone(),
    };
    let result = restore_inner(ctx, source, id, &target, options, started);
    let what = result.as_ref().map(|o| o.safety_backup.as_ref());
    emit_finished(
        ctx,
        id,
        target.to_string_lossy().into_owned(),
        started,
        what,
    );
    result
}

/// Whether `to` (the live database when `None`) exists, as [`restore`] would see it.
pub(crate) fn target_exists(ctx: &Ctx<'_>, to: Option<&Path>) -> Result<bool> {
    let source = ctx.source();
    match (to, source.kind()) {
        (None, _) => Ok(source.exists()),
        (Some(name), SourceKind::Postgres) => source.target_exists(&name.to_string_lossy()),
        (Some(path), SourceKind::Sqlite) => Ok(path.exists()),
    }
}

/// Emits `restore_finished` for a restore of backup `id` into `target` (words for the
/// log) begun at `started`: its safety backup, or its error.
pub(crate) fn emit_finished(
    ctx: &Ctx<'_>,
    id: &str,
    target: String,
    started: Instant,
    result: std::result::Result<Option<&Manifest>, &Error>,
) {
    let (ok, error, safety) = match result {
        Ok(safety) => (true, None, safety.map(|m| m.id.clone())),
        Err(e) => (false, Some(e.to_string()), None),
    };
    ctx.emit(Event::RestoreFinished {
        time: ctx.now(),
        id: id.to_string(),
        target,
        safety_backup: safety,
        ok,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    });
}

fn restore_inner(
    ctx: &Ctx<'_>,
    store: &Store,
    id: &str,
    target: &Path,
    options: RestoreOptions,
    started: Instant,
) -> Result<RestoreOutcome> {
    let op = Operation::Restore;
    let lock = DirLock::shared(store.dir(), op)?;
    let mut m = load_of_kind(store, id, SourceKind::Sqlite)?;
    let is_live = target == ctx.cfg.database;
    let exists = target.exists();
    if exists && !is_live && !options.overwrite {
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
    // An encrypted backup's plaintext stays out of the backup folder.
    let work_dir = if exists && !m.is_encrypted() {
        store.dir()
    } else {
        target_dir
    };
    let safety = if is_live && exists {
        match replace_live(ctx, store, &mut m, work_dir, options) {
            Ok(safety) => Some(safety),
            Err((e, untouched_safety)) => {
                // No restore, so no safety backup: the one taken meanwhile goes the way
                // any deletion goes (the directory lock is exclusive for it).
                if let Some(safety) = untouched_safety {
                    drop(lock);
                    let _ = crate::ops::rotate::delete_because(
                        ctx,
                        &safety,
                        "the restore it was taken for did not happen",
                    );
                }
                return Err(e);
            }
        }
    } else {
        let copy = checked_copy(ctx, store, &mut m, work_dir, options)?;
        if exists {
            ctx.source()
                .replace_content(copy.path(), target, &mut || Ok(()))?;
        } else {
            std::fs::rename(copy.path(), target)
                .map_err(|e| Error::io(op, "cannot move restored database to", target, e))?;
            copy.keep();
            fsync_dir(target_dir)
                .map_err(|e| Error::io(op, "cannot sync directory", target_dir, e))?;
        }
        None
    };
    m.last_restored_at = Some(ctx.now());
    let _ = store.save_manifest(&m, op);
    Ok(RestoreOutcome {
        id: id.to_string(),
        target: target.to_path_buf(),
        safety_backup: safety,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// A restore into the live database, three things at once: the `pre-restore` safety
/// backup reads the live file on its own thread while the backup is decoded and checked
/// into another; once the check passed and the safety backup's copy of the current
/// content is complete, the checked image is written into the live database in one
/// transaction, which commits only after the safety backup succeeded (written, synced
/// and checked). A failure anywhere before that commit leaves the old content: SQLite
/// rolls the transaction back.
///
/// A failed check wins over a failed safety backup: it is the reason that stays true. The
/// error comes with the id of a safety backup that was taken for nothing (the live file
/// was never written), to be deleted.
fn replace_live(
    ctx: &Ctx<'_>,
    store: &Store,
    m: &mut Manifest,
    work_dir: &Path,
    options: RestoreOptions,
) -> std::result::Result<Manifest, (Error, Option<String>)> {
    let label = format!("before restoring {}", m.id);
    let target = &ctx.cfg.database;
    std::thread::scope(|s| {
        let (milestones_tx, milestones) = std::sync::mpsc::channel::<Milestone>();
        let safety = s.spawn(move || {
            let reached = move |m| {
                let _ = milestones_tx.send(m);
            };
            safety_backup(ctx, label, Some(&reached))
        });
        let mut safety = Some(safety);
        let mut finished = || {
            safety
                .take()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        };
        let copy = match checked_copy(ctx, store, m, work_dir, options) {
            Ok(copy) => copy,
            Err(e) => return Err((e, finished().and_then(|r| r.ok()).map(|s| s.id))),
        };
        // The live file may change once the current content is copied, and the change is
        // committed once the safety backup is kept (not after its observers: one that
        // reads the database would wait for this very commit). Milestones come in order;
        // the channel closes without the one awaited when the safety backup failed first.
        let mut ended = None;
        let mut wait_for = |milestone: Milestone| -> Result<()> {
            if ended.is_none() && !milestones.iter().any(|m| m == milestone) {
                ended = finished();
            }
            match ended.take() {
                Some(Err(e)) => Err(e),
                other => {
                    ended = other;
                    Ok(())
                }
            }
        };
        if let Err(e) = wait_for(Milestone::Copied) {
            return Err((e, None));
        }
        let replaced = ctx
            .source()
            .replace_content(copy.path(), target, &mut || wait_for(Milestone::Kept));
        let safety = ended.or_else(finished);
        match (replaced, safety) {
            (Ok(()), Some(Ok(safety))) => Ok(safety),
            // The live file may have been written (and rolled back): a safety backup that
            // succeeded stays.
            (Err(e), _) | (Ok(()), Some(Err(e))) => Err((e, None)),
            (Ok(()), None) => Err((
                Error::new(
                    ErrorKind::Io,
                    Operation::Restore,
                    "the safety backup's outcome was lost",
                ),
                None,
            )),
        }
    })
}

/// The manifest of backup `id`, which must have been taken of a source of `kind` (the
/// kind this configuration backs up).
fn load_of_kind(store: &Store, id: &str, kind: SourceKind) -> Result<Manifest> {
    let op = Operation::Restore;
    let m = store.load(id).map_err(|e| e.during(op))?;
    let (is, want, hint) = match kind {
        SourceKind::Sqlite => ("PostgreSQL", "a SQLite file", "its postgresql:// URI"),
        SourceKind::Postgres => ("SQLite", "PostgreSQL", "a SQLite file"),
    };
    if m.postgres.is_some() != (kind == SourceKind::Postgres) {
        return Err(Error::invalid_argument(
            op,
            format!("backup {id} is of a {is} database; this configuration backs up {want}"),
        )
        .with_hint(format!(
            "restore it with a configuration whose `database` is {hint}"
        )));
    }
    Ok(m)
}

/// The decoded and fully checked copy of backup `m` in `work_dir` (the check proved by
/// the recorded image hash unless `paranoid`); damage is recorded in the manifest and
/// refused.
fn checked_copy(
    ctx: &Ctx<'_>,
    store: &Store,
    m: &mut Manifest,
    work_dir: &Path,
    options: RestoreOptions,
) -> Result<crate::storage::local::atomic_file::TempFile> {
    let op = Operation::Restore;
    if work_dir != store.dir() {
        // What an earlier, killed restore into this folder left behind.
        sweep_abandoned(work_dir, crate::ops::verify::RESTORE_MARKER);
    }
    let full = if options.paranoid {
        FullCheck::Always
    } else {
        FullCheck::UnlessProven
    };
    let checked = materialize(store, m, work_dir, VerifyLevel::Full, full, &ctx.keys())
        .map_err(|e| e.during(op))?;
    let verdict = checked.as_ref().map(drop).map_err(Clone::clone);
    let mut v = verification(ctx, VerifyLevel::Full, m, &verdict);
    if matches!(&checked, Ok(c) if c.proven) {
        v.detail = proven_detail(m);
    }
    m.verification = Some(v.clone());
    match checked {
        Ok(checked) => Ok(checked.file),
        Err(reason) => {
            let _ = store.save_manifest(m, op);
            ctx.emit(Event::VerifyFinished {
                time: v.at,
                id: m.id.clone(),
                level: VerifyLevel::Full,
                ok: false,
                detail: v.detail.clone(),
            });
            Err(Error::corrupt(
                op,
                format!("backup {} is damaged and was not restored: {reason}", m.id),
            )
            .with_hint("restore an older backup instead"))
        }
    }
}

/// A restore of a PostgreSQL backup into `target`, a database on the source's server:
/// the live database (after a `pre-restore` backup), an existing one (`overwrite`), or a
/// new one that is created and dropped again if the restore fails.
fn restore_postgres(
    ctx: &Ctx<'_>,
    store: &Store,
    id: &str,
    source: &dyn Source,
    target: &str,
    options: RestoreOptions,
    started: Instant,
) -> Result<RestoreOutcome> {
    let op = Operation::Restore;
    let _lock = DirLock::shared(store.dir(), op)?;
    let mut m = load_of_kind(store, id, SourceKind::Postgres)?;
    crate::config::postgres::check_dbname(target)
        .map_err(|msg| Error::invalid_argument(op, msg))?;
    let is_live = ctx.cfg.postgres().is_some_and(|t| t.dbname == target);
    let exists = is_live || source.target_exists(target)?;
    if exists && !is_live && !options.overwrite {
        return Err(Error::invalid_argument(
            op,
            format!("database {target} already exists; not overwriting it"),
        )
        .with_hint("choose a new database name, or ask for the existing one to be overwritten"));
    }
    let work_dir = ctx.scratch_dir(&m);
    let copy = checked_copy(ctx, store, &mut m, &work_dir, options)?;
    let mut safety = None;
    if exists {
        if is_live {
            safety = Some(safety_backup(ctx, format!("before restoring {id}"), None)?);
        }
        source.replace_content(copy.path(), Path::new(target), &mut || Ok(()))?;
    } else {
        source.restore_new(copy.path(), target)?;
    }
    m.last_restored_at = Some(ctx.now());
    let _ = store.save_manifest(&m, op);
    Ok(RestoreOutcome {
        id: id.to_string(),
        target: PathBuf::from(target),
        safety_backup: safety,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The `pre-restore` backup of the live database taken before a restore writes into it;
/// when it fails, the restore does not happen.
///
/// It keeps the current content as it is, damaged or not: a database that fails its
/// integrity check is often the very reason for the restore, and a full check of the
/// safety copy would refuse it and so block the restore. Its check is therefore the
/// quick one (the file decodes to exactly the bytes copied); a later restore from it
/// runs the full check, as for any backup without a recorded image hash. This also
/// spares a restore into the live database the source's full check of the current data
/// (most of the time of a 1 GB `integrity_check`). It is compressed at the fastest level.
///
/// `reached` is told when the current content is copied and when the backup is kept
/// ([`take_backup_then`]).
pub(crate) fn safety_backup(
    ctx: &Ctx<'_>,
    label: String,
    reached: Option<MilestoneFn<'_>>,
) -> Result<Manifest> {
    let req = BackupRequest {
        kind: Kind::PreRestore,
        label: Some(label),
        // The safety copy stands on its own: it guards the restore that may follow.
        full: true,
    };
    let mut cfg = ctx.cfg.clone();
    if cfg.verify_after_backup == Some(VerifyLevel::Full) {
        cfg.verify_after_backup = Some(VerifyLevel::Quick);
    }
    // A restore is waiting for it: the fastest level of the configured compression
    // (gzip -1 compresses a gigabyte in a third of gzip -6's time, for a larger file).
    if cfg.compression != Compression::None {
        cfg.compression_level = Some(1);
    }
    let quick = Ctx { cfg: &cfg, ..*ctx };
    take_backup_then(&quick, &req, None, None, reached).map_err(|e| {
        let kind = e.kind();
        Error::new(
            match kind {
                ErrorKind::Busy | ErrorKind::Postgres => kind,
                _ => ErrorKind::Io,
            },
            Operation::Restore,
            format!(
                "the safety backup of the current database failed, so nothing was restored: {e}"
            ),
        )
    })
}

/// Restores from a backup file anywhere (a copy on a USB stick, another machine's
/// backup folder): its manifest must lie beside it, and the same full check runs first.
/// `path` names the backup file or its manifest.
pub(crate) fn restore_file(
    ctx: &Ctx<'_>,
    path: &Path,
    to: Option<&Path>,
    options: RestoreOptions,
) -> Result<RestoreOutcome> {
    let (store, id) = store_of_file(path, Operation::Restore)?;
    restore(ctx, &store, &id, to, options)
}

/// The folder of backup file `path` (or its manifest) as a store, and the backup's id.
pub(crate) fn store_of_file(path: &Path, op: Operation) -> Result<(Store, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (id, _) = BackupId::of_file_name(name).ok_or_else(|| {
        Error::invalid_argument(
            op,
            format!("{} is not a sqlkeep backup file (<db>-<time>-<kind>.sqlite3.gz or its .json manifest)", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((Store::new(&dir), id.as_str().to_string()))
}
