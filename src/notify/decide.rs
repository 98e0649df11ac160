//! When to tell whom: one event and the health verdict after it, against what was sent
//! before (the [`State`]), give the messages for each channel. Pure, so every rule is
//! tested without a server or a clock.

use super::message::{Message, Writer};
use crate::config::{Channel, On, Target};
use crate::model::events::Event;
use crate::model::health::{Health, Level};
use crate::model::manifest::Kind;
use crate::model::timefmt::rfc3339;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What was sent before, kept beside the backups so that a process started tomorrow
/// (the CLI from cron) knows it: the verdict last told, and when each problem was last
/// sent (for `notify.repeat_hours`). Holds no secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// `ok` unless a failure or warning was sent and nothing good since.
    pub told: Told,
    /// Problem key → when it was last sent.
    #[serde(default)]
    pub sent: BTreeMap<String, Sent>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Told {
    #[default]
    Ok,
    Problem,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
}

/// The messages for one event: `(channel index, message)`.
pub type Plan = Vec<(usize, Message)>;

/// Whether `e` can lead to a message (the rest are not even queued).
pub fn concerns(e: &Event) -> bool {
    matches!(
        e,
        Event::BackupStarted { .. }
            | Event::BackupSucceeded { .. }
            | Event::BackupFailed { .. }
            | Event::RotationFailed { .. }
            | Event::RotationFinished { dry_run: false, .. }
            | Event::TestRestoreFailed { .. }
            | Event::TestRestoreFinished { .. }
            | Event::VerifyFinished { .. }
            | Event::SchedulerStarted { .. }
    )
}

/// Everything a decision depends on.
pub struct Facts<'a> {
    pub event: &'a Event,
    pub health: &'a Health,
    pub channels: &'a [Channel],
    pub writer: Writer<'a>,
    pub repeat: Duration,
}

fn is_heartbeat(c: &Channel) -> bool {
    matches!(c.target, Target::Heartbeat { .. })
}

/// Every message for `f.event`; `state` records what is sent.
pub fn decide(f: &Facts<'_>, state: &mut State) -> Plan {
    let mut plan = Plan::new();
    let now = f.writer.now;
    let each = |plan: &mut Plan, on: On, m: &Message| {
        for (i, c) in f.channels.iter().enumerate() {
            if !is_heartbeat(c) && c.wants(on) {
                plan.push((i, m.clone()));
            }
        }
    };
    let heartbeats = |plan: &mut Plan, m: &Message| {
        for (i, c) in f.channels.iter().enumerate() {
            if is_heartbeat(c) {
                plan.push((i, m.clone()));
            }
        }
    };
    // Whether an identical problem went out within `repeat` (then it is not re-sent).
    let fresh = |state: &mut State, key: String| -> bool {
        if let Some(s) = state.sent.get(&key) {
            if now - s.at < f.repeat {
                return false;
            }
        }
        state.sent.insert(key, Sent { at: now });
        true
    };
    // A safety copy before a restore is part of the restore, not the backup routine a
    // heartbeat watches; its failure still reaches the other channels.
    let routine = |kind: &Kind| *kind != Kind::PreRestore;

    match f.event {
        Event::BackupStarted { kind, .. } => {
            if routine(kind) {
                heartbeats(&mut plan, &f.writer.started(f.event));
            }
            return plan;
        }
        Event::BackupFailed { kind, error, .. } => {
            let m = f.writer.failure(f.event, f.health, error);
            if routine(kind) {
                heartbeats(&mut plan, &m);
            }
            if fresh(state, format!("backup_failed: {error}")) {
                each(&mut plan, On::Failure, &m);
            }
            state.told = Told::Problem;
            return plan;
        }
        Event::BackupSucceeded {
            kind,
            verified: Some(false),
            ..
        } => {
            let m = f
                .writer
                .failure(f.event, f.health, "verification after backup failed");
            if routine(kind) {
                heartbeats(&mut plan, &m);
            }
            if fresh(state, "verification_failed".into()) {
                each(&mut plan, On::Failure, &m);
            }
            state.told = Told::Problem;
            return plan;
        }
        Event::BackupSucceeded { kind, .. } => {
            // The success ping: the backup was written and (when configured) verified.
            if routine(kind) {
                let mut ping = f.writer.success(f.event, f.health, On::Success);
                ping.ping = Some(super::message::Ping::Success);
                heartbeats(&mut plan, &ping);
            }
            let recovered = state.told == Told::Problem && f.health.verdict == Level::Ok;
            let success = f.writer.success(f.event, f.health, On::Success);
            let recovery = f.writer.success(f.event, f.health, On::Recovery);
            for (i, c) in f.channels.iter().enumerate() {
                if is_heartbeat(c) {
                    continue;
                }
                if recovered && c.wants(On::Recovery) {
                    plan.push((i, recovery.clone()));
                } else if c.wants(On::Success) {
                    plan.push((i, success.clone()));
                }
            }
            if recovered {
                *state = State::default();
                return plan;
            }
        }
        _ => {}
    }
    // Everything else (and a success that leaves other problems): the verdict decides.
    match f.health.verdict {
        Level::Ok if state.told == Told::Problem => {
            each(
                &mut plan,
                On::Recovery,
                &f.writer.recovered(Some(f.event), f.health),
            );
            *state = State::default();
        }
        Level::Ok => {}
        level => {
            let on = if level == Level::Failing {
                On::Failure
            } else {
                On::Warning
            };
            let codes: Vec<&str> = f.health.reasons.iter().map(|r| r.code).collect();
            if fresh(state, format!("health: {}", codes.join(","))) {
                each(
                    &mut plan,
                    on,
                    &f.writer.problem(Some(f.event), f.health, on),
                );
            }
            state.told = Told::Problem;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Notify, NotifyChange};
    use crate::model::health::Reason;
    use serde_json::json;

    fn channels() -> Vec<Channel> {
        let v = json!([
            {"webhook": "http://127.0.0.1:9/hook"},
            {"heartbeat": "http://127.0.0.1:9/ping"},
            {"webhook": "http://127.0.0.1:9/all", "on": ["failure", "warning", "success", "recovery"]},
        ]);
        Notify::default()
            .with_change(&NotifyChange::from_value(&v).unwrap())
            .channels
    }

    fn health(level: Level, codes: &[&'static str]) -> Health {
        Health {
            verdict: level,
            reasons: codes
                .iter()
                .map(|c| Reason {
                    level,
                    code: c,
                    message: format!("{c} happened"),
                })
                .collect(),
            headline: "Last backup 1 h ago".into(),
            checked_at: Utc::now(),
            last_success: None,
            last_backup: None,
            last_backup_status: None,
            next_run: None,
        }
    }

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap() + Duration::hours(h)
    }

    /// `(channel, notification)` of each message.
    fn run(
        e: &Event,
        h: &Health,
        now: DateTime<Utc>,
        state: &mut State,
    ) -> Vec<(usize, &'static str)> {
        let ch = channels();
        let plan = decide(
            &Facts {
                event: e,
                health: h,
                channels: &ch,
                writer: Writer {
                    database: "/data/employees.db",
                    now,
                },
                repeat: Duration::hours(24),
            },
            state,
        );
        plan.into_iter().map(|(i, m)| (i, m.notification)).collect()
    }

    fn failed(now: DateTime<Utc>, error: &str) -> Event {
        Event::BackupFailed {
            time: now,
            id: None,
            kind: Kind::Scheduled,
            label: None,
            error: error.into(),
            error_kind: crate::error::ErrorKind::Io,
            duration_ms: 5,
            retry_at: None,
        }
    }

    fn succeeded(now: DateTime<Utc>, verified: Option<bool>) -> Event {
        Event::BackupSucceeded {
            time: now,
            id: "employees-1".into(),
            kind: Kind::Scheduled,
            label: None,
            size_bytes: 1000,
            raw_size_bytes: 4000,
            duration_ms: 10,
            verified,
        }
    }

    #[test]
    fn failures_repeat_once_per_period_and_a_success_recovers() {
        let mut s = State::default();
        let failing = health(Level::Failing, &["last_backup_failed"]);
        assert_eq!(
            run(&failed(t(0), "disk full"), &failing, t(0), &mut s),
            vec![(1, "failure"), (0, "failure"), (2, "failure")]
        );
        // The same failure an hour later: only the heartbeat hears it again.
        assert_eq!(
            run(&failed(t(1), "disk full"), &failing, t(1), &mut s),
            vec![(1, "failure")]
        );
        // A different failure is news.
        assert_eq!(
            run(&failed(t(2), "permission denied"), &failing, t(2), &mut s),
            vec![(1, "failure"), (0, "failure"), (2, "failure")]
        );
        // A day later the first one is sent again.
        assert_eq!(
            run(&failed(t(25), "disk full"), &failing, t(25), &mut s).len(),
            3
        );
        // Success: the heartbeat's ping, recovery for those that want it.
        let ok = health(Level::Ok, &[]);
        assert_eq!(
            run(&succeeded(t(26), Some(true)), &ok, t(26), &mut s),
            vec![(1, "success"), (0, "recovery"), (2, "recovery")]
        );
        // The next success is routine: only `success` subscribers hear it.
        assert_eq!(
            run(&succeeded(t(27), Some(true)), &ok, t(27), &mut s),
            vec![(1, "success"), (2, "success")]
        );
        // After the recovery the old failure is news again.
        assert_eq!(
            run(&failed(t(28), "disk full"), &failing, t(28), &mut s).len(),
            3
        );
    }

    #[test]
    fn a_failed_verification_is_a_failure_and_no_success_ping() {
        let mut s = State::default();
        let plan = run(
            &succeeded(t(0), Some(false)),
            &health(Level::Failing, &["x"]),
            t(0),
            &mut s,
        );
        assert_eq!(plan, vec![(1, "failure"), (0, "failure"), (2, "failure")]);
    }

    #[test]
    fn warnings_and_stale_backups_come_from_the_verdict() {
        let mut s = State::default();
        let started = Event::SchedulerStarted {
            time: t(0),
            next_run: None,
        };
        // A week closed: stale is a failure.
        let stale = health(Level::Failing, &["stale"]);
        assert_eq!(
            run(&started, &stale, t(0), &mut s),
            vec![(0, "failure"), (2, "failure")]
        );
        assert_eq!(run(&started, &stale, t(1), &mut s), vec![]);
        let rot = Event::RotationFailed {
            time: t(2),
            error: "no".into(),
            error_kind: crate::error::ErrorKind::Io,
        };
        let warn = health(Level::Warning, &["rotation_failed"]);
        assert_eq!(
            run(&rot, &warn, t(2), &mut s),
            vec![(0, "warning"), (2, "warning")]
        );
        // Healthy again without a backup (the problem was cleared): recovery.
        assert_eq!(
            run(&started, &health(Level::Ok, &[]), t(3), &mut s),
            vec![(0, "recovery"), (2, "recovery")]
        );
        assert_eq!(s, State::default());
        // A success that leaves a warning: success, then the warning.
        let low = health(Level::Warning, &["low_space"]);
        assert_eq!(
            run(&succeeded(t(4), None), &low, t(4), &mut s),
            vec![
                (1, "success"),
                (2, "success"),
                (0, "warning"),
                (2, "warning")
            ]
        );
    }
}
