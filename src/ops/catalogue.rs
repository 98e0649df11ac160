//! Reading what is there: backups, runs and statistics.

use crate::context::Ctx;
use crate::error::Result;
use crate::model::history::{self, HistoryEntry, Stats};
use crate::storage::Storage;

/// Backup runs, newest first.
pub(crate) fn history(ctx: &Ctx<'_>, limit: usize, offset: usize) -> Result<Vec<HistoryEntry>> {
    let events = ctx.log().read()?;
    let present = ctx.store().list()?;
    Ok(history::history(&events, &present, limit, offset))
}

/// Runs merged with the backups present (see [`history::timeline`]).
pub(crate) fn timeline(
    ctx: &Ctx<'_>,
    limit: usize,
    include_deleted: bool,
) -> Result<Vec<HistoryEntry>> {
    let events = ctx.log().read()?;
    let present = ctx.store().list()?;
    Ok(history::timeline(&events, &present, limit, include_deleted))
}

/// Counts, sizes and times over backups and runs.
pub(crate) fn stats(ctx: &Ctx<'_>) -> Result<Stats> {
    let events = ctx.log().read()?;
    let present = ctx.store().list()?;
    Ok(history::stats(&events, &present))
}
