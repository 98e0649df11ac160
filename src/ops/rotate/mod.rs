//! Applying retention: the plan (`plan.rs`, pure) carried out under the exclusive lock,
//! each deletion logged; and deleting one backup on request.

mod plan;

pub use plan::{plan, plan_on_disk, Action, PlanEntry, RotationPlan};

use crate::config::RetentionChange;
use crate::context::Ctx;
use crate::error::{Operation, Result};
use crate::model::events::Event;
use crate::model::manifest::Manifest;
use crate::storage::local::lock::{DirLock, LOCK_WAIT};
use crate::storage::Storage;

/// Applies the retention policy: `dry_run` only returns the plan. Deletions remove
/// manifest and file together and are logged; `rotation_finished` reports the totals.
pub(crate) fn rotate(ctx: &Ctx<'_>, dry_run: bool) -> Result<RotationPlan> {
    let store = ctx.store();
    let _lock = DirLock::exclusive(store.dir(), LOCK_WAIT, Operation::Rotate)?;
    // Under the exclusive lock anyway: finish what a killed run left (a deletion half
    // done, say) before planning over the list.
    let _ = store.sweep();
    let mut plan = plan_on_disk(
        &store.list()?,
        &ctx.cfg.retention,
        ctx.cfg.timezone,
        ctx.now(),
        disk_bytes(ctx, &ctx.cfg.retention),
    );
    plan.dry_run = dry_run;
    if !dry_run {
        for entry in plan.entries.iter().filter(|e| e.action == Action::Delete) {
            store.delete(&entry.id, Operation::Rotate)?;
            ctx.emit(Event::BackupDeleted {
                time: ctx.now(),
                id: entry.id.clone(),
                kind: entry.kind,
                size_bytes: entry.size_bytes,
                reason: format!("rotation: {}", entry.reason),
            });
        }
        collect_pieces(&store);
    }
    if let (false, Some(message)) = (dry_run, &plan.warning) {
        ctx.emit(Event::RetentionWarning {
            time: ctx.now(),
            message: message.clone(),
            keys: vec![
                "retention.max_total_bytes".into(),
                "retention.max_total_percent_of_disk".into(),
            ],
        });
    }
    ctx.emit(Event::RotationFinished {
        time: ctx.now(),
        dry_run,
        kept: plan.kept.len(),
        deleted: plan.deleted.len(),
        freed_bytes: plan.freed_bytes,
    });
    Ok(plan)
}

/// Removes the kept files of incremental chains that no backup needs any more. A
/// failure leaves them for the next sweep: they cost space, never a backup.
fn collect_pieces(store: &crate::storage::local::store::Store) {
    let _ = store.collect();
}

/// The event that reports a failed automatic rotation. A failure is not the backup's:
/// the backup stands; the caller records the failure in its status first, so an observer
/// reading the status on this event sees it.
pub(crate) fn rotation_failed(ctx: &Ctx<'_>, e: &crate::error::Error) -> Event {
    Event::RotationFailed {
        time: ctx.now(),
        error: e.to_string(),
        error_kind: e.kind(),
    }
}

/// Says (an event, and so a log line) when the schedule runs more often than the policy
/// keeps backups: more than one run on some local day, while no rule keeps more than one
/// backup a day (`hourly`, `keep_within` and `keep_last` all unset). Rotation would
/// delete each of those backups soon after it is made.
pub(crate) fn warn_if_policy_drops_backups(ctx: &Ctx<'_>) {
    let cfg = ctx.cfg;
    let r = &cfg.retention;
    if r.hourly > 0 || r.keep_within.is_some() || r.keep_last > 0 {
        return;
    }
    let runs = cfg.schedule.upcoming(cfg.timezone, ctx.now(), 48);
    let day = |t: &chrono::DateTime<chrono::Utc>| cfg.timezone.naive_local(*t).date();
    if !runs.windows(2).any(|w| day(&w[0]) == day(&w[1])) {
        return;
    }
    ctx.emit(Event::RetentionWarning {
        time: ctx.now(),
        message: format!(
            "the schedule \"{}\" runs more than once a day, but the retention policy keeps at most one automatic backup per day, so rotation deletes the others soon after they are made; set retention.hourly (such as 24) or retention.keep_within (such as \"36h\") to keep them",
            cfg.schedule
        ),
        keys: vec![
            "retention.hourly".into(),
            "retention.keep_within".into(),
            "retention.keep_last".into(),
        ],
    });
}

/// The plan the retention `change` would give now, without changing the configuration
/// or deleting anything.
pub(crate) fn preview(ctx: &Ctx<'_>, change: &RetentionChange) -> Result<RotationPlan> {
    let retention = ctx.cfg.retention.with_change(change);
    let mut plan = plan_on_disk(
        &ctx.store().list()?,
        &retention,
        ctx.cfg.timezone,
        ctx.now(),
        disk_bytes(ctx, &retention),
    );
    plan.dry_run = true;
    Ok(plan)
}

/// The size of the file system holding the backups, for `max_total_percent_of_disk`
/// (asked only when that is set).
fn disk_bytes(ctx: &Ctx<'_>, policy: &crate::config::Retention) -> Option<u64> {
    policy.max_total_percent_of_disk?;
    let dir = ctx.cfg.backup_dir.ancestors().find(|d| d.is_dir())?;
    crate::platform::disk_size(dir).ok()
}

/// Deletes backup `id` (any kind: this is an explicit request).
pub(crate) fn delete(ctx: &Ctx<'_>, id: &str) -> Result<Manifest> {
    delete_because(ctx, id, "deleted by request")
}

/// Deletes backup `id`, saying why in the `backup_deleted` event.
pub(crate) fn delete_because(ctx: &Ctx<'_>, id: &str, reason: &str) -> Result<Manifest> {
    let store = ctx.store();
    let _lock = DirLock::exclusive(store.dir(), LOCK_WAIT, Operation::Rotate)?;
    let _ = store.sweep();
    let m = store.load(id)?;
    store.delete(id, Operation::Rotate)?;
    collect_pieces(&store);
    ctx.emit(Event::BackupDeleted {
        time: ctx.now(),
        id: m.id.clone(),
        kind: m.kind,
        size_bytes: m.size_bytes,
        reason: reason.into(),
    });
    Ok(m)
}
