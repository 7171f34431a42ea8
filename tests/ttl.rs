//! Message TTL (x-message-ttl, the expiration property) and queue expiry (x-expires), as
//! RabbitMQ applies them: checked against RabbitMQ 3.10.8 on this machine (a TTL of 0 is
//! "now or never"; the lower of queue TTL and expiration wins; a requeued message keeps its
//! deadline; an unused queue is deleted).

mod common;

use common::*;
use lapin::BasicProperties;
use lapin::options::*;
use lapin::types::FieldTable;
use std::time::Duration;

fn expiring(ms: &str) -> BasicProperties {
    BasicProperties::default().with_expiration(ms.into())
}

#[tokio::test]
async fn messages_nobody_reads_expire_from_the_queue() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "ttl", args(&[("x-message-ttl", int(50))])).await;
    for i in 0..200 {
        publish(&ch, "", "ttl", format!("m{i}").as_bytes()).await;
    }
    // Nobody consumes: the timer empties the queue.
    wait_for_count(&ch, "ttl", 0).await;
}

#[tokio::test]
async fn the_lower_of_queue_ttl_and_expiration_wins() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "q", args(&[("x-message-ttl", int(60_000))])).await;
    publish_with(
        &ch,
        "",
        "q",
        b"short",
        BasicPublishOptions::default(),
        expiring("20"),
    )
    .await;
    publish(&ch, "", "q", b"long").await;
    // Only "long" stays once "short" is due (it is at the head, so it leaves by itself).
    wait_for_count(&ch, "q", 1).await;
    assert_eq!(drain_strings(&ch, "q").await, ["long"]);

    declare_with(&ch, "short-ttl", args(&[("x-message-ttl", int(20))])).await;
    publish_with(
        &ch,
        "",
        "short-ttl",
        b"x",
        BasicPublishOptions::default(),
        expiring("60000"),
    )
    .await;
    wait_for_count(&ch, "short-ttl", 0).await;
}

#[tokio::test]
async fn ttl_zero_is_now_or_never() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "now", args(&[("x-message-ttl", int(0))])).await;
    // No consumer: never.
    publish(&ch, "", "now", b"lost").await;
    assert!(drain(&ch, "now").await.is_empty());
    // A consumer waiting with credit: now.
    let cch = within(conn.create_channel()).await.unwrap();
    let mut consumer = consume_with(&cch, "now", "c", true, FieldTable::default()).await;
    publish(&ch, "", "now", b"delivered").await;
    assert_eq!(next_delivery(&mut consumer).await.data, b"delivered");
}

#[tokio::test]
async fn a_requeued_message_keeps_its_deadline() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "dlq", FieldTable::default()).await;
    declare_with(&ch, "work", dead_letter_to("dlq", Some(200))).await;
    publish(&ch, "", "work", b"m").await;
    let cch = within(conn.create_channel()).await.unwrap();
    let mut consumer = consume_with(&cch, "work", "c", false, FieldTable::default()).await;
    let d = next_delivery(&mut consumer).await;
    within(cch.basic_cancel("c", BasicCancelOptions::default()))
        .await
        .unwrap();
    // Held past its deadline, then given back: it expires instead of coming back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    within(d.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .unwrap();
    wait_for_count(&ch, "dlq", 1).await;
    let got = within(ch.basic_get("dlq", BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("dead-lettered");
    assert_eq!(
        header(&got.delivery, "x-first-death-reason"),
        Some(&s("expired"))
    );
    assert_eq!(passive_counts(&ch, "work").await.0, 0);
}

#[tokio::test]
async fn an_unused_queue_expires_and_a_used_one_does_not() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_with(&ch, "gone", args(&[("x-expires", int(100))])).await;
    declare_with(&ch, "kept", args(&[("x-expires", int(100))])).await;
    let cch = within(conn.create_channel()).await.unwrap();
    let _consumer = consume_with(&cch, "kept", "c", true, FieldTable::default()).await;
    within(async {
        loop {
            let probe = conn.create_channel().await.unwrap();
            let r = probe
                .queue_declare(
                    "gone",
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            if let Err(e) = r {
                assert_amqp(&e, 404, "NOT_FOUND - no queue 'gone' in vhost '/'");
                return;
            }
            // A passive declare is use (as in RabbitMQ): probe less often than it expires.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    })
    .await;
    // The queue with a consumer outlived the other one's expiry.
    assert_eq!(passive_counts(&ch, "kept").await.1, 1);
}

#[tokio::test]
async fn deadlines_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("warren-ttl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let broker = Broker::start_in(&dir).expect("broker");
        let conn = connect(&broker).await;
        let ch = confirm_channel(&conn).await;
        within(ch.queue_declare(
            "durable-ttl",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap();
        let persistent = BasicProperties::default().with_delivery_mode(2);
        publish_with(
            &ch,
            "",
            "durable-ttl",
            b"head",
            BasicPublishOptions::default(),
            persistent.clone(),
        )
        .await;
        // Behind a head that never expires, this one waits on disk past its deadline: only
        // a head leaves by itself, as in RabbitMQ.
        let expiring = persistent.with_expiration("300".into());
        publish_with(
            &ch,
            "",
            "durable-ttl",
            b"due",
            BasicPublishOptions::default(),
            expiring,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(passive_counts(&ch, "durable-ttl").await.0, 2);
        let _ = conn.close(200, "bye").await;
        broker.shutdown();
    }
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let conn = connect(&broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    // Had the deadline been lost, "due" would count from the restart and be delivered.
    assert_eq!(drain_strings(&ch, "durable-ttl").await, ["head"]);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
