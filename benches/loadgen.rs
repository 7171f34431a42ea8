//! A PerfTest-style load generator for any AMQP 0-9-1 broker.
//!
//! Producers and consumers each get their own connection, speaking AMQP through Warren's own
//! codec with frames batched per write, so the generator costs little CPU next to the broker.
//! Every body starts with the send time (ns since the Unix epoch) for end-to-end latency.
//! Per-second rates go to stderr; one JSON result line goes to stdout.
//!
//!     cargo bench --bench loadgen -- --url amqp://guest:guest@127.0.0.1:5672/%2f \
//!         --producers 1 --consumers 1 --size 16 --duration 10
//!
//! An `amqps://` URL connects over TLS (rustls, TLS 1.3 unless `--tls12`), trusting the CA
//! certificates in `--tls-ca FILE`.

use bytes::{Buf, BytesMut};
use clap::Parser;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_util::either::Either;
use warren::protocol::frame::{FRAME_METHOD, write_content, write_frame};
use warren::protocol::methods::*;
use warren::protocol::{BasicProperties, FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};

#[derive(Debug, Clone, Parser)]
#[command(about = "AMQP 0-9-1 load generator with PerfTest's knobs")]
struct Args {
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    #[arg(long, default_value_t = 1)]
    producers: usize,
    #[arg(long, default_value_t = 1)]
    consumers: usize,
    /// Body size in bytes (at least 8: the timestamp).
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Publisher confirms with this many outstanding (0: no confirms).
    #[arg(long, default_value_t = 0)]
    confirm: usize,
    /// Consumers ack automatically (no-ack).
    #[arg(long)]
    autoack: bool,
    #[arg(long, default_value_t = 0)]
    prefetch: u16,
    /// Ack every N deliveries with `multiple`.
    #[arg(long, default_value_t = 1)]
    multi_ack: u64,
    /// delivery_mode 2 and durable queues.
    #[arg(long)]
    persistent: bool,
    /// Number of queues; producer i publishes to queue i % queues, consumer j reads j % queues.
    #[arg(long, default_value_t = 1)]
    queues: usize,
    /// Publish through a fanout exchange bound to this many queues, one consumer each.
    #[arg(long, default_value_t = 0)]
    fanout_queues: usize,
    /// Messages per second per producer (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop producers after this many messages each (0: no limit).
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Open this many idle connections (one channel each), report, and hold them `duration`.
    #[arg(long, default_value_t = 0)]
    idle_connections: usize,
    /// Broker process id: CPU time and RSS are sampled from /proc.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Queue name prefix.
    #[arg(long, default_value = "loadgen")]
    prefix: String,
    /// Publish only (fill queues), no consumers; reports broker RSS growth.
    #[arg(long)]
    fill: bool,
    /// With --fill: after the last publish, poll the queues (passive declare) until they are
    /// empty, at most this many seconds (0: do not wait). Reports the time to empty and the
    /// broker's RSS at its peak and after.
    #[arg(long, default_value_t = 0)]
    drain_timeout: u64,
    /// Consumers only (no producers): stop once this many messages were received, e.g. a
    /// stream read from --stream-offset first. Reports the broker's RSS peak during the read.
    #[arg(long, default_value_t = 0)]
    read_count: u64,
    /// Flood the broker from one connection with pathological input for --duration seconds,
    /// for benches/fairness: `topic` (255-byte keys of 127 words against ten bindings of
    /// ten `#`), `fanout` (every message to 200 queues), `frames` (1 MiB bodies in 4 KiB
    /// frames). Queues are length-limited, so memory stays flat. Prints messages written.
    #[arg(long)]
    flood: Option<String>,
    /// x-message-ttl (ms) on the declared queues (0: none).
    #[arg(long, default_value_t = 0)]
    message_ttl: u32,
    /// Consumers of a stream start at this x-stream-offset (first, last, next, ...).
    #[arg(long)]
    stream_offset: Option<String>,
    /// x-queue-type of the declared queues (quorum queues are always durable).
    #[arg(long, default_value = "classic")]
    queue_type: String,
    /// x-max-priority on the declared queues (0: none).
    #[arg(long, default_value_t = 0)]
    max_priority: u8,
    /// Producers set the priority property round robin over 0..N (0: no priority property).
    #[arg(long, default_value_t = 0)]
    priorities: u8,
    /// Dead-lettering: the queues get x-dead-letter-exchange `<prefix>-dlx` (fanout, bound to
    /// the queue `<prefix>-dlq`); their consumers reject everything (requeue=false) and one
    /// more consumer (no-ack) reads the dead-letter queue. Received counts its deliveries.
    #[arg(long)]
    dlx: bool,
    /// Direct reply-to RPC with this many requests outstanding (0: off): a requester consumes
    /// amq.rabbitmq.reply-to (no-ack) and publishes requests to `<prefix>-0` with
    /// reply_to=amq.rabbitmq.reply-to; a responder (no-ack) replies through the default
    /// exchange. Received counts round trips; latency is per round trip.
    #[arg(long, default_value_t = 0)]
    rpc: usize,
    /// CA certificates (PEM) to trust for an amqps:// URL.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<std::path::PathBuf>,
    /// Over TLS, offer TLS 1.2 only.
    #[arg(long)]
    tls12: bool,
    #[arg(long, hide = true)]
    bench: bool,
}

struct Target {
    addr: String,
    user: String,
    pass: String,
    vhost: String,
    /// For amqps: the connector and the name the server's certificate must carry.
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
}

/// A TLS client trusting the CA certificates in `ca`.
fn tls_connector(ca: &std::path::Path, tls12: bool) -> Res<TlsConnector> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    // The provider Warren uses (see src/tls.rs).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

fn parse_url(url: &str, tls: Option<TlsConnector>) -> Res<Target> {
    let (rest, tls) = match url.strip_prefix("amqps://") {
        Some(rest) => (rest, tls.ok_or("an amqps:// URL needs --tls-ca")?),
        None => return Ok(parse_plain(url)),
    };
    let mut t = parse_plain(rest);
    let host = t.addr.rsplit_once(':').map_or(t.addr.as_str(), |(h, _)| h);
    let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())?;
    t.tls = Some((tls, name));
    Ok(t)
}

fn parse_plain(url: &str) -> Target {
    let rest = url.strip_prefix("amqp://").unwrap_or(url);
    let (cred, hostpart) = rest.split_once('@').unwrap_or(("guest:guest", rest));
    let (user, pass) = cred.split_once(':').unwrap_or((cred, ""));
    let (addr, vhost) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    let vhost = match vhost {
        "" | "%2f" | "%2F" => "/".to_owned(),
        v => v.to_owned(),
    };
    Target {
        addr: addr.to_owned(),
        user: user.to_owned(),
        pass: pass.to_owned(),
        vhost,
        tls: None,
    }
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;
/// The socket's read half, plain or TLS (a match per call, no boxing).
type Rd = Either<OwnedReadHalf, tokio::io::ReadHalf<TlsStream>>;
type Wr = Either<OwnedWriteHalf, tokio::io::WriteHalf<TlsStream>>;

/// One AMQP connection with channel 1 open.
struct Conn {
    rd: Rd,
    wr: Wr,
    buf: BytesMut,
    frame_max: u32,
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

impl Conn {
    async fn open(t: &Target) -> Res<Conn> {
        let s = TcpStream::connect(&t.addr).await?;
        s.set_nodelay(true)?;
        let (rd, wr) = match &t.tls {
            None => {
                let (rd, wr) = s.into_split();
                (Either::Left(rd), Either::Left(wr))
            }
            Some((connector, name)) => {
                let s = connector.connect(name.clone(), s).await?;
                let (rd, wr) = tokio::io::split(s);
                (Either::Right(rd), Either::Right(wr))
            }
        };
        let mut c = Conn {
            rd,
            wr,
            buf: BytesMut::with_capacity(1 << 16),
            frame_max: 131072,
        };
        c.wr.write_all(PROTOCOL_HEADER).await?;
        c.expect(0).await?;
        let mut response = vec![0];
        response.extend_from_slice(t.user.as_bytes());
        response.push(0);
        response.extend_from_slice(t.pass.as_bytes());
        c.send(
            0,
            Method::ConnectionStartOk(ConnectionStartOk {
                client_properties: FieldTable::new(),
                mechanism: "PLAIN".into(),
                response: response.into(),
                locale: "en_US".into(),
            }),
        )
        .await?;
        let Method::ConnectionTune(tune) = c.expect(0).await? else {
            return Err("expected connection.tune".into());
        };
        c.frame_max = tune.frame_max.min(131072);
        c.send(
            0,
            Method::ConnectionTuneOk(ConnectionTuneOk {
                channel_max: tune.channel_max,
                frame_max: c.frame_max,
                heartbeat: 0,
            }),
        )
        .await?;
        c.send(
            0,
            Method::ConnectionOpen(ConnectionOpen {
                virtual_host: t.vhost.clone(),
                ..Default::default()
            }),
        )
        .await?;
        c.expect(0).await?;
        c.send(1, Method::ChannelOpen(ChannelOpen::default()))
            .await?;
        c.expect(1).await?;
        Ok(c)
    }

    async fn send(&mut self, ch: u16, m: Method) -> Res<()> {
        let mut out = BytesMut::new();
        write_frame(&mut out, FRAME_METHOD, ch, |o| m.encode(o));
        self.wr.write_all(&out).await?;
        Ok(())
    }

    async fn next_frame(&mut self) -> Res<Frame> {
        loop {
            if let Some(f) = Frame::decode(&mut self.buf, 0)? {
                return Ok(f);
            }
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                return Err("broker closed the connection".into());
            }
        }
    }

    /// The next method on `ch`; a close from the broker is an error.
    async fn expect(&mut self, ch: u16) -> Res<Method> {
        loop {
            match self.next_frame().await? {
                Frame::Method(_, Method::ConnectionClose(m)) => {
                    return Err(format!("connection closed: {}", m.reply_text).into());
                }
                Frame::Method(_, Method::ChannelClose(m)) => {
                    return Err(format!("channel closed: {}", m.reply_text).into());
                }
                Frame::Method(c, m) if c == ch => return Ok(m),
                _ => {}
            }
        }
    }

    async fn call(&mut self, m: Method) -> Res<Method> {
        self.send(1, m).await?;
        self.expect(1).await
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    confirmed: AtomicU64,
    nacked: AtomicU64,
    received: AtomicU64,
    rejected: AtomicU64,
    /// When the last publish was written, in ns since the run started (0: not yet).
    last_publish_ns: AtomicU64,
}

fn queue_name(a: &Args, i: usize) -> String {
    format!("{}-{i}", a.prefix)
}

fn dlq_name(a: &Args) -> String {
    format!("{}-dlq", a.prefix)
}

/// The declare arguments the queue-extension knobs ask for.
fn queue_arguments(a: &Args) -> FieldTable {
    let mut args = FieldTable::new();
    if a.queue_type != "classic" {
        let t = a.queue_type.clone();
        args.insert("x-queue-type", FieldValue::LongString(t.into()));
    }
    if a.message_ttl > 0 {
        args.insert("x-message-ttl", FieldValue::I32(a.message_ttl as i32));
    }
    if a.max_priority > 0 {
        args.insert("x-max-priority", FieldValue::I32(a.max_priority.into()));
    }
    if a.dlx {
        let x = format!("{}-dlx", a.prefix);
        args.insert("x-dead-letter-exchange", FieldValue::LongString(x.into()));
    }
    args
}

/// Deletes and declares `q`; with `keep` only declares it (a --read-count run reads what an
/// earlier --fill left).
async fn declare_fresh(
    c: &mut Conn,
    q: &str,
    durable: bool,
    arguments: FieldTable,
    keep: bool,
) -> Res<()> {
    if !keep {
        c.call(Method::QueueDelete(QueueDelete {
            queue: q.to_owned(),
            ..Default::default()
        }))
        .await?;
    }
    c.call(Method::QueueDeclare(QueueDeclare {
        queue: q.to_owned(),
        durable,
        arguments,
        ..Default::default()
    }))
    .await?;
    Ok(())
}

async fn setup(a: &Args, t: &Target) -> Res<(String, Vec<String>)> {
    let mut c = Conn::open(t).await?;
    let mut queues = Vec::new();
    let n = if a.fanout_queues > 0 {
        a.fanout_queues
    } else {
        a.queues
    };
    if a.dlx {
        let x = format!("{}-dlx", a.prefix);
        c.call(Method::ExchangeDeclare(ExchangeDeclare {
            exchange: x.clone(),
            kind: "fanout".into(),
            durable: a.persistent,
            ..Default::default()
        }))
        .await?;
        let dlq = dlq_name(a);
        declare_fresh(&mut c, &dlq, a.persistent, FieldTable::new(), false).await?;
        c.call(Method::QueueBind(QueueBind {
            queue: dlq,
            exchange: x,
            ..Default::default()
        }))
        .await?;
    }
    for i in 0..n {
        let q = queue_name(a, i);
        let durable = a.persistent || a.queue_type != "classic";
        declare_fresh(&mut c, &q, durable, queue_arguments(a), a.read_count > 0).await?;
        queues.push(q);
    }
    let exchange = if a.fanout_queues > 0 {
        let x = format!("{}-fanout", a.prefix);
        c.call(Method::ExchangeDeclare(ExchangeDeclare {
            exchange: x.clone(),
            kind: "fanout".into(),
            durable: a.persistent,
            ..Default::default()
        }))
        .await?;
        for q in &queues {
            c.call(Method::QueueBind(QueueBind {
                queue: q.clone(),
                exchange: x.clone(),
                ..Default::default()
            }))
            .await?;
        }
        x
    } else {
        String::new()
    };
    c.send(0, Method::ConnectionClose(ConnectionClose::default()))
        .await?;
    Ok((exchange, queues))
}

async fn producer(
    a: Args,
    t: Arc<Target>,
    exchange: String,
    key: String,
    stats: Arc<Counters>,
    stop: Arc<AtomicBool>,
    run_started: Instant,
) -> Res<()> {
    let mut c = Conn::open(&t).await?;
    let window = Arc::new(Semaphore::new(if a.confirm > 0 {
        a.confirm
    } else {
        Semaphore::MAX_PERMITS
    }));
    if a.confirm > 0 {
        c.call(Method::ConfirmSelect(ConfirmSelect::default()))
            .await?;
    }
    let Conn {
        mut rd,
        mut wr,
        mut buf,
        frame_max,
    } = c;
    // Confirms come back on the read half; each releases its window slots.
    let reader = {
        let window = window.clone();
        let stats = stats.clone();
        let confirm = a.confirm > 0;
        tokio::spawn(async move {
            let mut last = 0u64;
            loop {
                match Frame::decode(&mut buf, 0) {
                    Ok(Some(Frame::Method(_, Method::BasicAck(m)))) => {
                        let n = if m.multiple { m.delivery_tag - last } else { 1 };
                        last = last.max(m.delivery_tag);
                        stats.confirmed.fetch_add(n, Ordering::Relaxed);
                        if confirm {
                            window.add_permits(n as usize);
                        }
                    }
                    Ok(Some(Frame::Method(_, Method::BasicNack(m)))) => {
                        let n = if m.multiple { m.delivery_tag - last } else { 1 };
                        last = last.max(m.delivery_tag);
                        stats.nacked.fetch_add(n, Ordering::Relaxed);
                        if confirm {
                            window.add_permits(n as usize);
                        }
                    }
                    Ok(Some(Frame::Method(_, Method::ConnectionClose(m)))) => {
                        eprintln!("producer: connection closed: {}", m.reply_text);
                        return;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => match rd.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    },
                    Err(e) => {
                        eprintln!("producer: bad frame: {e}");
                        return;
                    }
                }
            }
        })
    };
    // One property list per priority used (one in all without --priorities).
    let props: Vec<_> = (0..a.priorities.max(1))
        .map(|p| {
            BasicProperties {
                delivery_mode: Some(if a.persistent { 2 } else { 1 }),
                priority: (a.priorities > 0).then_some(p),
                ..Default::default()
            }
            .to_bytes()
        })
        .collect();
    let method = Method::BasicPublish(BasicPublish {
        exchange,
        routing_key: key,
        ..Default::default()
    });
    let mut body = vec![0u8; a.size.max(8)];
    let mut out = BytesMut::with_capacity(1 << 16);
    let batch = if a.rate > 0 { 1 } else { 64 };
    let mut tickets = (a.rate > 0).then(|| pacer(a.rate, stop.clone()));
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) && (a.count == 0 || sent < a.count) {
        let mut n = batch;
        if a.count > 0 {
            n = n.min((a.count - sent) as usize);
        }
        if let Some(t) = &mut tickets
            && t.recv().await.is_none()
        {
            break;
        }
        let permit = window.acquire_many(n as u32).await?;
        permit.forget();
        for i in 0..n as u64 {
            body[..8].copy_from_slice(&now_ns().to_be_bytes());
            let p = &props[((sent + i) % props.len() as u64) as usize];
            write_content(&mut out, 1, &method, p, &body, frame_max);
        }
        wr.write_all(&out).await?;
        out.clear();
        sent += n as u64;
        stats.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    stats
        .last_publish_ns
        .fetch_max(run_started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    if a.confirm > 0 {
        // Wait (bounded) for the outstanding confirms.
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            window.acquire_many(a.confirm as u32),
        )
        .await;
    }
    reader.abort();
    Ok(())
}

/// Tickets for a fixed rate, evenly spaced. tokio's timer wheel ticks once a millisecond, so
/// at 10,000 msg/s it would release ten messages at once per tick, bursts PerfTest (which
/// sleeps per message) does not make and which queue behind each other in the broker. A
/// thread sleeps to each send time instead; when the producer lags, tickets wait (up to a
/// second's worth) and it catches up, keeping the average rate.
fn pacer(rate: u64, stop: Arc<AtomicBool>) -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(rate.clamp(1, 1 << 16) as usize);
    std::thread::spawn(move || {
        let started = Instant::now();
        for i in 0u64.. {
            let due = started + Duration::from_nanos(i.saturating_mul(1_000_000_000) / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if stop.load(Ordering::Relaxed) || tx.blocking_send(()).is_err() {
                return;
            }
        }
    });
    rx
}

/// How a consumer settles what it gets.
#[derive(Clone, Copy, PartialEq)]
enum Settle {
    /// no-ack: the broker settles on delivery.
    NoAck,
    /// basic.ack, every `--multi-ack` deliveries.
    Ack,
    /// basic.reject requeue=false for each delivery (dead-letters it); counted as rejected.
    Reject,
}

async fn consumer(
    a: Args,
    t: Arc<Target>,
    queue: String,
    settle: Settle,
    stats: Arc<Counters>,
    latencies: Arc<Mutex<Vec<u32>>>,
    stop: Arc<AtomicBool>,
) -> Res<()> {
    let mut c = Conn::open(&t).await?;
    if a.prefetch > 0 {
        c.call(Method::BasicQos(BasicQos {
            prefetch_count: a.prefetch,
            ..Default::default()
        }))
        .await?;
    }
    let mut arguments = FieldTable::new();
    if let Some(offset) = &a.stream_offset {
        let o = offset.clone();
        arguments.insert("x-stream-offset", FieldValue::LongString(o.into()));
    }
    c.call(Method::BasicConsume(BasicConsume {
        queue,
        no_ack: settle == Settle::NoAck,
        arguments,
        ..Default::default()
    }))
    .await?;
    let mut local = Vec::with_capacity(1 << 16);
    let mut out = BytesMut::new();
    let mut unacked = 0u64;
    let mut last_tag = 0u64;
    let mut expect_body = false;
    while !stop.load(Ordering::Relaxed) {
        // A hand-rolled scan of the frames: no allocation per delivery, so the generator's
        // consumer stays cheaper than the broker it measures.
        while let Some((kind, size)) = peek_frame(&c.buf) {
            let payload = &c.buf[7..7 + size];
            match kind {
                1 if payload.len() >= 4 && payload[..4] == [0, 60, 0, 60] => {
                    let tag_len = payload[4] as usize;
                    let at = 5 + tag_len;
                    if payload.len() >= at + 8 {
                        last_tag = (&payload[at..at + 8]).get_u64();
                    }
                    expect_body = true;
                }
                1 if payload.len() >= 4 && payload[..4] == [0, 10, 0, 50] => {
                    return Err("consumer: connection closed by the broker".into());
                }
                2 if payload.len() >= 12 && (&payload[4..12]).get_u64() == 0 => expect_body = false,
                3 if expect_body && settle == Settle::Reject => {
                    expect_body = false;
                    let m = Method::BasicReject(BasicReject {
                        delivery_tag: last_tag,
                        requeue: false,
                    });
                    write_frame(&mut out, FRAME_METHOD, 1, |o| m.encode(o));
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                }
                3 if expect_body => {
                    expect_body = false;
                    if payload.len() >= 8 {
                        let sent = (&payload[..8]).get_u64();
                        let lat_us = now_ns().saturating_sub(sent) / 1000;
                        local.push(lat_us.min(u64::from(u32::MAX)) as u32);
                    }
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    if settle == Settle::Ack {
                        unacked += 1;
                        if unacked >= a.multi_ack {
                            let m = Method::BasicAck(BasicAck {
                                delivery_tag: last_tag,
                                multiple: a.multi_ack > 1,
                            });
                            write_frame(&mut out, FRAME_METHOD, 1, |o| m.encode(o));
                            unacked = 0;
                        }
                    }
                }
                _ => {}
            }
            c.buf.advance(7 + size + 1);
        }
        if !out.is_empty() {
            c.wr.write_all(&out).await?;
            out.clear();
        }
        if local.len() > 1 << 15 {
            latencies.lock().await.append(&mut local);
        }
        match tokio::time::timeout(Duration::from_millis(200), c.rd.read_buf(&mut c.buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            _ => {}
        }
    }
    latencies.lock().await.append(&mut local);
    Ok(())
}

const REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// The RPC client: consumes the direct reply-to pseudo-queue, keeps `--rpc` requests
/// outstanding, and times each round trip from the timestamp its reply carries back.
async fn requester(
    a: Args,
    t: Arc<Target>,
    server_queue: String,
    stats: Arc<Counters>,
    latencies: Arc<Mutex<Vec<u32>>>,
    stop: Arc<AtomicBool>,
) -> Res<()> {
    let mut c = Conn::open(&t).await?;
    // Before publishing with reply_to=amq.rabbitmq.reply-to the channel must consume it.
    c.call(Method::BasicConsume(BasicConsume {
        queue: REPLY_TO.into(),
        no_ack: true,
        ..Default::default()
    }))
    .await?;
    let method = Method::BasicPublish(BasicPublish {
        routing_key: server_queue,
        ..Default::default()
    });
    let mut body = vec![0u8; a.size.max(8)];
    let mut out = BytesMut::new();
    let mut next_id = 0u64;
    let mut request = |out: &mut BytesMut, frame_max: u32| {
        let props = BasicProperties {
            reply_to: Some(REPLY_TO.into()),
            correlation_id: Some(next_id.to_string()),
            ..Default::default()
        }
        .to_bytes();
        next_id += 1;
        body[..8].copy_from_slice(&now_ns().to_be_bytes());
        write_content(out, 1, &method, &props, &body, frame_max);
    };
    for _ in 0..a.rpc {
        request(&mut out, c.frame_max);
    }
    c.wr.write_all(&out).await?;
    out.clear();
    stats.sent.fetch_add(a.rpc as u64, Ordering::Relaxed);
    let mut local = Vec::with_capacity(1 << 16);
    let mut in_body = false;
    while !stop.load(Ordering::Relaxed) {
        let mut sent = 0;
        loop {
            match Frame::decode(&mut c.buf, 0)? {
                Some(Frame::Method(_, Method::BasicDeliver(_))) => in_body = true,
                Some(Frame::Method(_, Method::ChannelClose(m))) => {
                    return Err(format!("requester: channel closed: {}", m.reply_text).into());
                }
                Some(Frame::Method(_, Method::ConnectionClose(m))) => {
                    return Err(format!("requester: connection closed: {}", m.reply_text).into());
                }
                Some(Frame::Body(_, b)) if in_body => {
                    in_body = false;
                    if b.len() >= 8 {
                        let lat_us = now_ns().saturating_sub((&b[..8]).get_u64()) / 1000;
                        local.push(lat_us.min(u64::from(u32::MAX)) as u32);
                    }
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    request(&mut out, c.frame_max);
                    sent += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
        if !out.is_empty() {
            c.wr.write_all(&out).await?;
            out.clear();
            stats.sent.fetch_add(sent, Ordering::Relaxed);
        }
        match tokio::time::timeout(Duration::from_millis(200), c.rd.read_buf(&mut c.buf)).await {
            Ok(Ok(0)) => return Err("requester: broker closed the connection".into()),
            Ok(Err(e)) => return Err(e.into()),
            _ => {}
        }
    }
    latencies.lock().await.append(&mut local);
    Ok(())
}

/// The RPC server: consumes the request queue (no-ack) and answers each request through the
/// default exchange to its reply_to, with its correlation_id and body.
async fn responder(t: Arc<Target>, queue: String, stop: Arc<AtomicBool>) -> Res<()> {
    let mut c = Conn::open(&t).await?;
    c.call(Method::BasicConsume(BasicConsume {
        queue,
        no_ack: true,
        ..Default::default()
    }))
    .await?;
    let mut out = BytesMut::new();
    let mut reply: Option<BasicProperties> = None;
    let mut reply_to = String::new();
    while !stop.load(Ordering::Relaxed) {
        loop {
            match Frame::decode(&mut c.buf, 0)? {
                Some(Frame::Header(_, h)) => {
                    let (_, p) = BasicProperties::decode(&h.raw_properties)
                        .map_err(|e| format!("responder: bad properties: {e:?}"))?;
                    reply_to = p.reply_to.unwrap_or_default();
                    reply = Some(BasicProperties {
                        correlation_id: p.correlation_id,
                        ..Default::default()
                    });
                }
                Some(Frame::Body(_, b)) => {
                    if let Some(p) = reply.take() {
                        let m = Method::BasicPublish(BasicPublish {
                            routing_key: std::mem::take(&mut reply_to),
                            ..Default::default()
                        });
                        write_content(&mut out, 1, &m, &p.to_bytes(), &b, c.frame_max);
                    }
                }
                Some(Frame::Method(_, Method::ChannelClose(m))) => {
                    return Err(format!("responder: channel closed: {}", m.reply_text).into());
                }
                Some(Frame::Method(_, Method::ConnectionClose(m))) => {
                    return Err(format!("responder: connection closed: {}", m.reply_text).into());
                }
                Some(_) => {}
                None => break,
            }
        }
        if !out.is_empty() {
            c.wr.write_all(&out).await?;
            out.clear();
        }
        match tokio::time::timeout(Duration::from_millis(200), c.rd.read_buf(&mut c.buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            _ => {}
        }
    }
    Ok(())
}

/// Polls the queues' message counts (passive declare) until all are empty or `timeout`
/// passes. Returns when they emptied (None on timeout) and what was left at the end.
async fn wait_empty(
    t: &Target,
    queues: &[String],
    timeout: Duration,
) -> Res<(Option<Instant>, u64)> {
    let mut c = Conn::open(t).await?;
    let deadline = Instant::now() + timeout;
    loop {
        let mut left = 0u64;
        for q in queues {
            let Method::QueueDeclareOk(ok) = c
                .call(Method::QueueDeclare(QueueDeclare {
                    queue: q.clone(),
                    passive: true,
                    ..Default::default()
                }))
                .await?
            else {
                return Err("expected queue.declare-ok".into());
            };
            left += u64::from(ok.message_count);
        }
        if left == 0 {
            return Ok((Some(Instant::now()), 0));
        }
        if Instant::now() >= deadline {
            return Ok((None, left));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The type and payload size of the first complete frame in `buf`.
fn peek_frame(buf: &[u8]) -> Option<(u8, usize)> {
    if buf.len() < 7 {
        return None;
    }
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
    (buf.len() > 7 + size).then_some((buf[0], size))
}

/// (utime + stime in µs, RSS in kB) of a process, from /proc.
fn proc_sample(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = 100; // USER_HZ on Linux
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks * 1_000_000 / hz, rss))
}

/// A queue that keeps at most `n` messages (drop-head), for a flood's destinations.
fn bounded(n: i32) -> FieldTable {
    let mut args = FieldTable::new();
    args.insert("x-max-length", FieldValue::I32(n));
    args
}

/// The --flood mode: sets up its kind's topology, then writes one pre-encoded batch of
/// publishes over and over (no confirms, nothing read back) until --duration ends, so the
/// flooder costs the machine little CPU beside what it makes the broker do.
async fn flood(a: &Args, t: &Target, kind: &str) -> Res<u64> {
    let mut c = Conn::open(t).await?;
    let q = format!("{}-flood", a.prefix);
    let (exchange, key, size, frame_max) = match kind {
        "topic" => {
            declare_fresh(&mut c, &q, false, bounded(10), false).await?;
            for tail in 0..10 {
                c.call(Method::QueueBind(QueueBind {
                    queue: q.clone(),
                    exchange: "amq.topic".into(),
                    routing_key: format!("{}z{tail}", "#.".repeat(10)),
                    ..Default::default()
                }))
                .await?;
            }
            (
                "amq.topic".to_owned(),
                // Each key differs in its last word, so no route comes from a cache.
                vec!["a"; 125].join("."),
                16,
                c.frame_max,
            )
        }
        "fanout" => {
            let x = format!("{}-flood-fanout", a.prefix);
            c.call(Method::ExchangeDeclare(ExchangeDeclare {
                exchange: x.clone(),
                kind: "fanout".into(),
                ..Default::default()
            }))
            .await?;
            for i in 0..200 {
                let qi = format!("{q}-{i}");
                declare_fresh(&mut c, &qi, false, bounded(100), false).await?;
                c.call(Method::QueueBind(QueueBind {
                    queue: qi,
                    exchange: x.clone(),
                    ..Default::default()
                }))
                .await?;
            }
            (x, String::new(), 16, c.frame_max)
        }
        "frames" => {
            declare_fresh(&mut c, &q, false, bounded(4), false).await?;
            (String::new(), q.clone(), 1 << 20, 4096)
        }
        other => return Err(format!("unknown --flood kind {other}").into()),
    };
    let props = BasicProperties::default().to_bytes();
    let body = vec![0u8; size];
    let per_batch: u64 = if size > 4096 { 4 } else { 256 };
    let mut out = BytesMut::new();
    for i in 0..per_batch {
        let routing_key = match kind {
            "topic" => format!("{key}.{i}"),
            _ => key.clone(),
        };
        let method = Method::BasicPublish(BasicPublish {
            exchange: exchange.clone(),
            routing_key,
            ..Default::default()
        });
        write_content(&mut out, 1, &method, &props, &body, frame_max);
    }
    let end = Instant::now() + Duration::from_secs(a.duration);
    let mut sent = 0;
    while Instant::now() < end {
        c.wr.write_all(&out).await?;
        sent += per_batch;
    }
    Ok(sent)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Res<()> {
    let a = Args::parse();
    let tls = match &a.tls_ca {
        Some(ca) => Some(tls_connector(ca, a.tls12)?),
        None => None,
    };
    let t = Arc::new(parse_url(&a.url, tls)?);
    let before = a.broker_pid.and_then(proc_sample);
    // The generator's own CPU, so its ceiling can be stated beside every result.
    let self_before = proc_sample(std::process::id());
    if let Some(kind) = &a.flood {
        let sent = flood(&a, &t, kind).await?;
        println!("{{\"flood\":\"{kind}\",\"sent\":{sent}}}");
        return Ok(());
    }
    if a.idle_connections > 0 {
        let mut conns = Vec::new();
        // Stop at the first connection the broker will not take (a file limit, say).
        for i in 0..a.idle_connections {
            match tokio::time::timeout(Duration::from_secs(5), Conn::open(&t)).await {
                Ok(Ok(c)) => conns.push(c),
                Ok(Err(e)) => {
                    eprintln!("idle connection {i} failed: {e}");
                    break;
                }
                Err(_) => {
                    eprintln!("idle connection {i} timed out");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(a.duration.min(5))).await;
        let after = a.broker_pid.and_then(proc_sample);
        let rss_per_conn = match (before, after) {
            (Some(b), Some(af)) if !conns.is_empty() => {
                (af.1.saturating_sub(b.1) as f64 * 1024.0) / conns.len() as f64
            }
            _ => 0.0,
        };
        println!(
            "{{\"idle_connections\":{},\"rss_kb_before\":{},\"rss_kb_after\":{},\"rss_bytes_per_connection\":{:.0}}}",
            conns.len(),
            before.map(|b| b.1).unwrap_or(0),
            after.map(|b| b.1).unwrap_or(0),
            rss_per_conn
        );
        return Ok(());
    }
    let (exchange, queues) = setup(&a, &t).await?;
    let stats = Arc::new(Counters::default());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut consumers = Vec::new();
    let settle = if a.dlx {
        Settle::Reject
    } else if a.autoack {
        Settle::NoAck
    } else {
        Settle::Ack
    };
    if a.rpc > 0 {
        consumers.push(tokio::spawn(responder(
            t.clone(),
            queues[0].clone(),
            stop.clone(),
        )));
    } else if !a.fill {
        let n = if a.fanout_queues > 0 {
            a.fanout_queues
        } else {
            a.consumers
        };
        for j in 0..n {
            let q = queues[j % queues.len()].clone();
            consumers.push(tokio::spawn(consumer(
                a.clone(),
                t.clone(),
                q,
                settle,
                stats.clone(),
                latencies.clone(),
                stop.clone(),
            )));
        }
        if a.dlx {
            consumers.push(tokio::spawn(consumer(
                a.clone(),
                t.clone(),
                dlq_name(&a),
                Settle::NoAck,
                stats.clone(),
                latencies.clone(),
                stop.clone(),
            )));
        }
    }
    // The broker's RSS, sampled every 10 ms for its peak while a fill is drained.
    let rss_peak = Arc::new(AtomicU64::new(before.map(|b| b.1).unwrap_or(0)));
    let sampler = match a.broker_pid {
        Some(pid) if a.drain_timeout > 0 || a.read_count > 0 => {
            let peak = rss_peak.clone();
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                loop {
                    tick.tick().await;
                    if let Some((_, rss)) = proc_sample(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                }
            }))
        }
        _ => None,
    };
    let started = Instant::now();
    let mut producers = Vec::new();
    if a.rpc > 0 {
        producers.push(tokio::spawn(requester(
            a.clone(),
            t.clone(),
            queues[0].clone(),
            stats.clone(),
            latencies.clone(),
            stop.clone(),
        )));
    } else if a.read_count == 0 {
        for i in 0..a.producers {
            let key = if a.fanout_queues > 0 {
                String::new()
            } else {
                queues[i % queues.len()].clone()
            };
            producers.push(tokio::spawn(producer(
                a.clone(),
                t.clone(),
                exchange.clone(),
                key,
                stats.clone(),
                stop.clone(),
                started,
            )));
        }
    }
    let stopper = {
        let stop = stop.clone();
        let d = Duration::from_secs(a.duration);
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut last = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let running = |producers: &[tokio::task::JoinHandle<_>]| {
        if a.read_count > 0 {
            stats.received.load(Ordering::Relaxed) < a.read_count
        } else {
            !producers.iter().all(|p| p.is_finished())
        }
    };
    // A read of a known count ends within 5 ms of its last delivery, not at a whole second.
    let mut poll = tokio::time::interval(Duration::from_millis(5));
    while !stop.load(Ordering::Relaxed) && running(&producers) {
        if a.read_count > 0 {
            tokio::select! {
                _ = tick.tick() => {}
                _ = poll.tick() => continue,
            }
        } else {
            tick.tick().await;
        }
        let (s, r) = (
            stats.sent.load(Ordering::Relaxed),
            stats.received.load(Ordering::Relaxed),
        );
        eprintln!(
            "{:>4}s sent {:>9}/s received {:>9}/s",
            started.elapsed().as_secs(),
            s - last.0,
            r - last.1
        );
        last = (s, r);
    }
    stop.store(true, Ordering::Relaxed);
    stopper.abort();
    let mut failure = None;
    for p in producers {
        if let Ok(Err(e)) = p.await {
            eprintln!("producer error: {e}");
            failure.get_or_insert(e);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    for c in consumers {
        if let Ok(Err(e)) = c.await {
            eprintln!("consumer error: {e}");
            failure.get_or_insert(e);
        }
    }
    // A scenario the broker refused (direct reply-to where it is not implemented, say)
    // reports no figures.
    if let Some(e) = failure
        && stats.received.load(Ordering::Relaxed) == 0
        && !a.fill
    {
        return Err(e);
    }
    let mut drain = String::new();
    if a.fill && a.drain_timeout > 0 {
        let last_publish =
            started + Duration::from_nanos(stats.last_publish_ns.load(Ordering::Relaxed));
        let (emptied, left) = wait_empty(&t, &queues, Duration::from_secs(a.drain_timeout)).await?;
        let rss_empty = a.broker_pid.and_then(proc_sample).map(|s| s.1).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(s) = &sampler {
            s.abort();
        }
        let rss_after = a.broker_pid.and_then(proc_sample).map(|s| s.1).unwrap_or(0);
        let empty_ms = emptied
            .map(|e| e.saturating_duration_since(last_publish).as_secs_f64() * 1000.0)
            .unwrap_or(-1.0);
        drain = format!(
            ",\"drained\":{},\"left\":{left},\"fill_seconds\":{:.3},\"time_to_empty_ms\":{empty_ms:.1},\"rss_kb_before\":{},\"rss_kb_peak\":{},\"rss_kb_empty\":{rss_empty},\"rss_kb_after\":{rss_after}",
            emptied.is_some(),
            (last_publish - started).as_secs_f64(),
            before.map(|b| b.1).unwrap_or(0),
            rss_peak.load(Ordering::Relaxed).max(rss_empty),
        );
    }
    if a.read_count > 0 {
        if let Some(s) = &sampler {
            s.abort();
        }
        drain = format!(
            ",\"rss_kb_before\":{},\"rss_kb_peak\":{}",
            before.map(|b| b.1).unwrap_or(0),
            rss_peak.load(Ordering::Relaxed),
        );
    }
    let after = a.broker_pid.and_then(proc_sample);
    let mut lat = std::mem::take(&mut *latencies.lock().await);
    lat.sort_unstable();
    let sent = stats.sent.load(Ordering::Relaxed);
    let received = stats.received.load(Ordering::Relaxed);
    let delivered = if a.fill { sent } else { received };
    let (cpu_us, rss_growth) = match (before, after) {
        (Some(b), Some(af)) => (af.0.saturating_sub(b.0), af.1 as i64 - b.1 as i64),
        _ => (0, 0),
    };
    let self_cpu_us = match (self_before, proc_sample(std::process::id())) {
        (Some(b), Some(af)) => af.0.saturating_sub(b.0),
        _ => 0,
    };
    let per_msg = |us: u64| {
        if delivered > 0 {
            us as f64 / delivered as f64
        } else {
            0.0
        }
    };
    println!(
        "{{\"sent\":{sent},\"received\":{received},\"confirmed\":{},\"nacked\":{},\"seconds\":{elapsed:.3},\"send_rate\":{:.0},\"receive_rate\":{:.0},\"latency_us\":{{\"p50\":{},\"p99\":{},\"max\":{}}},\"broker_cpu_us_per_msg\":{:.3},\"generator_cpu_us_per_msg\":{:.3},\"broker_rss_kb_growth\":{rss_growth},\"rejected\":{}{drain}}}",
        stats.confirmed.load(Ordering::Relaxed),
        stats.nacked.load(Ordering::Relaxed),
        sent as f64 / elapsed,
        received as f64 / elapsed,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
        per_msg(cpu_us),
        per_msg(self_cpu_us),
        stats.rejected.load(Ordering::Relaxed),
    );
    Ok(())
}
