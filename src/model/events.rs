//! The one event stream: every backup, failure, verification, restore, deletion and
//! rotation becomes an [`Event`], appended to the backup log and handed to observers
//! (Rust closures here; the bindings forward them to C callbacks and Python callables).

use crate::config::VerifyLevel;
use crate::error::ErrorKind;
use crate::model::manifest::Kind;
use crate::model::size::format_size;
use crate::model::timefmt::{rfc3339, rfc3339_opt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

/// Something that happened. Serialises as a JSON object with a `type` and a `time`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A backup began.
    BackupStarted {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: String,
        kind: Kind,
        label: Option<String>,
    },
    /// A backup was written (and verified, when `verified` is set).
    BackupSucceeded {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: String,
        kind: Kind,
        label: Option<String>,
        size_bytes: u64,
        raw_size_bytes: u64,
        duration_ms: u64,
        /// `None` when verification after backup is off.
        verified: Option<bool>,
    },
    /// A backup failed; nothing was left behind.
    BackupFailed {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: Option<String>,
        kind: Kind,
        label: Option<String>,
        error: String,
        error_kind: ErrorKind,
        duration_ms: u64,
        /// When the scheduler will try again, if it will.
        #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
    },
    /// A backup was cancelled on request (`Keeper::cancel`); nothing was left behind.
    /// Not a failure: the scheduler does not retry it, statistics do not count it.
    BackupCancelled {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: Option<String>,
        kind: Kind,
        label: Option<String>,
        duration_ms: u64,
    },
    /// A verification finished (ok or not).
    VerifyFinished {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: String,
        level: VerifyLevel,
        ok: bool,
        detail: String,
    },
    /// A restore finished (ok or not).
    RestoreFinished {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: String,
        target: String,
        /// The `pre-restore` safety backup, when the live database was replaced.
        safety_backup: Option<String>,
        ok: bool,
        error: Option<String>,
        duration_ms: u64,
    },
    /// A backup was deleted (by rotation or by request).
    BackupDeleted {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: String,
        kind: Kind,
        size_bytes: u64,
        reason: String,
    },
    /// A rotation finished.
    RotationFinished {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        dry_run: bool,
        kept: usize,
        deleted: usize,
        freed_bytes: u64,
    },
    /// A periodic test restore finished.
    TestRestoreFinished {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: String,
        ok: bool,
        detail: String,
        duration_ms: u64,
    },
    /// An automatic rotation after a scheduled backup failed: old backups stay and the
    /// disk keeps filling until it works again.
    RotationFailed {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        error: String,
        error_kind: ErrorKind,
    },
    /// A periodic test restore could not run (as opposed to finding a damaged backup,
    /// which is a `test_restore_finished` with `ok: false`).
    TestRestoreFailed {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        /// The backup chosen, when it got that far.
        id: Option<String>,
        error: String,
        error_kind: ErrorKind,
    },
    /// Progress of a running backup, in pages.
    Progress {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        id: String,
        done_pages: u64,
        total_pages: u64,
    },
    /// The scheduler started.
    SchedulerStarted {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        #[serde(with = "rfc3339_opt")]
        next_run: Option<DateTime<Utc>>,
    },
    /// The schedule runs more often than the retention policy keeps backups, so rotation
    /// would delete most of them soon after they are made (said when a configuration is
    /// loaded or changed; not an error).
    RetentionWarning {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        message: String,
        /// The settings that would keep them (`retention.hourly`, ...).
        keys: Vec<String>,
    },
    /// A notification could not be delivered after its retries (the backup it was about
    /// is not affected). `channel` names the channel without its secrets.
    NotificationFailed {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        channel: String,
        /// `failure`, `warning`, `success`, `recovery`, `start` or `test`.
        notification: String,
        error: String,
        attempts: u32,
    },
    /// A backup was copied to a remote (its checksum checked on the way).
    OffsiteCopied {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        remote: String,
        id: String,
        size_bytes: u64,
        duration_ms: u64,
    },
    /// Copying to a remote failed after its retries. The local backups are not affected;
    /// the next run (or `push`) catches up. `missing` counts the backups the remote
    /// still lacks.
    OffsiteFailed {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        remote: String,
        /// The backup being copied, when it got that far.
        id: Option<String>,
        error: String,
        error_kind: ErrorKind,
        missing: usize,
    },
    /// A backup was deleted from a remote (that remote's rotation, or by request).
    OffsiteDeleted {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
        remote: String,
        id: String,
        size_bytes: u64,
        reason: String,
    },
    /// The scheduler stopped.
    SchedulerStopped {
        #[serde(with = "rfc3339")]
        time: DateTime<Utc>,
    },
}

impl Event {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::BackupStarted { .. } => "backup_started",
            Event::BackupSucceeded { .. } => "backup_succeeded",
            Event::BackupFailed { .. } => "backup_failed",
            Event::BackupCancelled { .. } => "backup_cancelled",
            Event::VerifyFinished { .. } => "verify_finished",
            Event::RestoreFinished { .. } => "restore_finished",
            Event::BackupDeleted { .. } => "backup_deleted",
            Event::RotationFinished { .. } => "rotation_finished",
            Event::TestRestoreFinished { .. } => "test_restore_finished",
            Event::RotationFailed { .. } => "rotation_failed",
            Event::TestRestoreFailed { .. } => "test_restore_failed",
            Event::Progress { .. } => "progress",
            Event::SchedulerStarted { .. } => "scheduler_started",
            Event::SchedulerStopped { .. } => "scheduler_stopped",
            Event::RetentionWarning { .. } => "retention_warning",
            Event::NotificationFailed { .. } => "notification_failed",
            Event::OffsiteCopied { .. } => "offsite_copied",
            Event::OffsiteFailed { .. } => "offsite_failed",
            Event::OffsiteDeleted { .. } => "offsite_deleted",
        }
    }

    /// When it happened.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Event::BackupStarted { time, .. }
            | Event::BackupSucceeded { time, .. }
            | Event::BackupFailed { time, .. }
            | Event::BackupCancelled { time, .. }
            | Event::VerifyFinished { time, .. }
            | Event::RestoreFinished { time, .. }
            | Event::BackupDeleted { time, .. }
            | Event::RotationFinished { time, .. }
            | Event::TestRestoreFinished { time, .. }
            | Event::RotationFailed { time, .. }
            | Event::TestRestoreFailed { time, .. }
            | Event::Progress { time, .. }
            | Event::SchedulerStarted { time, .. }
            | Event::RetentionWarning { time, .. }
            | Event::NotificationFailed { time, .. }
            | Event::OffsiteCopied { time, .. }
            | Event::OffsiteFailed { time, .. }
            | Event::OffsiteDeleted { time, .. }
            | Event::SchedulerStopped { time } => *time,
        }
    }

    /// The event as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("events always serialise")
    }

    /// One line for a person: what happened, with the numbers that matter (used by
    /// `sqlkeep run` and by the Python logger).
    pub fn describe(&self) -> String {
        match self {
            Event::BackupStarted { id, kind, .. } => format!("{kind} backup {id} started"),
            Event::BackupSucceeded {
                id,
                size_bytes,
                duration_ms,
                verified,
                ..
            } => format!(
                "backup {id} written: {} in {duration_ms} ms{}",
                format_size(*size_bytes),
                match verified {
                    Some(true) => ", verified",
                    Some(false) => ", verification FAILED",
                    None => "",
                }
            ),
            Event::BackupFailed {
                kind,
                error,
                retry_at,
                ..
            } => format!(
                "{kind} backup FAILED: {error}{}",
                retry_at
                    .map(|t| format!("; retrying at {}", crate::model::timefmt::format(&t)))
                    .unwrap_or_default()
            ),
            Event::BackupCancelled { kind, id, .. } => format!(
                "{kind} backup{} cancelled; nothing was kept",
                id.as_ref().map(|i| format!(" {i}")).unwrap_or_default()
            ),
            Event::VerifyFinished { id, ok, detail, .. } => {
                format!(
                    "verify {id}: {} ({detail})",
                    if *ok { "ok" } else { "CORRUPT" }
                )
            }
            Event::RestoreFinished {
                id,
                target,
                ok,
                error,
                ..
            } => match ok {
                true => format!("restored {id} into {target}"),
                false => format!(
                    "restore of {id} FAILED: {}",
                    error.clone().unwrap_or_default()
                ),
            },
            Event::BackupDeleted { id, reason, .. } => format!("deleted {id} ({reason})"),
            Event::RotationFinished {
                kept,
                deleted,
                freed_bytes,
                ..
            } => {
                format!(
                    "rotation: kept {kept}, deleted {deleted}, freed {}",
                    format_size(*freed_bytes)
                )
            }
            Event::TestRestoreFinished { id, ok, detail, .. } => {
                format!(
                    "test restore of {id}: {} ({detail})",
                    if *ok { "ok" } else { "FAILED" }
                )
            }
            Event::SchedulerStarted { next_run, .. } => format!(
                "scheduler started; next run {}",
                next_run
                    .map(|t| crate::model::timefmt::format(&t))
                    .unwrap_or_else(|| "never (schedule off)".into())
            ),
            Event::SchedulerStopped { .. } => "scheduler stopped".to_string(),
            Event::RotationFailed { error, .. } => {
                format!("automatic rotation FAILED: {error}")
            }
            Event::RetentionWarning { message, .. } => format!("retention: {message}"),
            Event::NotificationFailed {
                channel,
                notification,
                error,
                attempts,
                ..
            } => format!(
                "{notification} notification to {channel} FAILED after {attempts} attempt{}: {error}",
                if *attempts == 1 { "" } else { "s" }
            ),
            Event::OffsiteCopied {
                remote,
                id,
                size_bytes,
                duration_ms,
                ..
            } => format!(
                "copied {id} to remote {remote}: {} in {duration_ms} ms",
                format_size(*size_bytes)
            ),
            Event::OffsiteFailed {
                remote,
                error,
                missing,
                ..
            } => format!(
                "offsite copy to {remote} FAILED ({missing} backup{} missing there): {error}",
                if *missing == 1 { "" } else { "s" }
            ),
            Event::OffsiteDeleted {
                remote, id, reason, ..
            } => format!("deleted {id} from remote {remote} ({reason})"),
            Event::TestRestoreFailed { id, error, .. } => format!(
                "test restore{} could not run: {error}",
                id.as_ref().map(|i| format!(" of {i}")).unwrap_or_default()
            ),
            other => other.type_name().to_string(),
        }
    }

    /// Whether it belongs in the backup log (progress is too chatty).
    pub fn is_logged(&self) -> bool {
        !matches!(self, Event::Progress { .. })
    }
}

/// How much an event matters to a person, decided here once for every face: the Python
/// logger's level, the desktop view's notification colour, the CLI's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine (started, progress, rotation done, scheduler started or stopped).
    Info,
    /// Something the user asked for or relies on went well.
    Success,
    /// Something failed and will be retried, or will go wrong unless a setting changes.
    Warning,
    /// Something failed and needs attention.
    Error,
}

impl Severity {
    /// `"info"`, `"success"`, `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Success => "success",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl Event {
    /// How much this event matters to a person.
    pub fn severity(&self) -> Severity {
        match self {
            Event::BackupFailed {
                retry_at: Some(_), ..
            }
            | Event::RetentionWarning { .. }
            | Event::NotificationFailed { .. }
            | Event::OffsiteFailed { .. } => Severity::Warning,
            Event::BackupFailed { .. }
            | Event::RotationFailed { .. }
            | Event::TestRestoreFailed { .. }
            | Event::VerifyFinished { ok: false, .. }
            | Event::RestoreFinished { ok: false, .. }
            | Event::TestRestoreFinished { ok: false, .. } => Severity::Error,
            Event::BackupSucceeded {
                verified: Some(false),
                ..
            } => Severity::Error,
            Event::BackupSucceeded { .. }
            | Event::VerifyFinished { ok: true, .. }
            | Event::RestoreFinished { ok: true, .. }
            | Event::TestRestoreFinished { ok: true, .. }
            | Event::OffsiteCopied { .. } => Severity::Success,
            _ => Severity::Info,
        }
    }
}

/// A registered observer.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// One registration and the deliveries running through it.
struct Registration {
    id: u64,
    observer: Observer,
    delivery: Mutex<Delivery>,
    idle: Condvar,
}

struct Delivery {
    /// False once removed: a delivery that starts afterwards does not call the observer.
    active: bool,
    /// Calls running now, on any thread.
    in_flight: usize,
}

thread_local! {
    /// The registrations this thread is delivering to now (innermost last), so that an
    /// observer that removes itself does not wait for itself.
    static DELIVERING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain counters: a panic while holding the lock cannot leave them inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends a delivery even if the observer unwinds.
struct InFlight<'a>(&'a Registration);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        DELIVERING.with(|d| d.borrow_mut().pop());
        let mut d = lock(&self.0.delivery);
        d.in_flight -= 1;
        if d.in_flight == 0 {
            self.0.idle.notify_all();
        }
    }
}

impl Registration {
    fn deliver(&self, e: &Event) {
        {
            let mut d = lock(&self.delivery);
            if !d.active {
                return;
            }
            d.in_flight += 1;
        }
        DELIVERING.with(|d| d.borrow_mut().push(self.id));
        let _in_flight = InFlight(self);
        let _ = catch_unwind(AssertUnwindSafe(|| (self.observer)(e)));
    }

    fn retire(&self) {
        let own = DELIVERING.with(|d| d.borrow().iter().filter(|i| **i == self.id).count());
        let mut d = lock(&self.delivery);
        d.active = false;
        while d.in_flight > own {
            d = self.idle.wait(d).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The observers of one keeper. Observers run on the thread that produced the event
/// (the caller's, or the scheduler's); a panicking observer is contained so it can never
/// take down a backup or the scheduler thread.
#[derive(Default)]
pub struct Observers {
    list: RwLock<Vec<Arc<Registration>>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.list.read().map(|l| l.len()).unwrap_or(0);
        f.debug_struct("Observers").field("count", &n).finish()
    }
}

impl Observers {
    /// Registers `f`; returns an id for [`Observers::remove`].
    pub fn add(&self, f: Observer) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.list
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(Registration {
                id,
                observer: f,
                delivery: Mutex::new(Delivery {
                    active: true,
                    in_flight: 0,
                }),
                idle: Condvar::new(),
            }));
        id
    }

    /// Unregisters an observer; returns whether it was registered. Returns once no
    /// other thread is still inside it, so whatever it captured may be released then (an
    /// observer removing itself does not wait for itself).
    pub fn remove(&self, id: u64) -> bool {
        let removed = {
            let mut l = self.list.write().unwrap_or_else(|e| e.into_inner());
            l.iter().position(|r| r.id == id).map(|at| l.remove(at))
        };
        // Waited for outside the list's lock: a running observer may add or remove
        // observers itself.
        match removed {
            Some(r) => {
                r.retire();
                true
            }
            None => false,
        }
    }

    /// Calls every observer with `e`.
    pub fn emit(&self, e: &Event) {
        // Clone the list so an observer may register or remove observers without deadlock.
        let list: Vec<Arc<Registration>> =
            self.list.read().unwrap_or_else(|p| p.into_inner()).clone();
        for r in list {
            r.deliver(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn event() -> Event {
        Event::SchedulerStopped { time: Utc::now() }
    }

    /// `remove` returns only after a delivery running on another thread has ended, so
    /// the caller may free what the observer uses.
    #[test]
    fn remove_waits_for_a_delivery_in_progress() {
        let observers = Arc::new(Observers::default());
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = finished.clone();
        let id = observers.add(Arc::new(move |_: &Event| {
            entered_tx.send(()).unwrap();
            lock(&release_rx).recv().unwrap();
            f.store(true, Ordering::SeqCst);
        }));
        let o = observers.clone();
        let emitter = std::thread::spawn(move || o.emit(&event()));
        entered_rx.recv().unwrap();
        let o = observers.clone();
        let (removed_tx, removed_rx) = mpsc::channel();
        let remover = std::thread::spawn(move || {
            let removed = o.remove(id);
            removed_tx.send(removed).unwrap();
        });
        // The observer is still running: remove must not have returned.
        assert!(removed_rx.recv_timeout(Duration::from_millis(200)).is_err());
        release_tx.send(()).unwrap();
        assert!(removed_rx.recv_timeout(Duration::from_secs(10)).unwrap());
        assert!(
            finished.load(Ordering::SeqCst),
            "remove returned before the delivery ended"
        );
        emitter.join().unwrap();
        remover.join().unwrap();
        assert!(!observers.remove(id));
    }

    /// An observer that removes itself while running does not deadlock, and a
    /// panicking observer does not stop the others.
    #[test]
    fn self_removal_and_panics_are_contained() {
        let observers = Arc::new(Observers::default());
        let seen = Arc::new(AtomicU64::new(0));
        let o = Arc::downgrade(&observers);
        let me = Arc::new(AtomicU64::new(0));
        let me2 = me.clone();
        let id = observers.add(Arc::new(move |_: &Event| {
            if let Some(o) = o.upgrade() {
                assert!(o.remove(me2.load(Ordering::SeqCst)));
            }
        }));
        me.store(id, Ordering::SeqCst);
        observers.add(Arc::new(|_: &Event| panic!("observer bug")));
        let s = seen.clone();
        observers.add(Arc::new(move |_: &Event| {
            s.fetch_add(1, Ordering::SeqCst);
        }));
        observers.emit(&event());
        observers.emit(&event());
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn severity_is_decided_once() {
        let t = crate::model::timefmt::to_precision(Utc::now());
        let failed = |retry_at| Event::BackupFailed {
            time: t,
            id: None,
            kind: Kind::Scheduled,
            label: None,
            error: "disk full".into(),
            error_kind: ErrorKind::Io,
            duration_ms: 1,
            retry_at,
        };
        assert_eq!(failed(Some(t)).severity(), Severity::Warning);
        assert_eq!(failed(None).severity(), Severity::Error);
        let rotation = Event::RotationFailed {
            time: t,
            error: "busy".into(),
            error_kind: ErrorKind::Busy,
        };
        assert_eq!(rotation.severity(), Severity::Error);
        assert_eq!(event().severity(), Severity::Info);
        assert_eq!(Severity::Warning.as_str(), "warning");
        let v = rotation.to_value();
        assert_eq!(v["type"], "rotation_failed");
        assert_eq!(v["error_kind"], "busy");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, rotation);
    }
}
