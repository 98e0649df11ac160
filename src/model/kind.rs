//! Why a backup was taken: part of its id, its manifest and every event about it.

use crate::error::{Error, Operation, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Asked for by a user or the application.
    Manual,
    /// Taken by the scheduler for a slot.
    Scheduled,
    /// Taken when the scheduler stopped (`backup_on_shutdown`).
    Shutdown,
    /// The safety copy taken before a restore replaced the database.
    PreRestore,
    /// Taken by `guard()` before a migration or bulk change.
    PreOperation,
}

impl Kind {
    /// All kinds.
    pub const ALL: [Kind; 5] = [
        Kind::Manual,
        Kind::Scheduled,
        Kind::Shutdown,
        Kind::PreRestore,
        Kind::PreOperation,
    ];

    /// The name used in file names, manifests and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Manual => "manual",
            Kind::Scheduled => "scheduled",
            Kind::Shutdown => "shutdown",
            Kind::PreRestore => "pre-restore",
            Kind::PreOperation => "pre-operation",
        }
    }

    /// Parses a kind name; the error lists the accepted names.
    pub fn parse(s: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_argument(
                    Operation::Backup,
                    format!(
                        "unknown backup kind {s:?}; use manual, scheduled, shutdown, pre-restore or pre-operation"
                    ),
                )
            })
    }

    /// Whether rotation may delete backups of this kind.
    pub fn is_automatic(self) -> bool {
        matches!(self, Kind::Scheduled | Kind::Shutdown)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
