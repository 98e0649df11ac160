//! Periodic test restores: every `test_restore_every_days`, a random backup is fully
//! restored into a temporary file and checked. The clock starts at the oldest backup, so
//! a fresh install does not test its first backup twice.

use crate::config::VerifyLevel;
use crate::context::Ctx;
use crate::error::{Error, Operation, Result};
use crate::model::events::Event;
use crate::ops::verify::{materialize, FullCheck};
use crate::storage::local::lock::DirLock;
use crate::storage::Storage;
use chrono::{DateTime, Duration, Utc};

/// A test restore that could not run: the error, and the backup chosen if it got that far.
pub(crate) struct Failure {
    pub id: Option<String>,
    pub error: Error,
}

impl Failure {
    /// The `test_restore_failed` event. The caller records the failure in its status
    /// first, so an observer reading the status on this event sees it.
    pub fn event(&self, ctx: &Ctx<'_>) -> Event {
        Event::TestRestoreFailed {
            time: ctx.now(),
            id: self.id.clone(),
            error: self.error.to_string(),
            error_kind: self.error.kind(),
        }
    }
}

/// Runs a test restore if one is due at `now`. `Ok(())` when none was due or it ran (a
/// damaged backup is a `test_restore_finished` with `ok: false`).
pub(crate) fn run_if_due(ctx: &Ctx<'_>, now: DateTime<Utc>) -> std::result::Result<(), Failure> {
    let mut chosen = None;
    run(ctx, now, &mut chosen).map_err(|error| Failure { id: chosen, error })
}

fn run(ctx: &Ctx<'_>, now: DateTime<Utc>, chosen: &mut Option<String>) -> Result<()> {
    let days = ctx.cfg.test_restore_every_days;
    if days == 0 {
        return Ok(());
    }
    let store = ctx.store();
    // A machine that only makes encrypted backups (no identity file) cannot read them:
    // it drills the ones it can read, and the key holder's machine drills the rest.
    let keys = ctx.keys();
    let backups: Vec<_> = store
        .list()?
        .into_iter()
        .filter(|m| !m.is_encrypted() || keys.available())
        .collect();
    let Some(oldest) = backups.iter().map(|m| m.created_at).min() else {
        return Ok(());
    };
    let last = ctx
        .log()
        .read()?
        .iter()
        .filter_map(|e| match e {
            Event::TestRestoreFinished { time, .. } | Event::TestRestoreFailed { time, .. } => {
                Some(*time)
            }
            _ => None,
        })
        .max()
        .unwrap_or(oldest);
    if now - last < Duration::days(days as i64) {
        return Ok(());
    }
    let mut m = backups[fastrand::usize(..backups.len())].clone();
    *chosen = Some(m.id.clone());
    let _lock = DirLock::shared(store.dir(), Operation::Verify)?;
    let started = std::time::Instant::now();
    // A drill always runs the source's check: it is what proves restores work.
    let verdict = materialize(
        &store,
        &m,
        &ctx.scratch_dir(&m),
        VerifyLevel::Full,
        FullCheck::Always,
        &keys,
    )?
    .map(drop);
    let detail = match &verdict {
        Ok(()) => format!(
            "restored {} into a temporary file: integrity_check ok, {} pages",
            m.id, m.page_count
        ),
        Err(reason) => format!("restoring {} failed: {reason}", m.id),
    };
    m.verification = Some(crate::model::manifest::Verification {
        level: VerifyLevel::Full,
        ok: verdict.is_ok(),
        at: ctx.now(),
        detail: detail.clone(),
    });
    store.save_manifest(&m, Operation::Verify)?;
    ctx.emit(Event::TestRestoreFinished {
        time: ctx.now(),
        id: m.id.clone(),
        ok: verdict.is_ok(),
        detail,
        duration_ms: started.elapsed().as_millis() as u64,
    });
    Ok(())
}
