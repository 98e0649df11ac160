//! Reading what is there: backups, runs and statistics.

use crate::context::Ctx;
use crate::error::Result;
use crate::model::events::Event;
use crate::model::health::{self, Health};
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
    let mut stats = history::stats(&events, &present);
    stats.offsite = crate::ops::offsite::states(ctx);
    stats.bytes_on_disk += ctx.store().pieces_bytes();
    Ok(stats)
}

/// The health verdict now (see [`health::assess`]). Free space is measured in the backup
/// folder, or in the nearest existing folder above it before the first backup.
pub(crate) fn health(ctx: &Ctx<'_>) -> Result<Health> {
    let (events, present) = read(ctx)?;
    let cfg = ctx.cfg;
    let free_bytes = cfg
        .backup_dir
        .ancestors()
        .find(|d| d.is_dir())
        .and_then(|d| crate::platform::available_space(d).ok());
    Ok(health::assess(&health::Facts {
        events: &events,
        present: &present,
        now: ctx.now(),
        schedule: &cfg.schedule,
        zone: cfg.timezone,
        stale_after: chrono::Duration::hours(i64::from(cfg.notify.stale_after_hours)),
        free_bytes,
        offsite: &crate::ops::offsite::states(ctx),
    }))
}
