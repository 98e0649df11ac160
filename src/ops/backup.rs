//! Taking one backup: the path of a backup through the modules.
//!
//! ```text
//! reserve id (store) ─► copy consistent raw image (source)  ──► check raw copy (source, full)  
//!                          │ publishes bytes as written
//!                          ▼
//!                       compress in parallel, hash (pipeline)   ─► fsync ─► quick check of the file (verify)
//!                                                                            │
//!                                       commit: rename data, rename manifest, fsync dir (store)
//! ```
//! The raw copy holds the source's lock only while it is written; compression follows
//! behind it and keeps both cores busy. The full check runs on the raw copy while the
//! compressor is still working; the quick check then proves the compressed file decodes
//! to exactly the bytes the compressor read from that same copy (CRC per gzip member,
//! zstd content checksum, size and SHA-256).

use crate::config::{Compression, Encryption, VerifyLevel};
use crate::context::{CancelToken, Ctx};
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::backup_id::Content;
use crate::model::events::Event;
use crate::model::manifest::{ChainLink, Incremental, REQUIRES_INCREMENTAL};
use crate::model::manifest::{
    Encrypted, Kind, Manifest, Verification, FORMAT, REQUIRES_AGE, REQUIRES_POSTGRES,
};
use crate::model::verdict::Verdict;
use crate::ops::incremental::{self, Parent};
use crate::ops::stream::check_stream;
use crate::ops::verify::{materialize, passed_detail, FullCheck, RESTORE_MARKER};
use crate::pipeline::compress::{compress, CompressJob, Compressed};
use crate::pipeline::encrypt::encryptor;
use crate::pipeline::feed::{FeedReader, RawFeed, StreamReader};
use crate::pipeline::pages::{self, PageHashes};
use crate::source::{SnapshotInfo, Source, SourceKind};
use crate::storage::local::atomic_file::{sweep_abandoned, TempFile, TMP_PREFIX};
use crate::storage::local::lock::DirLock;
use crate::storage::local::store::{Reservation, Store};
use crate::storage::Storage;
use chrono::{DateTime, Utc};
use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Part of the name of the raw copy a backup is compressed from.
const RAW_MARKER: &str = ".raw";

/// Receives `(done_pages, total_pages)` while a backup runs, from a worker thread. A
/// panic in it is contained: the backup goes on without further progress reports.
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// What to back up and why.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// Why.
    pub kind: Kind,
    /// Optional free text.
    pub label: Option<String>,
    /// A self-contained backup even when `incremental` is on (`sqlkeep backup --full`).
    pub full: bool,
}

impl BackupRequest {
    /// A manual backup without a label.
    pub fn manual() -> Self {
        BackupRequest {
            kind: Kind::Manual,
            label: None,
            full: false,
        }
    }
}

/// Takes a backup; emits `backup_started` and then `backup_succeeded` or `backup_failed`.
/// `retry_after` is for the scheduler: when given, a `backup_failed` event says the
/// scheduler will try again that much later (this function itself tries once).
pub(crate) fn take_backup(
    ctx: &Ctx<'_>,
    req: &BackupRequest,
    progress: Option<ProgressFn<'_>>,
    retry_after: Option<chrono::Duration>,
) -> Result<Manifest> {
    take_backup_then(ctx, req, progress, retry_after, None)
}

/// Points of a backup that another thread may be waiting for (a restore into the live
/// database waits for both, ops/restore.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Milestone {
    /// The source's image is copied and the source is no longer read, long before the
    /// backup is done.
    Copied,
    /// The backup is in place, synced and checked; only its events are left to deliver.
    Kept,
}

/// Told each [`Milestone`] a backup reaches, on the thread that reached it.
pub(crate) type MilestoneFn<'a> = &'a (dyn Fn(Milestone) + Sync);

/// [`take_backup`], telling `reached` each [`Milestone`]: a restore into the live database
/// may start writing it once the image is copied, and commit once the backup is kept,
/// without waiting for the backup's observers.
pub(crate) fn take_backup_then(
    ctx: &Ctx<'_>,
    req: &BackupRequest,
    progress: Option<ProgressFn<'_>>,
    retry_after: Option<chrono::Duration>,
    reached: Option<MilestoneFn<'_>>,
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
    let cancel = ctx.cancels.register();
    let fail = |id: Option<String>, e: Error| {
        let time = ctx.now();
        if e.kind() == ErrorKind::Cancelled {
            ctx.emit(Event::BackupCancelled {
                time,
                id,
                kind: req.kind,
                label: req.label.clone(),
                duration_ms: started.elapsed().as_millis() as u64,
            });
            return e;
        }
        ctx.emit(Event::BackupFailed {
            time,
            id,
            kind: req.kind,
            label: req.label.clone(),
            error: e.to_string(),
            error_kind: e.kind(),
            duration_ms: started.elapsed().as_millis() as u64,
            retry_at: retry_after.map(|d| time + d),
        });
        e
    };
    let _lock = DirLock::shared(store.dir(), Operation::Backup).map_err(|e| fail(None, e))?;
    // A missing passphrase or an unusable identity file fails here, before anything is
    // written, and not after the whole database was copied.
    let encryptor = match &ctx.cfg.encryption {
        Some(enc) => {
            let keys = ctx.keys();
            if keys.available() {
                keys.check(Operation::Backup).map_err(|e| fail(None, e))?;
            }
            Some(encryptor(enc).map_err(|e| fail(None, e))?)
        }
        None => None,
    };
    let source = ctx.source();
    if !source.exists() {
        return Err(fail(
            None,
            Error::not_found(
                Operation::Backup,
                format!("database {} does not exist", source.location().display()),
            )
            .with_hint("check the `database` setting"),
        ));
    }
    let reservation = store
        .reserve(source.id_stem(), created_at, req.kind)
        .map_err(|e| fail(None, e))?;
    let id = reservation.id.clone();
    ctx.emit(Event::BackupStarted {
        time: created_at,
        id: id.clone(),
        kind: req.kind,
        label: req.label.clone(),
    });
    let run = Run {
        ctx,
        source: source.as_ref(),
        store: &store,
        req,
        created_at,
        started,
        progress,
        reached,
        cancel: &cancel,
    };
    match run.write(reservation, encryptor) {
        Ok(m) => {
            if let Some(reached) = reached {
                reached(Milestone::Kept);
            }
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

/// One backup being written.
struct Run<'a, 'c> {
    ctx: &'a Ctx<'c>,
    source: &'a dyn Source,
    store: &'a Store,
    req: &'a BackupRequest,
    created_at: DateTime<Utc>,
    started: Instant,
    progress: Option<ProgressFn<'a>>,
    reached: Option<MilestoneFn<'a>>,
    cancel: &'a CancelToken<'a>,
}

/// What copying and compressing produced, before the manifest exists.
struct Written {
    info: SnapshotInfo,
    compressed: Compressed,
    /// The full check of the raw copy, when asked for.
    raw_check: Option<Verdict>,
    /// The image's pages, when `incremental` is on (SQLite).
    pages: Option<PagesDone>,
}

/// A raw copy being written, a reader of it, and the backup file for the compressor.
struct RawCopy {
    file: TempFile,
    writer: File,
    reader: File,
    out: File,
}

/// What hashing the image's pages gave.
struct PagesDone {
    hashes: PageHashes,
    image_sha256: String,
    /// The backup stored only changed pages, compared with this parent's.
    parent: Option<(String, Vec<ChainLink>)>,
    /// Pages stored (those that changed).
    stored: u64,
    /// An incremental backup was due, but the page size changed: a full one was made.
    fell_back: bool,
}

impl Run<'_, '_> {
    /// Copy, compress and encrypt, sync, describe, check, commit.
    fn write(
        &self,
        reservation: Reservation,
        encryptor: Option<age::Encryptor>,
    ) -> Result<Manifest> {
        let op = Operation::Backup;
        let data_path = reservation.data_tmp.path().to_path_buf();
        let parent = match self.source.kind() {
            SourceKind::Sqlite => incremental::parent(
                self.ctx,
                self.store,
                self.req.full,
                self.req.kind,
                &encryption_facts(self.ctx.cfg),
            ),
            SourceKind::Postgres => Err(None),
        };
        let mut full_because = parent.as_ref().err().copied().flatten();
        let written = match parent {
            Ok(parent) => self.copy_and_diff(&reservation, encryptor, parent)?,
            Err(_) => self.copy_and_compress(&reservation, encryptor)?,
        };
        if written.pages.as_ref().is_some_and(|p| p.fell_back) {
            full_because = Some("the page size changed since the newest backup");
        }
        self.check_cancel()?;
        reservation
            .file
            .sync_all()
            .map_err(|e| Error::io(op, "cannot sync backup file", &data_path, e))?;
        let mut m = self.manifest(&reservation.id, &written.info, &written.compressed);
        m.full_because = full_because.map(str::to_string);
        let own_link = written.pages.as_ref().and_then(|p| {
            let (parent, chain) = p.parent.clone()?;
            Some(self.make_incremental(&mut m, p, parent, chain))
        });
        if let (Some(level), Some(link)) = (self.ctx.cfg.verify_after_backup, &own_link) {
            // The stored pages decode to exactly what the compressor read; the image they
            // complete passed the full check beside them when asked for. The earlier files
            // of the chain were checked when they were written (and `verify` checks all).
            let raw_check = written.raw_check.clone();
            let fully_checked = raw_check.is_some();
            self.check_written(&data_path, &m.link_probe(link), raw_check)?;
            if fully_checked {
                m.raw_sha256 = written.pages.as_ref().map(|p| p.image_sha256.clone());
            }
            m.verification = Some(Verification {
                level,
                ok: true,
                at: self.ctx.now(),
                detail: incremental_detail(level, &m, link, self.ctx.keys().available()),
            });
        } else if let Some(level) = self.ctx.cfg.verify_after_backup {
            let fully_checked = match self.source.kind() {
                SourceKind::Sqlite => {
                    let raw_check = written.raw_check.is_some();
                    self.check_written(&data_path, &m, written.raw_check)?;
                    raw_check
                }
                // A streamed image has no raw copy to check beside the compressor: a
                // full check decodes the written file and restores it. The quick check
                // is the stream's, as for SQLite (the source read the archive's table
                // of contents as it streamed).
                SourceKind::Postgres if level == VerifyLevel::Full => {
                    self.check_streamed(&data_path, &m, level)?;
                    true
                }
                SourceKind::Postgres => {
                    self.check_written(&data_path, &m, None)?;
                    false
                }
            };
            // The raw copy passed the source's check and the file decodes to exactly the
            // bytes the compressor hashed from it: the hash now stands for a checked image.
            if fully_checked {
                m.raw_sha256 = written.compressed.raw_sha256.clone();
            }
            m.verification = Some(Verification {
                level,
                ok: true,
                at: self.ctx.now(),
                detail: passed_detail(level, &m, self.ctx.keys().available()),
            });
        }
        m.duration_ms = self.started.elapsed().as_millis() as u64;
        // The last moment a cancel is honoured: after the commit the backup exists.
        self.check_cancel()?;
        self.store.commit(reservation, &m)?;
        if let Some(p) = &written.pages {
            // A cache for the next backup: without it that one is a full backup.
            let _ = self.store.save_page_hashes(&m.id, &p.hashes.to_bytes());
        }
        Ok(m)
    }

    /// Turns `m` (a full backup's manifest so far) into the manifest of the incremental
    /// backup `p` wrote; returns its own link.
    fn make_incremental(
        &self,
        m: &mut Manifest,
        p: &PagesDone,
        parent: String,
        mut chain: Vec<ChainLink>,
    ) -> ChainLink {
        m.compression = PIECE_COMPRESSION;
        m.compression_level = PIECE_LEVEL;
        m.file = crate::model::backup_id::data_name(
            &m.id,
            PIECE_COMPRESSION,
            m.encryption.is_some(),
            Content::Pages,
        );
        m.requires.push(REQUIRES_INCREMENTAL.to_string());
        let link = ChainLink {
            id: m.id.clone(),
            file: m.file.clone(),
            compression: PIECE_COMPRESSION,
            size_bytes: m.size_bytes,
            sha256: m.sha256.clone(),
            // `manifest` put the image's size here; the file decodes to the records.
            raw_size_bytes: p.stored * (4 + u64::from(m.page_size)),
            pages: p.stored,
            encryption: m.encryption.clone(),
        };
        chain.push(link.clone());
        m.incremental = Some(Incremental {
            parent,
            chain,
            image_sha256: p.image_sha256.clone(),
        });
        link
    }

    /// The source's image is copied: tell whoever waits for that.
    fn source_copied(&self) {
        if let Some(reached) = self.reached {
            reached(Milestone::Copied);
        }
    }

    fn check_cancel(&self) -> Result<()> {
        if self.cancel.is_set() {
            Err(crate::pipeline::feed::cancelled())
        } else {
            Ok(())
        }
    }

    /// The source writes its image into a raw copy (beside the backup, or beside the
    /// database when the backup is encrypted) while the compressor follows behind on its
    /// own thread; the raw copy is checked meanwhile.
    fn copy_and_compress(
        &self,
        reservation: &Reservation,
        encryptor: Option<age::Encryptor>,
    ) -> Result<Written> {
        if self.source.kind() == SourceKind::Postgres {
            return self.stream_and_compress(reservation, encryptor);
        }
        let op = Operation::Backup;
        let cfg = self.ctx.cfg;
        let id = &reservation.id;
        let data_path = reservation.data_tmp.path();
        let RawCopy {
            file: raw,
            writer: mut raw_writer,
            reader: raw_reader,
            out,
        } = self.raw_copy(reservation, encryptor.is_some())?;
        let feed = RawFeed::with_cancel(self.cancel.flag.clone());
        let progress = Progress::new(self.ctx, id, self.progress);
        let mut reader = FeedReader {
            file: &raw_reader,
            feed: &feed,
            offset: 0,
            path: raw.path(),
        };
        let job = self.compress_job(data_path);
        let keep_hashes = incremental::keeps_page_hashes(self.ctx);
        let (info, compressed, raw_check, pages) = std::thread::scope(|s| {
            let compressor = s.spawn(|| {
                // Compression is background work: the copier (which holds the source's
                // lock in rollback modes) and the application's own threads come first.
                // Threads started from here (gzip workers, libzstd workers) inherit it.
                crate::pipeline::priority::lower_current_thread();
                compress(&job, &mut reader, out, encryptor, &mut |done| {
                    progress.report(done)
                })
            });
            let copied = self
                .source
                .snapshot(raw.path(), &mut raw_writer, &feed, &mut |info| {
                    progress.start(info)
                });
            match &copied {
                Ok(_) => self.source_copied(),
                Err(_) => feed.fail(),
            }
            // With `incremental` on, the next backup compares with this one's pages.
            let hashing = match (&copied, keep_hashes) {
                (Ok(info), true) => {
                    let (size, page_size, raw) = (info.raw_size, info.unit_size, &raw_reader);
                    Some(s.spawn(move || hash_pages(raw, size, page_size)))
                }
                _ => None,
            };
            // While the compressor works, check the raw copy (the same bytes it reads).
            let raw_check = match (&copied, cfg.verify_after_backup) {
                (Ok(info), Some(VerifyLevel::Full)) => {
                    // Only the source's facts matter to this check; the file is not
                    // written yet.
                    let expected = self.manifest(id, info, &Compressed::default());
                    Some(self.source.check_copy(raw.path(), &expected))
                }
                _ => None,
            };
            let compressed = joined(compressor);
            let pages = hashing.and_then(|h| h.join().ok().flatten());
            (copied, compressed, raw_check, pages)
        });
        let info = info?;
        let compressed = compressed?;
        let raw_check = raw_check.transpose()?;
        if compressed.raw_bytes != info.raw_size {
            return Err(Error::new(
                ErrorKind::Io,
                op,
                format!(
                    "compressed {} bytes of a {}-byte copy",
                    compressed.raw_bytes, info.raw_size
                ),
            ));
        }
        Ok(Written {
            info,
            compressed,
            raw_check,
            pages,
        })
    }

    /// An incremental backup: the source writes its image into a raw copy; then one pass
    /// over the copy hashes every page and streams the records of the pages that differ
    /// from `parent`'s into the compressor (zstd), while the full check runs on the copy
    /// on the other core. A copy whose page size differs from the parent's is compressed
    /// whole instead (a full backup).
    fn copy_and_diff(
        &self,
        reservation: &Reservation,
        encryptor: Option<age::Encryptor>,
        parent: Parent,
    ) -> Result<Written> {
        let op = Operation::Backup;
        let cfg = self.ctx.cfg;
        let id = &reservation.id;
        let data_path = reservation.data_tmp.path();
        let RawCopy {
            file: raw,
            mut writer,
            reader: raw_reader,
            out,
        } = self.raw_copy(reservation, encryptor.is_some())?;
        let feed = RawFeed::with_cancel(self.cancel.flag.clone());
        let progress = Progress::new(self.ctx, id, self.progress);
        let info = self
            .source
            .snapshot(raw.path(), &mut writer, &feed, &mut |info| {
                progress.start(info)
            })?;
        self.source_copied();
        self.check_cancel()?;
        let page_size = info.unit_size as u32;
        let diff = page_size == parent.hashes.page_size;
        let piece_job = CompressJob {
            out_path: data_path,
            compression: PIECE_COMPRESSION,
            level: PIECE_LEVEL,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            hash_raw: false,
        };
        let full_job = self.compress_job(data_path);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let mut stream = StreamReader {
            rx,
            pending: Vec::new(),
            pos: 0,
        };
        let mut whole = FeedReader {
            file: &raw_reader,
            feed: &feed,
            offset: 0,
            path: raw.path(),
        };
        let cancel = self.cancel.flag.clone();
        let (scanned, compressed, raw_check) = std::thread::scope(|s| {
            let compressor = s.spawn(|| {
                crate::pipeline::priority::lower_current_thread();
                let (job, reader): (_, &mut dyn crate::pipeline::feed::ChunkRead) = if diff {
                    (&piece_job, &mut stream)
                } else {
                    (&full_job, &mut whole)
                };
                compress(job, reader, out, encryptor, &mut |_| {})
            });
            let base = diff.then_some(&parent.hashes);
            let (raw_file, size) = (&raw_reader, info.raw_size);
            let scanner = s.spawn(move || {
                pages::scan(raw_file, size, page_size, base, diff, &mut |chunk| {
                    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(std::io::Error::other("cancelled"));
                    }
                    tx.send(chunk.to_vec())
                        .map_err(|_| std::io::Error::other("the compressor stopped"))
                })
            });
            // The full check of the copy, on this thread while the pages are hashed.
            let raw_check = (cfg.verify_after_backup == Some(VerifyLevel::Full)).then(|| {
                let expected = self.manifest(id, &info, &Compressed::default());
                self.source.check_copy(raw.path(), &expected)
            });
            let scanned = scanner.join().unwrap_or_else(|_| {
                Err(std::io::Error::other("the page scan failed unexpectedly"))
            });
            let compressed = joined(compressor);
            (scanned, compressed, raw_check)
        });
        self.check_cancel()?;
        // The compressor's error says more than the scan's failed send.
        let compressed = compressed?;
        let scanned =
            scanned.map_err(|e| Error::io(op, "cannot read database copy", raw.path(), e))?;
        let raw_check = raw_check.transpose()?;
        progress.report(info.raw_size);
        Ok(Written {
            info,
            compressed,
            raw_check,
            pages: Some(PagesDone {
                hashes: scanned.hashes,
                image_sha256: scanned.image_sha256,
                parent: diff.then(|| (parent.manifest.id.clone(), parent.chain)),
                stored: scanned.pages_stored,
                fell_back: !diff,
            }),
        })
    }

    /// The raw copy the source writes its image into (beside the backup, or beside the
    /// database when the backup is encrypted), a reader of it, and the backup file's
    /// handle for the compressor.
    fn raw_copy(&self, reservation: &Reservation, encrypted: bool) -> Result<RawCopy> {
        let op = Operation::Backup;
        let raw_dir = self.ctx.plaintext_dir(encrypted);
        if raw_dir != self.store.dir() {
            // What a killed encrypted backup or check left beside the database.
            sweep_abandoned(&raw_dir, RAW_MARKER);
            sweep_abandoned(&raw_dir, RESTORE_MARKER);
        }
        let raw_path = raw_dir.join(format!("{TMP_PREFIX}{}{RAW_MARKER}", reservation.id));
        let (file, writer) = TempFile::create_locked(raw_path.clone())
            .map_err(|e| Error::io(op, "cannot create database copy", &raw_path, e))?;
        let reader = File::open(file.path())
            .map_err(|e| Error::io(op, "cannot open database copy", file.path(), e))?;
        let data_path = reservation.data_tmp.path();
        let out = reservation
            .file
            .try_clone()
            .map_err(|e| Error::io(op, "cannot open backup file", data_path, e))?;
        Ok(RawCopy {
            file,
            writer,
            reader,
            out,
        })
    }

    /// How this backup is compressed into `data_path`.
    fn compress_job<'p>(&self, data_path: &'p std::path::Path) -> CompressJob<'p> {
        let cfg = self.ctx.cfg;
        CompressJob {
            out_path: data_path,
            compression: cfg.compression,
            level: cfg.effective_level(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            // Hashing the raw bytes pays only when a full check will vouch for them.
            hash_raw: cfg.verify_after_backup == Some(VerifyLevel::Full),
        }
    }

    /// The source streams its image (a PostgreSQL dump) straight into the compressor on
    /// its own thread: no plaintext copy is written to disk.
    fn stream_and_compress(
        &self,
        reservation: &Reservation,
        encryptor: Option<age::Encryptor>,
    ) -> Result<Written> {
        let op = Operation::Backup;
        let data_path = reservation.data_tmp.path();
        let out = reservation
            .file
            .try_clone()
            .map_err(|e| Error::io(op, "cannot open backup file", data_path, e))?;
        let feed = RawFeed::with_cancel(self.cancel.flag.clone());
        let progress = Progress::new(self.ctx, &reservation.id, self.progress);
        // A few chunks in flight: memory stays flat whatever the database's size.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let send_failed = std::cell::Cell::new(false);
        let mut reader = StreamReader {
            rx,
            pending: Vec::new(),
            pos: 0,
        };
        let job = self.compress_job(data_path);
        let (info, compressed) = std::thread::scope(|s| {
            let compressor = s.spawn(|| {
                crate::pipeline::priority::lower_current_thread();
                compress(&job, &mut reader, out, encryptor, &mut |done| {
                    progress.report(done)
                })
            });
            let mut send = |chunk: &[u8]| {
                tx.send(chunk.to_vec()).map_err(|_| {
                    send_failed.set(true);
                    Error::new(
                        ErrorKind::Io,
                        op,
                        "the compressor stopped; nothing was kept",
                    )
                })
            };
            let streamed = self
                .source
                .snapshot_stream(&mut send, &feed, &mut |info| progress.start(info));
            drop(tx);
            let compressed = joined(compressor);
            (streamed, compressed)
        });
        // When the compressor stopped first (a full disk, say), its error says why; the
        // source's error then only says its send failed. Otherwise the source's error
        // comes first (a short stream is never kept: its end came from the failure).
        let compressed = match compressed {
            Err(e) if send_failed.get() => return Err(e),
            c => c,
        };
        let info = info?;
        self.source_copied();
        let compressed = compressed?;
        if compressed.raw_bytes != info.raw_size {
            return Err(Error::new(
                ErrorKind::Io,
                op,
                format!(
                    "compressed {} bytes of a {}-byte dump",
                    compressed.raw_bytes, info.raw_size
                ),
            ));
        }
        Ok(Written {
            info,
            compressed,
            raw_check: None,
            pages: None,
        })
    }

    fn manifest(&self, id: &str, info: &SnapshotInfo, compressed: &Compressed) -> Manifest {
        let cfg = self.ctx.cfg;
        let encryption = encryption_facts(cfg);
        let mut requires = Vec::new();
        if encryption.is_some() {
            requires.push(REQUIRES_AGE.to_string());
        }
        if info.postgres.is_some() {
            requires.push(REQUIRES_POSTGRES.to_string());
        }
        Manifest {
            format: FORMAT,
            requires,
            id: id.to_string(),
            kind: self.req.kind,
            label: self.req.label.clone(),
            created_at: self.created_at,
            database: self.source.location().to_string_lossy().into_owned(),
            file: crate::model::backup_id::data_name(
                id,
                cfg.compression,
                encryption.is_some(),
                if info.postgres.is_some() {
                    Content::Postgres
                } else {
                    Content::Sqlite
                },
            ),
            compression: cfg.compression,
            compression_level: if cfg.compression == Compression::None {
                0
            } else {
                cfg.effective_level()
            },
            size_bytes: compressed.size_bytes,
            sha256: compressed.sha256.clone(),
            raw_size_bytes: info.raw_size,
            raw_sha256: None,
            // The manifest's source fields keep SQLite's names (format 1).
            page_size: info.unit_size as u32,
            page_count: info.units,
            user_version: info.schema_version,
            journal_mode: info.mode.clone(),
            sqlite_version: info.engine_version.clone(),
            incremental: None,
            full_because: None,
            postgres: info.postgres.clone(),
            sqlkeep_version: crate::VERSION.to_string(),
            duration_ms: 0,
            copy_ms: info.copy_ms,
            verification: None,
            encryption,
            last_restored_at: None,
            extra: Default::default(),
        }
    }

    /// The check of a streamed backup's written file at `level`, read back from disk
    /// under its temporary name into a scratch copy: quick reads the archive's table of
    /// contents, full restores it and compares what the snapshot recorded.
    fn check_streamed(
        &self,
        data_path: &std::path::Path,
        m: &Manifest,
        level: VerifyLevel,
    ) -> Result<()> {
        let probe = probe_of(data_path, m);
        let scratch = self.ctx.plaintext_dir(m.is_encrypted());
        match materialize(
            self.store,
            &probe,
            &scratch,
            level,
            FullCheck::Always,
            &self.ctx.keys(),
        )? {
            Ok(_) => Ok(()),
            Err(damage) => Err(new_backup_damaged(&damage)),
        }
    }

    /// Quick check of the written file, read back from disk under its temporary name,
    /// combined with the full check of the raw copy.
    fn check_written(
        &self,
        data_path: &std::path::Path,
        m: &Manifest,
        raw_check: Option<Verdict>,
    ) -> Result<()> {
        let probe = probe_of(data_path, m);
        let verdict = match check_stream(self.store.get(&probe)?, &probe, None, &self.ctx.keys())? {
            Ok(()) => raw_check.unwrap_or(Ok(())),
            Err(damage) => Err(damage),
        };
        verdict.map_err(|damage| new_backup_damaged(&damage))
    }
}

/// The compressor's result; a panic in it is an error, never a kept backup.
fn joined(compressor: std::thread::ScopedJoinHandle<'_, Result<Compressed>>) -> Result<Compressed> {
    compressor.join().unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Io,
            Operation::Backup,
            "the compressor thread failed unexpectedly; nothing was kept",
        ))
    })
}

/// The public facts of how `cfg` encrypts new backups.
pub(crate) fn encryption_facts(cfg: &crate::config::Config) -> Option<Encrypted> {
    cfg.encryption.as_ref().map(|e| match e {
        Encryption::Recipients { recipients, .. } => Encrypted {
            format: REQUIRES_AGE.to_string(),
            recipients: recipients.clone(),
            passphrase_env: None,
        },
        Encryption::Passphrase { passphrase_env } => Encrypted {
            format: REQUIRES_AGE.to_string(),
            recipients: Vec::new(),
            passphrase_env: Some(passphrase_env.clone()),
        },
    })
}

/// How the pages of an incremental backup are compressed: zstd whatever `compression`
/// says (a page file is read by sqlkeep or the FORMAT.md recipe, not by `gunzip`).
const PIECE_COMPRESSION: Compression = Compression::Zstd;
const PIECE_LEVEL: u32 = 3;

/// The page hashes (and image hash) of a finished raw copy; `None` if it is not whole
/// pages (the next backup is then a full one).
fn hash_pages(raw: &File, size: u64, page_size: u64) -> Option<PagesDone> {
    let scanned = pages::scan(raw, size, page_size as u32, None, false, &mut |_| Ok(())).ok()?;
    Some(PagesDone {
        hashes: scanned.hashes,
        image_sha256: scanned.image_sha256,
        parent: None,
        stored: 0,
        fell_back: false,
    })
}

/// The detail of the check after an incremental backup.
fn incremental_detail(
    level: VerifyLevel,
    m: &Manifest,
    own: &ChainLink,
    decrypted: bool,
) -> String {
    let age = match (m.is_encrypted(), decrypted) {
        (false, _) => "",
        (true, true) => "age ok, ",
        (true, false) => "age header ok (not decrypted: no key on this machine), ",
    };
    let earlier = m.incremental.as_ref().map_or(0, |i| i.chain.len() - 1);
    let base = format!(
        "sha256 ok, {age}zstd stream of its {} changed pages ok (the {earlier} earlier files of its chain were checked when written)",
        own.pages
    );
    match level {
        VerifyLevel::Quick => base,
        VerifyLevel::Full => format!(
            "{base}, {} ok on the image, {}",
            m.full_check_name(),
            m.image_summary()
        ),
    }
}

/// `m` describing the data file at its temporary path.
fn probe_of(data_path: &std::path::Path, m: &Manifest) -> Manifest {
    let mut probe = m.clone();
    probe.file = data_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    probe
}

fn new_backup_damaged(damage: &crate::model::verdict::Damage) -> Error {
    Error::corrupt(
        Operation::Backup,
        format!("the new backup failed verification: {damage}"),
    )
    .with_hint("nothing was kept; check the disk and memory of this machine and try again")
}

/// Progress of one backup, reported from the compressor thread as raw bytes are
/// compressed: at most ~200 reports per backup, and always the end.
struct Progress<'a, 'c> {
    ctx: &'a Ctx<'c>,
    id: &'a str,
    callback: Option<ProgressFn<'a>>,
    unit_size: AtomicU64,
    units: AtomicU64,
    last_reported: AtomicU64,
    /// Set when the caller's callback panicked: it is not called again.
    callback_failed: std::sync::atomic::AtomicBool,
}

impl<'a, 'c> Progress<'a, 'c> {
    fn new(ctx: &'a Ctx<'c>, id: &'a str, callback: Option<ProgressFn<'a>>) -> Self {
        Progress {
            ctx,
            id,
            callback,
            unit_size: AtomicU64::new(0),
            units: AtomicU64::new(0),
            last_reported: AtomicU64::new(u64::MAX),
            callback_failed: Default::default(),
        }
    }

    fn start(&self, info: &SnapshotInfo) {
        self.unit_size.store(info.unit_size, Ordering::Relaxed);
        self.units.store(info.units, Ordering::Relaxed);
    }

    fn report(&self, done_bytes: u64) {
        let unit = self.unit_size.load(Ordering::Relaxed).max(1);
        let total = self.units.load(Ordering::Relaxed);
        let done = (done_bytes / unit).min(total);
        let step = (total / 200).max(1);
        let prev = self.last_reported.load(Ordering::Relaxed);
        if prev != u64::MAX && done < total && done / step == prev / step {
            return;
        }
        self.last_reported.store(done, Ordering::Relaxed);
        if let Some(p) = self.callback {
            // The caller's code on our compressor thread: a panic in it must not take
            // the backup down (observers are contained the same way).
            if !self.callback_failed.load(Ordering::Relaxed)
                && catch_unwind(AssertUnwindSafe(|| p(done, total))).is_err()
            {
                self.callback_failed.store(true, Ordering::Relaxed);
            }
        }
        self.ctx.emit(Event::Progress {
            time: self.ctx.now(),
            id: self.id.to_string(),
            done_pages: done,
            total_pages: total,
        });
    }
}
