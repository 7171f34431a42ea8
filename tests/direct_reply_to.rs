//! RabbitMQ's direct reply-to end to end: the pseudo-queue `amq.rabbitmq.reply-to`, the
//! rewrite of a request's reply-to, replies delivered straight to the requester's channel,
//! and every misuse answered with RabbitMQ's code and text. Each expectation was checked
//! against RabbitMQ 3.10.8.

mod common;

use common::*;
use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::*;
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, Consumer};

const PSEUDO_QUEUE: &str = "amq.rabbitmq.reply-to";
const ADDRESS_PREFIX: &str = "amq.rabbitmq.reply-to.";

async fn next(consumer: &mut Consumer) -> Delivery {
    within(consumer.next())
        .await
        .expect("a delivery, not the end of the consumer")
        .expect("a delivery, not an error")
}

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.expect("channel opens")
}

fn consume_options(no_ack: bool) -> BasicConsumeOptions {
    BasicConsumeOptions {
        no_ack,
        ..Default::default()
    }
}

/// The requester's side: a consumer of the pseudo-queue, in no-ack mode as it must be.
async fn reply_consumer(ch: &Channel) -> Consumer {
    within(ch.basic_consume(
        PSEUDO_QUEUE,
        "",
        consume_options(true),
        FieldTable::default(),
    ))
    .await
    .expect("basic.consume of amq.rabbitmq.reply-to")
}

fn request_properties(correlation_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_reply_to(PSEUDO_QUEUE.into())
        .with_correlation_id(correlation_id.into())
}

async fn send(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    within(ch.basic_publish(exchange, key, BasicPublishOptions::default(), body, props))
        .await
        .expect("basic.publish is sent");
}

fn mandatory() -> BasicPublishOptions {
    BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    }
}

/// Sends a request with reply-to `amq.rabbitmq.reply-to` through a server queue and returns
/// the reply address the responder sees.
async fn request_address(requester: &Channel, responder: &Channel, queue: &str) -> String {
    declare(responder, queue, QueueDeclareOptions::default()).await;
    send(requester, "", queue, b"request", request_properties("c")).await;
    // The requester may be another connection: its publish can reach the queue after the
    // responder first looks.
    let got = within(async {
        loop {
            let got = responder
                .basic_get(queue, BasicGetOptions { no_ack: true })
                .await
                .expect("basic.get");
            match got {
                Some(got) => return got,
                None => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    })
    .await;
    got.delivery
        .properties
        .reply_to()
        .as_ref()
        .expect("the request has a reply-to")
        .to_string()
}

#[tokio::test]
async fn any_declare_of_the_pseudo_queue_says_it_exists_with_one_consumer() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    assert_eq!(passive_counts(&ch, PSEUDO_QUEUE).await, (0, 1));
    // Not passive, durable, exclusive: still only a look, never a queue, never refused for
    // its amq. prefix.
    let q = within(ch.queue_declare(
        PSEUDO_QUEUE,
        QueueDeclareOptions {
            durable: true,
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("declare");
    assert_eq!(
        (q.name().as_str(), q.message_count(), q.consumer_count()),
        (PSEUDO_QUEUE, 0, 1)
    );

    for (name, passive) in [
        ("amq.rabbitmq.reply-to.junk", true),
        ("amq.rabbitmq.reply-to.junk", false),
        ("amq.rabbitmq.reply-toX", false),
    ] {
        let ch = channel(&conn).await;
        expect_amqp(
            within(ch.queue_declare(
                name,
                QueueDeclareOptions {
                    passive,
                    ..Default::default()
                },
                FieldTable::default(),
            ))
            .await,
            404,
            &format!("NOT_FOUND - no queue '{name}' in vhost '/'"),
        );
    }

    // Other queue methods find no queue by that name; deleting it is the no-op of deleting
    // any missing queue.
    let ch = channel(&conn).await;
    expect_amqp(
        within(ch.basic_get(PSEUDO_QUEUE, BasicGetOptions::default())).await,
        404,
        "NOT_FOUND - no queue 'amq.rabbitmq.reply-to' in vhost '/'",
    );
    let ch = channel(&conn).await;
    let deleted = within(ch.queue_delete(PSEUDO_QUEUE, QueueDeleteOptions::default()))
        .await
        .expect("queue.delete");
    assert_eq!(deleted, 0);
}

#[tokio::test]
async fn rpc_round_trip_through_a_direct_reply() {
    let broker = broker();
    let requester_conn = connect(&broker).await;
    let responder_conn = connect(&broker).await;
    let requester = channel(&requester_conn).await;
    let responder = confirm_channel(&responder_conn).await;

    declare(&responder, "rpc", QueueDeclareOptions::default()).await;
    let mut server = within(responder.basic_consume(
        "rpc",
        "server",
        consume_options(false),
        FieldTable::default(),
    ))
    .await
    .expect("responder consumes");
    let mut replies = reply_consumer(&requester).await;

    // A queue delivery first: the reply takes the channel's next delivery tag after it.
    declare(&requester, "elsewhere", QueueDeclareOptions::default()).await;
    send(
        &requester,
        "",
        "elsewhere",
        b"x",
        BasicProperties::default(),
    )
    .await;
    let got = within(requester.basic_get("elsewhere", BasicGetOptions { no_ack: true }))
        .await
        .expect("basic.get")
        .expect("a message");
    assert_eq!(got.delivery.delivery_tag, 1);

    // Small (read in place) and large (assembled from frames) requests both get the address.
    let large = vec![b'r'; 20_000];
    for (n, body) in [&b"request"[..], &large[..]].into_iter().enumerate() {
        let correlation_id = format!("call-{n}");
        let props = request_properties(&correlation_id)
            .with_content_type("text/plain".into())
            .with_message_id("m".into());
        send(&requester, "", "rpc", body, props).await;

        let request = next(&mut server).await;
        let reply_to = request
            .properties
            .reply_to()
            .as_ref()
            .expect("reply-to")
            .to_string();
        assert!(
            reply_to.starts_with(ADDRESS_PREFIX) && reply_to.len() > ADDRESS_PREFIX.len() + 16,
            "{reply_to}"
        );
        // Only reply-to was rewritten.
        assert_eq!(
            request.properties,
            request_properties(&correlation_id)
                .with_content_type("text/plain".into())
                .with_message_id("m".into())
                .with_reply_to(reply_to.clone().into())
        );
        assert_eq!(request.data, body);
        within(request.ack(BasicAckOptions::default()))
            .await
            .expect("ack");
        // The responder may check that the requester is still there.
        assert_eq!(passive_counts(&responder, &reply_to).await, (0, 1));

        let reply_props = BasicProperties::default().with_correlation_id(correlation_id.into());
        let confirmation = publish_with(
            &responder,
            "",
            &reply_to,
            b"answer",
            BasicPublishOptions::default(),
            reply_props.clone(),
        )
        .await;
        assert_eq!(confirmation, Confirmation::Ack(None));

        let reply = next(&mut replies).await;
        assert_eq!(reply.delivery_tag, 2 + n as u64);
        assert_eq!(reply.exchange.as_str(), "");
        assert_eq!(reply.routing_key.as_str(), reply_to);
        assert!(!reply.redelivered);
        assert_eq!(reply.properties, reply_props);
        assert_eq!(reply.data, b"answer");
    }
    // The replies were never unacked: acking one is an unknown delivery tag.
    let watch = watch_channel(&requester);
    within(requester.basic_ack(2, BasicAckOptions::default()))
        .await
        .expect("ack is sent");
    let mut watch = watch;
    assert_amqp(
        &watch.next().await,
        406,
        "PRECONDITION_FAILED - unknown delivery tag 2",
    );
}

#[tokio::test]
async fn a_mandatory_reply_is_delivered_and_not_returned() {
    // RabbitMQ 4.x delivers a direct reply through a volatile queue, so a mandatory one is
    // routed (3.10 also returned it with NO_ROUTE; Warren follows 4.3).
    let broker = broker();
    let conn = connect(&broker).await;
    let requester = channel(&conn).await;
    let responder = confirm_channel(&conn).await;
    let mut replies = reply_consumer(&requester).await;
    let address = request_address(&requester, &responder, "rpc-mandatory").await;

    let confirmation = publish_with(
        &responder,
        "",
        &address,
        b"reply",
        mandatory(),
        BasicProperties::default(),
    )
    .await;
    assert!(
        matches!(confirmation, Confirmation::Ack(None)),
        "a delivered reply is not returned: {confirmation:?}"
    );
    assert_eq!(next(&mut replies).await.data, b"reply");

    // Only the default exchange reaches a reply address.
    let confirmation = publish_with(
        &responder,
        "amq.direct",
        &address,
        b"not a reply",
        mandatory(),
        BasicProperties::default(),
    )
    .await;
    assert!(matches!(confirmation, Confirmation::Ack(Some(_))));
    let confirmation = publish_with(
        &responder,
        "",
        &address,
        b"second",
        BasicPublishOptions::default(),
        BasicProperties::default(),
    )
    .await;
    assert_eq!(confirmation, Confirmation::Ack(None));
    assert_eq!(next(&mut replies).await.data, b"second");
}

#[tokio::test]
async fn a_reply_after_the_requester_channel_closed_goes_nowhere() {
    let broker = broker();
    let requester_conn = connect(&broker).await;
    let responder_conn = connect(&broker).await;
    let requester = channel(&requester_conn).await;
    let responder = confirm_channel(&responder_conn).await;
    let _replies = reply_consumer(&requester).await;
    let address = request_address(&requester, &responder, "rpc-gone").await;
    within(requester.close(200, "done"))
        .await
        .expect("channel.close");

    let confirmation = publish_with(
        &responder,
        "",
        &address,
        b"late",
        mandatory(),
        BasicProperties::default(),
    )
    .await;
    match confirmation {
        Confirmation::Ack(Some(returned)) => assert_eq!(returned.reply_code, 312),
        other => panic!("expected the reply back as unroutable, got {other:?}"),
    }
    let ch = channel(&responder_conn).await;
    expect_amqp(
        within(ch.queue_declare(
            &address,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await,
        404,
        &format!("NOT_FOUND - no queue '{address}' in vhost '/'"),
    );

    // The same when the whole connection goes.
    let requester = channel(&requester_conn).await;
    let _replies = reply_consumer(&requester).await;
    let address = request_address(&requester, &responder, "rpc-gone-2").await;
    assert_eq!(passive_counts(&responder, &address).await, (0, 1));
    within(requester_conn.close(200, "bye"))
        .await
        .expect("connection.close");
    let ch = channel(&responder_conn).await;
    expect_amqp(
        within(ch.queue_declare(
            &address,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        ))
        .await,
        404,
        &format!("NOT_FOUND - no queue '{address}' in vhost '/'"),
    );
}

#[tokio::test]
async fn a_cancelled_reply_consumer_gets_no_more_replies() {
    let broker = broker();
    let conn = connect(&broker).await;
    let requester = channel(&conn).await;
    let responder = confirm_channel(&conn).await;
    let first = reply_consumer(&requester).await;
    let old = request_address(&requester, &responder, "rpc-cancel").await;
    within(requester.basic_cancel(first.tag().as_str(), BasicCancelOptions::default()))
        .await
        .expect("basic.cancel of the reply consumer");

    // A new reply consumer on the same channel has a new address; the old one is dead.
    let mut second = reply_consumer(&requester).await;
    let new = request_address(&requester, &responder, "rpc-cancel").await;
    assert_ne!(old, new);
    for (key, body) in [(&old, &b"to the old"[..]), (&new, &b"to the new"[..])] {
        publish_with(
            &responder,
            "",
            key,
            body,
            BasicPublishOptions::default(),
            BasicProperties::default(),
        )
        .await;
    }
    assert_eq!(next(&mut second).await.data, b"to the new");
}

#[tokio::test]
async fn consuming_the_pseudo_queue_with_acks_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    expect_amqp(
        within(ch.basic_consume(
            PSEUDO_QUEUE,
            "",
            consume_options(false),
            FieldTable::default(),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - reply consumer cannot acknowledge",
    );
}

#[tokio::test]
async fn a_second_reply_consumer_on_a_channel_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    let _first = reply_consumer(&ch).await;
    expect_amqp(
        within(ch.basic_consume(
            PSEUDO_QUEUE,
            "another",
            consume_options(true),
            FieldTable::default(),
        ))
        .await,
        406,
        "PRECONDITION_FAILED - reply consumer already set",
    );
    // Another channel of the same connection may have its own.
    let other = channel(&conn).await;
    let _second = reply_consumer(&other).await;
}

#[tokio::test]
async fn a_reply_consumer_may_not_reuse_a_queue_consumers_tag() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    declare(&ch, "tagged", QueueDeclareOptions::default()).await;
    within(ch.basic_consume("tagged", "t", consume_options(false), FieldTable::default()))
        .await
        .expect("queue consumer");
    expect_amqp(
        within(ch.basic_consume(
            PSEUDO_QUEUE,
            "t",
            consume_options(true),
            FieldTable::default(),
        ))
        .await,
        530,
        "NOT_ALLOWED - attempt to reuse consumer tag 't'",
    );
}

/// Publishes a direct reply-to request on `ch` and returns the error the channel is closed
/// with.
async fn request_refused(ch: &Channel) -> lapin::Error {
    let mut errors = watch_channel(ch);
    send(ch, "", "anywhere", b"request", request_properties("c")).await;
    errors.next().await
}

#[tokio::test]
async fn a_request_needs_a_reply_consumer_on_its_own_channel() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = channel(&conn).await;
    assert_amqp(
        &request_refused(&ch).await,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    );

    // A reply consumer on another channel does not count.
    let consuming = channel(&conn).await;
    let _replies = reply_consumer(&consuming).await;
    let ch = channel(&conn).await;
    assert_amqp(
        &request_refused(&ch).await,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    );

    // Nor does a cancelled one.
    let ch = channel(&conn).await;
    let replies = reply_consumer(&ch).await;
    within(ch.basic_cancel(replies.tag().as_str(), BasicCancelOptions::default()))
        .await
        .expect("basic.cancel");
    assert_amqp(
        &request_refused(&ch).await,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    );

    // The missing consumer is reported before a wrong user-id, as RabbitMQ checks it first.
    let ch = channel(&conn).await;
    let mut errors = watch_channel(&ch);
    send(
        &ch,
        "",
        "anywhere",
        b"request",
        request_properties("c").with_user_id("mallory".into()),
    )
    .await;
    assert_amqp(
        &errors.next().await,
        406,
        "PRECONDITION_FAILED - fast reply consumer does not exist",
    );
}
