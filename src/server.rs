//! The listeners: accept sockets on every configured address (amqp, and amqps with TLS), one
//! task per connection, and a shutdown that closes every connection with 320
//! CONNECTION_FORCED.

use crate::broker::Core;
use crate::connection;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long shutdown waits for connections to finish their close handshake.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A bound socket, and the TLS configuration of an amqps listener.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Listener {
    pub fn plain(tcp: TcpListener) -> Self {
        Listener { tcp, tls: None }
    }

    pub fn tls(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        Listener {
            tcp,
            tls: Some(config),
        }
    }
}

/// The listeners as the management API reports them.
pub fn listener_infos(listeners: &[Listener]) -> Vec<crate::management::ListenerInfo> {
    listeners
        .iter()
        .filter_map(|l| {
            Some(crate::management::ListenerInfo {
                protocol: if l.tls.is_some() { "amqp/ssl" } else { "amqp" },
                addr: l.tcp.local_addr().ok()?,
            })
        })
        .collect()
}

/// Binds every address; fails if any cannot be bound.
pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        listeners.push(l);
    }
    Ok(listeners)
}

/// Serves until `shutdown` turns true, then closes every connection and stops the message
/// stores (`Core::close`), cleanly if every connection finished its close in time.
pub async fn serve(listeners: Vec<Listener>, core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    // The acceptors, and the resource alarms' monitor.
    let mut acceptors = JoinSet::new();
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
    for Listener { tcp: listener, tls } in listeners {
        if let Ok(addr) = listener.local_addr() {
            let over = if tls.is_some() { " over TLS" } else { "" };
            tracing::info!("accepting AMQP 0-9-1 connections{over} on {addr}");
        }
        let tx = conn_tx.clone();
        acceptors.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        if tx.send((stream, peer, tls.clone())).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::error!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    drop(conn_tx);
    let monitored = core.clone();
    acceptors.spawn(async move {
        let (memory_every, disk_every) = (
            crate::broker::memory::CHECK_INTERVAL,
            crate::broker::alarm::CHECK_INTERVAL,
        );
        let disk_ticks = (disk_every.as_millis() / memory_every.as_millis()).max(1);
        let mut tick = 0u128;
        loop {
            if tick.is_multiple_of(disk_ticks) {
                monitored.disk_alarm().check();
            }
            if monitored.memory_alarm().check() {
                // Paging locks queues and copies bodies: off the async workers.
                tokio::task::block_in_place(|| monitored.page_out());
            }
            // However the memory alarm cleared (this monitor, a new watermark, a test),
            // consumers it held back may take again.
            if monitored.memory_alarm().take_held() {
                tokio::task::block_in_place(|| monitored.dispatch_all());
            }
            tick += 1;
            tokio::time::sleep(memory_every).await;
        }
    });
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some((stream, peer, tls)) = conn_rx.recv() => {
                tracing::debug!(%peer, "accepted socket");
                match tls {
                    None => connections.spawn(connection::serve(stream, peer, core.clone(), shutdown.clone())),
                    Some(config) => connections.spawn(connection::serve_tls(stream, peer, core.clone(), config, shutdown.clone())),
                };
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    acceptors.abort_all();
    let drain = async { while connections.join_next().await.is_some() {} };
    let clean = tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_ok();
    if !clean {
        tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}, aborted");
        connections.abort_all();
    }
    tokio::task::block_in_place(|| core.close(clean));
    tracing::info!("broker stopped");
}
