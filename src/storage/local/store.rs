//! The backup directory as a catalogue: naming, listing, loading, committing and
//! deleting backups, and sweeping what a crash left behind.
//!
//! A backup is the pair `<id><ext>` + `<id>.json`. Both appear through renames in a fixed
//! order, with an intent file in between, so a crash at any instant is resolved by the
//! next sweep into "no backup" or "the complete backup":
//! - commit: data written to `.sqlkeep-tmp-<id>.data` and synced; manifest written to
//!   `.sqlkeep-tmp-<id>.pending.json` and synced; data renamed to `<id><ext>`; manifest
//!   renamed to `<id>.json`; directory synced. A sweep that finds a pending manifest whose
//!   data file is in place finishes the rename; otherwise it deletes the leftovers.
//! - delete: a data file another backup's incremental chain names is first hard-linked
//!   into `pieces/` and that folder synced (`pieces.rs`); manifest renamed to
//!   `.sqlkeep-tmp-<id>.deleting.json`; data removed; intent removed. A sweep that finds a
//!   deleting intent finishes the deletion.
//!
//! Sweeps run only under the exclusive directory lock, when no operation is in progress.

use super::atomic_file::{self, create_private_file, fsync_dir, TMP_PREFIX};
use super::log::BackupLog;
use crate::config::Compression;
use crate::error::{Error, Operation, Result};
use crate::model::backup_id::{data_name, manifest_name, sequence_order, BackupId, Content};
use crate::model::manifest::{ChainLink, Kind, Manifest};
use crate::model::verdict::Damage;
use crate::storage::{Blob, Broken, Storage};
use chrono::{DateTime, Utc};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

const PENDING: &str = ".pending.json";
/// What follows `TMP_PREFIX` in the name of a remote restore's download folder.
pub const REMOTE_DOWNLOAD: &str = "remote-";
const DELETING: &str = ".deleting.json";

/// The backups in a directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// A reserved id with its temporary data file.
pub struct Reservation {
    pub id: String,
    pub data_tmp: atomic_file::TempFile,
    pub file: File,
}

impl Store {
    /// The catalogue of `dir` (which may not exist yet).
    pub fn new(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the manifest of `id`.
    pub fn manifest_path(&self, id: &str) -> PathBuf {
        self.dir.join(manifest_name(id))
    }

    /// Path of the data file of `m`.
    pub fn data_path(&self, m: &Manifest) -> PathBuf {
        self.dir.join(&m.file)
    }

    /// Every path a data file of `id` can have, one per compression, in the clear and
    /// encrypted.
    fn data_paths(&self, id: &str) -> Vec<PathBuf> {
        Compression::ALL
            .iter()
            .flat_map(|c| {
                [Content::Sqlite, Content::Postgres, Content::Pages]
                    .into_iter()
                    .flat_map(move |what| [false, true].map(|age| data_name(id, *c, age, what)))
            })
            .map(|name| self.dir.join(name))
            .collect()
    }

    fn has_data_file(&self, id: &str) -> bool {
        self.data_paths(id).iter().any(|p| p.exists())
    }

    /// Whether a data file of `id` is kept in `pieces/` for other backups' chains: its id
    /// must never be given to a new backup, whose file readers would take for it.
    fn has_kept_file(&self, id: &str) -> bool {
        let pieces = self.pieces_dir();
        self.data_paths(id)
            .iter()
            .filter_map(|p| p.file_name())
            .any(|name| pieces.join(name).exists())
    }

    fn read_dir(&self, op: Operation) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(op, "cannot list backup directory", &self.dir, e)),
        };
        let mut names = Vec::new();
        for entry in rd {
            let entry =
                entry.map_err(|e| Error::io(op, "cannot list backup directory", &self.dir, e))?;
            if let Some(n) = entry.file_name().to_str() {
                names.push(n.to_string());
            }
        }
        Ok(names)
    }

    /// Reads the manifest of `id`. A data file without a manifest, or a manifest that does
    /// not parse, is [`crate::ErrorKind::Corrupt`]; no trace of `id` is `NotFound`.
    fn load_local(&self, id: &str) -> Result<Manifest> {
        validate_id(id)?;
        let path = self.manifest_path(id);
        match fs::read(&path) {
            Ok(bytes) => Manifest::parse(&bytes, &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.has_data_file(id) {
                    Err(Error::corrupt(
                        Operation::Verify,
                        format!(
                            "backup {id} has no manifest ({} is missing)",
                            path.display()
                        ),
                    )
                    .with_hint(
                        "without its manifest a backup cannot be checked; it is not restored",
                    ))
                } else {
                    Err(Error::not_found(
                        Operation::Verify,
                        format!("no backup {id:?} in {}", self.dir.display()),
                    )
                    .with_hint("list the backups to see which ids exist"))
                }
            }
            Err(e) => Err(Error::io(
                Operation::Verify,
                "cannot read manifest",
                &path,
                e,
            )),
        }
    }

    /// Every readable backup, newest first, and every broken one (unreadable manifest,
    /// data file without manifest).
    fn scan_local(&self) -> Result<(Vec<Manifest>, Vec<Broken>)> {
        let names = self.read_dir(Operation::Verify)?;
        let mut good = Vec::new();
        let mut broken = Vec::new();
        let mut with_manifest = std::collections::HashSet::new();
        for name in &names {
            if name.starts_with('.') {
                continue;
            }
            let Some((id, None)) = BackupId::of_file_name(name) else {
                continue;
            };
            let id = id.as_str();
            with_manifest.insert(id.to_string());
            let path = self.dir.join(name);
            match fs::read(&path) {
                Ok(bytes) => match Manifest::parse(&bytes, &path) {
                    Ok(m) => good.push(m),
                    Err(e) => broken.push(Broken {
                        id: id.to_string(),
                        reason: e.message().to_string(),
                    }),
                },
                // Deleted between listing and reading: simply gone.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => broken.push(Broken {
                    id: id.to_string(),
                    reason: format!("manifest cannot be read: {e}"),
                }),
            }
        }
        for name in &names {
            if name.starts_with('.') {
                continue;
            }
            if let Some((id, Some(_))) = BackupId::of_file_name(name) {
                let id = id.as_str();
                if !with_manifest.contains(id) {
                    broken.push(Broken {
                        id: id.to_string(),
                        reason: format!("backup file {name} has no manifest"),
                    });
                }
            }
        }
        sort_newest_first(&mut good);
        broken.sort_by(|a, b| b.id.cmp(&a.id));
        Ok((good, broken))
    }

    /// Reserves a unique id `<stem>-<UTC yyyymmddThhmmssZ>-<kind>[-n]` by creating its
    /// temporary data file exclusively. Two processes asking in the same second get
    /// distinct ids: the temporary file is created with O_EXCL first, then the final names
    /// are checked (a finished backup's temp name is gone only after its final name exists).
    pub fn reserve(
        &self,
        db_stem: &str,
        created_at: DateTime<Utc>,
        kind: Kind,
    ) -> Result<Reservation> {
        atomic_file::create_private_dir(&self.dir).map_err(|e| {
            Error::io(
                Operation::Backup,
                "cannot create backup directory",
                &self.dir,
                e,
            )
        })?;
        for n in 1..10_000u32 {
            let id = BackupId::new(db_stem, created_at, kind, n).to_string();
            let tmp = self.dir.join(format!("{TMP_PREFIX}{id}.data"));
            let file = match create_private_file(&tmp) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::io(
                        Operation::Backup,
                        "cannot create backup file",
                        &tmp,
                        e,
                    ))
                }
            };
            let data_tmp = atomic_file::TempFile::new(tmp);
            // A backup deleted in this same second must not hand its id to a new one:
            // the log remembers every id that was ever started.
            let taken = self.manifest_path(&id).exists()
                || self.has_data_file(&id)
                || self.has_kept_file(&id)
                || BackupLog::new(&self.dir).mentions_id(&id);
            if taken {
                continue; // dropping data_tmp removes our temp file
            }
            return Ok(Reservation { id, data_tmp, file });
        }
        Err(Error::busy(
            Operation::Backup,
            format!(
                "no free backup id for {}",
                BackupId::new(db_stem, created_at, kind, 1)
            ),
        ))
    }

    /// Makes a finished backup visible: see the module comment for the order of steps.
    pub fn commit(&self, r: Reservation, m: &Manifest) -> Result<()> {
        let op = Operation::Backup;
        let pending = self.dir.join(format!("{TMP_PREFIX}{}{PENDING}", m.id));
        let pending_guard = atomic_file::TempFile::new(pending.clone());
        let mut f = create_private_file(&pending)
            .map_err(|e| Error::io(op, "cannot write manifest", &pending, e))?;
        io::Write::write_all(&mut f, &m.to_json_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(op, "cannot write manifest", &pending, e))?;
        drop(f);
        let data_final = self.data_path(m);
        fs::rename(r.data_tmp.path(), &data_final)
            .map_err(|e| Error::io(op, "cannot rename backup file into place", &data_final, e))?;
        r.data_tmp.keep();
        let manifest_final = self.manifest_path(&m.id);
        if let Err(e) = fs::rename(&pending, &manifest_final) {
            let _ = fs::remove_file(&data_final);
            return Err(Error::io(
                op,
                "cannot rename manifest into place",
                &manifest_final,
                e,
            ));
        }
        pending_guard.keep();
        fsync_dir(&self.dir)
            .map_err(|e| Error::io(op, "cannot sync backup directory", &self.dir, e))
    }

    /// Rewrites the manifest of an existing backup atomically (after a verification).
    fn save_local(&self, m: &Manifest, op: Operation) -> Result<()> {
        atomic_file::write_atomic(&self.dir, &manifest_name(&m.id), &m.to_json_bytes())
            .map_err(|e| Error::io(op, "cannot write manifest", &self.manifest_path(&m.id), e))
    }

    /// Deletes a backup (manifest and file together, crash-safe). Callers hold the
    /// exclusive directory lock.
    fn delete_local(&self, id: &str, op: Operation) -> Result<()> {
        validate_id(id)?;
        self.keep_for_dependents(id, &self.data_paths(id))
            .map_err(|e| Error::io(op, "cannot keep a file other backups need", &self.dir, e))?;
        let manifest = self.manifest_path(id);
        let intent = self.dir.join(format!("{TMP_PREFIX}{id}{DELETING}"));
        match fs::rename(&manifest, &intent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(op, "cannot delete manifest", &manifest, e)),
        }
        for p in self.data_paths(id) {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(op, "cannot delete backup file", &p, e)),
            }
        }
        let _ = fs::remove_file(&intent);
        fsync_dir(&self.dir)
            .map_err(|e| Error::io(op, "cannot sync backup directory", &self.dir, e))
    }

    /// Resolves what crashed operations left: finishes interrupted commits and deletions
    /// and removes every other temporary file. Call only under the exclusive lock.
    pub fn sweep(&self) -> Result<usize> {
        let names = self.read_dir(Operation::Backup)?;
        let mut removed = 0;
        for name in names.iter().filter(|n| n.starts_with(TMP_PREFIX)) {
            let path = self.dir.join(name);
            let rest = &name[TMP_PREFIX.len()..];
            if let Some(id) = rest.strip_suffix(PENDING) {
                if self.has_data_file(id) && !self.manifest_path(id).exists() {
                    // The data file was renamed into place: finish the commit.
                    if fs::rename(&path, self.manifest_path(id)).is_ok() {
                        continue;
                    }
                }
            } else if let Some(id) = rest.strip_suffix(DELETING) {
                for p in self.data_paths(id) {
                    let _ = fs::remove_file(p);
                }
            }
            // A remote restore's download folder (`ops/offsite.rs`), left by a crash.
            let gone = if rest.starts_with(REMOTE_DOWNLOAD) && path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if gone.is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            let _ = fsync_dir(&self.dir);
        }
        // What no incremental chain needs any more (`pieces.rs`).
        removed += self.collect().map(|c| c.files).unwrap_or(0);
        Ok(removed)
    }
}

/// Newest first: by creation time, then id (ids of one second end in -2, -3, ...).
pub fn sort_newest_first(v: &mut [Manifest]) {
    v.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| sequence_order(&b.id).cmp(&sequence_order(&a.id)))
    });
}

/// Rejects ids that could name a file outside the backup directory.
fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() || id.contains('/') || id.contains('\0') || id.starts_with('.') {
        return Err(Error::invalid_argument(
            Operation::Verify,
            format!("{id:?} is not a backup id; ids look like app-20261123T020000Z-scheduled"),
        ));
    }
    Ok(())
}

impl Storage for Store {
    fn scan(&self) -> Result<(Vec<Manifest>, Vec<Broken>)> {
        self.scan_local()
    }

    fn load(&self, id: &str) -> Result<Manifest> {
        self.load_local(id)
    }

    fn get(&self, m: &Manifest) -> Result<std::result::Result<Blob, Damage>> {
        let path = self.data_path(m);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Err(Damage::Missing {
                    file: m.file.clone(),
                }))
            }
            Err(e) => {
                return Ok(Err(Damage::Unreadable {
                    file: Some(m.file.clone()),
                    reason: e.to_string(),
                }))
            }
        };
        let size = file.metadata().map(|md| md.len()).unwrap_or(0);
        Ok(Ok(Blob {
            reader: Box::new(file),
            size,
        }))
    }

    /// Copies `data` in under a temporary name and commits it like a new backup, so a
    /// crash half-way leaves nothing that lists.
    fn put(&self, m: &Manifest, data: &Path) -> Result<()> {
        let op = Operation::Backup;
        validate_id(&m.id)?;
        atomic_file::create_private_dir(&self.dir)
            .map_err(|e| Error::io(op, "cannot create backup directory", &self.dir, e))?;
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}.data", m.id));
        let mut file = create_private_file(&tmp)
            .map_err(|e| Error::io(op, "cannot create backup file", &tmp, e))?;
        let data_tmp = atomic_file::TempFile::new(tmp.clone());
        let mut from =
            File::open(data).map_err(|e| Error::io(op, "cannot read backup file", data, e))?;
        io::copy(&mut from, &mut file)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io(op, "cannot write backup file", &tmp, e))?;
        let r = Reservation {
            id: m.id.clone(),
            data_tmp,
            file,
        };
        self.commit(r, m)
    }

    fn save_manifest(&self, m: &Manifest, op: Operation) -> Result<()> {
        self.save_local(m, op)
    }

    fn delete(&self, id: &str, op: Operation) -> Result<()> {
        self.delete_local(id, op)
    }

    fn get_link(
        &self,
        _m: &Manifest,
        link: &ChainLink,
    ) -> Result<std::result::Result<Blob, Damage>> {
        Ok(self.open_link(link))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backup put into another folder lists there complete, byte for byte.
    #[test]
    fn put_copies_a_backup_into_another_folder() {
        let root = std::env::temp_dir().join(format!("sqlkeep-put-{}", std::process::id()));
        let (a, b) = (Store::new(&root.join("a")), Store::new(&root.join("b")));
        let at = DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z")
            .unwrap()
            .to_utc();
        let r = a.reserve("app", at, Kind::Manual).unwrap();
        io::Write::write_all(&mut &r.file, b"backup bytes").unwrap();
        let m: Manifest = serde_json::from_value(serde_json::json!({
            "format": 1, "id": r.id, "kind": "manual", "label": null,
            "created_at": "2026-11-23T02:00:00.000Z", "database": "/app.db",
            "file": format!("{}.sqlite3", r.id), "compression": "none",
            "size_bytes": 12, "sha256": "x", "raw_size_bytes": 12, "page_size": 4096,
            "page_count": 0, "user_version": 0, "journal_mode": "wal",
            "sqlite_version": "3", "sqlkeep_version": "0", "duration_ms": 1
        }))
        .unwrap();
        a.commit(r, &m).unwrap();
        Storage::put(&b, &m, &a.data_path(&m)).unwrap();
        assert_eq!(b.list().unwrap(), vec![m.clone()]);
        assert_eq!(fs::read(b.data_path(&m)).unwrap(), b"backup bytes");
        let leftovers: Vec<_> = fs::read_dir(b.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(TMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty());
        let _ = fs::remove_dir_all(&root);
    }
}
