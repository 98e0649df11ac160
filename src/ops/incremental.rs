//! Whether a backup stores only changed pages, and what it builds on (issue 12).
//!
//! With `incremental` on, a backup compares its image page by page with the newest
//! backup and stores only the pages that differ, unless a full one is due:
//! - asked for (`--full`, a pre-restore safety backup);
//! - the newest backup has no page hashes (taken without `incremental`, or its hash file
//!   is gone), failed its last check, is not of this database, or was encrypted
//!   differently from how this backup will be;
//! - its chain already has [`MAX_LINKS`] files: a restore reads every file of a chain,
//!   so the chain's length bounds restore time (30 files is a month of daily backups);
//! - the page files since its full backup add up to half that full backup's size: by
//!   then a new full costs less than the pages the next backups would repeat.
//!
//! The page size of the image is known only after the copy; a different one (after a
//! `VACUUM` with a new `page_size`) makes the backup a full one then.

use crate::context::Ctx;
use crate::model::manifest::{ChainLink, Encrypted, Kind, Manifest};
use crate::pipeline::pages::PageHashes;
use crate::storage::local::store::Store;
use crate::storage::Storage;

/// The most files one chain may have, its full backup included.
pub const MAX_LINKS: usize = 30;

/// The newest backup an incremental one builds on.
pub(crate) struct Parent {
    pub manifest: Manifest,
    pub hashes: PageHashes,
    /// The files its database is rebuilt from (a full backup's own file for a full one).
    pub chain: Vec<ChainLink>,
}

/// The link a full backup `m` is as the start of a chain.
pub(crate) fn full_link(m: &Manifest) -> ChainLink {
    ChainLink {
        id: m.id.clone(),
        file: m.file.clone(),
        compression: m.compression,
        size_bytes: m.size_bytes,
        sha256: m.sha256.clone(),
        raw_size_bytes: m.raw_size_bytes,
        pages: m.page_count,
        encryption: m.encryption.clone(),
    }
}

/// Whether this backup writes page hashes for the next one to compare with.
pub(crate) fn keeps_page_hashes(ctx: &Ctx<'_>) -> bool {
    ctx.cfg.incremental && ctx.cfg.postgres().is_none()
}

/// What this backup builds on, or why it is a full one (`None` when `incremental` is
/// off: then nothing needs saying). The reason goes into the manifest (`full_because`).
pub(crate) fn parent(
    ctx: &Ctx<'_>,
    store: &Store,
    full: bool,
    kind: Kind,
    encryption: &Option<Encrypted>,
) -> Result<Parent, Option<&'static str>> {
    if !keeps_page_hashes(ctx) {
        return Err(None);
    }
    if full {
        return Err(Some("a full backup was asked for"));
    }
    if kind == Kind::PreRestore {
        return Err(Some("a pre-restore safety backup stands on its own"));
    }
    let Some(newest) = store.list().ok().and_then(|l| l.into_iter().next()) else {
        return Err(Some("there is no earlier backup to compare with"));
    };
    if newest.postgres.is_some() || newest.database != ctx.cfg.database.to_string_lossy() {
        return Err(Some("the newest backup is of another database"));
    }
    // A failed check means the parent's file may not be what its hashes describe; an
    // unchecked one (`verify_after_backup: "off"`) is taken at its word.
    if newest.verification.as_ref().is_some_and(|v| !v.ok) {
        return Err(Some("the newest backup failed its check"));
    }
    if newest.encryption != *encryption {
        return Err(Some("the newest backup is encrypted differently"));
    }
    let chain = match &newest.incremental {
        Some(inc) => inc.chain.clone(),
        None => vec![full_link(&newest)],
    };
    if chain.len() >= MAX_LINKS {
        return Err(Some("the chain of the newest backup has 30 files"));
    }
    let added: u64 = chain[1..].iter().map(|l| l.size_bytes).sum();
    if added >= chain[0].size_bytes / 2 {
        return Err(Some(
            "the page files since the last full backup reached half its size",
        ));
    }
    let hashes = store
        .load_page_hashes(&newest.id)
        .and_then(|b| PageHashes::from_bytes(&b))
        .filter(|h| h.page_size == newest.page_size && h.len() == newest.page_count)
        .ok_or(Some(
            "the newest backup has no page hashes (taken with incremental off, or they were removed)",
        ))?;
    Ok(Parent {
        manifest: newest,
        hashes,
        chain,
    })
}
