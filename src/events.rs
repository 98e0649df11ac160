//! The one event stream: every backup, failure, verification, restore, deletion and
//! rotation becomes an [`Event`], appended to the backup log and handed to observers
//! (Rust closures here; the bindings forward them to C callbacks and Python callables).

use crate::config::VerifyLevel;
use crate::manifest::Kind;
use crate::timefmt::{rfc3339, rfc3339_opt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

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
        error_kind: String,
        duration_ms: u64,
        /// When the scheduler will try again, if it will.
        #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
        retry_at: Option<DateTime<Utc>>,
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
            Event::VerifyFinished { .. } => "verify_finished",
            Event::RestoreFinished { .. } => "restore_finished",
            Event::BackupDeleted { .. } => "backup_deleted",
            Event::RotationFinished { .. } => "rotation_finished",
            Event::TestRestoreFinished { .. } => "test_restore_finished",
            Event::Progress { .. } => "progress",
            Event::SchedulerStarted { .. } => "scheduler_started",
            Event::SchedulerStopped { .. } => "scheduler_stopped",
        }
    }

    /// When it happened.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Event::BackupStarted { time, .. }
            | Event::BackupSucceeded { time, .. }
            | Event::BackupFailed { time, .. }
            | Event::VerifyFinished { time, .. }
            | Event::RestoreFinished { time, .. }
            | Event::BackupDeleted { time, .. }
            | Event::RotationFinished { time, .. }
            | Event::TestRestoreFinished { time, .. }
            | Event::Progress { time, .. }
            | Event::SchedulerStarted { time, .. }
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
                human_bytes(*size_bytes),
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
                    .map(|t| format!("; retrying at {}", crate::timefmt::format(&t)))
                    .unwrap_or_default()
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
                    human_bytes(*freed_bytes)
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
                    .map(|t| crate::timefmt::format(&t))
                    .unwrap_or_else(|| "never (schedule off)".into())
            ),
            Event::SchedulerStopped { .. } => "scheduler stopped".to_string(),
            other => other.type_name().to_string(),
        }
    }

    /// Whether it belongs in the backup log (progress is too chatty).
    pub fn is_logged(&self) -> bool {
        !matches!(self, Event::Progress { .. })
    }
}

/// `1.5 MB`, decimal units like `ls -h --si` and disk vendors.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A registered observer.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// The observers of one keeper. Observers run on the thread that produced the event
/// (the caller's, or the scheduler's); a panicking observer is contained so it can never
/// take down a backup or the scheduler thread.
#[derive(Default)]
pub struct Observers {
    list: RwLock<Vec<(u64, Observer)>>,
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
            .push((id, f));
        id
    }

    /// Unregisters an observer; returns whether it was registered.
    pub fn remove(&self, id: u64) -> bool {
        let mut l = self.list.write().unwrap_or_else(|e| e.into_inner());
        let before = l.len();
        l.retain(|(i, _)| *i != id);
        l.len() != before
    }

    /// Calls every observer with `e`.
    pub fn emit(&self, e: &Event) {
        // Clone the list so an observer may register or remove observers without deadlock.
        let list: Vec<Observer> = self
            .list
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        for f in list {
            let _ = catch_unwind(AssertUnwindSafe(|| f(e)));
        }
    }
}
