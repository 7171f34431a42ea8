//! `warren diff`: the first semantic difference between two transcripts.
//!
//! Two brokers that behave the same never produce the same bytes: timestamps, generated
//! names and their product identity differ, and frames on different channels (or of
//! different kinds on one channel) interleave as scheduling has it. So both transcripts are
//! normalised first, then compared stream by stream:
//!
//! - A stream is one connection's frames in one direction on one channel, further split into
//!   methods, publisher confirms, deliveries (with their content), returns and the client's
//!   acks, whose interleaving with one another no broker promises.
//! - Heartbeats and times are dropped. Content bodies are joined to their header, so how a
//!   body was cut into frames does not matter; bodies are compared when both sides have them,
//!   their sizes always.
//! - Names a broker generated (`amq.gen-*`, `amq.ctag-*`, direct reply-to addresses) become
//!   `<generated N>`, N counting first appearances within the connection.
//! - Consumer tags become `<consumer N>`, whoever chose them: a client library that makes
//!   up random tags (pika's `ctag1.<uuid>`) compares equal from run to run.
//! - Delivery tags become per-channel ordinals of first appearance, in deliveries and in the
//!   client's acks alike; a publisher confirm with `multiple` is expanded into one confirm per
//!   message, so brokers that batch confirms differently compare equal.
//! - connection.start keeps its protocol version, locales, the set of mechanisms and the
//!   capabilities table, and drops the rest of the server properties (product, version,
//!   platform, copyright, cluster name: who the broker is, not how it behaves).
//!   connection.start-ok's response is dropped: it carries credentials, which a replay
//!   replaces.
//!
//! Within each stream the frames are compared in order; of the streams that differ, the one
//! whose difference comes first in transcript A is reported, with the frames before it.

use super::replay::is_generated;
use super::transcript::{Dir, Kind, Record};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// How many equal frames before a difference are shown.
pub const CONTEXT: usize = 3;
/// A confirm with `multiple` is expanded into at most this many.
const MAX_EXPANDED: u64 = 100_000;

/// Which stream a frame belongs to (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    Methods,
    Confirms,
    Deliveries,
    Returns,
    Acks,
}

/// Where a stream lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    pub conn: u32,
    pub ch: u16,
    pub dir: DirKey,
    pub stream: Stream,
}

/// `Dir`, ordered, for the stream map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirKey {
    ClientToServer,
    ServerToClient,
}

impl From<Dir> for DirKey {
    fn from(d: Dir) -> DirKey {
        match d {
            Dir::ClientToServer => DirKey::ClientToServer,
            Dir::ServerToClient => DirKey::ServerToClient,
        }
    }
}

/// A normalised frame and where it came from (its index in the transcript).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub index: usize,
    pub value: Value,
}

/// The first difference found.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub key: StreamKey,
    /// Position within the stream.
    pub position: usize,
    /// The differing entries; None where that transcript's stream ended.
    pub a: Option<Entry>,
    pub b: Option<Entry>,
    /// Up to `CONTEXT` equal entries before it (from A).
    pub before: Vec<Entry>,
}

/// Transcripts normalised into streams.
pub type Streams = BTreeMap<StreamKey, Vec<Entry>>;

/// The first difference between `a` and `b`, or None when they are equivalent.
pub fn diff(a: &[Record], b: &[Record]) -> Option<Difference> {
    differences(a, b).into_iter().next()
}

/// The first difference of every stream that differs, the earliest (in A) first: what
/// `warren diff --all` shows, for when the first difference is understood and the next ones
/// are wanted.
pub fn differences(a: &[Record], b: &[Record]) -> Vec<Difference> {
    let (sa, sb) = (normalise(a), normalise(b));
    let keys: BTreeSet<&StreamKey> = sa.keys().chain(sb.keys()).collect();
    let empty = Vec::new();
    let mut found: Vec<(usize, Difference)> = Vec::new();
    for key in keys {
        let (ea, eb) = (sa.get(key).unwrap_or(&empty), sb.get(key).unwrap_or(&empty));
        let Some(position) = (0..ea.len().max(eb.len())).find(|&i| !same(ea.get(i), eb.get(i)))
        else {
            continue;
        };
        // Ordered by where it shows in A (a stream A lacks: after everything in A).
        let at = ea
            .get(position)
            .map_or(a.len() + eb.get(position).map_or(0, |e| e.index), |e| {
                e.index
            });
        let d = Difference {
            key: *key,
            position,
            a: ea.get(position).cloned(),
            b: eb.get(position).cloned(),
            before: ea[position.saturating_sub(CONTEXT)..position.min(ea.len())].to_vec(),
        };
        found.push((at, d));
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, d)| d).collect()
}

/// Equal, comparing bodies only when both sides kept them.
fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            if a.value == b.value {
                return true;
            }
            let has_body = |v: &Value| v.get("body").is_some();
            if has_body(&a.value) == has_body(&b.value) {
                return false;
            }
            let strip = |v: &Value| {
                let mut v = v.clone();
                if let Value::Object(m) = &mut v {
                    m.remove("body");
                }
                v
            };
            strip(&a.value) == strip(&b.value)
        }
        (None, None) => true,
        _ => false,
    }
}

/// Per connection: what normalisation has seen so far.
#[derive(Default)]
struct ConnState {
    names: Vec<String>,
    /// Consumer tags, in order of first appearance.
    consumer_tags: Vec<String>,
    /// Per channel: delivery tag → ordinal.
    tags: HashMap<u16, HashMap<u64, u64>>,
    /// Per channel: publisher confirms done (all up to `.0`, and those in `.1` above it).
    confirmed: HashMap<u16, (u64, BTreeSet<u64>)>,
    /// Per (channel, direction): the content being read.
    content: HashMap<(u16, DirKey), Content>,
}

/// A content method's header and body frames, as they come.
struct Content {
    /// Where the content method went; its header goes there too.
    stream: Stream,
    /// The header entry's place in the stream (`usize::MAX` before the header).
    at: usize,
    body: Vec<u8>,
    /// Every body frame so far carried its bytes.
    complete: bool,
}

impl Content {
    fn new(stream: Stream, at: usize) -> Content {
        Content {
            stream,
            at,
            body: Vec::new(),
            complete: at != usize::MAX,
        }
    }
}

/// Splits and normalises a transcript into streams.
pub fn normalise(records: &[Record]) -> Streams {
    let mut streams = Streams::new();
    let mut conns: HashMap<u32, ConnState> = HashMap::new();
    for (index, r) in records.iter().enumerate() {
        let st = conns.entry(r.conn).or_default();
        let dir = DirKey::from(r.dir);
        let key = |stream| StreamKey {
            conn: r.conn,
            ch: r.ch,
            dir,
            stream,
        };
        match r.kind {
            Kind::Heartbeat => {}
            Kind::Body => {
                if let Some(c) = st.content.get_mut(&(r.ch, dir)) {
                    match r.body_bytes() {
                        Ok(Some(b)) => c.body.extend_from_slice(&b),
                        _ => c.complete = false,
                    }
                }
            }
            Kind::Header => {
                let stream = st
                    .content
                    .get(&(r.ch, dir))
                    .map_or(Stream::Methods, |c| c.stream);
                finish_content(&mut streams, st, r.conn, r.ch, dir);
                let mut props = r.properties.clone().unwrap_or_default();
                names_in_map(&mut props, &mut st.names);
                let value = json!({"header": {"body_size": r.body_size, "properties": props}});
                let entries = streams.entry(key(stream)).or_default();
                entries.push(Entry { index, value });
                st.content
                    .insert((r.ch, dir), Content::new(stream, entries.len() - 1));
            }
            Kind::ProtocolHeader | Kind::Malformed => {
                finish_content(&mut streams, st, r.conn, r.ch, dir);
                let value = json!({"kind": r.kind, "raw": r.raw, "error": r.error});
                streams
                    .entry(key(Stream::Methods))
                    .or_default()
                    .push(Entry { index, value });
            }
            Kind::Method => {
                finish_content(&mut streams, st, r.conn, r.ch, dir);
                let name = r.method.clone().unwrap_or_default();
                let mut fields = r.fields.clone().unwrap_or_default();
                names_in_map(&mut fields, &mut st.names);
                if let Some(Value::String(tag)) = fields.get_mut("consumer_tag") {
                    *tag = ordinal("consumer", tag, &mut st.consumer_tags);
                }
                let stream = match (name.as_str(), r.dir) {
                    ("basic.ack" | "basic.nack", Dir::ServerToClient) => Stream::Confirms,
                    ("basic.ack" | "basic.nack" | "basic.reject", Dir::ClientToServer) => {
                        Stream::Acks
                    }
                    ("basic.deliver", _) => Stream::Deliveries,
                    ("basic.return", _) => Stream::Returns,
                    _ => Stream::Methods,
                };
                let tags = st.tags.entry(r.ch).or_default();
                match (name.as_str(), r.dir) {
                    ("connection.start", _) => server_identity_dropped(&mut fields),
                    ("connection.start-ok", _) => {
                        fields.remove("response");
                    }
                    ("basic.deliver" | "basic.get-ok", _) => {
                        if let Some(tag) = fields.get("delivery_tag").and_then(Value::as_u64) {
                            let next = tags.len() as u64 + 1;
                            let ordinal = *tags.entry(tag).or_insert(next);
                            fields.insert("delivery_tag".into(), ordinal.into());
                        }
                    }
                    (_, Dir::ClientToServer) if stream == Stream::Acks => {
                        if let Some(tag) = fields.get("delivery_tag").and_then(Value::as_u64)
                            && tag != 0
                        {
                            let ordinal = match tags.get(&tag) {
                                Some(o) => json!(o),
                                None => json!(format!("<unknown {tag}>")),
                            };
                            fields.insert("delivery_tag".into(), ordinal);
                        }
                    }
                    (_, Dir::ServerToClient) if stream == Stream::Confirms => {
                        let entries = streams.entry(key(stream)).or_default();
                        let confirmed = st.confirmed.entry(r.ch).or_default();
                        for f in expand_confirm(&fields, confirmed) {
                            entries.push(Entry {
                                index,
                                value: json!({"method": name, "fields": f}),
                            });
                        }
                        continue;
                    }
                    _ => {}
                }
                let value = json!({"method": name, "fields": fields});
                let entries = streams.entry(key(stream)).or_default();
                entries.push(Entry { index, value });
                if matches!(
                    name.as_str(),
                    "basic.publish" | "basic.deliver" | "basic.get-ok" | "basic.return"
                ) {
                    st.content
                        .insert((r.ch, dir), Content::new(stream, usize::MAX));
                }
            }
        }
    }
    for (conn, st) in &mut conns {
        let open: Vec<(u16, DirKey)> = st.content.keys().copied().collect();
        for (ch, dir) in open {
            finish_content(&mut streams, st, *conn, ch, dir);
        }
    }
    streams
}

/// Puts the body gathered since a content header into that header's entry.
fn finish_content(streams: &mut Streams, st: &mut ConnState, conn: u32, ch: u16, dir: DirKey) {
    let Some(Content {
        stream,
        at,
        body,
        complete: true,
    }) = st.content.remove(&(ch, dir))
    else {
        return;
    };
    let key = StreamKey {
        conn,
        ch,
        dir,
        stream,
    };
    let Some(Entry { value, .. }) = streams.get_mut(&key).and_then(|e| e.get_mut(at)) else {
        return;
    };
    let body = match String::from_utf8(body) {
        Ok(text) => Value::String(text),
        Err(e) => json!({"base64": BASE64.encode(e.as_bytes())}),
    };
    if let Value::Object(m) = value {
        m.insert("body".into(), body);
    }
}

/// A broker's confirm as one confirm per message: a `multiple` one stands for every message
/// up to its tag not confirmed yet.
fn expand_confirm(
    fields: &Map<String, Value>,
    done: &mut (u64, BTreeSet<u64>),
) -> Vec<Map<String, Value>> {
    let tag = fields
        .get("delivery_tag")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let multiple = fields
        .get("multiple")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let one = |t: u64| {
        let mut f = fields.clone();
        f.insert("delivery_tag".into(), t.into());
        f.insert("multiple".into(), false.into());
        f
    };
    let (floor, above) = done;
    if !multiple || tag <= *floor || tag - *floor > MAX_EXPANDED {
        above.insert(tag);
        return vec![one(tag)];
    }
    let out: Vec<_> = (*floor + 1..=tag)
        .filter(|t| !above.contains(t))
        .map(one)
        .collect();
    *floor = tag;
    above.retain(|t| *t > tag);
    out
}

/// connection.start without what only names the broker.
fn server_identity_dropped(fields: &mut Map<String, Value>) {
    if let Some(Value::Object(props)) = fields.get_mut("server_properties") {
        props.retain(|k, _| k == "capabilities");
    }
    if let Some(Value::String(m)) = fields.get_mut("mechanisms") {
        let mut words: Vec<&str> = m.split_whitespace().collect();
        words.sort_unstable();
        *m = words.join(" ");
    }
}

/// `<what N>`, N being `s`'s place among `seen` (added at the end if new).
fn ordinal(what: &str, s: &str, seen: &mut Vec<String>) -> String {
    let n = match seen.iter().position(|x| x == s) {
        Some(i) => i + 1,
        None => {
            seen.push(s.to_owned());
            seen.len()
        }
    };
    format!("<{what} {n}>")
}

fn names_in_map(m: &mut Map<String, Value>, names: &mut Vec<String>) {
    m.values_mut().for_each(|v| names_in(v, names));
}

/// Generated names as `<generated N>`.
fn names_in(v: &mut Value, names: &mut Vec<String>) {
    match v {
        Value::String(s) if is_generated(s) => *s = ordinal("generated", s, names),
        Value::Array(items) => items.iter_mut().for_each(|i| names_in(i, names)),
        Value::Object(m) => m.values_mut().for_each(|i| names_in(i, names)),
        _ => {}
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Methods => "methods",
            Stream::Confirms => "publisher confirms",
            Stream::Deliveries => "deliveries",
            Stream::Returns => "returns",
            Stream::Acks => "acks",
        })
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = &self.key;
        let dir = match k.dir {
            DirKey::ClientToServer => "client to server",
            DirKey::ServerToClient => "server to client",
        };
        let line = |e: &Option<Entry>| {
            e.as_ref()
                .map_or("end".to_owned(), |e| format!("line {}", e.index + 1))
        };
        writeln!(
            f,
            "first difference: connection {}, channel {}, {dir}, {} #{} (A {}, B {})",
            k.conn,
            k.ch,
            k.stream,
            self.position + 1,
            line(&self.a),
            line(&self.b),
        )?;
        for e in &self.before {
            writeln!(f, "    {}", e.value)?;
        }
        let show = |e: &Option<Entry>| {
            e.as_ref()
                .map_or("(nothing: the stream ends)".to_owned(), |e| {
                    e.value.to_string()
                })
        };
        writeln!(f, "  - A: {}", show(&self.a))?;
        writeln!(f, "  + B: {}", show(&self.b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::transcript::parse;

    fn t(lines: &[&str]) -> Vec<Record> {
        parse(&lines.join("\n")).expect("valid transcript")
    }

    #[test]
    fn generated_names_tags_times_and_batching_do_not_count() {
        let a = t(&[
            r#"{"t":1,"dir":"s2c","ch":1,"kind":"method","method":"queue.declare-ok","fields":{"queue":"amq.gen-AAA","message_count":0,"consumer_count":0}}"#,
            r#"{"t":1,"dir":"s2c","ch":1,"kind":"method","method":"basic.consume-ok","fields":{"consumer_tag":"ctag1.aaa"}}"#,
            r#"{"t":2,"dir":"s2c","ch":1,"kind":"method","method":"basic.deliver","fields":{"consumer_tag":"amq.ctag-X","delivery_tag":7,"redelivered":false,"exchange":"","routing_key":"amq.gen-AAA"}}"#,
            r#"{"t":2,"dir":"s2c","ch":1,"kind":"header","body_size":5,"properties":{}}"#,
            r#"{"t":2,"dir":"s2c","ch":1,"kind":"body","body_size":5,"body":"hello"}"#,
            r#"{"t":3,"dir":"c2s","ch":1,"kind":"method","method":"basic.ack","fields":{"delivery_tag":7,"multiple":false}}"#,
            r#"{"t":4,"dir":"s2c","ch":1,"kind":"method","method":"basic.ack","fields":{"delivery_tag":2,"multiple":true}}"#,
        ]);
        let b = t(&[
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"method","method":"queue.declare-ok","fields":{"queue":"amq.gen-BBB","message_count":0,"consumer_count":0}}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"method","method":"basic.consume-ok","fields":{"consumer_tag":"ctag1.bbb"}}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"method","method":"basic.ack","fields":{"delivery_tag":1,"multiple":false}}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"method","method":"basic.deliver","fields":{"consumer_tag":"amq.ctag-Y","delivery_tag":1,"redelivered":false,"exchange":"","routing_key":"amq.gen-BBB"}}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"header","body_size":5,"properties":{}}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"body","body_size":2,"body":"he"}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"body","body_size":3,"body":"llo"}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"method","method":"basic.ack","fields":{"delivery_tag":2,"multiple":false}}"#,
            r#"{"t":9,"dir":"s2c","ch":1,"kind":"heartbeat"}"#,
            r#"{"t":9,"dir":"c2s","ch":1,"kind":"method","method":"basic.ack","fields":{"delivery_tag":1,"multiple":false}}"#,
        ]);
        assert_eq!(diff(&a, &b), None);
    }

    #[test]
    fn the_first_difference_is_reported_with_its_context() {
        let base = [
            r#"{"dir":"c2s","ch":1,"kind":"method","method":"queue.declare","fields":{"queue":"q"}}"#,
            r#"{"dir":"s2c","ch":1,"kind":"method","method":"queue.declare-ok","fields":{"queue":"q","message_count":0}}"#,
            r#"{"dir":"c2s","ch":1,"kind":"method","method":"basic.get","fields":{"queue":"q"}}"#,
            r#"{"dir":"s2c","ch":1,"kind":"method","method":"basic.get-empty","fields":{}}"#,
        ];
        let a = t(&base);
        let mut changed = base;
        changed[3] = r#"{"dir":"s2c","ch":1,"kind":"method","method":"channel.close","fields":{"reply_code":404}}"#;
        let d = diff(&a, &t(&changed)).expect("different");
        assert_eq!((d.key.dir, d.position), (DirKey::ServerToClient, 1));
        let text = d.to_string();
        assert!(
            text.contains("line 4")
                && text.contains("channel.close")
                && text.contains("basic.get-empty"),
            "{text}"
        );
        assert_eq!(d.before.len(), 1, "the declare-ok before it");

        let d = diff(&a, &t(&base[..3])).expect("B stops early");
        assert!(d.b.is_none() && d.to_string().contains("stream ends"));
    }

    #[test]
    fn server_identity_is_not_compared_but_capabilities_are() {
        let start = |product: &str, cap: bool| {
            format!(
                r#"{{"dir":"s2c","kind":"method","method":"connection.start","fields":{{"mechanisms":"PLAIN AMQPLAIN","server_properties":{{"product":"{product}","capabilities":{{"F":{{"basic.nack":{cap}}}}}}}}}}}"#
            )
        };
        let a = t(&[&start("RabbitMQ", true)]);
        assert_eq!(diff(&a, &t(&[&start("Warren", true)])), None);
        assert!(diff(&a, &t(&[&start("Warren", false)])).is_some());
    }
}
