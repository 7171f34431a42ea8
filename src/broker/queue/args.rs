//! Queue and consumer arguments, checked and typed once at declare (or consume) time, so the
//! message path reads plain fields instead of looking strings up in a field table.
//!
//! The checks and their refusals are RabbitMQ's (`rabbit_amqqueue:declare_args/0`): each bad
//! argument is a 406 whose text ends in the Erlang term RabbitMQ prints for the reason, e.g.
//! `invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-1}`.

use crate::protocol::{FieldTable, FieldValue};
use std::sync::Arc;

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
    /// The Erlang module RabbitMQ names the type by in some of its texts.
    pub fn module_name(self) -> &'static str {
        match self {
            QueueType::Classic => "rabbit_classic_queue",
            QueueType::Quorum => "rabbit_quorum_queue",
            QueueType::Stream => "rabbit_stream_queue",
        }
    }

    /// The type x-queue-type names in `arguments`; classic without one.
    pub fn of(arguments: &FieldTable) -> QueueType {
        match arguments.get("x-queue-type").and_then(|v| v.as_str()) {
            Some("quorum") => QueueType::Quorum,
            Some("stream") => QueueType::Stream,
            _ => QueueType::Classic,
        }
    }

    /// RabbitMQ's module for the type, as its refusals name it.
    pub fn module(self) -> &'static str {
        match self {
            QueueType::Classic => "rabbit_classic_queue",
            QueueType::Quorum => "rabbit_quorum_queue",
            QueueType::Stream => "rabbit_stream_queue",
        }
    }

    /// The arguments a redeclare compares, in RabbitMQ's order: the ones the type takes
    /// (`rabbit_amqqueue:assert_args_equivalence/2`; so a quorum queue redeclared with
    /// x-max-priority is not refused, one redeclared with another x-delivery-limit is).
    pub fn compared_args(self) -> &'static [&'static str] {
        match self {
            QueueType::Classic => &CLASSIC_TAKES,
            QueueType::Quorum => &QUORUM_TAKES,
            QueueType::Stream => &STREAM_TAKES,
        }
    }

    /// Whether the type takes `arg`: checks its value at declare. x-consumer-timeout is
    /// taken by every type here (RabbitMQ 4.3 takes it on quorum queues only; see README).
    fn takes(self, arg: &str) -> bool {
        arg == "x-consumer-timeout" || self.compared_args().contains(&arg)
    }

    /// Whether the type refuses `arg`: one another type takes.
    fn refuses(self, arg: &str) -> bool {
        !self.takes(arg) && known(arg)
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
    /// A quorum queue's x-delivery-limit (see `quorum`).
    pub delivery_limit: super::quorum::Limit,
    /// A quorum queue's x-dead-letter-strategy is at-least-once.
    pub at_least_once: bool,
    /// `x-consumer-timeout` (ms): how long a delivery from this queue may stay unacked,
    /// instead of the broker's `--consumer-timeout`.
    pub consumer_timeout: Option<u64>,
}

/// `args` in an `Arc`; a queue without arguments gets the one all such queues share.
pub fn shared(args: QueueArgs) -> Arc<QueueArgs> {
    static NONE: std::sync::LazyLock<Arc<QueueArgs>> =
        std::sync::LazyLock::new(|| Arc::new(QueueArgs::default()));
    if args == QueueArgs::default() {
        NONE.clone()
    } else {
        Arc::new(args)
    }
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
    /// An argument the queue's type does not take.
    NotForType(QueueType),
    /// A whole text of its own (RabbitMQ's `{protocol_error, ...}` refusals).
    Text(&'static str),
    InvalidDlxStrategy,
    InvalidQueueLocator,
    InvalidMaxAge,
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
            Refusal::NotForType(_) | Refusal::Text(_) => Ok(()),
            Refusal::InvalidDlxStrategy => f.write_str("invalid_dlx_strategy"),
            Refusal::InvalidQueueLocator => f.write_str("invalid_queue_locator_arg"),
            Refusal::InvalidMaxAge => f.write_str("invalid_max_age"),
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

/// The queue arguments each type takes, in RabbitMQ 4.3's order (each type's
/// `capabilities()`): a redeclare compares these, and a type refuses an argument another
/// type takes ("invalid arg ... of queue type rabbit_quorum_queue"). Arguments no type takes
/// are kept, unchecked.
const CLASSIC_TAKES: [&str; 14] = [
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-version",
    "x-single-active-consumer",
    "x-queue-type",
    "x-queue-master-locator",
    "x-queue-leader-locator",
];

const QUORUM_TAKES: [&str; 21] = [
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-overflow",
    "x-single-active-consumer",
    "x-queue-type",
    "x-quorum-initial-group-size",
    "x-member-placement-tag",
    "x-delivery-limit",
    "x-message-ttl",
    "x-queue-leader-locator",
    "x-consumer-disconnected-timeout",
    "x-consumer-timeout",
    "x-delayed-retry-type",
    "x-delayed-retry-min",
    "x-delayed-retry-max",
];

const STREAM_TAKES: [&str; 7] = [
    "x-max-length-bytes",
    "x-queue-type",
    "x-max-age",
    "x-stream-max-segment-size-bytes",
    "x-stream-filter-size-bytes",
    "x-initial-cluster-size",
    "x-queue-leader-locator",
];

/// Whether some type takes `arg`.
fn known(arg: &str) -> bool {
    [&CLASSIC_TAKES[..], &QUORUM_TAKES, &STREAM_TAKES]
        .iter()
        .any(|l| l.contains(&arg))
}

/// The largest segment size a stream takes (RabbitMQ's `?MAX_STREAM_MAX_SEGMENT_SIZE`).
pub const MAX_SEGMENT_SIZE: i64 = 3_000_000_000;

/// The first argument in `table` (in its order, as RabbitMQ walks it) that `kind` refuses.
fn first_refused(kind: QueueType, table: &FieldTable) -> Result<(), (&'static str, Refusal)> {
    for (k, _) in table.iter() {
        if kind.refuses(k) {
            let name = [&CLASSIC_TAKES[..], &QUORUM_TAKES, &STREAM_TAKES]
                .iter()
                .flat_map(|l| l.iter())
                .find(|a| **a == k);
            if let Some(name) = name {
                return Err((name, Refusal::NotForType(kind)));
            }
        }
    }
    Ok(())
}

/// A positive integer (x-quorum-initial-group-size, x-initial-cluster-size).
fn positive(v: &FieldValue) -> Result<u64, Refusal> {
    match non_negative(v)? {
        0 => Err(Refusal::ValueZero(0)),
        n => Ok(n),
    }
}

/// RabbitMQ's x-max-age: a positive number and one of the units Y M D h m s ("7D").
pub fn max_age_ms(v: &FieldValue) -> Result<u64, Refusal> {
    let t = text(v)?;
    let unit_at = t.len().saturating_sub(1);
    let (number, unit) = t.split_at(unit_at);
    let per_unit: u64 = match unit {
        "Y" => 365 * 86_400_000,
        "M" => 30 * 86_400_000,
        "D" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1000,
        _ => return Err(Refusal::InvalidMaxAge),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::InvalidMaxAge);
    }
    // Too many digits for a u64 is a very long age, as RabbitMQ's bignums take it.
    let n: u64 = number.parse().unwrap_or(u64::MAX);
    if n == 0 {
        return Err(Refusal::InvalidMaxAge);
    }
    Ok(n.saturating_mul(per_unit))
}

/// The checks of the arguments only quorum queues and streams take.
fn check_type_args(a: &mut QueueArgs, table: &FieldTable) -> Result<(), (&'static str, Refusal)> {
    let get = |k| table.get(k);
    if let Some(v) = get("x-queue-leader-locator") {
        let t = text(v).map_err(|e| ("x-queue-leader-locator", e))?;
        if !["client-local", "balanced", "random", "least-leaders"].contains(&t) {
            return Err(("x-queue-leader-locator", Refusal::InvalidQueueLocator));
        }
    }
    match a.kind {
        QueueType::Classic => {}
        QueueType::Quorum => {
            if let Some(v) = get("x-dead-letter-strategy") {
                a.at_least_once = match text(v).map_err(|e| ("x-dead-letter-strategy", e))? {
                    "at-least-once" => true,
                    "at-most-once" => false,
                    _ => return Err(("x-dead-letter-strategy", Refusal::InvalidDlxStrategy)),
                };
            }
            if let Some(v) = get("x-quorum-initial-group-size") {
                positive(v).map_err(|e| ("x-quorum-initial-group-size", e))?;
            }
            for k in [
                "x-max-in-memory-length",
                "x-max-in-memory-bytes",
                "x-consumer-disconnected-timeout",
            ] {
                if let Some(v) = get(k) {
                    non_negative(v).map_err(|e| (k, e))?;
                }
            }
            a.delivery_limit = super::quorum::Limit::of(get("x-delivery-limit"));
        }
        QueueType::Stream => {
            if let Some(v) = get("x-initial-cluster-size") {
                positive(v).map_err(|e| ("x-initial-cluster-size", e))?;
            }
            if let Some(v) = get("x-max-age") {
                max_age_ms(v).map_err(|e| ("x-max-age", e))?;
            }
            if let Some(v) = get("x-stream-filter-size-bytes") {
                non_negative(v).map_err(|e| ("x-stream-filter-size-bytes", e))?;
            }
            if let Some(v) = get("x-stream-max-segment-size-bytes") {
                let n = non_negative(v).map_err(|e| ("x-stream-max-segment-size-bytes", e))?;
                if n > MAX_SEGMENT_SIZE as u64 {
                    return Err((
                        "x-stream-max-segment-size-bytes",
                        Refusal::Text("Exceeded max value for x-stream-max-segment-size-bytes"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The properties a quorum queue or stream cannot have, checked after its arguments
/// (RabbitMQ 3.10.8's order: auto-delete, then exclusive, then non-durable); the name of the
/// first one found.
pub fn refused_property(
    kind: QueueType,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
) -> Option<&'static str> {
    if kind == QueueType::Classic {
        return None;
    }
    if auto_delete {
        Some("auto-delete")
    } else if exclusive {
        Some("exclusive-owner")
    } else if !durable {
        Some("non-durable")
    } else {
        None
    }
}

impl QueueArgs {
    /// Checks every argument RabbitMQ knows, in RabbitMQ's order (x-queue-type first, then
    /// `declare_args/0`'s), and keeps what the queue acts on. Unknown arguments are left
    /// alone. On a refusal, returns the argument's name and why.
    pub fn parse(table: &FieldTable) -> Result<QueueArgs, (&'static str, Refusal)> {
        let mut a = QueueArgs::default();
        if let Some(v) = table.get("x-queue-type") {
            let t = text(v).map_err(|e| ("x-queue-type", e))?;
            if !["classic", "quorum", "stream"].contains(&t) {
                return Err(("x-queue-type", Refusal::UnsupportedQueueType(t.to_owned())));
            }
            a.kind = QueueType::of(table);
        }
        // As RabbitMQ 4.3 (`check_declare_arguments/3`): the values of the arguments the
        // type takes, then any argument it refuses, in the table's order.
        let kind = a.kind;
        let get = |k: &str| table.get(k).filter(|_| kind.takes(k));
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
        check_type_args(&mut a, table)?;
        first_refused(a.kind, table)?;
        if a.kind == QueueType::Quorum {
            a.quorum_fallbacks();
        }
        Ok(a)
    }

    /// What a quorum queue does with settings it does not support, with RabbitMQ's warnings:
    /// reject-publish-dlx acts as drop-head; at-least-once dead-lettering needs
    /// reject-publish (`rabbit_quorum_queue:dlh/5`).
    fn quorum_fallbacks(&mut self) {
        if self.overflow == Overflow::RejectPublishDlx {
            tracing::warn!(
                "Invalid overflow strategy <<\"reject-publish-dlx\">> for quorum queue: falling back to drop-head"
            );
            self.overflow = Overflow::DropHead;
        }
        if self.at_least_once && self.overflow != Overflow::RejectPublish {
            tracing::warn!(
                "Falling back to dead-letter-strategy at-most-once because configured dead-letter-strategy at-least-once is incompatible with effective overflow strategy drop-head. To enable dead-letter-strategy at-least-once, set overflow strategy to reject-publish."
            );
            self.at_least_once = false;
        }
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

/// The consumer arguments each type takes (RabbitMQ 4.3's `consumer_arguments`; Warren
/// takes x-consumer-timeout on every type, see README).
fn consumer_takes(kind: QueueType, arg: &str) -> bool {
    let own: &[&str] = match kind {
        QueueType::Classic => &["x-priority", "x-consumer-timeout"],
        QueueType::Quorum => &["x-priority", "x-consumer-timeout"],
        QueueType::Stream => &[
            "x-stream-offset",
            "x-stream-filter",
            "x-stream-match-unfiltered",
            "x-consumer-timeout",
        ],
    };
    own.contains(&arg)
}

/// The first consumer argument (in table order) that another type takes and `kind` does
/// not: `invalid arg 'x-stream-offset' for queue 'q' in vhost '/' of queue type
/// rabbit_quorum_queue` (`rabbit_amqqueue:check_consume_arguments/3`).
pub fn refused_consumer_arg(
    kind: QueueType,
    args: &FieldTable,
) -> Result<(), (&'static str, Refusal)> {
    const KNOWN: [&str; 5] = [
        "x-priority",
        "x-consumer-timeout",
        "x-stream-offset",
        "x-stream-filter",
        "x-stream-match-unfiltered",
    ];
    for (k, _) in args.iter() {
        if let Some(known) = KNOWN.iter().find(|a| **a == k)
            && !consumer_takes(kind, k)
        {
            return Err((known, Refusal::NotForType(kind)));
        }
    }
    Ok(())
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
