//! The framing that lets a backup file be decoded on all cores: the raw image is cut into
//! chunks, each compressed on its own into a *member* whose length a reader learns from
//! the member's first bytes, so one thread can hand whole members to decoders without
//! decoding anything itself.
//!
//! - gzip: each member is an ordinary gzip member (RFC 1952) whose header carries an
//!   extra field (FEXTRA) with subfield `SK` holding the member's total length (u32 LE),
//!   as BGZF does with `BC`. Every gzip reader skips extra fields, so `gunzip` and
//!   Python's `gzip` read the file as before.
//! - zstd: each frame is preceded by a 12-byte skippable frame (magic 0x184D2A50) holding
//!   the next frame's length, the convention of zstd's own parallel tool `pzstd`. `zstd -d`
//!   skips skippable frames.
//!
//! Files written before this framing (one zstd frame, gzip members without the field)
//! are recognised by their first bytes and decoded by one stream decoder, as before.

use crate::config::Compression;
use std::io::{self, Read, Write};

/// Raw bytes per gzip member. Large enough that restarting the 32 KiB deflate window at
/// each member costs well under 0.1% of ratio; small enough to keep memory flat.
pub const GZIP_CHUNK: usize = 1 << 20;

/// Raw bytes per zstd frame written: zstd's level-3 window is 2 MiB, so frames of that
/// size lose little ratio to a single stream, and a 1 GB image still makes 512 of them.
/// Every frame is in memory several times over while it is compressed or decoded (in
/// the channels between threads), so the frame size sets most of the memory a backup
/// or a restore uses: 4 MiB frames took a restore into the live database (its safety
/// backup compressing while the backup decodes) to 90 MB.
pub const ZSTD_CHUNK: usize = 2 << 20;

/// The largest zstd frame a reader accepts: backups written before 2026-12-04 have
/// frames of 4 MiB.
const ZSTD_MAX_FRAME: usize = 4 << 20;

/// The gzip member header this framing writes: magic, deflate, FEXTRA, no mtime, no extra
/// flags, OS unknown, XLEN 8, subfield `SK` of length 4 (the member length follows).
const GZIP_HEADER: [u8; 16] = [
    0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 0xff, 8, 0, b'S', b'K', 4, 0,
];
/// Header (16 + 4 length bytes) and trailer (CRC-32, ISIZE) around the deflate data.
const GZIP_HEADER_LEN: usize = GZIP_HEADER.len() + 4;
const GZIP_TRAILER_LEN: usize = 8;

/// A skippable frame of 4 bytes (pzstd's): magic 0x184D2A50 LE, size 4 LE.
const ZSTD_SKIPPABLE: [u8; 8] = [0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0];
const ZSTD_HEADER_LEN: usize = ZSTD_SKIPPABLE.len() + 4;

/// Raw bytes per member written for `compression` (`None` is copied in chunks of this
/// size).
pub fn chunk_size(compression: Compression) -> usize {
    match compression {
        Compression::Zstd => ZSTD_CHUNK,
        Compression::Gzip | Compression::None => GZIP_CHUNK,
    }
}

/// Raw bytes a member read for `compression` may hold: a chunk of any version.
fn max_chunk(compression: Compression) -> usize {
    match compression {
        Compression::Zstd => ZSTD_MAX_FRAME,
        Compression::Gzip | Compression::None => GZIP_CHUNK,
    }
}

/// Compresses chunks into members; one per worker thread (it keeps its zstd context).
pub struct MemberEncoder {
    compression: Compression,
    level: u32,
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl MemberEncoder {
    /// An encoder for `compression` (gzip or zstd) at `level`.
    pub fn new(compression: Compression, level: u32) -> io::Result<Self> {
        let zstd = match compression {
            Compression::Zstd => {
                let mut c = zstd::bulk::Compressor::new(level as i32)?;
                c.include_checksum(true)?;
                c.include_contentsize(true)?;
                Some(c)
            }
            _ => None,
        };
        Ok(MemberEncoder {
            compression,
            level,
            zstd,
        })
    }

    /// One member holding `data`.
    pub fn encode(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        match (&mut self.zstd, self.compression) {
            (Some(c), _) => {
                let frame = c.compress(data)?;
                let mut out = Vec::with_capacity(ZSTD_HEADER_LEN + frame.len());
                out.extend_from_slice(&ZSTD_SKIPPABLE);
                out.extend_from_slice(&length_field(frame.len())?);
                out.extend_from_slice(&frame);
                Ok(out)
            }
            (None, Compression::Gzip) => {
                let mut out = Vec::with_capacity(data.len() / 2 + 64);
                out.extend_from_slice(&GZIP_HEADER);
                out.extend_from_slice(&[0; 4]); // the length, known once deflated
                let mut deflate =
                    flate2::write::DeflateEncoder::new(out, flate2::Compression::new(self.level));
                deflate.write_all(data)?;
                let mut out = deflate.finish()?;
                let mut crc = flate2::Crc::new();
                crc.update(data);
                out.extend_from_slice(&crc.sum().to_le_bytes());
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                let total = length_field(out.len())?;
                out[GZIP_HEADER.len()..GZIP_HEADER_LEN].copy_from_slice(&total);
                Ok(out)
            }
            (None, _) => Ok(data.to_vec()),
        }
    }
}

fn length_field(len: usize) -> io::Result<[u8; 4]> {
    u32::try_from(len)
        .map(u32::to_le_bytes)
        .map_err(|_| io::Error::other("member larger than 4 GiB"))
}

/// How a backup file's first bytes say it must be read.
pub enum Layout {
    /// Framed members: read them with [`read_member`], decode each with [`decode_member`].
    Members,
    /// One stream (older files, `none`): a stream decoder reads everything.
    Stream,
}

/// Bytes to look at before deciding the [`Layout`].
pub fn probe_len(compression: Compression) -> usize {
    match compression {
        Compression::Gzip => GZIP_HEADER_LEN,
        Compression::Zstd => ZSTD_HEADER_LEN,
        Compression::None => 0,
    }
}

/// The layout of a file of `compression` beginning with `probe` (at most
/// [`probe_len`] bytes).
pub fn layout(compression: Compression, probe: &[u8]) -> Layout {
    let framed = match compression {
        Compression::Gzip => probe.starts_with(&GZIP_HEADER),
        Compression::Zstd => probe.starts_with(&ZSTD_SKIPPABLE),
        Compression::None => false,
    };
    if framed && probe.len() == probe_len(compression) {
        Layout::Members
    } else {
        Layout::Stream
    }
}

/// The largest member a reader accepts: a chunk that did not compress at all, plus
/// framing. A longer length field is damage, not a reason to allocate.
fn max_member(compression: Compression) -> usize {
    let chunk = max_chunk(compression);
    chunk + chunk / 64 + 1024
}

/// Reads the next member. `header` holds its first [`probe_len`] bytes when the caller
/// already read them (the first member, read to choose the layout). `Ok(None)` at a clean
/// end of input; `Err` with the reason when the input is cut short or is not a member.
pub fn read_member(
    input: &mut dyn Read,
    compression: Compression,
    header: Option<&[u8]>,
) -> std::result::Result<Option<Vec<u8>>, String> {
    let header_len = probe_len(compression);
    let mut member = Vec::with_capacity(header_len);
    match header {
        Some(h) => member.extend_from_slice(h),
        None => {
            member.resize(header_len, 0);
            let got = read_full(input, &mut member).map_err(|e| e.to_string())?;
            if got == 0 {
                return Ok(None);
            }
            if got < header_len {
                return Err(format!(
                    "the file ends inside a member header ({got} bytes)"
                ));
            }
        }
    }
    let (magic, length) = member.split_at(header_len - 4);
    let expected: &[u8] = match compression {
        Compression::Gzip => &GZIP_HEADER,
        _ => &ZSTD_SKIPPABLE,
    };
    if magic != expected {
        return Err("a member header is not where the previous member ended".into());
    }
    let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
    let total = match compression {
        Compression::Gzip => length,
        _ => header_len + length,
    };
    if total < header_len || total > max_member(compression) {
        return Err(format!(
            "a member header gives an impossible length of {length} bytes"
        ));
    }
    member.resize(total, 0);
    let got = read_full(input, &mut member[header_len..]).map_err(|e| e.to_string())?;
    if got < total - header_len {
        return Err(format!(
            "the file ends inside a member ({} of {total} bytes)",
            header_len + got
        ));
    }
    Ok(Some(member))
}

/// Decodes one member read by [`read_member`], checking its own checksum (gzip CRC-32
/// and length, zstd content checksum) and that it holds no more than one chunk.
pub fn decode_member(
    compression: Compression,
    member: &[u8],
) -> std::result::Result<Vec<u8>, String> {
    let limit = max_chunk(compression);
    match compression {
        Compression::Gzip => {
            if member.len() < GZIP_HEADER_LEN + GZIP_TRAILER_LEN {
                return Err("a member is too short to be gzip".into());
            }
            let mut rest = member;
            let mut out = Vec::with_capacity(limit);
            let mut dec = flate2::bufread::GzDecoder::new(&mut rest);
            (&mut dec)
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            if out.len() > limit {
                return Err("a member decodes to more than one chunk".into());
            }
            drop(dec);
            if !rest.is_empty() {
                return Err(format!(
                    "{} bytes follow the end of a member's deflate data",
                    rest.len()
                ));
            }
            Ok(out)
        }
        Compression::Zstd => {
            let frame = &member[ZSTD_HEADER_LEN..];
            // sqlkeep's frames say what they hold: the buffer is that large, not the
            // largest a frame may be (a frame that holds more fails to decode).
            let capacity = match zstd::zstd_safe::get_frame_content_size(frame) {
                Ok(Some(n)) if n > limit as u64 => {
                    return Err("a member decodes to more than one chunk".into())
                }
                Ok(Some(n)) => n as usize,
                _ => limit,
            };
            zstd::bulk::decompress(frame, capacity).map_err(|e| e.to_string())
        }
        Compression::None => Ok(member.to_vec()),
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// [`read_full`] for the first bytes of a file.
pub fn read_probe(input: &mut dyn Read, compression: Compression) -> io::Result<Vec<u8>> {
    let mut probe = vec![0; probe_len(compression)];
    let got = read_full(input, &mut probe)?;
    probe.truncate(got);
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8 ^ (i / 4099) as u8).collect()
    }

    #[test]
    fn members_read_back_and_decode_to_their_chunk() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let mut enc = MemberEncoder::new(c, c.default_level()).unwrap();
            let chunks = [sample(chunk_size(c)), sample(12345), Vec::new()];
            let mut file = Vec::new();
            for ch in &chunks {
                file.extend(enc.encode(ch).unwrap());
            }
            let mut input = &file[..];
            let probe = read_probe(&mut input, c).unwrap();
            assert!(matches!(layout(c, &probe), Layout::Members), "{c:?}");
            let mut header = Some(probe);
            for ch in &chunks {
                let m = read_member(&mut input, c, header.take().as_deref())
                    .unwrap()
                    .unwrap();
                assert_eq!(&decode_member(c, &m).unwrap(), ch, "{c:?}");
            }
            assert!(read_member(&mut input, c, None).unwrap().is_none());
        }
    }

    #[test]
    fn frames_of_any_size_up_to_the_old_four_mib_decode_and_larger_ones_are_refused() {
        let c = Compression::Zstd;
        let mut enc = MemberEncoder::new(c, 3).unwrap();
        for n in [ZSTD_CHUNK, ZSTD_MAX_FRAME] {
            let data = sample(n);
            let m = enc.encode(&data).unwrap();
            let read = read_member(&mut &m[..], c, None).unwrap().unwrap();
            assert_eq!(decode_member(c, &read).unwrap(), data, "{n}");
        }
        let m = enc.encode(&sample(ZSTD_MAX_FRAME + 1)).unwrap();
        let e = decode_member(c, &m).unwrap_err();
        assert!(e.contains("more than one chunk"), "{e}");
        // A frame whose header says it holds less than it does is damage, not an
        // overflow. The frame header: magic (4 bytes), descriptor (1), then (for a
        // single-segment frame of 256..65791 bytes) the content size minus 256 in 2.
        let mut lying = enc.encode(&sample(5000)).unwrap();
        let size_at = ZSTD_HEADER_LEN + 5;
        let size = u16::from_le_bytes([lying[size_at], lying[size_at + 1]]);
        assert_eq!(size, 5000 - 256);
        lying[size_at..size_at + 2].copy_from_slice(&(4000u16 - 256).to_le_bytes());
        assert!(decode_member(c, &lying).is_err());
    }

    #[test]
    fn a_framed_file_is_still_one_valid_stream_for_ordinary_decoders() {
        let data = sample(GZIP_CHUNK + 77);
        let mut enc = MemberEncoder::new(Compression::Gzip, 6).unwrap();
        let mut file = enc.encode(&data[..GZIP_CHUNK]).unwrap();
        file.extend(enc.encode(&data[GZIP_CHUNK..]).unwrap());
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&file[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let mut enc = MemberEncoder::new(Compression::Zstd, 3).unwrap();
        let mut file = enc.encode(&data[..GZIP_CHUNK]).unwrap();
        file.extend(enc.encode(&data[GZIP_CHUNK..]).unwrap());
        assert_eq!(zstd::stream::decode_all(&file[..]).unwrap(), data);
    }

    #[test]
    fn damaged_members_are_reported_not_decoded() {
        let mut enc = MemberEncoder::new(Compression::Gzip, 6).unwrap();
        let m = enc.encode(&sample(5000)).unwrap();
        // A flipped bit in the deflate data or the CRC.
        for at in [GZIP_HEADER_LEN + 10, m.len() - 6] {
            let mut bad = m.clone();
            bad[at] ^= 0x10;
            assert!(
                decode_member(Compression::Gzip, &bad).is_err(),
                "flip at {at}"
            );
        }
        // A length field that points past the end, or at an absurd size.
        let mut bad = m.clone();
        bad[GZIP_HEADER.len()] = bad[GZIP_HEADER.len()].wrapping_add(3);
        let e = read_member(&mut &bad[..], Compression::Gzip, None).unwrap_err();
        assert!(e.contains("ends inside a member"), "{e}");
        bad[GZIP_HEADER.len() + 3] = 0x7f;
        let e = read_member(&mut &bad[..], Compression::Gzip, None).unwrap_err();
        assert!(e.contains("impossible length"), "{e}");
        // Cut inside the header.
        let e = read_member(&mut &m[..7], Compression::Gzip, None).unwrap_err();
        assert!(e.contains("member header"), "{e}");
        let mut enc = MemberEncoder::new(Compression::Zstd, 3).unwrap();
        let mut z = enc.encode(&sample(5000)).unwrap();
        let last = z.len() - 2;
        z[last] ^= 0x01;
        assert!(decode_member(Compression::Zstd, &z).is_err());
    }

    #[test]
    fn files_from_before_the_framing_are_read_as_one_stream() {
        let mut old = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        old.write_all(&sample(1000)).unwrap();
        let old = old.finish().unwrap();
        assert!(matches!(
            layout(Compression::Gzip, &old[..GZIP_HEADER_LEN]),
            Layout::Stream
        ));
        let old = zstd::stream::encode_all(&sample(1000)[..], 3).unwrap();
        assert!(matches!(
            layout(Compression::Zstd, &old[..ZSTD_HEADER_LEN]),
            Layout::Stream
        ));
    }
}
