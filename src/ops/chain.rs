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
use std::io::Read;
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
    let probe = m.link_probe(base);
    if let Err(d) = check_stream(storage.get_link(m, base)?, &probe, Some((f, path)), keys)? {
        return Ok(Err(in_link(base, d)));
    }
    let page_size = m.page_size as u64;
    let pages = m.raw_size_bytes / page_size.max(1);
    let mut written = Vec::new();
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
        let damaged = |reason: String| Damage::Stream {
            compression: "pages",
            after_bytes: 0,
            reason,
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
    f.set_len(m.raw_size_bytes).map_err(io_err)?;
    f.sync_all().map_err(io_err)?;
    let actual = image_sha256(path).map_err(io_err)?;
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

/// SHA-256 of a file, hex.
fn image_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}
