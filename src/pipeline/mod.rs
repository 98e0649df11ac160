//! The pipeline between a source's raw image and the stored backup file: the raw feed
//! that lets compression follow the copy, gzip and zstd, and SHA-256 hashing. Encryption
//! and page chunking join here as further stages.

pub(crate) mod compress;
pub(crate) mod feed;
pub(crate) mod hash;
pub(crate) mod priority;
