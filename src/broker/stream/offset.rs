//! What a stream consumer asks for in basic.consume's arguments: where to start reading
//! (x-stream-offset) and which messages it wants (x-stream-filter,
//! x-stream-match-unfiltered), parsed as RabbitMQ 4.3's `rabbit_stream_queue` parses them.

use crate::protocol::FieldValue;
use bytes::Bytes;

/// Where a consumer starts (x-stream-offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record the stream keeps.
    First,
    /// The last record. RabbitMQ starts at the last chunk (a batch written together); a
    /// Warren chunk is one record.
    Last,
    /// Only what is published from now on (the default).
    Next,
    /// This offset (clamped to what the stream keeps).
    Offset(u64),
    /// The first record stamped at or after this time (ms since the Unix epoch).
    Timestamp(u64),
}

/// Reads x-stream-offset: "first", "last", "next", a number, an AMQP timestamp (seconds),
/// or an interval back from now ("30m", "1h", with units Y M D h m s as x-max-age). The
/// error is the term RabbitMQ prints after `invalid arg 'x-stream-offset' for ...: `.
pub fn start_at(v: Option<&FieldValue>, now_ms: u64) -> Result<StartAt, String> {
    let Some(v) = v else {
        return Ok(StartAt::Next);
    };
    let invalid = || {
        let term = match v {
            FieldValue::LongString(s) => format!("{{longstr,{}}}", erlang_binary(s)),
            FieldValue::ByteArray(s) => format!("{{binary,{}}}", erlang_binary(s)),
            other => format!("{{{},{}}}", other.type_name(), other.describe()),
        };
        format!("{{invalid_stream_offset_arg,{term}}}")
    };
    match v {
        FieldValue::LongString(s) | FieldValue::ByteArray(s) => match &s[..] {
            b"first" => Ok(StartAt::First),
            b"last" => Ok(StartAt::Last),
            b"next" => Ok(StartAt::Next),
            text if matches!(v, FieldValue::LongString(_)) => match interval_ms(text) {
                Some(ms) => Ok(StartAt::Timestamp(now_ms.saturating_sub(ms))),
                None => Err(invalid()),
            },
            _ => Err(invalid()),
        },
        FieldValue::Timestamp(secs) => Ok(StartAt::Timestamp(secs.saturating_mul(1000))),
        other => match other.as_i64() {
            Some(n) => Ok(StartAt::Offset(n.max(0) as u64)),
            None => Err(invalid()),
        },
    }
}

/// RabbitMQ's `check_max_age`: a positive integer and one unit of Y (365 days), M (30
/// days), D, h, m, s; in milliseconds.
pub fn interval_ms(text: &[u8]) -> Option<u64> {
    let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = std::str::from_utf8(&text[..digits]).ok()?.parse().ok()?;
    if n == 0 {
        return None;
    }
    let unit: u64 = match &text[digits..] {
        b"Y" => 365 * 86_400_000,
        b"M" => 30 * 86_400_000,
        b"D" => 86_400_000,
        b"h" => 3_600_000,
        b"m" => 60_000,
        b"s" => 1000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// Which messages a consumer gets (x-stream-filter, x-stream-match-unfiltered).
///
/// RabbitMQ filters chunks with a Bloom filter and leaves exact filtering to the client,
/// so a RabbitMQ consumer may also get messages of other values that share a chunk. Warren
/// filters each message exactly: a consumer gets a subset of what RabbitMQ would deliver,
/// and every message its client-side filter would keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    values: Vec<Bytes>,
    match_unfiltered: bool,
}

impl Filter {
    /// The consumer's filter; None without x-stream-filter (it gets everything). As
    /// RabbitMQ: a string or an array (its non-string elements ignored);
    /// x-stream-match-unfiltered counts only as a bool, false otherwise.
    pub fn from_args(
        filter: Option<&FieldValue>,
        unfiltered: Option<&FieldValue>,
    ) -> Option<Filter> {
        let values = match filter? {
            FieldValue::LongString(s) => vec![s.clone()],
            FieldValue::Array(items) => items
                .iter()
                .filter_map(|i| match i {
                    FieldValue::LongString(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => return None,
        };
        let match_unfiltered = matches!(unfiltered, Some(FieldValue::Bool(true)));
        Some(Filter {
            values,
            match_unfiltered,
        })
    }

    /// Whether a message published with filter value `value` passes.
    pub fn passes(&self, value: Option<&[u8]>) -> bool {
        match value {
            Some(v) => self.values.iter().any(|f| &f[..] == v),
            None => self.match_unfiltered,
        }
    }
}

/// A binary as Erlang's `~p` prints it: `<<"text">>` when printable, else its bytes.
fn erlang_binary(b: &[u8]) -> String {
    if b.iter().all(|c| (32..127).contains(c)) {
        let text: String = b
            .iter()
            .flat_map(|&c| match c {
                b'"' | b'\\' => vec!['\\', char::from(c)],
                c => vec![char::from(c)],
            })
            .collect();
        format!("<<\"{text}\">>")
    } else {
        let bytes: Vec<String> = b.iter().map(u8::to_string).collect();
        format!("<<{}>>", bytes.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> FieldValue {
        FieldValue::LongString(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn offsets_parse_as_rabbitmq_parses_them() {
        let now = 10_000_000;
        assert_eq!(start_at(None, now), Ok(StartAt::Next));
        assert_eq!(start_at(Some(&s("first")), now), Ok(StartAt::First));
        assert_eq!(start_at(Some(&s("last")), now), Ok(StartAt::Last));
        assert_eq!(start_at(Some(&s("next")), now), Ok(StartAt::Next));
        assert_eq!(
            start_at(Some(&FieldValue::I64(42)), now),
            Ok(StartAt::Offset(42))
        );
        assert_eq!(
            start_at(Some(&FieldValue::U8(3)), now),
            Ok(StartAt::Offset(3))
        );
        assert_eq!(
            start_at(Some(&FieldValue::Timestamp(5)), now),
            Ok(StartAt::Timestamp(5000))
        );
        assert_eq!(
            start_at(Some(&s("30m")), now),
            Ok(StartAt::Timestamp(now - 1_800_000))
        );
        assert_eq!(
            start_at(Some(&s("1h")), now),
            Ok(StartAt::Timestamp(now - 3_600_000))
        );
        assert_eq!(
            start_at(Some(&s("xyz")), now),
            Err("{invalid_stream_offset_arg,{longstr,<<\"xyz\">>}}".to_owned())
        );
        assert!(start_at(Some(&s("0m")), now).is_err());
        assert!(start_at(Some(&s("5w")), now).is_err());
        assert_eq!(
            start_at(Some(&FieldValue::Bool(true)), now),
            Err("{invalid_stream_offset_arg,{bool,true}}".to_owned())
        );
    }

    #[test]
    fn filters_match_exactly() {
        let f = Filter::from_args(
            Some(&FieldValue::Array(vec![s("a"), FieldValue::I32(1), s("b")])),
            None,
        )
        .unwrap();
        assert!(f.passes(Some(b"a")) && f.passes(Some(b"b")));
        assert!(!f.passes(Some(b"c")) && !f.passes(None));
        let f = Filter::from_args(Some(&s("a")), Some(&FieldValue::Bool(true))).unwrap();
        assert!(f.passes(None) && !f.passes(Some(b"b")));
        assert_eq!(Filter::from_args(None, Some(&FieldValue::Bool(true))), None);
    }
}
