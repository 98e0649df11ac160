//! The scheduler: automatic backups in a background thread of the host application.
//!
//! Its whole decision is [`tick::tick`] (see there), run by the thread whenever it wakes
//! and by `Keeper::run_pending` for cron users and tests. The thread sleeps until the
//! next due instant, at most a minute at a time with the system clock, and wakes at once
//! for `stop()` and `configure()`.
//!
//! The scheduler calls operations through the shared context; it never sees the keeper.
//! It holds the shared state only weakly, so it ends when the last keeper handle goes.

mod tick;

pub use tick::{RunOutcome, TickOutcome};

use crate::clock::Wake;
use crate::context::Shared;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::events::Event;
use crate::model::manifest::Kind;
use crate::model::timefmt::rfc3339_opt;
use crate::ops::backup::{take_backup, BackupRequest};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use tick::{lock, State};

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
    /// `None` before the first attempt.
    pub last_outcome: Option<RunOutcome>,
    /// Id of the last scheduled backup taken.
    pub last_backup: Option<String>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// The latest slot handled (backed up, found covered, skipped or given up).
    #[serde(with = "rfc3339_opt")]
    pub last_slot: Option<DateTime<Utc>>,
    /// Why the last automatic rotation failed; `None` once one succeeds.
    pub last_rotation_error: Option<String>,
    /// Why the last periodic test restore could not run; `None` once one runs.
    pub last_test_restore_error: Option<String>,
    /// Each remote as last known: backups missing there, the last error.
    pub offsite: Vec<crate::model::offsite::OffsiteState>,
}

struct Running {
    handle: JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

/// The scheduler of one keeper: its thread, if running, and the state of its decisions.
#[derive(Default)]
pub(crate) struct Scheduler {
    wake: Arc<Wake>,
    state: Arc<Mutex<State>>,
    running: Mutex<Option<Running>>,
}

impl Drop for Scheduler {
    /// The last keeper handle is gone: tell the thread to end (it holds the shared state
    /// only weakly and exits at its next wake). No join: this may run on that very thread.
    fn drop(&mut self) {
        if let Some(r) = self.running.get_mut().ok().and_then(|r| r.take()) {
            r.stop.store(true, Ordering::SeqCst);
            self.wake.notify();
        }
    }
}

impl Scheduler {
    /// Wakes a sleeping scheduler so it re-reads the configuration.
    pub fn wake(&self) {
        self.wake.notify();
    }

    /// Starts the thread; `false` when it already runs.
    pub fn start(&self, shared: &Arc<Shared>) -> Result<bool> {
        let mut running = lock(&self.running);
        if let Some(r) = running.as_ref() {
            if !r.handle.is_finished() {
                return Ok(false);
            }
        }
        // A fresh start reconsiders the latest slot (catch-up).
        *lock(&self.state) = State::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = Thread {
            shared: Arc::downgrade(shared),
            state: self.state.clone(),
            stop: stop.clone(),
            wake: self.wake.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("sqlkeep-scheduler".into())
            .spawn(move || thread.main())
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    Operation::Schedule,
                    format!("cannot start the scheduler thread: {e}"),
                )
            })?;
        *running = Some(Running { handle, stop });
        drop(running);
        let now = shared.clock().now();
        let cfg = shared.config();
        let next_run = cfg.schedule.next_after(cfg.timezone, now);
        shared.with_ctx(|ctx| {
            ctx.emit(Event::SchedulerStarted {
                time: now,
                next_run,
            })
        });
        Ok(true)
    }

    /// Stops the thread after its current tick; `false` when it was not running.
    pub fn stop(&self) -> bool {
        let running = lock(&self.running).take();
        match running {
            Some(r) => {
                r.stop.store(true, Ordering::SeqCst);
                self.wake.notify();
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

    /// Whether the thread runs.
    pub fn is_running(&self) -> bool {
        lock(&self.running)
            .as_ref()
            .is_some_and(|r| !r.handle.is_finished())
    }

    /// Running state, next run, last run and its outcome.
    pub fn status(&self, shared: &Shared) -> SchedulerStatus {
        let running = self.is_running();
        let now = shared.clock().now();
        let cfg = shared.config();
        // Read from files: before the state lock, which the scheduler thread takes too.
        let offsite = shared.with_ctx(crate::ops::offsite::states);
        let st = lock(&self.state);
        SchedulerStatus {
            running,
            next_run: cfg.schedule.next_after(cfg.timezone, now),
            retry_at: st.retry.as_ref().map(|r| r.at),
            last_run: st.last_run,
            last_outcome: st.last_outcome,
            last_backup: st.last_backup.clone(),
            last_error: st.last_error.clone(),
            last_slot: st.last_slot,
            last_rotation_error: st.last_rotation_error.clone(),
            last_test_restore_error: st.last_test_restore_error.clone(),
            offsite,
        }
    }

    /// One tick now, on this thread.
    pub fn run_pending(&self, shared: &Shared) -> TickOutcome {
        tick::tick(shared, &self.state, shared.clock().now())
    }
}

/// What the background thread holds.
struct Thread {
    shared: Weak<Shared>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    wake: Arc<Wake>,
}

impl Thread {
    fn main(self) {
        loop {
            let Some(shared) = self.shared.upgrade() else {
                return;
            };
            if self.stop.load(Ordering::SeqCst) {
                return shutdown(&shared);
            }
            let now = shared.clock().now();
            // A bug in one tick must not end automatic backups for the rest of the run.
            let _ = catch_unwind(AssertUnwindSafe(|| tick::tick(&shared, &self.state, now)));
            // Armed before the stop flag is read: a stop() or configure() from here on
            // ends the coming sleep at once.
            self.wake.arm();
            if self.stop.load(Ordering::SeqCst) {
                return shutdown(&shared);
            }
            let now = shared.clock().now();
            let until =
                tick::next_due(&shared, &self.state, now).unwrap_or(now + Duration::days(1));
            let clock = shared.clock().clone();
            drop(shared); // do not keep the keeper alive while sleeping
            clock.sleep_until(until, &self.wake);
        }
    }
}

fn shutdown(shared: &Shared) {
    shared.with_ctx(|ctx| {
        if ctx.cfg.backup_on_shutdown {
            let req = BackupRequest {
                kind: Kind::Shutdown,
                label: Some("taken when the scheduler stopped".into()),
                full: false,
            };
            let _ = take_backup(ctx, &req, None, None);
        }
        ctx.emit(Event::SchedulerStopped { time: ctx.now() })
    });
}
