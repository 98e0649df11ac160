//! Checking backups.
//!
//! - quick: the data is there, its SHA-256 matches the manifest, the compressed stream
//!   decodes to the end with valid checksums (gzip CRC-32 per member, zstd content
//!   checksum) and yields exactly `raw_size_bytes`.
//! - full: quick, then the decompressed image passes its source's check (SQLite: opens,
//!   `PRAGMA integrity_check` ok, page size, page count and `user_version` match).
//!
//! A damaged backup is not an error here: it is a [`Verification`] with `ok: false` and
//! the reason. Errors are reserved for not being able to check at all (no space for the
//! temporary copy, say).

use crate::config::VerifyLevel;
use crate::context::Ctx;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::events::Event;
use crate::model::manifest::{Manifest, Verification};
use crate::model::verdict::{Damage, Verdict};
use crate::pipeline::compress::decoder;
use crate::pipeline::hash::HashingReader;
use crate::source::Source;
use crate::storage::local::atomic_file::{temp_path, TempFile};
use crate::storage::local::lock::DirLock;
use crate::storage::local::store::Store;
use crate::storage::{Blob, Storage};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Streams a backup's data once: checks its size, hashes it, decodes it, counts the raw
/// bytes, and, when `out` is given, writes the decoded image there.
pub(crate) fn check_stream(
    blob: std::result::Result<Blob, Damage>,
    m: &Manifest,
    mut out: Option<(&mut File, &Path)>,
) -> Result<Verdict> {
    let blob = match blob {
        Ok(b) => b,
        Err(damage) => return Ok(Err(damage)),
    };
    if blob.size != m.size_bytes {
        return Ok(Err(Damage::WrongSize {
            actual: blob.size,
            expected: m.size_bytes,
        }));
    }
    let mut hashing = HashingReader::new(blob.reader);
    let mut raw_bytes = 0u64;
    {
        let damaged = |after_bytes: u64, e: &dyn std::fmt::Display| {
            Ok(Err(Damage::Stream {
                compression: m.compression.as_str(),
                after_bytes,
                reason: e.to_string(),
            }))
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
        Err(e) => {
            return Ok(Err(Damage::Unreadable {
                file: None,
                reason: e.to_string(),
            }))
        }
    };
    if sha != m.sha256 {
        return Ok(Err(Damage::Checksum {
            actual: sha,
            expected: m.sha256.clone(),
        }));
    }
    if raw_bytes != m.raw_size_bytes {
        return Ok(Err(Damage::RawSize {
            actual: raw_bytes,
            expected: m.raw_size_bytes,
        }));
    }
    Ok(Ok(()))
}

/// Part of the name of the temporary decompressed copies (see
/// [`crate::storage::local::atomic_file::sweep_abandoned`]).
pub const RESTORE_MARKER: &str = ".restore";

/// Decompresses `m` from `storage` into a temporary file in `into_dir` and checks it at
/// `level`: quick covers the stream, full adds the source's check of the image. Returns
/// the checked copy, or the damage found.
pub(crate) fn materialize(
    storage: &dyn Storage,
    m: &Manifest,
    into_dir: &Path,
    level: VerifyLevel,
) -> Result<std::result::Result<TempFile, Damage>> {
    let path = temp_path(into_dir, &format!("{}{RESTORE_MARKER}", m.id));
    let (tmp, mut f) = TempFile::create_locked(path.clone())
        .map_err(|e| Error::io(Operation::Verify, "cannot create temporary copy", &path, e))?;
    if let Err(damage) = check_stream(storage.get(m)?, m, Some((&mut f, tmp.path())))? {
        return Ok(Err(damage));
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
        if let Err(damage) = Ctx::source_of(m).check_copy(tmp.path(), m)? {
            return Ok(Err(damage));
        }
    }
    Ok(Ok(tmp))
}

/// Checks backup `m` of the local `store` at `level`; full verification decompresses
/// into a temporary file in the store's folder that is removed afterwards.
pub(crate) fn verify_in(store: &Store, m: &Manifest, level: VerifyLevel) -> Result<Verdict> {
    match level {
        VerifyLevel::Quick => check_stream(store.get(m)?, m, None),
        VerifyLevel::Full => Ok(materialize(store, m, store.dir(), VerifyLevel::Full)?.map(drop)),
    }
}

/// The stream check of a backup in the folder `dir` (fuzzing and tests).
pub fn check_file(dir: &Path, m: &Manifest) -> Result<Verdict> {
    check_stream(Store::new(dir).get(m)?, m, None)
}

/// [`verify_in`] for a backup in the folder `dir` (fuzzing and tests).
pub fn verify_file(dir: &Path, m: &Manifest, level: VerifyLevel) -> Result<Verdict> {
    verify_in(&Store::new(dir), m, level)
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

/// A verification record for `verdict`.
pub(crate) fn verification(
    ctx: &Ctx<'_>,
    level: VerifyLevel,
    m: &Manifest,
    verdict: &Verdict,
) -> Verification {
    Verification {
        level,
        ok: verdict.is_ok(),
        at: ctx.now(),
        detail: match verdict {
            Ok(()) => passed_detail(level, m),
            Err(damage) => damage.to_string(),
        },
    }
}

fn emit_finished(ctx: &Ctx<'_>, id: &str, v: &Verification) {
    ctx.emit(Event::VerifyFinished {
        time: v.at,
        id: id.to_string(),
        level: v.level,
        ok: v.ok,
        detail: v.detail.clone(),
    });
}

/// Checks backup `id`; a damaged backup (or one without manifest) gives `ok: false` with
/// the reason, an unknown id gives `NotFound`. The result is written into the manifest
/// and the log.
pub(crate) fn verify(ctx: &Ctx<'_>, id: &str, level: VerifyLevel) -> Result<Verification> {
    let store = ctx.store();
    let _lock = DirLock::shared(store.dir(), Operation::Verify)?;
    let mut m = match store.load(id) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::Corrupt => {
            let v = Verification {
                level,
                ok: false,
                at: ctx.now(),
                detail: Damage::Manifest(e.message().to_string()).to_string(),
            };
            emit_finished(ctx, id, &v);
            return Ok(v);
        }
        Err(e) => return Err(e),
    };
    let verdict = verify_in(&store, &m, level)?;
    let v = verification(ctx, level, &m, &verdict);
    m.verification = Some(v.clone());
    // The manifest may have been deleted meanwhile only by a rotation, which our shared
    // lock excludes; a write failure is reported.
    store.save_manifest(&m, Operation::Verify)?;
    emit_finished(ctx, id, &v);
    Ok(v)
}

/// Checks every backup, broken ones included; `(id, result)` newest first.
pub(crate) fn verify_all(ctx: &Ctx<'_>, level: VerifyLevel) -> Result<Vec<(String, Verification)>> {
    // Held across listing and checking, so a rotation cannot delete a listed backup
    // half-way (shared locks do not exclude each other: the per-backup lock is taken as
    // well).
    let _lock = DirLock::shared(&ctx.cfg.backup_dir, Operation::Verify)?;
    let (good, broken) = ctx.store().scan()?;
    let ids = good
        .iter()
        .map(|m| &m.id)
        .chain(broken.iter().map(|b| &b.id));
    ids.map(|id| Ok((id.clone(), verify(ctx, id, level)?)))
        .collect()
}
