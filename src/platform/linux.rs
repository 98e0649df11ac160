//! The Linux implementation of [`crate::platform`].

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the files sqlkeep creates: backups hold private data.
const PRIVATE_FILE: u32 = 0o600;
/// Mode of the directories sqlkeep creates.
const PRIVATE_DIR: u32 = 0o700;

/// `options` set to create files readable and writable by their owner only.
pub(crate) fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    options.mode(PRIVATE_FILE)
}

/// Creates `dir` (and missing parents) readable by its owner only.
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
}

/// Makes the directory entry changes of `dir` (creates, renames, deletes) durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads exactly `buf.len()` bytes at `offset`, without moving a file position (the
/// file is shared with a writer).
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// Writes all of `buf` at `offset`, without moving a file position.
pub(crate) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

/// The permission bits that let users other than the owner in (group and others), or
/// `None` when only the owner can read the file.
pub(crate) fn readable_by_others(meta: &fs::Metadata) -> Option<u32> {
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, without
/// waiting: a large file written in one go then reaches the disk while it is still being
/// produced, instead of all at the final fsync (RocksDB's `bytes_per_sync`). Only a hint:
/// the fsync that follows is what makes the data durable, so a failure is ignored.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range takes no pointers; the descriptor is open for the call.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Lowers the scheduling priority (nice 10) of the calling thread and of the threads it
/// starts afterwards: on Linux, nice values are per thread. Failure is harmless: the work
/// just competes at normal priority.
pub(crate) fn lower_current_thread_priority() {
    // SAFETY: gettid and setpriority take no pointers; they only affect this thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Bytes available to an unprivileged writer on the file system holding `dir`.
pub(crate) fn available_space(dir: &Path) -> io::Result<u64> {
    statvfs(dir).map(|(available, _)| available)
}

/// The size in bytes of the file system holding `dir`.
pub(crate) fn disk_size(dir: &Path) -> io::Result<u64> {
    statvfs(dir).map(|(_, total)| total)
}

/// `(available to an unprivileged writer, total)` bytes of the file system holding `dir`.
fn statvfs(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `st` is written by statvfs before
    // it is read (only on success).
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // Both fields are u64 on 64-bit Linux but 32 bits wide on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let (available, blocks, size) = (
        u64::from(st.f_bavail),
        u64::from(st.f_blocks),
        u64::from(st.f_frsize),
    );
    Ok((available.saturating_mul(size), blocks.saturating_mul(size)))
}

/// Whether a process with this id runs on this machine (a scratch database named after
/// a process that is gone was left by a killed check).
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists; no signal is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This machine's name, to tell its scratch databases from another machine's.
pub(crate) fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Writes all of `buf` to `w`, a pipe to a child process, with SIGPIPE blocked on this
/// thread: a child that exited (or stopped reading) is then an `EPIPE` error, not a
/// signal that ends a host process which does not ignore SIGPIPE (a C program using the
/// library; Rust and Python ignore it already).
pub(crate) fn write_all_to_child(w: &mut dyn io::Write, buf: &[u8]) -> io::Result<()> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls only change
    // and restore this thread's signal mask and take a SIGPIPE this write made pending.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let result = w.write_all(buf).and_then(|()| w.flush());
        if result.is_err() && !was_pending {
            let now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&pipe, std::ptr::null_mut(), &now);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Disk-full, quota and file-size errors get their hint from the error kind the
    /// standard library derives from this system's errno values.
    #[test]
    fn storage_errnos_get_their_hint() {
        use crate::error::{Error, Operation};
        for (errno, hint) in [
            (libc::ENOSPC, "the disk is full"),
            (libc::EDQUOT, "the disk is full"),
            (libc::EFBIG, "file size limit"),
            (libc::EACCES, "permissions"),
        ] {
            let e = Error::io(
                Operation::Backup,
                "cannot write",
                Path::new("/b/x"),
                io::Error::from_raw_os_error(errno),
            );
            assert!(e.hint().is_some_and(|h| h.contains(hint)), "{errno}: {e:?}");
        }
    }

    #[test]
    fn created_files_and_folders_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir_all(&sub).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sub), 0o700);
        let f = sub.join("f");
        private(OpenOptions::new().write(true).create_new(true))
            .open(&f)
            .unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_eq!(readable_by_others(&fs::metadata(&f).unwrap()), None);
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(readable_by_others(&fs::metadata(&f).unwrap()), Some(0o640));
        fsync_dir(&sub).unwrap();
    }

    #[test]
    fn positional_io_leaves_the_file_position_alone() {
        use std::io::{Read, Seek, SeekFrom};
        let dir = tempfile::tempdir().unwrap();
        let mut f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("x"))
            .unwrap();
        write_all_at(&f, b"world", 6).unwrap();
        write_all_at(&f, b"hello ", 0).unwrap();
        let mut buf = [0u8; 5];
        read_exact_at(&f, &mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        assert_eq!(f.stream_position().unwrap(), 0);
        let mut all = String::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut all).unwrap();
        assert_eq!(all, "hello world");
    }
}
