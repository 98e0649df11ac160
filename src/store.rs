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
//! - delete: manifest renamed to `.sqlkeep-tmp-<id>.deleting.json`; data removed; intent
//!   removed. A sweep that finds a deleting intent finishes the deletion.
//!
//! Sweeps run only under the exclusive directory lock, when no operation is in progress.

use crate::atomic_file::{self, create_private_file, fsync_dir, TMP_PREFIX};
use crate::error::{Error, Operation, Result};
use crate::log::BackupLog;
use crate::manifest::{manifest_name, Kind, Manifest};
use chrono::{DateTime, Utc};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

const PENDING: &str = ".pending.json";
const DELETING: &str = ".deleting.json";
const EXTENSIONS: [&str; 3] = [".sqlite3.gz", ".sqlite3.zst", ".sqlite3"];

/// A backup that cannot be used, found while scanning.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Broken {
    /// The id (file stem).
    pub id: String,
    /// What is wrong.
    pub reason: String,
}

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
    pub fn load(&self, id: &str) -> Result<Manifest> {
        validate_id(id)?;
        let path = self.manifest_path(id);
        match fs::read(&path) {
            Ok(bytes) => Manifest::parse(&bytes, &path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if EXTENSIONS
                    .iter()
                    .any(|ext| self.dir.join(format!("{id}{ext}")).exists())
                {
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
    pub fn scan(&self) -> Result<(Vec<Manifest>, Vec<Broken>)> {
        let names = self.read_dir(Operation::Verify)?;
        let mut good = Vec::new();
        let mut broken = Vec::new();
        let mut with_manifest = std::collections::HashSet::new();
        for name in &names {
            if name.starts_with('.') {
                continue;
            }
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if !has_id_shape(id) {
                continue;
            }
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
            if let Some(id) = EXTENSIONS.iter().find_map(|ext| name.strip_suffix(ext)) {
                if has_id_shape(id) && !with_manifest.contains(id) {
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

    /// Readable backups, newest first.
    pub fn list(&self) -> Result<Vec<Manifest>> {
        Ok(self.scan()?.0)
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
        let base = format!(
            "{db_stem}-{}-{}",
            created_at.format("%Y%m%dT%H%M%SZ"),
            kind.as_str()
        );
        for n in 1..10_000u32 {
            let id = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
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
                || EXTENSIONS
                    .iter()
                    .any(|ext| self.dir.join(format!("{id}{ext}")).exists())
                || BackupLog::new(&self.dir).mentions_id(&id);
            if taken {
                continue; // dropping data_tmp removes our temp file
            }
            return Ok(Reservation { id, data_tmp, file });
        }
        Err(Error::busy(
            Operation::Backup,
            format!("no free backup id for {base}"),
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
    pub fn save_manifest(&self, m: &Manifest, op: Operation) -> Result<()> {
        atomic_file::write_atomic(&self.dir, &manifest_name(&m.id), &m.to_json_bytes())
            .map_err(|e| Error::io(op, "cannot write manifest", &self.manifest_path(&m.id), e))
    }

    /// Deletes a backup (manifest and file together, crash-safe). Callers hold the
    /// exclusive directory lock.
    pub fn delete(&self, id: &str, op: Operation) -> Result<()> {
        validate_id(id)?;
        let manifest = self.manifest_path(id);
        let intent = self.dir.join(format!("{TMP_PREFIX}{id}{DELETING}"));
        match fs::rename(&manifest, &intent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(op, "cannot delete manifest", &manifest, e)),
        }
        for ext in EXTENSIONS {
            let p = self.dir.join(format!("{id}{ext}"));
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
                let data_in_place = EXTENSIONS
                    .iter()
                    .any(|ext| self.dir.join(format!("{id}{ext}")).exists());
                if data_in_place && !self.manifest_path(id).exists() {
                    // The data file was renamed into place: finish the commit.
                    if fs::rename(&path, self.manifest_path(id)).is_ok() {
                        continue;
                    }
                }
            } else if let Some(id) = rest.strip_suffix(DELETING) {
                for ext in EXTENSIONS {
                    let _ = fs::remove_file(self.dir.join(format!("{id}{ext}")));
                }
            }
            if fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            let _ = fsync_dir(&self.dir);
        }
        Ok(removed)
    }
}

/// Newest first: by creation time, then id (ids of one second end in -2, -3, ...).
pub fn sort_newest_first(v: &mut [Manifest]) {
    v.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| id_order(&b.id).cmp(&id_order(&a.id)))
    });
}

fn id_order(id: &str) -> (String, u32) {
    match id.rsplit_once('-') {
        Some((head, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            (head.to_string(), n.parse().unwrap_or(0))
        }
        _ => (id.to_string(), 1),
    }
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

/// Whether `stem` looks like `<db-stem>-<yyyymmddThhmmssZ>-<kind>[-n]`.
pub fn has_id_shape(stem: &str) -> bool {
    let mut rest = stem;
    if let Some((head, n)) = rest.rsplit_once('-') {
        if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
            rest = head;
        }
    }
    let Some(head) = Kind::ALL.iter().find_map(|k| {
        rest.strip_suffix(k.as_str())
            .and_then(|h| h.strip_suffix('-'))
    }) else {
        return false;
    };
    let Some((db, ts)) = head.rsplit_once('-') else {
        return false;
    };
    let b = ts.as_bytes();
    !db.is_empty()
        && b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shape() {
        assert!(has_id_shape("app-20261123T020000Z-scheduled"));
        assert!(has_id_shape("my-app-20261123T020000Z-pre-restore-3"));
        assert!(!has_id_shape("app"));
        assert!(!has_id_shape("app-2026112T020000Z-manual"));
        assert!(!has_id_shape("-20261123T020000Z-manual"));
    }
}
