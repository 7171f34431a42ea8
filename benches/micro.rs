//! Micro-benchmarks (harness = false, plain timing): the frame codec, topic routing with
//! 10,000 bindings, and topic routing's worst case (patterns of many `#` against long keys).
//! `cargo bench --bench micro`; `cargo bench --bench micro -- NAME` runs only the groups whose
//! name contains NAME (`codec`, `topic routing`, `topic worst case`), so `-- topic` skips the
//! codec.

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
            destination: Destination::Queue(format!("q{i}").into()),
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

/// Many `#` in one pattern against a long key: the case where trying every suffix for every
/// `#` is exponential in the number of `#`. Each pattern gets its own queue; the keys alternate
/// between one that matches (ends in `z`) and one that does not.
fn topic_worst_case(hashes: usize, words: usize, iterations: u64) {
    let mut router = TopicRouter::default();
    let mut pattern = "#.".repeat(hashes);
    pattern.push('z');
    let mut starred = "#.*.".repeat(hashes / 2);
    starred.push('z');
    for (i, p) in [pattern.as_str(), starred.as_str()].into_iter().enumerate() {
        router.bind(&Binding {
            destination: Destination::Queue(format!("q{i}").into()),
            routing_key: p.to_owned(),
            arguments: FieldTable::new(),
        });
    }
    let key = |last: &str| {
        let mut k = "a.".repeat(words - 1);
        k.push_str(last);
        k
    };
    let keys = [key("z"), key("y")];
    let mut out = Vec::new();
    let mut k = 0usize;
    time(
        &format!("topic route, {hashes} x # then z, {words}-word key"),
        iterations,
        || {
            out.clear();
            router.route(&keys[k % 2], None, &mut out);
            black_box(&out);
            k += 1;
        },
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with("--"));
    let run = |name: &str| filter.is_none_or(|f| name.contains(f.as_str()));
    if run("codec") {
        codec();
    }
    if run("topic routing") {
        topic_routing();
    }
    if run("topic worst case") {
        topic_worst_case(7, 40, 20_000);
        topic_worst_case(10, 127, 20_000);
    }
}
