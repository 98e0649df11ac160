//! A blocking reader over an object's byte stream, so that the checks and restores,
//! which read `std::io::Read`, read a remote object as they read a local file.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::io::{self, Read};
use tokio::runtime::Handle;

pub(crate) struct StreamReader {
    rt: Handle,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl StreamReader {
    pub fn new(
        rt: Handle,
        stream: BoxStream<'static, object_store::Result<Bytes>>,
    ) -> StreamReader {
        StreamReader {
            rt,
            stream,
            chunk: Default::default(),
        }
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(next)) => self.chunk = next,
                Some(Err(e)) => {
                    return Err(io::Error::other(super::scrub(&e.to_string())));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}
