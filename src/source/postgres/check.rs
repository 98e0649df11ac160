//! Checking a PostgreSQL archive against its manifest.
//!
//! - Recorded facts (the cheap check): `pg_restore --list` reads the archive's table of
//!   contents, which must hold the data of every table the manifest lists.
//! - Full: the archive is restored into a scratch database that sqlkeep creates on the
//!   source's server and always drops afterwards, and every table's row count must equal
//!   the count taken in the dump's snapshot.
//!
//! A scratch database is named `sqlkeep_check_<host>_<pid>_<n>`; one whose process is
//! gone from this machine was left by a killed check and is dropped by the next one.

use super::catalog::{count_rows, tables, toc_holds};
use super::programs::{self, ident, literal, Session};
use crate::config::PgTarget;
use crate::error::{Operation, Result};
use crate::model::manifest::PgFacts;
use crate::model::verdict::{Damage, Verdict};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

const SCRATCH_PREFIX: &str = "sqlkeep_check_";

/// The archive's table of contents holds the data of every table `facts` lists.
pub(super) fn check_toc(archive: &Path, facts: &PgFacts) -> Result<Verdict> {
    let out = programs::command("pg_restore", Operation::Verify)?
        .args(["--list", programs::arg(archive)])
        .output()
        .map_err(|e| programs::spawn_error("pg_restore", Operation::Verify, e))?;
    if !out.status.success() {
        let said = programs::scrub(&String::from_utf8_lossy(&out.stderr));
        return Ok(Err(Damage::DoesNotOpen(format!(
            "pg_restore cannot read the archive's table of contents: {said}"
        ))));
    }
    Ok(toc_holds(
        &String::from_utf8_lossy(&out.stdout),
        &facts.tables,
    ))
}

/// Restores `archive` into a scratch database and compares every table's row count.
pub(super) fn check_restored(
    archive: &Path,
    target: &PgTarget,
    facts: &PgFacts,
) -> Result<Verdict> {
    if let Err(damage) = check_toc(archive, facts)? {
        return Ok(Err(damage));
    }
    let op = Operation::Verify;
    let mut admin = Session::open(&target.uri, op)?;
    sweep_scratch(&mut admin);
    let scratch = Scratch::create(admin, target)?;
    let restored = programs::command("pg_restore", op)?
        .args([
            "-w",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "-d",
        ])
        .arg(&scratch.uri)
        .arg(archive)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| programs::spawn_error("pg_restore", op, e))?;
    if !restored.status.success() {
        let said = programs::scrub(&String::from_utf8_lossy(&restored.stderr));
        return Ok(Err(Damage::Integrity(vec![format!(
            "pg_restore into a scratch database failed: {said}"
        )])));
    }
    let mut s = Session::open(&scratch.uri, op)?;
    let present = tables(&mut s)?;
    let wanted: Vec<(String, String)> = facts
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.table.clone()))
        .collect();
    if let Some(t) = facts
        .tables
        .iter()
        .find(|t| !present.contains(&(t.schema.clone(), t.table.clone())))
    {
        return Ok(Err(Damage::DatabaseUnreadable(format!(
            "table {} is missing after pg_restore",
            t.name()
        ))));
    }
    let counts = count_rows(&mut s, &wanted)?;
    s.close();
    let wrong: Vec<String> = facts
        .tables
        .iter()
        .zip(&counts)
        .filter(|(t, n)| t.rows != **n)
        .map(|(t, n)| format!("{}: {n} rows, {} recorded", t.name(), t.rows))
        .collect();
    if !wrong.is_empty() {
        return Ok(Err(Damage::Mismatch {
            what: "row counts",
            actual: wrong.join("; "),
            expected: "the counts of the dump's snapshot".to_string(),
        }));
    }
    Ok(Ok(()))
}

/// A scratch database, dropped when this goes out of scope (also on error or panic).
struct Scratch {
    admin: Session,
    name: String,
    uri: String,
}

impl Scratch {
    fn create(mut admin: Session, target: &PgTarget) -> Result<Scratch> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{SCRATCH_PREFIX}{}_{}_{}",
            host_tag(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin
            .query(&format!("CREATE DATABASE {};", ident(&name)))
            .map_err(|e| {
                e.with_hint("a full check restores into a scratch database: the user in the URI needs the CREATEDB privilege")
            })?;
        let uri = target.with_dbname(&name);
        Ok(Scratch { admin, name, uri })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.admin.query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE);",
            ident(&self.name)
        ));
    }
}

/// A short tag of this machine's name, safe in a database name.
fn host_tag() -> String {
    let h = crate::platform::host_name();
    let tag: String = h
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase();
    if tag.is_empty() {
        "host".to_string()
    } else {
        tag
    }
}

/// Drops the scratch databases of this machine whose process is gone.
fn sweep_scratch(admin: &mut Session) {
    let prefix = format!("{SCRATCH_PREFIX}{}_", host_tag());
    let Ok(names) = admin.query(&format!(
        "SELECT datname FROM pg_database WHERE starts_with(datname, {});",
        literal(&prefix)
    )) else {
        return;
    };
    for name in names.iter().filter(|n| !n.is_empty()) {
        let pid = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !crate::platform::process_alive(pid) {
                let _ = admin.query(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE);",
                    ident(name)
                ));
            }
        }
    }
}
