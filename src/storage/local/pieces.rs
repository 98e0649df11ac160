//! The `pieces/` folder of a backup directory: what incremental backups depend on after
//! the backup that wrote it is gone, and the page hashes the next backup compares with.
//!
//! An incremental backup's manifest lists its whole chain (the full backup it starts from
//! and every page file after it), so it never depends on another manifest. Deleting a
//! backup (by rotation or by hand) whose data file a listed chain names keeps that file:
//! it is hard-linked into `pieces/` (and the folder synced) *before* the deletion starts,
//! so a crash at any instant leaves it in one place or both. Readers look in the backup
//! folder first, then in `pieces/`.
//!
//! Garbage collection removes from `pieces/` what no listed chain names, under the
//! exclusive directory lock (no backup is being written, none is being read). New
//! references appear only through a backup's commit, which holds the shared lock, so a
//! file collection sees unreferenced stays unreferenced; removing it again after a crash
//! is harmless. A manifest that cannot be read might name anything: collection then
//! removes nothing.
//!
//! Page-hash files (`<id>.pagehash`, `pipeline/pages.rs`) are a cache: the newest few
//! backups keep theirs; without one the next backup is a full one.

use super::atomic_file::{create_private_dir, fsync_dir, write_atomic, TMP_PREFIX};
use super::store::Store;
use crate::model::manifest::{ChainLink, Manifest};
use crate::model::verdict::Damage;
use crate::storage::{Blob, Storage};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;

/// The folder, inside the backup directory.
pub const PIECES_DIR: &str = "pieces";

/// The extension of a page-hash file.
const PAGE_HASH: &str = ".pagehash";

/// How many of the newest backups keep their page hashes.
const KEEP_PAGE_HASHES: usize = 3;

/// What a collection removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    pub files: usize,
    pub bytes: u64,
}

impl Store {
    /// The `pieces/` folder.
    pub fn pieces_dir(&self) -> PathBuf {
        self.dir().join(PIECES_DIR)
    }

    /// Where the chain file `file` is: the backup folder, else `pieces/`.
    pub fn locate(&self, file: &str) -> PathBuf {
        let top = self.dir().join(file);
        if top.exists() {
            top
        } else {
            self.pieces_dir().join(file)
        }
    }

    /// The data of one link of a chain, or why it cannot be had.
    pub fn open_link(&self, link: &ChainLink) -> std::result::Result<Blob, Damage> {
        let path = self.locate(&link.file);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Damage::Missing {
                    file: link.file.clone(),
                })
            }
            Err(e) => {
                return Err(Damage::Unreadable {
                    file: Some(link.file.clone()),
                    reason: e.to_string(),
                })
            }
        };
        let size = file.metadata().map(|md| md.len()).unwrap_or(0);
        Ok(Blob {
            reader: Box::new(file),
            size,
        })
    }

    /// Before backup `id` is deleted: keeps each of its data files that another listed
    /// chain names, by a hard link in `pieces/`, synced.
    pub fn keep_for_dependents(&self, id: &str, data_files: &[PathBuf]) -> io::Result<()> {
        let (good, _) = self.scan().map_err(|e| io::Error::other(e.to_string()))?;
        let others: Vec<Manifest> = good.into_iter().filter(|m| m.id != id).collect();
        let needed = names_in(&others);
        let mut linked = false;
        for path in data_files {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !needed.contains(name) || !path.exists() {
                continue;
            }
            create_private_dir(&self.pieces_dir())?;
            match fs::hard_link(path, self.pieces_dir().join(name)) {
                Ok(()) => linked = true,
                // Linked by an earlier attempt that crashed: files never change.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        if linked {
            fsync_dir(&self.pieces_dir())?;
        }
        Ok(())
    }

    /// Removes from `pieces/` what no listed backup needs: chain files no chain names,
    /// page hashes of all but the newest backups, temporary files. Call only under the
    /// exclusive directory lock.
    pub fn collect(&self) -> io::Result<Collected> {
        let dir = self.pieces_dir();
        let names = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Collected::default()),
            Err(e) => return Err(e),
        };
        // One scan gives both what chains name and the newest backups. A manifest that
        // cannot be read might name anything: then nothing is removed.
        let (good, broken) = self.scan().map_err(|e| io::Error::other(e.to_string()))?;
        if !broken.is_empty() {
            return Ok(Collected::default());
        }
        let referenced = names_in(&good);
        let newest: HashSet<String> = good
            .into_iter()
            .filter(|m| m.postgres.is_none())
            .take(KEEP_PAGE_HASHES)
            .map(|m| m.id)
            .collect();
        let mut out = Collected::default();
        for name in names {
            let keep = if let Some(id) = name.strip_suffix(PAGE_HASH) {
                newest.contains(id)
            } else {
                !name.starts_with(TMP_PREFIX) && referenced.contains(&name)
            };
            if keep {
                continue;
            }
            let path = dir.join(&name);
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&path) {
                Ok(()) => {
                    out.files += 1;
                    out.bytes += size;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if out.files > 0 {
            fsync_dir(&dir)?;
        }
        Ok(out)
    }

    /// Bytes in `pieces/` (kept chain files and page hashes).
    pub fn pieces_bytes(&self) -> u64 {
        fs::read_dir(self.pieces_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Records the page hashes of backup `id` (after its commit).
    pub fn save_page_hashes(&self, id: &str, bytes: &[u8]) -> io::Result<()> {
        create_private_dir(&self.pieces_dir())?;
        write_atomic(&self.pieces_dir(), &format!("{id}{PAGE_HASH}"), bytes)
    }

    /// The page hashes of backup `id`, if they were kept.
    pub fn load_page_hashes(&self, id: &str) -> Option<Vec<u8>> {
        fs::read(self.pieces_dir().join(format!("{id}{PAGE_HASH}"))).ok()
    }
}

/// The file names the chains of `manifests` name.
fn names_in(manifests: &[Manifest]) -> HashSet<String> {
    manifests
        .iter()
        .filter_map(|m| m.incremental.as_ref())
        .flat_map(|inc| inc.chain.iter().map(|l| l.file.clone()))
        .collect()
}
