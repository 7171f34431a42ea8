//! Turning a connection's bytes into transcript records, at the socket.
//!
//! [`Tapped`] wraps a connection's [`Transport`] and hands every byte read and written to a
//! [`Recorder`], so what is recorded is what went over the wire: the handshake, the publish
//! fast path (which never builds a `Frame`) and pre-encoded deliveries alike. A connection
//! accepted while nothing records gets `Tapped` with no recorder: one `Option` test per read
//! and per write, nothing else.
//!
//! Which recordings a connection belongs to is known only once the client has said who it
//! is (its `connection_name` and user, in connection.start-ok); until then the records wait
//! in the recorder, and a connection no recording wants drops its recorder there.

use super::recordings::{Recording, Sink};
use super::transcript::{self, Dir, Kind, Record};
use crate::connection::transport::Transport;
use crate::protocol::BasicProperties;
use crate::protocol::frame::{FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD};
use crate::protocol::methods::method_name;
use crate::protocol::wire::{self, FieldValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Buf, BytesMut};
use serde_json::{Value, json};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

/// A frame claiming more than this is not buffered: the recorder notes it and stops reading
/// that direction (the broker refuses such a frame from its header anyway).
const MAX_FRAME: usize = 64 << 20;

/// One direction's bytes, cut into frames and decoded into records.
#[derive(Debug)]
pub struct FrameReader {
    dir: Dir,
    buf: BytesMut,
    /// Past the first bytes, where a protocol header may stand.
    begun: bool,
    /// Gave up on this direction (a malformed frame); nothing after it can be trusted.
    broken: bool,
}

impl FrameReader {
    pub fn new(dir: Dir) -> Self {
        FrameReader {
            dir,
            buf: BytesMut::new(),
            begun: false,
            broken: false,
        }
    }

    /// Takes `bytes` and appends a record for each frame they complete; bodies are kept when
    /// `bodies` says so, their size always.
    pub fn push(&mut self, bytes: &[u8], bodies: bool, out: &mut Vec<Record>) {
        if self.broken {
            return;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            if !self.begun {
                // A client starts with `AMQP...`; a server that refuses the version answers
                // with its own header instead of connection.start.
                if self.buf.first() == Some(&b'A') {
                    if self.buf.len() < 8 {
                        return;
                    }
                    let mut r = Record::new(self.dir, 0, Kind::ProtocolHeader);
                    r.raw = Some(BASE64.encode(&self.buf[..8]));
                    out.push(r);
                    self.buf.advance(8);
                }
                if self.buf.is_empty() {
                    return;
                }
                self.begun = true;
            }
            if self.buf.len() < 7 {
                return;
            }
            let kind = self.buf[0];
            let ch = u16::from_be_bytes([self.buf[1], self.buf[2]]);
            let size =
                u32::from_be_bytes([self.buf[3], self.buf[4], self.buf[5], self.buf[6]]) as usize;
            if size > MAX_FRAME {
                let mut r = Record::new(self.dir, ch, Kind::Malformed);
                r.raw = Some(BASE64.encode(&self.buf[..7]));
                r.error = Some(format!("frame of {size} bytes: not recorded further"));
                out.push(r);
                self.stop();
                return;
            }
            if self.buf.len() < size + 8 {
                return;
            }
            let frame = self.buf.split_to(size + 8);
            if frame[size + 7] != FRAME_END {
                let mut r = Record::new(self.dir, ch, Kind::Malformed);
                r.raw = Some(BASE64.encode(&frame));
                r.error = Some(format!(
                    "frame end {} instead of {FRAME_END}",
                    frame[size + 7]
                ));
                out.push(r);
                self.stop();
                return;
            }
            out.push(decode_frame(
                self.dir,
                kind,
                ch,
                &frame[7..size + 7],
                bodies,
            ));
        }
    }

    fn stop(&mut self) {
        self.broken = true;
        self.buf = BytesMut::new();
    }
}

/// One whole frame's payload as a record.
fn decode_frame(dir: Dir, kind: u8, ch: u16, payload: &[u8], bodies: bool) -> Record {
    let malformed = |error: String| {
        let mut r = Record::new(dir, ch, Kind::Malformed);
        let mut raw = BytesMut::new();
        crate::protocol::frame::write_frame(&mut raw, kind, ch, |o| o.extend_from_slice(payload));
        r.raw = Some(BASE64.encode(&raw));
        r.error = Some(error);
        r
    };
    match kind {
        FRAME_METHOD => {
            if payload.len() < 4 {
                return malformed("method frame shorter than its ids".into());
            }
            let class_id = u16::from_be_bytes([payload[0], payload[1]]);
            let method_id = u16::from_be_bytes([payload[2], payload[3]]);
            let Some(name) = method_name(class_id, method_id) else {
                return malformed(format!("unknown method {class_id}/{method_id}"));
            };
            match transcript::args_to_json(class_id, method_id, &payload[4..]) {
                Ok(mut fields) => {
                    redact(name, &mut fields);
                    let mut r = Record::new(dir, ch, Kind::Method);
                    r.method = Some(name.to_owned());
                    r.fields = Some(fields);
                    r
                }
                Err(e) => malformed(format!("cannot decode {name}: {e}")),
            }
        }
        FRAME_HEADER => {
            if payload.len() < 12 {
                return malformed("content header shorter than its sizes".into());
            }
            let mut size = [0; 8];
            size.copy_from_slice(&payload[4..12]);
            match wire::finish(BasicProperties::decode(&payload[12..])) {
                Ok(props) => {
                    let mut r = Record::new(dir, ch, Kind::Header);
                    r.body_size = Some(u64::from_be_bytes(size));
                    r.properties = Some(transcript::properties_to_json(&props));
                    r
                }
                Err(e) => malformed(format!("cannot decode content header: {e}")),
            }
        }
        FRAME_BODY => {
            let mut r = Record::new(dir, ch, Kind::Body);
            r.body_size = Some(payload.len() as u64);
            if bodies {
                r.set_body(payload);
            }
            r
        }
        FRAME_HEARTBEAT => Record::new(dir, ch, Kind::Heartbeat),
        other => malformed(format!("unknown frame type {other}")),
    }
}

/// Secrets never reach a transcript: start-ok's response keeps its mechanism and user only
/// (`warren replay` logs in with the URL's credentials), secure-ok's and update-secret's
/// secrets are dropped.
fn redact(method: &str, fields: &mut serde_json::Map<String, Value>) {
    match method {
        "connection.start-ok" => {
            let mechanism = fields
                .get("mechanism")
                .and_then(Value::as_str)
                .unwrap_or("");
            let user = fields
                .get("response")
                .and_then(response_bytes)
                .and_then(|b| login_user(mechanism, &b));
            let redacted = json!({"redacted": mechanism, "user": user});
            fields.insert("response".into(), redacted);
        }
        "connection.secure-ok" => {
            fields.insert("response".into(), json!({"redacted": true}));
        }
        "connection.update-secret" => {
            fields.insert("new_secret".into(), json!({"redacted": true}));
        }
        _ => {}
    }
}

fn response_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(m) => BASE64.decode(m.get("base64")?.as_str()?).ok(),
        _ => None,
    }
}

/// The user a PLAIN (`\0user\0password`) or AMQPLAIN (`LOGIN` in a table) response names.
fn login_user(mechanism: &str, response: &[u8]) -> Option<String> {
    match mechanism {
        "PLAIN" => {
            let mut parts = response.split(|b| *b == 0);
            let _authzid = parts.next()?;
            String::from_utf8(parts.next()?.to_vec()).ok()
        }
        "AMQPLAIN" => match wire::table_entries(response).ok()?.get("LOGIN")? {
            FieldValue::LongString(b) => String::from_utf8(b.to_vec()).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The client's identity as the start-ok record states it: connection_name and user.
pub fn identity(r: &Record) -> (Option<String>, Option<String>) {
    let fields = r.fields.as_ref();
    let name = fields
        .and_then(|f| f.get("client_properties"))
        .and_then(|p| p.get("connection_name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let user = fields
        .and_then(|f| f.get("response"))
        .and_then(|r| r.get("user"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    (name, user)
}

/// Records one connection into the recordings that want it.
pub struct Recorder {
    started: Instant,
    c2s: FrameReader,
    s2c: FrameReader,
    /// The recordings active when the connection was accepted, until start-ok says which
    /// of them select it.
    candidates: Vec<Arc<Recording>>,
    /// Records from before start-ok.
    waiting: Vec<Record>,
    sinks: Vec<Sink>,
    identified: bool,
    bodies: bool,
    scratch: Vec<Record>,
}

impl Recorder {
    pub fn new(candidates: Vec<Arc<Recording>>) -> Recorder {
        let bodies = candidates.iter().any(|r| r.selector().bodies);
        Recorder {
            started: Instant::now(),
            c2s: FrameReader::new(Dir::ClientToServer),
            s2c: FrameReader::new(Dir::ServerToClient),
            candidates,
            waiting: Vec::new(),
            sinks: Vec::new(),
            identified: false,
            bodies,
            scratch: Vec::new(),
        }
    }

    /// Takes bytes that went `dir`; false once no recording wants this connection any more.
    pub fn observe(&mut self, dir: Dir, bytes: &[u8]) -> bool {
        let mut records = std::mem::take(&mut self.scratch);
        match dir {
            Dir::ClientToServer => self.c2s.push(bytes, self.bodies, &mut records),
            Dir::ServerToClient => self.s2c.push(bytes, self.bodies, &mut records),
        }
        let t = self.started.elapsed().as_micros() as f64 / 1000.0;
        let mut wanted = true;
        for mut r in records.drain(..) {
            r.t = t;
            if self.identified {
                wanted = self.write(r);
                continue;
            }
            if !r.is_method("connection.start-ok") {
                self.waiting.push(r);
                continue;
            }
            let (name, user) = identity(&r);
            self.identified = true;
            for rec in std::mem::take(&mut self.candidates) {
                if rec.selector().matches(name.as_deref(), user.as_deref()) {
                    match rec.open_connection() {
                        Ok(sink) => self.sinks.push(sink),
                        Err(e) => tracing::warn!(
                            "recording {}: cannot record a connection: {e}",
                            rec.id()
                        ),
                    }
                }
            }
            for w in std::mem::take(&mut self.waiting) {
                self.write(w);
            }
            wanted = self.write(r);
        }
        self.scratch = records;
        for s in &mut self.sinks {
            s.flush();
        }
        wanted
    }

    /// Writes `r` to every sink still recording; false when none is.
    fn write(&mut self, r: Record) -> bool {
        self.sinks.retain_mut(|s| s.write(&r));
        !self.sinks.is_empty()
    }
}

/// A transport whose bytes, both ways, also go to a recorder when there is one.
pub struct Tapped<T> {
    io: T,
    recorder: Option<Box<Recorder>>,
}

impl<T> Tapped<T> {
    pub fn new(io: T, recorder: Option<Box<Recorder>>) -> Tapped<T> {
        Tapped { io, recorder }
    }

    /// Bytes the transport read before it was tapped (a TLS handshake's early data).
    pub fn observe_read(&mut self, bytes: &[u8]) {
        if let Some(r) = &mut self.recorder
            && !r.observe(Dir::ClientToServer, bytes)
        {
            self.recorder = None;
        }
    }

    fn observe_written(&mut self, bytes: &[u8]) {
        if let Some(r) = &mut self.recorder
            && !r.observe(Dir::ServerToClient, bytes)
        {
            self.recorder = None;
        }
    }
}

impl<T: Transport> Transport for Tapped<T> {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.io.readable()
    }

    fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        let at = buf.len();
        let n = self.io.read(buf)?;
        if self.recorder.is_some() {
            self.observe_read(&buf[at..at + n]);
        }
        Ok(n)
    }

    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        self.io.writable()
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.io.write(data)?;
        if self.recorder.is_some() {
            self.observe_written(&data[..n]);
        }
        Ok(n)
    }

    fn buffered(&self) -> bool {
        self.io.buffered()
    }

    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        self.io.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Method;
    use crate::protocol::frame::write_frame;
    use crate::protocol::methods::*;

    fn frame(ch: u16, m: Method) -> BytesMut {
        let mut out = BytesMut::new();
        write_frame(&mut out, FRAME_METHOD, ch, |o| m.encode(o));
        out
    }

    #[test]
    fn frames_split_anywhere_decode_the_same() {
        let mut bytes = BytesMut::from(&crate::protocol::PROTOCOL_HEADER[..]);
        bytes.extend_from_slice(&frame(
            0,
            Method::ConnectionStartOk(ConnectionStartOk {
                mechanism: "PLAIN".into(),
                response: bytes::Bytes::from_static(b"\0alice\0secret"),
                locale: "en_US".into(),
                ..Default::default()
            }),
        ));
        bytes.extend_from_slice(&frame(1, Method::ChannelOpen(ChannelOpen::default())));
        write_frame(&mut bytes, FRAME_HEARTBEAT, 0, |_| {});
        for cut in 0..bytes.len() {
            let mut reader = FrameReader::new(Dir::ClientToServer);
            let mut out = Vec::new();
            reader.push(&bytes[..cut], false, &mut out);
            reader.push(&bytes[cut..], false, &mut out);
            let kinds: Vec<Kind> = out.iter().map(|r| r.kind).collect();
            assert_eq!(
                kinds,
                [
                    Kind::ProtocolHeader,
                    Kind::Method,
                    Kind::Method,
                    Kind::Heartbeat
                ]
            );
            assert_eq!(identity(&out[1]), (None, Some("alice".into())));
            assert!(
                !out[1].to_line().contains("secret"),
                "the password is not recorded"
            );
        }
    }

    #[test]
    fn garbage_is_a_malformed_record_not_a_panic() {
        for bytes in [
            &b"\x01\x00\x01\x00\x00\x00\x02\x00\x3c\xce"[..],
            b"\x09\0\0\0\0\0\0\xce",
            b"\x01\0\0\0\0\0\0\x00",
        ] {
            let mut reader = FrameReader::new(Dir::ClientToServer);
            let mut out = Vec::new();
            reader.push(bytes, true, &mut out);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].kind, Kind::Malformed, "{bytes:?}");
        }
        let mut reader = FrameReader::new(Dir::ClientToServer);
        let mut out = Vec::new();
        reader.push(b"\x01\0\0\xff\xff\xff\xff", true, &mut out);
        assert_eq!(
            out[0].kind,
            Kind::Malformed,
            "an oversized frame is not buffered"
        );
    }
}
