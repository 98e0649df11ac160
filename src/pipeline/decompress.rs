//! Decoding a backup file back into the raw image, on all cores when the file is framed
//! in members ([`super::members`]): the calling thread reads whole members (and hashes
//! what it reads, through its input), workers inflate them, and the calling thread hands
//! their output to the sink in order. Older files go through one stream decoder.

use super::members::{decode_member, layout, read_member, read_probe, Layout};
use super::writeback::WritebackFile;
use crate::config::Compression;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Why decoding stopped.
#[derive(Debug)]
pub enum DecodeError {
    /// The input is damaged after `after_bytes` good raw bytes.
    Damaged { after_bytes: u64, reason: String },
    /// The sink failed (writing the decoded copy).
    Sink(io::Error),
}

/// Decodes `input` (a whole backup file's plaintext) of `compression`, passing the raw
/// bytes in order to `sink`; at most `limit` raw bytes are accepted. Returns the raw
/// bytes decoded. `threads` workers decode framed members.
pub fn decode(
    input: &mut dyn Read,
    compression: Compression,
    threads: usize,
    limit: u64,
    sink: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
) -> Result<u64, DecodeError> {
    let damaged = |after_bytes, reason: String| DecodeError::Damaged {
        after_bytes,
        reason,
    };
    let probe = read_probe(input, compression).map_err(|e| damaged(0, e.to_string()))?;
    let mut out = Output {
        sink,
        done: 0,
        limit,
    };
    match layout(compression, &probe) {
        Layout::Members => {
            decode_members(input, compression, probe, threads.max(1), &mut out)?;
        }
        Layout::Stream => {
            let mut whole = io::Cursor::new(probe).chain(input);
            let mut dec =
                stream_decoder(&mut whole, compression).map_err(|e| damaged(0, e.to_string()))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match dec.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => return Err(damaged(out.done, e.to_string())),
                };
                out.put(buf[..n].to_vec())?;
            }
        }
    }
    Ok(out.done)
}

/// Where decoded bytes go, counted against the limit.
struct Output<'s> {
    sink: &'s mut dyn FnMut(Vec<u8>) -> io::Result<()>,
    done: u64,
    limit: u64,
}

impl Output<'_> {
    fn put(&mut self, bytes: Vec<u8>) -> Result<(), DecodeError> {
        let len = bytes.len() as u64;
        if self.done + len > self.limit {
            return Err(DecodeError::Damaged {
                after_bytes: self.done,
                reason: "more data than the manifest records".into(),
            });
        }
        (self.sink)(bytes).map_err(DecodeError::Sink)?;
        self.done += len;
        Ok(())
    }
}

type Decoded = Result<Vec<u8>, String>;

/// Member i goes to worker i mod n; each worker has at most two members in flight, which
/// its two-slot channels always take, so neither side can block the other for good.
fn decode_members(
    input: &mut dyn Read,
    compression: Compression,
    probe: Vec<u8>,
    threads: usize,
    out: &mut Output<'_>,
) -> Result<(), DecodeError> {
    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<Vec<u8>>> = Vec::with_capacity(threads);
        let mut from_workers: Vec<Receiver<Decoded>> = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (in_tx, in_rx) = sync_channel::<Vec<u8>>(2);
            let (out_tx, out_rx) = sync_channel::<Decoded>(2);
            scope.spawn(move || {
                for member in in_rx {
                    if out_tx.send(decode_member(compression, &member)).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(in_tx);
            from_workers.push(out_rx);
        }
        let (mut sent, mut received) = (0usize, 0usize);
        let mut header = Some(probe);
        let receive = |received: &mut usize, out: &mut Output<'_>| -> Result<(), DecodeError> {
            let decoded = from_workers[*received % threads]
                .recv()
                .unwrap_or_else(|_| Err("a decoder thread stopped".into()));
            *received += 1;
            match decoded {
                Ok(raw) => out.put(raw),
                Err(reason) => Err(DecodeError::Damaged {
                    after_bytes: out.done,
                    reason,
                }),
            }
        };
        let read_failure = loop {
            if sent - received == 2 * threads {
                receive(&mut received, out)?;
            }
            match read_member(input, compression, header.take().as_deref()) {
                Ok(Some(member)) => {
                    // The worker only goes away when its channel closes, which happens
                    // after this loop.
                    let _ = to_workers[sent % threads].send(member);
                    sent += 1;
                }
                Ok(None) => break None,
                Err(reason) => break Some(reason),
            }
        };
        drop(to_workers);
        // The members before a damaged spot are good: they count as decoded, so the
        // damage is reported where it is.
        while received < sent {
            receive(&mut received, out)?;
        }
        match read_failure {
            None => Ok(()),
            Some(reason) => Err(DecodeError::Damaged {
                after_bytes: out.done,
                reason,
            }),
        }
    })
}

/// Runs `body` with a sink that hands each buffer to a thread writing it to `file`, so the
/// write (the kernel's copy into the page cache, a third of a restore's CPU) overlaps the
/// caller's decoding and hashing, and the disk writes as the file grows
/// ([`WritebackFile`]), so the fsync that follows has little left to wait for. Returns `body`'s result and the writer's: when writing
/// fails, the sink fails from then on and the writer's result holds the reason.
pub fn write_behind<T>(
    file: &mut std::fs::File,
    body: impl FnOnce(&mut dyn FnMut(Vec<u8>) -> io::Result<()>) -> T,
) -> (T, io::Result<()>) {
    use std::io::Write;
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let writer = scope.spawn(move || -> io::Result<()> {
            let mut out = WritebackFile::new(file);
            for bytes in rx {
                out.write_all(&bytes)?;
            }
            Ok(())
        });
        let result = body(&mut |bytes| {
            tx.send(bytes)
                .map_err(|_| io::Error::other("the writing thread stopped"))
        });
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writing thread failed")));
        (result, written)
    })
}

/// One stream decoder over the whole input (files without member framing; the fuzz
/// target's independent decode of framed files).
pub fn stream_decoder<'a>(
    input: &'a mut dyn Read,
    compression: Compression,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 16, input),
        )),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
        Compression::None => Box::new(input),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::members::{chunk_size, MemberEncoder};

    fn framed(c: Compression, data: &[u8]) -> Vec<u8> {
        let mut enc = MemberEncoder::new(c, c.default_level()).unwrap();
        let mut file = Vec::new();
        for chunk in data.chunks(chunk_size(c)) {
            file.extend(enc.encode(chunk).unwrap());
        }
        file
    }

    fn run(
        c: Compression,
        file: &[u8],
        threads: usize,
        limit: u64,
    ) -> (Vec<u8>, Result<u64, DecodeError>) {
        let mut back = Vec::new();
        let r = decode(&mut &file[..], c, threads, limit, &mut |b| {
            back.extend_from_slice(&b);
            Ok(())
        });
        (back, r)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i % 253) as u8 ^ (i / 10007) as u8)
            .collect()
    }

    #[test]
    fn framed_files_decode_in_order_on_any_number_of_workers() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let d = data(chunk_size(c) * 5 + 999);
            let file = framed(c, &d);
            for threads in [1, 2, 3, 8] {
                let (back, r) = run(c, &file, threads, u64::MAX);
                assert_eq!(r.unwrap(), d.len() as u64, "{c:?} x{threads}");
                assert!(back == d, "{c:?} x{threads}");
            }
        }
    }

    #[test]
    fn a_damaged_member_is_reported_after_the_good_ones_before_it() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let chunk = chunk_size(c);
            let d = data(chunk * 6);
            let mut file = framed(c, &d);
            // Where each member starts.
            let starts: Vec<usize> = (0..=6).map(|k| framed(c, &d[..k * chunk]).len()).collect();
            // Flip a byte inside the fourth member's compressed data.
            let at = (starts[3] + starts[4]) / 2;
            file[at] ^= 0x55;
            let (back, r) = run(c, &file, 2, u64::MAX);
            match r {
                Err(DecodeError::Damaged { after_bytes, .. }) => {
                    assert_eq!(after_bytes, 3 * chunk as u64, "{c:?}");
                    assert!(back == d[..3 * chunk], "{c:?}");
                }
                other => panic!("{c:?}: {other:?}"),
            }
            // Cut in the middle of the fifth member.
            let cut = &framed(c, &d)[..starts[4] + 100];
            match run(c, cut, 2, u64::MAX).1 {
                Err(DecodeError::Damaged {
                    after_bytes,
                    reason,
                }) => {
                    assert_eq!(after_bytes, 4 * chunk as u64, "{c:?}");
                    assert!(reason.contains("ends inside a member"), "{reason}");
                }
                other => panic!("{c:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn more_data_than_the_limit_is_damage_and_old_streams_still_decode() {
        let d = data(GZIP_TEST_LEN);
        let file = framed(Compression::Gzip, &d);
        assert!(matches!(
            run(Compression::Gzip, &file, 2, 1000).1,
            Err(DecodeError::Damaged { .. })
        ));
        let old = zstd::stream::encode_all(&d[..], 3).unwrap();
        let (back, r) = run(Compression::Zstd, &old, 2, u64::MAX);
        assert_eq!(r.unwrap(), d.len() as u64);
        assert!(back == d);
        let (back, r) = run(Compression::None, &d, 2, u64::MAX);
        assert_eq!(r.unwrap(), d.len() as u64);
        assert!(back == d);
    }

    const GZIP_TEST_LEN: usize = 3 << 20;
}
