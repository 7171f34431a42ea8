//! The one writer of a connection: takes chunks of encoded frames and writes them, joining
//! whatever is queued into a single write so a burst of deliveries costs one syscall.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

/// Past this, a batch is written rather than grown further.
const BATCH_BYTES: usize = 256 * 1024;

pub async fn write_loop<W: AsyncWrite + Unpin>(mut sink: W, mut chunks: UnboundedReceiver<Bytes>) {
    let mut batch = BytesMut::new();
    while let Some(first) = chunks.recv().await {
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
                let r = sink.write_all(&batch).await;
                batch.clear();
                r
            }
        };
        if let Err(e) = result {
            tracing::debug!("write failed, closing: {e}");
            return;
        }
    }
    let _ = sink.flush().await;
    let _ = sink.shutdown().await;
}
