//! Writing any backup out as one self-contained file (`sqlkeep export ID --to FILE`,
//! issue 12): the database the backup restores to, checked as a restore checks it, then
//! compressed as `FILE`'s name says (`.gz`: gzip members, so `gunzip | sqlite3` reads it;
//! `.zst`: zstd frames) and put in place atomically. An incremental backup becomes a file
//! that needs nothing else; a full one is re-encoded (decrypted, if it was encrypted).

use crate::config::Compression;
use crate::context::Ctx;
use crate::error::{Error, Operation, Result};
use crate::ops::verify::checked_image;
use crate::pipeline::compress::Compressed;
use crate::pipeline::compress::{compress, CompressJob};
use crate::pipeline::feed::{FeedReader, RawFeed};
use crate::storage::local::atomic_file::{create_private_file, fsync_dir, temp_path, TempFile};
use crate::storage::local::lock::DirLock;
use crate::storage::local::store::Store;
use std::fs::File;
use std::path::{Path, PathBuf};

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportOutcome {
    /// The backup exported.
    pub id: String,
    /// The file written.
    pub path: PathBuf,
    /// `gzip` or `zstd`, from the file's name.
    pub compression: Compression,
    /// Size of the file written.
    pub size_bytes: u64,
    /// Size of the database inside.
    pub raw_size_bytes: u64,
    /// SHA-256 of the file written, hex.
    pub sha256: String,
}

/// The compression a file name asks for.
fn compression_of(to: &Path) -> Result<Compression> {
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".gz") {
        Ok(Compression::Gzip)
    } else if name.ends_with(".zst") {
        Ok(Compression::Zstd)
    } else {
        Err(Error::invalid_argument(
            Operation::Export,
            format!(
                "cannot tell the compression of {}: the name must end in .gz or .zst, such as app.sqlite3.gz",
                to.display()
            ),
        ))
    }
}

/// Exports backup `id` to the new file `to`.
pub(crate) fn export(ctx: &Ctx<'_>, id: &str, to: &Path) -> Result<ExportOutcome> {
    let op = Operation::Export;
    let to = std::path::absolute(to).map_err(|e| Error::io(op, "cannot resolve", to, e))?;
    let compression = compression_of(&to)?;
    if to.exists() {
        return Err(Error::invalid_argument(
            op,
            format!("{} already exists; nothing was exported", to.display()),
        )
        .with_hint("choose a new file name, or delete the old file first"));
    }
    let dir = to
        .parent()
        .filter(|d| d.is_dir())
        .ok_or_else(|| {
            Error::not_found(op, format!("the folder of {} does not exist", to.display()))
                .with_hint("create the folder first, or export into an existing one")
        })?
        .to_path_buf();
    let store = ctx.store();
    let _lock = DirLock::shared(store.dir(), op)?;
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("export");
    let written = self_contained(ctx, &store, id, op, &dir, name, compression, None)?;
    // A link, not a rename: it fails if `to` appeared meanwhile, so no file is ever
    // replaced. The temporary name goes when `written.file` drops.
    std::fs::hard_link(written.file.path(), &to).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::invalid_argument(
                op,
                format!("{} already exists; nothing was exported", to.display()),
            )
        } else {
            Error::io(op, "cannot put the file in place", &to, e)
        }
    })?;
    fsync_dir(&dir).map_err(|e| Error::io(op, "cannot sync folder", &dir, e))?;
    Ok(ExportOutcome {
        id: id.to_string(),
        path: to,
        compression,
        size_bytes: written.compressed.size_bytes,
        raw_size_bytes: written.compressed.raw_bytes,
        sha256: written.compressed.sha256,
    })
}

/// A self-contained file of one backup, synced, under a temporary name.
pub(crate) struct SelfContained {
    pub file: TempFile,
    pub compressed: Compressed,
}

/// Writes the checked database of backup `id` of `store` into a temporary file in `dir`
/// (named after `name`), compressed with `compression` at its default level and, with
/// `encryptor`, encrypted: the file an export, or an offsite copy of an incremental
/// backup, needs. The caller holds the shared directory lock.
#[allow(clippy::too_many_arguments)]
pub(crate) fn self_contained(
    ctx: &Ctx<'_>,
    store: &Store,
    id: &str,
    op: Operation,
    dir: &Path,
    name: &str,
    compression: Compression,
    encryptor: Option<age::Encryptor>,
) -> Result<SelfContained> {
    let image = checked_image(ctx, store, id, op, "nothing was written")?;
    let raw = File::open(image.path())
        .map_err(|e| Error::io(op, "cannot read the checked copy", image.path(), e))?;
    let raw_size = raw
        .metadata()
        .map_err(|e| Error::io(op, "cannot read the checked copy", image.path(), e))?
        .len();
    let tmp_path = temp_path(dir, name);
    let out =
        create_private_file(&tmp_path).map_err(|e| Error::io(op, "cannot create", &tmp_path, e))?;
    let file = TempFile::new(tmp_path.clone());
    let feed = RawFeed::default();
    feed.finish(raw_size);
    let mut reader = FeedReader {
        file: &raw,
        feed: &feed,
        offset: 0,
        path: image.path(),
    };
    let job = CompressJob {
        out_path: &tmp_path,
        compression,
        level: compression.default_level(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        hash_raw: false,
    };
    let sync = out.try_clone();
    let compressed =
        compress(&job, &mut reader, out, encryptor, &mut |_| {}).map_err(|e| e.during(op))?;
    sync.and_then(|f| f.sync_all())
        .map_err(|e| Error::io(op, "cannot sync", &tmp_path, e))?;
    Ok(SelfContained { file, compressed })
}
