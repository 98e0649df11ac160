//! The pipeline between a source's raw image and the stored backup file: the raw feed
//! that lets compression follow the copy, gzip and zstd, age encryption, and SHA-256
//! hashing. Page chunking joins here as a further stage.

pub(crate) mod compress;
pub(crate) mod encrypt;
pub(crate) mod feed;
pub(crate) mod hash;
pub(crate) mod priority;
