//! One task per socket: the handshake, then a loop that reads frames, runs them through the
//! channels, takes deliveries from queues, keeps heartbeats, and writes the encoded output.

mod faults;
mod handshake;
pub mod tls;
pub mod transport;
mod writer;

pub use faults::send_later;
pub use handshake::{CHANNEL_MAX, External, FRAME_MAX, HEARTBEAT, server_properties};

use crate::broker::alarm::AlarmSet;
use crate::broker::churn;
use crate::broker::connection_info::{ConnectionInfo, ConnectionStats};
use crate::broker::consumer::{DurabilityNotice, Outbound};
use crate::broker::diagnostics::{Kind, Origin};
use crate::broker::memory::{self, MemoryAlarm};
use crate::broker::message::INLINE_BELOW;
use crate::broker::profile::{FRAME_MIN_4_1, Profile};
use crate::broker::{Core, VHost};
use crate::channel::assembler::{Assembler, ChannelFrame};
use crate::channel::{Channel, Context};
use crate::error::AmqpError;
use crate::hash::LocalMap;
use crate::protocol::frame::{FRAME_HEARTBEAT, FRAME_METHOD, describe_frame, write_frame};
use crate::protocol::methods::*;
use crate::protocol::publish::PublishCommand;
use crate::protocol::{Frame, FrameError, Method};
use crate::testing::recorder::Tapped;
use bytes::{Buf, Bytes, BytesMut};
use handshake::{HandshakeError, Negotiated};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use transport::Transport;
use writer::SocketWriter;

/// A socket that does not finish the handshake in this time is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing side waits for the peer's close-ok.
const CLOSE_OK_TIMEOUT: Duration = Duration::from_secs(3);
/// Deliveries taken from the event queue per turn, so reading is never starved.
const EVENTS_PER_TURN: usize = 512;
/// Read buffer growth step: one read takes up to this much.
const READ_CHUNK: usize = 64 * 1024;
/// Past this much output not yet written, the connection takes no more deliveries.
const MAX_UNWRITTEN: usize = 4 * 1024 * 1024;
/// Output past this is written mid-turn.
const FLUSH_BYTES: usize = 128 * 1024;
/// Work (frames handled, KiB of them, queues a message was pushed to) after which a
/// connection stops handling its buffered input, stops reading, and yields the worker to
/// other tasks. A read of small publishes (64 KiB, about 1,300 messages of one queue each)
/// stays under it, so ordinary publishers are not sliced finer than their reads; a read of
/// large fanouts is cut after a few hundred microseconds of pushes.
const WORK_PER_TURN: u32 = 4096;
/// The longest a connection handles buffered input before it yields, whatever the work
/// (routing long keys through many wildcard bindings costs neither frames nor pushes).
const MAX_TURN: Duration = Duration::from_millis(1);
/// Open channels on one connection at which the diagnostics report a likely leak: an
/// application needs a few, one that opens a channel per operation and never closes it
/// reaches this.
pub const CHANNEL_LEAK: usize = 100;

/// Frame I/O on the whole stream, used until the handshake is done.
pub struct FrameIo<T> {
    io: T,
    /// Bytes read and not yet decoded; what is left goes on to the connection's loop.
    buf: BytesMut,
    frame_max: u32,
}

impl<T: Transport> FrameIo<T> {
    /// `frame_max`: the largest frame accepted until tune-ok sets the negotiated one.
    fn new(io: T, frame_max: u32) -> Self {
        FrameIo {
            io,
            buf: BytesMut::with_capacity(1024),
            frame_max,
        }
    }

    async fn send(&mut self, m: Method) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        write_frame(&mut out, FRAME_METHOD, 0, |o| m.encode(o));
        transport::write_all(&mut self.io, &out).await
    }

    /// Reads more bytes into the buffer; `Ok(0)` at the end of the stream.
    async fn read_more(&mut self) -> std::io::Result<usize> {
        transport::read_buf(&mut self.io, &mut self.buf).await
    }

    async fn read_frame(&mut self) -> Result<Option<Frame>, HandshakeError> {
        loop {
            match Frame::decode(&mut self.buf, self.frame_max) {
                Ok(Some(f)) => return Ok(Some(f)),
                Ok(None) => {}
                Err(e) => return Err(HandshakeError::Refused(e.to_string())),
            }
            if self.read_more().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Sends connection.close and waits (briefly) for close-ok.
    async fn close_with(&mut self, e: &AmqpError) {
        if self.send(e.close_method()).await.is_err() {
            return;
        }
        let wait = async {
            while let Ok(Some(f)) = self.read_frame().await {
                if matches!(f, Frame::Method(0, Method::ConnectionCloseOk(_))) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_OK_TIMEOUT, wait).await;
        self.io.shutdown().await;
    }
}

/// Serves one accepted socket until it closes or the broker shuts down.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    core: Arc<Core>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(peer);
    let stream = Tapped::new(stream, core.recordings().tap());
    let handshake = async {
        let mut io = FrameIo::new(stream, core.profile().handshake_frame_max());
        handshake::read_protocol_header(&mut io).await?;
        let n = handshake::negotiate(&mut io, &core, peer, &External::NotOffered).await?;
        Ok::<_, HandshakeError>((io, n))
    };
    serve_handshake(
        Box::pin(handshake),
        (peer, local, false),
        core.clone(),
        shutdown,
    )
    .await;
}

/// Serves one socket accepted on an amqps listener: the TLS handshake, then as `serve`.
pub async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    core: Arc<Core>,
    config: Arc<rustls::ServerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(peer);
    let handshake = async {
        let (stream, early) = tls::accept(stream, config)
            .await
            .map_err(HandshakeError::Tls)?;
        let external = External::from_certificate(stream.peer_certificate());
        let mut stream = Tapped::new(stream, core.recordings().tap());
        stream.observe_read(&early);
        let mut io = FrameIo::new(stream, core.profile().handshake_frame_max());
        io.buf.unsplit(early);
        handshake::read_protocol_header(&mut io).await?;
        let n = handshake::negotiate(&mut io, &core, peer, &external).await?;
        Ok::<_, HandshakeError>((io, n))
    };
    serve_handshake(
        Box::pin(handshake),
        (peer, local, true),
        core.clone(),
        shutdown,
    )
    .await;
}

/// Runs `handshake` within `HANDSHAKE_TIMEOUT`, then the connection it opened. The
/// handshake comes boxed: an async fn keeps its arguments' room for its whole life, so an
/// unboxed handshake's state would sit in every connection's task until it closes.
async fn serve_handshake<T: Transport>(
    handshake: std::pin::Pin<
        Box<impl Future<Output = Result<(FrameIo<T>, Negotiated), HandshakeError>>>,
    >,
    (peer, local, tls): (SocketAddr, SocketAddr, bool),
    core: Arc<Core>,
    mut shutdown: watch::Receiver<bool>,
) {
    // No named locals for what the handshake returns: a local's room in this future lasts
    // to the end of its scope, moved out or not.
    let (
        FrameIo {
            io: mut stream,
            buf,
            ..
        },
        n,
    ) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(HandshakeError::BadHeader(h))) if h.is_empty() => {
            // A port probe or health check: connected and left without a word.
            tracing::debug!(%peer, "socket closed before sending a protocol header");
            return;
        }
        Ok(Err(HandshakeError::BadHeader(h))) => {
            tracing::warn!(%peer, "closing connection: bad AMQP protocol header {h:?}");
            return;
        }
        Ok(Err(HandshakeError::Tls(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!(%peer, "socket closed during the TLS handshake");
            return;
        }
        Ok(Err(e)) => {
            tracing::warn!(%peer, "closing connection during handshake: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, "closing connection: handshake not finished in {HANDSHAKE_TIMEOUT:?}");
            return;
        }
    };
    // Set up outside this future: what only the set-up uses takes no room in a task that
    // lives as long as the connection.
    let (mut conn, events_rx) = open(n, (peer, local, tls), &core);
    conn.run(&mut stream, buf, events_rx, &mut shutdown).await;
    conn.cleanup();
    if conn.dropped {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.writer.finish(&mut stream)).await;
}

/// The connection a handshake negotiated, registered with the broker, and where queues
/// send it deliveries.
fn open(
    n: Negotiated,
    (peer, local, tls): (SocketAddr, SocketAddr, bool),
    core: &Arc<Core>,
) -> (Connection, mpsc::UnboundedReceiver<Outbound>) {
    tracing::info!(%peer, user = %n.user, vhost = %n.vhost.name, "connection opened");
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let mut conn = Connection {
        peer,
        session: Session {
            id: core.next_connection_id(),
            vhost: n.vhost.clone(),
            settings: n,
            out: BytesMut::new(),
            durability: Arc::new(DurabilityNotice(events_tx.clone())),
            replies: core.replies().clone(),
            core: core.clone(),
            events_tx,
            max_message_size: core.max_message_size(),
            open_channels: Arc::default(),
            origin: Origin::default(),
            consumer_timeout: core.consumer_timeout(),
            confirm_fault: None,
            shortest_timeout: None,
            work: 0,
        },
        channels: LocalMap::default(),
        writer: SocketWriter::default(),
        state: State::Running,
        alarms: core.alarms().clone(),
        memory: core.memory_alarm().clone(),
        closed_by_client: false,
        input_left: false,
        channels_closed: false,
        blocked: false,
        io_counts: IoCounts::default(),
        faults: None,
        dropped: false,
        close_ok_sent: false,
        close_written: Vec::new(),
    };
    let s = &mut conn.session.settings;
    let info = ConnectionInfo {
        id: conn.session.id,
        name: ConnectionInfo::name_of(peer, local),
        peer,
        local,
        tls,
        user: s.user.clone(),
        vhost: conn.session.vhost.name.clone(),
        client_properties: std::mem::take(&mut s.client_properties),
        auth_mechanism: std::mem::take(&mut s.auth_mechanism),
        connected_at: crate::broker::timer::now_ms(),
        channel_max: s.channel_max,
        frame_max: s.frame_max,
        heartbeat: s.heartbeat,
    };
    conn.session.origin = Origin {
        id: info.id,
        name: info.name.clone(),
        client_name: info
            .client_properties
            .get("connection_name")
            .and_then(crate::protocol::FieldValue::as_str)
            .map(str::to_owned),
        user: info.user.clone(),
        vhost: info.vhost.clone(),
    };
    conn.opened_diagnostics();
    let plans = core.register_connection(
        Arc::new(info),
        conn.session.events_tx.clone(),
        conn.session.open_channels.clone(),
    );
    for plan in plans {
        conn.on_fault_event(crate::testing::faults::FaultEvent::Plan(plan, None));
    }
    (conn, events_rx)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// We sent connection.close and wait for close-ok until the deadline.
    Closing(Instant),
    Closed,
}

enum Slot {
    Open(Box<Channel>),
    /// We sent channel.close; everything but close-ok is dropped.
    Closing,
    /// The client closed it in the bytes being processed. As RabbitMQ does, what it sent on
    /// the channel after channel.close in the same read is dropped (clients such as lapin
    /// can queue a frame behind their own close); forgotten once that read is processed, so
    /// a frame sent after close-ok is an error again.
    ClosedByClient,
}

/// What the channels of a connection share; lent to a channel as its `Context`.
struct Session {
    id: u64,
    vhost: Arc<VHost>,
    settings: Negotiated,
    /// Frames encoded this turn, written at its end.
    out: BytesMut,
    events_tx: mpsc::UnboundedSender<Outbound>,
    durability: Arc<dyn crate::store::Durability>,
    replies: Arc<crate::broker::reply_to::Registry>,
    /// For the access model: a change to it (permissions cleared, say) applies to the next
    /// method, as in RabbitMQ.
    core: Arc<Core>,
    /// `--max-message-size`, read once at open as RabbitMQ's channels read it at start.
    max_message_size: u64,
    /// Channels open (not closing): shared with the broker's connection table, which sums
    /// them per user for the max-channels limit.
    open_channels: Arc<AtomicU32>,
    /// Who this connection is, as the diagnostics report names it.
    origin: Origin,
    /// RabbitMQ's `consumer_timeout`, read once at open; None: deliveries wait forever.
    consumer_timeout: Option<Duration>,
    /// A fault test injected into this connection's publisher confirms.
    confirm_fault: Option<crate::testing::faults::ConfirmFault>,
    /// The shortest `x-consumer-timeout` its consumers or their queues asked for.
    shortest_timeout: Option<Duration>,
    /// Work done since the connection last yielded (see `WORK_PER_TURN`).
    work: u32,
}

impl Session {
    /// Inlined: built for every publish.
    #[inline]
    fn context(&mut self) -> Context<'_> {
        let access = self.core.access();
        if access.epoch() != self.settings.grant.epoch {
            let (user, vhost) = (&self.settings.user, &self.vhost.name);
            self.settings.grant = access
                .grant(user, vhost)
                .unwrap_or_else(|| access.no_grant(user, vhost));
        }
        Context {
            vhost: &self.vhost,
            connection: self.id,
            user: &self.settings.user,
            grant: &self.settings.grant,
            frame_max: self.settings.frame_max,
            max_message_size: self.max_message_size,
            sink: &self.events_tx,
            out: &mut self.out,
            durability: &self.durability,
            replies: &self.replies,
            profile: self.core.profile(),
            diagnostics: self.core.diagnostics(),
            origin: &self.origin,
            confirm_fault: &mut self.confirm_fault,
            shortest_timeout: &mut self.shortest_timeout,
            work: &mut self.work,
            memory: self.core.memory_alarm(),
        }
    }

    /// Records a diagnostics item about this connection (and one of its channels).
    fn diagnose(&self, channel: Option<u16>, kind: Kind, detail: impl Into<String>) {
        self.core
            .diagnostics()
            .record(&self.origin, channel, kind, detail, None);
    }
}

/// The body bytes a connection's channels may have announced and not yet sent in full.
const MAX_CONTENT_IN_FLIGHT: u64 = 256 << 20;
/// Bodies from this size on are checked against `MAX_CONTENT_IN_FLIGHT`.
const CHECK_CONTENT_FROM: u64 = 64 << 10;

struct Connection {
    peer: SocketAddr,
    session: Session,
    channels: LocalMap<u16, Slot>,
    writer: SocketWriter,
    state: State,
    /// The resource alarms up; any blocks a publishing connection.
    alarms: Arc<AlarmSet>,
    /// Polled at every read, so a publisher flood is blocked at once when memory runs out.
    memory: Arc<MemoryAlarm>,
    /// A channel is `Slot::ClosedByClient` until the current read is processed.
    closed_by_client: bool,
    /// Whole frames wait in the read buffer because a turn's work was done.
    input_left: bool,
    /// `close_channels` has run (no channel can open after it): the vhost is not scanned for
    /// the connection's exclusive queues a second time at cleanup.
    channels_closed: bool,
    /// Held at a basic.publish while a resource alarm is up: the socket is not read and the
    /// frames already read wait, as RabbitMQ blocks a connection that publishes during an
    /// alarm (one that only consumes goes on).
    blocked: bool,
    io_counts: IoCounts,
    /// Faults a test injected (`faults`); None, and free, otherwise.
    faults: Option<Box<faults::ConnectionFaults>>,
    /// A fault dropped the connection: the socket is closed without flushing or a word.
    dropped: bool,
    /// The client closed the connection and was sent close-ok; the socket is its to close.
    close_ok_sent: bool,
    /// Told once the connection.close a `ForceClose` asked for is on the socket.
    close_written: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// Bytes and reads/writes on the socket, for the management API.
#[derive(Debug, Default)]
struct IoCounts {
    recv_oct: u64,
    recv_cnt: u64,
    send_oct: u64,
    send_cnt: u64,
}

/// Whether `buf` starts with a whole-enough basic.publish method frame (type 1, class 60,
/// method 40): the frame a blocked connection is stopped at.
fn is_publish(buf: &[u8]) -> bool {
    buf.len() >= 11 && buf[0] == FRAME_METHOD && buf[7..11] == [0, 60, 0, 40]
}

impl Connection {
    async fn run<T: Transport>(
        &mut self,
        stream: &mut T,
        mut buf: BytesMut,
        mut events: mpsc::UnboundedReceiver<Outbound>,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let heartbeat = Duration::from_secs(self.session.settings.heartbeat.into());
        let mut ticker = tokio::time::interval(if heartbeat.is_zero() {
            Duration::from_secs(3600)
        } else {
            heartbeat / 2
        });
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Deliveries are checked against the consumer timeout ten times per timeout (at
        // most once a minute), so one is noticed at most a tenth late.
        let check_every = |t: Option<Duration>| {
            let mut i = tokio::time::interval(t.map_or(Duration::from_secs(3600), |t| {
                (t / 10).clamp(Duration::from_millis(10), Duration::from_secs(60))
            }));
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        };
        let mut timeout = self.shortest_consumer_timeout();
        let mut timeouts = check_every(timeout);
        let mut last_read = Instant::now();
        let alarm = self.alarms.clone();
        // The read buffer and unwritten output, as charged to the memory account.
        let mut charged = 0usize;
        let mut last_write = Instant::now();
        // Frames already buffered during the handshake come first.
        self.process(&mut buf);
        if buf.is_empty() {
            buf = BytesMut::new();
        }
        // Bytes read since the loop last charged tokio's budget for them.
        let mut read_since = 0usize;
        while self.state != State::Closed {
            // A consumer asked for a shorter timeout than the connection checks for.
            let wanted = self.shortest_consumer_timeout();
            if wanted != timeout {
                timeout = wanted;
                timeouts = check_every(timeout);
            }
            self.flush(stream, &mut last_write);
            if !self.close_written.is_empty()
                && self.session.out.is_empty()
                && self.writer.unwritten() == 0
            {
                for written in self.close_written.drain(..) {
                    let _ = written.send(());
                }
            }
            let held = buf.capacity() + self.writer.unwritten();
            if held != charged {
                memory::charge(held as i64 - charged as i64);
                charged = held;
            }
            // A socket that always has bytes ready never makes this loop wait, and tokio's
            // budget does not count readiness: a few flooding publishers would keep the
            // workers to themselves, and new connections could not even finish their
            // handshake. Each KiB read costs a unit of the task's budget (128 a turn), so a
            // flooding connection yields every 128 KiB or so while a light one never does.
            // Output is flushed first, so a yield adds no latency to it.
            // A turn cut short (see `WORK_PER_TURN`) takes the whole budget, so the task
            // yields before it handles the rest.
            self.session.work = 0;
            let read = std::mem::take(&mut read_since) / 1024;
            let units = if self.input_left { 128 } else { read };
            for _ in 0..=units {
                tokio::task::consume_budget().await;
            }
            // Flow control: a peer we cannot write to fast enough gets no more deliveries,
            // and a publisher whose queues' consumers lag behind is not read from, until
            // things drain (checked every millisecond meanwhile).
            let unwritten = self.writer.unwritten();
            let write_backlog = unwritten > MAX_UNWRITTEN;
            let wants_write = unwritten > 0 || stream.buffered();
            let throttled = self.is_throttled();
            // Blocked by the disk alarm; a closing connection reads on, for the handshake.
            let held = self.blocked && self.state == State::Running;
            let reads_stalled = self.reads_stalled();
            let deadline = match self.state {
                State::Closing(d) => d,
                _ => Instant::now() + Duration::from_secs(86400),
            };
            tokio::select! {
                _ = shutdown.changed(), if self.state == State::Running => {
                    self.connection_error(AmqpError::connection_forced(
                        "broker forced connection closure with reason 'shutdown'",
                    ));
                }
                _ = tokio::time::sleep(Duration::from_millis(1)), if throttled || write_backlog => {}
                _ = std::future::ready(()), if self.input_left && !throttled && !held && !reads_stalled => {
                    self.process(&mut buf);
                    if buf.is_empty() {
                        buf = BytesMut::new();
                    }
                }
                r = stream.readable(), if !throttled && !held && !reads_stalled && !self.input_left => {
                    // The buffer is allocated when bytes arrive and released when it empties,
                    // so an idle connection holds no read buffer at all.
                    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                        buf.reserve(READ_CHUNK);
                    }
                    match r.and_then(|()| stream.read(&mut buf)) {
                        Ok(0) => {
                            if self.state == State::Running {
                                tracing::info!(peer = %self.peer, "client closed the socket");
                                self.vanished();
                            }
                            self.state = State::Closed;
                        }
                        Ok(n) => {
                            self.io_counts.recv_oct += n as u64;
                            self.io_counts.recv_cnt += 1;
                            last_read = Instant::now();
                            read_since = n;
                            self.process(&mut buf);
                            if buf.is_empty() {
                                buf = BytesMut::new();
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => self.state = State::Closed,
                    }
                }
                r = stream.writable(), if wants_write => {
                    if let Err(e) = r.and_then(|()| self.writer.write_pending(stream)) {
                        self.write_failed(e);
                    }
                }
                Some(ev) = events.recv(), if !write_backlog => {
                    self.on_event(ev);
                    for _ in 0..EVENTS_PER_TURN {
                        match events.try_recv() {
                            Ok(ev) => self.on_event(ev),
                            Err(_) => break,
                        }
                        if self.session.out.len() > FLUSH_BYTES {
                            self.flush(stream, &mut last_write);
                        }
                    }
                }
                _ = alarm.cleared(), if held => {
                    self.blocked = false;
                    if self.session.settings.connection_blocked {
                        self.send(0, Method::ConnectionUnblocked(ConnectionUnblocked {}));
                    }
                    tracing::info!(peer = %self.peer, "connection unblocked");
                    // A blocked peer was not read from: its silence was ours.
                    last_read = Instant::now();
                    self.process(&mut buf);
                }
                _ = ticker.tick(), if !heartbeat.is_zero() => {
                    if reads_stalled {
                        // The silence is ours, not the client's.
                        last_read = Instant::now();
                    }
                    if last_read.elapsed() > heartbeat * 2 && !self.blocked {
                        tracing::warn!(peer = %self.peer, "missed heartbeats from client, timeout: {}s", heartbeat.as_secs());
                        self.state = State::Closed;
                    } else if last_write.elapsed() >= heartbeat / 2 {
                        write_frame(&mut self.session.out, FRAME_HEARTBEAT, 0, |_| {});
                    }
                }
                _ = timeouts.tick(), if timeout.is_some() && self.state == State::Running => {
                    self.check_consumer_timeouts();
                }
                _ = tokio::time::sleep_until(deadline), if matches!(self.state, State::Closing(_)) => {
                    tracing::debug!(peer = %self.peer, "no connection.close-ok in time");
                    self.state = State::Closed;
                }
            }
        }
        self.flush(stream, &mut last_write);
        memory::charge(-(charged as i64));
        // Requeue whatever deliveries were still on their way to us.
        events.close();
        while let Ok(ev) = events.try_recv() {
            let ev = match ev {
                Outbound::Fault(crate::testing::faults::FaultEvent::Delayed(ev)) => *ev,
                ev => ev,
            };
            if let Outbound::Deliver(d) = ev {
                d.queue.requeue_undelivered(d.entries, d.credited);
            }
        }
    }

    fn flush<T: Transport>(&mut self, stream: &mut T, last_write: &mut Instant) {
        for slot in self.channels.values_mut() {
            if let Slot::Open(ch) = slot {
                ch.dispatch_pushed();
                let mut ctx = self.session.context();
                ch.flush_confirms(&mut ctx);
            }
        }
        if !self.session.out.is_empty() && !self.writes_stalled() {
            self.io_counts.send_oct += self.session.out.len() as u64;
            self.io_counts.send_cnt += 1;
            if let Err(e) = self.writer.write(stream, &mut self.session.out) {
                self.write_failed(e);
            }
            *last_write = Instant::now();
        }
    }

    fn write_failed(&mut self, e: std::io::Error) {
        tracing::debug!(peer = %self.peer, "write failed, closing: {e}");
        self.session.out.clear();
        self.state = State::Closed;
    }

    fn is_throttled(&mut self) -> bool {
        self.channels.values_mut().any(|slot| match slot {
            Slot::Open(ch) => ch.is_throttled(),
            Slot::Closing | Slot::ClosedByClient => false,
        })
    }

    /// Handles every complete frame in the read buffer.
    fn process(&mut self, buf: &mut BytesMut) {
        self.memory.poll();
        self.process_frames(buf);
        if self.faults.is_some() {
            self.advance_faults();
        }
        if self.closed_by_client {
            self.closed_by_client = false;
            self.channels
                .retain(|_, slot| !matches!(slot, Slot::ClosedByClient));
        }
    }

    fn process_frames(&mut self, buf: &mut BytesMut) {
        self.input_left = false;
        let mut unread = buf.len();
        let started = std::time::Instant::now();
        let mut frames = 0u32;
        while self.state != State::Closed {
            // Each frame is a unit of work, and each KiB it carried another.
            let taken = unread.saturating_sub(buf.len());
            unread = buf.len();
            self.session.work = self.session.work.saturating_add(1 + (taken / 1024) as u32);
            // Work that grows with neither (routing a long key through many wildcard
            // bindings, say) is bounded by the clock, read every 16 frames.
            frames += 1;
            if frames.is_multiple_of(16) && started.elapsed() >= MAX_TURN {
                self.session.work = self.session.work.max(WORK_PER_TURN);
            }
            // The rest waits for the next turn (see `WORK_PER_TURN`); `run` comes back to
            // it without waiting for the socket.
            if self.session.work >= WORK_PER_TURN {
                self.input_left = true;
                return;
            }
            // A closing connection reads on, for the close handshake.
            if self.state == State::Running {
                if self.blocked {
                    return;
                }
                if is_publish(buf) {
                    if self.alarms.any() {
                        self.block();
                        return;
                    }
                    if self.faults.is_none() && self.publish_in_place(buf) {
                        continue;
                    }
                }
            }
            match Frame::decode(buf, self.session.settings.frame_max) {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) => return,
                Err(e) => {
                    let err = match e {
                        // RabbitMQ reads a header's properties only once the command is
                        // whole: on a channel between commands the frame is unexpected,
                        // whatever it holds.
                        FrameError::Header { channel, .. } if self.expects_method(channel) => {
                            Assembler::method_expected()
                        }
                        e => frame_error(e),
                    };
                    // Nothing after a broken frame can be trusted: stop reading.
                    buf.clear();
                    self.connection_error(err);
                    self.state = match self.state {
                        State::Closing(d) => State::Closing(d),
                        s => s,
                    };
                    return;
                }
            }
        }
    }

    /// Whether channel `ch` is open and between commands.
    fn expects_method(&self, ch: u16) -> bool {
        matches!(self.channels.get(&ch), Some(Slot::Open(c)) if c.is_idle())
    }

    /// Handles a basic.publish command at the start of `buf` in place, if it is whole and
    /// simple and its channel is open and between commands (see `PublishCommand`); says
    /// whether it did.
    fn publish_in_place(&mut self, buf: &mut BytesMut) -> bool {
        let frame_max = self.session.settings.frame_max;
        // A body over the size limit takes the slow path, which refuses it.
        let max_body = (INLINE_BELOW as u64 - 1).min(self.session.max_message_size) as usize;
        let Some(p) = PublishCommand::read(buf, frame_max, max_body) else {
            return false;
        };
        let (ch, len) = (p.channel, p.len);
        let Some(Slot::Open(c)) = self.channels.get_mut(&ch) else {
            return false;
        };
        if !c.is_idle() {
            return false;
        }
        let mut ctx = self.session.context();
        let result = c.publish_in_place(&mut ctx, p);
        buf.advance(len);
        if let Err(e) = result.or_else(|e| self.channel_failed(ch, e)) {
            self.connection_error(e);
        }
        true
    }

    fn block(&mut self) {
        self.blocked = true;
        let reason = self.alarms.reason();
        tracing::warn!(peer = %self.peer, "connection blocked: {reason}");
        if self.session.settings.connection_blocked {
            self.send(0, Method::ConnectionBlocked(ConnectionBlocked { reason }));
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        if let State::Closing(_) = self.state {
            // The client closed and has its close-ok: whatever else it sends (another
            // connection.close from a second thread, say) is ignored until it closes the
            // socket, as RabbitMQ's reader ignores methods once closing.
            if self.close_ok_sent {
                return;
            }
            match frame {
                Frame::Method(0, Method::ConnectionCloseOk(_)) => self.state = State::Closed,
                Frame::Method(0, Method::ConnectionClose(_)) => {
                    self.close_channels();
                    self.send(0, Method::ConnectionCloseOk(ConnectionCloseOk {}));
                    self.state = State::Closed;
                }
                _ => {}
            }
            return;
        }
        let result = match frame {
            Frame::Heartbeat(0) => Ok(()),
            Frame::Heartbeat(_) => Err(AmqpError::unexpected_frame("type 8, all octets = <<>>")),
            Frame::Method(0, m) => self.on_connection_method(m),
            Frame::Header(0, h) => {
                let mut payload = BytesMut::new();
                crate::protocol::ContentHeader::encode_raw(
                    &mut payload,
                    h.class_id,
                    h.body_size,
                    &h.raw_properties,
                );
                Err(AmqpError::unexpected_frame(describe_frame(
                    crate::protocol::frame::FRAME_HEADER,
                    &payload,
                )))
            }
            Frame::Body(0, b) => Err(AmqpError::unexpected_frame(describe_frame(
                crate::protocol::frame::FRAME_BODY,
                &b,
            ))),
            Frame::Method(ch, m) => self.on_channel_frame(ch, ChannelFrame::Method(m)),
            Frame::Header(ch, h) => self.on_channel_frame(ch, ChannelFrame::Header(h)),
            Frame::Body(ch, b) => self.on_channel_frame(ch, ChannelFrame::Body(b)),
        };
        if let Err(e) = result {
            self.connection_error(e);
        }
    }

    fn on_connection_method(&mut self, m: Method) -> Result<(), AmqpError> {
        match m {
            Method::ConnectionClose(c) => {
                tracing::info!(peer = %self.peer, code = c.reply_code, text = %c.reply_text, "client closed the connection");
                self.close_channels();
                self.send(0, Method::ConnectionCloseOk(ConnectionCloseOk {}));
                // The client closes the socket once it has read close-ok; closing first can
                // make a client see the end of the stream before close-ok.
                self.state = State::Closing(Instant::now() + CLOSE_OK_TIMEOUT);
                self.close_ok_sent = true;
                Ok(())
            }
            Method::ConnectionUpdateSecret(_) => {
                self.send(
                    0,
                    Method::ConnectionUpdateSecretOk(ConnectionUpdateSecretOk {}),
                );
                Ok(())
            }
            // Flow-control notices a client may echo; nothing to do.
            Method::ConnectionBlocked(_) | Method::ConnectionUnblocked(_) => Ok(()),
            other => Err(
                AmqpError::channel_error("unexpected method in connection state running")
                    .during(other.class_id(), other.method_id()),
            ),
        }
    }

    /// Frames for channels 1..: channel.open and channel.close are the connection's business,
    /// the rest goes to the channel.
    fn on_channel_frame(&mut self, ch: u16, frame: ChannelFrame) -> Result<(), AmqpError> {
        let ids = match &frame {
            ChannelFrame::Method(m) => (m.class_id(), m.method_id()),
            _ => (0, 0),
        };
        match (self.channels.get_mut(&ch), frame) {
            (None, ChannelFrame::Method(Method::ChannelOpen(_))) => {
                // RabbitMQ limits how many channels are open, whatever their numbers.
                let max = usize::from(self.session.settings.channel_max);
                if self.channels.len() >= max {
                    return Err(AmqpError::not_allowed(format!(
                        "number of channels opened ({}) has reached the negotiated channel_max ({max})",
                        self.channels.len()
                    ))
                    .on_connection());
                }
                let user = &self.session.settings.user;
                if let Some(refusal) = self.session.core.channel_refusal(user) {
                    return Err(AmqpError::not_allowed(refusal).on_connection());
                }
                self.channels
                    .insert(ch, Slot::Open(Box::new(Channel::new(ch))));
                let open = self.session.open_channels.fetch_add(1, Ordering::Relaxed) + 1;
                if open as usize == CHANNEL_LEAK {
                    self.session.diagnose(
                        None,
                        Kind::ChannelsNeverClosed,
                        format!("{open} channels open on one connection: are channels opened and never closed?"),
                    );
                }
                churn::bump(&self.session.core.churn().channels_opened);
                self.send(
                    ch,
                    Method::ChannelOpenOk(ChannelOpenOk {
                        reserved_1: Bytes::new(),
                    }),
                );
                Ok(())
            }
            (None, _) => {
                Err(AmqpError::channel_error("expected 'channel.open'").during(ids.0, ids.1))
            }
            (Some(Slot::Closing), ChannelFrame::Method(Method::ChannelCloseOk(_))) => {
                self.channels.remove(&ch);
                Ok(())
            }
            (Some(Slot::Closing), ChannelFrame::Method(Method::ChannelClose(_))) => {
                self.send(ch, Method::ChannelCloseOk(ChannelCloseOk {}));
                Ok(())
            }
            // RabbitMQ holds the number until the client's close-ok: opening it meanwhile is
            // the connection error of a second open (found by `warren diff`).
            (Some(Slot::Closing), ChannelFrame::Method(Method::ChannelOpen(_))) => {
                Err(AmqpError::channel_error("second 'channel.open' seen").during(20, 10))
            }
            (Some(Slot::Closing | Slot::ClosedByClient), _) => Ok(()),
            (Some(Slot::Open(_)), ChannelFrame::Method(Method::ChannelOpen(_))) => {
                Err(AmqpError::channel_error("second 'channel.open' seen").during(20, 10))
            }
            (Some(Slot::Open(c)), ChannelFrame::Method(Method::ChannelClose(_))) if c.is_idle() => {
                let mut c = c_take(&mut self.channels, ch);
                self.session.open_channels.fetch_sub(1, Ordering::Relaxed);
                churn::bump(&self.session.core.churn().channels_closed);
                let mut ctx = self.session.context();
                c.teardown(&mut ctx);
                self.send(ch, Method::ChannelCloseOk(ChannelCloseOk {}));
                self.channels.insert(ch, Slot::ClosedByClient);
                self.closed_by_client = true;
                Ok(())
            }
            (Some(Slot::Open(_)), frame) if self.faults.is_some() => {
                match self.fault_on_frame(ch, &frame) {
                    Some(taken) => taken,
                    None => self.channel_frame(ch, frame),
                }
            }
            (Some(Slot::Open(_)), frame) => self.channel_frame(ch, frame),
        }
    }

    /// A frame for an open channel, which handles it.
    fn channel_frame(&mut self, ch: u16, frame: ChannelFrame) -> Result<(), AmqpError> {
        if let ChannelFrame::Header(h) = &frame
            && h.body_size >= CHECK_CONTENT_FROM
        {
            self.check_content_in_flight(ch, h.body_size)?;
        }
        match self.channels.get_mut(&ch) {
            Some(Slot::Open(c)) => {
                // A method where content was due: another thread's command cut into this one.
                let cut_in = !c.is_idle() && matches!(frame, ChannelFrame::Method(_));
                let mut ctx = self.session.context();
                match c.on_frame(&mut ctx, frame) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        if cut_in && e.code == crate::error::code::UNEXPECTED_FRAME {
                            self.session.diagnose(
                                Some(ch),
                                Kind::InterleavedContent,
                                format!(
                                    "a method frame arrived between a command's content frames ({}): is the channel used from several threads?",
                                    e.explanation
                                ),
                            );
                        }
                        self.channel_failed(ch, e)
                    }
                }
            }
            _ => Ok(()),
        }
    }

    /// Bounds what one connection makes the broker buffer at once: the bodies its channels
    /// are still receiving, each up to the largest message, would otherwise reach gigabytes
    /// (2,047 channels of 16 MiB). RabbitMQ has no such bound (only the memory alarm, which
    /// then blocks every publisher); Warren closes the one connection with 506
    /// RESOURCE_ERROR. Checked for large bodies only: small ones cannot add up to much.
    fn check_content_in_flight(&self, ch: u16, body_size: u64) -> Result<(), AmqpError> {
        let others: u64 = self
            .channels
            .iter()
            .filter(|(n, _)| **n != ch)
            .filter_map(|(_, s)| match s {
                Slot::Open(c) => Some(c.content_announced()),
                _ => None,
            })
            .sum();
        if others + body_size <= MAX_CONTENT_IN_FLIGHT {
            return Ok(());
        }
        tracing::warn!(
            peer = %self.peer,
            channel = ch,
            "content of {body_size} bytes refused: the connection's bodies in progress would pass {MAX_CONTENT_IN_FLIGHT} bytes"
        );
        Err(AmqpError::new(
            crate::error::code::RESOURCE_ERROR,
            format!(
                "content of {body_size} bytes on channel {ch} would take the bodies this connection is sending at once past {MAX_CONTENT_IN_FLIGHT} bytes"
            ),
        )
        .during(60, 40))
    }

    /// A channel's command failed: a channel error closes the channel (its state torn down,
    /// channel.close sent); a connection error goes up to close the connection.
    fn channel_failed(&mut self, ch: u16, e: AmqpError) -> Result<(), AmqpError> {
        self.diagnose_error(ch, &e);
        if e.is_connection_error() {
            return Err(e);
        }
        self.close_channel(ch, e);
        Ok(())
    }

    /// Closes channel `ch` with `e`, whatever its code: its state torn down, channel.close
    /// sent.
    fn close_channel(&mut self, ch: u16, e: AmqpError) {
        tracing::warn!(peer = %self.peer, channel = ch, "channel error: {}", e.reply_text());
        if let Some(Slot::Open(c)) = self.channels.get_mut(&ch) {
            let mut ctx = self.session.context();
            c.teardown(&mut ctx);
        }
        self.send(ch, e.close_method());
        if let Some(Slot::Open(_)) = self.channels.insert(ch, Slot::Closing) {
            self.session.open_channels.fetch_sub(1, Ordering::Relaxed);
            churn::bump(&self.session.core.churn().channels_closed);
        }
    }

    /// The channel errors that usually hide a bug in the client, for the diagnostics report.
    fn diagnose_error(&self, ch: u16, e: &AmqpError) {
        use crate::error::code;
        let kind = match (e.code, e.class_id, e.method_id) {
            (code::NOT_FOUND, 60, 40) => Kind::PublishToMissingExchange,
            (code::PRECONDITION_FAILED, 40 | 50, 10) if e.explanation.contains("inequivalent") => {
                Kind::RedeclareDifferent
            }
            _ => return,
        };
        self.session.diagnose(Some(ch), kind, e.reply_text());
    }

    fn on_event(&mut self, ev: Outbound) {
        let ev = match ev {
            Outbound::Fault(f) => return self.on_fault_event(f),
            ev if self.faults.is_some() => match self.delay_delivery(ev) {
                Some(ev) => ev,
                None => return,
            },
            ev => ev,
        };
        self.handle_event(ev);
    }

    fn handle_event(&mut self, ev: Outbound) {
        // Events for the connection itself; the rest are for one of its channels.
        let ev = match ev {
            Outbound::Fault(f) => return self.on_fault_event(f),
            Outbound::Describe(answer) => {
                let _ = answer.send(self.stats());
                return;
            }
            Outbound::ForceClose { reason, written } => {
                if let State::Closing(_) = self.state {
                    // Closed again while its close-ok is awaited: RabbitMQ's reader stops such
                    // a connection at once rather than send a second connection.close, so a
                    // peer that never answers is not listed for the rest of the timeout.
                    tracing::info!(peer = %self.peer, "closing connection again: dropped without waiting for close-ok");
                    self.state = State::Closed;
                } else {
                    let e = AmqpError::new(crate::error::code::CONNECTION_FORCED, reason);
                    self.connection_error(e.on_connection());
                    self.close_written.extend(written);
                }
                return;
            }
            ev => ev,
        };
        let ch = match &ev {
            Outbound::ForceClose { .. } | Outbound::Describe(_) | Outbound::Fault(_) => return,
            Outbound::Deliver(d) => d.channel,
            Outbound::Cancelled { channel, .. }
            | Outbound::Persisted { channel, .. }
            | Outbound::Reply { channel, .. } => *channel,
        };
        let Some(Slot::Open(c)) = self.channels.get_mut(&ch) else {
            if let Outbound::Deliver(d) = ev {
                d.queue.requeue_undelivered(d.entries, d.credited);
            }
            return;
        };
        let notify_cancel = self.session.settings.consumer_cancel_notify;
        let mut ctx = self.session.context();
        match ev {
            Outbound::Deliver(d) => c.deliver(&mut ctx, d),
            Outbound::Cancelled { consumer_tag, .. } => {
                c.consumer_cancelled(&mut ctx, &consumer_tag, notify_cancel)
            }
            Outbound::Persisted { seq, ok, .. } => c.on_persisted(seq, ok),
            Outbound::Reply {
                address, message, ..
            } => c.deliver_reply(&mut ctx, &address, message),
            Outbound::ForceClose { .. } | Outbound::Describe(_) | Outbound::Fault(_) => {}
        }
    }

    /// What the diagnostics report says of a connection as it opens: no heartbeats, and a
    /// frame_max that RabbitMQ 4.1 refuses.
    fn opened_diagnostics(&self) {
        let s = &self.session;
        if s.settings.heartbeat == 0 {
            s.diagnose(
                None,
                Kind::NoHeartbeat,
                "heartbeat 0 negotiated: a peer that dies without closing its socket goes unnoticed",
            );
        }
        if s.settings.frame_max < FRAME_MIN_4_1
            && let Some(v) = s.core.profile().tolerates(Profile::V4_1)
        {
            s.core.diagnostics().record(
                &s.origin,
                None,
                Kind::Deprecated,
                format!(
                    "frame_max {} is below {FRAME_MIN_4_1}, the smallest RabbitMQ {v} accepts",
                    s.settings.frame_max
                ),
                Some(v),
            );
        }
    }

    /// The connection's state for the management API.
    fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            recv_oct: self.io_counts.recv_oct,
            recv_cnt: self.io_counts.recv_cnt,
            send_oct: self.io_counts.send_oct,
            send_cnt: self.io_counts.send_cnt,
            blocked: self.blocked,
            channels: self
                .channels
                .values()
                .filter_map(|slot| match slot {
                    Slot::Open(c) => Some(c.stats()),
                    Slot::Closing | Slot::ClosedByClient => None,
                })
                .collect(),
        }
    }

    fn send(&mut self, ch: u16, m: Method) {
        write_frame(&mut self.session.out, FRAME_METHOD, ch, |o| m.encode(o));
    }

    /// Reports a connection error with connection.close and waits for close-ok.
    fn connection_error(&mut self, e: AmqpError) {
        if self.state != State::Running {
            return;
        }
        if e.code == crate::error::code::CONNECTION_FORCED {
            tracing::info!(peer = %self.peer, "closing connection: {}", e.reply_text());
        } else {
            tracing::warn!(peer = %self.peer, "connection error: {}", e.reply_text());
        }
        self.send(0, e.close_method());
        self.state = State::Closing(Instant::now() + CLOSE_OK_TIMEOUT);
    }

    /// Closes every channel (requeueing what it had not acked) and drops the connection's
    /// exclusive queues. Done before connection.close-ok goes out, as RabbitMQ closes the
    /// channels first: a client that has close-ok in hand finds the queues gone and the
    /// messages back from any other connection.
    fn close_channels(&mut self) {
        if std::mem::replace(&mut self.channels_closed, true) {
            return;
        }
        let channels = std::mem::take(&mut self.channels);
        let open = self.session.open_channels.swap(0, Ordering::Relaxed);
        self.session
            .core
            .churn()
            .channels_closed
            .fetch_add(u64::from(open), Ordering::Relaxed);
        for (_, slot) in channels {
            if let Slot::Open(mut c) = slot {
                let mut ctx = self.session.context();
                c.teardown(&mut ctx);
            }
        }
        self.session.vhost.connection_closed(self.session.id);
    }

    /// The shortest consumer timeout any delivery on this connection can have.
    fn shortest_consumer_timeout(&self) -> Option<Duration> {
        match (self.session.consumer_timeout, self.session.shortest_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs each channel's consumer-timeout check (`Channel::consumer_timeout`).
    fn check_consumer_timeouts(&mut self) {
        let limit = self.session.consumer_timeout;
        let now = std::time::Instant::now();
        let notify = self.session.settings.consumer_cancel_notify;
        let mut failed = Vec::new();
        for (ch, slot) in self.channels.iter_mut() {
            if let Slot::Open(c) = slot {
                let mut ctx = self.session.context();
                if let Err(e) = c.consumer_timeout(&mut ctx, now, limit, notify) {
                    failed.push((*ch, e));
                }
            }
        }
        for (ch, e) in failed {
            if let Err(e) = self.channel_failed(ch, e) {
                self.connection_error(e);
            }
        }
    }

    /// The client closed its socket without connection.close: channels it left open are
    /// reported.
    fn vanished(&self) {
        let open = self
            .channels
            .values()
            .filter(|s| matches!(s, Slot::Open(_)))
            .count();
        if open > 0 {
            self.session.diagnose(
                None,
                Kind::ChannelsNeverClosed,
                format!("socket closed without connection.close while {open} channels were open"),
            );
        }
    }

    /// However the connection ended: whatever `close_channels` has not done yet.
    fn cleanup(&mut self) {
        self.session.core.unregister_connection(self.session.id);
        self.close_channels();
        tracing::info!(peer = %self.peer, "connection closed");
    }
}

fn c_take(channels: &mut LocalMap<u16, Slot>, ch: u16) -> Box<Channel> {
    match channels.remove(&ch) {
        Some(Slot::Open(c)) => c,
        _ => Box::new(Channel::new(ch)),
    }
}

/// Bytes as Erlang's `~w` prints a binary (`<<0,10,255>>`), as RabbitMQ quotes a method it
/// cannot decode. Only the first 100 bytes: the reply text is cut at 255 anyway.
fn erlang_binary(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(100).map(u8::to_string).collect();
    format!("<<{}>>", shown.join(","))
}

/// How RabbitMQ reports a broken frame.
fn frame_error(e: FrameError) -> AmqpError {
    use crate::protocol::wire::WireError;
    match e {
        FrameError::Method(crate::protocol::MethodError::Unknown {
            class_id,
            method_id,
        }) => AmqpError::not_implemented(format!("unknown method {class_id}/{method_id}")),
        FrameError::Method(crate::protocol::MethodError::Syntax {
            class_id,
            method_id,
            name,
            error: WireError::UnknownFieldType(t),
            ..
        }) => AmqpError::syntax_error(format!("unknown field type '{}' in {name}", char::from(t)))
            .during(class_id, method_id),
        FrameError::Method(crate::protocol::MethodError::Syntax {
            class_id,
            method_id,
            error: WireError::BadUtf8,
            ..
        }) => AmqpError::frame_error("Malformed UTF-8 in shortstr").during(class_id, method_id),
        FrameError::Method(crate::protocol::MethodError::Syntax {
            class_id,
            method_id,
            args,
            ..
        }) => AmqpError::frame_error(format!("cannot decode {}", erlang_binary(&args)))
            .during(class_id, method_id),
        FrameError::Header {
            error: WireError::UnknownFieldType(t),
            ..
        } => AmqpError::syntax_error(format!(
            "unknown field type '{}' in content header",
            char::from(t)
        )),
        FrameError::Header { error, .. } => {
            AmqpError::frame_error(format!("cannot decode content header: {error}"))
        }
        FrameError::BadFrameEnd { kind, end, payload } => AmqpError::frame_error(format!(
            "{}: {{invalid_frame_end_marker,{end}}}",
            describe_frame(kind, &payload)
        )),
        FrameError::TooLarge { kind, size, max } => AmqpError::frame_error(format!(
            "{}: {{frame_too_large,{size},{}}}",
            describe_frame(kind, &[]),
            max as usize - crate::protocol::frame::FRAME_OVERHEAD
        )),
        FrameError::UnknownType { kind, payload } => {
            AmqpError::frame_error(format!("{}: unknown_frame", describe_frame(kind, &payload)))
        }
    }
}
