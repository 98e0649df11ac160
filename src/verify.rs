//! Checking backups.
//!
//! - quick: the file exists, its SHA-256 matches the manifest, the compressed stream
//!   decodes to the end with valid checksums (gzip CRC-32 per member, zstd content
//!   checksum) and yields exactly `raw_size_bytes`.
//! - full: quick, then the decompressed database opens in SQLite, `PRAGMA
//!   integrity_check` says ok, and page size, page count and `user_version` match.
//!
//! A damaged backup is not an error here: it is a [`Verification`] with `ok: false` and
//! the reason. Errors are reserved for not being able to check at all (no space for the
//! temporary copy, say).

use crate::atomic_file::{temp_path, TempFile};
use crate::compress::{decoder, HashingReader};
use crate::config::VerifyLevel;
use crate::error::{Error, Operation, Result};
use crate::manifest::Manifest;
use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// A check's verdict: `Err(reason)` when the backup is damaged.
pub type Verdict = std::result::Result<(), String>;

/// Streams the backup file once: hashes it, decodes it, counts the raw bytes, and, when
/// `out` is given, writes the decoded database there. `Ok(Err(reason))` means corrupt.
pub fn check_stream(
    dir: &Path,
    m: &Manifest,
    mut out: Option<(&mut File, &Path)>,
) -> Result<Verdict> {
    let path = dir.join(&m.file);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Err(format!("backup file {} is missing", m.file)))
        }
        Err(e) => return Ok(Err(format!("backup file {} cannot be read: {e}", m.file))),
    };
    let size = file.metadata().map(|md| md.len()).unwrap_or(0);
    if size != m.size_bytes {
        return Ok(Err(format!(
            "backup file has {size} bytes, the manifest says {} (truncated or damaged)",
            m.size_bytes
        )));
    }
    let mut hashing = HashingReader::new(file);
    let mut raw_bytes = 0u64;
    {
        let damaged = |raw_bytes: u64, e: &dyn std::fmt::Display| {
            Ok(Err(format!(
                "{} stream is damaged after {raw_bytes} bytes: {e}",
                m.compression.as_str()
            )))
        };
        let mut dec = match decoder(&mut hashing, m.compression) {
            Ok(d) => d,
            Err(e) => return damaged(0, &e),
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match dec.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return damaged(raw_bytes, &e),
            };
            raw_bytes += n as u64;
            if raw_bytes > m.raw_size_bytes {
                return damaged(raw_bytes, &"more data than the manifest records");
            }
            if let Some((f, p)) = out.as_mut() {
                f.write_all(&buf[..n]).map_err(|e| {
                    Error::io(Operation::Verify, "cannot write decompressed copy", p, e)
                })?;
            }
        }
    }
    let (_, sha) = match hashing.finish() {
        Ok(x) => x,
        Err(e) => return Ok(Err(format!("backup file cannot be read: {e}"))),
    };
    if sha != m.sha256 {
        return Ok(Err(format!(
            "SHA-256 mismatch: file has {sha}, manifest says {} (the file changed or is damaged)",
            m.sha256
        )));
    }
    if raw_bytes != m.raw_size_bytes {
        return Ok(Err(format!(
            "decompressed to {raw_bytes} bytes, the manifest says {}",
            m.raw_size_bytes
        )));
    }
    Ok(Ok(()))
}

/// Opens the database at `path` and runs `PRAGMA integrity_check`, comparing page size,
/// page count and `user_version` with what was recorded. Read-only: at backup time the
/// compressor may still be reading the same file, which must not change under it.
pub fn check_database(
    path: &Path,
    page_size: u32,
    page_count: u64,
    user_version: i64,
) -> Result<Verdict> {
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => return Ok(Err(format!("the database does not open: {e}"))),
    };
    let checked = (|| -> rusqlite::Result<Verdict> {
        let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        if problems != ["ok"] {
            return Ok(Err(format!("integrity_check: {}", problems.join("; "))));
        }
        let ps: u32 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let pc = conn.pragma_query_value(None, "page_count", |r| r.get::<_, i64>(0))? as u64;
        let uv: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if page_count > 0 && ps != page_size {
            return Ok(Err(format!(
                "page size is {ps}, the manifest says {page_size}"
            )));
        }
        if pc != page_count {
            return Ok(Err(format!(
                "page count is {pc}, the manifest says {page_count}"
            )));
        }
        if uv != user_version {
            return Ok(Err(format!(
                "user_version is {uv}, the manifest says {user_version}"
            )));
        }
        Ok(Ok(()))
    })();
    Ok(checked.unwrap_or_else(|e| Err(format!("SQLite cannot read the database: {e}"))))
}

/// Part of the name of the temporary decompressed copies (see
/// [`crate::atomic_file::sweep_abandoned`]).
pub const RESTORE_MARKER: &str = ".restore";

/// Decompresses `m` into a temporary file in `into_dir` and checks it at `level`:
/// quick covers the stream, full adds the database checks. Returns the checked copy, or
/// the reason the backup is damaged.
pub fn materialize(
    dir: &Path,
    m: &Manifest,
    into_dir: &Path,
    level: VerifyLevel,
) -> Result<std::result::Result<TempFile, String>> {
    let path = temp_path(into_dir, &format!("{}{RESTORE_MARKER}", m.id));
    let (tmp, mut f) = TempFile::create_locked(path.clone())
        .map_err(|e| Error::io(Operation::Verify, "cannot create temporary copy", &path, e))?;
    if let Err(reason) = check_stream(dir, m, Some((&mut f, tmp.path())))? {
        return Ok(Err(reason));
    }
    f.sync_all().map_err(|e| {
        Error::io(
            Operation::Verify,
            "cannot write decompressed copy",
            tmp.path(),
            e,
        )
    })?;
    drop(f);
    if level == VerifyLevel::Full {
        if let Err(reason) = check_database(tmp.path(), m.page_size, m.page_count, m.user_version)?
        {
            return Ok(Err(reason));
        }
    }
    Ok(Ok(tmp))
}

/// Checks backup `m` in `dir` at `level`; full verification decompresses into a temporary
/// file in `dir` that is removed afterwards.
pub fn verify(dir: &Path, m: &Manifest, level: VerifyLevel) -> Result<Verdict> {
    match level {
        VerifyLevel::Quick => check_stream(dir, m, None),
        VerifyLevel::Full => Ok(materialize(dir, m, dir, VerifyLevel::Full)?.map(drop)),
    }
}

/// The detail text of a passed check.
pub fn passed_detail(level: VerifyLevel, m: &Manifest) -> String {
    match level {
        VerifyLevel::Quick => format!(
            "sha256 ok, {} stream ok, {} bytes",
            m.compression.as_str(),
            m.raw_size_bytes
        ),
        VerifyLevel::Full => format!(
            "sha256 ok, {} stream ok, integrity_check ok, {} pages of {} bytes, user_version {}",
            m.compression.as_str(),
            m.page_count,
            m.page_size,
            m.user_version
        ),
    }
}
