//! What this machine last knew of each remote, kept beside the backups as
//! `.sqlkeep-remote-<name>.json`: the remote's list of backups as of the last push that
//! reached it, and how the last attempt went. It lets a push that cannot reach the
//! remote say how many backups are missing there, and `status()` and statistics report
//! offsite health without a network request.

use super::atomic_file::write_atomic;
pub use crate::model::offsite::OffsiteState;
use std::path::Path;

fn file_name(remote: &str) -> String {
    format!(".sqlkeep-remote-{remote}.json")
}

/// Loading and saving the state beside the backups.
pub trait Kept: Sized {
    /// The state of `remote` kept in `dir` (empty when there is none or it is
    /// unreadable: it is a cache, rebuilt by the next push).
    fn load(dir: &Path, remote: &str) -> Self;
    /// Writes it (atomically; a failure only loses the cache).
    fn save(&self, dir: &Path);
}

impl Kept for OffsiteState {
    /// The state of `remote` kept in `dir` (empty when there is none or it is unreadable:
    /// it is a cache, rebuilt by the next push).
    fn load(dir: &Path, remote: &str) -> OffsiteState {
        std::fs::read(dir.join(file_name(remote)))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| OffsiteState {
                remote: remote.to_string(),
                ..OffsiteState::default()
            })
    }

    /// Writes it (atomically; a failure only loses the cache).
    fn save(&self, dir: &Path) {
        let body = serde_json::to_vec_pretty(self).expect("state serialises");
        let _ = write_atomic(dir, &file_name(&self.remote), &body);
    }
}
