//! Frames decoded from arbitrary bytes fed to one channel's content assembler: every
//! sequence ends in a command, an AMQP error, or a wait for more, and a completed command's
//! body is exactly the size its header announced.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use warren::channel::assembler::{Assembler, ChannelFrame};
use warren::protocol::frame::Frame;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut assembler = Assembler::default();
    let mut n = 0;
    while let Ok(Some(frame)) = Frame::decode(&mut buf, 131_072) {
        n += 1;
        if n > 1000 {
            break;
        }
        let frame = match frame {
            Frame::Method(_, m) => ChannelFrame::Method(m),
            Frame::Header(_, h) => ChannelFrame::Header(h),
            Frame::Body(_, b) => ChannelFrame::Body(b),
            Frame::Heartbeat(_) => continue,
        };
        match assembler.feed(frame, 1 << 20) {
            Ok(Some(cmd)) => {
                if let Some(c) = cmd.content {
                    assert_eq!(c.body.len() as u64, c.header.body_size);
                }
            }
            Ok(None) => {}
            Err(e) => {
                assert!(e.code >= 300, "an error with a reply code: {e:?}");
            }
        }
    }
});
