//! kill -9 at a random moment while publishing persistent messages with confirms: after a
//! restart every confirmed message is there exactly once, in order.

mod common;

use common::{free_port, spawn_binary, within};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
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

/// Publishes numbered persistent messages in windows until the broker dies; returns the
/// numbers that were confirmed.
async fn publish_until_killed(port: u16, started: tokio::sync::oneshot::Sender<()>) -> Vec<u64> {
    let mut started = Some(started);
    let conn = connect(port).await;
    let ch = conn.create_channel().await.expect("channel");
    ch.queue_declare(
        "crash",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let props = BasicProperties::default().with_delivery_mode(2);
    let mut confirmed = Vec::new();
    let mut next = 0u64;
    loop {
        let mut pending = Vec::new();
        for _ in 0..WINDOW {
            let body = next.to_be_bytes();
            match ch
                .basic_publish(
                    "",
                    "crash",
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

#[tokio::test(flavor = "multi_thread")]
async fn confirmed_messages_survive_kill_9() {
    common::init_logs();
    for iteration in 0..ITERATIONS {
        let dir =
            std::env::temp_dir().join(format!("warren-crash-{}-{iteration}", std::process::id()));
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
        let publisher = tokio::spawn(publish_until_killed(port, started_tx));
        within(started_rx).await.expect("publishing started");
        tokio::time::sleep(delay).await;
        child.kill().expect("kill -9");
        let _ = child.wait();
        let confirmed = within(publisher).await.expect("publisher ends");

        let port = free_port();
        let mut child = spawn_binary(&dir, port);
        let conn = connect(port).await;
        let ch = conn.create_channel().await.expect("channel");
        let mut seen = Vec::new();
        while let Some(m) = within(ch.basic_get("crash", BasicGetOptions { no_ack: true }))
            .await
            .expect("get")
        {
            let raw: [u8; 8] = m.delivery.data.as_slice().try_into().expect("8-byte body");
            seen.push(u64::from_be_bytes(raw));
        }
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
            "iteration {iteration}: confirmed but lost: {lost:?}"
        );
        eprintln!(
            "iteration {iteration}: killed after {delay:?}, {} confirmed, {} recovered",
            confirmed.len(),
            seen.len()
        );
    }
}
