//! The frame decoder over arbitrary bytes, and the in-place publish reader against it: where
//! `PublishCommand::read` takes a command, decoding the same bytes frame by frame must give
//! the same publish (the fast path proven equal to the slow one).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren::protocol::Method;
use warren::protocol::frame::Frame;
use warren::protocol::publish::PublishCommand;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let frame_max = [4096u32, 8192, 131_072, 0][usize::from(pick % 4)];
    let fast = PublishCommand::read(
        data,
        if frame_max == 0 { 131_072 } else { frame_max },
        1 << 20,
    );
    let mut buf = BytesMut::from(data);
    let mut frames = Vec::new();
    while let Ok(Some(f)) = Frame::decode(&mut buf, frame_max) {
        frames.push(f);
        if frames.len() > 1000 {
            break;
        }
    }
    if let Some(p) = fast {
        match frames.first() {
            Some(Frame::Method(ch, Method::BasicPublish(m))) => {
                assert_eq!(*ch, p.channel);
                assert_eq!(m.exchange, p.exchange);
                assert_eq!(m.routing_key, p.routing_key);
                assert_eq!(m.mandatory, p.mandatory);
            }
            other => panic!("the fast path took a publish the decoder reads as {other:?}"),
        }
        match frames.get(1) {
            Some(Frame::Header(ch, h)) => {
                assert_eq!(*ch, p.channel);
                assert_eq!(h.body_size, p.body.len() as u64);
            }
            other => panic!("no content header after the publish: {other:?}"),
        }
    }
});
