//! The byte stream under a connection. A connection reads and writes through [`Transport`],
//! so plain TCP and TLS share the one batched, one-task-per-connection path: readiness comes
//! from the socket, reads and writes never block, and the connection decides when to wait.
//!
//! Plain TCP is `TcpStream` itself: every method is the socket call the connection made
//! before there was a seam, and `buffered` is a constant `false` the compiler folds away.

use bytes::BytesMut;
use std::future::Future;
use std::io;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A non-blocking byte stream driven by socket readiness.
pub trait Transport: Send + 'static {
    /// Resolves when `read` may have bytes for the connection; it may still say `WouldBlock`.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Appends what can be read now to `buf`, growing it as needed: `Ok(0)` at the end of
    /// the stream, `WouldBlock` when nothing is there.
    fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize>;

    /// Resolves when the socket may take more bytes.
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Takes as much of `data` as it can without blocking; how much that was. What it took is
    /// on the socket, or (`buffered`) held by the transport until the socket takes it.
    fn write(&mut self, data: &[u8]) -> io::Result<usize>;

    /// The transport holds bytes it took that the socket has not: wait for `writable`, then
    /// `write` (even an empty slice) moves them on.
    fn buffered(&self) -> bool;

    /// The connection has ended and everything was written: ends the stream cleanly.
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send;
}

impl Transport for TcpStream {
    async fn readable(&self) -> io::Result<()> {
        TcpStream::readable(self).await
    }

    fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        read_ready(self, buf)
    }

    async fn writable(&self) -> io::Result<()> {
        TcpStream::writable(self).await
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        write_some(self, data)
    }

    fn buffered(&self) -> bool {
        false
    }

    async fn shutdown(&mut self) {
        let _ = AsyncWriteExt::shutdown(self).await;
    }
}

/// One read from a socket that reported itself readable; `WouldBlock` if it was not after all.
/// Unlike `try_read_buf`, this goes through `AsyncRead`, which marks the socket not ready
/// after a short read: the next `readable()` then waits for epoll instead of costing a
/// `recv` that returns EAGAIN on every message of a lightly loaded connection.
pub(super) fn read_ready(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match tokio_util::io::poll_read_buf(std::pin::Pin::new(stream), &mut cx, buf) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// Writes as much of `data` as the socket takes without blocking; how much that was.
pub(super) fn write_some(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
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

/// Waits for bytes and appends them to `buf`: `Ok(0)` at the end of the stream. For the
/// handshake, before the connection's own loop runs.
pub async fn read_buf<T: Transport>(io: &mut T, buf: &mut BytesMut) -> io::Result<usize> {
    loop {
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        match io.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
        io.readable().await?;
    }
}

/// Writes all of `data` and waits until the socket has it. For the handshake.
pub async fn write_all<T: Transport>(io: &mut T, mut data: &[u8]) -> io::Result<()> {
    loop {
        let n = io.write(data)?;
        data = &data[n..];
        if data.is_empty() && !io.buffered() {
            return Ok(());
        }
        io.writable().await?;
    }
}
