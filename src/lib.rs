//! Warren: an AMQP 0-9-1 message broker that stock RabbitMQ clients use unchanged.
//!
//! # Layout
//! - [`protocol`]: the codec — frames, methods, content headers, field tables. Pure.
//! - [`connection`]: one task per socket — handshake, heartbeats, the channel table, socket output.
//! - [`channel`]: per-channel state — content assembly, publish, consume, acks, confirms, tx.
//! - [`broker`]: vhosts, exchanges, bindings, queues. Knows nothing of frames.
//! - [`error`]: the one mapping from errors to AMQP reply codes and texts.
//! - [`store`]: durable definitions and the message log on disk.
//! - [`server`], [`config`]: the listener and the command line.
//!
//! # Embedding
//! A test can run a broker in-process on an ephemeral loopback port:
//! ```
//! let broker = warren::Broker::start().expect("broker starts");
//! let url = broker.url(); // amqp://guest:guest@127.0.0.1:PORT/%2f
//! assert!(url.starts_with("amqp://guest:guest@127.0.0.1:"));
//! # let addr = broker.addr();
//! # std::net::TcpStream::connect(addr).expect("accepts connections");
//! broker.shutdown(); // also happens on drop
//! ```

pub mod broker;
pub mod channel;
pub mod config;
pub mod connection;
pub mod error;
pub mod hash;
pub mod protocol;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

/// A broker running in the background on its own threads, for tests and embedding.
pub struct Broker {
    addr: SocketAddr,
    core: Arc<broker::Core>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Broker {
    /// Starts a broker on 127.0.0.1 with an ephemeral port.
    pub fn start() -> std::io::Result<Broker> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts a broker on `addr` (port 0 picks a free port), in memory.
    pub fn start_on(addr: SocketAddr) -> std::io::Result<Broker> {
        Self::start_with(addr, None)
    }

    /// Starts a broker on 127.0.0.1 with an ephemeral port that keeps durable state in
    /// `data_dir` and recovers what an earlier broker left there.
    pub fn start_in(data_dir: &Path) -> std::io::Result<Broker> {
        Self::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), Some(data_dir))
    }

    /// Starts a broker on `addr`, with durable state in `data_dir` when given.
    pub fn start_with(addr: SocketAddr, data_dir: Option<&Path>) -> std::io::Result<Broker> {
        let core = Arc::new(match data_dir {
            Some(dir) => broker::Core::open(dir).map_err(std::io::Error::other)?,
            None => broker::Core::new(),
        });
        let serving = core.clone();
        // Bound here, synchronously, so the caller gets the port (and any bind error) at once;
        // the runtime lives on the broker's own thread, so this works inside async tests too.
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("warren")
            .enable_all()
            .build()?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("warren-broker".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => server::serve(vec![l], serving, stop_rx).await,
                        Err(e) => tracing::error!("cannot serve on {addr}: {e}"),
                    }
                });
            })?;
        Ok(Broker {
            addr,
            core,
            stop,
            thread: Some(thread),
        })
    }

    /// The broker's state, for tests that look inside (or inject faults).
    #[doc(hidden)]
    pub fn core(&self) -> &Arc<broker::Core> {
        &self.core
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client connects with: guest/guest on vhost "/".
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// Closes every connection (320 CONNECTION_FORCED) and stops the broker.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
