//! Time as an injectable dependency: backups are stamped, schedules computed and
//! rotation periods decided by a [`Clock`], so tests can simulate years in seconds.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A source of the current time and a way to wait for a later one.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Waits until `deadline`, until `wake` is signalled, or for as long as the clock
    /// thinks is reasonable, whichever is first. Callers re-check the time afterwards:
    /// returning early is always allowed.
    fn sleep_until(&self, deadline: DateTime<Utc>, wake: &Wake);
}

/// A flag with a condition variable that ends a [`Clock::sleep_until`] early (stop,
/// reconfiguration).
///
/// A sleeper first [`Wake::arm`]s it, then checks whatever it waits for (the stop flag),
/// then sleeps: a notification that lands between the check and the sleep ends the sleep
/// at once instead of being lost (a lost one made `stop()` wait a whole minute).
#[derive(Debug, Default)]
pub struct Wake {
    state: Mutex<WakeState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct WakeState {
    /// Notifications so far.
    count: u64,
    /// The count when the sleeper armed, until its next wait.
    armed: Option<u64>,
}

impl Wake {
    /// Wakes every sleeper now.
    pub fn notify(&self) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        g.count = g.count.wrapping_add(1);
        self.cond.notify_all();
    }

    /// Marks now as the point from which the next [`Wake::wait_for`] counts
    /// notifications: one arriving after this returns that wait at once.
    pub fn arm(&self) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        g.armed = Some(g.count);
    }

    /// Sleeps up to `d` of real time, returning early on [`Wake::notify`] (or at once if
    /// one came since [`Wake::arm`]).
    pub fn wait_for(&self, d: Duration) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let seen = g.armed.take().unwrap_or(g.count);
        let _unused = self
            .cond
            .wait_timeout_while(g, d, |s| s.count == seen)
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// The real clock. Sleeps at most a minute at a time so that wall-clock jumps and
/// resumes from suspend are noticed within a minute.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// The longest single wait of [`SystemClock`].
pub const MAX_WAIT: Duration = Duration::from_secs(60);

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>, wake: &Wake) {
        let left = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if !left.is_zero() {
            wake.wait_for(left.min(MAX_WAIT));
        }
    }
}

/// A clock that only moves when told to. For tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Sets the time (forwards or backwards, like a wall clock can).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// Moves the time forwards by `d`.
    pub fn advance(&self, d: ChronoDuration) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns when the clock is moved past `deadline`, or after a short real pause so
    /// that the caller notices a [`Wake`] (the manual clock's sleeper cannot wait on two
    /// condition variables at once).
    fn sleep_until(&self, deadline: DateTime<Utc>, wake: &Wake) {
        if self.now() >= deadline {
            return;
        }
        wake.wait_for(Duration::from_millis(5));
    }
}
