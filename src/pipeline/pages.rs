//! Pages: what an incremental backup stores and how a database is rebuilt from them
//! (issue 12; the format is docs/FORMAT.md).
//!
//! A database image is a sequence of fixed-size pages. Each backup taken with
//! `incremental` records a 16-byte hash of every page (the first half of its SHA-256) in a
//! page-hash file; the next backup hashes its own image, and the pages whose hash differs,
//! or that lie beyond the old end, become its *page records*: a 4-byte big-endian page
//! number (1-based) followed by the page, in ascending page order. SQLite writes B-tree
//! pages in place all over the file, so pages, not content-defined chunks, are the unit
//! that changes (the measurement: 1% of rows changed 17% of 4 KiB pages and every
//! 1 MiB chunk).
//!
//! Rebuilding writes the full backup's image, then the records of each later file, newest
//! first, skipping pages a newer file already wrote, and cuts the file to its page count.

use crate::pipeline::hash::hex;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io;

/// Bytes of a page's hash in a page-hash file.
pub const HASH_LEN: usize = 16;

/// The first bytes of a page-hash file, then the page size (4 bytes, big-endian).
const MAGIC: &[u8; 8] = b"SQLKPH1\n";

/// Bytes the image is read in: a whole number of pages for every SQLite page size.
const READ_CHUNK: usize = 1 << 20;

/// The hash of every page of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHashes {
    pub page_size: u32,
    hashes: Vec<[u8; HASH_LEN]>,
}

impl PageHashes {
    /// Pages covered.
    pub fn len(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// The page-hash file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(12 + self.hashes.len() * HASH_LEN);
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&self.page_size.to_be_bytes());
        for h in &self.hashes {
            v.extend_from_slice(h);
        }
        v
    }

    /// Reads a page-hash file's bytes; `None` when they are not one (the next backup is
    /// then a full one: a lost hash file costs space, never a page).
    pub fn from_bytes(bytes: &[u8]) -> Option<PageHashes> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let (size, rest) = rest.split_first_chunk::<4>()?;
        let page_size = u32::from_be_bytes(*size);
        if !valid_page_size(page_size) || rest.len() % HASH_LEN != 0 {
            return None;
        }
        let hashes = rest
            .chunks_exact(HASH_LEN)
            .map(|c| c.try_into().expect("chunks of HASH_LEN"))
            .collect();
        Some(PageHashes { page_size, hashes })
    }
}

/// SQLite's page sizes: powers of two from 512 to 65536.
pub fn valid_page_size(size: u32) -> bool {
    (512..=65536).contains(&size) && size.is_power_of_two()
}

fn page_hash(page: &[u8]) -> [u8; HASH_LEN] {
    let full = Sha256::digest(page);
    full[..HASH_LEN].try_into().expect("SHA-256 is longer")
}

/// What reading an image produced.
#[derive(Debug)]
pub struct Scan {
    /// The hash of every page.
    pub hashes: PageHashes,
    /// SHA-256 of the whole image, hex: what a rebuild must reproduce.
    pub image_sha256: String,
    /// Pages sent as records.
    pub pages_stored: u64,
}

/// Reads the image `file` (`size` bytes of `page_size`-byte pages) once: hashes every
/// page and the whole image, and hands `send` the records of the pages that differ from
/// `parent` (every page when `parent` is `None` and `records` is true; none when
/// `records` is false), in chunks of about 1 MiB.
pub fn scan(
    file: &File,
    size: u64,
    page_size: u32,
    parent: Option<&PageHashes>,
    records: bool,
    send: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Scan> {
    let ps = page_size as usize;
    if !valid_page_size(page_size) || !size.is_multiple_of(ps as u64) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {size}-byte image is not a whole number of {page_size}-byte pages"),
        ));
    }
    let pages = size / ps as u64;
    let mut image = Sha256::new();
    let mut hashes = Vec::with_capacity(pages as usize);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK + ps + 4);
    let mut stored = 0u64;
    let mut offset = 0u64;
    while offset < size {
        let n = ((size - offset) as usize).min(READ_CHUNK);
        crate::platform::read_exact_at(file, &mut buf[..n], offset)?;
        image.update(&buf[..n]);
        for page in buf[..n].chunks_exact(ps) {
            let h = page_hash(page);
            let pgno = hashes.len() as u64 + 1;
            let changed = match parent {
                Some(p) => p.hashes.get(hashes.len()) != Some(&h),
                None => true,
            };
            hashes.push(h);
            if records && changed {
                let pgno = u32::try_from(pgno).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "more than 2^32 pages")
                })?;
                out.extend_from_slice(&pgno.to_be_bytes());
                out.extend_from_slice(page);
                stored += 1;
            }
        }
        if out.len() >= READ_CHUNK {
            send(&out)?;
            out.clear();
        }
        offset += n as u64;
    }
    if !out.is_empty() {
        send(&out)?;
    }
    Ok(Scan {
        hashes: PageHashes { page_size, hashes },
        image_sha256: hex(&image.finalize()),
        pages_stored: stored,
    })
}

/// Writes page records into a database file being rebuilt, each page only if no newer
/// file wrote it already. Feed it decoded bytes in any pieces; `finish` says whether the
/// records ended cleanly.
pub struct Applier<'a> {
    file: &'a File,
    page_size: usize,
    /// Pages the rebuilt database has: records beyond it are damage.
    page_count: u64,
    /// One bit a page: written by a newer file already.
    written: &'a mut Vec<u64>,
    carry: Vec<u8>,
    last: u32,
    /// Records read.
    pub records: u64,
}

impl<'a> Applier<'a> {
    /// An applier for one file's records; `written` is shared across the files of one
    /// rebuild (newest first).
    pub fn new(file: &'a File, page_size: u32, page_count: u64, written: &'a mut Vec<u64>) -> Self {
        written.resize(page_count.div_ceil(64) as usize, 0);
        Applier {
            file,
            page_size: page_size as usize,
            page_count,
            written,
            carry: Vec::new(),
            last: 0,
            records: 0,
        }
    }

    /// Takes the next decoded bytes.
    pub fn feed(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let rec = 4 + self.page_size;
        if !self.carry.is_empty() {
            let need = rec - self.carry.len();
            let take = need.min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.carry.len() < rec {
                return Ok(());
            }
            let record = std::mem::take(&mut self.carry);
            self.apply(&record)?;
        }
        let mut records = bytes.chunks_exact(rec);
        for record in &mut records {
            self.apply(record)?;
        }
        self.carry.extend_from_slice(records.remainder());
        Ok(())
    }

    fn apply(&mut self, record: &[u8]) -> io::Result<()> {
        let pgno = u32::from_be_bytes(record[..4].try_into().expect("4 bytes"));
        if pgno <= self.last || u64::from(pgno) > self.page_count {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "page record {} names page {pgno} after page {} (pages run 1 to {}, ascending)",
                    self.records + 1,
                    self.last,
                    self.page_count
                ),
            ));
        }
        self.last = pgno;
        self.records += 1;
        let (word, bit) = ((pgno as usize - 1) / 64, (pgno - 1) % 64);
        let slot = &mut self.written[word];
        if *slot & (1 << bit) == 0 {
            *slot |= 1 << bit;
            let at = (u64::from(pgno) - 1) * self.page_size as u64;
            crate::platform::write_all_at(self.file, &record[4..], at)?;
        }
        Ok(())
    }

    /// Whether the records ended on a record boundary.
    pub fn finish(self) -> io::Result<u64> {
        if self.carry.is_empty() {
            Ok(self.records)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the page records end inside a record ({} stray bytes)",
                    self.carry.len()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("sqlkeep-pages-{}-{name}", std::process::id()))
    }

    /// Records of the changed pages, applied over the old image, give the new one; a
    /// page beyond the old end is a change; a record split across feeds still applies.
    #[test]
    fn records_rebuild_the_new_image_from_the_old() {
        let ps = 512usize;
        let old: Vec<u8> = (0..ps * 6).map(|i| (i / ps) as u8).collect();
        let mut new = old.clone();
        new[ps * 2 + 7] ^= 0xff; // page 3 changes
        new.extend(std::iter::repeat_n(9u8, ps)); // page 7 is new
        let (po, pn) = (temp("old"), temp("new"));
        std::fs::write(&po, &old).unwrap();
        std::fs::write(&pn, &new).unwrap();
        let f_old = File::open(&po).unwrap();
        let base = scan(
            &f_old,
            old.len() as u64,
            ps as u32,
            None,
            false,
            &mut |_| Ok(()),
        )
        .unwrap();
        assert_eq!(base.pages_stored, 0);
        let parsed = PageHashes::from_bytes(&base.hashes.to_bytes()).unwrap();
        assert_eq!(parsed, base.hashes);
        let mut recs = Vec::new();
        let f_new = File::open(&pn).unwrap();
        let s = scan(
            &f_new,
            new.len() as u64,
            ps as u32,
            Some(&parsed),
            true,
            &mut |b| {
                recs.extend_from_slice(b);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(s.pages_stored, 2);
        assert_eq!(recs.len(), 2 * (4 + ps));
        let out = temp("out");
        std::fs::write(&out, &old).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
        let mut written = Vec::new();
        let mut a = Applier::new(&f, ps as u32, 7, &mut written);
        for part in recs.chunks(100) {
            a.feed(part).unwrap();
        }
        assert_eq!(a.finish().unwrap(), 2);
        assert_eq!(std::fs::read(&out).unwrap(), new);
        // Out of order or truncated records are damage, not silently skipped.
        let mut w2 = Vec::new();
        let mut bad = Applier::new(&f, ps as u32, 7, &mut w2);
        let mut swapped = recs[4 + ps..].to_vec();
        swapped.extend_from_slice(&recs[..4 + ps]);
        assert!(bad.feed(&swapped).is_err());
        let mut w3 = Vec::new();
        let mut short = Applier::new(&f, ps as u32, 7, &mut w3);
        short.feed(&recs[..10]).unwrap();
        assert!(short.finish().is_err());
        for p in [po, pn, out] {
            let _ = std::fs::remove_file(p);
        }
    }
}
