//! Putting a checked archive into a database.
//!
//! - Into an existing database (the live one, after the caller's safety backup):
//!   `pg_restore --clean --if-exists --single-transaction --exit-on-error`, so a failure
//!   rolls everything back and leaves the database as it was.
//! - Into a new database: created, restored in one transaction, and dropped again if the
//!   restore fails, so a failed restore leaves no half database behind.

use super::programs::{self, ident, literal, Session};
use crate::config::PgTarget;
use crate::error::{Error, Operation, Result};
use std::path::Path;

const OP: Operation = Operation::Restore;

/// Whether database `name` exists on the server of `server`.
pub(super) fn exists(server: &PgTarget, name: &str) -> Result<bool> {
    let mut s = Session::open(&server.uri, OP)?;
    let found = s.query(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = {};",
        literal(name)
    ))?;
    s.close();
    Ok(found.iter().any(|l| l.trim() == "1"))
}

/// Replaces the content of the existing database `name` with the archive, all or nothing.
pub(super) fn into_existing(archive: &Path, server: &PgTarget, name: &str) -> Result<()> {
    let uri = if name == server.dbname {
        server.uri.clone()
    } else {
        server.with_dbname(name)
    };
    pg_restore(archive, &uri, &["--clean", "--if-exists"])
}

/// Creates database `name` and restores the archive into it; drops it again on failure.
pub(super) fn into_new(archive: &Path, server: &PgTarget, name: &str) -> Result<()> {
    crate::config::postgres::check_dbname(name).map_err(|m| Error::invalid_argument(OP, m))?;
    let mut admin = Session::open(&server.uri, OP)?;
    admin.query(&format!("CREATE DATABASE {};", ident(name))).map_err(|e| {
        e.with_hint("restoring into a new database needs the CREATEDB privilege for the user in the URI")
    })?;
    let restored = pg_restore(archive, &server.with_dbname(name), &[]);
    if restored.is_err() {
        let _ = admin.query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE);",
            ident(name)
        ));
    }
    admin.close();
    restored
}

fn pg_restore(archive: &Path, uri: &str, extra: &[&str]) -> Result<()> {
    let out = programs::command("pg_restore", OP)?
        .args(["-w", "--single-transaction", "--exit-on-error"])
        .args(extra)
        .arg("-d")
        .arg(uri)
        .arg(archive)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| programs::spawn_error("pg_restore", OP, e))?;
    if !out.status.success() {
        let e = programs::failure("pg_restore", uri, &String::from_utf8_lossy(&out.stderr), OP);
        return Err(Error::new(
            e.kind(),
            OP,
            format!(
                "{}; the database was left as it was (one transaction)",
                e.message()
            ),
        )
        .with_hint(e.hint().unwrap_or_default().to_string()));
    }
    Ok(())
}
