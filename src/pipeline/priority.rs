//! CPU priority of sqlkeep's background threads.

/// Lowers the scheduling priority (nice 10) of the calling thread and of the threads it
/// starts afterwards. On Linux, nice values are per thread. Failure is harmless: the work
/// just competes at normal priority.
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take no pointers; they only affect this thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}
