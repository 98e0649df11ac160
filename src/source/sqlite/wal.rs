//! WAL mode: the snapshot read straight from the database file and the WAL.
//!
//! Inside a read transaction SQLite sees the database file with, for each page, the
//! newest WAL frame at or before the transaction's end mark (`mxFrame`). Reading the same
//! thing ourselves copies at file-copy speed and in page order, so compression follows
//! the copy as in rollback modes, and the read transaction (which holds back the writers'
//! checkpoints) ends sooner than SQLite's backup API allows. Why the result is that
//! snapshot even while writers commit and checkpoint:
//! - a checkpoint copies into the database file only frames at or before the oldest
//!   reader's mark, which is at or before our `mxFrame`, and for each page only the
//!   newest of those: a page with a frame at or before `mxFrame` is read from the WAL
//!   anyway, and a page without one is not touched;
//! - frames up to `mxFrame` are not overwritten while a reader with a mark of 1 or more
//!   is open (a WAL restart waits for those readers); a reader with mark 0 started when
//!   every frame was already in the database file (`nBackfill == mxFrame`), so it needs
//!   no frame, and no checkpoint runs while it reads.
//!
//! Which `mxFrame` is ours: SQLite does not tell (`sqlite3_snapshot_get` needs a compile
//! option neither of our builds has). The wal-index header in shared memory is read just
//! before the transaction takes its snapshot and just after; the header changes with
//! every commit (its `iChange` counter), so two identical reads mean the snapshot is that
//! header. The frames up to `mxFrame` are then checked as SQLite checks them (salts and
//! the cumulative checksum, which the header records for `mxFrame`). Whatever does not
//! match sends the caller back to the backup API, which is slower but asks nothing.

use crate::platform::read_exact_at;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{fence, Ordering};

/// Size of one copy of the wal-index header (`WalIndexHdr` in SQLite's wal.c).
pub(super) const INDEX_HEADER: usize = 48;
/// Offset of `nBackfill` in the wal-index: after the header's two copies.
pub(super) const N_BACKFILL_AT: usize = 2 * INDEX_HEADER;
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
const WAL_MAGIC: u32 = 0x377f_0682;

/// The wal-index header as one reader saw it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) struct IndexHeader(pub(super) [u8; INDEX_HEADER]);

impl IndexHeader {
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_ne_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }

    /// The header is initialised and its checksum (native byte order) matches.
    pub(super) fn is_valid(&self) -> bool {
        self.0[12] != 0
            && checksum(cfg!(target_endian = "big"), &self.0[..40], (0, 0))
                == (self.u32_at(40), self.u32_at(44))
    }

    fn page_size(&self) -> u32 {
        // 65536 does not fit in 16 bits: SQLite stores it as 1.
        let s = u16::from_ne_bytes([self.0[14], self.0[15]]) as u32;
        (s & 0xfe00) + ((s & 1) << 16)
    }

    /// The last frame of the snapshot; 0 when the WAL holds none.
    pub(super) fn max_frame(&self) -> u32 {
        self.u32_at(16)
    }

    pub(super) fn page_count(&self) -> u32 {
        self.u32_at(20)
    }

    fn frame_checksum(&self) -> (u32, u32) {
        (self.u32_at(24), self.u32_at(28))
    }

    fn salts(&self) -> &[u8] {
        &self.0[32..40]
    }
}

/// Reads the header from the mapped wal-index the way SQLite's readers do
/// (`walIndexTryHdr`): the first copy, a barrier, the second copy (writers write them in
/// the other order); None unless they agree and are valid. Also returns `nBackfill`, read
/// after the header.
///
/// # Safety
/// `region` is the first region of a mapped wal-index (at least 32 KiB), valid for the
/// duration of the call.
pub(super) unsafe fn read_index_header(region: *const u8) -> Option<(IndexHeader, u32)> {
    let mut first = [0u8; INDEX_HEADER];
    let mut second = [0u8; INDEX_HEADER];
    for (i, b) in first.iter_mut().enumerate() {
        *b = std::ptr::read_volatile(region.add(i));
    }
    fence(Ordering::SeqCst);
    for (i, b) in second.iter_mut().enumerate() {
        *b = std::ptr::read_volatile(region.add(INDEX_HEADER + i));
    }
    fence(Ordering::SeqCst);
    let backfilled = std::ptr::read_volatile(region.add(N_BACKFILL_AT).cast::<u32>());
    let header = IndexHeader(first);
    (first == second && header.is_valid()).then_some((header, backfilled))
}

/// SQLite's WAL checksum (`walChecksumBytes`): over pairs of 32-bit words, big-endian
/// words if `big_endian`, continuing from `sum`.
fn checksum(big_endian: bool, data: &[u8], sum: (u32, u32)) -> (u32, u32) {
    let word = |b: &[u8]| {
        let b: [u8; 4] = b.try_into().expect("4 bytes");
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let (mut s1, mut s2) = sum;
    for pair in data.chunks_exact(8) {
        s1 = s1.wrapping_add(word(&pair[..4])).wrapping_add(s2);
        s2 = s2.wrapping_add(word(&pair[4..])).wrapping_add(s1);
    }
    (s1, s2)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().expect("4 bytes"))
}

/// The newest frame of each page up to the snapshot's end, checked, read from the WAL
/// file through a descriptor of our own (SQLite holds no lock on the WAL file itself,
/// so closing it drops none).
pub(super) struct WalFrames {
    file: File,
    page_size: usize,
    salts: [u8; 8],
    /// Page number → offset of that page's newest frame data in the WAL.
    frames: BTreeMap<u32, u64>,
}

impl WalFrames {
    /// Reads and checks frames 1..=`mxFrame` of `header`. `Err` says why the WAL is not
    /// what the header describes; the caller then copies another way.
    pub(super) fn read(path: &Path, header: &IndexHeader) -> Result<WalFrames, String> {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut r = BufReader::with_capacity(1 << 20, &file);
        let mut wal_header = [0u8; WAL_HEADER];
        let short = |e: io::Error| format!("cannot read {}: {e}", path.display());
        r.read_exact(&mut wal_header).map_err(short)?;
        let magic = be32(&wal_header[0..4]);
        if magic & !1 != WAL_MAGIC {
            return Err("the WAL file has no WAL header".into());
        }
        let big_endian = magic & 1 == 1;
        let page_size = be32(&wal_header[8..12]);
        if page_size != header.page_size() || !(512..=65536).contains(&page_size) {
            return Err(format!(
                "the WAL's page size {page_size} is not the wal-index's"
            ));
        }
        if &wal_header[16..24] != header.salts() {
            return Err("the WAL was restarted since the snapshot".into());
        }
        let mut sum = checksum(big_endian, &wal_header[..24], (0, 0));
        if sum != (be32(&wal_header[24..28]), be32(&wal_header[28..32])) {
            return Err("the WAL header's checksum does not match".into());
        }
        let page_size = page_size as usize;
        let mut frame = vec![0u8; FRAME_HEADER + page_size];
        let mut frames = BTreeMap::new();
        for i in 1..=header.max_frame() {
            r.read_exact(&mut frame).map_err(short)?;
            if frame[8..16] != wal_header[16..24] {
                return Err(format!("WAL frame {i} belongs to another WAL generation"));
            }
            sum = checksum(big_endian, &frame[..8], sum);
            sum = checksum(big_endian, &frame[FRAME_HEADER..], sum);
            if sum != (be32(&frame[16..20]), be32(&frame[20..24])) {
                return Err(format!("WAL frame {i}'s checksum does not match"));
            }
            let data_at = (WAL_HEADER + FRAME_HEADER) as u64 + (i as u64 - 1) * frame.len() as u64;
            frames.insert(be32(&frame[0..4]), data_at);
        }
        let last_commit = be32(&frame[4..8]);
        if header.max_frame() > 0
            && (last_commit != header.page_count() || sum != header.frame_checksum())
        {
            return Err("the WAL's last frame is not the snapshot's commit".into());
        }
        Ok(WalFrames {
            file,
            page_size,
            salts: wal_header[16..24].try_into().expect("8 bytes"),
            frames,
        })
    }

    /// How many pages the WAL holds for the snapshot.
    pub(super) fn pages(&self) -> usize {
        self.frames.len()
    }

    /// Lays the snapshot's WAL pages over `chunk`, which holds whole pages from page
    /// number `first` (1-based) on.
    pub(super) fn overlay(&self, chunk: &mut [u8], first: u32) -> io::Result<()> {
        let pages = (chunk.len() / self.page_size) as u32;
        for (&page, &at) in self.frames.range(first..first.saturating_add(pages)) {
            let start = (page - first) as usize * self.page_size;
            read_exact_at(&self.file, &mut chunk[start..start + self.page_size], at)?;
        }
        Ok(())
    }

    /// True while the WAL has not been restarted since [`WalFrames::read`]: a restart
    /// writes new salts into the WAL header before it overwrites any frame, so frames
    /// read before this returned true are the ones that were checked.
    pub(super) fn unchanged(&self) -> io::Result<bool> {
        let mut salts = [0u8; 8];
        read_exact_at(&self.file, &mut salts, 16)?;
        Ok(salts == self.salts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_sqlites_for_a_real_wal_header() {
        // A WAL header written by SQLite 3.40 (little-endian checksums, page size 4096).
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        let wal = std::fs::read(dir.path().join("w.db-wal")).unwrap();
        let big = be32(&wal[0..4]) & 1 == 1;
        let sum = checksum(big, &wal[..24], (0, 0));
        assert_eq!(sum, (be32(&wal[24..28]), be32(&wal[28..32])));
        // A changed byte changes it.
        let mut bad = wal[..24].to_vec();
        bad[9] ^= 1;
        assert_ne!(checksum(big, &bad, (0, 0)), sum);
    }

    /// The wal-index header as the -shm file holds it (the mapping is the file).
    fn shm_header(db: &Path) -> IndexHeader {
        let shm = std::fs::read(format!("{}-shm", db.display())).unwrap();
        IndexHeader(shm[..INDEX_HEADER].try_into().unwrap())
    }

    #[test]
    fn frames_are_indexed_up_to_the_header_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t(x);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO t SELECT randomblob(1000) FROM n;
             UPDATE t SET x = randomblob(10) WHERE rowid % 3 = 0;",
        )
        .unwrap();
        let header = shm_header(&db);
        assert!(header.is_valid());
        let wal = dir.path().join("w.db-wal");
        let frames = WalFrames::read(&wal, &header).unwrap();
        let distinct: std::collections::BTreeSet<u32> = {
            let bytes = std::fs::read(&wal).unwrap();
            (0..header.max_frame() as usize)
                .map(|i| be32(&bytes[WAL_HEADER + i * (FRAME_HEADER + 4096)..][..4]))
                .collect()
        };
        assert_eq!(frames.pages(), distinct.len());
        assert_eq!(
            header.page_count() as i64,
            c.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))
                .unwrap()
        );
        assert!(frames.unchanged().unwrap());

        // A flipped bit in a frame's page fails its checksum.
        let damaged = dir.path().join("damaged-wal");
        let mut bytes = std::fs::read(&wal).unwrap();
        bytes[WAL_HEADER + 3 * (FRAME_HEADER + 4096) + FRAME_HEADER + 100] ^= 4;
        std::fs::write(&damaged, &bytes).unwrap();
        let err = WalFrames::read(&damaged, &header).err().unwrap();
        assert!(err.contains("frame 4's checksum"), "{err}");
        // A header that promises more frames than the WAL has.
        let mut longer = header.clone();
        longer.0[16..20].copy_from_slice(&(header.max_frame() + 1).to_ne_bytes());
        assert!(WalFrames::read(&wal, &longer).is_err());
        // One that ends before the last commit: that frame is not a commit of that size.
        let mut shorter = header.clone();
        shorter.0[16..20].copy_from_slice(&(header.max_frame() - 1).to_ne_bytes());
        assert!(WalFrames::read(&wal, &shorter).is_err());
    }
}
