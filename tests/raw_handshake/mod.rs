//! A raw AMQP handshake for the tests that need what lapin will not send (frame_max under
//! 8192, heartbeat 0, interleaved frames).

#![allow(dead_code)] // each test file uses a different subset

use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren::Broker;
use warren::protocol::methods::*;
use warren::protocol::{FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};

const WAIT: Duration = Duration::from_secs(10);
/// The connection_name the handshake sends.
pub const APP: &str = "diag-app";

/// The next frame from a raw socket, heartbeats skipped; None at the end of the stream.
pub async fn try_read_frame(s: &mut TcpStream, buf: &mut BytesMut) -> Option<Frame> {
    loop {
        match Frame::decode(buf, 0).expect("valid frame") {
            Some(Frame::Heartbeat(_)) => continue,
            Some(f) => return Some(f),
            None => {}
        }
        let read = tokio::time::timeout(WAIT, s.read_buf(buf)).await;
        match read.expect("the broker answers in time") {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

pub async fn read_frame(s: &mut TcpStream, buf: &mut BytesMut) -> Frame {
    try_read_frame(s, buf)
        .await
        .expect("broker closed the socket")
}

pub async fn send(s: &mut TcpStream, ch: u16, m: Method) {
    let mut out = BytesMut::new();
    Frame::Method(ch, m).encode(&mut out);
    s.write_all(&out).await.expect("write");
}

/// A raw handshake with a connection_name and the given frame_max and heartbeat, then
/// channel 1 open; None if the broker closed the socket before connection.open-ok.
pub async fn open(b: &Broker, frame_max: u32, heartbeat: u16) -> Option<(TcpStream, BytesMut)> {
    let mut s = TcpStream::connect(b.addr()).await.expect("connect");
    let mut buf = BytesMut::new();
    s.write_all(PROTOCOL_HEADER).await.expect("header");
    let f = read_frame(&mut s, &mut buf).await;
    assert!(
        matches!(f, Frame::Method(0, Method::ConnectionStart(_))),
        "{f:?}"
    );
    let mut props = FieldTable::new();
    let name = FieldValue::LongString(APP.as_bytes().to_vec().into());
    props.insert("connection_name", name);
    let start_ok = ConnectionStartOk {
        client_properties: props,
        mechanism: "PLAIN".into(),
        response: b"\0guest\0guest".to_vec().into(),
        locale: "en_US".into(),
    };
    send(&mut s, 0, Method::ConnectionStartOk(start_ok)).await;
    let f = read_frame(&mut s, &mut buf).await;
    assert!(
        matches!(f, Frame::Method(0, Method::ConnectionTune(_))),
        "{f:?}"
    );
    let tune_ok = ConnectionTuneOk {
        channel_max: 10,
        frame_max,
        heartbeat,
    };
    send(&mut s, 0, Method::ConnectionTuneOk(tune_ok)).await;
    let open = ConnectionOpen {
        virtual_host: "/".into(),
        ..Default::default()
    };
    send(&mut s, 0, Method::ConnectionOpen(open)).await;
    let f = try_read_frame(&mut s, &mut buf).await?;
    assert!(
        matches!(f, Frame::Method(0, Method::ConnectionOpenOk(_))),
        "{f:?}"
    );
    send(&mut s, 1, Method::ChannelOpen(ChannelOpen::default())).await;
    let f = read_frame(&mut s, &mut buf).await;
    assert!(
        matches!(f, Frame::Method(1, Method::ChannelOpenOk(_))),
        "{f:?}"
    );
    Some((s, buf))
}
