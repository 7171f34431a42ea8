//! Soak with faults (issue 18): publishers with confirms and consumers with manual acks on
//! durable queues, through an in-process TCP proxy, against the `warren` binary, while a
//! driver kills and restarts the broker (kill -9), fills its data directory's filesystem,
//! stalls and resets connections at the proxy and has the broker close channels. At the end
//! the queues are drained and a checker proves that every confirmed message was delivered,
//! that nothing was invented, and counts duplicates and per-publisher order breaks.
//!
//!     cargo bench --bench soak -- --duration 1800                 # 30 minutes
//!     cargo bench --bench soak -- --duration 120 --tmpfs-mb 256   # real full disk (root)
//!     cargo bench --bench soak -- --duration 600 --quorum          # quorum queues, transient messages
//!
//! Without `--tmpfs-mb` the full disk is the broker's simulated disk alarm
//! (`PUT /api/warren/alarms/disk`); with it the data directory is a tmpfs of that size,
//! filled with a file until the free space is under `--disk-free-limit`.
//! One JSON result line on stdout; progress on stderr.

use clap::Parser;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Parser)]
#[command(
    about = "Publish, consume and inject faults for a while; prove nothing confirmed was lost"
)]
struct Args {
    /// Seconds of load with faults.
    #[arg(long, default_value_t = 1800)]
    duration: u64,
    /// Queues; one publisher and one consumer each.
    #[arg(long, default_value_t = 4)]
    queues: usize,
    /// Messages per second per publisher.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Milliseconds between faults.
    #[arg(long, default_value_t = 4000)]
    fault_every_ms: u64,
    /// Mount a tmpfs of this many MiB as the data directory and fill it for real.
    #[arg(long)]
    tmpfs_mb: Option<u64>,
    /// The broker's --disk-free-limit, in bytes.
    #[arg(long, default_value_t = 32 * 1024 * 1024)]
    disk_free_limit: u64,
    /// Quorum queues (x-queue-type quorum), published to with transient messages: a
    /// quorum queue keeps every message whatever its delivery mode.
    #[arg(long)]
    quorum: bool,
    /// Ignored: cargo bench passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

/// What publishers and consumers saw, for the checker.
#[derive(Default)]
struct Ledger {
    /// Per queue: the highest sequence number a publisher tried, and those confirmed.
    attempted: Vec<AtomicU64>,
    confirmed: Vec<Mutex<BTreeSet<u64>>>,
    /// Per queue, in arrival order: (sequence, redelivered).
    delivered: Vec<Mutex<Vec<(u64, bool)>>>,
    reconnects: AtomicU64,
}

#[derive(Default)]
struct Faults {
    kill: AtomicU64,
    full_disk: AtomicU64,
    stall: AtomicU64,
    reset: AtomicU64,
    close_channels: AtomicU64,
}

/// The TCP proxy's controls: stall forwarding until a time, drop every connection.
struct Proxy {
    stall_until_ms: AtomicU64,
    reset: tokio::sync::watch::Sender<u64>,
    started: Instant,
}

fn main() {
    let args = Args::parse();
    QUORUM.store(args.quorum, Ordering::Relaxed);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let data = std::env::temp_dir().join(format!("warren-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("data dir");
    let mounted = match args.tmpfs_mb {
        Some(mb) => {
            let ok = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
                .arg(&data)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "cannot mount a tmpfs at {} (root needed)",
                data.display()
            );
            true
        }
        None => false,
    };
    let amqp = free_port();
    let http = free_port();
    let mut broker = start_broker(&data, amqp, http, args.disk_free_limit);
    let proxy = Arc::new(Proxy {
        stall_until_ms: AtomicU64::new(0),
        reset: tokio::sync::watch::Sender::new(0),
        started: Instant::now(),
    });
    let proxy_addr = serve_proxy(proxy.clone(), SocketAddr::from(([127, 0, 0, 1], amqp))).await;
    let url = format!("amqp://guest:guest@{proxy_addr}/%2f");
    let ledger = Arc::new(Ledger {
        attempted: (0..args.queues).map(|_| AtomicU64::new(0)).collect(),
        confirmed: (0..args.queues).map(|_| Mutex::default()).collect(),
        delivered: (0..args.queues).map(|_| Mutex::default()).collect(),
        reconnects: AtomicU64::new(0),
    });
    let publishing = Arc::new(AtomicBool::new(true));
    let consuming = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for q in 0..args.queues {
        tasks.push(tokio::spawn(publisher(
            url.clone(),
            q,
            args.rate,
            ledger.clone(),
            publishing.clone(),
        )));
        tasks.push(tokio::spawn(consumer(
            url.clone(),
            q,
            ledger.clone(),
            consuming.clone(),
        )));
    }
    let faults = Faults::default();
    let started = Instant::now();
    let mut round = 0u64;
    while started.elapsed() < Duration::from_secs(args.duration) {
        tokio::time::sleep(Duration::from_millis(args.fault_every_ms)).await;
        round += 1;
        match round % 5 {
            0 => {
                // kill -9 and restart on the same ports and data.
                let _ = broker.kill();
                let _ = broker.wait();
                broker = start_broker(&data, amqp, http, args.disk_free_limit);
                faults.kill.fetch_add(1, Ordering::Relaxed);
            }
            1 => {
                fill_disk(&data, mounted, http, args.disk_free_limit).await;
                faults.full_disk.fetch_add(1, Ordering::Relaxed);
            }
            2 => {
                let until = proxy.started.elapsed() + Duration::from_secs(3);
                proxy
                    .stall_until_ms
                    .store(until.as_millis() as u64, Ordering::Relaxed);
                faults.stall.fetch_add(1, Ordering::Relaxed);
            }
            3 => {
                proxy.reset.send_modify(|g| *g += 1);
                faults.reset.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                let plan = r#"{"target":"all","steps":[{"action":"close_channel","code":406,"text":"soak"}]}"#;
                if control(http, "POST", "/api/warren/faults", plan).await {
                    faults.close_channels.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        eprintln!(
            "{:>5} s: confirmed {} delivered {} reconnects {}",
            started.elapsed().as_secs(),
            ledger
                .confirmed
                .iter()
                .map(|c| c.lock().map_or(0, |c| c.len()))
                .sum::<usize>(),
            ledger
                .delivered
                .iter()
                .map(|d| d.lock().map_or(0, |d| d.len()))
                .sum::<usize>(),
            ledger.reconnects.load(Ordering::Relaxed)
        );
    }
    // Quiet: publishers stop, consumers drain every queue.
    publishing.store(false, Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs(180);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if queues_empty(http, args.queues).await || Instant::now() > drain_deadline {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    consuming.store(false, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    let _ = broker.kill();
    let _ = broker.wait();
    if mounted {
        let _ = Command::new("umount").arg(&data).status();
    }
    let _ = std::fs::remove_dir_all(&data);
    report(&args, &ledger, &faults, started.elapsed());
}

fn report(args: &Args, ledger: &Ledger, faults: &Faults, took: Duration) {
    let (mut confirmed, mut lost, mut invented, mut dups, mut dups_unflagged, mut order) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for q in 0..args.queues {
        let c = ledger.confirmed[q]
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let d = ledger.delivered[q]
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        let attempted = ledger.attempted[q].load(Ordering::Relaxed);
        let mut seen: HashMap<u64, u32> = HashMap::new();
        let mut last_first = 0u64;
        for &(seq, redelivered) in &d {
            if seq == 0 || seq > attempted {
                invented += 1;
                continue;
            }
            let n = seen.entry(seq).or_insert(0);
            *n += 1;
            if *n > 1 {
                dups += 1;
                if !redelivered {
                    dups_unflagged += 1;
                }
            } else if !redelivered {
                if seq < last_first {
                    order += 1;
                }
                last_first = seq;
            }
        }
        confirmed += c.len() as u64;
        lost += c.iter().filter(|s| !seen.contains_key(s)).count() as u64;
    }
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    eprintln!(
        "soak {} s: confirmed {confirmed}, lost {lost}, invented {invented}, duplicates {dups} ({dups_unflagged} without the redelivered flag), order breaks {order}; faults: kill -9 {}, full disk {}, stall {}, reset {}, close channels {}",
        took.as_secs(),
        load(&faults.kill),
        load(&faults.full_disk),
        load(&faults.stall),
        load(&faults.reset),
        load(&faults.close_channels)
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "soak", "seconds": took.as_secs(), "queues": args.queues,
            "confirmed": confirmed, "lost": lost, "invented": invented,
            "duplicates": dups, "duplicates_without_redelivered": dups_unflagged,
            "order_breaks": order, "reconnects": load(&ledger.reconnects),
            "faults": {"kill": load(&faults.kill), "full_disk": load(&faults.full_disk),
                       "stall": load(&faults.stall), "reset": load(&faults.reset),
                       "close_channels": load(&faults.close_channels)},
            "real_full_disk": args.tmpfs_mb.is_some(),
        })
    );
    assert_eq!(lost, 0, "confirmed messages were lost");
    assert_eq!(invented, 0, "messages nobody published were delivered");
}

fn queue_name(q: usize) -> String {
    format!("soak-{q}")
}

async fn connect(url: &str, ledger: &Ledger) -> Connection {
    loop {
        match tokio::time::timeout(
            Duration::from_secs(5),
            Connection::connect(url, ConnectionProperties::default()),
        )
        .await
        {
            Ok(Ok(c)) => return c,
            _ => {
                ledger.reconnects.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Set from `--quorum` before the load starts.
static QUORUM: AtomicBool = AtomicBool::new(false);

async fn declare(ch: &lapin::Channel, q: usize) -> lapin::Result<()> {
    let mut args = FieldTable::default();
    if QUORUM.load(Ordering::Relaxed) {
        args.insert(
            "x-queue-type".into(),
            lapin::types::AMQPValue::LongString("quorum".into()),
        );
    }
    ch.queue_declare(
        &queue_name(q),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await
    .map(drop)
}

/// Publishes sequence numbers 1, 2, … (never again: an unconfirmed one may or may not
/// arrive), persistent, with confirms awaited in windows of 20.
async fn publisher(url: String, q: usize, rate: u64, ledger: Arc<Ledger>, on: Arc<AtomicBool>) {
    let mut seq = 0u64;
    let pause = Duration::from_micros(1_000_000 / rate.max(1));
    while on.load(Ordering::Relaxed) {
        let conn = connect(&url, &ledger).await;
        let Ok(ch) = conn.create_channel().await else {
            continue;
        };
        if ch
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .is_err()
            || declare(&ch, q).await.is_err()
        {
            continue;
        }
        'session: while on.load(Ordering::Relaxed) {
            let mut window = Vec::with_capacity(20);
            for _ in 0..20 {
                seq += 1;
                ledger.attempted[q].store(seq, Ordering::Relaxed);
                let sent = ch
                    .basic_publish(
                        "",
                        &queue_name(q),
                        BasicPublishOptions::default(),
                        seq.to_string().as_bytes(),
                        BasicProperties::default()
                            .with_delivery_mode(if QUORUM.load(Ordering::Relaxed) { 1 } else { 2 }),
                    )
                    .await;
                match sent {
                    Ok(confirm) => window.push((seq, confirm)),
                    Err(_) => break 'session,
                }
                tokio::time::sleep(pause).await;
            }
            for (s, confirm) in window {
                match tokio::time::timeout(Duration::from_secs(30), confirm).await {
                    Ok(Ok(Confirmation::Ack(_))) => {
                        if let Ok(mut c) = ledger.confirmed[q].lock() {
                            c.insert(s);
                        }
                    }
                    Ok(Ok(_)) => {}
                    _ => break 'session,
                }
            }
        }
        let _ = conn.close(200, "").await;
    }
}

async fn consumer(url: String, q: usize, ledger: Arc<Ledger>, on: Arc<AtomicBool>) {
    while on.load(Ordering::Relaxed) {
        let conn = connect(&url, &ledger).await;
        let Ok(ch) = conn.create_channel().await else {
            continue;
        };
        if ch.basic_qos(50, BasicQosOptions::default()).await.is_err()
            || declare(&ch, q).await.is_err()
        {
            continue;
        }
        let Ok(mut deliveries) = ch
            .basic_consume(
                &queue_name(q),
                "",
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
        else {
            continue;
        };
        while let Some(Ok(d)) = deliveries.next().await {
            let seq = std::str::from_utf8(&d.data)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if let Ok(mut v) = ledger.delivered[q].lock() {
                v.push((seq, d.redelivered));
            }
            if d.ack(BasicAckOptions::default()).await.is_err() {
                break;
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_broker(data: &Path, amqp: u16, http: u16, disk_free_limit: u64) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["--listen", &format!("127.0.0.1:{amqp}")])
        .args(["--management-listen", &format!("127.0.0.1:{http}")])
        .args(["--no-prometheus", "--log-level", "error"])
        .args(["--disk-free-limit", &disk_free_limit.to_string()])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .spawn()
        .expect("warren starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", amqp)).is_err() {
        assert!(Instant::now() < deadline, "warren did not come back");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Runs the broker short of disk for 3 s: a real filler file on a tmpfs, else the simulated
/// alarm.
async fn fill_disk(data: &Path, mounted: bool, http: u16, limit: u64) {
    if !mounted {
        control(http, "PUT", "/api/warren/alarms/disk", r#"{"raised":true}"#).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        control(
            http,
            "PUT",
            "/api/warren/alarms/disk",
            r#"{"raised":false}"#,
        )
        .await;
        return;
    }
    let filler: PathBuf = data.join("filler");
    let free = rustix::fs::statvfs(data)
        .map(|s| s.f_bavail * s.f_frsize)
        .unwrap_or(0);
    let size = free.saturating_sub(limit / 2);
    let _ = std::fs::File::create(&filler).and_then(|f| {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(f);
        let chunk = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        f.flush()
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = std::fs::remove_file(&filler);
}

/// One request to the control API as guest; whether it got a 2xx.
async fn control(http: u16, method: &'static str, path: &'static str, body: &'static str) -> bool {
    tokio::task::spawn_blocking(move || {
        let url = format!("http://127.0.0.1:{http}{path}");
        let auth = "Basic Z3Vlc3Q6Z3Vlc3Q=";
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let r = match method {
            "PUT" => agent
                .put(&url)
                .header("Authorization", auth)
                .content_type("application/json")
                .send(body.as_bytes()),
            _ => agent
                .post(&url)
                .header("Authorization", auth)
                .content_type("application/json")
                .send(body.as_bytes()),
        };
        r.is_ok()
    })
    .await
    .unwrap_or(false)
}

async fn queues_empty(http: u16, queues: usize) -> bool {
    let body = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        agent
            .get(&format!("http://127.0.0.1:{http}/api/warren/snapshot"))
            .header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()
    })
    .await
    .ok()
    .flatten();
    let Some(body) = body else {
        return false;
    };
    let Ok(s) = serde_json::from_str::<serde_json::Value>(&body) else {
        return false;
    };
    let qs = s["vhosts"][0]["queues"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    qs.len() >= queues && qs.iter().all(|q| q["messages"] == 0)
}

/// A TCP proxy in front of the broker: forwards both ways, holds everything while stalled,
/// and drops every connection when told to reset.
async fn serve_proxy(p: Arc<Proxy>, upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let p = p.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let mut reset = p.reset.subscribe();
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::select! {
                    _ = pipe(cr, sw, &p) => {}
                    _ = pipe(sr, cw, &p) => {}
                    _ = reset.changed() => {}
                }
            });
        }
    });
    addr
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    p: &Proxy,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let now = p.started.elapsed().as_millis() as u64;
        let until = p.stall_until_ms.load(Ordering::Relaxed);
        if until > now {
            tokio::time::sleep(Duration::from_millis(until - now)).await;
        }
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
