//! Checking a SQLite image: it opens, `PRAGMA integrity_check` says ok, and page size,
//! page count and `user_version` are what the manifest recorded.

use crate::error::Result;
use crate::model::verdict::{Damage, Verdict};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Opens the database at `path` and runs `PRAGMA integrity_check`, comparing page size,
/// page count and `user_version` with what was recorded. Read-only: at backup time the
/// compressor may still be reading the same file, which must not change under it.
pub(crate) fn check_database(
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
        Err(e) => return Ok(Err(Damage::DoesNotOpen(e.to_string()))),
    };
    let checked = (|| -> rusqlite::Result<Verdict> {
        let mut stmt = conn.prepare("PRAGMA integrity_check(20)")?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        if problems != ["ok"] {
            return Ok(Err(Damage::Integrity(problems)));
        }
        let ps: u32 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let pc = conn.pragma_query_value(None, "page_count", |r| r.get::<_, i64>(0))? as u64;
        let uv: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(compare((ps, pc, uv), (page_size, page_count, user_version)))
    })();
    Ok(checked.unwrap_or_else(|e| Err(Damage::DatabaseUnreadable(e.to_string()))))
}

/// Compares the page size, page count and `user_version` found with those recorded.
fn compare(found: (u32, u64, i64), recorded: (u32, u64, i64)) -> Verdict {
    let ((ps, pc, uv), (page_size, page_count, user_version)) = (found, recorded);
    let mismatch = |what, actual: String, expected: String| {
        Err(Damage::Mismatch {
            what,
            actual,
            expected,
        })
    };
    if page_count > 0 && ps != page_size {
        return mismatch("page size", ps.to_string(), page_size.to_string());
    }
    if pc != page_count {
        return mismatch("page count", pc.to_string(), page_count.to_string());
    }
    if uv != user_version {
        return mismatch("user_version", uv.to_string(), user_version.to_string());
    }
    Ok(())
}

/// Compares what the image's 100-byte header says (page size, `user_version`; the page
/// count from the file's length) with what was recorded, without opening it as a
/// database. For an image proven by its raw hash: its bytes are the checked ones, but the
/// manifest that describes them may itself be damaged, and a manifest that does not match
/// its backup must be reported, not trusted.
pub(crate) fn check_header(
    path: &Path,
    page_size: u32,
    page_count: u64,
    user_version: i64,
) -> Result<Verdict> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| Damage::DatabaseUnreadable(e.to_string());
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Ok(Err(unreadable(e))),
    };
    let len = match f.metadata() {
        Ok(md) => md.len(),
        Err(e) => return Ok(Err(unreadable(e))),
    };
    if len == 0 {
        return Ok(compare(
            (page_size, 0, 0),
            (page_size, page_count, user_version),
        ));
    }
    let mut header = [0u8; 100];
    if let Err(e) = f.read_exact(&mut header) {
        return Ok(Err(unreadable(e)));
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Ok(Err(Damage::DoesNotOpen(
            "the image does not start with the SQLite header".to_string(),
        )));
    }
    // Offset 16: the page size, big-endian, where 1 means 65536 (file format spec 1.3.2).
    let ps = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u32::from(n),
    };
    if ps < 512 || !ps.is_power_of_two() {
        return Ok(Err(Damage::DoesNotOpen(format!(
            "the image's header gives an invalid page size {ps}"
        ))));
    }
    // Offset 60: the user version, a big-endian 32-bit signed integer.
    let uv = i64::from(i32::from_be_bytes([
        header[60], header[61], header[62], header[63],
    ]));
    Ok(compare(
        (ps, len / u64::from(ps), uv),
        (page_size, page_count, user_version),
    ))
}
