//! Streams over AMQP 0-9-1 (x-queue-type=stream): a non-destructive log every consumer reads
//! from an offset of its own, with RabbitMQ 4.3's refusals, retention and filtering, kept
//! across restarts and kill -9.

mod common;

use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

fn stream_args(extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut a = args(&[("x-queue-type", s("stream"))]);
    for (k, v) in extra {
        a.insert((*k).into(), v.clone());
    }
    a
}

async fn declare_stream(ch: &Channel, name: &str, extra: &[(&str, AMQPValue)]) -> u32 {
    within(ch.queue_declare(
        name,
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        stream_args(extra),
    ))
    .await
    .expect("stream declared")
    .message_count()
}

async fn publish_all(ch: &Channel, queue: &str, bodies: impl IntoIterator<Item = String>) {
    let mut pending = Vec::new();
    for b in bodies {
        pending.push(
            within(ch.basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                b.as_bytes(),
                BasicProperties::default(),
            ))
            .await
            .expect("publish"),
        );
    }
    for p in pending {
        let c = within(p).await.expect("confirm");
        assert!(c.is_ack(), "acked: {c:?}");
    }
}

async fn publish_filtered(ch: &Channel, queue: &str, body: &str, filter: Option<&str>) {
    let mut props = BasicProperties::default();
    if let Some(f) = filter {
        props = props.with_headers(args(&[("x-stream-filter-value", s(f))]));
    }
    let c = within(
        within(ch.basic_publish(
            "",
            queue,
            BasicPublishOptions::default(),
            body.as_bytes(),
            props,
        ))
        .await
        .expect("publish"),
    )
    .await
    .expect("confirm");
    assert!(c.is_ack());
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

async fn qos_channel(conn: &Connection, prefetch: u16) -> Channel {
    let ch = confirm_channel(conn).await;
    within(ch.basic_qos(prefetch, BasicQosOptions::default()))
        .await
        .expect("qos");
    ch
}

fn offset_of(d: &lapin::message::Delivery) -> i64 {
    match header(d, "x-stream-offset") {
        Some(AMQPValue::LongLongInt(n)) => *n,
        other => panic!("x-stream-offset header: {other:?}"),
    }
}

/// Reads `n` deliveries, acking each; returns (offset, body) pairs.
async fn read_n(consumer: &mut lapin::Consumer, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let d = next_delivery(consumer).await;
        out.push((offset_of(&d), String::from_utf8_lossy(&d.data).into_owned()));
        within(d.ack(BasicAckOptions::default()))
            .await
            .expect("ack");
    }
    out
}

/// Asserts nothing more arrives within a short while.
async fn nothing_more(consumer: &mut lapin::Consumer) {
    use futures_lite::StreamExt;
    let got = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await;
    assert!(got.is_err(), "unexpected delivery: {got:?}");
}

async fn consume_from(ch: &Channel, queue: &str, tag: &str, offset: AMQPValue) -> lapin::Consumer {
    consume_with(ch, queue, tag, false, args(&[("x-stream-offset", offset)])).await
}

fn expected(prefix: &str, range: std::ops::Range<usize>) -> Vec<(i64, String)> {
    range.map(|i| (i as i64, format!("{prefix}{i}"))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn consumers_start_at_first_last_next_or_an_offset_and_each_delivery_carries_its_offset() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 10).await;
    declare_stream(&ch, "s-offsets", &[]).await;
    publish_all(&ch, "s-offsets", numbered("m", 0..5)).await;

    let mut first = consume_from(&ch, "s-offsets", "first", s("first")).await;
    assert_eq!(read_n(&mut first, 5).await, expected("m", 0..5));
    let mut last = consume_from(&ch, "s-offsets", "last", s("last")).await;
    assert_eq!(read_n(&mut last, 1).await, expected("m", 4..5));
    let mut next = consume_from(&ch, "s-offsets", "next", s("next")).await;
    let mut numeric = consume_from(&ch, "s-offsets", "numeric", AMQPValue::LongLongInt(2)).await;
    assert_eq!(read_n(&mut numeric, 3).await, expected("m", 2..5));
    // Without x-stream-offset a consumer starts at next too.
    let mut default = consume_with(&ch, "s-offsets", "default", false, FieldTable::default()).await;
    nothing_more(&mut next).await;

    publish_all(&ch, "s-offsets", numbered("m", 5..7)).await;
    for c in [&mut first, &mut next, &mut numeric, &mut default] {
        assert_eq!(read_n(c, 2).await, expected("m", 5..7));
    }
    assert_eq!(read_n(&mut last, 2).await, expected("m", 5..7));
    // An offset past the end waits for it; the delivery is not marked redelivered.
    let mut far = consume_from(&ch, "s-offsets", "far", AMQPValue::LongLongInt(1000)).await;
    publish_all(&ch, "s-offsets", numbered("m", 7..8)).await;
    let d = next_delivery(&mut far).await;
    assert_eq!((offset_of(&d), d.redelivered), (7, false));
}

#[tokio::test(flavor = "multi_thread")]
async fn consumers_start_at_a_timestamp_or_an_interval_back_from_now() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 50).await;
    declare_stream(&ch, "s-time", &[]).await;
    publish_all(&ch, "s-time", numbered("old", 0..3)).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    publish_all(&ch, "s-time", numbered("new", 3..5)).await;

    let mut at = consume_from(&ch, "s-time", "ts", AMQPValue::Timestamp(now_secs)).await;
    assert_eq!(read_n(&mut at, 2).await, expected("new", 3..5));
    nothing_more(&mut at).await;
    let mut recent = consume_from(&ch, "s-time", "1s", s("1s")).await;
    assert_eq!(read_n(&mut recent, 2).await, expected("new", 3..5));
    let mut all = consume_from(&ch, "s-time", "30m", s("30m")).await;
    let got = read_n(&mut all, 5).await;
    assert_eq!(got[0], (0, "old0".to_owned()));
    assert_eq!(got[4], (4, "new4".to_owned()));
    let mut hour = consume_from(&ch, "s-time", "1h", s("1h")).await;
    assert_eq!(read_n(&mut hour, 5).await, got);
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_consumes_nothing_and_consumers_read_independently() {
    let broker = broker();
    let conn = connect(&broker).await;
    let a = qos_channel(&conn, 3).await;
    let b = qos_channel(&conn, 100).await;
    declare_stream(&a, "s-shared", &[]).await;
    publish_all(&a, "s-shared", numbered("m", 0..20)).await;
    let mut ca = consume_from(&a, "s-shared", "a", s("first")).await;
    let mut cb = consume_from(&b, "s-shared", "b", s("first")).await;
    assert_eq!(read_n(&mut cb, 20).await, expected("m", 0..20));
    assert_eq!(read_n(&mut ca, 20).await, expected("m", 0..20));
    // Both read everything; the stream still holds every message.
    assert_eq!(declare_stream(&a, "s-shared", &[]).await, 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ack_only_gives_credit_back() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 2).await;
    declare_stream(&ch, "s-credit", &[]).await;
    publish_all(&ch, "s-credit", numbered("m", 0..6)).await;
    let mut c = consume_from(&ch, "s-credit", "c", s("first")).await;
    let d0 = next_delivery(&mut c).await;
    let d1 = next_delivery(&mut c).await;
    assert_eq!((offset_of(&d0), offset_of(&d1)), (0, 1));
    nothing_more(&mut c).await;
    within(d1.ack(BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    // A nack with requeue gives credit too (4.3), and the stream goes on, not back.
    let d2 = next_delivery(&mut c).await;
    let d3 = next_delivery(&mut c).await;
    assert_eq!((offset_of(&d2), offset_of(&d3)), (2, 3));
    within(d2.nack(BasicNackOptions {
        requeue: true,
        ..Default::default()
    }))
    .await
    .unwrap();
    within(d3.reject(BasicRejectOptions { requeue: false }))
        .await
        .unwrap();
    let got = read_n(&mut c, 2).await;
    assert_eq!(got, expected("m", 4..6));
    nothing_more(&mut c).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_rabbitmq_refuses_on_streams_are_refused_with_its_codes() {
    let broker = broker();
    let text = |t: &str| format!("{t} queue 's-refuse' in vhost '/'");
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare_stream(&ch, "s-refuse", &[]).await;

    expect_amqp(
        within(ch.basic_get("s-refuse", BasicGetOptions::default())).await,
        540,
        &text("NOT_IMPLEMENTED - basic.get not supported by stream queues"),
    );
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    expect_amqp(
        within(ch.queue_purge("s-refuse", QueuePurgeOptions::default())).await,
        540,
        &text("NOT_IMPLEMENTED - queue.purge not supported by stream queues"),
    );
    // The arguments are checked before the prefetch: a bad offset, then another type's key.
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    expect_amqp(
        within(ch.basic_consume(
            "s-refuse",
            "c",
            BasicConsumeOptions::default(),
            args(&[("x-stream-offset", s("FIRST"))]),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 's-refuse' in vhost '/': \
         {invalid_stream_offset_arg,{longstr,<<\"FIRST\">>}}",
    );
    let ch = conn.create_channel().await.unwrap();
    expect_amqp(
        within(ch.basic_consume(
            "s-refuse",
            "c",
            BasicConsumeOptions::default(),
            args(&[("x-priority", s("high"))]),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 's-refuse' in vhost '/' \
         of queue type rabbit_stream_queue",
    );
    let ch = conn.create_channel().await.unwrap();
    expect_amqp(
        within(ch.basic_consume(
            "s-refuse",
            "c",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await,
        406,
        &text("PRECONDITION_FAILED - consumer prefetch count is not set for stream"),
    );
    let ch = qos_channel(&conn, 10).await;
    expect_amqp(
        within(ch.basic_consume(
            "s-refuse",
            "c",
            BasicConsumeOptions::default(),
            args(&[("x-stream-offset", s("soon"))]),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 's-refuse' in vhost '/': \
         {invalid_stream_offset_arg,{longstr,<<\"soon\">>}}",
    );
    let ch = qos_channel(&conn, 10).await;
    expect_amqp(
        within(ch.basic_consume(
            "s-refuse",
            "c",
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await,
        540,
        &text("NOT_IMPLEMENTED - automatic acknowledgement not supported by stream"),
    );
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 10).await;
    within(ch.basic_qos(10, BasicQosOptions { global: true }))
        .await
        .unwrap();
    let err = within(ch.basic_consume(
        "s-refuse",
        "c",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        err,
        540,
        "NOT_IMPLEMENTED - queue 's-refuse' in vhost '/' does not support global qos",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn max_length_bytes_removes_whole_segments_from_the_head() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 500).await;
    let retention = [
        ("x-max-length-bytes", AMQPValue::LongLongInt(3000)),
        (
            "x-stream-max-segment-size-bytes",
            AMQPValue::LongLongInt(1000),
        ),
    ];
    declare_stream(&ch, "s-bytes", &retention).await;
    let body = |i: usize| format!("{i:03}{}", "x".repeat(97));
    publish_all(&ch, "s-bytes", (0..100).map(body)).await;
    let count = declare_stream(&ch, "s-bytes", &retention).await;
    assert!(
        (20..40).contains(&count),
        "about 3000 bytes of 100-byte bodies kept: {count}"
    );
    let mut c = consume_from(&ch, "s-bytes", "c", s("first")).await;
    let got = read_n(&mut c, count as usize).await;
    let first = 100 - count as i64;
    assert_eq!(got[0].0, first, "the oldest whole segments went");
    assert_eq!(got.last().unwrap(), &(99, body(99)));
    assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    // An offset that retention removed starts at the first kept.
    let mut old = consume_from(&ch, "s-bytes", "old", AMQPValue::LongLongInt(0)).await;
    assert_eq!(read_n(&mut old, 1).await[0].0, first);
}

#[tokio::test(flavor = "multi_thread")]
async fn consumers_filter_on_x_stream_filter_value() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 50).await;
    declare_stream(&ch, "s-filter", &[]).await;
    for (i, f) in [Some("a"), Some("b"), None, Some("a"), Some("c"), None]
        .into_iter()
        .enumerate()
    {
        publish_filtered(&ch, "s-filter", &format!("m{i}"), f).await;
    }
    let only_a = args(&[("x-stream-offset", s("first")), ("x-stream-filter", s("a"))]);
    let mut a = consume_with(&ch, "s-filter", "a", false, only_a).await;
    assert_eq!(
        read_n(&mut a, 2).await,
        vec![(0, "m0".to_owned()), (3, "m3".to_owned())]
    );
    nothing_more(&mut a).await;
    let ab_unfiltered = args(&[
        ("x-stream-offset", s("first")),
        (
            "x-stream-filter",
            AMQPValue::FieldArray(FieldArray::from(vec![s("a"), s("b")])),
        ),
        ("x-stream-match-unfiltered", AMQPValue::Boolean(true)),
    ]);
    let mut ab = consume_with(&ch, "s-filter", "ab", false, ab_unfiltered).await;
    let offsets: Vec<i64> = read_n(&mut ab, 5).await.iter().map(|g| g.0).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3, 5]);
    nothing_more(&mut ab).await;
    // New messages are filtered as they arrive.
    publish_filtered(&ch, "s-filter", "m6", Some("c")).await;
    publish_filtered(&ch, "s-filter", "m7", Some("a")).await;
    assert_eq!(read_n(&mut a, 1).await, vec![(7, "m7".to_owned())]);
    // Without a filter a consumer gets everything.
    let mut all = consume_from(&ch, "s-filter", "all", s("first")).await;
    assert_eq!(read_n(&mut all, 8).await.len(), 8);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warren-stream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_and_its_offsets_survive_a_restart_and_its_segments_are_read_from_disk() {
    let dir = temp_dir("restart");
    let segment = [(
        "x-stream-max-segment-size-bytes",
        AMQPValue::LongLongInt(64 * 1024),
    )];
    // 2000 messages of 2 KB: 4 MB in about 60 segments.
    let body = |i: usize| format!("{i:05}{}", "y".repeat(2043));
    {
        init_logs();
        let broker = Broker::start_in(&dir).expect("broker");
        let conn = connect(&broker).await;
        let ch = qos_channel(&conn, 100).await;
        declare_stream(&ch, "s-durable", &segment).await;
        publish_all(&ch, "s-durable", (0..2000).map(body)).await;
        conn.close(200, "bye").await.unwrap();
        broker.shutdown();
    }
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 100).await;
    assert_eq!(declare_stream(&ch, "s-durable", &segment).await, 2000);
    let mut c = consume_from(&ch, "s-durable", "c", s("first")).await;
    let got = read_n(&mut c, 2000).await;
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, g)| g == &(i as i64, body(i))),
        "every message, in order, at its offset"
    );
    let mut mid = consume_from(&ch, "s-durable", "mid", AMQPValue::LongLongInt(1234)).await;
    assert_eq!(read_n(&mut mid, 1).await, vec![(1234, body(1234))]);
    publish_all(&ch, "s-durable", ["after".to_owned()]).await;
    assert_eq!(read_n(&mut c, 1).await, vec![(2000, "after".to_owned())]);
    // Deleting the stream removes its files.
    within(ch.queue_delete("s-durable", QueueDeleteOptions::default()))
        .await
        .unwrap();
    let streams = std::fs::read_dir(&dir)
        .unwrap()
        .flat_map(|v| std::fs::read_dir(v.unwrap().path()).unwrap())
        .flat_map(|v| std::fs::read_dir(v.unwrap().path().join("streams")).into_iter())
        .flatten()
        .count();
    assert_eq!(streams, 0, "no stream directory left");
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn connect_port(port: u16) -> Connection {
    within(Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        ConnectionProperties::default(),
    ))
    .await
    .expect("connect")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_confirmed_message_survives_kill_9_in_order_at_its_offset() {
    init_logs();
    let dir = temp_dir("kill");
    let port = free_port();
    let mut child = spawn_binary(&dir, port);
    let conn = connect_port(port).await;
    let ch = qos_channel(&conn, 100).await;
    declare_stream(&ch, "s-kill", &[]).await;
    // Confirmed in windows; the kill comes while the next window is in flight.
    let mut confirmed = 0usize;
    for w in 0..10 {
        publish_all(&ch, "s-kill", numbered("k", w * 50..(w + 1) * 50)).await;
        confirmed = (w + 1) * 50;
    }
    for i in confirmed..confirmed + 50 {
        let _ = ch
            .basic_publish(
                "",
                "s-kill",
                BasicPublishOptions::default(),
                format!("k{i}").as_bytes(),
                BasicProperties::default(),
            )
            .await;
    }
    child.kill().expect("kill -9");
    let _ = child.wait();

    let port = free_port();
    let mut child = spawn_binary(&dir, port);
    let conn = connect_port(port).await;
    let ch = qos_channel(&conn, 100).await;
    let count = declare_stream(&ch, "s-kill", &[]).await as usize;
    assert!(count >= confirmed, "{count} kept, {confirmed} confirmed");
    let mut c = consume_from(&ch, "s-kill", "c", s("first")).await;
    let got = read_n(&mut c, count).await;
    assert_eq!(got, expected("k", 0..count));
    let _ = conn.close(200, "bye").await;
    child.kill().expect("stop");
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_keep_what_was_published_and_delete_ignores_if_empty_and_if_unused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 10).await;
    declare_stream(&ch, "s-props", &[]).await;
    within(ch.exchange_declare(
        "s-topic",
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.queue_bind(
        "s-props",
        "s-topic",
        "a.*",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let props = BasicProperties::default()
        .with_headers(args(&[("region", s("emea"))]))
        .with_priority(3)
        .with_expiration("60000".into())
        .with_message_id("id-1".into());
    let c = within(
        within(ch.basic_publish(
            "s-topic",
            "a.b",
            BasicPublishOptions::default(),
            b"hello",
            props,
        ))
        .await
        .unwrap(),
    )
    .await
    .unwrap();
    assert!(c.is_ack());
    // Two exclusive consumers: exclusivity is not enforced on a stream, as in RabbitMQ.
    let exclusive = BasicConsumeOptions {
        exclusive: true,
        ..Default::default()
    };
    let first = args(&[("x-stream-offset", s("first"))]);
    let mut c1 = within(ch.basic_consume("s-props", "c1", exclusive, first.clone()))
        .await
        .unwrap();
    let _c2 = within(ch.basic_consume("s-props", "c2", exclusive, first))
        .await
        .unwrap();
    let d = next_delivery(&mut c1).await;
    assert_eq!(d.exchange.as_str(), "s-topic");
    assert_eq!(d.routing_key.as_str(), "a.b");
    assert_eq!(&d.data[..], b"hello");
    assert!(!d.redelivered);
    assert_eq!(d.properties.priority(), &Some(3));
    assert_eq!(
        d.properties.expiration().as_ref().map(|e| e.as_str()),
        Some("60000")
    );
    assert_eq!(
        d.properties.message_id().as_ref().map(|e| e.as_str()),
        Some("id-1")
    );
    assert_eq!(header(&d, "region"), Some(&s("emea")));
    assert_eq!(offset_of(&d), 0);
    // declare-ok counts the records and no consumers.
    let ok = within(ch.queue_declare(
        "s-props",
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!((ok.message_count(), ok.consumer_count()), (1, 0));
    let deleted = within(ch.queue_delete(
        "s-props",
        QueueDeleteOptions {
            if_unused: true,
            if_empty: true,
            ..Default::default()
        },
    ))
    .await
    .expect("a stream is deleted whatever the flags");
    assert_eq!(deleted, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_age_removes_segments_that_grew_too_old_even_without_publishes() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 100).await;
    let retention = [
        ("x-max-age", s("1s")),
        (
            "x-stream-max-segment-size-bytes",
            AMQPValue::LongLongInt(500),
        ),
    ];
    declare_stream(&ch, "s-age", &retention).await;
    publish_all(
        &ch,
        "s-age",
        (0..50).map(|i| format!("{i:03}{}", "z".repeat(97))),
    )
    .await;
    assert_eq!(declare_stream(&ch, "s-age", &retention).await, 50);
    // Checked every second: within a few seconds only the last segment is left.
    within(async {
        loop {
            let n = declare_stream(&ch, "s-age", &retention).await;
            if n < 10 {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let n = declare_stream(&ch, "s-age", &retention).await;
    assert!(n > 0, "the last segment stays");
    let mut c = consume_from(&ch, "s-age", "c", s("first")).await;
    let got = read_n(&mut c, n as usize).await;
    assert_eq!(got.last().unwrap().0, 49);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_sets_retention_and_wins_over_the_arguments() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 100).await;
    let segment = [
        (
            "x-stream-max-segment-size-bytes",
            AMQPValue::LongLongInt(1000),
        ),
        ("x-max-length-bytes", AMQPValue::LongLongInt(1_000_000)),
    ];
    declare_stream(&ch, "s-policy", &segment).await;
    let body = json!({"pattern": "^s-policy$", "apply-to": "queues",
                      "definition": {"max-length-bytes": 2000}});
    let p = warren::broker::policy::Policy::from_body("/", "cap", body.as_object().unwrap())
        .expect("policy");
    broker.core().set_policy("/", p).expect("valid");
    publish_all(
        &ch,
        "s-policy",
        (0..100).map(|i| format!("{i:03}{}", "p".repeat(97))),
    )
    .await;
    let n = declare_stream(&ch, "s-policy", &segment).await;
    assert!((10..40).contains(&n), "about 2000 bytes kept: {n}");
}

/// The broker's peak resident memory, from /proc (Linux).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_much_larger_than_memory_use_is_written_and_read_back() {
    init_logs();
    let dir = temp_dir("large");
    let port = free_port();
    let mut child = spawn_binary(&dir, port);
    let conn = connect_port(port).await;
    let ch = qos_channel(&conn, 10).await;
    let segment = [(
        "x-stream-max-segment-size-bytes",
        AMQPValue::LongLongInt(8 << 20),
    )];
    declare_stream(&ch, "s-large", &segment).await;
    // 192 MB in 64 KB messages, confirmed in windows of 16.
    let n = 3072;
    let body = |i: usize| {
        let mut b = vec![(i % 251) as u8; 64 * 1024];
        b[..8].copy_from_slice(&(i as u64).to_be_bytes());
        b
    };
    for w in 0..n / 16 {
        let mut pending = Vec::new();
        for i in w * 16..(w + 1) * 16 {
            pending.push(
                within(ch.basic_publish(
                    "",
                    "s-large",
                    BasicPublishOptions::default(),
                    &body(i),
                    BasicProperties::default(),
                ))
                .await
                .unwrap(),
            );
        }
        for p in pending {
            assert!(within(p).await.unwrap().is_ack());
        }
    }
    let mut c = consume_from(&ch, "s-large", "c", s("first")).await;
    for i in 0..n {
        let d = next_delivery(&mut c).await;
        assert_eq!(offset_of(&d), i as i64);
        assert!(d.data == body(i), "message {i} intact");
        within(d.ack(BasicAckOptions::default())).await.unwrap();
    }
    let peak = peak_rss_kb(child.id()).expect("VmHWM");
    let _ = conn.close(200, "bye").await;
    child.kill().expect("stop");
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("peak RSS {peak} kB for a 192 MB stream");
    assert!(peak < 64 * 1024, "peak RSS {peak} kB for a 192 MB stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_with_prefetch_one_starts_far_from_an_index_point() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 1).await;
    declare_stream(&ch, "s-seek", &[]).await;
    // About 650 KB of small records in one segment: index points every 256 KB.
    let body = |i: usize| format!("{i:05}{}", "s".repeat(95));
    let mut pending = Vec::new();
    for i in 0..5000 {
        pending.push(
            ch.basic_publish(
                "",
                "s-seek",
                BasicPublishOptions::default(),
                body(i).as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap(),
        );
    }
    for p in pending {
        assert!(within(p).await.unwrap().is_ack());
    }
    let mut c = consume_from(&ch, "s-seek", "c", AMQPValue::LongLongInt(1700)).await;
    assert_eq!(read_n(&mut c, 3).await[0], (1700, body(1700)));
    let mut f = consume_with(
        &ch,
        "s-seek",
        "f",
        false,
        args(&[
            ("x-stream-offset", s("first")),
            ("x-stream-filter", s("none")),
        ]),
    )
    .await;
    publish_filtered(&ch, "s-seek", "match", Some("none")).await;
    assert_eq!(read_n(&mut f, 1).await, vec![(5000, "match".to_owned())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirm_waits_for_the_message_log_and_the_stream_a_publish_reached() {
    let dir = temp_dir("joint");
    {
        init_logs();
        let broker = Broker::start_in(&dir).expect("broker");
        let conn = connect(&broker).await;
        let ch = qos_channel(&conn, 10).await;
        declare_stream(&ch, "s-joint", &[]).await;
        within(ch.queue_declare(
            "c-joint",
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap();
        within(ch.exchange_declare(
            "fan-joint",
            lapin::ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await
        .unwrap();
        for q in ["s-joint", "c-joint"] {
            within(ch.queue_bind(
                q,
                "fan-joint",
                "",
                QueueBindOptions::default(),
                FieldTable::default(),
            ))
            .await
            .unwrap();
        }
        for i in 0..20 {
            let c = within(
                within(ch.basic_publish(
                    "fan-joint",
                    "",
                    BasicPublishOptions::default(),
                    format!("j{i}").as_bytes(),
                    BasicProperties::default().with_delivery_mode(2),
                ))
                .await
                .unwrap(),
            )
            .await
            .unwrap();
            assert!(c.is_ack());
        }
        conn.close(200, "bye").await.unwrap();
        broker.shutdown();
    }
    let broker = Broker::start_in(&dir).expect("broker restarts");
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 10).await;
    let mut c = consume_from(&ch, "s-joint", "c", s("first")).await;
    assert_eq!(read_n(&mut c, 20).await, expected("j", 0..20));
    let classic = drain_strings(&ch, "c-joint").await;
    assert_eq!(classic, numbered("j", 0..20));
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_3_10_profile_refuses_nack_and_reject_and_uses_3_x_texts() {
    init_logs();
    let broker = Broker::builder()
        .profile(warren::broker::profile::Profile::V3_10)
        .start()
        .expect("broker");
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare_stream(&ch, "s-310", &[]).await;
    expect_amqp(
        within(ch.basic_consume(
            "s-310",
            "c",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - consumer prefetch count is not set for \
         'queue 's-310' in vhost '/''",
    );
    let ch = qos_channel(&conn, 10).await;
    publish_all(&ch, "s-310", numbered("m", 0..2)).await;
    let mut c = consume_from(&ch, "s-310", "c", s("first")).await;
    let d = next_delivery(&mut c).await;
    let mut errors = watch_connection(&conn);
    let _ = d
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
    assert_amqp(
        &errors.next().await,
        540,
        "NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues \
         queue 's-310' in vhost '/'",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_commits_to_a_stream_on_disk() {
    let dir = temp_dir("tx");
    init_logs();
    let broker = Broker::start_in(&dir).expect("broker");
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare_stream(&ch, "s-tx", &[]).await;
    within(ch.tx_select()).await.unwrap();
    for body in ["t0", "t1"] {
        within(ch.basic_publish(
            "",
            "s-tx",
            BasicPublishOptions::default(),
            body.as_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
    }
    within(ch.tx_rollback()).await.unwrap();
    within(ch.basic_publish(
        "",
        "s-tx",
        BasicPublishOptions::default(),
        b"t2",
        BasicProperties::default(),
    ))
    .await
    .unwrap();
    within(ch.tx_commit()).await.unwrap();
    let reader = qos_channel(&conn, 10).await;
    let mut c = consume_from(&reader, "s-tx", "c", s("first")).await;
    assert_eq!(read_n(&mut c, 1).await, vec![(0, "t2".to_owned())]);
    nothing_more(&mut c).await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_lettered_messages_reach_a_stream_and_its_live_consumers() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = qos_channel(&conn, 10).await;
    declare_stream(&ch, "s-dlq", &[]).await;
    declare_with(&ch, "c-src", dead_letter_to("s-dlq", None)).await;
    let mut tail = consume_from(&ch, "s-dlq", "tail", s("next")).await;
    publish_all(&ch, "c-src", numbered("d", 0..3)).await;
    for _ in 0..3 {
        let d = within(ch.basic_get("c-src", BasicGetOptions::default()))
            .await
            .unwrap()
            .expect("a message");
        within(d.reject(BasicRejectOptions { requeue: false }))
            .await
            .unwrap();
    }
    let got = read_n(&mut tail, 3).await;
    assert_eq!(got, expected("d", 0..3));
}
