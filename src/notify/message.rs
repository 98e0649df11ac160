//! What a notification says: a one-line subject, a plain-text body and the webhook's JSON
//! body, all built from the event and the health verdict — never from the configuration's
//! secrets, which this module never sees.

use crate::config::On;
use crate::model::events::Event;
use crate::model::health::Health;
use crate::model::size::format_size;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// A heartbeat ping (the healthchecks.io convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// `<url>/start`: a backup began.
    Start,
    /// `<url>`: a backup, its verification and its copies all succeeded.
    Success,
    /// `<url>/fail`.
    Fail,
    /// `<url>/log`: recorded without changing the check's state (`notify --test`).
    Log,
}

impl Ping {
    /// The suffix appended to the heartbeat URL.
    pub fn suffix(self) -> &'static str {
        match self {
            Ping::Start => "/start",
            Ping::Success => "",
            Ping::Fail => "/fail",
            Ping::Log => "/log",
        }
    }
}

/// One notification, ready for any channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `failure`, `warning`, `success`, `recovery`, `start` or `test`.
    pub notification: &'static str,
    pub subject: String,
    pub text: String,
    pub json: Value,
    /// What a heartbeat channel does with it (`None`: heartbeats ignore it).
    pub ping: Option<Ping>,
}

/// The file name of the database, for subjects ("employees.db").
fn name_of(database: &str) -> &str {
    std::path::Path::new(database)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(database)
}

fn first_reason(h: &Health) -> String {
    h.reasons
        .first()
        .map(|r| r.message.clone())
        .unwrap_or_else(|| h.headline.clone())
}

/// Builds messages for one database.
pub struct Writer<'a> {
    pub database: &'a str,
    pub now: DateTime<Utc>,
}

impl Writer<'_> {
    fn message(
        &self,
        notification: &'static str,
        subject: String,
        health: Option<&Health>,
        event: Option<&Event>,
        ping: Option<Ping>,
    ) -> Message {
        let mut text = format!("{subject}\n\nDatabase: {}\n", self.database);
        if let Some(h) = health {
            text.push_str(&format!(
                "Health: {} — {}\n",
                h.verdict.as_str(),
                h.headline
            ));
            for r in &h.reasons {
                text.push_str(&format!("  - [{}] {}\n", r.level.as_str(), r.message));
            }
        }
        if let Some(e) = event {
            text.push_str(&format!("\n{}\n", e.describe()));
        }
        text.push_str(&format!("\nSent by sqlkeep {}.\n", crate::VERSION));
        let (backup, error) = match event {
            Some(e) => facts(e),
            None => (Value::Null, Value::Null),
        };
        let json = json!({
            "event": notification,
            "subject": subject,
            "database": self.database,
            "time": crate::model::timefmt::format(&self.now),
            "health": health.map(|h| h.verdict.as_str()),
            "headline": health.map(|h| h.headline.clone()),
            "reasons": health.map(|h| serde_json::to_value(&h.reasons).unwrap_or(Value::Null)),
            "backup": backup,
            "error": error,
            "sqlkeep": crate::VERSION,
        });
        Message {
            notification,
            subject,
            text,
            json,
            ping,
        }
    }

    /// A backup began (heartbeats only).
    pub fn started(&self, e: &Event) -> Message {
        let subject = format!("sqlkeep: backup of {} started", name_of(self.database));
        self.message("start", subject, None, Some(e), Some(Ping::Start))
    }

    /// A backup (or its verification) failed.
    pub fn failure(&self, e: &Event, health: &Health, what: &str) -> Message {
        let subject = format!(
            "sqlkeep: backup of {} FAILED — {what}",
            name_of(self.database)
        );
        self.message("failure", subject, Some(health), Some(e), Some(Ping::Fail))
    }

    /// A backup succeeded; `recovery` when it ends a problem that was sent.
    pub fn success(&self, e: &Event, health: &Health, on: On) -> Message {
        let detail = match e {
            Event::BackupSucceeded {
                size_bytes,
                verified,
                ..
            } => format!(
                "{}{}",
                format_size(*size_bytes),
                if *verified == Some(true) {
                    ", verified"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        };
        let (notification, subject) = match on {
            On::Recovery => (
                "recovery",
                format!(
                    "sqlkeep: backups of {} work again — {detail}",
                    name_of(self.database)
                ),
            ),
            _ => (
                "success",
                format!(
                    "sqlkeep: backup of {} ok — {detail}",
                    name_of(self.database)
                ),
            ),
        };
        self.message(notification, subject, Some(health), Some(e), None)
    }

    /// The verdict turned worse (rotation, test restore, stale backups, low space).
    pub fn problem(&self, e: Option<&Event>, health: &Health, on: On) -> Message {
        let (notification, word) = match on {
            On::Failure => ("failure", "FAILING"),
            _ => ("warning", "need attention"),
        };
        let subject = format!(
            "sqlkeep: backups of {} {word} — {}",
            name_of(self.database),
            first_reason(health)
        );
        self.message(notification, subject, Some(health), e, None)
    }

    /// The verdict is `ok` again without a backup (the problem went away).
    pub fn recovered(&self, e: Option<&Event>, health: &Health) -> Message {
        let subject = format!(
            "sqlkeep: backups of {} are healthy again — {}",
            name_of(self.database),
            health.headline
        );
        self.message("recovery", subject, Some(health), e, None)
    }

    /// `notify --test`.
    pub fn test(&self, health: Option<&Health>) -> Message {
        let subject = format!(
            "sqlkeep: test message for {} (nothing is wrong)",
            name_of(self.database)
        );
        self.message("test", subject, health, None, Some(Ping::Log))
    }
}

/// The backup facts and error text an event carries, for the JSON body.
fn facts(e: &Event) -> (Value, Value) {
    match e {
        Event::BackupSucceeded {
            id,
            kind,
            size_bytes,
            raw_size_bytes,
            duration_ms,
            verified,
            ..
        } => (
            json!({"id": id, "kind": kind, "size_bytes": size_bytes,
                   "raw_size_bytes": raw_size_bytes, "duration_ms": duration_ms,
                   "verified": verified}),
            match verified {
                Some(false) => Value::String("verification after backup failed".into()),
                _ => Value::Null,
            },
        ),
        Event::BackupFailed {
            id,
            kind,
            error,
            duration_ms,
            ..
        } => (
            json!({"id": id, "kind": kind, "duration_ms": duration_ms}),
            Value::String(error.clone()),
        ),
        Event::BackupStarted { id, kind, .. } => (json!({"id": id, "kind": kind}), Value::Null),
        Event::RotationFailed { error, .. } | Event::TestRestoreFailed { error, .. } => {
            (Value::Null, Value::String(error.clone()))
        }
        Event::TestRestoreFinished {
            id,
            ok: false,
            detail,
            ..
        } => (json!({"id": id}), Value::String(detail.clone())),
        _ => (Value::Null, Value::Null),
    }
}
