//! The `Storage` seam: where backups live. Today a local folder (`local/`), with its
//! locks, backup log and crash-safe commit protocol; S3-compatible object stores and
//! other folders come next as folders beside it.
//!
//! A store holds backups as pairs: the data file and its manifest, the manifest being
//! the index (a backup without a readable manifest is listed as broken, never used).
//! Operations read through this trait; the local folder is also where a new backup is
//! written first, so writing uses its own reserve/commit protocol (`local/store.rs`), and
//! a backup reaches another store with [`Storage::put`].

pub(crate) mod local;
pub(crate) mod remote;

use crate::error::{Operation, Result};
use crate::model::manifest::{ChainLink, Manifest};
use crate::model::verdict::Damage;
use std::io::Read;
use std::path::Path;

/// A backup that cannot be used, found while scanning.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Broken {
    /// The id (file stem).
    pub id: String,
    /// What is wrong.
    pub reason: String,
}

/// A backup's data as a store hands it out.
pub(crate) struct Blob {
    pub reader: Box<dyn Read + Send>,
    /// Its size as the store sees it (checked against the manifest before reading).
    pub size: u64,
}

/// Where backups live.
pub(crate) trait Storage {
    /// Every readable backup, newest first, and every broken one.
    fn scan(&self) -> Result<(Vec<Manifest>, Vec<Broken>)>;

    /// Readable backups, newest first.
    fn list(&self) -> Result<Vec<Manifest>> {
        Ok(self.scan()?.0)
    }

    /// The manifest of `id`: `NotFound` without trace of it, `Corrupt` when its
    /// manifest is missing or unreadable.
    fn load(&self, id: &str) -> Result<Manifest>;

    /// The data of `m`, or why it cannot be had (missing, unreadable): damage, not error.
    fn get(&self, m: &Manifest) -> Result<std::result::Result<Blob, Damage>>;

    /// Stores the backup `m` whose data is the local file `data`, atomically: it is
    /// listed complete or not at all. (Its first caller outside the tests is the
    /// offsite copy; until then it is proved by the local store's unit test.)
    #[cfg_attr(not(test), allow(dead_code))]
    fn put(&self, m: &Manifest, data: &Path) -> Result<()>;

    /// Rewrites the manifest of a stored backup (after a check or a restore).
    fn save_manifest(&self, m: &Manifest, op: Operation) -> Result<()>;

    /// Deletes a backup, data and manifest together (keeping what other backups'
    /// incremental chains need).
    fn delete(&self, id: &str, op: Operation) -> Result<()>;

    /// The data of one file of `m`'s incremental chain. A store that keeps only whole
    /// backups (a remote) has `m`'s own file and no other.
    fn get_link(
        &self,
        m: &Manifest,
        link: &ChainLink,
    ) -> Result<std::result::Result<Blob, Damage>> {
        if link.file == m.file {
            self.get(m)
        } else {
            Ok(Err(Damage::Missing {
                file: link.file.clone(),
            }))
        }
    }
}
