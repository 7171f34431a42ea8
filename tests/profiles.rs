//! Version profiles: each switch shown on both sides of the release that flips it, over real
//! sockets with lapin (see `broker::profile` and PROFILES.md for the release notes).

mod common;
mod raw_handshake;

use common::*;
use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldArray, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, ExchangeKind};
use std::time::Duration;
use warren::broker::profile::Profile;
use warren::protocol::methods::BasicConsume;
use warren::protocol::{Frame, Method};

fn broker_as(p: Profile) -> Broker {
    init_logs();
    Broker::builder().profile(p).start().expect("broker starts")
}

/// The reply text RabbitMQ 4.3 closes the connection with for a denied deprecated feature,
/// cut at 255 bytes as every reply text is.
fn denied(feature: &str) -> String {
    let full = format!(
        "INTERNAL_ERROR - Feature `{feature}` is deprecated.\nBy default, this feature is not permitted anymore.\nThe feature will be removed from a future major RabbitMQ version, regardless of the configuration; actual version to be determined.\nTo continue using this feature when it is not permitted by default, set the following parameter in your configuration:\n    \"deprecated_features.permit.{feature} = true\""
    );
    if full.len() > 255 {
        format!("{}...", &full[..252])
    } else {
        full
    }
}

fn transient() -> QueueDeclareOptions {
    QueueDeclareOptions::default()
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

/// Declares `name` with `options` and `arguments` on a fresh connection: the result, and
/// whether the connection is still open after it.
async fn try_declare(
    broker: &Broker,
    name: &str,
    options: QueueDeclareOptions,
    arguments: FieldTable,
) -> (lapin::Result<()>, bool) {
    let conn = connect(broker).await;
    let ch = within(conn.create_channel()).await.expect("channel");
    let res = within(ch.queue_declare(name, options, arguments))
        .await
        .map(|_| ());
    tokio::time::sleep(Duration::from_millis(50)).await;
    (res, conn.status().connected())
}

#[tokio::test]
async fn rabbitmq_4_3_refuses_transient_nonexclusive_queues_with_541() {
    let b = broker_as(Profile::V4_3);
    let (res, open) = try_declare(&b, "t", transient(), FieldTable::default()).await;
    expect_amqp(res, 541, &denied("transient_nonexcl_queues"));
    assert!(!open, "541 closes the connection");
    // Durable, or exclusive, is fine.
    let (res, _) = try_declare(&b, "d", durable(), FieldTable::default()).await;
    res.expect("a durable queue");
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let (res, _) = try_declare(&b, "e", exclusive, FieldTable::default()).await;
    res.expect("an exclusive transient queue");
    for p in [Profile::V4_2, Profile::Default] {
        let b = broker_as(p);
        let (res, open) = try_declare(&b, "t", transient(), FieldTable::default()).await;
        res.unwrap_or_else(|e| panic!("{p}: {e:?}"));
        assert!(open);
    }
}

#[tokio::test]
async fn rabbitmq_4_3_refuses_x_queue_master_locator_with_541() {
    let a = || args(&[("x-queue-master-locator", s("min-masters"))]);
    let b = broker_as(Profile::V4_3);
    let (res, open) = try_declare(&b, "m", durable(), a()).await;
    expect_amqp(res, 541, &denied("queue_master_locator"));
    assert!(!open);
    for p in [Profile::V4_2, Profile::Default] {
        let b = broker_as(p);
        let (res, _) = try_declare(&b, "m", durable(), a()).await;
        res.unwrap_or_else(|e| panic!("{p}: {e:?}"));
    }
}

#[tokio::test]
async fn rabbitmq_4_3_refuses_x_queue_version_1() {
    let a = || args(&[("x-queue-version", int(1))]);
    let b = broker_as(Profile::V4_3);
    let (res, open) = try_declare(&b, "v1", durable(), a()).await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - invalid arg 'x-queue-version' for queue 'v1' in vhost '/': \"unsupported queue version '1'\"",
    );
    assert!(open, "a channel error");
    let b = broker_as(Profile::V4_2);
    let (res, _) = try_declare(&b, "v1", durable(), a()).await;
    res.expect("4.2 still has CQv1");
}

/// Messages delivered to two consumers (one per queue, 3 messages each) on a channel with
/// basic.qos(1, global=true), within a short wait.
async fn deliveries_under_global_qos(p: Profile) -> usize {
    let b = broker_as(p);
    let conn = connect(&b).await;
    let ch = confirm_channel(&conn).await;
    for q in ["g1", "g2"] {
        declare(&ch, q, durable()).await;
        for _ in 0..3 {
            publish(&ch, "", q, b"m").await;
        }
    }
    within(ch.basic_qos(1, BasicQosOptions { global: true }))
        .await
        .expect("qos");
    let mut c1 = consume_with(&ch, "g1", "c1", false, FieldTable::default()).await;
    let mut c2 = consume_with(&ch, "g2", "c2", false, FieldTable::default()).await;
    let mut got = 0;
    let wait = Duration::from_millis(300);
    loop {
        tokio::select! {
            Some(Ok(_)) = c1.next() => got += 1,
            Some(Ok(_)) = c2.next() => got += 1,
            _ = tokio::time::sleep(wait) => return got,
        }
    }
}

#[tokio::test]
async fn rabbitmq_4_3_takes_global_qos_as_per_consumer() {
    // One window of 1 for the whole channel.
    assert_eq!(deliveries_under_global_qos(Profile::V4_2).await, 1);
    assert_eq!(deliveries_under_global_qos(Profile::Default).await, 1);
    // A window of 1 for each consumer.
    assert_eq!(deliveries_under_global_qos(Profile::V4_3).await, 2);
}

#[tokio::test]
async fn rabbitmq_4_1_refuses_frame_max_4096() {
    // lapin never asks for less than 8192 (its own 4.1 floor): raw bytes then.
    for (p, accepted) in [
        (Profile::V4_0, true),
        (Profile::Default, true),
        (Profile::V4_1, false),
        (Profile::V4_3, false),
    ] {
        let b = broker_as(p);
        let opened = raw_handshake::open(&b, 4096, 60).await;
        assert_eq!(opened.is_some(), accepted, "{p}: 4096");
        assert!(
            raw_handshake::open(&b, 8192, 60).await.is_some(),
            "{p}: 8192"
        );
    }
}

/// Publishes a body of `len` bytes on a confirm channel: whether it was accepted.
async fn publish_len(b: &Broker, len: usize) -> bool {
    let conn = connect(b).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "big", durable()).await;
    let body = vec![b'x'; len];
    let sent = ch
        .basic_publish(
            "",
            "big",
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        )
        .await;
    match sent {
        Ok(confirm) => matches!(within(confirm).await, Ok(c) if c.is_ack()),
        Err(_) => false,
    }
}

#[tokio::test]
async fn rabbitmq_4_0_lowers_the_default_max_message_size_to_16_mib() {
    const MIB: usize = 1 << 20;
    let b = broker_as(Profile::V4_0);
    assert_eq!(b.core().max_message_size(), 16 << 20);
    assert!(publish_len(&b, 16 * MIB).await);
    assert!(!publish_len(&b, 16 * MIB + 1).await);
    let b = broker_as(Profile::V3_13);
    assert_eq!(b.core().max_message_size(), 128 << 20);
    assert!(publish_len(&b, 16 * MIB + 1).await);
}

#[tokio::test]
async fn rabbitmq_4_0_answers_an_unknown_exchange_type_with_a_channel_error() {
    let declare_bogus = |ch: Channel| async move {
        within(ch.exchange_declare(
            "x",
            ExchangeKind::Custom("bogus".into()),
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ))
        .await
    };
    let b = broker_as(Profile::V4_0);
    let conn = connect(&b).await;
    let res = declare_bogus(within(conn.create_channel()).await.expect("channel")).await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - unknown exchange type 'bogus'",
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(conn.status().connected(), "only the channel closes");
    for p in [Profile::V3_13, Profile::Default] {
        let b = broker_as(p);
        let conn = connect(&b).await;
        let res = declare_bogus(within(conn.create_channel()).await.expect("channel")).await;
        expect_amqp(res, 503, "COMMAND_INVALID - unknown exchange type 'bogus'");
    }
}

/// Dead-letters one message by rejection from `src` to `dst` and returns it from `dst`;
/// `headers` go on the published message.
async fn reject_through(b: &Broker, headers: FieldTable) -> Delivery {
    let conn = connect(b).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "dst", durable()).await;
    within(ch.queue_declare("src", durable(), dead_letter_to("dst", None)))
        .await
        .expect("src");
    let props = BasicProperties::default().with_headers(headers);
    publish_with(&ch, "", "src", b"m", BasicPublishOptions::default(), props).await;
    let got = within(ch.basic_get("src", BasicGetOptions::default()))
        .await
        .expect("get")
        .expect("a message");
    within(got.reject(BasicRejectOptions { requeue: false }))
        .await
        .expect("reject");
    wait_for_count(&ch, "dst", 1).await;
    within(ch.basic_get("dst", BasicGetOptions { no_ack: true }))
        .await
        .expect("get")
        .expect("the dead-lettered message")
        .delivery
}

#[tokio::test]
async fn rabbitmq_3_13_adds_x_last_death_headers() {
    let b = broker_as(Profile::V3_10);
    let d = reject_through(&b, FieldTable::default()).await;
    assert_eq!(header(&d, "x-first-death-reason"), Some(&s("rejected")));
    assert_eq!(header(&d, "x-last-death-reason"), None);
    let b = broker_as(Profile::V3_13);
    let d = reject_through(&b, FieldTable::default()).await;
    assert_eq!(header(&d, "x-last-death-reason"), Some(&s("rejected")));
    assert_eq!(header(&d, "x-last-death-queue"), Some(&s("src")));
}

/// The count of the x-death entry for ("src", "rejected").
fn src_rejected_count(d: &Delivery) -> i64 {
    let Some(AMQPValue::FieldArray(a)) = header(d, "x-death") else {
        panic!("no x-death in {:?}", d.properties.headers());
    };
    a.as_slice()
        .iter()
        .filter_map(|v| match v {
            AMQPValue::FieldTable(t) => Some(t.inner()),
            _ => None,
        })
        .find(|t| t.get("queue") == Some(&s("src")) && t.get("reason") == Some(&s("rejected")))
        .and_then(|t| match t.get("count") {
            Some(AMQPValue::LongLongInt(n)) => Some(*n),
            _ => None,
        })
        .expect("an entry for src/rejected")
}

#[tokio::test]
async fn rabbitmq_4_0_no_longer_reads_a_republished_x_death() {
    // A consumer that republishes a dead-lettered message as it got it, x-death and all.
    let republished = || {
        let mut entry = FieldTable::default();
        entry.insert(ShortString::from("count"), AMQPValue::LongLongInt(5));
        entry.insert(ShortString::from("reason"), s("rejected"));
        entry.insert(ShortString::from("queue"), s("src"));
        entry.insert(ShortString::from("exchange"), s(""));
        entry.insert(
            ShortString::from("routing-keys"),
            AMQPValue::FieldArray(FieldArray::from(vec![s("src")])),
        );
        let mut h = FieldTable::default();
        h.insert(
            ShortString::from("x-death"),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(entry)])),
        );
        h
    };
    let b = broker_as(Profile::V3_13);
    let d = reject_through(&b, republished()).await;
    assert_eq!(src_rejected_count(&d), 6, "3.13 continues the history");
    for p in [Profile::V4_0, Profile::Default] {
        let b = broker_as(p);
        let d = reject_through(&b, republished()).await;
        assert_eq!(src_rejected_count(&d), 1, "{p} starts afresh");
    }
}

/// A broker with a 300 ms consumer timeout, a consumer with manual acks on `queue` (declared
/// with `arguments`) holding one delivery it never acks.
async fn holding_one(
    p: Profile,
    arguments: FieldTable,
) -> (Broker, lapin::Connection, Channel, lapin::Consumer) {
    let b = broker_as(p);
    b.core()
        .set_consumer_timeout(Some(Duration::from_millis(300)));
    let conn = connect(&b).await;
    let ch = confirm_channel(&conn).await;
    within(ch.queue_declare("slow", durable(), arguments))
        .await
        .expect("declare");
    publish(&ch, "", "slow", b"m").await;
    let mut c = consume_with(&ch, "slow", "slowpoke", false, FieldTable::default()).await;
    next_delivery(&mut c).await;
    (b, conn, ch, c)
}

#[tokio::test]
async fn up_to_4_2_a_consumer_timeout_closes_the_channel() {
    let (_b, conn, ch, _c) = holding_one(Profile::V4_2, FieldTable::default()).await;
    let mut errors = watch_channel(&ch);
    let text = format!(
        "PRECONDITION_FAILED - delivery acknowledgement on channel {} timed out. Timeout value used: 300 ms. This timeout value can be configured, see consumers doc guide to learn more",
        ch.id()
    );
    assert_amqp(&errors.next().await, 406, &text);
    assert!(conn.status().connected());
}

#[tokio::test]
async fn from_4_3_only_quorum_queues_time_out_and_the_consumer_is_cancelled() {
    // A classic queue never times out.
    let (_b, _conn, ch, _c) = holding_one(Profile::V4_3, FieldTable::default()).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        ch.status().connected(),
        "the classic consumer keeps its delivery"
    );
    // A quorum queue cancels the consumer and returns the message.
    let quorum = args(&[("x-queue-type", s("quorum"))]);
    let (_b, conn, ch, mut c) = holding_one(Profile::V4_3, quorum).await;
    let ended = within(c.next()).await;
    assert!(ended.is_none(), "basic.cancel ends the consumer: {ended:?}");
    let other = within(conn.create_channel()).await.expect("channel");
    wait_for_count(&other, "slow", 1).await;
    assert!(ch.status().connected(), "only the consumer goes");
}

#[tokio::test]
async fn from_4_3_a_client_without_consumer_cancel_notify_gets_406_with_minus_1() {
    let b = broker_as(Profile::V4_3);
    b.core()
        .set_consumer_timeout(Some(Duration::from_millis(300)));
    let conn = connect(&b).await;
    let ch = confirm_channel(&conn).await;
    let quorum = args(&[("x-queue-type", s("quorum"))]);
    within(ch.queue_declare("slow", durable(), quorum))
        .await
        .expect("declare");
    publish(&ch, "", "slow", b"m").await;
    // A raw client that does not announce consumer_cancel_notify.
    let (mut raw, mut buf) = raw_handshake::open(&b, 131072, 60).await.expect("open");
    let consume = BasicConsume {
        queue: "slow".into(),
        consumer_tag: "raw".into(),
        ..Default::default()
    };
    raw_handshake::send(&mut raw, 1, Method::BasicConsume(consume)).await;
    let close = loop {
        match raw_handshake::read_frame(&mut raw, &mut buf).await {
            Frame::Method(1, Method::ChannelClose(c)) => break c,
            Frame::Method(1, Method::BasicCancel(c)) => panic!("basic.cancel sent: {c:?}"),
            _ => {}
        }
    };
    assert_eq!(
        (close.reply_code, close.reply_text.as_str()),
        (
            406,
            "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: -1 ms. This timeout value can be configured, see consumers doc guide to learn more"
        )
    );
}

#[tokio::test]
async fn the_default_profile_times_out_classic_queues_too_cancelling_just_the_consumer() {
    let (_b, conn, ch, mut c) = holding_one(Profile::Default, FieldTable::default()).await;
    let ended = within(c.next()).await;
    assert!(ended.is_none(), "basic.cancel ends the consumer: {ended:?}");
    let other = within(conn.create_channel()).await.expect("channel");
    wait_for_count(&other, "slow", 1).await;
    assert!(ch.status().connected(), "only the consumer goes");
}

#[tokio::test]
async fn x_consumer_timeout_on_the_queue_or_the_consumer_beats_the_broker_default() {
    // The broker's default is 30 minutes; the queue asks for 300 ms.
    let b = broker_as(Profile::Default);
    let conn = connect(&b).await;
    let ch = confirm_channel(&conn).await;
    let short = args(&[("x-consumer-timeout", int(300))]);
    within(ch.queue_declare("q-arg", durable(), short))
        .await
        .expect("declare");
    publish(&ch, "", "q-arg", b"m").await;
    let mut c = consume_with(&ch, "q-arg", "by-queue", false, FieldTable::default()).await;
    next_delivery(&mut c).await;
    assert!(
        within(c.next()).await.is_none(),
        "cancelled by the queue's timeout"
    );

    // A consumer argument, on a queue without one.
    within(ch.queue_declare("c-arg", durable(), FieldTable::default()))
        .await
        .expect("declare");
    publish(&ch, "", "c-arg", b"m").await;
    let own = args(&[("x-consumer-timeout", int(300))]);
    let mut c = consume_with(&ch, "c-arg", "by-consumer", false, own).await;
    next_delivery(&mut c).await;
    assert!(
        within(c.next()).await.is_none(),
        "cancelled by its own timeout"
    );
    wait_for_count(&ch, "c-arg", 1).await;

    // A consumer without a timeout of its own keeps its delivery.
    let mut c = consume_with(&ch, "c-arg", "patient", false, FieldTable::default()).await;
    next_delivery(&mut c).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(ch.status().connected());
    assert_eq!(b.snapshot().unacked("c-arg"), 1, "still held");

    // A negative timeout is refused as RabbitMQ refuses a bad argument.
    let mut errors = watch_channel(&ch);
    let bad = args(&[("x-consumer-timeout", int(-1))]);
    let _ = ch.queue_declare("bad", durable(), bad).await;
    let e = errors.next().await;
    assert!(
        matches!(&e, lapin::Error::ProtocolError(p) if p.get_id() == 406),
        "{e:?}"
    );
}

/// `x-local-random` is an exchange type from RabbitMQ 4.0 on (release notes 4.0.1, "New
/// exchange type: Local Random Exchange"); 3.x does not know it (503, as for any unknown
/// type there).
#[tokio::test]
async fn rabbitmq_4_0_adds_the_local_random_exchange_type() {
    for (p, known) in [
        (Profile::V3_13, false),
        (Profile::V4_0, true),
        (Profile::Default, true),
    ] {
        let b = broker_as(p);
        let conn = connect(&b).await;
        let ch = within(conn.create_channel()).await.expect("channel");
        let res = within(ch.exchange_declare(
            "rpc",
            ExchangeKind::Custom("x-local-random".into()),
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        ))
        .await;
        if known {
            res.unwrap_or_else(|e| panic!("{p:?}: {e}"));
        } else {
            expect_amqp(
                res,
                503,
                "COMMAND_INVALID - unknown exchange type 'x-local-random'",
            );
        }
    }
}
