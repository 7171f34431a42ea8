//! `Broker::reset()` under load, issue 17's target: 1,000 queues, 100 open connections and
//! 100,000 messages, back to a fresh broker in under 10 ms. The broker runs in-process (as a
//! Rust test suite embeds it); lapin fills it over real sockets before each round.
//!
//!     cargo bench --bench reset -- --rounds 5
//!
//! One line per round on stderr; one JSON result line on stdout.

use clap::Parser;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::time::{Duration, Instant};
use warren::Broker;

#[derive(Debug, Parser)]
#[command(about = "Time Broker::reset() with queues, connections and messages in place")]
struct Args {
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    #[arg(long, default_value_t = 1000)]
    queues: usize,
    #[arg(long, default_value_t = 100)]
    connections: usize,
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 100)]
    body: usize,
    /// Ignored: cargo bench passes it.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let broker = Broker::start().expect("broker starts");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut resets = Vec::new();
    let mut snapshots = Vec::new();
    for round in 1..=args.rounds {
        let conns = rt.block_on(fill(&broker, &args));
        let t = Instant::now();
        let s = broker.snapshot();
        snapshots.push(t.elapsed());
        let held: u64 = s
            .vhosts
            .iter()
            .flat_map(|v| &v.queues)
            .map(|q| q.messages)
            .sum();
        assert_eq!(
            held, args.messages as u64,
            "every message is in before the reset"
        );
        assert_eq!(s.connections.len(), args.connections);
        let t = Instant::now();
        broker.reset();
        let took = t.elapsed();
        resets.push(took);
        let after = broker.snapshot();
        assert!(after.connections.is_empty());
        assert!(after.vhosts.iter().all(|v| v.queues.is_empty()));
        // The clients see their connection.close.
        rt.block_on(async {
            for c in &conns {
                let deadline = Instant::now() + Duration::from_secs(10);
                while c.status().connected() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                assert!(!c.status().connected(), "a connection was not closed");
            }
        });
        eprintln!(
            "round {round}: reset {:.2} ms with {} queues, {} connections, {} messages (snapshot {:.2} ms)",
            ms(took),
            args.queues,
            args.connections,
            args.messages,
            ms(snapshots[round - 1])
        );
    }
    resets.sort();
    snapshots.sort();
    let median = |v: &[Duration]| ms(v[v.len() / 2]);
    println!(
        "{}",
        serde_json::json!({
            "bench": "reset",
            "queues": args.queues,
            "connections": args.connections,
            "messages": args.messages,
            "reset_ms_median": median(&resets),
            "reset_ms_max": ms(*resets.last().unwrap_or(&Duration::ZERO)),
            "snapshot_ms_median": median(&snapshots),
        })
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Opens the connections (each with a channel), declares the queues and publishes the
/// messages round-robin over them, confirmed.
async fn fill(broker: &Broker, args: &Args) -> Vec<Connection> {
    let mut conns = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let c = Connection::connect(&broker.url(), ConnectionProperties::default())
            .await
            .expect("connect");
        c.create_channel().await.expect("channel");
        conns.push(c);
    }
    let ch = conns[0].create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    for q in 0..args.queues {
        ch.queue_declare(
            &format!("q{q}"),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare");
    }
    let body = vec![b'x'; args.body];
    let mut pending = Vec::with_capacity(1000);
    for i in 0..args.messages {
        let confirm = ch
            .basic_publish(
                "",
                &format!("q{}", i % args.queues),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        pending.push(confirm);
        if pending.len() == 1000 {
            for c in pending.drain(..) {
                c.await.expect("confirmed");
            }
        }
    }
    for c in pending {
        c.await.expect("confirmed");
    }
    conns
}
