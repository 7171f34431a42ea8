//! Publisher confirms and transactions end to end.

mod common;

use common::*;
use lapin::options::*;
use lapin::publisher_confirm::Confirmation;
use lapin::{BasicProperties, Channel, Connection};

async fn ready_count(conn: &Connection, queue: &str) -> u32 {
    let ch = within(conn.create_channel()).await.unwrap();
    let (messages, _) = passive_counts(&ch, queue).await;
    ch.close(200, "bye").await.unwrap();
    messages
}

async fn tx_channel(conn: &Connection) -> Channel {
    let ch = within(conn.create_channel()).await.unwrap();
    within(ch.tx_select()).await.expect("tx.select");
    ch
}

async fn send(ch: &Channel, queue: &str, body: &[u8]) {
    let confirm = start_publish(ch, queue, body).await;
    assert_eq!(within(confirm).await.unwrap(), Confirmation::NotRequested);
}

fn mandatory() -> BasicPublishOptions {
    BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn every_publish_in_confirm_mode_is_acked() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    assert!(ch.status().confirm());
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    let durable = declare(
        &ch,
        "durable",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
    )
    .await;

    // Many in flight at once, each confirmation awaited.
    let mut confirms = Vec::new();
    for i in 0..500u32 {
        let (queue, props) = if i % 2 == 0 {
            ("q", BasicProperties::default())
        } else {
            (
                durable.as_str(),
                BasicProperties::default().with_delivery_mode(2),
            )
        };
        confirms.push(
            within(ch.basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                &i.to_be_bytes(),
                props,
            ))
            .await
            .unwrap(),
        );
    }
    for confirm in confirms {
        assert_eq!(within(confirm).await.unwrap(), Confirmation::Ack(None));
    }

    // And many more with wait_for_confirms, dropping the individual confirmations.
    for i in 0..500u32 {
        let confirm = within(ch.basic_publish(
            "",
            "q",
            BasicPublishOptions::default(),
            &i.to_be_bytes(),
            BasicProperties::default(),
        ))
        .await
        .unwrap();
        drop(confirm); // wait_for_confirms keeps track of it
    }
    let returned = within(ch.wait_for_confirms()).await.unwrap();
    assert!(returned.is_empty());

    assert_eq!(ready_count(&conn, "q").await, 750);
    assert_eq!(ready_count(&conn, &durable).await, 250);
}

#[tokio::test]
async fn unroutable_mandatory_publish_is_returned_before_its_ack() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;

    // Alternate routable and unroutable publishes, one at a time. lapin attaches a
    // basic.return to the ack that follows it, so Ack(Some(..)) on exactly the unroutable ones
    // shows the return came first. (One at a time because lapin pairs returns with the acks of
    // a `multiple` ack in no particular order.)
    for i in 0..20u32 {
        let key = if i % 3 == 0 { "nowhere" } else { "q" };
        let confirmation = publish_with(
            &ch,
            "",
            key,
            i.to_string().as_bytes(),
            mandatory(),
            BasicProperties::default(),
        )
        .await;
        match confirmation {
            Confirmation::Ack(Some(returned)) => {
                assert_eq!(key, "nowhere", "publish {i} was routable");
                assert_eq!(returned.reply_code, 312);
                assert_eq!(returned.reply_text.as_str(), "NO_ROUTE");
                assert_eq!(returned.delivery.routing_key.as_str(), "nowhere");
                assert_eq!(returned.delivery.data, i.to_string().as_bytes());
            }
            Confirmation::Ack(None) => assert_eq!(key, "q", "publish {i} was not returned"),
            other => panic!("publish {i}: {other:?}"),
        }
    }
    assert_eq!(ready_count(&conn, "q").await, 13);

    // With dropped confirmations, wait_for_confirms hands back the returned messages.
    for body in [&b"a"[..], b"b"] {
        let confirm = within(ch.basic_publish(
            "amq.direct",
            "nowhere",
            mandatory(),
            body,
            BasicProperties::default(),
        ))
        .await
        .unwrap();
        drop(confirm); // wait_for_confirms keeps track of it
    }
    let returned = within(ch.wait_for_confirms()).await.unwrap();
    let mut bodies: Vec<&[u8]> = returned
        .iter()
        .map(|r| r.delivery.data.as_slice())
        .collect();
    bodies.sort_unstable();
    assert_eq!(bodies, [&b"a"[..], b"b"]);
}

#[tokio::test]
async fn transactional_publishes_appear_only_at_commit() {
    let broker = broker();
    let conn = connect(&broker).await;
    let setup = conn.create_channel().await.unwrap();
    declare(&setup, "q", QueueDeclareOptions::default()).await;
    let ch = tx_channel(&conn).await;
    for body in [b"1", b"2", b"3"] {
        send(&ch, "q", body).await;
    }
    // A synchronous round trip on the tx channel: the publishes have been processed.
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    assert_eq!(ready_count(&conn, "q").await, 0, "nothing before commit");
    within(ch.tx_commit()).await.expect("tx.commit");
    assert_eq!(ready_count(&conn, "q").await, 3);
    assert_eq!(drain_strings(&setup, "q").await, ["1", "2", "3"]);

    // The channel stays transactional: the next batch also waits for a commit.
    send(&ch, "q", b"4").await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    assert_eq!(ready_count(&conn, "q").await, 0);
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(drain_strings(&setup, "q").await, ["4"]);
    // An empty commit is fine.
    within(ch.tx_commit()).await.unwrap();
}

#[tokio::test]
async fn rollback_discards_transactional_publishes() {
    let broker = broker();
    let conn = connect(&broker).await;
    let setup = conn.create_channel().await.unwrap();
    declare(&setup, "q", QueueDeclareOptions::default()).await;
    let ch = tx_channel(&conn).await;
    send(&ch, "q", b"discarded").await;
    send(&ch, "q", b"discarded too").await;
    within(ch.tx_rollback()).await.expect("tx.rollback");
    assert_eq!(ready_count(&conn, "q").await, 0);
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(
        ready_count(&conn, "q").await,
        0,
        "a commit after rollback adds nothing"
    );

    send(&ch, "q", b"kept").await;
    within(ch.tx_commit()).await.unwrap();
    assert_eq!(drain_strings(&setup, "q").await, ["kept"]);
}

#[tokio::test]
async fn acks_in_a_transaction_take_effect_at_commit() {
    let broker = broker();
    let conn = connect(&broker).await;
    let setup = confirm_channel(&conn).await;
    declare(&setup, "q", QueueDeclareOptions::default()).await;
    for body in [b"1", b"2"] {
        publish(&setup, "", "q", body).await;
    }

    // Acked, then rolled back: still unacked, so closing the channel requeues both.
    let ch = tx_channel(&conn).await;
    for tag in 1..=2u64 {
        let m = within(ch.basic_get("q", BasicGetOptions::default()))
            .await
            .unwrap()
            .expect("a message");
        assert_eq!(m.delivery.delivery_tag, tag);
    }
    within(ch.basic_ack(2, BasicAckOptions { multiple: true }))
        .await
        .unwrap();
    within(ch.tx_rollback()).await.unwrap();
    within(ch.close(200, "bye")).await.unwrap();
    assert_eq!(
        ready_count(&conn, "q").await,
        2,
        "rolled-back acks do not count"
    );

    // Acked but not yet committed: still unacked as far as the queue is concerned.
    let ch = tx_channel(&conn).await;
    for _ in 0..2 {
        within(ch.basic_get("q", BasicGetOptions::default()))
            .await
            .unwrap()
            .expect("a message");
    }
    within(ch.basic_ack(1, BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.basic_ack(2, BasicAckOptions::default()))
        .await
        .unwrap();
    within(ch.tx_commit()).await.unwrap();
    within(ch.close(200, "bye")).await.unwrap();
    assert_eq!(
        ready_count(&conn, "q").await,
        0,
        "committed acks remove the messages"
    );
}

#[tokio::test]
async fn tx_select_on_a_confirm_channel_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    expect_amqp(
        within(ch.tx_select()).await,
        406,
        "PRECONDITION_FAILED - cannot switch from confirm to tx mode",
    );
    assert!(conn.status().connected());
}

#[tokio::test]
async fn confirm_select_on_a_tx_channel_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = tx_channel(&conn).await;
    expect_amqp(
        within(ch.confirm_select(ConfirmSelectOptions::default())).await,
        406,
        "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
    );
    assert!(conn.status().connected());
}

#[tokio::test]
async fn selecting_the_same_mode_twice_is_fine() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = confirm_channel(&conn).await;
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .expect("second confirm.select");
    let ch = tx_channel(&conn).await;
    within(ch.tx_select()).await.expect("second tx.select");
}

#[tokio::test]
async fn commit_or_rollback_without_tx_select_is_refused() {
    let broker = broker();
    let conn = connect(&broker).await;
    let ch = conn.create_channel().await.unwrap();
    expect_amqp(
        within(ch.tx_commit()).await,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    );
    let ch = conn.create_channel().await.unwrap();
    expect_amqp(
        within(ch.tx_rollback()).await,
        406,
        "PRECONDITION_FAILED - channel is not transactional",
    );
    assert!(conn.status().connected());
}
