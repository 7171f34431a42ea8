//! Bad and unusual input over raw sockets: the broker answers as RabbitMQ would (see
//! COMPAT.md and the observed reply texts), and keeps serving every other connection.
//!
//! Every test drives the wire with the crate's own codec through the small `Raw` client below;
//! every read is bounded by `READ_WAIT`, so a broker that says nothing fails the test instead of
//! hanging it.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use warren::Broker;
use warren::protocol::frame::{
    FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD, write_content,
    write_frame,
};
use warren::protocol::methods::*;
use warren::protocol::{
    BasicProperties, ContentHeader, FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER,
};

/// Upper bound on any single read from the broker.
const READ_WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The raw client
// ---------------------------------------------------------------------------------------------

/// One client socket plus the bytes read from it that are not yet a whole frame.
struct Raw {
    s: TcpStream,
    buf: BytesMut,
}

/// Options of the handshake a test drives. The defaults are what the brief's client sends:
/// PLAIN guest/guest with the capabilities authentication_failure_close and
/// consumer_cancel_notify, tune-ok (2047, 131072, 0), vhost "/".
struct Hello {
    mechanism: &'static str,
    user: &'static str,
    pass: &'static str,
    caps: bool,
    channel_max: u16,
    frame_max: u32,
    heartbeat: u16,
    vhost: &'static str,
    /// Also offer the connection.blocked capability.
    connection_blocked: bool,
    /// A client property of this many bytes, to make start-ok this much larger.
    padding: usize,
}

impl Default for Hello {
    fn default() -> Self {
        Hello {
            mechanism: "PLAIN",
            user: "guest",
            pass: "guest",
            caps: true,
            channel_max: 2047,
            frame_max: 131072,
            heartbeat: 0,
            vhost: "/",
            connection_blocked: false,
            padding: 0,
        }
    }
}

/// The SASL response for `h`: PLAIN is `\0user\0pass`; AMQPLAIN is the entries of a field table
/// {LOGIN, PASSWORD} without the table's 4-byte length prefix.
fn sasl_response(h: &Hello) -> Bytes {
    match h.mechanism {
        "AMQPLAIN" => {
            let mut t = FieldTable::new();
            t.insert("LOGIN", FieldValue::LongString(h.user.as_bytes().into()));
            t.insert("PASSWORD", FieldValue::LongString(h.pass.as_bytes().into()));
            let mut raw = BytesMut::new();
            t.encode(&mut raw);
            raw.freeze().slice(4..)
        }
        // A trace string, which the server does not read.
        "ANONYMOUS" => Bytes::from_static(b"trace"),
        _ => Bytes::from(format!("\0{}\0{}", h.user, h.pass)),
    }
}

impl Raw {
    async fn connect(b: &Broker) -> Raw {
        let s = tokio::time::timeout(READ_WAIT, TcpStream::connect(b.addr()))
            .await
            .expect("connect in time")
            .expect("connect");
        Raw {
            s,
            buf: BytesMut::new(),
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        tokio::time::timeout(READ_WAIT, self.s.write_all(bytes))
            .await
            .expect("write in time")
            .expect("write");
    }

    /// Sends one method frame on channel `ch`.
    async fn send(&mut self, ch: u16, m: Method) {
        let mut out = BytesMut::new();
        Frame::Method(ch, m).encode(&mut out);
        self.send_raw(&out).await;
    }

    /// The next frame (heartbeats included), or None once the broker closed (or reset) the
    /// socket. Panics if nothing arrives within `READ_WAIT`.
    async fn next(&mut self) -> Option<Frame> {
        self.next_within(READ_WAIT)
            .await
            .expect("the broker answered in time")
    }

    /// Like `next`, but Err(()) when `wait` passes without a whole frame or the end of stream.
    async fn next_within(&mut self, wait: Duration) -> Result<Option<Frame>, ()> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(f) = Frame::decode(&mut self.buf, 0).expect("broker sends valid frames") {
                return Ok(Some(f));
            }
            let n = tokio::time::timeout_at(deadline, self.s.read_buf(&mut self.buf))
                .await
                .map_err(|_| ())?;
            match n {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
    }

    /// The next frame that is not a heartbeat; panics on the end of the stream.
    async fn frame(&mut self) -> Frame {
        loop {
            match self.next().await {
                Some(Frame::Heartbeat(0)) => continue,
                Some(f) => return f,
                None => panic!("expected a frame, the broker closed the socket"),
            }
        }
    }

    /// The next frame, which must be a method.
    async fn method(&mut self) -> (u16, Method) {
        match self.frame().await {
            Frame::Method(ch, m) => (ch, m),
            other => panic!("expected a method, got {other:?}"),
        }
    }

    /// Sends the protocol header, checks connection.start and answers start-ok.
    async fn start(&mut self, h: &Hello) -> ConnectionStart {
        self.send_raw(PROTOCOL_HEADER).await;
        let (ch, Method::ConnectionStart(start)) = self.method().await else {
            panic!("connection.start expected")
        };
        assert_eq!(ch, 0);
        assert_eq!((start.version_major, start.version_minor), (0, 9));
        let mut props = FieldTable::new();
        if h.caps {
            let mut caps = FieldTable::new();
            caps.insert("authentication_failure_close", FieldValue::Bool(true));
            caps.insert("consumer_cancel_notify", FieldValue::Bool(true));
            if h.connection_blocked {
                caps.insert("connection.blocked", FieldValue::Bool(true));
            }
            props.insert("capabilities", FieldValue::Table(caps));
        }
        if h.padding > 0 {
            props.insert(
                "padding",
                FieldValue::LongString(Bytes::from(vec![b'x'; h.padding])),
            );
        }
        self.send(
            0,
            Method::ConnectionStartOk(ConnectionStartOk {
                client_properties: props,
                mechanism: h.mechanism.into(),
                response: sasl_response(h),
                locale: "en_US".into(),
            }),
        )
        .await;
        start
    }

    /// Reads connection.tune and answers tune-ok with `h`'s values.
    async fn tune_ok(&mut self, h: &Hello) -> ConnectionTune {
        let (ch, Method::ConnectionTune(tune)) = self.method().await else {
            panic!("connection.tune expected")
        };
        assert_eq!(ch, 0);
        self.send(
            0,
            Method::ConnectionTuneOk(ConnectionTuneOk {
                channel_max: h.channel_max,
                frame_max: h.frame_max,
                heartbeat: h.heartbeat,
            }),
        )
        .await;
        tune
    }

    /// Reads connection.tune, answers tune-ok with `h`'s values and sends connection.open.
    async fn tune(&mut self, h: &Hello) -> ConnectionTune {
        let tune = self.tune_ok(h).await;
        self.send(
            0,
            Method::ConnectionOpen(ConnectionOpen {
                virtual_host: h.vhost.into(),
                ..Default::default()
            }),
        )
        .await;
        tune
    }

    /// Drives the handshake up to connection.open; the caller reads the answer to it.
    async fn hello(b: &Broker, h: &Hello) -> Raw {
        let mut r = Raw::connect(b).await;
        r.start(h).await;
        r.tune(h).await;
        r
    }

    /// The whole handshake with `h`, through open-ok.
    async fn open_with(b: &Broker, h: &Hello) -> Raw {
        let mut r = Raw::hello(b, h).await;
        r.expect_open_ok().await;
        r
    }

    /// The whole handshake with the default options.
    async fn ready(b: &Broker) -> Raw {
        Raw::open_with(b, &Hello::default()).await
    }

    async fn expect_open_ok(&mut self) {
        let got = self.method().await;
        assert!(
            matches!(got, (0, Method::ConnectionOpenOk(_))),
            "expected connection.open-ok, got {got:?}"
        );
    }

    async fn open_channel(&mut self, ch: u16) {
        self.send(ch, Method::ChannelOpen(ChannelOpen::default()))
            .await;
        let got = self.method().await;
        assert!(
            matches!(got, (c, Method::ChannelOpenOk(_)) if c == ch),
            "expected channel.open-ok on {ch}, got {got:?}"
        );
    }

    /// A round trip on `ch` (basic.qos): every frame sent before it has been handled, and the
    /// next frame the broker sends must be its qos-ok.
    async fn sync(&mut self, ch: u16) {
        self.send(ch, Method::BasicQos(BasicQos::default())).await;
        let got = self.method().await;
        assert!(
            matches!(got, (c, Method::BasicQosOk(_)) if c == ch),
            "expected basic.qos-ok on {ch}, got {got:?}"
        );
    }

    /// Declares a queue (empty name: server-named) and returns its name.
    async fn declare(&mut self, ch: u16, name: &str, exclusive: bool) -> String {
        self.send(
            ch,
            Method::QueueDeclare(QueueDeclare {
                queue: name.into(),
                exclusive,
                ..Default::default()
            }),
        )
        .await;
        match self.method().await {
            (c, Method::QueueDeclareOk(ok)) if c == ch => ok.queue,
            other => panic!("expected queue.declare-ok on {ch}, got {other:?}"),
        }
    }

    /// basic.get with no-ack: Some((get-ok, body)) or None for get-empty.
    async fn get(&mut self, ch: u16, queue: &str, no_ack: bool) -> Option<(BasicGetOk, Vec<u8>)> {
        self.send(
            ch,
            Method::BasicGet(BasicGet {
                queue: queue.into(),
                no_ack,
                ..Default::default()
            }),
        )
        .await;
        match self.method().await {
            (c, Method::BasicGetEmpty(_)) if c == ch => None,
            (c, Method::BasicGetOk(ok)) if c == ch => Some((ok, self.content(ch).await)),
            other => panic!("expected basic.get-ok or get-empty on {ch}, got {other:?}"),
        }
    }

    /// basic.get with no-ack of a message that must be there: its get-ok, its properties
    /// decoded in wire order, and its body.
    async fn get_whole(&mut self, ch: u16, queue: &str) -> (BasicGetOk, BasicProperties, Vec<u8>) {
        self.send(
            ch,
            Method::BasicGet(BasicGet {
                queue: queue.into(),
                no_ack: true,
                ..Default::default()
            }),
        )
        .await;
        let (c, Method::BasicGetOk(ok)) = self.method().await else {
            panic!("expected basic.get-ok on {ch}")
        };
        assert_eq!(c, ch);
        let (raw, body) = self.content_with_properties(ch).await;
        let (_, props) = BasicProperties::decode(&raw).expect("properties decode");
        (ok, props, body)
    }

    /// Reads a content header and its body frames on `ch`; returns the body.
    async fn content(&mut self, ch: u16) -> Vec<u8> {
        self.content_with_properties(ch).await.1
    }

    /// Reads a content header and its body frames on `ch`; returns the raw properties and
    /// the body.
    async fn content_with_properties(&mut self, ch: u16) -> (Bytes, Vec<u8>) {
        let Frame::Header(c, h) = self.frame().await else {
            panic!("expected a content header")
        };
        assert_eq!(c, ch);
        let mut body = Vec::new();
        while (body.len() as u64) < h.body_size {
            match self.frame().await {
                Frame::Body(c, part) if c == ch => body.extend_from_slice(&part),
                other => panic!("expected a body frame on {ch}, got {other:?}"),
            }
        }
        assert_eq!(body.len() as u64, h.body_size);
        (h.raw_properties, body)
    }

    /// queue.bind, waiting for bind-ok.
    async fn bind(&mut self, ch: u16, queue: &str, exchange: &str, key: &str) {
        self.send(
            ch,
            Method::QueueBind(QueueBind {
                queue: queue.into(),
                exchange: exchange.into(),
                routing_key: key.into(),
                ..Default::default()
            }),
        )
        .await;
        match self.method().await {
            (c, Method::QueueBindOk(_)) if c == ch => {}
            other => panic!("expected queue.bind-ok on {ch}, got {other:?}"),
        }
    }

    /// Expects connection.close on channel 0 with `code`, a text starting with `text` and the
    /// class/method ids `ids` (None: not checked); answers close-ok and expects the broker to
    /// close the socket then.
    async fn expect_connection_close(
        &mut self,
        code: u16,
        text: &str,
        ids: Option<(u16, u16)>,
    ) -> ConnectionClose {
        let c = match self.method().await {
            (0, Method::ConnectionClose(c)) => c,
            other => panic!("expected connection.close {code} {text:?}, got {other:?}"),
        };
        assert_eq!(c.reply_code, code, "reply text: {:?}", c.reply_text);
        assert!(
            c.reply_text.starts_with(text),
            "{:?} does not start with {text:?}",
            c.reply_text
        );
        if let Some(ids) = ids {
            assert_eq!((c.class_id, c.method_id), ids, "class/method of {c:?}");
        }
        self.send(0, Method::ConnectionCloseOk(ConnectionCloseOk {}))
            .await;
        self.expect_eof().await;
        c
    }

    /// Expects channel.close on `ch` with `code`, exactly `text` and `ids`. Sends nothing back.
    async fn expect_channel_close(&mut self, ch: u16, code: u16, text: &str, ids: (u16, u16)) {
        match self.method().await {
            (c, Method::ChannelClose(close)) if c == ch => {
                assert_eq!(
                    (close.reply_code, close.reply_text.as_str()),
                    (code, text),
                    "{close:?}"
                );
                assert_eq!((close.class_id, close.method_id), ids, "{close:?}");
            }
            other => panic!("expected channel.close {code} on {ch}, got {other:?}"),
        }
    }

    /// Expects the broker to close the socket, with nothing but heartbeats before.
    async fn expect_eof(&mut self) {
        loop {
            match self.next().await {
                None => return,
                Some(Frame::Heartbeat(0)) => continue,
                Some(f) => panic!("expected the socket to close, got {f:?}"),
            }
        }
    }
}

/// One frame of any type with a raw payload.
fn raw_frame(kind: u8, ch: u16, payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    write_frame(&mut out, kind, ch, |o| o.put_slice(payload));
    out
}

/// A basic-class content header frame for a body of `size` bytes, no properties.
fn header_frame(ch: u16, class_id: u16, size: u64) -> BytesMut {
    let mut out = BytesMut::new();
    write_frame(&mut out, FRAME_HEADER, ch, |o| {
        ContentHeader::encode_raw(o, class_id, size, &[0, 0])
    });
    out
}

/// basic.publish to the default exchange with `routing_key`, header and body frames.
fn publish_frames(ch: u16, routing_key: &str, body: &[u8], frame_max: u32) -> BytesMut {
    let props = BasicProperties::default();
    publish_to(ch, ("", routing_key), &props, body, frame_max)
}

/// basic.publish to `(exchange, routing key)` with `properties`.
fn publish_to(
    ch: u16,
    (exchange, routing_key): (&str, &str),
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) -> BytesMut {
    let mut out = BytesMut::new();
    let m = Method::BasicPublish(BasicPublish {
        exchange: exchange.into(),
        routing_key: routing_key.into(),
        ..Default::default()
    });
    write_content(&mut out, ch, &m, &properties.to_bytes(), body, frame_max);
    out
}

/// The broker still serves: a fresh connection declares a queue, publishes to it and gets the
/// message back.
async fn still_serving(b: &Broker) {
    let mut r = Raw::ready(b).await;
    r.open_channel(1).await;
    let q = r.declare(1, "", true).await;
    r.send_raw(&publish_frames(1, &q, b"alive", 131072)).await;
    let (_, body) = r.get(1, &q, true).await.expect("the message is there");
    assert_eq!(body, b"alive");
}

fn broker() -> Broker {
    common::init_logs();
    Broker::start().expect("broker")
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

/// RabbitMQ.Client 2.x (Debian's mono package) sends the 0-9 header; RabbitMQ serves it as
/// 0-9-1 and so does Warren.
#[tokio::test]
async fn the_legacy_0_9_header_is_served_as_0_9_1() {
    let b = broker();
    let mut r = Raw::connect(&b).await;
    r.send_raw(b"AMQP\x01\x01\x00\x09").await;
    assert!(matches!(r.method().await, (0, Method::ConnectionStart(_))));
}

#[tokio::test]
async fn wrong_protocol_header_gets_ours_back_and_a_close() {
    let b = broker();
    for header in [
        &b"AMQP\x01\x01\x08\x00"[..],
        b"HTTP/1.1",
        b"AMQP\x00\x00\x08\x00",
    ] {
        let mut r = Raw::connect(&b).await;
        r.send_raw(header).await;
        let mut got = Vec::new();
        tokio::time::timeout(READ_WAIT, r.s.read_to_end(&mut got))
            .await
            .expect("the broker closes the socket in time")
            .expect("read");
        assert_eq!(got, PROTOCOL_HEADER.to_vec(), "answer to {header:?}");
    }
    still_serving(&b).await;
}

#[tokio::test]
async fn bad_frame_end_is_a_frame_error() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    let mut out = BytesMut::new();
    Frame::Method(1, Method::ChannelOpen(ChannelOpen::default())).encode(&mut out);
    let last = out.len() - 1;
    out[last] = 0x00;
    r.send_raw(&out).await;
    r.expect_connection_close(501, "FRAME_ERROR", Some((0, 0)))
        .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn oversized_frame_is_refused_from_its_header_alone() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    // Only the 7-byte header, claiming 200 000 bytes: the broker must not wait for the payload.
    let started = Instant::now();
    let mut header = vec![FRAME_METHOD, 0, 1];
    header.extend_from_slice(&200_000u32.to_be_bytes());
    r.send_raw(&header).await;
    r.expect_connection_close(501, "FRAME_ERROR", Some((0, 0)))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered promptly, not after {:?}",
        started.elapsed()
    );
    // Just over the limit also counts: 131 073 > 131 072.
    let mut r = Raw::ready(&b).await;
    r.send_raw(&[FRAME_BODY, 0, 1, 0, 2, 0, 1]).await;
    r.expect_connection_close(501, "FRAME_ERROR", Some((0, 0)))
        .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn body_without_header_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(1, Method::BasicPublish(BasicPublish::default()))
        .await;
    r.send_raw(&raw_frame(FRAME_BODY, 1, b"body")).await;
    r.expect_connection_close(
        505,
        "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead",
        Some((60, 40)),
    )
    .await;
    still_serving(&b).await;
}

/// A content frame where a method is due is unexpected whatever it holds: a header, a body,
/// and a basic.publish method's payload sent as a header (the Java client's
/// `UnexpectedFrames.missingMethod`), whose properties do not decode. RabbitMQ reads a
/// header's properties only once the command is whole; 3.10.8 answers 505 to all three.
#[tokio::test]
async fn header_without_method_is_an_unexpected_frame() {
    let b = broker();
    let mut publish = BytesMut::new();
    Method::BasicPublish(BasicPublish {
        exchange: "amq.direct".into(),
        routing_key: "a-routing-key".into(),
        ..Default::default()
    })
    .encode(&mut publish);
    for frame in [
        header_frame(1, 60, 1),
        raw_frame(FRAME_BODY, 1, b"x"),
        raw_frame(FRAME_HEADER, 1, &publish),
    ] {
        let mut r = Raw::ready(&b).await;
        r.open_channel(1).await;
        r.send_raw(&frame).await;
        r.expect_connection_close(
            505,
            "UNEXPECTED_FRAME - expected method frame, got non method frame instead",
            Some((0, 0)),
        )
        .await;
    }
    still_serving(&b).await;
}

#[tokio::test]
async fn method_in_the_middle_of_a_body_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(1, Method::BasicPublish(BasicPublish::default()))
        .await;
    r.send_raw(&header_frame(1, 60, 10)).await;
    r.send_raw(&raw_frame(FRAME_BODY, 1, b"half")).await;
    r.send(1, Method::BasicQos(BasicQos::default())).await;
    r.expect_connection_close(
        505,
        "UNEXPECTED_FRAME - expected content body, got non content body frame instead",
        Some((60, 40)),
    )
    .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn unknown_class_and_method_is_not_implemented() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send_raw(&raw_frame(FRAME_METHOD, 1, &[0, 99, 0, 99]))
        .await;
    r.expect_connection_close(540, "NOT_IMPLEMENTED", None)
        .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn unknown_field_table_tag_is_a_syntax_error() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    // queue.declare "q" with arguments {"k": 'Z' 0}: 'Z' is no type tag.
    let mut payload = BytesMut::new();
    payload.put_u16(50);
    payload.put_u16(10);
    payload.put_u16(0); // reserved (ticket)
    payload.put_u8(1);
    payload.put_u8(b'q');
    payload.put_u8(0); // passive, durable, exclusive, auto-delete, no-wait
    payload.put_u32(4);
    payload.put_slice(&[1, b'k', b'Z', 0]);
    r.send_raw(&raw_frame(FRAME_METHOD, 1, &payload)).await;
    r.expect_connection_close(502, "SYNTAX_ERROR", Some((50, 10)))
        .await;
    still_serving(&b).await;
}

#[tokio::test]
async fn heartbeat_on_a_channel_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.send_raw(&raw_frame(FRAME_HEARTBEAT, 1, b"")).await;
    let c = r
        .expect_connection_close(
            505,
            "UNEXPECTED_FRAME - type 8, all octets = <<>>",
            Some((0, 0)),
        )
        .await;
    assert_eq!(c.reply_text, "UNEXPECTED_FRAME - type 8, all octets = <<>>");
    still_serving(&b).await;
}

#[tokio::test]
async fn unknown_frame_type_is_a_frame_error() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.send_raw(&raw_frame(9, 0, b"abc")).await;
    r.expect_connection_close(501, "FRAME_ERROR", Some((0, 0)))
        .await;
    still_serving(&b).await;
}

/// The connection.close the broker answers `bytes` with, on a fresh connection.
async fn close_for(b: &Broker, bytes: &[u8]) -> ConnectionClose {
    let mut r = Raw::ready(b).await;
    r.send_raw(bytes).await;
    match r.method().await {
        (0, Method::ConnectionClose(c)) => c,
        other => panic!("expected connection.close, got {other:?}"),
    }
}

/// RabbitMQ's FRAME_ERROR texts name the frame type and its first octets (notes rows 10m, 10n,
/// 10o, observed on 3.10.8).
#[tokio::test]
async fn frame_error_texts_match_rabbitmq() {
    let b = broker();
    let mut bad_end = BytesMut::new();
    Frame::Method(1, Method::ChannelOpen(ChannelOpen::default())).encode(&mut bad_end);
    let last = bad_end.len() - 1;
    bad_end[last] = 0x00;
    let mut too_large = vec![FRAME_METHOD, 0, 1];
    too_large.extend_from_slice(&200_000u32.to_be_bytes());
    let cases: [(&[u8], &str); 3] = [
        (
            &bad_end,
            "FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,0}",
        ),
        (
            &too_large,
            "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,200000,131064}",
        ),
        (
            &raw_frame(9, 0, b"abc"),
            "FRAME_ERROR - type 9, all octets = <<\"abc\">>: unknown_frame",
        ),
    ];
    let mut wrong = Vec::new();
    for (bytes, text) in cases {
        let c = close_for(&b, bytes).await;
        assert_eq!(c.reply_code, 501);
        if c.reply_text != text {
            wrong.push(format!("got {:?}, RabbitMQ sends {text:?}", c.reply_text));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// RabbitMQ's text for a content frame on channel 0 (observed on 3.10.8, notes row 10l).
#[tokio::test]
async fn content_frame_on_channel_zero_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.send_raw(&raw_frame(FRAME_BODY, 0, b"x")).await;
    let c = r
        .expect_connection_close(505, "UNEXPECTED_FRAME", Some((0, 0)))
        .await;
    assert_eq!(
        c.reply_text,
        "UNEXPECTED_FRAME - type 3, all octets = <<\"x\">>"
    );
    still_serving(&b).await;
}

#[tokio::test]
async fn truncated_frames_and_half_messages_are_dropped_with_the_client() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.declare(1, "half", false).await;
    drop(r);

    // A publish whose method frame is cut short, then the client vanishes.
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let whole = publish_frames(1, "half", b"cut", 131072);
    r.send_raw(&whole[..9]).await;
    drop(r);

    // A message cut short mid-body (method, header, half the body), then the client vanishes.
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let whole = publish_frames(1, "half", &[7u8; 1000], 131072);
    r.send_raw(&whole[..whole.len() - 500]).await;
    // And one whose body frame is complete but short of the declared size.
    r.send(2, Method::ChannelOpen(ChannelOpen::default())).await;
    let mut partial = BytesMut::new();
    Frame::Method(
        2,
        Method::BasicPublish(BasicPublish {
            routing_key: "half".into(),
            ..Default::default()
        }),
    )
    .encode(&mut partial);
    partial.extend_from_slice(&header_frame(2, 60, 1000));
    partial.extend_from_slice(&raw_frame(FRAME_BODY, 2, &[8u8; 500]));
    r.send_raw(&partial).await;
    drop(r);

    // Give the broker time to notice the drops, then look: nothing reached the queue.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    assert!(
        r.get(1, "half", true).await.is_none(),
        "no partial message was queued"
    );
    still_serving(&b).await;
}

// ---------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn channels_must_be_opened_once() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.send(3, Method::QueueDeclare(QueueDeclare::default()))
        .await;
    let c = r
        .expect_connection_close(
            504,
            "CHANNEL_ERROR - expected 'channel.open'",
            Some((50, 10)),
        )
        .await;
    assert_eq!(c.reply_text, "CHANNEL_ERROR - expected 'channel.open'");

    // channel.close on a channel never opened is the same error (notes row 10a).
    let mut r = Raw::ready(&b).await;
    r.send(
        4,
        Method::ChannelClose(ChannelClose {
            reply_code: 200,
            reply_text: "bye".into(),
            ..Default::default()
        }),
    )
    .await;
    r.expect_connection_close(
        504,
        "CHANNEL_ERROR - expected 'channel.open'",
        Some((20, 40)),
    )
    .await;

    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send(1, Method::ChannelOpen(ChannelOpen::default())).await;
    let c = r
        .expect_connection_close(
            504,
            "CHANNEL_ERROR - second 'channel.open' seen",
            Some((20, 10)),
        )
        .await;
    assert_eq!(c.reply_text, "CHANNEL_ERROR - second 'channel.open' seen");
    still_serving(&b).await;
}

/// RabbitMQ's channel_max limits how many channels are open at once, not their numbers
/// (observed on 3.10.8: channel 65535 opens under channel_max 2047; a fourth channel under 3
/// is refused with this text, class and method 0).
#[tokio::test]
async fn channel_max_counts_open_channels_not_numbers() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(65535).await;
    let mut r = Raw::open_with(
        &b,
        &Hello {
            channel_max: 3,
            ..Default::default()
        },
    )
    .await;
    for ch in [7, 1000, 3] {
        r.open_channel(ch).await;
    }
    r.send(4, Method::ChannelOpen(ChannelOpen::default())).await;
    r.expect_connection_close(
        530,
        "NOT_ALLOWED - number of channels opened (3) has reached the negotiated channel_max (3)",
        Some((0, 0)),
    )
    .await;
    still_serving(&b).await;
}

/// Where Warren once accepted what RabbitMQ refuses, it now refuses it the same way: each
/// close below was observed on RabbitMQ 3.10.8 (and 4.3's source words it the same).
#[tokio::test]
async fn what_rabbitmq_refuses_is_refused_alike() {
    let b = broker();
    let qos = |size: u32| {
        Method::BasicQos(BasicQos {
            prefetch_size: size,
            prefetch_count: 10,
            global: false,
        })
    };
    // basic.qos with two bytes after its last argument.
    let mut trailing = BytesMut::new();
    write_frame(&mut trailing, FRAME_METHOD, 1, |o| {
        qos(0).encode(o);
        o.put_slice(&[0, 0]);
    });
    let mut immediate = BytesMut::new();
    let m = Method::BasicPublish(BasicPublish {
        routing_key: "q".into(),
        immediate: true,
        ..Default::default()
    });
    write_content(
        &mut immediate,
        1,
        &m,
        &BasicProperties::default().to_bytes(),
        b"x",
        131072,
    );
    let mut sized = BytesMut::new();
    Frame::Method(1, qos(1)).encode(&mut sized);
    let cases: Vec<(BytesMut, u16, &str, (u16, u16))> = vec![
        (
            trailing,
            501,
            "FRAME_ERROR - cannot decode <<0,0,0,0,0,10,0,0,0>>",
            (60, 10),
        ),
        (
            raw_frame(FRAME_HEARTBEAT, 0, &[1, 2]),
            501,
            "FRAME_ERROR - type 8, all octets = <<1,2>>: unknown_frame",
            (0, 0),
        ),
        (
            sized,
            540,
            "NOT_IMPLEMENTED - prefetch_size!=0 (1)",
            (60, 10),
        ),
        (immediate, 540, "NOT_IMPLEMENTED - immediate=true", (60, 40)),
    ];
    for (bytes, code, text, ids) in cases {
        let mut r = Raw::ready(&b).await;
        r.open_channel(1).await;
        r.send_raw(&bytes).await;
        let c = r.expect_connection_close(code, text, Some(ids)).await;
        assert_eq!(c.reply_text, text);
    }
    still_serving(&b).await;
}

#[tokio::test]
async fn a_channel_error_closes_only_the_channel_until_close_ok() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.open_channel(2).await;
    r.declare(2, "target", true).await;
    r.send(
        1,
        Method::QueueDeclare(QueueDeclare {
            queue: "x".into(),
            passive: true,
            ..Default::default()
        }),
    )
    .await;
    r.expect_channel_close(1, 404, "NOT_FOUND - no queue 'x' in vhost '/'", (50, 10))
        .await;

    // Until the client's close-ok, everything on channel 1 is ignored: methods, a whole
    // publish (content included), even a stray body frame.
    r.send(1, Method::QueueDeclare(QueueDeclare::default()))
        .await;
    r.send_raw(&publish_frames(1, "target", b"ignored", 131072))
        .await;
    r.send_raw(&raw_frame(FRAME_BODY, 1, b"stray")).await;
    r.send(1, Method::BasicQos(BasicQos::default())).await;
    // Channel 2 still works, and nothing was answered on channel 1 in between.
    r.sync(2).await;
    assert!(
        r.get(2, "target", true).await.is_none(),
        "the publish on the closing channel was dropped"
    );

    r.send(1, Method::ChannelCloseOk(ChannelCloseOk {})).await;
    r.open_channel(1).await;
    r.sync(1).await;
    assert!(r.get(1, "target", true).await.is_none());
}

// ---------------------------------------------------------------------------------------------
// Handshake and login
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_handshake_offers_what_clients_need() {
    let b = broker();
    let mut r = Raw::connect(&b).await;
    let start = r.start(&Hello::default()).await;
    let mechanisms = String::from_utf8_lossy(&start.mechanisms).to_string();
    let mechanisms: Vec<&str> = mechanisms.split(' ').collect();
    assert!(mechanisms.contains(&"PLAIN"), "{mechanisms:?}");
    assert!(mechanisms.contains(&"AMQPLAIN"), "{mechanisms:?}");
    let caps = start
        .server_properties
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .expect("capabilities");
    for cap in [
        "authentication_failure_close",
        "consumer_cancel_notify",
        "connection.blocked",
        "direct_reply_to",
    ] {
        assert_eq!(caps.get(cap), Some(&FieldValue::Bool(true)), "{cap}");
    }
    let tune = r.tune(&Hello::default()).await;
    assert_eq!(tune.frame_max, 131072);
    assert_eq!(tune.channel_max, 2047);
    r.expect_open_ok().await;
    r.open_channel(1).await;
    r.sync(1).await;
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
            Some((0, 0)),
        )
        .await;
    assert_eq!(
        c.reply_text,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."
    );
    // An unknown user gets the same answer.
    let mut r = Raw::connect(&b).await;
    r.start(&Hello {
        user: "nobody",
        ..Default::default()
    })
    .await;
    r.expect_connection_close(403, "ACCESS_REFUSED - Login was refused", Some((0, 0)))
        .await;
    // Without authentication_failure_close the socket just closes, with no frame at all.
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
    let mut r = Raw::open_with(
        &b,
        &Hello {
            mechanism: "AMQPLAIN",
            ..Default::default()
        },
    )
    .await;
    r.open_channel(1).await;
    let q = r.declare(1, "", true).await;
    r.send_raw(&publish_frames(1, &q, b"amqplain", 131072))
        .await;
    let (_, body) = r.get(1, &q, true).await.expect("message");
    assert_eq!(body, b"amqplain");

    // A wrong AMQPLAIN password names that mechanism.
    let mut r = Raw::connect(&b).await;
    r.start(&Hello {
        mechanism: "AMQPLAIN",
        pass: "wrong",
        ..Default::default()
    })
    .await;
    r.expect_connection_close(
        403,
        "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. For details see the broker logfile.",
        Some((0, 0)),
    )
    .await;
    still_serving(&b).await;
}

/// The users of the broker's open connections, once `n` are listed.
async fn users_once_listed(b: &Broker, n: usize) -> Vec<String> {
    let deadline = Instant::now() + READ_WAIT;
    loop {
        let users: Vec<String> = b
            .core()
            .connections()
            .iter()
            .map(|c| c.user.clone())
            .collect();
        if users.len() >= n || Instant::now() > deadline {
            return users;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SASL ANONYMOUS, as RabbitMQ 4.x offers it by default: listed last, it logs the client in
/// as `anonymous_login_user`/`_pass` (guest/guest) whatever the response holds, and the
/// login is checked as any other. RabbitMQ 3.10.8 (the rabbitmq-3.10 profile) offers
/// "AMQPLAIN PLAIN" only and resets a socket whose start-ok picks ANONYMOUS. The server
/// properties name the node in `cluster_name` ("rabbit@<host>"), as every RabbitMQ does.
#[tokio::test]
async fn anonymous_login_is_offered_from_rabbitmq_4_on() {
    use warren::broker::profile::Profile;
    common::init_logs();
    let anonymous = Hello {
        mechanism: "ANONYMOUS",
        user: "",
        pass: "",
        ..Default::default()
    };
    let b = broker();
    let mut r = Raw::connect(&b).await;
    let start = r.start(&anonymous).await;
    assert_eq!(&start.mechanisms[..], b"PLAIN AMQPLAIN ANONYMOUS");
    let cluster_name = start.server_properties.get("cluster_name");
    assert!(
        matches!(cluster_name, Some(FieldValue::LongString(n)) if n.starts_with(b"rabbit@")),
        "{cluster_name:?}"
    );
    r.tune(&anonymous).await;
    r.expect_open_ok().await;
    r.open_channel(1).await;
    r.sync(1).await;
    assert_eq!(users_once_listed(&b, 1).await, ["guest"]);

    // Under 3.10 it is neither offered nor accepted.
    let old = Broker::builder()
        .profile(Profile::V3_10)
        .start()
        .expect("broker");
    let mut r = Raw::connect(&old).await;
    let start = r.start(&anonymous).await;
    assert_eq!(&start.mechanisms[..], b"PLAIN AMQPLAIN");
    r.expect_eof().await;
    still_serving(&old).await;
}

/// `--anonymous-login USER:PASSWORD` picks whom ANONYMOUS stands for; a login that fails
/// (here: the password does not match) is refused as PLAIN's is, naming the mechanism; and
/// `--anonymous-login none` (RabbitMQ's `anonymous_login_user = none`) stops offering it.
#[tokio::test]
async fn anonymous_login_follows_its_setting() {
    common::init_logs();
    let anonymous = Hello {
        mechanism: "ANONYMOUS",
        ..Default::default()
    };
    let b = Broker::builder()
        .user("app", "s3cret")
        .anonymous_login(Some(("app", "s3cret")))
        .start()
        .expect("broker");
    let mut r = Raw::open_with(&b, &anonymous).await;
    r.open_channel(1).await;
    assert_eq!(users_once_listed(&b, 1).await, ["app"]);

    let wrong = Broker::builder()
        .user("app", "s3cret")
        .anonymous_login(Some(("app", "not-it")))
        .start()
        .expect("broker");
    let mut r = Raw::connect(&wrong).await;
    r.start(&anonymous).await;
    r.expect_connection_close(
        403,
        "ACCESS_REFUSED - Login was refused using authentication mechanism ANONYMOUS. For details see the broker logfile.",
        Some((0, 0)),
    )
    .await;

    let off = Broker::builder()
        .anonymous_login(None)
        .start()
        .expect("broker");
    let mut r = Raw::connect(&off).await;
    let start = r.start(&anonymous).await;
    assert_eq!(&start.mechanisms[..], b"PLAIN AMQPLAIN");
    r.expect_eof().await;
    still_serving(&off).await;
}

#[tokio::test]
async fn missing_vhost_is_not_allowed() {
    let b = broker();
    let mut r = Raw::hello(
        &b,
        &Hello {
            vhost: "nope",
            ..Default::default()
        },
    )
    .await;
    let c = r
        .expect_connection_close(530, "NOT_ALLOWED - vhost nope not found", Some((10, 40)))
        .await;
    assert_eq!(c.reply_text, "NOT_ALLOWED - vhost nope not found");
    still_serving(&b).await;
}

#[tokio::test]
async fn tune_ok_outside_the_offer_drops_the_socket() {
    let b = broker();
    for frame_max in [131073, 1_000_000, 4095, 1000] {
        let h = Hello {
            frame_max,
            ..Default::default()
        };
        let mut r = Raw::connect(&b).await;
        r.start(&h).await;
        r.tune_ok(&h).await;
        // No connection.close (RabbitMQ 3.10 sends none either): the socket just goes.
        let f = r.next().await;
        assert!(
            f.is_none(),
            "frame_max {frame_max}: expected EOF, got {f:?}"
        );
    }
    // The bounds themselves are fine.
    for frame_max in [4096, 131072] {
        let mut r = Raw::open_with(
            &b,
            &Hello {
                frame_max,
                ..Default::default()
            },
        )
        .await;
        r.open_channel(1).await;
    }
    still_serving(&b).await;
}

/// Before tune-ok a frame may be 4096 bytes in RabbitMQ 3.x and 8192 from 4.1 on (release
/// notes 4.1.0, "Initial AMQP 0-9-1 Maximum Frame Size"): a start-ok past that drops the
/// socket (RabbitMQ 3.10.8 logs `frame_too_large` and closes it; the Java client's
/// `FrameMax.rejectLargeFramesDuringConnectionNegotiation`).
#[tokio::test]
async fn a_start_ok_larger_than_the_handshake_frame_max_drops_the_socket() {
    use warren::broker::profile::Profile;
    for (profile, limit) in [(Profile::V3_10, 4096), (Profile::Default, 8192)] {
        common::init_logs();
        let b = Broker::builder().profile(profile).start().expect("broker");
        let big = Hello {
            padding: limit,
            ..Default::default()
        };
        let mut r = Raw::connect(&b).await;
        r.start(&big).await;
        let f = r.next().await;
        assert!(f.is_none(), "{profile:?}: expected EOF, got {f:?}");
        // Just under the limit it is fine.
        let under = Hello {
            padding: limit - 1024,
            ..Default::default()
        };
        let mut r = Raw::open_with(&b, &under).await;
        r.open_channel(1).await;
    }
}

/// channel_max 0 means "no limit", which is above the 2047 offered (notes row 11j: RabbitMQ
/// refuses it and drops the socket, as for frame_max).
#[tokio::test]
async fn tune_ok_with_unlimited_channels_drops_the_socket() {
    let b = broker();
    for channel_max in [0, 2048] {
        let h = Hello {
            channel_max,
            ..Default::default()
        };
        let mut r = Raw::connect(&b).await;
        r.start(&h).await;
        r.tune_ok(&h).await;
        let f = r.next_within(Duration::from_secs(4)).await;
        assert!(
            matches!(f, Ok(None)),
            "channel_max {channel_max}: expected the socket to close, got {f:?} (Err: still open)"
        );
    }
    still_serving(&b).await;
}

/// A channel frame after tune-ok but before connection.open (notes row 11k, observed).
#[tokio::test]
async fn channel_frame_before_connection_open_is_an_unexpected_frame() {
    let b = broker();
    let mut r = Raw::connect(&b).await;
    let h = Hello::default();
    r.start(&h).await;
    r.tune_ok(&h).await;
    r.send(1, Method::ChannelOpen(ChannelOpen::default())).await;
    let c = r
        .expect_connection_close(505, "UNEXPECTED_FRAME", Some((0, 0)))
        .await;
    assert_eq!(
        c.reply_text,
        "UNEXPECTED_FRAME - type 1, all octets = <<0,20,0,10,0>>"
    );
    still_serving(&b).await;
}

/// After the broker's connection.close it ignores everything but close-ok, and closes the
/// socket by itself if close-ok never comes (a bounded wait).
#[tokio::test]
async fn the_brokers_close_waits_for_close_ok_but_not_forever() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.send_raw(&raw_frame(FRAME_HEARTBEAT, 1, b"")).await;
    let (0, Method::ConnectionClose(c)) = r.method().await else {
        panic!("connection.close expected")
    };
    assert_eq!(c.reply_code, 505);
    let closed_at = Instant::now();
    // Ignored: a method, a whole publish, a connection method other than close-ok.
    r.send(1, Method::BasicQos(BasicQos::default())).await;
    r.send_raw(&publish_frames(1, "nowhere", b"x", 131072))
        .await;
    r.send(0, Method::ChannelOpen(ChannelOpen::default())).await;
    // No close-ok: the broker gives up and closes (RabbitMQ waits about 3 s).
    match r.next_within(Duration::from_secs(8)).await {
        Ok(None) => {}
        Ok(Some(f)) => panic!("nothing but the end of the stream expected, got {f:?}"),
        Err(()) => panic!("the broker never closed the socket without close-ok"),
    }
    assert!(
        closed_at.elapsed() < Duration::from_secs(8),
        "bounded wait for close-ok"
    );
    still_serving(&b).await;
}

#[tokio::test]
async fn heartbeats_flow_and_a_silent_client_is_dropped() {
    let b = broker();
    let mut r = Raw::open_with(
        &b,
        &Hello {
            heartbeat: 1,
            ..Default::default()
        },
    )
    .await;
    let opened = Instant::now();
    // The broker sends heartbeats while idle...
    let f = r
        .next_within(Duration::from_millis(2500))
        .await
        .expect("a heartbeat within 2.5 s of an idle connection with heartbeat=1");
    assert_eq!(f, Some(Frame::Heartbeat(0)));
    // ...and, as this client never sends any, drops it after about two intervals.
    loop {
        match r.next_within(Duration::from_secs(5)).await {
            Ok(None) => break,
            Ok(Some(Frame::Heartbeat(0))) => {}
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Err(()) => panic!("a silent client is still connected after 5 s"),
        }
        assert!(
            opened.elapsed() < Duration::from_secs(5),
            "a silent client is still connected after 5 s"
        );
    }
    let after = opened.elapsed();
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(5),
        "dropped after {after:?}; expected about two 1 s intervals"
    );
    still_serving(&b).await;
}

#[tokio::test]
async fn a_client_that_sends_heartbeats_stays_connected() {
    let b = broker();
    let mut r = Raw::open_with(
        &b,
        &Hello {
            heartbeat: 1,
            ..Default::default()
        },
    )
    .await;
    r.open_channel(1).await;
    let beat = raw_frame(FRAME_HEARTBEAT, 0, b"");
    let until = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < until {
        r.send_raw(&beat).await;
        // Read what came (heartbeats) without blocking past the next beat.
        match r.next_within(Duration::from_millis(400)).await {
            Ok(Some(Frame::Heartbeat(0))) | Err(()) => {}
            Ok(other) => panic!("unexpected {other:?} while idle"),
        }
    }
    r.sync(1).await;
}

#[tokio::test]
async fn shutdown_closes_connections_with_connection_forced() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let stopper = tokio::task::spawn_blocking(move || b.shutdown());
    r.expect_connection_close(
        320,
        "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
        Some((0, 0)),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(10), stopper)
        .await
        .expect("shutdown finished in time")
        .expect("shutdown did not panic");
}

#[tokio::test]
async fn a_silent_socket_is_dropped_after_the_handshake_timeout() {
    let b = broker();
    let started = Instant::now();
    // One socket sends nothing at all; another stops after the protocol header.
    let mut silent = TcpStream::connect(b.addr()).await.expect("connect");
    let mut stalled = Raw::connect(&b).await;
    stalled.send_raw(PROTOCOL_HEADER).await;
    assert!(matches!(
        stalled.method().await,
        (0, Method::ConnectionStart(_))
    ));
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), silent.read_to_end(&mut got))
        .await
        .expect("dropped within 15 s (the timeout is 10 s)")
        .ok();
    assert!(got.is_empty(), "nothing is sent to a silent socket");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(8),
        "dropped after only {waited:?}"
    );
    match stalled.next_within(Duration::from_secs(5)).await {
        Ok(None) => {}
        other => panic!("a handshake stalled after connection.start is dropped too: {other:?}"),
    }
    still_serving(&b).await;
}

// ---------------------------------------------------------------------------------------------
// Content and deliveries
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bodies_are_split_at_the_negotiated_frame_max() {
    let b = broker();
    let mut r = Raw::open_with(
        &b,
        &Hello {
            frame_max: 4096,
            ..Default::default()
        },
    )
    .await;
    r.open_channel(1).await;
    let q = r.declare(1, "", true).await;
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    r.send_raw(&publish_frames(1, &q, &body, 4096)).await;
    r.send(
        1,
        Method::BasicGet(BasicGet {
            queue: q,
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::BasicGetOk(_))));
    let Frame::Header(1, h) = r.frame().await else {
        panic!("header")
    };
    assert_eq!(h.body_size, 10_000);
    let mut got = Vec::new();
    let mut frames = 0;
    while got.len() < 10_000 {
        let Frame::Body(1, part) = r.frame().await else {
            panic!("body")
        };
        assert!(part.len() <= 4088, "a body frame of {} bytes", part.len());
        got.extend_from_slice(&part);
        frames += 1;
    }
    assert_eq!(got, body);
    assert_eq!(frames, 3, "10 000 bytes in frames of at most 4088");
    r.sync(1).await;
}

#[tokio::test]
async fn unacked_deliveries_of_a_dropped_connection_come_back_redelivered() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    r.declare(1, "work", false).await;
    r.send_raw(&publish_frames(1, "work", b"job1", 131072))
        .await;
    r.send_raw(&publish_frames(1, "work", b"job2", 131072))
        .await;
    // One taken with basic.get, one by a consumer; neither acked.
    let (first, body) = r.get(1, "work", false).await.expect("get-ok");
    assert!(!first.redelivered);
    assert_eq!(body, b"job1");
    r.send(
        1,
        Method::BasicConsume(BasicConsume {
            queue: "work".into(),
            consumer_tag: "c".into(),
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::BasicConsumeOk(_))));
    let (_, Method::BasicDeliver(d)) = r.method().await else {
        panic!("basic.deliver expected")
    };
    assert!(!d.redelivered);
    assert_eq!(r.content(1).await, b"job2");
    drop(r);

    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    // The requeue happens when the broker notices the close; ask until it has.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut back = Vec::new();
    while back.len() < 2 {
        match r.get(1, "work", true).await {
            Some((ok, body)) => {
                assert!(ok.redelivered, "{body:?} comes back with redelivered=true");
                back.push(body);
            }
            None => {
                assert!(Instant::now() < deadline, "never requeued: {back:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert_eq!(back, vec![b"job1".to_vec(), b"job2".to_vec()]);
    assert!(r.get(1, "work", true).await.is_none());
}

/// rabbitmq-c sends tag 'L' (unsigned 64-bit) in tables; RabbitMQ takes it and hands it back.
#[tokio::test]
async fn unsigned_64_bit_field_values_pass_through() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let q = r.declare(1, "", true).await;
    let mut headers = FieldTable::new();
    headers.insert("big", FieldValue::U64(18_000_000_000_000_000_000));
    let props = BasicProperties {
        headers: Some(headers),
        ..Default::default()
    }
    .to_bytes();
    let mut out = BytesMut::new();
    let m = Method::BasicPublish(BasicPublish {
        routing_key: q.clone(),
        ..Default::default()
    });
    write_content(&mut out, 1, &m, &props, b"x", 131072);
    r.send_raw(&out).await;
    r.send(
        1,
        Method::BasicGet(BasicGet {
            queue: q,
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    assert!(matches!(r.method().await, (1, Method::BasicGetOk(_))));
    let Frame::Header(1, h) = r.frame().await else {
        panic!("header")
    };
    assert_eq!(
        h.raw_properties, props,
        "the 'L' value comes back byte for byte"
    );
}

// ---------------------------------------------------------------------------------------------
// Fairness
// ---------------------------------------------------------------------------------------------

/// Publishers whose sockets always have bytes ready must not keep the broker's workers to
/// themselves: while four of them flood, a new connection still gets through its handshake
/// and is served (it waited for the flood to end before the loop yielded to tokio's budget).
#[tokio::test(flavor = "multi_thread")]
async fn flooding_publishers_do_not_starve_new_connections() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let b = broker();
    let stop = Arc::new(AtomicBool::new(false));
    // Unroutable and not mandatory: each publish is dropped at once, so the flood costs the
    // broker CPU but no memory.
    let mut chunk = BytesMut::new();
    for _ in 0..1000 {
        chunk.extend_from_slice(&publish_frames(1, "nowhere", b"x", 131072));
    }
    let chunk = chunk.freeze();
    let mut floods = Vec::new();
    for _ in 0..4 {
        let mut r = Raw::ready(&b).await;
        r.open_channel(1).await;
        let (stop, chunk) = (stop.clone(), chunk.clone());
        floods.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if r.s.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }));
    }
    still_serving(&b).await;
    stop.store(true, Ordering::Relaxed);
    for f in floods {
        let _ = f.await;
    }
}

// ---------------------------------------------------------------------------------------------
// Resource alarms
// ---------------------------------------------------------------------------------------------

/// While the disk alarm is up, a connection that publishes is held at its basic.publish and,
/// having asked for it, hears connection.blocked "low on disk" (RabbitMQ 3.10 does the same:
/// nothing before the publish, nothing to idle or consuming connections, the publish not
/// enqueued until the alarm clears); consumers are still served. When the alarm clears the
/// blocked connection hears connection.unblocked and the held publishes go through.
#[tokio::test]
async fn the_disk_alarm_holds_publishers_until_it_clears() {
    common::init_logs();
    let dir = std::env::temp_dir().join(format!("warren-disk-alarm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let b = Broker::start_in(&dir).expect("broker");
    let quiet = Duration::from_millis(300);
    let caps = Hello {
        connection_blocked: true,
        ..Hello::default()
    };
    let mut publisher = Raw::open_with(&b, &caps).await;
    publisher.open_channel(1).await;
    let q = publisher.declare(1, "alarm-q", false).await;
    let mut silent = Raw::ready(&b).await; // did not ask for connection.blocked
    silent.open_channel(1).await;
    let mut consumer = Raw::ready(&b).await;
    consumer.open_channel(1).await;
    publisher
        .send_raw(&publish_frames(1, &q, b"before", 131072))
        .await;
    publisher.sync(1).await; // routed once the next method is answered
    assert_eq!(
        consumer.get(1, &q, true).await.map(|g| g.1),
        Some(b"before".to_vec())
    );

    b.core().disk_alarm().set_limit(u64::MAX);
    assert!(b.core().disk_alarm().is_raised());
    assert!(
        publisher.next_within(quiet).await.is_err(),
        "blocked before publishing"
    );

    publisher
        .send_raw(&publish_frames(1, &q, b"held", 131072))
        .await;
    let (ch, m) = publisher.method().await;
    assert_eq!(ch, 0);
    assert_eq!(
        m,
        Method::ConnectionBlocked(ConnectionBlocked {
            reason: "low on disk".into()
        })
    );
    silent
        .send_raw(&publish_frames(1, &q, b"silent", 131072))
        .await;
    assert!(
        silent.next_within(quiet).await.is_err(),
        "no capability, no notice"
    );
    // Neither publish went through; the consumer is served meanwhile.
    assert!(consumer.get(1, &q, true).await.is_none());
    assert!(consumer.next_within(quiet).await.is_err());

    b.core().disk_alarm().set_limit(0);
    assert!(!b.core().disk_alarm().is_raised());
    let (ch, m) = publisher.method().await;
    assert_eq!(
        (ch, m),
        (0, Method::ConnectionUnblocked(ConnectionUnblocked {}))
    );
    let mut got = Vec::new();
    let deadline = Instant::now() + READ_WAIT;
    while got.len() < 2 && Instant::now() < deadline {
        match consumer.get(1, &q, true).await {
            Some((_, body)) => got.push(body),
            None => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    got.sort();
    assert_eq!(got, vec![b"held".to_vec(), b"silent".to_vec()]);
    // Both publishers are read from again.
    publisher.sync(1).await;
    silent.sync(1).await;
    drop((publisher, silent, consumer));
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Memory and disk alarms feed one blocking: connection.blocked carries the alarms up when
/// the connection is blocked, in RabbitMQ 3.10's words ("low on memory", "low on disk &
/// memory", observed with set_vm_memory_high_watermark and set_disk_free_limit); another
/// alarm rising meanwhile sends nothing more, and connection.unblocked comes only once every
/// alarm has cleared.
#[tokio::test]
async fn memory_and_disk_alarms_block_with_one_notice_until_both_clear() {
    use warren::broker::memory::Watermark;
    common::init_logs();
    let dir = std::env::temp_dir().join(format!("warren-both-alarms-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let b = Broker::start_in(&dir).expect("broker");
    let quiet = Duration::from_millis(300);
    let caps = Hello {
        connection_blocked: true,
        ..Hello::default()
    };
    let (memory, disk) = (b.core().memory_alarm(), b.core().disk_alarm());
    let mut publisher = Raw::open_with(&b, &caps).await;
    publisher.open_channel(1).await;
    let q = publisher.declare(1, "both-q", false).await;

    memory.set_watermark(Watermark::Absolute(0));
    assert!(b.core().node_status().mem_alarm);
    publisher
        .send_raw(&publish_frames(1, &q, b"m", 131072))
        .await;
    assert_eq!(
        publisher.method().await,
        (
            0,
            Method::ConnectionBlocked(ConnectionBlocked {
                reason: "low on memory".into()
            })
        )
    );
    disk.set_limit(u64::MAX);
    assert!(publisher.next_within(quiet).await.is_err(), "one notice");
    memory.set_watermark(Watermark::Absolute(u64::MAX));
    assert!(
        publisher.next_within(quiet).await.is_err(),
        "still low on disk"
    );
    disk.set_limit(0);
    assert_eq!(
        publisher.method().await,
        (0, Method::ConnectionUnblocked(ConnectionUnblocked {}))
    );
    publisher.sync(1).await;

    memory.set_watermark(Watermark::Absolute(0));
    disk.set_limit(u64::MAX);
    let status = b.core().node_status();
    assert!(status.mem_alarm && status.disk_free_alarm, "{status:?}");
    publisher
        .send_raw(&publish_frames(1, &q, b"d", 131072))
        .await;
    assert_eq!(
        publisher.method().await,
        (
            0,
            Method::ConnectionBlocked(ConnectionBlocked {
                reason: "low on disk & memory".into()
            })
        )
    );
    memory.set_watermark(Watermark::Absolute(u64::MAX));
    disk.set_limit(0);
    assert_eq!(
        publisher.method().await,
        (0, Method::ConnectionUnblocked(ConnectionUnblocked {}))
    );
    publisher.sync(1).await;
    drop(publisher);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A consumer that stops reading its socket: the deliveries the socket cannot take wait in
/// the broker, and once the consumer reads again every one arrives, whole and in order.
#[tokio::test]
async fn deliveries_wait_for_a_consumer_that_stops_reading() {
    const COUNT: u32 = 3000;
    let b = broker();
    let mut consumer = Raw::ready(&b).await;
    consumer.open_channel(1).await;
    consumer.declare(1, "slow", false).await;
    consumer
        .send(
            1,
            Method::BasicConsume(BasicConsume {
                queue: "slow".into(),
                consumer_tag: "c".into(),
                no_ack: true,
                ..Default::default()
            }),
        )
        .await;
    assert!(matches!(
        consumer.method().await,
        (1, Method::BasicConsumeOk(_))
    ));

    // 12 MB, well past what loopback socket buffers hold, while the consumer reads nothing.
    let mut publisher = Raw::ready(&b).await;
    publisher.open_channel(1).await;
    let mut frames = BytesMut::new();
    for i in 0..COUNT {
        let mut body = vec![(i % 251) as u8; 4000];
        body[..4].copy_from_slice(&i.to_be_bytes());
        frames.extend_from_slice(&publish_frames(1, "slow", &body, 131072));
    }
    publisher.send_raw(&frames).await;
    // Answered only once the broker has handled every publish before it.
    publisher.sync(1).await;

    for i in 0..COUNT {
        let (_, Method::BasicDeliver(d)) = consumer.method().await else {
            panic!("basic.deliver expected")
        };
        assert_eq!(d.delivery_tag, u64::from(i) + 1);
        let body = consumer.content(1).await;
        assert_eq!(body.len(), 4000);
        assert_eq!(body[..4], i.to_be_bytes(), "message {i} in its place");
        assert!(body[4..].iter().all(|&x| x == (i % 251) as u8));
    }
    still_serving(&b).await;
}

/// A publish arrives either whole (read in place) or with its body over several frames (put
/// together by the assembler); both ways it is refused, returned and delivered alike.
#[tokio::test]
async fn publishes_read_whole_or_frame_by_frame_are_handled_alike() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    let publish = |ch: u16, exchange: &str, key: &str, mandatory: bool, props: BasicProperties| {
        let m = Method::BasicPublish(BasicPublish {
            exchange: exchange.into(),
            routing_key: key.into(),
            mandatory,
            ..Default::default()
        });
        // Whole: one body frame; frame by frame: the same body in 3-byte frames.
        [131072, FRAME_OVERHEAD as u32 + 3].map(|frame_max| {
            let mut out = BytesMut::new();
            write_content(&mut out, ch, &m, &props.to_bytes(), b"payload", frame_max);
            out
        })
    };
    let impostor = BasicProperties {
        user_id: Some("mallory".into()),
        ..Default::default()
    };
    let refusals = [
        (
            "nope",
            BasicProperties::default(),
            404,
            "NOT_FOUND - no exchange 'nope' in vhost '/'",
        ),
        (
            "",
            impostor,
            406,
            "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'",
        ),
    ];
    let mut ch = 0;
    for way in 0..2 {
        for (exchange, props, code, text) in &refusals {
            ch += 1;
            r.open_channel(ch).await;
            r.send_raw(&publish(ch, exchange, "k", false, props.clone())[way])
                .await;
            r.expect_channel_close(ch, *code, text, (60, 40)).await;
            r.send(ch, Method::ChannelCloseOk(ChannelCloseOk {})).await;
        }

        ch += 1;
        r.open_channel(ch).await;
        let q = r.declare(ch, "", true).await;
        r.send_raw(&publish(ch, "", "nowhere", true, BasicProperties::default())[way])
            .await;
        let (c, Method::BasicReturn(ret)) = r.method().await else {
            panic!("basic.return expected")
        };
        assert_eq!(
            (c, ret.reply_code, ret.reply_text.as_str()),
            (ch, 312, "NO_ROUTE")
        );
        assert_eq!(r.content(ch).await, b"payload");
        r.send_raw(&publish(ch, "", &q, true, BasicProperties::default())[way])
            .await;
        let (_, body) = r.get(ch, &q, true).await.expect("routed to its queue");
        assert_eq!(body, b"payload");
    }
}

/// What a client sends on a channel behind its own channel.close, in the same write, is
/// dropped, as RabbitMQ 3.10 drops it (lapin can queue a basic.cancel behind a close); a frame
/// sent once close-ok is in hand is the usual 504 (RabbitMQ, probed: the same).
#[tokio::test]
async fn frames_behind_a_channel_close_are_dropped_until_close_ok() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let mut out = BytesMut::new();
    Frame::Method(
        1,
        Method::ChannelClose(ChannelClose {
            reply_code: 200,
            reply_text: "bye".into(),
            ..Default::default()
        }),
    )
    .encode(&mut out);
    Frame::Method(1, Method::BasicQos(BasicQos::default())).encode(&mut out);
    r.send_raw(&out).await;
    assert!(matches!(r.method().await, (1, Method::ChannelCloseOk(_))));
    // Nothing answered the basic.qos: the next reply is the one for channel 2.
    r.open_channel(2).await;
    r.sync(2).await;

    r.send(1, Method::BasicQos(BasicQos::default())).await;
    r.expect_connection_close(
        504,
        "CHANNEL_ERROR - expected 'channel.open'",
        Some((60, 10)),
    )
    .await;
    still_serving(&b).await;
}

/// A message over the largest size is refused with RabbitMQ 4.x's text and default limit
/// (16 MiB; 3.10.8 words it the same with its 128 MiB).
#[tokio::test]
async fn a_message_over_the_size_limit_is_refused() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let mut bytes = BytesMut::new();
    Frame::Method(
        1,
        Method::BasicPublish(BasicPublish {
            routing_key: "q".into(),
            ..Default::default()
        }),
    )
    .encode(&mut bytes);
    bytes.extend_from_slice(&header_frame(1, 60, 16 * 1024 * 1024 + 1));
    r.send_raw(&bytes).await;
    r.expect_channel_close(
        1,
        406,
        "PRECONDITION_FAILED - message size 16777217 is larger than configured max size 16777216",
        (60, 40),
    )
    .await;
}

/// After the client's connection.close and the broker's close-ok, a second connection.close
/// (two threads closing one connection, as amqp091-go's TestConcurrentClose does) is ignored
/// as RabbitMQ ignores it: no second close-ok, and the socket is the client's to close.
#[tokio::test]
async fn a_second_client_close_after_close_ok_is_ignored() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    let close = || {
        Method::ConnectionClose(ConnectionClose {
            reply_code: 200,
            ..Default::default()
        })
    };
    r.send(0, close()).await;
    r.send(0, close()).await;
    let (0, Method::ConnectionCloseOk(_)) = r.method().await else {
        panic!("close-ok expected")
    };
    match r.next_within(Duration::from_millis(300)).await {
        Err(()) => {}
        Ok(f) => panic!("nothing more expected while the client holds the socket, got {f:?}"),
    }
    still_serving(&b).await;
}

#[tokio::test]
async fn a_connection_cannot_make_the_broker_hold_unbounded_partial_content() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    // 15 MiB bodies announced on 17 channels (255 MiB) are held; the 18th passes 256 MiB.
    let size = 15u64 << 20;
    for ch in 1..=18u16 {
        r.open_channel(ch).await;
        let publish = Method::BasicPublish(BasicPublish {
            routing_key: "nowhere".into(),
            ..Default::default()
        });
        r.send(ch, publish).await;
        r.send_raw(&header_frame(ch, 60, size)).await;
        r.send_raw(&raw_frame(FRAME_BODY, ch, b"partial")).await;
    }
    let c = r
        .expect_connection_close(
            506,
            "RESOURCE_ERROR - content of 15728640 bytes on channel 18",
            Some((60, 40)),
        )
        .await;
    assert!(c.reply_text.contains("268435456"), "{c:?}");
    still_serving(&b).await;
}

#[tokio::test]
async fn a_channel_has_at_most_65536_consumers() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let q = r.declare(1, "", true).await;
    for n in 0..65_536u32 {
        r.send(
            1,
            Method::BasicConsume(BasicConsume {
                queue: q.clone(),
                consumer_tag: format!("c{n}"),
                no_ack: true,
                no_wait: true,
                ..Default::default()
            }),
        )
        .await;
    }
    r.send(
        1,
        Method::BasicConsume(BasicConsume {
            queue: q.clone(),
            consumer_tag: "one-too-many".into(),
            no_wait: true,
            ..Default::default()
        }),
    )
    .await;
    r.expect_connection_close(
        530,
        "NOT_ALLOWED - reached maximum (65536) of consumers per channel",
        Some((60, 20)),
    )
    .await;
    still_serving(&b).await;
}

/// A connection stops handling its input after a turn's worth of work and comes back to it
/// without waiting for the socket: a burst of frames written at once (20,000 publishes to a
/// fanout of 8 queues, far past one turn, then a basic.get) is all handled, in order, with
/// nothing more arriving to wake the connection.
#[tokio::test]
async fn a_burst_past_one_turn_is_handled_without_more_input() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let mut queues = Vec::new();
    for _ in 0..8 {
        let q = r.declare(1, "", true).await;
        r.send(
            1,
            Method::QueueBind(QueueBind {
                queue: q.clone(),
                exchange: "amq.fanout".into(),
                ..Default::default()
            }),
        )
        .await;
        assert!(matches!(r.method().await, (1, Method::QueueBindOk(_))));
        queues.push(q);
    }
    let mut burst = BytesMut::new();
    let m = Method::BasicPublish(BasicPublish {
        exchange: "amq.fanout".into(),
        ..Default::default()
    });
    let props = BasicProperties::default().to_bytes();
    for i in 0..20_000u32 {
        write_content(&mut burst, 1, &m, &props, &i.to_be_bytes(), 131072);
    }
    write_frame(&mut burst, FRAME_METHOD, 1, |o| {
        Method::QueueDeclare(QueueDeclare {
            queue: queues[7].clone(),
            passive: true,
            ..Default::default()
        })
        .encode(o)
    });
    r.send_raw(&burst).await;
    let (_, Method::QueueDeclareOk(ok)) = r.method().await else {
        panic!("declare-ok after the burst")
    };
    assert_eq!(
        ok.message_count, 20_000,
        "every publish before it was handled"
    );
}

/// RabbitMQ's management API answers DELETE /api/connections/NAME once the connection.close
/// is on its way: a client that sees the 204 already has the close to read. (Recovery tests,
/// bunny's among them, close a connection this way and act on the 204.)
#[tokio::test]
async fn a_connection_closed_through_the_api_has_its_close_before_the_204() {
    let b = common::management_broker();
    let mut r = Raw::ready(&b).await;
    let host = b.management_addr().expect("management").to_string();
    let (status, closed) = close_the_connection_through_the_api(host).await;
    assert_eq!(status, 204, "DELETE /api/connections/{closed}");
    // Nothing is awaited: the close must already be in the socket's receive buffer.
    let mut bytes = vec![0u8; 4096];
    let n =
        r.s.try_read(&mut bytes)
            .expect("connection.close was written before the 204");
    r.buf.extend_from_slice(&bytes[..n]);
    r.expect_connection_close(
        320,
        "CONNECTION_FORCED - Closed via management plugin",
        None,
    )
    .await;
}

/// Closes the broker's one connection with DELETE /api/connections/NAME; the status and name.
async fn close_the_connection_through_the_api(host: String) -> (u16, String) {
    let auth = "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n";
    tokio::task::spawn_blocking(move || {
        let (_, list) = common::http_request(&host, "GET", "/api/connections", auth, "");
        let name = list
            .split("\"name\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the connection is listed")
            .replace(' ', "%20")
            .replace('>', "%3E")
            .replace(':', "%3A");
        let (head, _) = common::http_request(
            &host,
            "DELETE",
            &format!("/api/connections/{name}"),
            auth,
            "",
        );
        (common::http_status(&head), name)
    })
    .await
    .expect("the HTTP exchange")
}

/// A connection closed through the API again while its close-ok is awaited is dropped at
/// once, as RabbitMQ's reader stops a connection already closing: a peer that never answers
/// (bunny's recovery, cut short, leaves such sockets) is not listed for the rest of the
/// close-ok timeout (3 s), where recovery tests probing "is any connection listed?" would
/// take it for the recovered one.
#[tokio::test]
async fn a_connection_closed_again_while_closing_is_dropped_at_once() {
    let b = common::management_broker();
    let mut r = Raw::ready(&b).await;
    let host = b.management_addr().expect("management").to_string();
    let (status, _) = close_the_connection_through_the_api(host.clone()).await;
    assert_eq!(status, 204);
    match r.method().await {
        (0, Method::ConnectionClose(c)) => assert_eq!(c.reply_code, 320, "{c:?}"),
        other => panic!("expected connection.close, got {other:?}"),
    }
    // No close-ok: the connection stays listed, closing, until it is closed again.
    let (status, _) = close_the_connection_through_the_api(host).await;
    assert_eq!(status, 204);
    tokio::time::timeout(Duration::from_secs(2), r.expect_eof())
        .await
        .expect("the socket closed well before the 3 s close-ok timeout");
}

// ---------------------------------------------------------------------------------------------
// Firehose tracer
// ---------------------------------------------------------------------------------------------

fn long_string(s: &str) -> FieldValue {
    FieldValue::LongString(Bytes::copy_from_slice(s.as_bytes()))
}

fn texts(items: &[&str]) -> FieldValue {
    FieldValue::Array(items.iter().map(|s| long_string(s)).collect())
}

/// A trace message's headers as a test expects them (see `check_trace_headers`).
type TraceHeaders<'a> = Vec<(&'a str, Option<FieldValue>)>;

/// A trace message's headers, checked key by key in wire order; None checks only the form
/// of a value that differs between runs (node, connection).
fn check_trace_headers(props: &BasicProperties, expected: &TraceHeaders) {
    let headers = props.headers.as_ref().expect("a trace message has headers");
    let keys: Vec<&str> = headers.iter().map(|(k, _)| k).collect();
    let want: Vec<&str> = expected.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, want, "header order");
    for (k, v) in expected {
        let got = headers.get(k).expect("present");
        match (k, v) {
            (_, Some(v)) => assert_eq!(got, v, "{k}"),
            (&"node", None) => {
                assert!(matches!(got, FieldValue::LongString(n) if n.starts_with(b"rabbit@")))
            }
            (&"connection", None) => assert!(
                matches!(got, FieldValue::LongString(n) if String::from_utf8_lossy(n).contains("127.0.0.1:")
                    && String::from_utf8_lossy(n).contains(" -> ")),
                "{got:?}"
            ),
            _ => {}
        }
    }
    // The trace message carries nothing but its headers.
    let bare = BasicProperties {
        headers: props.headers.clone(),
        ..Default::default()
    };
    assert_eq!(*props, bare);
}

/// The firehose tracer as RabbitMQ 3.10.8 runs it on this machine (`rabbitmqctl trace_on`,
/// pika reading amq.rabbitmq.trace): a publish is traced as `publish.<exchange>` and a
/// delivery (here by basic.get) as `deliver.<queue>`, with the same headers in the same
/// order and the same types (the properties table lists the last property first, integers
/// as 'I'); BCC keys are routing keys but the header is gone; the trace message itself has
/// only headers; the trace exchange is internal (403); a trace queue's own deliveries are
/// not traced; and tracing off stops it.
#[tokio::test]
async fn the_firehose_traces_publishes_and_deliveries_as_rabbitmq_does() {
    let b = broker();
    let mut r = Raw::ready(&b).await;
    r.open_channel(1).await;
    let tq = r.declare(1, "", true).await;
    r.bind(1, &tq, "amq.rabbitmq.trace", "#").await;
    let work = r.declare(1, "", true).await;
    let vhost = b.core().vhost("/").expect("vhost /");
    vhost.set_tracing(true);

    let mut message_headers = FieldTable::new();
    message_headers.insert("h1", long_string("v1"));
    message_headers.insert("n", FieldValue::I32(5));
    let full = BasicProperties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("utf8".into()),
        headers: Some(message_headers.clone()),
        delivery_mode: Some(2),
        priority: Some(3),
        correlation_id: Some("cid".into()),
        reply_to: Some("rq".into()),
        expiration: Some("60000".into()),
        message_id: Some("mid".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("t".into()),
        user_id: Some("guest".into()),
        app_id: Some("app".into()),
        cluster_id: Some("cl".into()),
    };
    r.send_raw(&publish_to(1, ("", &work), &full, b"hello", 131072))
        .await;
    let none = BasicProperties::default();
    r.send_raw(&publish_to(
        1,
        ("amq.direct", "nowhere"),
        &none,
        b"lost",
        131072,
    ))
    .await;
    let mut cc = FieldTable::new();
    cc.insert("CC", texts(&[&work]));
    cc.insert("BCC", texts(&["x.y"]));
    let sender_selected = BasicProperties {
        headers: Some(cc),
        ..Default::default()
    };
    let to_topic = publish_to(1, ("amq.topic", "a.b"), &sender_selected, b"cc", 131072);
    r.send_raw(&to_topic).await;
    let (got, _) = r.get(1, &work, false).await.expect("the message");
    r.send(
        1,
        Method::BasicNack(BasicNack {
            delivery_tag: got.delivery_tag,
            multiple: false,
            requeue: true,
        }),
    )
    .await;
    let (again, _) = r.get(1, &work, true).await.expect("requeued");
    assert!(again.redelivered);
    vhost.set_tracing(false);

    let properties_table = {
        let mut t = FieldTable::new();
        for (k, v) in [
            ("cluster_id", long_string("cl")),
            ("app_id", long_string("app")),
            ("user_id", long_string("guest")),
            ("type", long_string("t")),
            ("timestamp", FieldValue::I32(1_700_000_000)),
            ("message_id", long_string("mid")),
            ("expiration", long_string("60000")),
            ("reply_to", long_string("rq")),
            ("correlation_id", long_string("cid")),
            ("priority", FieldValue::I32(3)),
            ("delivery_mode", FieldValue::I32(2)),
            ("headers", FieldValue::Table(message_headers)),
            ("content_encoding", long_string("utf8")),
            ("content_type", long_string("text/plain")),
        ] {
            t.insert(k, v);
        }
        FieldValue::Table(t)
    };
    let published = |exchange: &str, keys: &[&str], props: FieldValue, routed: &[&str]| {
        vec![
            ("exchange_name", Some(long_string(exchange))),
            ("routing_keys", Some(texts(keys))),
            ("properties", Some(props)),
            ("node", None),
            ("vhost", Some(long_string("/"))),
            ("connection", None),
            ("channel", Some(FieldValue::I32(1))),
            ("user", Some(long_string("guest"))),
            ("routed_queues", Some(texts(routed))),
        ]
    };
    let delivered = |redelivered: i32| {
        vec![
            ("exchange_name", Some(long_string(""))),
            ("routing_keys", Some(texts(&[&work]))),
            ("properties", Some(properties_table.clone())),
            ("node", None),
            ("redelivered", Some(FieldValue::I32(redelivered))),
            ("vhost", Some(long_string("/"))),
            ("connection", None),
            ("channel", Some(FieldValue::I32(1))),
            ("user", Some(long_string("guest"))),
        ]
    };
    let mut cc_only = FieldTable::new();
    cc_only.insert("CC", texts(&[&work]));
    let mut cc_properties = FieldTable::new();
    cc_properties.insert("headers", FieldValue::Table(cc_only));
    let deliver_key = format!("deliver.{work}");
    let expected: Vec<(&str, &[u8], TraceHeaders)> = vec![
        (
            "publish.",
            b"hello",
            published("", &[&work], properties_table.clone(), &[&work]),
        ),
        (
            "publish.amq.direct",
            b"lost",
            published(
                "amq.direct",
                &["nowhere"],
                FieldValue::Table(FieldTable::new()),
                &[],
            ),
        ),
        (
            "publish.amq.topic",
            b"cc",
            published(
                "amq.topic",
                &["a.b", &work, "x.y"],
                FieldValue::Table(cc_properties),
                &[],
            ),
        ),
        (&deliver_key, b"hello", delivered(0)),
        (&deliver_key, b"hello", delivered(1)),
    ];
    for (key, body, headers) in expected {
        let (ok, props, got) = r.get_whole(1, &tq).await;
        assert_eq!(
            (ok.exchange.as_str(), ok.routing_key.as_str()),
            ("amq.rabbitmq.trace", key)
        );
        assert_eq!(got, body, "{key}");
        check_trace_headers(&props, &headers);
    }
    assert!(r.get(1, &tq, true).await.is_none(), "traced while off");

    // A trace queue's own deliveries are not traced: no loop.
    vhost.set_tracing(true);
    r.send_raw(&publish_frames(1, &work, b"once", 131072)).await;
    let (ok, _, _) = r.get_whole(1, &tq).await;
    assert_eq!(ok.routing_key, "publish.");
    assert!(
        r.get(1, &tq, true).await.is_none(),
        "the trace queue's get was traced"
    );

    // Only the broker publishes to the trace exchange.
    r.send_raw(&publish_to(
        1,
        ("amq.rabbitmq.trace", "x"),
        &none,
        b"y",
        131072,
    ))
    .await;
    r.expect_channel_close(
        1,
        403,
        "ACCESS_REFUSED - cannot publish to internal exchange 'amq.rabbitmq.trace' in vhost '/'",
        (60, 40),
    )
    .await;
}
