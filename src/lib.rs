//! Warren: an AMQP 0-9-1 message broker that stock RabbitMQ clients use unchanged.
//!
//! # Layout
//! - [`protocol`]: the codec — frames, methods, content headers, field tables. Pure.
//! - [`connection`]: one task per socket — handshake, heartbeats, the channel table, socket output.
//! - [`channel`]: per-channel state — content assembly, publish, consume, acks, confirms, tx.
//! - [`broker`]: vhosts, exchanges, bindings, queues, streams. Knows nothing of frames.
//! - [`error`]: the one mapping from errors to AMQP reply codes and texts.
//! - [`store`]: durable definitions, the message log and streams' segment logs on disk.
//! - [`server`], [`config`]: the listeners and the command line; [`tls`]: amqps settings.
//! - [`testing`]: the test-broker features — snapshots, reset, isolated vhosts, fault injection.
//! - [`ctl`]: `warren ctl`, rabbitmqctl's everyday commands as a client of the management API.
//! - [`testing`]: test-broker features — recording connections' frames, `warren replay` and
//!   `warren diff`.
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
//!
//! With amqps beside plain AMQP (certificate and key as PEM, e.g. made by rcgen in a test):
//! ```no_run
//! # let (cert_pem, key_pem) = (b"", b"");
//! let tls = warren::tls::TlsSettings::from_pem(cert_pem, key_pem)?;
//! let broker = warren::Broker::builder().tls(tls).start()?;
//! let amqps = broker.tls_addr(); // Some(127.0.0.1:PORT)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod broker;
pub mod channel;
pub mod config;
pub mod connection;
pub mod ctl;
pub mod error;
pub mod hash;
pub mod management;
pub mod protocol;
pub mod server;
pub mod store;
pub mod testing;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A broker running in the background on its own threads, for tests and embedding.
pub struct Broker {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    management_addr: Option<SocketAddr>,
    prometheus_addr: Option<SocketAddr>,
    core: Arc<broker::Core>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    /// A data directory the builder made, removed when the broker stops.
    temp_dir: Option<PathBuf>,
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
        let mut builder = Self::builder().listen(addr);
        if let Some(dir) = data_dir {
            builder = builder.data_dir(dir);
        }
        builder.start()
    }

    /// A broker to configure before it starts: address, data directory, amqps.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// The broker's state, for tests that look inside (or inject faults).
    #[doc(hidden)]
    pub fn core(&self) -> &Arc<broker::Core> {
        &self.core
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where amqps connections are accepted, if the broker was built with TLS.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Where the management HTTP API listens, if the broker was built with it.
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.management_addr
    }

    /// Where the Prometheus metrics are served, if the broker was built with them.
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        self.prometheus_addr
    }

    /// The URL a client connects with: guest/guest on vhost "/".
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// The misuse diagnostics report so far, oldest first (see `broker::diagnostics`): what
    /// clients did that usually hides a bug, and what a RabbitMQ 4.x release would refuse.
    pub fn diagnostics(&self) -> Vec<broker::diagnostics::Diagnostic> {
        self.core.diagnostics().snapshot()
    }

    /// The RabbitMQ release this broker behaves as.
    pub fn profile(&self) -> broker::profile::Profile {
        self.core.profile()
    }

    /// Back to the state the broker started in: every connection closed (320), every queue,
    /// exchange, binding, message, vhost, user, limit and policy made since gone, fault
    /// plans and simulated alarms cleared. Then what the builder set up (users, vhosts,
    /// definitions) is there again.
    pub fn reset(&self) {
        self.core.reset();
    }

    /// Queues with their depths, consumers and unacked counts, exchanges, bindings and
    /// connections, now: data for assertions.
    pub fn snapshot(&self) -> testing::Snapshot {
        self.core.snapshot()
    }

    /// Waits until `condition` holds for a snapshot, at most `timeout`; the snapshot that
    /// satisfied it, or the last one taken when time ran out.
    pub fn wait_until(
        &self,
        timeout: std::time::Duration,
        condition: impl Fn(&testing::Snapshot) -> bool,
    ) -> Result<testing::Snapshot, testing::Snapshot> {
        let deadline = std::time::Instant::now() + timeout;
        let mut pause = std::time::Duration::from_micros(200);
        loop {
            let s = self.core.snapshot();
            if condition(&s) {
                return Ok(s);
            }
            if std::time::Instant::now() >= deadline {
                return Err(s);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(10));
        }
    }

    /// A fresh vhost and a user allowed into it only, for one test among many running side
    /// by side; [`testing::IsolatedVhost::url`] with [`Broker::addr`] connects to it.
    pub fn isolated_vhost(&self) -> std::io::Result<testing::IsolatedVhost> {
        self.core.isolated_vhost().map_err(std::io::Error::other)
    }

    /// Arms a fault plan ([`testing::faults`]); its id.
    pub fn inject_fault(&self, plan: testing::FaultPlan) -> u64 {
        self.core.inject_fault(plan)
    }

    /// Clears every fault plan and every fault in force.
    pub fn clear_faults(&self) {
        self.core.clear_faults();
    }

    /// Raises or clears a simulated disk or memory alarm: publishers are blocked as by the
    /// real one.
    pub fn simulate_alarm(&self, resource: broker::alarm::Resource, raised: bool) {
        self.core.simulate_alarm(resource, raised);
    }

    /// What kill -9 and a restart do to the data, in place: connections dropped without a
    /// close, every vhost recovered from the data directory without the clean-shutdown
    /// index. The broker keeps its ports.
    pub fn crash_and_recover(&self) -> std::io::Result<()> {
        self.core.crash_and_recover().map_err(std::io::Error::other)
    }

    /// Starts recording, frame by frame, the connections `selector` takes from now on (see
    /// [`testing`]): the transcript is kept in memory until the handle stops it.
    pub fn record(&self, selector: testing::Selector) -> testing::RecordingHandle {
        let recording = self.core.recordings().start(selector);
        testing::RecordingHandle::new(recording, self.core.clone())
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
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// How an embedded broker starts; [`Broker::start`] and friends are shorthands.
#[derive(Debug, Default)]
pub struct BrokerBuilder {
    addr: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    tls: Option<tls::TlsSettings>,
    management: bool,
    prometheus: bool,
    profile: broker::profile::Profile,
    temp_data_dir: bool,
    users: Vec<(String, String)>,
    vhosts: Vec<String>,
    definitions: Option<Vec<u8>>,
    /// `--anonymous-login`; None keeps guest/guest.
    anonymous_login: Option<Option<(String, String)>>,
}

impl BrokerBuilder {
    /// Where plain AMQP is accepted; port 0 picks a free port. Default: 127.0.0.1:0.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Keeps durable state in `dir` and recovers what an earlier broker left there. Default:
    /// in memory.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Also accepts amqps, on the plain listener's IP and a free port ([`Broker::tls_addr`]).
    pub fn tls(mut self, settings: tls::TlsSettings) -> Self {
        self.tls = Some(settings);
        self
    }

    /// Also serves the management HTTP API, on the plain listener's IP and a free port
    /// ([`Broker::management_addr`]).
    pub fn management(mut self) -> Self {
        self.management = true;
        self
    }

    /// Also serves the Prometheus metrics (rabbitmq_prometheus's `/metrics`), on the plain
    /// listener's IP and a free port ([`Broker::prometheus_addr`]).
    pub fn prometheus(mut self) -> Self {
        self.prometheus = true;
        self
    }

    /// Behaves as a RabbitMQ release where releases differ (`--profile`). Default:
    /// [`broker::profile::Profile::Default`].
    pub fn profile(mut self, profile: broker::profile::Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Keeps durable state in a new directory under the system's temporary one, removed
    /// when the broker stops: durability and crash tests without a directory to manage.
    pub fn temp_data_dir(mut self) -> Self {
        self.temp_data_dir = true;
        self
    }

    /// Adds a user tagged administrator with every permission on every vhost (`--user`).
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }

    /// Adds a vhost (`--vhost`).
    pub fn vhost(mut self, name: &str) -> Self {
        self.vhosts.push(name.to_owned());
        self
    }

    /// Whom SASL ANONYMOUS logs in as, or None to stop offering it (`--anonymous-login`).
    /// Default: guest/guest, offered under the default and 4.x profiles.
    pub fn anonymous_login(mut self, login: Option<(&str, &str)>) -> Self {
        self.anonymous_login = Some(login.map(|(u, p)| (u.to_owned(), p.to_owned())));
        self
    }

    /// Imports a RabbitMQ definitions document at start (`--definitions`).
    pub fn definitions(mut self, json: &[u8]) -> Self {
        self.definitions = Some(json.to_vec());
        self
    }

    pub fn start(self) -> std::io::Result<Broker> {
        let addr = self
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let tls_config = match &self.tls {
            Some(settings) => Some(
                settings
                    .server_config()
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            ),
            None => None,
        };
        let temp_dir = match (&self.data_dir, self.temp_data_dir) {
            (None, true) => Some(testing::temp_dir()?),
            _ => None,
        };
        let mut core = match self.data_dir.as_ref().or(temp_dir.as_ref()) {
            Some(dir) => broker::Core::open_as(dir, self.profile).map_err(std::io::Error::other)?,
            None => broker::Core::new(),
        };
        core.set_profile(self.profile);
        if let Some(login) = self.anonymous_login {
            core.set_anonymous_login(login);
        }
        let core = Arc::new(core);
        for name in &self.vhosts {
            core.add_vhost(name).map_err(std::io::Error::other)?;
        }
        for (name, password) in &self.users {
            core.add_admin(name, password);
        }
        if let Some(defs) = &self.definitions {
            core.import_definitions(defs)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        }
        core.mark_initial();
        let serving = core.clone();
        // Bound here, synchronously, so the caller gets the ports (and any bind error) at once;
        // the runtime lives on the broker's own thread, so this works inside async tests too.
        let bind = |addr: SocketAddr| {
            let l = std::net::TcpListener::bind(addr)?;
            l.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(l)
        };
        let plain = bind(addr)?;
        let addr = plain.local_addr()?;
        let mut bound = vec![(plain, None)];
        let mut tls_addr = None;
        if let Some(config) = tls_config {
            let l = bind(SocketAddr::new(addr.ip(), 0))?;
            tls_addr = Some(l.local_addr()?);
            bound.push((l, Some(config)));
        }
        let management = if self.management {
            Some(bind(SocketAddr::new(addr.ip(), 0))?)
        } else {
            None
        };
        let management_addr = match &management {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let prometheus = if self.prometheus {
            Some(bind(SocketAddr::new(addr.ip(), 0))?)
        } else {
            None
        };
        let prometheus_addr = match &prometheus {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
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
                    let mut listeners = Vec::new();
                    for (l, tls) in bound {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(tcp) => listeners.push(server::Listener { tcp, tls }),
                            Err(e) => tracing::error!("cannot serve on {addr}: {e}"),
                        }
                    }
                    let rates = Arc::new(management::rates::Rates::default());
                    if management.is_some() || prometheus.is_some() {
                        tokio::spawn(management::rates::sample_until(
                            rates.clone(),
                            serving.clone(),
                            stop_rx.clone(),
                        ));
                    }
                    if let Some(l) = management {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(l) => {
                                let infos = server::listener_infos(&listeners);
                                tokio::spawn(management::serve(
                                    l,
                                    serving.clone(),
                                    infos,
                                    rates.clone(),
                                    stop_rx.clone(),
                                ));
                            }
                            Err(e) => tracing::error!("cannot serve the management API: {e}"),
                        }
                    }
                    if let Some(l) = prometheus {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(l) => {
                                tokio::spawn(management::prometheus::serve(
                                    l,
                                    serving.clone(),
                                    rates,
                                    stop_rx.clone(),
                                ));
                            }
                            Err(e) => tracing::error!("cannot serve the Prometheus metrics: {e}"),
                        }
                    }
                    server::serve(listeners, serving, stop_rx).await;
                });
            })?;
        Ok(Broker {
            addr,
            tls_addr,
            management_addr,
            prometheus_addr,
            core,
            stop,
            thread: Some(thread),
            temp_dir,
        })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
