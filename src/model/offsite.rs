//! What this machine last knew of a remote (issue 13): kept beside the backups by
//! `storage/local/offsite_state.rs`, reported by `status()` and statistics without a
//! network request.

use crate::model::manifest::Manifest;
use crate::model::timefmt::rfc3339_opt;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The last known state of one remote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OffsiteState {
    /// The remote's name.
    pub remote: String,
    /// The backups it held after the last push that reached it, newest first.
    #[serde(default)]
    pub backups: Vec<Manifest>,
    /// Backups its policy keeps that it lacked after the last attempt.
    #[serde(default)]
    pub missing: usize,
    /// When a backup was last copied there.
    #[serde(default, with = "rfc3339_opt")]
    pub last_copy_at: Option<DateTime<Utc>>,
    /// When the last attempt failed, and why (cleared by one that succeeds).
    #[serde(default, with = "rfc3339_opt")]
    pub last_error_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
}

impl OffsiteState {
    /// One line for a person: "offsite copy to nas missing for 2 backups, last error …"
    /// or "offsite copies on nas up to date".
    pub fn describe(&self) -> String {
        let n = self.missing;
        let plural = if n == 1 { "" } else { "s" };
        match (&self.last_error, n) {
            (Some(e), 0) => format!("offsite copy to {}: last attempt failed: {e}", self.remote),
            (Some(e), n) => format!(
                "offsite copy to {} missing for {n} backup{plural}, last error: {e}",
                self.remote
            ),
            (None, 0) => format!(
                "offsite copies on {} up to date ({} backups there)",
                self.remote,
                self.backups.len()
            ),
            (None, n) => format!(
                "offsite copy to {} missing for {n} backup{plural}",
                self.remote
            ),
        }
    }
}
