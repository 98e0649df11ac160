//! The raw feed: a raw copy read while it is still being written. The copier publishes
//! how far it got, the compressor waits for more, so compressing overlaps copying.

use crate::error::{Error, ErrorKind, Operation, Result};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// How much of a raw copy has been written so far. The copier publishes, the
/// compressor waits.
#[derive(Debug, Default)]
pub struct RawFeed {
    state: Mutex<FeedState>,
    cond: Condvar,
    /// Set when the backup is cancelled: the copier and the compressor stop at their next
    /// step.
    cancel: Arc<AtomicBool>,
}

/// The error of a cancelled backup.
pub(crate) fn cancelled() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        Operation::Backup,
        "the backup was cancelled; nothing was kept",
    )
}

#[derive(Debug, Default)]
struct FeedState {
    available: u64,
    finished: bool,
    failed: bool,
}

impl RawFeed {
    /// A feed whose copy stops when `cancel` is set.
    pub fn with_cancel(cancel: Arc<AtomicBool>) -> RawFeed {
        RawFeed {
            cancel,
            ..RawFeed::default()
        }
    }

    /// `Err(Cancelled)` once the backup is cancelled: the copier asks at every step.
    pub fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(cancelled())
        } else {
            Ok(())
        }
    }

    /// Announces that the first `n` bytes are written.
    pub fn publish(&self, n: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.available = n;
        self.cond.notify_all();
    }

    /// Announces that the copy is complete at `n` bytes.
    pub fn finish(&self, n: u64) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.available = n;
        s.finished = true;
        self.cond.notify_all();
    }

    /// Announces that the copy failed; the compressor stops.
    pub fn fail(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.failed = true;
        self.cond.notify_all();
    }

    /// Waits until more than `offset` bytes exist or the copy ended. Returns the bytes
    /// available and whether the copy is finished; `None` if it failed.
    fn wait_beyond(&self, offset: u64) -> Option<(u64, bool)> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if s.failed {
                return None;
            }
            if s.available > offset || s.finished {
                return Some((s.available, s.finished));
            }
            s = self.cond.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Raw bytes in order, as the compressor takes them: a raw copy on disk followed behind
/// its copier ([`FeedReader`]), or chunks streamed by a source that writes no copy
/// ([`StreamReader`]).
pub trait ChunkRead: Send {
    /// Fills `buf` as far as the input allows; returns 0 at its end.
    fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize>;
}

/// Reads the raw copy in order as the copier produces it.
pub(crate) struct FeedReader<'a> {
    pub file: &'a File,
    pub feed: &'a RawFeed,
    pub offset: u64,
    pub path: &'a Path,
}

impl ChunkRead for FeedReader<'_> {
    /// Fills `buf` as far as the copy allows; returns 0 at the end of a finished copy.
    fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            self.feed.check()?;
            let (available, finished) = self.feed.wait_beyond(self.offset).ok_or_else(|| {
                Error::new(
                    crate::ErrorKind::Io,
                    Operation::Backup,
                    "the database copy failed; compression stopped",
                )
            })?;
            if available <= self.offset {
                debug_assert!(finished);
                break;
            }
            let want = ((available - self.offset) as usize).min(buf.len() - filled);
            crate::platform::read_exact_at(self.file, &mut buf[filled..filled + want], self.offset)
                .map_err(|e| {
                    Error::io(Operation::Backup, "cannot read database copy", self.path, e)
                })?;
            filled += want;
            self.offset += want as u64;
            if finished && self.offset == available {
                break;
            }
        }
        Ok(filled)
    }
}

/// Reads chunks a streaming source sends (a PostgreSQL dump): the sender closing the
/// channel is the end. A source that fails closes it too; the caller then has the
/// source's error, so a short stream is never taken for a whole one.
pub(crate) struct StreamReader {
    pub rx: std::sync::mpsc::Receiver<Vec<u8>>,
    pub pending: Vec<u8>,
    pub pos: usize,
}

impl ChunkRead for StreamReader {
    fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.pos == self.pending.len() {
                match self.rx.recv() {
                    Ok(next) => {
                        self.pending = next;
                        self.pos = 0;
                        continue;
                    }
                    Err(_) => break,
                }
            }
            let n = (self.pending.len() - self.pos).min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            filled += n;
        }
        Ok(filled)
    }
}
