//! Primitive AMQP types on the wire: integers, short and long strings, field tables and arrays.
//!
//! Decoders are nom parsers over a *complete* method or header payload (the frame layer already
//! made sure the whole payload is buffered), so running out of input here is a syntax error, not
//! a request for more bytes. No decoder allocates from a length it has not first checked against
//! the bytes actually present.

use bytes::{BufMut, Bytes, BytesMut};
use nom::Parser;
use nom::bytes::complete::take;
use nom::error::{ErrorKind, ParseError};
use nom::number::complete::{
    be_f32, be_f64, be_i8, be_i16, be_i32, be_i64, be_u8, be_u16, be_u32, be_u64,
};

/// Why a payload could not be decoded; every case is a 502 SYNTAX_ERROR on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("payload ended early or is malformed")]
    Malformed,
    #[error("unknown field type tag '{}'", char::from(*.0))]
    UnknownFieldType(u8),
    #[error("short string is not valid UTF-8")]
    BadUtf8,
    #[error("field tables nested deeper than {MAX_NESTING}")]
    TooDeep,
    #[error("bytes left over after the last argument")]
    Trailing,
}

impl<I> ParseError<I> for WireError {
    fn from_error_kind(_: I, _: ErrorKind) -> Self {
        WireError::Malformed
    }
    fn append(_: I, _: ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of a wire parser.
pub type PResult<'a, T> = nom::IResult<&'a [u8], T, WireError>;

/// Tables inside tables inside tables: bounded so a hostile frame cannot exhaust the stack.
pub const MAX_NESTING: usize = 64;

fn fail<T>(e: WireError) -> PResult<'static, T> {
    Err(nom::Err::Failure(e))
}

pub fn octet(i: &[u8]) -> PResult<'_, u8> {
    be_u8(i)
}
pub fn short(i: &[u8]) -> PResult<'_, u16> {
    be_u16(i)
}
pub fn long(i: &[u8]) -> PResult<'_, u32> {
    be_u32(i)
}
pub fn longlong(i: &[u8]) -> PResult<'_, u64> {
    be_u64(i)
}

pub fn shortstr(i: &[u8]) -> PResult<'_, String> {
    shortstr_ref(i).map(|(i, s)| (i, s.to_owned()))
}

/// A short string, borrowed from the input.
pub fn shortstr_ref(i: &[u8]) -> PResult<'_, &str> {
    let (i, len) = be_u8(i)?;
    let (i, raw) = take(len as usize).parse(i)?;
    match std::str::from_utf8(raw) {
        Ok(s) => Ok((i, s)),
        Err(_) => fail(WireError::BadUtf8),
    }
}

pub fn longstr(i: &[u8]) -> PResult<'_, Bytes> {
    let (i, len) = be_u32(i)?;
    let (i, raw) = take(len as usize).parse(i)?;
    Ok((i, Bytes::copy_from_slice(raw)))
}

/// A decimal value: `value / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub scale: u8,
    pub value: u32,
}

/// One value of a field table or array, with RabbitMQ's type tags.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    /// Tag 'L': not in RabbitMQ's documented list, but its parser accepts it and clients
    /// (rabbitmq-c) send it.
    U64(u64),
    F32(f32),
    F64(f64),
    Decimal(Decimal),
    LongString(Bytes),
    ByteArray(Bytes),
    Array(Vec<FieldValue>),
    Timestamp(u64),
    Table(FieldTable),
    Void,
}

impl FieldValue {
    /// The value as an integer, whatever integer tag carried it (RabbitMQ accepts any for
    /// numeric arguments such as x-message-ttl).
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            FieldValue::I8(v) => v.into(),
            FieldValue::U8(v) => v.into(),
            FieldValue::I16(v) => v.into(),
            FieldValue::U16(v) => v.into(),
            FieldValue::I32(v) => v.into(),
            FieldValue::U32(v) => v.into(),
            FieldValue::I64(v) => v,
            FieldValue::U64(v) => i64::try_from(v).ok()?,
            FieldValue::Timestamp(v) => i64::try_from(v).ok()?,
            _ => return None,
        })
    }

    /// The value as text, if it is a long string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::LongString(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&FieldTable> {
        match self {
            FieldValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// RabbitMQ's name for the value's type, as its error texts print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Bool(_) => "bool",
            FieldValue::I8(_) => "byte",
            FieldValue::U8(_) => "unsignedbyte",
            FieldValue::I16(_) => "short",
            FieldValue::U16(_) => "unsignedshort",
            FieldValue::I32(_) => "signedint",
            FieldValue::U32(_) => "unsignedint",
            FieldValue::I64(_) => "long",
            FieldValue::U64(_) => "unsignedlong",
            FieldValue::F32(_) => "float",
            FieldValue::F64(_) => "double",
            FieldValue::Decimal(_) => "decimal",
            FieldValue::LongString(_) => "longstr",
            FieldValue::ByteArray(_) => "binary",
            FieldValue::Array(_) => "array",
            FieldValue::Timestamp(_) => "timestamp",
            FieldValue::Table(_) => "table",
            FieldValue::Void => "void",
        }
    }

    /// Rendering used in RabbitMQ-style error texts (`received '...'`).
    pub fn describe(&self) -> String {
        match self {
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::LongString(b) | FieldValue::ByteArray(b) => {
                String::from_utf8_lossy(b).into_owned()
            }
            FieldValue::F32(v) => v.to_string(),
            FieldValue::F64(v) => v.to_string(),
            FieldValue::Void => "none".into(),
            other => match other.as_i64() {
                Some(v) => v.to_string(),
                None => format!("{other:?}"),
            },
        }
    }

    fn tag(&self) -> u8 {
        match self {
            FieldValue::Bool(_) => b't',
            FieldValue::I8(_) => b'b',
            FieldValue::U8(_) => b'B',
            FieldValue::I16(_) => b's',
            FieldValue::U16(_) => b'u',
            FieldValue::I32(_) => b'I',
            FieldValue::U32(_) => b'i',
            FieldValue::I64(_) => b'l',
            FieldValue::U64(_) => b'L',
            FieldValue::F32(_) => b'f',
            FieldValue::F64(_) => b'd',
            FieldValue::Decimal(_) => b'D',
            FieldValue::LongString(_) => b'S',
            FieldValue::ByteArray(_) => b'x',
            FieldValue::Array(_) => b'A',
            FieldValue::Timestamp(_) => b'T',
            FieldValue::Table(_) => b'F',
            FieldValue::Void => b'V',
        }
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.tag());
        match self {
            FieldValue::Bool(v) => out.put_u8(u8::from(*v)),
            FieldValue::I8(v) => out.put_i8(*v),
            FieldValue::U8(v) => out.put_u8(*v),
            FieldValue::I16(v) => out.put_i16(*v),
            FieldValue::U16(v) => out.put_u16(*v),
            FieldValue::I32(v) => out.put_i32(*v),
            FieldValue::U32(v) => out.put_u32(*v),
            FieldValue::I64(v) => out.put_i64(*v),
            FieldValue::U64(v) => out.put_u64(*v),
            FieldValue::F32(v) => out.put_f32(*v),
            FieldValue::F64(v) => out.put_f64(*v),
            FieldValue::Decimal(d) => {
                out.put_u8(d.scale);
                out.put_u32(d.value);
            }
            FieldValue::LongString(b) | FieldValue::ByteArray(b) => put_longstr(out, b),
            FieldValue::Array(items) => {
                let at = out.len();
                out.put_u32(0);
                for item in items {
                    item.encode(out);
                }
                patch_len(out, at);
            }
            FieldValue::Timestamp(v) => out.put_u64(*v),
            FieldValue::Table(t) => t.encode(out),
            FieldValue::Void => {}
        }
    }
}

/// A field table, kept in wire order so that what a client sent is what a consumer gets back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldTable(pub Vec<(String, FieldValue)>);

impl FieldTable {
    pub fn new() -> Self {
        FieldTable(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn insert(&mut self, key: impl Into<String>, value: FieldValue) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let at = out.len();
        out.put_u32(0);
        for (k, v) in &self.0 {
            put_shortstr(out, k);
            v.encode(out);
        }
        patch_len(out, at);
    }
}

/// Writes the length of everything after the 4-byte placeholder at `at`.
fn patch_len(out: &mut BytesMut, at: usize) {
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

pub fn table(i: &[u8]) -> PResult<'_, FieldTable> {
    table_at(i, 0)
}

/// Parses the entries of a table whose bytes are exactly `body` (no length prefix). AMQPLAIN
/// responses are encoded this way.
pub fn table_entries(body: &[u8]) -> Result<FieldTable, WireError> {
    entries(body, 0).map_err(|e| match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => WireError::Malformed,
    })
}

fn table_at(i: &[u8], depth: usize) -> PResult<'_, FieldTable> {
    let (i, len) = be_u32(i)?;
    let (i, body) = take(len as usize).parse(i)?;
    match entries(body, depth) {
        Ok(t) => Ok((i, t)),
        Err(e) => Err(e),
    }
}

fn entries(mut body: &[u8], depth: usize) -> Result<FieldTable, nom::Err<WireError>> {
    if depth >= MAX_NESTING {
        return Err(nom::Err::Failure(WireError::TooDeep));
    }
    let mut out = Vec::new();
    while !body.is_empty() {
        let (rest, key) = shortstr(body)?;
        let (rest, value) = field_value(rest, depth)?;
        out.push((key, value));
        body = rest;
    }
    Ok(FieldTable(out))
}

fn array_at(i: &[u8], depth: usize) -> PResult<'_, Vec<FieldValue>> {
    if depth >= MAX_NESTING {
        return fail(WireError::TooDeep);
    }
    let (i, len) = be_u32(i)?;
    let (i, mut body) = take(len as usize).parse(i)?;
    let mut items = Vec::new();
    while !body.is_empty() {
        let (rest, v) = field_value(body, depth)?;
        items.push(v);
        body = rest;
    }
    Ok((i, items))
}

fn field_value(i: &[u8], depth: usize) -> PResult<'_, FieldValue> {
    let (i, tag) = be_u8(i)?;
    match tag {
        b't' => be_u8(i).map(|(i, v)| (i, FieldValue::Bool(v != 0))),
        b'b' => be_i8(i).map(|(i, v)| (i, FieldValue::I8(v))),
        b'B' => be_u8(i).map(|(i, v)| (i, FieldValue::U8(v))),
        b's' => be_i16(i).map(|(i, v)| (i, FieldValue::I16(v))),
        b'u' => be_u16(i).map(|(i, v)| (i, FieldValue::U16(v))),
        b'I' => be_i32(i).map(|(i, v)| (i, FieldValue::I32(v))),
        b'i' => be_u32(i).map(|(i, v)| (i, FieldValue::U32(v))),
        b'l' => be_i64(i).map(|(i, v)| (i, FieldValue::I64(v))),
        b'L' => be_u64(i).map(|(i, v)| (i, FieldValue::U64(v))),
        b'f' => be_f32(i).map(|(i, v)| (i, FieldValue::F32(v))),
        b'd' => be_f64(i).map(|(i, v)| (i, FieldValue::F64(v))),
        b'D' => {
            let (i, scale) = be_u8(i)?;
            let (i, value) = be_u32(i)?;
            Ok((i, FieldValue::Decimal(Decimal { scale, value })))
        }
        b'S' => longstr(i).map(|(i, v)| (i, FieldValue::LongString(v))),
        b'x' => longstr(i).map(|(i, v)| (i, FieldValue::ByteArray(v))),
        b'A' => array_at(i, depth + 1).map(|(i, v)| (i, FieldValue::Array(v))),
        b'T' => be_u64(i).map(|(i, v)| (i, FieldValue::Timestamp(v))),
        b'F' => table_at(i, depth + 1).map(|(i, v)| (i, FieldValue::Table(v))),
        b'V' => Ok((i, FieldValue::Void)),
        other => fail(WireError::UnknownFieldType(other)),
    }
}

/// Writes a short string, cutting it at 255 bytes (on a character boundary) rather than
/// corrupting the frame; only server-made texts can be that long.
pub fn put_shortstr(out: &mut BytesMut, s: &str) {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.put_u8(end as u8);
    out.put_slice(&s.as_bytes()[..end]);
}

pub fn put_longstr(out: &mut BytesMut, b: &[u8]) {
    out.put_u32(b.len() as u32);
    out.put_slice(b);
}

/// Completes a decode: a failure of any kind becomes the error it carries.
pub fn finish<T>(r: PResult<'_, T>) -> Result<T, WireError> {
    match r {
        Ok((_, v)) => Ok(v),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(WireError::Malformed),
    }
}

/// Like `finish`, and nothing may be left over: RabbitMQ refuses a method with bytes after
/// its last argument.
pub fn finish_exact<T>(r: PResult<'_, T>) -> Result<T, WireError> {
    match r {
        Ok(([], v)) => Ok(v),
        Ok(_) => Err(WireError::Trailing),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(WireError::Malformed),
    }
}

#[cfg(test)]
pub(crate) mod strategies {
    //! proptest strategies for every field type, shared by the codec's round-trip tests.
    use super::*;
    use proptest::prelude::*;

    pub fn short_string() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._:-]{0,40}".prop_map(|s| s)
    }

    pub fn long_string() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
    }

    pub fn field_value() -> impl Strategy<Value = FieldValue> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(FieldValue::Bool),
            any::<i8>().prop_map(FieldValue::I8),
            any::<u8>().prop_map(FieldValue::U8),
            any::<i16>().prop_map(FieldValue::I16),
            any::<u16>().prop_map(FieldValue::U16),
            any::<i32>().prop_map(FieldValue::I32),
            any::<u32>().prop_map(FieldValue::U32),
            any::<i64>().prop_map(FieldValue::I64),
            any::<u64>().prop_map(FieldValue::U64),
            any::<f32>().prop_map(FieldValue::F32),
            any::<f64>().prop_map(FieldValue::F64),
            (any::<u8>(), any::<u32>())
                .prop_map(|(scale, value)| FieldValue::Decimal(Decimal { scale, value })),
            long_string().prop_map(FieldValue::LongString),
            long_string().prop_map(FieldValue::ByteArray),
            any::<u64>().prop_map(FieldValue::Timestamp),
            Just(FieldValue::Void),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(FieldValue::Array),
                proptest::collection::vec((short_string(), inner), 0..4)
                    .prop_map(|v| FieldValue::Table(FieldTable(v))),
            ]
        })
    }

    pub fn field_table() -> impl Strategy<Value = FieldTable> {
        proptest::collection::vec((short_string(), field_value()), 0..6).prop_map(FieldTable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Floats make `==` unreliable (NaN), so round trips compare the re-encoded bytes.
        #[test]
        fn table_round_trips(t in strategies::field_table()) {
            let mut a = BytesMut::new();
            t.encode(&mut a);
            let decoded = finish(table(&a)).expect("decodes what we encoded");
            let mut b = BytesMut::new();
            decoded.encode(&mut b);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = finish(table(&data));
        }
    }

    #[test]
    fn every_rabbitmq_tag_decodes() {
        let mut t = FieldTable::new();
        for (k, v) in [
            ("t", FieldValue::Bool(true)),
            ("s", FieldValue::I16(-2)),
            ("u", FieldValue::U16(2)),
            ("x", FieldValue::ByteArray(Bytes::from_static(b"\x00\x01"))),
            ("V", FieldValue::Void),
        ] {
            t.insert(k, v);
        }
        let mut out = BytesMut::new();
        t.encode(&mut out);
        assert_eq!(finish(table(&out)), Ok(t));
    }

    #[test]
    fn unknown_tag_is_reported() {
        let raw = [0, 0, 0, 3, 1, b'k', b'Z'];
        assert_eq!(finish(table(&raw)), Err(WireError::UnknownFieldType(b'Z')));
    }

    #[test]
    fn huge_claimed_length_is_not_allocated() {
        let raw = [0xff, 0xff, 0xff, 0xff, 1];
        assert_eq!(finish(table(&raw)), Err(WireError::Malformed));
    }

    #[test]
    fn nesting_is_bounded() {
        // 200 nested tables each holding the next under key "k".
        let mut inner = BytesMut::new();
        FieldTable::new().encode(&mut inner);
        for _ in 0..200 {
            let mut next = BytesMut::new();
            next.put_u32((inner.len() + 3) as u32);
            next.put_slice(&[1, b'k', b'F']);
            next.put_slice(&inner);
            inner = next;
        }
        assert_eq!(finish(table(&inner)), Err(WireError::TooDeep));
    }
}
