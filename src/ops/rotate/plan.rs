//! Grandfather-father-son retention with borg's prune semantics.
//!
//! Only automatic backups (`scheduled`, `shutdown`) are candidates; `manual`,
//! `pre-restore` and `pre-operation` backups are never deleted by rotation. First
//! `keep_within` keeps every candidate younger than its span (measured from now). Then
//! the rules `keep_last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly` run in that
//! order over the candidates, newest first. A rule walks the candidates and keeps the
//! newest backup of each period (local hour, day, ISO week, month, year in `timezone`;
//! every backup is its own period for `keep_last`) until it has kept N. A backup already
//! kept by an earlier rule marks its period as used without counting toward the later
//! rule's N. Everything not
//! kept is deleted, with two safety nets: the newest backup that passed verification is
//! never deleted, and rotation never leaves zero backups.
//!
//! A backup whose latest verification failed cannot stand for its period (a good
//! backup of the same period is kept instead) and is deleted when no rule keeps it.
//!
//! Last, the size budget (`max_total_bytes`, `max_total_percent_of_disk`): while what
//! stays — every kind counted — is larger, the oldest automatic backup the rules kept
//! goes, but never the newest backup nor the newest verified one. When what cannot go
//! (manual backups above all) is larger by itself, the plan says so in `warning`.

use crate::config::zone::Zone;
use crate::config::Retention;
use crate::model::manifest::{Kind, Manifest};
use crate::model::size::format_size;
use crate::model::timefmt::rfc3339;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// Keep or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Delete,
}

/// The decision for one backup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanEntry {
    pub id: String,
    pub kind: Kind,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    pub size_bytes: u64,
    pub action: Action,
    /// The rule that keeps it (`daily #3`), or why it goes or stays.
    pub reason: String,
}

/// What a rotation does (or, dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RotationPlan {
    /// Nothing was deleted.
    pub dry_run: bool,
    /// Every backup, newest first.
    pub entries: Vec<PlanEntry>,
    /// Ids kept, newest first.
    pub kept: Vec<String>,
    /// Ids deleted (or to delete), newest first.
    pub deleted: Vec<String>,
    /// Bytes freed by the deletions.
    pub freed_bytes: u64,
    /// Bytes the kept backups take.
    pub total_bytes: u64,
    /// The size budget in effect, if any.
    pub max_total_bytes: Option<u64>,
    /// Why the budget cannot be met, when it cannot.
    pub warning: Option<String>,
}

#[derive(Clone, Copy)]
enum Rule {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Last => "keep_last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }

    /// The period of `t` under this rule, as a comparable key. Hours are local wall-clock
    /// hours, as borg's: on a fall-back day the repeated hour is one period.
    fn period(self, zone: Zone, t: DateTime<Utc>, index: usize) -> (i32, u32, u32, u32) {
        let local = zone.naive_local(t);
        let d = local.date();
        match self {
            Rule::Last => (i32::MIN, index as u32, 0, 0),
            Rule::Hourly => (d.year(), d.month(), d.day(), local.hour()),
            Rule::Daily => (d.year(), d.month(), d.day(), 0),
            Rule::Weekly => {
                let w = d.iso_week();
                (w.year(), w.week(), 0, 0)
            }
            Rule::Monthly => (d.year(), d.month(), 0, 0),
            Rule::Yearly => (d.year(), 0, 0, 0),
        }
    }
}

/// Decides, without touching anything, what rotation keeps and deletes at `now`.
/// `backups` may be in any order; the plan lists them newest first. The size budget is
/// `max_total_bytes` alone (see [`plan_on_disk`] for the share of a disk).
pub fn plan(
    backups: &[Manifest],
    policy: &Retention,
    zone: Zone,
    now: DateTime<Utc>,
) -> RotationPlan {
    plan_on_disk(backups, policy, zone, now, None)
}

/// [`plan`] for backups on a file system of `disk_bytes` (for
/// `max_total_percent_of_disk`).
pub fn plan_on_disk(
    backups: &[Manifest],
    policy: &Retention,
    zone: Zone,
    now: DateTime<Utc>,
    disk_bytes: Option<u64>,
) -> RotationPlan {
    let mut all: Vec<&Manifest> = backups.iter().collect();
    all.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    let failed = |m: &Manifest| m.verification.as_ref().is_some_and(|v| !v.ok);
    let candidates: Vec<&Manifest> = all
        .iter()
        .copied()
        .filter(|m| m.kind.is_automatic() && !failed(m))
        .collect();
    let mut kept: HashMap<&str, String> = HashMap::new();
    if let Some(within) = policy.keep_within {
        let since = now - within.duration();
        for m in candidates.iter().filter(|m| m.created_at > since) {
            kept.insert(&m.id, format!("keep_within {within}"));
        }
    }
    let rules = [
        (Rule::Last, policy.keep_last),
        (Rule::Hourly, policy.hourly),
        (Rule::Daily, policy.daily),
        (Rule::Weekly, policy.weekly),
        (Rule::Monthly, policy.monthly),
        (Rule::Yearly, policy.yearly),
    ];
    for (rule, n) in rules {
        if n == 0 {
            continue;
        }
        let mut last_period = None;
        let mut count = 0u32;
        for (i, m) in candidates.iter().enumerate() {
            let period = rule.period(zone, m.created_at, i);
            if last_period == Some(period) {
                continue;
            }
            last_period = Some(period);
            if kept.contains_key(m.id.as_str()) {
                continue; // its period is used, but it does not count for this rule
            }
            count += 1;
            kept.insert(&m.id, format!("{} #{count}", rule.name()));
            if count == n {
                break;
            }
        }
    }
    // Safety nets.
    if let Some(newest_ok) = all.iter().find(|m| m.verified()) {
        kept.entry(&newest_ok.id)
            .or_insert_with(|| "newest verified backup".to_string());
    }
    let any_left = all
        .iter()
        .any(|m| !m.kind.is_automatic() || kept.contains_key(m.id.as_str()));
    if !any_left {
        if let Some(newest) = all.first() {
            kept.insert(&newest.id, "never leave zero backups".to_string());
        }
    }
    let budget = policy.budget(disk_bytes);
    let mut over_budget: Vec<&str> = Vec::new();
    let mut warning = None;
    if let Some(budget) = budget {
        let stays = |m: &&&Manifest| !m.kind.is_automatic() || kept.contains_key(m.id.as_str());
        let mut total: u64 = all.iter().filter(stays).map(|m| m.size_bytes).sum();
        let protected = [
            all.first().map(|m| m.id.as_str()),
            all.iter().find(|m| m.verified()).map(|m| m.id.as_str()),
        ];
        for m in all.iter().rev() {
            if total <= budget {
                break;
            }
            let id = m.id.as_str();
            if m.kind.is_automatic() && kept.contains_key(id) && !protected.contains(&Some(id)) {
                kept.remove(id);
                over_budget.push(id);
                total -= m.size_bytes;
            }
        }
        if total > budget {
            let manual: u64 = all
                .iter()
                .filter(|m| !m.kind.is_automatic())
                .map(|m| m.size_bytes)
                .sum();
            warning = Some(format!(
                "the backups that stay take {}, more than the budget of {}{}; rotation never deletes manual backups or the newest backup: delete some by hand or raise the budget",
                format_size(total),
                format_size(budget),
                if manual > budget {
                    format!(" (manual backups alone take {})", format_size(manual))
                } else {
                    String::new()
                }
            ));
        }
    }
    let mut out = RotationPlan {
        dry_run: true,
        entries: Vec::with_capacity(all.len()),
        kept: Vec::new(),
        deleted: Vec::new(),
        freed_bytes: 0,
        total_bytes: 0,
        max_total_bytes: budget,
        warning,
    };
    for m in all {
        let (action, reason) = if !m.kind.is_automatic() {
            (
                Action::Keep,
                format!("{} backups are never rotated", m.kind),
            )
        } else if let Some(r) = kept.get(m.id.as_str()) {
            (Action::Keep, r.clone())
        } else if over_budget.contains(&m.id.as_str()) {
            (
                Action::Delete,
                format!(
                    "over the size budget of {}: the oldest automatic backups go first",
                    format_size(budget.unwrap_or(0))
                ),
            )
        } else if failed(m) {
            (
                Action::Delete,
                "failed verification; a good backup stands for its period".to_string(),
            )
        } else {
            (Action::Delete, "not kept by any rule".to_string())
        };
        match action {
            Action::Keep => {
                out.kept.push(m.id.clone());
                out.total_bytes += m.size_bytes;
            }
            Action::Delete => {
                out.deleted.push(m.id.clone());
                out.freed_bytes += m.size_bytes;
            }
        }
        out.entries.push(PlanEntry {
            id: m.id.clone(),
            kind: m.kind,
            created_at: m.created_at,
            size_bytes: m.size_bytes,
            action,
            reason,
        });
    }
    out
}
