//! The operations, each a function of a [`crate::context::Ctx`]: backup, verify,
//! restore, rotate (plan + apply), periodic test restores, reading the catalogue, and
//! making encryption keys.
//! They use the seams (`source/`, `storage/`) and the pipeline; they never reach the
//! keeper or the scheduler.

pub(crate) mod backup;
pub(crate) mod catalogue;
pub(crate) mod chain;
pub(crate) mod diff;
pub(crate) mod export;
pub(crate) mod incremental;
pub(crate) mod keygen;
pub(crate) mod offsite;
pub(crate) mod restore;
pub(crate) mod restore_table;
pub(crate) mod rotate;
pub(crate) mod stream;
pub(crate) mod test_restore;
pub(crate) mod verify;
