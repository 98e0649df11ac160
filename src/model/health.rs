//! The health verdict: one answer to "are my backups working?", with its reasons, derived
//! from the backup log, the backups present, the schedule and the clock. Every face
//! (status in Rust, C and Python, `sqlkeep status`, the desktop view's headline) shows
//! this one verdict; none re-derives it.
//!
//! Pure: the caller gathers the facts (reading the log, listing backups, measuring free
//! space), so the rules are tested with any clock and any history.

use crate::config::schedule::Schedule;
use crate::config::zone::Zone;
use crate::model::events::Event;
use crate::model::history::RunStatus;
use crate::model::kind::Kind;
use crate::model::manifest::Manifest;
use crate::model::size::format_size;
use crate::model::timefmt::{rfc3339, rfc3339_opt};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// How well backups work, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Backups are made on time and their latest checks passed.
    Ok,
    /// Backups are made, but something around them needs attention (rotation, test
    /// restores, free space, a failed manual backup).
    Warning,
    /// Backups are not being made, or the newest one is damaged.
    Failing,
}

impl Level {
    /// The name in JSON, in the CLI and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Failing => "failing",
        }
    }
}

/// One reason for a verdict worse than `ok`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub level: Level,
    /// A stable name for programs (`last_backup_failed`, `stale`, ...).
    pub code: &'static str,
    /// The sentence shown to users.
    pub message: String,
}

/// The verdict and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// The worst level among the reasons; `ok` when there are none.
    pub verdict: Level,
    /// Why the verdict is not `ok`, worst first.
    pub reasons: Vec<Reason>,
    /// One line for a status bar: "Last backup 3 h ago · verified · next today 14:00".
    pub headline: String,
    /// When the verdict was computed.
    #[serde(with = "rfc3339")]
    pub checked_at: DateTime<Utc>,
    /// The newest successful backup run.
    #[serde(with = "rfc3339_opt")]
    pub last_success: Option<DateTime<Utc>>,
    /// The newest backup present and the state of its latest check.
    pub last_backup: Option<String>,
    pub last_backup_status: Option<RunStatus>,
    /// The next scheduled run, `None` when the schedule is off.
    #[serde(with = "rfc3339_opt")]
    pub next_run: Option<DateTime<Utc>>,
}

/// What the verdict is derived from.
pub struct Facts<'a> {
    /// The backup log, oldest first.
    pub events: &'a [Event],
    /// The backups present.
    pub present: &'a [Manifest],
    pub now: DateTime<Utc>,
    pub schedule: &'a Schedule,
    pub zone: Zone,
    /// How long after a scheduled backup was due its absence makes the verdict `failing`
    /// (`notify.stale_after_hours`).
    pub stale_after: Duration,
    /// Free space in the backup folder, when it could be measured.
    pub free_bytes: Option<u64>,
    /// Each remote as last known.
    pub offsite: &'a [crate::model::offsite::OffsiteState],
}

/// The verdict for `facts`.
pub fn assess(facts: &Facts<'_>) -> Health {
    let mut reasons = Vec::new();
    let runs = Runs::of(facts.events);
    let newest = facts.present.iter().max_by_key(|m| m.created_at);
    let next_run = facts.schedule.next_after(facts.zone, facts.now);

    // The last scheduled run failed: automatic backups are not being made.
    if let Some(failed) = &runs.scheduled_failure {
        reasons.push(Reason {
            level: Level::Failing,
            code: "last_backup_failed",
            message: format!(
                "the last scheduled backup failed {}: {}",
                ago(facts.now, failed.0),
                failed.1
            ),
        });
    }

    // Nothing succeeded for too long after a backup was due (the app may have been closed
    // for days: this holds whenever sqlkeep runs, scheduler or not).
    let since = runs
        .last_success
        .or_else(|| facts.events.first().map(Event::time));
    if let Some(since) = since {
        if let Some(due) = facts.schedule.next_after(facts.zone, since) {
            if due + facts.stale_after <= facts.now {
                let what = match runs.last_success {
                    Some(t) => format!("no successful backup since {}", ago(facts.now, t)),
                    None => "no successful backup yet".to_string(),
                };
                reasons.push(Reason {
                    level: Level::Failing,
                    code: "stale",
                    message: format!(
                        "{what}; one was due {} (more than {} h ago)",
                        ago(facts.now, due),
                        facts.stale_after.num_hours()
                    ),
                });
            }
        }
    }

    // The newest backup failed its latest check: the one a restore would reach for first
    // is not usable.
    if let Some(m) = newest {
        if let Some(v) = m.verification.as_ref().filter(|v| !v.ok) {
            reasons.push(Reason {
                level: Level::Failing,
                code: "newest_backup_damaged",
                message: format!("the newest backup {} failed its check: {}", m.id, v.detail),
            });
        }
    }

    if let Some((t, error)) = &runs.other_failure {
        reasons.push(Reason {
            level: Level::Warning,
            code: "backup_failed",
            message: format!("the last backup failed {}: {error}", ago(facts.now, *t)),
        });
    }
    if let Some((t, error)) = &runs.rotation_failure {
        reasons.push(Reason {
            level: Level::Warning,
            code: "rotation_failed",
            message: format!(
                "the last automatic rotation failed {}: {error}; old backups stay and the disk keeps filling",
                ago(facts.now, *t)
            ),
        });
    }
    if let Some((t, error)) = &runs.test_restore_failure {
        reasons.push(Reason {
            level: Level::Warning,
            code: "test_restore_failed",
            message: format!(
                "the last test restore failed {}: {error}",
                ago(facts.now, *t)
            ),
        });
    }
    // The next backup needs about as much room as the last one took; after an
    // incremental one, the next may be a full one, as large as its chain's.
    if let (Some(free), Some(m)) = (facts.free_bytes, newest) {
        let (need, what) = match m.incremental.as_ref().and_then(|i| i.chain.first()) {
            Some(full) => (full.size_bytes.max(m.size_bytes), "the last full backup"),
            None => (m.size_bytes, "the last backup"),
        };
        if free < need {
            reasons.push(Reason {
                level: Level::Warning,
                code: "low_space",
                message: format!(
                    "the backup folder has {} free; {what} took {}",
                    format_size(free),
                    format_size(need)
                ),
            });
        }
    }
    // An offsite copy that failed or is behind: the backups would not survive the disk.
    for s in facts.offsite {
        if s.last_error.is_some() || s.missing > 0 {
            reasons.push(Reason {
                level: Level::Warning,
                code: "offsite_missing",
                message: s.describe(),
            });
        }
    }
    if newest.is_none() && runs.last_success.is_none() && reasons.is_empty() {
        reasons.push(Reason {
            level: Level::Warning,
            code: "no_backup",
            message: "no backup has been made yet".to_string(),
        });
    }

    reasons.sort_by_key(|r| std::cmp::Reverse(r.level));
    let verdict = reasons.first().map_or(Level::Ok, |r| r.level);
    Health {
        verdict,
        headline: headline(facts, newest, next_run),
        reasons,
        checked_at: facts.now,
        last_success: runs.last_success,
        last_backup: newest.map(|m| m.id.clone()),
        last_backup_status: newest.map(RunStatus::of),
        next_run,
    }
}

/// What the log says about runs and maintenance. The log's order decides what came after
/// what (several entries can share a millisecond).
#[derive(Default)]
struct Runs {
    last_success: Option<DateTime<Utc>>,
    /// The latest scheduled run, when it failed.
    scheduled_failure: Option<(DateTime<Utc>, String)>,
    /// The latest failure of another kind (manual, shutdown, ...) with no success after it.
    other_failure: Option<(DateTime<Utc>, String)>,
    /// The latest automatic rotation, when it failed.
    rotation_failure: Option<(DateTime<Utc>, String)>,
    /// The latest test restore, when it failed or found damage.
    test_restore_failure: Option<(DateTime<Utc>, String)>,
}

impl Runs {
    fn of(events: &[Event]) -> Runs {
        let mut r = Runs::default();
        for e in events {
            match e {
                Event::BackupSucceeded { time, kind, .. } => {
                    r.last_success = r.last_success.max(Some(*time));
                    r.other_failure = None;
                    if *kind == Kind::Scheduled {
                        r.scheduled_failure = None;
                    }
                }
                Event::BackupFailed {
                    time, kind, error, ..
                } => {
                    let failure = Some((*time, error.clone()));
                    if *kind == Kind::Scheduled {
                        r.scheduled_failure = failure;
                    } else {
                        r.other_failure = failure;
                    }
                }
                Event::RotationFinished { dry_run: false, .. } => r.rotation_failure = None,
                Event::RotationFailed { time, error, .. } => {
                    r.rotation_failure = Some((*time, error.clone()))
                }
                Event::TestRestoreFinished {
                    time, ok, detail, ..
                } => {
                    r.test_restore_failure = (!ok).then(|| (*time, detail.clone()));
                }
                Event::TestRestoreFailed { time, error, .. } => {
                    r.test_restore_failure = Some((*time, error.clone()))
                }
                _ => {}
            }
        }
        r
    }
}

/// "Last backup 3 h ago · verified · next today 14:00".
fn headline(
    facts: &Facts<'_>,
    newest: Option<&Manifest>,
    next_run: Option<DateTime<Utc>>,
) -> String {
    let mut parts = Vec::new();
    match newest {
        Some(m) => {
            parts.push(format!("Last backup {}", ago(facts.now, m.created_at)));
            parts.push(RunStatus::of(m).as_str().to_string());
        }
        None => parts.push("No backup yet".to_string()),
    }
    parts.push(match next_run {
        Some(t) => format!("next {}", when(facts.zone, facts.now, t)),
        None => "automatic backups off".to_string(),
    });
    parts.join(" · ")
}

/// How long before `now` `t` was: "just now", "12 min ago", "3 h ago", "2 days ago".
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let d = now - t;
    if d < Duration::minutes(1) {
        "just now".to_string()
    } else if d < Duration::hours(1) {
        format!("{} min ago", d.num_minutes())
    } else if d < Duration::hours(48) {
        format!("{} h ago", d.num_hours())
    } else {
        format!("{} days ago", d.num_days())
    }
}

/// A coming instant in the schedule's zone, relative to today: "today 14:00", "tonight
/// 02:00" (the small hours after today), "tomorrow 09:00", "Mon 7 Dec 02:00".
pub fn when(zone: Zone, now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let (today, at) = (zone.naive_local(now).date(), zone.naive_local(t));
    let clock = at.format("%H:%M");
    let days = (at.date() - today).num_days();
    match days {
        0 => format!("today {clock}"),
        1 if at.time() < chrono::NaiveTime::from_hms_opt(6, 0, 0).expect("06:00") => {
            format!("tonight {clock}")
        }
        1 => format!("tomorrow {clock}"),
        _ => at.format("%a %-d %b %H:%M").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn coming_and_past_instants_read_relative_to_now_in_the_zone() {
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        let now = at("2026-12-02T10:00:00Z"); // 11:00 in Berlin
        for (t, text) in [
            ("2026-12-02T13:00:00Z", "today 14:00"),
            ("2026-12-03T01:00:00Z", "tonight 02:00"),
            ("2026-12-03T08:00:00Z", "tomorrow 09:00"),
            ("2026-12-07T01:00:00Z", "Mon 7 Dec 02:00"),
            // 23:30 UTC is already the next day in Berlin.
            ("2026-12-02T23:30:00Z", "tonight 00:30"),
        ] {
            assert_eq!(when(berlin, now, at(t)), text, "{t}");
        }
        assert_eq!(ago(now, at("2026-12-02T09:59:30Z")), "just now");
        assert_eq!(ago(now, at("2026-12-02T09:48:00Z")), "12 min ago");
        assert_eq!(ago(now, at("2026-12-01T07:00:00Z")), "27 h ago");
        assert_eq!(ago(now, at("2026-11-25T10:00:00Z")), "7 days ago");
    }

    #[test]
    fn too_little_free_space_and_a_failed_test_restore_warn() {
        let schedule = Schedule::parse("02:00").unwrap();
        let m: Manifest = serde_json::from_value(serde_json::json!({
            "format": 1, "id": "app-20261202T020000Z-scheduled", "kind": "scheduled",
            "label": null, "created_at": "2026-12-02T02:00:00Z", "database": "/x/app.db",
            "file": "app-20261202T020000Z-scheduled.sqlite3.gz", "compression": "gzip",
            "compression_level": 6, "size_bytes": 5_000_000u64, "sha256": "00",
            "raw_size_bytes": 9_000_000u64, "page_size": 4096, "page_count": 2197,
            "user_version": 0, "journal_mode": "wal", "sqlite_version": "3.40.1",
            "sqlkeep_version": "0.1.0", "duration_ms": 10, "verification": null
        }))
        .unwrap();
        let events = [Event::TestRestoreFinished {
            time: at("2026-12-02T02:01:00Z"),
            id: m.id.clone(),
            ok: false,
            detail: "integrity_check: page 7 is never used".to_string(),
            duration_ms: 5,
        }];
        let facts = |free| Facts {
            events: &events,
            present: std::slice::from_ref(&m),
            now: at("2026-12-02T12:00:00Z"),
            schedule: &schedule,
            zone: Zone::Utc,
            stale_after: Duration::hours(36),
            free_bytes: free,
            offsite: &[],
        };
        let h = assess(&facts(Some(4_000_000)));
        assert_eq!(h.verdict, Level::Warning);
        let codes: Vec<_> = h.reasons.iter().map(|r| r.code).collect();
        assert_eq!(codes, ["test_restore_failed", "low_space"]);
        assert_eq!(
            h.reasons[1].message,
            "the backup folder has 4.0 MB free; the last backup took 5.0 MB"
        );
        assert!(h.reasons[0].message.contains("page 7 is never used"));
        assert_eq!(
            h.headline,
            "Last backup 10 h ago · unverified · next tonight 02:00"
        );
        let h = assess(&facts(Some(6_000_000)));
        assert_eq!(h.reasons.len(), 1);
    }
}
