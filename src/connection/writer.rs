//! The one writer of a connection: takes chunks of encoded frames and writes them, joining
//! whatever is queued into a single write so a burst of deliveries costs one syscall.

use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

/// Past this, a batch is written rather than grown further.
const BATCH_BYTES: usize = 256 * 1024;

/// Writes chunks as they come; `unwritten` drops by what reached the socket, so the
/// connection can tell a peer that does not keep up.
pub async fn write_loop<W: AsyncWrite + Unpin>(
    mut sink: W,
    mut chunks: UnboundedReceiver<Bytes>,
    unwritten: Arc<AtomicUsize>,
) {
    let mut batch = BytesMut::new();
    while let Some(first) = chunks.recv().await {
        let mut written = first.len();
        let result = match chunks.try_recv() {
            // The common case when idle: one chunk, written without copying.
            Err(_) => sink.write_all(&first).await,
            Ok(second) => {
                batch.extend_from_slice(&first);
                batch.extend_from_slice(&second);
                while batch.len() < BATCH_BYTES {
                    match chunks.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                written = batch.len();
                let r = sink.write_all(&batch).await;
                batch.clear();
                r
            }
        };
        if let Err(e) = result {
            tracing::debug!("write failed, closing: {e}");
            return;
        }
        unwritten.fetch_sub(written, Ordering::Relaxed);
    }
    let _ = sink.flush().await;
    let _ = sink.shutdown().await;
}
