//! What changed between two versions of a database: a backup and the live database, or
//! two backups. Per table, rows added, removed and changed (matched by primary key, or
//! rowid where there is none); schema objects added, removed and changed; `user_version`.
//! "From" is the older side (the backup), "to" the newer (the live database): restoring
//! "from" brings back the removed rows and discards the added ones.

use serde::Serialize;
use serde_json::{Map, Value};

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
    /// What restoring "from" over "to" would do, in words (see [`Diff::restore_preview`]),
    /// for every face's restore confirmation.
    pub restore_preview: String,
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
    /// What restoring this table alone from "from" (a selective restore, merged by key)
    /// would do, in words (see [`TableDiff::table_restore_preview`]).
    pub table_restore_preview: String,
}

impl TableDiff {
    /// Whether any row differs.
    pub fn differs(&self) -> bool {
        self.added + self.removed + self.changed > 0
    }

    /// What a selective restore of this table from "from" would do (rows merged by key:
    /// removed rows come back, changed ones revert, rows added since stay): "brings back
    /// 11 rows, reverts 2 rows; keeps 1 row added since".
    pub fn table_restore_preview(&self) -> String {
        let mut parts = Vec::new();
        if self.removed > 0 {
            parts.push(format!("brings back {}", rows(self.removed)));
        }
        if self.changed > 0 {
            parts.push(format!("reverts {}", rows(self.changed)));
        }
        let mut text = if parts.is_empty() {
            "brings nothing back".to_string()
        } else {
            parts.join(", ")
        };
        if self.added > 0 {
            parts_push(&mut text, format!("keeps {} added since", rows(self.added)));
        }
        text
    }
}

/// One row that differs, for `diff --table T --rows`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RowChange {
    /// `removed` (only in "from": a restore brings it back), `added` (only in "to": a
    /// restore discards it) or `changed`.
    pub change: String,
    /// The key's values (`rowid`, or the primary key's columns).
    pub key: Map<String, Value>,
    /// The row in "from" (column → value), `None` when added. Blobs are shown as
    /// `x'…'` (the first 32 bytes, then their length).
    pub from: Option<Map<String, Value>>,
    /// The row in "to", `None` when removed.
    pub to: Option<Map<String, Value>>,
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

/// `2759` → `"2,759"`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rows(n: u64) -> String {
    format!("{} row{}", grouped(n), if n == 1 { "" } else { "s" })
}

impl Diff {
    /// What restoring "from" over "to" would do: "brings back 2,759 rows (employees
    /// 2,759), discards 12 rows added since (documents 12); table playlists goes".
    pub fn restore_preview(&self) -> String {
        if self.identical {
            return "nothing would change: the backup holds the same data".into();
        }
        let mut parts = Vec::new();
        let mut say = |pick: fn(&TableDiff) -> u64, what: &str| {
            let tables: Vec<String> = self
                .tables
                .iter()
                .filter(|t| pick(t) > 0)
                .map(|t| format!("{} {}", t.name, grouped(pick(t))))
                .collect();
            let total: u64 = self.tables.iter().map(pick).sum();
            if total > 0 {
                parts.push(format!("{what} {} ({})", rows(total), tables.join(", ")));
            }
        };
        say(|t| t.removed, "brings back");
        say(|t| t.added, "discards");
        say(|t| t.changed, "reverts");
        let mut text = parts.join(", ");
        let undo: Vec<String> = self
            .schema
            .iter()
            .map(|c| {
                let verb = match c.change.as_str() {
                    "added" => "goes",
                    "removed" => "comes back",
                    _ => "reverts",
                };
                format!("{} {} {verb}", c.kind, c.name)
            })
            .collect();
        if self.user_version.from != self.user_version.to {
            parts_push(
                &mut text,
                format!(
                    "user_version goes back from {} to {}",
                    self.user_version.to, self.user_version.from
                ),
            );
        }
        if !undo.is_empty() {
            parts_push(&mut text, undo.join(", "));
        }
        text
    }

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

fn parts_push(text: &mut String, more: String) {
    if !text.is_empty() {
        text.push_str("; ");
    }
    text.push_str(&more);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_preview_says_what_comes_back_and_what_goes() {
        let t = |name: &str, added, removed, changed| TableDiff {
            name: name.into(),
            rows: Sides { from: 0, to: 0 },
            added,
            removed,
            changed,
            key: vec!["rowid".into()],
            table_restore_preview: String::new(),
        };
        let mut d = Diff {
            from: "a".into(),
            to: "b".into(),
            identical: false,
            user_version: Sides { from: 3, to: 4 },
            tables: vec![
                t("employees", 0, 2759, 0),
                t("documents", 12, 0, 1),
                t("x", 0, 0, 0),
            ],
            schema: vec![SchemaChange {
                kind: "table".into(),
                name: "playlists".into(),
                change: "added".into(),
            }],
            restore_preview: String::new(),
        };
        assert_eq!(
            d.restore_preview(),
            "brings back 2,759 rows (employees 2,759), discards 12 rows (documents 12), reverts 1 row (documents 1); user_version goes back from 4 to 3; table playlists goes"
        );
        d.identical = true;
        assert!(d.restore_preview().starts_with("nothing would change"));
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
        assert_eq!(
            d.tables[1].table_restore_preview(),
            "reverts 1 row; keeps 12 rows added since"
        );
        assert_eq!(
            d.tables[0].table_restore_preview(),
            "brings back 2,759 rows"
        );
        assert_eq!(d.tables[2].table_restore_preview(), "brings nothing back");
    }
}
