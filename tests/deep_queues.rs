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
