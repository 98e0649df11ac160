//! Streaming compression of a raw database copy into a backup file, and decompression.
//!
//! The raw copy is read while it is still being written (a [`RawFeed`] says how much of it
//! exists), so compressing overlaps copying. Memory stays flat whatever the database
//! size: a few chunks in flight, never the whole database.
//!
//! gzip and zstd are written as a sequence of independent members (gzip members, zstd
//! frames, framed as [`super::members`] describes), compressed on all cores in parallel
//! and written in order, so restores decode on all cores too. A multi-member file is one
//! valid file: `gunzip`, `zstd -d`, Python's `gzip` read it whole.
//!
//! The SHA-256 of the raw bytes read is computed on the way (by the thread that reads
//! them, which otherwise waits for the workers): when the same raw copy passes the
//! source's full check, the manifest records it and a restore that decodes exactly these
//! bytes knows they passed.

use super::encrypt::Sealer;
use super::feed::ChunkRead;
use super::hash::{hex, HashingWriter};
use super::members::{chunk_size, MemberEncoder};
use super::writeback::WritebackFile;
use crate::config::Compression;
use crate::error::{Error, Operation, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// What compression produced.
#[derive(Debug, Clone, Default)]
pub struct Compressed {
    /// Bytes written to the output.
    pub size_bytes: u64,
    /// SHA-256 of the output, hex.
    pub sha256: String,
    /// Bytes of raw input consumed.
    pub raw_bytes: u64,
    /// SHA-256 of the raw input consumed, hex, when asked for.
    pub raw_sha256: Option<String>,
}

/// One compression to run: where the backup goes, and how.
pub struct CompressJob<'a> {
    /// Path of `out`, for messages.
    pub out_path: &'a Path,
    pub compression: Compression,
    pub level: u32,
    /// Worker threads (gzip workers, zstd workers).
    pub threads: usize,
    /// Hash the raw bytes (about 0.6 s of CPU per GB, so only when the hash will be
    /// recorded: after a full check of the same raw copy).
    pub hash_raw: bool,
}

/// Compresses the raw copy (being written by a copier that reports through the feed)
/// into `out`, encrypted by `encryptor` when given, calling `progress(raw_bytes_done)` as
/// it goes. `out` is flushed but not synced; the hash and size are of what `out` holds.
pub fn compress(
    job: &CompressJob<'_>,
    reader: &mut dyn ChunkRead,
    out: File,
    encryptor: Option<age::Encryptor>,
    progress: &mut dyn FnMut(u64),
) -> Result<Compressed> {
    let CompressJob {
        out_path,
        compression,
        level,
        threads,
        hash_raw,
    } = *job;
    let write_err =
        |e: io::Error| Error::io(Operation::Backup, "cannot write backup file", out_path, e);
    let mut sink = Sealer::new(
        HashingWriter::new(io::BufWriter::with_capacity(
            1 << 20,
            WritebackFile::new(out),
        )),
        encryptor,
    )
    .map_err(write_err)?;
    let (raw_bytes, raw_sha256) = match compression {
        Compression::None => copy_chunks(reader, &mut sink, hash_raw, progress, &write_err)?,
        _ => members_parallel(
            reader,
            &mut sink,
            (compression, level),
            threads.max(1),
            hash_raw,
            progress,
            &write_err,
        )?,
    };
    let mut hashed = sink.finish().map_err(write_err)?;
    hashed.flush().map_err(write_err)?;
    let (_, size_bytes, sha256) = hashed.finish();
    Ok(Compressed {
        size_bytes,
        sha256,
        raw_bytes,
        raw_sha256,
    })
}

fn copy_chunks(
    reader: &mut dyn ChunkRead,
    w: &mut dyn Write,
    hash_raw: bool,
    progress: &mut dyn FnMut(u64),
    write_err: &dyn Fn(io::Error) -> Error,
) -> Result<(u64, Option<String>)> {
    let mut buf = vec![0u8; chunk_size(Compression::None)];
    let mut total = 0u64;
    let mut raw_hash = hash_raw.then(Sha256::new);
    loop {
        let n = reader.read_chunk(&mut buf)?;
        if n == 0 {
            return Ok((total, raw_hash.map(|h| hex(&h.finalize()))));
        }
        if let Some(h) = raw_hash.as_mut() {
            h.update(&buf[..n]);
        }
        w.write_all(&buf[..n]).map_err(write_err)?;
        total += n as u64;
        progress(total);
    }
}

/// A member and the raw bytes it holds, or why encoding failed.
type Encoded = io::Result<(Vec<u8>, usize)>;

/// Reads chunks on one thread (hashing them), compresses them into members on `threads`
/// workers (chunk i goes to worker i mod n), and writes the members in order on the
/// calling thread. Returns the raw bytes read and their SHA-256.
fn members_parallel(
    reader: &mut dyn ChunkRead,
    sink: &mut dyn Write,
    (compression, level): (Compression, u32),
    threads: usize,
    hash_raw: bool,
    progress: &mut dyn FnMut(u64),
    write_err: &dyn Fn(io::Error) -> Error,
) -> Result<(u64, Option<String>)> {
    let chunk = chunk_size(compression);
    let encoders = (0..threads)
        .map(|_| MemberEncoder::new(compression, level))
        .collect::<io::Result<Vec<_>>>()
        .map_err(write_err)?;
    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<Vec<u8>>> = Vec::with_capacity(threads);
        let mut from_workers: Vec<Receiver<Encoded>> = Vec::with_capacity(threads);
        for mut encoder in encoders {
            let (in_tx, in_rx) = sync_channel::<Vec<u8>>(1);
            let (out_tx, out_rx) = sync_channel(1);
            scope.spawn(move || {
                for chunk in in_rx {
                    let member = encoder.encode(&chunk).map(|m| (m, chunk.len()));
                    if out_tx.send(member).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(in_tx);
            from_workers.push(out_rx);
        }
        // The reader thread owns the senders: when it stops (end or error) the workers
        // drain and the writer below sees every channel close.
        let reader_thread = scope.spawn(move || -> Result<(u64, Option<String>)> {
            let mut i = 0usize;
            let mut total = 0u64;
            let mut raw_hash = hash_raw.then(Sha256::new);
            loop {
                let mut buf = vec![0u8; chunk];
                let n = reader.read_chunk(&mut buf)?;
                if n == 0 && i > 0 {
                    return Ok((total, raw_hash.map(|h| hex(&h.finalize()))));
                }
                // An empty image still gets one (empty) member: an empty file is
                // neither gzip nor zstd.
                buf.truncate(n);
                if let Some(h) = raw_hash.as_mut() {
                    h.update(&buf);
                }
                total += n as u64;
                if to_workers[i % threads].send(buf).is_err() || n == 0 {
                    return Ok((total, raw_hash.map(|h| hex(&h.finalize()))));
                }
                i += 1;
            }
        });
        let mut done = 0u64;
        let mut write_result: Result<()> = Ok(());
        'collect: for i in 0.. {
            match from_workers[i % threads].recv() {
                Ok(Ok((member, raw_len))) => {
                    if let Err(e) = sink.write_all(&member) {
                        write_result = Err(write_err(e));
                        break 'collect;
                    }
                    done += raw_len as u64;
                    progress(done);
                }
                Ok(Err(e)) => {
                    write_result = Err(write_err(e));
                    break 'collect;
                }
                Err(_) => break 'collect,
            }
        }
        // On a write error, dropping the receivers stops the workers, which stops the
        // reader at its next send.
        drop(from_workers);
        let read_result = reader_thread
            .join()
            .expect("the compression reader thread does not panic");
        write_result?;
        let (total, raw_sha256) = read_result?;
        if total != done {
            return Err(Error::new(
                crate::ErrorKind::Io,
                Operation::Backup,
                format!("compression wrote {done} of {total} bytes"),
            ));
        }
        Ok((total, raw_sha256))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::decompress::decode;
    use crate::pipeline::feed::{FeedReader, RawFeed};
    use crate::pipeline::members::GZIP_CHUNK;

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
            out_path: &out_path,
            compression: c,
            level: c.default_level(),
            threads,
            hash_raw: true,
        };
        let mut reader = FeedReader {
            file: &raw,
            feed: &feed,
            offset: 0,
            path: &raw_path,
        };
        let r = compress(&job, &mut reader, out, None, &mut |d| last = d).unwrap();
        assert_eq!(r.raw_bytes, data.len() as u64);
        assert_eq!(last, data.len() as u64);
        let bytes = std::fs::read(&out_path).unwrap();
        assert_eq!(r.size_bytes, bytes.len() as u64);
        assert_eq!(r.sha256, hex(&Sha256::digest(&bytes)));
        assert_eq!(r.raw_sha256, Some(hex(&Sha256::digest(data))));
        let mut back = Vec::new();
        decode(&mut &bytes[..], c, threads, u64::MAX, &mut |b| {
            back.extend_from_slice(&b);
            Ok(())
        })
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
    fn framed_output_is_read_whole_by_gzip_and_zstd_tools() {
        let data: Vec<u8> = (0..(4 << 20) * 2 + 5).map(|i| (i % 97) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let raw_path = dir.path().join("raw");
        std::fs::write(&raw_path, &data).unwrap();
        let feed = RawFeed::default();
        feed.finish(data.len() as u64);
        let raw = File::open(&raw_path).unwrap();
        for (c, tool, name) in [
            (Compression::Gzip, "gzip", "out.gz"),
            (Compression::Zstd, "zstd", "out.zst"),
        ] {
            let out_path = dir.path().join(name);
            let job = CompressJob {
                out_path: &out_path,
                compression: c,
                level: c.default_level(),
                threads: 2,
                hash_raw: false,
            };
            let mut reader = FeedReader {
                file: &raw,
                feed: &feed,
                offset: 0,
                path: &raw_path,
            };
            compress(
                &job,
                &mut reader,
                File::create(&out_path).unwrap(),
                None,
                &mut |_| {},
            )
            .unwrap();
            let out = std::process::Command::new(tool)
                .arg("-dc")
                .arg(&out_path)
                .output()
                .expect("gzip and zstd are installed");
            assert!(out.status.success(), "{tool} -d rejects the framed file");
            assert!(out.stdout == data, "{tool} -d decodes other bytes");
        }
    }
}
