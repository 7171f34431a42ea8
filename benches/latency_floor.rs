//! The floor under S6's end-to-end latency on this machine: a sender paced like loadgen's
//! `--rate`, a relay that does nothing but copy bytes, and a receiver, over loopback TCP with
//! blocking sockets. A broker sits where the relay is and can only add to this; any latency
//! goal below it cannot be met by any broker here. Prints one JSON line per rate.
//!
//!   cargo bench --bench latency_floor -- [--spin relay|all] [RATE ...]   (default: 1000 10000)
//!
//! `--spin relay` makes the relay busy-poll its socket instead of sleeping in `read`, as a
//! broker that spends a core spinning would; `--spin all` makes the receiver spin too. They
//! show how much of the floor is the kernel waking a sleeping thread, hop by hop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Seconds measured per rate (after a short settling pause).
const SECONDS: u64 = 5;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn connect(port: u16) -> Res<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Copies what the first accepted connection sends to the second, as a broker that routes
/// nothing and parses nothing would.
fn relay(listener: TcpListener, spin: bool) -> Res<()> {
    let (mut from, _) = listener.accept()?;
    let (mut to, _) = listener.accept()?;
    from.set_nodelay(true)?;
    to.set_nodelay(true)?;
    from.set_nonblocking(spin)?;
    let mut buf = [0u8; 65536];
    loop {
        let n = read_spinning(&mut from, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

/// A read that, on a non-blocking socket, spins until there is something to read.
fn read_spinning(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            other => return other,
        }
    }
}

/// Sends `count` send-time stamps, evenly spaced at `rate` per second.
fn send(port: u16, rate: u64, count: u64) -> Res<()> {
    let mut s = connect(port)?;
    // Let the receiver connect first, so nothing waits in the relay.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    for i in 0..count {
        let due = started + Duration::from_nanos(i * 1_000_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        s.write_all(&now_ns().to_be_bytes())?;
    }
    Ok(())
}

/// Latencies in µs of `count` stamps, sorted.
fn receive(port: u16, count: usize, spin: bool) -> Res<Vec<u64>> {
    let mut s = connect(port)?;
    s.set_nonblocking(spin)?;
    let mut latencies = Vec::with_capacity(count);
    let mut pending = Vec::new();
    let mut buf = [0u8; 65536];
    while latencies.len() < count {
        let n = read_spinning(&mut s, &mut buf)?;
        let now = now_ns();
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let whole = pending.len() / 8 * 8;
        for stamp in pending[..whole].chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(stamp);
            latencies.push(now.saturating_sub(u64::from_be_bytes(b)) / 1000);
        }
        pending.drain(..whole);
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// Which sides busy-poll instead of sleeping in `read`.
#[derive(Clone, Copy, PartialEq)]
enum Spin {
    None,
    Relay,
    All,
}

fn measure(rate: u64, spin: Spin) -> Res<(u64, u64, usize)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let count = rate * SECONDS;
    let relay = std::thread::spawn(move || relay(listener, spin != Spin::None));
    let sender = std::thread::spawn(move || send(port, rate, count));
    // The relay takes the sender's connection first: wait for it before connecting.
    std::thread::sleep(Duration::from_millis(100));
    let latencies = receive(port, count as usize, spin == Spin::All)?;
    sender.join().map_err(|_| "sender panicked")??;
    relay.join().map_err(|_| "relay panicked")??;
    let at = |q: usize| {
        latencies
            .get(latencies.len() * q / 100)
            .copied()
            .unwrap_or(0)
    };
    Ok((at(50), at(99), latencies.len()))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spin = match args.iter().position(|a| a == "--spin") {
        None => Spin::None,
        Some(i) => match args.get(i + 1).map(String::as_str) {
            Some("relay") => Spin::Relay,
            Some("all") => Spin::All,
            other => return Err(format!("--spin takes relay or all, not {other:?}").into()),
        },
    };
    let spin_name = match spin {
        Spin::None => "none",
        Spin::Relay => "relay",
        Spin::All => "all",
    };
    let mut rates: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if rates.is_empty() {
        rates = vec![1000, 10000];
    }
    for rate in rates {
        let (p50, p99, n) = measure(rate, spin)?;
        println!(
            r#"{{"rate": {rate}, "spin": "{spin_name}", "messages": {n}, "latency_us": {{"p50": {p50}, "p99": {p99}}}}}"#
        );
    }
    Ok(())
}
