//! Frames: the 7-byte header (type, channel, size), the payload and the frame-end octet.

use super::methods::{Method, MethodError};
use super::properties::ContentHeader;
use super::wire::WireError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use nom::number::streaming::{be_u8, be_u16, be_u32};

pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
pub const FRAME_END: u8 = 0xCE;
/// Header (7) plus frame-end (1): what a frame costs beyond its payload.
pub const FRAME_OVERHEAD: usize = 8;
/// The smallest frame-max a peer may negotiate.
pub const FRAME_MIN_SIZE: u32 = 4096;

/// One AMQP frame, with the channel it travels on.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Method(u16, Method),
    Header(u16, ContentHeader),
    Body(u16, Bytes),
    Heartbeat(u16),
}

/// Why the byte stream cannot go on; all of these are connection errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame end byte was {end:#04x}, not 0xce")]
    BadFrameEnd { kind: u8, end: u8, payload: Bytes },
    #[error("frame size {size} exceeds the negotiated frame max {max}")]
    TooLarge { kind: u8, size: u32, max: u32 },
    #[error("unknown frame type {kind}")]
    UnknownType { kind: u8, payload: Bytes },
    #[error("{0}")]
    Method(#[from] MethodError),
    #[error("bad content header on channel {channel}: {error}")]
    Header { channel: u16, error: WireError },
}

impl Frame {
    pub fn channel(&self) -> u16 {
        match self {
            Frame::Method(c, _) | Frame::Header(c, _) | Frame::Body(c, _) | Frame::Heartbeat(c) => {
                *c
            }
        }
    }

    /// Decodes the first complete frame in `buf`, consuming it. `Ok(None)` asks for more bytes.
    ///
    /// The size field is checked against `frame_max` before anything waits for the payload, so
    /// a peer cannot make the broker buffer more than it agreed to.
    pub fn decode(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, FrameError> {
        let Some((kind, channel, size)) = peek_header(buf) else {
            return Ok(None);
        };
        if frame_max != 0 && size as u64 + FRAME_OVERHEAD as u64 > frame_max as u64 {
            return Err(FrameError::TooLarge {
                kind,
                size,
                max: frame_max,
            });
        }
        let total = 7 + size as usize + 1;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let end = buf[total - 1];
        if end != FRAME_END {
            return Err(FrameError::BadFrameEnd {
                kind,
                end,
                payload: Bytes::copy_from_slice(&buf[7..total - 1]),
            });
        }
        if kind == FRAME_METHOD {
            // Decoded straight from the buffer: a method keeps nothing of its frame, and
            // sharing the buffer with a `Bytes` costs two atomic reference counts.
            let method = Method::decode(&buf[7..total - 1]);
            buf.advance(total);
            return Ok(Some(Frame::Method(channel, method?)));
        }
        buf.advance(7);
        let payload = buf.split_to(size as usize).freeze();
        buf.advance(1);
        Ok(Some(match kind {
            FRAME_HEADER => Frame::Header(
                channel,
                ContentHeader::decode(&payload)
                    .map_err(|error| FrameError::Header { channel, error })?,
            ),
            FRAME_BODY => Frame::Body(channel, payload),
            // A heartbeat carries nothing; RabbitMQ calls one that does an unknown frame.
            FRAME_HEARTBEAT if payload.is_empty() => Frame::Heartbeat(channel),
            other => {
                return Err(FrameError::UnknownType {
                    kind: other,
                    payload,
                });
            }
        }))
    }

    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Method(ch, m) => write_frame(out, FRAME_METHOD, *ch, |out| m.encode(out)),
            Frame::Header(ch, h) => write_frame(out, FRAME_HEADER, *ch, |out| {
                ContentHeader::encode_raw(out, h.class_id, h.body_size, &h.raw_properties)
            }),
            Frame::Body(ch, b) => write_frame(out, FRAME_BODY, *ch, |out| out.put_slice(b)),
            Frame::Heartbeat(ch) => write_frame(out, FRAME_HEARTBEAT, *ch, |_| {}),
        }
    }
}

fn peek_header(buf: &[u8]) -> Option<(u8, u16, u32)> {
    let (i, kind) = be_u8::<_, ()>(buf).ok()?;
    let (i, channel) = be_u16::<_, ()>(i).ok()?;
    let (_, size) = be_u32::<_, ()>(i).ok()?;
    Some((kind, channel, size))
}

/// Writes one frame, filling in the size once the payload is written.
pub fn write_frame(
    out: &mut BytesMut,
    kind: u8,
    channel: u16,
    payload: impl FnOnce(&mut BytesMut),
) {
    out.put_u8(kind);
    out.put_u16(channel);
    let at = out.len();
    out.put_u32(0);
    payload(out);
    let size = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    out.put_u8(FRAME_END);
}

/// Writes a method with content: the method frame, the header frame and as many body frames as
/// `frame_max` requires (none for an empty body).
pub fn write_content(
    out: &mut BytesMut,
    channel: u16,
    method: &Method,
    raw_properties: &[u8],
    body: &[u8],
    frame_max: u32,
) {
    write_frame(out, FRAME_METHOD, channel, |out| method.encode(out));
    write_body(out, channel, raw_properties, body, frame_max);
}

/// Writes basic.deliver (60, 60) with its content straight from borrowed parts, without
/// building a `Method`: the hot path of every consumer.
#[allow(clippy::too_many_arguments)] // the fields of basic.deliver, flattened on purpose
pub fn write_deliver(
    out: &mut BytesMut,
    channel: u16,
    consumer_tag: &str,
    delivery_tag: u64,
    redelivered: bool,
    exchange: &str,
    routing_key: &str,
    raw_properties: &[u8],
    body: &[u8],
    frame_max: u32,
) {
    use super::wire::put_shortstr;
    write_frame(out, FRAME_METHOD, channel, |out| {
        out.put_u16(60);
        out.put_u16(60);
        put_shortstr(out, consumer_tag);
        out.put_u64(delivery_tag);
        out.put_u8(u8::from(redelivered));
        put_shortstr(out, exchange);
        put_shortstr(out, routing_key);
    });
    write_body(out, channel, raw_properties, body, frame_max);
}

fn write_body(
    out: &mut BytesMut,
    channel: u16,
    raw_properties: &[u8],
    body: &[u8],
    frame_max: u32,
) {
    write_frame(out, FRAME_HEADER, channel, |out| {
        ContentHeader::encode_raw(out, 60, body.len() as u64, raw_properties)
    });
    let chunk = (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    for part in body.chunks(chunk) {
        write_frame(out, FRAME_BODY, channel, |out| out.put_slice(part));
    }
}

/// A frame as RabbitMQ describes it in errors: `type 1, all octets = <<0,20,0,10,0>>`, with
/// Erlang's binary syntax (`<<"abc">>` when printable) and only the first 16 octets of a
/// longer payload.
pub fn describe_frame(kind: u8, payload: &[u8]) -> String {
    let (which, shown) = if payload.len() > 16 {
        ("first 16", &payload[..16])
    } else {
        ("all", payload)
    };
    let printable = !shown.is_empty() && shown.iter().all(|b| (32..127).contains(b));
    let body = if printable {
        let text: String = shown
            .iter()
            .flat_map(|&b| match b {
                b'"' => vec!['\\', '"'],
                b'\\' => vec!['\\', '\\'],
                b => vec![char::from(b)],
            })
            .collect();
        format!("\"{text}\"")
    } else {
        shown
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("type {kind}, {which} octets = <<{body}>>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::methods::arb_method;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_method_round_trips(m in arb_method(), ch in any::<u16>()) {
            let mut out = BytesMut::new();
            Frame::Method(ch, m).encode(&mut out);
            let wire = out.clone();
            let frame = Frame::decode(&mut out, 0).expect("decodes").expect("complete");
            prop_assert!(out.is_empty());
            let mut again = BytesMut::new();
            frame.encode(&mut again);
            prop_assert_eq!(wire, again);
        }

        #[test]
        fn every_prefix_asks_for_more(m in arb_method()) {
            let mut out = BytesMut::new();
            Frame::Method(1, m).encode(&mut out);
            for cut in 0..out.len() {
                let mut part = BytesMut::from(&out[..cut]);
                prop_assert_eq!(Frame::decode(&mut part, 0), Ok(None));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = Frame::decode(&mut buf, 131072) {}
        }
    }

    #[test]
    fn oversized_frame_is_rejected_from_its_header() {
        let mut buf = BytesMut::from(&[FRAME_BODY, 0, 1, 0x7f, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            Frame::decode(&mut buf, 131072),
            Err(FrameError::TooLarge {
                kind: FRAME_BODY,
                size: 0x7fff_ffff,
                max: 131072
            })
        );
        assert!(
            buf.capacity() < 1 << 20,
            "nothing reserved for the claimed size"
        );
    }

    #[test]
    fn frames_are_described_as_rabbitmq_does() {
        assert_eq!(
            describe_frame(1, &[0, 20, 0, 10, 0]),
            "type 1, all octets = <<0,20,0,10,0>>"
        );
        assert_eq!(
            describe_frame(9, b"abc"),
            "type 9, all octets = <<\"abc\">>"
        );
        assert_eq!(describe_frame(8, b""), "type 8, all octets = <<>>");
        assert!(describe_frame(3, &[1u8; 40]).starts_with("type 3, first 16 octets = <<1,1,"));
    }

    #[test]
    fn bad_frame_end_is_reported() {
        let mut buf = BytesMut::from(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, 0xAB][..]);
        assert_eq!(
            Frame::decode(&mut buf, 131072),
            Err(FrameError::BadFrameEnd {
                kind: FRAME_HEARTBEAT,
                end: 0xAB,
                payload: Bytes::new()
            })
        );
    }

    #[test]
    fn direct_deliver_encoding_matches_the_method_encoder() {
        let m = Method::BasicDeliver(crate::protocol::methods::BasicDeliver {
            consumer_tag: "ctag".into(),
            delivery_tag: 42,
            redelivered: true,
            exchange: "x".into(),
            routing_key: "k".into(),
        });
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        write_content(&mut a, 3, &m, &[0, 0], b"body", 4096);
        write_deliver(
            &mut b,
            3,
            "ctag",
            42,
            true,
            "x",
            "k",
            &[0, 0],
            b"body",
            4096,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn content_is_split_at_frame_max() {
        let mut out = BytesMut::new();
        let m = Method::BasicDeliver(Default::default());
        write_content(&mut out, 1, &m, &[0, 0], &[7u8; 10000], 4096);
        let mut bodies = 0;
        while let Some(f) = Frame::decode(&mut out, 4096).expect("valid") {
            if let Frame::Body(_, b) = f {
                assert!(b.len() <= 4088);
                bodies += 1;
            }
        }
        assert_eq!(bodies, 3);
    }
}
