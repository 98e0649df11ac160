//! The pipeline between a source's raw image and the stored backup file: the raw feed
//! that lets compression follow the copy, gzip and zstd, age encryption, and SHA-256
//! hashing, the member framing that lets restores decode on all cores, and the page records
//! of incremental backups (`pages.rs`).

pub(crate) mod compress;
pub(crate) mod decompress;
pub(crate) mod encrypt;
pub(crate) mod feed;
pub(crate) mod hash;
pub(crate) mod members;
pub(crate) mod pages;
pub(crate) mod priority;
pub(crate) mod writeback;
