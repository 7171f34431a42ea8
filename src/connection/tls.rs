//! TLS on TCP as a [`Transport`]. rustls' `ServerConnection` does no I/O itself: ciphertext
//! read from the socket goes into it and the plaintext it yields is appended to the
//! connection's read buffer; plaintext the connection writes goes into it and the records it
//! makes go to the socket with the same non-blocking writes as plain TCP. Whatever records
//! the socket does not take wait inside rustls (at most its 64 KiB buffer limit); the rest of
//! the connection's output waits in the `SocketWriter` as plaintext, so backpressure works
//! as on plain TCP.

use super::transport::Transport;
use bytes::BytesMut;
use rustls::ServerConnection;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Ciphertext taken from the socket per read, as much as a plain connection reads.
const CIPHERTEXT_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Where ciphertext lands between the socket and rustls. A read hands all of it to rustls
    /// before it returns, so one buffer per worker thread serves every TLS connection and an
    /// idle connection holds none.
    static CIPHERTEXT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A TLS connection whose handshake is done.
pub struct TlsStream {
    tcp: TcpStream,
    tls: ServerConnection,
    /// The client sent close_notify: nothing more will be read.
    closed: bool,
}

/// Runs the TLS handshake on an accepted socket. Application data that arrived with the
/// client's last handshake flight is returned beside the stream.
pub async fn accept(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<(TlsStream, BytesMut)> {
    let tls = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut s = TlsStream {
        tcp,
        tls,
        closed: false,
    };
    let mut early = BytesMut::new();
    while s.tls.is_handshaking() {
        s.flush_tls()?;
        if s.tls.wants_write() {
            s.tcp.writable().await?;
            continue;
        }
        s.tcp.readable().await?;
        match s.read(&mut early) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the socket during the TLS handshake",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    s.flush_tls()?;
    Ok((s, early))
}

impl TlsStream {
    /// The client's certificate, if it sent one; rustls has verified it against the client
    /// CA (no certificate is asked for without one).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.tls
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref())
    }

    /// Hands the records rustls holds to the socket until they are written or it is full.
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut TryWrite(&self.tcp)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Feeds `ciphertext` to rustls, appending the plaintext to `buf`.
    fn decrypt(&mut self, mut ciphertext: &[u8], buf: &mut BytesMut) -> io::Result<()> {
        while !ciphertext.is_empty() && !self.closed {
            if self.tls.read_tls(&mut ciphertext)? == 0 {
                break;
            }
            let state = match self.tls.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // rustls has queued the alert that tells the client why.
                    let _ = self.flush_tls();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            };
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = buf.len();
                buf.resize(start + n, 0);
                self.tls.reader().read_exact(&mut buf[start..])?;
            }
            self.closed = state.peer_has_closed();
        }
        Ok(())
    }
}

impl Transport for TlsStream {
    async fn readable(&self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.tcp.readable().await
    }

    fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if self.closed {
            return Ok(0);
        }
        let start = buf.len();
        let eof = CIPHERTEXT.with_borrow_mut(|ciphertext| {
            if ciphertext.len() < CIPHERTEXT_CHUNK {
                ciphertext.resize(CIPHERTEXT_CHUNK, 0);
            }
            let got = read_ready(&mut self.tcp, ciphertext)?;
            self.decrypt(&ciphertext[..got], buf)?;
            Ok::<_, io::Error>(got == 0)
        })?;
        // Post-handshake messages (session tickets, key updates) and alerts go out now;
        // an error here shows on the next write.
        if self.tls.wants_write() {
            let _ = self.flush_tls();
        }
        match buf.len() - start {
            0 if eof || self.closed => Ok(0),
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    async fn writable(&self) -> io::Result<()> {
        self.tcp.writable().await
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.flush_tls()?;
        let mut taken = 0;
        while taken < data.len() && !self.tls.wants_write() {
            let n = self.tls.writer().write(&data[taken..])?;
            if n == 0 {
                break;
            }
            taken += n;
            self.flush_tls()?;
        }
        Ok(taken)
    }

    fn buffered(&self) -> bool {
        self.tls.wants_write()
    }

    async fn shutdown(&mut self) {
        self.tls.send_close_notify();
        while self.tls.wants_write() {
            if self.flush_tls().is_err() {
                return;
            }
            if self.tls.wants_write() && self.tcp.writable().await.is_err() {
                return;
            }
        }
        let _ = AsyncWriteExt::shutdown(&mut self.tcp).await;
    }
}

/// One read of ciphertext into `into`, through `AsyncRead` so that a short read marks the
/// socket not ready (see `transport::read_ready`); `WouldBlock` if nothing was there.
fn read_ready(tcp: &mut TcpStream, into: &mut [u8]) -> io::Result<usize> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut rb = ReadBuf::new(into);
    match Pin::new(tcp).poll_read(&mut cx, &mut rb) {
        Poll::Ready(Ok(())) => Ok(rb.filled().len()),
        Poll::Ready(Err(e)) => Err(e),
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// The socket as a non-blocking `io::Write` for rustls' `write_tls`: one `writev` for all
/// the records it holds.
struct TryWrite<'a>(&'a TcpStream);

impl Write for TryWrite<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
