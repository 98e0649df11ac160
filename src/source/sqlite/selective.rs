//! Selective restore in SQLite: chosen rows of one table (and, when asked, the rows
//! foreign keys tie to them) copied from a backup's checked image into the live database.
//!
//! Two connections, so the user's condition never runs where it could write:
//! - a **read-only** connection to the image picks the rows: the condition runs there,
//!   into TEMP tables (`temp` is private to the connection), with the live database
//!   attached read-only only to ask which referenced rows it lacks; it is detached
//!   before anything is written;
//! - a connection to the live database writes them in **one** `BEGIN IMMEDIATE`
//!   transaction: each row updates the live row with its key or is inserted, so the
//!   table's triggers fire as for any update or insert (an FTS index kept by triggers
//!   stays in step). Foreign-key enforcement is off on that connection (a `REPLACE` or
//!   `DELETE` must never cascade into other tables); instead the foreign keys of every
//!   table touched are checked before and after, inside the transaction, and a restore
//!   that would add a violation is rolled back. A crash leaves the transaction undone.
//!
//! Rows match on the table's declared primary key, or its rowid when it declares none.

use super::diff::{columns, ordinary_table, primary_key, quote, row_key};
use super::replace::RESTORE_BUSY_TIMEOUT;
use crate::error::{Error, Operation, Result};
use crate::model::selective::{TableRestore, TableRestored};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OpenFlags, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::Path;

const OP: Operation = Operation::Restore;

/// A table taking part: its columns and key, and the TEMP table holding its chosen rows.
struct Picked {
    name: String,
    cols: Vec<String>,
    /// The key's columns, or empty: matched by rowid (as `diff` matches them).
    pk: Vec<String>,
    /// `temp."sqlkeep pick N"`: `sqlkeep_rowid` (the rowid, or NULL when matched by
    /// primary key), then the table's columns.
    pick: String,
}

impl Picked {
    /// `a` (a row of the table) and `p` (a row of the pick) have the same key.
    fn same_key(&self, p: &str, a: &str) -> String {
        if self.pk.is_empty() {
            return format!("{p}.sqlkeep_rowid = {a}.rowid");
        }
        self.pk
            .iter()
            .map(|k| format!("{p}.{k} = {a}.{k}", k = quote(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// What a pick row starts with for a row `a` of the table.
    fn rowid_of(&self, a: &str) -> String {
        if self.pk.is_empty() {
            format!("{a}.rowid")
        } else {
            "NULL".into()
        }
    }
}

/// A foreign key: `child(from…)` refers to `parent(to…)`.
struct ForeignKey {
    child: String,
    parent: String,
    from: Vec<String>,
    to: Vec<String>,
}

impl ForeignKey {
    /// Row `c` of the child refers to row `p` of the parent.
    fn joins(&self, c: &str, p: &str) -> String {
        self.from
            .iter()
            .zip(&self.to)
            .map(|(f, t)| format!("{c}.{} = {p}.{}", quote(f), quote(t)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

fn fail<'a>(action: &'static str, path: &'a Path) -> impl Fn(rusqlite::Error) -> Error + 'a {
    move |e| Error::sqlite(OP, action, path, e)
}

/// Every foreign key among the image's ordinary tables.
fn foreign_keys(c: &Connection, db: &str) -> rusqlite::Result<Vec<ForeignKey>> {
    let mut stmt = c.prepare(&format!(
        "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\" \
         FROM {db}.sqlite_master m, pragma_foreign_key_list(m.name, '{db}') f \
         WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<(String, i64, ForeignKey)> = Vec::new();
    while let Some(r) = rows.next()? {
        let (child, id, parent): (String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let (from, to): (String, Option<String>) = (r.get(3)?, r.get(4)?);
        match out.last_mut() {
            Some((c, i, fk)) if *c == child && *i == id => {
                fk.from.push(from);
                fk.to.extend(to);
            }
            _ => out.push((
                child.clone(),
                id,
                ForeignKey {
                    child,
                    parent,
                    from: vec![from],
                    to: to.into_iter().collect(),
                },
            )),
        }
    }
    let mut fks = Vec::new();
    for (_, _, mut fk) in out {
        // A key naming no parent columns refers to the parent's primary key.
        if fk.to.is_empty() {
            fk.to = primary_key(&columns(c, db, &fk.parent)?);
        }
        if fk.to.len() == fk.from.len() {
            fks.push(fk);
        }
    }
    Ok(fks)
}

/// The rows picked so far, by table, in the order the tables joined.
struct Picks {
    tables: Vec<Picked>,
}

impl Picks {
    fn find(&self, name: &str) -> Option<&Picked> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The pick for `name`, created (empty) on first use, after checking that the
    /// table is an ordinary one in both versions with the same columns.
    fn open(&mut self, c: &Connection, name: &str) -> Result<&Picked> {
        if let Some(i) = self
            .tables
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name))
        {
            return Ok(&self.tables[i]);
        }
        let sqlite = |e| Error::sqlite(OP, "cannot read", Path::new(name), e);
        let Some(sql) = ordinary_table(c, "main", name).map_err(sqlite)? else {
            return Err(Error::not_found(
                OP,
                format!("the backup has no table `{name}` (views and virtual tables are not restored row by row)"),
            )
            .with_hint("`sqlkeep diff ID` lists the backup's tables"));
        };
        if ordinary_table(c, "live", name).map_err(sqlite)?.is_none() {
            return Err(Error::not_found(
                OP,
                format!("the live database has no table `{name}`; nothing was restored"),
            )
            .with_hint("restore the whole backup to a new file (--to) and copy from there"));
        }
        let backup_cols = columns(c, "main", name).map_err(sqlite)?;
        let live_cols = columns(c, "live", name).map_err(sqlite)?;
        let names =
            |cols: &[(String, i64)]| cols.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let (mut a, mut b) = (names(&backup_cols), names(&live_cols));
        a.sort();
        b.sort();
        if a != b || primary_key(&backup_cols) != primary_key(&live_cols) {
            return Err(Error::invalid_argument(
                OP,
                format!(
                    "the schema of table `{name}` no longer matches the backup's (backup: {}; live: {}); nothing was restored",
                    names(&backup_cols).join(", "),
                    names(&live_cols).join(", ")
                ),
            )
            .with_hint("restore the whole backup to a new file (--to) and copy from there"));
        }
        let t = Picked {
            name: name.to_string(),
            cols: names(&backup_cols),
            pk: match row_key(c, "main", name, &sql).map_err(sqlite)? {
                key if key == ["rowid"] => Vec::new(),
                key => key,
            },
            pick: format!("temp.\"sqlkeep pick {}\"", self.tables.len()),
        };
        // Indexed on the key: picking skips rows already picked, and dependents join on it.
        let key: Vec<String> = match t.pk.is_empty() {
            true => vec!["sqlkeep_rowid".into()],
            false => t.pk.iter().map(|k| quote(k)).collect(),
        };
        let n = self.tables.len();
        c.execute_batch(&format!(
            "CREATE TABLE {pick} AS SELECT {rowid} AS sqlkeep_rowid, * FROM main.{table} WHERE 0;
             CREATE INDEX temp.\"sqlkeep pick {n} key\" ON \"sqlkeep pick {n}\" ({key});",
            pick = t.pick,
            rowid = t.rowid_of(&quote(name)),
            table = quote(name),
            key = key.join(", "),
        ))
        .map_err(sqlite)?;
        self.tables.push(t);
        Ok(self.tables.last().expect("just pushed"))
    }
}

/// Adds to `t`'s pick the rows of the backup's table (alias `a`) that satisfy `filter`
/// and are not picked yet; the number added.
fn pick(c: &Connection, t: &Picked, filter: &str) -> rusqlite::Result<usize> {
    c.execute(
        &format!(
            "INSERT INTO {pick} SELECT {rowid}, a.* FROM main.{table} a \
             WHERE ({filter}) AND NOT EXISTS (SELECT 1 FROM {pick} q WHERE {same})",
            pick = t.pick,
            rowid = t.rowid_of("a"),
            table = quote(&t.name),
            same = t.same_key("q", "a"),
        ),
        [],
    )
}

/// Brings rows foreign keys tie to the picked ones until nothing changes: the backup's
/// rows referring to a picked row, and the backup's rows a picked row refers to that the
/// live database lacks.
fn pick_dependents(c: &Connection, picks: &mut Picks, fks: &[ForeignKey]) -> Result<()> {
    let sqlite = |e| Error::sqlite(OP, "cannot pick dependent rows in", Path::new("backup"), e);
    loop {
        let mut grew = 0;
        for fk in fks {
            if let Some(parent) = picks.find(&fk.parent) {
                let filter = format!(
                    "EXISTS (SELECT 1 FROM {} p WHERE {})",
                    parent.pick,
                    fk.joins("a", "p")
                );
                let exists = format!("SELECT 1 FROM main.{} a WHERE {filter}", quote(&fk.child));
                if exists_any(c, &exists).map_err(sqlite)? {
                    let child = picks.open(c, &fk.child)?;
                    grew += pick(c, child, &filter).map_err(sqlite)?;
                }
            }
            if let Some(child) = picks.find(&fk.child) {
                let filter = format!(
                    "EXISTS (SELECT 1 FROM {} k WHERE {}) \
                     AND NOT EXISTS (SELECT 1 FROM live.{} l WHERE {})",
                    child.pick,
                    fk.joins("k", "a"),
                    quote(&fk.parent),
                    fk.to
                        .iter()
                        .map(|t| format!("l.{t} = a.{t}", t = quote(t)))
                        .collect::<Vec<_>>()
                        .join(" AND ")
                );
                let exists = format!("SELECT 1 FROM main.{} a WHERE {filter}", quote(&fk.parent));
                if exists_any(c, &exists).map_err(sqlite)? {
                    let parent = picks.open(c, &fk.parent)?;
                    grew += pick(c, parent, &filter).map_err(sqlite)?;
                }
            }
        }
        if grew == 0 {
            return Ok(());
        }
    }
}

fn exists_any(c: &Connection, select: &str) -> rusqlite::Result<bool> {
    c.query_row(&format!("SELECT EXISTS ({select})"), [], |r| r.get(0))
}

/// Foreign-key violations in `tables` of the live database, by (child, parent).
fn violations(
    c: &Connection,
    tables: &[String],
) -> rusqlite::Result<BTreeMap<(String, String), u64>> {
    let mut out = BTreeMap::new();
    for t in tables {
        let mut stmt = c.prepare(
            "SELECT \"table\", parent, count(*) FROM pragma_foreign_key_check(?1) GROUP BY 1, 2",
        )?;
        let mut rows = stmt.query([t])?;
        while let Some(r) = rows.next()? {
            out.insert((r.get(0)?, r.get(1)?), r.get::<_, i64>(2)? as u64);
        }
    }
    Ok(out)
}

/// Tables of the live database whose foreign keys refer to one of `parents`.
fn referring_tables(c: &Connection, parents: &[String]) -> rusqlite::Result<Vec<String>> {
    let mut stmt = c.prepare(
        "SELECT DISTINCT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
         WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE ORDER BY m.name",
    )?;
    let mut out: Vec<String> = Vec::new();
    for parent in parents {
        for name in stmt.query_map([parent], |r| r.get(0))? {
            let name = name?;
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// Copies the chosen rows of `req.table` from the checked `image` into the live database
/// at `live`; `before_write` runs once the rows are chosen and checked and before the
/// live database is written (the caller's safety backup). Returns what each table got,
/// the requested table first.
pub(crate) fn restore_rows(
    image: &Path,
    live: &Path,
    req: &TableRestore,
    before_write: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<TableRestored>> {
    let r = Connection::open_with_flags(
        image,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail("cannot open the restored copy", image))?;
    // The live database is read here too (its schema, the rows it lacks): wait for a
    // writer's commit as the write below does.
    r.busy_timeout(RESTORE_BUSY_TIMEOUT)
        .map_err(fail("cannot configure", image))?;
    // Attached databases take the connection's read-only flag.
    r.execute(
        "ATTACH DATABASE ?1 AS live",
        [live.to_string_lossy().as_ref()],
    )
    .map_err(fail("cannot read", live))?;
    let mut picks = Picks { tables: Vec::new() };
    let first = picks.open(&r, &req.table)?;
    match req.condition.as_deref().map(str::trim) {
        Some("") => {
            return Err(Error::invalid_argument(OP, "the condition is empty")
                .with_hint("leave it out to restore every row of the table"))
        }
        // Only the user's condition is theirs to fix; anything else is a read error.
        Some(cond) => pick(&r, first, cond).map_err(|e| {
            Error::invalid_argument(
                OP,
                format!(
                    "the condition `{}` cannot be applied to table `{}` of the backup: {e}; nothing was restored",
                    req.condition.as_deref().unwrap_or_default(),
                    req.table
                ),
            )
            .with_hint("write an SQL expression over the table's columns, as after WHERE")
        })?,
        None => pick(&r, first, "1").map_err(fail("cannot read", image))?,
    };
    if req.with_dependents {
        let fks = foreign_keys(&r, "main").map_err(fail("cannot read", image))?;
        pick_dependents(&r, &mut picks, &fks)?;
    }
    r.execute_batch("DETACH DATABASE live")
        .map_err(fail("cannot read", live))?;

    before_write()?;

    let mut w = Connection::open_with_flags(
        live,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(fail("cannot open", live))?;
    w.busy_timeout(RESTORE_BUSY_TIMEOUT)
        .map_err(fail("cannot configure", live))?;
    // Never let a delete or replace cascade; the keys are checked below instead.
    w.pragma_update(None, "foreign_keys", false)
        .map_err(fail("cannot configure", live))?;
    let tx = w
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail("cannot start writing", live))?;
    let written: Vec<String> = picks.tables.iter().map(|t| t.name.clone()).collect();
    let mut checked = written.clone();
    for t in referring_tables(&tx, &written).map_err(fail("cannot read", live))? {
        if !checked.contains(&t) {
            checked.push(t);
        }
    }
    let before = violations(&tx, &checked).map_err(fail("cannot check foreign keys in", live))?;
    let mut out = Vec::new();
    for (i, t) in picks.tables.iter().enumerate() {
        let removed = if i == 0 && req.replace_table {
            tx.execute(&format!("DELETE FROM main.{}", quote(&t.name)), [])
                .map_err(fail("cannot write into", live))? as u64
        } else {
            0
        };
        let written = write_rows(&r, &tx, t).map_err(|e| {
            let text = e.to_string();
            let err = Error::sqlite(OP, "cannot write restored rows into", live, e);
            if text.contains("UNIQUE") {
                err.with_hint(format!("a live row of `{}` has the same unique value as a restored one under another key; nothing was restored", t.name))
            } else {
                err
            }
        })?;
        out.push(TableRestored {
            name: t.name.clone(),
            replaced: written.replaced,
            added: written.added,
            unchanged: written.unchanged,
            removed,
        });
    }
    let after = violations(&tx, &checked).map_err(fail("cannot check foreign keys in", live))?;
    let added: Vec<String> = after
        .iter()
        .filter(|(k, n)| **n > before.get(*k).copied().unwrap_or(0))
        .map(|((child, parent), n)| {
            let n = n - before.get(&(child.clone(), parent.clone())).copied().unwrap_or(0);
            format!("{n} row(s) of `{child}` would refer to rows of `{parent}` the live database does not have")
        })
        .collect();
    if !added.is_empty() {
        drop(tx); // rolls back
        return Err(Error::invalid_argument(
            OP,
            format!("{}; nothing was restored", added.join("; ")),
        )
        .with_hint("bring the rows they refer to as well (--with-dependents), or restore those tables first"));
    }
    tx.commit().map_err(fail("cannot commit into", live))?;
    Ok(out)
}

/// What [`write_rows`] did.
struct Written {
    replaced: u64,
    added: u64,
    unchanged: u64,
}

/// Writes every row of `t`'s pick into the live table: an update of the row with the
/// same key where it differs, or an insert.
fn write_rows(r: &Connection, w: &Connection, t: &Picked) -> rusqlite::Result<Written> {
    let n = t.cols.len();
    let cols: Vec<String> = t.cols.iter().map(|c| quote(c)).collect();
    let table = quote(&t.name);
    let marks = |from: usize, count: usize| {
        (from..from + count)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Parameters: ?1..?n the columns, ?n+1 the rowid.
    let key_where = if t.pk.is_empty() {
        format!("rowid = ?{}", n + 1)
    } else {
        t.pk.iter()
            .map(|k| {
                let at = t.cols.iter().position(|c| c == k).unwrap_or(0) + 1;
                format!("{} = ?{at}", quote(k))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    // Only rows that differ are written: unchanged ones fire no trigger and dirty no page.
    let (set, values) = (cols.join(", "), marks(1, n));
    let differs = if n == 1 {
        format!("{set} IS NOT {values}")
    } else {
        format!("({set}) IS NOT ({values})")
    };
    let mut update = w.prepare(&format!(
        "UPDATE main.{table} SET ({set}) = ({values}) WHERE {key_where} AND {differs}"
    ))?;
    let mut exists = w.prepare(&format!(
        "SELECT EXISTS (SELECT 1 FROM main.{table} WHERE {key_where})"
    ))?;
    let mut insert = w.prepare(&if t.pk.is_empty() {
        format!(
            "INSERT INTO main.{table} ({}, rowid) VALUES ({})",
            cols.join(", "),
            marks(1, n + 1)
        )
    } else {
        format!(
            "INSERT INTO main.{table} ({}) VALUES ({})",
            cols.join(", "),
            marks(1, n)
        )
    })?;
    let mut read = r.prepare(&format!(
        "SELECT {}, sqlkeep_rowid FROM {}",
        cols.join(", "),
        t.pick
    ))?;
    let mut rows = read.query([])?;
    let (mut replaced, mut added, mut unchanged) = (0, 0, 0);
    while let Some(row) = rows.next()? {
        let mut values: Vec<Value> = Vec::with_capacity(n + 1);
        for i in 0..=n {
            values.push(row.get(i)?);
        }
        let params = if t.pk.is_empty() {
            &values[..]
        } else {
            &values[..n]
        };
        // With a primary key the rowid parameter is unused: bind only the columns.
        if update.execute(params_from_iter(params.iter()))? > 0 {
            replaced += 1;
        } else if exists.query_row(
            // It names only the key's parameters: bind up to the last of them.
            params_from_iter(params[..exists.parameter_count()].iter()),
            |r| r.get::<_, bool>(0),
        )? {
            unchanged += 1;
        } else {
            insert.execute(params_from_iter(params.iter()))?;
            added += 1;
        }
    }
    Ok(Written {
        replaced,
        added,
        unchanged,
    })
}
