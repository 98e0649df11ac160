//! The `Source` seam: what is backed up. Today a SQLite file (`sqlite/`); a PostgreSQL
//! database comes next as `postgres/` beside it.
//!
//! A source does three things for the operations: write a consistent image of itself
//! into a stream that the pipeline compresses as it grows, check a restored copy against
//! what its manifest recorded, and put a checked copy's content into the live target.
//! Everything else (ids, compression, storage, the manifest's common fields, events) is
//! the same for every source and lives outside this folder.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use crate::error::Result;
use crate::model::diff::{Diff, RowChange};
use crate::model::manifest::Manifest;
use crate::model::selective::{TableRestore, TableRestored};
use crate::model::verdict::Verdict;
use crate::pipeline::feed::RawFeed;
use std::fs::File;
use std::path::Path;

/// Facts about one snapshot, read inside its consistent view.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotInfo {
    /// Bytes of the image.
    pub raw_size: u64,
    /// The image is reported in units of this many bytes (SQLite: pages)...
    pub unit_size: u64,
    /// ...and has this many of them.
    pub units: u64,
    /// How long the source's consistent view was held (in SQLite's rollback-journal
    /// modes, how long writers waited at commit).
    pub copy_ms: u64,
    /// The application's schema version (SQLite: `PRAGMA user_version`).
    pub schema_version: i64,
    /// How the source was running (SQLite: the journal mode, lower case).
    pub mode: String,
    /// The engine that took the snapshot (SQLite: the library version).
    pub engine_version: String,
    /// PostgreSQL's facts (versions, tables and their row counts); `None` for SQLite.
    pub postgres: Option<crate::model::manifest::PgFacts>,
}

/// The error of a stream-source method called on a file source (a bug in the caller,
/// reported rather than panicking, since it may run under a foreign caller).
fn not_for_files(what: &str) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::InvalidArgument,
        crate::error::Operation::Backup,
        format!("{what} is not available for a SQLite source"),
    )
}

/// The error of what only the SQLite source can do (diff, restoring single tables),
/// asked of another.
pub(crate) fn sqlite_only(what: &str, op: crate::error::Operation) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::InvalidArgument,
        op,
        format!("{what} works on SQLite databases only; this one is PostgreSQL"),
    )
    .with_hint(
        "restore the backup into a new database (a restore whose target is a database name) and compare there",
    )
}

/// Which kind of source, for the few places where a database is a file or is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// A SQLite file: its image is written to a raw file beside the backup, and a
    /// restore target is a path.
    Sqlite,
    /// A PostgreSQL database: its image is streamed, and a restore target is a database
    /// name on the same server.
    Postgres,
}

/// What is backed up.
pub(crate) trait Source {
    /// Where it is, for messages and the manifest's `database` field.
    fn location(&self) -> &Path;

    /// The short name that starts backup ids (a file stem).
    fn id_stem(&self) -> &str;

    /// Which kind of source this is.
    fn kind(&self) -> SourceKind {
        SourceKind::Sqlite
    }

    /// Whether the database is there to back up (a PostgreSQL server says so itself
    /// when the dump connects).
    fn exists(&self) -> bool {
        self.location().exists()
    }

    /// For a source that streams its image ([`SourceKind::Postgres`]): writes a
    /// consistent image into `sink` in order, stopping when `feed` is cancelled; `started`
    /// hears an estimate of the size once the consistent view is taken.
    fn snapshot_stream(
        &self,
        _sink: &mut dyn FnMut(&[u8]) -> Result<()>,
        _feed: &RawFeed,
        _started: &mut dyn FnMut(&SnapshotInfo),
    ) -> Result<SnapshotInfo> {
        Err(not_for_files("snapshot_stream"))
    }

    /// Whether restore target `target` (a database name) exists; file sources check the
    /// path themselves.
    fn target_exists(&self, _target: &str) -> Result<bool> {
        Err(not_for_files("a restore target by name"))
    }

    /// Restores the checked image `copy` into the new target `target` (a database name).
    fn restore_new(&self, _copy: &Path, _target: &str) -> Result<()> {
        Err(not_for_files("a restore target by name"))
    }

    /// Writes a consistent image into the new, empty file `raw`, publishing each stretch
    /// written through `feed` so the pipeline can follow behind; `started` hears the
    /// size once the consistent view is taken.
    fn snapshot(
        &self,
        raw_path: &Path,
        raw: &mut File,
        feed: &RawFeed,
        started: &mut dyn FnMut(&SnapshotInfo),
    ) -> Result<SnapshotInfo>;

    /// Checks an image (a raw copy or a restored backup) against what `m` recorded.
    fn check_copy(&self, copy: &Path, m: &Manifest) -> Result<Verdict>;

    /// Checks only what `m` records about an image (SQLite: page size, page count,
    /// `user_version`), cheaply: for an image whose raw hash proved it passed the full
    /// check at backup time, which the manifest describing it must still match.
    fn check_recorded(&self, copy: &Path, m: &Manifest) -> Result<Verdict>;

    /// Replaces the content of the live `target` with the checked image at `copy`, so
    /// that connections other processes hold see it and a crash leaves old or new. The
    /// change is made durable only once `before_commit` returned `Ok`; its error leaves
    /// the old content and is returned.
    fn replace_content(
        &self,
        copy: &Path,
        target: &Path,
        before_commit: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()>;

    /// What differs between the image `from` (older) and `to` (an image or the live
    /// target), read-only on both; the names label the two sides in the result.
    fn diff(&self, from: &Path, to: &Path, from_name: &str, to_name: &str) -> Result<Diff>;

    /// The rows of `table` that differ (removed, then added, then changed, each in key
    /// order), `limit` of them after skipping `offset`.
    fn diff_rows(
        &self,
        from: &Path,
        to: &Path,
        table: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RowChange>>;

    /// Copies the rows `req` chooses from the checked image `copy` into the live source,
    /// all or nothing; `before_write` runs once they are chosen and checked, before
    /// anything is written (the caller's safety backup). What each table got.
    fn restore_rows(
        &self,
        copy: &Path,
        req: &TableRestore,
        before_write: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Vec<TableRestored>>;
}
