//! A consistent raw copy of a live database, holding its lock no longer than the copy.
//!
//! The copy runs inside one read transaction on a private connection, so it is the
//! database as of one commit however many writers keep writing:
//! - WAL mode: readers never block writers, so SQLite's online backup API copies the
//!   pages (WAL content included) while writers go on; holding our own read transaction
//!   across `backup_step` calls keeps the snapshot fixed, so the copy never restarts.
//! - Rollback-journal modes: the read transaction holds SQLite's SHARED lock, which
//!   makes writers wait at commit. To keep that wait short the pages are read straight
//!   from the database file, through SQLite's own open file handle (the VFS `xRead` of
//!   the `sqlite3_file` that `SQLITE_FCNTL_FILE_POINTER` returns) and written to the raw
//!   copy sequentially, at the speed of a file copy. Reading through SQLite's handle
//!   instead of opening the file again matters: closing a second descriptor of the
//!   database would silently drop every POSIX lock this process holds on it.
//!
//! The source is never written: the connection is `query_only`, and it does not
//! checkpoint the WAL when it closes.

use super::wal::{self, WalFrames};
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::pipeline::feed::RawFeed;
use crate::source::SnapshotInfo;
use rusqlite::{ffi, Connection, OpenFlags};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// How long the copy waits for a writer that holds the database's write lock.
pub const SOURCE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Facts about the source, read inside the snapshot's transaction.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub page_size: u32,
    pub page_count: u64,
    pub user_version: i64,
    pub journal_mode: String,
    /// How long the read transaction was open: in rollback-journal modes, how long
    /// writers had to wait at commit.
    pub copy_ms: u64,
    /// How the pages were read: the tests' proof that the WAL path ran (both paths give
    /// the same image, so nothing else needs it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub copied_by: CopiedBy,
}

/// How a snapshot's pages were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopiedBy {
    /// From the database file through SQLite's handle; in WAL mode, with this many pages
    /// laid over it from the WAL (`wal_pages` is None in rollback-journal modes).
    File { wal_pages: Option<usize> },
    /// WAL mode, through SQLite's backup API, for the reason given.
    BackupApi(String),
}

impl SourceInfo {
    /// Bytes of the database image.
    pub fn raw_size(&self) -> u64 {
        self.page_size as u64 * self.page_count
    }

    /// The facts as the source seam reports them.
    pub fn summary(&self) -> SnapshotInfo {
        SnapshotInfo {
            raw_size: self.raw_size(),
            unit_size: self.page_size as u64,
            units: self.page_count,
            copy_ms: self.copy_ms,
            schema_version: self.user_version,
            mode: self.journal_mode.to_lowercase(),
            engine_version: rusqlite::version().to_string(),
            postgres: None,
        }
    }
}

/// Opens the source for reading without ever writing to it.
pub fn open_source(db: &Path) -> Result<Connection> {
    let op = Operation::Backup;
    if !db.exists() {
        return Err(
            Error::not_found(op, format!("database {} does not exist", db.display()))
                .with_hint("check the `database` setting"),
        );
    }
    let sqlite_err = |e| Error::sqlite(op, "cannot open database", db, e);
    // Read-write so SQLite can roll back a hot journal left by a crashed writer (what any
    // reader does); query_only makes sure we never write anything ourselves.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = match Connection::open_with_flags(db, flags) {
        Ok(c) => c,
        Err(_) => Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_err)?,
    };
    conn.busy_timeout(SOURCE_BUSY_TIMEOUT).map_err(sqlite_err)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(sqlite_err)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(sqlite_err)?;
    Ok(conn)
}

/// Copies a consistent image of `db` into the new, empty file `raw` and reports each
/// stretch written through `feed` (so compression can follow behind) and `pages_done`.
/// On return the source's lock is released.
pub fn copy_consistent(
    db: &Path,
    raw_path: &Path,
    raw: &mut File,
    feed: &RawFeed,
    info_ready: &mut dyn FnMut(&SourceInfo),
) -> Result<SourceInfo> {
    let op = Operation::Backup;
    let src = open_source(db)?;
    let sqlite_err = |action: &'static str| move |e| Error::sqlite(op, action, db, e);
    prefetch(&src, db, raw_path, raw);
    src.execute_batch("BEGIN")
        .map_err(sqlite_err("cannot begin a read transaction on"))?;
    // The first read takes the snapshot (WAL) or the SHARED lock (rollback modes).
    let read_meta = || -> rusqlite::Result<SourceInfo> {
        src.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
        Ok(SourceInfo {
            page_size: src.pragma_query_value(None, "page_size", |r| r.get(0))?,
            page_count: src.pragma_query_value(None, "page_count", |r| r.get::<_, i64>(0))? as u64,
            user_version: src.pragma_query_value(None, "user_version", |r| r.get(0))?,
            journal_mode: src.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
            copy_ms: 0,
            copied_by: CopiedBy::File { wal_pages: None },
        })
    };
    let mut locked_at = std::time::Instant::now();
    let mut info = read_meta().map_err(sqlite_err("cannot read"))?;
    let wal = info.journal_mode.eq_ignore_ascii_case("wal");
    let mut through = Ok(None);
    if wal {
        let file = DbFile::of(&src, db)?;
        let (open, plan) = pin_wal_snapshot(&src, &file, &read_meta, (locked_at, info))
            .map_err(sqlite_err("cannot take a read snapshot of"))?;
        (locked_at, info) = open;
        through = plan;
    }
    let copied_by = match &through {
        Ok(frames) => CopiedBy::File {
            wal_pages: wal.then(|| frames.as_ref().map_or(0, WalFrames::pages)),
        },
        Err(why) => CopiedBy::BackupApi(why.clone()),
    };
    info_ready(&info);
    let copied = match through {
        Ok(frames) => copy_through_vfs(&src, db, raw_path, raw, feed, &info, frames.as_ref()),
        Err(_) => {
            // Empty unless the database switched to WAL since the prefetch wrote its
            // image: the backup API wants an empty destination.
            raw.set_len(0)
                .map_err(|e| Error::io(op, "cannot write database copy", raw_path, e))?;
            copy_with_backup_api(&src, db, raw_path, feed, &info)
        }
    };
    // Ending the read transaction releases the snapshot / SHARED lock.
    let _ = src.execute_batch("COMMIT");
    let copy_ms = locked_at.elapsed().as_millis() as u64;
    drop(src);
    copied?;
    feed.finish(info.raw_size());
    Ok(SourceInfo {
        copy_ms,
        copied_by,
        ..info
    })
}

/// The main database file of a connection, read through SQLite's own open handle (the
/// VFS `xRead` of the `sqlite3_file` that `SQLITE_FCNTL_FILE_POINTER` returns), never
/// through a second descriptor whose `close` would drop SQLite's POSIX locks.
struct DbFile<'c> {
    file: *mut ffi::sqlite3_file,
    x_read: unsafe extern "C" fn(*mut ffi::sqlite3_file, *mut std::ffi::c_void, i32, i64) -> i32,
    x_file_size: Option<unsafe extern "C" fn(*mut ffi::sqlite3_file, *mut i64) -> i32>,
    _conn: std::marker::PhantomData<&'c Connection>,
}

impl<'c> DbFile<'c> {
    fn of(src: &'c Connection, db: &Path) -> Result<DbFile<'c>> {
        let op = Operation::Backup;
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: FILE_POINTER writes the main database's sqlite3_file* into `file`; it
        // stays valid while the connection is open, which the lifetime 'c ties us to.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                src.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return Err(Error::new(
                ErrorKind::Sqlite,
                op,
                format!("cannot get the file handle of {}", db.display()),
            ));
        }
        // SAFETY: an open sqlite3_file has its io methods set.
        let methods = unsafe { &*(*file).pMethods };
        let x_read = methods
            .xRead
            .ok_or_else(|| Error::new(ErrorKind::Sqlite, op, "the database's VFS has no xRead"))?;
        Ok(DbFile {
            file,
            x_read,
            x_file_size: methods.xFileSize,
            _conn: std::marker::PhantomData,
        })
    }

    /// Reads `buf.len()` bytes at `offset`; SQLite's result code.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> i32 {
        // SAFETY: `buf` has room for its length; `file` is valid (see `of`).
        unsafe {
            (self.x_read)(
                self.file,
                buf.as_mut_ptr().cast(),
                buf.len() as i32,
                offset as i64,
            )
        }
    }

    /// Reads the first `total` bytes in chunks of [`COPY_CHUNK`], in order, handing each
    /// to `sink` with its offset; stops at the first failed read or failed `sink`.
    ///
    /// In WAL mode the file may end before the snapshot's last page, whose newest
    /// version is then in the WAL: `past_end` accepts reads beyond the end (SQLite's VFS
    /// fills them with zeros, as it does for SQLite itself).
    fn each_chunk(
        &self,
        db: &Path,
        total: u64,
        past_end: bool,
        mut sink: impl FnMut(&mut [u8], u64) -> Result<()>,
    ) -> Result<()> {
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut offset = 0u64;
        while offset < total {
            let n = (COPY_CHUNK as u64).min(total - offset) as usize;
            let rc = self.read_at(&mut buf[..n], offset);
            if rc != ffi::SQLITE_OK && !(past_end && rc == ffi::SQLITE_IOERR_SHORT_READ) {
                return Err(Error::new(
                    ErrorKind::Sqlite,
                    Operation::Backup,
                    format!(
                        "reading {} at offset {offset} failed (SQLite code {rc})",
                        db.display()
                    ),
                ));
            }
            sink(&mut buf[..n], offset)?;
            offset += n as u64;
        }
        Ok(())
    }

    /// The first region of the wal-index as SQLite mapped it for this connection (the
    /// VFS `xShmMap` of the same handle, so no second mapping or descriptor), or None
    /// where there is none: not in WAL mode yet, or a VFS without shared memory.
    fn shm_region(&self) -> Option<*const u8> {
        // SAFETY: an open sqlite3_file has its io methods set.
        let methods = unsafe { &*(*self.file).pMethods };
        if methods.iVersion < 2 {
            return None;
        }
        let map = methods.xShmMap?;
        let mut region: *mut std::ffi::c_void = std::ptr::null_mut();
        // SAFETY: `file` is valid; with bExtend 0 xShmMap only returns a region that
        // already exists (32 KiB, SQLite's region size), or null.
        let rc = unsafe { map(self.file, 0, 32 * 1024, 0, &mut region) };
        (rc == ffi::SQLITE_OK && !region.is_null()).then_some(region.cast_const().cast())
    }

    /// The wal-index header as a reader would see it now, and `nBackfill`.
    fn wal_index_header(&self) -> Option<(wal::IndexHeader, u32)> {
        let region = self.shm_region()?;
        // SAFETY: the region is mapped while the connection is open, and 32 KiB long.
        unsafe { wal::read_index_header(region) }
    }

    fn size(&self) -> Option<u64> {
        let mut size = 0i64;
        // SAFETY: `file` is valid; xFileSize writes one i64.
        let rc = unsafe { (self.x_file_size?)(self.file, &mut size) };
        (rc == ffi::SQLITE_OK).then_some(size.max(0) as u64)
    }
}

const COPY_CHUNK: usize = 1 << 20;

/// Reads the whole database file once, before the read transaction, so that the copy
/// under the lock reads from the page cache: a database whose pages were evicted (cold
/// after a night, or reclaimed by the kernel) would otherwise be read from disk while
/// writers wait. No lock is held.
///
/// In rollback-journal modes (byte 18 of the header is 1) the bytes are also written to
/// the raw copy at their offsets, an image that is not consistent and is overwritten
/// under the lock. What that buys is the raw copy's page cache: allocating a gigabyte of
/// fresh pages is slow where the kernel or a hypervisor has taken free memory back
/// (measured on a VM: 3.5-4.2 s per GB, against about 0.3 s when the pages are there),
/// and under the lock writers would wait for it. Overwriting cached pages is a memory
/// copy. WAL databases skip it: their copy blocks no writer.
///
/// Errors only end the prefetch early: the copy under the lock meets them again and
/// reports them.
fn prefetch(src: &Connection, db: &Path, raw_path: &Path, raw: &File) {
    let Ok(f) = DbFile::of(src, db) else { return };
    let Some(size) = f.size() else { return };
    let mut write = false;
    let _ = f.each_chunk(db, size, false, |chunk, offset| {
        if offset == 0 {
            write = chunk.len() > 18 && chunk[18] == 1;
        }
        // pwrite: the file position stays at 0 for the copy under the lock.
        if write {
            crate::platform::write_all_at(raw, chunk, offset).map_err(|e| {
                Error::io(Operation::Backup, "cannot write database copy", raw_path, e)
            })?;
        }
        Ok(())
    });
}

/// Sequential reads of the database file through SQLite's own file handle, inside our
/// read transaction: under the SHARED lock in rollback-journal modes; in WAL mode with
/// the snapshot's WAL pages laid over them (`wal.rs` says why that is the snapshot).
fn copy_through_vfs(
    src: &Connection,
    db: &Path,
    raw_path: &Path,
    raw: &mut File,
    feed: &RawFeed,
    info: &SourceInfo,
    wal: Option<&WalFrames>,
) -> Result<()> {
    let op = Operation::Backup;
    let f = DbFile::of(src, db)?;
    let total = info.raw_size();
    let page_size = info.page_size as u64;
    let in_wal = info.journal_mode.eq_ignore_ascii_case("wal");
    let wal_error = |e| Error::io(op, "cannot read the WAL of", db, e);
    f.each_chunk(db, total, in_wal, |chunk, offset| {
        feed.check()?;
        if let Some(frames) = wal {
            frames
                .overlay(chunk, (offset / page_size + 1) as u32)
                .map_err(wal_error)?;
            // Checked before the chunk is handed on: once published it is compressed.
            if !frames.unchanged().map_err(wal_error)? {
                return Err(Error::new(
                    ErrorKind::Sqlite,
                    op,
                    format!("the WAL of {} was restarted during the copy", db.display()),
                )
                .with_hint("run the backup again"));
            }
        }
        raw.write_all(chunk)
            .map_err(|e| Error::io(op, "cannot write database copy", raw_path, e))?;
        feed.publish(offset + chunk.len() as u64);
        Ok(())
    })?;
    // The prefetch may have written beyond the end if the database shrank since.
    raw.set_len(total)
        .map_err(|e| Error::io(op, "cannot write database copy", raw_path, e))?;
    Ok(())
}

/// How often the snapshot is taken again when a commit lands between the two reads
/// of the wal-index header (a commit takes milliseconds; the window is microseconds).
const PIN_ATTEMPTS: usize = 100;

/// What the WAL path needs besides the open transaction: the frames to lay over the
/// database file (None: the file alone is the snapshot), or why the backup API must copy.
type WalPlan = std::result::Result<Option<WalFrames>, String>;

/// WAL mode, inside the first read transaction (which made SQLite map the wal-index):
/// takes the snapshot again between two reads of the wal-index header until no commit
/// came between them, so the snapshot's end mark is known (`wal.rs`). Returns the open
/// transaction's start and facts with the plan for the copy.
fn pin_wal_snapshot(
    src: &Connection,
    file: &DbFile,
    read_meta: &dyn Fn() -> rusqlite::Result<SourceInfo>,
    first: (std::time::Instant, SourceInfo),
) -> rusqlite::Result<((std::time::Instant, SourceInfo), WalPlan)> {
    if file.shm_region().is_none() {
        return Ok((first, Err("no shared-memory wal-index".to_string())));
    }
    let wal_path = format!("{}-wal", src.path().unwrap_or_default());
    let mut open = first;
    for _ in 0..PIN_ATTEMPTS {
        src.execute_batch("COMMIT")?;
        let before = file.wal_index_header();
        src.execute_batch("BEGIN")?;
        let started = std::time::Instant::now();
        let info = read_meta()?;
        let after = file.wal_index_header();
        let pinned = matches!((&before, &after), (Some((b, _)), Some((a, _))) if a == b);
        open = (started, info);
        if !pinned {
            continue;
        }
        let (header, backfilled) = after.expect("pinned");
        let info = &open.1;
        let plan = if !info.journal_mode.eq_ignore_ascii_case("wal") {
            Err("the database left WAL mode".to_string())
        } else if header.max_frame() == 0 || backfilled >= header.max_frame() {
            // Every frame of the snapshot is in the database file already.
            Ok(None)
        } else if header.page_count() as u64 != info.page_count {
            Err("the wal-index and the transaction disagree on the page count".to_string())
        } else {
            WalFrames::read(Path::new(&wal_path), &header).map(Some)
        };
        return Ok((open, plan));
    }
    Ok((open, Err("the wal-index header kept changing".to_string())))
}

/// Errors of the backup API come from the destination (our copy) unless SQLite says
/// the source could not be read: name the file that failed, with a hint for full disks.
fn copy_error(db: &Path, raw_path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{DiskFull, SystemIoFailure};
    match e.sqlite_error_code() {
        Some(DiskFull) | Some(SystemIoFailure) => {
            Error::sqlite(Operation::Backup, "cannot write the copy of the database to", raw_path, e).with_hint(
                "writing in the backup directory failed: the disk may be full or a file size limit reached; free space or point backup_dir at a larger disk",
            )
        }
        _ => Error::sqlite(Operation::Backup, "cannot copy", db, e),
    }
}

/// WAL mode: SQLite's online backup API into the raw file, in steps, inside our read
/// transaction (so the snapshot cannot move and the copy never restarts).
fn copy_with_backup_api(
    src: &Connection,
    db: &Path,
    raw_path: &Path,
    feed: &RawFeed,
    info: &SourceInfo,
) -> Result<()> {
    let op = Operation::Backup;
    let dst_err = |e| Error::sqlite(op, "cannot write database copy", raw_path, e);
    let mut dst = Connection::open_with_flags(
        raw_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(dst_err)?;
    // The copy is a private temp file: no journal, no syncs (the backup file is synced).
    dst.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-4096;")
        .map_err(dst_err)?;
    {
        let backup = rusqlite::backup::Backup::new(src, &mut dst).map_err(dst_err)?;
        loop {
            feed.check()?;
            match backup.step(4096).map_err(|e| copy_error(db, raw_path, e))? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                // Only our private destination could be busy; it is not shared.
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    dst.close().map_err(|(_, e)| dst_err(e))?;
    // Pages may have been written out of order: the compressor starts only now.
    let len = std::fs::metadata(raw_path)
        .map_err(|e| Error::io(op, "cannot read database copy", raw_path, e))?
        .len();
    if len != info.raw_size() {
        return Err(Error::new(
            ErrorKind::Sqlite,
            op,
            format!(
                "the copy of {} has {len} bytes, expected {}",
                db.display(),
                info.raw_size()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    fn copy(db: &Path, dir: &Path, n: usize) -> (SourceInfo, Connection) {
        let raw_path = dir.join(format!("raw-{n}"));
        let mut raw = File::create(&raw_path).unwrap();
        let info =
            copy_consistent(db, &raw_path, &mut raw, &RawFeed::default(), &mut |_| {}).unwrap();
        drop(raw);
        // Bytes 18-19 say WAL, as in the source; a rollback header keeps the copy alone.
        let mut bytes = std::fs::read(&raw_path).unwrap();
        assert_eq!(bytes.len() as u64, info.raw_size());
        bytes[18] = 1;
        bytes[19] = 1;
        let opened = dir.join(format!("copy-{n}.db"));
        std::fs::write(&opened, bytes).unwrap();
        let c = Connection::open(&opened).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        (info, c)
    }

    fn rows(c: &Connection) -> Vec<(i64, Vec<u8>)> {
        let mut s = c.prepare("SELECT id, v FROM t ORDER BY id").unwrap();
        let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn wal_db(dir: &Path) -> (std::path::PathBuf, Connection) {
        let db = dir.join("live.db");
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);
             CREATE TABLE meta(n INTEGER, bytes INTEGER); INSERT INTO meta VALUES (0, 0);",
        )
        .unwrap();
        (db, c)
    }

    #[test]
    fn wal_copy_lays_the_wal_pages_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (db, c) = wal_db(dir.path());
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO t SELECT i, randomblob(700) FROM n;
             PRAGMA wal_checkpoint(TRUNCATE);
             UPDATE t SET v = randomblob(300) WHERE id % 7 = 0;
             DELETE FROM t WHERE id % 11 = 0;
             WITH RECURSIVE n(i) AS (SELECT 5000 UNION ALL SELECT i + 1 FROM n WHERE i < 5500)
             INSERT INTO t SELECT i, randomblob(900) FROM n;",
        )
        .unwrap();
        // The WAL holds the changes (the connection stays open: no checkpoint on close),
        // and the database file is shorter than the snapshot.
        assert!(
            std::fs::metadata(dir.path().join("live.db-wal"))
                .unwrap()
                .len()
                > 0
        );
        let (info, copied) = copy(&db, dir.path(), 0);
        match &info.copied_by {
            CopiedBy::File { wal_pages: Some(n) } => assert!(*n > 100, "{n} pages from the WAL"),
            other => panic!("copied by {other:?}"),
        }
        assert!(std::fs::metadata(&db).unwrap().len() < info.raw_size());
        assert_eq!(rows(&copied), rows(&c));
        // Nothing was written to the source: the WAL still holds every frame.
        let frames: i64 = c
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap();
        assert!(frames > 0);
    }

    #[test]
    fn a_wal_the_copy_cannot_vouch_for_is_copied_through_sqlite_instead() {
        let dir = tempfile::tempdir().unwrap();
        let (db, c) = wal_db(dir.path());
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT i, randomblob(500) FROM n;",
        )
        .unwrap();
        // Flip a bit of the last frame's checksum: SQLite, reading through the wal-index
        // that the open connection keeps, does not look at it; the copy's own reading
        // of the WAL refuses it and falls back to the backup API.
        let wal = dir.path().join("live.db-wal");
        let mut bytes = std::fs::read(&wal).unwrap();
        let page_size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let page_size = page_size as usize;
        let frames = (bytes.len() - 32) / (24 + page_size);
        assert!(frames > 100);
        let last = 32 + (frames - 1) * (24 + page_size);
        bytes[last + 16] ^= 0x01;
        std::fs::write(&wal, &bytes).unwrap();
        let (info, copied) = copy(&db, dir.path(), 0);
        match &info.copied_by {
            CopiedBy::BackupApi(why) => assert!(why.contains("checksum"), "{why}"),
            other => panic!("copied by {other:?}"),
        }
        assert_eq!(rows(&copied).len(), 2000);
        assert_eq!(rows(&copied), rows(&c));
    }

    #[test]
    fn wal_copies_under_a_committing_and_checkpointing_writer_are_committed_states() {
        let dir = tempfile::tempdir().unwrap();
        let (db, c) = wal_db(dir.path());
        drop(c);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let w = Connection::open(&db).unwrap();
                w.busy_timeout(Duration::from_secs(5)).unwrap();
                // Frequent checkpoints and WAL restarts while the copies run.
                w.execute_batch("PRAGMA wal_autocheckpoint=20; PRAGMA synchronous=OFF;")
                    .unwrap();
                let mut i = 0i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let len = 200 + (i * 37) % 3000;
                    w.execute_batch("BEGIN IMMEDIATE").unwrap();
                    w.execute("INSERT INTO t VALUES (?1, randomblob(?2))", params![i, len])
                        .unwrap();
                    w.execute(
                        "UPDATE t SET v = randomblob(100) WHERE id = ?1",
                        params![i / 2],
                    )
                    .unwrap();
                    w.execute(
                        "UPDATE meta SET n = n + 1, bytes = bytes + ?1",
                        params![len],
                    )
                    .unwrap();
                    w.execute_batch("COMMIT").unwrap();
                    std::thread::sleep(Duration::from_micros(300));
                }
                i
            })
        };
        let mut from_wal = 0;
        let mut last = 0;
        for n in 0..15 {
            let (info, copied) = copy(&db, dir.path(), n);
            let CopiedBy::File {
                wal_pages: Some(pages),
            } = info.copied_by
            else {
                panic!("copy {n} by {:?}", info.copied_by);
            };
            from_wal += (pages > 0) as usize;
            // One commit's state: the counter agrees with the rows, and time goes forward.
            let (count, max): (i64, i64) = copied
                .query_row("SELECT count(*), coalesce(max(id), 0) FROM t", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            let recorded: i64 = copied
                .query_row("SELECT n FROM meta", [], |r| r.get(0))
                .unwrap();
            assert_eq!((count, max), (recorded, recorded), "copy {n}");
            assert!(recorded >= last, "copy {n} went back in time");
            last = recorded;
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert!(
            written > last && last > 0,
            "{written} commits, last copy saw {last}"
        );
        assert!(from_wal > 0, "no copy read pages from the WAL");
    }
}
