//! What sqlkeep records and reports: manifests and their ids, events, run history and
//! check verdicts. Plain data with its formats; no I/O beyond parsing.

pub(crate) mod backup_id;
pub(crate) mod diff;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod history;
pub(crate) mod kind;
pub(crate) mod manifest;
pub(crate) mod offsite;
pub(crate) mod selective;
pub(crate) mod size;
pub(crate) mod timefmt;
pub(crate) mod verdict;
