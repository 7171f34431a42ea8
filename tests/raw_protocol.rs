//! Bad and unusual input over raw sockets: the broker answers as RabbitMQ would, and keeps
//! serving every other connection.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren::Broker;
use warren::protocol::frame::{
    FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, write_frame,
};
use warren::protocol::methods::*;
use warren::protocol::{
    BasicProperties, ContentHeader, FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER,
};

const READ_WAIT: Duration = Duration::from_secs(5);

struct Raw {
    s: TcpStream,
    buf: BytesMut,
}

/// Options of the handshake a test drives.
struct Hello {
    user: &'static str,
    pass: &'static str,
    caps: bool,
    channel_max: u16,
    frame_max: u32,
    heartbeat: u16,
    vhost: &'static str,
}

impl Default for Hello {
    fn default() -> Self {
        Hello {
            user: "guest",
            pass: "guest",
            caps: true,
            channel_max: 2047,
            frame_max: 131072,
            heartbeat: 0,
            vhost: "/",
        }
    }
}

impl Raw {
    async fn connect(b: &Broker) -> Raw {
        let s = TcpStream::connect(b.addr()).await.expect("connect");
        Raw {
            s,
            buf: BytesMut::new(),
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.expect("write");
    }

    async fn send(&mut self, ch: u16, m: Method) {
        let mut out = BytesMut::new();
        write_frame(&mut out, FRAME_METHOD, ch, |o| m.encode(o));
        self.send_raw(&out).await;
    }

    /// The next frame, or None once the broker closed the socket.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = Frame::decode(&mut self.buf, 0).expect("broker sends valid frames") {
                return Some(f);
            }
            let n = tokio::time::timeout(READ_WAIT, self.s.read_buf(&mut self.buf))
                .await
                .expect("broker answered in time");
            match n {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn method(&mut self) -> (u16, Method) {
        loop {
            match self
                .next()
                .await
                .expect("a frame, not the end of the stream")
            {
                Frame::Method(ch, m) => return (ch, m),
                Frame::Heartbeat(_) => continue,
                other => panic!("expected a method, got {other:?}"),
            }
        }
    }

    async fn hello(b: &Broker, h: Hello) -> Raw {
        let mut r = Raw::connect(b).await;
        r.start(&h).await;
        r.tune(&h).await;
        r
    }

    async fn start(&mut self, h: &Hello) {
        self.send_raw(PROTOCOL_HEADER).await;
        assert!(matches!(
            self.method().await,
            (0, Method::ConnectionStart(_))
        ));
        let mut props = FieldTable::new();
        if h.caps {
            let mut caps = FieldTable::new();
            caps.insert("authentication_failure_close", FieldValue::Bool(true));
            caps.insert("consumer_cancel_notify", FieldValue::Bool(true));
            props.insert("capabilities", FieldValue::Table(caps));
        }
        let response = format!("\0{}\0{}", h.user, h.pass);
        self.send(
            0,
            Method::ConnectionStartOk(ConnectionStartOk {
                client_properties: props,
                mechanism: "PLAIN".into(),
                response: Bytes::from(response.into_bytes()),
                locale: "en_US".into(),
            }),
        )
        .await;
    }

    async fn tune(&mut self, h: &Hello) {
        let (_, m) = self.method().await;
        assert!(matches!(m, Method::ConnectionTune(_)), "got {m:?}");
        self.send(
            0,
            Method::ConnectionTuneOk(ConnectionTuneOk {
                channel_max: h.channel_max,
                frame_max: h.frame_max,
                heartbeat: h.heartbeat,
            }),
        )
        .await;
        self.send(
            0,
            Method::ConnectionOpen(ConnectionOpen {
                virtual_host: h.vhost.into(),
                ..Default::default()
            }),
        )
        .await;
    }

    async fn ready(b: &Broker) -> Raw {
        let mut r = Raw::hello(b, Hello::default()).await;
        assert!(matches!(r.method().await, (0, Method::ConnectionOpenOk(_))));
        r
    }

    async fn open_channel(&mut self, ch: u16) {
        self.send(ch, Method::ChannelOpen(ChannelOpen::default()))
            .await;
        assert!(matches!(self.method().await, (c, Method::ChannelOpenOk(_)) if c == ch));
    }

    /// Expects connection.close with `code` and a text starting with `text`; answers close-ok.
    async fn expect_connection_close(&mut self, code: u16, text: &str) -> ConnectionClose {
        match self.method().await {
            (0, Method::ConnectionClose(c)) => {
                assert_eq!(c.reply_code, code, "{}", c.reply_text);
                assert!(
                    c.reply_text.starts_with(text),
                    "{:?} does not start with {text:?}",
                    c.reply_text
                );
                self.send(0, Method::ConnectionCloseOk(ConnectionCloseOk {}))
                    .await;
                c
            }
            (_, other) => panic!("expected connection.close, got {other:?}"),
        }
    }

    /// Expects the broker to close the socket without another frame.
    async fn expect_eof(&mut self) {
        let f = self.next().await;
        assert!(f.is_none(), "expected the socket to close, got {f:?}");
    }
}

fn publish_frames(ch: u16, routing_key: &str, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    let m = Method::BasicPublish(BasicPublish {
        routing_key: routing_key.into(),
        ..Default::default()
    });
    warren::protocol::frame::write_content(
        &mut out,
        ch,
        &m,
        &BasicProperties::default().to_bytes(),
        body,
        131072,
    );
    out
}

/// The broker still serves: a fresh connection declares a queue, publishes and gets it back.
async fn still_serving(b: &Broker) {
    let mut r = Raw::ready(b).await;
    r.open_channel(1).await;
    r.send(
        1,
        Method::QueueDeclare(QueueDeclare {
            exclusive: true,
            ..Default::default()
        }),
    )
    .await;
    let (_, Method::QueueDeclareOk(q)) = r.method().await else {
        panic!("declare-ok expected")
    };
    r.send_raw(&publish_frames(1, &q.queue, b"alive")).await;
    r.send(
        1,
        Method::BasicGet(BasicGet {
            queue: q.queue.clone(),
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::BasicGetOk(_))));
}

fn broker() -> Broker {
    common::init_logs();
    Broker::start().expect("broker")
}

#[tokio::test]
async fn wrong_protocol_header_gets_ours_back_and_a_close() {
    let b = broker();
    for header in [&b"AMQP\x01\x01\x00\x09"[..], b"HTTP/1.1"] {
        let mut r = Raw::connect(&b).await;
        r.send_raw(header).await;
        let mut got = Vec::new();
        tokio::time::timeout(READ_WAIT, r.s.read_to_end(&mut got))
            .await
            .expect("closed")
            .expect("read");
        assert_eq!(got, PROTOCOL_HEADER.to_vec());
    }
    still_serving(&b).await;
}

#[tokio::test]
async fn bad_frame_end_is_a_frame_error() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_HEARTBEAT, 0, |_| {});
    let last = out.len() - 1;
    out[last] = 0x00;
    r.send_raw(&out).await;
    let c = r.expect_connection_close(501, "FRAME_ERROR").await;
    assert_eq!((c.class_id, c.method_id), (0, 0));
    still_serving(&b).await;
}

#[tokio::test]
async fn oversized_frame_is_refused_from_its_header_alone() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    // Only the 7-byte header, claiming 1 MiB: the broker must not wait for the payload.
    r.send_raw(&[FRAME_BODY, 0, 1, 0, 0x10, 0, 0]).await;
    r.expect_connection_close(501, "FRAME_ERROR").await;
    still_serving(&b).await;
}

#[tokio::test]
async fn body_without_header_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(1, Method::BasicPublish(BasicPublish::default()))
        .await;
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_BODY, 1, |o| o.put_slice(b"body"));
    r.send_raw(&out).await;
    let c = r
        .expect_connection_close(
            505,
            "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead",
        )
        .await;
    assert_eq!((c.class_id, c.method_id), (60, 40));
    still_serving(&b).await;
}

#[tokio::test]
async fn header_without_method_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_HEADER, 1, |o| {
        ContentHeader::encode_raw(o, 60, 1, &[0, 0])
    });
    r.send_raw(&out).await;
    r.expect_connection_close(
        505,
        "UNEXPECTED_FRAME - expected method frame, got non method frame instead",
    )
    .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn method_in_the_middle_of_a_body_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(1, Method::BasicPublish(BasicPublish::default()))
        .await;
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_HEADER, 1, |o| {
        ContentHeader::encode_raw(o, 60, 10, &[0, 0])
    });
    write_frame(&mut out, FRAME_BODY, 1, |o| o.put_slice(b"half"));
    r.send_raw(&out).await;
    r.send(1, Method::BasicQos(BasicQos::default())).await;
    r.expect_connection_close(505, "UNEXPECTED_FRAME - expected content body")
        .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn unknown_class_and_method_is_not_implemented() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_METHOD, 1, |o| {
        o.put_u16(99);
        o.put_u16(99);
    });
    r.send_raw(&out).await;
    r.expect_connection_close(540, "NOT_IMPLEMENTED").await;
    still_serving(&b).await;
}

#[tokio::test]
async fn unknown_field_table_tag_is_a_syntax_error() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    // queue.declare with arguments {"k": 'Z'…}: 'Z' is no type tag.
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_METHOD, 1, |o| {
        o.put_u16(50);
        o.put_u16(10);
        o.put_u16(0);
        o.put_u8(1);
        o.put_u8(b'q');
        o.put_u8(0);
        o.put_u32(4);
        o.put_slice(&[1, b'k', b'Z', 0]);
    });
    r.send_raw(&out).await;
    let c = r.expect_connection_close(502, "SYNTAX_ERROR").await;
    assert_eq!((c.class_id, c.method_id), (50, 10));
    still_serving(&b).await;
}

#[tokio::test]
async fn heartbeat_on_a_channel_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_HEARTBEAT, 1, |_| {});
    r.send_raw(&out).await;
    r.expect_connection_close(505, "UNEXPECTED_FRAME - type 8, all octets = <<>>")
        .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn truncated_frames_and_half_messages_are_dropped_with_the_client() {
    let b = broker();
    // A frame cut short, then the client vanishes.
    let mut r = Raw::ready(&b).await;
    r.send_raw(&[FRAME_METHOD, 0, 1, 0, 0, 0, 20, 0, 20]).await;
    drop(r);
    // A message cut short mid-body, then the client vanishes.
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(
        1,
        Method::QueueDeclare(QueueDeclare {
            queue: "half".into(),
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::QueueDeclareOk(_))));
    let whole = publish_frames(1, "half", &[7u8; 1000]);
    r.send_raw(&whole[..whole.len() - 300]).await;
    drop(r);
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(
        1,
        Method::BasicGet(BasicGet {
            queue: "half".into(),
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    assert!(
        matches!(r.method().await, (1, Method::BasicGetEmpty(_))),
        "no partial message was queued"
    );
    still_serving(&b).await;
}

#[tokio::test]
async fn channels_must_be_opened_once() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.send(3, Method::QueueDeclare(QueueDeclare::default()))
        .await;
    let c = r
        .expect_connection_close(504, "CHANNEL_ERROR - expected 'channel.open'")
        .await;
    assert_eq!((c.class_id, c.method_id), (50, 10));
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(1, Method::ChannelOpen(ChannelOpen::default())).await;
    r.expect_connection_close(504, "CHANNEL_ERROR - second 'channel.open' seen")
        .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn channel_above_channel_max_is_not_allowed() {
    let b = broker();
    let mut r = Raw::hello(
        &b,
        Hello {
            channel_max: 10,
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(r.method().await, (0, Method::ConnectionOpenOk(_))));
    r.open_channel(10).await;
    r.send(11, Method::ChannelOpen(ChannelOpen::default()))
        .await;
    r.expect_connection_close(530, "NOT_ALLOWED").await;
    still_serving(&b).await;
}

#[tokio::test]
async fn bad_password_is_refused_as_the_client_asked() {
    let b = broker();
    let mut r = Raw::connect(&b).await;
    r.start(&Hello {
        pass: "wrong",
        ..Default::default()
    })
    .await;
    let c = r
        .expect_connection_close(
            403,
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
        )
        .await;
    assert_eq!((c.class_id, c.method_id), (0, 0));
    // Without authentication_failure_close the socket just closes.
    let mut r = Raw::connect(&b).await;
    r.start(&Hello {
        pass: "wrong",
        caps: false,
        ..Default::default()
    })
    .await;
    r.expect_eof().await;
    still_serving(&b).await;
}

#[tokio::test]
async fn amqplain_login_works() {
    let b = broker();
    let mut r = Raw::connect(&b).await;
    r.send_raw(PROTOCOL_HEADER).await;
    let (_, Method::ConnectionStart(start)) = r.method().await else {
        panic!("start expected")
    };
    assert!(String::from_utf8_lossy(&start.mechanisms).contains("AMQPLAIN"));
    let mut t = FieldTable::new();
    t.insert(
        "LOGIN",
        FieldValue::LongString(Bytes::from_static(b"guest")),
    );
    t.insert(
        "PASSWORD",
        FieldValue::LongString(Bytes::from_static(b"guest")),
    );
    let mut raw = BytesMut::new();
    t.encode(&mut raw);
    r.send(
        0,
        Method::ConnectionStartOk(ConnectionStartOk {
            client_properties: FieldTable::new(),
            mechanism: "AMQPLAIN".into(),
            response: raw.freeze().slice(4..),
            locale: "en_US".into(),
        }),
    )
    .await;
    r.tune(&Hello::default()).await;
    assert!(matches!(r.method().await, (0, Method::ConnectionOpenOk(_))));
}

#[tokio::test]
async fn missing_vhost_is_not_allowed() {
    let b = broker();
    let mut r = Raw::hello(
        &b,
        Hello {
            vhost: "nope",
            ..Default::default()
        },
    )
    .await;
    let c = r
        .expect_connection_close(530, "NOT_ALLOWED - vhost nope not found")
        .await;
    assert_eq!((c.class_id, c.method_id), (10, 40));
}

#[tokio::test]
async fn tune_ok_outside_the_offer_drops_the_socket() {
    let b = broker();
    for frame_max in [131073, 1000] {
        let mut r = Raw::connect(&b).await;
        let h = Hello {
            frame_max,
            ..Default::default()
        };
        r.start(&h).await;
        r.tune(&h).await;
        r.expect_eof().await;
    }
    still_serving(&b).await;
}

#[tokio::test]
async fn heartbeats_flow_and_a_silent_client_is_dropped() {
    let b = broker();
    let mut r = Raw::hello(
        &b,
        Hello {
            heartbeat: 1,
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(r.method().await, (0, Method::ConnectionOpenOk(_))));
    // The broker sends heartbeats while idle...
    let f = r.next().await;
    assert_eq!(f, Some(Frame::Heartbeat(0)));
    // ...and, as this client never sends any, drops it after two intervals.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match r.next().await {
            None => break,
            Some(Frame::Heartbeat(0)) => {
                assert!(tokio::time::Instant::now() < deadline, "still connected")
            }
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_channel_error_closes_only_the_channel_until_close_ok() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(
        1,
        Method::QueueDeclare(QueueDeclare {
            queue: "missing".into(),
            passive: true,
            ..Default::default()
        }),
    )
    .await;
    let (ch, Method::ChannelClose(c)) = r.method().await else {
        panic!("channel.close expected")
    };
    assert_eq!(ch, 1);
    assert_eq!(c.reply_code, 404);
    assert_eq!(c.reply_text, "NOT_FOUND - no queue 'missing' in vhost '/'");
    assert_eq!((c.class_id, c.method_id), (50, 10));
    // Ignored until close-ok.
    r.send(1, Method::QueueDeclare(QueueDeclare::default()))
        .await;
    r.send(1, Method::ChannelCloseOk(ChannelCloseOk {})).await;
    r.open_channel(1).await;
    r.send(1, Method::BasicQos(BasicQos::default())).await;
    assert!(matches!(r.method().await, (1, Method::BasicQosOk(_))));
}

#[tokio::test]
async fn shutdown_closes_connections_with_connection_forced() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    let stopper = tokio::task::spawn_blocking(move || b.shutdown());
    r.expect_connection_close(
        320,
        "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
    )
    .await;
    stopper.await.expect("shutdown finished");
}

#[tokio::test]
async fn a_silent_socket_is_dropped_after_the_handshake_timeout() {
    let b = broker();
    let mut s = TcpStream::connect(b.addr()).await.expect("connect");
    let mut got = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut got)).await;
    assert!(r.is_ok(), "dropped within 15 s (the timeout is 10 s)");
    assert!(got.is_empty());
}

#[tokio::test]
async fn bodies_are_split_at_the_negotiated_frame_max() {
    let b = broker();
    let mut r = Raw::hello(
        &b,
        Hello {
            frame_max: 4096,
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(r.method().await, (0, Method::ConnectionOpenOk(_))));
    r.open_channel(1).await;
    r.send(
        1,
        Method::QueueDeclare(QueueDeclare {
            exclusive: true,
            ..Default::default()
        }),
    )
    .await;
    let (_, Method::QueueDeclareOk(q)) = r.method().await else {
        panic!("declare-ok")
    };
    let mut out = BytesMut::new();
    let m = Method::BasicPublish(BasicPublish {
        routing_key: q.queue.clone(),
        ..Default::default()
    });
    warren::protocol::frame::write_content(&mut out, 1, &m, &[0, 0], &[9u8; 10_000], 4096);
    r.send_raw(&out).await;
    r.send(
        1,
        Method::BasicGet(BasicGet {
            queue: q.queue,
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::BasicGetOk(_))));
    let Some(Frame::Header(1, h)) = r.next().await else {
        panic!("header")
    };
    assert_eq!(h.body_size, 10_000);
    let mut total = 0;
    while total < 10_000 {
        let Some(Frame::Body(1, part)) = r.next().await else {
            panic!("body")
        };
        assert!(part.len() <= 4088, "a body frame of {} bytes", part.len());
        total += part.len();
    }
    assert_eq!(total, 10_000);
}

#[tokio::test]
async fn unacked_deliveries_of_a_dropped_connection_come_back_redelivered() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(
        1,
        Method::QueueDeclare(QueueDeclare {
            queue: "work".into(),
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::QueueDeclareOk(_))));
    r.send_raw(&publish_frames(1, "work", b"job")).await;
    r.send(
        1,
        Method::BasicGet(BasicGet {
            queue: "work".into(),
            ..Default::default()
        }),
    )
    .await;
    let (_, Method::BasicGetOk(first)) = r.method().await else {
        panic!("get-ok")
    };
    assert!(!first.redelivered);
    drop(r);
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    // The requeue happens when the broker notices the close; ask until it has.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        r.send(
            1,
            Method::BasicGet(BasicGet {
                queue: "work".into(),
                no_ack: true,
                ..Default::default()
            }),
        )
        .await;
        match r.method().await {
            (1, Method::BasicGetOk(again)) => {
                assert!(again.redelivered);
                break;
            }
            (1, Method::BasicGetEmpty(_)) => {
                assert!(tokio::time::Instant::now() < deadline, "never requeued");
                tokio::task::yield_now().await;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// rabbitmq-c sends tag 'L' (unsigned 64-bit) in tables; RabbitMQ takes it and hands it back.
#[tokio::test]
async fn unsigned_64_bit_field_values_pass_through() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(
        1,
        Method::QueueDeclare(QueueDeclare {
            exclusive: true,
            ..Default::default()
        }),
    )
    .await;
    let (_, Method::QueueDeclareOk(q)) = r.method().await else {
        panic!("declare-ok")
    };
    let mut headers = FieldTable::new();
    headers.insert("big", FieldValue::U64(18_000_000_000_000_000_000));
    let props = BasicProperties {
        headers: Some(headers),
        ..Default::default()
    }
    .to_bytes();
    let mut out = BytesMut::new();
    let m = Method::BasicPublish(BasicPublish {
        routing_key: q.queue.clone(),
        ..Default::default()
    });
    warren::protocol::frame::write_content(&mut out, 1, &m, &props, b"x", 131072);
    r.send_raw(&out).await;
    r.send(
        1,
        Method::BasicGet(BasicGet {
            queue: q.queue,
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::BasicGetOk(_))));
    let Some(Frame::Header(1, h)) = r.next().await else {
        panic!("header")
    };
    assert_eq!(
        h.raw_properties, props,
        "the 'L' value comes back byte for byte"
    );
}
