//! The scheduler: automatic backups in a background thread of the host application.
//!
//! Its whole decision is [`tick`], run by the thread whenever it wakes and by
//! [`crate::Keeper::run_pending`] for cron users and tests:
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
//! - A reconfigured schedule or zone counts the past as handled and just moves the next
//!   run.
//!
//! The thread sleeps until the next due instant, at most a minute at a time with the
//! system clock, and wakes at once for `stop()` and `configure()`.

use crate::backup::{take_backup_with_retry, BackupRequest};
use crate::clock::Wake;
use crate::config::VerifyLevel;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::keeper::{Inner, Keeper};
use crate::lock::{DirLock, LOCK_WAIT};
use crate::manifest::{Kind, Manifest, Verification};
use crate::timefmt::rfc3339_opt;
use crate::verify::materialize;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

/// Delays before the retries of a failed scheduled backup.
pub const RETRY_DELAYS_MINUTES: [i64; 3] = [1, 5, 15];

/// A slot first noticed this late counts as missed (for `catch_up: false`).
pub const MISSED_AFTER: Duration = Duration::minutes(2);

/// What the scheduler is doing, for status displays.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchedulerStatus {
    /// Whether the background thread runs.
    pub running: bool,
    /// The next slot of the schedule (`None` when off).
    #[serde(with = "rfc3339_opt")]
    pub next_run: Option<DateTime<Utc>>,
    /// When a failed scheduled backup will be retried.
    #[serde(with = "rfc3339_opt")]
    pub retry_at: Option<DateTime<Utc>>,
    /// When the last scheduled backup attempt ran.
    #[serde(with = "rfc3339_opt")]
    pub last_run: Option<DateTime<Utc>>,
    /// `"ok"`, `"failed"` or `None` before the first attempt.
    pub last_outcome: Option<String>,
    /// Id of the last scheduled backup taken.
    pub last_backup: Option<String>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// The latest slot handled (backed up, found covered, skipped or given up).
    #[serde(with = "rfc3339_opt")]
    pub last_slot: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Retry {
    slot: DateTime<Utc>,
    failures: usize,
    at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    /// Schedule and zone the state was computed for; a change resets the past.
    seen: Option<(String, String)>,
    last_slot: Option<DateTime<Utc>>,
    retry: Option<Retry>,
    last_run: Option<DateTime<Utc>>,
    last_outcome: Option<String>,
    last_backup: Option<String>,
    last_error: Option<String>,
}

struct Running {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

/// The scheduler state a keeper owns.
#[derive(Default)]
pub(crate) struct SchedulerSlot {
    wake: Arc<Wake>,
    state: Mutex<State>,
    running: Mutex<Option<Running>>,
}

impl SchedulerSlot {
    /// Wakes a sleeping scheduler so it re-reads the configuration.
    pub fn wake(&self) {
        self.wake.notify();
    }
}

impl Drop for SchedulerSlot {
    /// The last keeper handle is gone: tell the thread to end (it holds only a weak
    /// reference and exits at its next wake). No join: this may run on that very thread.
    fn drop(&mut self) {
        if let Some(r) = self.running.get_mut().ok().and_then(|r| r.take()) {
            r.stop.store(true, Ordering::SeqCst);
            self.wake.notify();
        }
    }
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
}

fn lock_state(k: &Keeper) -> std::sync::MutexGuard<'_, State> {
    k.inner
        .scheduler
        .state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Whether a scheduled backup was taken at or after `slot`.
fn covered(k: &Keeper, slot: DateTime<Utc>) -> Result<bool> {
    k.with_ctx(|ctx| {
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
                if id_time(id).is_some_and(|t| t >= slot.timestamp()))
        });
        Ok(by_log)
    })
}

/// The whole second an id was stamped with (`...-20261123T020000Z-...`), as a Unix time.
fn id_time(id: &str) -> Option<i64> {
    id.split('-').find_map(|part| {
        chrono::NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%M%SZ")
            .ok()
            .map(|t| t.and_utc().timestamp())
    })
}

/// Decides and does what is due at `now`. Also used synchronously by `run_pending`.
pub(crate) fn tick(k: &Keeper, now: DateTime<Utc>) -> TickOutcome {
    let cfg = k.config();
    let key = (cfg.schedule.to_string(), cfg.timezone.to_string());
    let slot = cfg.schedule.latest_at_or_before(cfg.timezone, now);
    {
        let mut st = lock_state(k);
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
        Err(e) => return record_failure(k, slot, now, e),
    };
    match covered(k, slot) {
        Ok(true) => {
            let mut st = lock_state(k);
            st.last_slot = Some(slot);
            st.retry = None;
            return TickOutcome::Covered;
        }
        Ok(false) => {}
        Err(e) => return record_failure(k, slot, now, e),
    }
    let failures = lock_state(k)
        .retry
        .as_ref()
        .filter(|r| r.slot == slot)
        .map_or(0, |r| r.failures);
    let retry_delay = RETRY_DELAYS_MINUTES
        .get(failures)
        .map(|m| Duration::minutes(*m));
    let req = BackupRequest {
        kind: Kind::Scheduled,
        label: None,
    };
    let result = k.with_ctx(|ctx| take_backup_with_retry(ctx, &req, retry_delay));
    match result {
        Ok(m) => {
            {
                let mut st = lock_state(k);
                st.last_slot = Some(slot);
                st.retry = None;
                st.last_run = Some(now);
                st.last_outcome = Some("ok".into());
                st.last_backup = Some(m.id.clone());
                st.last_error = None;
            }
            if cfg.retention.auto {
                // A failed rotation is logged as an event by rotate(); the backup stands.
                let _ = k.rotate(false);
            }
            maybe_test_restore(k, now);
            TickOutcome::BackedUp(Box::new(m))
        }
        Err(e) => record_failure(k, slot, now, e),
    }
}

fn record_failure(k: &Keeper, slot: DateTime<Utc>, now: DateTime<Utc>, e: Error) -> TickOutcome {
    let mut st = lock_state(k);
    let failures = st
        .retry
        .as_ref()
        .filter(|r| r.slot == slot)
        .map_or(0, |r| r.failures)
        + 1;
    st.last_run = Some(now);
    st.last_outcome = Some("failed".into());
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

/// Every `test_restore_every_days`, fully restores a random backup into a temporary
/// file and checks it. The clock starts at the oldest backup, so a fresh install does not
/// test its first backup twice.
fn maybe_test_restore(k: &Keeper, now: DateTime<Utc>) {
    let _ = k.with_ctx(|ctx| -> Result<()> {
        let days = ctx.cfg.test_restore_every_days;
        if days == 0 {
            return Ok(());
        }
        let store = ctx.store();
        let backups = store.list()?;
        let Some(oldest) = backups.iter().map(|m| m.created_at).min() else {
            return Ok(());
        };
        let last = ctx
            .log()
            .read()?
            .iter()
            .filter_map(|e| match e {
                Event::TestRestoreFinished { time, .. } => Some(*time),
                _ => None,
            })
            .max()
            .unwrap_or(oldest);
        if now - last < Duration::days(days as i64) {
            return Ok(());
        }
        let _lock = DirLock::shared(store.dir(), crate::Operation::Verify)?;
        let mut m = backups[fastrand::usize(..backups.len())].clone();
        let started = std::time::Instant::now();
        let verdict = materialize(store.dir(), &m, store.dir(), VerifyLevel::Full)?.map(drop);
        let detail = match &verdict {
            Ok(()) => format!(
                "restored {} into a temporary file: integrity_check ok, {} pages",
                m.id, m.page_count
            ),
            Err(reason) => format!("restoring {} failed: {reason}", m.id),
        };
        m.verification = Some(Verification {
            level: VerifyLevel::Full,
            ok: verdict.is_ok(),
            at: ctx.now(),
            detail: detail.clone(),
        });
        let _ = store.save_manifest(&m, crate::Operation::Verify);
        ctx.emit(Event::TestRestoreFinished {
            time: ctx.now(),
            id: m.id.clone(),
            ok: verdict.is_ok(),
            detail,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        Ok(())
    });
}

/// When the thread should next look: the next slot or a pending retry.
fn next_due(k: &Keeper, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cfg = k.config();
    let next = cfg.schedule.next_after(cfg.timezone, now);
    let retry = lock_state(k).retry.as_ref().map(|r| r.at);
    match (next, retry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn thread_main(weak: Weak<Inner>, stop: Arc<AtomicBool>, wake: Arc<Wake>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let k = Keeper { inner };
        if stop.load(Ordering::SeqCst) {
            shutdown(&k);
            return;
        }
        let now = k.clock().now();
        // A bug in one tick must not end automatic backups for the rest of the run.
        let _ = catch_unwind(AssertUnwindSafe(|| tick(&k, now)));
        if stop.load(Ordering::SeqCst) {
            shutdown(&k);
            return;
        }
        let now = k.clock().now();
        let until = next_due(&k, now).unwrap_or(now + Duration::days(1));
        let clock = k.clock().clone();
        drop(k); // do not keep the keeper alive while sleeping
        clock.sleep_until(until, &wake);
    }
}

fn shutdown(k: &Keeper) {
    if k.config().backup_on_shutdown {
        let req = BackupRequest {
            kind: Kind::Shutdown,
            label: Some("taken when the scheduler stopped".into()),
        };
        let _ = k.backup(&req);
    }
    k.with_ctx(|ctx| ctx.emit(Event::SchedulerStopped { time: ctx.now() }));
}

impl Keeper {
    /// Starts the background scheduler. Returns `false` (and changes nothing) when it
    /// already runs.
    pub fn start(&self) -> Result<bool> {
        let slot = &self.inner.scheduler;
        let mut running = slot.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = running.as_ref() {
            if !r.handle.is_finished() {
                return Ok(false);
            }
        }
        // A fresh start reconsiders the latest slot (catch-up).
        *slot.state.lock().unwrap_or_else(|e| e.into_inner()) = State::default();
        let stop = Arc::new(AtomicBool::new(false));
        let weak = Arc::downgrade(&self.inner);
        let (s, w) = (stop.clone(), slot.wake.clone());
        let handle = std::thread::Builder::new()
            .name("sqlkeep-scheduler".into())
            .spawn(move || thread_main(weak, s, w))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    crate::Operation::Schedule,
                    format!("cannot start the scheduler thread: {e}"),
                )
            })?;
        *running = Some(Running { handle, stop });
        drop(running);
        let now = self.clock().now();
        let next_run = {
            let cfg = self.config();
            cfg.schedule.next_after(cfg.timezone, now)
        };
        self.with_ctx(|ctx| {
            ctx.emit(Event::SchedulerStarted {
                time: now,
                next_run,
            })
        });
        Ok(true)
    }

    /// Stops the scheduler, taking a `shutdown` backup first when `backup_on_shutdown`
    /// is set. Returns within a second while the scheduler waits; a backup in progress is
    /// finished first. Returns `false` when it was not running.
    pub fn stop(&self) -> bool {
        let slot = &self.inner.scheduler;
        let running = slot
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match running {
            Some(r) => {
                r.stop.store(true, Ordering::SeqCst);
                slot.wake.notify();
                // Called from an observer on the scheduler thread itself: joining would
                // wait for ourselves. The thread ends after the current tick instead.
                if r.handle.thread().id() != std::thread::current().id() {
                    let _ = r.handle.join();
                }
                true
            }
            None => false,
        }
    }

    /// Whether the background scheduler runs.
    pub fn is_running(&self) -> bool {
        self.inner
            .scheduler
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|r| !r.handle.is_finished())
    }

    /// Running state, next run, last run and its outcome.
    pub fn status(&self) -> SchedulerStatus {
        let running = self.is_running();
        let now = self.clock().now();
        let cfg = self.config();
        let st = lock_state(self);
        SchedulerStatus {
            running,
            next_run: cfg.schedule.next_after(cfg.timezone, now),
            retry_at: st.retry.as_ref().map(|r| r.at),
            last_run: st.last_run,
            last_outcome: st.last_outcome.clone(),
            last_backup: st.last_backup.clone(),
            last_error: st.last_error.clone(),
            last_slot: st.last_slot,
        }
    }

    /// Does now, on this thread, what the scheduler would do: back up the due slot if it
    /// has no scheduled backup yet (catch-up included). For cron-driven hosts
    /// (`sqlkeep run --once`) and for tests with a manual clock.
    pub fn run_pending(&self) -> TickOutcome {
        tick(self, self.clock().now())
    }

    /// The next `n` run instants after `from`.
    pub fn upcoming_runs(&self, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let cfg = self.config();
        cfg.schedule.upcoming(cfg.timezone, from, n)
    }
}

#[cfg(test)]
mod tests {
    use super::id_time;

    #[test]
    fn reads_the_time_stamped_into_an_id() {
        let t = id_time("my-app-20261123T020000Z-scheduled-2").unwrap();
        assert_eq!(
            t,
            chrono::DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
                .unwrap()
                .timestamp()
        );
        assert_eq!(id_time("nothing"), None);
    }
}
