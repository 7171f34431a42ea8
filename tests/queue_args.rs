//! RabbitMQ's checks of queue and consumer arguments, the expiration property and CC/BCC,
//! with its reply codes and texts (each text below was observed on RabbitMQ 3.10.8 on this
//! machine; 4.3's source words them the same).

mod common;

use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection};

async fn declare_fails(conn: &Connection, name: &str, arguments: FieldTable, text: &str) {
    let ch = within(conn.create_channel()).await.expect("channel");
    let res = within(ch.queue_declare(name, QueueDeclareOptions::default(), arguments)).await;
    expect_amqp(res.map(|_| ()), 406, text);
}

#[tokio::test]
async fn queue_declare_refuses_bad_arguments_as_rabbitmq_does() {
    let broker = broker();
    let conn = connect(&broker).await;
    let q = |arg: &str, why: &str| {
        format!("PRECONDITION_FAILED - invalid arg '{arg}' for queue 'q' in vhost '/': {why}")
    };
    let cases: Vec<(FieldTable, String)> = vec![
        (
            args(&[("x-message-ttl", int(-1))]),
            q("x-message-ttl", "{value_negative,-1}"),
        ),
        (
            args(&[("x-message-ttl", s("1000"))]),
            q("x-message-ttl", "\"expected integer, got longstr\""),
        ),
        (
            args(&[("x-message-ttl", AMQPValue::LongLongInt(315_360_000_001))]),
            q("x-message-ttl", "{value_too_large,315360000001}"),
        ),
        (
            args(&[("x-expires", int(0))]),
            q("x-expires", "{value_zero,0}"),
        ),
        (
            args(&[("x-max-length", int(-2))]),
            q("x-max-length", "{value_negative,-2}"),
        ),
        (
            args(&[("x-max-length-bytes", AMQPValue::Boolean(true))]),
            q("x-max-length-bytes", "\"expected integer, got bool\""),
        ),
        (
            args(&[("x-max-priority", int(256))]),
            q("x-max-priority", "{max_value_exceeded,256}"),
        ),
        (
            args(&[("x-overflow", s("foo"))]),
            q("x-overflow", "invalid_overflow"),
        ),
        (
            args(&[("x-overflow", AMQPValue::LongLongInt(1))]),
            q("x-overflow", "{unacceptable_type,long}"),
        ),
        (
            args(&[("x-dead-letter-routing-key", s("k"))]),
            q("x-dead-letter-routing-key", "routing_key_but_no_dlx_defined"),
        ),
        (
            args(&[("x-single-active-consumer", s("true"))]),
            q("x-single-active-consumer", "{unacceptable_type,longstr}"),
        ),
        (
            args(&[("x-queue-type", s("foo"))]),
            q("x-queue-type", "\"unsupported queue type 'foo'\""),
        ),
        (
            args(&[("x-dead-letter-exchange", AMQPValue::LongLongInt(1))]),
            "PRECONDITION_FAILED - invalid type 'long' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'".into(),
        ),
        (
            args(&[("x-max-in-memory-length", int(5))]),
            "PRECONDITION_FAILED - invalid arg 'x-max-in-memory-length' for queue 'q' in vhost '/' of queue type rabbit_classic_queue".into(),
        ),
        // RabbitMQ reports the first bad argument in its own order, not the table's.
        (
            args(&[("x-message-ttl", int(-1)), ("x-expires", int(0))]),
            q("x-expires", "{value_zero,0}"),
        ),
    ];
    for (arguments, text) in cases {
        declare_fails(&conn, "q", arguments, &text).await;
    }
    // Good values of every kind are taken; unknown arguments are kept, not checked.
    let ch = within(conn.create_channel()).await.unwrap();
    let good = args(&[
        ("x-message-ttl", AMQPValue::ShortShortUInt(0)),
        ("x-expires", AMQPValue::LongLongInt(315_360_000_000)),
        ("x-max-length", AMQPValue::ShortInt(0)),
        ("x-overflow", s("reject-publish-dlx")),
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s("rk")),
        ("x-max-priority", int(0)),
        ("x-single-active-consumer", AMQPValue::Boolean(false)),
        ("x-queue-mode", s("lazy")),
        ("x-whatever", s("kept")),
    ]);
    declare_with(&ch, "q", good).await;
}

#[tokio::test]
async fn a_redeclare_compares_arguments_without_checking_them() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_with(
        &ch,
        "q",
        args(&[("x-message-ttl", AMQPValue::LongLongInt(1000))]),
    )
    .await;
    // Any integer type of the same value is the same argument.
    declare_with(&ch, "q", args(&[("x-message-ttl", int(1000))])).await;
    declare_fails(
        &conn,
        "q",
        args(&[("x-message-ttl", int(-5))]),
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '-5' but current is '1000'",
    )
    .await;
    declare_fails(
        &conn,
        "q",
        FieldTable::default(),
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received none but current is the value '1000' of type 'long'",
    )
    .await;
    // A classic queue is a queue declared without a type.
    declare_with(
        &ch,
        "q",
        args(&[("x-message-ttl", int(1000)), ("x-queue-type", s("classic"))]),
    )
    .await;
}

#[tokio::test]
async fn consume_refuses_a_priority_that_is_not_an_integer() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = within(conn.create_channel()).await.unwrap();
    declare_with(&ch, "pq", FieldTable::default()).await;
    let res = within(ch.basic_consume(
        "pq",
        "c",
        BasicConsumeOptions::default(),
        args(&[("x-priority", s("5"))]),
    ))
    .await;
    expect_amqp(
        res.map(|_| ()),
        406,
        "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'pq' in vhost '/': \"expected integer, got longstr\"",
    );
    let ch = within(conn.create_channel()).await.unwrap();
    consume_with(&ch, "pq", "neg", false, args(&[("x-priority", int(-5))])).await;
}

#[tokio::test]
async fn publish_refuses_a_bad_expiration_or_cc() {
    let broker = broker();
    let conn = connect(&broker).await;
    let cases = [
        (
            "abc",
            "PRECONDITION_FAILED - invalid expiration 'abc': no_integer",
        ),
        (
            "",
            "PRECONDITION_FAILED - invalid expiration '': no_integer",
        ),
        (
            "-1",
            "PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}",
        ),
        (
            "1.5",
            "PRECONDITION_FAILED - invalid expiration '1.5': {leftover_string,\".5\"}",
        ),
        (
            "315360000001",
            "PRECONDITION_FAILED - invalid expiration '315360000001': {value_too_large,315360000001}",
        ),
    ];
    for (expiration, text) in cases {
        let ch = within(conn.create_channel()).await.unwrap();
        let mut errors = watch_channel(&ch);
        let props = BasicProperties::default().with_expiration(expiration.into());
        let _ =
            within(ch.basic_publish("", "nowhere", BasicPublishOptions::default(), b"x", props))
                .await;
        assert_amqp(&errors.next().await, 406, text);
    }
    let ch = within(conn.create_channel()).await.unwrap();
    let mut errors = watch_channel(&ch);
    let props = BasicProperties::default().with_headers(args(&[("CC", s("k"))]));
    let _ =
        within(ch.basic_publish("", "nowhere", BasicPublishOptions::default(), b"x", props)).await;
    assert_amqp(
        &errors.next().await,
        406,
        "PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,\"CC\",longstr}",
    );
    // Valid forms pass through unchanged.
    let ch = within(conn.create_channel()).await.unwrap();
    declare_with(&ch, "ok", FieldTable::default()).await;
    for e in ["0", "+5000", "007000"] {
        let props = BasicProperties::default().with_expiration(e.into());
        publish_with(&ch, "", "ok", b"x", BasicPublishOptions::default(), props).await;
    }
    for e in ["+5000", "007000"] {
        let got = within(ch.basic_get("ok", BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("a message");
        assert_eq!(
            got.properties.expiration().as_ref().map(|s| s.as_str()),
            Some(e)
        );
    }
    // Expiration 0 with no consumer waiting: now or never, so never.
    let got = within(ch.basic_get("ok", BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(got.is_none());
}
