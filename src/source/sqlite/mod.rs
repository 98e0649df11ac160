//! The SQLite source: a database file in any journal mode, copied through SQLite's own
//! file handle (`snapshot.rs`), checked with `PRAGMA integrity_check` (`check.rs`) and
//! restored through SQLite's online backup API (`replace.rs`).

mod check;
mod diff;
mod replace;
mod selective;
pub(crate) mod snapshot;
mod wal;

use super::{SnapshotInfo, Source};
use crate::error::Result;
use crate::model::diff::{Diff, RowChange};
use crate::model::manifest::Manifest;
use crate::model::selective::{TableRestore, TableRestored};
use crate::model::verdict::Verdict;
use crate::pipeline::feed::RawFeed;
use std::fs::File;
use std::path::{Path, PathBuf};

pub(crate) use check::{check_database, check_header};

/// A SQLite database file.
pub(crate) struct SqliteSource {
    path: PathBuf,
    stem: String,
}

impl SqliteSource {
    pub fn new(path: &Path) -> SqliteSource {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty() && !s.starts_with('.'))
            .unwrap_or("database")
            .to_string();
        SqliteSource {
            path: path.to_path_buf(),
            stem,
        }
    }
}

impl Source for SqliteSource {
    fn location(&self) -> &Path {
        &self.path
    }

    fn id_stem(&self) -> &str {
        &self.stem
    }

    fn snapshot(
        &self,
        raw_path: &Path,
        raw: &mut File,
        feed: &RawFeed,
        started: &mut dyn FnMut(&SnapshotInfo),
    ) -> Result<SnapshotInfo> {
        let info = snapshot::copy_consistent(&self.path, raw_path, raw, feed, &mut |i| {
            started(&i.summary())
        })?;
        Ok(info.summary())
    }

    fn check_copy(&self, copy: &Path, m: &Manifest) -> Result<Verdict> {
        check_database(copy, m.page_size, m.page_count, m.user_version)
    }

    fn check_recorded(&self, copy: &Path, m: &Manifest) -> Result<Verdict> {
        check_header(copy, m.page_size, m.page_count, m.user_version)
    }

    fn replace_content(
        &self,
        copy: &Path,
        target: &Path,
        before_commit: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        replace::replace_through_sqlite(copy, target, before_commit)
    }

    fn diff(&self, from: &Path, to: &Path, from_name: &str, to_name: &str) -> Result<Diff> {
        diff::diff(from, to, from_name, to_name)
    }

    fn diff_rows(
        &self,
        from: &Path,
        to: &Path,
        table: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RowChange>> {
        diff::rows(from, to, table, limit, offset)
    }

    fn restore_rows(
        &self,
        copy: &Path,
        req: &TableRestore,
        before_write: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Vec<TableRestored>> {
        selective::restore_rows(copy, &self.path, req, before_write)
    }
}
