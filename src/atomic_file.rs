//! Files that appear whole or not at all.
//!
//! Everything sqlkeep writes into `backup_dir` is first written to a temporary name that
//! starts with [`TMP_PREFIX`], flushed with fsync, renamed into place and followed by an
//! fsync of the directory, so a crash at any instant leaves the old state or the new one.
//! Temporary names are never listed and are removed by the next run.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Prefix of every temporary file sqlkeep creates in `backup_dir`.
pub const TMP_PREFIX: &str = ".sqlkeep-tmp-";

/// Creates `dir` (and missing parents) with mode 0700, so backups of private data are not
/// readable by other users. An existing directory keeps its mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates a new file with mode 0600; fails if it exists.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Flushes the directory entry changes (creates, renames, deletes) of `dir` to disk.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A unique temporary path in `dir` for something called `what`.
pub fn temp_path(dir: &Path, what: &str) -> PathBuf {
    dir.join(format!("{TMP_PREFIX}{what}-{:016x}", fastrand::u64(..)))
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
}

impl TempFile {
    /// Takes ownership of removing `path`.
    pub fn new(path: PathBuf) -> TempFile {
        TempFile { path, keep: false }
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
