//! `diff`: what differs between a backup and the live database (or another backup).
//! Each backup is decompressed into a temporary file and fully checked first (as a
//! restore does: a damaged backup is reported as corrupt, never compared); the source
//! then compares the two read-only. The temporary copies go when this returns.

use crate::config::VerifyLevel;
use crate::context::Ctx;
use crate::error::{Error, Operation, Result};
use crate::model::diff::Diff;
use crate::ops::verify::{materialize, FullCheck};
use crate::source::Source;
use crate::storage::local::atomic_file::TempFile;
use crate::storage::local::lock::DirLock;
use crate::storage::Storage;

/// Compares backup `from` with backup `to`, or with the live database when `to` is None.
pub(crate) fn diff(ctx: &Ctx<'_>, from: &str, to: Option<&str>) -> Result<Diff> {
    let op = Operation::Diff;
    let store = ctx.store();
    let _lock = DirLock::shared(store.dir(), op)?;
    let image = |id: &str| -> Result<TempFile> {
        let m = store.load(id).map_err(|e| e.during(op))?;
        let checked = materialize(
            &store,
            &m,
            &ctx.scratch_dir(&m),
            VerifyLevel::Full,
            FullCheck::UnlessProven,
            &ctx.keys(),
        )
        .map_err(|e| e.during(op))?;
        checked.map(|c| c.file).map_err(|damage| {
            Error::corrupt(
                op,
                format!("backup {id} is damaged ({damage}); it was not compared"),
            )
            .with_hint("`sqlkeep verify --all` checks every backup")
        })
    };
    let from_image = image(from)?;
    let source = ctx.source();
    match to {
        Some(id) => {
            let to_image = image(id)?;
            source.diff(from_image.path(), to_image.path(), from, id)
        }
        None => {
            let live = source.location();
            if !live.exists() {
                return Err(Error::not_found(
                    op,
                    format!("database {} does not exist", live.display()),
                ));
            }
            source.diff(from_image.path(), live, from, &live.to_string_lossy())
        }
    }
}
