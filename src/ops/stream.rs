//! Reading a backup's data file once: size, SHA-256, decryption, decompression with each
//! member's or frame's checksum, and the decoded bytes put where the caller wants them.
//! Every check of a stored file goes through here (verify, restores, the chain of an
//! incremental backup).

use crate::error::{Error, Operation, Result};
use crate::model::manifest::Manifest;
use crate::model::verdict::{Damage, Verdict};
use crate::pipeline::decompress::{decode, write_behind, DecodeError};
use crate::pipeline::encrypt::{check_header, Keys, OpenFailure};
use crate::pipeline::hash::{hex, HashingReader};
use crate::storage::Blob;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Streams a backup's data once: checks its size, hashes it, decrypts and decodes it,
/// counts the raw bytes, and, when `out` is given, writes the decoded image there.
///
/// An encrypted backup is decrypted with `keys`. Without a key on this machine a check
/// that needs no plaintext (`out` is `None`) covers the ciphertext only: size, SHA-256 and
/// a well-formed age header. A key that is missing or wrong is an error (the backup is not
/// judged), unless the file's hash shows it damaged.
pub(crate) fn check_stream(
    blob: std::result::Result<Blob, Damage>,
    m: &Manifest,
    out: Option<(&mut File, &Path)>,
    keys: &Keys<'_>,
) -> Result<Verdict> {
    check_stream_into(
        blob,
        m,
        match out {
            Some((f, p)) => Out::File(f, p),
            None => Out::Nowhere,
        },
        keys,
    )
}

/// Where [`check_stream_into`] puts the decoded bytes.
pub(crate) enum Out<'a> {
    /// Nowhere: the check only.
    Nowhere,
    /// Into a file, written behind the decoder on its own thread.
    File(&'a mut File, &'a Path),
    /// To a function, in order (page records being applied; its error is an I/O error).
    Sink(&'a mut dyn FnMut(&[u8]) -> std::io::Result<()>),
    /// Into a file as `File` does, each buffer first given to a function with its offset
    /// in the stream, which may change it (a rebuild puts in the pages newer files hold).
    Patched(
        &'a mut File,
        &'a Path,
        &'a mut dyn FnMut(&mut [u8], u64) -> std::io::Result<()>,
    ),
}

/// [`check_stream`] with any destination for the decoded bytes.
pub(crate) fn check_stream_into(
    blob: std::result::Result<Blob, Damage>,
    m: &Manifest,
    mut out: Out<'_>,
    keys: &Keys<'_>,
) -> Result<Verdict> {
    let blob = match blob {
        Ok(b) => b,
        Err(damage) => return Ok(Err(damage)),
    };
    if blob.size != m.size_bytes {
        return Ok(Err(Damage::WrongSize {
            actual: blob.size,
            expected: m.size_bytes,
        }));
    }
    let mut hashing = HashingReader::new(blob.reader);
    let mut raw_bytes = 0u64;
    let mut raw_hash = Sha256::new();
    let mut key_error = None;
    {
        let damaged = |compression: &'static str, after_bytes: u64, e: &dyn std::fmt::Display| {
            Ok(Err(Damage::Stream {
                compression,
                after_bytes,
                reason: e.to_string(),
            }))
        };
        let compression = m.compression.as_str();
        let nowhere = matches!(out, Out::Nowhere);
        let plain: Option<Box<dyn Read + '_>> = match &m.encryption {
            None => Some(Box::new(&mut hashing)),
            Some(_) if nowhere && !keys.available() => {
                if let Err(reason) = check_header(&mut hashing) {
                    return damaged("age", 0, &reason);
                }
                None
            }
            Some(e) => match keys.open(Operation::Verify, &m.id, &e.recipients, &mut hashing) {
                Ok(r) => Some(r),
                Err(OpenFailure::Malformed(reason)) => return damaged("age", 0, &reason),
                Err(OpenFailure::Key(e)) => {
                    key_error = Some(e);
                    None
                }
            },
        };
        if let Some(mut plain) = plain {
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut run = |sink: &mut dyn FnMut(Vec<u8>) -> std::io::Result<()>| {
                decode(&mut plain, m.compression, threads, m.raw_size_bytes, sink)
            };
            let (decoded, written) = match &mut out {
                Out::File(f, _) => write_behind(f, |send| {
                    run(&mut |bytes: Vec<u8>| {
                        raw_hash.update(&bytes);
                        send(bytes)
                    })
                }),
                Out::Patched(f, _, patch) => write_behind(f, |send| {
                    let mut at = 0u64;
                    run(&mut |mut bytes: Vec<u8>| {
                        patch(&mut bytes, at)?;
                        at += bytes.len() as u64;
                        send(bytes)
                    })
                }),
                Out::Sink(sink) => (run(&mut |bytes: Vec<u8>| sink(&bytes)), Ok(())),
                Out::Nowhere => (run(&mut |_| Ok(())), Ok(())),
            };
            let write_error = |e| {
                let p = match &out {
                    Out::File(_, p) | Out::Patched(_, p, _) => *p,
                    _ => Path::new(&m.file),
                };
                Error::io(Operation::Verify, "cannot write decompressed copy", p, e)
            };
            written.map_err(write_error)?;
            match decoded {
                Ok(n) => raw_bytes = n,
                Err(DecodeError::Damaged {
                    after_bytes,
                    reason,
                }) => return damaged(compression, after_bytes, &reason),
                Err(DecodeError::Sink(e)) => return Err(write_error(e)),
            }
        }
    }
    let (_, sha) = match hashing.finish() {
        Ok(x) => x,
        Err(e) => {
            return Ok(Err(Damage::Unreadable {
                file: None,
                reason: e.to_string(),
            }))
        }
    };
    if sha != m.sha256 {
        return Ok(Err(Damage::Checksum {
            actual: sha,
            expected: m.sha256.clone(),
        }));
    }
    if let Some(e) = key_error {
        return Err(e);
    }
    if m.is_encrypted() && !keys.available() && matches!(out, Out::Nowhere) {
        return Ok(Ok(()));
    }
    if raw_bytes != m.raw_size_bytes {
        return Ok(Err(Damage::RawSize {
            actual: raw_bytes,
            expected: m.raw_size_bytes,
        }));
    }
    // The decoded copy must be the very image whose hash the backup recorded.
    if let (Some(expected), Out::File(..)) = (&m.raw_sha256, &out) {
        let actual = hex(&raw_hash.finalize());
        if &actual != expected {
            return Ok(Err(Damage::RawChecksum {
                actual,
                expected: expected.clone(),
            }));
        }
    }
    Ok(Ok(()))
}
