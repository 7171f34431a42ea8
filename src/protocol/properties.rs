//! The content header frame: class, body size and the 14 basic properties.

use super::wire::*;
use bytes::{BufMut, Bytes, BytesMut};

/// The 14 properties of class basic, each present only when its flag bit is set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BasicProperties {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub headers: Option<FieldTable>,
    pub delivery_mode: Option<u8>,
    pub priority: Option<u8>,
    pub correlation_id: Option<String>,
    pub reply_to: Option<String>,
    pub expiration: Option<String>,
    pub message_id: Option<String>,
    pub timestamp: Option<u64>,
    pub kind: Option<String>,
    pub user_id: Option<String>,
    pub app_id: Option<String>,
    pub cluster_id: Option<String>,
}

/// Flag bits, highest first, in wire order.
const FLAGS: [u16; 14] = [
    1 << 15,
    1 << 14,
    1 << 13,
    1 << 12,
    1 << 11,
    1 << 10,
    1 << 9,
    1 << 8,
    1 << 7,
    1 << 6,
    1 << 5,
    1 << 4,
    1 << 3,
    1 << 2,
];

impl BasicProperties {
    /// Persistent messages have delivery mode 2.
    pub fn is_persistent(&self) -> bool {
        self.delivery_mode == Some(2)
    }

    /// Decodes the property flags and list (everything after the body size).
    pub fn decode(i: &[u8]) -> PResult<'_, BasicProperties> {
        let (mut i, flags) = property_flags(i)?;
        let has = |n: usize| flags & FLAGS[n] != 0;
        let mut p = BasicProperties::default();
        macro_rules! opt {
            ($n:expr, $field:ident, $parser:expr) => {
                if has($n) {
                    let (rest, v) = $parser(i)?;
                    i = rest;
                    p.$field = Some(v);
                }
            };
        }
        opt!(0, content_type, shortstr);
        opt!(1, content_encoding, shortstr);
        opt!(2, headers, table);
        opt!(3, delivery_mode, octet);
        opt!(4, priority, octet);
        opt!(5, correlation_id, shortstr);
        opt!(6, reply_to, shortstr);
        opt!(7, expiration, shortstr);
        opt!(8, message_id, shortstr);
        opt!(9, timestamp, longlong);
        opt!(10, kind, shortstr);
        opt!(11, user_id, shortstr);
        opt!(12, app_id, shortstr);
        opt!(13, cluster_id, shortstr);
        Ok((i, p))
    }

    pub fn encode(&self, out: &mut BytesMut) {
        let present = [
            self.content_type.is_some(),
            self.content_encoding.is_some(),
            self.headers.is_some(),
            self.delivery_mode.is_some(),
            self.priority.is_some(),
            self.correlation_id.is_some(),
            self.reply_to.is_some(),
            self.expiration.is_some(),
            self.message_id.is_some(),
            self.timestamp.is_some(),
            self.kind.is_some(),
            self.user_id.is_some(),
            self.app_id.is_some(),
            self.cluster_id.is_some(),
        ];
        let flags = present
            .iter()
            .zip(FLAGS)
            .filter(|(p, _)| **p)
            .fold(0u16, |acc, (_, f)| acc | f);
        out.put_u16(flags);
        let s = |out: &mut BytesMut, v: &Option<String>| {
            if let Some(v) = v {
                put_shortstr(out, v)
            }
        };
        s(out, &self.content_type);
        s(out, &self.content_encoding);
        if let Some(h) = &self.headers {
            h.encode(out);
        }
        if let Some(v) = self.delivery_mode {
            out.put_u8(v);
        }
        if let Some(v) = self.priority {
            out.put_u8(v);
        }
        s(out, &self.correlation_id);
        s(out, &self.reply_to);
        s(out, &self.expiration);
        s(out, &self.message_id);
        if let Some(v) = self.timestamp {
            out.put_u64(v);
        }
        s(out, &self.kind);
        s(out, &self.user_id);
        s(out, &self.app_id);
        s(out, &self.cluster_id);
    }

    /// Encodes the properties on their own, as a message keeps them.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

/// The property flags word, without the continuation bit. A flags word with bit 0 set
/// announces a further flags word; class basic never uses one, but a valid frame may still
/// carry it, so they are skipped.
fn property_flags(i: &[u8]) -> PResult<'_, u16> {
    let (mut i, flags) = short(i)?;
    let mut more = flags & 1;
    while more != 0 {
        let (rest, next) = short(i)?;
        i = rest;
        more = next & 1;
    }
    Ok((i, flags & !1))
}

/// The pseudo-queue of RabbitMQ's direct reply-to: a request naming it as its reply-to gets
/// that property rewritten to the requesting channel's own reply address.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// The properties the publish path acts on: persistence, a user-id to check against the
/// connection's user, and whether reply-to asks for direct reply-to. Read by `scan`, which checks the whole property list as `decode` does
/// but builds nothing (decoding allocated a string per property for every publish, to use
/// two of them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishProperties {
    pub persistent: bool,
    pub user_id: Option<Box<str>>,
    /// The priority property as sent.
    pub priority: Option<u8>,
    /// The expiration property, checked by the channel (RabbitMQ refuses a bad one).
    pub expiration: Option<Box<str>>,
    /// The headers carry CC or BCC: the message is routed to more keys.
    pub sender_selected: bool,
    /// The headers carry x-death (read back from disk: a dead-lettered message).
    pub death_history: bool,
    /// reply-to is exactly `DIRECT_REPLY_TO`.
    pub direct_reply_to: bool,
}

impl PublishProperties {
    /// Inlined into the in-place publish reader, which is most of a publisher's traffic.
    #[inline]
    pub fn scan(i: &[u8]) -> PResult<'_, PublishProperties> {
        let (mut i, flags) = property_flags(i)?;
        let mut p = PublishProperties::default();
        for (n, flag) in FLAGS.iter().enumerate() {
            if flags & flag == 0 {
                continue;
            }
            i = match n {
                2 => {
                    let (rest, headers) = table(i)?;
                    p.sender_selected = headers.get("CC").is_some() || headers.get("BCC").is_some();
                    p.death_history = headers.get("x-death").is_some();
                    rest
                }
                3 => {
                    let (rest, mode) = octet(i)?;
                    p.persistent = mode == 2;
                    rest
                }
                4 => {
                    let (rest, priority) = octet(i)?;
                    p.priority = Some(priority);
                    rest
                }
                7 => {
                    let (rest, expiration) = shortstr_ref(i)?;
                    p.expiration = Some(expiration.into());
                    rest
                }
                6 => {
                    let (rest, reply_to) = shortstr_ref(i)?;
                    p.direct_reply_to = reply_to == DIRECT_REPLY_TO;
                    rest
                }
                9 => longlong(i)?.0,
                11 => {
                    let (rest, user) = shortstr_ref(i)?;
                    p.user_id = Some(user.into());
                    rest
                }
                _ => shortstr_ref(i)?.0,
            };
        }
        Ok((i, p))
    }
}

/// The property flags and list with reply-to set to `reply_to`, every other byte as it was;
/// None if there is no reply-to or the list does not parse. Only a direct reply-to request
/// pays for this copy, so the property bytes are spliced rather than decoded and re-encoded.
pub fn with_reply_to(raw: &[u8], reply_to: &str) -> Option<Vec<u8>> {
    let (mut i, flags) = property_flags(raw).ok()?;
    for (n, flag) in FLAGS.iter().enumerate().take(6) {
        if flags & flag == 0 {
            continue;
        }
        i = match n {
            2 => table(i).ok()?.0,
            3 | 4 => octet(i).ok()?.0,
            _ => shortstr_ref(i).ok()?.0,
        };
    }
    if flags & FLAGS[6] == 0 {
        return None;
    }
    let start = raw.len() - i.len();
    let end = raw.len() - shortstr_ref(i).ok()?.0.len();
    let len = u8::try_from(reply_to.len()).ok()?;
    let mut out = Vec::with_capacity(raw.len() - (end - start) + 1 + reply_to.len());
    out.extend_from_slice(&raw[..start]);
    out.push(len);
    out.extend_from_slice(reply_to.as_bytes());
    out.extend_from_slice(&raw[end..]);
    Some(out)
}

/// The property flags and list with the `extra` headers set (replacing any of the same
/// name); None if the list does not parse. For the headers a queue type adds to what it
/// delivers (a quorum queue's delivery count, a stream's offset): only those deliveries pay
/// for the decode and encode.
pub fn with_headers(raw: &[u8], extra: Vec<(&str, FieldValue)>) -> Option<Vec<u8>> {
    let (_, mut p) = BasicProperties::decode(raw).ok()?;
    let headers = p.headers.get_or_insert_with(FieldTable::new);
    for (k, v) in extra {
        headers.insert(k, v);
    }
    let mut out = BytesMut::with_capacity(raw.len() + 32);
    p.encode(&mut out);
    Some(out.to_vec())
}

impl From<&BasicProperties> for PublishProperties {
    fn from(p: &BasicProperties) -> Self {
        PublishProperties {
            persistent: p.is_persistent(),
            user_id: p.user_id.as_deref().map(Into::into),
            priority: p.priority,
            expiration: p.expiration.as_deref().map(Into::into),
            sender_selected: p
                .headers
                .as_ref()
                .is_some_and(|h| h.get("CC").is_some() || h.get("BCC").is_some()),
            death_history: p
                .headers
                .as_ref()
                .is_some_and(|h| h.get("x-death").is_some()),
            direct_reply_to: p.reply_to.as_deref() == Some(DIRECT_REPLY_TO),
        }
    }
}

/// A decoded content header frame payload. `raw_properties` keeps the flags and property list
/// exactly as received, so a message passes through to consumers byte for byte; of the
/// decoded properties only what the publish path acts on is kept (see `PublishProperties`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContentHeader {
    pub class_id: u16,
    pub body_size: u64,
    pub properties: PublishProperties,
    pub raw_properties: Bytes,
}

impl ContentHeader {
    pub fn decode(payload: &Bytes) -> Result<ContentHeader, WireError> {
        let i: &[u8] = payload;
        let (i, class_id) = finish_partial(short(i))?;
        let (i, _weight) = finish_partial(short(i))?;
        let (i, body_size) = finish_partial(longlong(i))?;
        let props_at = payload.len() - i.len();
        let properties = finish(PublishProperties::scan(i))?;
        Ok(ContentHeader {
            class_id,
            body_size,
            properties,
            raw_properties: payload.slice(props_at..),
        })
    }

    /// Writes class, weight, body size and the raw property bytes.
    pub fn encode_raw(out: &mut BytesMut, class_id: u16, body_size: u64, raw_properties: &[u8]) {
        out.put_u16(class_id);
        out.put_u16(0);
        out.put_u64(body_size);
        out.put_slice(raw_properties);
    }
}

fn finish_partial<T>(r: PResult<'_, T>) -> Result<(&[u8], T), WireError> {
    r.map_err(|e| match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => WireError::Malformed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::strategies::*;
    use proptest::prelude::*;

    fn opt<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
        proptest::option::of(s)
    }

    prop_compose! {
        fn properties()(
            a in opt(short_string()), b in opt(short_string()), c in opt(field_table()),
            d in opt(any::<u8>()), e in opt(any::<u8>()), f in opt(short_string()),
            g in opt(short_string()), h in opt(short_string()), i in opt(short_string()),
            j in opt(any::<u64>()), k in opt(short_string()), l in opt(short_string()),
            m in opt(short_string()), n in opt(short_string()),
        ) -> BasicProperties {
            BasicProperties {
                content_type: a, content_encoding: b, headers: c, delivery_mode: d, priority: e,
                correlation_id: f, reply_to: g, expiration: h, message_id: i, timestamp: j,
                kind: k, user_id: l, app_id: m, cluster_id: n,
            }
        }
    }

    #[test]
    fn only_the_exact_pseudo_queue_asks_for_direct_reply_to() {
        for (reply_to, direct) in [
            (DIRECT_REPLY_TO, true),
            ("amq.rabbitmq.reply-to.abc", false),
            ("amq.rabbitmq.reply-t", false),
            ("", false),
        ] {
            let p = BasicProperties {
                reply_to: Some(reply_to.into()),
                user_id: Some("guest".into()),
                ..Default::default()
            };
            let scanned = finish(PublishProperties::scan(&p.to_bytes())).expect("scans");
            assert_eq!(scanned.direct_reply_to, direct, "{reply_to}");
        }
    }

    proptest! {
        #[test]
        fn header_round_trips(p in properties(), size in any::<u64>()) {
            let mut out = BytesMut::new();
            ContentHeader::encode_raw(&mut out, 60, size, &p.to_bytes());
            let h = ContentHeader::decode(&out.freeze()).expect("decodes");
            prop_assert_eq!(h.body_size, size);
            prop_assert_eq!(h.raw_properties.clone(), p.to_bytes());
            prop_assert_eq!(h.properties, PublishProperties::from(&p));
        }

        #[test]
        fn arbitrary_header_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = with_reply_to(&data, DIRECT_REPLY_TO);
            let _ = ContentHeader::decode(&Bytes::from(data));
        }

        /// The splice changes reply-to and nothing else, whatever the other properties are.
        #[test]
        fn reply_to_splice_agrees_with_decode(p in properties(), new in short_string()) {
            let raw = p.to_bytes();
            let spliced = with_reply_to(&raw, &new);
            prop_assert_eq!(spliced.is_some(), p.reply_to.is_some());
            if let Some(spliced) = spliced {
                let expected = BasicProperties { reply_to: Some(new), ..p };
                prop_assert_eq!(spliced, expected.to_bytes().to_vec());
            }
        }

        /// The scan refuses exactly what the full decode refuses.
        #[test]
        fn scan_and_decode_agree(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let scanned = finish(PublishProperties::scan(&data));
            let decoded = finish(BasicProperties::decode(&data));
            prop_assert_eq!(scanned.is_ok(), decoded.is_ok());
            if let (Ok(s), Ok(d)) = (scanned, decoded) {
                prop_assert_eq!(s, PublishProperties::from(&d));
            }
        }
    }
}
