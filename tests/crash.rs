//! kill -9 at a random moment while publishing with confirms, to a durable classic queue
//! (persistent messages), a quorum queue (transient ones: it keeps every message) and a
//! stream: after a restart every confirmed message is there exactly once, in order (a
//! stream's at the offset it was given).

mod common;

use common::{free_port, spawn_binary, within};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::collections::HashSet;

use std::time::Duration;

const ITERATIONS: usize = 3;
const WINDOW: usize = 64;

async fn connect(port: u16) -> Connection {
    within(Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        ConnectionProperties::default(),
    ))
    .await
    .expect("connect")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Classic,
    Quorum,
    Stream,
}

impl Kind {
    fn queue(self) -> &'static str {
        match self {
            Kind::Classic => "crash",
            Kind::Quorum => "crash-quorum",
            Kind::Stream => "crash-stream",
        }
    }

    /// Declares the queue; returns its message count.
    async fn declare(self, ch: &Channel) -> u32 {
        let mut args = FieldTable::default();
        let kind = match self {
            Kind::Classic => None,
            Kind::Quorum => Some("quorum"),
            Kind::Stream => Some("stream"),
        };
        if let Some(kind) = kind {
            args.insert("x-queue-type".into(), AMQPValue::LongString(kind.into()));
        }
        let options = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        within(ch.queue_declare(self.queue(), options, args))
            .await
            .expect("declare")
            .message_count()
    }

    /// Persistent for a classic queue; transient for the others, which keep every message.
    fn properties(self) -> BasicProperties {
        match self {
            Kind::Classic => BasicProperties::default().with_delivery_mode(2),
            Kind::Quorum | Kind::Stream => BasicProperties::default().with_delivery_mode(1),
        }
    }
}

/// Publishes numbered messages in windows until the broker dies; returns the numbers that
/// were confirmed.
async fn publish_until_killed(
    port: u16,
    kind: Kind,
    started: tokio::sync::oneshot::Sender<()>,
) -> Vec<u64> {
    let mut started = Some(started);
    let conn = connect(port).await;
    let ch = conn.create_channel().await.expect("channel");
    kind.declare(&ch).await;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let props = kind.properties();
    let mut confirmed = Vec::new();
    let mut next = 0u64;
    loop {
        let mut pending = Vec::new();
        for _ in 0..WINDOW {
            let body = next.to_be_bytes();
            match ch
                .basic_publish(
                    "",
                    kind.queue(),
                    BasicPublishOptions::default(),
                    &body,
                    props.clone(),
                )
                .await
            {
                Ok(c) => pending.push((next, c)),
                Err(_) => return confirmed,
            }
            next += 1;
        }
        for (n, c) in pending {
            match tokio::time::timeout(Duration::from_secs(10), c).await {
                Ok(Ok(conf)) if conf.is_ack() => confirmed.push(n),
                _ => return confirmed,
            }
        }
        // The first window is confirmed: the kill may come from now on.
        if let Some(tx) = started.take() {
            let _ = tx.send(());
        }
    }
}

/// Every message in the queue, in the order a consumer gets them, by number; a stream's
/// must each be at the offset of its place.
async fn read_back(ch: &Channel, kind: Kind) -> Vec<u64> {
    let count = kind.declare(ch).await as usize;
    let number = |data: &[u8]| -> u64 {
        let raw: [u8; 8] = data.try_into().expect("8-byte body");
        u64::from_be_bytes(raw)
    };
    let mut seen = Vec::new();
    if kind != Kind::Stream {
        while let Some(m) = within(ch.basic_get(kind.queue(), BasicGetOptions { no_ack: true }))
            .await
            .expect("get")
        {
            seen.push(number(&m.delivery.data));
        }
        assert_eq!(
            seen.len(),
            count,
            "declare-ok's count against what get gave"
        );
        return seen;
    }
    within(ch.basic_qos(500, BasicQosOptions::default()))
        .await
        .expect("qos");
    let mut args = FieldTable::default();
    args.insert(
        "x-stream-offset".into(),
        AMQPValue::LongString("first".into()),
    );
    let mut consumer =
        within(ch.basic_consume(kind.queue(), "reader", BasicConsumeOptions::default(), args))
            .await
            .expect("consume");
    for at in 0..count {
        let d = within(consumer.next())
            .await
            .expect("a delivery")
            .expect("delivery ok");
        let offset = d
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-stream-offset").cloned());
        assert_eq!(offset, Some(AMQPValue::LongLongInt(at as i64)), "offset");
        seen.push(number(&d.data));
        within(d.ack(BasicAckOptions::default()))
            .await
            .expect("ack");
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmed_messages_survive_kill_9() {
    kill_9_cycles(Kind::Classic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmed_quorum_messages_survive_kill_9() {
    kill_9_cycles(Kind::Quorum).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmed_stream_messages_survive_kill_9_at_their_offsets() {
    kill_9_cycles(Kind::Stream).await;
}

/// `ITERATIONS` times: a fresh broker, publishing under confirms, kill -9, a restart on the
/// same directory, and every confirmed message read back once, in order.
async fn kill_9_cycles(kind: Kind) {
    common::init_logs();
    for iteration in 0..ITERATIONS {
        let dir = std::env::temp_dir().join(format!(
            "warren-crash-{}-{}-{iteration}",
            std::process::id(),
            kind.queue()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let port = free_port();
        let mut child = spawn_binary(&dir, port);
        // A pseudo-random moment between 50 and 400 ms after the first confirms.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let delay = Duration::from_millis(50 + u64::from(nanos % 350));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let publisher = tokio::spawn(publish_until_killed(port, kind, started_tx));
        within(started_rx).await.expect("publishing started");
        tokio::time::sleep(delay).await;
        child.kill().expect("kill -9");
        let _ = child.wait();
        let confirmed = within(publisher).await.expect("publisher ends");

        let port = free_port();
        let mut child = spawn_binary(&dir, port);
        let conn = connect(port).await;
        let ch = conn.create_channel().await.expect("channel");
        let seen = read_back(&ch, kind).await;
        let _ = conn.close(200, "bye").await;
        child.kill().expect("stop");
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);

        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "in order, no duplicates: {seen:?}"
        );
        let present: HashSet<u64> = seen.iter().copied().collect();
        let lost: Vec<u64> = confirmed
            .iter()
            .copied()
            .filter(|n| !present.contains(n))
            .collect();
        assert!(
            lost.is_empty(),
            "{kind:?} iteration {iteration}: confirmed but lost: {lost:?}"
        );
        assert!(
            !confirmed.is_empty(),
            "the kill came after the first window"
        );
        eprintln!(
            "{kind:?} iteration {iteration}: killed after {delay:?}, {} confirmed, {} recovered",
            confirmed.len(),
            seen.len()
        );
    }
}

/// The body and headers of the next message `basic.get` takes from `queue`, acked.
async fn take(
    ch: &Channel,
    queue: &str,
) -> Option<(
    Vec<u8>,
    bool,
    Option<AMQPValue>,
    Option<AMQPValue>,
    Option<AMQPValue>,
)> {
    let m = within(ch.basic_get(queue, BasicGetOptions { no_ack: true }))
        .await
        .expect("basic.get")?;
    let d = m.delivery;
    let h = |k: &str| common::header(&d, k).cloned();
    Some((
        d.data.clone(),
        d.redelivered,
        h("x-delivery-count"),
        h("x-acquired-count"),
        h("x-first-death-reason"),
    ))
}

/// A quorum queue's messages out with a consumer when the broker is killed with -9 come
/// back as failed deliveries (their holder is gone), as RabbitMQ counts them (3.10.8 on
/// this machine shows `x-delivery-count: 1` on such a message): one delivered once comes
/// back with `x-delivery-count: 1`, one that had failed before goes past a delivery limit
/// of 1 and is dead-lettered with reason `delivery_limit`; the one never delivered comes
/// back as published.
#[tokio::test(flavor = "multi_thread")]
async fn quorum_messages_out_at_a_kill_9_come_back_as_failed_deliveries() {
    common::init_logs();
    let dir = std::env::temp_dir().join(format!("warren-crash-held-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let mut child = spawn_binary(&dir, port);
    let conn = connect(port).await;
    let ch = within(conn.create_channel()).await.expect("channel");
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .expect("confirms");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    within(ch.queue_declare("dlq", durable, FieldTable::default()))
        .await
        .expect("dlq");
    let mut args = FieldTable::default();
    for (k, v) in [
        ("x-queue-type", AMQPValue::LongString("quorum".into())),
        ("x-delivery-limit", AMQPValue::LongInt(1)),
        ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
        (
            "x-dead-letter-routing-key",
            AMQPValue::LongString("dlq".into()),
        ),
    ] {
        args.insert(k.into(), v);
    }
    within(ch.queue_declare("held", durable, args))
        .await
        .expect("quorum queue");
    let publish = |body: &'static [u8]| {
        let ch = ch.clone();
        async move {
            let confirm = within(ch.basic_publish(
                "",
                "held",
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            ))
            .await
            .expect("publish");
            within(confirm).await.expect("confirmed");
        }
    };
    for body in [b"a", b"b", b"c"] {
        publish(body).await;
    }
    let get = || async {
        within(ch.basic_get("held", BasicGetOptions { no_ack: false }))
            .await
            .expect("basic.get")
            .expect("a message")
            .delivery
    };
    let a = get().await;
    assert_eq!(&a.data[..], b"a");
    let b = get().await;
    within(b.reject(BasicRejectOptions { requeue: true }))
        .await
        .expect("reject");
    let b = get().await;
    assert_eq!(&b.data[..], b"b");
    // A confirmed publish after them: the log has written every record before it.
    publish(b"d").await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    drop(conn);

    let port = free_port();
    let mut child = spawn_binary(&dir, port);
    let conn = connect(port).await;
    let ch = within(conn.create_channel()).await.expect("channel");
    let long = |n| Some(AMQPValue::LongLongInt(n));
    assert_eq!(
        take(&ch, "held").await,
        Some((b"a".to_vec(), true, long(1), long(1), None)),
        "out once: one failed delivery"
    );
    assert_eq!(
        take(&ch, "held").await,
        Some((b"c".to_vec(), false, None, None, None))
    );
    assert_eq!(
        take(&ch, "held").await,
        Some((b"d".to_vec(), false, None, None, None))
    );
    assert_eq!(take(&ch, "held").await, None, "b went past its limit");
    let dead = take(&ch, "dlq").await.expect("b dead-lettered");
    assert_eq!(dead.0, b"b");
    assert_eq!(dead.4, Some(AMQPValue::LongString("delivery_limit".into())));
    let _ = conn.close(200, "bye").await;
    child.kill().expect("stop");
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
