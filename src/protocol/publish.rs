//! basic.publish with its content header and body, read in place from the read buffer: the
//! publisher's hot path.
//!
//! Nearly all of a publisher's traffic is that three-frame command, already whole in the
//! buffer. Decoded frame by frame it builds a `Method` with two owned strings, shares the
//! buffer with a `Bytes` per content frame and walks the assembler through three states; read
//! in place it borrows everything from the buffer and the message is built with one copy.
//! This reader only takes what is well formed and simple (body in at most one frame); for
//! anything else it answers `None` and the frame-by-frame path handles the bytes, errors
//! included, so both paths behave the same.

use super::frame::{FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_METHOD, FRAME_OVERHEAD};
use super::properties::PublishProperties;
use super::wire::{finish, finish_exact, octet, short, shortstr_ref};

/// One basic.publish command borrowed from the buffer it was read from.
#[derive(Debug, PartialEq)]
pub struct PublishCommand<'a> {
    pub channel: u16,
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub mandatory: bool,
    pub immediate: bool,
    pub properties: PublishProperties,
    /// The property flags and list, exactly as sent.
    pub raw_properties: &'a [u8],
    pub body: &'a [u8],
    /// How many bytes of the buffer the command's frames take.
    pub len: usize,
}

impl<'a> PublishCommand<'a> {
    /// Reads a publish command from the start of `buf` if all of it is there, well formed,
    /// its body in one frame of at most `max_body` bytes (none when empty).
    pub fn read(buf: &'a [u8], frame_max: u32, max_body: usize) -> Option<PublishCommand<'a>> {
        let (channel, method, at) = frame(buf, FRAME_METHOD, frame_max)?;
        let args = method.strip_prefix(&[0, 60, 0, 40])?;
        let (args, _reserved) = short(args).ok()?;
        let (args, exchange) = shortstr_ref(args).ok()?;
        let (args, routing_key) = shortstr_ref(args).ok()?;
        let bits = finish_exact(octet(args)).ok()?;

        let (header_channel, header, header_len) = frame(&buf[at..], FRAME_HEADER, frame_max)?;
        let mut len = at + header_len;
        let (rest, class_id) = short(header).ok()?;
        let (rest, _weight) = short(rest).ok()?;
        let (raw_properties, body_size) = super::wire::longlong(rest).ok()?;
        if header_channel != channel || class_id != 60 || body_size > max_body as u64 {
            return None;
        }
        let properties = finish(PublishProperties::scan(raw_properties)).ok()?;

        let body: &[u8] = if body_size == 0 {
            &[]
        } else {
            let (body_channel, body, body_len) = frame(&buf[len..], FRAME_BODY, frame_max)?;
            if body_channel != channel || body.len() as u64 != body_size {
                return None;
            }
            len += body_len;
            body
        };
        Some(PublishCommand {
            channel,
            exchange,
            routing_key,
            mandatory: bits & 1 != 0,
            immediate: bits & 2 != 0,
            properties,
            raw_properties,
            body,
            len,
        })
    }
}

/// A whole frame of `kind` at the start of `buf`, within `frame_max` and properly ended:
/// its channel, its payload and its length on the wire.
fn frame(buf: &[u8], kind: u8, frame_max: u32) -> Option<(u16, &[u8], usize)> {
    let header: &[u8; 7] = buf.get(..7)?.try_into().ok()?;
    let channel = u16::from_be_bytes([header[1], header[2]]);
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
    let total = size.checked_add(FRAME_OVERHEAD)?;
    if header[0] != kind || (frame_max != 0 && total > frame_max as usize) {
        return None;
    }
    match buf.get(..total)? {
        [.., end] if *end == FRAME_END => Some((channel, &buf[7..total - 1], total)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{write_content, write_frame};
    use crate::protocol::methods::BasicPublish;
    use crate::protocol::{BasicProperties, Frame, Method};
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn command(channel: u16, body: &[u8], frame_max: u32) -> (BytesMut, BasicProperties) {
        let props = BasicProperties {
            delivery_mode: Some(2),
            content_type: Some("text/plain".into()),
            ..Default::default()
        };
        let method = Method::BasicPublish(BasicPublish {
            exchange: "amq.topic".into(),
            routing_key: "a.b".into(),
            mandatory: true,
            ..Default::default()
        });
        let mut out = BytesMut::new();
        write_content(
            &mut out,
            channel,
            &method,
            &props.to_bytes(),
            body,
            frame_max,
        );
        (out, props)
    }

    #[test]
    fn reads_a_whole_publish_in_place() {
        let (mut buf, props) = command(3, b"hello", 4096);
        buf.extend_from_slice(b"next");
        let p = PublishCommand::read(&buf, 4096, 4096).expect("a whole publish");
        assert_eq!(
            (p.channel, p.exchange, p.routing_key),
            (3, "amq.topic", "a.b")
        );
        assert!(p.mandatory && !p.immediate && p.properties.persistent);
        assert_eq!(p.raw_properties, &props.to_bytes()[..]);
        assert_eq!(p.body, b"hello");
        assert_eq!(&buf[p.len..], b"next");
    }

    #[test]
    fn an_empty_body_has_no_body_frame() {
        let (buf, _) = command(1, b"", 4096);
        let p = PublishCommand::read(&buf, 4096, 4096).expect("a whole publish");
        assert_eq!((p.body, p.len), (&b""[..], buf.len()));
    }

    #[test]
    fn leaves_what_it_does_not_take_to_the_frame_by_frame_path() {
        let (whole, _) = command(1, &[7; 100], 4096);
        // Incomplete, at every length.
        for cut in 0..whole.len() {
            assert_eq!(PublishCommand::read(&whole[..cut], 4096, 4096), None);
        }
        // A body over the caller's limit, or split over frames.
        assert_eq!(PublishCommand::read(&whole, 4096, 99), None);
        let (split, _) = command(1, &[7; 100], 64);
        assert_eq!(PublishCommand::read(&split, 0, 4096), None);
        // Frames over frame-max, a wrong frame end, a header on another channel.
        assert_eq!(PublishCommand::read(&whole, 40, 4096), None);
        let mut bad_end = whole.clone();
        let last = bad_end.len() - 1;
        bad_end[last] = 0;
        assert_eq!(PublishCommand::read(&bad_end, 4096, 4096), None);
        let (other, _) = command(2, &[7; 100], 4096);
        let method_len = 7 + u32::from_be_bytes(whole[3..7].try_into().unwrap()) as usize + 1;
        let mut mixed = whole[..method_len].to_vec();
        mixed.extend_from_slice(&other[method_len..]);
        assert_eq!(PublishCommand::read(&mixed, 4096, 4096), None);
        // Any other method.
        let mut flow = BytesMut::new();
        write_frame(&mut flow, FRAME_METHOD, 1, |o| {
            Method::ChannelFlow(Default::default()).encode(o)
        });
        assert_eq!(PublishCommand::read(&flow, 4096, 4096), None);
    }

    proptest! {
        /// Whatever the bytes, the in-place reader takes only a command the frame decoder
        /// reads the same way: a basic.publish, a header of class 60 on the same channel with
        /// the same properties, and the same body.
        #[test]
        fn agrees_with_the_frame_decoder(
            body in proptest::collection::vec(any::<u8>(), 0..64),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let (mut buf, _) = command(1, &body, 4096);
            for (at, byte) in flips {
                let i = at.index(buf.len());
                buf[i] = byte;
            }
            let Some(p) = PublishCommand::read(&buf, 4096, 4096) else {
                return Ok(());
            };
            let mut frames = BytesMut::from(&buf[..p.len]);
            let method = Frame::decode(&mut frames, 4096);
            let Ok(Some(Frame::Method(ch, Method::BasicPublish(m)))) = method else {
                panic!("the frame decoder read {method:?}");
            };
            prop_assert_eq!(ch, p.channel);
            prop_assert_eq!((m.exchange.as_str(), m.routing_key.as_str()), (p.exchange, p.routing_key));
            prop_assert_eq!((m.mandatory, m.immediate), (p.mandatory, p.immediate));
            let header = Frame::decode(&mut frames, 4096);
            let Ok(Some(Frame::Header(ch, h))) = header else {
                panic!("the frame decoder read {header:?}");
            };
            prop_assert_eq!((ch, h.class_id, h.body_size), (p.channel, 60, p.body.len() as u64));
            prop_assert_eq!(&h.raw_properties[..], p.raw_properties);
            prop_assert_eq!(h.properties, p.properties);
            if !p.body.is_empty() {
                let body = Frame::decode(&mut frames, 4096);
                prop_assert_eq!(body, Ok(Some(Frame::Body(p.channel, bytes::Bytes::copy_from_slice(p.body)))));
            }
            prop_assert!(frames.is_empty());
        }
    }
}
