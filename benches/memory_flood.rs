//! The memory alarm under a publisher flood: the `warren` binary started with a
//! `--memory-high-watermark`, publishers sending 1 KiB messages to a queue nobody consumes,
//! for a while (default 10 minutes), the broker's RSS sampled every second. With the alarm
//! working the RSS levels off near the watermark (in memory: publishers are blocked; with a
//! data directory: queues page to disk, and publishers go on at the disk's pace).
//!
//!     cargo bench --bench memory_flood -- --duration 120 --watermark 32MiB
//!     cargo bench --bench memory_flood -- --duration 120 --watermark 32MiB --data-dir /tmp/wd --rate 20000
//!
//! Per-second samples go to stderr; one JSON result line goes to stdout.

use clap::Parser;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(about = "Publisher flood with no consumer against warren's memory alarm")]
struct Args {
    /// Seconds to flood for.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// --memory-high-watermark for the broker.
    #[arg(long, default_value = "32MiB")]
    watermark: String,
    /// Keep durable state here (emptied first); without it the broker runs in memory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    publishers: usize,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Messages per second over all publishers; 0 for as fast as they go.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Accept cargo bench's own flag.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The broker's resident set, from /proc.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

fn start_broker(args: &Args, port: u16) -> std::io::Result<Child> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren"));
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--memory-high-watermark")
        .arg(&args.watermark)
        .arg("--log-level")
        .arg("warn")
        .arg("--no-management")
        .arg("--no-prometheus")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match &args.data_dir {
        Some(dir) => {
            let _ = std::fs::remove_dir_all(dir);
            cmd.arg("--data-dir").arg(dir);
        }
        None => {
            cmd.arg("--in-memory");
        }
    }
    cmd.spawn()
}

async fn connect(url: &str) -> Connection {
    for _ in 0..100 {
        if let Ok(c) = Connection::connect(url, ConnectionProperties::default()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the broker did not accept a connection at {url}");
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let watermark = warren::broker::memory::Watermark::parse(&args.watermark)
        .expect("a watermark")
        .bytes(warren::broker::memory::total_memory());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut broker = start_broker(&args, port).expect("warren starts");
    let pid = broker.id();
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let setup = connect(&url).await;
    let ch = setup.create_channel().await.expect("channel");
    let durable = args.data_dir.is_some();
    ch.queue_declare(
        "flood",
        QueueDeclareOptions {
            durable,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("queue.declare");
    let baseline = rss(pid).unwrap_or(0);

    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let mut conns = Vec::new();
    for _ in 0..args.publishers {
        let conn = Arc::new(connect(&url).await);
        conns.push(conn.clone());
        let (sent, size) = (sent.clone(), args.size);
        let per_publisher = args.rate / args.publishers as u64;
        tokio::spawn(async move {
            let ch = conn.create_channel().await.expect("channel");
            let body = vec![b'x'; size];
            let start = Instant::now();
            let mut n = 0u64;
            while Instant::now() < deadline {
                if per_publisher > 0 {
                    let due = start + Duration::from_secs_f64(n as f64 / per_publisher as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let published = ch
                    .basic_publish(
                        "",
                        "flood",
                        BasicPublishOptions::default(),
                        &body,
                        BasicProperties::default(),
                    )
                    .await;
                if published.is_err() {
                    return;
                }
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    let mut peak = 0u64;
    let mut blocked_samples = 0u64;
    let mut samples = Vec::new();
    let mut last = 0;
    let start = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = rss(pid).unwrap_or(0);
        peak = peak.max(r);
        let blocked = conns.iter().filter(|c| c.status().blocked()).count();
        if blocked > 0 {
            blocked_samples += 1;
        }
        let now = sent.load(Ordering::Relaxed);
        eprintln!(
            "{:>4}s rss {:>6.1} MiB  published {:>10} (+{:>7}/s)  blocked publishers {blocked}",
            start.elapsed().as_secs(),
            r as f64 / 1048576.0,
            now,
            now - last
        );
        last = now;
        samples.push(r);
    }
    let final_rss = rss(pid).unwrap_or(0);
    let _ = broker.kill();
    let _ = broker.wait();
    if let Some(dir) = &args.data_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "{{\"mode\":\"{}\",\"duration_s\":{},\"watermark_mib\":{:.1},\"baseline_rss_mib\":{:.1},\"peak_rss_mib\":{:.1},\"final_rss_mib\":{:.1},\"peak_over_watermark_mib\":{:.1},\"published\":{},\"seconds_with_a_blocked_publisher\":{}}}",
        if durable { "data-dir" } else { "in-memory" },
        args.duration,
        mib(watermark),
        mib(baseline),
        mib(peak),
        mib(final_rss),
        mib(peak) - mib(watermark),
        sent.load(Ordering::Relaxed),
        blocked_samples
    );
}
