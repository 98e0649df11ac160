//! Selective restore: some rows of one table (or the whole table) brought back from a
//! backup into the live database, instead of replacing everything. The request names
//! the table, an optional SQL condition applied to the backup's copy only, and how to
//! treat the rows other tables tie to them through foreign keys.

use serde::Serialize;
use std::path::PathBuf;

/// What to bring back from a backup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableRestore {
    /// The table whose rows come back.
    pub table: String,
    /// A SQL condition on the backup's rows of `table` (`"dept_id = 7"`); `None`: all.
    /// It is evaluated in a read-only connection to the backup's checked copy, never
    /// against the live database.
    pub condition: Option<String>,
    /// The table's content becomes the backup's: live rows the backup lacks are removed.
    /// Not with a condition.
    pub replace_table: bool,
    /// Also bring the rows foreign keys tie to the chosen ones: rows of other tables that
    /// refer to them (their dependents) and rows they refer to that the live database no
    /// longer has, recursively.
    pub with_dependents: bool,
}

impl TableRestore {
    /// All rows of `table`, merged into the live table by key.
    pub fn new(table: impl Into<String>) -> TableRestore {
        TableRestore {
            table: table.into(),
            ..TableRestore::default()
        }
    }

    /// Only the backup's rows for which `condition` (SQL) holds.
    pub fn condition(mut self, condition: impl Into<String>) -> TableRestore {
        self.condition = Some(condition.into());
        self
    }

    /// See [`TableRestore::replace_table`].
    pub fn replace_table(mut self, yes: bool) -> TableRestore {
        self.replace_table = yes;
        self
    }

    /// See [`TableRestore::with_dependents`].
    pub fn with_dependents(mut self, yes: bool) -> TableRestore {
        self.with_dependents = yes;
        self
    }
}

/// What a selective restore did to one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRestored {
    pub name: String,
    /// Backup rows written over a live row with the same key.
    pub replaced: u64,
    /// Backup rows the live table did not have.
    pub added: u64,
    /// Backup rows the live table already held as they are (not written).
    pub unchanged: u64,
    /// Live rows removed (only with `replace_table`).
    pub removed: u64,
}

/// What a selective restore did.
#[derive(Debug, Clone, Serialize)]
pub struct TableRestoreOutcome {
    /// The backup the rows came from.
    pub id: String,
    /// The live database written.
    pub target: PathBuf,
    /// The table asked for first, then the tables that foreign keys brought along.
    pub tables: Vec<TableRestored>,
    /// The `pre-restore` safety backup taken before anything was written.
    pub safety_backup: Option<crate::model::manifest::Manifest>,
    /// Wall time.
    pub duration_ms: u64,
}

impl TableRestoreOutcome {
    /// One line for people: "employees: 3 replaced, 12 added, 40 unchanged; departments:
    /// 0 replaced, 1 added".
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .tables
            .iter()
            .map(|t| {
                let mut what = vec![
                    format!("{} replaced", t.replaced),
                    format!("{} added", t.added),
                ];
                if t.unchanged > 0 {
                    what.push(format!("{} unchanged", t.unchanged));
                }
                if t.removed > 0 {
                    what.push(format!("{} removed", t.removed));
                }
                format!("{}: {}", t.name, what.join(", "))
            })
            .collect();
        parts.join("; ")
    }
}
