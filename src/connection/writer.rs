//! The connection's socket output. A turn's frames are written from the connection's own
//! task with one non-blocking write, so a delivery reaches the socket without waking another
//! task; what the socket does not take waits here until it is writable again, and the
//! connection stops taking deliveries while too much waits (see `MAX_UNWRITTEN`).

use super::transport::Transport;
use bytes::{Buf, BytesMut};
use std::io;

/// The output buffer is reused from turn to turn while turns fill at least a quarter of it
/// (a busy consumer does not reallocate it per turn), up to this size; a larger buffer, or
/// one that turns no longer fill, is let go once written.
const KEEP_CAPACITY: usize = 64 * 1024;
/// An output buffer this small is always kept: an idle connection holds no more than this.
const SMALL_CAPACITY: usize = 1024;

#[derive(Debug, Default)]
pub struct SocketWriter {
    /// Written frames the socket has not taken yet, in order.
    pending: BytesMut,
}

impl SocketWriter {
    /// Writes `out` after whatever is pending, emptying it.
    pub fn write<T: Transport>(&mut self, io: &mut T, out: &mut BytesMut) -> io::Result<()> {
        let used = out.len();
        if self.pending.is_empty() {
            let n = io.write(out)?;
            if n < out.len() {
                out.advance(n);
                self.pending = out.split();
            }
            // Emptied in place, so the whole allocation stays usable.
            out.clear();
        } else {
            self.pending.extend_from_slice(out);
            out.clear();
            self.write_pending(io)?;
        }
        let room = out.capacity();
        if room > KEEP_CAPACITY || (room > SMALL_CAPACITY && used < room / 4) {
            *out = BytesMut::new();
        }
        Ok(())
    }

    /// Writes what the socket takes of the pending frames (and of what the transport holds).
    pub fn write_pending<T: Transport>(&mut self, io: &mut T) -> io::Result<()> {
        let n = io.write(&self.pending)?;
        self.pending.advance(n);
        if self.pending.is_empty() {
            self.pending = BytesMut::new();
        }
        Ok(())
    }

    /// Bytes written by the connection and not yet taken by the transport.
    pub fn unwritten(&self) -> usize {
        self.pending.len()
    }

    /// The connection has ended: writes what is pending, then shuts the stream down.
    pub async fn finish<T: Transport>(mut self, io: &mut T) {
        while !self.pending.is_empty() || io.buffered() {
            if io.writable().await.is_err() || self.write_pending(io).is_err() {
                return;
            }
        }
        io.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn a_busy_buffer_is_reused_and_an_idle_one_let_go() {
        let (mut ours, mut theirs) = pair().await;
        let mut w = SocketWriter::default();
        let mut out = BytesMut::with_capacity(48 * 1024);
        out.resize(40 * 1024, 7);
        w.write(&mut ours, &mut out).unwrap();
        assert_eq!(w.unwritten(), 0, "loopback takes 40 KiB at once");
        assert!(
            out.is_empty() && out.capacity() >= 40 * 1024,
            "kept while turns fill it"
        );

        out.extend_from_slice(b"heartbeat");
        w.write(&mut ours, &mut out).unwrap();
        assert!(
            out.capacity() <= SMALL_CAPACITY,
            "let go once turns are small"
        );

        let mut got = vec![0; 40 * 1024 + 9];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[40 * 1024..], b"heartbeat");
    }

    #[tokio::test]
    async fn what_the_socket_does_not_take_waits_in_order() {
        let (mut ours, mut theirs) = pair().await;
        let mut w = SocketWriter::default();
        // Far more than loopback socket buffers hold while nobody reads.
        let total = 64 << 20;
        let mut sent = 0usize;
        while w.unwritten() == 0 && sent < total {
            let mut out = BytesMut::new();
            out.extend((0..64 * 1024).map(|i| ((sent + i) % 251) as u8));
            sent += out.len();
            w.write(&mut ours, &mut out).unwrap();
            assert!(out.is_empty());
        }
        assert!(w.unwritten() > 0, "the socket filled up");
        let reader = tokio::spawn(async move {
            let mut got = vec![0; sent];
            theirs.read_exact(&mut got).await.unwrap();
            got
        });
        while w.unwritten() > 0 {
            ours.writable().await.unwrap();
            w.write_pending(&mut ours).unwrap();
        }
        let got = reader.await.unwrap();
        assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    }
}
