//! An incremental backup's chain (issue 12): checking every file it needs, and
//! rebuilding its database from them.
//!
//! Each file is checked on its own terms (size, SHA-256, decoding) against the facts the
//! chain recorded for it, so a damaged file shared by several chains is reported by
//! every backup that needs it, naming the file, and by no other. A rebuild writes the
//! full backup's image, then each later file's page records newest first (a page is
//! written once, by the newest file that has it), cuts the file to its page count, and
//! compares the whole image's SHA-256 with the one the backup took.

use crate::error::{Error, Operation, Result};
use crate::model::manifest::{ChainLink, Incremental, Manifest};
use crate::model::verdict::{Damage, Verdict};
use crate::ops::stream::{check_stream, check_stream_into, Out};
use crate::pipeline::encrypt::Keys;
use crate::pipeline::hash::hex;
use crate::pipeline::pages::Applier;
use crate::storage::Storage;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::Path;

fn in_link(link: &ChainLink, cause: Damage) -> Damage {
    match cause {
        // Already names its file.
        d @ Damage::Link { .. } => d,
        cause => Damage::Link {
            id: link.id.clone(),
            file: link.file.clone(),
            cause: Box::new(cause),
        },
    }
}

/// The quick check of every file `m` is rebuilt from, oldest first; the first damage
/// found, naming its file.
pub(crate) fn check_links(
    storage: &dyn Storage,
    m: &Manifest,
    inc: &Incremental,
    keys: &Keys<'_>,
) -> Result<Verdict> {
    for link in &inc.chain {
        let probe = m.link_probe(link);
        if let Err(d) = check_stream(storage.get_link(m, link)?, &probe, None, keys)? {
            return Ok(Err(in_link(link, d)));
        }
    }
    Ok(Ok(()))
}

/// Rebuilds `m`'s database into the empty file `f` at `path` and proves it is the image
/// the backup took.
pub(crate) fn rebuild(
    storage: &dyn Storage,
    m: &Manifest,
    inc: &Incremental,
    f: &mut File,
    path: &Path,
    keys: &Keys<'_>,
) -> Result<Verdict> {
    let io_err = |e| {
        Error::io(
            Operation::Verify,
            "cannot write the rebuilt database",
            path,
            e,
        )
    };
    let Some((base, later)) = inc.chain.split_first() else {
        return Ok(Err(Damage::Manifest(format!(
            "backup {} has an empty chain",
            m.id
        ))));
    };
    let page_size = u64::from(m.page_size).max(1);
    let pages = m.raw_size_bytes / page_size;
    // The page files first, newest first, each page where it belongs (one bit a page
    // says it is written)...
    let mut written = vec![0u64; pages.div_ceil(64) as usize];
    for link in later.iter().rev() {
        let probe = m.link_probe(link);
        let blob = storage.get_link(m, link)?;
        let mut bad = None;
        let mut applier = Applier::new(f, m.page_size, pages, &mut written);
        let verdict = {
            let mut sink = |bytes: &[u8]| {
                applier.feed(bytes).inspect_err(|e| {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        bad = Some(e.to_string());
                    }
                })
            };
            check_stream_into(blob, &probe, Out::Sink(&mut sink), keys)
        };
        if let Some(reason) = bad {
            return Ok(Err(in_link(link, damaged(reason))));
        }
        if let Err(d) = verdict? {
            return Ok(Err(in_link(link, d)));
        }
        if let Err(e) = applier.finish() {
            return Ok(Err(in_link(link, damaged(e.to_string()))));
        }
    }
    // ...then the full backup streamed over the file in order, its pages replaced by
    // those the page files wrote, so the image is hashed as it is written: one pass, as
    // a restore of a full backup.
    let is_written =
        |page: u64| page < pages && written[(page / 64) as usize] & (1 << (page % 64)) != 0;
    let reader = f.try_clone().map_err(io_err)?;
    let mut image = Sha256::new();
    let mut patch = |buf: &mut [u8], at: u64| -> std::io::Result<()> {
        let end = at + buf.len() as u64;
        let mut page = at / page_size;
        while page * page_size < end {
            if is_written(page) {
                let from = (page * page_size).max(at);
                let to = ((page + 1) * page_size).min(end);
                let range = (from - at) as usize..(to - at) as usize;
                crate::platform::read_exact_at(&reader, &mut buf[range], from)?;
            }
            page += 1;
        }
        if at < m.raw_size_bytes {
            image.update(&buf[..(m.raw_size_bytes - at).min(buf.len() as u64) as usize]);
        }
        Ok(())
    };
    let probe = m.link_probe(base);
    let blob = storage.get_link(m, base)?;
    if let Err(d) = check_stream_into(blob, &probe, Out::Patched(f, path, &mut patch), keys)? {
        return Ok(Err(in_link(base, d)));
    }
    // Pages beyond the full backup's end: every one must come from a page file.
    for page in base.raw_size_bytes / page_size..pages {
        if !is_written(page) {
            return Ok(Err(Damage::Manifest(format!(
                "page {} of backup {} is in none of the files of its chain",
                page + 1,
                m.id
            ))));
        }
        let mut buf = vec![0u8; page_size as usize];
        crate::platform::read_exact_at(&reader, &mut buf, page * page_size).map_err(io_err)?;
        image.update(&buf);
    }
    f.set_len(m.raw_size_bytes).map_err(io_err)?;
    let actual = hex(&image.finalize());
    if actual != inc.image_sha256 {
        return Ok(Err(Damage::RawChecksum {
            actual,
            expected: inc.image_sha256.clone(),
        }));
    }
    if let Some(expected) = &m.raw_sha256 {
        if &actual != expected {
            return Ok(Err(Damage::RawChecksum {
                actual,
                expected: expected.clone(),
            }));
        }
    }
    Ok(Ok(()))
}

fn damaged(reason: String) -> Damage {
    Damage::Stream {
        compression: "pages",
        after_bytes: 0,
        reason,
    }
}
