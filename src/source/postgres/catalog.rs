//! What both the dump and the check read of a database and an archive: the tables whose
//! data `pg_dump` writes, their exact row counts in a session's snapshot, and whether an
//! archive's table of contents holds the data of each.

use super::programs::{ident, Session};
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::manifest::TableRows;
use crate::model::verdict::{Damage, Verdict};

/// The tables `pg_dump` writes the data of: ordinary tables (partitions included) outside
/// the system schemas, not owned by an extension; raw names, as JSON so any name survives.
const TABLES_SQL: &str = "SELECT json_build_array(n.nspname, c.relname) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind = 'r' AND c.relpersistence <> 't' \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                       AND d.objid = c.oid AND d.deptype = 'e') \
     ORDER BY n.nspname, c.relname;";

/// The tables of the database `session` is connected to (see [`TABLES_SQL`]).
pub(super) fn tables(session: &mut Session) -> Result<Vec<(String, String)>> {
    session
        .query(TABLES_SQL)?
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_str::<(String, String)>(l).map_err(|e| {
                Error::new(
                    ErrorKind::Postgres,
                    Operation::Backup,
                    format!("unexpected table list line {l:?}: {e}"),
                )
            })
        })
        .collect()
}

/// Exact row counts of `tables` in the session's current snapshot, in order.
pub(super) fn count_rows(session: &mut Session, tables: &[(String, String)]) -> Result<Vec<u64>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let script: String = tables
        .iter()
        .map(|(s, t)| format!("SELECT count(*) FROM {}.{};\n", ident(s), ident(t)))
        .collect();
    let lines = session.query(&script)?;
    let counts: Vec<u64> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim().parse::<u64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::new(
                ErrorKind::Postgres,
                Operation::Backup,
                format!("unexpected row count from psql: {e}"),
            )
        })?;
    if counts.len() != tables.len() {
        return Err(Error::new(
            ErrorKind::Postgres,
            Operation::Backup,
            format!(
                "psql returned {} row counts for {} tables",
                counts.len(),
                tables.len()
            ),
        ));
    }
    Ok(counts)
}

/// Whether a table of contents (`pg_restore --list`'s output) holds the data of every
/// table in `tables`.
pub(super) fn toc_holds(toc: &str, tables: &[TableRows]) -> Verdict {
    let missing: Vec<String> = tables
        .iter()
        .filter(|t| {
            let entry = format!(" TABLE DATA {} {} ", t.schema, t.table);
            !toc.lines().any(|l| l.contains(&entry))
        })
        .map(|t| t.name())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Damage::Mismatch {
        what: "tables in the archive",
        actual: format!("no data for {}", missing.join(", ")),
        expected: format!("data for all {} tables", tables.len()),
    })
}
