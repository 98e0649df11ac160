//! An offsite store: an S3-compatible bucket, Google Cloud Storage, Azure Blob Storage or
//! a folder, through `object_store` (issue 13). It is a [`Storage`] like the local folder,
//! so verification and restore read from it through `get` as they read a local backup.
//!
//! Layout under the remote's prefix: each backup as `<id><ext>` (its data, the same name
//! as in the local folder) and `<id>.json` (its manifest), and one index object,
//! `sqlkeep-index.json`, holding every manifest. Listing reads the index: one GET, not a
//! LIST of every object (LIST requests were 99% of one Litestream user's bill, #234).
//!
//! Crash protocol (objects appear atomically: a multipart upload is invisible until it
//! completes, and the folder store renames a finished temporary file into place):
//! - put: data uploaded in parts, its SHA-256 computed as the parts leave and compared
//!   with the manifest's before the upload is completed (a mismatch aborts it: a local
//!   file that rotted is not copied); then the manifest object; then the index. A crash
//!   before the index leaves objects that no listing shows; the next push uploads the
//!   backup again, overwriting them.
//! - delete: the index first, then the manifest, then the data. A crash in between leaves
//!   unlisted objects, never a listed backup without data.
//!
//! The index is rewritten whole (read, change, write) by one process at a time: every
//! writer holds the local `.sqlkeep-offsite.lock` (`ops/offsite.rs`); one database's
//! backups are pushed from one machine.

mod connect;
mod reader;

use crate::config::Remote;
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::backup_id::manifest_name;
use crate::model::manifest::Manifest;
use crate::model::verdict::Damage;
use crate::storage::local::store::sort_newest_first;
use crate::storage::{Blob, Broken, Storage};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

pub(crate) use connect::scrub;

/// The index object's name.
pub const INDEX: &str = "sqlkeep-index.json";
/// The size of one uploaded part.
const PART: usize = 16 << 20;
/// Parts in flight at once.
const CONCURRENCY: usize = 4;

/// The index object: every backup on the remote, newest first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    format: u32,
    backups: Vec<Manifest>,
}

/// One remote, connected (no request is made until it is used).
pub(crate) struct RemoteStore {
    name: String,
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
}

impl RemoteStore {
    /// A client for `remote`, its credentials read from the provider's environment.
    pub fn open(remote: &Remote) -> Result<RemoteStore> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sqlkeep-remote")
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    Operation::Offsite,
                    format!("cannot start the remote client: {e}"),
                )
            })?;
        let store = connect::connect(remote)?;
        Ok(RemoteStore {
            name: remote.name.clone(),
            store,
            rt,
        })
    }

    /// An error of this remote, naming it, with no credential in its text.
    fn error(&self, op: Operation, what: &str, e: object_store::Error) -> Error {
        let kind = match &e {
            object_store::Error::NotFound { .. } => ErrorKind::NotFound,
            _ => ErrorKind::Remote,
        };
        Error::new(
            kind,
            op,
            scrub(&format!("remote `{}`: {what}: {e}", self.name)),
        )
    }

    fn read_index(&self, op: Operation) -> Result<Option<Index>> {
        let path = ObjectPath::from(INDEX);
        match self
            .rt
            .block_on(async { self.store.get(&path).await?.bytes().await })
        {
            // A damaged index is only a cache of the manifests: it is rebuilt from them
            // (and rewritten by the next push that changes the remote).
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(op, "cannot read the index", e)),
        }
    }

    /// The backups on the remote, newest first: the index, or, when there is none yet
    /// or it is unreadable (a remote never pushed to, filled by hand, or damaged),
    /// every manifest object.
    fn index(&self, op: Operation) -> Result<Index> {
        if let Some(index) = self.read_index(op)? {
            return Ok(index);
        }
        let metas: Vec<_> = self.rt.block_on(self.store.list(None).collect::<Vec<_>>());
        let mut backups = Vec::new();
        for meta in metas {
            let meta = meta.map_err(|e| self.error(op, "cannot list", e))?;
            let name = meta.location.filename().unwrap_or_default();
            if !name.ends_with(".json") || name == INDEX {
                continue;
            }
            let bytes = self
                .rt
                .block_on(async { self.store.get(&meta.location).await?.bytes().await })
                .map_err(|e| self.error(op, "cannot read a manifest", e))?;
            if let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) {
                backups.push(m);
            }
        }
        sort_newest_first(&mut backups);
        Ok(Index { format: 1, backups })
    }

    fn write_index(&self, mut index: Index, op: Operation) -> Result<()> {
        sort_newest_first(&mut index.backups);
        index.format = 1;
        let body = serde_json::to_vec_pretty(&index).expect("manifests serialise");
        self.rt
            .block_on(
                self.store
                    .put(&ObjectPath::from(INDEX), PutPayload::from(body)),
            )
            .map_err(|e| self.error(op, "cannot write the index", e))?;
        Ok(())
    }

    /// Removes `id` from the index only (its objects stay until overwritten or deleted),
    /// so the next push uploads it again: what a verification that found the remote copy
    /// missing or damaged does.
    pub fn forget(&self, id: &str, op: Operation) -> Result<()> {
        self.change_index(op, |backups| backups.retain(|m| m.id != id))
    }

    /// Reads the index, lets `change` edit its list of backups, and writes it back (the
    /// caller holds the offsite lock: one writer at a time).
    fn change_index(&self, op: Operation, change: impl FnOnce(&mut Vec<Manifest>)) -> Result<()> {
        let mut index = self.index(op)?;
        change(&mut index.backups);
        self.write_index(index, op)
    }

    /// Writes the manifest object of `m`.
    fn write_manifest(&self, m: &Manifest, op: Operation) -> Result<()> {
        let body = serde_json::to_vec_pretty(m).expect("manifests serialise");
        self.rt
            .block_on(self.store.put(
                &ObjectPath::from(manifest_name(&m.id).as_str()),
                PutPayload::from(body),
            ))
            .map(drop)
            .map_err(|e| self.error(op, "cannot write the manifest", e))
    }

    /// Uploads `data`, checking that the bytes sent hash to `sha256`; the upload is
    /// completed only then.
    fn upload(&self, path: &ObjectPath, data: &Path, size: u64, sha256: &str) -> Result<()> {
        let op = Operation::Offsite;
        let mut file = std::fs::File::open(data)
            .map_err(|e| Error::io(op, "cannot read backup file", data, e))?;
        self.rt.block_on(async {
            let upload = self
                .store
                .put_multipart(path)
                .await
                .map_err(|e| self.error(op, "cannot start the upload", e))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
            let mut hash = Sha256::new();
            let mut sent = 0u64;
            let mut buf = vec![0u8; PART];
            let failed = loop {
                let n = match read_full(&mut file, &mut buf) {
                    Ok(n) => n,
                    Err(e) => break Some(Error::io(op, "cannot read backup file", data, e)),
                };
                if n == 0 {
                    break None;
                }
                hash.update(&buf[..n]);
                sent += n as u64;
                if let Err(e) = w.wait_for_capacity(CONCURRENCY).await {
                    break Some(self.error(op, "upload failed", e));
                }
                w.write(&buf[..n]);
            };
            let actual = hex(&hash.finalize());
            let failed = failed.or_else(|| {
                (sent != size || actual != sha256).then(|| {
                    Error::corrupt(
                        op,
                        format!(
                            "the local file of this backup no longer matches its manifest ({sent} bytes, sha256 {actual}); it was not copied to remote `{}`",
                            self.name
                        ),
                    )
                    .with_hint("run `sqlkeep verify` on it")
                })
            });
            match failed {
                Some(e) => {
                    let _ = w.abort().await;
                    Err(e)
                }
                None => w
                    .finish()
                    .await
                    .map(drop)
                    .map_err(|e| self.error(op, "cannot complete the upload", e)),
            }
        })
    }

    /// Deletes the objects of backup `m` (data and manifest), not the index entry.
    fn delete_objects(&self, m: &Manifest, op: Operation) -> Result<()> {
        for name in [m.file.clone(), manifest_name(&m.id)] {
            match self
                .rt
                .block_on(self.store.delete(&ObjectPath::from(name.as_str())))
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.error(op, "cannot delete", e)),
            }
        }
        Ok(())
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Storage for RemoteStore {
    fn scan(&self) -> Result<(Vec<Manifest>, Vec<Broken>)> {
        Ok((self.index(Operation::Offsite)?.backups, Vec::new()))
    }

    fn load(&self, id: &str) -> Result<Manifest> {
        self.index(Operation::Offsite)?
            .backups
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    Operation::Offsite,
                    format!("no backup {id} on remote `{}`", self.name),
                )
                .with_hint(format!(
                    "`sqlkeep list --remote {}` shows what it holds",
                    self.name
                ))
            })
    }

    fn get(&self, m: &Manifest) -> Result<std::result::Result<Blob, Damage>> {
        let path = ObjectPath::from(m.file.as_str());
        match self.rt.block_on(self.store.get(&path)) {
            Ok(got) => {
                let size = got.meta.size;
                Ok(Ok(Blob {
                    reader: Box::new(reader::StreamReader::new(
                        self.rt.handle().clone(),
                        got.into_stream(),
                    )),
                    size,
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Err(Damage::Missing {
                file: format!("{} (remote `{}`)", m.file, self.name),
            })),
            Err(e) => Err(self.error(Operation::Verify, "cannot read", e)),
        }
    }

    fn put(&self, m: &Manifest, data: &Path) -> Result<()> {
        let op = Operation::Offsite;
        self.upload(
            &ObjectPath::from(m.file.as_str()),
            data,
            m.size_bytes,
            &m.sha256,
        )?;
        self.write_manifest(m, op)?;
        self.change_index(op, |backups| {
            backups.retain(|b| b.id != m.id);
            backups.push(m.clone());
        })
    }

    fn save_manifest(&self, m: &Manifest, op: Operation) -> Result<()> {
        self.write_manifest(m, op)?;
        self.change_index(op, |backups| {
            for b in backups.iter_mut().filter(|b| b.id == m.id) {
                *b = m.clone();
            }
        })
    }

    fn delete(&self, id: &str, op: Operation) -> Result<()> {
        let mut index = self.index(op)?;
        let Some(m) = index.backups.iter().find(|m| m.id == id).cloned() else {
            return Ok(());
        };
        index.backups.retain(|b| b.id != id);
        self.write_index(index, op)?;
        self.delete_objects(&m, op)
    }
}
