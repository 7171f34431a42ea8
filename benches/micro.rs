//! Micro-benchmarks (harness = false, plain timing): the frame codec and topic routing with
//! 10,000 bindings. `cargo bench --bench micro`.

use bytes::BytesMut;
use std::hint::black_box;
use std::time::Instant;
use warren::broker::exchange::topic::TopicRouter;
use warren::broker::exchange::{Binding, Destination, Router};
use warren::protocol::frame::write_content;
use warren::protocol::methods::BasicPublish;
use warren::protocol::{BasicProperties, FieldTable, Frame, Method};

fn time<F: FnMut()>(name: &str, iterations: u64, mut f: F) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{name:<48} {ns:>10.1} ns/iter");
}

fn codec() {
    let method = Method::BasicPublish(BasicPublish {
        exchange: "amq.topic".into(),
        routing_key: "orders.eu.created".into(),
        ..Default::default()
    });
    let props = BasicProperties {
        content_type: Some("application/json".into()),
        delivery_mode: Some(2),
        ..Default::default()
    }
    .to_bytes();
    for size in [16usize, 1024] {
        let body = vec![7u8; size];
        let mut out = BytesMut::new();
        time(
            &format!("encode publish + header + body ({size} B)"),
            1_000_000,
            || {
                out.clear();
                write_content(&mut out, 1, &method, &props, &body, 131072);
                black_box(&out);
            },
        );
        let mut wire = BytesMut::new();
        write_content(&mut wire, 1, &method, &props, &body, 131072);
        let wire = wire.freeze();
        time(
            &format!("decode publish + header + body ({size} B)"),
            1_000_000,
            || {
                let mut buf = BytesMut::from(&wire[..]);
                while let Ok(Some(f)) = Frame::decode(&mut buf, 131072) {
                    black_box(f);
                }
            },
        );
    }
}

fn topic_routing() {
    let words = [
        "orders", "payments", "users", "eu", "us", "apac", "created", "updated", "deleted", "audit",
    ];
    let mut router = TopicRouter::default();
    let mut n = 0u64;
    for i in 0..10_000u64 {
        let w = |k: u64| words[((i / 10u64.pow(k as u32)) % 10) as usize];
        let pattern = match i % 4 {
            0 => format!("{}.{}.{}", w(0), w(1), w(2)),
            1 => format!("{}.*.{}", w(0), w(2)),
            2 => format!("{}.#", w(1)),
            _ => format!("*.{}.{}.{}", w(0), w(1), w(3)),
        };
        router.bind(&Binding {
            destination: Destination::Queue(format!("q{i}")),
            routing_key: pattern,
            arguments: FieldTable::new(),
        });
        n += 1;
    }
    let keys: Vec<String> = (0..1000u64)
        .map(|i| {
            format!(
                "{}.{}.{}",
                words[(i % 10) as usize],
                words[(i / 10 % 10) as usize],
                words[(i / 100 % 10) as usize]
            )
        })
        .collect();
    let mut out = Vec::new();
    let mut k = 0usize;
    let mut matched = 0usize;
    time(&format!("topic route, {n} bindings"), 200_000, || {
        out.clear();
        router.route(&keys[k % keys.len()], None, &mut out);
        matched += out.len();
        k += 1;
    });
    println!(
        "  (average {:.1} destinations per key)",
        matched as f64 / k as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    codec();
    topic_routing();
}
