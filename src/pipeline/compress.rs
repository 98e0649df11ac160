//! Streaming compression of a raw database copy into a backup file, and decompression.
//!
//! The raw copy is read while it is still being written (a [`RawFeed`] says how much of it
//! exists), so compressing overlaps copying. Memory stays flat whatever the database
//! size: a few chunks in flight, never the whole database.
//!
//! gzip is written as a sequence of independent gzip members of [`GZIP_CHUNK`] bytes
//! each, compressed on all cores in parallel and written in order. A multi-member file
//! is one valid gzip file (RFC 1952 section 2.2): `gunzip`, Python's `gzip` and flate2's
//! `MultiGzDecoder` read it whole. zstd uses libzstd's own worker threads.

use super::encrypt::Sealer;
use super::feed::{FeedReader, RawFeed};
use super::hash::HashingWriter;
use crate::config::Compression;
use crate::error::{Error, Operation, Result};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Bytes per gzip member. Large enough that restarting the 32 KiB deflate window at each
/// member costs well under 0.1% of ratio; small enough to keep memory flat.
pub const GZIP_CHUNK: usize = 1 << 20;

/// Bytes per zstd worker job.
const ZSTD_JOB_SIZE: u32 = 2 << 20;

/// What compression produced.
#[derive(Debug, Clone, Default)]
pub struct Compressed {
    /// Bytes written to the output.
    pub size_bytes: u64,
    /// SHA-256 of the output, hex.
    pub sha256: String,
    /// Bytes of raw input consumed.
    pub raw_bytes: u64,
}

/// One compression to run: where the raw copy is, where the backup goes, and how.
pub struct CompressJob<'a> {
    /// The raw copy, open for reading.
    pub raw: &'a File,
    /// Its path, for messages.
    pub raw_path: &'a Path,
    /// How much of it exists so far.
    pub feed: &'a RawFeed,
    /// Path of `out`, for messages.
    pub out_path: &'a Path,
    pub compression: Compression,
    pub level: u32,
    /// Worker threads (gzip workers, zstd workers).
    pub threads: usize,
}

/// Compresses the raw copy (being written by a copier that reports through the feed)
/// into `out`, encrypted by `encryptor` when given, calling `progress(raw_bytes_done)` as
/// it goes. `out` is flushed but not synced; the hash and size are of what `out` holds.
pub fn compress(
    job: &CompressJob<'_>,
    out: File,
    encryptor: Option<age::Encryptor>,
    progress: &mut dyn FnMut(u64),
) -> Result<Compressed> {
    let CompressJob {
        raw,
        raw_path,
        feed,
        out_path,
        compression,
        level,
        threads,
    } = *job;
    let mut reader = FeedReader {
        file: raw,
        feed,
        offset: 0,
        path: raw_path,
    };
    let write_err =
        |e: io::Error| Error::io(Operation::Backup, "cannot write backup file", out_path, e);
    let mut sink = Sealer::new(
        HashingWriter::new(io::BufWriter::with_capacity(1 << 20, out)),
        encryptor,
    )
    .map_err(write_err)?;
    let raw_bytes = match compression {
        Compression::Gzip => gzip_parallel(
            &mut reader,
            &mut sink,
            level,
            threads.max(1),
            progress,
            &write_err,
        )?,
        Compression::Zstd => {
            let mut enc =
                zstd::stream::write::Encoder::new(&mut sink, level as i32).map_err(write_err)?;
            enc.include_checksum(true).map_err(write_err)?;
            if threads > 1 {
                enc.multithread(threads as u32).map_err(write_err)?;
                // libzstd's default job (8 MiB at level 3, per worker, plus buffers)
                // takes resident memory to 60 MB; 2 MiB jobs keep it flat and small at a
                // negligible cost in ratio.
                enc.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))
                    .map_err(write_err)?;
            }
            let n = copy_chunks(&mut reader, &mut enc, progress, &write_err)?;
            enc.finish().map_err(write_err)?;
            n
        }
        Compression::None => copy_chunks(&mut reader, &mut sink, progress, &write_err)?,
    };
    let mut hashed = sink.finish().map_err(write_err)?;
    hashed.flush().map_err(write_err)?;
    let (_, size_bytes, sha256) = hashed.finish();
    Ok(Compressed {
        size_bytes,
        sha256,
        raw_bytes,
    })
}

fn copy_chunks(
    reader: &mut FeedReader<'_>,
    w: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
    write_err: &dyn Fn(io::Error) -> Error,
) -> Result<u64> {
    let mut buf = vec![0u8; GZIP_CHUNK];
    let mut total = 0u64;
    loop {
        let n = reader.read_chunk(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..n]).map_err(write_err)?;
        total += n as u64;
        progress(total);
    }
}

/// One gzip member holding `data`.
fn gzip_member(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        flate2::Compression::new(level),
    );
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Reads chunks on one thread, deflates them on `threads` workers (chunk i goes to worker
/// i mod n), and writes the members in order on the calling thread.
fn gzip_parallel(
    reader: &mut FeedReader<'_>,
    sink: &mut dyn Write,
    level: u32,
    threads: usize,
    progress: &mut dyn FnMut(u64),
    write_err: &dyn Fn(io::Error) -> Error,
) -> Result<u64> {
    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<Vec<u8>>> = Vec::with_capacity(threads);
        let mut from_workers: Vec<Receiver<(Vec<u8>, usize)>> = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (in_tx, in_rx) = sync_channel::<Vec<u8>>(1);
            let (out_tx, out_rx) = sync_channel::<(Vec<u8>, usize)>(1);
            scope.spawn(move || {
                for chunk in in_rx {
                    let member = gzip_member(&chunk, level);
                    if out_tx.send((member, chunk.len())).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(in_tx);
            from_workers.push(out_rx);
        }
        // The reader thread owns the senders: when it stops (end or error) the workers
        // drain and the writer below sees every channel close.
        let reader_thread = scope.spawn(move || -> Result<u64> {
            let mut i = 0usize;
            let mut total = 0u64;
            loop {
                let mut buf = vec![0u8; GZIP_CHUNK];
                let n = reader.read_chunk(&mut buf)?;
                if n == 0 {
                    return Ok(total);
                }
                buf.truncate(n);
                total += n as u64;
                if to_workers[i % threads].send(buf).is_err() {
                    return Ok(total);
                }
                i += 1;
            }
        });
        let mut done = 0u64;
        let mut write_result: Result<()> = Ok(());
        'collect: for i in 0.. {
            match from_workers[i % threads].recv() {
                Ok((member, raw_len)) => {
                    if let Err(e) = sink.write_all(&member) {
                        write_result = Err(write_err(e));
                        break 'collect;
                    }
                    done += raw_len as u64;
                    progress(done);
                }
                Err(_) => break 'collect,
            }
        }
        // On a write error, dropping the receivers stops the workers, which stops the
        // reader at its next send.
        drop(from_workers);
        let read_result = reader_thread
            .join()
            .expect("the gzip reader thread does not panic");
        write_result?;
        let total = read_result?;
        if total == 0 {
            // An empty database still gets one (empty) member: an empty file is not gzip.
            sink.write_all(&gzip_member(&[], level))
                .map_err(write_err)?;
        }
        if total != done {
            return Err(Error::new(
                crate::ErrorKind::Io,
                Operation::Backup,
                format!("compression wrote {done} of {total} bytes"),
            ));
        }
        Ok(total)
    })
}

/// A decoder for a backup file: reads the raw database back.
pub fn decoder<'a, R: Read + 'a>(
    input: R,
    compression: Compression,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            input,
        ))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
        Compression::None => Box::new(input),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::hash::hex;
    use sha2::{Digest, Sha256};

    fn roundtrip(c: Compression, data: &[u8], threads: usize) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let raw_path = dir.path().join("raw");
        std::fs::write(&raw_path, data).unwrap();
        let raw = File::open(&raw_path).unwrap();
        let feed = RawFeed::default();
        feed.finish(data.len() as u64);
        let out_path = dir.path().join("out");
        let out = File::create(&out_path).unwrap();
        let mut last = 0;
        let job = CompressJob {
            raw: &raw,
            raw_path: &raw_path,
            feed: &feed,
            out_path: &out_path,
            compression: c,
            level: c.default_level(),
            threads,
        };
        let r = compress(&job, out, None, &mut |d| last = d).unwrap();
        assert_eq!(r.raw_bytes, data.len() as u64);
        assert_eq!(last, data.len() as u64);
        let bytes = std::fs::read(&out_path).unwrap();
        assert_eq!(r.size_bytes, bytes.len() as u64);
        assert_eq!(r.sha256, hex(&Sha256::digest(&bytes)));
        let mut back = Vec::new();
        decoder(&bytes[..], c)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    #[test]
    fn every_compression_round_trips_across_chunk_boundaries() {
        let data: Vec<u8> = (0..(GZIP_CHUNK * 3 + 12345))
            .map(|i| (i % 251) as u8 ^ (i / 7919) as u8)
            .collect();
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            for threads in [1, 2, 3] {
                assert_eq!(roundtrip(c, &data, threads), data, "{c:?} x{threads}");
            }
            assert!(roundtrip(c, &[], 2).is_empty());
        }
    }

    #[test]
    fn gzip_output_is_read_whole_by_a_single_stream_reader_of_multi_member_files() {
        let data = vec![7u8; GZIP_CHUNK * 2 + 5];
        let dir = tempfile::tempdir().unwrap();
        let raw_path = dir.path().join("raw");
        std::fs::write(&raw_path, &data).unwrap();
        let feed = RawFeed::default();
        feed.finish(data.len() as u64);
        let out_path = dir.path().join("out.gz");
        let raw = File::open(&raw_path).unwrap();
        let job = CompressJob {
            raw: &raw,
            raw_path: &raw_path,
            feed: &feed,
            out_path: &out_path,
            compression: Compression::Gzip,
            level: 6,
            threads: 2,
        };
        compress(&job, File::create(&out_path).unwrap(), None, &mut |_| {}).unwrap();
        let status = std::process::Command::new("gzip")
            .arg("-t")
            .arg(&out_path)
            .status()
            .expect("gzip is installed");
        assert!(status.success(), "gzip -t rejects the multi-member file");
    }
}
