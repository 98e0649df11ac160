//! What changed between two versions of a database: a backup and the live database, or
//! two backups. Per table, rows added, removed and changed (matched by primary key, or
//! rowid where there is none); schema objects added, removed and changed; `user_version`.
//! "From" is the older side (the backup), "to" the newer (the live database): restoring
//! "from" brings back the removed rows and discards the added ones.

use serde::Serialize;

/// The differences between two versions of a database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diff {
    /// The backup id compared from.
    pub from: String,
    /// The backup id compared to, or the live database's path.
    pub to: String,
    /// Nothing differs: no row, no schema object, the same `user_version`.
    pub identical: bool,
    /// `user_version` on each side.
    pub user_version: Sides,
    /// Every table present on both sides, in name order (tables only on one side are in
    /// `schema`, with their row counts here on that side and 0 on the other).
    pub tables: Vec<TableDiff>,
    /// Tables, indexes, views and triggers added, removed or changed.
    pub schema: Vec<SchemaChange>,
}

/// A value on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sides {
    pub from: i64,
    pub to: i64,
}

/// Row differences of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableDiff {
    pub name: String,
    /// Rows on each side.
    pub rows: Sides,
    /// Rows only in "to" (a restore of "from" discards them).
    pub added: u64,
    /// Rows only in "from" (a restore of "from" brings them back).
    pub removed: u64,
    /// Rows on both sides whose values differ (in the columns both sides have).
    pub changed: u64,
    /// How rows were matched: `rowid` or the primary key's columns.
    pub key: Vec<String>,
}

impl TableDiff {
    /// Whether any row differs.
    pub fn differs(&self) -> bool {
        self.added + self.removed + self.changed > 0
    }
}

/// A schema object that is not the same on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaChange {
    /// `table`, `index`, `view` or `trigger`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// `added` (only in "to"), `removed` (only in "from") or `changed` (its SQL differs).
    pub change: String,
}

impl Diff {
    /// One line for a person: "2 tables differ: employees +0 −12 ~3, documents +4 −0 ~0;
    /// schema: index idx_x added" or "identical".
    pub fn summary(&self) -> String {
        if self.identical {
            return "identical".into();
        }
        let mut parts = Vec::new();
        let differing: Vec<String> = self
            .tables
            .iter()
            .filter(|t| t.differs())
            .map(|t| format!("{} +{} −{} ~{}", t.name, t.added, t.removed, t.changed))
            .collect();
        if !differing.is_empty() {
            parts.push(format!(
                "{} table{} differ{}: {}",
                differing.len(),
                if differing.len() == 1 { "" } else { "s" },
                if differing.len() == 1 { "s" } else { "" },
                differing.join(", ")
            ));
        }
        if !self.schema.is_empty() {
            let s: Vec<String> = self
                .schema
                .iter()
                .map(|c| format!("{} {} {}", c.kind, c.name, c.change))
                .collect();
            parts.push(format!("schema: {}", s.join(", ")));
        }
        if self.user_version.from != self.user_version.to {
            parts.push(format!(
                "user_version {} → {}",
                self.user_version.from, self.user_version.to
            ));
        }
        parts.join("; ")
    }
}
