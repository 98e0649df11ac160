//! The `notify` object: when backups count as stale for the health verdict (and, as the
//! notification channels arrive, where to tell someone).

use super::change::{count, sub_object, unknown_key};
use crate::error::{Error, Result};
use serde_json::{json, Value};

/// The keys of the `notify` object.
pub const NOTIFY_KEYS: &[&str] = &["stale_after_hours"];

/// Health and notification settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notify {
    /// Hours after a scheduled backup was due without a successful backup before the
    /// health verdict turns `failing`.
    pub stale_after_hours: u32,
}

impl Default for Notify {
    fn default() -> Notify {
        Notify {
            stale_after_hours: 36,
        }
    }
}

impl Notify {
    /// This policy with the keys of `change` applied.
    pub fn with_change(&self, change: &NotifyChange) -> Notify {
        Notify {
            stale_after_hours: change.stale_after_hours.unwrap_or(self.stale_after_hours),
        }
    }

    /// The `notify` object, every key present.
    pub fn to_value(&self) -> Value {
        json!({"stale_after_hours": self.stale_after_hours})
    }
}

/// `notify` keys to change; `None` leaves a key as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotifyChange {
    pub stale_after_hours: Option<u32>,
}

impl NotifyChange {
    /// Parses a partial `notify` object; errors name `notify.<key>`.
    pub fn from_value(v: &Value) -> Result<NotifyChange> {
        let obj = sub_object("notify", v, "{\"stale_after_hours\": 36}")?;
        let mut c = NotifyChange::default();
        for (k, val) in obj {
            let key = format!("notify.{k}");
            match k.as_str() {
                "stale_after_hours" => {
                    let hours = count(&key, val)?;
                    if hours == 0 {
                        return Err(Error::config(
                            &key,
                            "must be at least 1 (hours after a scheduled backup was due)",
                        ));
                    }
                    c.stale_after_hours = Some(hours);
                }
                other => return Err(unknown_key(&key, other, NOTIFY_KEYS)),
            }
        }
        Ok(c)
    }
}
