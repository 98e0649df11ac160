//! Reading what is there: backups, runs and statistics.

use crate::context::Ctx;
use crate::error::Result;
use crate::model::events::Event;
use crate::model::history::{self, HistoryEntry, Stats};
use crate::model::manifest::Manifest;
use crate::storage::Storage;

/// What every report is derived from: the logged events and the backups present.
fn read(ctx: &Ctx<'_>) -> Result<(Vec<Event>, Vec<Manifest>)> {
    Ok((ctx.log().read()?, ctx.store().list()?))
}

/// Backup runs, newest first.
pub(crate) fn history(ctx: &Ctx<'_>, limit: usize, offset: usize) -> Result<Vec<HistoryEntry>> {
    let (events, present) = read(ctx)?;
    Ok(history::history(&events, &present, limit, offset))
}

/// Runs merged with the backups present (see [`history::timeline`]).
pub(crate) fn timeline(
    ctx: &Ctx<'_>,
    limit: usize,
    include_deleted: bool,
) -> Result<Vec<HistoryEntry>> {
    let (events, present) = read(ctx)?;
    Ok(history::timeline(&events, &present, limit, include_deleted))
}

/// Counts, sizes and times over backups and runs.
pub(crate) fn stats(ctx: &Ctx<'_>) -> Result<Stats> {
    let (events, present) = read(ctx)?;
    Ok(history::stats(&events, &present))
}
