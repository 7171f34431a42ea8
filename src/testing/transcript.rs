//! The transcript format: one JSON object per frame, one frame per line (JSON lines).
//!
//! ```json
//! {"conn":1,"t":0.412,"dir":"c2s","ch":1,"kind":"method","method":"queue.declare","fields":{"queue":"q","durable":true,...}}
//! {"conn":1,"t":0.977,"dir":"s2c","ch":1,"kind":"header","body_size":5,"properties":{"delivery_mode":2}}
//! {"conn":1,"t":0.978,"dir":"s2c","ch":1,"kind":"body","body_size":5,"body":"hello"}
//! ```
//!
//! Method arguments are named as Warren's method structs name them (`no_wait`, `kind` for the
//! spec's `nowait` and `type`), found through [`method_fields`], so every method of the spec is
//! covered without a per-method mapping. The encoding is lossless, because `warren replay`
//! turns a transcript back into frames: a field-table value keeps its AMQP type, as a plain
//! JSON value for the types a reader expects (`S` strings, `t` booleans, `A` arrays) and as a
//! one-key object named by the type tag for the rest (`{"I": 5}`, `{"l": 5}`, `{"T": 17000}`,
//! `{"F": {...}}` for a nested table, `{"x": "<base64>"}`). A long string or body that is not
//! UTF-8 is `{"base64": "..."}` (a body: `body_base64`). A table's key order is not kept
//! (JSON objects are sorted), nor a key repeated within one table: no broker gives either a
//! meaning.

use crate::protocol::methods::{method_fields, method_name};
use crate::protocol::wire::{self, Decimal, FieldTable, FieldValue, WireError};
use crate::protocol::{BasicProperties, frame};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;

/// A body frame recorded without its bytes is replayed as this many zeros at most: a
/// hand-edited size cannot make a replay allocate without bound.
const MAX_FILLED_BODY: usize = 64 << 20;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dir {
    /// Client to server.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// Server to client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `AMQP\0\0\x09\x01` (or whatever 8 bytes a peer sent first), in `raw`.
    ProtocolHeader,
    Method,
    Header,
    Body,
    Heartbeat,
    /// A frame that did not decode; its bytes are in `raw` and the reason in `error`.
    Malformed,
}

/// One frame of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Which connection of a recording (1, 2, ...); a file may hold several.
    #[serde(default = "first_connection")]
    pub conn: u32,
    /// Milliseconds since the connection was accepted (or, in a replay, opened).
    #[serde(default)]
    pub t: f64,
    pub dir: Dir,
    #[serde(default)]
    pub ch: u16,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size: Option<u64>,
    /// The body, when the recording keeps bodies and it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body, when the recording keeps bodies and it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// Undecoded bytes (base64): a protocol header, or a malformed frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn first_connection() -> u32 {
    1
}

impl Record {
    /// A record of `kind` with nothing else set.
    pub fn new(dir: Dir, ch: u16, kind: Kind) -> Record {
        Record {
            conn: 1,
            t: 0.0,
            dir,
            ch,
            kind,
            method: None,
            fields: None,
            properties: None,
            body_size: None,
            body: None,
            body_base64: None,
            raw: None,
            error: None,
        }
    }

    /// The record as one line of JSON (without the newline).
    pub fn to_line(&self) -> String {
        // A struct of strings, numbers and JSON maps always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The body bytes the record carries, if it kept them.
    pub fn body_bytes(&self) -> Result<Option<Bytes>, TranscriptError> {
        if let Some(text) = &self.body {
            return Ok(Some(Bytes::copy_from_slice(text.as_bytes())));
        }
        match &self.body_base64 {
            Some(b) => BASE64
                .decode(b)
                .map(|v| Some(Bytes::from(v)))
                .map_err(|_| TranscriptError::field("body_base64", "is not base64")),
            None => Ok(None),
        }
    }

    /// Keeps `bytes` as the body: as text when it is UTF-8.
    pub fn set_body(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.body = Some(text.to_owned()),
            Err(_) => self.body_base64 = Some(BASE64.encode(bytes)),
        }
    }

    pub fn is_method(&self, name: &str) -> bool {
        self.kind == Kind::Method && self.method.as_deref() == Some(name)
    }
}

/// Why a transcript, or a record in it, cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("line {line}: {error}")]
    Json {
        line: usize,
        error: serde_json::Error,
    },
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    #[error("field {field:?} {problem}")]
    Field { field: String, problem: String },
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

impl TranscriptError {
    fn field(field: &str, problem: &str) -> TranscriptError {
        TranscriptError::Field {
            field: field.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

/// Parses JSON lines; blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Record>, TranscriptError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|error| TranscriptError::Json { line: i + 1, error })
        })
        .collect()
}

/// Reads a transcript file.
pub fn read_file(path: &std::path::Path) -> Result<Vec<Record>, TranscriptError> {
    let text = std::fs::read_to_string(path).map_err(|error| TranscriptError::Io {
        path: path.display().to_string(),
        error,
    })?;
    parse(&text)
}

/// The records as JSON lines, each ending in a newline.
pub fn to_lines(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records {
        out.push_str(&r.to_line());
        out.push('\n');
    }
    out
}

/// Class and method ids by name (`"basic.publish"` → (60, 40)), built once from the codec's
/// name table.
pub fn method_ids(name: &str) -> Option<(u16, u16)> {
    static IDS: OnceLock<HashMap<&'static str, (u16, u16)>> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut ids = HashMap::new();
        for class in [10u16, 20, 30, 40, 50, 60, 85, 90] {
            for method in 0..=120u16 {
                if let Some(n) = method_name(class, method) {
                    ids.insert(n, (class, method));
                }
            }
        }
        ids
    })
    .get(name)
    .copied()
}

/// A method frame's arguments as a JSON object, named by [`method_fields`].
pub fn args_to_json(
    class_id: u16,
    method_id: u16,
    args: &[u8],
) -> Result<Map<String, Value>, WireError> {
    let spec = method_fields(class_id, method_id).ok_or(WireError::Malformed)?;
    let mut out = Map::new();
    let mut i = args;
    // Consecutive bits share an octet, lowest bit first.
    let mut bits: Option<(u8, u8)> = None;
    for (name, ty) in spec {
        if *ty != "bit" {
            bits = None;
        }
        let value = match *ty {
            "bit" => {
                let (octet, n) = match bits {
                    Some((octet, n)) if n < 8 => (octet, n),
                    _ => {
                        let (rest, octet) = wire::octet(i).map_err(wire_error)?;
                        i = rest;
                        (octet, 0)
                    }
                };
                bits = Some((octet, n + 1));
                Value::Bool(octet & (1 << n) != 0)
            }
            "octet" => step(&mut i, wire::octet)?.into(),
            "short" => step(&mut i, wire::short)?.into(),
            "long" => step(&mut i, wire::long)?.into(),
            "longlong" | "timestamp" => step(&mut i, wire::longlong)?.into(),
            "shortstr" => step(&mut i, wire::shortstr)?.into(),
            "longstr" => long_string_to_json(&step(&mut i, wire::longstr)?),
            "table" => Value::Object(table_to_json(&step(&mut i, wire::table)?)),
            _ => return Err(WireError::Malformed),
        };
        out.insert((*name).to_owned(), value);
    }
    if !i.is_empty() {
        return Err(WireError::Malformed);
    }
    Ok(out)
}

fn step<'a, T>(
    i: &mut &'a [u8],
    parse: fn(&'a [u8]) -> wire::PResult<'a, T>,
) -> Result<T, WireError> {
    let (rest, v) = parse(i).map_err(wire_error)?;
    *i = rest;
    Ok(v)
}

fn wire_error(e: nom::Err<WireError>) -> WireError {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => WireError::Malformed,
    }
}

/// Encodes a method frame's payload (class id, method id, arguments) from its JSON record;
/// a missing field takes its type's zero, so a hand-written transcript may leave out what
/// does not matter.
pub fn encode_method(
    name: &str,
    fields: &Map<String, Value>,
    out: &mut BytesMut,
) -> Result<(), TranscriptError> {
    let (class_id, method_id) =
        method_ids(name).ok_or_else(|| TranscriptError::UnknownMethod(name.to_owned()))?;
    let spec = method_fields(class_id, method_id)
        .ok_or_else(|| TranscriptError::UnknownMethod(name.to_owned()))?;
    out.put_u16(class_id);
    out.put_u16(method_id);
    let mut bits: Option<(usize, u8)> = None;
    for (field, ty) in spec {
        let v = fields.get(*field).unwrap_or(&Value::Null);
        let bad = |problem: &str| TranscriptError::field(field, problem);
        if *ty != "bit" {
            bits = None;
        }
        match *ty {
            "bit" => {
                let set = match v {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    _ => return Err(bad("is not a boolean")),
                };
                let (at, n) = match bits {
                    Some((at, n)) if n < 8 => (at, n),
                    _ => {
                        out.put_u8(0);
                        (out.len() - 1, 0)
                    }
                };
                if set {
                    out[at] |= 1 << n;
                }
                bits = Some((at, n + 1));
            }
            "octet" => {
                out.put_u8(unsigned(v, u8::MAX.into()).ok_or_else(|| bad("is not an octet"))? as u8)
            }
            "short" => out
                .put_u16(unsigned(v, u16::MAX.into()).ok_or_else(|| bad("is not a short"))? as u16),
            "long" => out
                .put_u32(unsigned(v, u32::MAX.into()).ok_or_else(|| bad("is not a long"))? as u32),
            "longlong" | "timestamp" => {
                out.put_u64(unsigned(v, u64::MAX).ok_or_else(|| bad("is not a longlong"))?)
            }
            "shortstr" => match v {
                Value::Null => wire::put_shortstr(out, ""),
                Value::String(s) if s.len() <= 255 => wire::put_shortstr(out, s),
                _ => return Err(bad("is not a short string")),
            },
            "longstr" => {
                let bytes = match v {
                    Value::Null => Bytes::new(),
                    v => long_string_from_json(v).ok_or_else(|| bad("is not a long string"))?,
                };
                wire::put_longstr(out, &bytes);
            }
            "table" => {
                let table = match v {
                    Value::Null => FieldTable::new(),
                    Value::Object(m) => table_from_json(m).map_err(|p| bad(&p))?,
                    _ => return Err(bad("is not a table")),
                };
                table.encode(out);
            }
            _ => return Err(bad("has a type the transcript format does not know")),
        }
    }
    Ok(())
}

fn unsigned(v: &Value, max: u64) -> Option<u64> {
    match v {
        Value::Null => Some(0),
        v => v.as_u64().filter(|n| *n <= max),
    }
}

fn long_string_to_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => json!({"base64": BASE64.encode(b)}),
    }
}

fn long_string_from_json(v: &Value) -> Option<Bytes> {
    match v {
        Value::String(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        Value::Object(m) if m.len() == 1 => {
            let b = m.get("base64")?.as_str()?;
            BASE64.decode(b).ok().map(Bytes::from)
        }
        _ => None,
    }
}

/// A field table as a JSON object (see the module doc for how values keep their types).
pub fn table_to_json(t: &FieldTable) -> Map<String, Value> {
    t.iter()
        .map(|(k, v)| (k.to_owned(), value_to_json(v)))
        .collect()
}

fn tagged(tag: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(tag.to_owned(), v);
    Value::Object(m)
}

fn value_to_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => Value::Bool(*b),
        FieldValue::I8(n) => tagged("b", json!(n)),
        FieldValue::U8(n) => tagged("B", json!(n)),
        FieldValue::I16(n) => tagged("s", json!(n)),
        FieldValue::U16(n) => tagged("u", json!(n)),
        FieldValue::I32(n) => tagged("I", json!(n)),
        FieldValue::U32(n) => tagged("i", json!(n)),
        FieldValue::I64(n) => tagged("l", json!(n)),
        FieldValue::U64(n) => tagged("L", json!(n)),
        // As text, which Rust parses back exactly (serde_json's numbers may not).
        FieldValue::F32(n) if n.is_finite() => tagged("f", json!(format!("{n:?}"))),
        FieldValue::F64(n) if n.is_finite() => tagged("d", json!(format!("{n:?}"))),
        // JSON has no NaN or infinity: their bits, in hex.
        FieldValue::F32(n) => tagged("f", json!(format!("{:#x}", n.to_bits()))),
        FieldValue::F64(n) => tagged("d", json!(format!("{:#x}", n.to_bits()))),
        FieldValue::Decimal(d) => tagged("D", json!([d.scale, d.value])),
        FieldValue::LongString(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => tagged("S", Value::String(BASE64.encode(b))),
        },
        FieldValue::ByteArray(b) => tagged("x", Value::String(BASE64.encode(b))),
        FieldValue::Array(items) => Value::Array(items.iter().map(value_to_json).collect()),
        FieldValue::Timestamp(n) => tagged("T", json!(n)),
        FieldValue::Table(t) => tagged("F", Value::Object(table_to_json(t))),
        FieldValue::Void => tagged("V", Value::Null),
    }
}

/// The inverse of [`table_to_json`]; the error names what is wrong.
pub fn table_from_json(m: &Map<String, Value>) -> Result<FieldTable, String> {
    let mut t = FieldTable::new();
    for (k, v) in m {
        t.0.push((
            k.clone(),
            value_from_json(v).map_err(|e| format!("{k}: {e}"))?,
        ));
    }
    Ok(t)
}

fn value_from_json(v: &Value) -> Result<FieldValue, String> {
    let int = |v: &Value| v.as_i64().ok_or_else(|| format!("{v} is not an integer"));
    let fits = |n: i64, ok: bool| {
        if ok {
            Ok(n)
        } else {
            Err(format!("{n} is out of range"))
        }
    };
    Ok(match v {
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::String(s) => FieldValue::LongString(Bytes::copy_from_slice(s.as_bytes())),
        Value::Array(items) => FieldValue::Array(
            items
                .iter()
                .map(value_from_json)
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) if m.len() == 1 => {
            let Some((tag, v)) = m.iter().next() else {
                return Err("an empty object is not a value".into());
            };
            let b64 = |v: &Value| {
                v.as_str()
                    .and_then(|s| BASE64.decode(s).ok())
                    .map(Bytes::from)
                    .ok_or_else(|| format!("{v} is not base64"))
            };
            match tag.as_str() {
                "b" => {
                    let n = int(v)?;
                    FieldValue::I8(fits(n, i8::try_from(n).is_ok())? as i8)
                }
                "B" => {
                    let n = int(v)?;
                    FieldValue::U8(fits(n, u8::try_from(n).is_ok())? as u8)
                }
                "s" => {
                    let n = int(v)?;
                    FieldValue::I16(fits(n, i16::try_from(n).is_ok())? as i16)
                }
                "u" => {
                    let n = int(v)?;
                    FieldValue::U16(fits(n, u16::try_from(n).is_ok())? as u16)
                }
                "I" => {
                    let n = int(v)?;
                    FieldValue::I32(fits(n, i32::try_from(n).is_ok())? as i32)
                }
                "i" => {
                    let n = int(v)?;
                    FieldValue::U32(fits(n, u32::try_from(n).is_ok())? as u32)
                }
                "l" => FieldValue::I64(int(v)?),
                "L" => FieldValue::U64(v.as_u64().ok_or_else(|| format!("{v} is not unsigned"))?),
                "f" => FieldValue::F32(match float_bits(v) {
                    Some(bits) => f32::from_bits(
                        u32::try_from(bits).map_err(|_| format!("{v} is not f32 bits"))?,
                    ),
                    None => match v {
                        Value::String(s) => {
                            s.parse().map_err(|_| format!("{s:?} is not a number"))?
                        }
                        v => float(v)? as f32,
                    },
                }),
                "d" => FieldValue::F64(match float_bits(v) {
                    Some(bits) => f64::from_bits(bits),
                    None => float(v)?,
                }),
                "D" => {
                    let pair = v.as_array().filter(|a| a.len() == 2);
                    let scale = pair
                        .and_then(|a| a[0].as_u64())
                        .and_then(|n| u8::try_from(n).ok());
                    let value = pair
                        .and_then(|a| a[1].as_u64())
                        .and_then(|n| u32::try_from(n).ok());
                    match (scale, value) {
                        (Some(scale), Some(value)) => FieldValue::Decimal(Decimal { scale, value }),
                        _ => return Err(format!("{v} is not [scale, value]")),
                    }
                }
                "S" => FieldValue::LongString(b64(v)?),
                "x" => FieldValue::ByteArray(b64(v)?),
                "T" => FieldValue::Timestamp(
                    v.as_u64()
                        .ok_or_else(|| format!("{v} is not a timestamp"))?,
                ),
                "F" => match v {
                    Value::Object(m) => FieldValue::Table(table_from_json(m)?),
                    _ => return Err(format!("{v} is not a table")),
                },
                "V" => FieldValue::Void,
                other => return Err(format!("unknown type tag {other:?}")),
            }
        }
        other => return Err(format!("{other} is not a field value")),
    })
}

/// A float written as text or, by hand, as a JSON number.
fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::String(s) => s.parse().map_err(|_| format!("{s:?} is not a number")),
        v => v.as_f64().ok_or_else(|| format!("{v} is not a number")),
    }
}

/// The bits of a float written as hex (NaN and the infinities).
fn float_bits(v: &Value) -> Option<u64> {
    let hex = v.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(hex, 16).ok()
}

/// Basic properties as a JSON object of the properties present.
pub fn properties_to_json(p: &BasicProperties) -> Map<String, Value> {
    let mut m = Map::new();
    let mut text = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), Value::String(v.clone()));
        }
    };
    text("content_type", &p.content_type);
    text("content_encoding", &p.content_encoding);
    text("correlation_id", &p.correlation_id);
    text("reply_to", &p.reply_to);
    text("expiration", &p.expiration);
    text("message_id", &p.message_id);
    text("type", &p.kind);
    text("user_id", &p.user_id);
    text("app_id", &p.app_id);
    text("cluster_id", &p.cluster_id);
    if let Some(h) = &p.headers {
        m.insert("headers".into(), Value::Object(table_to_json(h)));
    }
    if let Some(n) = p.delivery_mode {
        m.insert("delivery_mode".into(), n.into());
    }
    if let Some(n) = p.priority {
        m.insert("priority".into(), n.into());
    }
    if let Some(n) = p.timestamp {
        m.insert("timestamp".into(), n.into());
    }
    m
}

/// The inverse of [`properties_to_json`].
pub fn properties_from_json(m: &Map<String, Value>) -> Result<BasicProperties, TranscriptError> {
    let text = |k: &str| -> Result<Option<String>, TranscriptError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(TranscriptError::field(k, "is not a string")),
        }
    };
    let octet = |k: &str| -> Result<Option<u8>, TranscriptError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| TranscriptError::field(k, "is not an octet")),
        }
    };
    let headers = match m.get("headers") {
        None | Some(Value::Null) => None,
        Some(Value::Object(h)) => {
            Some(table_from_json(h).map_err(|p| TranscriptError::field("headers", &p))?)
        }
        Some(_) => return Err(TranscriptError::field("headers", "is not a table")),
    };
    let timestamp = match m.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| TranscriptError::field("timestamp", "is not a timestamp"))?,
        ),
    };
    Ok(BasicProperties {
        content_type: text("content_type")?,
        content_encoding: text("content_encoding")?,
        headers,
        delivery_mode: octet("delivery_mode")?,
        priority: octet("priority")?,
        correlation_id: text("correlation_id")?,
        reply_to: text("reply_to")?,
        expiration: text("expiration")?,
        message_id: text("message_id")?,
        timestamp,
        kind: text("type")?,
        user_id: text("user_id")?,
        app_id: text("app_id")?,
        cluster_id: text("cluster_id")?,
    })
}

/// Encodes a record as the frame it stands for, appending it to `out`. Heartbeats are frames
/// too; a malformed record's `raw` bytes are sent as they were.
pub fn encode_frame(r: &Record, out: &mut BytesMut) -> Result<(), TranscriptError> {
    match r.kind {
        Kind::ProtocolHeader | Kind::Malformed => {
            let raw = r.raw.as_deref().unwrap_or("");
            let bytes = if raw.is_empty() && r.kind == Kind::ProtocolHeader {
                crate::protocol::PROTOCOL_HEADER.to_vec()
            } else {
                BASE64
                    .decode(raw)
                    .map_err(|_| TranscriptError::field("raw", "is not base64"))?
            };
            out.extend_from_slice(&bytes);
        }
        Kind::Method => {
            let name = r.method.as_deref().unwrap_or("");
            let empty = Map::new();
            let fields = r.fields.as_ref().unwrap_or(&empty);
            let mut payload = BytesMut::new();
            encode_method(name, fields, &mut payload)?;
            frame::write_frame(out, frame::FRAME_METHOD, r.ch, |o| {
                o.extend_from_slice(&payload)
            });
        }
        Kind::Header => {
            let empty = Map::new();
            let props = properties_from_json(r.properties.as_ref().unwrap_or(&empty))?;
            let size = r.body_size.unwrap_or(0);
            frame::write_frame(out, frame::FRAME_HEADER, r.ch, |o| {
                o.put_u16(60);
                o.put_u16(0);
                o.put_u64(size);
                props.encode(o);
            });
        }
        Kind::Body => {
            // A transcript without bodies replays zeros of the recorded size.
            let body = match r.body_bytes()? {
                Some(b) => b,
                None => {
                    let size = usize::try_from(r.body_size.unwrap_or(0))
                        .ok()
                        .filter(|n| *n <= MAX_FILLED_BODY)
                        .ok_or_else(|| TranscriptError::field("body_size", "is too large"))?;
                    Bytes::from(vec![0; size])
                }
            };
            frame::write_frame(out, frame::FRAME_BODY, r.ch, |o| o.extend_from_slice(&body));
        }
        Kind::Heartbeat => frame::write_frame(out, frame::FRAME_HEARTBEAT, 0, |_| {}),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Method;
    use crate::protocol::methods::arb_method;
    use crate::protocol::wire::strategies::field_table;
    use proptest::prelude::*;

    proptest! {
        /// Every method survives bytes → JSON → bytes unchanged, so a replay sends what was
        /// recorded.
        #[test]
        fn every_method_round_trips(m in arb_method()) {
            let mut bytes = BytesMut::new();
            m.encode(&mut bytes);
            let (class_id, method_id) = (m.class_id(), m.method_id());
            let json = args_to_json(class_id, method_id, &bytes[4..]).expect("decodes");
            // Through text as well, as a transcript file does.
            let text = serde_json::to_string(&json).expect("serialises");
            let json: Map<String, Value> = serde_json::from_str(&text).expect("parses");
            let mut again = BytesMut::new();
            encode_method(m.name(), &json, &mut again).expect("encodes");
            let back = args_to_json(class_id, method_id, &again[4..]).expect("decodes");
            prop_assert_eq!(&json, &back);
            prop_assert_eq!(Method::decode(&again).expect("valid").name(), m.name());
        }

        #[test]
        fn every_table_round_trips(t in field_table()) {
            let json = Value::Object(table_to_json(&t));
            let text = serde_json::to_string(&json).expect("serialises");
            let Value::Object(back) = serde_json::from_str::<Value>(&text).expect("parses") else {
                panic!("not an object");
            };
            let again = table_to_json(&table_from_json(&back).expect("valid"));
            prop_assert_eq!(Value::Object(again), json);
        }
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        assert!(matches!(
            parse("{\"dir\":\"c2s\"}\nnot json"),
            Err(TranscriptError::Json { line: 1, .. })
        ));
        let r: Record =
            serde_json::from_str(r#"{"dir":"c2s","kind":"method","method":"basic.nope"}"#)
                .expect("parses");
        assert!(matches!(
            encode_frame(&r, &mut BytesMut::new()),
            Err(TranscriptError::UnknownMethod(_))
        ));
        let r: Record = serde_json::from_str(
            r#"{"dir":"c2s","kind":"method","method":"basic.qos","fields":{"prefetch_count":70000}}"#,
        )
        .expect("parses");
        assert!(matches!(
            encode_frame(&r, &mut BytesMut::new()),
            Err(TranscriptError::Field { .. })
        ));
        let r: Record =
            serde_json::from_str(r#"{"dir":"c2s","kind":"body","body_size":1152921504606846976}"#)
                .expect("parses");
        assert!(matches!(
            encode_frame(&r, &mut BytesMut::new()),
            Err(TranscriptError::Field { .. })
        ));
    }

    #[test]
    fn a_missing_field_is_its_zero() {
        let r: Record = serde_json::from_str(
            r#"{"dir":"c2s","ch":1,"kind":"method","method":"queue.declare","fields":{"queue":"q","durable":true}}"#,
        )
        .expect("parses");
        let mut out = BytesMut::new();
        encode_frame(&r, &mut out).expect("encodes");
        let mut buf = out;
        let Some(crate::protocol::Frame::Method(1, Method::QueueDeclare(q))) =
            crate::protocol::Frame::decode(&mut buf, 131_072).expect("valid")
        else {
            panic!("not a queue.declare");
        };
        assert_eq!(
            (q.queue.as_str(), q.durable, q.exclusive),
            ("q", true, false)
        );
    }
}
