//! The background scheduler (filled in by the scheduler work).

use crate::clock::Wake;
use std::sync::Arc;

/// The scheduler state a keeper owns.
#[derive(Default)]
pub(crate) struct SchedulerSlot {
    wake: Arc<Wake>,
}

impl SchedulerSlot {
    /// Wakes a sleeping scheduler so it re-reads the configuration.
    pub fn wake(&self) {
        self.wake.notify();
    }
}
