//! Comparing two SQLite databases inside SQLite: the newer side is the main database of
//! a read-only connection, the older is attached read-only, and each table is compared
//! with joins on its key, so memory stays flat whatever the size (SQLite streams the
//! joins; nothing is loaded into this process). One read transaction covers both files,
//! so a live database being written compares as one consistent state.

use crate::error::{Error, Operation, Result};
use crate::model::diff::{Diff, RowChange, SchemaChange, Sides, TableDiff};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// `"name"` with inner quotes doubled: any identifier, safe in SQL text.
pub(super) fn quote(name: &str) -> String {
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
pub(super) fn columns(
    c: &Connection,
    db: &str,
    table: &str,
) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = c.prepare(&format!("PRAGMA {db}.table_info({})", quote(table)))?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))?;
    rows.collect()
}

/// Whether the `CREATE TABLE` statement `sql` makes an ordinary table (not a virtual one,
/// such as FTS5, whose rows live in its shadow tables).
fn is_ordinary(sql: &str) -> bool {
    !sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL")
}

/// The `CREATE` statement of ordinary table `name` in `db`, or None (absent, a view or
/// a virtual table).
pub(super) fn ordinary_table(
    c: &Connection,
    db: &str,
    name: &str,
) -> rusqlite::Result<Option<String>> {
    let sql: Option<String> = c
        .query_row(
            &format!(
                "SELECT coalesce(sql, '') FROM {db}.sqlite_master WHERE type = 'table' AND name = ?1"
            ),
            [name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(sql.filter(|s| is_ordinary(s)))
}

/// The primary key's columns, in key order, from [`columns`]' answer.
pub(super) fn primary_key(cols: &[(String, i64)]) -> Vec<String> {
    let mut pk: Vec<&(String, i64)> = cols.iter().filter(|(_, p)| *p > 0).collect();
    pk.sort_by_key(|(_, p)| *p);
    pk.into_iter().map(|(n, _)| n.clone()).collect()
}

/// How rows of `table` are matched, here and by a selective restore: its declared primary
/// key's columns, or `["rowid"]` when it declares none or its key is the rowid itself
/// (an `INTEGER PRIMARY KEY`). `sql` is its `CREATE TABLE` statement.
pub(super) fn row_key(
    c: &Connection,
    db: &str,
    table: &str,
    sql: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare(&format!("PRAGMA {db}.table_info({})", quote(table)))?;
    let cols = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let named: Vec<(String, i64)> = cols.iter().map(|(n, _, p)| (n.clone(), *p)).collect();
    let pk = primary_key(&named);
    let without_rowid = sql
        .to_ascii_uppercase()
        .split(|ch: char| ch.is_whitespace() || ch == ')')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w == ["WITHOUT", "ROWID"]);
    let rowid_alias = pk.len() == 1
        && cols
            .iter()
            .any(|(n, ty, p)| *p == 1 && *n == pk[0] && ty.eq_ignore_ascii_case("INTEGER"));
    Ok(if !without_rowid && (pk.is_empty() || rowid_alias) {
        vec!["rowid".into()]
    } else {
        pk
    })
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
    within(from, to, |c| compare(c, from_name, to_name))
}

/// Runs `f` on a read-only connection to `to` with `from` attached as `old`, inside one
/// read transaction (one snapshot of a live side for every query).
fn within<T>(
    from: &Path,
    to: &Path,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T> {
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
    c.execute_batch("BEGIN").map_err(fail(to))?;
    let result = f(&c).map_err(fail(to));
    let _ = c.execute_batch("COMMIT");
    result
}

/// A value for people and JSON: blobs as `x'…'` (the first 32 bytes, then the length).
fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => Value::from(r),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => {
            let hex: String = b.iter().take(32).map(|x| format!("{x:02x}")).collect();
            Value::String(if b.len() > 32 {
                format!("x'{hex}…' ({} bytes)", b.len())
            } else {
                format!("x'{hex}'")
            })
        }
    }
}

/// The rows of `table` that differ between `from` and `to`: removed ones first, then
/// added, then changed, each in key order; `offset` and `limit` page through that list.
pub(crate) fn rows(
    from: &Path,
    to: &Path,
    table: &str,
    limit: usize,
    offset: usize,
) -> Result<Vec<RowChange>> {
    let found = within(from, to, |c| {
        Ok((
            ordinary_table(c, "old", table)?,
            ordinary_table(c, "main", table)?,
        ))
    })?;
    let (Some(_), Some(sql)) = found else {
        return Err(Error::not_found(
            Operation::Diff,
            format!("`{table}` is not an ordinary table in both versions"),
        )
        .with_hint("`sqlkeep diff` lists the tables both versions have"));
    };
    within(from, to, |c| {
        let m = matching(c, table, &sql)?;
        let (mut skip, mut left) = (offset as u64, limit as u64);
        let mut out = Vec::new();
        for (change, from_clause) in sources(&m) {
            if left == 0 {
                break;
            }
            let n = count(c, &format!("SELECT count(*) FROM {from_clause}"))?;
            if skip >= n {
                skip -= n;
                continue;
            }
            let (has_old, has_new) = match change {
                "removed" => (true, false),
                "added" => (false, true),
                _ => (true, true),
            };
            let by = if has_new { "n" } else { "o" };
            let key_cols: Vec<String> = m
                .key
                .iter()
                .map(|k| {
                    if k == "rowid" {
                        format!("{by}.rowid")
                    } else {
                        format!("{by}.{}", quote(k))
                    }
                })
                .collect();
            let mut select = key_cols.clone();
            if has_old {
                select.push("o.*".into());
            }
            if has_new {
                select.push("n.*".into());
            }
            let mut stmt = c.prepare(&format!(
                "SELECT {} FROM {from_clause} ORDER BY {} LIMIT {left} OFFSET {skip}",
                select.join(", "),
                key_cols.join(", ")
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let mut at = 0;
                let mut take = |names: &[String]| -> rusqlite::Result<Map<String, Value>> {
                    let mut map = Map::new();
                    for name in names {
                        map.insert(name.clone(), json_of(r.get_ref(at)?));
                        at += 1;
                    }
                    Ok(map)
                };
                let key = take(&m.key)?;
                let old = if has_old {
                    Some(take(&m.old_cols)?)
                } else {
                    None
                };
                let new = if has_new {
                    Some(take(&m.new_cols)?)
                } else {
                    None
                };
                out.push(RowChange {
                    change: change.into(),
                    key,
                    from: old,
                    to: new,
                });
                left -= 1;
            }
            skip = 0;
        }
        Ok(out)
    })
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

    let mut tables = Vec::new();
    for ((kind, name), sql) in &new {
        if kind != "table" || !is_ordinary(sql) {
            continue;
        }
        let Some(old_sql) = old.get(&(kind.clone(), name.clone())) else {
            continue;
        };
        if !is_ordinary(old_sql) {
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

/// How the rows of one table are matched and compared.
struct Matching {
    /// `"name"`, quoted.
    t: String,
    /// The columns of each side, in order.
    old_cols: Vec<String>,
    new_cols: Vec<String>,
    /// `rowid`, or the primary key's columns.
    key: Vec<String>,
    /// `o` and `n` differ in a column both sides have (`None`: no such column).
    differ: Option<String>,
}

fn matching(c: &Connection, name: &str, sql: &str) -> rusqlite::Result<Matching> {
    let (old_cols, new_cols) = (columns(c, "old", name)?, columns(c, "main", name)?);
    let t = quote(name);
    let key = row_key(c, "main", name, sql)?;
    let common: Vec<String> = new_cols
        .iter()
        .filter(|(n, _)| old_cols.iter().any(|(o, _)| o == n))
        .map(|(n, _)| quote(n))
        .collect();
    let differ = if common.is_empty() {
        None
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
        Some(if common.len() == 1 {
            format!("{o} IS NOT {n}")
        } else {
            format!("({o}) IS NOT ({n})")
        })
    };
    Ok(Matching {
        t,
        old_cols: old_cols.into_iter().map(|(n, _)| n).collect(),
        new_cols: new_cols.into_iter().map(|(n, _)| n).collect(),
        key,
        differ,
    })
}

/// The key columns of `a` equal those of `b` (table aliases).
fn same_key(m: &Matching, a: &str, b: &str) -> String {
    m.key
        .iter()
        .map(|k| {
            let k = if k == "rowid" { k.clone() } else { quote(k) };
            format!("{a}.{k} = {b}.{k}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The three kinds of differing rows, `(change, FROM … WHERE …)` over `o` (old) and/or
/// `n` (new): removed rows have only `o`, added rows only `n`, changed rows both.
fn sources(m: &Matching) -> [(&'static str, String); 3] {
    let t = &m.t;
    [
        (
            "removed",
            format!(
                "old.{t} o WHERE NOT EXISTS (SELECT 1 FROM main.{t} n WHERE {})",
                same_key(m, "o", "n")
            ),
        ),
        (
            "added",
            format!(
                "main.{t} n WHERE NOT EXISTS (SELECT 1 FROM old.{t} o WHERE {})",
                same_key(m, "o", "n")
            ),
        ),
        (
            "changed",
            format!(
                "main.{t} n JOIN old.{t} o ON {} WHERE {}",
                same_key(m, "o", "n"),
                m.differ.as_deref().unwrap_or("0")
            ),
        ),
    ]
}

/// Row differences of `name`, a table on both sides.
fn table(c: &Connection, name: &str, sql: &str) -> rusqlite::Result<TableDiff> {
    let m = matching(c, name, sql)?;
    let t = &m.t;
    let rows_from = count(c, &format!("SELECT count(*) FROM old.{t}"))?;
    let rows_to = count(c, &format!("SELECT count(*) FROM main.{t}"))?;
    let [removed, added, changed] =
        sources(&m).map(|(_, from)| count(c, &format!("SELECT count(*) FROM {from}")));
    let (removed, added, changed) = (removed?, added?, changed?);
    let mut t = TableDiff {
        name: name.into(),
        rows: Sides {
            from: rows_from as i64,
            to: rows_to as i64,
        },
        added,
        removed,
        changed,
        key: m.key,
        table_restore_preview: String::new(),
    };
    t.table_restore_preview = t.table_restore_preview();
    Ok(t)
}
