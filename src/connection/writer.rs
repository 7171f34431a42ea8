//! The connection's socket output. A turn's frames are written from the connection's own
//! task with one non-blocking write, so a delivery reaches the socket without waking another
//! task; what the socket does not take waits here until it is writable again, and the
//! connection stops taking deliveries while too much waits (see `MAX_UNWRITTEN`).

use bytes::{Buf, BytesMut};
use std::io;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The encoded frames the output buffer keeps room for between turns; a larger buffer (a
/// burst of deliveries) is let go once written, so an idle connection holds little.
const KEEP_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct SocketWriter {
    /// Written frames the socket has not taken yet, in order.
    pending: BytesMut,
}

impl SocketWriter {
    /// Writes `out` after whatever is pending, emptying it.
    pub fn write(&mut self, stream: &TcpStream, out: &mut BytesMut) -> io::Result<()> {
        if self.pending.is_empty() {
            let n = write_some(stream, out)?;
            out.advance(n);
            if !out.is_empty() {
                self.pending = out.split();
            }
        } else {
            self.pending.extend_from_slice(out);
            out.clear();
            self.write_pending(stream)?;
        }
        if out.capacity() > KEEP_CAPACITY {
            *out = BytesMut::new();
        }
        Ok(())
    }

    /// Writes what the socket takes of the pending frames.
    pub fn write_pending(&mut self, stream: &TcpStream) -> io::Result<()> {
        let n = write_some(stream, &self.pending)?;
        self.pending.advance(n);
        if self.pending.is_empty() {
            self.pending = BytesMut::new();
        }
        Ok(())
    }

    /// Bytes written by the connection and not yet taken by the socket.
    pub fn unwritten(&self) -> usize {
        self.pending.len()
    }

    /// The connection has ended: writes what is pending, then shuts the socket down.
    pub async fn finish(mut self, stream: &mut TcpStream) {
        while !self.pending.is_empty() {
            if stream.writable().await.is_err() || self.write_pending(stream).is_err() {
                return;
            }
        }
        let _ = stream.shutdown().await;
    }
}

/// Writes as much of `data` as the socket takes without blocking; how much that was.
fn write_some(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < data.len() {
        match stream.try_write(&data[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
