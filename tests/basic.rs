//! Class basic end to end: publish errors and returns, consumers (round-robin, prefetch,
//! cancellation), acknowledgements, get, recover, requeue on close, content fidelity.

mod common;

use common::*;
use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::*;
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, ByteArray, DecimalValue, FieldArray, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, Consumer};

async fn next(consumer: &mut Consumer) -> Delivery {
    within(consumer.next())
        .await
        .expect("a delivery, not the end of the consumer")
        .expect("a delivery, not an error")
}

async fn consume(ch: &Channel, queue: &str, tag: &str, no_ack: bool) -> Consumer {
    within(ch.basic_consume(
        queue,
        tag,
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("basic.consume")
}

/// A durable-less plain queue named `name` and a confirm channel to publish with.
async fn setup(conn: &Connection, name: &str) -> Channel {
    let ch = confirm_channel(conn).await;
    declare(&ch, name, QueueDeclareOptions::default()).await;
    ch
}

async fn publish_n(ch: &Channel, queue: &str, n: usize) {
    for i in 1..=n {
        publish(ch, "", queue, i.to_string().as_bytes()).await;
    }
}

fn text(d: &Delivery) -> String {
    String::from_utf8(d.data.clone()).unwrap()
}

async fn ready_count(conn: &Connection, queue: &str) -> (u32, u32) {
    let ch = within(conn.create_channel()).await.unwrap();
    let counts = passive_counts(&ch, queue).await;
    ch.close(200, "bye").await.unwrap();
    counts
}

#[tokio::test]
async fn publish_to_a_missing_exchange_closes_the_channel() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let mut errors = watch_channel(&ch);
    ch.basic_publish(
        "nopex",
        "k",
        BasicPublishOptions::default(),
        b"x",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    assert_amqp(
        &errors.next().await,
        404,
        "NOT_FOUND - no exchange 'nopex' in vhost '/'",
    );
    assert!(conn.status().connected());
    // In confirm mode the pending confirm fails with the same error.
    let ch = confirm_channel(&conn).await;
    let confirm = ch
        .basic_publish(
            "nopex",
            "k",
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    expect_amqp(
        within(confirm).await,
        404,
        "NOT_FOUND - no exchange 'nopex' in vhost '/'",
    );
}

#[tokio::test]
async fn mandatory_unroutable_message_is_returned_with_no_route() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let props = BasicProperties::default().with_message_id("m1".into());
    let confirmation = publish_with(
        &ch,
        "amq.direct",
        "nowhere",
        b"bounced",
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        props.clone(),
    )
    .await;
    let returned = match confirmation {
        Confirmation::Ack(Some(returned)) => returned,
        other => panic!("expected an ack carrying the returned message, got {other:?}"),
    };
    assert_eq!(returned.reply_code, 312);
    assert_eq!(returned.reply_text.as_str(), "NO_ROUTE");
    assert_eq!(returned.delivery.exchange.as_str(), "amq.direct");
    assert_eq!(returned.delivery.routing_key.as_str(), "nowhere");
    assert_eq!(returned.delivery.data, b"bounced");
    assert_eq!(returned.delivery.properties, props);

    // Through the default exchange to a queue that does not exist: the same.
    let confirmation = publish_with(
        &ch,
        "",
        "no-such-queue",
        b"x",
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        BasicProperties::default(),
    )
    .await;
    let returned = confirmation.take_message().expect("returned");
    assert_eq!(
        (returned.reply_code, returned.reply_text.as_str()),
        (312, "NO_ROUTE")
    );

    // Not mandatory: silently dropped, still acked.
    let confirmation = publish(&ch, "amq.direct", "nowhere", b"dropped").await;
    assert_eq!(confirmation, Confirmation::Ack(None));
}

#[tokio::test]
async fn consumers_on_a_queue_get_messages_round_robin() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let ch1 = conn.create_channel().await.unwrap();
    let ch2 = conn.create_channel().await.unwrap();
    let mut c1 = consume(&ch1, "q", "c1", true).await;
    let mut c2 = consume(&ch2, "q", "c2", true).await;
    publish_n(&ch, "q", 10).await;

    let mut got1 = Vec::new();
    let mut got2 = Vec::new();
    for _ in 0..5 {
        got1.push(text(&next(&mut c1).await).parse::<u32>().unwrap());
        got2.push(text(&next(&mut c2).await).parse::<u32>().unwrap());
    }
    let (odd, even) = if got1[0] % 2 == 1 {
        (got1, got2)
    } else {
        (got2, got1)
    };
    assert_eq!(odd, [1, 3, 5, 7, 9]);
    assert_eq!(even, [2, 4, 6, 8, 10]);
    assert_eq!(ready_count(&conn, "q").await, (0, 2));
}

#[tokio::test]
async fn per_consumer_prefetch_limits_unacked_deliveries() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let cch = conn.create_channel().await.unwrap();
    // Before the qos: unlimited.
    let unlimited_q = declare(&ch, "unlimited", QueueDeclareOptions::default()).await;
    let mut unlimited = consume(&cch, &unlimited_q, "u", false).await;

    within(cch.basic_qos(2, BasicQosOptions { global: false }))
        .await
        .unwrap();
    let mut c = consume(&cch, "q", "c", false).await;
    publish_n(&ch, "q", 5).await;
    publish_n(&ch, &unlimited_q, 5).await;

    let d1 = next(&mut c).await;
    let d2 = next(&mut c).await;
    assert_eq!((text(&d1), text(&d2)), ("1".into(), "2".into()));
    assert_eq!(ready_count(&conn, "q").await, (3, 1), "only 2 in flight");
    // The consumer made before the qos is not limited.
    for _ in 0..5 {
        next(&mut unlimited).await;
    }
    assert_eq!(ready_count(&conn, &unlimited_q).await, (0, 1));

    within(d1.ack(BasicAckOptions::default())).await.unwrap();
    let d3 = next(&mut c).await;
    assert_eq!(text(&d3), "3");
    assert_eq!(ready_count(&conn, "q").await, (2, 1));

    // A second consumer on the same channel gets its own window of 2.
    let mut c2 = consume(&cch, "q", "c2", false).await;
    let e1 = next(&mut c2).await;
    let e2 = next(&mut c2).await;
    assert_eq!((text(&e1), text(&e2)), ("4".into(), "5".into()));
    assert_eq!(ready_count(&conn, "q").await, (0, 2));
}

#[tokio::test]
async fn global_prefetch_is_shared_by_the_channel() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let cch = conn.create_channel().await.unwrap();
    within(cch.basic_qos(3, BasicQosOptions { global: true }))
        .await
        .unwrap();
    let mut c1 = consume(&cch, "q", "c1", false).await;
    let mut c2 = consume(&cch, "q", "c2", false).await;
    publish_n(&ch, "q", 10).await;

    assert_eq!(ready_count(&conn, "q").await, (7, 2), "3 in flight in all");
    // Round-robin within the shared window: c1 gets 1 and 3, c2 gets 2.
    let a = next(&mut c1).await;
    let b = next(&mut c2).await;
    let c = next(&mut c1).await;
    assert_eq!(
        [text(&a), text(&b), text(&c)],
        ["1".to_string(), "2".into(), "3".into()]
    );
    // Acking one (from either consumer) lets exactly one more through.
    within(b.ack(BasicAckOptions::default())).await.unwrap();
    let d = next(&mut c2).await;
    assert_eq!(text(&d), "4");
    assert_eq!(ready_count(&conn, "q").await, (6, 2));
}

#[tokio::test]
async fn ack_multiple_acks_everything_up_to_the_tag() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, "q", "c", false).await;
    publish_n(&ch, "q", 5).await;
    let mut tags = Vec::new();
    for _ in 0..5 {
        tags.push(next(&mut c).await.delivery_tag);
    }
    assert_eq!(
        tags,
        [1, 2, 3, 4, 5],
        "delivery tags count from 1 per channel"
    );
    within(cch.basic_ack(3, BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    // Closing the channel puts back only the two that were not acked.
    within(cch.close(200, "bye")).await.unwrap();
    drop(c);
    let left: Vec<String> = drain_strings(&ch, "q").await;
    assert_eq!(left, ["4", "5"]);
}

#[tokio::test]
async fn nack_with_requeue_redelivers_in_the_original_order() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    publish_n(&ch, "q", 4).await;
    let gch = conn.create_channel().await.unwrap();
    for expected in 1..=3u64 {
        let m = within(gch.basic_get("q", BasicGetOptions::default()))
            .await
            .unwrap()
            .expect("a message");
        assert_eq!(m.delivery.delivery_tag, expected);
        assert!(!m.delivery.redelivered);
    }
    // Requeue 2 then 1 (out of order): they go back to the head in queue order.
    within(gch.basic_nack(
        2,
        BasicNackOptions {
            requeue: true,
            multiple: false,
        },
    ))
    .await
    .unwrap();
    within(gch.basic_nack(
        1,
        BasicNackOptions {
            requeue: true,
            multiple: false,
        },
    ))
    .await
    .unwrap();

    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = within(gch.basic_get("q", BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("a message");
        seen.push((text(&m.delivery), m.delivery.redelivered));
    }
    assert_eq!(
        seen,
        [
            ("1".to_string(), true),
            ("2".to_string(), true),
            ("4".to_string(), false)
        ]
    );
    // 3 is still unacked on gch.
    assert_eq!(ready_count(&conn, "q").await, (0, 0));

    // To a consumer, with multiple: all requeued ones come back redelivered, in order.
    let cch = conn.create_channel().await.unwrap();
    declare(&ch, "q2", QueueDeclareOptions::default()).await;
    publish_n(&ch, "q2", 3).await;
    let mut c = consume(&cch, "q2", "c", false).await;
    for _ in 0..3 {
        next(&mut c).await;
    }
    // (Tag 3, not 0: lapin drops its prefetched deliveries after sending a nack of tag 0,
    // which would race with the redeliveries.)
    within(cch.basic_nack(
        3,
        BasicNackOptions {
            requeue: true,
            multiple: true,
        },
    ))
    .await
    .unwrap();
    for expected in ["1", "2", "3"] {
        let d = next(&mut c).await;
        assert_eq!(text(&d), expected);
        assert!(d.redelivered);
    }
}

#[tokio::test]
async fn reject_without_requeue_drops_the_message() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    publish_n(&ch, "q", 2).await;
    let gch = conn.create_channel().await.unwrap();
    let m = within(gch.basic_get("q", BasicGetOptions::default()))
        .await
        .unwrap()
        .unwrap();
    within(m.delivery.reject(BasicRejectOptions { requeue: false }))
        .await
        .unwrap();
    let m = within(gch.basic_get("q", BasicGetOptions::default()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&m.delivery), "2");
    within(gch.basic_reject(
        m.delivery.delivery_tag,
        BasicRejectOptions { requeue: true },
    ))
    .await
    .unwrap();
    // Closing the channel requeues nothing more: "1" is gone, "2" was requeued once.
    within(gch.close(200, "bye")).await.unwrap();
    let left = drain(&ch, "q").await;
    assert_eq!(left, [b"2".to_vec()]);
}

#[tokio::test]
async fn ack_of_an_unknown_delivery_tag_closes_the_channel() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let mut errors = watch_channel(&ch);
    within(ch.basic_ack(42, BasicAckOptions::default()))
        .await
        .unwrap();
    assert_amqp(
        &errors.next().await,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 42",
    );

    let ch = conn.create_channel().await.unwrap();
    let mut errors = watch_channel(&ch);
    within(ch.basic_nack(7, BasicNackOptions::default()))
        .await
        .unwrap();
    assert_amqp(
        &errors.next().await,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 7",
    );

    let ch = conn.create_channel().await.unwrap();
    let mut errors = watch_channel(&ch);
    within(ch.basic_reject(9, BasicRejectOptions::default()))
        .await
        .unwrap();
    assert_amqp(
        &errors.next().await,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 9",
    );

    // ack 0 with multiple is fine even with nothing outstanding.
    let ch = conn.create_channel().await.unwrap();
    within(ch.basic_ack(0, BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    declare(&ch, "still-open", QueueDeclareOptions::default()).await;
    assert!(conn.status().connected());
}

#[tokio::test]
async fn double_ack_closes_the_channel() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    publish_n(&ch, "q", 1).await;
    let gch = conn.create_channel().await.unwrap();
    let mut errors = watch_channel(&gch);
    let m = within(gch.basic_get("q", BasicGetOptions::default()))
        .await
        .unwrap()
        .unwrap();
    let tag = m.delivery.delivery_tag;
    within(gch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .unwrap();
    within(gch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .unwrap();
    assert_amqp(
        &errors.next().await,
        406,
        &format!("PRECONDITION_FAILED - unknown delivery tag {tag}"),
    );
    // The first ack stood: nothing is requeued by the channel's close.
    assert_eq!(ready_count(&conn, "q").await, (0, 0));
}

#[tokio::test]
async fn basic_get_reports_the_remaining_count_or_empty() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let gch = conn.create_channel().await.unwrap();
    assert!(
        within(gch.basic_get("q", BasicGetOptions::default()))
            .await
            .unwrap()
            .is_none(),
        "get-empty"
    );
    publish_n(&ch, "q", 3).await;
    for (i, remaining) in [2u32, 1, 0].into_iter().enumerate() {
        let m = within(gch.basic_get("q", BasicGetOptions::default()))
            .await
            .unwrap()
            .expect("get-ok");
        assert_eq!(m.message_count, remaining);
        assert_eq!(m.delivery.delivery_tag, i as u64 + 1);
        assert_eq!(m.delivery.exchange.as_str(), "");
        assert_eq!(m.delivery.routing_key.as_str(), "q");
        assert!(!m.delivery.redelivered);
        assert_eq!(text(&m.delivery), (i + 1).to_string());
    }
    assert!(
        within(gch.basic_get("q", BasicGetOptions::default()))
            .await
            .unwrap()
            .is_none()
    );
    expect_amqp(
        within(gch.basic_get("nope", BasicGetOptions::default()))
            .await
            .map(|_| ()),
        404,
        "NOT_FOUND - no queue 'nope' in vhost '/'",
    );
}

#[tokio::test]
async fn basic_recover_requeues_unacked_messages() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    publish_n(&ch, "q", 3).await;
    let gch = conn.create_channel().await.unwrap();
    for _ in 0..2 {
        within(gch.basic_get("q", BasicGetOptions::default()))
            .await
            .unwrap()
            .unwrap();
    }
    within(gch.basic_recover(BasicRecoverOptions { requeue: true }))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = within(gch.basic_get("q", BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .unwrap();
        seen.push((text(&m.delivery), m.delivery.redelivered));
    }
    assert_eq!(
        seen,
        [
            ("1".to_string(), true),
            ("2".to_string(), true),
            ("3".to_string(), false)
        ]
    );
    // The old tags are gone.
    let mut errors = watch_channel(&gch);
    within(gch.basic_ack(1, BasicAckOptions::default()))
        .await
        .unwrap();
    assert_amqp(
        &errors.next().await,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 1",
    );
}

/// RabbitMQ refuses requeue=false with 540 (observed on 3.10.8; 4.3's source says the same),
/// although the spec asks for redelivery to the original recipient: Warren follows RabbitMQ,
/// so code that works here works there.
#[tokio::test]
async fn basic_recover_without_requeue_is_not_implemented() {
    let broker = broker();
    let conn = connect(&broker).await;
    let reader = conn.create_channel().await.unwrap();
    let res = within(reader.basic_recover(BasicRecoverOptions { requeue: false })).await;
    expect_amqp(res, 540, "NOT_IMPLEMENTED - requeue=false");
}

#[tokio::test]
async fn closing_a_channel_requeues_its_unacked_messages() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let ch1 = conn.create_channel().await.unwrap();
    let mut c1 = consume(&ch1, "q", "c1", false).await;
    publish_n(&ch, "q", 3).await;
    for expected in ["1", "2", "3"] {
        assert_eq!(text(&next(&mut c1).await), expected);
    }
    let ch2 = conn.create_channel().await.unwrap();
    let mut c2 = consume(&ch2, "q", "c2", false).await;
    within(ch1.close(200, "bye")).await.unwrap();
    for expected in ["1", "2", "3"] {
        let d = next(&mut c2).await;
        assert_eq!(text(&d), expected);
        assert!(d.redelivered);
    }
}

#[tokio::test]
async fn closing_a_connection_requeues_its_unacked_messages() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let conn1 = connect(&broker).await;
    let ch1 = conn1.create_channel().await.unwrap();
    let mut c1 = consume(&ch1, "q", "c1", false).await;
    publish_n(&ch, "q", 3).await;
    for expected in ["1", "2", "3"] {
        assert_eq!(text(&next(&mut c1).await), expected);
    }
    let ch2 = conn.create_channel().await.unwrap();
    let mut c2 = consume(&ch2, "q", "c2", false).await;
    within(conn1.close(200, "bye")).await.unwrap();
    for expected in ["1", "2", "3"] {
        let d = next(&mut c2).await;
        assert_eq!(text(&d), expected);
        assert!(d.redelivered);
    }
}

#[tokio::test]
async fn duplicate_consumer_tag_closes_the_connection() {
    let broker = broker();
    let conn = connect(&broker).await;
    let mut errors = watch_connection(&conn);
    let ch = setup(&conn, "q").await;
    let _c = consume(&ch, "q", "dup", false).await;
    let res = within(ch.basic_consume(
        "q",
        "dup",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res.map(|_| ()),
        530,
        "NOT_ALLOWED - attempt to reuse consumer tag 'dup'",
    );
    assert_amqp(
        &errors.next().await,
        530,
        "NOT_ALLOWED - attempt to reuse consumer tag 'dup'",
    );
    assert!(!conn.status().connected());
}

#[tokio::test]
async fn server_generated_consumer_tags_are_unique() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let a = consume(&ch, "q", "", false).await;
    let b = consume(&ch, "q", "", false).await;
    assert!(a.tag().as_str().starts_with("amq.ctag-"), "{}", a.tag());
    assert!(b.tag().as_str().starts_with("amq.ctag-"), "{}", b.tag());
    assert_ne!(a.tag(), b.tag());
}

#[tokio::test]
async fn deleting_a_queue_cancels_its_consumers() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, "q", "c", false).await;
    publish_n(&ch, "q", 1).await;
    let d = next(&mut c).await;
    within(ch.queue_delete("q", QueueDeleteOptions::default()))
        .await
        .unwrap();
    // basic.cancel from the server ends lapin's consumer stream.
    let end = within(c.next()).await;
    assert!(end.is_none(), "consumer stream ends, got {end:?}");
    // The channel stays usable; acking the delivery from the deleted queue is fine.
    within(d.ack(BasicAckOptions::default())).await.unwrap();
    declare(&cch, "after", QueueDeclareOptions::default()).await;
    assert!(cch.status().connected());
}

#[tokio::test]
async fn large_and_empty_bodies_round_trip_byte_exact() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    // 1 MiB of a non-repeating pattern (spans many frames).
    let mut big = Vec::with_capacity(1 << 20);
    let mut x: u32 = 0x1234_5678;
    while big.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big.push((x >> 24) as u8);
    }
    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, "q", "c", true).await;
    publish(&ch, "", "q", &big).await;
    publish(&ch, "", "q", b"").await;
    publish(&ch, "", "q", &big[..131_072 - 8]).await;
    let d = next(&mut c).await;
    assert_eq!(d.data.len(), big.len());
    assert!(d.data == big, "1 MiB body differs");
    let d = next(&mut c).await;
    assert!(d.data.is_empty());
    let d = next(&mut c).await;
    assert!(d.data == big[..131_072 - 8]);
    // And through basic.get.
    // Cancelled before the channel closes: lapin 2.5 cancels a dropped consumer from a task
    // of its own, racing the close. (The close failed once here with the consumer merely
    // dropped; not reproduced in 210 runs since, so that race is the likely cause.)
    within(cch.basic_cancel("c", BasicCancelOptions::default()))
        .await
        .unwrap();
    drop(c);
    within(cch.close(200, "bye")).await.unwrap();
    publish(&ch, "", "q", &big).await;
    let got = drain(&ch, "q").await;
    assert_eq!(got.len(), 1);
    assert!(got[0] == big);
}

#[tokio::test]
async fn all_properties_and_header_field_types_round_trip() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;

    let mut nested = FieldTable::default();
    nested.insert("inner".into(), AMQPValue::LongString("deep".into()));
    let mut headers = FieldTable::default();
    let fields: Vec<(&str, AMQPValue)> = vec![
        ("bool", AMQPValue::Boolean(true)),
        ("i8", AMQPValue::ShortShortInt(-8)),
        ("u8", AMQPValue::ShortShortUInt(200)),
        ("i16", AMQPValue::ShortInt(-1600)),
        ("u16", AMQPValue::ShortUInt(60000)),
        ("i32", AMQPValue::LongInt(-320_000)),
        ("u32", AMQPValue::LongUInt(4_000_000_000)),
        ("i64", AMQPValue::LongLongInt(-6_400_000_000_000)),
        ("f32", AMQPValue::Float(1.5)),
        ("f64", AMQPValue::Double(-2.25e100)),
        (
            "decimal",
            AMQPValue::DecimalValue(DecimalValue {
                scale: 2,
                value: 12345,
            }),
        ),
        ("string", AMQPValue::LongString("héllo \0 wörld".into())),
        (
            "array",
            AMQPValue::FieldArray(FieldArray::from(vec![
                AMQPValue::LongInt(1),
                AMQPValue::LongString("two".into()),
                AMQPValue::Boolean(false),
                AMQPValue::Void,
            ])),
        ),
        ("timestamp", AMQPValue::Timestamp(1_700_000_000)),
        ("table", AMQPValue::FieldTable(nested)),
        (
            "bytes",
            AMQPValue::ByteArray(ByteArray::from(vec![0u8, 1, 2, 255])),
        ),
        ("void", AMQPValue::Void),
        (
            "long",
            AMQPValue::LongString(LongString::from(vec![b'z'; 70_000])),
        ),
    ];
    for (k, v) in fields {
        headers.insert(k.into(), v);
    }
    let props = BasicProperties::default()
        .with_content_type("application/octet-stream".into())
        .with_content_encoding("gzip".into())
        .with_headers(headers)
        .with_delivery_mode(2)
        .with_priority(7)
        .with_correlation_id("corr-1".into())
        .with_reply_to("reply-queue".into())
        .with_expiration("600000".into())
        .with_message_id("msg-1".into())
        .with_timestamp(1_700_000_123)
        .with_type("kind".into())
        .with_user_id("guest".into())
        .with_app_id("tests".into())
        .with_cluster_id("cluster".into());

    let cch = conn.create_channel().await.unwrap();
    let mut c = consume(&cch, "q", "c", true).await;
    publish_with(
        &ch,
        "",
        "q",
        b"props",
        BasicPublishOptions::default(),
        props.clone(),
    )
    .await;
    let d = next(&mut c).await;
    assert_eq!(d.properties, props);
    assert_eq!(d.data, b"props");

    // No properties at all stays no properties.
    publish(&ch, "", "q", b"bare").await;
    let d = next(&mut c).await;
    assert_eq!(d.properties, BasicProperties::default());
}

#[tokio::test]
async fn a_hundred_channels_on_one_connection() {
    let broker = broker();
    let conn = connect(&broker).await;
    let mut channels = Vec::new();
    for _ in 0..100 {
        channels.push(within(conn.create_channel()).await.expect("channel opens"));
    }
    let mut ids: Vec<u16> = channels.iter().map(|c| c.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    for (i, ch) in channels.iter().enumerate() {
        within(ch.confirm_select(ConfirmSelectOptions::default()))
            .await
            .unwrap();
        let q = format!("q{i}");
        declare(ch, &q, QueueDeclareOptions::default()).await;
        publish(ch, "", &q, q.as_bytes()).await;
    }
    // Each channel reads its own queue; all are still open.
    for (i, ch) in channels.iter().enumerate() {
        let q = format!("q{i}");
        assert_eq!(drain_strings(ch, &q).await, vec![q]);
        assert!(ch.status().connected());
    }
    for ch in &channels {
        within(ch.close(200, "bye")).await.unwrap();
    }
    assert!(conn.status().connected());
}

#[tokio::test]
async fn immediate_flag_closes_the_connection() {
    let broker = broker();
    let conn = connect(&broker).await;
    let mut errors = watch_connection(&conn);
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    ch.basic_publish(
        "",
        "q",
        BasicPublishOptions {
            immediate: true,
            ..Default::default()
        },
        b"now",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    assert_amqp(
        &errors.next().await,
        540,
        "NOT_IMPLEMENTED - immediate=true",
    );
    assert!(!conn.status().connected());
    // The message was not enqueued.
    let conn = connect(&broker).await;
    assert_eq!(ready_count(&conn, "q").await, (0, 0));
}

#[tokio::test]
async fn exclusive_consumers_keep_the_queue_to_themselves() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = setup(&conn, "q").await;
    let text = "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use";

    let xch = conn.create_channel().await.unwrap();
    let _x = within(xch.basic_consume(
        "q",
        "x",
        BasicConsumeOptions {
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let other = conn.create_channel().await.unwrap();
    let res = within(other.basic_consume(
        "q",
        "y",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res.map(|_| ()), 403, text);

    // And an exclusive consume is refused while the queue has a consumer.
    declare(&ch, "q2", QueueDeclareOptions::default()).await;
    let _c = consume(&ch, "q2", "c", false).await;
    let other = conn.create_channel().await.unwrap();
    let res = within(other.basic_consume(
        "q2",
        "x2",
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
        "ACCESS_REFUSED - queue 'q2' in vhost '/' in exclusive use",
    );
}

/// channel.flow active=false: RabbitMQ refuses it with 540 (observed on 3.10.8); active=true
/// is answered with flow-ok.
#[tokio::test]
async fn channel_flow_off_is_not_implemented_as_in_rabbitmq() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let on = within(ch.channel_flow(ChannelFlowOptions { active: true }))
        .await
        .expect("flow-ok");
    assert!(on);
    let res = within(ch.channel_flow(ChannelFlowOptions { active: false })).await;
    expect_amqp(res, 540, "NOT_IMPLEMENTED - active=false");
}

/// `--max-message-size` (RabbitMQ's max_message_size): a body of exactly the limit goes
/// through, one byte more closes the channel with RabbitMQ 3.10's 406 and text (observed with
/// the limit set to 100 there). Small bodies normally take the in-place publish path, which
/// must not slip past the limit.
#[tokio::test]
async fn a_configured_max_message_size_refuses_one_byte_more() {
    let broker = broker();
    broker.core().set_max_message_size(100);
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let q = declare(&ch, "", QueueDeclareOptions::default()).await;
    publish(&ch, "", &q, &[b'x'; 100]).await;
    assert_eq!(passive_counts(&ch, &q).await.0, 1);
    let mut errors = watch_channel(&ch);
    let _ = ch
        .basic_publish(
            "",
            &q,
            BasicPublishOptions::default(),
            &[b'x'; 101],
            BasicProperties::default(),
        )
        .await;
    assert_amqp(
        &errors.next().await,
        406,
        "PRECONDITION_FAILED - message size 101 is larger than configured max size 100",
    );
    let ch = within(conn.create_channel()).await.expect("channel");
    assert_eq!(passive_counts(&ch, &q).await.0, 1);
}

/// The next delivery of any of `consumers`, with the index of the one that had it.
async fn next_of(consumers: &mut [Consumer]) -> (usize, Delivery) {
    within(std::future::poll_fn(|cx| {
        for (i, c) in consumers.iter_mut().enumerate() {
            if let std::task::Poll::Ready(d) =
                futures_lite::Stream::poll_next(std::pin::Pin::new(c), cx)
            {
                let d = d.expect("a delivery, not the end of the consumer");
                return std::task::Poll::Ready((i, d.expect("a delivery, not an error")));
            }
        }
        std::task::Poll::Pending
    }))
    .await
}

/// A channel-wide window of 1 over three queues: the credit each ack frees goes to the
/// queues in turn, not back to the acked one (the Java client's `QosTests.fairness`;
/// RabbitMQ 3.10.8 on this machine spread 29 deliveries 13/11/5, Warren before this gave
/// 29/0/0).
#[tokio::test]
async fn a_channel_wide_window_serves_every_queue_in_turn() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let queues = ["fair-0", "fair-1", "fair-2"];
    for q in queues {
        declare(&ch, q, QueueDeclareOptions::default()).await;
        publish_n(&ch, q, 10).await;
    }
    let cch = conn.create_channel().await.unwrap();
    within(cch.basic_qos(1, BasicQosOptions { global: true }))
        .await
        .unwrap();
    let mut consumers = Vec::new();
    for q in queues {
        consumers.push(consume(&cch, q, q, false).await);
    }
    let mut served = [0; 3];
    for _ in 0..29 {
        let (i, d) = next_of(&mut consumers).await;
        served[i] += 1;
        within(d.ack(BasicAckOptions::default())).await.unwrap();
    }
    let (i, _) = next_of(&mut consumers).await;
    served[i] += 1;
    assert!(
        served.iter().all(|&n| n >= 5),
        "every queue gets a share of the window: {served:?}"
    );
}

/// A full channel-wide window holds back the channel's auto-ack consumers too, though they
/// take none of it (RabbitMQ's limiter; the Java client's `QosTests.noAckObeysLimit`).
#[tokio::test]
async fn a_full_channel_window_holds_back_auto_ack_consumers() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    for q in ["acking", "auto"] {
        declare(&ch, q, QueueDeclareOptions::default()).await;
    }
    let cch = conn.create_channel().await.unwrap();
    within(cch.basic_qos(1, BasicQosOptions { global: true }))
        .await
        .unwrap();
    let mut acking = consume(&cch, "acking", "acking", false).await;
    publish_n(&ch, "acking", 1).await;
    let held = next(&mut acking).await;
    let mut auto = consume(&cch, "auto", "auto", true).await;
    publish_n(&ch, "auto", 1).await;
    // Nothing comes while the window is full (a bounded wait for a delivery that must not
    // come), and the message waits in its queue.
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), auto.next()).await;
    assert!(
        early.is_err(),
        "auto-ack delivery while the window was full"
    );
    assert_eq!(ready_count(&conn, "auto").await, (1, 1));
    within(held.ack(BasicAckOptions::default())).await.unwrap();
    assert_eq!(text(&next(&mut auto).await), "1");
}

/// A basic.get right behind a publish on the same channel finds the queue empty when the
/// queue has a consumer with room: RabbitMQ hands a message to a consumer as it enqueues it
/// (3.10.8 on this machine: 0 gets of 300 returned a message; the Java client's
/// `BindingLifecycle.exchangeAutoDeleteManyBindings`).
#[tokio::test]
async fn a_get_behind_a_publish_does_not_take_a_consumers_message() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "busy", QueueDeclareOptions::default()).await;
    let mut c = consume(&ch, "busy", "c", true).await;
    for i in 0..100 {
        within(ch.basic_publish(
            "",
            "busy",
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        ))
        .await
        .unwrap();
        let got = within(ch.basic_get("busy", BasicGetOptions { no_ack: true }))
            .await
            .unwrap();
        assert!(got.is_none(), "get {i} took the consumer's message");
    }
    for _ in 0..100 {
        next(&mut c).await;
    }
}
