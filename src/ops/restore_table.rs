//! Selective restore: chosen rows of one table brought back from a verified backup into
//! the live database, after a `pre-restore` safety backup, all or nothing. The backup is
//! checked in full first (as for every restore); the source picks the rows in the
//! checked copy and writes them (`Source::restore_rows`).

use crate::context::Ctx;
use crate::error::{Error, Operation, Result};
use crate::model::selective::{TableRestore, TableRestoreOutcome};
use crate::ops::restore::{emit_finished, safety_backup};
use crate::ops::verify::checked_image;
use crate::storage::local::lock::DirLock;
use std::time::Instant;

/// Brings back what `req` chooses from backup `id` into the live database.
pub(crate) fn restore_table(
    ctx: &Ctx<'_>,
    id: &str,
    req: &TableRestore,
) -> Result<TableRestoreOutcome> {
    // A question the source cannot answer is refused before anything starts (and is not
    // logged as a failed restore).
    if ctx.source().kind() != crate::source::SourceKind::Sqlite {
        return Err(crate::source::sqlite_only(
            "restoring single tables",
            Operation::Restore,
        ));
    }
    let started = Instant::now();
    let result = restore_inner(ctx, id, req, started);
    let target = format!("table `{}` of {}", req.table, ctx.cfg.database.display());
    let what = result.as_ref().map(|o| o.safety_backup.as_ref());
    emit_finished(ctx, id, target, started, what);
    result
}

fn restore_inner(
    ctx: &Ctx<'_>,
    id: &str,
    req: &TableRestore,
    started: Instant,
) -> Result<TableRestoreOutcome> {
    let op = Operation::Restore;
    if req.table.trim().is_empty() {
        return Err(Error::invalid_argument(op, "no table named")
            .with_hint("name the table whose rows to bring back"));
    }
    if req.replace_table && req.condition.is_some() {
        return Err(Error::invalid_argument(
            op,
            "replace_table makes the table's content the backup's whole table; it takes no condition",
        )
        .with_hint("leave out the condition, or restore the chosen rows without replace_table"));
    }
    let target = ctx.cfg.database.clone();
    if !target.exists() {
        return Err(Error::not_found(
            op,
            format!(
                "database {} does not exist; rows are restored into it",
                target.display()
            ),
        )
        .with_hint("restore the whole backup instead"));
    }
    let store = ctx.store();
    let _lock = DirLock::shared(store.dir(), op)?;
    let image = checked_image(ctx, &store, id, op, "nothing was restored")?;
    let mut safety = None;
    let tables = ctx.source().restore_rows(image.path(), req, &mut || {
        let label = format!("before restoring table {} from {id}", req.table);
        safety = Some(safety_backup(ctx, label, None)?);
        Ok(())
    })?;
    Ok(TableRestoreOutcome {
        id: id.to_string(),
        target,
        tables,
        safety_backup: safety,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}
