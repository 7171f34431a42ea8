//! Queues end to end: server-named queues, passive declares and declare-ok counts, exclusive
//! and auto-delete queues, redeclare/delete/purge rules with RabbitMQ's reply texts, bindings
//! and the empty-name "last queue" shortcut.

mod common;

use common::*;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, Queue};

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

fn exclusive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    }
}

async fn passive_declare(ch: &Channel, name: &str) -> lapin::Result<Queue> {
    within(ch.queue_declare(name, passive(), FieldTable::default())).await
}

/// Whether `name` exists, by a passive declare on a fresh channel.
async fn queue_exists(conn: &Connection, name: &str) -> bool {
    let ch = within(conn.create_channel()).await.unwrap();
    match passive_declare(&ch, name).await {
        Ok(_) => {
            ch.close(200, "bye").await.unwrap();
            true
        }
        Err(e) => {
            assert_amqp(
                &e,
                404,
                &format!("NOT_FOUND - no queue '{name}' in vhost '/'"),
            );
            false
        }
    }
}

fn locked(name: &str) -> String {
    format!(
        "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{name}' in vhost '/'. \
         It could be originally declared on another connection or the exclusive property value \
         does not match that of the original declaration."
    )
}

#[tokio::test]
async fn server_named_queues_get_unique_amq_gen_names() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let a = declare(&ch, "", exclusive()).await;
    let b = declare(&ch, "", QueueDeclareOptions::default()).await;
    for name in [&a, &b] {
        assert!(name.starts_with("amq.gen-"), "{name}");
        assert!(
            name.len() > "amq.gen-".len() + 8,
            "{name} has a random part"
        );
    }
    assert_ne!(a, b);
    // Both exist under those names.
    assert!(queue_exists(&conn, &a).await);
    assert!(queue_exists(&conn, &b).await);
}

#[tokio::test]
async fn passive_declare_finds_existing_queues_and_reports_missing_ones() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    let q = passive_declare(&ch, "q").await.expect("passive declare");
    assert_eq!(q.name().as_str(), "q");
    assert_eq!((q.message_count(), q.consumer_count()), (0, 0));
    // A passive declare ignores the other flags.
    within(ch.queue_declare(
        "q",
        QueueDeclareOptions {
            passive: true,
            durable: true,
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("passive declare with different flags");

    expect_amqp(
        passive_declare(&ch, "nope").await,
        404,
        "NOT_FOUND - no queue 'nope' in vhost '/'",
    );
    assert!(conn.status().connected());
}

#[tokio::test]
async fn declare_ok_carries_ready_message_and_consumer_counts() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    for body in [b"1", b"2", b"3"] {
        publish(&ch, "", "q", body).await;
    }
    let q = within(ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::default()))
        .await
        .unwrap();
    assert_eq!((q.message_count(), q.consumer_count()), (3, 0));

    // A consumer with prefetch 1 holds one unacked message: 2 ready, 1 consumer.
    let cch = conn.create_channel().await.unwrap();
    cch.basic_qos(1, BasicQosOptions::default()).await.unwrap();
    let mut consumer = cch
        .basic_consume(
            "q",
            "c",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let d = within(consumer.next()).await.unwrap().unwrap();
    assert_eq!(d.data, b"1");
    let q = passive_declare(&ch, "q").await.unwrap();
    assert_eq!((q.message_count(), q.consumer_count()), (2, 1));
}

#[tokio::test]
async fn exclusive_queue_is_locked_to_its_connection() {
    let broker = broker();
    let owner = connect(&broker).await;
    let och = owner.create_channel().await.unwrap();
    declare(&och, "ex", exclusive()).await;
    // The owner can use it freely.
    passive_declare(&och, "ex").await.unwrap();
    declare(&och, "ex", exclusive()).await;

    let other = connect(&broker).await;
    let text = locked("ex");

    let ch = other.create_channel().await.unwrap();
    let res = within(ch.queue_declare("ex", exclusive(), FieldTable::default())).await;
    expect_amqp(res, 405, &text);

    let ch = other.create_channel().await.unwrap();
    let res =
        within(ch.queue_declare("ex", QueueDeclareOptions::default(), FieldTable::default())).await;
    expect_amqp(res, 405, &text);

    let ch = other.create_channel().await.unwrap();
    expect_amqp(passive_declare(&ch, "ex").await, 405, &text);

    let ch = other.create_channel().await.unwrap();
    let res = within(ch.basic_consume(
        "ex",
        "",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res.map(|_| ()), 405, &text);

    let ch = other.create_channel().await.unwrap();
    let res = within(ch.basic_get("ex", BasicGetOptions::default())).await;
    expect_amqp(res.map(|_| ()), 405, &text);

    let ch = other.create_channel().await.unwrap();
    let res = within(ch.queue_purge("ex", QueuePurgeOptions::default())).await;
    expect_amqp(res, 405, &text);

    let ch = other.create_channel().await.unwrap();
    let res = within(ch.queue_bind(
        "ex",
        "amq.direct",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 405, &text);

    let ch = other.create_channel().await.unwrap();
    let res = within(ch.queue_delete("ex", QueueDeleteOptions::default())).await;
    expect_amqp(res, 405, &text);

    // Publishing to it through the default exchange is allowed.
    let ch = confirm_channel(&other).await;
    publish(&ch, "", "ex", b"from-other").await;
    assert_eq!(drain_strings(&och, "ex").await, ["from-other"]);
    assert!(other.status().connected());
}

#[tokio::test]
async fn exclusive_queue_is_deleted_when_its_connection_closes() {
    let broker = broker();
    let owner = connect(&broker).await;
    let och = owner.create_channel().await.unwrap();
    declare(&och, "ex", exclusive()).await;
    let other = connect(&broker).await;
    within(owner.close(200, "bye")).await.unwrap();
    assert!(!queue_exists(&other, "ex").await);
    // The name is free again, for anyone.
    let ch = other.create_channel().await.unwrap();
    declare(&ch, "ex", exclusive()).await;
}

#[tokio::test]
async fn auto_delete_queue_goes_after_its_last_consumer_cancels() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let ad = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    declare(&ch, "ad", ad).await;
    // No consumer yet: it stays, even across other operations.
    within(ch.basic_get("ad", BasicGetOptions::default()))
        .await
        .unwrap();
    assert!(queue_exists(&conn, "ad").await);

    // (lapin cancels a consumer when its handle is dropped, so the handles are kept.)
    let mut consumers = Vec::new();
    for tag in ["c1", "c2"] {
        consumers.push(
            within(ch.basic_consume(
                "ad",
                tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ))
            .await
            .unwrap(),
        );
    }
    within(ch.basic_cancel("c1", BasicCancelOptions::default()))
        .await
        .unwrap();
    assert!(queue_exists(&conn, "ad").await, "one consumer is left");
    within(ch.basic_cancel("c2", BasicCancelOptions::default()))
        .await
        .unwrap();
    assert!(!queue_exists(&conn, "ad").await, "last consumer cancelled");
}

#[tokio::test]
async fn auto_delete_queue_goes_when_its_consumer_channel_closes() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let ad = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    declare(&ch, "ad", ad).await;
    let _consumer = within(ch.basic_consume(
        "ad",
        "c",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.close(200, "bye")).await.unwrap();
    assert!(!queue_exists(&conn, "ad").await);
}

#[tokio::test]
async fn redeclare_with_different_durability_is_inequivalent() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    let res = within(ch.queue_declare(
        "q",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': \
         received 'true' but current is 'false'",
    );

    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.queue_declare(
        "q",
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'q' in vhost '/': \
         received 'true' but current is 'false'",
    );
    assert!(queue_exists(&conn, "q").await);
}

#[tokio::test]
async fn deleting_a_missing_queue_succeeds_with_count_zero() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let n = within(ch.queue_delete("nope", QueueDeleteOptions::default()))
        .await
        .expect("delete of a missing queue is ok");
    assert_eq!(n, 0);
    let n = within(ch.queue_delete(
        "nope",
        QueueDeleteOptions {
            if_empty: true,
            if_unused: true,
            ..Default::default()
        },
    ))
    .await
    .expect("conditional delete of a missing queue is ok");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn delete_reports_the_message_count() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    for _ in 0..4 {
        publish(&ch, "", "q", b"m").await;
    }
    let n = within(ch.queue_delete("q", QueueDeleteOptions::default()))
        .await
        .unwrap();
    assert_eq!(n, 4);
    assert!(!queue_exists(&conn, "q").await);
}

#[tokio::test]
async fn conditional_deletes_refuse_used_or_non_empty_queues() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    publish(&ch, "", "q", b"m").await;

    let dch = conn.create_channel().await.unwrap();
    let res = within(dch.queue_delete(
        "q",
        QueueDeleteOptions {
            if_empty: true,
            ..Default::default()
        },
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty",
    );

    let _consumer = within(ch.basic_consume(
        "q",
        "c",
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let dch = conn.create_channel().await.unwrap();
    let res = within(dch.queue_delete(
        "q",
        QueueDeleteOptions {
            if_unused: true,
            ..Default::default()
        },
    ))
    .await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - queue 'q' in vhost '/' in use",
    );
    assert!(queue_exists(&conn, "q").await);

    // Once the conditions hold, the delete goes through.
    within(ch.basic_cancel("c", BasicCancelOptions::default()))
        .await
        .unwrap();
    let dch = conn.create_channel().await.unwrap();
    within(dch.queue_delete(
        "q",
        QueueDeleteOptions {
            if_unused: true,
            if_empty: true,
            ..Default::default()
        },
    ))
    .await
    .expect("unused, empty queue is deleted");
    assert!(!queue_exists(&conn, "q").await);
}

#[tokio::test]
async fn purge_returns_the_count_and_empties_the_queue() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    for i in 0..5u8 {
        publish(&ch, "", "q", &[i]).await;
    }
    let n = within(ch.queue_purge("q", QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert!(drain(&ch, "q").await.is_empty());
    let n = within(ch.queue_purge("q", QueuePurgeOptions::default()))
        .await
        .unwrap();
    assert_eq!(n, 0);

    expect_amqp(
        within(ch.queue_purge("nope", QueuePurgeOptions::default())).await,
        404,
        "NOT_FOUND - no queue 'nope' in vhost '/'",
    );
}

#[tokio::test]
async fn reserved_amq_queue_names_are_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.queue_declare(
        "amq.x",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res,
        403,
        "ACCESS_REFUSED - queue name 'amq.x' contains reserved prefix 'amq.*'",
    );
    // A passive declare is not refused for its name: it is simply missing.
    assert!(!queue_exists(&conn, "amq.x").await);
}

#[tokio::test]
async fn bind_and_unbind_control_routing() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    within(ch.queue_bind(
        "q",
        "amq.direct",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    // Binding twice is idempotent: one copy per message.
    within(ch.queue_bind(
        "q",
        "amq.direct",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, "amq.direct", "k", b"bound").await;
    assert_eq!(drain_strings(&ch, "q").await, ["bound"]);

    within(ch.queue_unbind("q", "amq.direct", "k", FieldTable::default()))
        .await
        .unwrap();
    publish(&ch, "amq.direct", "k", b"unbound").await;
    assert!(drain(&ch, "q").await.is_empty());
    // Unbinding what is not bound is fine too.
    within(ch.queue_unbind("q", "amq.direct", "k", FieldTable::default()))
        .await
        .expect("unbind of a missing binding is ok");

    let res = within(ch.queue_bind(
        "nope",
        "amq.direct",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 404, "NOT_FOUND - no queue 'nope' in vhost '/'");
    let ch = conn.create_channel().await.unwrap();
    let res = within(ch.queue_bind(
        "q",
        "nopex",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 404, "NOT_FOUND - no exchange 'nopex' in vhost '/'");
}

#[tokio::test]
async fn empty_queue_name_means_the_last_declared_queue() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    let name = declare(&ch, "", exclusive()).await;

    within(ch.queue_bind(
        "",
        "amq.direct",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .expect("bind with the empty name");
    // queue "" and routing key "": the queue's name is the key.
    within(ch.queue_bind(
        "",
        "amq.direct",
        "",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    publish(&ch, "amq.direct", "k", b"by-key").await;
    publish(&ch, "amq.direct", &name, b"by-name").await;

    let got = within(ch.basic_get("", BasicGetOptions { no_ack: true }))
        .await
        .unwrap()
        .expect("get with the empty name");
    assert_eq!(got.delivery.data, b"by-key");

    let mut consumer = within(ch.basic_consume(
        "",
        "c",
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("consume with the empty name");
    let d = within(consumer.next()).await.unwrap().unwrap();
    assert_eq!(d.data, b"by-name");
    assert_eq!(d.routing_key.as_str(), name);

    // On a channel that declared nothing, the shortcut has nothing to refer to.
    let fresh = conn.create_channel().await.unwrap();
    let res = within(fresh.queue_bind(
        "",
        "amq.direct",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(res, 404, "NOT_FOUND - no previously declared queue");
    let fresh = conn.create_channel().await.unwrap();
    let res = within(fresh.basic_consume(
        "",
        "",
        BasicConsumeOptions::default(),
        FieldTable::default(),
    ))
    .await;
    expect_amqp(
        res.map(|_| ()),
        404,
        "NOT_FOUND - no previously declared queue",
    );
}

#[tokio::test]
async fn redeclare_with_a_different_exclusive_flag_is_locked() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    let res = within(ch.queue_declare("q", exclusive(), FieldTable::default())).await;
    expect_amqp(res, 405, &locked("q"));

    let ch = conn.create_channel().await.unwrap();
    declare(&ch, "ex", exclusive()).await;
    let res =
        within(ch.queue_declare("ex", QueueDeclareOptions::default(), FieldTable::default())).await;
    expect_amqp(res, 405, &locked("ex"));
}

#[tokio::test]
async fn redeclare_with_different_arguments_is_inequivalent() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ttl = |ms: i32| {
        let mut t = FieldTable::default();
        t.insert("x-message-ttl".into(), lapin::types::AMQPValue::LongInt(ms));
        t
    };
    let ch = conn.create_channel().await.unwrap();
    within(ch.queue_declare("q", QueueDeclareOptions::default(), ttl(1000)))
        .await
        .unwrap();
    // The same value in another integer type is equivalent.
    let mut long = FieldTable::default();
    long.insert(
        "x-message-ttl".into(),
        lapin::types::AMQPValue::LongLongInt(1000),
    );
    within(ch.queue_declare("q", QueueDeclareOptions::default(), long))
        .await
        .expect("same value as a long is equivalent");

    let res = within(ch.queue_declare("q", QueueDeclareOptions::default(), ttl(2000))).await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': \
         received '2000' but current is '1000'",
    );
    let ch = conn.create_channel().await.unwrap();
    let res =
        within(ch.queue_declare("q", QueueDeclareOptions::default(), FieldTable::default())).await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': \
         received none but current is the value '1000' of type 'signedint'",
    );
    let ch = conn.create_channel().await.unwrap();
    within(ch.queue_declare(
        "plain",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let res = within(ch.queue_declare("plain", QueueDeclareOptions::default(), ttl(1000))).await;
    expect_amqp(
        res,
        406,
        "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'plain' in vhost '/': \
         received the value '1000' of type 'signedint' but current is none",
    );
}

#[tokio::test]
async fn passive_declare_of_the_empty_name_is_not_found() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    expect_amqp(
        passive_declare(&ch, "").await,
        404,
        "NOT_FOUND - no queue '' in vhost '/'",
    );
}

/// RabbitMQ looks at the queue's owner only once the binding is found (3.10.8 on this
/// machine; the Java client's `QueueExclusivity.queueExclusiveForUnbind`): another
/// connection removing a binding that is not there gets unbind-ok, removing one that is
/// gets 405 and the binding stays.
#[tokio::test]
async fn unbinding_another_connections_exclusive_queue_is_locked_if_the_binding_exists() {
    let broker = broker();
    let owner = connect(&broker).await;
    let och = owner.create_channel().await.unwrap();
    declare(&och, "ex", exclusive()).await;
    within(och.queue_bind(
        "ex",
        "amq.direct",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    let other = connect(&broker).await;
    let ch = other.create_channel().await.unwrap();
    within(ch.queue_unbind("ex", "amq.direct", "absent", FieldTable::default()))
        .await
        .expect("no such binding: unbind-ok");
    expect_amqp(
        within(ch.queue_unbind("ex", "amq.direct", "k", FieldTable::default())).await,
        405,
        &locked("ex"),
    );
    // The binding is still there: the owner's publish with k reaches the queue.
    within(och.basic_publish(
        "amq.direct",
        "k",
        BasicPublishOptions::default(),
        b"still bound",
        lapin::BasicProperties::default(),
    ))
    .await
    .unwrap();
    let got = within(och.basic_get("ex", BasicGetOptions { no_ack: true }))
        .await
        .unwrap();
    assert!(got.is_some(), "the binding survived the refused unbind");
}

/// RabbitMQ removes CR and LF from the names declare, delete and bind take, and declare-ok
/// carries the cleaned name (3.10.8 on this machine; the Java client's
/// `QueueLifecycle.*StrippedFromQueueName` and `ExchangeDeclare.*StrippedFromExchangeName`).
/// basic.get, purge, consume and publish take names as they are.
#[tokio::test]
async fn line_ends_are_stripped_from_declared_deleted_and_bound_names() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    let q = within(ch.queue_declare(
        "q\ru\ne\r\nue_\ntest\n\r",
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    assert_eq!(q.name().as_str(), "queue_test");
    within(ch.exchange_declare(
        "exchange\n_\rtest\n",
        lapin::ExchangeKind::Direct,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.exchange_declare(
        "exchange_test",
        lapin::ExchangeKind::Direct,
        ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("the exchange goes by its stripped name");
    within(ch.queue_bind(
        "queue\n_test",
        "exchange_\ntest",
        "k",
        QueueBindOptions::default(),
        FieldTable::default(),
    ))
    .await
    .unwrap();
    within(ch.basic_publish(
        "exchange_test",
        "k",
        BasicPublishOptions::default(),
        b"routed",
        lapin::BasicProperties::default(),
    ))
    .await
    .unwrap();
    wait_for_count(&ch, "queue_test", 1).await;
    expect_amqp(
        within(ch.basic_get("queue\n_test", BasicGetOptions { no_ack: true })).await,
        404,
        "NOT_FOUND - no queue 'queue\n_test' in vhost '/'",
    );
    let ch = conn.create_channel().await.unwrap();
    within(ch.queue_delete("queue_test\r\n", QueueDeleteOptions::default()))
        .await
        .unwrap();
    within(ch.exchange_delete("\nexchange_test", ExchangeDeleteOptions::default()))
        .await
        .unwrap();
    assert!(!queue_exists(&conn, "queue_test").await);
}
