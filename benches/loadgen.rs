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
use warren::protocol::{BasicProperties, FieldTable, Frame, Method, PROTOCOL_HEADER};

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
}

fn queue_name(a: &Args, i: usize) -> String {
    format!("{}-{i}", a.prefix)
}

async fn setup(a: &Args, t: &Target) -> Res<(String, Vec<String>)> {
    let mut c = Conn::open(t).await?;
    let mut queues = Vec::new();
    let n = if a.fanout_queues > 0 {
        a.fanout_queues
    } else {
        a.queues
    };
    for i in 0..n {
        let q = queue_name(a, i);
        c.call(Method::QueueDelete(QueueDelete {
            queue: q.clone(),
            ..Default::default()
        }))
        .await?;
        c.call(Method::QueueDeclare(QueueDeclare {
            queue: q.clone(),
            durable: a.persistent,
            ..Default::default()
        }))
        .await?;
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
    let props = BasicProperties {
        delivery_mode: Some(if a.persistent { 2 } else { 1 }),
        ..Default::default()
    }
    .to_bytes();
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
        for _ in 0..n {
            body[..8].copy_from_slice(&now_ns().to_be_bytes());
            write_content(&mut out, 1, &method, &props, &body, frame_max);
        }
        wr.write_all(&out).await?;
        out.clear();
        sent += n as u64;
        stats.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
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

async fn consumer(
    a: Args,
    t: Arc<Target>,
    queue: String,
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
    c.call(Method::BasicConsume(BasicConsume {
        queue,
        no_ack: a.autoack,
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
                3 if expect_body => {
                    expect_body = false;
                    if payload.len() >= 8 {
                        let sent = (&payload[..8]).get_u64();
                        let lat_us = now_ns().saturating_sub(sent) / 1000;
                        local.push(lat_us.min(u64::from(u32::MAX)) as u32);
                    }
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    if !a.autoack {
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
    if !a.fill {
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
                stats.clone(),
                latencies.clone(),
                stop.clone(),
            )));
        }
    }
    let started = Instant::now();
    let mut producers = Vec::new();
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
        )));
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
    while !stop.load(Ordering::Relaxed) && !producers.iter().all(|p| p.is_finished()) {
        tick.tick().await;
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
    for p in producers {
        if let Ok(Err(e)) = p.await {
            eprintln!("producer error: {e}");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    for c in consumers {
        if let Ok(Err(e)) = c.await {
            eprintln!("consumer error: {e}");
        }
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
        "{{\"sent\":{sent},\"received\":{received},\"confirmed\":{},\"nacked\":{},\"seconds\":{elapsed:.3},\"send_rate\":{:.0},\"receive_rate\":{:.0},\"latency_us\":{{\"p50\":{},\"p99\":{},\"max\":{}}},\"broker_cpu_us_per_msg\":{:.3},\"generator_cpu_us_per_msg\":{:.3},\"broker_rss_kb_growth\":{rss_growth}}}",
        stats.confirmed.load(Ordering::Relaxed),
        stats.nacked.load(Ordering::Relaxed),
        sent as f64 / elapsed,
        received as f64 / elapsed,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
        per_msg(cpu_us),
        per_msg(self_cpu_us),
    );
    Ok(())
}
