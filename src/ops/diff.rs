//! `diff`: what differs between a backup and the live database (or another backup).
//! Each backup is decompressed into a temporary file and fully checked first (as a
//! restore does: a damaged backup is reported as corrupt, never compared); the source
//! then compares the two read-only. The temporary copies go when this returns.

use crate::context::Ctx;
use crate::error::{Error, Operation, Result};
use crate::model::diff::{Diff, RowChange};
use crate::ops::restore::store_of_file;
use crate::ops::verify::checked_image;
use crate::source::{Source, SourceKind};
use crate::storage::local::lock::DirLock;
use crate::storage::local::store::Store;
use std::path::Path;

/// Compares backup `from` with backup `to`, or with the live database when `to` is None.
pub(crate) fn diff(ctx: &Ctx<'_>, from: &str, to: Option<&str>) -> Result<Diff> {
    with_images(
        ctx,
        &ctx.store(),
        from,
        to,
        |source, from_path, to_path, to_name| source.diff(from_path, to_path, from, to_name),
    )
}

/// Compares the backup file at `path` (anywhere, its manifest beside it, as for
/// `restore_file`) with the live database: what restoring that file would change.
pub(crate) fn diff_file(ctx: &Ctx<'_>, path: &Path) -> Result<Diff> {
    let (store, id) = store_of_file(path, Operation::Diff)?;
    with_images(
        ctx,
        &store,
        &id,
        None,
        |source, from_path, to_path, to_name| source.diff(from_path, to_path, &id, to_name),
    )
}

/// The rows of `table` that differ between the same two versions as [`diff`].
pub(crate) fn diff_rows(
    ctx: &Ctx<'_>,
    from: &str,
    to: Option<&str>,
    table: &str,
    limit: usize,
    offset: usize,
) -> Result<Vec<RowChange>> {
    with_images(
        ctx,
        &ctx.store(),
        from,
        to,
        |source, from_path, to_path, _| source.diff_rows(from_path, to_path, table, limit, offset),
    )
}

/// Runs `f` with the checked image of backup `from` and that of backup `to` (or the
/// live database and its path as the name, when `to` is None).
fn with_images<T>(
    ctx: &Ctx<'_>,
    store: &Store,
    from: &str,
    to: Option<&str>,
    f: impl FnOnce(&dyn Source, &Path, &Path, &str) -> Result<T>,
) -> Result<T> {
    let op = Operation::Diff;
    if ctx.source().kind() != SourceKind::Sqlite {
        return Err(crate::source::sqlite_only("diff", op));
    }
    let _lock = DirLock::shared(store.dir(), op)?;
    let image = |id: &str| checked_image(ctx, store, id, op, "it was not compared");
    let from_image = image(from)?;
    let source = ctx.source();
    match to {
        Some(id) => {
            let to_image = image(id)?;
            f(source.as_ref(), from_image.path(), to_image.path(), id)
        }
        None => {
            let live = source.location().to_path_buf();
            if !live.exists() {
                return Err(Error::not_found(
                    op,
                    format!("database {} does not exist", live.display()),
                ));
            }
            f(
                source.as_ref(),
                from_image.path(),
                &live,
                &live.to_string_lossy(),
            )
        }
    }
}
