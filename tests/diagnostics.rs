//! Misuse diagnostics: each item provoked over a real socket by a stock client (lapin; raw
//! bytes for interleaved content frames), then found in `Broker::diagnostics()` naming the
//! connection, the channel and the client's connection_name; and the report over HTTP.

mod common;
mod raw_handshake;

use bytes::BytesMut;
use common::*;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use warren::broker::diagnostics::{Diagnostic, Kind};
use warren::broker::profile::Profile;
use warren::protocol::methods::*;
use warren::protocol::{Frame, Method};

use raw_handshake::APP;

async fn connect_named(broker: &Broker, query: &str) -> Connection {
    let props = ConnectionProperties::default().with_connection_name(APP.into());
    within(Connection::connect(
        &format!("{}{query}", broker.url()),
        props,
    ))
    .await
    .expect("connect")
}

async fn channel(conn: &Connection) -> Channel {
    within(conn.create_channel()).await.expect("channel")
}

/// Waits (bounded) for an item of `kind` and returns it.
async fn item(broker: &Broker, kind: Kind) -> Diagnostic {
    within(async {
        loop {
            if let Some(d) = broker.diagnostics().into_iter().find(|d| d.kind == kind) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// An item about channel `ch` of the named lapin connection.
#[track_caller]
fn assert_names(d: &Diagnostic, ch: Option<u16>) {
    assert_eq!(d.connection_name.as_deref(), Some(APP), "{d:?}");
    assert!(d.connection.contains(" -> 127.0.0.1:"), "{d:?}");
    assert_eq!(d.channel, ch, "{d:?}");
    assert_eq!((d.user.as_str(), d.vhost.as_str()), ("guest", "/"));
}

#[tokio::test]
async fn acks_of_unknown_and_already_acked_tags() {
    let b = broker();
    let conn = connect_named(&b, "").await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    publish(&ch, "", "q", b"m").await;
    let got = within(ch.basic_get("q", BasicGetOptions::default()))
        .await
        .expect("get")
        .expect("message");
    let tag = got.delivery.delivery_tag;
    within(ch.basic_ack(tag, BasicAckOptions::default()))
        .await
        .expect("first ack");
    let _ = within(ch.basic_ack(tag, BasicAckOptions::default())).await;
    let d = item(&b, Kind::AlreadyAckedDeliveryTag).await;
    assert_names(&d, Some(ch.id()));
    assert!(d.detail.contains(&format!("delivery tag {tag}")), "{d:?}");

    let ch = channel(&conn).await;
    let _ = within(ch.basic_ack(42, BasicAckOptions::default())).await;
    let d = item(&b, Kind::UnknownDeliveryTag).await;
    assert_names(&d, Some(ch.id()));
    assert!(d.detail.contains("never delivered"), "{d:?}");
}

#[tokio::test]
async fn a_consumer_holding_unacked_messages_at_close() {
    let b = broker();
    let conn = connect_named(&b, "").await;
    let ch = confirm_channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    publish(&ch, "", "q", b"m").await;
    let mut c = consume_with(&ch, "q", "c", false, FieldTable::default()).await;
    next_delivery(&mut c).await;
    within(ch.close(200, "bye")).await.expect("close");
    let d = item(&b, Kind::UnackedAtClose).await;
    assert_names(&d, Some(ch.id()));
    assert!(d.detail.contains("1 unacked"), "{d:?}");
}

#[tokio::test]
async fn channels_opened_and_never_closed() {
    let b = broker();
    let conn = connect_named(&b, "").await;
    // lapin closes a channel whose handle is dropped: these are kept.
    let mut open = Vec::new();
    for _ in 0..100 {
        open.push(channel(&conn).await);
    }
    let d = item(&b, Kind::ChannelsNeverClosed).await;
    assert_names(&d, None);
    assert!(d.detail.starts_with("100 channels open"), "{d:?}");
}

#[tokio::test]
async fn a_socket_closed_without_connection_close_while_channels_were_open() {
    let b = broker();
    let (raw, _) = raw_handshake::open(&b, 131072, 60).await.expect("open");
    drop(raw);
    let d = item(&b, Kind::ChannelsNeverClosed).await;
    assert_names(&d, None);
    assert!(d.detail.contains("while 1 channels were open"), "{d:?}");
}

#[tokio::test]
async fn a_publish_to_a_missing_exchange() {
    let b = broker();
    let conn = connect_named(&b, "").await;
    let ch = channel(&conn).await;
    let _ = ch
        .basic_publish(
            "nowhere",
            "k",
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        )
        .await;
    let d = item(&b, Kind::PublishToMissingExchange).await;
    assert_names(&d, Some(ch.id()));
    assert!(d.detail.contains("no exchange 'nowhere'"), "{d:?}");
}

#[tokio::test]
async fn unroutable_messages_without_mandatory_are_reported_once_per_channel() {
    let b = broker();
    let conn = connect_named(&b, "").await;
    let ch = confirm_channel(&conn).await;
    publish(&ch, "amq.direct", "nobody", b"m").await;
    publish(&ch, "amq.direct", "nobody", b"m").await;
    let d = item(&b, Kind::Unroutable).await;
    assert_names(&d, Some(ch.id()));
    assert!(d.detail.contains("'amq.direct'"), "{d:?}");
    let n = b
        .diagnostics()
        .iter()
        .filter(|d| d.kind == Kind::Unroutable)
        .count();
    assert_eq!(n, 1);
    // Mandatory ones come back to the publisher: nothing to report.
    let ch = confirm_channel(&conn).await;
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    publish_with(
        &ch,
        "amq.direct",
        "nobody",
        b"m",
        mandatory,
        BasicProperties::default(),
    )
    .await;
    let n = b
        .diagnostics()
        .iter()
        .filter(|d| d.kind == Kind::Unroutable && d.channel == Some(ch.id()))
        .count();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_redeclare_with_different_arguments() {
    let b = broker();
    let conn = connect_named(&b, "").await;
    let ch = channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    let res = within(ch.queue_declare(
        "q",
        QueueDeclareOptions::default(),
        args(&[("x-message-ttl", int(1000))]),
    ))
    .await;
    assert!(res.is_err());
    let d = item(&b, Kind::RedeclareDifferent).await;
    assert_names(&d, Some(ch.id()));
    assert!(
        d.detail.contains("inequivalent arg 'x-message-ttl'"),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_prefetch_0_consumer_with_manual_acks_piling_up() {
    let b = broker();
    let conn = connect_named(&b, "").await;
    let ch = channel(&conn).await;
    declare(&ch, "q", QueueDeclareOptions::default()).await;
    let n = warren::channel::PILE_UP as u32;
    for _ in 0..n {
        within(ch.basic_publish(
            "",
            "q",
            BasicPublishOptions::default(),
            b"m",
            BasicProperties::default(),
        ))
        .await
        .expect("publish");
    }
    wait_for_count(&ch, "q", n).await;
    let _c = consume_with(&ch, "q", "hoarder", false, FieldTable::default()).await;
    let d = item(&b, Kind::UnlimitedPrefetchPileUp).await;
    assert_names(&d, Some(ch.id()));
    assert!(d.detail.contains("'hoarder'"), "{d:?}");
}

#[tokio::test]
async fn a_connection_without_heartbeats() {
    // lapin follows the server's heartbeat when asked for 0: raw bytes then.
    let b = broker();
    let _conn = raw_handshake::open(&b, 131072, 0).await.expect("open");
    let d = item(&b, Kind::NoHeartbeat).await;
    assert_names(&d, None);
    // One that keeps heartbeats is not reported.
    let b = broker();
    let _conn = raw_handshake::open(&b, 131072, 10).await.expect("open");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b.diagnostics().iter().all(|d| d.kind != Kind::NoHeartbeat));
}

#[tokio::test]
async fn features_rabbitmq_4x_refuses_name_the_release() {
    let b = broker();
    // lapin never asks for less than 8192: raw bytes for the frame_max.
    let _raw = raw_handshake::open(&b, 4096, 60)
        .await
        .expect("4096 is accepted");
    let conn = connect_named(&b, "").await;
    let ch = channel(&conn).await;
    declare(&ch, "transient", QueueDeclareOptions::default()).await;
    declare(&ch, "transient2", QueueDeclareOptions::default()).await;
    within(ch.basic_qos(10, BasicQosOptions { global: true }))
        .await
        .expect("qos");
    let all = b.diagnostics();
    let deprecated: Vec<&Diagnostic> = all.iter().filter(|d| d.kind == Kind::Deprecated).collect();
    let find = |what: &str| {
        deprecated
            .iter()
            .find(|d| d.detail.contains(what))
            .unwrap_or_else(|| panic!("no item about {what} in {deprecated:?}"))
    };
    let frame = find("frame_max 4096");
    assert_eq!(frame.refused_by, Some("4.1"));
    assert_names(frame, None);
    let queue = find("queue 'transient' is transient");
    assert!(
        deprecated.iter().all(|d| !d.detail.contains("transient2")),
        "reported once per channel"
    );
    assert_eq!(queue.refused_by, Some("4.3"));
    assert_names(queue, Some(ch.id()));
    assert_eq!(find("global=true").refused_by, Some("4.3"));
    // A 4.2 profile still takes global qos and reports it; 4.3 takes it its own way.
    for (p, reported) in [(Profile::V4_2, true), (Profile::V4_3, false)] {
        let b = Broker::builder().profile(p).start().expect("broker");
        let conn = connect_named(&b, "").await;
        let ch = channel(&conn).await;
        within(ch.basic_qos(10, BasicQosOptions { global: true }))
            .await
            .expect("qos");
        let found = b
            .diagnostics()
            .iter()
            .any(|d| d.kind == Kind::Deprecated && d.detail.contains("global=true"));
        assert_eq!(found, reported, "{p}");
    }
}

#[tokio::test]
async fn interleaved_content_frames_on_one_channel() {
    let b = broker();
    let (mut s, _) = raw_handshake::open(&b, 131072, 60)
        .await
        .expect("the handshake completes");
    // Two threads publishing on channel 1 without a lock: the second's method frame lands
    // before the first's content header.
    let publish = Method::BasicPublish(BasicPublish {
        exchange: String::new(),
        routing_key: "q".into(),
        ..Default::default()
    });
    let mut out = BytesMut::new();
    Frame::Method(1, publish.clone()).encode(&mut out);
    Frame::Method(1, publish).encode(&mut out);
    s.write_all(&out).await.expect("write");
    let d = item(&b, Kind::InterleavedContent).await;
    assert_names(&d, Some(1));
    assert!(d.detail.contains("several threads"), "{d:?}");
}

#[test]
fn the_report_over_http() {
    let b = management_broker();
    let rt = runtime();
    rt.block_on(async {
        let _raw = raw_handshake::open(&b, 131072, 0).await.expect("open");
        item(&b, Kind::NoHeartbeat).await;
    });
    let host = b.management_addr().expect("management").to_string();
    let guest = "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n";
    let (head, body) = http_request(&host, "GET", "/api/warren/diagnostics", guest, "");
    assert_eq!(http_status(&head), 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-warren-profile: default"),
        "{head}"
    );
    let items: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let first = &items.as_array().expect("an array")[0];
    assert_eq!(first["kind"], "no_heartbeat");
    assert_eq!(first["connection_name"], APP);
    assert_eq!(first["channel"], serde_json::Value::Null);
    let (head, _) = http_request(&host, "GET", "/api/warren/diagnostics", "", "");
    assert_eq!(http_status(&head), 401, "{head}");
    let (head, _) = http_request(&host, "DELETE", "/api/warren/diagnostics", guest, "");
    assert_eq!(http_status(&head), 204, "{head}");
    let (_, body) = http_request(&host, "GET", "/api/warren/diagnostics", guest, "");
    assert_eq!(body.trim(), "[]");
}
