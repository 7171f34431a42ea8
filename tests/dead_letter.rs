//! Dead-lettering: reasons rejected, expired and maxlen; the x-death history as RabbitMQ 4.3
//! writes it (field order and types observed on RabbitMQ 3.10.8 here, 4.3's differences from
//! its source: original-expiration first, x-last-death-*, sorted headers); dead-letter routing
//! keys and CC; cycles dropped; a missing dead-letter exchange drops the message.

mod common;

use common::*;
use lapin::message::Delivery;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

/// The x-death entries of a delivery, each as (queue, reason, count).
fn deaths(d: &Delivery) -> Vec<(String, String, i64)> {
    let Some(AMQPValue::FieldArray(a)) = header(d, "x-death") else {
        panic!("no x-death array in {:?}", d.properties.headers());
    };
    a.as_slice()
        .iter()
        .map(|v| {
            let AMQPValue::FieldTable(t) = v else {
                panic!("x-death entry is not a table: {v:?}")
            };
            let t = t.inner();
            let text = |k: &str| match t.get(k) {
                Some(AMQPValue::LongString(s)) => s.to_string(),
                other => panic!("{k}: {other:?}"),
            };
            let count = match t.get("count") {
                Some(AMQPValue::LongLongInt(n)) => *n,
                other => panic!("count is a long: {other:?}"),
            };
            (text("queue"), text("reason"), count)
        })
        .collect()
}

async fn get(ch: &Channel, queue: &str) -> Delivery {
    within(ch.basic_get(queue, BasicGetOptions { no_ack: true }))
        .await
        .expect("basic.get")
        .expect("a message")
        .delivery
}

#[tokio::test]
async fn a_rejected_message_is_dead_lettered_with_its_history() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    fanout_to(&ch, "dlx", "dlq").await;
    declare_with(&ch, "src", args(&[("x-dead-letter-exchange", s("dlx"))])).await;
    let props = BasicProperties::default()
        .with_expiration("100000".into())
        .with_message_id("m1".into())
        .with_headers(args(&[
            ("zzz", s("last")),
            ("AAA", s("first")),
            ("CC", AMQPValue::FieldArray(vec![s("cc-key")].into())),
        ]));
    publish_with(
        &ch,
        "",
        "src",
        b"body",
        BasicPublishOptions::default(),
        props,
    )
    .await;
    let cch = within(conn.create_channel()).await.unwrap();
    let mut consumer = consume_with(&cch, "src", "c", false, FieldTable::default()).await;
    let d = next_delivery(&mut consumer).await;
    within(d.reject(BasicRejectOptions { requeue: false }))
        .await
        .unwrap();
    wait_for_count(&ch, "dlq", 1).await;
    let got = get(&ch, "dlq").await;
    assert_eq!(got.exchange.as_str(), "dlx");
    assert_eq!(got.routing_key.as_str(), "src");
    assert_eq!(got.data, b"body");
    assert_eq!(got.properties.expiration(), &None, "expiration is removed");
    assert_eq!(
        got.properties.message_id().as_ref().map(|s| s.as_str()),
        Some("m1")
    );
    assert_eq!(
        deaths(&got),
        [("src".to_string(), "rejected".to_string(), 1)]
    );
    let Some(AMQPValue::FieldArray(entries)) = header(&got, "x-death") else {
        unreachable!()
    };
    let AMQPValue::FieldTable(entry) = &entries.as_slice()[0] else {
        unreachable!()
    };
    let e = entry.inner();
    assert_eq!(e.get("original-expiration"), Some(&s("100000")));
    assert_eq!(e.get("exchange"), Some(&s("")));
    assert_eq!(
        e.get("routing-keys"),
        Some(&AMQPValue::FieldArray(vec![s("src"), s("cc-key")].into()))
    );
    assert!(matches!(e.get("time"), Some(AMQPValue::Timestamp(t)) if *t > 1_700_000_000));
    for (k, v) in [
        ("x-first-death-exchange", ""),
        ("x-first-death-queue", "src"),
        ("x-first-death-reason", "rejected"),
        ("x-last-death-exchange", ""),
        ("x-last-death-queue", "src"),
        ("x-last-death-reason", "rejected"),
        ("AAA", "first"),
        ("zzz", "last"),
    ] {
        assert_eq!(header(&got, k), Some(&s(v)), "header {k}");
    }
}

#[tokio::test]
async fn a_dead_letter_routing_key_replaces_the_keys_and_drops_cc() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "target", FieldTable::default()).await;
    declare_with(
        &ch,
        "src",
        args(&[
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("target")),
            ("x-max-length", int(1)),
        ]),
    )
    .await;
    let props = BasicProperties::default().with_headers(args(&[(
        "CC",
        AMQPValue::FieldArray(vec![s("elsewhere")].into()),
    )]));
    publish_with(
        &ch,
        "",
        "src",
        b"first",
        BasicPublishOptions::default(),
        props,
    )
    .await;
    // Over x-max-length 1 (drop-head): the oldest goes, as maxlen.
    publish(&ch, "", "src", b"second").await;
    assert_eq!(drain_strings(&ch, "src").await, ["second"]);
    let got = get(&ch, "target").await;
    assert_eq!(got.data, b"first");
    assert_eq!(got.routing_key.as_str(), "target");
    assert_eq!(header(&got, "CC"), None);
    assert_eq!(deaths(&got), [("src".to_string(), "maxlen".to_string(), 1)]);
}

/// The retry-with-delay pattern of Celery, MassTransit, Spring AMQP and NServiceBus: a
/// rejected message waits in a delay queue until its TTL sends it back.
#[tokio::test]
async fn retry_with_delay_counts_every_round() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "work", dead_letter_to("delay", None)).await;
    declare_with(&ch, "delay", dead_letter_to("work", Some(30))).await;
    publish(&ch, "", "work", b"job").await;
    let cch = within(conn.create_channel()).await.unwrap();
    let mut consumer = consume_with(&cch, "work", "c", false, FieldTable::default()).await;
    for _round in 0..3 {
        let d = next_delivery(&mut consumer).await;
        within(d.reject(BasicRejectOptions { requeue: false }))
            .await
            .unwrap();
    }
    let d = next_delivery(&mut consumer).await;
    assert_eq!(d.data, b"job");
    assert_eq!(
        deaths(&d),
        [
            ("delay".to_string(), "expired".to_string(), 3),
            ("work".to_string(), "rejected".to_string(), 3)
        ]
    );
    assert_eq!(header(&d, "x-first-death-queue"), Some(&s("work")));
    assert_eq!(header(&d, "x-first-death-reason"), Some(&s("rejected")));
    assert_eq!(header(&d, "x-last-death-queue"), Some(&s("delay")));
    assert_eq!(header(&d, "x-last-death-reason"), Some(&s("expired")));
    within(d.ack(BasicAckOptions::default())).await.unwrap();
}

#[tokio::test]
async fn cycles_without_a_rejection_and_missing_exchanges_drop_the_message() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    // A TTL queue dead-lettering to itself: RabbitMQ drops the message at once.
    declare_with(&ch, "self", dead_letter_to("self", Some(20))).await;
    // Two TTL queues feeding each other: dropped when it would enter the first again.
    for (q, next) in [("a", "b"), ("b", "a")] {
        declare_with(&ch, q, dead_letter_to(next, Some(20))).await;
    }
    declare_with(
        &ch,
        "nowhere",
        args(&[
            ("x-message-ttl", int(20)),
            ("x-dead-letter-exchange", s("missing")),
        ]),
    )
    .await;
    for q in ["self", "a", "nowhere"] {
        publish(&ch, "", q, b"m").await;
    }
    for q in ["self", "a", "b", "nowhere"] {
        wait_for_count(&ch, q, 0).await;
    }
    // Nothing comes back later either: the second hop happened (b got it) and stopped.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for q in ["self", "a", "b"] {
        assert_eq!(passive_counts(&ch, q).await.0, 0, "{q}");
    }
}

#[tokio::test]
async fn a_dead_lettered_persistent_message_is_durable_in_its_new_queue() {
    let dir = std::env::temp_dir().join(format!("warren-dlx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    {
        let broker = Broker::start_in(&dir).expect("broker");
        let conn = connect(&broker).await;
        let ch = confirm_channel(&conn).await;
        within(ch.queue_declare("kept", durable, FieldTable::default()))
            .await
            .unwrap();
        within(ch.queue_declare("src", durable, dead_letter_to("kept", None)))
            .await
            .unwrap();
        let persistent = BasicProperties::default().with_delivery_mode(2);
        publish_with(
            &ch,
            "",
            "src",
            b"m",
            BasicPublishOptions::default(),
            persistent,
        )
        .await;
        let d = get_manual(&ch, "src").await;
        within(ch.basic_nack(
            d,
            BasicNackOptions {
                requeue: false,
                multiple: false,
            },
        ))
        .await
        .unwrap();
        wait_for_count(&ch, "kept", 1).await;
        let _ = conn.close(200, "bye").await;
        broker.shutdown();
    }
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let conn = connect(&broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    assert_eq!(drain_strings(&ch, "src").await, Vec::<String>::new());
    let got = get(&ch, "kept").await;
    assert_eq!(got.data, b"m");
    assert_eq!(
        deaths(&got),
        [("src".to_string(), "rejected".to_string(), 1)]
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn get_manual(ch: &Channel, queue: &str) -> u64 {
    within(ch.basic_get(queue, BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .expect("a message")
        .delivery
        .delivery_tag
}
