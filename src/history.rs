//! Run history and statistics, derived from the backup log and the backups present.

use crate::events::Event;
use crate::manifest::{Kind, Manifest};
use crate::timefmt::rfc3339;
use crate::timefmt::rfc3339_opt;
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
    /// `verified`, `unverified`, `corrupt` (failed its latest check), `deleted` (rotated
    /// away since) or `failed` (the run failed).
    pub status: &'static str,
}

/// Totals over the backups present and the runs logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Backups present.
    pub count: usize,
    /// Their total size on disk.
    pub total_bytes: u64,
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
    /// Successful runs / runs, `None` before the first run.
    pub success_rate: Option<f64>,
    /// Mean duration of successful runs.
    pub average_duration_ms: Option<u64>,
    /// Backups present per kind.
    pub by_kind: HashMap<String, usize>,
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
                status: match by_id.get(id.as_str()).map(|m| &m.verification) {
                    None => "deleted",
                    Some(None) => "unverified",
                    Some(Some(v)) if v.ok => "verified",
                    Some(Some(_)) => "corrupt",
                },
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
                status: "failed",
            }),
            _ => None,
        })
        .skip(offset)
        .take(limit)
        .collect()
}

/// Statistics over `present` backups and logged `events`.
pub fn stats(events: &[Event], present: &[Manifest]) -> Stats {
    let mut s = Stats {
        count: present.len(),
        total_bytes: present.iter().map(|m| m.size_bytes).sum(),
        oldest: present.iter().map(|m| m.created_at).min(),
        newest: present.iter().map(|m| m.created_at).max(),
        last_success: None,
        last_failure: None,
        runs: 0,
        failures: 0,
        success_rate: None,
        average_duration_ms: None,
        by_kind: HashMap::new(),
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
