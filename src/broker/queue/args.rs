//! Queue and consumer arguments, checked and typed once at declare (or consume) time, so the
//! message path reads plain fields instead of looking strings up in a field table.
//!
//! The checks and their refusals are RabbitMQ's (`rabbit_amqqueue:declare_args/0`): each bad
//! argument is a 406 whose text ends in the Erlang term RabbitMQ prints for the reason, e.g.
//! `invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}`.

use crate::protocol::{FieldTable, FieldValue};

/// The largest TTL or expiry RabbitMQ takes, in milliseconds (`?MAX_EXPIRY_TIMER`: ten
/// years).
pub const MAX_EXPIRY: i64 = 315_360_000_000;
/// The largest `x-max-priority` RabbitMQ takes.
pub const MAX_PRIORITY: i64 = 255;

/// What x-overflow says to do with a message that would take a queue past its limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Drop (or dead-letter) the oldest messages to make room.
    #[default]
    DropHead,
    /// Refuse the new message: basic.nack under confirms, dropped otherwise.
    RejectPublish,
    /// As `RejectPublish`, and dead-letter the refused message.
    RejectPublishDlx,
}

/// A queue's type (x-queue-type), fixed at declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueueType {
    #[default]
    Classic,
    Quorum,
    Stream,
}

impl QueueType {
    /// The type x-queue-type names in `arguments`; classic without one.
    pub fn of(arguments: &FieldTable) -> QueueType {
        match arguments.get("x-queue-type").and_then(|v| v.as_str()) {
            Some("quorum") => QueueType::Quorum,
            Some("stream") => QueueType::Stream,
            _ => QueueType::Classic,
        }
    }

    /// The name RabbitMQ gives the type (x-queue-type's value, the management API's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
            QueueType::Stream => "stream",
        }
    }
}

/// The x- arguments a queue acts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueArgs {
    pub message_ttl: Option<u64>,
    pub expires: Option<u64>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Overflow,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    /// The highest priority level; None for a queue without priorities.
    pub max_priority: Option<u8>,
    pub single_active_consumer: bool,
    /// x-queue-type.
    pub kind: QueueType,
    /// `x-consumer-timeout` (ms): how long a delivery from this queue may stay unacked,
    /// instead of the broker's `--consumer-timeout`.
    pub consumer_timeout: Option<u64>,
}

/// Why an argument was refused, rendered as the Erlang term RabbitMQ prints.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// An integer argument of another type.
    ExpectedInteger(&'static str),
    UnacceptableType(&'static str),
    /// x-dead-letter-exchange not a string: RabbitMQ's channel checks it with a text of its
    /// own (`invalid type 'long' for arg ...`).
    InvalidType(&'static str),
    /// An argument another queue type takes, on a classic queue.
    NotForClassicQueues,
    ValueNegative(i64),
    ValueZero(i64),
    ValueTooLarge(i64),
    MaxValueExceeded(i64),
    InvalidOverflow,
    UnsupportedQueueType(String),
    UnsupportedQueueVersion(i64),
    RoutingKeyButNoDlx,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ExpectedInteger(t) => write!(f, "\"expected integer, got {t}\""),
            Refusal::UnacceptableType(t) => write!(f, "{{unacceptable_type,{t}}}"),
            // Rendered whole by `BrokerError`, whose template differs.
            Refusal::InvalidType(t) => f.write_str(t),
            Refusal::NotForClassicQueues => Ok(()),
            Refusal::ValueNegative(v) => write!(f, "{{value_negative,{v}}}"),
            Refusal::ValueZero(v) => write!(f, "{{value_zero,{v}}}"),
            Refusal::ValueTooLarge(v) => write!(f, "{{value_too_large,{v}}}"),
            Refusal::MaxValueExceeded(v) => write!(f, "{{max_value_exceeded,{v}}}"),
            Refusal::InvalidOverflow => f.write_str("invalid_overflow"),
            Refusal::UnsupportedQueueType(t) => write!(f, "\"unsupported queue type '{t}'\""),
            Refusal::UnsupportedQueueVersion(v) => {
                write!(f, "\"unsupported queue version '{v}'\"")
            }
            Refusal::RoutingKeyButNoDlx => f.write_str("routing_key_but_no_dlx_defined"),
        }
    }
}

/// An integer of one of the types RabbitMQ takes for numeric arguments (`?INTEGER_ARG_TYPES`:
/// not timestamps, not 'L').
fn int(v: &FieldValue) -> Result<i64, Refusal> {
    match v {
        FieldValue::I8(_)
        | FieldValue::U8(_)
        | FieldValue::I16(_)
        | FieldValue::U16(_)
        | FieldValue::I32(_)
        | FieldValue::U32(_)
        | FieldValue::I64(_) => v.as_i64().ok_or(Refusal::ExpectedInteger(v.type_name())),
        _ => Err(Refusal::ExpectedInteger(v.type_name())),
    }
}

fn non_negative(v: &FieldValue) -> Result<u64, Refusal> {
    let n = int(v)?;
    u64::try_from(n).map_err(|_| Refusal::ValueNegative(n))
}

/// `rabbit_misc:check_expiry/1`.
fn expiry(v: &FieldValue) -> Result<u64, Refusal> {
    let n = int(v)?;
    if n < 0 {
        return Err(Refusal::ValueNegative(n));
    }
    if n > MAX_EXPIRY {
        return Err(Refusal::ValueTooLarge(n));
    }
    Ok(n as u64)
}

fn text(v: &FieldValue) -> Result<&str, Refusal> {
    match v {
        FieldValue::LongString(b) => Ok(std::str::from_utf8(b).unwrap_or("")),
        _ => Err(Refusal::UnacceptableType(v.type_name())),
    }
}

/// Arguments only other queue types take; a classic queue refuses them.
const OTHER_TYPES_ARGS: [&str; 9] = [
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-delivery-limit",
    "x-dead-letter-strategy",
    "x-quorum-initial-group-size",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-initial-cluster-size",
    "x-stream-filter-size-bytes",
];

impl QueueArgs {
    /// Checks every argument RabbitMQ knows, in RabbitMQ's order (x-queue-type first, then
    /// `declare_args/0`'s), and keeps what the queue acts on. Unknown arguments are left
    /// alone. On a refusal, returns the argument's name and why.
    pub fn parse(table: &FieldTable) -> Result<QueueArgs, (&'static str, Refusal)> {
        let mut a = QueueArgs::default();
        let get = |k| table.get(k);
        let mut classic = true;
        if let Some(v) = get("x-queue-type") {
            let t = text(v).map_err(|e| ("x-queue-type", e))?;
            if !["classic", "quorum", "stream"].contains(&t) {
                return Err(("x-queue-type", Refusal::UnsupportedQueueType(t.to_owned())));
            }
            // Quorum queues and streams are served as classic queues for now; their own
            // arguments are accepted rather than refused.
            classic = t == "classic";
            a.kind = QueueType::of(table);
        }
        if let Some(v) = get("x-dead-letter-exchange")
            && !matches!(v, FieldValue::LongString(_))
        {
            return Err((
                "x-dead-letter-exchange",
                Refusal::InvalidType(v.type_name()),
            ));
        }
        if let Some(v) = get("x-expires") {
            let n = expiry(v).and_then(|n| {
                if n == 0 {
                    Err(Refusal::ValueZero(0))
                } else {
                    Ok(n)
                }
            });
            a.expires = Some(n.map_err(|e| ("x-expires", e))?);
        }
        if let Some(v) = get("x-message-ttl") {
            a.message_ttl = Some(expiry(v).map_err(|e| ("x-message-ttl", e))?);
        }
        if let Some(v) = get("x-dead-letter-exchange") {
            a.dead_letter_exchange = Some(
                text(v)
                    .map_err(|e| ("x-dead-letter-exchange", e))?
                    .to_owned(),
            );
        }
        if let Some(v) = get("x-dead-letter-routing-key") {
            let key = text(v).map_err(|e| ("x-dead-letter-routing-key", e))?;
            if a.dead_letter_exchange.is_none() {
                return Err(("x-dead-letter-routing-key", Refusal::RoutingKeyButNoDlx));
            }
            a.dead_letter_routing_key = Some(key.to_owned());
        }
        if let Some(v) = get("x-consumer-timeout") {
            a.consumer_timeout = Some(non_negative(v).map_err(|e| ("x-consumer-timeout", e))?);
        }
        if let Some(v) = get("x-max-length") {
            a.max_length = Some(non_negative(v).map_err(|e| ("x-max-length", e))?);
        }
        if let Some(v) = get("x-max-length-bytes") {
            a.max_length_bytes = Some(non_negative(v).map_err(|e| ("x-max-length-bytes", e))?);
        }
        if let Some(v) = get("x-max-priority") {
            let n = non_negative(v).map_err(|e| ("x-max-priority", e))?;
            if n > MAX_PRIORITY as u64 {
                return Err(("x-max-priority", Refusal::MaxValueExceeded(n as i64)));
            }
            // 0 is accepted and means no priorities, as in RabbitMQ.
            a.max_priority = (n > 0).then_some(n as u8);
        }
        if let Some(v) = get("x-overflow") {
            a.overflow = match text(v).map_err(|e| ("x-overflow", e))? {
                "drop-head" => Overflow::DropHead,
                "reject-publish" => Overflow::RejectPublish,
                "reject-publish-dlx" => Overflow::RejectPublishDlx,
                _ => return Err(("x-overflow", Refusal::InvalidOverflow)),
            };
        }
        // x-queue-mode: RabbitMQ 4.3 no longer checks it (every classic queue is lazy now).
        if let Some(v) = get("x-queue-version") {
            let n = int(v).map_err(|e| ("x-queue-version", e))?;
            match n {
                2 => {}
                // RabbitMQ 4.3 refuses version 1, which applications declared for years:
                // accepted (there is one message store here), with a word in the log.
                1 => tracing::info!("x-queue-version 1 is deprecated (RabbitMQ 4.x refuses it)"),
                _ => return Err(("x-queue-version", Refusal::UnsupportedQueueVersion(n))),
            }
        }
        if let Some(v) = get("x-single-active-consumer") {
            match v {
                FieldValue::Bool(b) => a.single_active_consumer = *b,
                other => {
                    let r = Refusal::UnacceptableType(other.type_name());
                    return Err(("x-single-active-consumer", r));
                }
            }
        }
        if get("x-queue-master-locator").is_some() {
            // Deprecated and refused by RabbitMQ 4.3; applications still send it.
            tracing::info!(
                "x-queue-master-locator is deprecated and ignored (RabbitMQ 4.x refuses it)"
            );
        }
        if classic && let Some(k) = OTHER_TYPES_ARGS.iter().find(|k| get(k).is_some()) {
            return Err((k, Refusal::NotForClassicQueues));
        }
        Ok(a)
    }

    /// Whether messages in this queue ever expire by the queue's own TTL.
    pub fn has_ttl(&self) -> bool {
        self.message_ttl.is_some()
    }
}

/// The consumer's x-priority (default 0), checked as RabbitMQ checks it.
pub fn consumer_priority(args: &FieldTable) -> Result<i32, (&'static str, Refusal)> {
    match args.get("x-priority") {
        None => Ok(0),
        Some(v) => {
            let n = int(v).map_err(|e| ("x-priority", e))?;
            Ok(n.clamp(i32::MIN.into(), i32::MAX.into()) as i32)
        }
    }
}

/// A consumer's `x-consumer-timeout` (ms), if it gave one: a non-negative integer.
pub fn consumer_timeout(args: &FieldTable) -> Result<Option<u64>, (&'static str, Refusal)> {
    args.get("x-consumer-timeout")
        .map(|v| non_negative(v).map_err(|e| ("x-consumer-timeout", e)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, FieldValue)]) -> FieldTable {
        let mut t = FieldTable::new();
        for (k, v) in entries {
            t.insert(*k, v.clone());
        }
        t
    }

    fn s(v: &str) -> FieldValue {
        FieldValue::LongString(v.as_bytes().to_vec().into())
    }

    #[test]
    fn good_arguments_are_typed() {
        let a = QueueArgs::parse(&table(&[
            ("x-message-ttl", FieldValue::I32(1000)),
            ("x-expires", FieldValue::I64(60_000)),
            ("x-max-length", FieldValue::U16(5)),
            ("x-overflow", s("reject-publish-dlx")),
            ("x-dead-letter-exchange", s("dlx")),
            ("x-dead-letter-routing-key", s("rk")),
            ("x-max-priority", FieldValue::U8(10)),
            ("x-single-active-consumer", FieldValue::Bool(true)),
            ("x-unknown", s("kept")),
        ]))
        .unwrap();
        assert_eq!(a.message_ttl, Some(1000));
        assert_eq!(a.expires, Some(60_000));
        assert_eq!(a.max_length, Some(5));
        assert_eq!(a.overflow, Overflow::RejectPublishDlx);
        assert_eq!(a.dead_letter_exchange.as_deref(), Some("dlx"));
        assert_eq!(a.dead_letter_routing_key.as_deref(), Some("rk"));
        assert_eq!(a.max_priority, Some(10));
        assert!(a.single_active_consumer);
    }

    #[test]
    fn refusals_read_as_rabbitmq_prints_them() {
        let cases: Vec<(FieldTable, &str, &str)> = vec![
            (
                table(&[("x-message-ttl", FieldValue::I32(-1))]),
                "x-message-ttl",
                "{value_negative,-1}",
            ),
            (
                table(&[("x-message-ttl", s("1000"))]),
                "x-message-ttl",
                "\"expected integer, got longstr\"",
            ),
            (
                table(&[("x-expires", FieldValue::I32(0))]),
                "x-expires",
                "{value_zero,0}",
            ),
            (
                table(&[("x-expires", FieldValue::I64(MAX_EXPIRY + 1))]),
                "x-expires",
                "{value_too_large,315360000001}",
            ),
            (
                table(&[("x-max-priority", FieldValue::I32(256))]),
                "x-max-priority",
                "{max_value_exceeded,256}",
            ),
            (
                table(&[("x-overflow", s("foo"))]),
                "x-overflow",
                "invalid_overflow",
            ),
            (
                table(&[("x-dead-letter-routing-key", s("k"))]),
                "x-dead-letter-routing-key",
                "routing_key_but_no_dlx_defined",
            ),
            (
                table(&[("x-single-active-consumer", s("true"))]),
                "x-single-active-consumer",
                "{unacceptable_type,longstr}",
            ),
            (
                table(&[("x-queue-type", s("foo"))]),
                "x-queue-type",
                "\"unsupported queue type 'foo'\"",
            ),
            (
                table(&[("x-max-length", FieldValue::Timestamp(3))]),
                "x-max-length",
                "\"expected integer, got timestamp\"",
            ),
        ];
        for (t, arg, why) in cases {
            let (got_arg, refusal) = QueueArgs::parse(&t).unwrap_err();
            assert_eq!((got_arg, refusal.to_string().as_str()), (arg, why));
        }
    }
}
