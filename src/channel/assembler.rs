//! The content assembler: method frame, then content header, then body frames, into one
//! command. Pure state, no I/O, like RabbitMQ's `rabbit_command_assembler`.

use crate::error::AmqpError;
use crate::protocol::{ContentHeader, Method};
use bytes::{Bytes, BytesMut};

/// One frame's worth of input for a channel.
#[derive(Debug)]
pub enum ChannelFrame {
    Method(Method),
    Header(ContentHeader),
    Body(Bytes),
}

/// A complete command: a method, and its content when the method carries one.
#[derive(Debug)]
pub struct Command {
    pub method: Method,
    pub content: Option<Content>,
}

#[derive(Debug, Clone)]
pub struct Content {
    pub header: ContentHeader,
    pub body: Bytes,
}

#[derive(Debug, Default)]
pub enum Assembler {
    #[default]
    Idle,
    AwaitingHeader(Method),
    AwaitingBody {
        method: Method,
        header: ContentHeader,
        body: BodyBuffer,
    },
}

/// A body arriving in frames: a single frame stays the frame's own `Bytes` (no copy).
#[derive(Debug, Default)]
pub struct BodyBuffer {
    first: Option<Bytes>,
    joined: BytesMut,
    len: u64,
}

impl BodyBuffer {
    fn push(&mut self, part: Bytes) {
        self.len += part.len() as u64;
        match self.first.take() {
            None if self.joined.is_empty() => self.first = Some(part),
            None => self.joined.extend_from_slice(&part),
            Some(first) => {
                self.joined.extend_from_slice(&first);
                self.joined.extend_from_slice(&part);
            }
        }
    }

    fn finish(self) -> Bytes {
        match self.first {
            Some(b) => b,
            None => self.joined.freeze(),
        }
    }
}

impl Assembler {
    /// The body size announced by the content header of a command still receiving its
    /// body (0 otherwise): what the connection may yet have to hold for this channel.
    pub fn announced(&self) -> u64 {
        match self {
            Assembler::AwaitingBody { header, .. } => header.body_size,
            _ => 0,
        }
    }

    /// Feeds one frame; returns a command once one is complete. A content header announcing
    /// a body over `max_size` is refused before any of the body is buffered. The state is a
    /// few hundred bytes, so frames are checked against it in place and it is moved out only
    /// when a command completes or the content moves on a step.
    pub fn feed(
        &mut self,
        frame: ChannelFrame,
        max_size: u64,
    ) -> Result<Option<Command>, AmqpError> {
        match frame {
            ChannelFrame::Method(method) => self.method(method),
            ChannelFrame::Header(header) => self.header(header, max_size),
            ChannelFrame::Body(part) => self.body(part),
        }
    }

    fn method(&mut self, method: Method) -> Result<Option<Command>, AmqpError> {
        let err = match self {
            Assembler::Idle if method.has_content() => {
                *self = Assembler::AwaitingHeader(method);
                return Ok(None);
            }
            Assembler::Idle => {
                return Ok(Some(Command {
                    method,
                    content: None,
                }));
            }
            Assembler::AwaitingHeader(m) => Self::header_expected(m),
            Assembler::AwaitingBody { method: m, .. } => Self::body_expected(m),
        };
        *self = Assembler::Idle;
        Err(err)
    }

    fn header(
        &mut self,
        header: ContentHeader,
        max_size: u64,
    ) -> Result<Option<Command>, AmqpError> {
        let method = match std::mem::take(self) {
            Assembler::AwaitingHeader(method) => method,
            Assembler::Idle => return Err(Self::method_expected()),
            Assembler::AwaitingBody { method, .. } => return Err(Self::body_expected(&method)),
        };
        let ids = (method.class_id(), method.method_id());
        if header.class_id != method.class_id() {
            return Err(AmqpError::unexpected_frame(format!(
                "expected content header for class {}, got one for class {} instead",
                method.class_id(),
                header.class_id
            ))
            .during(ids.0, ids.1));
        }
        if header.body_size > max_size {
            return Err(AmqpError::precondition_failed(format!(
                "message size {} is larger than configured max size {max_size}",
                header.body_size
            ))
            .during(ids.0, ids.1));
        }
        if header.body_size == 0 {
            return Ok(Some(Command {
                method,
                content: Some(Content {
                    header,
                    body: Bytes::new(),
                }),
            }));
        }
        *self = Assembler::AwaitingBody {
            method,
            header,
            body: BodyBuffer::default(),
        };
        Ok(None)
    }

    fn body(&mut self, part: Bytes) -> Result<Option<Command>, AmqpError> {
        let (method, header, body) = match self {
            Assembler::AwaitingBody {
                method,
                header,
                body,
            } => (method, header, body),
            Assembler::Idle => return Err(Self::method_expected()),
            Assembler::AwaitingHeader(m) => {
                let err = Self::header_expected(m);
                *self = Assembler::Idle;
                return Err(err);
            }
        };
        if body.len + part.len() as u64 > header.body_size {
            let err = AmqpError::frame_error("content body frame exceeds remaining content size")
                .during(method.class_id(), method.method_id());
            *self = Assembler::Idle;
            return Err(err);
        }
        body.push(part);
        if body.len < header.body_size {
            return Ok(None);
        }
        match std::mem::take(self) {
            Assembler::AwaitingBody {
                method,
                header,
                body,
            } => Ok(Some(Command {
                method,
                content: Some(Content {
                    header,
                    body: body.finish(),
                }),
            })),
            // Matched as AwaitingBody just above.
            _ => Ok(None),
        }
    }

    /// RabbitMQ's 505 for a content frame on a channel between commands.
    pub fn method_expected() -> AmqpError {
        AmqpError::unexpected_frame("expected method frame, got non method frame instead")
    }

    fn header_expected(method: &Method) -> AmqpError {
        AmqpError::unexpected_frame(format!(
            "expected content header for class {}, got non content header frame instead",
            method.class_id()
        ))
        .during(method.class_id(), method.method_id())
    }

    fn body_expected(method: &Method) -> AmqpError {
        AmqpError::unexpected_frame("expected content body, got non content body frame instead")
            .during(method.class_id(), method.method_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code;
    use crate::protocol::methods::{BasicPublish, ChannelFlow};

    const MAX: u64 = crate::broker::message::DEFAULT_MAX_MESSAGE_SIZE;

    fn publish() -> ChannelFrame {
        ChannelFrame::Method(Method::BasicPublish(BasicPublish::default()))
    }

    fn header(class_id: u16, body_size: u64) -> ChannelFrame {
        ChannelFrame::Header(ContentHeader {
            class_id,
            body_size,
            properties: Default::default(),
            raw_properties: Bytes::from_static(&[0, 0]),
        })
    }

    fn body(b: &'static [u8]) -> ChannelFrame {
        ChannelFrame::Body(Bytes::from_static(b))
    }

    #[test]
    fn assembles_method_header_and_bodies() {
        let mut a = Assembler::default();
        assert!(a.feed(publish(), MAX).unwrap().is_none());
        assert!(a.feed(header(60, 5), MAX).unwrap().is_none());
        assert!(a.feed(body(b"he"), MAX).unwrap().is_none());
        let cmd = a.feed(body(b"llo"), MAX).unwrap().expect("complete");
        assert_eq!(&cmd.content.unwrap().body[..], b"hello");
        assert!(matches!(a, Assembler::Idle));
    }

    #[test]
    fn empty_body_completes_at_the_header() {
        let mut a = Assembler::default();
        a.feed(publish(), MAX).unwrap();
        assert!(a.feed(header(60, 0), MAX).unwrap().is_some());
    }

    #[test]
    fn methods_without_content_pass_straight_through() {
        let mut a = Assembler::default();
        let m = Method::ChannelFlow(ChannelFlow { active: true });
        assert!(a.feed(ChannelFrame::Method(m), MAX).unwrap().is_some());
    }

    #[test]
    fn body_without_header_is_unexpected() {
        let mut a = Assembler::default();
        a.feed(publish(), MAX).unwrap();
        let e = a.feed(body(b"x"), MAX).unwrap_err();
        assert_eq!(e.code, code::UNEXPECTED_FRAME);
        assert_eq!((e.class_id, e.method_id), (60, 40));
        assert!(
            e.reply_text()
                .contains("expected content header for class 60")
        );
    }

    #[test]
    fn header_without_method_is_unexpected() {
        let e = Assembler::default().feed(header(60, 1), MAX).unwrap_err();
        assert_eq!(e.code, code::UNEXPECTED_FRAME);
        assert!(e.reply_text().contains("expected method frame"));
    }

    #[test]
    fn method_in_the_middle_of_a_body_is_unexpected() {
        let mut a = Assembler::default();
        a.feed(publish(), MAX).unwrap();
        a.feed(header(60, 3), MAX).unwrap();
        a.feed(body(b"a"), MAX).unwrap();
        let e = a.feed(publish(), MAX).unwrap_err();
        assert_eq!(e.code, code::UNEXPECTED_FRAME);
    }

    #[test]
    fn wrong_header_class_is_unexpected() {
        let mut a = Assembler::default();
        a.feed(publish(), MAX).unwrap();
        let e = a.feed(header(50, 1), MAX).unwrap_err();
        assert!(e.reply_text().contains("got one for class 50"));
    }

    #[test]
    fn too_much_body_is_a_frame_error() {
        let mut a = Assembler::default();
        a.feed(publish(), MAX).unwrap();
        a.feed(header(60, 2), MAX).unwrap();
        assert_eq!(
            a.feed(body(b"abc"), MAX).unwrap_err().code,
            code::FRAME_ERROR
        );
    }

    #[test]
    fn oversized_message_is_refused_at_the_header() {
        let mut a = Assembler::default();
        a.feed(publish(), MAX).unwrap();
        let e = a.feed(header(60, MAX + 1), MAX).unwrap_err();
        assert_eq!(e.code, code::PRECONDITION_FAILED);
    }

    #[test]
    fn a_configured_limit_admits_its_own_size_and_refuses_one_byte_more() {
        let mut a = Assembler::default();
        a.feed(publish(), 100).unwrap();
        assert!(a.feed(header(60, 100), 100).unwrap().is_none());
        let mut a = Assembler::default();
        a.feed(publish(), 100).unwrap();
        let e = a.feed(header(60, 101), 100).unwrap_err();
        assert_eq!(
            e.reply_text(),
            "PRECONDITION_FAILED - message size 101 is larger than configured max size 100"
        );
        assert_eq!((e.class_id, e.method_id), (60, 40));
    }
}
