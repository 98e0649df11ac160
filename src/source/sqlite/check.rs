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
    let mismatch = |what, actual: String, expected: String| {
        Ok(Err(Damage::Mismatch {
            what,
            actual,
            expected,
        }))
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
        if page_count > 0 && ps != page_size {
            return mismatch("page size", ps.to_string(), page_size.to_string());
        }
        if pc != page_count {
            return mismatch("page count", pc.to_string(), page_count.to_string());
        }
        if uv != user_version {
            return mismatch("user_version", uv.to_string(), user_version.to_string());
        }
        Ok(Ok(()))
    })();
    Ok(checked.unwrap_or_else(|e| Err(Damage::DatabaseUnreadable(e.to_string()))))
}
