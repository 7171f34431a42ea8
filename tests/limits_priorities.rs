//! Length limits (x-max-length, x-max-length-bytes with each x-overflow), priority queues,
//! consumer priorities, single active consumer and sender-selected distribution (CC/BCC),
//! each as observed on RabbitMQ 3.10.8 on this machine.

mod common;

use common::*;
use lapin::BasicProperties;
use lapin::options::*;
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable};

#[tokio::test]
async fn drop_head_keeps_the_newest_within_both_limits() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "len", args(&[("x-max-length", int(2))])).await;
    for m in ["a", "b", "c", "d"] {
        publish(&ch, "", "len", m.as_bytes()).await;
    }
    assert_eq!(drain_strings(&ch, "len").await, ["c", "d"]);
    // Body bytes only, ready messages only.
    declare_with(&ch, "bytes", args(&[("x-max-length-bytes", int(10))])).await;
    for m in ["12345", "67890", "abc"] {
        publish(&ch, "", "bytes", m.as_bytes()).await;
    }
    assert_eq!(drain_strings(&ch, "bytes").await, ["67890", "abc"]);
}

#[tokio::test]
async fn reject_publish_nacks_and_reject_publish_dlx_dead_letters() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(
        &ch,
        "full",
        args(&[
            ("x-max-length", int(1)),
            ("x-overflow", s("reject-publish")),
        ]),
    )
    .await;
    assert!(matches!(
        publish(&ch, "", "full", b"kept").await,
        Confirmation::Ack(_)
    ));
    assert!(matches!(
        publish(&ch, "", "full", b"refused").await,
        Confirmation::Nack(_)
    ));
    // Unacked messages do not count: once delivered, there is room again.
    let tag = within(ch.basic_get("full", BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .expect("message")
        .delivery
        .delivery_tag;
    assert!(matches!(
        publish(&ch, "", "full", b"next").await,
        Confirmation::Ack(_)
    ));
    within(ch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .unwrap();
    assert_eq!(drain_strings(&ch, "full").await, ["next"]);

    declare_with(&ch, "dl", FieldTable::default()).await;
    declare_with(
        &ch,
        "full-dlx",
        args(&[
            ("x-max-length", int(1)),
            ("x-overflow", s("reject-publish-dlx")),
            ("x-dead-letter-exchange", s("")),
            ("x-dead-letter-routing-key", s("dl")),
        ]),
    )
    .await;
    assert!(matches!(
        publish(&ch, "", "full-dlx", b"in").await,
        Confirmation::Ack(_)
    ));
    assert!(matches!(
        publish(&ch, "", "full-dlx", b"out").await,
        Confirmation::Nack(_)
    ));
    let got = within(ch.basic_get("dl", BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("dead-lettered");
    assert_eq!(got.delivery.data, b"out");
    assert_eq!(
        header(&got.delivery, "x-first-death-reason"),
        Some(&s("maxlen"))
    );
    assert_eq!(drain_strings(&ch, "full-dlx").await, ["in"]);
}

#[tokio::test]
async fn a_priority_queue_delivers_highest_first_fifo_within_a_priority() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "pq", args(&[("x-max-priority", int(5))])).await;
    for (body, p) in [
        ("none", None),
        ("p0", Some(0)),
        ("p3", Some(3)),
        ("p5", Some(5)),
        ("p9", Some(9)),
        ("p255", Some(255)),
        ("p1", Some(1)),
    ] {
        let mut props = BasicProperties::default();
        if let Some(p) = p {
            props = props.with_priority(p);
        }
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
    // Observed on RabbitMQ 3.10.8: above the maximum counts as the maximum.
    let order = ["p5", "p9", "p255", "p3", "p1", "none", "p0"];
    // A requeued message goes back to its place in its level.
    let first = within(ch.basic_get("pq", BasicGetOptions { no_ack: false }))
        .await
        .unwrap()
        .expect("message");
    assert_eq!(first.delivery.data, b"p5");
    assert_eq!(first.delivery.properties.priority(), &Some(5));
    within(ch.basic_nack(
        first.delivery.delivery_tag,
        BasicNackOptions {
            requeue: true,
            multiple: false,
        },
    ))
    .await
    .unwrap();
    assert_eq!(drain_strings(&ch, "pq").await, order);
}

#[tokio::test]
async fn higher_priority_consumers_are_served_while_they_have_credit() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_with(&ch, "q", FieldTable::default()).await;
    let high = within(conn.create_channel()).await.unwrap();
    within(high.basic_qos(2, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut h = consume_with(&high, "q", "high", false, args(&[("x-priority", int(10))])).await;
    let low = within(conn.create_channel()).await.unwrap();
    let mut l = consume_with(&low, "q", "low", true, FieldTable::default()).await;
    for i in 0..5 {
        publish(&ch, "", "q", format!("m{i}").as_bytes()).await;
    }
    // The high-priority consumer takes its two, the rest go to the low one.
    assert_eq!(next_delivery(&mut h).await.data, b"m0");
    assert_eq!(next_delivery(&mut h).await.data, b"m1");
    for i in 2..5 {
        assert_eq!(next_delivery(&mut l).await.data, format!("m{i}").as_bytes());
    }
}

#[tokio::test]
async fn a_single_active_consumer_gets_everything_until_it_goes() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let sac = args(&[("x-single-active-consumer", AMQPValue::Boolean(true))]);
    declare_with(&ch, "sac", sac).await;
    let first = within(conn.create_channel()).await.unwrap();
    let mut a = consume_with(&first, "sac", "a", false, FieldTable::default()).await;
    let second = within(conn.create_channel()).await.unwrap();
    let mut b = consume_with(&second, "sac", "b", true, FieldTable::default()).await;
    assert_eq!(
        passive_counts(&ch, "sac").await.1,
        2,
        "both count as consumers"
    );
    for i in 0..4 {
        publish(&ch, "", "sac", format!("m{i}").as_bytes()).await;
    }
    for i in 0..4 {
        assert_eq!(next_delivery(&mut a).await.data, format!("m{i}").as_bytes());
    }
    // The active consumer's channel closes with four unacked: they come back, in order, to
    // the next consumer, followed by what arrives later.
    within(first.close(200, "bye")).await.unwrap();
    publish(&ch, "", "sac", b"m4").await;
    for i in 0..5 {
        let d = next_delivery(&mut b).await;
        assert_eq!(d.data, format!("m{i}").as_bytes());
        assert_eq!(d.redelivered, i < 4);
    }
    // An exclusive consumer is never granted on such a queue.
    let third = within(conn.create_channel()).await.unwrap();
    let res = within(third.basic_consume(
        "sac",
        "x",
        BasicConsumeOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res.map(|_| ()),
        403,
        "ACCESS_REFUSED - queue 'sac' in vhost '/' in exclusive use",
    );
}

#[tokio::test]
async fn cc_and_bcc_route_to_more_keys_and_bcc_is_removed() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    for q in ["main", "copy", "blind"] {
        declare_with(&ch, q, FieldTable::default()).await;
        within(ch.queue_bind(
            q,
            "amq.direct",
            q,
            Default::default(),
            FieldTable::default(),
        ))
        .await
        .unwrap();
    }
    let headers = args(&[
        (
            "CC",
            AMQPValue::FieldArray(vec![s("copy"), AMQPValue::LongLongInt(7)].into()),
        ),
        ("BCC", AMQPValue::FieldArray(vec![s("blind")].into())),
        ("other", s("kept")),
    ]);
    let props = BasicProperties::default().with_headers(headers);
    publish_with(
        &ch,
        "amq.direct",
        "main",
        b"hello",
        BasicPublishOptions::default(),
        props,
    )
    .await;
    for q in ["main", "copy", "blind"] {
        let got = within(ch.basic_get(q, BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{q} got the message"));
        let d = got.delivery;
        assert_eq!(d.routing_key.as_str(), "main");
        assert_eq!(header(&d, "BCC"), None, "BCC never reaches a queue");
        assert!(header(&d, "CC").is_some());
        assert_eq!(header(&d, "other"), Some(&s("kept")));
    }
}

/// A requeue that takes the queue past x-max-length drops from the head again, the requeued
/// message first, dead-lettered as maxlen (3.10.8 on this machine: 1 left and 1 dead-lettered;
/// the Java client's `QueueSizeLimit.requeue` and `requeueWithDlx`). Nack, reject, recover and
/// a closed channel all requeue.
#[tokio::test]
async fn a_requeue_past_the_length_limit_drops_the_head() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    fanout_to(&ch, "maxlen-dlx", "maxlen-dlq").await;
    declare_with(
        &ch,
        "short",
        args(&[
            ("x-max-length", int(1)),
            ("x-dead-letter-exchange", s("maxlen-dlx")),
        ]),
    )
    .await;
    for how in ["nack", "reject", "recover", "close"] {
        let getter = conn.create_channel().await.unwrap();
        publish(&ch, "", "short", b"first").await;
        let first = within(getter.basic_get("short", BasicGetOptions { no_ack: false }))
            .await
            .unwrap()
            .expect("first");
        publish(&ch, "", "short", b"second").await;
        let tag = first.delivery.delivery_tag;
        match how {
            "nack" => within(getter.basic_nack(
                tag,
                BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                },
            ))
            .await
            .unwrap(),
            "reject" => within(getter.basic_reject(tag, BasicRejectOptions { requeue: true }))
                .await
                .unwrap(),
            "recover" => within(getter.basic_recover(BasicRecoverOptions { requeue: true }))
                .await
                .unwrap(),
            _ => within(getter.close(200, "bye")).await.unwrap(),
        }
        wait_for_count(&ch, "maxlen-dlq", 1).await;
        assert_eq!(drain_strings(&ch, "short").await, ["second"], "{how}");
        let dead = within(ch.basic_get("maxlen-dlq", BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("dead-lettered");
        assert_eq!(dead.delivery.data, b"first", "{how}");
        let death = header(&dead.delivery, "x-first-death-reason");
        assert_eq!(
            death,
            Some(&AMQPValue::LongString("maxlen".into())),
            "{how}"
        );
    }
}

/// Every exchange on the way matches all of a message's keys (routing key, CC, BCC): a CC key
/// passes the first hop of an exchange-to-exchange binding and a BCC key the second (3.10.8
/// on this machine; the Java client's `CcRoutes.boundExchanges`).
#[tokio::test]
async fn cc_and_bcc_keys_route_at_every_hop() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    within(ch.exchange_declare(
        "hop1",
        lapin::ExchangeKind::Direct,
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.exchange_declare(
        "hop2",
        lapin::ExchangeKind::Topic,
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.exchange_bind(
        "hop2",
        "hop1",
        "key1",
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    declare_with(&ch, "far", FieldTable::default()).await;
    within(ch.queue_bind(
        "far",
        "hop2",
        "key2",
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let cases: [(&str, &[(&str, &str)]); 3] = [
        ("", &[("CC", "key1"), ("BCC", "key2")]),
        ("key1", &[("CC", "key2")]),
        ("key2", &[("BCC", "key1")]),
    ];
    for (key, extra) in cases {
        let headers = args(
            &extra
                .iter()
                .map(|(h, k)| (*h, AMQPValue::FieldArray(vec![s(k)].into())))
                .collect::<Vec<_>>(),
        );
        publish_with(
            &ch,
            "hop1",
            key,
            b"m",
            BasicPublishOptions::default(),
            BasicProperties::default().with_headers(headers),
        )
        .await;
        let got = within(ch.basic_get("far", BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("key {key:?} with {extra:?} reaches the queue"));
        assert_eq!(header(&got.delivery, "BCC"), None);
    }
}
