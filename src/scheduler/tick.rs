//! One decision of the scheduler, at an instant:
//! - A *slot* is a run instant of the schedule. The slot due at time `t` is the latest one
//!   at or before `t`. It is covered when a `scheduled` backup was taken at or after it
//!   (found among the backups or in the log, so rotation cannot make it look missed).
//! - Catch-up: the first tick after start (or after a suspend, or after any gap) looks
//!   only at the latest slot, so an app closed for a week takes one backup, not seven.
//!   With `catch_up: false` a slot noticed more than [`MISSED_AFTER`] late is skipped.
//! - One slot, one backup: the decision "is this slot covered?" and the backup itself
//!   happen under the schedule lock of `backup_dir`, shared by every process.
//! - A failed scheduled backup is retried after 1, 5 and 15 minutes, then left until the
//!   next slot.
//! - After a backup: automatic rotation and, when due, a test restore. Their failures
//!   are events and part of the status; the backup stands.
//! - A reconfigured schedule or zone counts the past as handled and just moves the next
//!   run.

use crate::context::{Ctx, Shared};
use crate::error::{Error, ErrorKind, Result};
use crate::model::backup_id::BackupId;
use crate::model::events::Event;
use crate::model::manifest::{Kind, Manifest};
use crate::ops::backup::{take_backup, BackupRequest};
use crate::ops::{offsite, rotate, test_restore};
use crate::storage::local::lock::{DirLock, LOCK_WAIT};
use crate::storage::Storage;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::sync::{Mutex, MutexGuard};

/// How the last scheduled backup attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    Ok,
    Failed,
}

impl RunOutcome {
    /// `"ok"` or `"failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
        }
    }
}

/// The scheduler's locks guard plain state that a panic cannot leave inconsistent.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Delays before the retries of a failed scheduled backup.
pub const RETRY_DELAYS_MINUTES: [i64; 3] = [1, 5, 15];

/// A slot first noticed this late counts as missed (for `catch_up: false`).
pub const MISSED_AFTER: Duration = Duration::minutes(2);

#[derive(Debug, Default)]
pub(super) struct Retry {
    slot: DateTime<Utc>,
    failures: usize,
    pub at: DateTime<Utc>,
}

/// What the scheduler remembers between ticks.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Schedule and zone the state was computed for; a change resets the past.
    seen: Option<(String, String)>,
    pub last_slot: Option<DateTime<Utc>>,
    pub retry: Option<Retry>,
    pub last_run: Option<DateTime<Utc>>,
    pub last_outcome: Option<RunOutcome>,
    pub last_backup: Option<String>,
    pub last_error: Option<String>,
    pub last_rotation_error: Option<String>,
    pub last_test_restore_error: Option<String>,
}

/// What one tick did.
#[derive(Debug)]
pub enum TickOutcome {
    /// Nothing was due.
    Idle,
    /// The due slot already had a scheduled backup (another process took it).
    Covered,
    /// A missed slot was skipped (`catch_up: false`).
    Skipped,
    /// A scheduled backup was taken.
    BackedUp(Box<Manifest>),
    /// The backup failed; a retry is planned at the given time (or not).
    Failed(Error, Option<DateTime<Utc>>),
    /// Another scheduler held the schedule lock for too long.
    Busy,
    /// The backup was cancelled on request: the slot counts as handled (no retry, no
    /// failure).
    Cancelled,
}

impl TickOutcome {
    /// `"idle"`, `"covered"`, `"skipped"`, `"backed_up"`, `"failed"`, `"busy"` or
    /// `"cancelled"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TickOutcome::Idle => "idle",
            TickOutcome::Covered => "covered",
            TickOutcome::Skipped => "skipped",
            TickOutcome::BackedUp(_) => "backed_up",
            TickOutcome::Failed(..) => "failed",
            TickOutcome::Busy => "busy",
            TickOutcome::Cancelled => "cancelled",
        }
    }
}

/// Whether a scheduled backup was taken at or after `slot`.
fn covered(ctx: &Ctx<'_>, slot: DateTime<Utc>) -> Result<bool> {
    let by_manifest = ctx
        .store()
        .list()?
        .iter()
        .any(|m| m.kind == Kind::Scheduled && m.created_at >= slot);
    if by_manifest {
        return Ok(true);
    }
    let by_log = ctx.log().read()?.iter().any(|e| {
        matches!(e, Event::BackupSucceeded { kind: Kind::Scheduled, id, .. }
            if BackupId::parse(id).is_some_and(|b| b.time().timestamp() >= slot.timestamp()))
    });
    Ok(by_log)
}

/// Decides and does what is due at `now`.
pub(super) fn tick(shared: &Shared, state: &Mutex<State>, now: DateTime<Utc>) -> TickOutcome {
    shared.with_ctx(|ctx| tick_in(ctx, state, now))
}

fn tick_in(ctx: &Ctx<'_>, state: &Mutex<State>, now: DateTime<Utc>) -> TickOutcome {
    let cfg = ctx.cfg;
    let key = (cfg.schedule.to_string(), cfg.timezone.to_string());
    let slot = cfg.schedule.latest_at_or_before(cfg.timezone, now);
    {
        let mut st = lock(state);
        if st.seen.as_ref() != Some(&key) {
            let first = st.seen.is_none();
            st.seen = Some(key);
            if !first {
                // Reconfigured: the new schedule starts from now, nothing to catch up.
                st.last_slot = slot;
                st.retry = None;
            }
        }
        let Some(slot) = slot else {
            return TickOutcome::Idle;
        };
        match &st.retry {
            Some(r) if r.slot == slot => {
                if now < r.at {
                    return TickOutcome::Idle;
                }
            }
            Some(_) => st.retry = None, // a newer slot replaces the pending retry
            None => {
                if st.last_slot.is_some_and(|handled| handled >= slot) {
                    return TickOutcome::Idle;
                }
            }
        }
        if !cfg.catch_up && now - slot > MISSED_AFTER && st.retry.is_none() {
            st.last_slot = Some(slot);
            return TickOutcome::Skipped;
        }
    }
    let Some(slot) = slot else {
        return TickOutcome::Idle;
    };
    let _lock = match DirLock::schedule(&cfg.backup_dir, LOCK_WAIT) {
        Ok(l) => l,
        Err(e) if e.kind() == ErrorKind::Busy => return TickOutcome::Busy,
        Err(e) => return record_failure(state, slot, now, e),
    };
    match covered(ctx, slot) {
        Ok(true) => {
            let mut st = lock(state);
            st.last_slot = Some(slot);
            st.retry = None;
            return TickOutcome::Covered;
        }
        Ok(false) => {}
        Err(e) => return record_failure(state, slot, now, e),
    }
    let failures = lock(state)
        .retry
        .as_ref()
        .filter(|r| r.slot == slot)
        .map_or(0, |r| r.failures);
    let retry_after = RETRY_DELAYS_MINUTES
        .get(failures)
        .map(|m| Duration::minutes(*m));
    let req = BackupRequest {
        kind: Kind::Scheduled,
        label: None,
        full: false,
    };
    match take_backup(ctx, &req, None, retry_after) {
        Ok(m) => {
            {
                let mut st = lock(state);
                st.last_slot = Some(slot);
                st.retry = None;
                st.last_run = Some(now);
                st.last_outcome = Some(RunOutcome::Ok);
                st.last_backup = Some(m.id.clone());
                st.last_error = None;
            }
            if cfg.retention.auto {
                let rotated = rotate::rotate(ctx, false);
                lock(state).last_rotation_error = rotated.as_ref().err().map(|e| e.to_string());
                if let Err(e) = rotated {
                    ctx.emit(rotate::rotation_failed(ctx, &e));
                }
            }
            offsite::after_backup(ctx);
            let tested = test_restore::run_if_due(ctx, now);
            lock(state).last_test_restore_error =
                tested.as_ref().err().map(|f| f.error.to_string());
            if let Err(failure) = tested {
                ctx.emit(failure.event(ctx));
            }
            TickOutcome::BackedUp(Box::new(m))
        }
        Err(e) => record_failure(state, slot, now, e),
    }
}

fn record_failure(
    state: &Mutex<State>,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
    e: Error,
) -> TickOutcome {
    let mut st = lock(state);
    if e.kind() == crate::error::ErrorKind::Cancelled {
        // Someone chose to stop it: not a failure to retry; the next slot runs as usual.
        st.retry = None;
        st.last_slot = Some(slot);
        return TickOutcome::Cancelled;
    }
    let failures = st
        .retry
        .as_ref()
        .filter(|r| r.slot == slot)
        .map_or(0, |r| r.failures)
        + 1;
    st.last_run = Some(now);
    st.last_outcome = Some(RunOutcome::Failed);
    st.last_error = Some(e.to_string());
    let retry_at = RETRY_DELAYS_MINUTES
        .get(failures - 1)
        .map(|m| now + Duration::minutes(*m));
    match retry_at {
        Some(at) => st.retry = Some(Retry { slot, failures, at }),
        None => {
            // Out of retries: wait for the next slot.
            st.retry = None;
            st.last_slot = Some(slot);
        }
    }
    TickOutcome::Failed(e, retry_at)
}

/// When the thread should next look: the next slot or a pending retry.
pub(super) fn next_due(
    shared: &Shared,
    state: &Mutex<State>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let cfg = shared.config();
    let next = cfg.schedule.next_after(cfg.timezone, now);
    let retry = lock(state).retry.as_ref().map(|r| r.at);
    match (next, retry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
