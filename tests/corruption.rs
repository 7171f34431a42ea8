//! The corruption matrix: a data directory written by a real broker (lapin publishing
//! persistent messages to durable queues, some acked), then, for every file the store
//! writes (message segments, ack files, the shutdown index, the definitions snapshot,
//! access.json) and every region of it (the first record's header, a middle record's length,
//! its checksum, its payload, the last byte), each damage (a flipped byte, eight zeroed bytes,
//! the file cut there) on a fresh copy. Every time the broker must open the directory without
//! a panic and recover every message outside the damaged records.

mod common;

use common::*;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::{BasicProperties, options::BasicPublishOptions};
use std::path::{Path, PathBuf};
use warren::broker::Core;
use warren::store::record::{Item, Scanner};

const PER_QUEUE: usize = 20;
const ACKED: usize = 5;
/// Ready messages in the pristine directory: 20 in "b", 20 - 5 acked in "a".
const LIVE: u64 = (2 * PER_QUEUE - ACKED) as u64;

/// Writes the pristine data directory with a real broker, stopped cleanly (so it has a
/// shutdown index too).
fn pristine(dir: &Path) {
    let broker = Broker::start_in(dir).expect("broker starts");
    // A user of its own, so access.json is written.
    broker.core().add_admin("ops", "secret");
    runtime().block_on(async {
        let conn = connect(&broker).await;
        let ch = confirm_channel(&conn).await;
        for q in ["a", "b"] {
            declare_durable(&ch, q).await;
            for i in 0..PER_QUEUE {
                publish_with(
                    &ch,
                    "",
                    q,
                    format!("{q}{i}").as_bytes(),
                    BasicPublishOptions::default(),
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await;
            }
        }
        for _ in 0..ACKED {
            let got = within(ch.basic_get("a", BasicGetOptions::default()))
                .await
                .expect("get")
                .expect("a message");
            got.ack(BasicAckOptions::default()).await.expect("ack");
        }
        conn.close(200, "done").await.expect("close");
    });
    broker.shutdown();
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files(from) {
        let rel = f.strip_prefix(from).expect("inside");
        let target = to.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&f, &target).expect("copy");
    }
}

/// Byte ranges of a framed file's records.
fn records(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    Scanner::new(data)
        .filter_map(|item| match item {
            Item::Record { offset, payload } => Some(offset..offset + 8 + payload.len()),
            _ => None,
        })
        .collect()
}

/// Where to damage a file: (region name, offset).
fn regions(data: &[u8], framed: bool) -> Vec<(&'static str, usize)> {
    let n = data.len();
    if !framed {
        return vec![
            ("start", 0),
            ("quarter", n / 4),
            ("middle", n / 2),
            ("tail", n - 1),
        ];
    }
    let recs = records(data);
    let mid = recs[recs.len() / 2].clone();
    vec![
        ("header", 0),
        ("length", mid.start),
        ("checksum", mid.start + 4),
        ("body", mid.start + 8 + (mid.len() - 8) / 2),
        ("tail", n - 1),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Flip,
    Zero,
    Truncate,
}

fn damage(path: &Path, at: usize, how: Damage) -> std::ops::Range<usize> {
    let mut data = std::fs::read(path).expect("read");
    let hit = match how {
        Damage::Flip => {
            data[at] ^= 0xff;
            at..at + 1
        }
        Damage::Zero => {
            let end = (at + 8).min(data.len());
            data[at..end].fill(0);
            at..end
        }
        Damage::Truncate => {
            let n = data.len();
            data.truncate(at);
            at..n
        }
    };
    std::fs::write(path, data).expect("write");
    hit
}

fn ready(core: &Core, queue: &str) -> Option<u64> {
    core.snapshot().queue(queue).map(|q| q.messages_ready)
}

#[test]
fn every_damage_to_every_file_is_survived_and_only_the_damaged_records_are_lost() {
    init_logs();
    let root = std::env::temp_dir().join(format!("warren-corruption-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let clean = root.join("pristine");
    pristine(&clean);
    let all = files(&clean);
    let kinds = [
        "access.json",
        "definitions.dat",
        ".seg",
        ".ack",
        "index.dat",
    ];
    for kind in kinds {
        assert!(
            all.iter().any(|f| f.to_string_lossy().ends_with(kind)),
            "the pristine directory has a {kind} file: {all:?}"
        );
    }
    let mut cases = 0;
    for file in &all {
        let rel = file.strip_prefix(&clean).expect("inside").to_path_buf();
        let name = rel.to_string_lossy().into_owned();
        let data = std::fs::read(file).expect("read");
        let framed = !name.ends_with(".json");
        for (region, at) in regions(&data, framed) {
            for how in [Damage::Flip, Damage::Zero, Damage::Truncate] {
                cases += 1;
                let case = root.join(format!("case-{cases}"));
                copy_dir(&clean, &case);
                let hit = damage(&case.join(&rel), at, how);
                let what = format!("{name} {region} {how:?} at {at}");
                let core = Core::open(&case).unwrap_or_else(|e| panic!("{what}: no start: {e}"));
                let (a, b) = (ready(&core, "a"), ready(&core, "b"));
                let total = a.unwrap_or(0) + b.unwrap_or(0);
                if name.ends_with(".seg") {
                    // Each publish record holds one message; those the damage touched (or
                    // that lie after a cut) may be lost, no other.
                    let lost = records(&data)
                        .iter()
                        .filter(|r| r.start < hit.end && hit.start < r.end)
                        .count() as u64
                        + match how {
                            Damage::Truncate => {
                                records(&data).iter().filter(|r| r.start >= hit.end).count() as u64
                            }
                            _ => 0,
                        };
                    assert!(
                        total <= LIVE && total + lost >= LIVE,
                        "{what}: {total} recovered, {lost} records hit"
                    );
                    // Counted is not delivered: with the shutdown index the positions are
                    // trusted and read back later. Every message outside the damage must
                    // really come out.
                    core.close(false);
                    drop(core);
                    let delivered = drain_all(&case);
                    assert!(
                        delivered <= LIVE && delivered + lost >= LIVE,
                        "{what}: {delivered} delivered, {lost} records hit"
                    );
                    let _ = std::fs::remove_dir_all(&case);
                    continue;
                } else if name.ends_with(".ack") {
                    // Lost settlements bring acked messages back (redelivered), nothing goes.
                    assert!(
                        (LIVE..=LIVE + ACKED as u64).contains(&total),
                        "{what}: {total} recovered"
                    );
                } else if name.ends_with("definitions.dat") {
                    // A queue whose definition record is damaged is gone with its messages;
                    // the other is whole.
                    assert!(
                        a.is_none_or(|n| n == (PER_QUEUE - ACKED) as u64)
                            && b.is_none_or(|n| n == PER_QUEUE as u64),
                        "{what}: a={a:?} b={b:?}"
                    );
                    assert!(
                        a.is_some() || b.is_some() || how_hits_all(&data, &hit),
                        "{what}"
                    );
                } else {
                    // The index (rejected, so the log is scanned) and access.json (set aside,
                    // the vhosts found on disk) lose no message.
                    assert_eq!(total, LIVE, "{what}: a={a:?} b={b:?}");
                }
                core.close(false);
                drop(core);
                let _ = std::fs::remove_dir_all(&case);
            }
        }
    }
    assert!(cases >= 60, "{cases} cases");
    eprintln!("corruption matrix: {cases} cases, every one recovered without a panic");
    let _ = std::fs::remove_dir_all(&root);
}

/// Starts a broker on `dir` and takes every message of "a" and "b" out; how many came.
fn drain_all(dir: &Path) -> u64 {
    let broker = Broker::start_in(dir).expect("broker starts");
    let n = runtime().block_on(async {
        let conn = connect(&broker).await;
        let ch = within(conn.create_channel()).await.expect("channel");
        let mut n = 0;
        for q in ["a", "b"] {
            n += drain(&ch, q).await.len() as u64;
        }
        n
    });
    broker.shutdown();
    n
}

/// Whether a damage reaches both queue records of a definitions file (a cut before them).
fn how_hits_all(data: &[u8], hit: &std::ops::Range<usize>) -> bool {
    records(data)
        .iter()
        .filter(|r| r.start >= hit.start || (r.start < hit.end && hit.start < r.end))
        .count()
        >= 2
}
