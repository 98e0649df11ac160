//! CPU priority of sqlkeep's background threads.

/// Lowers the scheduling priority of the calling thread and of the threads it starts
/// afterwards (see [`crate::platform::lower_current_thread_priority`]).
pub fn lower_current_thread() {
    crate::platform::lower_current_thread_priority();
}
