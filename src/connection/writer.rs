//! The one writer of a connection: takes chunks of encoded frames and writes them, joining
//! whatever is queued into a single write so a burst of deliveries costs one syscall.

use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Past this, a batch is written rather than grown further.
const BATCH_BYTES: usize = 256 * 1024;

/// Chunks on their way from a connection to its writer. A plain vector behind a lock rather
/// than an mpsc channel: a channel holds a block of slots for every idle connection, while
/// this holds nothing but a few pointers until there is something to write.
#[derive(Debug, Default)]
pub struct Outbox {
    state: Mutex<Pending>,
    ready: Notify,
    /// Bytes handed over and not yet written to the socket, so the connection can tell a
    /// peer that does not keep up.
    unwritten: AtomicUsize,
}

#[derive(Debug, Default)]
struct Pending {
    chunks: Vec<Bytes>,
    /// No more chunks will come (the connection ended), or none can be written (the socket
    /// failed).
    closed: bool,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, chunk: Bytes) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        self.unwritten.fetch_add(chunk.len(), Ordering::Relaxed);
        st.chunks.push(chunk);
        drop(st);
        self.ready.notify_one();
    }

    /// The writer writes what is pending, then shuts the socket down.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    pub fn unwritten(&self) -> usize {
        self.unwritten.load(Ordering::Relaxed)
    }
}

/// Writes what the outbox receives until it is closed and empty.
pub async fn write_loop<W: AsyncWrite + Unpin>(mut sink: W, outbox: Arc<Outbox>) {
    let mut batch = BytesMut::new();
    // Swapped with the outbox's vector each round, so neither allocates in steady state.
    let mut taken: Vec<Bytes> = Vec::new();
    loop {
        let idle = {
            let mut st = outbox.lock();
            if st.chunks.is_empty() && st.closed {
                break;
            }
            std::mem::swap(&mut st.chunks, &mut taken);
            taken.is_empty()
        };
        if idle {
            outbox.ready.notified().await;
            continue;
        }
        let written: usize = taken.iter().map(Bytes::len).sum();
        let result = if let [only] = &taken[..] {
            // The common case when idle: one chunk, written without copying.
            sink.write_all(only).await
        } else {
            write_joined(&mut sink, &mut batch, &taken).await
        };
        taken.clear();
        if let Err(e) = result {
            tracing::debug!("write failed, closing: {e}");
            let mut st = outbox.lock();
            st.closed = true;
            st.chunks = Vec::new();
            return;
        }
        outbox.unwritten.fetch_sub(written, Ordering::Relaxed);
    }
    let _ = sink.flush().await;
    let _ = sink.shutdown().await;
}

/// Copies chunks into `batch` and writes it whenever it reaches `BATCH_BYTES`.
async fn write_joined<W: AsyncWrite + Unpin>(
    sink: &mut W,
    batch: &mut BytesMut,
    chunks: &[Bytes],
) -> std::io::Result<()> {
    for c in chunks {
        batch.extend_from_slice(c);
        if batch.len() >= BATCH_BYTES {
            sink.write_all(batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        sink.write_all(batch).await?;
        batch.clear();
    }
    Ok(())
}
