//! The connection state machine, bytes in and frames out: one broker for the whole run, and
//! for each input a socket that completes the handshake (so the fuzzer starts where methods
//! are read), sends the input, half-closes and reads whatever the broker answers until it
//! closes. The broker must never panic, and must keep serving: every input ends with the
//! broker still accepting a connection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

fn broker() -> SocketAddr {
    static BROKER: OnceLock<warren::Broker> = OnceLock::new();
    BROKER
        .get_or_init(|| warren::Broker::start().expect("broker starts"))
        .addr()
}

/// The client side of a PLAIN handshake up to connection.open-ok, as raw frames.
fn handshake() -> Vec<u8> {
    let mut out = b"AMQP\x00\x00\x09\x01".to_vec();
    let frame = |out: &mut Vec<u8>, payload: &[u8]| {
        out.push(1);
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out.push(0xce);
    };
    // connection.start-ok: empty client properties, PLAIN, \0guest\0guest, en_US.
    let mut p = vec![0, 10, 0, 11, 0, 0, 0, 0, 5];
    p.extend_from_slice(b"PLAIN");
    p.extend_from_slice(&12u32.to_be_bytes());
    p.extend_from_slice(b"\0guest\0guest");
    p.push(5);
    p.extend_from_slice(b"en_US");
    frame(&mut out, &p);
    // connection.tune-ok: channel-max 2047, frame-max 131072, heartbeat 0.
    let mut p = vec![0, 10, 0, 31];
    p.extend_from_slice(&2047u16.to_be_bytes());
    p.extend_from_slice(&131_072u32.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    frame(&mut out, &p);
    // connection.open "/".
    frame(&mut out, &[0, 10, 0, 40, 1, b'/', 0, 0]);
    out
}

fuzz_target!(|data: &[u8]| {
    let addr = broker();
    let Ok(mut s) = TcpStream::connect(addr) else {
        panic!("the broker stopped accepting connections");
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut input = handshake();
    input.extend_from_slice(data);
    let _ = s.write_all(&input);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 65536];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
});
