//! Files that appear whole or not at all.
//!
//! Everything sqlkeep writes into `backup_dir` is first written to a temporary name that
//! starts with [`TMP_PREFIX`], flushed with fsync, renamed into place and followed by an
//! fsync of the directory, so a crash at any instant leaves the old state or the new one.
//! Temporary names are never listed and are removed by the next run.

use crate::platform;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Prefix of every temporary file sqlkeep creates in `backup_dir`.
pub const TMP_PREFIX: &str = ".sqlkeep-tmp-";

/// Creates `dir` (and missing parents) with mode 0700, so backups of private data are not
/// readable by other users. An existing directory keeps its mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    platform::create_private_dir_all(dir)
}

/// Creates a new file with mode 0600; fails if it exists.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    platform::private(OpenOptions::new().write(true).read(true).create_new(true)).open(path)
}

/// Flushes the directory entry changes (creates, renames, deletes) of `dir` to disk.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    platform::fsync_dir(dir)
}

/// A unique temporary path in `dir` for something called `what`.
pub fn temp_path(dir: &Path, what: &str) -> PathBuf {
    dir.join(format!("{TMP_PREFIX}{what}-{:016x}", fastrand::u64(..)))
}

/// Removes temporary files named `TMP_PREFIX...<marker>...` in `dir` that a killed
/// process left behind: unlocked (see [`TempFile::create_locked`]) and older than a
/// minute, so a file being created right now is never taken. For folders sqlkeep writes
/// into that are not a backup directory (the target of a restore).
pub fn sweep_abandoned(dir: &Path, marker: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(TMP_PREFIX)
            || !name.contains(marker)
            || name.ends_with("-wal")
            || name.ends_with("-shm")
        {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60));
        if !old {
            continue;
        }
        if let Ok(f) = File::open(entry.path()) {
            if f.try_lock().is_ok() {
                remove_with_sqlite_siblings(&entry.path());
            }
        }
    }
}

/// Writes `bytes` to `dir/name` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(dir, name);
    let result = (|| {
        let mut f = create_private_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes a file and the `-wal`, `-shm` and `-journal` files SQLite may have left beside it.
pub fn remove_with_sqlite_siblings(path: &Path) {
    let _ = fs::remove_file(path);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
}

/// A temporary file that is removed (with its SQLite siblings) when dropped, unless
/// [`TempFile::keep`] was called.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    keep: bool,
    /// An open descriptor holding an flock, so [`sweep_abandoned`] can tell a temp file
    /// in use from one a killed process left.
    _lock: Option<File>,
}

impl TempFile {
    /// Takes ownership of removing `path`.
    pub fn new(path: PathBuf) -> TempFile {
        TempFile {
            path,
            keep: false,
            _lock: None,
        }
    }

    /// Creates `path` (mode 0600) and holds an exclusive flock on it while the
    /// `TempFile` lives; returns the file for writing too.
    pub fn create_locked(path: PathBuf) -> io::Result<(TempFile, File)> {
        let file = create_private_file(&path)?;
        file.lock()?;
        let writer = file.try_clone()?;
        Ok((
            TempFile {
                path,
                keep: false,
                _lock: Some(file),
            },
            writer,
        ))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the removal on drop (the file was renamed into place).
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            remove_with_sqlite_siblings(&self.path);
        }
    }
}
