//! The PostgreSQL source (issue 17): a database named by a libpq URI, dumped with
//! `pg_dump --format=custom` inside an exported snapshot whose exact row counts the
//! manifest records (`dump.rs`), checked by `pg_restore --list` and by a restore into a
//! scratch database that compares those counts (`check.rs`), and restored with
//! `pg_restore` in one transaction (`restore.rs`). `programs.rs` runs PostgreSQL's own
//! client programs, so connections behave exactly as libpq's.
//!
//! The archive is streamed from `pg_dump` into the pipeline: no plaintext dump is written
//! to disk while a backup is taken.

mod catalog;
mod check;
mod dump;
pub(crate) mod programs;
mod restore;

use super::{SnapshotInfo, Source, SourceKind};
use crate::config::PgTarget;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::diff::{Diff, RowChange};
use crate::model::manifest::Manifest;
use crate::model::selective::{TableRestore, TableRestored};
use crate::model::verdict::{Damage, Verdict};
use crate::pipeline::feed::RawFeed;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A PostgreSQL database.
pub(crate) struct PgSource {
    target: PgTarget,
    location: PathBuf,
    stem: String,
}

impl PgSource {
    pub fn new(target: PgTarget) -> PgSource {
        // Backup ids start with the database name, in the characters ids allow.
        let stem: String = target
            .dbname
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        PgSource {
            location: PathBuf::from(&target.uri),
            stem: if stem.trim_matches('_').is_empty() {
                "database".into()
            } else {
                stem
            },
            target,
        }
    }

    /// The source of a manifest's `database` URI.
    pub fn of_manifest(m: &Manifest) -> Result<PgSource> {
        let (target, _) = PgTarget::parse("database", &m.database).map_err(|e| {
            Error::corrupt(
                Operation::Verify,
                format!("manifest {}: {}", m.id, e.message()),
            )
        })?;
        Ok(PgSource::new(target))
    }
}

fn facts(m: &Manifest) -> std::result::Result<&crate::model::manifest::PgFacts, Damage> {
    m.postgres
        .as_ref()
        .ok_or_else(|| Damage::Manifest(format!("manifest {} records no PostgreSQL facts", m.id)))
}

impl Source for PgSource {
    fn location(&self) -> &Path {
        &self.location
    }

    fn id_stem(&self) -> &str {
        &self.stem
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Postgres
    }

    fn exists(&self) -> bool {
        // Whether the database exists is for the server to say, when the dump connects.
        true
    }

    fn snapshot(
        &self,
        _raw_path: &Path,
        _raw: &mut File,
        _feed: &RawFeed,
        _started: &mut dyn FnMut(&SnapshotInfo),
    ) -> Result<SnapshotInfo> {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            Operation::Backup,
            "a PostgreSQL dump is streamed (snapshot_stream), never written to a file",
        ))
    }

    fn snapshot_stream(
        &self,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
        feed: &RawFeed,
        started: &mut dyn FnMut(&SnapshotInfo),
    ) -> Result<SnapshotInfo> {
        dump::dump(&self.target, sink, feed, started)
    }

    fn check_copy(&self, copy: &Path, m: &Manifest) -> Result<Verdict> {
        match facts(m) {
            Ok(f) => check::check_restored(copy, &self.target, f),
            Err(d) => Ok(Err(d)),
        }
    }

    fn check_recorded(&self, copy: &Path, m: &Manifest) -> Result<Verdict> {
        match facts(m) {
            Ok(f) => check::check_toc(copy, f),
            Err(d) => Ok(Err(d)),
        }
    }

    fn replace_content(
        &self,
        copy: &Path,
        target: &Path,
        before_commit: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        // pg_restore runs in its own transaction: agreement comes before it starts.
        before_commit()?;
        restore::into_existing(copy, &self.target, &target.to_string_lossy())
    }

    fn target_exists(&self, target: &str) -> Result<bool> {
        restore::exists(&self.target, target)
    }

    fn restore_new(&self, copy: &Path, target: &str) -> Result<()> {
        restore::into_new(copy, &self.target, target)
    }

    fn diff(&self, _: &Path, _: &Path, _: &str, _: &str) -> Result<Diff> {
        Err(super::sqlite_only("diff", Operation::Diff))
    }

    fn diff_rows(&self, _: &Path, _: &Path, _: &str, _: usize, _: usize) -> Result<Vec<RowChange>> {
        Err(super::sqlite_only("diff", Operation::Diff))
    }

    fn restore_rows(
        &self,
        _: &Path,
        _: &TableRestore,
        _: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Vec<TableRestored>> {
        Err(super::sqlite_only(
            "restoring single tables",
            Operation::Restore,
        ))
    }
}
