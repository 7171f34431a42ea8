//! Quorum queues over AMQP 0-9-1: declare rules, delivery counts and the delivery limit,
//! priorities, and every message kept whatever its delivery mode. Texts and headers were
//! observed on RabbitMQ 3.10.8 on this machine; where 4.x changed them (the
//! x-acquired-count / x-delivery-count split and what counts toward the limit, the default
//! limit of 20, 32 priorities, the redeclare text) they follow 4.3's source (notes in
//! /work/notes/oracle-qq-streams.md, probe scripts in /work/notes/qq/).

mod common;

use common::*;
use lapin::message::Delivery;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use warren::broker::profile::Profile;

fn quorum(extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut all = vec![("x-queue-type", s("quorum"))];
    all.extend(extra.iter().cloned());
    args(&all)
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..Default::default()
    }
}

async fn declare_quorum(ch: &Channel, name: &str, extra: &[(&str, AMQPValue)]) {
    within(ch.queue_declare(name, durable(), quorum(extra)))
        .await
        .expect("quorum queue declared");
}

fn long(d: &Delivery, key: &str) -> Option<i64> {
    match header(d, key) {
        None => None,
        Some(AMQPValue::LongLongInt(n)) => Some(*n),
        Some(other) => panic!("{key} is a long (as RabbitMQ sends it): {other:?}"),
    }
}

async fn get(ch: &Channel, queue: &str) -> Option<Delivery> {
    within(ch.basic_get(queue, BasicGetOptions { no_ack: false }))
        .await
        .expect("basic.get")
        .map(|m| m.delivery)
}

/// A broker with a data directory of its own, removed when it stops.
fn broker_on_disk() -> Broker {
    Broker::builder()
        .temp_data_dir()
        .start()
        .expect("broker starts")
}

async fn fresh(broker: &Broker) -> (Connection, Channel) {
    let conn = connect(broker).await;
    let ch = confirm_channel(&conn).await;
    (conn, ch)
}

#[tokio::test]
async fn declare_rules_and_texts_are_rabbitmqs() {
    let broker = broker();
    let conn = connect(&broker).await;
    let cases: Vec<(&str, QueueDeclareOptions, FieldTable, u16, &str)> = vec![
        (
            "q1",
            QueueDeclareOptions::default(),
            quorum(&[]),
            406,
            "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'q1' in vhost '/'",
        ),
        (
            "q2",
            QueueDeclareOptions {
                durable: true,
                exclusive: true,
                ..Default::default()
            },
            quorum(&[]),
            406,
            "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue 'q2' in vhost '/'",
        ),
        (
            "q3",
            QueueDeclareOptions {
                durable: true,
                auto_delete: true,
                exclusive: true,
                ..Default::default()
            },
            quorum(&[]),
            406,
            "PRECONDITION_FAILED - invalid property 'auto-delete' for queue 'q3' in vhost '/'",
        ),
        (
            "q4",
            durable(),
            quorum(&[("x-queue-mode", s("lazy")), ("x-max-priority", int(5))]),
            406,
            // lapin sends its table sorted by key; RabbitMQ reports the first in table order.
            "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'q4' in vhost '/' of queue type rabbit_quorum_queue",
        ),
        (
            // A bad value of an argument the type takes comes before a refused one.
            "q5",
            durable(),
            quorum(&[("x-max-priority", int(5)), ("x-max-length", s("a"))]),
            406,
            "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'q5' in vhost '/': \"expected integer, got longstr\"",
        ),
        (
            "q6",
            durable(),
            quorum(&[("x-dead-letter-strategy", s("foo"))]),
            406,
            "PRECONDITION_FAILED - invalid arg 'x-dead-letter-strategy' for queue 'q6' in vhost '/': invalid_dlx_strategy",
        ),
        (
            "q7",
            durable(),
            args(&[("x-queue-type", s("foo"))]),
            406,
            "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'q7' in vhost '/': \"unsupported queue type 'foo'\"",
        ),
        (
            "q8",
            durable(),
            args(&[("x-delivery-limit", int(3))]),
            406,
            "PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue 'q8' in vhost '/' of queue type rabbit_classic_queue",
        ),
        (
            "",
            durable(),
            quorum(&[]),
            406,
            "PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_quorum_queue",
        ),
    ];
    for (name, options, arguments, code, text) in cases {
        let ch = conn.create_channel().await.expect("channel");
        expect_amqp(
            within(ch.queue_declare(name, options, arguments)).await,
            code,
            text,
        );
    }
    // Arguments the type takes are accepted, and unknown ones kept.
    let ch = conn.create_channel().await.expect("channel");
    declare_quorum(
        &ch,
        "ok",
        &[
            ("x-delivery-limit", int(5)),
            ("x-dead-letter-strategy", s("at-most-once")),
            ("x-quorum-initial-group-size", int(1)),
            ("x-queue-leader-locator", s("balanced")),
            ("x-foo", s("bar")),
        ],
    )
    .await;
    // Redeclared as another type: 4.3 names a missing type 'classic'.
    declare_quorum(&ch, "typed", &[]).await;
    expect_amqp(
        within(ch.queue_declare("typed", durable(), FieldTable::default())).await,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'typed' in vhost '/': received 'classic' but current is 'quorum'",
    );
    let ch = conn.create_channel().await.expect("channel");
    expect_amqp(
        within(ch.queue_declare("typed", durable(), quorum(&[("x-delivery-limit", int(6))]))).await,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'typed' in vhost '/': received the value '6' of type 'signedint' but current is none",
    );
}

#[tokio::test]
async fn returns_are_counted_as_4_3_counts_them() {
    let broker = broker();
    let (_conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[]).await;
    publish_with(
        &ch,
        "",
        "q",
        b"m",
        BasicPublishOptions::default(),
        BasicProperties::default().with_headers(args(&[("h", s("v"))])),
    )
    .await;
    let first = get(&ch, "q").await.expect("message");
    assert!(!first.redelivered);
    assert_eq!(long(&first, "x-acquired-count"), None);
    assert_eq!(long(&first, "x-delivery-count"), None);
    // nack with requeue: acquired, not a failed delivery.
    within(first.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .expect("nack");
    let second = get(&ch, "q").await.expect("message");
    assert!(second.redelivered);
    assert_eq!(long(&second, "x-acquired-count"), Some(1));
    assert_eq!(long(&second, "x-delivery-count"), None);
    assert!(
        header(&second, "h").is_some(),
        "the message's own headers stay"
    );
    // reject with requeue counts as a failed delivery.
    within(second.reject(BasicRejectOptions { requeue: true }))
        .await
        .expect("reject");
    let third = get(&ch, "q").await.expect("message");
    assert_eq!(long(&third, "x-acquired-count"), Some(2));
    assert_eq!(long(&third, "x-delivery-count"), Some(1));
}

#[tokio::test]
async fn past_the_limit_a_message_is_dead_lettered_with_reason_delivery_limit() {
    let broker = broker();
    let (_conn, ch) = fresh(&broker).await;
    fanout_to(&ch, "dlx", "dlq").await;
    declare_quorum(
        &ch,
        "q",
        &[
            ("x-delivery-limit", int(1)),
            ("x-dead-letter-exchange", s("dlx")),
        ],
    )
    .await;
    publish(&ch, "", "q", b"poison").await;
    // nacks with requeue never reach the limit.
    for _ in 0..5 {
        let d = get(&ch, "q").await.expect("still there");
        within(d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        }))
        .await
        .expect("nack");
    }
    // Two failed deliveries pass a limit of one.
    for _ in 0..2 {
        let d = get(&ch, "q").await.expect("still there");
        within(d.reject(BasicRejectOptions { requeue: true }))
            .await
            .expect("reject");
    }
    assert!(get(&ch, "q").await.is_none(), "gone from the quorum queue");
    let dead = get(&ch, "dlq").await.expect("dead-lettered");
    let Some(AMQPValue::FieldArray(deaths)) = header(&dead, "x-death") else {
        panic!("x-death: {:?}", dead.properties.headers());
    };
    let AMQPValue::FieldTable(entry) = &deaths.as_slice()[0] else {
        panic!("entry");
    };
    assert_eq!(
        entry.inner().get("reason"),
        Some(&s("delivery_limit")),
        "{entry:?}"
    );
    assert_eq!(entry.inner().get("queue"), Some(&s("q")));
}

#[tokio::test]
async fn a_closed_channel_is_a_failed_delivery_and_without_a_dlx_the_message_is_dropped() {
    let broker = broker();
    let (conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[("x-delivery-limit", int(0))]).await;
    publish(&ch, "", "q", b"m").await;
    let holder = conn.create_channel().await.expect("channel");
    let held = get(&holder, "q").await.expect("message");
    assert!(!held.redelivered);
    within(holder.close(200, "bye")).await.expect("close");
    // The return made the failed count 1, past the limit of 0: dropped.
    wait_for_count(&ch, "q", 0).await;
    assert!(get(&ch, "q").await.is_none());
}

#[tokio::test]
async fn the_default_limit_is_20_failed_deliveries() {
    for profile in [Profile::Default, Profile::V4_0] {
        default_limit_under(profile).await;
    }
}

/// A broker under `profile` with quorum queue `q` holding one message.
async fn one_message_under(profile: Profile) -> (Broker, Connection, Channel) {
    init_logs();
    let broker = Broker::builder()
        .profile(profile)
        .start()
        .expect("broker starts");
    let (conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[]).await;
    publish(&ch, "", "q", b"m").await;
    (broker, conn, ch)
}

async fn default_limit_under(profile: Profile) {
    let (_broker, conn, ch) = one_message_under(profile).await;
    // Delivered 21 times: the 21st failure passes the limit of 20.
    for n in 1..=21 {
        let holder = conn.create_channel().await.expect("channel");
        let d = get(&holder, "q")
            .await
            .unwrap_or_else(|| panic!("delivery {n}"));
        let failed_before = (n > 1).then_some(n - 1);
        assert_eq!(long(&d, "x-delivery-count"), failed_before);
        within(holder.close(200, "bye")).await.expect("close");
        wait_for_count(&ch, "q", if n < 21 { 1 } else { 0 }).await;
    }
    assert!(get(&ch, "q").await.is_none(), "dropped");
}

#[tokio::test]
async fn priorities_are_4_3s_32_levels_with_4_as_the_default() {
    let broker = broker();
    let (_conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[]).await;
    for (body, priority) in [
        ("none", None),
        ("one", Some(1)),
        ("nine", Some(9)),
        ("five", Some(5)),
        ("zero", Some(0)),
        ("max", Some(200)),
        ("four", Some(4)),
    ] {
        let mut props = BasicProperties::default();
        if let Some(p) = priority {
            props = props.with_priority(p);
        }
        publish_with(&ch, "", "q", body.as_bytes(), Default::default(), props).await;
    }
    assert_eq!(
        drain_strings(&ch, "q").await,
        ["max", "nine", "five", "none", "four", "one", "zero"]
    );
}

#[tokio::test]
async fn exclusive_consumers_are_not_enforced_and_delete_flags_are_refused() {
    let broker = broker();
    let (conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[]).await;
    let exclusive = BasicConsumeOptions {
        exclusive: true,
        ..Default::default()
    };
    within(ch.basic_consume("q", "a", exclusive, FieldTable::default()))
        .await
        .expect("exclusive consume");
    within(ch.basic_consume("q", "b", exclusive, FieldTable::default()))
        .await
        .expect("a second exclusive consumer, as RabbitMQ lets it");
    let other = conn.create_channel().await.expect("channel");
    let err = within(other.queue_delete(
        "q",
        QueueDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await;
    expect_amqp(
        err,
        540,
        "NOT_IMPLEMENTED - cannot delete queue 'q' in vhost '/'. queue.delete operations with if-unused flag set are not supported by quorum queues",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_messages_in_a_quorum_queue_survive_a_crash() {
    init_logs();
    let broker = broker_on_disk();
    let (_conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "qq", &[]).await;
    within(ch.queue_declare("classic", durable(), FieldTable::default()))
        .await
        .expect("classic");
    within(ch.queue_bind(
        "qq",
        "amq.fanout",
        "",
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .expect("bind");
    within(ch.queue_bind(
        "classic",
        "amq.fanout",
        "",
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .expect("bind");
    for i in 0..5u8 {
        // delivery-mode 1 (transient), confirmed.
        publish(&ch, "amq.fanout", "", &[b'0' + i]).await;
    }
    let b = &broker;
    tokio::task::block_in_place(|| b.crash_and_recover()).expect("recovers");
    let s = broker.snapshot();
    assert_eq!(
        s.ready("qq"),
        5,
        "the quorum queue keeps transient messages"
    );
    assert_eq!(s.ready("classic"), 0, "a classic queue does not");
    let (_conn, ch) = fresh(&broker).await;
    assert_eq!(drain_strings(&ch, "qq").await, ["0", "1", "2", "3", "4"]);
}

#[tokio::test]
async fn before_4_0_every_return_counts_and_there_is_no_default_limit() {
    for profile in [Profile::V3_10, Profile::V3_13] {
        every_return_counts_under(profile).await;
    }
}

async fn every_return_counts_under(profile: Profile) {
    let (_broker, _conn, ch) = one_message_under(profile).await;
    for n in 0..25 {
        let d = get(&ch, "q").await.expect("no default limit before 4.0");
        assert_eq!(long(&d, "x-delivery-count"), (n > 0).then_some(n));
        assert_eq!(long(&d, "x-acquired-count"), None, "4.x's header only");
        within(d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        }))
        .await
        .expect("nack");
    }
}

#[tokio::test]
async fn at_least_once_dead_lettering_keeps_a_message_until_a_queue_takes_it() {
    let broker = broker();
    let (_conn, ch) = fresh(&broker).await;
    within(ch.exchange_declare(
        "dlx",
        lapin::ExchangeKind::Fanout,
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .expect("dlx");
    declare_quorum(
        &ch,
        "alo",
        &[
            ("x-dead-letter-exchange", s("dlx")),
            ("x-dead-letter-strategy", s("at-least-once")),
            ("x-overflow", s("reject-publish")),
        ],
    )
    .await;
    // The same without reject-publish falls back to at-most-once, as RabbitMQ does.
    declare_quorum(
        &ch,
        "amo",
        &[
            ("x-dead-letter-exchange", s("dlx")),
            ("x-dead-letter-strategy", s("at-least-once")),
        ],
    )
    .await;
    publish(&ch, "", "alo", b"kept").await;
    publish(&ch, "", "amo", b"dropped").await;
    for q in ["alo", "amo"] {
        let d = get(&ch, q).await.expect("message");
        within(d.reject(BasicRejectOptions { requeue: false }))
            .await
            .expect("reject");
    }
    // No queue is bound to the dead-letter exchange yet; then one is.
    declare_with(&ch, "dlq", FieldTable::default()).await;
    within(ch.queue_bind("dlq", "dlx", "", Default::default(), FieldTable::default()))
        .await
        .expect("bind");
    wait_for_count(&ch, "dlq", 1).await;
    assert_eq!(drain_strings(&ch, "dlq").await, ["kept"]);
    assert_eq!(
        passive_counts(&ch, "alo").await.0,
        0,
        "not ready in its source"
    );
}

#[tokio::test]
async fn global_qos_and_stream_consumer_arguments_are_refused_as_rabbitmq_refuses_them() {
    let broker = broker();
    let (conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[]).await;
    let c1 = conn.create_channel().await.expect("channel");
    expect_amqp(
        within(c1.basic_consume(
            "q",
            "s",
            BasicConsumeOptions::default(),
            args(&[("x-stream-offset", s("first"))]),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 'q' in vhost '/' of queue type rabbit_quorum_queue",
    );
    let c2 = conn.create_channel().await.expect("channel");
    within(c2.basic_qos(10, BasicQosOptions { global: true }))
        .await
        .expect("qos");
    expect_amqp(
        within(c2.basic_consume(
            "q",
            "g",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await,
        540,
        "NOT_IMPLEMENTED - queue 'q' in vhost '/' does not support global qos",
    );
}

/// Returns the message of `q` once with a reject (a failed delivery) and once with a nack.
async fn return_twice(ch: &Channel, q: &str) {
    let d = get(ch, q).await.expect("message");
    within(d.reject(BasicRejectOptions { requeue: true }))
        .await
        .expect("reject");
    let d = get(ch, q).await.expect("message");
    within(d.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .expect("nack");
    // A round trip, so the returns are handled before what follows.
    passive_counts(ch, q).await;
}

async fn counts_after_restart(ch: &Channel, q: &str) -> (bool, Option<i64>, Option<i64>) {
    let d = get(ch, q).await.expect("the message survived");
    (
        d.redelivered,
        long(&d, "x-acquired-count"),
        long(&d, "x-delivery-count"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_counts_survive_a_crash_and_a_clean_restart() {
    init_logs();
    // A crash: recovery reads the log.
    let broker = broker_on_disk();
    let (_conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[]).await;
    publish(&ch, "", "q", b"m").await;
    return_twice(&ch, "q").await;
    let b = &broker;
    tokio::task::block_in_place(|| b.crash_and_recover()).expect("recovers");
    let (_conn, ch) = fresh(&broker).await;
    assert_eq!(
        counts_after_restart(&ch, "q").await,
        (true, Some(2), Some(1))
    );
    // A clean stop: recovery reads the index and the counts beside it.
    let dir = std::env::temp_dir().join(format!("warren-qq-counts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let broker = Broker::start_in(&dir).expect("broker starts");
        let (conn, ch) = fresh(&broker).await;
        declare_quorum(&ch, "q", &[]).await;
        publish(&ch, "", "q", b"m").await;
        return_twice(&ch, "q").await;
        broker.shutdown();
        drop(conn);
    }
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let (_conn, ch) = fresh(&broker).await;
    assert_eq!(
        counts_after_restart(&ch, "q").await,
        (true, Some(2), Some(1))
    );
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The machine a restart rebuilds from the log goes on where the old one stopped: a message
/// rejected once, then out with a consumer whose connection the crash drops (a second
/// failed delivery), comes back with both failures counted, and one more takes it past a
/// delivery limit of 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_the_delivery_limit_counts_on_from_the_log() {
    init_logs();
    let broker = broker_on_disk();
    let (_conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "q", &[("x-delivery-limit", AMQPValue::LongInt(2))]).await;
    publish(&ch, "", "q", b"m").await;
    let d = get(&ch, "q").await.expect("message");
    within(d.reject(BasicRejectOptions { requeue: true }))
        .await
        .expect("reject");
    // Out with this channel, unacked, when the broker goes down.
    let d = get(&ch, "q").await.expect("message again");
    assert_eq!(long(&d, "x-delivery-count"), Some(1));
    let b = &broker;
    tokio::task::block_in_place(|| b.crash_and_recover()).expect("recovers");
    let (_conn, ch) = fresh(&broker).await;
    let d = get(&ch, "q").await.expect("the message survived");
    assert!(d.redelivered);
    assert_eq!(long(&d, "x-acquired-count"), Some(2));
    assert_eq!(long(&d, "x-delivery-count"), Some(2));
    within(d.reject(BasicRejectOptions { requeue: true }))
        .await
        .expect("reject");
    assert_eq!(
        passive_counts(&ch, "q").await.0,
        0,
        "past the limit, dropped"
    );
}

/// The queue's state machine counts what the queue reports ready and unacked, and refused
/// none of the commands the queue applied.
async fn machine_agrees(broker: &Broker, ch: &Channel, q: &str) -> (u64, u64) {
    // A round trip first, so what was sent before is handled.
    passive_counts(ch, q).await;
    let s = broker.snapshot();
    let qs = s.queue(q).expect("queue in the snapshot");
    let m = qs.machine.expect("a quorum queue has a state machine");
    assert_eq!(
        (m.ready, m.checked_out, m.refused),
        (qs.messages_ready, qs.messages_unacknowledged, 0),
        "queue {q}: the machine and the queue disagree"
    );
    (m.ready, m.checked_out)
}

/// Every way a message enters or leaves a quorum queue goes through its state machine:
/// publishes, drop-head past x-max-length, auto-ack and acked gets, acks, nacks, rejects,
/// a consumer's channel closing with deliveries out, expiry and purge. After each step the
/// machine counts exactly what the queue reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_goes_through_the_state_machine() {
    init_logs();
    let broker = broker();
    let (_conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "m", &[("x-max-length", AMQPValue::LongInt(5))]).await;
    for i in 0..8u8 {
        publish(&ch, "", "m", &[b'0' + i]).await;
    }
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (5, 0), "drop-head");
    let auto = within(ch.basic_get("m", BasicGetOptions { no_ack: true }))
        .await
        .expect("basic.get");
    assert!(auto.is_some());
    let a = get(&ch, "m").await.expect("first");
    let b = get(&ch, "m").await.expect("second");
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (2, 2), "gets");
    within(a.ack(BasicAckOptions::default()))
        .await
        .expect("ack");
    within(b.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .expect("nack");
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (3, 0), "ack, nack");
    // A consumer on another channel takes two, and its channel closes with them out.
    let other = confirm_channel(&_conn).await;
    within(other.basic_qos(2, BasicQosOptions::default()))
        .await
        .expect("qos");
    let mut c = consume_with(&other, "m", "c", false, FieldTable::default()).await;
    next_delivery(&mut c).await;
    next_delivery(&mut c).await;
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (1, 2), "consumed");
    within(other.close(200, "bye")).await.expect("close");
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (3, 0), "returned");
    let r = get(&ch, "m").await.expect("third");
    within(r.reject(BasicRejectOptions { requeue: false }))
        .await
        .expect("reject");
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (2, 0), "rejected");
    within(ch.queue_purge("m", QueuePurgeOptions::default()))
        .await
        .expect("purge");
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (0, 0), "purged");
    // Expired on arrival at the head: a TTL of 0 with nobody to take it.
    publish_with(
        &ch,
        "",
        "m",
        b"gone",
        BasicPublishOptions::default(),
        BasicProperties::default().with_expiration("0".into()),
    )
    .await;
    assert_eq!(machine_agrees(&broker, &ch, "m").await, (0, 0), "expired");
}

/// A quorum queue deeper than memory holds (20,000 messages, past 16,384 on disk only)
/// keeps its machine in step across a crash: replaying the log gives it every message,
/// the two returned ones with their counts, and draining it through read-backs from disk
/// with acks and a nack leaves machine and queue agreeing at every step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_quorum_queue_replays_and_drains_in_step_with_its_machine() {
    init_logs();
    const N: u32 = 20_000;
    let broker = broker_on_disk();
    let (conn, ch) = fresh(&broker).await;
    declare_quorum(&ch, "deep", &[]).await;
    let publisher = within(conn.create_channel()).await.expect("channel");
    for i in 0..N {
        within(publisher.basic_publish(
            "",
            "deep",
            BasicPublishOptions::default(),
            format!("{i:05}").as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .expect("publish");
    }
    wait_for_count(&ch, "deep", N).await;
    return_twice(&ch, "deep").await;
    assert_eq!(
        machine_agrees(&broker, &ch, "deep").await,
        (u64::from(N), 0)
    );
    let b = &broker;
    tokio::task::block_in_place(|| b.crash_and_recover()).expect("recovers");
    let (conn, ch) = fresh(&broker).await;
    assert_eq!(
        machine_agrees(&broker, &ch, "deep").await,
        (u64::from(N), 0),
        "the replayed machine has every message"
    );
    let reader = within(conn.create_channel()).await.expect("channel");
    within(reader.basic_qos(100, BasicQosOptions::default()))
        .await
        .expect("qos");
    let mut c = consume_with(&reader, "deep", "c", false, FieldTable::default()).await;
    let first = next_delivery(&mut c).await;
    assert_eq!(&first.data[..], b"00000");
    assert_eq!(long(&first, "x-acquired-count"), Some(2), "counts replayed");
    within(first.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .expect("nack");
    let mut acked = 0;
    while acked < N {
        let d = next_delivery(&mut c).await;
        within(d.ack(BasicAckOptions::default()))
            .await
            .expect("ack");
        acked += 1;
        if acked % 5_000 == 0 {
            let (ready, out) = machine_agrees(&broker, &ch, "deep").await;
            assert_eq!(ready + out + u64::from(acked), u64::from(N));
        }
    }
    assert_eq!(machine_agrees(&broker, &ch, "deep").await, (0, 0));
}
