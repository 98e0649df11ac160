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
use crate::ops::chain;
use crate::ops::stream::check_stream;
use crate::pipeline::encrypt::Keys;
use crate::storage::local::atomic_file::{temp_path, TempFile};
use crate::storage::local::lock::DirLock;
use crate::storage::local::store::Store;
use crate::storage::Storage;
use std::path::Path;

/// Part of the name of the temporary decompressed copies (see
/// [`crate::storage::local::atomic_file::sweep_abandoned`]).
pub const RESTORE_MARKER: &str = ".restore";

/// Whether a full check may rest on the image hash recorded at backup time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FullCheck {
    /// Run the source's check whatever the manifest records (verify, test restores,
    /// paranoid restores).
    Always,
    /// Skip the source's check when the decoded bytes hash to the manifest's
    /// `raw_sha256`: they are then the very image that passed it when the backup was made.
    UnlessProven,
}

/// A decoded and checked copy.
pub(crate) struct Materialized {
    pub file: TempFile,
    /// The source's check was not run again: the raw hash proved the image (see
    /// [`FullCheck::UnlessProven`]).
    pub proven: bool,
}

/// The fully checked image of backup `id` (the check proved by the recorded image hash
/// where there is one), in a temporary file beside the data it stands for; damage is a
/// `Corrupt` error for `op` whose message ends with `refused` ("it was not compared").
pub(crate) fn checked_image(
    ctx: &Ctx<'_>,
    store: &Store,
    id: &str,
    op: Operation,
    refused: &str,
) -> Result<TempFile> {
    let m = store.load(id).map_err(|e| e.during(op))?;
    let checked = materialize(
        store,
        &m,
        &ctx.scratch_dir(&m),
        VerifyLevel::Full,
        FullCheck::UnlessProven,
        &ctx.keys(),
    )
    .map_err(|e| e.during(op))?;
    checked.map(|c| c.file).map_err(|damage| {
        Error::corrupt(op, format!("backup {id} is damaged ({damage}); {refused}"))
            .with_hint("`sqlkeep verify --all` checks every backup")
    })
}

/// Decrypts and decompresses `m` from `storage` into a temporary file in `into_dir` and
/// checks it at `level`: quick covers the stream, full adds the source's check of the
/// image (or, with [`FullCheck::UnlessProven`], the proof that replaces it). Returns the
/// checked copy, or the damage found.
pub(crate) fn materialize(
    storage: &dyn Storage,
    m: &Manifest,
    into_dir: &Path,
    level: VerifyLevel,
    full: FullCheck,
    keys: &Keys<'_>,
) -> Result<std::result::Result<Materialized, Damage>> {
    let path = temp_path(into_dir, &format!("{}{RESTORE_MARKER}", m.id));
    let (tmp, mut f) = TempFile::create_locked(path.clone())
        .map_err(|e| Error::io(Operation::Verify, "cannot create temporary copy", &path, e))?;
    // check_stream compares the decoded bytes with `raw_sha256` when the manifest has it;
    // a rebuild compares them with the image the incremental backup took.
    let verdict = match &m.incremental {
        Some(inc) => chain::rebuild(storage, m, inc, &mut f, tmp.path(), keys)?,
        None => check_stream(storage.get(m)?, m, Some((&mut f, tmp.path())), keys)?,
    };
    if let Err(damage) = verdict {
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
    let proven = full == FullCheck::UnlessProven && m.raw_sha256.is_some();
    if level == VerifyLevel::Quick && m.postgres.is_some() {
        // A PostgreSQL archive's quick check also reads its table of contents.
        if let Err(damage) = Ctx::source_of(m)?.check_recorded(tmp.path(), m)? {
            return Ok(Err(damage));
        }
    }
    if level == VerifyLevel::Full {
        let source = Ctx::source_of(m)?;
        let verdict = if proven {
            source.check_recorded(tmp.path(), m)?
        } else {
            source.check_copy(tmp.path(), m)?
        };
        if let Err(damage) = verdict {
            return Ok(Err(damage));
        }
    }
    Ok(Ok(Materialized {
        file: tmp,
        proven: proven && level == VerifyLevel::Full,
    }))
}

/// Checks backup `m` of the local `store` at `level`; full verification decompresses
/// into a temporary file in `scratch` that is removed afterwards.
pub(crate) fn verify_in(
    store: &dyn Storage,
    m: &Manifest,
    level: VerifyLevel,
    keys: &Keys<'_>,
    scratch: &Path,
) -> Result<Verdict> {
    match (level, &m.incremental) {
        (VerifyLevel::Quick, Some(inc)) => chain::check_links(store, m, inc, keys),
        _ => verify_one(store, m, level, keys, scratch),
    }
}

fn verify_one(
    store: &dyn Storage,
    m: &Manifest,
    level: VerifyLevel,
    keys: &Keys<'_>,
    scratch: &Path,
) -> Result<Verdict> {
    match level {
        // A PostgreSQL archive's quick check reads its table of contents from a copy.
        VerifyLevel::Quick if m.postgres.is_none() || (m.is_encrypted() && !keys.available()) => {
            check_stream(store.get(m)?, m, None, keys)
        }
        _ => Ok(materialize(store, m, scratch, level, FullCheck::Always, keys)?.map(drop)),
    }
}

/// The stream check of a backup in the folder `dir` (fuzzing and tests).
pub fn check_file(dir: &Path, m: &Manifest) -> Result<Verdict> {
    check_stream(Store::new(dir).get(m)?, m, None, &Keys::none())
}

/// [`verify_in`] for a backup in the folder `dir` (fuzzing and tests).
pub fn verify_file(dir: &Path, m: &Manifest, level: VerifyLevel) -> Result<Verdict> {
    verify_in(&Store::new(dir), m, level, &Keys::none(), dir)
}

/// The detail text of a passed check; `decrypted` says whether an encrypted backup's
/// content was read (a quick check on a machine without its key checks the ciphertext).
pub fn passed_detail(level: VerifyLevel, m: &Manifest, decrypted: bool) -> String {
    if m.is_encrypted() && !decrypted {
        return format!(
            "sha256 ok, age header ok, {} bytes encrypted (not decrypted: no key on this machine)",
            m.size_bytes
        );
    }
    let age = if m.is_encrypted() { "age ok, " } else { "" };
    if let Some(inc) = &m.incremental {
        let n = inc.chain.len();
        return match level {
            VerifyLevel::Quick => format!(
                "sha256 ok, {age}the {n} files it is rebuilt from decode, {} bytes",
                m.raw_size_bytes
            ),
            VerifyLevel::Full => format!(
                "sha256 ok, {age}rebuilt from {n} files to the image sha256 it took, {} ok, {}",
                m.full_check_name(),
                m.image_summary()
            ),
        };
    }
    match level {
        VerifyLevel::Quick if m.postgres.is_some() => format!(
            "sha256 ok, {age}{} stream ok, pg_restore --list ok, {} bytes",
            m.compression.as_str(),
            m.raw_size_bytes
        ),
        VerifyLevel::Quick => format!(
            "sha256 ok, {age}{} stream ok, {} bytes",
            m.compression.as_str(),
            m.raw_size_bytes
        ),
        VerifyLevel::Full => format!(
            "sha256 ok, {age}{} stream ok, {} ok, {}",
            m.compression.as_str(),
            m.full_check_name(),
            m.image_summary()
        ),
    }
}

/// The detail text of a full check that rested on the raw hash (see
/// [`FullCheck::UnlessProven`]).
pub fn proven_detail(m: &Manifest) -> String {
    let age = if m.is_encrypted() { "age ok, " } else { "" };
    format!(
        "sha256 ok, {age}{} stream ok, image sha256 matches the one that passed {} at backup time (not repeated), {}",
        m.compression.as_str(),
        m.full_check_name(),
        m.image_summary()
    )
}

/// A verification record for `verdict`.
pub(crate) fn verification(
    ctx: &Ctx<'_>,
    level: VerifyLevel,
    m: &Manifest,
    verdict: &Verdict,
) -> Verification {
    let decrypted = level == VerifyLevel::Full || ctx.keys().available();
    Verification {
        level,
        ok: verdict.is_ok(),
        at: ctx.now(),
        detail: match verdict {
            Ok(()) => passed_detail(level, m, decrypted),
            Err(damage) => damage.to_string(),
        },
    }
}

pub(crate) fn emit_finished(ctx: &Ctx<'_>, id: &str, v: &Verification) {
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
    let verdict = verify_in(&store, &m, level, &ctx.keys(), &ctx.scratch_dir(&m))?;
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
