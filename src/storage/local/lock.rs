//! Advisory locks on `backup_dir`, shared between threads and processes.
//!
//! Two lock files, held with `flock` (std's `File::lock`), which the kernel releases when
//! a process dies, so a crash never leaves a stale lock:
//! - `.sqlkeep.lock`: shared while a backup, verification or restore reads or writes
//!   backups; exclusive while rotation deletes them or stale temp files are swept.
//! - `.sqlkeep-schedule.lock`: exclusive while a scheduler decides whether a slot is due
//!   and backs it up, so two schedulers never take two backups for one slot.
//!
//! Each acquisition opens the lock file anew, so two threads of one process exclude each
//! other exactly like two processes do.

use crate::error::{Error, Operation, Result};
use crate::storage::local::atomic_file::create_private_dir;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Name of the lock guarding the backup files.
pub const DIR_LOCK: &str = ".sqlkeep.lock";
/// Name of the lock held while copies to remotes are made or removed (one writer of
/// each remote's index at a time).
pub const OFFSITE_LOCK: &str = ".sqlkeep-offsite.lock";
/// Name of the lock guarding scheduling decisions.
pub const SCHEDULE_LOCK: &str = ".sqlkeep-schedule.lock";

/// How long an operation waits for a lock before it reports [`crate::ErrorKind::Busy`].
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A held lock; released on drop.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
}

fn open(dir: &Path, name: &str, op: Operation) -> Result<File> {
    create_private_dir(dir).map_err(|e| Error::io(op, "cannot create backup directory", dir, e))?;
    let path = dir.join(name);
    crate::platform::private(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .open(&path)
    .map_err(|e| Error::io(op, "cannot open lock file", &path, e))
}

fn acquire(dir: &Path, name: &str, mode: Mode, wait: Duration, op: Operation) -> Result<DirLock> {
    let file = open(dir, name, op)?;
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(2);
    loop {
        let r = match mode {
            Mode::Shared => file.try_lock_shared(),
            Mode::Exclusive => file.try_lock(),
        };
        match r {
            Ok(()) => return Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Err(Error::busy(
                        op,
                        format!(
                            "{} is busy: another sqlkeep operation holds {} (waited {:.1} s)",
                            dir.display(),
                            name,
                            wait.as_secs_f64()
                        ),
                    ));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(TryLockError::Error(e)) => {
                return Err(Error::io(op, "cannot lock", &dir.join(name), e))
            }
        }
    }
}

impl DirLock {
    /// Shared use of the backup files (backup, verify, restore).
    pub fn shared(dir: &Path, op: Operation) -> Result<DirLock> {
        acquire(dir, DIR_LOCK, Mode::Shared, LOCK_WAIT, op)
    }

    /// Exclusive use of the backup files (deleting), waiting up to `wait`.
    pub fn exclusive(dir: &Path, wait: Duration, op: Operation) -> Result<DirLock> {
        acquire(dir, DIR_LOCK, Mode::Exclusive, wait, op)
    }

    /// The offsite lock, waiting up to `wait`.
    pub fn offsite(dir: &Path, wait: Duration) -> Result<DirLock> {
        acquire(dir, OFFSITE_LOCK, Mode::Exclusive, wait, Operation::Offsite)
    }

    /// The scheduling lock, waiting up to `wait`.
    pub fn schedule(dir: &Path, wait: Duration) -> Result<DirLock> {
        acquire(
            dir,
            SCHEDULE_LOCK,
            Mode::Exclusive,
            wait,
            Operation::Schedule,
        )
    }
}
