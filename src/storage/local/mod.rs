//! The local folder store: backups as files beside their manifests (`store.rs`, with its
//! crash protocol), the locks that order operations across processes (`lock.rs`), the
//! temp-file/fsync/rename helpers (`atomic_file.rs`), the backup log (`log.rs`), and the
//! `pieces/` folder that keeps what incremental backups depend on (`pieces.rs`).

pub(crate) mod atomic_file;
pub(crate) mod lock;
pub(crate) mod log;
pub(crate) mod offsite_state;
pub(crate) mod pieces;
pub(crate) mod store;
