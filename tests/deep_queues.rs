//! The queue extensions on queues deeper than memory holds: with a data directory, past
//! 16,384 ready messages (per priority level) a queue keeps messages on disk only, and TTL
//! expiry and priority order must still hold for them.

mod common;

use common::*;
use lapin::BasicProperties;
use lapin::options::*;
use lapin::types::FieldTable;

const N: usize = 20_000;

fn data_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("warren-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn paged_messages_expire_without_a_consumer() {
    let dir = data_dir("deep-ttl");
    let broker = Broker::start_in(&dir).expect("broker");
    let conn = connect(&broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_with(&ch, "deep", args(&[("x-message-ttl", int(300))])).await;
    for i in 0..2 * N {
        let body = format!("{i:08}");
        within(ch.basic_publish(
            "",
            "deep",
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    // Everything past the first 16,384 went to disk; all of it expires by itself.
    wait_for_count(&ch, "deep", 0).await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn paged_priority_levels_keep_their_order() {
    let dir = data_dir("deep-priority");
    let broker = Broker::start_in(&dir).expect("broker");
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "pq", args(&[("x-max-priority", int(3))])).await;
    let publisher = within(conn.create_channel()).await.unwrap();
    for (priority, tag) in [(0u8, "low"), (3, "high")] {
        for i in 0..N {
            let body = format!("{tag}-{i:05}");
            let props = BasicProperties::default().with_priority(priority);
            within(publisher.basic_publish(
                "",
                "pq",
                BasicPublishOptions::default(),
                body.as_bytes(),
                props,
            ))
            .await
            .unwrap();
        }
    }
    wait_for_count(&ch, "pq", 2 * N as u32).await;
    let reader = within(conn.create_channel()).await.unwrap();
    let mut consumer = consume_with(&reader, "pq", "c", true, FieldTable::default()).await;
    for (tag, _) in [("high", 3), ("low", 0)] {
        for i in 0..N {
            let d = next_delivery(&mut consumer).await;
            assert_eq!(String::from_utf8_lossy(&d.data), format!("{tag}-{i:05}"));
        }
    }
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_durable_priority_queue_keeps_its_order_across_a_restart() {
    let dir = data_dir("priority-restart");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    {
        let broker = Broker::start_in(&dir).expect("broker");
        let conn = connect(&broker).await;
        let ch = confirm_channel(&conn).await;
        within(ch.queue_declare("pq", durable, args(&[("x-max-priority", int(9))])))
            .await
            .unwrap();
        for (body, p) in [("a1", 1), ("b9", 9), ("c5", 5), ("d9", 9), ("e0", 0)] {
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_priority(p);
            publish_with(
                &ch,
                "",
                "pq",
                body.as_bytes(),
                BasicPublishOptions::default(),
                props,
            )
            .await;
        }
        let _ = conn.close(200, "bye").await;
        broker.shutdown();
    }
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let conn = connect(&broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    assert_eq!(
        drain_strings(&ch, "pq").await,
        ["b9", "d9", "c5", "a1", "e0"]
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ready messages a queue without consumers keeps in memory (`queue::MEMORY_LIMIT`); the
/// rest wait on disk.
const IN_MEMORY: usize = 16_384;

/// Lets held backlog reads go when dropped, so a failing test ends instead of leaving the
/// broker's shutdown waiting for a read.
struct HeldReads(std::sync::Arc<warren::store::VhostStore>);

impl HeldReads {
    fn release(&self) {
        self.0.log.hold_reads(false);
    }
}

impl Drop for HeldReads {
    fn drop(&mut self) {
        self.release();
    }
}

/// A queue of `2 * N` messages, `IN_MEMORY` of them in memory, and a consumer (no-ack)
/// that has been handed those, its connection now reading the rest back, a read the test
/// holds. (The connection sends what it was handed once its read is over.)
async fn held_read_back(
    broker: &Broker,
    queue: &str,
) -> (lapin::Connection, lapin::Consumer, HeldReads) {
    let conn = connect(broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare(&ch, queue, QueueDeclareOptions::default()).await;
    for i in 0..2 * N {
        within(ch.basic_publish(
            "",
            queue,
            BasicPublishOptions::default(),
            format!("{i:08}").as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    wait_for_count(&ch, queue, 2 * N as u32).await;
    let store = broker.core().vhost("/").unwrap().store().unwrap().clone();
    store.log.hold_reads(true);
    let held = HeldReads(store.clone());
    let consumer = consume_with(&ch, queue, "c", true, FieldTable::default()).await;
    within(async {
        while store.log.held_reads() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    (conn, consumer, held)
}

/// Expects the consumer's next deliveries to be the messages `range` of `held_read_back`.
async fn expect_in_order(consumer: &mut lapin::Consumer, range: std::ops::Range<usize>) {
    for i in range {
        let d = next_delivery(consumer).await;
        assert_eq!(String::from_utf8_lossy(&d.data), format!("{i:08}"));
    }
}

/// The disk read of a deep queue's backlog happens with the queue's lock released (issue 18,
/// item 2): while it is held, the queue answers a passive declare and takes a publish, and
/// once it is let go the consumer gets the rest, then the new message, in order. With the
/// read under the lock, the declare would wait as long as the read.
#[tokio::test(flavor = "multi_thread")]
async fn a_deep_queue_serves_others_while_its_backlog_is_read_back() {
    let dir = data_dir("deep-read-back");
    let broker = Broker::start_in(&dir).expect("broker");
    let (_conn, mut consumer, held) = held_read_back(&broker, "deep").await;
    let other = connect(&broker).await;
    let ch = confirm_channel(&other).await;
    assert_eq!(
        passive_counts(&ch, "deep").await,
        ((2 * N - IN_MEMORY) as u32, 1),
        "the queue answers while its backlog is read"
    );
    assert!(publish(&ch, "", "deep", b"tail").await.is_ack());
    held.release();
    expect_in_order(&mut consumer, 0..2 * N).await;
    assert_eq!(next_delivery(&mut consumer).await.data, b"tail");
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A purge while the backlog is being read: what was read is dropped, not delivered, and
/// the next message published is the next one the consumer gets after those it was handed
/// before.
#[tokio::test(flavor = "multi_thread")]
async fn a_purge_during_a_read_back_wins() {
    let dir = data_dir("deep-purge");
    let broker = Broker::start_in(&dir).expect("broker");
    let (_conn, mut consumer, held) = held_read_back(&broker, "deep").await;
    let other = connect(&broker).await;
    let ch = confirm_channel(&other).await;
    let purged = within(ch.queue_purge("deep", QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(purged, (2 * N - IN_MEMORY) as u32);
    held.release();
    within(async {
        while held.0.log.held_reads() != 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(publish(&ch, "", "deep", b"after").await.is_ack());
    expect_in_order(&mut consumer, 0..IN_MEMORY).await;
    assert_eq!(next_delivery(&mut consumer).await.data, b"after");
    assert_eq!(passive_counts(&ch, "deep").await, (0, 1));
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
