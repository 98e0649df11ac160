//! Comparing two SQLite databases inside SQLite: the newer side is the main database of
//! a read-only connection, the older is attached read-only, and each table is compared
//! with joins on its key, so memory stays flat whatever the size (SQLite streams the
//! joins; nothing is loaded into this process). One read transaction covers both files,
//! so a live database being written compares as one consistent state.

use crate::error::{Error, Operation, Result};
use crate::model::diff::{Diff, SchemaChange, Sides, TableDiff};
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::Path;

/// `"name"` with inner quotes doubled: any identifier, safe in SQL text.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Schema objects of one side: `(type, name)` → SQL, SQLite's own objects left out.
fn schema(c: &Connection, db: &str) -> rusqlite::Result<BTreeMap<(String, String), String>> {
    let mut stmt = c.prepare(&format!(
        "SELECT type, name, coalesce(sql, '') FROM {db}.sqlite_master \
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ))?;
    let rows = stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
    rows.collect()
}

/// Columns of `table` on one side, in order, with their primary-key position (0: not in
/// the key).
fn columns(c: &Connection, db: &str, table: &str) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = c.prepare(&format!("PRAGMA {db}.table_info({})", quote(table)))?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))?;
    rows.collect()
}

fn count(c: &Connection, sql: &str) -> rusqlite::Result<u64> {
    c.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

fn fail(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::sqlite(Operation::Diff, "cannot compare", path, e)
}

/// Compares `from` (older) with `to` (newer); `from_name` and `to_name` label them.
pub(crate) fn diff(from: &Path, to: &Path, from_name: &str, to_name: &str) -> Result<Diff> {
    let c = Connection::open_with_flags(
        to,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail(to))?;
    c.execute(
        "ATTACH DATABASE ?1 AS old",
        [from.to_string_lossy().as_ref()],
    )
    .map_err(fail(from))?;
    // One snapshot of the live side for every count below.
    c.execute_batch("BEGIN").map_err(fail(to))?;
    let result = compare(&c, from_name, to_name).map_err(fail(to));
    let _ = c.execute_batch("COMMIT");
    result
}

fn compare(c: &Connection, from_name: &str, to_name: &str) -> rusqlite::Result<Diff> {
    let (old, new) = (schema(c, "old")?, schema(c, "main")?);
    let mut changes = Vec::new();
    for (key, sql) in &old {
        match new.get(key) {
            None => changes.push((key, "removed")),
            Some(s) if s != sql => changes.push((key, "changed")),
            Some(_) => {}
        }
    }
    for key in new.keys().filter(|k| !old.contains_key(*k)) {
        changes.push((key, "added"));
    }
    changes.sort();
    let schema_changes: Vec<SchemaChange> = changes
        .into_iter()
        .map(|((kind, name), change)| SchemaChange {
            kind: kind.clone(),
            name: name.clone(),
            change: change.into(),
        })
        .collect();

    let is_plain_table = |sql: &str| !sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL");
    let mut tables = Vec::new();
    for ((kind, name), sql) in &new {
        if kind != "table" || !is_plain_table(sql) {
            continue;
        }
        let Some(old_sql) = old.get(&(kind.clone(), name.clone())) else {
            continue;
        };
        if !is_plain_table(old_sql) {
            continue;
        }
        tables.push(table(c, name, sql)?);
    }
    let uv = |db: &str| c.query_row(&format!("PRAGMA {db}.user_version"), [], |r| r.get(0));
    let user_version = Sides {
        from: uv("old")?,
        to: uv("main")?,
    };
    let identical = user_version.from == user_version.to
        && schema_changes.is_empty()
        && tables.iter().all(|t: &TableDiff| !t.differs());
    let mut d = Diff {
        from: from_name.into(),
        to: to_name.into(),
        identical,
        user_version,
        tables,
        schema: schema_changes,
        restore_preview: String::new(),
    };
    d.restore_preview = d.restore_preview();
    Ok(d)
}

/// Row differences of `name`, a table on both sides.
fn table(c: &Connection, name: &str, sql: &str) -> rusqlite::Result<TableDiff> {
    let (old_cols, new_cols) = (columns(c, "old", name)?, columns(c, "main", name)?);
    let t = quote(name);
    // The key: rowid, unless the table has none (WITHOUT ROWID: its primary key).
    let without_rowid = sql
        .to_ascii_uppercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w == ["WITHOUT", "ROWID"]);
    let key: Vec<String> = if without_rowid {
        let mut pk: Vec<&(String, i64)> = new_cols.iter().filter(|(_, p)| *p > 0).collect();
        pk.sort_by_key(|(_, p)| *p);
        pk.into_iter().map(|(n, _)| n.clone()).collect()
    } else {
        vec!["rowid".into()]
    };
    let on = key
        .iter()
        .map(|k| {
            let k = if k == "rowid" { k.clone() } else { quote(k) };
            format!("o.{k} = n.{k}")
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let common: Vec<String> = new_cols
        .iter()
        .filter(|(n, _)| old_cols.iter().any(|(o, _)| o == n))
        .map(|(n, _)| quote(n))
        .collect();
    let rows_from = count(c, &format!("SELECT count(*) FROM old.{t}"))?;
    let rows_to = count(c, &format!("SELECT count(*) FROM main.{t}"))?;
    let added = count(
        c,
        &format!(
            "SELECT count(*) FROM main.{t} n WHERE NOT EXISTS (SELECT 1 FROM old.{t} o WHERE {on})"
        ),
    )?;
    let removed = count(
        c,
        &format!(
            "SELECT count(*) FROM old.{t} o WHERE NOT EXISTS (SELECT 1 FROM main.{t} n WHERE {on})"
        ),
    )?;
    let changed = if common.is_empty() {
        0
    } else {
        let side = |p: &str| {
            common
                .iter()
                .map(|col| format!("{p}.{col}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Row values: `(a, b) IS NOT (c, d)` treats NULLs as equal to each other.
        let (o, n) = (side("o"), side("n"));
        let cmp = if common.len() == 1 {
            format!("{o} IS NOT {n}")
        } else {
            format!("({o}) IS NOT ({n})")
        };
        count(
            c,
            &format!("SELECT count(*) FROM main.{t} n JOIN old.{t} o ON {on} WHERE {cmp}"),
        )?
    };
    Ok(TableDiff {
        name: name.into(),
        rows: Sides {
            from: rows_from as i64,
            to: rows_to as i64,
        },
        added,
        removed,
        changed,
        key,
    })
}
