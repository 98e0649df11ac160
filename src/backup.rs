//! Taking one backup: the path of a backup through the modules.
//!
//! ```text
//! reserve id (store) ─► copy consistent raw image (snapshot) ──► integrity_check raw copy (verify, full)
//!                          │ publishes bytes as written
//!                          ▼
//!                       compress in parallel, hash (compress) ─► fsync ─► quick check of the file (verify)
//!                                                                            │
//!                                       commit: rename data, rename manifest, fsync dir (store)
//! ```
//! The raw copy holds the source's lock only while it is written; compression follows
//! behind it and keeps both cores busy. The full check runs on the raw copy while the
//! compressor is still working; the quick check then proves the compressed file decodes
//! to exactly the bytes the compressor read from that same copy (CRC per gzip member,
//! zstd content checksum, size and SHA-256).

use crate::atomic_file::{create_private_file, TempFile, TMP_PREFIX};
use crate::compress::{compress, CompressJob, RawFeed};
use crate::config::{Compression, VerifyLevel};
use crate::error::{Error, Operation, Result};
use crate::events::Event;
use crate::keeper::Ctx;
use crate::lock::DirLock;
use crate::manifest::{Kind, Manifest, Verification, FORMAT};
use crate::snapshot::{copy_consistent, SourceInfo};
use crate::store::Store;
use crate::verify::{check_database, check_stream, passed_detail};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Receives `(done_pages, total_pages)` while a backup runs, from a worker thread.
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// What to back up and why.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// Why.
    pub kind: Kind,
    /// Optional free text.
    pub label: Option<String>,
}

impl BackupRequest {
    /// A manual backup without a label.
    pub fn manual() -> Self {
        BackupRequest {
            kind: Kind::Manual,
            label: None,
        }
    }
}

/// Takes a backup; emits `backup_started` and then `backup_succeeded` or `backup_failed`.
pub(crate) fn take_backup(
    ctx: &Ctx<'_>,
    req: &BackupRequest,
    progress: Option<ProgressFn<'_>>,
) -> Result<Manifest> {
    run_backup(ctx, req, progress, None)
}

/// Like [`take_backup`], for the scheduler: a failure event says when it will retry.
pub(crate) fn take_backup_with_retry(
    ctx: &Ctx<'_>,
    req: &BackupRequest,
    retry_delay: Option<chrono::Duration>,
) -> Result<Manifest> {
    run_backup(ctx, req, None, retry_delay)
}

fn run_backup(
    ctx: &Ctx<'_>,
    req: &BackupRequest,
    progress: Option<ProgressFn<'_>>,
    retry_delay: Option<chrono::Duration>,
) -> Result<Manifest> {
    let started = Instant::now();
    let created_at = ctx.now();
    if let Some(label) = &req.label {
        if label.len() > 1000 || label.chars().any(|c| c.is_control() && c != '\t') {
            return Err(Error::invalid_argument(
                Operation::Backup,
                "a label is free text of at most 1000 bytes without control characters",
            ));
        }
    }
    let store = ctx.store();
    sweep_if_idle(&store);
    let fail = |id: Option<String>, e: Error| {
        let time = ctx.now();
        ctx.emit(Event::BackupFailed {
            time,
            id,
            kind: req.kind,
            label: req.label.clone(),
            error: e.to_string(),
            error_kind: e.kind().as_str().to_string(),
            duration_ms: started.elapsed().as_millis() as u64,
            retry_at: retry_delay.map(|d| time + d),
        });
        e
    };
    let _lock = DirLock::shared(store.dir(), Operation::Backup).map_err(|e| fail(None, e))?;
    let db = &ctx.cfg.database;
    if !db.exists() {
        return Err(fail(
            None,
            Error::not_found(
                Operation::Backup,
                format!("database {} does not exist", db.display()),
            )
            .with_hint("check the `database` setting"),
        ));
    }
    let stem = db
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && !s.starts_with('.'))
        .unwrap_or("database");
    let reservation = store
        .reserve(stem, created_at, req.kind)
        .map_err(|e| fail(None, e))?;
    let id = reservation.id.clone();
    ctx.emit(Event::BackupStarted {
        time: created_at,
        id: id.clone(),
        kind: req.kind,
        label: req.label.clone(),
    });
    match write_backup(ctx, &store, reservation, req, created_at, started, progress) {
        Ok(m) => {
            ctx.emit(Event::BackupSucceeded {
                time: ctx.now(),
                id: m.id.clone(),
                kind: m.kind,
                label: m.label.clone(),
                size_bytes: m.size_bytes,
                raw_size_bytes: m.raw_size_bytes,
                duration_ms: m.duration_ms,
                verified: m.verification.as_ref().map(|v| v.ok),
            });
            Ok(m)
        }
        Err(e) => Err(fail(Some(id), e)),
    }
}

/// Removes what crashed runs left, if nobody is using the directory right now.
pub(crate) fn sweep_if_idle(store: &Store) {
    if let Ok(_lock) = DirLock::exclusive(store.dir(), std::time::Duration::ZERO, Operation::Backup)
    {
        let _ = store.sweep();
    }
}

fn write_backup(
    ctx: &Ctx<'_>,
    store: &Store,
    reservation: crate::store::Reservation,
    req: &BackupRequest,
    created_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
    progress: Option<ProgressFn<'_>>,
) -> Result<Manifest> {
    let op = Operation::Backup;
    let cfg = ctx.cfg;
    let id = reservation.id.clone();
    let data_path = reservation.data_tmp.path().to_path_buf();
    let raw = TempFile::new(store.dir().join(format!("{TMP_PREFIX}{id}.raw")));
    let mut raw_writer = create_private_file(raw.path())
        .map_err(|e| Error::io(op, "cannot create database copy", raw.path(), e))?;
    let raw_reader = File::open(raw.path())
        .map_err(|e| Error::io(op, "cannot open database copy", raw.path(), e))?;
    let out = reservation
        .file
        .try_clone()
        .map_err(|e| Error::io(op, "cannot open backup file", &data_path, e))?;
    let feed = RawFeed::default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let page_size = AtomicU64::new(0);
    let total_pages = AtomicU64::new(0);
    let last_reported = AtomicU64::new(u64::MAX);
    let report = |done_bytes: u64| {
        let ps = page_size.load(Ordering::Relaxed).max(1);
        let total = total_pages.load(Ordering::Relaxed);
        let done = (done_bytes / ps).min(total);
        // Report at most ~200 times per backup, and always the end.
        let step = (total / 200).max(1);
        let prev = last_reported.load(Ordering::Relaxed);
        if prev != u64::MAX && done < total && done / step == prev / step {
            return;
        }
        last_reported.store(done, Ordering::Relaxed);
        if let Some(p) = progress {
            p(done, total);
        }
        ctx.emit(Event::Progress {
            time: ctx.now(),
            id: id.clone(),
            done_pages: done,
            total_pages: total,
        });
    };
    let verify_level = cfg.verify_after_backup;
    let (info, compressed, raw_check) = std::thread::scope(|s| {
        let job = CompressJob {
            raw: &raw_reader,
            raw_path: raw.path(),
            feed: &feed,
            out_path: &data_path,
            compression: cfg.compression,
            level: cfg.effective_level(),
            threads,
        };
        let compressor = s.spawn(move || {
            // Compression is background work: the copier (which holds the source's lock in
            // rollback modes) and the application's own threads come first. Threads
            // started from here (gzip workers, libzstd workers) inherit the priority.
            crate::priority::lower_current_thread();
            compress(&job, out, &mut |done| report(done))
        });
        let copied = copy_consistent(
            &cfg.database,
            raw.path(),
            &mut raw_writer,
            &feed,
            &mut |info: &SourceInfo| {
                page_size.store(info.page_size as u64, Ordering::Relaxed);
                total_pages.store(info.page_count, Ordering::Relaxed);
            },
        );
        if copied.is_err() {
            feed.fail();
        }
        // While the compressor works, check the raw copy (the same bytes it compresses).
        let raw_check = match (&copied, verify_level) {
            (Ok(info), Some(VerifyLevel::Full)) => Some(check_database(
                raw.path(),
                info.page_size,
                info.page_count,
                info.user_version,
            )),
            _ => None,
        };
        let compressed = compressor
            .join()
            .expect("the compressor thread does not panic");
        (copied, compressed, raw_check)
    });
    let info = info?;
    let compressed = compressed?;
    drop(raw_reader);
    drop(raw_writer);
    drop(raw);
    if compressed.raw_bytes != info.raw_size() {
        return Err(Error::new(
            crate::ErrorKind::Io,
            op,
            format!(
                "compressed {} bytes of a {}-byte copy",
                compressed.raw_bytes,
                info.raw_size()
            ),
        ));
    }
    reservation
        .file
        .sync_all()
        .map_err(|e| Error::io(op, "cannot sync backup file", &data_path, e))?;
    let mut m = Manifest {
        format: FORMAT,
        requires: Vec::new(),
        id: id.clone(),
        kind: req.kind,
        label: req.label.clone(),
        created_at,
        database: cfg.database.to_string_lossy().into_owned(),
        file: format!("{id}{}", cfg.compression.extension()),
        compression: cfg.compression,
        compression_level: if cfg.compression == Compression::None {
            0
        } else {
            cfg.effective_level()
        },
        size_bytes: compressed.size_bytes,
        sha256: compressed.sha256,
        raw_size_bytes: info.raw_size(),
        page_size: info.page_size,
        page_count: info.page_count,
        user_version: info.user_version,
        journal_mode: info.journal_mode.to_lowercase(),
        sqlite_version: rusqlite::version().to_string(),
        sqlkeep_version: crate::VERSION.to_string(),
        duration_ms: 0,
        copy_ms: info.copy_ms,
        verification: None,
        last_restored_at: None,
        extra: Default::default(),
    };
    if let Some(level) = verify_level {
        // Quick check of the written file, read back from disk under its temporary name.
        let mut probe = m.clone();
        probe.file = data_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let verdict = match check_stream(store.dir(), &probe, None)? {
            Ok(()) => raw_check.transpose()?.unwrap_or(Ok(())),
            Err(reason) => Err(reason),
        };
        if let Err(reason) = verdict {
            return Err(Error::corrupt(
                op,
                format!("the new backup failed verification: {reason}"),
            )
            .with_hint(
                "nothing was kept; check the disk and memory of this machine and try again",
            ));
        }
        m.verification = Some(Verification {
            level,
            ok: true,
            at: ctx.now(),
            detail: passed_detail(level, &m),
        });
    }
    m.duration_ms = started.elapsed().as_millis() as u64;
    store.commit(reservation, &m)?;
    Ok(m)
}
