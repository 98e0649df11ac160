//! Run history and statistics, derived from the backup log and the backups present.

use crate::model::events::Event;
use crate::model::manifest::{Kind, Manifest};
use crate::model::timefmt::rfc3339;
use crate::model::timefmt::rfc3339_opt;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// One backup run, successful or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// When the run finished.
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    /// The backup id (a failed run may have none).
    pub id: Option<String>,
    pub kind: Kind,
    pub label: Option<String>,
    /// Whether the run produced a backup.
    pub ok: bool,
    /// Why it failed.
    pub error: Option<String>,
    pub size_bytes: Option<u64>,
    pub raw_size_bytes: Option<u64>,
    pub duration_ms: u64,
    /// What became of the run.
    pub status: RunStatus,
}

/// What became of a backup run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The backup exists and passed its latest check.
    Verified,
    /// The backup exists and was never checked.
    Unverified,
    /// The backup exists and failed its latest check.
    Corrupt,
    /// The backup was deleted since (rotation or request).
    Deleted,
    /// The run failed; there is no backup.
    Failed,
    /// The run was cancelled on request; there is no backup (not a failure).
    Cancelled,
}

impl RunStatus {
    /// The name in JSON and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Verified => "verified",
            RunStatus::Unverified => "unverified",
            RunStatus::Corrupt => "corrupt",
            RunStatus::Deleted => "deleted",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// The status of a backup that exists.
    pub fn of(m: &Manifest) -> RunStatus {
        match &m.verification {
            None => RunStatus::Unverified,
            Some(v) if v.ok => RunStatus::Verified,
            Some(_) => RunStatus::Corrupt,
        }
    }
}

/// Totals over the backups present and the runs logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Backups present.
    pub count: usize,
    /// The bytes they added: a full backup's file, an incremental backup's changed pages.
    pub total_bytes: u64,
    /// Everything the backup folder holds for them: `total_bytes` plus the files that
    /// incremental backups still need after the backup that wrote them was deleted, and
    /// the page hashes the next incremental backup compares with.
    pub bytes_on_disk: u64,
    /// The sum of the databases they restore to (`raw_size_bytes`), to set against
    /// `bytes_on_disk`.
    pub raw_bytes: u64,
    /// Incremental backups present (counted in `count` too).
    pub incremental: usize,
    #[serde(with = "rfc3339_opt")]
    pub oldest: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_opt")]
    pub newest: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_opt")]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_opt")]
    pub last_failure: Option<DateTime<Utc>>,
    /// Runs logged.
    pub runs: u64,
    /// Failed runs logged.
    pub failures: u64,
    /// Runs cancelled on request (not counted in `runs`).
    pub cancelled: u64,
    /// Successful runs / runs, `None` before the first run.
    pub success_rate: Option<f64>,
    /// Mean duration of successful runs.
    pub average_duration_ms: Option<u64>,
    /// Backups present per kind.
    pub by_kind: HashMap<String, usize>,
    /// Automatic rotations that failed.
    pub rotation_failures: u64,
    #[serde(with = "rfc3339_opt")]
    pub last_rotation_failure: Option<DateTime<Utc>>,
    /// Periodic test restores that could not run or found a damaged backup.
    pub test_restore_failures: u64,
    #[serde(with = "rfc3339_opt")]
    pub last_test_restore_failure: Option<DateTime<Utc>>,
    /// Each remote as last known (filled in by the catalogue from the state files).
    pub offsite: Vec<crate::model::offsite::OffsiteState>,
}

/// The runs, newest first, skipping `offset` and returning at most `limit`.
pub fn history(
    events: &[Event],
    present: &[Manifest],
    limit: usize,
    offset: usize,
) -> Vec<HistoryEntry> {
    let by_id: HashMap<&str, &Manifest> = present.iter().map(|m| (m.id.as_str(), m)).collect();
    events
        .iter()
        .rev()
        .filter_map(|e| match e {
            Event::BackupSucceeded {
                time,
                id,
                kind,
                label,
                size_bytes,
                raw_size_bytes,
                duration_ms,
                ..
            } => Some(HistoryEntry {
                time: *time,
                id: Some(id.clone()),
                kind: *kind,
                label: label.clone(),
                ok: true,
                error: None,
                size_bytes: Some(*size_bytes),
                raw_size_bytes: Some(*raw_size_bytes),
                duration_ms: *duration_ms,
                status: by_id
                    .get(id.as_str())
                    .map_or(RunStatus::Deleted, |m| RunStatus::of(m)),
            }),
            Event::BackupFailed {
                time,
                id,
                kind,
                label,
                error,
                duration_ms,
                ..
            } => Some(HistoryEntry {
                time: *time,
                id: id.clone(),
                kind: *kind,
                label: label.clone(),
                ok: false,
                error: Some(error.clone()),
                size_bytes: None,
                raw_size_bytes: None,
                duration_ms: *duration_ms,
                status: RunStatus::Failed,
            }),
            Event::BackupCancelled {
                time,
                id,
                kind,
                label,
                duration_ms,
            } => Some(HistoryEntry {
                time: *time,
                id: id.clone(),
                kind: *kind,
                label: label.clone(),
                ok: false,
                error: None,
                size_bytes: None,
                raw_size_bytes: None,
                duration_ms: *duration_ms,
                status: RunStatus::Cancelled,
            }),
            _ => None,
        })
        .skip(offset)
        .take(limit)
        .collect()
}

/// The runs of [`history`] merged with the backups present, for a table of both: at
/// most `limit` runs (deleted ones only when `include_deleted`), one row per backup (a
/// run whose backup exists takes the backup's creation time and status), and every
/// backup present whose run is older than the window; newest first.
pub fn timeline(
    events: &[Event],
    present: &[Manifest],
    limit: usize,
    include_deleted: bool,
) -> Vec<HistoryEntry> {
    let by_id: HashMap<&str, &Manifest> = present.iter().map(|m| (m.id.as_str(), m)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut rows = Vec::new();
    for mut run in history(events, present, limit, 0) {
        if run.status == RunStatus::Deleted && !include_deleted {
            continue;
        }
        if let Some(m) = run.id.as_deref().and_then(|id| by_id.get(id)) {
            if !seen.insert(m.id.clone()) {
                continue;
            }
            run.time = m.created_at;
            run.status = RunStatus::of(m);
        }
        rows.push(run);
    }
    for m in present.iter().filter(|m| !seen.contains(&m.id)) {
        rows.push(HistoryEntry {
            time: m.created_at,
            id: Some(m.id.clone()),
            kind: m.kind,
            label: m.label.clone(),
            ok: true,
            error: None,
            size_bytes: Some(m.size_bytes),
            raw_size_bytes: Some(m.raw_size_bytes),
            duration_ms: m.duration_ms,
            status: RunStatus::of(m),
        });
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.time));
    rows
}

/// Statistics over `present` backups and logged `events`.
pub fn stats(events: &[Event], present: &[Manifest]) -> Stats {
    let mut s = Stats {
        count: present.len(),
        total_bytes: present.iter().map(|m| m.size_bytes).sum(),
        bytes_on_disk: present.iter().map(|m| m.size_bytes).sum(),
        raw_bytes: present.iter().map(|m| m.raw_size_bytes).sum(),
        incremental: present.iter().filter(|m| m.incremental.is_some()).count(),
        oldest: present.iter().map(|m| m.created_at).min(),
        newest: present.iter().map(|m| m.created_at).max(),
        last_success: None,
        last_failure: None,
        runs: 0,
        failures: 0,
        cancelled: 0,
        success_rate: None,
        average_duration_ms: None,
        by_kind: HashMap::new(),
        rotation_failures: 0,
        last_rotation_failure: None,
        test_restore_failures: 0,
        last_test_restore_failure: None,
        offsite: Vec::new(),
    };
    for m in present {
        *s.by_kind.entry(m.kind.as_str().to_string()).or_default() += 1;
    }
    let mut total_ms = 0u64;
    for e in events {
        match e {
            Event::BackupSucceeded {
                time, duration_ms, ..
            } => {
                s.runs += 1;
                total_ms += duration_ms;
                s.last_success = s.last_success.max(Some(*time));
            }
            Event::BackupFailed { time, .. } => {
                s.runs += 1;
                s.failures += 1;
                s.last_failure = s.last_failure.max(Some(*time));
            }
            // Neither a success nor a failure.
            Event::BackupCancelled { .. } => s.cancelled += 1,
            Event::RotationFailed { time, .. } => {
                s.rotation_failures += 1;
                s.last_rotation_failure = s.last_rotation_failure.max(Some(*time));
            }
            Event::TestRestoreFailed { time, .. }
            | Event::TestRestoreFinished {
                time, ok: false, ..
            } => {
                s.test_restore_failures += 1;
                s.last_test_restore_failure = s.last_test_restore_failure.max(Some(*time));
            }
            _ => {}
        }
    }
    let ok = s.runs - s.failures;
    if s.runs > 0 {
        s.success_rate = Some(ok as f64 / s.runs as f64);
    }
    s.average_duration_ms = total_ms.checked_div(ok);
    s
}
