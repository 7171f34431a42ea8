//! The memory alarm (RabbitMQ's vm_memory_high_watermark) end to end with lapin: a publisher
//! that fills the broker past its watermark is blocked (connection.blocked, the socket not
//! read), and unblocked once memory falls, by a consumer draining or, with a data directory,
//! by queues paging their messages to disk. The reason text is checked with raw frames in
//! `raw_protocol.rs`.
//!
//! The memory account is process-wide (one broker's messages count for all brokers in the
//! process), so these tests run one at a time and set watermarks above what is already held.

mod common;

use common::*;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use warren::broker::memory::Watermark;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BODY: usize = 1024;

/// Publishes `n` numbered 1 KiB messages to `queue` in the background, counting them in
/// `sent` as lapin hands them to the socket.
fn flood(conn: Arc<Connection>, queue: &str, n: usize, sent: Arc<AtomicUsize>) {
    let queue = queue.to_owned();
    tokio::spawn(async move {
        let ch = conn.create_channel().await.expect("channel");
        for i in 0..n {
            let mut body = format!("{i:08}").into_bytes();
            body.resize(BODY, b'.');
            ch.basic_publish(
                "",
                &queue,
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default(),
            )
            .await
            .expect("publish");
            sent.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Waits (up to the test timeout) for `cond`.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Takes `n` messages from `queue` with a no-ack consumer on its own connection, checking
/// that they come in the order they were published.
async fn drain_in_order(broker: &Broker, queue: &str, n: usize) {
    let conn = connect(broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    let mut consumer = within(ch.basic_consume(
        queue,
        "drain",
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    for i in 0..n {
        let d = within(consumer.next())
            .await
            .expect("a delivery")
            .expect("delivery ok");
        assert_eq!(
            &d.data[..8],
            format!("{i:08}").as_bytes(),
            "message {i} in order"
        );
    }
}

/// In memory: the publisher is blocked once the queue holds the watermark's worth, stays
/// stalled while nothing is consumed, and finishes once a consumer drains the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_past_the_watermark_is_blocked_until_a_consumer_drains() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let broker = broker();
    let alarm = broker.core().memory_alarm().clone();
    let limit = alarm.used() + (2 << 20);
    alarm.set_watermark(Watermark::Absolute(limit));
    let conn = Arc::new(connect(&broker).await);
    // lapin writes nothing on a blocked connection: the queue is watched from another.
    let observer = connect(&broker).await;
    let ch = within(observer.create_channel()).await.unwrap();
    let q = declare(&ch, "filling", QueueDeclareOptions::default()).await;
    const N: usize = 6000; // about three times the watermark
    let sent = Arc::new(AtomicUsize::new(0));
    flood(conn.clone(), &q, N, sent.clone());

    until("connection.blocked", || conn.status().blocked()).await;
    let status = broker.core().node_status();
    assert!(status.mem_alarm && status.mem_used >= limit, "{status:?}");
    assert_eq!(status.mem_limit, limit);
    // Stalled: nothing more reaches the queue while nothing is consumed.
    let held = passive_counts(&ch, &q).await.0;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(passive_counts(&ch, &q).await.0, held);
    assert!(sent.load(Ordering::Relaxed) < N);
    assert!((held as usize) < N);

    drain_in_order(&broker, &q, N).await;
    until("the publisher to finish", || {
        sent.load(Ordering::Relaxed) == N
    })
    .await;
    until("connection.unblocked", || !conn.status().blocked()).await;
    until("the alarm to clear", || !alarm.is_raised()).await;
}

/// With a data directory: a queue holds more than a watermark set at runtime (as
/// `rabbitmqctl set_vm_memory_high_watermark`); a publisher is blocked, then unblocked with
/// no consumer at all, because the queue pages its messages to disk and memory falls. Every
/// message is then delivered, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_data_dir_queues_page_to_disk_and_the_publisher_goes_on() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let dir = std::env::temp_dir().join(format!("warren-memory-alarm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    init_logs();
    let broker = Broker::start_in(&dir).expect("broker");
    let alarm = broker.core().memory_alarm().clone();
    let base = alarm.used();
    let conn = Arc::new(connect(&broker).await);
    let ch = confirm_channel(&conn).await;
    let q = declare(
        &ch,
        "paging",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
    )
    .await;
    const FIRST: usize = 8000; // about 9 MiB, under MEMORY_LIMIT: all in memory
    let sent = Arc::new(AtomicUsize::new(0));
    flood(conn.clone(), &q, FIRST, sent.clone());
    until("the first messages", || {
        sent.load(Ordering::Relaxed) == FIRST
    })
    .await;
    wait_for_count(&ch, &q, FIRST as u32).await;
    let filled = alarm.used() - base;
    assert!(filled > 8 << 20, "{filled} bytes for {FIRST} messages");

    let limit = base + (4 << 20);
    alarm.set_watermark(Watermark::Absolute(limit));
    assert!(alarm.is_raised());
    // The next publish is held; the queue pages meanwhile.
    let more = Arc::new(
        Connection::connect(&broker.url(), Default::default())
            .await
            .unwrap(),
    );
    let publisher = more.create_channel().await.unwrap();
    let mut body = format!("{FIRST:08}").into_bytes();
    body.resize(BODY, b'.');
    let _ = publisher
        .basic_publish(
            "",
            &q,
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        )
        .await;
    until("connection.blocked", || more.status().blocked()).await;
    until("connection.unblocked without a consumer", || {
        !more.status().blocked()
    })
    .await;
    assert!(!alarm.is_raised());
    assert!(
        alarm.used() < limit,
        "paging brought memory under the watermark"
    );
    wait_for_count(&ch, &q, FIRST as u32 + 1).await;
    drain_in_order(&broker, &q, FIRST + 1).await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A manual-ack consumer without any prefetch window is held at 1,000 unacked deliveries
/// while the memory alarm is up (unacked messages stay in memory, so it would otherwise pull
/// a whole backlog in past the watermark); acks make room as a window's would, and once the
/// alarm clears it gets the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_without_prefetch_is_held_while_memory_is_short() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let broker = broker();
    // Another broker in the same process, whose memory monitor runs all along: what this
    // broker holds back must not be another's to release.
    let _other = warren::Broker::start().expect("a second broker");
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = declare(&ch, "held", QueueDeclareOptions::default()).await;
    const N: usize = 3000;
    for i in 0..N {
        within(ch.basic_publish(
            "",
            &q,
            BasicPublishOptions::default(),
            format!("{i:08}").as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    wait_for_count(&ch, &q, N as u32).await;
    // The publisher's connection is blocked under the alarm: the queue is watched from
    // another.
    let observer = connect(&broker).await;
    let och = within(observer.create_channel()).await.unwrap();
    broker.simulate_alarm(warren::broker::alarm::Resource::Memory, true);

    let consumer_conn = connect(&broker).await;
    let cch = within(consumer_conn.create_channel()).await.unwrap();
    let mut consumer = within(cch.basic_consume(
        &q,
        "no-window",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let mut next = async |expect: usize| {
        let d = within(consumer.next())
            .await
            .expect("a delivery")
            .expect("delivery ok");
        assert_eq!(&d.data[..], format!("{expect:08}").as_bytes());
        d.delivery_tag
    };
    let mut got = 0;
    while got < 1000 {
        next(got).await;
        got += 1;
    }
    // Held: the rest stay in the queue.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(passive_counts(&och, &q).await.0, (N - 1000) as u32);
    // Acking 400 makes room for 400 more, no more.
    within(cch.basic_ack(400, BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    while got < 1400 {
        next(got).await;
        got += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(passive_counts(&och, &q).await.0, (N - 1400) as u32);
    // The alarm clears: everything left comes without a single ack.
    broker.simulate_alarm(warren::broker::alarm::Resource::Memory, false);
    while got < N {
        let tag = next(got).await;
        got += 1;
        if got == N {
            within(cch.basic_ack(tag, BasicAckOptions { multiple: true }))
                .await
                .unwrap();
        }
    }
    wait_for_count(&och, &q, 0).await;
}
